//! Optimizers and their settings. Each optimizer has a section of its own under `[train]`
//! (`[train.adam]`, `[train.sgd]`, ...), so that no key means different things for different
//! optimizers; only the chosen optimizer's section may appear.

use serde::{Deserialize, Serialize};

/// Optimizer names accepted in configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerName {
    /// Stochastic gradient descent `w <- w - lr grad`, with optional (Nesterov) momentum.
    Sgd,
    /// Tieleman & Hinton (2012).
    Rmsprop,
    /// Duchi, Hazan & Singer (2011).
    Adagrad,
    /// Kingma & Ba (2014).
    Adam,
    /// Adam with decoupled weight decay (Loshchilov & Hutter, 2019).
    Adamw,
    /// Nonlinear conjugate gradients (Polak-Ribiere directions, line searches to the Wolfe
    /// conditions), restarted on each batch: how Hinton & Salakhutdinov (2006) fine-tuned their
    /// deep autoencoders. Takes no learning rate.
    Cg,
}

impl OptimizerName {
    /// The name used in config files, which is also its section's name under `[train]`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sgd => "sgd",
            Self::Rmsprop => "rmsprop",
            Self::Adagrad => "adagrad",
            Self::Adam => "adam",
            Self::Adamw => "adamw",
            Self::Cg => "cg",
        }
    }

    /// Every optimizer.
    pub const ALL: [OptimizerName; 6] = [
        Self::Sgd,
        Self::Rmsprop,
        Self::Adagrad,
        Self::Adam,
        Self::Adamw,
        Self::Cg,
    ];
}

/// `[train.sgd]`: `v <- mu v + g; w <- w - lr v` (PyTorch's and Keras' heavy ball, no dampening).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SgdSettings {
    /// Momentum `mu` in `[0, 1)`; 0 is plain gradient descent.
    pub momentum: f64,
    /// Nesterov's look-ahead form of momentum (needs `momentum > 0`).
    pub nesterov: bool,
    /// The momentum it rises to, linearly from `momentum` at the first epoch to this at
    /// `momentum_epochs` (pylearn2's `MomentumAdjustor`; the 2014 GAN: 0.5 to 0.7 over 250
    /// epochs); absent for a constant momentum. GAN runs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum_final: Option<f64>,
    /// The epoch at which `momentum_final` is reached.
    pub momentum_epochs: usize,
}

impl Default for SgdSettings {
    fn default() -> Self {
        Self {
            momentum: 0.0,
            nesterov: false,
            momentum_final: None,
            momentum_epochs: 1,
        }
    }
}

impl SgdSettings {
    /// The momentum of (1-based) `epoch`.
    pub fn momentum_at(&self, epoch: usize) -> f64 {
        match self.momentum_final {
            None => self.momentum,
            Some(end) => {
                let span = self.momentum_epochs.saturating_sub(1).max(1) as f64;
                let t = ((epoch.saturating_sub(1)) as f64 / span).min(1.0);
                self.momentum + (end - self.momentum) * t
            }
        }
    }
}

/// Where Adam's `epsilon` enters the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpsilonPlacement {
    /// Keras (and Kingma & Ba's "efficient" form, Sec. 2): `lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)`,
    /// `w -= lr_t m / (sqrt(v) + eps)`: epsilon is added before the bias correction.
    Keras,
    /// PyTorch and burn (Kingma & Ba's Algorithm 1): `w -= lr m_hat / (sqrt(v_hat) + eps)` with
    /// `m_hat = m / (1 - b1^t)`, `v_hat = v / (1 - b2^t)`: epsilon is added after it.
    Pytorch,
}

/// `[train.adam]` and `[train.adamw]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamSettings {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the root of the second moment (Keras: 1e-7; burn's and PyTorch's default 1e-5 / 1e-8).
    pub epsilon: f64,
    /// Before (Keras) or after (PyTorch, burn) the bias correction.
    pub epsilon_placement: EpsilonPlacement,
    /// `adamw` only: decoupled weight decay `w <- w - lr * weight_decay * w` each step
    /// (Loshchilov & Hutter, 2019; PyTorch's default 0.01).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
}

impl Default for AdamSettings {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            epsilon_placement: EpsilonPlacement::Keras,
            weight_decay: None,
        }
    }
}

impl AdamSettings {
    /// The decoupled weight decay in effect (0 unless AdamW).
    pub fn decoupled_decay(&self) -> f64 {
        self.weight_decay.unwrap_or(0.0)
    }
}

/// AdamW's default decoupled weight decay (PyTorch's).
pub const ADAMW_DEFAULT_DECAY: f64 = 0.01;

/// `[train.rmsprop]`: `s <- rho s + (1 - rho) g^2; w <- w - lr g / (sqrt(s) + eps)` (with
/// optional momentum on that step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RmsPropSettings {
    /// Decay of the squared-gradient average (Keras' `rho`, PyTorch's `alpha`).
    pub rho: f64,
    /// Added to the root of the average.
    pub epsilon: f64,
    /// Momentum of the step, `[0, 1)`.
    pub momentum: f64,
}

impl Default for RmsPropSettings {
    fn default() -> Self {
        Self {
            rho: 0.9,
            epsilon: 1e-7,
            momentum: 0.0,
        }
    }
}

/// `[train.adagrad]`: `s <- s + g^2; w <- w - lr g / (sqrt(s) + eps)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaGradSettings {
    /// Added to the root of the sum.
    pub epsilon: f64,
}

impl Default for AdaGradSettings {
    fn default() -> Self {
        Self { epsilon: 1e-7 }
    }
}

/// `[train.cg]`: conjugate gradients on each batch (see [`OptimizerName::Cg`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CgSettings {
    /// Line searches per batch before moving to the next one (Hinton & Salakhutdinov's code: 3,
    /// on batches of 1000 images).
    pub line_searches: usize,
    /// Evaluations of the loss one line search may take at most (Rasmussen's `minimize`: 20).
    pub max_evaluations: usize,
}

impl Default for CgSettings {
    fn default() -> Self {
        Self {
            line_searches: 3,
            max_evaluations: 20,
        }
    }
}
