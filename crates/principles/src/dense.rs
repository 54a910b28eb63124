//! A dense (fully connected) layer: forward and backward by hand.
//!
//! Forward: `z = x W + b`, with `x` `[n, d_in]`, `W` `[d_in, d_out]`, `b` `[d_out]`.
//! Backward, given `delta = dL/dz` `[n, d_out]`:
//! `dL/dW = x^T delta` `[d_in, d_out]`, `dL/db = sum_i delta_i` `[d_out]`,
//! `dL/dx = delta W^T` `[n, d_in]`.

use burn::prelude::*;

/// `z = x W + b`. Shapes: `x` `[n, d_in]`, `w` `[d_in, d_out]`, `b` `[d_out]` -> `[n, d_out]`.
pub fn dense_forward(x: Tensor<2>, w: Tensor<2>, b: Tensor<1>) -> Tensor<2> {
    x.matmul(w) + b.unsqueeze::<2>()
}

/// Gradients of a dense layer.
#[derive(Debug, Clone)]
pub struct DenseGrads {
    /// `dL/dW = x^T delta`, `[d_in, d_out]`.
    pub w: Tensor<2>,
    /// `dL/db = sum over the batch of delta`, `[d_out]`.
    pub b: Tensor<1>,
    /// `dL/dx = delta W^T`, `[n, d_in]` (what flows to the layer below).
    pub x: Tensor<2>,
}

/// Backward pass of `z = x W + b` given `delta = dL/dz`.
pub fn dense_backward(x: Tensor<2>, w: Tensor<2>, delta: Tensor<2>) -> DenseGrads {
    DenseGrads {
        w: x.transpose().matmul(delta.clone()),
        b: delta.clone().sum_dim(0).squeeze_dim::<1>(0),
        x: delta.matmul(w.transpose()),
    }
}
