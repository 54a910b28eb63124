//! Forward propagation and backpropagation through a whole multilayer perceptron, by hand, on
//! burn tensors and without autodiff — the article's algorithm written out.
//!
//! For layers `l = 1..L` with weights `W_l` `[d_{l-1}, d_l]` and biases `b_l` `[d_l]`:
//!
//! ```text
//! forward:   a_0 = x,   z_l = a_{l-1} W_l + b_l,   a_l = f(z_l) (l < L),   logits = z_L
//! backward:  delta_L = dL/dz_L                         (from the loss, see `loss_and_gradients`)
//!            dL/dW_l = a_{l-1}^T delta_l,   dL/db_l = sum_i delta_l
//!            delta_{l-1} = (delta_l W_l^T) * f'(z_{l-1})   (element-wise)
//! ```

use burn::prelude::*;
use burn::tensor::activation;
use nnlab_config::LossKind;
use nnlab_models::{Activation, Mlp};

use crate::cross_entropy::{categorical_cross_entropy, categorical_cross_entropy_grad};
use crate::dense::{dense_backward, dense_forward};
use crate::gaussian::{gaussian, gaussian_prime};
use crate::mse::{mse, mse_grad};
use crate::relu::{leaky_relu, leaky_relu_prime, relu, relu_prime};
use crate::sigmoid::{sigmoid, sigmoid_prime};
use crate::sin::{sin, sin_prime};
use crate::softmax::{softmax, softmax_backward};
use crate::tanh::{tanh, tanh_prime};

/// `f(z)` for the model's activation.
pub fn activate<const D: usize>(act: Activation, z: Tensor<D>) -> Tensor<D> {
    match act {
        Activation::Relu => relu(z),
        Activation::Sigmoid => sigmoid(z),
        Activation::Tanh => tanh(z),
        Activation::LeakyRelu => leaky_relu(z, Activation::LEAKY_SLOPE),
        Activation::Gelu => activation::gelu(z),
        Activation::Sin => sin(z),
        Activation::Gaussian => gaussian(z),
        Activation::Identity => z,
    }
}

/// `f'(z)` for the model's activation. GELU: `Phi(z) + z phi(z)` with the normal CDF and density.
pub fn activate_prime<const D: usize>(act: Activation, z: Tensor<D>) -> Tensor<D> {
    match act {
        Activation::Relu => relu_prime(z),
        Activation::Sigmoid => sigmoid_prime(z),
        Activation::Tanh => tanh_prime(z),
        Activation::LeakyRelu => leaky_relu_prime(z, Activation::LEAKY_SLOPE),
        Activation::Sin => sin_prime(z),
        Activation::Gaussian => gaussian_prime(z),
        Activation::Identity => z.ones_like(),
        Activation::Gelu => {
            let cdf = z
                .clone()
                .div_scalar(std::f64::consts::SQRT_2)
                .erf()
                .add_scalar(1.0)
                .mul_scalar(0.5);
            let pdf = z
                .clone()
                .square()
                .mul_scalar(-0.5)
                .exp()
                .mul_scalar(1.0 / (2.0 * std::f64::consts::PI).sqrt());
            cdf + z * pdf
        }
    }
}

/// What the forward pass keeps for backpropagation.
#[derive(Debug, Clone)]
pub struct ForwardPass {
    /// `a_0 = x, a_1, ..., a_{L-1}`: the input of each layer.
    pub inputs: Vec<Tensor<2>>,
    /// `z_1, ..., z_L`: each layer's pre-activation; `z_L` are the logits.
    pub pre: Vec<Tensor<2>>,
}

impl ForwardPass {
    /// The logits `z_L`, `[n, classes]`.
    pub fn logits(&self) -> Tensor<2> {
        self.pre
            .last()
            .expect("an MLP has at least one layer")
            .clone()
    }
}

fn weight(mlp: &Mlp, l: usize) -> Tensor<2> {
    mlp.layers[l].weight.val()
}

fn bias(mlp: &Mlp, l: usize) -> Tensor<1> {
    match &mlp.layers[l].bias {
        Some(b) => b.val(),
        None => Tensor::zeros(
            [mlp.layers[l].weight.val().dims()[1]],
            &weight(mlp, l).device(),
        ),
    }
}

/// Forward propagation. Shapes: `x` `[n, inputs]`.
pub fn forward(mlp: &Mlp, x: Tensor<2>) -> ForwardPass {
    let last = mlp.layers.len() - 1;
    let mut inputs = vec![x];
    let mut pre = Vec::with_capacity(mlp.layers.len());
    for l in 0..=last {
        let z = dense_forward(inputs[l].clone(), weight(mlp, l), bias(mlp, l));
        if l < last {
            inputs.push(activate(mlp.activation, z.clone()));
        }
        pre.push(z);
    }
    ForwardPass { inputs, pre }
}

/// Gradients of one layer: `(dL/dW_l [d_in, d_out], dL/db_l [d_out])`.
pub type LayerGrads = (Tensor<2>, Tensor<1>);

/// Backpropagation from `delta_L = dL/dz_L`: the gradients of every layer, first layer first.
pub fn backward(mlp: &Mlp, pass: &ForwardPass, delta_last: Tensor<2>) -> Vec<LayerGrads> {
    let n_layers = mlp.layers.len();
    let mut grads = Vec::with_capacity(n_layers);
    let mut delta = delta_last;
    for l in (0..n_layers).rev() {
        let g = dense_backward(pass.inputs[l].clone(), weight(mlp, l), delta);
        grads.push((g.w, g.b));
        if l > 0 {
            delta = g.x * activate_prime(mlp.activation, pass.pre[l - 1].clone());
        } else {
            break;
        }
    }
    grads.reverse();
    grads
}

/// The loss value and every layer's gradient for a batch. Shapes: `x` `[n, inputs]`, `y` one-hot
/// `[n, classes]`.
pub fn loss_and_gradients(
    mlp: &Mlp,
    x: Tensor<2>,
    y: Tensor<2>,
    objective: LossKind,
) -> (Tensor<1>, Vec<LayerGrads>, Tensor<2>) {
    let pass = forward(mlp, x);
    let z = pass.logits();
    let (loss, delta) = match objective {
        // Categorical cross-entropy of `softmax(z)`: `delta_L = (softmax(z) - y) / n`.
        LossKind::CrossEntropy => (
            categorical_cross_entropy(z.clone(), y.clone()),
            categorical_cross_entropy_grad(z.clone(), y),
        ),
        // Mean squared error of `softmax(z)`: `delta_L = softmax'(z)^T 2 (p - y) / (n k)`.
        LossKind::Mse => {
            let p = softmax(z.clone());
            let loss = mse(p.clone(), y.clone());
            (loss, softmax_backward(p.clone(), mse_grad(p, y)))
        }
    };
    let grads = backward(mlp, &pass, delta);
    (loss, grads, z)
}
