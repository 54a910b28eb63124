//! Keras-like progress: a bar over each epoch's batches with the running figures (on a terminal
//! only), then one line per epoch with its figures.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::metrics::{MetricsTable, Row};

/// Progress of one epoch.
#[derive(Debug)]
pub struct EpochProgress {
    bar: ProgressBar,
    epoch: usize,
    epochs: usize,
    steps: usize,
}

impl EpochProgress {
    /// Starts the bar of `epoch` (1-based) of `epochs`, over `steps` batches. The bar draws on
    /// stderr when it is a terminal and is hidden otherwise (logs stay clean).
    pub fn start(epoch: usize, epochs: usize, steps: usize, quiet: bool) -> Self {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(steps as u64), target);
        bar.set_style(
            ProgressStyle::with_template(
                "Epoch {prefix} {wide_bar} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
            )
            .expect("the progress template is valid"),
        );
        bar.set_prefix(format!("{epoch}/{epochs}"));
        Self {
            bar,
            epoch,
            epochs,
            steps,
        }
    }

    /// Moves the bar to `step` with the running means of the training metrics.
    pub fn update(&self, step: usize, names: &[String], means: &[f64]) {
        self.bar.set_position(step as u64);
        let parts: Vec<String> = names
            .iter()
            .zip(means)
            .map(|(n, v)| format!("{n}: {v:.4}"))
            .collect();
        self.bar.set_message(parts.join(" - "));
    }

    /// Clears the bar and returns the epoch's line: `Epoch 3/10: 1875 steps, 0.25s (0.13 ms/step)
    /// - loss: ... - val_loss: ... - test_loss: ...` (Keras' names for the figures).
    pub fn finish(self, table: &MetricsTable, row: &Row) -> String {
        self.bar.finish_and_clear();
        let ms = 1000.0 * row.seconds / self.steps.max(1) as f64;
        let mut line = format!(
            "Epoch {}/{}: {} steps, {:.2}s ({ms:.2} ms/step)",
            self.epoch, self.epochs, self.steps, row.seconds
        );
        for (column, value) in table.columns.iter().zip(&row.values) {
            let Some(v) = value else { continue };
            let name = match column.split_once('_') {
                Some(("train", m)) => m.to_string(),
                Some(("valid", m)) => format!("val_{m}"),
                _ => column.clone(),
            };
            line.push_str(&format!(" - {name}: {v:.4}"));
        }
        line
    }

    /// Clears the bar without a line (interrupted or diverged epochs).
    pub fn abandon(self) {
        self.bar.finish_and_clear();
    }
}
