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
use crate::say;
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

/// Where a study run with `set` overrides goes by default:
/// `runs/studies/<study>/<the overrides, as a folder name>/`.
pub fn variant_folder(dir: &Path, set: &[String]) -> PathBuf {
    let study = std::path::absolute(dir)
        .ok()
        .and_then(|d| d.file_name().map(|f| f.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "study".into());
    let slug: String = set
        .join(",")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '=' | '-' | ',') {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect();
    PathBuf::from("runs").join("studies").join(study).join(slug)
}

/// Runs (or resumes) a study and writes its results. Returns the table's path.
pub fn run(dir: &Path, opts: &StudyOptions) -> Result<PathBuf> {
    let study = StudyFile::load(dir)?;
    let cells = grid::cells(&study);
    // With command-line overrides the study is not the one defined in its folder: its committed
    // record stays as it is, and this variant goes elsewhere unless told where.
    let variant = (!opts.set.is_empty()).then(|| variant_folder(dir, &opts.set));
    if let Some(v) = &variant
        && (opts.runs.is_none() || opts.results.is_none())
    {
        say!(
            "--set overrides change the study, so its committed record stays as it is; this variant goes to {}",
            v.display()
        );
    }
    let runs_root = opts.runs.clone().unwrap_or_else(|| match &variant {
        Some(v) => v.join("runs"),
        None => dir.join("runs"),
    });
    let specs = grid::specs(&study, &cells, dir, &runs_root, &opts.set)?;
    let (mut done, pending) = jobs::sort(specs)?;
    if !done.is_empty() {
        say!("{} runs done already, {} to go", done.len(), pending.len());
    }
    done.extend(jobs::run(dir, &cells, pending, opts)?);

    let results = opts.results.clone().unwrap_or_else(|| match &variant {
        Some(v) => v.join("results.md"),
        None => dir.join("results.md"),
    });
    let charts = charts::write(&study, &cells, &done, &results)?;
    let how = report::Invocation {
        set: opts.set.clone(),
    };
    let table = report::results_table(&study, &cells, &done, &charts, &how);
    crate::run_dir::write_atomic(&results, table.as_bytes())?;
    Ok(results)
}
