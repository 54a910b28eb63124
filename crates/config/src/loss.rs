//! Classification losses, by the names configs use.

use serde::{Deserialize, Serialize};

/// A loss on the softmax of a classifier's logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Categorical cross-entropy, `-sum_k y_k log softmax(z)_k` (Keras' `categorical_crossentropy`).
    CrossEntropy,
    /// Mean squared error between `softmax(z)` and the one-hot target, averaged over classes and
    /// examples (Keras' `mse` on a softmax output).
    Mse,
}

impl LossKind {
    /// The name used in config files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CrossEntropy => "cross_entropy",
            Self::Mse => "mse",
        }
    }
}
