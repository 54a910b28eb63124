//! The lines a study's `results.md` opens with: for every published number the study reproduces
//! (its `[reference]` or each `[[expect]]`), ours, the anchor, the gap with its unit, the seeds
//! and the revisions that made ours, in one table shape for every study. Figures are rounded to
//! their uncertainty: one significant digit of the standard deviation over seeds.

use std::collections::BTreeSet;

use super::file::{StudyFile, higher_is_better, in_percent};
use super::grid::Cell;
use super::jobs::Finished;
use super::report::{cell_stat, runs_of, shown};

/// One anchor: a published number, or real data's figure from the run records, and the cell
/// that is compared with it.
struct Anchor<'a> {
    cell: usize,
    metric: &'a str,
    value: f64,
    std: Option<f64>,
    source: String,
    /// Real data's figure rather than a published one: ours is above or below it, not better
    /// or worse (samples should match the data, not beat it).
    real: bool,
}

/// `value +- sd` rounded to the sd's first significant digit (a Parzen estimate of 241.19 +- 2 is
/// "241 +- 2"); without an sd, `fallback` decimals.
pub fn rounded(value: f64, sd: Option<f64>, fallback: usize) -> String {
    match sd.filter(|s| s.is_finite() && *s > 0.0) {
        Some(s) => {
            let decimals = decimals_of(s);
            format!("{value:.decimals$} +- {s:.decimals$}")
        }
        None => format!("{value:.fallback$}"),
    }
}

/// Decimals for a figure without an uncertainty: two, or four below 1 (a diversity of 0.19).
fn fallback(v: f64) -> usize {
    if v.abs() < 1.0 { 4 } else { 2 }
}

/// The decimals that show one significant digit of `s`, after rounding it (0.097 is 0.1, not
/// 0.10).
fn decimals_of(s: f64) -> usize {
    let mut decimals = (-s.log10().floor()).max(0.0) as i32;
    if (s * 10f64.powi(decimals)).round() >= 10.0 {
        decimals = (decimals - 1).max(0);
    }
    decimals as usize
}

/// The study's anchors: its `[reference]`, each `[[expect]]`, and for every cell with runs each
/// `[[real_data]]` figure (its mean over the cell's runs, with their sd, or the standard error a
/// single run records as `<real>_se`).
fn anchors<'a>(study: &'a StudyFile, cells: &[Cell], done: &[Finished]) -> Vec<Anchor<'a>> {
    let mut out = Vec::new();
    if let Some(r) = &study.reference {
        out.push(Anchor {
            cell: 0,
            metric: &r.metric,
            value: r.value,
            std: r.std,
            source: r.source.clone(),
            real: false,
        });
    }
    for e in &study.expect {
        if let Some(cell) = cells.iter().position(|c| c.label == e.cell) {
            out.push(Anchor {
                cell,
                metric: &e.metric,
                value: e.value,
                std: e.std,
                source: e.source.clone(),
                real: false,
            });
        }
    }
    for r in &study.real_data {
        for cell in 0..cells.len() {
            if let Some((value, std)) = uncertain(done, cell, &r.real) {
                out.push(Anchor {
                    cell,
                    metric: &r.metric,
                    value,
                    std,
                    source: format!("real data: {}", r.source),
                    real: true,
                });
            }
        }
    }
    out
}

/// Cell `cell`'s mean of `metric` and its uncertainty: the sd over its runs, or for one run the
/// standard error it records as `<metric>_se` (a Parzen estimate's, over test images).
pub fn uncertain(done: &[Finished], cell: usize, metric: &str) -> Option<(f64, Option<f64>)> {
    let runs = runs_of(done, cell);
    let (mean, sd) = cell_stat(done, cell, metric)?;
    let uncertainty = match runs.as_slice() {
        [one] => one.summary.metric(&format!("{metric}_se")),
        _ => Some(sd),
    };
    Some((mean, uncertainty))
}

/// The anchor table, as Markdown lines (a sentence when the study has no published number).
pub fn table(study: &StudyFile, cells: &[Cell], done: &[Finished]) -> Vec<String> {
    let list = anchors(study, cells, done);
    if list.is_empty() {
        return vec![
            "No published number to reproduce: the study answers its question in the table and charts below."
                .into(),
        ];
    }
    let mut table = crate::markdown::Table::new(["anchor", "ours", "gap", "seeds", "revision"]);
    for a in list {
        let percent = in_percent(a.metric);
        let (unit, gap_unit) = if percent { (" %", " pp") } else { ("", "") };
        let scale = |v: f64| shown(a.metric, v);
        let runs = runs_of(done, a.cell);
        let what = if cells.len() > 1 {
            format!(
                "{} of `{}`",
                a.metric.replace('_', " "),
                cells[a.cell].label
            )
        } else {
            a.metric.replace('_', " ")
        };
        let anchor = format!(
            "{what}: {}{unit} ({})",
            rounded(scale(a.value), a.std.map(scale), fallback(scale(a.value))),
            a.source
        );
        let Some((mean, sd)) = uncertain(done, a.cell, a.metric) else {
            table.row([anchor, "not run".into(), "-".into(), "0".into(), "-".into()]);
            continue;
        };
        let sd = sd.map(scale);
        // A single run's uncertainty is the standard error it recorded, not an sd over seeds.
        let se = if runs.len() == 1 && sd.is_some() {
            " (s.e.)"
        } else {
            ""
        };
        let gap = scale(mean) - scale(a.value);
        // The gap is rounded as ours is.
        let gap_text = match sd.filter(|s| s.is_finite() && *s > 0.0) {
            Some(s) => format!("{gap:+.*}", decimals_of(s)),
            None => crate::plot::gap(gap, scale(a.value)),
        };
        let better = if gap_text
            .trim_start_matches(['-', '+'])
            .trim_matches(['0', '.'])
            .is_empty()
        {
            "level"
        } else if a.real {
            if gap > 0.0 { "above" } else { "below" }
        } else if (gap > 0.0) == higher_is_better(a.metric) {
            "better"
        } else {
            "worse"
        };
        let revisions: BTreeSet<String> = runs.iter().map(|f| f.summary.revision()).collect();
        table.row([
            anchor,
            format!(
                "{}{unit}{se}",
                rounded(scale(mean), sd, fallback(scale(a.value)))
            ),
            format!(
                "{}{gap_unit} ({better})",
                if better == "level" {
                    gap_text.trim_start_matches(['-', '+'])
                } else {
                    &gap_text
                }
            ),
            runs.len().to_string(),
            revisions.into_iter().collect::<Vec<_>>().join(", "),
        ]);
    }
    table.render().lines().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::rounded;

    #[test]
    fn figures_are_rounded_to_their_uncertainty() {
        assert_eq!(rounded(241.19, Some(2.0), 2), "241 +- 2");
        assert_eq!(rounded(96.7433, Some(0.13), 2), "96.7 +- 0.1");
        assert_eq!(rounded(96.7433, Some(0.013), 2), "96.74 +- 0.01");
        assert_eq!(rounded(3.4123, None, 2), "3.41");
        assert_eq!(rounded(3.4123, Some(0.0), 2), "3.41");
        assert_eq!(rounded(96.7433, Some(0.097), 2), "96.7 +- 0.1");
        assert_eq!(rounded(105.5, Some(0.97), 2), "106 +- 1");
    }
}
