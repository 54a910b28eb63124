//! nnlab run configuration: a TOML file, unknown keys rejected, `--set key=value` overrides parsed
//! with the same types, and every value checked against its rule before any work starts.
//!
//! ```toml
//! name = "article_mlp"
//! seed = 1
//! [data]
//! dataset = "mnist"
//! [model]
//! kind = "mlp"
//! hidden = [32]
//! activation = "relu"
//! [train]
//! epochs = 10
//! batch_size = 32
//! optimizer = "adam"
//! lr = 0.001
//! [train.adam]
//! epsilon = 1e-7
//! epsilon_placement = "keras"
//! ```
//!
//! This crate is also the one place where the names of activations, losses, initialisations and
//! optimizers are defined; the models and the runner use these enums directly.

pub mod activation;
pub mod data;
pub mod hint;
pub mod init;
pub mod loss;
pub mod memory;
pub mod model;
pub mod optimizer;
pub mod train;
mod validate;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use activation::Activation;
pub use data::DataConfig;
pub use init::{Lenet5Init, WeightInit};
pub use loss::LossKind;
pub use model::{
    AutoencoderSpec, CnnSpec, DcganSpec, GanOutput, GanSpec, Lenet5Spec, MlpSpec, ModelConfig,
    Noise, PcaSpec, Pooling, RbmSpec, Reconstruction, Units, VaeSpec,
};
pub use optimizer::{
    AdaGradSettings, AdamSettings, CgSettings, EpsilonPlacement, OptimizerName, RmsPropSettings,
    SgdSettings,
};
pub use train::{EarlyStopping, EngineName, FloatDtype, ScheduleName, TrainConfig};

/// A config that cannot be used: the message names the source (the file or the `--set`), the
/// key, the value and the rule, on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ConfigError>;

/// A whole run: what to train, on what, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunConfig {
    /// Name of the job; runs go to `runs/<name>/<timestamp>/` by default.
    pub name: String,
    /// Seed of parameter initialisation, data order and any noise drawn during training.
    pub seed: u64,
    /// The dataset.
    pub data: DataConfig,
    /// The model.
    pub model: ModelConfig,
    /// The optimisation.
    pub train: TrainConfig,
}

fn default_seed() -> u64 {
    1
}

/// The file's shape before `[model]` is read by its `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default)]
    data: DataConfig,
    #[serde(default)]
    model: Option<toml::Table>,
    #[serde(default)]
    train: TrainConfig,
}

/// Where each key came from, so that errors blame the right place.
pub(crate) struct Sources<'a> {
    origin: &'a str,
    /// `(dotted key, the whole --set argument)`.
    overrides: Vec<(String, &'a str)>,
}

impl Sources<'_> {
    /// `config <file>` or `--set <spec>` for the key at `path`.
    fn of(&self, path: &str) -> String {
        let hit = self.overrides.iter().rev().find(|(key, _)| {
            key == path
                || path.starts_with(&format!("{key}."))
                || key.starts_with(&format!("{path}."))
        });
        match hit {
            Some((_, spec)) => format!("--set {spec}"),
            None => format!("config {}", self.origin),
        }
    }

    fn fail(&self, key: &str, value: &dyn std::fmt::Display, rule: &str) -> ConfigError {
        ConfigError(format!("{}: key `{key}` = {value}: {rule}", self.of(key)))
    }
}

/// The field names of `T`, read from the error serde gives for an unknown one.
pub(crate) fn fields_of<T: DeserializeOwned>() -> Vec<String> {
    let mut probe = toml::Table::new();
    probe.insert("\u{1}".into(), toml::Value::Integer(0));
    match toml::Value::Table(probe).try_into::<T>() {
        Ok(_) => Vec::new(),
        Err(e) => hint::expected_fields(&e.to_string())
            .into_iter()
            .map(str::to_string)
            .collect(),
    }
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty() || path == ".") {
        (_, true) => prefix.to_string(),
        (true, false) => path.to_string(),
        (false, false) => format!("{prefix}.{path}"),
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
        let mut sources = Sources {
            origin,
            overrides: Vec::new(),
        };
        for o in overrides {
            let key = apply_override(&mut table, o)?;
            sources.overrides.push((key, o.as_str()));
        }
        drop_stale_sections(&mut table, &sources);
        let raw: Raw = serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| Self::serde_error(&sources, &table, "", e))?;
        let model = match raw.model {
            None => ModelConfig::default(),
            Some(mut t) => {
                let kind = match t.remove("kind") {
                    None => "mlp".to_string(),
                    Some(toml::Value::String(s)) => s,
                    Some(other) => {
                        return Err(sources.fail(
                            "model.kind",
                            &other,
                            "must be a string naming the model family",
                        ));
                    }
                };
                if !ModelConfig::KINDS.contains(&kind.as_str()) {
                    let hint = hint::closest(&kind, ModelConfig::KINDS.iter().copied())
                        .map_or(String::new(), |k| format!("; did you mean `{k}`?"));
                    return Err(sources.fail(
                        "model.kind",
                        &format!("{kind:?}"),
                        &format!(
                            "unknown model kind, expected one of {}{hint}",
                            ModelConfig::KINDS.join(", ")
                        ),
                    ));
                }
                ModelConfig::from_table(&kind, t)
                    .map_err(|e| Self::serde_error(&sources, &table, "model", e))?
            }
        };
        let mut config = Self {
            name: raw.name,
            seed: raw.seed,
            data: raw.data,
            model,
            train: raw.train,
        };
        config.validate_sources(&sources)?;
        config.train.resolve();
        Ok(config)
    }

    /// One line for a serde error at `prefix` + its path, with a hint where one helps.
    fn serde_error(
        sources: &Sources,
        table: &toml::Table,
        prefix: &str,
        e: serde_path_to_error::Error<toml::de::Error>,
    ) -> ConfigError {
        let path = join(prefix, &e.path().to_string());
        // toml appends "in `table`" on further lines; the path already says it.
        let inner = e.into_inner().to_string();
        let inner = inner.lines().next().unwrap_or_default().to_string();
        let (parent, key) = path.rsplit_once('.').unwrap_or(("", path.as_str()));
        let optimizer = table
            .get("train")
            .and_then(|t| t.get("optimizer"))
            .and_then(|o| o.as_str())
            .unwrap_or("adam");
        let hint = if inner.starts_with("unknown field") {
            if parent == "train"
                && let Some(new) = hint::moved_train_key(key, optimizer)
            {
                format!("; this setting moved to `{new}` (each optimizer has its own section)")
            } else if let Some(k) = hint::closest(key, hint::expected_fields(&inner)) {
                format!("; did you mean `{}`?", join(parent, k))
            } else if let Some(k) = Self::section_hint(table, &path) {
                format!("; did you mean `{k}`?")
            } else {
                String::new()
            }
        } else if path == "train.optimizer" && inner.contains("unknown variant `momentum`") {
            "; momentum is now a setting of sgd: optimizer = \"sgd\" with `train.sgd.momentum = 0.9`"
                .to_string()
        } else {
            String::new()
        };
        // With a hint, serde's list of every expected field is noise.
        let inner = match inner.split_once(", expected") {
            Some((head, _)) if !hint.is_empty() => head.to_string(),
            _ => inner,
        };
        let source = sources.of(&path);
        if path.is_empty() {
            ConfigError(format!("{source}: {inner}{hint}"))
        } else {
            ConfigError(format!("{source}: key `{path}`: {inner}{hint}"))
        }
    }

    /// For an unknown top-level key that is a key of a section (`engine` for `train.engine`),
    /// that section's key.
    fn section_hint(table: &toml::Table, path: &str) -> Option<String> {
        if path.contains('.') {
            return None;
        }
        let kind = table
            .get("model")
            .and_then(|m| m.get("kind"))
            .and_then(|k| k.as_str())
            .unwrap_or("mlp");
        let model_fields = ModelConfig::fields_of_kind(kind);
        [
            ("data", fields_of::<DataConfig>()),
            ("model", model_fields),
            ("train", fields_of::<TrainConfig>()),
        ]
        .into_iter()
        .find(|(_, fields)| fields.iter().any(|f| f == path))
        .map(|(section, _)| format!("{section}.{path}"))
    }

    /// Checks every value against its rule; the error names the key, the value and the rule.
    pub fn validate(&self, origin: &str) -> Result<()> {
        self.validate_sources(&Sources {
            origin,
            overrides: Vec::new(),
        })
    }

    fn validate_sources(&self, src: &Sources) -> Result<()> {
        self.validate_with(&validate::Rules::new(src))
    }

    /// The resolved config as TOML, as written to a run folder.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a RunConfig always serialises to TOML")
    }

    /// The MLP settings, when the model is an MLP.
    pub fn mlp(&self) -> Option<&MlpSpec> {
        match &self.model {
            ModelConfig::Mlp(m) => Some(m),
            _ => None,
        }
    }
}

/// When `--set train.optimizer=...` chooses another optimizer than the file, the file's
/// sections of other optimizers (e.g. its `[train.adam]`) described the file's choice and are
/// dropped; a section given with `--set` itself is kept (and then refused if it does not apply).
fn drop_stale_sections(table: &mut toml::Table, sources: &Sources) {
    if !sources.of("train.optimizer").starts_with("--set") {
        return;
    }
    let Some(toml::Value::Table(train)) = table.get_mut("train") else {
        return;
    };
    let chosen = train
        .get("optimizer")
        .and_then(|v| v.as_str())
        .unwrap_or("adam")
        .to_string();
    for o in OptimizerName::ALL {
        let key = format!("train.{}", o.name());
        if o.name() != chosen && !sources.of(&key).starts_with("--set") {
            train.remove(o.name());
        }
    }
}

/// Applies one `key=value` override to the raw table and returns the dotted key. The value is
/// read as a TOML value (`0.01`, `true`, `[64, 32]`, `"relu"`); anything that is not TOML is
/// taken as a string.
pub fn apply_override(table: &mut toml::Table, spec: &str) -> Result<String> {
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
    Ok(key.to_string())
}

#[cfg(test)]
mod tests;
