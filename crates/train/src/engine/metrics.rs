//! Per-epoch metrics (`metrics.csv`, named columns) and the run summary (`summary.json`).
//!
//! `metrics.csv` has the columns `epoch`, then `train_<m>` for each training metric of the task,
//! `valid_<m>` and `test_<m>` for each evaluation metric (validation cells stay empty without a
//! validation split), then `seconds`. Floats are written in Rust's shortest round-trip form, so
//! two runs' files compare equal exactly when their numbers are bit-identical (except `seconds`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// One value per column of the table (`None`: empty cell).
    pub values: Vec<Option<f64>>,
    /// Wall-clock seconds of the epoch's training steps (evaluation excluded).
    pub seconds: f64,
}

/// The columns and rows of `metrics.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsTable {
    /// The value columns, between `epoch` and `seconds`.
    pub columns: Vec<String>,
    /// The rows, one per finished epoch.
    pub rows: Vec<Row>,
}

impl MetricsTable {
    /// An empty table: `train_<m>` for `train`, `valid_<m>` and `test_<m>` for `eval`.
    pub fn new(train: &[String], eval: &[String]) -> Self {
        let mut columns: Vec<String> = train.iter().map(|m| format!("train_{m}")).collect();
        columns.extend(eval.iter().map(|m| format!("valid_{m}")));
        columns.extend(eval.iter().map(|m| format!("test_{m}")));
        Self {
            columns,
            rows: Vec::new(),
        }
    }

    /// The table with `columns`, when each of its own is among them: a run made before its task
    /// recorded a figure more (a GAN's `diversity_real`) resumes with that column empty in its
    /// earlier rows. `None` when it has a column `columns` lacks.
    pub fn widened_to(self, columns: &[String]) -> Option<Self> {
        let at: Vec<Option<usize>> = columns.iter().map(|c| self.column(c)).collect();
        if self.columns.iter().any(|c| !columns.contains(c)) {
            return None;
        }
        let rows = self
            .rows
            .into_iter()
            .map(|r| Row {
                values: at
                    .iter()
                    .map(|k| k.and_then(|k| r.values.get(k).copied().flatten()))
                    .collect(),
                ..r
            })
            .collect();
        Some(Self {
            columns: columns.to_vec(),
            rows,
        })
    }

    /// The header line.
    pub fn header(&self) -> String {
        format!("epoch,{},seconds", self.columns.join(","))
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The value of column `name` in `row`.
    pub fn get(&self, row: &Row, name: &str) -> Option<f64> {
        row.values.get(self.column(name)?).copied().flatten()
    }

    /// The whole file's text.
    pub fn to_csv(&self) -> String {
        let mut s = self.header();
        s.push('\n');
        for r in &self.rows {
            s.push_str(&r.epoch.to_string());
            for v in &r.values {
                s.push(',');
                if let Some(v) = v {
                    s.push_str(&v.to_string());
                }
            }
            s.push_str(&format!(",{:.3}\n", r.seconds));
        }
        s
    }

    /// Reads a `metrics.csv`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let bad = |why: String| Error::RunDir(format!("{}: {why}", path.display()));
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        if header.len() < 2 || header[0] != "epoch" || header.last() != Some(&"seconds") {
            return Err(bad(
                "not an nnlab metrics file (the header must run from `epoch` to `seconds`)".into(),
            ));
        }
        let columns: Vec<String> = header[1..header.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut rows = Vec::new();
        for (i, line) in lines.enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            let malformed = || bad(format!("line {} is malformed: {line:?}", i + 2));
            if f.len() != header.len() {
                return Err(malformed());
            }
            let mut values = Vec::with_capacity(columns.len());
            for cell in &f[1..f.len() - 1] {
                values.push(if cell.is_empty() {
                    None
                } else {
                    Some(cell.parse::<f64>().map_err(|_| malformed())?)
                });
            }
            rows.push(Row {
                epoch: f[0].parse().map_err(|_| malformed())?,
                values,
                seconds: f[f.len() - 1].parse().map_err(|_| malformed())?,
            });
        }
        Ok(Self { columns, rows })
    }

    /// The named values of `row` that are present, e.g. `test_accuracy -> 0.968`.
    pub fn named(&self, row: &Row) -> BTreeMap<String, f64> {
        self.columns
            .iter()
            .zip(&row.values)
            .filter_map(|(c, v)| v.map(|v| (c.clone(), v)))
            .collect()
    }
}

/// `summary.json`: the run's result and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Config name.
    pub name: String,
    /// Dataset.
    pub dataset: String,
    /// `model.kind` of the config.
    #[serde(default)]
    pub model: String,
    /// Epochs trained.
    pub epochs: usize,
    /// The epoch whose figures (and, with `restore_best`, weights) the run ends with, when early
    /// stopping chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended the run before `train.epochs`.
    #[serde(default)]
    pub stopped_early: bool,
    /// Median of the epochs' training seconds.
    pub seconds_per_epoch: f64,
    /// Backend name (`flex`, `ndarray`, `wgpu`, `cuda`).
    pub backend: String,
    /// Seed.
    pub seed: u64,
    /// The git revision the binary was built from (see `build.rs`).
    pub git_rev: String,
    /// Whether the binary's sources differed from that revision.
    #[serde(default)]
    pub git_dirty: bool,
    /// Trainable parameters.
    pub parameters: usize,
    /// Training examples per epoch.
    pub train_examples: usize,
    /// Peak resident memory of the training process in MB (Linux `VmHWM`), if known.
    pub peak_rss_mb: Option<f64>,
    /// nnlab version.
    pub nnlab_version: String,
    /// Seconds from the start of the process that finished the run to its first training step
    /// (start-up, data loading, building the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_seconds: Option<f64>,
    /// Of those, the seconds spent loading and checking the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_seconds: Option<f64>,
    /// Runs a study ran at the same time as this one (its seconds depend on them), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_runs: Option<usize>,
    /// The figures of the final (or best) epoch, by `metrics.csv` column: `test_accuracy`, ...
    #[serde(flatten)]
    pub metrics: BTreeMap<String, f64>,
}

impl Summary {
    /// A figure of the final epoch by column name, e.g. `test_accuracy`.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }

    /// `abc1234` or `abc1234-dirty`.
    pub fn revision(&self) -> String {
        if self.git_dirty {
            format!("{}-dirty", self.git_rev)
        } else {
            self.git_rev.clone()
        }
    }

    /// Reads a `summary.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::RunDir(format!("{}: not a run summary: {e}", path.display())))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_exactly() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut t = MetricsTable::new(&names(&["loss", "accuracy"]), &names(&["loss", "accuracy"]));
        assert_eq!(
            t.header(),
            "epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,test_loss,test_accuracy,seconds"
        );
        t.rows.push(Row {
            epoch: 1,
            values: vec![
                Some(0.1 + 0.2),
                Some(0.961_234_567_890_123_4),
                None,
                None,
                Some(1.0 / 3.0),
                Some(0.9),
            ],
            seconds: 0.5,
        });
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        std::fs::write(&p, t.to_csv()).unwrap();
        let back = MetricsTable::read(&p).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.get(&back.rows[0], "test_loss"), Some(1.0 / 3.0));
        // A task that records one figure more reads the older table with that column empty.
        let wider = MetricsTable::new(
            &names(&["loss", "accuracy"]),
            &names(&["loss", "accuracy", "extra"]),
        );
        let widened = back.clone().widened_to(&wider.columns).unwrap();
        assert_eq!(widened.get(&widened.rows[0], "test_loss"), Some(1.0 / 3.0));
        assert_eq!(widened.get(&widened.rows[0], "valid_extra"), None);
        assert_eq!(widened.rows[0].values.len(), wider.columns.len());
        // One with a column the task does not write is refused.
        assert!(widened.widened_to(&back.columns).is_none());
        assert_eq!(back.get(&back.rows[0], "valid_loss"), None);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
