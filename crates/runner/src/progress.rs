//! Keras-like progress: a bar over each epoch's batches with the running loss and accuracy
//! (on a terminal only), then one line per epoch with its figures.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::metrics::EpochMetrics;

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

    /// Moves the bar to `step` with the running loss and accuracy.
    pub fn update(&self, step: usize, loss: f64, accuracy: f64) {
        self.bar.set_position(step as u64);
        self.bar
            .set_message(format!("loss: {loss:.4} - accuracy: {accuracy:.4}"));
    }

    /// Clears the bar and prints the epoch's line.
    pub fn finish(self, m: &EpochMetrics) -> String {
        self.bar.finish_and_clear();
        let ms = 1000.0 * m.seconds / self.steps.max(1) as f64;
        let mut line = format!(
            "Epoch {}/{}: {} steps, {:.2}s ({ms:.2} ms/step) - loss: {:.4} - accuracy: {:.4}",
            self.epoch, self.epochs, self.steps, m.seconds, m.train_loss, m.train_accuracy
        );
        if let Some((l, a)) = m.valid {
            line.push_str(&format!(" - val_loss: {l:.4} - val_accuracy: {a:.4}"));
        }
        line.push_str(&format!(
            " - test_loss: {:.4} - test_accuracy: {:.4}",
            m.test_loss, m.test_accuracy
        ));
        line
    }

    /// Clears the bar without a line (interrupted or diverged epochs).
    pub fn abandon(self) {
        self.bar.finish_and_clear();
    }
}
