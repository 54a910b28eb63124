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
    /// Record every step's batch and loss in the run's `trace/` ([`super::trace`]).
    pub trace: bool,
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
    let t = &o.config.train;
    let run = o.run.path();
    let eval_names = task.eval_metrics();
    if start.is_none() {
        task.prepare(o.data, o.split, run, o.quiet)?;
    }
    let (mut table, done, mut partial) = restore(task, &o, start.as_ref())?;
    t.check_monitor(&table.columns)?;
    let mut patience = t
        .early_stopping
        .as_ref()
        .map(|es| Patience::over(es, &table, &table.rows));
    let stopped = |p: &Option<Patience>| match (&t.early_stopping, p) {
        (Some(es), Some(p)) => p.exhausted(es),
        _ => false,
    };
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
    let last = if stopped_early { done } else { t.epochs };
    // Seconds from the process start to here: the first training step follows at once.
    let startup = provenance::since_process_start();
    for epoch in done + 1..=last {
        // A resumed epoch starts where it stopped, with the sums it had.
        let resumed = partial.take().filter(|p| p.epoch == epoch);
        let (trained, progress) = run_epoch(task, &o, epoch, resumed)?;
        end_epoch(task, &o, &mut table, trained, progress, patience.as_mut())?;
        if stopped(&patience) {
            stopped_early = true;
            say_stopped(&o, patience.as_ref());
            break;
        }
    }
    let summary = summarise(task, &o, &table, patience.as_ref(), stopped_early, startup)?;
    let json = serde_json::to_string_pretty(&summary).expect("a summary serialises to JSON");
    o.run.write("summary.json", json.as_bytes())?;
    Ok(Outcome {
        run_dir: run.to_path_buf(),
        summary,
        eval_metrics: eval_names,
    })
}

/// The metrics table and the point to continue from: the rows of the epochs the checkpoint
/// `start` holds (checked against `metrics.csv`), its epochs done, its interrupted epoch's
/// state; the task's modules and optimizers loaded from it.
fn restore(
    task: &mut dyn Task,
    o: &FitOptions,
    start: Option<&CheckpointReader>,
) -> Result<(MetricsTable, usize, Option<PartialEpoch>)> {
    let mut table = MetricsTable::new(&task.train_metrics(), &task.eval_metrics());
    let Some(r) = start else {
        return Ok((table, 0, None));
    };
    let (done, partial) = (r.state().epochs_done, r.state().partial.clone());
    let metrics_path = o.run.path().join("metrics.csv");
    if metrics_path.exists() {
        let saved = MetricsTable::read(&metrics_path)?.widened_to(&table.columns);
        let Some(saved) = saved else {
            return Err(Error::RunDir(format!(
                "{} has columns this task does not write (it writes {:?})",
                metrics_path.display(),
                table.columns
            )));
        };
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
    task.load(r)?;
    Ok((table, done, partial))
}

/// The training sums of an epoch in progress: the totals read back so far and the window of
/// steps not yet read (left on the device until `train.log_every` steps have passed).
struct EpochSums {
    totals: Vec<f64>,
    seen: usize,
    window: Option<Vec<Sum>>,
    window_start: usize,
}

impl EpochSums {
    /// Fresh sums for `n` metrics, or those of an interrupted epoch.
    fn start(n: usize, resumed: Option<&PartialEpoch>, device: &Device) -> Self {
        let Some(p) = resumed else {
            return Self {
                totals: vec![0.0; n],
                seen: 0,
                window: None,
                window_start: 1,
            };
        };
        let window = p.window.as_ref().map(|w| {
            w.iter()
                .map(|&v| Sum::Device(Tensor::from_data(TensorData::new(vec![v], [1]), device)))
                .collect()
        });
        Self {
            totals: p.totals.clone(),
            seen: p.seen,
            window,
            window_start: p.window_start,
        }
    }

    /// The per-example means of the sums read back so far.
    fn means(&self) -> Vec<f64> {
        self.totals.iter().map(|v| v / self.seen as f64).collect()
    }
}

/// An epoch's training done: its per-example means and its seconds.
struct Trained {
    epoch: usize,
    means: Vec<f64>,
    seconds: f64,
}

/// Trains one epoch, `resumed` where an interrupted one stopped; on Ctrl-C saves the epoch's
/// state and returns [`Error::Interrupted`], on a non-finite figure [`Error::Diverged`].
fn run_epoch(
    task: &mut dyn Task,
    o: &FitOptions,
    epoch: usize,
    resumed: Option<PartialEpoch>,
) -> Result<(Trained, EpochProgress)> {
    let t = &o.config.train;
    let train_names = task.train_metrics();
    let steps = o.split.train.len().div_ceil(t.batch_size);
    let order = shuffled(&o.split.train, o.config.seed, epoch - 1);
    let progress = EpochProgress::start(epoch, t.epochs, steps, o.quiet);
    let started = Instant::now();
    let skip = resumed.as_ref().map_or(0, |p| p.step);
    let prior_seconds = resumed.as_ref().map_or(0.0, |p| p.seconds);
    let mut sums = EpochSums::start(train_names.len(), resumed.as_ref(), o.device);
    let mut trace = match o.trace {
        true => Some(super::trace::Trace::open(o.run.path(), &train_names[0])?),
        false => None,
    };
    if sums.totals.len() != train_names.len() {
        return Err(Error::RunDir(format!(
            "{}: the interrupted epoch's state has {} sums, the task {}",
            o.run.path().display(),
            sums.totals.len(),
            train_names.len()
        )));
    }
    for (i, chunk) in order.chunks(t.batch_size).enumerate().skip(skip) {
        let step = i + 1;
        if interrupt::requested() {
            progress.abandon();
            let clock = (started, prior_seconds);
            return Err(save_interrupted(task, o, epoch, i, sums, clock));
        }
        let ctx = StepContext {
            seed: o.config.seed,
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
        let mut out = task.step(o.data, chunk, &ctx);
        if let Some(trace) = trace.as_mut() {
            // This step's first figure alone, read back (the window takes the same value).
            let first = std::mem::replace(&mut out.sums[0], Sum::Host(0.0)).read_f64();
            out.sums[0] = Sum::Host(first as f32);
            let mean = first / out.examples.max(1) as f64;
            trace.record(epoch, step, chunk, mean)?;
            if let Some(noise) = task.step_noise(&ctx, chunk.len()) {
                trace.noise(&noise)?;
            }
        }
        sums.window = Some(match sums.window.take() {
            Some(w) => w.into_iter().zip(out.sums).map(|(a, b)| a + b).collect(),
            None => out.sums,
        });
        sums.seen += out.examples;
        if step % t.log_every == 0 || step == steps {
            if let Err(e) = read_window(&mut sums, &train_names, epoch, step, &ctx, o) {
                progress.abandon();
                return Err(e);
            }
            progress.update(step, &train_names, &sums.means());
        }
    }
    o.device.sync().ok();
    if let Some(trace) = trace.as_mut() {
        trace.flush()?;
    }
    let trained = Trained {
        epoch,
        means: sums.means(),
        seconds: prior_seconds + started.elapsed().as_secs_f64(),
    };
    Ok((trained, progress))
}

/// Reads the window's sums back into the totals; a figure that is not finite stops the run.
fn read_window(
    sums: &mut EpochSums,
    train_names: &[String],
    epoch: usize,
    step: usize,
    ctx: &StepContext,
    o: &FitOptions,
) -> Result<()> {
    let window = sums.window.take().expect("the window holds this step");
    for (k, s) in window.into_iter().enumerate() {
        let v = s.read() as f64;
        if !v.is_finite() {
            let which = if sums.window_start == step {
                format!("step {step}")
            } else {
                format!("between steps {} and {step}", sums.window_start)
            };
            let run = o.run.path().display();
            return Err(Error::Diverged {
                metric: train_names[k].clone(),
                value: format!("{v}"),
                epoch,
                steps: which,
                lr: ctx.lr,
                kept: if epoch > 1 {
                    format!(
                        "The last good checkpoint (epoch {}) is kept in {run}",
                        epoch - 1
                    )
                } else {
                    format!("No epoch finished, so there is no checkpoint; the config is in {run}")
                },
            });
        }
        sums.totals[k] += v;
    }
    sums.window_start = step + 1;
    Ok(())
}

/// Saves the interrupted epoch (after `step` steps; the epoch's clock: its start and the
/// seconds before a resume) as a checkpoint and says how to go on.
fn save_interrupted(
    task: &mut dyn Task,
    o: &FitOptions,
    epoch: usize,
    step: usize,
    sums: EpochSums,
    (started, prior_seconds): (Instant, f64),
) -> Error {
    let run = o.run.path();
    // The window is read back first: its wait for the device counts in the epoch's time.
    let window = sums.window.map(|w| w.into_iter().map(Sum::read).collect());
    let state = PartialEpoch {
        epoch,
        step,
        totals: sums.totals,
        seen: sums.seen,
        window,
        window_start: sums.window_start,
        seconds: prior_seconds + started.elapsed().as_secs_f64(),
    };
    let name = match checkpoint::save_partial(run, &state, |w| task.save(w)) {
        Ok(name) => name,
        Err(e) => return e,
    };
    let hint = match std::env::var(super::STUDY_ENV) {
        Ok(study) => format!("Continue the study with: nnlab study {study}"),
        Err(_) => format!("Resume with: nnlab train --resume {}", run.display()),
    };
    Error::Interrupted {
        epoch,
        step,
        checkpoint: name,
        hint,
    }
}

/// Ends an epoch: evaluates, writes `metrics.csv` and the checkpoint, updates early stopping
/// (saving the best epoch), prints the epoch's line and lets the task draw.
fn end_epoch(
    task: &mut dyn Task,
    o: &FitOptions,
    table: &mut MetricsTable,
    trained: Trained,
    progress: EpochProgress,
    patience: Option<&mut Patience>,
) -> Result<()> {
    let run = o.run.path();
    let epoch = trained.epoch;
    let mut values: Vec<Option<f64>> = trained.means.into_iter().map(Some).collect();
    if o.split.valid.is_empty() {
        values.extend(task.eval_metrics().iter().map(|_| None));
    } else {
        values.extend(task.evaluate(o.data, &o.split.valid).into_iter().map(Some));
    }
    values.extend(task.evaluate(o.data, &o.split.test).into_iter().map(Some));
    let row = Row {
        epoch,
        values,
        seconds: trained.seconds,
    };
    let line = progress.finish(table, &row);
    table.rows.push(row);
    o.run.write("metrics.csv", table.to_csv().as_bytes())?;
    checkpoint::save_epoch(run, epoch, |w| task.save(w))?;
    if let (Some(es), Some(p)) = (&o.config.train.early_stopping, patience) {
        let row = table.rows.last().expect("just pushed");
        if p.observe(es, epoch, table.get(row, &es.monitor)) {
            checkpoint::save_best(run, epoch, |w| task.save(w))?;
        }
    }
    if !o.quiet {
        say!("{line}");
    }
    task.epoch_end(o.data, epoch, run)?;
    Ok(())
}

/// Says why early stopping ended the run.
fn say_stopped(o: &FitOptions, patience: Option<&Patience>) {
    let Some(es) = o.config.train.early_stopping.as_ref() else {
        return;
    };
    if !o.quiet {
        let best = patience.and_then(|p| p.best).map_or(0, |b| b.0);
        say!(
            "Early stopping: {} has not improved for {} epochs (best: epoch {best})",
            es.monitor,
            es.patience.max(1)
        );
    }
}

/// The run's summary: the last epoch's figures, or the best one's (its weights restored) with
/// `restore_best`; the task's final figures and pictures; the curves; provenance.
fn summarise(
    task: &mut dyn Task,
    o: &FitOptions,
    table: &MetricsTable,
    patience: Option<&Patience>,
    stopped_early: bool,
    startup: Option<f64>,
) -> Result<Summary> {
    let run = o.run.path();
    let config = o.config;
    let mut final_row = table.rows.last();
    let mut best_epoch = None;
    if let (Some(es), Some(p)) = (&config.train.early_stopping, patience)
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
    let mut figures = table.named(final_row);
    figures.extend(finish.metrics);
    Ok(Summary {
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
        concurrent_runs: std::env::var(super::JOBS_ENV)
            .ok()
            .and_then(|j| j.parse().ok()),
        metrics: figures,
    })
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
