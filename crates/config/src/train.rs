//! `[train]`: loss, optimizer, schedule, regularisation, early stopping and the engine.

use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::loss::LossKind;
use crate::optimizer::{
    AdaGradSettings, AdamSettings, CgSettings, OptimizerName, RmsPropSettings, SgdSettings,
};

/// `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per gradient step.
    pub batch_size: usize,
    /// Loss function of classifiers.
    pub loss: LossKind,
    /// Optimizer; its settings are in the section of the same name (`[train.adam]`, ...).
    pub optimizer: OptimizerName,
    /// Learning rate `alpha` in `w <- w - alpha * grad`.
    pub lr: f64,
    /// L2 weight decay, coupled: `lambda w` is added to every weight's gradient, i.e. the
    /// penalty `lambda/2 ||w||^2` (PyTorch's `weight_decay`; Keras' `l2(l)` is `lambda = 2 l`).
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: ScheduleName,
    /// `step` schedule: multiply the learning rate by `gamma` every `step_epochs` epochs.
    pub step_epochs: usize,
    /// `step` schedule: the factor every `step_epochs`; `exponential`: the factor every step.
    pub gamma: f64,
    /// `cosine` schedule: the learning rate it decays to at the last step; `exponential`: the
    /// floor.
    pub lr_min: f64,
    /// `piecewise` schedule: the epochs (counted from 0) at which the learning rate changes,
    /// increasing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lr_boundaries: Vec<usize>,
    /// `piecewise` schedule: from `lr_boundaries[i]` on, the learning rate is
    /// `lr * lr_factors[i]` (one factor per boundary).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lr_factors: Vec<f64>,
    /// Batch size of evaluation passes (no effect on the numbers, only on speed).
    pub eval_batch_size: usize,
    /// Read the running metrics back from the device every this many steps (progress and NaN
    /// check).
    pub log_every: usize,
    /// `autodiff`: burn computes the gradients and the optimizers update the weights.
    /// `manual`: nnlab-principles' hand-written backpropagation and update rules do both.
    pub engine: EngineName,
    /// `[train.sgd]`, when `optimizer = "sgd"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sgd: Option<SgdSettings>,
    /// `[train.rmsprop]`, when `optimizer = "rmsprop"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmsprop: Option<RmsPropSettings>,
    /// `[train.adagrad]`, when `optimizer = "adagrad"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adagrad: Option<AdaGradSettings>,
    /// `[train.adam]`, when `optimizer = "adam"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adam: Option<AdamSettings>,
    /// `[train.adamw]`, when `optimizer = "adamw"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adamw: Option<AdamSettings>,
    /// `[train.cg]`, when `optimizer = "cg"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cg: Option<CgSettings>,
    /// `[train.early_stopping]`: stop when a validation metric stops improving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    /// Data-parallel training on several devices of the chosen backend, by index (GPUs:
    /// `[0, 1, 2, 3]`; the CPU backends have one device, 0, which may be listed more than once
    /// for several workers on it). Each step's batch is split evenly across them, each worker
    /// computes its shard's gradients on its own thread, and their sum (weighted by shard size:
    /// the gradient of the whole batch) updates the model on the first device, as burn-train's
    /// multi-device strategy does with the optimizer on the main device. Empty: the backend's
    /// default device. Classifiers only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<usize>,
    /// Start from the weights of this safetensors file (relative paths from where `nnlab` runs)
    /// instead of a random draw: a file `nnlab export` wrote, or PyTorch's, in PyTorch's layouts
    /// and with nnlab's tensor names (`model.layers.0.weight`). A missing tensor or one of
    /// another shape is refused, naming it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<std::path::PathBuf>,
    /// The precision of the weights, activations and gradients: `f32`, or `f64` to see what
    /// the same steps give with rounding errors about 10^9 times smaller (Keras'
    /// `set_floatx("float64")`, PyTorch's `model.double()`). burn's device setting. In f64 the
    /// random initial weights are other draws than f32's for the same seed (start both from one
    /// file with `init_from` to compare them), and the steps are slower: nnlab's fused f32
    /// kernels and host-memory Adam step aside for burn's own operations.
    #[serde(skip_serializing_if = "FloatDtype::is_f32")]
    pub float_dtype: FloatDtype,
}

/// `train.float_dtype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FloatDtype {
    /// Single precision (24-bit significand), burn's default.
    #[default]
    F32,
    /// Double precision (53-bit significand).
    F64,
}

impl FloatDtype {
    /// Whether this is the default, `f32`.
    pub fn is_f32(&self) -> bool {
        *self == FloatDtype::F32
    }

    /// Its name in configs.
    pub fn name(&self) -> &'static str {
        match self {
            FloatDtype::F32 => "f32",
            FloatDtype::F64 => "f64",
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            loss: LossKind::CrossEntropy,
            optimizer: OptimizerName::Adam,
            lr: 1e-3,
            weight_decay: 0.0,
            schedule: ScheduleName::Constant,
            step_epochs: 1,
            gamma: 0.1,
            lr_min: 0.0,
            lr_boundaries: Vec::new(),
            lr_factors: Vec::new(),
            eval_batch_size: 1000,
            log_every: 50,
            engine: EngineName::Autodiff,
            sgd: None,
            rmsprop: None,
            adagrad: None,
            cg: None,
            adam: None,
            adamw: None,
            early_stopping: None,
            devices: Vec::new(),
            init_from: None,
            float_dtype: FloatDtype::F32,
        }
    }
}

/// Who computes gradients and updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineName {
    /// burn's autodiff and optimizers.
    Autodiff,
    /// Our backpropagation and update rules (sgd with or without momentum, adam).
    Manual,
}

/// Learning-rate schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleName {
    /// `lr` throughout.
    Constant,
    /// `lr * gamma^floor(epoch / step_epochs)` (epochs counted from 0).
    Step,
    /// `lr_min + (lr - lr_min) (1 + cos(pi t / T)) / 2` over the `T` steps of the run.
    Cosine,
    /// `lr` until the first of `lr_boundaries`, then `lr * lr_factors[i]` from boundary `i` on
    /// (Keras' `PiecewiseConstantDecay`, in epochs).
    Piecewise,
    /// `max(lr_min, lr * gamma^t)` after `t` steps (pylearn2's `ExponentialDecay`, whose
    /// `decay_factor` is `1 / gamma`).
    Exponential,
}

/// `[train.early_stopping]` (Keras' `EarlyStopping` callback): after each epoch the monitored
/// validation metric is compared with its best value so far; after `patience` epochs without an
/// improvement of more than `min_delta`, training stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStopping {
    /// A validation column of `metrics.csv`, e.g. `valid_loss` or `valid_accuracy`.
    pub monitor: String,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// The smallest change that counts as an improvement.
    pub min_delta: f64,
    /// At the end, go back to the weights of the best epoch (and report its test figures).
    pub restore_best: bool,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            monitor: "valid_loss".into(),
            patience: 3,
            min_delta: 0.0,
            restore_best: true,
        }
    }
}

impl EarlyStopping {
    /// Whether larger values of the monitored metric are better (accuracies), else smaller
    /// (losses, errors).
    pub fn maximize(&self) -> bool {
        self.monitor.contains("accuracy") || self.monitor.contains("elbo")
    }

    /// Whether `value` improves on `best` by more than `min_delta`.
    pub fn improves(&self, value: f64, best: f64) -> bool {
        if self.maximize() {
            value > best + self.min_delta
        } else {
            value < best - self.min_delta
        }
    }
}

impl TrainConfig {
    /// The rules that need the data or the model, checked once they are known: a batch no
    /// larger than the `examples` training examples of `dataset`.
    pub fn check_batch_size(&self, examples: usize, dataset: &str) -> Result<(), ConfigError> {
        if self.batch_size > examples {
            return Err(ConfigError(format!(
                "config: key `train.batch_size` = {}: larger than the {examples} training examples of `{dataset}`",
                self.batch_size
            )));
        }
        Ok(())
    }

    /// An early-stopping monitor among the run's metrics.csv `columns` (validation columns
    /// are `valid_*`).
    pub fn check_monitor(&self, columns: &[String]) -> Result<(), ConfigError> {
        let Some(es) = &self.early_stopping else {
            return Ok(());
        };
        if columns.contains(&es.monitor) {
            return Ok(());
        }
        let valid: Vec<&str> = columns
            .iter()
            .filter(|c| c.starts_with("valid_"))
            .map(String::as_str)
            .collect();
        Err(ConfigError(format!(
            "config: key `train.early_stopping.monitor` = {:?}: not a column of this run's metrics.csv (validation columns: {})",
            es.monitor,
            valid.join(", ")
        )))
    }

    /// The settings of the chosen Adam variant (`adam` or `adamw`), resolved.
    pub fn adam_settings(&self) -> Option<&AdamSettings> {
        match self.optimizer {
            OptimizerName::Adam => self.adam.as_ref(),
            OptimizerName::Adamw => self.adamw.as_ref(),
            _ => None,
        }
    }

    /// The momentum of the chosen optimizer (0 when it has none).
    pub fn momentum(&self) -> f64 {
        match self.optimizer {
            OptimizerName::Sgd => self.sgd.as_ref().map_or(0.0, |s| s.momentum),
            OptimizerName::Rmsprop => self.rmsprop.as_ref().map_or(0.0, |s| s.momentum),
            _ => 0.0,
        }
    }

    /// Fills in the chosen optimizer's section with its defaults, so the resolved config says
    /// every setting in effect.
    pub(crate) fn resolve(&mut self) {
        match self.optimizer {
            OptimizerName::Sgd => {
                self.sgd.get_or_insert_with(SgdSettings::default);
            }
            OptimizerName::Rmsprop => {
                self.rmsprop.get_or_insert_with(RmsPropSettings::default);
            }
            OptimizerName::Adagrad => {
                self.adagrad.get_or_insert_with(AdaGradSettings::default);
            }
            OptimizerName::Adam => {
                self.adam.get_or_insert_with(AdamSettings::default);
            }
            OptimizerName::Adamw => {
                let s = self.adamw.get_or_insert_with(AdamSettings::default);
                s.weight_decay
                    .get_or_insert(crate::optimizer::ADAMW_DEFAULT_DECAY);
            }
            OptimizerName::Cg => {
                self.cg.get_or_insert_with(CgSettings::default);
            }
        }
    }

    /// The optimizer sections present, by name.
    pub(crate) fn sections(&self) -> [(&'static str, bool); 6] {
        [
            ("sgd", self.sgd.is_some()),
            ("rmsprop", self.rmsprop.is_some()),
            ("adagrad", self.adagrad.is_some()),
            ("adam", self.adam.is_some()),
            ("adamw", self.adamw.is_some()),
            ("cg", self.cg.is_some()),
        ]
    }

    /// The learning rate at `step` (0-based) of `steps_per_epoch`, in `epoch` (0-based).
    pub fn lr_at(&self, epoch: usize, step: usize, steps_per_epoch: usize) -> f64 {
        match self.schedule {
            ScheduleName::Constant => self.lr,
            ScheduleName::Step => {
                self.lr * self.gamma.powi((epoch / self.step_epochs.max(1)) as i32)
            }
            ScheduleName::Piecewise => {
                let passed = self.lr_boundaries.iter().filter(|&&b| b <= epoch).count();
                match passed {
                    0 => self.lr,
                    i => self.lr * self.lr_factors[i - 1],
                }
            }
            ScheduleName::Exponential => {
                let t = (epoch * steps_per_epoch + step) as i32;
                (self.lr * self.gamma.powi(t)).max(self.lr_min)
            }
            ScheduleName::Cosine => {
                let total = (self.epochs * steps_per_epoch).max(1) as f64;
                let t = (epoch * steps_per_epoch + step) as f64;
                self.lr_min
                    + 0.5
                        * (self.lr - self.lr_min)
                        * (1.0 + (std::f64::consts::PI * t / total).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::RunConfig;

    fn config(extra: &str) -> RunConfig {
        RunConfig::parse(
            &format!(
                "name = \"t\"\n[data]\nvalidation = 0.1\n[model]\nkind = \"mlp\"\n[train]\nbatch_size = 64\n{extra}"
            ),
            "test",
            &[],
        )
        .unwrap()
    }

    #[test]
    fn rules_that_need_the_data_or_the_model_name_their_key() {
        let c = config("");
        c.train.check_batch_size(64, "tiny").unwrap();
        let e = c.train.check_batch_size(63, "tiny").unwrap_err();
        assert!(
            e.0.contains("`train.batch_size` = 64")
                && e.0.contains("63 training examples of `tiny`"),
            "{}",
            e.0
        );
        let columns = [
            "train_loss".to_string(),
            "valid_loss".into(),
            "valid_accuracy".into(),
        ];
        c.train.check_monitor(&columns).unwrap();
        let c = config("[train.early_stopping]\nmonitor = \"valid_los\"\n");
        let e = c.train.check_monitor(&columns).unwrap_err();
        assert!(
            e.0.contains("\"valid_los\"")
                && e.0
                    .contains("(validation columns: valid_loss, valid_accuracy)"),
            "{}",
            e.0
        );
        config("[train.early_stopping]\nmonitor = \"valid_loss\"\n")
            .train
            .check_monitor(&columns)
            .unwrap();
    }
}
