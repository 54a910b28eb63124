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
//! On a cluster, `nnlab study <dir> --slurm [sbatch options]` submits the same runs as one Slurm
//! job array and a job after it that writes `results.md` ([`slurm`]).
//!
//! Layout: [`file`] (the study file), [`grid`] (cells and runs), [`jobs`] (running them),
//! [`slurm`] (submitting them), [`report`] (`results.md`), [`charts`] (the PNGs).

pub mod anchors;
pub mod charts;
pub mod file;
pub mod grid;
pub mod jobs;
pub mod report;
pub mod scaling;
pub mod slurm;

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
    /// What to do: run everything here, one run, only the table, or submit to Slurm.
    pub mode: Mode,
}

/// What `nnlab study` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Mode {
    /// Train every unfinished run here, then write the table.
    #[default]
    Local,
    /// Train only the run with this index in the study's order (a Slurm array task), no table.
    Task(usize),
    /// Write the table from finished runs; fail if any run is unfinished.
    ReportOnly,
    /// Submit the unfinished runs as a Slurm job array, and the table as a job after it, with
    /// these extra `sbatch` options.
    Slurm(Vec<String>),
}

/// The loss a run trains on, by name: a classifier's `train.loss`, else its family's own (the
/// autoencoder's reconstruction, LeNet-5's MAP criterion), named by its kind. Columns and charts
/// of training losses only set runs of one name side by side.
pub fn loss_name(config: &nnlab_config::RunConfig) -> String {
    if config.model.is_classifier() {
        config.train.loss.name().to_string()
    } else {
        config.model.kind().to_string()
    }
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

/// A study resolved against the command line: its cells, runs, and where things go.
struct Resolved {
    study: StudyFile,
    cells: Vec<Cell>,
    specs: Vec<grid::RunSpec>,
    results: PathBuf,
}

fn resolve(dir: &Path, opts: &StudyOptions) -> Result<Resolved> {
    let study = StudyFile::load(dir)?;
    let cells = grid::cells(&study);
    // With command-line overrides the study is not the one defined in its folder: its committed
    // record stays as it is, and this variant goes elsewhere unless told where.
    let variant = (!opts.set.is_empty()).then(|| variant_folder(dir, &opts.set));
    if let Some(v) = &variant
        && (opts.runs.is_none() || opts.results.is_none())
        && !matches!(opts.mode, Mode::Task(_))
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
    let results = opts.results.clone().unwrap_or_else(|| match &variant {
        Some(v) => v.join("results.md"),
        None => dir.join("results.md"),
    });
    Ok(Resolved {
        study,
        cells,
        specs,
        results,
    })
}

/// What a study command did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The table was written here.
    Table(PathBuf),
    /// One run (a Slurm task) finished, or had finished before, in this folder.
    Run(PathBuf),
    /// The study was submitted to Slurm: the array's job id (when runs were left) and the
    /// report job's id; the table will be written here.
    Submitted {
        /// The job array's id, if any run was unfinished.
        array: Option<String>,
        /// The id of the job that writes the table.
        report: String,
        /// The table the report job writes.
        results: PathBuf,
    },
}

/// Runs (or resumes) a study and writes its results; or, by `opts.mode`, one of its runs, only
/// its table, or its submission to Slurm.
pub fn run(dir: &Path, opts: &StudyOptions) -> Result<Outcome> {
    let r = resolve(dir, opts)?;
    match &opts.mode {
        Mode::Task(index) => {
            let n = r.specs.len();
            let spec = r.specs.into_iter().nth(*index).ok_or_else(|| {
                crate::error::Error::Study(format!(
                    "--task {index}: the study has {n} runs (0 to {})",
                    n.saturating_sub(1)
                ))
            })?;
            let out = spec.out.clone();
            let (done, pending) = jobs::sort(vec![spec])?;
            if done.is_empty() {
                jobs::run(dir, &r.cells, pending, opts)?;
            } else {
                say!("{} is finished already", out.display());
            }
            return Ok(Outcome::Run(out));
        }
        Mode::Slurm(sbatch) => return slurm::submit(dir, opts, &r.specs, sbatch, &r.results),
        Mode::Local | Mode::ReportOnly => {}
    }
    let (mut done, pending) = jobs::sort(r.specs)?;
    if opts.mode == Mode::ReportOnly {
        if !pending.is_empty() {
            let missing: Vec<String> = pending
                .iter()
                .map(|s| format!("{} ({})", jobs::describe(&r.cells, s), s.out.display()))
                .collect();
            return Err(crate::error::Error::Study(format!(
                "{} run(s) of {} are not finished: {}",
                missing.len(),
                dir.display(),
                missing.join(", ")
            )));
        }
    } else {
        if !done.is_empty() {
            say!("{} runs done already, {} to go", done.len(), pending.len());
        }
        done.extend(jobs::run(dir, &r.cells, pending, opts)?);
    }
    // The table and its charts may go to a folder nothing has made yet (a `--set` variant whose
    // runs went elsewhere with `--runs`, or a new `--results` folder).
    if let Some(folder) = r.results.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|e| crate::error::Error::io(folder, e))?;
    }
    let charts = charts::write(&r.study, dir, &r.cells, &done, &r.results)?;
    // The runs' own learning curves, redrawn from their records where a run keeps them (a study's
    // record holds some runs' pictures, not all), so they follow today's chart style.
    for f in done.iter().filter(|f| keeps_curves(&f.dir)) {
        crate::curves::draw(&f.dir, &f.table, f.config.model.kind())?;
    }
    let how = report::Invocation {
        set: opts.set.clone(),
    };
    let table = report::results_table(&r.study, &r.cells, &done, &charts, &how);
    crate::run_dir::write_atomic(&r.results, table.as_bytes())?;
    Ok(Outcome::Table(r.results))
}

/// Whether the run folder `run` holds learning-curve pictures (`pictures/curves-*.png`).
fn keeps_curves(run: &Path) -> bool {
    std::fs::read_dir(run.join("pictures")).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("curves-") && name.ends_with(".png")
        })
    })
}
