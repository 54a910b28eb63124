//! nnlab run configuration: a TOML file, unknown keys rejected, `--set key=value` overrides parsed with
//! the same types, and every value checked against its rule before any work starts.
//!
//! ```toml
//! name = "article_mlp"
//! seed = 1
//! [data]
//! dataset = "mnist"
//! [model]
//! hidden = [32]
//! activation = "relu"
//! [train]
//! epochs = 10
//! batch_size = 32
//! optimizer = "adam"
//! lr = 0.001
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A config that cannot be used: the message names the file, the key, the value and the rule,
/// on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ConfigError>;

/// A whole run: what to train, on what, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Name of the job; runs go to `runs/<name>/<timestamp>/` by default.
    pub name: String,
    /// Seed of parameter initialisation and data order.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The dataset.
    #[serde(default)]
    pub data: DataConfig,
    /// The model.
    #[serde(default)]
    pub model: ModelConfig,
    /// The optimisation.
    #[serde(default)]
    pub train: TrainConfig,
}

fn default_seed() -> u64 {
    1
}

/// `[data]`: which dataset and which part of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// A known dataset (`mnist`, `fashion-mnist`) or any folder name under the data root that
    /// holds the four standard IDX files.
    pub dataset: String,
    /// Fraction of the training set held out for validation (its tail, as Keras does).
    pub validation: f64,
    /// Train on the first `n` training examples only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_train: Option<usize>,
    /// Test on the first `n` test examples only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_test: Option<usize>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: "mnist".into(),
            validation: 0.0,
            limit_train: None,
            limit_test: None,
        }
    }
}

/// `[model]`: a multilayer perceptron.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Hidden layer widths; `[]` is multinomial logistic regression.
    pub hidden: Vec<usize>,
    /// Nonlinearity of the hidden layers.
    pub activation: ActivationName,
    /// Weight initialisation.
    pub init: InitName,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            hidden: vec![32],
            activation: ActivationName::Relu,
            init: InitName::GlorotUniform,
        }
    }
}

/// Activation names accepted in configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationName {
    /// ReLU.
    Relu,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Leaky ReLU, slope 0.01.
    LeakyRelu,
    /// GELU.
    Gelu,
}

/// Initialisation names accepted in configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitName {
    /// Glorot-uniform weights, zero biases (Keras).
    GlorotUniform,
    /// He-uniform weights, zero biases.
    HeUniform,
    /// burn's `Linear` default.
    BurnDefault,
}

/// `[train]`: loss, optimiser and schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per gradient step.
    pub batch_size: usize,
    /// Loss function.
    pub loss: LossName,
    /// Optimiser.
    pub optimizer: OptimizerName,
    /// Learning rate `alpha` in `w <- w - alpha * grad`.
    pub lr: f64,
    /// Adam's first-moment decay.
    pub beta1: f64,
    /// Adam's second-moment decay.
    pub beta2: f64,
    /// `epsilon` of Adam, RMSProp and AdaGrad (Keras: 1e-7; burn's default is 1e-5).
    pub epsilon: f64,
    /// Momentum of `sgd` (default 0), `momentum` (default 0.9) and `rmsprop` (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// Nesterov momentum for `sgd` / `momentum`.
    pub nesterov: bool,
    /// RMSProp's decay of the squared-gradient average (Keras' `rho`, PyTorch's `alpha`).
    pub rho: f64,
    /// Learning-rate schedule.
    pub schedule: ScheduleName,
    /// `step` schedule: multiply the learning rate by `gamma` every `step_epochs` epochs.
    pub step_epochs: usize,
    /// `step` schedule: the factor.
    pub gamma: f64,
    /// `cosine` schedule: the learning rate it decays to at the last step.
    pub lr_min: f64,
    /// Batch size of evaluation passes (no effect on the numbers, only on speed).
    pub eval_batch_size: usize,
    /// Read the running loss back from the device every this many steps (progress and NaN check).
    pub log_every: usize,
    /// `autodiff`: burn computes the gradients and burn's optimizers update the weights.
    /// `manual`: nnlab-principles' hand-written backpropagation and update rules do both.
    pub engine: EngineName,
}

/// Who computes gradients and updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineName {
    /// burn's autodiff and optimizers.
    Autodiff,
    /// Our backpropagation and update rules (sgd, momentum, adam).
    Manual,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            loss: LossName::CrossEntropy,
            optimizer: OptimizerName::Adam,
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            momentum: None,
            nesterov: false,
            rho: 0.9,
            schedule: ScheduleName::Constant,
            step_epochs: 1,
            gamma: 0.1,
            lr_min: 0.0,
            eval_batch_size: 1000,
            log_every: 50,
            engine: EngineName::Autodiff,
        }
    }
}

/// Loss names accepted in configs. Both apply to the softmax of the model's logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossName {
    /// Categorical cross-entropy, `-sum_k y_k log softmax(z)_k` (Keras' `categorical_crossentropy`).
    CrossEntropy,
    /// Mean squared error between `softmax(z)` and the one-hot target, averaged over classes and
    /// examples (Keras' `mse` on a softmax output).
    Mse,
}

/// Optimiser names accepted in configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerName {
    /// Kingma & Ba (2014), with `beta1`, `beta2`, `epsilon`.
    Adam,
    /// Stochastic gradient descent `w <- w - lr grad`, optionally with `momentum`.
    Sgd,
    /// SGD with heavy-ball momentum (default 0.9), optionally `nesterov`.
    Momentum,
    /// Tieleman & Hinton (2012), with `rho`, `epsilon`, optional `momentum`.
    Rmsprop,
    /// Duchi, Hazan & Singer (2011), with `epsilon`.
    Adagrad,
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
}

impl TrainConfig {
    /// The effective momentum of the optimizer (0 when it has none).
    pub fn momentum(&self) -> f64 {
        match (self.optimizer, self.momentum) {
            (_, Some(m)) => m,
            (OptimizerName::Momentum, None) => 0.9,
            _ => 0.0,
        }
    }

    /// The learning rate at `step` (0-based) of `steps_per_epoch`, in `epoch` (0-based).
    pub fn lr_at(&self, epoch: usize, step: usize, steps_per_epoch: usize) -> f64 {
        match self.schedule {
            ScheduleName::Constant => self.lr,
            ScheduleName::Step => {
                self.lr * self.gamma.powi((epoch / self.step_epochs.max(1)) as i32)
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

impl RunConfig {
    /// Reads `path`, applies `overrides` (`key=value`, dotted keys), and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("config {}: cannot read: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string(), overrides)
    }

    /// Parses TOML `text` (named `origin` in errors), applies `overrides`, validates.
    pub fn parse(text: &str, origin: &str, overrides: &[String]) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| {
            let msg = e.to_string().replace('\n', " ");
            ConfigError(format!(
                "config {origin}: not valid TOML: {}",
                msg.split_whitespace().collect::<Vec<_>>().join(" ")
            ))
        })?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let config: Self = serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| {
                let path = e.path().to_string();
                // toml appends "in `table`" on further lines; the path above already says it.
                let inner = e.into_inner().to_string();
                let inner = inner.lines().next().unwrap_or_default().to_string();
                let hint = Self::section_hint(&table, &path, &inner)
                    .map_or(String::new(), |k| format!("; did you mean `{k}`?"));
                if path.is_empty() || path == "." {
                    ConfigError(format!("config {origin}: {inner}{hint}"))
                } else {
                    ConfigError(format!("config {origin}: key `{path}`: {inner}{hint}"))
                }
            })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// For an unknown top-level key that is a known key of a section (`engine` for
    /// `train.engine`), that section's key.
    fn section_hint(table: &toml::Table, path: &str, error: &str) -> Option<String> {
        if path.contains('.') || !error.starts_with("unknown field") {
            return None;
        }
        let value = table.get(path)?.clone();
        ["data", "model", "train"].into_iter().find_map(|section| {
            let mut probe = toml::Table::new();
            probe.insert("name".into(), toml::Value::String("probe".into()));
            let mut inner = toml::Table::new();
            inner.insert(path.to_string(), value.clone());
            probe.insert(section.into(), toml::Value::Table(inner));
            let known = match serde_path_to_error::deserialize::<_, Self>(toml::Value::Table(probe))
            {
                Ok(_) => true,
                Err(e) => !e.inner().to_string().starts_with("unknown field"),
            };
            known.then(|| format!("{section}.{path}"))
        })
    }

    /// Checks every value against its rule; the error names the key, the value and the rule.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let fail = |key: &str, value: &dyn std::fmt::Display, rule: &str| {
            Err(ConfigError(format!(
                "config {origin}: key `{key}` = {value}: {rule}"
            )))
        };
        let safe = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !safe(&self.name) {
            return fail(
                "name",
                &format!("{:?}", self.name),
                "must be a non-empty folder name of letters, digits, '_', '-', '.'",
            );
        }
        let d = &self.data;
        if !safe(&d.dataset) {
            return fail(
                "data.dataset",
                &format!("{:?}", d.dataset),
                "must be a dataset folder name (letters, digits, '_', '-', '.')",
            );
        }
        if !(0.0..1.0).contains(&d.validation) {
            return fail("data.validation", &d.validation, "must be in [0, 1)");
        }
        if d.limit_train == Some(0) {
            return fail(
                "data.limit_train",
                &0,
                "must be at least 1 (omit it for all)",
            );
        }
        if d.limit_test == Some(0) {
            return fail(
                "data.limit_test",
                &0,
                "must be at least 1 (omit it for all)",
            );
        }
        if let Some(i) = self.model.hidden.iter().position(|&w| w == 0) {
            return fail(
                &format!("model.hidden[{i}]"),
                &0,
                "layer widths must be at least 1",
            );
        }
        let t = &self.train;
        if t.epochs == 0 {
            return fail("train.epochs", &0, "must be at least 1");
        }
        if t.batch_size == 0 {
            return fail("train.batch_size", &0, "must be at least 1");
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return fail("train.lr", &t.lr, "must be a finite number > 0");
        }
        for (key, v) in [("train.beta1", t.beta1), ("train.beta2", t.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return fail(key, &v, "must be in [0, 1)");
            }
        }
        if !(t.epsilon.is_finite() && t.epsilon > 0.0) {
            return fail("train.epsilon", &t.epsilon, "must be a finite number > 0");
        }
        if let Some(m) = t.momentum {
            if !(0.0..1.0).contains(&m) {
                return fail("train.momentum", &m, "must be in [0, 1)");
            }
            if m > 0.0 && matches!(t.optimizer, OptimizerName::Adam | OptimizerName::Adagrad) {
                return fail(
                    "train.momentum",
                    &m,
                    "only applies to optimizer = \"sgd\", \"momentum\" or \"rmsprop\" (Adam uses beta1)",
                );
            }
        }
        if t.nesterov && !matches!(t.optimizer, OptimizerName::Sgd | OptimizerName::Momentum) {
            return fail("train.nesterov", &true, "only applies to sgd and momentum");
        }
        if t.nesterov && t.momentum() == 0.0 {
            return fail("train.nesterov", &true, "needs train.momentum > 0");
        }
        if !(0.0..1.0).contains(&t.rho) {
            return fail("train.rho", &t.rho, "must be in [0, 1)");
        }
        if t.step_epochs == 0 {
            return fail("train.step_epochs", &0, "must be at least 1");
        }
        if !(t.gamma > 0.0 && t.gamma <= 1.0) {
            return fail("train.gamma", &t.gamma, "must be in (0, 1]");
        }
        if !(t.lr_min >= 0.0 && t.lr_min < t.lr) {
            return fail("train.lr_min", &t.lr_min, "must be in [0, train.lr)");
        }
        if t.engine == EngineName::Manual {
            if matches!(t.optimizer, OptimizerName::Rmsprop | OptimizerName::Adagrad) {
                return fail(
                    "train.optimizer",
                    &format!("{:?}", t.optimizer).to_lowercase(),
                    "engine = \"manual\" implements sgd, momentum and adam",
                );
            }
            if t.nesterov {
                return fail(
                    "train.nesterov",
                    &true,
                    "engine = \"manual\" has no Nesterov momentum",
                );
            }
        }
        if t.eval_batch_size == 0 {
            return fail("train.eval_batch_size", &0, "must be at least 1");
        }
        if t.log_every == 0 {
            return fail("train.log_every", &0, "must be at least 1");
        }
        Ok(())
    }

    /// The resolved config as TOML, as written to a run folder.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a RunConfig always serialises to TOML")
    }
}

/// Applies one `key=value` override to the raw table. The value is read as a TOML value
/// (`0.01`, `true`, `[64, 32]`, `"relu"`); anything that is not TOML is taken as a string.
pub fn apply_override(table: &mut toml::Table, spec: &str) -> Result<()> {
    let bad = |why: &str| ConfigError(format!("--set {spec}: {why}"));
    let (key, raw) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected key=value, e.g. train.lr=0.01"))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad("the key is empty or has an empty part"));
    }
    let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").expect("the key v was just parsed"),
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let (last, parents) = parts.split_last().expect("the key has at least one part");
    let mut cur = table;
    for p in parents {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(bad(&format!("`{p}` is a value, not a table"))),
        };
    }
    cur.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "name = \"t\"\n[train]\nepochs = 2\n";

    fn err(text: &str, overrides: &[&str]) -> String {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        RunConfig::parse(text, "t.toml", &o)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_are_the_article_job() {
        let c = RunConfig::parse("name = \"a\"", "a", &[]).unwrap();
        assert_eq!(c.model.hidden, vec![32]);
        assert_eq!((c.train.epochs, c.train.batch_size), (10, 32));
        assert_eq!(c.train.epsilon, 1e-7);
        assert_eq!(c.data.dataset, "mnist");
    }

    #[test]
    fn overrides_use_the_config_types() {
        let o = [
            "train.lr=0.01".to_string(),
            "model.hidden=[64, 32]".to_string(),
            "model.activation=tanh".to_string(),
            "seed=7".to_string(),
        ];
        let c = RunConfig::parse(BASE, "t", &o).unwrap();
        assert_eq!(c.train.lr, 0.01);
        assert_eq!(c.model.hidden, vec![64, 32]);
        assert_eq!(c.model.activation, ActivationName::Tanh);
        assert_eq!(c.seed, 7);
        assert_eq!(c.train.epochs, 2);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = err(BASE, &["train.lrr=0.1"]);
        assert!(
            e.contains("train.lrr") && e.contains("unknown field"),
            "{e}"
        );
        let e = err("name = \"t\"\nepoch = 3\n", &[]);
        assert!(e.contains("epoch") && e.contains("unknown field"), "{e}");
    }

    #[test]
    fn a_section_key_given_at_the_top_is_pointed_to_its_section() {
        let e = err(BASE, &["engine=manual"]);
        assert!(
            e.contains("unknown field `engine`") && e.contains("did you mean `train.engine`?"),
            "{e}"
        );
        let e = err(BASE, &["hidden=[64]"]);
        assert!(e.contains("did you mean `model.hidden`?"), "{e}");
        let e = err(BASE, &["nonsense=1"]);
        assert!(!e.contains("did you mean"), "{e}");
    }

    #[test]
    fn wrong_types_and_values_are_named_with_the_rule() {
        let e = err(BASE, &["train.lr=fast"]);
        assert!(
            e.contains("`train.lr`") && e.contains("invalid type"),
            "{e}"
        );
        let e = err(BASE, &["train.lr=0"]);
        assert!(
            e.contains("`train.lr` = 0: must be a finite number > 0"),
            "{e}"
        );
        let e = err(BASE, &["train.batch_size=0"]);
        assert!(e.contains("`train.batch_size` = 0"), "{e}");
        let e = err(BASE, &["train.epochs=0"]);
        assert!(e.contains("`train.epochs` = 0"), "{e}");
        let e = err(BASE, &["model.activation=swish"]);
        assert!(e.contains("unknown variant `swish`"), "{e}");
        let e = err(BASE, &["train.batch_size=-3"]);
        assert!(e.contains("`train.batch_size`"), "{e}");
        let e = err(BASE, &["data.validation=1.5"]);
        assert!(e.contains("must be in [0, 1)"), "{e}");
        let e = err(BASE, &["name=../x"]);
        assert!(e.contains("`name`"), "{e}");
    }

    #[test]
    fn malformed_input_is_one_line() {
        let e = err("name = \n[train", &[]);
        assert!(e.starts_with("config t.toml: not valid TOML"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = err(BASE, &["noequals"]);
        assert!(e.contains("expected key=value"), "{e}");
        let e = err(BASE, &["name.x=1"]);
        assert!(e.contains("`name` is a value"), "{e}");
    }

    #[test]
    fn schedules_by_hand() {
        let mut t = TrainConfig {
            lr: 0.1,
            epochs: 4,
            ..TrainConfig::default()
        };
        assert_eq!(t.lr_at(3, 5, 10), 0.1);
        t.schedule = ScheduleName::Step;
        t.step_epochs = 2;
        t.gamma = 0.5;
        assert_eq!(t.lr_at(0, 0, 10), 0.1);
        assert_eq!(t.lr_at(1, 9, 10), 0.1);
        assert_eq!(t.lr_at(2, 0, 10), 0.05);
        t.schedule = ScheduleName::Cosine;
        t.lr_min = 0.0;
        assert_eq!(t.lr_at(0, 0, 10), 0.1);
        assert!(
            (t.lr_at(2, 0, 10) - 0.05).abs() < 1e-15,
            "half way: cos(pi/2) = 0"
        );
        assert!(t.lr_at(3, 9, 10) < 0.001);
    }

    #[test]
    fn optimizer_combinations() {
        let e = err(BASE, &["train.momentum=0.9"]);
        assert!(e.contains("only applies to optimizer"), "{e}");
        let c = RunConfig::parse(BASE, "t", &["train.optimizer=momentum".into()]).unwrap();
        assert_eq!(c.train.momentum(), 0.9);
        let e = err(BASE, &["train.optimizer=sgd", "train.nesterov=true"]);
        assert!(e.contains("needs train.momentum > 0"), "{e}");
        let e = err(BASE, &["train.lr_min=0.1", "train.lr=0.01"]);
        assert!(e.contains("`train.lr_min`"), "{e}");
    }

    #[test]
    fn resolved_config_round_trips() {
        let c = RunConfig::parse(BASE, "t", &["data.limit_train=100".into()]).unwrap();
        let again = RunConfig::parse(&c.to_toml(), "again", &[]).unwrap();
        assert_eq!(c, again);
    }
}
