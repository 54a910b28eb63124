//! The Bernoulli cross-entropy of logits `z` against pixel values `x` in `[0, 1]`, summed over
//! each example's pixels: `L_i = -sum_j [x_ij log s(z_ij) + (1 - x_ij) log(1 - s(z_ij))]
//! = sum_j [softplus(z_ij) - z_ij x_ij]`, with `s` the logistic function, and its gradient
//! `dL_i/dz_ij = s(z_ij) - x_ij`: the reconstruction term of the autoencoders (Hinton &
//! Salakhutdinov 2006) and of the VAE (Kingma & Welling 2014, Appendix C.1).
//!
//! On burn-flex this runs as a burn backend extension: one vectorised pass computes every
//! pixel's loss and gradient ([`crate::fast_math::bernoulli`]) and keeps the gradient for the
//! backward pass, which scales it by each example's upstream gradient. burn's composition
//! (softplus as multiply, compare, mask, exp, log1p, divide, select; then multiply, subtract,
//! sum) takes about a dozen tensor operations each way, and libm's scalar `log1pf` and `expf`
//! took 11 % of a VAE step (`bench/profile.sh configs/vae_2014.toml 20000`). Other backends use
//! that composition. The targets `x` are data: no gradient flows to them (with a tracked `x`
//! the composition runs instead).
//!
//! # Shapes
//! - `logits`, `x`: `[batch, pixels]`
//! - returns `[batch]`

use burn::prelude::*;
use burn::tensor::activation::softplus;

/// `sum_j softplus(z_ij) - z_ij x_ij` per row. On flex, the fused extension; elsewhere burn's
/// operations.
pub fn bernoulli_cross_entropy(logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    #[cfg(feature = "flex")]
    if crate::on_flex(&logits.device()) {
        use burn::backend::Dispatch;
        let loss = <Dispatch as extension::BernoulliBackend>::bernoulli_cross_entropy(
            logits.into_dispatch(),
            x.into_dispatch(),
        );
        return Tensor::from_dispatch(loss);
    }
    composed(logits, x)
}

/// burn's own operations: the reference the extension is tested against.
fn composed(logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    (softplus(logits.clone(), 1.0) - logits * x)
        .sum_dim(1)
        .squeeze_dim::<1>(1)
}

#[cfg(feature = "flex")]
mod extension {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
    use burn::tensor::{DType, TensorData};

    use crate::fast_math;

    /// The loss per backend (flex and autodiff over flex only).
    #[backend_extension(Flex, Autodiff)]
    pub trait BernoulliBackend: Backend {
        /// `sum_j softplus(z_ij) - z_ij x_ij`, `[n, p]` -> `[n]`.
        fn bernoulli_cross_entropy(
            logits: FloatTensor<Self>,
            x: FloatTensor<Self>,
        ) -> FloatTensor<Self>;
    }

    /// `max(z, 0) + log1p(e^-|z|) - z x`, summed per row, with any backend's operations.
    fn composed<B: Backend>(z: FloatTensor<B>, x: FloatTensor<B>) -> FloatTensor<B> {
        let n = z.shape().dims::<2>()[0];
        let tail = B::float_log1p(B::float_exp(B::float_neg(B::float_abs(z.clone()))));
        let softplus = B::float_add(B::float_clamp_min(z.clone(), 0f32.into()), tail);
        let per_pixel = B::float_sub(softplus, B::float_mul(z, x));
        B::float_reshape(B::float_sum_dim(per_pixel, 1), [n].into())
    }

    /// The rows' losses `[n]` and every pixel's `s(z) - x` `[n, p]`, for f32 tensors of one shape.
    fn forward_host(
        z: FloatTensor<Flex>,
        x: FloatTensor<Flex>,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
        let [n, p] = z.shape().dims::<2>();
        assert_eq!(
            x.shape().dims::<2>(),
            [n, p],
            "bernoulli: logits and targets differ in shape"
        );
        let (z, x) = (z.to_contiguous(), x.to_contiguous());
        let zs = z.as_slice::<f32>().expect("f32 logits");
        let xs = x.as_slice::<f32>().expect("f32 targets");
        let (mut loss, mut grad) = (vec![0.0f32; n * p], vec![0.0f32; n * p]);
        fast_math::bernoulli(zs, xs, &mut loss, &mut grad);
        // Each row summed in f64: 784 terms added one by one in f32 would lose about 1e-5.
        let rows: Vec<f32> = loss
            .chunks_exact(p.max(1))
            .map(|r| r.iter().map(|&v| v as f64).sum::<f64>() as f32)
            .collect();
        (
            FloatTensor::<Flex>::from_data(TensorData::new(rows, [n])),
            FloatTensor::<Flex>::from_data(TensorData::new(grad, [n, p])),
        )
    }

    fn is_f32(z: &FloatTensor<Flex>, x: &FloatTensor<Flex>) -> bool {
        z.dtype() == DType::F32 && x.dtype() == DType::F32
    }

    impl BernoulliBackend for Flex {
        fn bernoulli_cross_entropy(
            logits: FloatTensor<Self>,
            x: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            if !is_f32(&logits, &x) {
                return composed::<Flex>(logits, x);
            }
            forward_host(logits, x).0
        }
    }

    /// The backward step: keeps `s(z) - x`.
    #[derive(Debug)]
    struct BernoulliGrad;

    impl Backward<Flex, 1> for BernoulliGrad {
        type State = FloatTensor<Flex>;

        fn backward(
            self,
            ops: Ops<Self::State, 1>,
            grads: &mut Gradients,
            _checkpointer: &mut Checkpointer,
        ) {
            let mut delta = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |upstream| {
                let upstream = upstream.to_contiguous();
                let g = upstream.as_slice::<f32>().expect("f32 gradient");
                let p = delta.shape().dims::<2>()[1];
                let d = delta.storage_mut::<f32>();
                for (row, &gi) in d.chunks_exact_mut(p.max(1)).zip(g) {
                    row.iter_mut().for_each(|v| *v *= gi);
                }
                delta
            });
        }
    }

    impl<C: CheckpointStrategy> BernoulliBackend for Autodiff<Flex, C> {
        fn bernoulli_cross_entropy(
            logits: FloatTensor<Self>,
            x: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            if !is_f32(logits.primitive(), x.primitive()) || x.is_tracked() {
                return composed::<Self>(logits, x);
            }
            match BernoulliGrad
                .prepare::<C>([logits.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (loss, delta) = forward_host(logits.into_primitive(), x.into_primitive());
                    prep.finish(delta, loss)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(forward_host(logits.into_primitive(), x.into_primitive()).0)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // z = 0: softplus 0 = ln 2 whatever x, gradient 1/2 - x. z = ln 3, x = 1: -ln(3/4),
        // gradient 3/4 - 1. Rows sum: [ln 2 + ln 2, -ln(3/4) + ln 2 ...].
        let device = Device::flex().autodiff();
        let z = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 3f32.ln(), 0.0], [2, 2]),
            &device,
        )
        .require_grad();
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 1.0, 0.5], [2, 2]),
            &device,
        );
        let loss = bernoulli_cross_entropy(z.clone(), x);
        let l = loss.clone().into_data().try_to_vec::<f32>().unwrap();
        let ln2 = 2f32.ln();
        assert!((l[0] - 2.0 * ln2).abs() < 1e-6 && (l[1] - ((4f32 / 3.0).ln() + ln2)).abs() < 1e-6);
        let g = z.grad(&loss.sum().backward()).unwrap();
        let g = g.into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in g.iter().zip([-0.5f32, 0.5, -0.25, 0.0]) {
            assert!((a - b).abs() < 1e-6, "{g:?}");
        }
    }

    #[test]
    fn agrees_with_burns_operations() {
        // Spread logits and fractional targets, the rows weighted downstream.
        let device = Device::flex().autodiff();
        let (n, p) = (5, 37);
        let zv: Vec<f32> = (0..n * p)
            .map(|i| ((i * 29 % 61) as f32 - 30.0) * 0.7)
            .collect();
        let xv: Vec<f32> = (0..n * p).map(|i| (i % 7) as f32 / 6.0).collect();
        let z = Tensor::<2>::from_data(TensorData::new(zv, [n, p]), &device).require_grad();
        let x = Tensor::<2>::from_data(TensorData::new(xv, [n, p]), &device);
        let w = Tensor::<1>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 0.5, -1.0, 3.0], [n]),
            &device,
        );
        let run = |f: &dyn Fn(Tensor<2>, Tensor<2>) -> Tensor<1>| {
            let loss = f(z.clone(), x.clone());
            let g = z
                .grad(&(loss.clone() * w.clone()).sum().backward())
                .unwrap();
            let vec = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
            (
                vec(loss.inner()),
                g.into_data().try_to_vec::<f32>().unwrap(),
            )
        };
        let ours = run(&|z, x| bernoulli_cross_entropy(z, x));
        let burns = run(&|z, x| composed(z, x));
        for (a, b) in ours.0.iter().zip(&burns.0) {
            assert!((a - b).abs() < 2e-6 * b.abs().max(1.0), "loss {a} vs {b}");
        }
        for (a, b) in ours.1.iter().zip(&burns.1) {
            assert!((a - b).abs() < 1e-6, "gradient {a} vs {b}");
        }
    }
}
