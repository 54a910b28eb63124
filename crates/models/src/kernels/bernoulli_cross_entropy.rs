//! The Bernoulli cross-entropy of logits `z` against pixel values `x` in `[0, 1]`, summed over
//! each example's pixels: `L_i = -sum_j [x_ij log s(z_ij) + (1 - x_ij) log(1 - s(z_ij))]
//! = sum_j [softplus(z_ij) - z_ij x_ij]`, with `s` the logistic function, and its gradient
//! `dL_i/dz_ij = s(z_ij) - x_ij`: the reconstruction term of the autoencoders (Hinton &
//! Salakhutdinov 2006) and of the VAE (Kingma & Welling 2014, Appendix C.1).
//!
//! On burn-flex this runs as a burn backend extension: one vectorised pass computes every
//! pixel's loss and gradient (softplus and the logistic from one `e^-|z|`) and keeps the
//! gradient for the backward pass, which scales it by each example's upstream gradient. burn's composition
//! (softplus as multiply, compare, mask, exp, log1p, divide, select; then multiply, subtract,
//! sum) takes about a dozen tensor operations each way and evaluates libm's scalar `log1pf` and
//! `expf` per pixel. Other backends use
//! that composition. The targets `x` are normally data; when `x` itself is tracked, the
//! extension composes burn's differentiable operations instead, so its gradient flows too.
//!
//! # Shapes
//! - `logits`, `x`: `[batch, pixels]`
//! - returns `[batch]`

use burn::prelude::*;
use burn::tensor::activation::softplus;

/// `sum_j softplus(z_ij) - z_ij x_ij` per row. On flex (f32, non-empty), the fused extension;
/// elsewhere burn's operations.
pub fn bernoulli_cross_entropy(logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    #[cfg(feature = "flex")]
    if crate::flex::on_flex(&logits.device())
        && crate::flex::is_f32(logits.dtype())
        && crate::flex::is_f32(x.dtype())
        && logits.shape().num_elements() > 0
    {
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

/// `log(1 + u)` for `u` in `[0, 1]`: `2 atanh(s)` with `s = u / (2 + u) <= 1/3`, its odd series to
/// `s^13` (the next term, `2 s^15 / 15`, is below 2e-8 of the result).
#[cfg(any(feature = "flex", test))]
#[inline(always)]
fn log1p_unit(u: f32) -> f32 {
    let s = u / (2.0 + u);
    let s2 = s * s;
    let p = 1.0 / 13.0;
    let p = p * s2 + 1.0 / 11.0;
    let p = p * s2 + 1.0 / 9.0;
    let p = p * s2 + 1.0 / 7.0;
    let p = p * s2 + 1.0 / 5.0;
    let p = p * s2 + 1.0 / 3.0;
    2.0 * s * (1.0 + s2 * p)
}

#[cfg(any(feature = "flex", test))]
struct Bernoulli<'a> {
    z: &'a [f32],
    x: &'a [f32],
    loss: &'a mut [f32],
    grad: &'a mut [f32],
}

#[cfg(any(feature = "flex", test))]
impl pulp::WithSimd for Bernoulli<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let outs = self.loss.iter_mut().zip(self.grad.iter_mut());
        for ((&z, &x), (l, g)) in self.z.iter().zip(self.x).zip(outs) {
            // softplus(z) = max(z, 0) + log(1 + e^-|z|), sigmoid(z) from the same e^-|z|.
            let u = crate::fast_math::exp(-z.abs());
            *l = z.max(0.0) + log1p_unit(u) - z * x;
            let r = 1.0 / (1.0 + u);
            let sigmoid = if z >= 0.0 { r } else { u * r };
            *g = sigmoid - x;
        }
    }
}

/// The Bernoulli cross-entropy of logits `z` against targets `x` in `[0, 1]`, per element:
/// `loss = softplus(z) - z x = -[x log s(z) + (1 - x) log(1 - s(z))]`, and its derivative
/// `grad = s(z) - x`, with `s` the logistic function. Accurate to a few 1e-7 of `softplus`.
///
/// # Panics
/// If the four slices differ in length.
#[cfg(any(feature = "flex", test))]
pub(crate) fn bernoulli(z: &[f32], x: &[f32], loss: &mut [f32], grad: &mut [f32]) {
    let n = z.len();
    assert!(
        x.len() == n && loss.len() == n && grad.len() == n,
        "bernoulli: slices of different lengths"
    );
    pulp::Arch::new().dispatch(Bernoulli { z, x, loss, grad });
}

#[cfg(feature = "flex")]
mod extension {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
    use burn::backend::ops::{ActivationOps, FloatTensorOps};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};

    use crate::flex;

    /// The loss on flex, f32, non-empty (checked by [`super::bernoulli_cross_entropy`]).
    #[backend_extension(Flex, Autodiff)]
    pub trait BernoulliBackend: Backend {
        /// `sum_j softplus(z_ij) - z_ij x_ij`, `[n, p]` -> `[n]`.
        fn bernoulli_cross_entropy(
            logits: FloatTensor<Self>,
            x: FloatTensor<Self>,
        ) -> FloatTensor<Self>;
    }

    /// The rows' losses `[n]`, and every pixel's `s(z) - x` `[n, p]` when `keep`.
    fn forward_host(
        z: &FloatTensor<Flex>,
        x: &FloatTensor<Flex>,
        keep: bool,
    ) -> (FloatTensor<Flex>, Option<FloatTensor<Flex>>) {
        let [n, p] = z.shape().dims::<2>();
        assert_eq!(
            x.shape().dims::<2>(),
            [n, p],
            "bernoulli: logits and targets differ in shape"
        );
        let (mut loss, mut grad) = (vec![0.0f32; n * p], vec![0.0f32; n * p]);
        super::bernoulli(&flex::values(z), &flex::values(x), &mut loss, &mut grad);
        // Each row summed in f64: 784 terms added one by one in f32 would lose about 1e-5.
        let rows: Vec<f32> = loss
            .chunks_exact(p)
            .map(|r| r.iter().map(|&v| v as f64).sum::<f64>() as f32)
            .collect();
        (
            flex::tensor(rows, [n]),
            keep.then(|| flex::tensor(grad, [n, p])),
        )
    }

    impl BernoulliBackend for Flex {
        fn bernoulli_cross_entropy(
            logits: FloatTensor<Self>,
            x: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            forward_host(&logits, &x, false).0
        }
    }

    /// The backward step: keeps `s(z) - x` and scales each row by its upstream gradient.
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
                let g = flex::values(&upstream);
                let p = delta.shape().dims::<2>()[1];
                let d = delta.storage_mut::<f32>();
                for (row, &gi) in d.chunks_exact_mut(p).zip(g.iter()) {
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
            if x.is_tracked() {
                // Gradients for both: softplus(z) = -log s(-z), with burn's differentiable ops.
                let n = logits.primitive().shape().dims::<2>()[0];
                let softplus = Self::float_neg(Self::log_sigmoid(Self::float_neg(logits.clone())));
                let per_pixel = Self::float_sub(softplus, Self::float_mul(logits, x));
                return Self::float_reshape(Self::float_sum_dim(per_pixel, 1), [n].into());
            }
            match BernoulliGrad
                .prepare::<C>([logits.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (loss, delta) = forward_host(logits.primitive(), x.primitive(), true);
                    prep.finish(delta.expect("kept for the backward pass"), loss)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(forward_host(logits.primitive(), x.primitive(), false).0)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bernoulli_against_f64() {
        // softplus(z) - z x and s(z) - x over a wide range of logits, against f64.
        let z: Vec<f32> = (-400..=400)
            .map(|i| i as f32 * 0.05)
            .chain([-90.0, 90.0])
            .collect();
        let x: Vec<f32> = (0..z.len()).map(|i| (i % 5) as f32 * 0.25).collect();
        let (mut loss, mut grad) = (vec![0.0; z.len()], vec![0.0; z.len()]);
        bernoulli(&z, &x, &mut loss, &mut grad);
        for i in 0..z.len() {
            let (zf, xf) = (z[i] as f64, x[i] as f64);
            let softplus = zf.max(0.0) + (-zf.abs()).exp().ln_1p();
            let want_loss = softplus - zf * xf;
            let want_grad = 1.0 / (1.0 + (-zf).exp()) - xf;
            let tol = 4e-7 * softplus.max(zf.abs() * xf).max(1.0);
            assert!(
                (loss[i] as f64 - want_loss).abs() < tol,
                "loss at z {zf}, x {xf}: {}",
                loss[i]
            );
            assert!(
                (grad[i] as f64 - want_grad).abs() < 2e-7,
                "grad at z {zf}, x {xf}: {}",
                grad[i]
            );
        }
    }

    #[test]
    fn by_hand_without_autodiff() {
        // One pixel x = 1 with logit 0: -log(1/2) = ln 2; x = 0 with logit ln 3: -log(1 - 3/4) = ln 4.
        let device = Device::flex();
        let z = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 3f32.ln()], [1, 2]), &device);
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &device);
        let l = bernoulli_cross_entropy(z, x).into_scalar::<f32>();
        assert!((l - (2f32.ln() + 4f32.ln())).abs() < 1e-6, "{l}");
    }

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

    #[cfg(feature = "flex")]
    #[test]
    fn agrees_with_burns_operations() {
        // Spread logits and fractional targets, the rows weighted downstream; then without
        // autodiff, and with the targets tracked (their gradient is -z per unit of loss).
        let device = Device::flex().autodiff();
        assert!(crate::flex::on_flex(&device), "the extension runs here");
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
        let vec = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        let plain = bernoulli_cross_entropy(z.clone().inner(), x.clone().inner());
        for (a, b) in plain
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .iter()
            .zip(&burns.0)
        {
            assert!(
                (a - b).abs() < 2e-6 * b.abs().max(1.0),
                "plain loss {a} vs {b}"
            );
        }
        let tracked = x.clone().require_grad();
        let grads = bernoulli_cross_entropy(z.clone(), tracked.clone())
            .sum()
            .backward();
        let (gz, gx) = (
            vec(z.grad(&grads).unwrap()),
            vec(tracked.grad(&grads).unwrap()),
        );
        let (zs, xs) = (vec(z.clone().inner()), vec(x.clone().inner()));
        for i in 0..n * p {
            let s = 1.0 / (1.0 + (-zs[i] as f64).exp());
            assert!(
                (gz[i] as f64 - (s - xs[i] as f64)).abs() < 1e-6,
                "dz {}",
                gz[i]
            );
            assert!(
                (gx[i] + zs[i]).abs() < 1e-6 * zs[i].abs().max(1.0),
                "dx {}",
                gx[i]
            );
        }
    }
}
