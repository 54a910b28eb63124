//! Optimizers built from the config's `[train]` section: burn's SGD, RMSProp and AdaGrad, and
//! our [`adam::Adam`] for Adam and AdamW (both epsilon placements, fused on CPU backends).

pub mod adam;

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdaGradConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};
use nnlab_config::{OptimizerName, TrainConfig};

/// The optimizer `train` describes. `host` selects the fused host-memory update of Adam (CPU
/// backends); otherwise the same formula runs as tensor operations on the device.
pub fn build(train: &TrainConfig, host: bool) -> ModuleOptimizer {
    let l2 = (train.weight_decay > 0.0).then(|| WeightDecayConfig::new(train.weight_decay as f32));
    match train.optimizer {
        OptimizerName::Sgd => {
            let s = train.sgd.clone().unwrap_or_default();
            let momentum = (s.momentum > 0.0).then(|| {
                // Keras' and PyTorch's heavy-ball momentum: no dampening (burn's default is 0.1).
                MomentumConfig::new()
                    .with_momentum(s.momentum)
                    .with_dampening(0.0)
                    .with_nesterov(s.nesterov)
            });
            SgdConfig::new()
                .with_momentum(momentum)
                .with_weight_decay(l2)
                .init()
        }
        // Set every field: burn's defaults (alpha 0.99, momentum 0.9) are not Keras'.
        OptimizerName::Rmsprop => {
            let r = train.rmsprop.clone().unwrap_or_default();
            RmsPropConfig::new()
                .with_alpha(r.rho as f32)
                .with_momentum(r.momentum as f32)
                .with_epsilon(r.epsilon as f32)
                .with_weight_decay(l2)
                .init()
        }
        OptimizerName::Adagrad => {
            let a = train.adagrad.clone().unwrap_or_default();
            AdaGradConfig::new()
                .with_epsilon(a.epsilon as f32)
                .with_weight_decay(l2)
                .init()
        }
        OptimizerName::Adam | OptimizerName::Adamw => {
            let a = train.adam_settings().cloned().unwrap_or_default();
            adam::Adam {
                beta1: a.beta1 as f32,
                beta2: a.beta2 as f32,
                epsilon: a.epsilon as f32,
                placement: a.epsilon_placement,
                l2: train.weight_decay as f32,
                decoupled: a.decoupled_decay() as f32,
                host,
            }
            .into()
        }
    }
}
