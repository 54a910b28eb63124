//! The logistic sigmoid and its derivative.
//!
//! `sigma(x) = 1 / (1 + e^-x)`, `sigma'(x) = sigma(x) (1 - sigma(x))`.

use burn::prelude::*;

/// `sigma(x)`, element-wise; any shape.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.neg().exp().add_scalar(1.0).recip()
}

/// `sigma'(x) = sigma(x) (1 - sigma(x))`, element-wise.
pub fn sigmoid_prime<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let s = sigmoid(x);
    s.clone() * s.neg().add_scalar(1.0)
}
