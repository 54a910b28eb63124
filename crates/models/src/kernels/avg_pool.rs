//! Average pooling over non-overlapping `k x k` windows (stride `k`, no padding): LeNet-5's
//! subsampling layers (LeCun et al. 1998, S2 and S4, without their trainable coefficient).
//!
//! `y[b, c, i, j] = (1 / k^2) sum_{a, d < k} x[b, c, k i + a, k j + d]`, and back,
//! `dx[b, c, y, x] = dy[b, c, y / k, x / k] / k^2` (zero in rows and columns past the last whole
//! window).
//!
//! On burn-flex this runs as a burn backend extension: one loop each way (the planes shared
//! among the threads for large batches), and the backward pass needs only the input's shape.
//! burn-flex 0.22.1 takes 2-D pooling both ways through its general 3-D kernels (any stride,
//! padding and window); the backward one took 7.6 % of a LeNet-5 step
//! (`bench/results/profile-lenet-79fd559.txt`), about 11 % of what was left once tanh was fast.
//! Other backends use burn's `AvgPool2d`.
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

    /// Values (input and output together) past which the pooling shares the planes among
    /// rayon's threads (a LeNet-5 step's first pooling, 32 x 6 maps of 28 x 28, is past it).
    const THREADS_FROM: usize = 1 << 16;

    /// `f(plane in, plane out)` for each `[h, w]` plane of `src` and matching plane of `out`
    /// (`out_plane` values each), on all threads past [`THREADS_FROM`] values.
    fn planes(
        src: &[f32],
        in_plane: usize,
        out: &mut [f32],
        out_plane: usize,
        f: impl Fn(&[f32], &mut [f32]) + Sync,
    ) {
        use rayon::prelude::*;
        if src.len() + out.len() < THREADS_FROM {
            for (a, b) in src
                .chunks_exact(in_plane)
                .zip(out.chunks_exact_mut(out_plane))
            {
                f(a, b);
            }
        } else {
            src.par_chunks_exact(in_plane)
                .zip(out.par_chunks_exact_mut(out_plane))
                .for_each(|(a, b)| f(a, b));
        }
    }

    /// One plane's means: `plane` `[h, w]` -> `dst` `[h / k, w / k]`. Inlined with `k` a
    /// constant where the caller knows it, so the window loops unroll.
    #[inline(always)]
    fn pool_plane(plane: &[f32], w: usize, k: usize, dst: &mut [f32], ow: usize) {
        // Summed in window order from zero and divided, as burn-flex does: the same bits.
        let count = (k * k) as f32;
        for (i, dst) in dst.chunks_exact_mut(ow).enumerate() {
            let rows = &plane[k * i * w..];
            for (j, d) in dst.iter_mut().enumerate() {
                let mut sum = 0.0f32;
                for a in 0..k {
                    for &v in &rows[a * w + k * j..][..k] {
                        sum += v;
                    }
                }
                *d = sum / count;
            }
        }
    }

    fn forward_host(x: &FloatTensor<Flex>, k: usize) -> FloatTensor<Flex> {
        let [b, c, h, w] = x.shape().dims::<4>();
        let (oh, ow) = (h / k, w / k);
        let src = flex::values(x);
        let mut out = vec![0.0f32; b * c * oh * ow];
        planes(&src, h * w, &mut out, oh * ow, |plane, dst| match k {
            2 => pool_plane(plane, w, 2, dst, ow),
            _ => pool_plane(plane, w, k, dst, ow),
        });
        flex::tensor(out, [b, c, oh, ow])
    }

    /// One plane's gradient: `g` `[h / k, w / k]` spread over the windows of `plane` `[h, w]`
    /// (which holds zeros, left past the last whole window). Inlined as [`pool_plane`].
    #[inline(always)]
    fn spread_plane(g: &[f32], ow: usize, k: usize, plane: &mut [f32], w: usize) {
        let count = (k * k) as f32;
        for (y, row) in plane.chunks_exact_mut(w).take(g.len() / ow * k).enumerate() {
            let g_row = &g[y / k * ow..][..ow];
            for (window, &gv) in row[..ow * k].chunks_exact_mut(k).zip(g_row) {
                window.fill(gv / count);
            }
        }
    }

    fn backward_host(grad: &FloatTensor<Flex>, input: [usize; 4], k: usize) -> FloatTensor<Flex> {
        let [b, c, h, w] = input;
        let (oh, ow) = (h / k, w / k);
        let src = flex::values(grad);
        let mut out = vec![0.0f32; b * c * h * w];
        planes(&src, oh * ow, &mut out, h * w, |g, plane| match k {
            2 => spread_plane(g, ow, 2, plane, w),
            _ => spread_plane(g, ow, k, plane, w),
        });
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
        // Same values and gradients as burn's AvgPool2d, to the bit, with autodiff and without:
        // LeNet-like maps, maps past the threads' threshold with a row and column past the last
        // window, and windows of 3.
        let device = Device::flex().autodiff();
        assert!(crate::flex::on_flex(&device), "the extension runs here");
        for (shape, k) in [([2, 3, 10, 10], 2), ([4, 6, 55, 53], 2), ([2, 2, 9, 11], 3)] {
            let n = shape.iter().product::<usize>();
            let values: Vec<f32> = (0..n)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.013)
                .collect();
            let x = Tensor::<4>::from_data(TensorData::new(values, shape), &device).require_grad();
            let [b, c, h, w] = shape;
            let m = b * c * (h / k) * (w / k);
            let w = Tensor::<4>::from_data(
                TensorData::new(
                    (0..m).map(|i| 1.0 + (i % 101) as f32 * 0.1).collect(),
                    [b, c, h / k, w / k],
                ),
                &device,
            );
            let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
                let y = f(x.clone());
                let g = x.grad(&(y.clone() * w.clone()).sum().backward()).unwrap();
                let vec = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
                (vec(y.inner()), vec(g))
            };
            let ours = run(&|x| avg_pool2d(x, k));
            let burns = run(&|x| AvgPool2dConfig::new([k, k]).init().forward(x));
            assert_eq!(ours, burns, "{shape:?}, k = {k}");
            let plain = x.clone().inner();
            let vec = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
            let burns_plain = AvgPool2dConfig::new([k, k]).init().forward(plain.clone());
            assert_eq!(vec(avg_pool2d(plain, k)), vec(burns_plain));
        }
    }
}
