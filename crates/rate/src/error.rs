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
    /// Anything else, in words: a refused token file, a locked study, a bad ratings line.
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
