//! The article's principles by hand: activations and their derivatives, losses and their
//! gradients, a dense layer's forward and backward pass, forward propagation and
//! backpropagation through an MLP, and the gradient-descent update rules — on burn tensors,
//! without autodiff, so each formula can be read, run and checked against burn's autodiff
//! (see the tests).
//!
//! Notation: `x` inputs `[n, d]`, `W` weights `[d_in, d_out]`, `b` biases `[d_out]`,
//! `z = x W + b` pre-activations, `a = f(z)` activations, `p = softmax(z)`, `y` one-hot targets,
//! `L` the loss, `delta = dL/dz`, `alpha` the learning rate.

pub mod cross_entropy;
pub mod dense;
pub mod gaussian;
pub mod gradient_descent;
pub mod mlp;
pub mod mse;
pub mod relu;
pub mod sigmoid;
pub mod sin;
pub mod softmax;
pub mod tanh;
