//! Softmax over classes and the product of its Jacobian with a vector.
//!
//! `softmax(z)_k = e^{z_k} / sum_j e^{z_j}`, computed as `e^{z_k - max z} / sum_j e^{z_j - max z}`.
//! Its Jacobian is `d p_k / d z_j = p_k (1[k = j] - p_j)`, so for any `g = dL/dp`,
//! `dL/dz = p * (g - sum_k g_k p_k)` (row by row).

use burn::prelude::*;

/// Row-wise softmax. Shapes: `z` `[batch, classes]` -> `[batch, classes]`.
pub fn softmax(z: Tensor<2>) -> Tensor<2> {
    let max = z.clone().max_dim(1);
    let e = (z - max).exp();
    let sum = e.clone().sum_dim(1);
    e / sum
}

/// `dL/dz` from `p = softmax(z)` and `g = dL/dp`. Shapes: all `[batch, classes]`.
pub fn softmax_backward(p: Tensor<2>, g: Tensor<2>) -> Tensor<2> {
    let dot = (g.clone() * p.clone()).sum_dim(1);
    p * (g - dot)
}
