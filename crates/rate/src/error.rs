//! What can go wrong when serving the rating page or reading its file.

use std::path::PathBuf;

/// An error of the rating server or the ratings file; the message names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum RateError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Another server holds the study's lock.
    #[error("{dir}: another `nnlab rate` is serving this study (it holds {lock}); stop it first")]
    Locked {
        /// The study folder.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The token file cannot be used.
    #[error("{path}: {why}")]
    TokenFile {
        /// The token file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A line of the ratings file is not a rating (line 0: the file as a whole).
    #[error("{path}: line {line}: {why}")]
    BadRow {
        /// The ratings file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// Anything else, in words: the pool is missing, the port is taken.
    #[error("{0}")]
    Refused(String),
}

impl RateError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, RateError>;
