//! `[data]`: which dataset and which part of it.

use serde::{Deserialize, Serialize};

/// `[data]`.
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
