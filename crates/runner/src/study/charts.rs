//! The study's PNG charts: learning curves per group of cells (mean over seeds) and, for grids,
//! a bar chart of a summary figure per cell.

use std::path::Path;

use super::file::{StudyFile, in_percent};
use super::grid::{Cell, first_axis_groups};
use super::jobs::Finished;
use super::report::{cell_stat, mean_std, runs_of, shown};
use crate::error::Result;
use crate::plot::{self, Series};

/// Draws the charts next to `results`; returns their file names, or why there are none.
pub fn write(
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
                    let runs = runs_of(done, c);
                    let epochs = runs.iter().map(|f| f.table.rows.len()).min()?;
                    let points = (0..epochs)
                        .filter_map(|e| {
                            let vals: Vec<f64> = runs
                                .iter()
                                .filter_map(|f| f.table.get(&f.table.rows[e], name))
                                .map(|v| shown(name, v))
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
            let unit = if in_percent(name) { " (%)" } else { "" };
            plot::line_chart(
                &folder.join(&file),
                &format!(
                    "{what}{} (mean over {} seed{})",
                    name.replace('_', " "),
                    study.seeds.len(),
                    if study.seeds.len() == 1 { "" } else { "s" }
                ),
                "epoch",
                &format!("{}{unit}", name.replace('_', " ")),
                &series,
            )?;
            files.push(file);
        }
    }
    if cells.len() > 1 {
        let metric = study
            .metrics
            .first()
            .cloned()
            .unwrap_or_else(|| "test_accuracy".into());
        let bars: Vec<(String, f64, f64)> = cells
            .iter()
            .enumerate()
            .filter_map(|(c, cell)| {
                cell_stat(done, c, &metric)
                    .map(|(m, s)| (label(cell), shown(&metric, m), shown(&metric, s)))
            })
            .collect();
        let file = format!("{}.png", metric.trim_start_matches("test_"));
        let unit = if in_percent(&metric) { " (%)" } else { "" };
        plot::bar_chart(
            &folder.join(&file),
            &format!("final {} (mean +- std)", metric.replace('_', " ")),
            &format!("{}{unit}", metric.replace('_', " ")),
            &bars,
        )?;
        files.push(file);
    }
    Ok(Ok(files))
}
