//! The hyperbolic tangent and its derivative.
//!
//! `tanh(x) = (e^x - e^-x) / (e^x + e^-x)`, `tanh'(x) = 1 - tanh(x)^2`.

use burn::prelude::*;

/// `tanh(x)`, element-wise; any shape.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.tanh()
}

/// `tanh'(x) = 1 - tanh(x)^2`, element-wise.
pub fn tanh_prime<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.tanh().square().neg().add_scalar(1.0)
}
