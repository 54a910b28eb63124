//! The sine as an activation, as in Stanley's compositional pattern-producing networks (2007):
//! it makes periodic patterns.
//!
//! `f(x) = sin x`, `f'(x) = cos x`.

use burn::prelude::*;

/// `sin x`, element-wise; any shape.
pub fn sin<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.sin()
}

/// `d/dx sin x = cos x`, element-wise.
pub fn sin_prime<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.cos()
}
