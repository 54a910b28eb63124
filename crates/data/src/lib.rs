//! Dataset loaders for nnlab.
//!
//! * [`idx`]: the IDX format of MNIST-style datasets (gzip or raw), validated field by field.
//! * [`catalog`]: datasets known by name (`mnist`, `fashion-mnist`) with mirrors and checksums.
//! * [`ImageDataset`]: train and test images in one contiguous buffer, located under a data root
//!   (`--data-dir`, `$NNLAB_DATA`, or `data/`), downloaded and verified when missing.
//! * [`Split`], [`shuffled`] and [`ImageDataset::batch`]: splits, seeded order, batches.

pub mod catalog;
pub mod checksum;
pub mod dataset;
pub mod download;
pub mod error;
mod huge_pages;
pub mod idx;
pub mod split;

pub use dataset::{DATA_ENV, ImageDataset, LoadOptions, resolve_root};
pub use error::{DataError, Result};
pub use split::{Batch, Split, SplitOptions, shuffled};
