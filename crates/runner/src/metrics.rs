//! Per-epoch metrics (`metrics.csv`) and the run summary (`summary.json`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochMetrics {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weights change during the epoch, as in
    /// Keras' progress figures).
    pub train_loss: f64,
    /// Training accuracy over the epoch.
    pub train_accuracy: f64,
    /// Validation loss and accuracy after the epoch, when a validation split is used.
    pub valid: Option<(f64, f64)>,
    /// Test loss after the epoch.
    pub test_loss: f64,
    /// Test accuracy after the epoch.
    pub test_accuracy: f64,
    /// Wall-clock seconds of the epoch's training steps (evaluation excluded).
    pub seconds: f64,
}

/// The header of `metrics.csv`.
pub const HEADER: &str =
    "epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,test_loss,test_accuracy,seconds";

impl EpochMetrics {
    /// The CSV row. Floats are written in Rust's shortest round-trip form, so two runs' files
    /// compare equal exactly when their numbers are bit-identical (except `seconds`).
    pub fn to_csv(&self) -> String {
        let (vl, va) = match self.valid {
            Some((l, a)) => (l.to_string(), a.to_string()),
            None => (String::new(), String::new()),
        };
        format!(
            "{},{},{},{vl},{va},{},{},{:.3}",
            self.epoch,
            self.train_loss,
            self.train_accuracy,
            self.test_loss,
            self.test_accuracy,
            self.seconds
        )
    }

    /// Parses a row written by [`to_csv`](Self::to_csv).
    pub fn from_csv(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 8 {
            return None;
        }
        let num = |s: &str| s.parse::<f64>().ok();
        let valid = match (num(f[3]), num(f[4])) {
            (Some(l), Some(a)) => Some((l, a)),
            _ => None,
        };
        Some(Self {
            epoch: f[0].parse().ok()?,
            train_loss: num(f[1])?,
            train_accuracy: num(f[2])?,
            valid,
            test_loss: num(f[5])?,
            test_accuracy: num(f[6])?,
            seconds: num(f[7])?,
        })
    }
}

/// The whole `metrics.csv` text for `rows`.
pub fn csv(rows: &[EpochMetrics]) -> String {
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.to_csv());
        s.push('\n');
    }
    s
}

/// Reads `metrics.csv`.
pub fn read_csv(path: &Path) -> Result<Vec<EpochMetrics>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(Error::RunDir(format!(
            "{}: not an nnlab metrics file (unexpected header)",
            path.display()
        )));
    }
    lines
        .enumerate()
        .map(|(i, l)| {
            EpochMetrics::from_csv(l).ok_or_else(|| {
                Error::RunDir(format!(
                    "{}: line {} is malformed: {l:?}",
                    path.display(),
                    i + 2
                ))
            })
        })
        .collect()
}

/// `summary.json`: the run's result and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Config name.
    pub name: String,
    /// Dataset.
    pub dataset: String,
    /// Test loss after the last epoch (categorical cross-entropy).
    pub test_loss: f64,
    /// Test accuracy after the last epoch.
    pub test_accuracy: f64,
    /// Epochs trained.
    pub epochs: usize,
    /// Median of the epochs' training seconds.
    pub seconds_per_epoch: f64,
    /// Backend name (`flex`, `ndarray`, `wgpu`, `cuda`).
    pub backend: String,
    /// Seed.
    pub seed: u64,
    /// `git describe --always --dirty` of the working tree, or "unknown".
    pub git_rev: String,
    /// Trainable parameters.
    pub parameters: usize,
    /// Training examples per epoch.
    pub train_examples: usize,
    /// Peak resident memory of the process in MB (Linux `VmHWM`), if known.
    pub peak_rss_mb: Option<f64>,
    /// nnlab version.
    pub nnlab_version: String,
}

/// Median of `xs` (the mean of the middle two for an even count); 0 for none.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    0.5 * (v[(n - 1) / 2] + v[n / 2])
}

/// Peak resident set size of this process in MB, from `/proc/self/status` (Linux only).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// `git describe --always --dirty` in the current folder, or "unknown".
pub fn git_rev() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_round_trip_exactly() {
        let r = EpochMetrics {
            epoch: 3,
            train_loss: 0.1 + 0.2,
            train_accuracy: 0.9612345678901234,
            valid: None,
            test_loss: 1.0 / 3.0,
            test_accuracy: 0.9,
            seconds: 0.5,
        };
        assert_eq!(EpochMetrics::from_csv(&r.to_csv()), Some(r.clone()));
        let v = EpochMetrics {
            valid: Some((0.25, 0.75)),
            ..r
        };
        assert_eq!(EpochMetrics::from_csv(&v.to_csv()), Some(v));
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
