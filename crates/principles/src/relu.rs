//! The rectified linear unit and its derivative (Nair & Hinton, 2010), and the leaky variant.
//!
//! `relu(x) = max(0, x)`, `relu'(x) = 1 if x > 0 else 0` (0 at 0, as every framework takes it).

use burn::prelude::*;

/// `max(0, x)`, element-wise; any shape.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clamp_min(0.0)
}

/// `1 if x > 0 else 0`, element-wise.
pub fn relu_prime<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.greater_elem(0.0).float()
}

/// Leaky ReLU: `x if x > 0 else slope x` (Maas et al., 2013).
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    let positive = x.clone().greater_elem(0.0).float();
    let scale = positive.clone() + positive.neg().add_scalar(1.0).mul_scalar(slope);
    x * scale
}

/// `1 if x > 0 else slope`, element-wise.
pub fn leaky_relu_prime<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    let positive = x.greater_elem(0.0).float();
    positive.clone() + positive.neg().add_scalar(1.0).mul_scalar(slope)
}
