//! A power law fitted to a study's runs: a figure `y` (an error) against a size `x` (training
//! images), `y = a x^b`, one curve per value of an axis (a model). Learning curves of this kind
//! follow power laws over orders of magnitude (Hestness et al. 2017, "Deep learning scaling is
//! predictable, empirically"). The fit is least squares on `(ln x, ln y)` over every run (each
//! seed a point); the exponent's 95 % interval is the 2.5th to 97.5th percentile of the exponents
//! of 2,000 bootstrap resamples of the runs (seeded, so the report redraws the same).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::file::{Scaling, StudyFile, in_percent};
use super::grid::Cell;
use super::jobs::Finished;

/// Bootstrap resamples for the exponent's interval.
const RESAMPLES: usize = 2000;

/// One curve: its runs' points and the fitted law.
#[derive(Debug, Clone)]
pub struct Curve {
    /// The axis value (e.g. `lenet5`).
    pub label: String,
    /// Every run's `(x, y)`.
    pub points: Vec<(f64, f64)>,
    /// `ln a` and `b` of `y = a x^b`, when there are two sizes or more.
    pub fit: Option<(f64, f64)>,
    /// The exponent's 95 % bootstrap interval.
    pub interval: Option<(f64, f64)>,
}

/// A run's `y`: the figure, as an error where it is an accuracy (`1 - accuracy`, in percent).
fn y_of(metric: &str, value: f64) -> f64 {
    if in_percent(metric) {
        100.0 * (1.0 - value)
    } else {
        value
    }
}

/// Least squares of `ln y` on `ln x`: `(ln a, b)`; `None` without two distinct sizes or with a
/// value that is not positive.
pub fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    if points.iter().any(|&(x, y)| x <= 0.0 || y <= 0.0) {
        return None;
    }
    let n = points.len() as f64;
    let (lx, ly): (Vec<f64>, Vec<f64>) = points.iter().map(|&(x, y)| (x.ln(), y.ln())).unzip();
    let mx = lx.iter().sum::<f64>() / n;
    let my = ly.iter().sum::<f64>() / n;
    let sxx: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx < 1e-12 {
        return None;
    }
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

/// How much of the variance of `ln y` the fitted law explains (R^2 on the logarithms): near 1
/// for a power law, lower where the curve bends (an error that levels off).
pub fn r_squared(points: &[(f64, f64)], (ln_a, b): (f64, f64)) -> f64 {
    let ly: Vec<f64> = points.iter().map(|p| p.1.ln()).collect();
    let mean = ly.iter().sum::<f64>() / ly.len() as f64;
    let total: f64 = ly.iter().map(|y| (y - mean).powi(2)).sum();
    let residual: f64 = points
        .iter()
        .zip(&ly)
        .map(|(p, y)| (y - (ln_a + b * p.0.ln())).powi(2))
        .sum();
    if total > 0.0 {
        1.0 - residual / total
    } else {
        1.0
    }
}

/// The exponent's 95 % interval over bootstrap resamples of `points`.
fn interval(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut exponents: Vec<f64> = (0..RESAMPLES)
        .filter_map(|_| {
            let sample: Vec<(f64, f64)> = (0..points.len())
                .map(|_| points[rng.random_range(0..points.len())])
                .collect();
            fit(&sample).map(|f| f.1)
        })
        .collect();
    if exponents.len() < RESAMPLES / 2 {
        return None;
    }
    exponents.sort_by(f64::total_cmp);
    let at = |q: f64| exponents[((exponents.len() - 1) as f64 * q).round() as usize];
    Some((at(0.025), at(0.975)))
}

/// The curves of `s`: one per value of its axis `by`, in the axis' order.
pub fn curves(study: &StudyFile, cells: &[Cell], done: &[Finished], s: &Scaling) -> Vec<Curve> {
    let Some(axis) = study.axis.iter().position(|a| a.name == s.by) else {
        return Vec::new();
    };
    let mut out: Vec<Curve> = Vec::new();
    for f in done {
        let label = cells[f.cell]
            .label
            .split('/')
            .nth(axis)
            .unwrap_or_default()
            .to_string();
        let (Some(x), Some(v)) = (size_of(f, &s.x), f.summary.metric(&s.metric)) else {
            continue;
        };
        let point = (x, y_of(&s.metric, v));
        match out.iter_mut().find(|c| c.label == label) {
            Some(c) => c.points.push(point),
            None => out.push(Curve {
                label,
                points: vec![point],
                fit: None,
                interval: None,
            }),
        }
    }
    for c in &mut out {
        c.fit = fit(&c.points);
        c.interval = c.fit.and_then(|_| interval(&c.points));
    }
    out
}

/// A run's size: `train_examples` (the summary's own field) or any figure of its summary.
fn size_of(f: &Finished, key: &str) -> Option<f64> {
    if key == "train_examples" {
        Some(f.summary.train_examples as f64)
    } else {
        f.summary.metric(key)
    }
}

/// Where two fitted laws cross: `x` with equal `y`, if they are not parallel.
pub fn crossing(a: (f64, f64), b: (f64, f64)) -> Option<f64> {
    let slope = a.1 - b.1;
    (slope.abs() > 1e-9).then(|| ((b.0 - a.0) / slope).exp())
}

/// Where each pair of fitted curves crosses, in words, as Markdown list items.
fn crossings(curves: &[Curve], lo: f64, hi: f64) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, a) in curves.iter().enumerate() {
        for b in &curves[i + 1..] {
            let (Some(fa), Some(fb)) = (a.fit, b.fit) else {
                continue;
            };
            let line = match crossing(fa, fb) {
                Some(x) if x >= lo && x <= hi => format!(
                    "- the fitted laws of `{}` and `{}` cross at n = {x:.0}: by the fits, `{}` errs less below it and `{}` above it (a property of the fits; the table of cells gives the measured errors).",
                    a.label,
                    b.label,
                    if fa.1 > fb.1 { &a.label } else { &b.label },
                    if fa.1 > fb.1 { &b.label } else { &a.label },
                ),
                Some(x) => format!(
                    "- the fitted laws of `{}` and `{}` do not cross between n = {lo:.0} and {hi:.0} (they would at n = {x:.3e}).",
                    a.label, b.label
                ),
                None => format!(
                    "- the fitted laws of `{}` and `{}` are parallel.",
                    a.label, b.label
                ),
            };
            lines.push(line);
        }
    }
    lines
}

/// The report's section: the fitted law per curve and where the curves cross, as Markdown lines.
pub fn section(curves: &[Curve], s: &Scaling) -> Vec<String> {
    let what = if in_percent(&s.metric) {
        format!("test error (%, 1 - {})", s.metric.replace('_', " "))
    } else {
        s.metric.replace('_', " ")
    };
    let xs: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .collect();
    let (lo, hi) = (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(0.0, f64::max),
    );
    let mut lines = vec![
        format!("\n## Power law\n"),
        format!(
            "{what} = a n^b, fitted by least squares on the logarithms of every run (n = {}), with the exponent's 95 % bootstrap interval:\n",
            s.x.replace('_', " ")
        ),
    ];
    let mut table = crate::markdown::Table::new([
        s.by.as_str(),
        "exponent b",
        "95 % interval",
        "a",
        "fitted at the smallest n",
        "fitted at the largest n",
        "R^2 (logs)",
        "runs",
    ]);
    for c in curves {
        let Some((ln_a, b)) = c.fit else {
            table.row([
                c.label.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                c.points.len().to_string(),
            ]);
            continue;
        };
        let at = |x: f64| (ln_a + b * x.ln()).exp();
        table.row([
            c.label.clone(),
            format!("{b:.3}"),
            c.interval
                .map_or("-".into(), |(l, h)| format!("{l:.3} to {h:.3}")),
            format!("{:.4}", ln_a.exp()),
            format!("{:.3} (n = {lo:.0})", at(lo)),
            format!("{:.3} (n = {hi:.0})", at(hi)),
            format!("{:.3}", r_squared(&c.points, (ln_a, b))),
            c.points.len().to_string(),
        ]);
    }
    lines.extend(table.render().lines().map(str::to_string));
    lines.push(String::new());
    lines.extend(crossings(curves, lo, hi));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_law_is_found_again() {
        // y = 50 x^-0.4, exactly: the fit returns it.
        let points: Vec<(f64, f64)> = [100.0, 1000.0, 10000.0]
            .iter()
            .map(|&x: &f64| (x, 50.0 * x.powf(-0.4)))
            .collect();
        let (ln_a, b) = fit(&points).unwrap();
        assert!((b + 0.4).abs() < 1e-12 && (ln_a.exp() - 50.0).abs() < 1e-9);
        assert!((r_squared(&points, (ln_a, b)) - 1.0).abs() < 1e-12);
        let (lo, hi) = interval(&points).unwrap();
        assert!((lo + 0.4).abs() < 1e-9 && (hi + 0.4).abs() < 1e-9);
        // y = 10 x^-0.2 and y = 100 x^-0.5 meet where 10 x^0.3 = 100: x = 10^(1/0.3).
        let x = crossing((10f64.ln(), -0.2), (100f64.ln(), -0.5)).unwrap();
        assert!((x / 10f64.powf(1.0 / 0.3) - 1.0).abs() < 1e-9);
        assert!(fit(&[(100.0, 1.0), (100.0, 2.0)]).is_none(), "one size");
        assert!(
            fit(&[(100.0, 0.0), (1000.0, 2.0)]).is_none(),
            "a zero error"
        );
    }
}
