//! `[model]`: which model family, chosen by `kind`, and its settings.
//!
//! ```toml
//! [model]
//! kind = "mlp"          # the default when `kind` is left out (configs written before kinds)
//! hidden = [32]
//! activation = "relu"
//! ```

use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::init::WeightInit;

/// The model of a run, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    /// A multilayer perceptron classifier (the article's model).
    Mlp(MlpSpec),
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::Mlp(MlpSpec::default())
    }
}

impl ModelConfig {
    /// The kinds accepted in `model.kind`.
    pub const KINDS: [&'static str; 1] = ["mlp"];

    /// The value of `model.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Mlp(_) => "mlp",
        }
    }

    /// Deserializes the `[model]` table of `kind` (the `kind` key already taken out); errors
    /// carry the path inside the table.
    pub(crate) fn from_table(
        kind: &str,
        table: toml::Table,
    ) -> Result<Self, serde_path_to_error::Error<toml::de::Error>> {
        let value = toml::Value::Table(table);
        match kind {
            "mlp" => serde_path_to_error::deserialize(value).map(Self::Mlp),
            _ => unreachable!("kinds are checked before"),
        }
    }
}

/// `kind = "mlp"`: dense layers with a nonlinearity between them, logits out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpSpec {
    /// Hidden layer widths; `[]` is multinomial logistic regression.
    pub hidden: Vec<usize>,
    /// Nonlinearity of the hidden layers.
    pub activation: Activation,
    /// Weight initialisation.
    pub init: WeightInit,
    /// Dropout rate after each hidden layer (Srivastava et al., 2014): one rate per hidden layer,
    /// or `[]` for none.
    pub dropout: Vec<f64>,
    /// Dropout rate on the input pixels.
    pub input_dropout: f64,
}

impl Default for MlpSpec {
    fn default() -> Self {
        Self {
            hidden: vec![32],
            activation: Activation::Relu,
            init: WeightInit::GlorotUniform,
            dropout: Vec::new(),
            input_dropout: 0.0,
        }
    }
}

impl MlpSpec {
    /// The dropout rate after hidden layer `i` (0 when none is set).
    pub fn dropout_after(&self, i: usize) -> f64 {
        self.dropout.get(i).copied().unwrap_or(0.0)
    }

    /// Whether any dropout is on.
    pub fn has_dropout(&self) -> bool {
        self.input_dropout > 0.0 || self.dropout.iter().any(|&p| p > 0.0)
    }
}
