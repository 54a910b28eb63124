//! nnlab's training library: one training loop for every model family ([`engine::fit`]), what
//! a family provides to it ([`engine::Task`]), the families themselves ([`tasks`]), the
//! optimizers ([`optim`], Adam on the host included), checkpoints ([`engine::checkpoint`]), run
//! folders ([`run_dir`]), the pictures runs draw ([`pictures`]) and attribution maps of a
//! classifier's decisions ([`explain`]).
//!
//! It parses no command line and draws no study chart, and it serves nothing: the `nnlab` runner
//! builds on it. The pictures it draws are a run's own (samples, reconstructions, weights, the
//! scatter of 2-D codes). Like every
//! library crate of the workspace it enables no burn backend; the runner's cargo features do.

pub mod console;
pub mod engine;
pub mod error;
pub mod explain;
pub mod export;
pub mod optim;
pub mod pictures;
pub mod run_dir;
pub mod tasks;

pub use engine::Outcome;
pub use error::{Error, Result};
