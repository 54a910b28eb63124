//! PNG charts of studies: learning curves (one line per cell) and a bar chart of final
//! accuracy, drawn with plotters.
//!
//! Text needs a TrueType font: `$NNLAB_FONT`, else DejaVu Sans from the usual system folders.
//! Without one, [`font_available`] is false and callers skip the charts (and say so).

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::error::{Error, Result};

const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
];

/// Registers a font for plotters once; false when none was found.
pub fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = std::env::var("NNLAB_FONT")
            .ok()
            .into_iter()
            .chain(FONT_PATHS.iter().map(|s| s.to_string()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Study(format!("{}: cannot draw: {e}", path.display()))
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - pad, hi + pad)
}

/// A line chart of `series` into `path` (PNG).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    let root = BitMapBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let (x0, x1) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y0, y1) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| plot_err(path, e))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    root.present().map_err(|e| plot_err(path, e))
}

/// A horizontal bar chart of `(label, mean, std)` into `path` (PNG), with error bars of one
/// std; long cell labels read best on the vertical axis.
pub fn bar_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    bars: &[(String, f64, f64)],
) -> Result<()> {
    let n = bars.len().max(1);
    let height = (120 + 40 * n).max(300) as u32;
    let root = BitMapBackend::new(path, (960, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    // Bars start at zero, so their lengths compare (a cut axis would exaggerate differences).
    let (lo, hi) = range(bars.iter().flat_map(|b| [b.1 - b.2, b.1 + b.2, 0.0]));
    let lo = if bars.iter().all(|b| b.1 >= 0.0) {
        0.0
    } else {
        lo
    };
    let longest = bars.iter().map(|b| b.0.len()).max().unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(20 + 8 * longest)
        .build_cartesian_2d(lo..hi, 0.0..n as f64)
        .map_err(|e| plot_err(path, e))?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| {
            let i = y.floor() as usize;
            if (y - i as f64 - 0.5).abs() < 0.26 {
                labels
                    .get(n - 1 - i.min(n - 1))
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_desc(x_label)
        .draw()
        .map_err(|e| plot_err(path, e))?;
    // The first bar at the top.
    let row = |i: usize| (n - 1 - i) as f64;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let color = Palette99::pick(i).to_rgba();
            Rectangle::new([(lo, row(i) + 0.15), (b.1, row(i) + 0.85)], color.filled())
        }))
        .map_err(|e| plot_err(path, e))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let y = row(i) + 0.5;
            PathElement::new(vec![(b.1 - b.2, y), (b.1 + b.2, y)], BLACK.stroke_width(2))
        }))
        .map_err(|e| plot_err(path, e))?;
    root.present().map_err(|e| plot_err(path, e))
}
