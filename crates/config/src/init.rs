//! Weight initialisation schemes of dense layers, by the names configs use.

use serde::{Deserialize, Serialize};

/// How a dense layer's weights and biases start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightInit {
    /// Keras' default: weights `U(-a, a)` with `a = sqrt(6 / (fan_in + fan_out))`
    /// (Glorot & Bengio, 2010), biases zero.
    GlorotUniform,
    /// `U(-a, a)` with `a = sqrt(6 / fan_in)` (He et al., 2015), biases zero.
    HeUniform,
    /// burn's (and PyTorch's) `Linear` default: Kaiming-uniform with gain `1/sqrt(3)`, i.e.
    /// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, for weights and biases alike.
    BurnDefault,
    /// Martens (2010)'s sparse initialisation: each unit gets 15 nonzero incoming weights
    /// drawn from `N(0, 1)`, every other weight and the biases zero. It lets deep networks of
    /// logistic units train without layer-wise pretraining (Martens 2010, section 5;
    /// Sutskever et al. 2013), where from Glorot's weights they learn slowly (see `hinton-2006`).
    Sparse,
}

impl WeightInit {
    /// The name used in config files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::GlorotUniform => "glorot_uniform",
            Self::HeUniform => "he_uniform",
            Self::BurnDefault => "burn_default",
            Self::Sparse => "sparse",
        }
    }
}

/// How LeNet-5's weights start (`model.kind = "lenet5"`, `model.init`). Under the stochastic
/// diagonal Levenberg-Marquardt method the scale decides the step sizes: a layer's curvature
/// shrinks with the square of every weight above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lenet5Init {
    /// As LeCun et al. (1998, appendix A) print it: every weight and bias, the subsampling
    /// coefficients included, uniform in `+-2.4 / F_i`, `F_i` the unit's fan-in.
    #[default]
    FanIn,
    /// As the LeNet-5 demo of LeCun and Bottou's Lush library (gblearn2, `forget 1 2`) starts
    /// it: weights uniform in `+-1 / sqrt(F_i)` (C3's `F_i` that of each map's own columns of
    /// the connection table), biases zero, subsampling coefficients `1 / sqrt(4) = 0.5`.
    SqrtFanIn,
}

impl Lenet5Init {
    /// Whether this is the default (left out of written configs, so that runs made before the
    /// key existed read back unchanged).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}
