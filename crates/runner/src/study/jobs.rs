//! Running a study's runs: each one is an `nnlab train` process of its own (so each records its
//! own peak memory), `jobs` at a time. Finished runs are read back, unfinished ones resumed, and
//! neither is touched when its config no longer matches the study's.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::StudyOptions;
use super::grid::{Cell, RunSpec};
use crate::config::RunConfig;
use crate::engine::interrupt;
use crate::engine::metrics::{MetricsTable, Summary};
use crate::error::{Error, Result};
use crate::say;

pub use nnlab_train::engine::{JOBS_ENV, STUDY_ENV};

/// What a finished run left.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Index of its cell.
    pub cell: usize,
    /// Its `summary.json`.
    pub summary: Summary,
    /// Its `metrics.csv`.
    pub table: MetricsTable,
    /// Its resolved config.
    pub config: RunConfig,
    /// Its run folder.
    pub dir: std::path::PathBuf,
}

/// A run of the study in words: `relu/adam seed 2`.
pub fn describe(cells: &[Cell], spec: &RunSpec) -> String {
    let cell = &cells[spec.cell].label;
    if cell.is_empty() {
        format!("seed {}", spec.seed)
    } else {
        format!("{cell} seed {}", spec.seed)
    }
}

fn read_finished(spec: &RunSpec) -> Result<Finished> {
    Ok(Finished {
        cell: spec.cell,
        summary: Summary::read(&spec.out.join("summary.json"))?,
        table: MetricsTable::read(&spec.out.join("metrics.csv"))?,
        config: spec.config.clone(),
        dir: spec.out.clone(),
    })
}

/// Splits `specs` into runs already finished (read back) and runs to do. A run folder whose
/// config differs from the one the study now gives is never reused, finished or not.
pub fn sort(specs: Vec<RunSpec>) -> Result<(Vec<Finished>, VecDeque<RunSpec>)> {
    let mut done = Vec::new();
    let mut pending = VecDeque::new();
    for spec in specs {
        let saved = spec.out.join("config.toml");
        if saved.exists() {
            let config = RunConfig::load(&saved, &[])?;
            if config != spec.config {
                return Err(Error::Study(format!(
                    "{} was started with another config than the study now gives; remove it, or pass --runs DIR to keep both",
                    spec.out.display()
                )));
            }
        }
        if spec.out.join("summary.json").exists() {
            done.push(read_finished(&spec)?);
        } else {
            pending.push_back(spec);
        }
    }
    Ok((done, pending))
}

/// The `nnlab train` command of `spec`: a new run, or `--resume` of an unfinished one.
fn command(exe: &Path, spec: &RunSpec, study: &Path, opts: &StudyOptions) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("train");
    if spec.out.join("config.toml").exists() {
        cmd.arg("--resume").arg(&spec.out);
    } else {
        cmd.arg(&spec.config_path).arg("--out").arg(&spec.out);
        for o in &spec.overrides {
            cmd.arg("--set").arg(o);
        }
    }
    if let Some(d) = &opts.train.data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    if !opts.train.download {
        cmd.arg("--offline");
    }
    cmd.env(STUDY_ENV, study);
    cmd.env(JOBS_ENV, opts.jobs.to_string());
    cmd
}

/// Starts the `nnlab` process of one run (its output to a log of its own when several run at
/// once); says what it trains.
fn start(
    exe: &Path,
    study: &Path,
    cells: &[Cell],
    spec: &RunSpec,
    opts: &StudyOptions,
) -> Result<(Child, Option<PathBuf>)> {
    let parent = spec.out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let mut cmd = command(exe, spec, study, opts);
    let what = describe(cells, spec);
    let verb = if spec.out.join("config.toml").exists() {
        "resuming"
    } else {
        "training into"
    };
    let log = if opts.jobs > 1 {
        let log = spec.out.with_extension("log");
        let file = std::fs::File::create(&log).map_err(|e| Error::io(&log, e))?;
        let err_file = file.try_clone().map_err(|e| Error::io(&log, e))?;
        cmd.stdout(Stdio::from(file)).stderr(Stdio::from(err_file));
        say!(
            "{what}: {verb} {} (log {})",
            spec.out.display(),
            log.display()
        );
        Some(log)
    } else {
        say!("{what}: {verb} {}", spec.out.display());
        None
    };
    let child = cmd
        .spawn()
        .map_err(|e| Error::Study(format!("cannot start {}: {e}", exe.display())))?;
    Ok((child, log))
}

/// A run that ended well: its records, and a line saying its figures.
fn finished(cells: &[Cell], spec: &RunSpec) -> Result<Finished> {
    let f = read_finished(spec)?;
    // A classifier's test accuracy and loss; any other model, every test figure it has (an
    // autoencoder's loss alone would hide its reconstruction error).
    let figures: Vec<String> = if f.summary.metric("test_accuracy").is_some() {
        ["test_accuracy", "test_loss"]
            .iter()
            .filter_map(|m| f.summary.metric(m).map(|v| format!("{m} {v:.4}")))
            .collect()
    } else {
        f.summary
            .metrics
            .iter()
            .filter(|(m, _)| m.starts_with("test_"))
            .map(|(m, v)| format!("{m} {v:.4}"))
            .collect()
    };
    say!(
        "{}: {}, {:.2} s/epoch",
        describe(cells, spec),
        figures.join(", "),
        f.summary.seconds_per_epoch
    );
    Ok(f)
}

/// A run that failed, in words: the last line of its log when it has one.
fn failure(cells: &[Cell], spec: &RunSpec, log: Option<&Path>) -> String {
    let last = log
        .and_then(|l| std::fs::read_to_string(l).ok())
        .and_then(|t| t.lines().last().map(str::to_string))
        .unwrap_or_else(|| "see its output above".into());
    format!("{}: {last}", describe(cells, spec))
}

/// Runs `pending` as child processes, `opts.jobs` at once. With one job the child writes to
/// this terminal; with more, each child's output goes to `<run>.log` beside its folder.
pub fn run(
    study: &Path,
    cells: &[Cell],
    mut pending: VecDeque<RunSpec>,
    opts: &StudyOptions,
) -> Result<Vec<Finished>> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Study(format!("cannot find nnlab itself: {e}")))?;
    interrupt::arm();
    let mut running: Vec<(RunSpec, Child, Option<PathBuf>)> = Vec::new();
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let more = |pending: &VecDeque<RunSpec>, failed: &Vec<String>| {
        !pending.is_empty() && failed.is_empty() && !interrupt::requested()
    };
    while more(&pending, &failed) || !running.is_empty() {
        // After a failure, no new run starts: the next would likely fail the same way.
        while running.len() < opts.jobs && more(&pending, &failed) {
            let Some(spec) = pending.pop_front() else {
                break;
            };
            let (child, log) = start(&exe, study, cells, &spec, opts)?;
            running.push((spec, child, log));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut still = Vec::new();
        for (spec, mut child, log) in running {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => done.push(finished(cells, &spec)?),
                Ok(Some(_)) => failed.push(failure(cells, &spec, log.as_deref())),
                Ok(None) => still.push((spec, child, log)),
                Err(e) => return Err(Error::Study(format!("waiting for a run: {e}"))),
            }
        }
        running = still;
    }
    if interrupt::requested() {
        return Err(Error::Study(format!(
            "interrupted: finished runs are kept and unfinished ones saved their state. Continue the study with: nnlab study {}",
            study.display()
        )));
    }
    if !failed.is_empty() {
        let skipped = if pending.is_empty() {
            String::new()
        } else {
            format!("; {} run(s) not started", pending.len())
        };
        return Err(Error::Study(format!(
            "{} run(s) failed: {}{skipped}",
            failed.len(),
            failed.join("; ")
        )));
    }
    Ok(done)
}
