//! Studies and sweeps: a folder `experiments/<name>/` with `study.toml` naming a config, seeds,
//! overrides, an optional grid of axes, and the published numbers it reproduces.
//! `nnlab study <dir>` runs every cell x seed as its own `nnlab train` process — `--jobs N` at
//! once — skipping runs already finished and resuming interrupted ones, then regenerates
//! `results.md` and its PNG charts from the run records in `<dir>/runs/`.
//!
//! ```toml
//! title = "Activations x losses x optimizers"
//! config = "../../configs/article_mlp.toml"
//! seeds = [1, 2, 3]
//! [[axis]]
//! name = "activation"
//! key = "model.activation"
//! values = ["relu", "sigmoid", "tanh"]
//! [[axis]]
//! name = "optimizer"
//! values = [{ label = "adam", set = ["train.optimizer=adam"] },
//!           { label = "sgd", set = ["train.optimizer=sgd", "train.lr=0.01"] }]
//! [[expect]]
//! cell = "relu/adam"
//! value = 0.9660
//! source = "Keras, 5 seeds"
//! ```
//!
//! Layout: [`file`] (the study file), [`grid`] (cells and runs), [`jobs`] (running them),
//! [`report`] (`results.md`), [`charts`] (the PNGs).

pub mod charts;
pub mod file;
pub mod grid;
pub mod jobs;
pub mod report;

use std::path::{Path, PathBuf};

pub use file::StudyFile;
pub use grid::Cell;

use crate::error::Result;
use crate::tasks::TrainOptions;

/// Options of a study run.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// Extra overrides from the command line (after the study's own).
    pub set: Vec<String>,
    /// Where the runs go; default `<study>/runs`.
    pub runs: Option<PathBuf>,
    /// Where the table goes; default `<study>/results.md` (charts beside it).
    pub results: Option<PathBuf>,
    /// Runs at once (each a child process).
    pub jobs: usize,
    /// Data and verbosity.
    pub train: TrainOptions,
}

/// Runs (or resumes) a study and writes its results. Returns the table's path.
pub fn run(dir: &Path, opts: &StudyOptions) -> Result<PathBuf> {
    let study = StudyFile::load(dir)?;
    let cells = grid::cells(&study);
    let runs_root = opts.runs.clone().unwrap_or_else(|| dir.join("runs"));
    let specs = grid::specs(&study, &cells, dir, &runs_root, &opts.set)?;
    let (mut done, pending) = jobs::sort(specs)?;
    if !done.is_empty() {
        println!("{} runs done already, {} to go", done.len(), pending.len());
    }
    done.extend(jobs::run(dir, &cells, pending, opts)?);

    let results = opts
        .results
        .clone()
        .unwrap_or_else(|| dir.join("results.md"));
    let charts = charts::write(&study, &cells, &done, &results)?;
    let how = report::Invocation {
        set: opts.set.clone(),
    };
    let table = report::results_table(&study, &cells, &done, &charts, &how);
    crate::run_dir::write_atomic(&results, table.as_bytes())?;
    Ok(results)
}
