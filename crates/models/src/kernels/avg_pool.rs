//! Average pooling over non-overlapping `k x k` windows (stride `k`, no padding): LeNet-5's
//! subsampling layers (LeCun et al. 1998, S2 and S4, without their trainable coefficient).
//!
//! `y[b, c, i, j] = (1 / k^2) sum_{a, d < k} x[b, c, k i + a, k j + d]`, and back,
//! `dx[b, c, y, x] = dy[b, c, y / k, x / k] / k^2` (zero in rows and columns past the last whole
//! window).
//!
//! On burn-flex this runs as a burn backend extension: one loop each way, and the backward pass
//! needs only the input's shape. burn-flex 0.22.1 takes 2-D pooling both ways through its
//! general 3-D kernels (any stride, padding and window); the backward one took 7.6 % of a LeNet-5
//! step (`bench/results/profile-lenet-79fd559.txt`), about 11 % of what was left once tanh was
//! fast. Other backends
//! use burn's `AvgPool2d`.
//!
//! # Shapes
//! - input `[batch, channels, height, width]`
//! - output `[batch, channels, height / k, width / k]` (rounded down)

use burn::nn::pool::AvgPool2dConfig;
use burn::prelude::*;

/// Average pooling over `k x k` windows with stride `k`. On flex (f32, at least one whole
/// window), the extension; elsewhere burn's `AvgPool2d` with the same settings.
pub fn avg_pool2d(x: Tensor<4>, k: usize) -> Tensor<4> {
    #[cfg(feature = "flex")]
    {
        let [b, c, h, w] = x.dims();
        if crate::flex::on_flex(&x.device())
            && crate::flex::is_f32(x.dtype())
            && k > 0
            && h >= k
            && w >= k
            && b * c > 0
        {
            use burn::backend::Dispatch;
            let y = <Dispatch as extension::AvgPoolBackend>::avg_pool(x.into_dispatch(), k);
            return Tensor::from_dispatch(y);
        }
    }
    AvgPool2dConfig::new([k, k]).init().forward(x)
}

#[cfg(feature = "flex")]
mod extension {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};

    use crate::flex;

    /// The pooling on flex, f32, with at least one whole window (checked by
    /// [`super::avg_pool2d`]).
    #[backend_extension(Flex, Autodiff)]
    pub trait AvgPoolBackend: Backend {
        /// `k x k` windows, stride `k`, no padding.
        fn avg_pool(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self>;
    }

    fn forward_host(x: &FloatTensor<Flex>, k: usize) -> FloatTensor<Flex> {
        let [b, c, h, w] = x.shape().dims::<4>();
        let (oh, ow) = (h / k, w / k);
        let src = flex::values(x);
        // Summed in window order and divided, as burn-flex does: the same bits.
        let count = (k * k) as f32;
        let mut out = vec![0.0f32; b * c * oh * ow];
        for (plane, dst) in src.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
            for i in 0..oh {
                for j in 0..ow {
                    let mut sum = 0.0f32;
                    for a in 0..k {
                        for &v in &plane[(k * i + a) * w + k * j..][..k] {
                            sum += v;
                        }
                    }
                    dst[i * ow + j] = sum / count;
                }
            }
        }
        flex::tensor(out, [b, c, oh, ow])
    }

    fn backward_host(grad: &FloatTensor<Flex>, input: [usize; 4], k: usize) -> FloatTensor<Flex> {
        let [b, c, h, w] = input;
        let (oh, ow) = (h / k, w / k);
        let src = flex::values(grad);
        let count = (k * k) as f32;
        let mut out = vec![0.0f32; b * c * h * w];
        for (g, plane) in src.chunks_exact(oh * ow).zip(out.chunks_exact_mut(h * w)) {
            for y in 0..oh * k {
                let row = &mut plane[y * w..][..ow * k];
                let g_row = &g[(y / k) * ow..][..ow];
                for (x, v) in row.iter_mut().enumerate() {
                    *v = g_row[x / k] / count;
                }
            }
        }
        flex::tensor(out, input)
    }

    impl AvgPoolBackend for Flex {
        fn avg_pool(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
            forward_host(&x, k)
        }
    }

    /// The backward step: keeps only the input's shape and the window.
    #[derive(Debug)]
    struct AvgPoolGrad;

    impl Backward<Flex, 1> for AvgPoolGrad {
        type State = ([usize; 4], usize);

        fn backward(
            self,
            ops: Ops<Self::State, 1>,
            grads: &mut Gradients,
            _checkpointer: &mut Checkpointer,
        ) {
            let (input, k) = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
                backward_host(&grad, input, k)
            });
        }
    }

    impl<C: CheckpointStrategy> AvgPoolBackend for Autodiff<Flex, C> {
        fn avg_pool(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
            let input = x.primitive().shape().dims::<4>();
            match AvgPoolGrad
                .prepare::<C>([x.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((input, k), forward_host(x.primitive(), k)),
                OpsKind::UnTracked(prep) => prep.finish(forward_host(x.primitive(), k)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // One 4x5 map, windows of 2: the last column is past the last whole window.
        // Means: (1+2+6+7)/4 = 4, (3+4+8+9)/4 = 6, (11+12+16+17)/4 = 14, (13+14+18+19)/4 = 16.
        let device = Device::flex().autodiff();
        let values: Vec<f32> = (1..=20).map(|v| v as f32).collect();
        let x =
            Tensor::<4>::from_data(TensorData::new(values, [1, 1, 4, 5]), &device).require_grad();
        let y = avg_pool2d(x.clone(), 2);
        let got = y.clone().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got, [4.0, 6.0, 14.0, 16.0]);
        // d sum(w * y) / dx: each window's weight over 4; the fifth column gets nothing.
        let w = Tensor::<4>::from_data(
            TensorData::new(vec![4.0f32, 8.0, 12.0, 16.0], [1, 1, 2, 2]),
            &device,
        );
        let g = x.grad(&(y * w).sum().backward()).unwrap();
        let g = g.into_data().try_to_vec::<f32>().unwrap();
        let want = [
            1.0, 1.0, 2.0, 2.0, 0.0, 1.0, 1.0, 2.0, 2.0, 0.0, 3.0, 3.0, 4.0, 4.0, 0.0, 3.0, 3.0,
            4.0, 4.0, 0.0,
        ];
        assert_eq!(g, want);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn equals_burns_avg_pool() {
        // Same values and gradients as burn's AvgPool2d, to the bit, on LeNet-like maps, with
        // autodiff and without.
        let device = Device::flex().autodiff();
        assert!(crate::flex::on_flex(&device), "the extension runs here");
        let n = 2 * 3 * 10 * 10;
        let values: Vec<f32> = (0..n)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.013)
            .collect();
        let x =
            Tensor::<4>::from_data(TensorData::new(values, [2, 3, 10, 10]), &device).require_grad();
        let w = Tensor::<4>::from_data(
            TensorData::new(
                (0..150).map(|i| 1.0 + i as f32 * 0.1).collect(),
                [2, 3, 5, 5],
            ),
            &device,
        );
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let y = f(x.clone());
            let g = x.grad(&(y.clone() * w.clone()).sum().backward()).unwrap();
            let vec = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
            (vec(y.inner()), vec(g))
        };
        let ours = run(&|x| avg_pool2d(x, 2));
        let burns = run(&|x| AvgPool2dConfig::new([2, 2]).init().forward(x));
        assert_eq!(ours, burns);
        let plain = x.clone().inner();
        let vec = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        let burns_plain = AvgPool2dConfig::new([2, 2]).init().forward(plain.clone());
        assert_eq!(vec(avg_pool2d(plain, 2)), vec(burns_plain));
    }
}
