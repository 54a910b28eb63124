//! Typed errors of the dataset loaders. Every variant names the file it is about.

use std::path::PathBuf;

/// Errors raised while locating, downloading, reading or validating a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file starts like gzip but does not decompress.
    #[error("{path}: corrupt gzip data: {source}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The IDX header is not the one expected.
    #[error("{path}: not an IDX {expected} file: {reason}")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What was expected, e.g. "unsigned-byte images [n, rows, cols]".
        expected: &'static str,
        /// What is wrong with the header.
        reason: String,
    },
    /// The file is shorter or longer than its header says.
    #[error(
        "{path}: header says {expected} bytes of data but the file holds {actual} (truncated or corrupt)"
    )]
    Length {
        /// The (decompressed) file.
        path: PathBuf,
        /// Bytes the header announces after the header.
        expected: u64,
        /// Bytes present after the header.
        actual: u64,
    },
    /// A compressed file inflates to more than its IDX header announces.
    #[error(
        "{path}: holds more data than the {expected} bytes its header announces (corrupt, or not an IDX file); decompression stopped there"
    )]
    LongerThanHeader {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces after the header.
        expected: u64,
    },
    /// An IDX header announces more data than nnlab reads.
    #[error(
        "{path}: its IDX header announces more than the {limit} bytes nnlab reads from one file"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, [`crate::idx::MAX_IDX_BYTES`].
        limit: u64,
    },
    /// A download's body is not a gzip file.
    #[error(
        "{url}: the server answered with something that is not gzip data (it starts {start:?})"
    )]
    NotGzip {
        /// Where it came from.
        url: String,
        /// Its first bytes, as text.
        start: String,
    },
    /// Images and labels of one split disagree in count.
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// Number of images.
        n_images: usize,
        /// The labels file.
        labels: PathBuf,
        /// Number of labels.
        n_labels: usize,
    },
    /// A label is not below the number of classes of the dataset.
    #[error("{path}: label {label} at index {index} is out of range (this dataset has {classes} classes, 0..={max})", max = classes - 1)]
    LabelOutOfRange {
        /// The labels file.
        path: PathBuf,
        /// Position of the label.
        index: usize,
        /// The label found.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// Train and test images differ in size.
    #[error(
        "{train} holds {train_rows}x{train_cols} images but {test} holds {test_rows}x{test_cols}"
    )]
    ShapeMismatch {
        /// The training images file.
        train: PathBuf,
        /// Rows of a training image.
        train_rows: usize,
        /// Columns of a training image.
        train_cols: usize,
        /// The test images file.
        test: PathBuf,
        /// Rows of a test image.
        test_rows: usize,
        /// Columns of a test image.
        test_cols: usize,
    },
    /// The dataset's folder lacks files and they cannot be downloaded.
    #[error("dataset `{dataset}`: missing {} in {dir}; {hint}", .files.join(", "))]
    Missing {
        /// Dataset name.
        dataset: String,
        /// The folder searched.
        dir: PathBuf,
        /// Missing file names.
        files: Vec<String>,
        /// What the user can do.
        hint: String,
    },
    /// A file's checksum is not the published one.
    #[error(
        "{path}: MD5 {actual} does not match the published {expected} (corrupt or a different file)"
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Published MD5 (hex).
        expected: String,
        /// MD5 of the file (hex).
        actual: String,
    },
    /// Every mirror failed.
    #[error("could not download {file}: {reason}")]
    Download {
        /// File name.
        file: String,
        /// Why the last attempt failed, and which mirrors were tried.
        reason: String,
    },
    /// The caller asked for something impossible (e.g. a validation fraction of 1.5).
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
