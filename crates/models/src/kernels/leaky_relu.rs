//! The leaky rectifier `y = x` for `x >= 0`, `y = a x` below (Maas, Hannun & Ng 2013; slope
//! `a = 0.2` in the DCGAN's discriminator, Radford et al. 2016), and its derivative `1` or `a`,
//! for tensors of any shape.
//!
//! On burn-flex this runs as a burn backend extension: the forward pass is one loop and the
//! backward pass one loop over the saved input, `grad` or `a grad`. Under autodiff burn 0.22.1
//! builds leaky ReLU from three tensor operations (a comparison, a scaled copy, `mask_where`)
//! whose backward pass takes two masked copies of the gradient, a scaling and a sum: in a DCGAN
//! step `mask_where` alone was 5.6 % of the time (`bench/results/profile-dcgan-a06c552.txt`).
//! The values and gradients are the same bits as burn's (tested). Other backends (ndarray, wgpu,
//! cuda) and f64 use burn's own `leaky_relu`.

use burn::prelude::*;

/// Leaky ReLU with slope `negative_slope` below zero, element-wise; any shape. On flex (f32),
/// the extension; elsewhere burn's `leaky_relu`.
pub fn leaky_relu<const D: usize>(x: Tensor<D>, negative_slope: f64) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if crate::flex::on_flex(&x.device()) && crate::flex::is_f32(x.dtype()) {
        use burn::backend::Dispatch;
        let y = <Dispatch as extension::LeakyReluBackend>::leaky_relu(
            x.into_dispatch(),
            negative_slope as f32,
        );
        return Tensor::from_dispatch(y);
    }
    burn::tensor::activation::leaky_relu(x, negative_slope)
}

#[cfg(feature = "flex")]
mod extension {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Flex, backend_extension};

    use crate::{fast_math, flex};

    /// Leaky ReLU on flex, f32 (checked by [`super::leaky_relu`]).
    #[backend_extension(Flex, Autodiff)]
    pub trait LeakyReluBackend: Backend {
        /// `y = x` for `x >= 0`, else `a x`.
        fn leaky_relu(x: FloatTensor<Self>, a: f32) -> FloatTensor<Self>;
    }

    impl LeakyReluBackend for Flex {
        fn leaky_relu(x: FloatTensor<Self>, a: f32) -> FloatTensor<Self> {
            flex::map(x, |v| fast_math::leaky_relu(v, a))
        }
    }

    /// The backward step: keeps the input (its sign picks the slope; the output's sign would
    /// not do for `a = 0`, where `-0.0` is not below zero) and the slope.
    #[derive(Debug)]
    struct LeakyReluGrad;

    impl Backward<Flex, 1> for LeakyReluGrad {
        type State = (FloatTensor<Flex>, f32);

        fn backward(
            self,
            ops: Ops<Self::State, 1>,
            grads: &mut Gradients,
            _checkpointer: &mut Checkpointer,
        ) {
            let (x, a) = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
                flex::zip_map(grad, &flex::values(&x), |g, x| {
                    fast_math::leaky_relu_backward(g, x, a)
                })
            });
        }
    }

    impl<C: CheckpointStrategy> LeakyReluBackend for Autodiff<Flex, C> {
        fn leaky_relu(x: FloatTensor<Self>, a: f32) -> FloatTensor<Self> {
            match LeakyReluGrad
                .prepare::<C>([x.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let input = x.into_primitive();
                    let y = Flex::leaky_relu(input.clone(), a);
                    prep.finish((input, a), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::leaky_relu(x.into_primitive(), a)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values and the gradient of `sum(w * y)` on `device`.
    fn value_and_grad(device: &Device, xs: &[f32], w: &[f32], a: f64) -> (Vec<f32>, Vec<f32>) {
        let n = xs.len();
        let x = Tensor::<2>::from_data(TensorData::new(xs.to_vec(), [1, n]), device).require_grad();
        let w = Tensor::<2>::from_data(TensorData::new(w.to_vec(), [1, n]), device);
        let y = leaky_relu(x.clone(), a);
        let grads = (y.clone() * w).sum().backward();
        let vec = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        (vec(y.inner()), vec(x.grad(&grads).expect("x is tracked")))
    }

    #[test]
    fn values_and_gradient_by_hand() {
        // Slope 0.2: -2 -> -0.4 with slope 0.2, 0 -> 0 with slope 1 (x >= 0 takes the identity,
        // as burn's and PyTorch's do), 3 -> 3 with slope 1. The loss weights: 5, 2 and 7.
        let device = Device::flex().autodiff();
        let (y, g) = value_and_grad(&device, &[-2.0, 0.0, 3.0], &[5.0, 2.0, 7.0], 0.2);
        assert_eq!(y, [-0.4, 0.0, 3.0]);
        assert_eq!(g, [1.0, 2.0, 7.0]);
        // Slope 0: below zero nothing passes back, also where the output is -0.0.
        let (y, g) = value_and_grad(&device, &[-2.0, 1.0], &[5.0, 2.0], 0.0);
        assert_eq!((y[0], y[1]), (0.0, 1.0));
        assert_eq!(g, [0.0, 2.0]);
    }

    /// On flex, the extension's values and gradients against burn's own leaky ReLU, bit for bit,
    /// for `loss = sum(w * y + y)` with `y = leaky_relu(x^T)`: a strided input and an upstream
    /// gradient that burn hands to both terms of the sum.
    #[cfg(feature = "flex")]
    fn against_burns(device: Device) {
        assert!(crate::flex::on_flex(&device), "the extension runs here");
        let xs: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) * 0.37).collect();
        let x = Tensor::<2>::from_data(TensorData::new(xs, [6, 10]), &device).require_grad();
        let w = Tensor::<2>::from_data(
            TensorData::new((0..60).map(|i| 1.0 + i as f32 * 0.013).collect(), [10, 6]),
            &device,
        );
        let run = |f: fn(Tensor<2>, f64) -> Tensor<2>| {
            let y = f(x.clone().transpose(), 0.2);
            let grads = (y.clone() * w.clone() + y.clone()).sum().backward();
            let vec = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
            (vec(y.inner()), vec(x.grad(&grads).unwrap()))
        };
        let ours = run(leaky_relu);
        let burns = run(burn::tensor::activation::leaky_relu);
        assert_eq!(ours, burns);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn agrees_with_burns_leaky_relu() {
        against_burns(Device::flex().autodiff());
    }

    #[cfg(feature = "flex")]
    #[test]
    fn agrees_with_burns_leaky_relu_under_gradient_checkpointing() {
        against_burns(Device::flex().autodiff().gradient_checkpointing());
    }

    #[test]
    fn without_autodiff_and_in_f64() {
        let device = Device::flex();
        let x = Tensor::<1>::from_data(TensorData::new(vec![-1.0f32, 2.0], [2]), &device);
        assert_eq!(
            leaky_relu(x.clone(), 0.2)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            [-0.2, 2.0]
        );
        let y = leaky_relu(x.cast(burn::tensor::DType::F64), 0.2);
        assert_eq!(y.into_data().try_to_vec::<f64>().unwrap(), [-0.2, 2.0]);
    }
}
