//! The Gaussian bump as an activation, as in Stanley's compositional pattern-producing networks
//! (2007): it makes symmetric patterns.
//!
//! `f(x) = e^(-x^2)`, `f'(x) = -2x e^(-x^2)`.

use burn::prelude::*;

/// `e^(-x^2)`, element-wise; any shape.
pub fn gaussian<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.square().neg().exp()
}

/// `d/dx e^(-x^2) = -2x e^(-x^2)`, element-wise.
pub fn gaussian_prime<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    gaussian(x.clone()) * x.mul_scalar(-2.0)
}
