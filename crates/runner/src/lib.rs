//! The nnlab runner: the `nnlab` command line over the training library (`nnlab-train`: the
//! engine, the model families, the optimizers, run folders), with what a command adds to it:
//! the backend, studies and their reports and charts, the aesthetics commands. The `nnlab`
//! binary is a thin clap front end over this library.
//!
//! This is the only crate of the workspace that enables burn backends (cargo features
//! `flex`, `ndarray`, `wgpu`, `cuda`; see [`backend`]).
//!
//! Where to look: the loop is [`engine::fit`] and what a model family provides the
//! [`engine::Task`] trait (both in `nnlab-train`, re-exported here); a config becomes a run in
//! [`tasks`]; studies (grids of runs and their reports) are in [`study`].

pub mod aesthetics;
pub mod art;
pub mod backend;
pub mod curves;
pub mod explain;
pub mod markdown;
pub mod plot;
pub mod principles;
pub mod sampler_page;
pub mod study;
pub mod tasks;

pub use nnlab_train::{complain, console, engine, error, optim, pictures, run_dir, say};

pub use engine::Outcome;
pub use error::{Error, Result};
pub use nnlab_config::{self as config, RunConfig};
pub use tasks::TrainOptions;
