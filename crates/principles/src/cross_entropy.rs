//! Cross-entropy losses and their gradients with respect to the logits.
//!
//! * Categorical, on `p = softmax(z)` with one-hot `y` (`[n, k]`):
//!   `L = -1/n sum_i sum_c y_ic log p_ic`, and `dL/dz = (p - y) / n`.
//! * Binary, on `p = sigma(z)` with `y` in {0, 1} (`[n, 1]`):
//!   `L = -1/n sum_i (y_i log p_i + (1 - y_i) log(1 - p_i))`, and `dL/dz = (p - y) / n`.
//!
//! The same simple gradient in both cases is why these pairs (softmax + cross-entropy, sigmoid +
//! binary cross-entropy) are used together.

use burn::prelude::*;

use crate::sigmoid::sigmoid;
use crate::softmax::softmax;

/// Categorical cross-entropy of logits `z` against one-hot `y`, as a `[1]` tensor.
/// Uses `log softmax(z) = z - max z - log sum e^{z - max z}` for stability. Shapes: `[n, k]`.
pub fn categorical_cross_entropy(z: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    let [n, _] = z.dims();
    let max = z.clone().max_dim(1);
    let shifted = z - max;
    let log_sum = shifted.clone().exp().sum_dim(1).log();
    let log_p = shifted - log_sum;
    (log_p * y).sum().neg().div_scalar(n as f64)
}

/// `dL/dz = (softmax(z) - y) / n`. Shapes: `[n, k]`.
pub fn categorical_cross_entropy_grad(z: Tensor<2>, y: Tensor<2>) -> Tensor<2> {
    let [n, _] = z.dims();
    (softmax(z) - y).div_scalar(n as f64)
}

/// Binary cross-entropy of logits `z` against targets `y` in {0, 1}, as a `[1]` tensor.
/// Uses `log sigma(z) = -softplus(-z)` and `log(1 - sigma(z)) = -softplus(z)`. Shapes: `[n, 1]`.
pub fn binary_cross_entropy(z: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    let [n, _] = z.dims();
    let softplus = |t: Tensor<2>| {
        // log(1 + e^t) = max(t, 0) + log(1 + e^{-|t|})
        t.clone().clamp_min(0.0) + t.abs().neg().exp().add_scalar(1.0).log()
    };
    let loss = y.clone() * softplus(z.clone().neg()) + y.neg().add_scalar(1.0) * softplus(z);
    loss.sum().div_scalar(n as f64)
}

/// `dL/dz = (sigma(z) - y) / n`. Shapes: `[n, 1]`.
pub fn binary_cross_entropy_grad(z: Tensor<2>, y: Tensor<2>) -> Tensor<2> {
    let [n, _] = z.dims();
    (sigmoid(z) - y).div_scalar(n as f64)
}
