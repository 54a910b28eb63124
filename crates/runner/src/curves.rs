//! A run's own learning curves, `pictures/curves-<m>.png`, drawn after it finishes (by `nnlab
//! train` and again by studies on their finished runs, so committed pictures follow the chart
//! style).

use std::path::Path;

use crate::engine::metrics::MetricsTable;
use crate::error::{Error, Result};
use crate::plot;

/// `pictures/curves-<m>.png` of a run: for each figure `m` of its metrics table (`train_<m>`,
/// `valid_<m>`, `test_<m>`), its training, validation and test values per epoch on one chart
/// (never two kinds of figures on one axis; none for a figure of the real data). Studies call
/// it again on their finished runs, so the committed pictures follow the chart style.
pub fn draw(run: &Path, table: &MetricsTable, kind: &str) -> Result<()> {
    if !plot::font_available() || table.rows.is_empty() {
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
    // A figure of the real data (`diversity_real`) does not change with training: no chart.
    for m in names.into_iter().filter(|m| !m.ends_with("_real")) {
        let series: Vec<plot::Series> = ["train", "valid", "test"]
            .iter()
            .filter_map(|split| {
                let col = format!("{split}_{m}");
                let points: Vec<(f64, f64)> = table
                    .rows
                    .iter()
                    .filter_map(|r| table.get(r, &col).map(|v| (r.epoch as f64, v)))
                    .map(|(e, v)| (e, crate::study::report::shown(&col, v)))
                    .collect();
                (!points.is_empty()).then(|| plot::Series::plain(*split, points))
            })
            .collect();
        if series.is_empty() {
            continue;
        }
        let path = run.join("pictures").join(format!("curves-{m}.png"));
        let label = crate::study::charts::axis_label(m, kind);
        std::fs::create_dir_all(run.join("pictures")).map_err(|e| Error::io(run, e))?;
        plot::line_chart(
            &path,
            &format!("{} per epoch", label.split(" (").next().unwrap_or(m)),
            "epoch",
            &label,
            None,
            &series,
            &[],
        )?;
    }
    Ok(())
}
