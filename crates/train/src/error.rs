//! Errors of training and of the commands built on it. Each one renders as a single line that names the file, key or value
//! at fault; `main` prints it and exits non-zero.

use std::path::PathBuf;

/// Result alias of nnlab's libraries.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong in a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file does not parse or a value breaks a rule.
    #[error("{0}")]
    Config(String),
    /// A dataset problem (missing, corrupt, inconsistent files).
    #[error(transparent)]
    Data(#[from] nnlab_data::DataError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A run folder cannot be used as asked.
    #[error("{0}")]
    RunDir(String),
    /// A checkpoint could not be written or read back.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The loss became NaN or infinite.
    #[error(
        "training diverged: the {metric} became {value} at epoch {epoch}, {steps}; the learning rate ({lr:e}) is likely too high. {kept}"
    )]
    Diverged {
        /// The training metric that stopped being finite (e.g. `loss`).
        metric: String,
        /// Non-finite loss value as text ("NaN", "inf").
        value: String,
        /// Epoch (1-based).
        epoch: usize,
        /// Which steps, as text ("step 12" or "between steps 1 and 50").
        steps: String,
        /// The learning rate in use.
        lr: f64,
        /// What is kept: the last good checkpoint, or that there is none.
        kept: String,
    },
    /// The run was stopped by Ctrl-C after saving.
    #[error(
        "interrupted in epoch {epoch} after step {step}; the run is saved as checkpoint/{checkpoint}. {hint}"
    )]
    Interrupted {
        /// Epoch (1-based).
        epoch: usize,
        /// Steps of it done.
        step: usize,
        /// The checkpoint folder's name, `epoch-<epoch>-step-<step>`.
        checkpoint: String,
        /// How to continue: resume the run, or rerun the study it belongs to.
        hint: String,
    },
    /// A study file is wrong.
    #[error("{0}")]
    Study(String),
}

impl Error {
    /// An I/O failure on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<nnlab_config::ConfigError> for Error {
    fn from(e: nnlab_config::ConfigError) -> Self {
        Self::Config(e.0)
    }
}
