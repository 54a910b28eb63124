//! The nnlab training runner: configs, run folders, training loops, evaluation and studies.
//! The `nnlab` binary is a thin clap front end over this library.
//!
//! This is the only crate of the workspace that enables burn backends (cargo features
//! `flex`, `ndarray`, `wgpu`, `cuda`; see [`backend`]).

pub mod backend;
pub mod checkpoint;
pub mod classifier;
pub mod error;
pub mod metrics;
pub mod progress;
pub mod run_dir;
pub mod study;

pub use classifier::{Outcome, Recipe, TrainOptions};
pub use error::{Error, Result};
pub use nnlab_config::{self as config, RunConfig};
pub mod fused_adam;
pub mod loss;
pub mod plot;
