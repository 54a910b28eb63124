//! The hyperbolic tangent `y = tanh(x) = (e^x - e^-x) / (e^x + e^-x)` and its derivative
//! `dy/dx = 1 - y^2`, for tensors of any shape.
//!
//! On burn-flex this runs as a burn backend extension (`#[backend_extension]`): the forward pass
//! is one vectorised loop ([`crate::fast_math`]) and the backward pass one fused loop over the
//! saved output, `grad (1 - y^2)`. burn 0.22.1 evaluates flex's `tanh` one element at a time
//! with libm's `tanhf`, and its autodiff computes `tanh(x)` a second time in the backward pass
//! and then takes four more tensor operations for `grad (1 - y^2)`; in a LeNet-5 step that was
//! 31 % of the time (`bench/results/profile-lenet-79fd559.txt`). Other backends (ndarray,
//! wgpu, cuda) use burn's own `tanh`.
//!
//! The extension needs burn's `extension` feature and the flex backend, which this crate turns
//! on only through its `flex` feature; the runner's `flex` feature enables it, so the choice of
//! backends stays with the runner.

use burn::prelude::*;

/// `tanh`, element-wise; any shape. On flex (f32), the vectorised extension (values within a
/// few ulp of libm's); elsewhere burn's `tanh`.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if crate::flex::on_flex(&x.device()) && crate::flex::is_f32(x.dtype()) {
        use burn::backend::Dispatch;
        let y = <Dispatch as extension::TanhBackend>::tanh(x.into_dispatch());
        return Tensor::from_dispatch(y);
    }
    burn::tensor::activation::tanh(x)
}

#[cfg(feature = "flex")]
mod extension {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Flex, backend_extension};

    use crate::{fast_math, flex};

    /// `y = tanh(x)` on flex, f32 (checked by [`super::tanh`]).
    #[backend_extension(Flex, Autodiff)]
    pub trait TanhBackend: Backend {
        /// `y = tanh(x)`.
        fn tanh(x: FloatTensor<Self>) -> FloatTensor<Self>;
    }

    impl TanhBackend for Flex {
        fn tanh(x: FloatTensor<Self>) -> FloatTensor<Self> {
            flex::map_from(x, flex::COSTLY_FROM, fast_math::tanh_accurate)
        }
    }

    /// The backward step of `tanh`: keeps the output `y` (not the input, as burn's own does,
    /// which then evaluates `tanh` again) and takes `grad (1 - y^2)` in one pass.
    #[derive(Debug)]
    struct TanhGrad;

    impl Backward<Flex, 1> for TanhGrad {
        type State = FloatTensor<Flex>;

        fn backward(
            self,
            ops: Ops<Self::State, 1>,
            grads: &mut Gradients,
            _checkpointer: &mut Checkpointer,
        ) {
            let y = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
                flex::zip_map(grad, &flex::values(&y), fast_math::tanh_backward)
            });
        }
    }

    impl<C: CheckpointStrategy> TanhBackend for Autodiff<Flex, C> {
        fn tanh(x: FloatTensor<Self>) -> FloatTensor<Self> {
            match TanhGrad.prepare::<C>([x.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let y = Flex::tanh(x.into_primitive());
                    prep.finish(y.clone(), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::tanh(x.into_primitive())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tanh and its gradient on `device`, for inputs `xs` and the loss `sum(w * tanh(x))`.
    fn value_and_grad(device: &Device, xs: &[f32], w: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let n = xs.len();
        let x = Tensor::<2>::from_data(TensorData::new(xs.to_vec(), [1, n]), device).require_grad();
        let w = Tensor::<2>::from_data(TensorData::new(w.to_vec(), [1, n]), device);
        let y = tanh(x.clone());
        let grads = (y.clone() * w).sum().backward();
        let g = x.grad(&grads).expect("x is tracked");
        let vec = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        (vec(y.inner()), vec(g))
    }

    #[test]
    fn values_and_gradient_by_hand() {
        // tanh(0) = 0 with slope 1; tanh(atanh(0.5)) = 0.5 with slope 1 - 0.25 = 0.75;
        // tanh(-20) = -1 with slope 0. The loss weights each slope: 2, 1 and 3.
        let device = Device::flex().autodiff();
        let (y, g) = value_and_grad(&device, &[0.0, 0.5f32.atanh(), -20.0], &[2.0, 1.0, 3.0]);
        assert_eq!(y[0], 0.0);
        assert!((y[1] - 0.5).abs() < 1e-7 && y[2] == -1.0, "{y:?}");
        assert!(
            (g[0] - 2.0).abs() < 1e-7 && (g[1] - 0.75).abs() < 1e-6 && g[2] == 0.0,
            "{g:?}"
        );
    }

    /// On flex, the extension's values and gradients against burn's own tanh (libm's tanhf), for
    /// `loss = sum(w * y + y)` with `y = tanh(x^T)`: a transposed (strided) input, and an
    /// upstream gradient that burn hands to both terms of the sum (a shared buffer).
    #[cfg(feature = "flex")]
    fn against_burns(device: Device) {
        assert!(crate::flex::on_flex(&device), "the extension runs here");
        let xs: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) * 0.17).collect();
        let x = Tensor::<2>::from_data(TensorData::new(xs, [6, 10]), &device).require_grad();
        let w = Tensor::<2>::from_data(
            TensorData::new((0..60).map(|i| 1.0 + i as f32 * 0.01).collect(), [10, 6]),
            &device,
        );
        let run = |f: fn(Tensor<2>) -> Tensor<2>| {
            let y = f(x.clone().transpose());
            let grads = (y.clone() * w.clone() + y.clone()).sum().backward();
            let vec = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
            (vec(y.inner()), vec(x.grad(&grads).unwrap()))
        };
        let (ours, burns) = (run(tanh), run(burn::tensor::activation::tanh));
        let pairs = ours
            .0
            .iter()
            .zip(&burns.0)
            .chain(ours.1.iter().zip(&burns.1));
        for (a, b) in pairs {
            assert!(
                (a - b).abs() <= 4.0 * f32::EPSILON * b.abs().max(1.0),
                "{a} vs {b}"
            );
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn agrees_with_burns_tanh() {
        against_burns(Device::flex().autodiff());
    }

    #[cfg(feature = "flex")]
    #[test]
    fn agrees_with_burns_tanh_under_gradient_checkpointing() {
        against_burns(Device::flex().autodiff().gradient_checkpointing());
    }

    #[test]
    fn without_autodiff() {
        let device = Device::flex();
        let x = Tensor::<1>::from_data(TensorData::new(vec![-1.0f32, 2.0], [2]), &device);
        let y = tanh(x).into_data().try_to_vec::<f32>().unwrap();
        assert!((y[0] + 1f32.tanh()).abs() < 1e-7 && (y[1] - 2f32.tanh()).abs() < 1e-7);
    }
}
