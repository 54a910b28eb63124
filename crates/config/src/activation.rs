//! Nonlinearities, by the names configs use. The one list of activations in nnlab: the models
//! crate applies them with burn (`nnlab_models::activation`), the principles crate by hand.

use serde::{Deserialize, Serialize};

/// A nonlinearity `f`, applied element-wise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// `sin(x)`: periodic patterns (Stanley's CPPNs, 2007).
    Sin,
    /// `exp(-x^2)`: symmetric bumps (Stanley's CPPNs, 2007).
    Gaussian,
    /// `x`: a linear layer (e.g. an autoencoder's code layer, Hinton & Salakhutdinov 2006).
    Identity,
}

impl Activation {
    /// Every activation, in the order the docs list them.
    pub const ALL: [Activation; 8] = [
        Self::Relu,
        Self::Sigmoid,
        Self::Tanh,
        Self::LeakyRelu,
        Self::Gelu,
        Self::Sin,
        Self::Gaussian,
        Self::Identity,
    ];

    /// The name used in config files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
            Self::LeakyRelu => "leaky_relu",
            Self::Gelu => "gelu",
            Self::Sin => "sin",
            Self::Gaussian => "gaussian",
            Self::Identity => "identity",
        }
    }

    /// The slope of leaky ReLU for negative inputs.
    pub const LEAKY_SLOPE: f64 = 0.01;
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
