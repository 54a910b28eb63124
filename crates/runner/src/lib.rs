//! The nnlab training runner: the engine (one training loop for every model family), the tasks
//! (model families), optimizers, run folders, studies and charts. The `nnlab` binary is a thin
//! clap front end over this library.
//!
//! This is the only crate of the workspace that enables burn backends (cargo features
//! `flex`, `ndarray`, `wgpu`, `cuda`; see [`backend`]).
//!
//! Where to look: the loop is [`engine::fit`]; what a model family provides is the
//! [`engine::Task`] trait; the families are in [`tasks`]; checkpoints in
//! [`engine::checkpoint`]; studies (grids of runs and their reports) in [`study`].

pub mod aesthetics;
pub mod art;
pub mod backend;
pub mod console;
pub mod engine;
pub mod error;
pub mod markdown;
pub mod optim;
pub mod pictures;
pub mod plot;
pub mod principles;
pub mod run_dir;
pub mod study;
pub mod tasks;

pub use engine::Outcome;
pub use error::{Error, Result};
pub use nnlab_config::{self as config, RunConfig};
pub use tasks::TrainOptions;
