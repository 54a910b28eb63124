//! Optimizers built from the config's `[train]` section: burn's SGD, RMSProp and AdaGrad, and
//! our [`adam::Adam`] for Adam and AdamW (both epsilon placements), which CPU backends run
//! over the whole module in host memory ([`host_adam::HostAdam`]); conjugate gradients
//! ([`conjugate_gradient`]), which search along a line and so step inside the task.

pub mod adam;
pub mod conjugate_gradient;
pub mod host_adam;
pub mod sdlm;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdaGradConfig, GradientsParams, ModuleOptimizer, OptimizerRecord, RmsPropConfig, SgdConfig,
};
use burn::tensor::{Bytes, Gradients, Tensor};
use nnlab_config::{OptimizerName, TrainConfig};

use host_adam::HostAdam;

/// Every float parameter of a module, flattened, in the module's visiting order.
struct Flatten(Vec<Tensor<1>>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().flatten(0, D - 1));
    }
}

/// The flattened float parameters of `module`, in visiting order: what SDLM's curvature and
/// conjugate gradients' flat vector are laid out by.
pub fn flat_parameters<M: Module>(module: &M) -> Vec<Tensor<1>> {
    let mut v = Flatten(Vec::new());
    module.visit(&mut v);
    v.0
}

/// A training run's optimizer.
#[derive(Clone)]
pub enum Optim {
    /// burn's module optimizer around a per-tensor rule (SGD, RMSProp, AdaGrad; Adam as tensor
    /// operations on GPUs).
    Module(ModuleOptimizer),
    /// Adam or AdamW in host memory (CPU backends).
    HostAdam(HostAdam),
}

impl std::fmt::Debug for Optim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Module(_) => f.write_str("Optim::Module"),
            Self::HostAdam(a) => f.debug_tuple("Optim::HostAdam").field(a).finish(),
        }
    }
}

impl Optim {
    /// `module` after one step at learning rate `lr` with the gradients of a backward pass.
    pub fn step_backward<M: Module>(&mut self, lr: f64, module: M, grads: Gradients) -> M {
        match self {
            Self::Module(o) => {
                let grads = GradientsParams::from_grads(grads, &module);
                o.step(lr, module, grads)
            }
            Self::HostAdam(o) => o.step_backward(lr, module, grads),
        }
    }

    /// `module` after one step at learning rate `lr` with gradients gathered per parameter.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        match self {
            Self::Module(o) => o.step(lr, module, grads),
            Self::HostAdam(o) => o.step(lr, module, grads),
        }
    }

    /// The state (moments, step counts) as burnpack bytes, in `ModuleOptimizer`'s layout.
    pub fn to_bytes(&self) -> Result<Bytes, String> {
        match self {
            Self::Module(o) => o.to_record().into_bytes().map_err(|e| e.to_string()),
            Self::HostAdam(o) => o.to_bytes(),
        }
    }

    /// Replaces the state with the one in `bytes` (from [`to_bytes`](Self::to_bytes)); on an
    /// error the state is left as it was. Load the modules it optimizes first: the state is
    /// keyed by their parameter ids.
    pub fn load_bytes(&mut self, bytes: Bytes) -> Result<(), String> {
        match self {
            Self::Module(o) => {
                let record = OptimizerRecord::from_bytes(bytes)
                    .map_err(|e| format!("not a readable optimizer record: {e}"))?;
                // `load_record` takes the optimizer by value; a state-less SGD stands in.
                let old = std::mem::replace(o, SgdConfig::new().init());
                *o = old.load_record(record);
            }
            Self::HostAdam(o) => o.load_bytes(bytes)?,
        }
        Ok(())
    }
}

/// The optimizer `train` describes. `host` (CPU backends) runs Adam and AdamW as
/// [`HostAdam`], in host memory; otherwise every rule runs in burn's `ModuleOptimizer`
/// ([`module_optimizer`]).
pub fn build(train: &TrainConfig, host: bool) -> Optim {
    match (train.optimizer, host) {
        (OptimizerName::Adam | OptimizerName::Adamw, true) => {
            Optim::HostAdam(HostAdam::new(adam_of(train)))
        }
        _ => Optim::Module(module_optimizer(train)),
    }
}

/// The optimizer `train` describes as burn's `ModuleOptimizer`, every rule as tensor
/// operations on the device (what GPUs run, and what burn-train's `Learner` takes).
pub fn module_optimizer(train: &TrainConfig) -> ModuleOptimizer {
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
        OptimizerName::Adam | OptimizerName::Adamw => adam_of(train).into(),
        // Conjugate gradients step inside the task, through `conjugate_gradient::minimize`
        // (the config allows them only for the autoencoder); this state-less SGD is never
        // stepped and keeps the checkpoint's optimizer record in its usual place.
        OptimizerName::Cg => SgdConfig::new().init(),
    }
}

/// Adam's or AdamW's settings in `train`.
fn adam_of(train: &TrainConfig) -> adam::Adam {
    let a = train.adam_settings().cloned().unwrap_or_default();
    adam::Adam {
        beta1: a.beta1,
        beta2: a.beta2,
        epsilon: a.epsilon,
        placement: a.epsilon_placement,
        l2: train.weight_decay,
        decoupled: a.decoupled_decay(),
    }
}
