//! The study's `results.md`: where its numbers come from (config, seeds, overrides, every
//! revision and backend among the runs), the table per cell against the published numbers, a
//! ranking that only compares like with like, the charts, and every run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::file::{StudyFile, higher_is_better, in_percent};
use super::grid::{Cell, first_axis_groups};
use super::jobs::Finished;
use crate::engine::metrics;

/// Column names in words for table headers: `test_accuracy | test_loss` -> `test accuracy |
/// test loss`.
fn words(names: &[String]) -> String {
    names
        .iter()
        .map(|n| n.replace('_', " "))
        .collect::<Vec<_>>()
        .join(" | ")
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

/// A figure as shown: accuracies in percent, the rest as they are.
pub fn shown(metric: &str, v: f64) -> f64 {
    if in_percent(metric) { 100.0 * v } else { v }
}

fn fmt_mean_std(metric: &str, (m, s): (f64, f64)) -> String {
    if in_percent(metric) {
        format!("{:.2} +- {:.2} %", 100.0 * m, 100.0 * s)
    } else {
        format!("{m:.4} +- {s:.4}")
    }
}

fn fmt_value(metric: &str, v: f64) -> String {
    if in_percent(metric) {
        format!("{:.2} %", 100.0 * v)
    } else {
        format!("{v:.4}")
    }
}

/// The runs of cell `cell`.
pub fn runs_of(done: &[Finished], cell: usize) -> Vec<&Finished> {
    done.iter().filter(|f| f.cell == cell).collect()
}

/// Mean and std over the cell's runs of a summary figure.
pub fn cell_stat(done: &[Finished], cell: usize, metric: &str) -> Option<(f64, f64)> {
    let xs: Vec<f64> = runs_of(done, cell)
        .iter()
        .filter_map(|f| f.summary.metric(metric))
        .collect();
    (!xs.is_empty()).then(|| mean_std(&xs))
}

/// A cell's figure as the table shows it: mean +- std over its seeds, the value alone for one.
fn fmt_cell(done: &[Finished], cell: usize, metric: &str) -> String {
    match cell_stat(done, cell, metric) {
        None => "-".into(),
        Some((m, _)) if runs_of(done, cell).len() == 1 => fmt_value(metric, m),
        Some(st) => fmt_mean_std(metric, st),
    }
}

fn cell_secs(done: &[Finished], cell: usize) -> f64 {
    let s: Vec<f64> = runs_of(done, cell)
        .iter()
        .map(|f| f.summary.seconds_per_epoch)
        .collect();
    metrics::median(&s)
}

/// The provenance lines: every distinct revision and backend among the runs, with counts.
fn provenance(done: &[Finished]) -> Vec<String> {
    let mut revs: BTreeMap<String, usize> = BTreeMap::new();
    let mut backends: BTreeMap<String, usize> = BTreeMap::new();
    let mut versions: BTreeMap<String, usize> = BTreeMap::new();
    for f in done {
        *revs.entry(f.summary.revision()).or_default() += 1;
        *backends.entry(f.summary.backend.clone()).or_default() += 1;
        *versions.entry(f.summary.nnlab_version.clone()).or_default() += 1;
    }
    let list = |m: &BTreeMap<String, usize>| {
        if m.len() == 1 {
            m.keys().next().cloned().unwrap_or_default()
        } else {
            m.iter()
                .map(|(k, n)| format!("{k} ({n} runs)"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut lines = vec![format!(
        "- made by nnlab {} at git revision {} on the {} backend ({} runs)",
        list(&versions),
        list(&revs),
        list(&backends),
        done.len()
    )];
    if revs.len() > 1 || backends.len() > 1 {
        lines.push(format!(
            "- **the runs differ in {}**: compare rows with care",
            match (revs.len() > 1, backends.len() > 1) {
                (true, true) => "revision and backend",
                (true, false) => "revision",
                _ => "backend",
            }
        ));
    }
    if revs.keys().any(|r| r.ends_with("-dirty")) {
        lines.push(
            "- `-dirty`: the binary was built from sources that differed from that commit".into(),
        );
    }
    lines
}

/// How a study was invoked beyond its file.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// `--set` overrides given to `nnlab study`.
    pub set: Vec<String>,
}

/// The markdown results of a study.
pub fn results_table(
    study: &StudyFile,
    cells: &[Cell],
    done: &[Finished],
    charts: &Result<Vec<String>, String>,
    how: &Invocation,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", study.title);
    for line in super::anchors::table(study, cells, done) {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(
        s,
        "\nGenerated by `nnlab study` from `study.toml` and the run records in `runs/`; do not edit by hand.\n"
    );
    let _ = writeln!(
        s,
        "- config: `{}` (relative to the study folder)",
        study.config.display()
    );
    for cell in cells.iter().filter(|c| c.config.is_some()) {
        let _ = writeln!(
            s,
            "- cell `{}`: config `{}`",
            cell.label,
            cell.config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    if !study.set.is_empty() {
        let _ = writeln!(s, "- overrides for every run: `{}`", study.set.join("`, `"));
    }
    if !how.set.is_empty() {
        let _ = writeln!(
            s,
            "- **command-line overrides** (not part of the study as defined): `{}`",
            how.set.join("`, `")
        );
    }
    let _ = writeln!(s, "- seeds: {:?}", study.seeds);
    if let Some(first) = done.first() {
        let f = &first.summary;
        if done.iter().all(|d| d.summary.epochs == f.epochs) {
            let _ = writeln!(
                s,
                "- {} epochs on {} training examples of `{}`",
                f.epochs, f.train_examples, f.dataset
            );
        } else {
            // Cells train for different numbers of epochs (e.g. PCA's single pass).
            let mut per_cell: Vec<String> = Vec::new();
            for d in done {
                let item = format!("{} {}", cells[d.cell].label, d.summary.epochs);
                if !per_cell.contains(&item) {
                    per_cell.push(item);
                }
            }
            let _ = writeln!(
                s,
                "- {} training examples of `{}`; epochs per cell: {}",
                f.train_examples,
                f.dataset,
                per_cell.join(", ")
            );
        }
    }
    for line in provenance(done) {
        let _ = writeln!(s, "{line}");
    }
    let shared = done
        .iter()
        .filter_map(|f| f.summary.concurrent_runs)
        .max()
        .unwrap_or(1);
    if shared > 1 {
        let _ = writeln!(
            s,
            "- up to {shared} runs at a time: seconds per epoch are those of runs sharing the machine"
        );
    }
    if let Some(notes) = &study.notes {
        let _ = writeln!(s, "\n{}", notes.trim());
    }
    let _ = writeln!(s, "\n## Result\n");
    if cells.len() == 1 {
        single_cell(&mut s, study, done);
    } else {
        grid(&mut s, study, cells, done);
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
    runs(&mut s, study, cells, done);
    s
}

fn single_cell(s: &mut String, study: &StudyFile, done: &[Finished]) {
    let n = runs_of(done, 0).len();
    if n == 0 {
        return;
    }
    let names = &study.metrics;
    let _ = writeln!(s, "| | {} | s/epoch (median) |", words(names));
    let _ = writeln!(s, "|---|{}---|", "---|".repeat(names.len()));
    let cells: Vec<String> = names.iter().map(|m| fmt_cell(done, 0, m)).collect();
    let _ = writeln!(
        s,
        "| nnlab, {n} {} | {} | {:.2} |",
        if n == 1 { "seed" } else { "seeds" },
        cells.join(" | "),
        cell_secs(done, 0)
    );
    let Some(r) = &study.reference else { return };
    let reference: Vec<String> = names
        .iter()
        .map(|m| {
            if *m != r.metric {
                return "-".into();
            }
            match r.std {
                Some(sd) if in_percent(m) => {
                    format!("{:.2} +- {:.2} %", 100.0 * r.value, 100.0 * sd)
                }
                Some(sd) => format!("{:.4} +- {sd:.4}", r.value),
                None => fmt_value(m, r.value),
            }
        })
        .collect();
    let secs = r
        .seconds_per_epoch
        .map_or("-".to_string(), |v| format!("{v:.2}"));
    let _ = writeln!(
        s,
        "| reference: {} | {} | {secs} |",
        r.source,
        reference.join(" | ")
    );
    if let Some((mean, _)) = cell_stat(done, 0, &r.metric) {
        let higher = higher_is_better(&r.metric);
        let meets = if higher {
            mean >= r.target
        } else {
            mean <= r.target
        };
        let _ = writeln!(
            s,
            "\nMean {} {} {} the target of {} ({} is better).",
            r.metric.replace('_', " "),
            fmt_value(&r.metric, mean),
            if meets { "meets" } else { "MISSES" },
            fmt_value(&r.metric, r.target),
            if higher { "higher" } else { "lower" }
        );
    }
}

fn grid(s: &mut String, study: &StudyFile, cells: &[Cell], done: &[Finished]) {
    let axes: Vec<&str> = study.axis.iter().map(|a| a.name.as_str()).collect();
    let metrics_cols = &study.metrics;
    // The last epoch's training loss, unless the study tabulates it already.
    let has_train_loss = !metrics_cols.iter().any(|m| m == "train_loss")
        && done
            .iter()
            .any(|f| f.summary.metric("train_loss").is_some());
    let references = !study.expect.is_empty();
    let unit = if study.expect.first().is_some_and(|e| in_percent(&e.metric)) {
        " pp"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "| {} | {}{} | s/epoch |{}",
        axes.join(" | "),
        words(metrics_cols),
        if has_train_loss {
            " | train loss (last epoch)"
        } else {
            ""
        },
        if references {
            format!(
                " reference | difference | within {}{unit} |",
                study.tolerance
            )
        } else {
            String::new()
        }
    );
    let cols = axes.len()
        + metrics_cols.len()
        + usize::from(has_train_loss)
        + 1
        + 3 * usize::from(references);
    let _ = writeln!(s, "|{}", "---|".repeat(cols));
    let mut misses = Vec::new();
    for (c, cell) in cells.iter().enumerate() {
        if runs_of(done, c).is_empty() {
            continue;
        }
        let parts = cell.label.replace('/', " | ");
        let figures: Vec<String> = metrics_cols.iter().map(|m| fmt_cell(done, c, m)).collect();
        let train = if has_train_loss {
            cell_stat(done, c, "train_loss").map_or(" | -".into(), |st| format!(" | {:.4}", st.0))
        } else {
            String::new()
        };
        let reference = if !references {
            String::new()
        } else {
            let (r, d, ok) = match study.expect.iter().find(|e| e.cell == cell.label) {
                Some(e) => match cell_stat(done, c, &e.metric) {
                    Some((mean, _)) => {
                        let d = shown(&e.metric, mean) - shown(&e.metric, e.value);
                        let within = d.abs() <= study.tolerance;
                        if !within {
                            let side = if d > 0.0 { "above" } else { "below" };
                            misses.push(format!("{} ({d:+.2}{unit}, {side})", cell.label));
                        }
                        (
                            format!("{} ({})", fmt_value(&e.metric, e.value), e.source),
                            format!("{d:+.2}{unit}"),
                            if within { "yes" } else { "**no**" }.to_string(),
                        )
                    }
                    None => ("-".into(), "-".into(), "-".into()),
                },
                None => ("-".into(), "-".into(), "-".into()),
            };
            format!(" {r} | {d} | {ok} |")
        };
        let _ = writeln!(
            s,
            "| {parts} | {}{train} | {:.2} |{reference}",
            figures.join(" | "),
            cell_secs(done, c)
        );
    }
    ranking(s, study, cells, done);
    if references {
        if misses.is_empty() {
            let _ = writeln!(
                s,
                "\nEvery cell with a reference is within {}{unit} of it.",
                study.tolerance
            );
        } else {
            let _ = writeln!(
                s,
                "\nOutside the {}{unit} band: {}.",
                study.tolerance,
                misses.join(", ")
            );
        }
    }
}

/// Ranks cells by `study.rank_by` within each value of the first axis (with two or more axes)
/// and, when the figure is a loss, within each loss function: a cross-entropy and a mean squared
/// error are on different scales and are never ranked against each other.
fn ranking(s: &mut String, study: &StudyFile, cells: &[Cell], done: &[Finished]) {
    if study.axis.len() < 2 && cells.len() < 3 {
        return;
    }
    let key = study.rank_by.as_str();
    let higher = higher_is_better(key);
    let by_loss = key.ends_with("_loss");
    let mut lines = Vec::new();
    let mut split_by_loss = false;
    for (group, members) in first_axis_groups(study, cells) {
        // Sub-groups by loss function, in order of first appearance.
        let mut subgroups: Vec<(String, Vec<usize>)> = Vec::new();
        for &c in &members {
            let Some(run) = runs_of(done, c).first().copied() else {
                continue;
            };
            let loss = if by_loss {
                run.config.train.loss.name().to_string()
            } else {
                String::new()
            };
            match subgroups.iter_mut().find(|(l, _)| *l == loss) {
                Some((_, v)) => v.push(c),
                None => subgroups.push((loss, vec![c])),
            }
        }
        let several = subgroups.len() > 1;
        split_by_loss |= several;
        for (loss, members) in subgroups {
            let mut ranked: Vec<(f64, &str)> = members
                .iter()
                .filter_map(|&c| cell_stat(done, c, key).map(|st| (st.0, cells[c].label.as_str())))
                .collect();
            ranked.sort_by(|a, b| {
                if higher {
                    b.0.total_cmp(&a.0)
                } else {
                    a.0.total_cmp(&b.0)
                }
            });
            if ranked.is_empty() {
                continue;
            }
            let prefix = if group.is_empty() { "" } else { "/" };
            let order: Vec<String> = ranked
                .iter()
                .map(|(v, label)| {
                    let short = if group.is_empty() {
                        *label
                    } else {
                        label
                            .strip_prefix(&format!("{group}{prefix}"))
                            .unwrap_or(label)
                    };
                    format!("{short} ({})", fmt_value(key, *v))
                })
                .collect();
            let mut name = group.clone();
            if several {
                name = if name.is_empty() {
                    format!("{loss} loss")
                } else {
                    format!("{name}, {loss} loss")
                };
            }
            let sep = if higher { " > " } else { " < " };
            let line = if name.is_empty() {
                format!("- {}", order.join(sep))
            } else {
                format!("- {name}: {}", order.join(sep))
            };
            lines.push(line);
        }
    }
    if lines.is_empty() {
        return;
    }
    let per = if study.axis.len() >= 2 {
        format!(", per {}", study.axis[0].name)
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "\nRanking by {} ({} first{per}{}):\n",
        key.replace('_', " "),
        if higher { "highest" } else { "lowest" },
        if split_by_loss {
            "; losses of different kinds are ranked separately"
        } else {
            ""
        }
    );
    for l in lines {
        let _ = writeln!(s, "{l}");
    }
}

fn runs(s: &mut String, study: &StudyFile, cells: &[Cell], done: &[Finished]) {
    let _ = writeln!(s, "\n## Runs\n");
    let _ = writeln!(
        s,
        "Each row is backed by `runs/<cell>/seed-<n>/` (`config.toml`, `metrics.csv`, `summary.json`).\n"
    );
    let names = &study.metrics;
    let _ = writeln!(
        s,
        "| cell | seed | {} | s/epoch | peak RSS (MB) | revision | backend |",
        words(names)
    );
    let _ = writeln!(s, "|---|---|{}---|---|---|---|", "---|".repeat(names.len()));
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
        let figures: Vec<String> = names
            .iter()
            .map(|m| r.metric(m).map_or("-".into(), |v| format!("{v:.4}")))
            .collect();
        let _ = writeln!(
            s,
            "| {label} | {} | {} | {:.2} | {rss} | {} | {} |",
            r.seed,
            figures.join(" | "),
            r.seconds_per_epoch,
            r.revision(),
            r.backend
        );
    }
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
