//! Studies and sweeps: a folder `experiments/<name>/` with `study.toml` naming a config, seeds,
//! overrides, an optional grid of axes, and the published numbers it reproduces.
//! `nnlab study <dir>` runs every cell x seed — in sequence, or `--jobs N` processes at once —
//! skipping runs already finished and resuming interrupted ones, then regenerates `results.md`
//! and its PNG charts.
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
//! test_accuracy = 0.9660
//! source = "Keras, 5 seeds"
//! ```

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde::Deserialize;

use crate::classifier::{self, TrainOptions};
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::metrics::{self, EpochMetrics, Summary};
use crate::plot::{self, Series};

/// `study.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    /// One line saying what the study reproduces.
    pub title: String,
    /// The config, relative to the study folder.
    pub config: PathBuf,
    /// Seeds; one run per cell and seed.
    pub seeds: Vec<u64>,
    /// Overrides applied to every run (`key=value`).
    #[serde(default)]
    pub set: Vec<String>,
    /// The grid: every combination of one value per axis is a cell.
    #[serde(default)]
    pub axis: Vec<Axis>,
    /// The number a single-cell study reproduces.
    #[serde(default)]
    pub reference: Option<Reference>,
    /// Published numbers for some cells of a grid.
    #[serde(default)]
    pub expect: Vec<Expect>,
    /// How far (percentage points, either way) a cell's mean may be from its expected accuracy.
    #[serde(default = "default_tolerance")]
    pub tolerance_pp: f64,
    /// Which per-epoch metrics get a learning-curve chart.
    #[serde(default = "default_curves")]
    pub curves: Vec<String>,
    /// Free text for results.md: how the study was set up, what it found.
    #[serde(default)]
    pub notes: Option<String>,
}

fn default_tolerance() -> f64 {
    0.5
}

fn default_curves() -> Vec<String> {
    vec!["test_accuracy".into(), "train_loss".into()]
}

/// One axis of a grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// Name, for the table.
    pub name: String,
    /// The config key plain values are assigned to.
    #[serde(default)]
    pub key: Option<String>,
    /// The values.
    pub values: Vec<AxisValue>,
}

/// A value of an axis: a plain value for the axis' `key`, or a labelled set of overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AxisValue {
    /// `{ label = "sgd", set = ["train.optimizer=sgd", "train.lr=0.01"] }`.
    Labeled {
        /// Label in cell names.
        label: String,
        /// Overrides.
        set: Vec<String>,
    },
    /// A TOML value for the axis' key.
    Plain(toml::Value),
}

/// The number a single-cell study is compared with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Where the number comes from.
    pub source: String,
    /// Mean test accuracy of the reference.
    pub test_accuracy: f64,
    /// Its standard deviation over seeds, if reported.
    #[serde(default)]
    pub test_accuracy_std: Option<f64>,
    /// Seconds per epoch of the reference, if measured.
    #[serde(default)]
    pub seconds_per_epoch: Option<f64>,
    /// The mean test accuracy our runs must reach.
    pub target_accuracy: f64,
}

/// A published number for one cell of a grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Cell label, e.g. `relu/cross_entropy/adam`.
    pub cell: String,
    /// Its test accuracy.
    pub test_accuracy: f64,
    /// Where it comes from.
    pub source: String,
}

/// One cell: a label and its overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// `value/value/...`, empty for a study without axes.
    pub label: String,
    /// Overrides of this cell.
    pub set: Vec<String>,
}

/// Options of a study run.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// Extra overrides from the command line (after the study's own).
    pub set: Vec<String>,
    /// Where the runs go; default `<study>/runs`.
    pub runs: Option<PathBuf>,
    /// Where the table goes; default `<study>/results.md` (charts beside it).
    pub results: Option<PathBuf>,
    /// Runs at once (child processes) when above 1.
    pub jobs: usize,
    /// Data and verbosity.
    pub train: TrainOptions,
}

/// Mean and sample standard deviation (n - 1); std is 0 for fewer than two values.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

fn value_label(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl StudyFile {
    /// Reads and checks `dir/study.toml`.
    pub fn load(dir: &Path) -> Result<Self> {
        let file = dir.join("study.toml");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::Study(format!("{}: cannot read: {e}", file.display())))?;
        let study: Self = toml::from_str(&text).map_err(|e| {
            let msg = e.to_string();
            Error::Study(format!(
                "{}: {}",
                file.display(),
                msg.split_whitespace().collect::<Vec<_>>().join(" ")
            ))
        })?;
        let bad = |why: String| Err(Error::Study(format!("{}: {why}", file.display())));
        if study.seeds.is_empty() {
            return bad("`seeds` is empty".into());
        }
        for a in &study.axis {
            if a.values.is_empty() {
                return bad(format!("axis `{}` has no values", a.name));
            }
            let plain = a.values.iter().any(|v| matches!(v, AxisValue::Plain(_)));
            if plain && a.key.is_none() {
                return bad(format!("axis `{}` has plain values but no `key`", a.name));
            }
        }
        let cells = study.cells();
        for e in &study.expect {
            if !cells.iter().any(|c| c.label == e.cell) {
                return bad(format!(
                    "`expect` names cell `{}`, which is not in the grid",
                    e.cell
                ));
            }
        }
        Ok(study)
    }

    /// Every combination of one value per axis, in axis order (one empty cell without axes).
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = vec![Cell {
            label: String::new(),
            set: Vec::new(),
        }];
        for axis in &self.axis {
            let mut next = Vec::new();
            for cell in &cells {
                for v in &axis.values {
                    let (label, set) = match v {
                        AxisValue::Labeled { label, set } => (label.clone(), set.clone()),
                        AxisValue::Plain(value) => (
                            value_label(value),
                            vec![format!(
                                "{}={}",
                                axis.key.as_deref().unwrap_or_default(),
                                match value {
                                    toml::Value::String(s) => format!("{s:?}"),
                                    other => other.to_string(),
                                }
                            )],
                        ),
                    };
                    let mut s = cell.set.clone();
                    s.extend(set);
                    next.push(Cell {
                        label: if cell.label.is_empty() {
                            label
                        } else {
                            format!("{}/{label}", cell.label)
                        },
                        set: s,
                    });
                }
            }
            cells = next;
        }
        cells
    }
}

/// One run of a study.
#[derive(Debug, Clone)]
struct RunSpec {
    cell: usize,
    seed: u64,
    out: PathBuf,
    overrides: Vec<String>,
    config: RunConfig,
}

/// What a finished run left.
#[derive(Debug, Clone)]
struct Finished {
    cell: usize,
    summary: Summary,
    rows: Vec<EpochMetrics>,
}

/// Runs (or resumes) a study and writes its results. Returns the table's path.
pub fn run(dir: &Path, opts: &StudyOptions) -> Result<PathBuf> {
    let study = StudyFile::load(dir)?;
    let config_path = dir.join(&study.config);
    let cells = study.cells();
    let runs_root = opts.runs.clone().unwrap_or_else(|| dir.join("runs"));

    // Every cell x seed, with its resolved config (so every config error shows before any run).
    let mut specs = Vec::new();
    for (c, cell) in cells.iter().enumerate() {
        for &seed in &study.seeds {
            let mut o = study.set.clone();
            o.extend(cell.set.iter().cloned());
            o.extend(opts.set.iter().cloned());
            o.push(format!("seed={seed}"));
            let config = RunConfig::load(&config_path, &o).map_err(|e| {
                let label = if cell.label.is_empty() {
                    ""
                } else {
                    " in cell "
                };
                Error::Study(format!("{e}{label}{}", cell.label))
            })?;
            let mut out = runs_root.clone();
            if !cell.label.is_empty() {
                out = out.join(cell.label.replace('/', "_"));
            }
            specs.push(RunSpec {
                cell: c,
                seed,
                out: out.join(format!("seed-{seed}")),
                overrides: o,
                config,
            });
        }
    }

    let mut done = Vec::new();
    let mut pending = VecDeque::new();
    for spec in specs {
        if spec.out.join("summary.json").exists() {
            let saved = RunConfig::load(&spec.out.join("config.toml"), &[])?;
            if saved != spec.config {
                return Err(Error::Study(format!(
                    "{} was run with another config than the study now gives; remove it or pass --runs DIR",
                    spec.out.display()
                )));
            }
            done.push(read_finished(&spec)?);
        } else {
            pending.push_back(spec);
        }
    }
    if !done.is_empty() {
        println!("{} runs done already, {} to go", done.len(), pending.len());
    }
    if opts.jobs <= 1 {
        for spec in pending {
            done.push(run_here(&cells, &spec, opts)?);
        }
    } else {
        done.extend(run_children(&cells, pending, &config_path, opts)?);
    }

    let results = opts
        .results
        .clone()
        .unwrap_or_else(|| dir.join("results.md"));
    let charts = write_charts(&study, &cells, &done, &results)?;
    let table = results_table(&study, &cells, &done, &charts);
    crate::run_dir::write_atomic(&results, table.as_bytes())?;
    Ok(results)
}

fn describe(cells: &[Cell], spec: &RunSpec) -> String {
    let cell = &cells[spec.cell].label;
    if cell.is_empty() {
        format!("seed {}", spec.seed)
    } else {
        format!("{cell} seed {}", spec.seed)
    }
}

fn read_finished(spec: &RunSpec) -> Result<Finished> {
    let path = spec.out.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let summary = serde_json::from_str(&text)
        .map_err(|e| Error::Study(format!("{}: not a run summary: {e}", path.display())))?;
    let rows = metrics::read_csv(&spec.out.join("metrics.csv"))?;
    Ok(Finished {
        cell: spec.cell,
        summary,
        rows,
    })
}

/// Runs one spec in this process.
fn run_here(cells: &[Cell], spec: &RunSpec, opts: &StudyOptions) -> Result<Finished> {
    let what = describe(cells, spec);
    let summary = if spec.out.join("config.toml").exists() {
        println!("{what}: resuming {}", spec.out.display());
        classifier::resume(&spec.out, &opts.train)?.summary
    } else {
        println!("{what}: training into {}", spec.out.display());
        let t = TrainOptions {
            out: Some(spec.out.clone()),
            ..opts.train.clone()
        };
        classifier::train(&spec.config, &t)?.summary
    };
    println!(
        "{what}: test accuracy {:.4}, loss {:.4}, {:.2} s/epoch",
        summary.test_accuracy, summary.test_loss, summary.seconds_per_epoch
    );
    read_finished(spec)
}

/// Runs the specs as `nnlab train` child processes, `opts.jobs` at once; each child's output
/// goes to `<run>.log` beside its run folder.
fn run_children(
    cells: &[Cell],
    mut pending: VecDeque<RunSpec>,
    config: &Path,
    opts: &StudyOptions,
) -> Result<Vec<Finished>> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Study(format!("cannot find nnlab itself: {e}")))?;
    let mut running: Vec<(RunSpec, Child, PathBuf)> = Vec::new();
    let mut done = Vec::new();
    let mut failed = Vec::new();
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < opts.jobs {
            let Some(spec) = pending.pop_front() else {
                break;
            };
            let parent = spec.out.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            let log = spec.out.with_extension("log");
            let file = std::fs::File::create(&log).map_err(|e| Error::io(&log, e))?;
            let mut cmd = Command::new(&exe);
            cmd.arg("train");
            if spec.out.join("config.toml").exists() {
                cmd.arg("--resume").arg(&spec.out);
            } else {
                cmd.arg(config).arg("--out").arg(&spec.out);
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
            let err_file = file.try_clone().map_err(|e| Error::io(&log, e))?;
            let child = cmd
                .stdout(Stdio::from(file))
                .stderr(Stdio::from(err_file))
                .spawn()
                .map_err(|e| Error::Study(format!("cannot start {}: {e}", exe.display())))?;
            println!(
                "{}: started (log {})",
                describe(cells, &spec),
                log.display()
            );
            running.push((spec, child, log));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut still = Vec::new();
        for (spec, mut child, log) in running {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => {
                    let f = read_finished(&spec)?;
                    println!(
                        "{}: test accuracy {:.4}, {:.2} s/epoch",
                        describe(cells, &spec),
                        f.summary.test_accuracy,
                        f.summary.seconds_per_epoch
                    );
                    done.push(f);
                }
                Ok(Some(_)) => {
                    let last = std::fs::read_to_string(&log)
                        .ok()
                        .and_then(|t| t.lines().last().map(str::to_string))
                        .unwrap_or_default();
                    failed.push(format!("{}: {last}", describe(cells, &spec)));
                }
                Ok(None) => still.push((spec, child, log)),
                Err(e) => return Err(Error::Study(format!("waiting for a run: {e}"))),
            }
        }
        running = still;
    }
    if !failed.is_empty() {
        return Err(Error::Study(format!(
            "{} run(s) failed: {}",
            failed.len(),
            failed.join("; ")
        )));
    }
    Ok(done)
}

fn metric(row: &EpochMetrics, name: &str) -> Option<f64> {
    match name {
        "train_loss" => Some(row.train_loss),
        "train_accuracy" => Some(row.train_accuracy),
        "test_loss" => Some(row.test_loss),
        "test_accuracy" => Some(row.test_accuracy),
        "valid_loss" => row.valid.map(|v| v.0),
        "valid_accuracy" => row.valid.map(|v| v.1),
        _ => None,
    }
}

/// Per-cell statistics.
struct CellStats {
    acc: (f64, f64),
    train_loss: f64,
    loss: (f64, f64),
    secs: f64,
    n: usize,
}

fn cell_stats(done: &[Finished], cell: usize) -> Option<CellStats> {
    let runs: Vec<&Summary> = done
        .iter()
        .filter(|f| f.cell == cell)
        .map(|f| &f.summary)
        .collect();
    if runs.is_empty() {
        return None;
    }
    let acc: Vec<f64> = runs.iter().map(|s| s.test_accuracy).collect();
    let loss: Vec<f64> = runs.iter().map(|s| s.test_loss).collect();
    let secs: Vec<f64> = runs.iter().map(|s| s.seconds_per_epoch).collect();
    let train: Vec<f64> = done
        .iter()
        .filter(|f| f.cell == cell)
        .filter_map(|f| f.rows.last().map(|r| r.train_loss))
        .collect();
    Some(CellStats {
        acc: mean_std(&acc),
        train_loss: mean_std(&train).0,
        loss: mean_std(&loss),
        secs: metrics::median(&secs),
        n: runs.len(),
    })
}

/// The cells grouped by their value of the first axis, in grid order: `(value, cell indices)`.
/// With fewer than two axes, one unnamed group of every cell.
fn first_axis_groups(study: &StudyFile, cells: &[Cell]) -> Vec<(String, Vec<usize>)> {
    if study.axis.len() < 2 {
        return vec![(String::new(), (0..cells.len()).collect())];
    }
    let per = cells.len() / study.axis[0].values.len();
    (0..cells.len())
        .collect::<Vec<_>>()
        .chunks(per)
        .map(|chunk| {
            let first = &cells[chunk[0]].label;
            let value = first.split('/').next().unwrap_or_default();
            (value.to_string(), chunk.to_vec())
        })
        .collect()
}

/// Draws the charts next to `results`; returns their file names, or why there are none.
fn write_charts(
    study: &StudyFile,
    cells: &[Cell],
    done: &[Finished],
    results: &Path,
) -> Result<std::result::Result<Vec<String>, String>> {
    if !plot::font_available() {
        return Ok(Err(
            "charts skipped: no TrueType font found (set NNLAB_FONT to a .ttf file)".into(),
        ));
    }
    let folder = results.parent().unwrap_or(Path::new("."));
    let label = |c: &Cell| {
        if c.label.is_empty() {
            "nnlab".to_string()
        } else {
            c.label.clone()
        }
    };
    let mut files = Vec::new();
    // With two or more axes, one chart per value of the first axis keeps the lines readable.
    let groups = first_axis_groups(study, cells);
    for name in &study.curves {
        for (group, members) in &groups {
            let series: Vec<Series> = members
                .iter()
                .filter_map(|&c| {
                    let runs: Vec<&Finished> = done.iter().filter(|f| f.cell == c).collect();
                    let epochs = runs.iter().map(|f| f.rows.len()).min()?;
                    let points = (0..epochs)
                        .filter_map(|e| {
                            let vals: Vec<f64> = runs
                                .iter()
                                .filter_map(|f| metric(&f.rows[e], name))
                                .collect();
                            (!vals.is_empty()).then(|| ((e + 1) as f64, mean_std(&vals).0))
                        })
                        .collect::<Vec<_>>();
                    let cell = label(&cells[c]);
                    let short = match cell.split_once('/') {
                        Some((_, rest)) if !group.is_empty() => rest.to_string(),
                        _ => cell,
                    };
                    (!points.is_empty()).then_some(Series {
                        label: short,
                        points,
                    })
                })
                .collect();
            if series.is_empty() {
                continue;
            }
            let (file, what) = if group.is_empty() {
                (format!("curves-{name}.png"), String::new())
            } else {
                (format!("curves-{name}-{group}.png"), format!("{group}: "))
            };
            plot::line_chart(
                &folder.join(&file),
                &format!(
                    "{what}{} (mean over {} seed{})",
                    name.replace('_', " "),
                    study.seeds.len(),
                    if study.seeds.len() == 1 { "" } else { "s" }
                ),
                "epoch",
                name,
                &series,
            )?;
            files.push(file);
        }
    }
    if cells.len() > 1 {
        let bars: Vec<(String, f64, f64)> = cells
            .iter()
            .enumerate()
            .filter_map(|(c, cell)| {
                cell_stats(done, c).map(|s| (label(cell), 100.0 * s.acc.0, 100.0 * s.acc.1))
            })
            .collect();
        let file = "accuracy.png".to_string();
        plot::bar_chart(
            &folder.join(&file),
            "final test accuracy (mean +- std)",
            "test accuracy (%)",
            &bars,
        )?;
        files.push(file);
    }
    Ok(Ok(files))
}

/// The markdown results of a study.
fn results_table(
    study: &StudyFile,
    cells: &[Cell],
    done: &[Finished],
    charts: &std::result::Result<Vec<String>, String>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", study.title);
    let _ = writeln!(
        s,
        "Generated by `nnlab study` from `study.toml`; do not edit by hand.\n"
    );
    let _ = writeln!(
        s,
        "- config: `{}` (relative to the study folder)",
        study.config.display()
    );
    if !study.set.is_empty() {
        let _ = writeln!(s, "- overrides for every run: `{}`", study.set.join("`, `"));
    }
    let _ = writeln!(s, "- seeds: {:?}", study.seeds);
    if let Some(first) = done.first() {
        let f = &first.summary;
        let _ = writeln!(
            s,
            "- backend: {}, nnlab {}, git {}",
            f.backend, f.nnlab_version, f.git_rev
        );
        let _ = writeln!(
            s,
            "- {} epochs on {} training examples of `{}`",
            f.epochs, f.train_examples, f.dataset
        );
    }
    if let Some(notes) = &study.notes {
        let _ = writeln!(s, "\n{}", notes.trim());
    }
    let _ = writeln!(s, "\n## Result\n");
    if cells.len() == 1 {
        if let Some(st) = cell_stats(done, 0) {
            let _ = writeln!(s, "| | test accuracy | test loss | s/epoch (median) |");
            let _ = writeln!(s, "|---|---|---|---|");
            let _ = writeln!(
                s,
                "| nnlab, {} seeds | {:.2} +- {:.2} % | {:.4} +- {:.4} | {:.2} |",
                st.n,
                100.0 * st.acc.0,
                100.0 * st.acc.1,
                st.loss.0,
                st.loss.1,
                st.secs
            );
            if let Some(r) = &study.reference {
                let sd = r
                    .test_accuracy_std
                    .map_or(String::new(), |v| format!(" +- {:.2}", 100.0 * v));
                let secs = r
                    .seconds_per_epoch
                    .map_or("-".to_string(), |v| format!("{v:.2}"));
                let _ = writeln!(
                    s,
                    "| reference: {} | {:.2}{sd} % | - | {secs} |",
                    r.source,
                    100.0 * r.test_accuracy
                );
                let verdict = if st.acc.0 >= r.target_accuracy {
                    "meets"
                } else {
                    "MISSES"
                };
                let _ = writeln!(
                    s,
                    "\nMean test accuracy {:.2} % {verdict} the target of {:.2} %.",
                    100.0 * st.acc.0,
                    100.0 * r.target_accuracy
                );
            }
        }
    } else {
        let names: Vec<&str> = study.axis.iter().map(|a| a.name.as_str()).collect();
        let _ = writeln!(
            s,
            "| {} | test accuracy | test loss | train loss (last epoch) | s/epoch | reference | difference | within {} pp |",
            names.join(" | "),
            study.tolerance_pp
        );
        let _ = writeln!(s, "|{}", "---|".repeat(names.len() + 7));
        let mut misses = Vec::new();
        for (c, cell) in cells.iter().enumerate() {
            let Some(st) = cell_stats(done, c) else {
                continue;
            };
            let parts = cell.label.replace('/', " | ");
            let (reference, diff, ok) = match study.expect.iter().find(|e| e.cell == cell.label) {
                Some(e) => {
                    let d = 100.0 * (st.acc.0 - e.test_accuracy);
                    let ok = d.abs() <= study.tolerance_pp;
                    if !ok {
                        let side = if d > 0.0 { "above" } else { "below" };
                        misses.push(format!("{} ({d:+.2} pp, {side})", cell.label));
                    }
                    (
                        format!("{:.2} % ({})", 100.0 * e.test_accuracy, e.source),
                        format!("{d:+.2} pp"),
                        if ok { "yes" } else { "**no**" }.to_string(),
                    )
                }
                None => ("-".into(), "-".into(), "-".into()),
            };
            let _ = writeln!(
                s,
                "| {parts} | {:.2} +- {:.2} % | {:.4} +- {:.4} | {:.4} | {:.2} | {reference} | {diff} | {ok} |",
                100.0 * st.acc.0,
                100.0 * st.acc.1,
                st.loss.0,
                st.loss.1,
                st.train_loss,
                st.secs
            );
        }
        if study.axis.len() >= 2 {
            let _ = writeln!(
                s,
                "\nRanking by training loss after the last epoch (lowest first), per {}:\n",
                study.axis[0].name
            );
            for (group, members) in first_axis_groups(study, cells) {
                let mut ranked: Vec<(f64, &str)> = members
                    .iter()
                    .filter_map(|&c| {
                        cell_stats(done, c).map(|st| (st.train_loss, cells[c].label.as_str()))
                    })
                    .collect();
                ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
                if ranked.is_empty() {
                    continue;
                }
                let order: Vec<String> = ranked
                    .iter()
                    .map(|(l, label)| {
                        format!("{} ({l:.4})", label.split_once('/').map_or(*label, |x| x.1))
                    })
                    .collect();
                let _ = writeln!(s, "- {group}: {}", order.join(" < "));
            }
        }
        if !study.expect.is_empty() {
            if misses.is_empty() {
                let _ = writeln!(
                    s,
                    "\nEvery cell with a reference is within {} percentage points of it.",
                    study.tolerance_pp
                );
            } else {
                let _ = writeln!(
                    s,
                    "\nOutside the {} pp band: {}.",
                    study.tolerance_pp,
                    misses.join(", ")
                );
            }
        }
    }
    match charts {
        Ok(files) if !files.is_empty() => {
            let _ = writeln!(s, "\n## Charts\n");
            for f in files {
                let _ = writeln!(s, "![{f}]({f})\n");
            }
        }
        Ok(_) => {}
        Err(why) => {
            let _ = writeln!(s, "\n({why})");
        }
    }
    let _ = writeln!(s, "\n## Runs\n");
    let _ = writeln!(
        s,
        "| cell | seed | test accuracy | test loss | s/epoch | peak RSS (MB) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    let mut sorted: Vec<&Finished> = done.iter().collect();
    sorted.sort_by_key(|f| (f.cell, f.summary.seed));
    for f in sorted {
        let r = &f.summary;
        let rss = r.peak_rss_mb.map_or("-".to_string(), |v| format!("{v:.0}"));
        let label = if cells[f.cell].label.is_empty() {
            "-"
        } else {
            &cells[f.cell].label
        };
        let _ = writeln!(
            s,
            "| {label} | {} | {:.4} | {:.4} | {:.2} | {rss} |",
            r.seed, r.test_accuracy, r.test_loss, r.seconds_per_epoch
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_standard_deviation() {
        // Hand computation: mean 5, squared deviations 9+1+1+9 = 20, / (4-1) -> sqrt(20/3).
        let (m, s) = mean_std(&[2.0, 4.0, 6.0, 8.0]);
        assert_eq!(m, 5.0);
        assert!((s - (20.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[3.0]), (3.0, 0.0));
    }

    #[test]
    fn grid_cells_are_the_cartesian_product() {
        let study: StudyFile = toml::from_str(
            r#"
            title = "t"
            config = "c.toml"
            seeds = [1]
            [[axis]]
            name = "act"
            key = "model.activation"
            values = ["relu", "tanh"]
            [[axis]]
            name = "opt"
            values = [{ label = "adam", set = ["train.optimizer=adam"] },
                      { label = "sgd", set = ["train.optimizer=sgd", "train.lr=0.01"] }]
            "#,
        )
        .unwrap();
        let cells = study.cells();
        let labels: Vec<&str> = cells.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["relu/adam", "relu/sgd", "tanh/adam", "tanh/sgd"]);
        assert_eq!(
            cells[3].set,
            [
                "model.activation=\"tanh\"",
                "train.optimizer=sgd",
                "train.lr=0.01"
            ]
        );
    }
}
