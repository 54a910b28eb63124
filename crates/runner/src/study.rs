//! Studies: a folder `experiments/<name>/` with `study.toml` naming a config, seeds, overrides
//! and the published number it reproduces. `nnlab study <dir>` runs every seed (skipping runs
//! already finished, so an interrupted study resumes) and regenerates `results.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::classifier::{self, TrainOptions};
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::metrics::{self, Summary};

/// `study.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    /// One line saying what the study reproduces.
    pub title: String,
    /// The config, relative to the study folder.
    pub config: PathBuf,
    /// Seeds; one run each.
    pub seeds: Vec<u64>,
    /// Overrides applied to every run (`key=value`).
    #[serde(default)]
    pub set: Vec<String>,
    /// The number being reproduced.
    pub reference: Reference,
}

/// The published or peer figure a study is compared with.
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

/// Options of a study run.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// Extra overrides from the command line (after the study's own).
    pub set: Vec<String>,
    /// Where the runs go; default `<study>/runs`.
    pub runs: Option<PathBuf>,
    /// Where the table goes; default `<study>/results.md`.
    pub results: Option<PathBuf>,
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

/// Runs (or resumes) a study and writes its results table. Returns the table's path.
pub fn run(dir: &Path, opts: &StudyOptions) -> Result<PathBuf> {
    let file = dir.join("study.toml");
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Error::Study(format!("{}: cannot read: {e}", file.display())))?;
    let study: StudyFile = toml::from_str(&text).map_err(|e| {
        let msg = e.to_string();
        Error::Study(format!(
            "{}: {}",
            file.display(),
            msg.split_whitespace().collect::<Vec<_>>().join(" ")
        ))
    })?;
    if study.seeds.is_empty() {
        return Err(Error::Study(format!(
            "{}: `seeds` is empty",
            file.display()
        )));
    }
    let config_path = dir.join(&study.config);
    let mut overrides = study.set.clone();
    overrides.extend(opts.set.iter().cloned());
    let runs = opts.runs.clone().unwrap_or_else(|| dir.join("runs"));
    let mut summaries = Vec::new();
    for &seed in &study.seeds {
        let mut o = overrides.clone();
        o.push(format!("seed={seed}"));
        let config = RunConfig::load(&config_path, &o)?;
        let out = runs.join(format!("seed-{seed}"));
        let summary_path = out.join("summary.json");
        let summary = if summary_path.exists() {
            let saved = RunConfig::load(&out.join("config.toml"), &[])?;
            if saved != config {
                return Err(Error::Study(format!(
                    "{} was run with another config than {} now gives; remove it or pass --runs DIR",
                    out.display(),
                    config_path.display()
                )));
            }
            println!("seed {seed}: done already ({})", out.display());
            read_summary(&summary_path)?
        } else if out.join("config.toml").exists() {
            println!("seed {seed}: resuming {}", out.display());
            classifier::resume(&out, &opts.train)?.summary
        } else {
            println!("seed {seed}: training into {}", out.display());
            let t = TrainOptions {
                out: Some(out.clone()),
                ..opts.train.clone()
            };
            classifier::train(&config, &t)?.summary
        };
        println!(
            "seed {seed}: test accuracy {:.4}, loss {:.4}, {:.2} s/epoch",
            summary.test_accuracy, summary.test_loss, summary.seconds_per_epoch
        );
        summaries.push(summary);
    }
    let table = results_table(&study, &study.config, &overrides, &summaries);
    let results = opts
        .results
        .clone()
        .unwrap_or_else(|| dir.join("results.md"));
    crate::run_dir::write_atomic(&results, table.as_bytes())?;
    Ok(results)
}

fn read_summary(path: &Path) -> Result<Summary> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Study(format!("{}: not a run summary: {e}", path.display())))
}

/// The markdown table of a study.
pub fn results_table(
    study: &StudyFile,
    config: &Path,
    overrides: &[String],
    runs: &[Summary],
) -> String {
    let accs: Vec<f64> = runs.iter().map(|s| s.test_accuracy).collect();
    let losses: Vec<f64> = runs.iter().map(|s| s.test_loss).collect();
    let secs: Vec<f64> = runs.iter().map(|s| s.seconds_per_epoch).collect();
    let (acc, acc_sd) = mean_std(&accs);
    let (loss, loss_sd) = mean_std(&losses);
    let r = &study.reference;
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", study.title);
    let _ = writeln!(
        s,
        "Generated by `nnlab study` from `study.toml`; do not edit by hand.\n"
    );
    let _ = writeln!(
        s,
        "- config: `{}` (relative to the study folder)",
        config.display()
    );
    if !overrides.is_empty() {
        let _ = writeln!(s, "- overrides: `{}`", overrides.join("`, `"));
    }
    if let Some(first) = runs.first() {
        let _ = writeln!(
            s,
            "- backend: {}, nnlab {}, git {}",
            first.backend, first.nnlab_version, first.git_rev
        );
        let _ = writeln!(
            s,
            "- {} epochs on {} training examples of `{}`",
            first.epochs, first.train_examples, first.dataset
        );
    }
    let _ = writeln!(s, "\n## Result\n");
    let _ = writeln!(s, "| | test accuracy | test loss | s/epoch (median) |");
    let _ = writeln!(s, "|---|---|---|---|");
    let _ = writeln!(
        s,
        "| nnlab, {} seeds | {:.2} +- {:.2} % | {:.4} +- {:.4} | {:.2} |",
        runs.len(),
        100.0 * acc,
        100.0 * acc_sd,
        loss,
        loss_sd,
        metrics::median(&secs)
    );
    let sd = r
        .test_accuracy_std
        .map_or(String::new(), |v| format!(" +- {:.2}", 100.0 * v));
    let ref_secs = r
        .seconds_per_epoch
        .map_or("-".to_string(), |v| format!("{v:.2}"));
    let _ = writeln!(
        s,
        "| reference: {} | {:.2}{sd} % | - | {ref_secs} |",
        r.source,
        100.0 * r.test_accuracy
    );
    let verdict = if acc >= r.target_accuracy {
        "meets"
    } else {
        "MISSES"
    };
    let _ = writeln!(
        s,
        "\nMean test accuracy {:.2} % {verdict} the target of {:.2} %.",
        100.0 * acc,
        100.0 * r.target_accuracy
    );
    let _ = writeln!(s, "\n## Runs\n");
    let _ = writeln!(
        s,
        "| seed | test accuracy | test loss | s/epoch | peak RSS (MB) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|");
    for run in runs {
        let rss = run
            .peak_rss_mb
            .map_or("-".to_string(), |v| format!("{v:.0}"));
        let _ = writeln!(
            s,
            "| {} | {:.4} | {:.4} | {:.2} | {rss} |",
            run.seed, run.test_accuracy, run.test_loss, run.seconds_per_epoch
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
}
