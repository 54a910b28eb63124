//! Hidden-layer activations, chosen by name in configs.

use burn::prelude::*;
use burn::tensor::activation;

/// The nonlinearity `f` applied after each hidden dense layer, `h = f(x W + b)`.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `max(0, x)` (Nair & Hinton, 2010); the article's choice.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `(e^x - e^-x) / (e^x + e^-x)`.
    Tanh,
    /// `x` for `x > 0`, else `0.01 x` (Maas et al., 2013).
    LeakyRelu,
    /// `x * Phi(x)` (Hendrycks & Gimpel, 2016).
    Gelu,
}

impl Activation {
    /// Applies the activation element-wise; any shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Relu => activation::relu(x),
            Self::Sigmoid => activation::sigmoid(x),
            Self::Tanh => activation::tanh(x),
            Self::LeakyRelu => activation::leaky_relu(x, 0.01),
            Self::Gelu => activation::gelu(x),
        }
    }

    /// The name used in config files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
            Self::LeakyRelu => "leaky_relu",
            Self::Gelu => "gelu",
        }
    }
}
