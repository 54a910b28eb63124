//! The loop shared by every model family: epochs over the seeded data order, one task step per
//! batch, on-device accumulation of the step metrics, progress, Ctrl-C, divergence,
//! per-epoch evaluation, `metrics.csv`, checkpoints, early stopping and the summary.

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use nnlab_config::{EarlyStopping, RunConfig};
use nnlab_data::{ImageDataset, Split, shuffled};

use super::checkpoint::{self, CheckpointReader, PartialEpoch};
use super::metrics::{self, MetricsTable, Row, Summary};
use super::progress::EpochProgress;
use super::{StepContext, Sum, Task, interrupt, provenance};
use crate::error::{Error, Result};
use crate::run_dir::RunDir;
use crate::say;

/// What the loop runs on.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions<'a> {
    /// The run's config.
    pub config: &'a RunConfig,
    /// The dataset.
    pub data: &'a ImageDataset,
    /// Which examples train, validate and test.
    pub split: &'a Split,
    /// The run folder (locked by this process).
    pub run: &'a RunDir,
    /// The device of the compiled-in backend (without autodiff).
    pub device: &'a Device,
    /// The backend's name, as recorded in the summary.
    pub backend: &'a str,
    /// No progress bar and no per-epoch lines.
    pub quiet: bool,
    /// Seconds the process spent loading and checking the data, for the summary.
    pub data_seconds: Option<f64>,
}

/// A finished run: its folder and summary.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// What `summary.json` holds.
    pub summary: Summary,
    /// The evaluation metrics' names, for printing the final figures.
    pub eval_metrics: Vec<String>,
}

/// Early stopping's view of the finished epochs: the best epoch so far and whether to stop.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Patience {
    best: Option<(usize, f64)>,
    waited: usize,
}

impl Patience {
    /// Replays the rules over `rows` (so a resumed run continues with the same state).
    fn over(es: &EarlyStopping, table: &MetricsTable, rows: &[Row]) -> Self {
        let mut p = Self {
            best: None,
            waited: 0,
        };
        for r in rows {
            p.observe(es, r.epoch, table.get(r, &es.monitor));
        }
        p
    }

    /// Takes one epoch's monitored value; true when it is a new best.
    fn observe(&mut self, es: &EarlyStopping, epoch: usize, value: Option<f64>) -> bool {
        let Some(v) = value else { return false };
        match self.best {
            Some((_, b)) if !es.improves(v, b) => {
                self.waited += 1;
                false
            }
            _ => {
                self.best = Some((epoch, v));
                self.waited = 0;
                true
            }
        }
    }

    /// Keras' rule: stop once `patience` epochs in a row brought no improvement.
    fn exhausted(&self, es: &EarlyStopping) -> bool {
        self.waited >= es.patience.max(1)
    }
}

/// Trains `task` from `start` (a checkpoint to resume from, or `None` for a new run) to the end
/// of the config's epochs, or until early stopping ends it.
pub fn fit(task: &mut dyn Task, o: FitOptions, start: Option<CheckpointReader>) -> Result<Outcome> {
    interrupt::arm();
    let config = o.config;
    let t = &config.train;
    let run = o.run.path();
    let train_names = task.train_metrics();
    let eval_names = task.eval_metrics();
    let mut table = MetricsTable::new(&train_names, &eval_names);
    let metrics_path = run.join("metrics.csv");

    let (done, mut partial) = match &start {
        Some(r) => (r.state().epochs_done, r.state().partial.clone()),
        None => (0, None),
    };
    if metrics_path.exists() && start.is_some() {
        let saved = MetricsTable::read(&metrics_path)?;
        if saved.columns != table.columns {
            return Err(Error::RunDir(format!(
                "{} has the columns {:?}, but this task writes {:?}",
                metrics_path.display(),
                saved.columns,
                table.columns
            )));
        }
        if saved.rows.len() < done {
            return Err(Error::RunDir(format!(
                "{} has {} rows but the checkpoint is at epoch {done}",
                metrics_path.display(),
                saved.rows.len()
            )));
        }
        table.rows = saved.rows;
        table.rows.truncate(done);
    }
    if let Some(r) = &start {
        task.load(r)?;
    }
    if let Some(es) = &t.early_stopping
        && table.column(&es.monitor).is_none()
    {
        return Err(Error::Config(format!(
            "config: key `train.early_stopping.monitor` = {:?}: not a column of this run's metrics.csv (validation columns: {})",
            es.monitor,
            table
                .columns
                .iter()
                .filter(|c| c.starts_with("valid_"))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut patience = t
        .early_stopping
        .as_ref()
        .map(|es| Patience::over(es, &table, &table.rows));
    let stopped = |p: &Option<Patience>| match (&t.early_stopping, p) {
        (Some(es), Some(p)) => p.exhausted(es),
        _ => false,
    };

    let steps = o.split.train.len().div_ceil(t.batch_size);
    let n_metrics = train_names.len();
    let mut stopped_early = stopped(&patience);
    // A run that finished before has nothing to do; its summary stands.
    let summary_path = run.join("summary.json");
    if (done >= t.epochs || stopped_early) && summary_path.is_file() {
        return Ok(Outcome {
            run_dir: run.to_path_buf(),
            summary: Summary::read(&summary_path)?,
            eval_metrics: eval_names,
        });
    }
    let first = done + 1;
    let last = if stopped_early { done } else { t.epochs };
    // Seconds from the process start to here: the first training step follows at once.
    let startup = provenance::since_process_start();
    for epoch in first..=last {
        let order = shuffled(&o.split.train, config.seed, epoch - 1);
        let progress = EpochProgress::start(epoch, t.epochs, steps, o.quiet);
        let started = Instant::now();
        // A resumed epoch starts where it stopped, with the sums it had.
        let resumed = partial.take().filter(|p| p.epoch == epoch);
        let skip = resumed.as_ref().map_or(0, |p| p.step);
        let prior_seconds = resumed.as_ref().map_or(0.0, |p| p.seconds);
        let mut totals = resumed
            .as_ref()
            .map_or_else(|| vec![0.0f64; n_metrics], |p| p.totals.clone());
        let mut seen = resumed.as_ref().map_or(0, |p| p.seen);
        let mut window: Option<Vec<Sum>> =
            resumed.as_ref().and_then(|p| p.window.as_ref()).map(|w| {
                w.iter()
                    .map(|&v| {
                        Sum::Device(Tensor::from_data(TensorData::new(vec![v], [1]), o.device))
                    })
                    .collect()
            });
        let mut window_start = resumed.as_ref().map_or(1, |p| p.window_start);
        if totals.len() != n_metrics {
            return Err(Error::RunDir(format!(
                "{}: the interrupted epoch's state has {} sums, the task {}",
                run.display(),
                totals.len(),
                n_metrics
            )));
        }

        for (i, chunk) in order.chunks(t.batch_size).enumerate().skip(skip) {
            let step = i + 1;
            if interrupt::requested() {
                progress.abandon();
                let window = window
                    .take()
                    .map(|w| w.into_iter().map(Sum::read).collect());
                let state = PartialEpoch {
                    epoch,
                    step: i,
                    totals,
                    seen,
                    window,
                    window_start,
                    seconds: prior_seconds + started.elapsed().as_secs_f64(),
                };
                let name = checkpoint::save_partial(run, &state, |w| task.save(w))?;
                let hint = match std::env::var(crate::study::jobs::STUDY_ENV) {
                    Ok(study) => format!("Continue the study with: nnlab study {study}"),
                    Err(_) => format!("Resume with: nnlab train --resume {}", run.display()),
                };
                return Err(Error::Interrupted {
                    epoch,
                    step: i,
                    checkpoint: name,
                    hint,
                });
            }
            let ctx = StepContext {
                seed: config.seed,
                epoch,
                step,
                steps,
                lr: t.lr_at(epoch - 1, i, steps),
            };
            o.device.seed(ctx.step_seed());
            // The next batch's rows load while this step computes.
            if let Some(next) = order.chunks(t.batch_size).nth(step) {
                o.data.prefetch(next);
            }
            let out = task.step(o.data, chunk, &ctx);
            window = Some(match window.take() {
                Some(w) => w.into_iter().zip(out.sums).map(|(a, b)| a + b).collect(),
                None => out.sums,
            });
            seen += out.examples;

            if step % t.log_every == 0 || step == steps {
                let sums = window.take().expect("the window holds this step");
                for (k, s) in sums.into_iter().enumerate() {
                    let v = s.read() as f64;
                    if !v.is_finite() {
                        progress.abandon();
                        let which = if window_start == step {
                            format!("step {step}")
                        } else {
                            format!("between steps {window_start} and {step}")
                        };
                        return Err(Error::Diverged {
                            metric: train_names[k].clone(),
                            value: format!("{v}"),
                            epoch,
                            steps: which,
                            lr: ctx.lr,
                            kept: if epoch > 1 {
                                format!(
                                    "The last good checkpoint (epoch {}) is kept in {}",
                                    epoch - 1,
                                    run.display()
                                )
                            } else {
                                format!(
                                    "No epoch finished, so there is no checkpoint; the config is in {}",
                                    run.display()
                                )
                            },
                        });
                    }
                    totals[k] += v;
                }
                window_start = step + 1;
                let means: Vec<f64> = totals.iter().map(|v| v / seen as f64).collect();
                progress.update(step, &train_names, &means);
            }
        }
        o.device.sync().ok();
        let seconds = prior_seconds + started.elapsed().as_secs_f64();
        let mut values: Vec<Option<f64>> = totals.iter().map(|v| Some(v / seen as f64)).collect();
        if o.split.valid.is_empty() {
            values.extend(eval_names.iter().map(|_| None));
        } else {
            values.extend(task.evaluate(o.data, &o.split.valid).into_iter().map(Some));
        }
        values.extend(task.evaluate(o.data, &o.split.test).into_iter().map(Some));
        let row = Row {
            epoch,
            values,
            seconds,
        };
        let line = progress.finish(&table, &row);
        table.rows.push(row);
        o.run.write("metrics.csv", table.to_csv().as_bytes())?;
        checkpoint::save_epoch(run, epoch, |w| task.save(w))?;
        if let (Some(es), Some(p)) = (&t.early_stopping, patience.as_mut()) {
            let row = table.rows.last().expect("just pushed");
            if p.observe(es, epoch, table.get(row, &es.monitor)) {
                checkpoint::save_best(run, epoch, |w| task.save(w))?;
            }
        }
        if !o.quiet {
            say!("{line}");
        }
        task.epoch_end(o.data, epoch, run)?;
        if stopped(&patience) {
            stopped_early = true;
            if !o.quiet {
                let es = t
                    .early_stopping
                    .as_ref()
                    .expect("patience implies early stopping");
                let best = patience.and_then(|p| p.best).map_or(0, |b| b.0);
                say!(
                    "Early stopping: {} has not improved for {} epochs (best: epoch {best})",
                    es.monitor,
                    es.patience.max(1)
                );
            }
            break;
        }
    }
    // The figures the run ends with: the last epoch's, or the best one's with restore_best.
    let mut final_row = table.rows.last();
    let mut best_epoch = None;
    if let (Some(es), Some(p)) = (&t.early_stopping, &patience)
        && let Some((epoch, _)) = p.best
    {
        best_epoch = Some(epoch);
        if es.restore_best {
            final_row = table.rows.iter().find(|r| r.epoch == epoch);
            if let Some(best) = checkpoint::best(run)? {
                task.load(&best)?;
            }
        }
    }
    let final_row = final_row
        .ok_or_else(|| Error::RunDir(format!("{} has no finished epoch", run.display())))?;
    let finish = task.finish(o.data, o.split, run)?;
    draw_curves(run, &table, o.config.model.kind())?;
    let mut figures = table.named(final_row);
    figures.extend(finish.metrics);
    let summary = Summary {
        name: config.name.clone(),
        dataset: o.data.name.clone(),
        model: config.model.kind().to_string(),
        epochs: table.rows.len(),
        best_epoch,
        stopped_early,
        seconds_per_epoch: metrics::median(
            &table.rows.iter().map(|r| r.seconds).collect::<Vec<_>>(),
        ),
        backend: o.backend.to_string(),
        seed: config.seed,
        git_rev: provenance::GIT_REV.to_string(),
        git_dirty: provenance::git_dirty(),
        parameters: task.parameters(),
        train_examples: o.split.train.len(),
        peak_rss_mb: provenance::peak_rss_mb(),
        nnlab_version: env!("CARGO_PKG_VERSION").to_string(),
        startup_seconds: startup,
        data_seconds: o.data_seconds,
        concurrent_runs: std::env::var(crate::study::jobs::JOBS_ENV)
            .ok()
            .and_then(|j| j.parse().ok()),
        metrics: figures,
    };
    let json = serde_json::to_string_pretty(&summary).expect("a summary serialises to JSON");
    o.run.write("summary.json", json.as_bytes())?;
    Ok(Outcome {
        run_dir: run.to_path_buf(),
        summary,
        eval_metrics: eval_names,
    })
}

/// `pictures/curves-<m>.png` of a run: for each figure `m` of its metrics table (`train_<m>`,
/// `valid_<m>`, `test_<m>`), its training, validation and test values per epoch on one chart
/// (never two kinds of figures on one axis). Studies call it again on their finished runs, so
/// the committed pictures follow the chart style.
pub fn draw_curves(run: &std::path::Path, table: &MetricsTable, kind: &str) -> Result<()> {
    if !crate::plot::font_available() || table.rows.is_empty() {
        return Ok(());
    }
    let mut names: Vec<&str> = Vec::new();
    for split in ["train_", "test_"] {
        for m in table.columns.iter().filter_map(|c| c.strip_prefix(split)) {
            if !names.contains(&m) {
                names.push(m);
            }
        }
    }
    for m in names {
        let series: Vec<crate::plot::Series> = ["train", "valid", "test"]
            .iter()
            .filter_map(|split| {
                let col = format!("{split}_{m}");
                let points: Vec<(f64, f64)> = table
                    .rows
                    .iter()
                    .filter_map(|r| table.get(r, &col).map(|v| (r.epoch as f64, v)))
                    .map(|(e, v)| (e, crate::study::report::shown(&col, v)))
                    .collect();
                (!points.is_empty()).then(|| crate::plot::Series::plain(*split, points))
            })
            .collect();
        if series.is_empty() {
            continue;
        }
        let path = run.join("pictures").join(format!("curves-{m}.png"));
        let label = crate::study::charts::axis_label(m, kind);
        std::fs::create_dir_all(run.join("pictures")).map_err(|e| Error::io(run, e))?;
        crate::plot::line_chart(
            &path,
            &format!("{} per epoch", label.split(" (").next().unwrap_or(m)),
            "epoch",
            &label,
            None,
            &series,
            None,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(values: &[f64]) -> MetricsTable {
        let mut t = MetricsTable::new(&["loss".into()], &["loss".into()]);
        for (i, &v) in values.iter().enumerate() {
            t.rows.push(Row {
                epoch: i + 1,
                values: vec![Some(1.0), Some(v), Some(0.0)],
                seconds: 0.0,
            });
        }
        t
    }

    #[test]
    fn patience_counts_epochs_without_improvement() {
        let es = EarlyStopping {
            monitor: "valid_loss".into(),
            patience: 2,
            min_delta: 0.01,
            restore_best: true,
        };
        // Best at epoch 2 (0.5); 0.495 is not better by more than min_delta.
        let t = table(&[0.8, 0.5, 0.495]);
        let p = Patience::over(&es, &t, &t.rows);
        assert_eq!(p.best, Some((2, 0.5)));
        assert_eq!(p.waited, 1);
        assert!(!p.exhausted(&es));
        let t = table(&[0.8, 0.5, 0.495, 0.6]);
        let p = Patience::over(&es, &t, &t.rows);
        assert!(
            p.exhausted(&es),
            "two epochs without improvement, as Keras counts"
        );
        let t = table(&[0.8, 0.5, 0.495, 0.4]);
        assert_eq!(Patience::over(&es, &t, &t.rows).best, Some((4, 0.4)));
    }
}
