//! Mean squared error, as Keras' `mse` computes it on a softmax output.
//!
//! For predictions `p` and one-hot targets `y`, both `[n, k]`:
//! `L = 1/(n k) sum_{i,c} (p_ic - y_ic)^2`, and `dL/dp = 2 (p - y) / (n k)`.

use burn::prelude::*;

/// `L` as a `[1]` tensor. Shapes: `p`, `y`: `[n, k]`.
pub fn mse(p: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    (p - y).square().mean()
}

/// `dL/dp = 2 (p - y) / (n k)`. Shapes: `[n, k]`.
pub fn mse_grad(p: Tensor<2>, y: Tensor<2>) -> Tensor<2> {
    let [n, k] = p.dims();
    (p - y).mul_scalar(2.0 / (n * k) as f64)
}
