//! PNG charts a reader understands at a glance (after TensorBoard, W&B panels and seaborn):
//! learning curves as the mean over seeds with a band for the spread, a published number drawn
//! as a line, the legend beside the plot instead of over the data, whole epochs on the x axis,
//! axis labels in words with units, a log axis for losses that span decades, colours grouped by
//! family (one hue per optimizer, shades per learning rate) and never repeated in a chart, and
//! points where a curve has too few epochs to be a line; bar charts from zero.
//!
//! Text needs a TrueType font: `$NNLAB_FONT`, else DejaVu Sans from the usual system folders.
//! Without one, [`font_available`] is false and callers skip the charts (and say so).

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordu32;
use plotters::prelude::*;

use crate::error::{Error, Result};

pub use nnlab_train::pictures::font_available;

/// One curve of a chart: per epoch, the mean and (optionally) the band around it.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(epoch, mean)` points.
    pub points: Vec<(f64, f64)>,
    /// `(low, high)` per point: the spread over seeds (mean +- one standard deviation).
    pub band: Option<Vec<(f64, f64)>>,
    /// Colour family (e.g. the optimizer); series of a family share a hue.
    pub family: String,
    /// Drawn pale and thin: a member of its family that is not the one the chart is about (an
    /// optimizer's other learning rates).
    pub faded: bool,
}

impl Series {
    /// A curve without a band, its own family.
    pub fn plain(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        let label = label.into();
        Self {
            family: label.clone(),
            label,
            points,
            band: None,
            faded: false,
        }
    }
}

/// A horizontal line marking a number to compare with, with the band of its uncertainty.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Its height.
    pub value: f64,
    /// Half the band's height (the anchor's standard deviation), when known.
    pub band: Option<f64>,
    /// What it is, for the legend: "paper: ..." or "peer run: ...".
    pub label: String,
}

/// Hues far apart (the "tab10" palette), one per family.
const HUES: [(f64, f64, f64); 10] = [
    (31.0, 119.0, 180.0),
    (255.0, 127.0, 14.0),
    (44.0, 160.0, 44.0),
    (214.0, 39.0, 40.0),
    (148.0, 103.0, 189.0),
    (140.0, 86.0, 75.0),
    (227.0, 119.0, 194.0),
    (127.0, 127.0, 127.0),
    (188.0, 189.0, 34.0),
    (23.0, 190.0, 207.0),
];

/// The colour family of a label: the optimizer-like part of its last value
/// (`relu/mse/adam@0.001` -> `adam`), so a study's bars and curves share their hues.
pub fn family(label: &str) -> String {
    // A row's note in brackets ("mnist (n = 400)") is not part of its name.
    let label = label.split(" (").next().unwrap_or(label);
    let last = label.rsplit('/').next().unwrap_or(label);
    last.split('@').next().unwrap_or(last).to_string()
}

/// The hue an entity keeps on every chart of the workspace: each optimizer, activation, loss and
/// image set, by name (an index into [`HUES`]).
fn fixed_hue(family: &str) -> Option<usize> {
    let hue = match family {
        "adam" | "sigmoid" | "mnist" | "real" | "train" => 0,
        "sgd" | "tanh" | "vae" | "valid" => 1,
        "rmsprop" | "relu" | "gan" | "test" => 2,
        "adagrad" | "leaky_relu" | "dcgan" => 3,
        "adamw" | "gelu" | "cppn-tanh" => 4,
        "sin" | "cppn-sin" | "cross_entropy" => 5,
        "gaussian" | "prototypes" | "mse" => 6,
        "noise" | "identity" => 7,
        _ => return None,
    };
    Some(hue)
}

/// A colour of a sequential palette (light blue to dark blue) at `t` in [0, 1].
fn sequential(t: f64) -> RGBColor {
    let (light, dark) = ((158.0, 202.0, 225.0), (8.0, 48.0, 107.0));
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(
        mix(light.0, dark.0),
        mix(light.1, dark.1),
        mix(light.2, dark.2),
    )
}

/// One colour per series: families get hues (fixed ones for known entities, see [`fixed_hue`],
/// the rest in order of first appearance; numbers a sequential palette); within a family the
/// series get shades from dark to light. No two series of a chart share a colour.
pub fn colours(series: &[Series]) -> Vec<RGBColor> {
    let mut families: Vec<&str> = Vec::new();
    for s in series {
        if !families.contains(&s.family.as_str()) {
            families.push(&s.family);
        }
    }
    // Families that are all numbers (a latent size, a width) are ordered: a sequential palette,
    // light to dark in increasing order, instead of unrelated hues.
    let numbers: Option<Vec<f64>> = families.iter().map(|f| f.parse::<f64>().ok()).collect();
    if let Some(values) = numbers.filter(|v| v.len() > 1) {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        return series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let f = families.iter().position(|f| *f == s.family).unwrap_or(0);
                let rank = order.iter().position(|&o| o == f).unwrap_or(0);
                let c = sequential(rank as f64 / (values.len() - 1) as f64);
                // Several series of one value (its learning rates): darker shades of its colour.
                let members: Vec<usize> = (0..series.len())
                    .filter(|&j| series[j].family == s.family)
                    .collect();
                let k = members.iter().position(|&j| j == i).unwrap_or(0);
                let t = 1.0 - 0.45 * k as f64 / members.len() as f64;
                let dark = |v: u8| (f64::from(v) * t).round() as u8;
                RGBColor(dark(c.0), dark(c.1), dark(c.2))
            })
            .collect();
    }
    // Every family with a fixed hue keeps it on every chart; the others take the free hues in
    // order of appearance.
    let mut free = (0..HUES.len()).filter(|h| !families.iter().any(|f| fixed_hue(f) == Some(*h)));
    let hue_of: Vec<usize> = families
        .iter()
        .enumerate()
        .map(|(i, f)| {
            fixed_hue(f)
                .or_else(|| free.next())
                .unwrap_or(HUES.len() + i)
        })
        .collect();
    series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let f = hue_of[families.iter().position(|f| *f == s.family).unwrap_or(0)];
            let members: Vec<usize> = (0..series.len())
                .filter(|&j| series[j].family == s.family)
                .collect();
            let k = members.iter().position(|&j| j == i).unwrap_or(0);
            let (r, g, b) = HUES[f % HUES.len()];
            // Past ten families the hues repeat: darken them so colours stay distinct.
            let round = 1.0 - 0.3 * (f / HUES.len()) as f64;
            // Shades: 0.65 (dark) to 1.35 (light) of the hue, towards white above 1.
            let t = if members.len() < 2 {
                1.0
            } else {
                0.65 + 0.7 * k as f64 / (members.len() - 1) as f64
            };
            let shade = |c: f64| {
                let c = c * round;
                let v = if t <= 1.0 {
                    c * t
                } else {
                    c + (255.0 - c) * (t - 1.0)
                };
                v.round().clamp(0.0, 255.0) as u8
            };
            RGBColor(shade(r), shade(g), shade(b))
        })
        .collect()
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Study(format!("{}: cannot draw: {e}", path.display()))
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6 * hi.abs().max(1.0));
    (lo - pad, hi + pad)
}

/// `v` with at most three significant digits and no trailing zeros (`0.0600` -> `0.06`).
pub fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Whether values on `y` span more than a decade (and are all positive): then a log axis.
pub fn spans_decades(values: impl Iterator<Item = f64>) -> bool {
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    lo > 0.0 && hi / lo > 10.0
}

/// Legend lines are wrapped at spaces past this many characters.
const LEGEND_CHARS: usize = 32;

/// `label` in lines of at most [`LEGEND_CHARS`] characters, broken at spaces (a longer word
/// keeps its own line).
fn wrap(label: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in label.split(' ') {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= LEGEND_CHARS => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// Draws the legend into `area`: its title (what the labels are values of), then one entry per
/// line, long labels wrapped.
fn legend(
    area: &DrawingArea<BitMapBackend, Shift>,
    title: Option<&str>,
    entries: &[(String, RGBColor, bool)],
    path: &Path,
) -> Result<()> {
    let mut y = 60;
    if let Some(title) = title {
        area.draw(&Text::new(
            title.to_string(),
            (8, y - 8),
            ("sans-serif", 15).into_font().style(FontStyle::Bold),
        ))
        .map_err(|e| plot_err(path, e))?;
        y += 24;
    }
    for (label, colour, dashed) in entries {
        let style = colour.stroke_width(3);
        if *dashed {
            for x in [8, 20] {
                area.draw(&PathElement::new(vec![(x, y), (x + 8, y)], style))
                    .map_err(|e| plot_err(path, e))?;
            }
        } else {
            area.draw(&PathElement::new(vec![(8, y), (28, y)], style))
                .map_err(|e| plot_err(path, e))?;
        }
        for line in wrap(label) {
            area.draw(&Text::new(line, (36, y - 8), ("sans-serif", 15)))
                .map_err(|e| plot_err(path, e))?;
            y += 18;
        }
        y += 4;
    }
    Ok(())
}

/// The legend's width in pixels: room for its longest line and no more.
fn legend_width(title: Option<&str>, entries: &[(String, RGBColor, bool)]) -> u32 {
    let chars = |t: &str| t.chars().count() as u32;
    let longest = entries
        .iter()
        .flat_map(|e| wrap(&e.0))
        .map(|line| 36 + 8 * chars(&line))
        .chain(title.map(|t| 8 + 9 * chars(t)))
        .max()
        .unwrap_or(0);
    longest.clamp(120, 420) + 16
}

/// Ticks of a log axis over `[lo, hi]`: 1, 2 and 5 times each power of ten inside it, so every
/// decade the data touch has labels (plotters' own start at the first power of ten).
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    if !(lo > 0.0 && hi >= lo) {
        return ticks;
    }
    for k in lo.log10().floor() as i32..=hi.log10().ceil() as i32 {
        for m in [1.0, 2.0, 5.0] {
            // Rounded through its decimal form, so 3 * 10^-2 prints as 0.03, not 0.030000000000000002.
            let v: f64 = format!("{m}e{k}").parse().unwrap_or(0.0);
            if v >= lo && v <= hi {
                ticks.push(v);
            }
        }
    }
    ticks
}

/// Each anchor as a dashed line across `from..to` with its band (one standard deviation) under it.
fn draw_references<X: Copy + 'static, CT: plotters::coord::CoordTranslate<From = (X, f64)>>(
    chart: &mut ChartContext<BitMapBackend, CT>,
    references: &[Reference],
    (from, to): (X, X),
    path: &Path,
) -> Result<()> {
    for r in references {
        if let Some(b) = r.band {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(from, r.value - b), (to, r.value + b)],
                    BLACK.mix(0.08).filled(),
                )))
                .map_err(|e| plot_err(path, e))?;
        }
        chart
            .draw_series(DashedLineSeries::new(
                vec![(from, r.value), (to, r.value)],
                10,
                6,
                BLACK.stroke_width(2),
            ))
            .map_err(|e| plot_err(path, e))?;
    }
    Ok(())
}

/// The chart body on any y axis (linear or log).
#[allow(clippy::too_many_arguments)]
fn draw_lines<Y>(
    area: &DrawingArea<BitMapBackend, Shift>,
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    y: Y,
    epochs: u32,
    series: &[Series],
    colours: &[RGBColor],
    references: &[Reference],
) -> Result<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(72)
        .build_cartesian_2d(0u32..epochs + 1, y)
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels((epochs + 2).min(12) as usize)
        .x_label_formatter(&|x| {
            if *x == 0 || *x > epochs {
                String::new()
            } else {
                x.to_string()
            }
        })
        .y_label_formatter(&|v| significant(*v))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    // The anchors first, so that a curve on an anchor stays visible.
    draw_references(&mut chart, references, (0, epochs + 1), path)?;
    // Faded series first, so that none lies over a series the chart is about.
    for faded in [true, false] {
        for (s, &c) in series.iter().zip(colours) {
            if s.faded == faded {
                draw_curve(&mut chart, s, c, epochs, path)?;
            }
        }
    }
    Ok(())
}

/// One series of a curves chart: its band, its line (dashed across the epochs for a one-pass
/// fit), and dots where it has three points or fewer. A faded series is drawn thin and light.
fn draw_curve<Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<BitMapBackend, Cartesian2d<RangedCoordu32, Y>>,
    s: &Series,
    c: RGBColor,
    epochs: u32,
    path: &Path,
) -> Result<()> {
    let at = |e: f64| e.round().max(0.0) as u32;
    if let Some(band) = &s.band {
        let upper = s.points.iter().zip(band).map(|(p, b)| (at(p.0), b.1));
        let lower = s.points.iter().zip(band).rev().map(|(p, b)| (at(p.0), b.0));
        let outline: Vec<(u32, f64)> = upper.chain(lower).collect();
        if s.points.len() > 1 {
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    c.mix(if s.faded { 0.06 } else { 0.18 }).filled(),
                )))
                .map_err(|e| plot_err(path, e))?;
        } else {
            // A one-epoch band: a vertical bar.
            chart
                .draw_series(s.points.iter().zip(band).map(|(p, b)| {
                    PathElement::new(vec![(at(p.0), b.0), (at(p.0), b.1)], c.stroke_width(2))
                }))
                .map_err(|e| plot_err(path, e))?;
        }
    }
    if s.points.len() == 1 && epochs > 1 {
        // A one-pass fit (PCA) among trained curves: its figure as a line across the epochs.
        let y = s.points[0].1;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(1, y), (epochs, y)],
                4,
                4,
                c.stroke_width(2),
            ))
            .map_err(|e| plot_err(path, e))?;
    }
    let (colour, width) = if s.faded { (faded(c), 1) } else { (c, 2) };
    chart
        .draw_series(LineSeries::new(
            s.points.iter().map(|p| (at(p.0), p.1)),
            colour.stroke_width(width),
        ))
        .map_err(|e| plot_err(path, e))?;
    if s.points.len() <= 3 {
        chart
            .draw_series(
                s.points
                    .iter()
                    .map(|p| Circle::new((at(p.0), p.1), 5, c.filled())),
            )
            .map_err(|e| plot_err(path, e))?;
    }
    Ok(())
}

/// A faded series' colour: 30 % of it over white, so its line and legend entry agree.
fn faded(c: RGBColor) -> RGBColor {
    let over_white = |v: u8| (255.0 - 0.3 * (255.0 - f64::from(v))).round() as u8;
    RGBColor(over_white(c.0), over_white(c.1), over_white(c.2))
}

/// A chart of learning curves into `path` (PNG): one line (and band) per series, the legend
/// to the right (headed by `legend_title`, what its labels are values of), the anchors as
/// dashed lines with their bands, a log y axis when the values span decades; a series of one
/// point among longer ones (a one-pass fit) is drawn as a line across the epochs.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    legend_title: Option<&str>,
    series: &[Series],
    references: &[Reference],
) -> Result<()> {
    let colours = colours(series);
    let mut entries: Vec<(String, RGBColor, bool)> = series
        .iter()
        .zip(&colours)
        .map(|(s, &c)| (s.label.clone(), if s.faded { faded(c) } else { c }, false))
        .collect();
    for r in references {
        entries.push((r.label.clone(), BLACK, true));
    }
    let plot_width = 800;
    let width = plot_width + legend_width(legend_title, &entries);
    let root = BitMapBackend::new(path, (width, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let (plot_area, legend_area) = root.split_horizontally(plot_width);
    let epochs = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0.round() as u32))
        .max()
        .unwrap_or(1)
        .max(1);
    let values = || {
        series
            .iter()
            .flat_map(|s| {
                s.points.iter().map(|p| p.1).chain(
                    s.band
                        .iter()
                        .flat_map(|b| b.iter().flat_map(|&(lo, hi)| [lo, hi])),
                )
            })
            .chain(references.iter().flat_map(|r| {
                [
                    r.value - r.band.unwrap_or(0.0),
                    r.value + r.band.unwrap_or(0.0),
                ]
            }))
    };
    let log = y_label.contains("loss") && spans_decades(values());
    if log {
        let (lo, hi) = values()
            .filter(|v| *v > 0.0)
            .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = (lo * 0.9, hi * 1.1);
        let y = (lo..hi).log_scale().with_key_points(log_ticks(lo, hi));
        let label = format!("{y_label} (log scale)");
        draw_lines(
            &plot_area, path, title, x_label, &label, y, epochs, series, &colours, references,
        )?;
    } else {
        let (lo, hi) = range(values());
        draw_lines(
            &plot_area,
            path,
            title,
            x_label,
            y_label,
            lo..hi,
            epochs,
            series,
            &colours,
            references,
        )?;
    }
    legend(&legend_area, legend_title, &entries, path)?;
    root.present().map_err(|e| plot_err(path, e))
}

/// Whether two curves sampled at the same x agree (to 1e-6 of the y range) on a fifth or more
/// of their points.
fn overlaps(a: &[(f64, f64)], b: &[(f64, f64)]) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    let (lo, hi) = range(a.iter().chain(b).map(|p| p.1));
    let tol = 1e-6 * (hi - lo).max(1e-12);
    let same = a
        .iter()
        .zip(b)
        .filter(|(p, q)| p.0 == q.0 && (p.1 - q.1).abs() <= tol)
        .count();
    same * 5 >= a.len()
}

/// The curves of an x-y chart, on either kind of y axis.
fn draw_xy<CT: plotters::coord::CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<BitMapBackend, CT>,
    series: &[Series],
    colours: &[RGBColor],
    path: &Path,
) -> Result<()> {
    for (j, (s, c)) in series.iter().zip(colours).enumerate() {
        // A curve lying on an earlier one over much of its length is drawn dashed on top, so
        // neither hides the other (ReLU and leaky ReLU for z > 0).
        let covers = series[..j]
            .iter()
            .any(|earlier| overlaps(&earlier.points, &s.points));
        if covers {
            chart
                .draw_series(DashedLineSeries::new(
                    s.points.iter().copied(),
                    8,
                    6,
                    c.stroke_width(3),
                ))
                .map_err(|e| plot_err(path, e))?;
            continue;
        }
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
            .map_err(|e| plot_err(path, e))?;
        if s.points.len() <= 30 {
            chart
                .draw_series(s.points.iter().map(|p| Circle::new(*p, 4, c.filled())))
                .map_err(|e| plot_err(path, e))?;
        }
    }
    Ok(())
}

/// A chart of curves `y(x)` into `path` (PNG) on axes fitted to the data (x may be negative),
/// the legend to the right; a log y axis when `log_y`.
pub fn xy_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    legend_title: Option<&str>,
    series: &[Series],
    log_y: bool,
) -> Result<()> {
    if !font_available() {
        return Err(plot_err(
            path,
            "no TrueType font found (install DejaVu Sans, or set NNLAB_FONT to a .ttf file)",
        ));
    }
    let colours = colours(series);
    let entries: Vec<(String, RGBColor, bool)> = series
        .iter()
        .zip(&colours)
        .map(|(s, c)| (s.label.clone(), *c, false))
        .collect();
    let width = legend_width(legend_title, &entries);
    let root = BitMapBackend::new(path, (960 + width, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let (plot_area, legend_area) = root.split_horizontally(960);
    let (x_lo, x_hi) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let ys = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    if log_y {
        let (lo, hi) = ys()
            .filter(|v| *v > 0.0)
            .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = (lo * 0.5, hi * 2.0);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(46)
            .y_label_area_size(72)
            .build_cartesian_2d(
                x_lo..x_hi,
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
            )
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(format!("{y_label} (log scale)"))
            .y_label_formatter(&|v| significant(*v))
            .x_label_formatter(&|v| significant(*v))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        draw_xy(&mut chart, series, &colours, path)?;
    } else {
        let (lo, hi) = range(ys());
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(46)
            .y_label_area_size(72)
            .build_cartesian_2d(x_lo..x_hi, lo..hi)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .y_label_formatter(&|v| significant(*v))
            .x_label_formatter(&|v| significant(*v))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        draw_xy(&mut chart, series, &colours, path)?;
    }
    legend(&legend_area, legend_title, &entries, path)?;
    root.present().map_err(|e| plot_err(path, e))
}

/// A figure measured at several stops of training: `(epochs, value, standard error)`.
pub type Stop = (f64, f64, Option<f64>);

/// A chart of one figure against the epochs it was measured after (`stops`, a dot each with
/// its standard error as a bar), with anchors as dashed lines and their bands, into `path`.
pub fn stops_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    stops: &[Stop],
    references: &[Reference],
) -> Result<()> {
    if !font_available() {
        return Err(plot_err(
            path,
            "no TrueType font found (set NNLAB_FONT to a .ttf file)",
        ));
    }
    let entries: Vec<(String, RGBColor, bool)> =
        std::iter::once(("ours".to_string(), RGBColor(31, 119, 180), false))
            .chain(references.iter().map(|r| (r.label.clone(), BLACK, true)))
            .collect();
    let width = legend_width(None, &entries);
    let root = BitMapBackend::new(path, (820 + width, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let (plot_area, legend_area) = root.split_horizontally(820);
    let last = stops.iter().map(|s| s.0).fold(1.0f64, f64::max);
    let (lo, hi) = range(
        stops
            .iter()
            .flat_map(|s| [s.1 - s.2.unwrap_or(0.0), s.1 + s.2.unwrap_or(0.0)])
            .chain(references.iter().flat_map(|r| {
                let b = r.band.unwrap_or(0.0);
                [r.value - b, r.value + b]
            })),
    );
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..last * 1.05, lo..hi)
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .x_desc("epochs trained")
        .y_desc(y_label)
        .y_label_formatter(&|v| significant(*v))
        .x_label_formatter(&|v| significant(*v))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    draw_references(&mut chart, references, (0.0, last * 1.05), path)?;
    let blue = RGBColor(31, 119, 180);
    chart
        .draw_series(LineSeries::new(
            stops.iter().map(|s| (s.0, s.1)),
            blue.stroke_width(2),
        ))
        .map_err(|e| plot_err(path, e))?;
    for &(x, y, se) in stops {
        if let Some(se) = se {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, y - se), (x, y + se)],
                    blue.stroke_width(2),
                )))
                .map_err(|e| plot_err(path, e))?;
        }
        chart
            .draw_series(std::iter::once(Circle::new((x, y), 5, blue.filled())))
            .map_err(|e| plot_err(path, e))?;
    }
    legend(&legend_area, None, &entries, path)?;
    root.present().map_err(|e| plot_err(path, e))
}

/// One row of a dot plot: a cell, every seed's value, and the anchor it is compared with.
#[derive(Debug, Clone)]
pub struct DotRow {
    /// The cell.
    pub label: String,
    /// One value per seed.
    pub values: Vec<f64>,
    /// The published number, its band (one standard deviation) and whether it is a paper's or
    /// a peer run's.
    pub anchor: Option<(f64, Option<f64>, &'static str)>,
}

/// How a dot plot summarises a row's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// Every value as a dot (seeds), the mean as a big dot, +- one standard deviation as a bar.
    MeanSd,
    /// Many values, or values bounded in [0, 1]: the median as a big dot, the quartiles as a
    /// thick bar, the 5th to 95th percentiles as a thin one; no bar passes the data's range.
    Quartiles,
}

/// The `q` quantile (0 to 1) of sorted values, by linear interpolation.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = q * (sorted.len() - 1) as f64;
    let (i, f) = (at.floor() as usize, at.fract());
    let next = sorted[(i + 1).min(sorted.len() - 1)];
    sorted[i] + f * (next - sorted[i])
}

/// The dot of a row and its bars: `(centre, [(low, high, width)])`.
fn summarise(values: &[f64], summary: Summary) -> (f64, Vec<(f64, f64, u32)>) {
    match summary {
        Summary::MeanSd => {
            let m = values.iter().sum::<f64>() / values.len() as f64;
            let sd = if values.len() > 1 {
                (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64)
                    .sqrt()
            } else {
                0.0
            };
            (m, vec![(m - sd, m + sd, 3)])
        }
        Summary::Quartiles => {
            let mut sorted = values.to_vec();
            sorted.sort_by(f64::total_cmp);
            let q = |p| quantile(&sorted, p);
            (q(0.5), vec![(q(0.05), q(0.95), 1), (q(0.25), q(0.75), 5)])
        }
    }
}

/// The coordinates of a dot plot: values across, rows down.
type DotChart<'a> = ChartContext<
    'a,
    BitMapBackend<'a>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Draws row `r` of a dot plot in the band from `base` to `base + 1` (its values summarised,
/// its anchor with its band and kind); returns the summary's centre.
fn draw_dot_row(
    chart: &mut DotChart,
    r: &DotRow,
    base: f64,
    c: RGBColor,
    summary: Summary,
    path: &Path,
) -> Result<f64> {
    let y = base + 0.5;
    if summary == Summary::MeanSd {
        // Every seed, a little above the line.
        chart
            .draw_series(
                r.values
                    .iter()
                    .map(|&v| Circle::new((v, y + 0.18), 4, c.mix(0.6).filled())),
            )
            .map_err(|e| plot_err(path, e))?;
    }
    let (m, bars) = summarise(&r.values, summary);
    for (low, high, width) in bars {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(low, y), (high, y)],
                c.stroke_width(width),
            )))
            .map_err(|e| plot_err(path, e))?;
    }
    chart
        .draw_series(std::iter::once(Circle::new((m, y), 7, c.filled())))
        .map_err(|e| plot_err(path, e))?;
    if let Some((value, band, kind)) = r.anchor {
        if let Some(b) = band {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(value - b, base + 0.12), (value + b, base + 0.88)],
                    BLACK.mix(0.1).filled(),
                )))
                .map_err(|e| plot_err(path, e))?;
        }
        chart
            .draw_series(DashedLineSeries::new(
                vec![(value, base + 0.1), (value, base + 0.9)],
                5,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(|e| plot_err(path, e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                kind,
                (value, base + 0.98),
                ("sans-serif", 13),
            )))
            .map_err(|e| plot_err(path, e))?;
    }
    Ok(m)
}

/// A signed gap to `anchor`: two decimals, or four beside an anchor below 1 (a diversity of
/// 0.19), so that a gap of a few thousandths is not written as level.
pub fn gap(gap: f64, anchor: f64) -> String {
    let decimals = if anchor.abs() < 1.0 { 4 } else { 2 };
    format!("{gap:+.decimals$}")
}

/// One curve of a power-law chart: its label, every run's `(x, y)` and the fitted `(ln a, b)`
/// of `y = a x^b`.
pub type PowerCurve = (String, Vec<(f64, f64)>, Option<(f64, f64)>);

/// One curve of a power-law chart: its runs, its mean per size, its fitted line.
fn draw_power_curve<X, Y>(
    chart: &mut ChartContext<BitMapBackend, Cartesian2d<X, Y>>,
    points: &[(f64, f64)],
    fit: Option<(f64, f64)>,
    c: RGBColor,
    path: &Path,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .draw_series(
            points
                .iter()
                .map(|&p| Circle::new(p, 3, c.mix(0.5).filled())),
        )
        .map_err(|e| plot_err(path, e))?;
    let mut sizes: Vec<f64> = points.iter().map(|p| p.0).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    let means = sizes.iter().map(|&x| {
        let ys: Vec<f64> = points.iter().filter(|p| p.0 == x).map(|p| p.1).collect();
        (x, ys.iter().sum::<f64>() / ys.len() as f64)
    });
    chart
        .draw_series(means.map(|p| Circle::new(p, 6, c.filled())))
        .map_err(|e| plot_err(path, e))?;
    if let (Some((ln_a, b)), Some(&lo), Some(&hi)) = (fit, sizes.first(), sizes.last()) {
        let line = (0..=40).map(|k| {
            let x = lo * (hi / lo).powf(f64::from(k) / 40.0);
            (x, (ln_a + b * x.ln()).exp())
        });
        chart
            .draw_series(LineSeries::new(line, c.stroke_width(2)))
            .map_err(|e| plot_err(path, e))?;
    }
    Ok(())
}

/// A log-log chart into `path` (PNG): each curve's runs as dots, the mean per size as a bigger
/// dot, and its fitted power law as a line across the sizes; the legend (headed `legend_title`)
/// at the right.
pub fn power_law_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    legend_title: &str,
    curves: &[PowerCurve],
) -> Result<()> {
    let series: Vec<Series> = curves
        .iter()
        .map(|(label, _, _)| Series::plain(label.clone(), Vec::new()))
        .collect();
    let colours = colours(&series);
    let entries: Vec<(String, RGBColor, bool)> = curves
        .iter()
        .zip(&colours)
        .map(|((label, _, fit), &c)| {
            let law = fit.map_or(String::new(), |(ln_a, b)| {
                format!(": {:.3} n^{b:.2}", ln_a.exp())
            });
            (format!("{label}{law}"), c, false)
        })
        .collect();
    let all = || curves.iter().flat_map(|c| c.1.iter().copied());
    let positive = |v: f64| v > 0.0;
    let (xlo, xhi) = all()
        .map(|p| p.0)
        .filter(|v| positive(*v))
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let (ylo, yhi) = all()
        .map(|p| p.1)
        .filter(|v| positive(*v))
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    if !(xlo.is_finite() && ylo.is_finite()) {
        return Ok(());
    }
    let width = 800 + legend_width(Some(legend_title), &entries);
    let root = BitMapBackend::new(path, (width, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let (plot_area, legend_area) = root.split_horizontally(800);
    let (xlo, xhi, ylo, yhi) = (xlo / 1.3, xhi * 1.3, ylo / 1.3, yhi * 1.3);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(72)
        .build_cartesian_2d(
            (xlo..xhi).log_scale().with_key_points(log_ticks(xlo, xhi)),
            (ylo..yhi).log_scale().with_key_points(log_ticks(ylo, yhi)),
        )
        .map_err(|e| plot_err(path, e))?;
    chart
        .configure_mesh()
        .x_desc(format!("{x_label} (log scale)"))
        .y_desc(format!("{y_label} (log scale)"))
        .x_label_formatter(&|v| significant(*v))
        .y_label_formatter(&|v| significant(*v))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for ((_, points, fit), &c) in curves.iter().zip(&colours) {
        draw_power_curve(&mut chart, points, *fit, c, path)?;
    }
    legend(&legend_area, Some(legend_title), &entries, path)?;
    root.present().map_err(|e| plot_err(path, e))
}

/// The x range of a dot plot: every value, and every anchor with its band.
fn dot_range(rows: &[DotRow]) -> (f64, f64) {
    range(rows.iter().flat_map(|r| {
        let band = r.anchor.map_or(0.0, |a| a.1.unwrap_or(0.0));
        r.values.iter().copied().chain(
            r.anchor
                .into_iter()
                .flat_map(move |a| [a.0 - band, a.0 + band]),
        )
    }))
}

/// A dot plot into `path` (PNG): a row per cell with its values summarised (see [`Summary`]),
/// the anchor as a dashed tick with its band, and the gap to it written at the right (in
/// `gap_unit`). The axis is zoomed to the data and the anchors, so differences of tenths of a
/// point are visible.
pub fn dot_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    row_label: &str,
    rows: &[DotRow],
    summary: Summary,
    gap_unit: &str,
) -> Result<()> {
    let n = rows.len().max(1);
    let height = (140 + 48 * n).max(300) as u32;
    let root = BitMapBackend::new(path, (1040, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    // The gaps are written in a column of their own at the right.
    let (plot_area, gap_area) = root.split_horizontally(940);
    let (lo, hi) = dot_range(rows);
    let longest = rows.iter().map(|r| r.label.len()).max().unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(44 + 8 * longest)
        .build_cartesian_2d(lo..hi, 0.0..n as f64)
        .map_err(|e| plot_err(path, e))?;
    let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
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
        .y_desc(row_label)
        .x_label_formatter(&|v| significant(*v))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    let series: Vec<Series> = rows
        .iter()
        .map(|r| Series {
            family: family(&r.label),
            ..Series::plain(r.label.clone(), Vec::new())
        })
        .collect();
    let colours = colours(&series);
    let row = |i: usize| (n - 1 - i) as f64;
    for (i, r) in rows.iter().enumerate() {
        let y = row(i) + 0.5;
        let c = colours[i];
        if r.values.is_empty() {
            continue;
        }
        let m = draw_dot_row(&mut chart, r, row(i), c, summary, path)?;
        if let Some((value, _, _)) = r.anchor {
            let (_, py) = chart.backend_coord(&(hi, y));
            gap_area
                .draw(&Text::new(
                    format!("{}{gap_unit}", gap(m - value, value)),
                    (6, py - 8),
                    ("sans-serif", 15),
                ))
                .map_err(|e| plot_err(path, e))?;
        }
    }
    root.present().map_err(|e| plot_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_grouped_by_family_and_never_repeated() {
        let s = |label: &str, family: &str| Series {
            family: family.into(),
            ..Series::plain(label, Vec::new())
        };
        let series = [
            s("adam@0.001", "adam"),
            s("sgd@0.1", "sgd"),
            s("adam@0.003", "adam"),
            s("adam@0.01", "adam"),
        ];
        let c = colours(&series);
        for i in 0..c.len() {
            for j in i + 1..c.len() {
                assert_ne!(c[i], c[j], "{i} and {j}");
            }
        }
        // The Adam series share the first hue: their channels keep the hue's order (blue > green > red).
        for i in [0, 2, 3] {
            assert!(c[i].2 > c[i].1 && c[i].1 > c[i].0, "{:?}", c[i]);
        }
        assert_eq!(significant(0.060000000000000005), "0.06");
        assert_eq!(significant(96.5), "96.5");
        assert_eq!(significant(1234.0), "1234");
        assert!(spans_decades([0.01, 0.5].into_iter()));
        assert!(!spans_decades([0.2, 0.5].into_iter()));
    }

    #[test]
    fn an_entity_keeps_its_colour_and_ordered_values_get_a_sequence() {
        let chart = |labels: &[&str]| {
            let series: Vec<Series> = labels.iter().map(|l| Series::plain(*l, vec![])).collect();
            colours(&series)
        };
        let a = chart(&["sgd", "adam"]);
        let b = chart(&["adam", "rmsprop", "sgd"]);
        assert_eq!(a[1], b[0], "adam");
        assert_eq!(a[0], b[2], "sgd");
        // Two series of one number are told apart.
        let same = colours(&[
            Series {
                family: "20".into(),
                ..Series::plain("20@0.1", vec![])
            },
            Series {
                family: "20".into(),
                ..Series::plain("20@0.01", vec![])
            },
            Series::plain("2", vec![]),
        ]);
        assert_ne!(same[0], same[1]);
        let latent = chart(&["20", "2", "200"]);
        let lightness = |c: &RGBColor| u32::from(c.0) + u32::from(c.1) + u32::from(c.2);
        assert!(lightness(&latent[1]) > lightness(&latent[0]));
        assert!(lightness(&latent[0]) > lightness(&latent[2]));
    }

    #[test]
    fn quartile_summaries_stay_inside_the_data() {
        let values: Vec<f64> = (0..=100).map(|i| f64::from(i) / 100.0).collect();
        let (median, bars) = summarise(&values, Summary::Quartiles);
        assert!((median - 0.5).abs() < 1e-12);
        assert_eq!(bars.len(), 2);
        for (lo, hi, _) in bars {
            assert!(
                (0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi),
                "{lo} {hi}"
            );
        }
        let (mean, bars) = summarise(&[1.0, 3.0], Summary::MeanSd);
        assert_eq!(mean, 2.0);
        assert!((bars[0].1 - bars[0].0 - 2.0 * 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn log_ticks_label_every_decade_the_data_touch() {
        // 0.0045 to 0.1: the decade below 0.01 gets 0.005, and nothing is printed twice.
        assert_eq!(log_ticks(0.0045, 0.1), vec![0.005, 0.01, 0.02, 0.05, 0.1]);
        assert_eq!(log_ticks(1.5, 30.0), vec![2.0, 5.0, 10.0, 20.0]);
        assert!(log_ticks(0.0, 1.0).is_empty());
    }

    #[test]
    fn the_legend_is_as_wide_as_its_longest_line() {
        let entry = |l: &str| (l.to_string(), BLACK, false);
        let short = legend_width(Some("latent"), &[entry("2"), entry("200")]);
        let long = legend_width(None, &[entry("relu/cross_entropy/adam@0.001")]);
        assert!(short < 160, "{short}");
        assert!(long > 280 && long < 440, "{long}");
        let published = "published: LeCun et al. 1998, LeNet-5 without distortions";
        assert_eq!(
            wrap(published),
            [
                "published: LeCun et al. 1998,",
                "LeNet-5 without distortions"
            ]
        );
        assert_eq!(
            wrap("relu/cross_entropy/adam@0.001"),
            ["relu/cross_entropy/adam@0.001"]
        );
    }
}
