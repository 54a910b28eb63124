//! Weight initialisation schemes of dense layers.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;

/// How a dense layer's weights and biases start.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum WeightInit {
    /// Keras' default: weights `U(-a, a)` with `a = sqrt(6 / (fan_in + fan_out))`
    /// (Glorot & Bengio, 2010), biases zero.
    GlorotUniform,
    /// `U(-a, a)` with `a = sqrt(6 / fan_in)` (He et al., 2015), biases zero.
    HeUniform,
    /// burn's (and PyTorch's) `Linear` default: Kaiming-uniform with gain `1/sqrt(3)`, i.e.
    /// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, for weights and biases alike.
    BurnDefault,
}

impl WeightInit {
    /// A dense layer `[d_input] -> [d_output]` initialised by this scheme.
    pub fn linear(&self, d_input: usize, d_output: usize, device: &Device) -> Linear {
        let config = LinearConfig::new(d_input, d_output);
        let (config, zero_bias) = match self {
            Self::GlorotUniform => (
                config.with_initializer(Initializer::XavierUniform { gain: 1.0 }),
                true,
            ),
            Self::HeUniform => (
                config.with_initializer(Initializer::KaimingUniform {
                    gain: 2f64.sqrt(),
                    fan_out_only: false,
                }),
                true,
            ),
            Self::BurnDefault => (config, false),
        };
        let mut layer = config.init(device);
        if zero_bias {
            layer.bias = Some(Initializer::Zeros.init([d_output], device));
        }
        layer
    }

    /// The name used in config files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::GlorotUniform => "glorot_uniform",
            Self::HeUniform => "he_uniform",
            Self::BurnDefault => "burn_default",
        }
    }
}
