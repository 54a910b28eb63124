//! The study's PNG charts: learning curves per group of cells — the mean over seeds with a band
//! of one standard deviation, the published number as a dashed line where the study has one,
//! losses of different kinds on charts of their own — and, for grids, a dot plot of the first
//! tabulated figure per cell: every seed a dot, mean +- std, each cell's anchor with its band
//! and the gap to it, on an axis zoomed to the data.

use std::path::Path;

use super::file::{StudyFile, higher_is_better, in_percent};
use super::grid::{Cell, first_axis_groups};
use super::jobs::Finished;
use super::report::{mean_std, runs_of, shown};
use crate::error::Result;
use crate::plot::{self, Reference, Series};

/// A metric in words with its unit, for a model of `kind` (`model.kind`): `test accuracy (%)`,
/// `test elbo (nats)`, `train discriminator loss (nats)`.
pub fn axis_label(metric: &str, kind: &str) -> String {
    let (split, name) = ["train_", "valid_", "test_"]
        .iter()
        .find_map(|p| metric.strip_prefix(p).map(|rest| (&p[..p.len() - 1], rest)))
        .unwrap_or(("", metric));
    let words = match name {
        "d_loss" => "discriminator loss (nats)".to_string(),
        "g_loss" => "generator loss (nats)".to_string(),
        "d_real" => "D(x) on real images (probability)".to_string(),
        "d_fake" => "D(G(z)) on generated images (probability)".to_string(),
        "diversity" => "diversity (pixel std across samples)".to_string(),
        "loss" if kind == "vae" => "loss (nats: -ELBO per image)".to_string(),
        "loss" if kind == "autoencoder" => "loss (per image)".to_string(),
        _ => {
            let unit = if in_percent(metric) {
                " (%)"
            } else if name.contains("recon_error") {
                " (squared error per image)"
            } else if ["elbo", "parzen_ll", "kl", "recon"]
                .iter()
                .any(|w| name.contains(w))
            {
                " (nats)"
            } else {
                ""
            };
            format!("{}{unit}", name.replace('_', " "))
        }
    };
    if split.is_empty() {
        words
    } else {
        format!("{split} {words}")
    }
}

/// The curve of cell `c` for `metric`: mean over its seeds per epoch, with the band of one
/// standard deviation when there are several seeds.
fn curve(done: &[Finished], c: usize, metric: &str, label: String) -> Option<Series> {
    let runs = runs_of(done, c);
    let epochs = runs.iter().map(|f| f.table.rows.len()).min()?;
    let mut points = Vec::new();
    let mut band = Vec::new();
    for e in 0..epochs {
        let vals: Vec<f64> = runs
            .iter()
            .filter_map(|f| f.table.get(&f.table.rows[e], metric))
            .map(|v| shown(metric, v))
            .collect();
        if vals.is_empty() {
            continue;
        }
        let (m, s) = mean_std(&vals);
        points.push(((e + 1) as f64, m));
        band.push((m - s, m + s));
    }
    (!points.is_empty()).then(|| Series {
        family: plot::family(&label),
        label,
        points,
        band: (runs.len() > 1).then_some(band),
        faded: false,
    })
}

/// Draws the charts next to `results`; returns their file names, or why there are none.
pub fn write(
    study: &StudyFile,
    study_dir: &Path,
    cells: &[Cell],
    done: &[Finished],
    results: &Path,
) -> Result<std::result::Result<Vec<String>, String>> {
    if !plot::font_available() {
        return Ok(Err(
            "charts skipped: no TrueType font found (set NNLAB_FONT to a .ttf file)".into(),
        ));
    }
    let c = Charts {
        study,
        cells,
        done,
        folder: results.parent().unwrap_or(Path::new(".")),
        // The model kind, for units (a study's cells may mix kinds; the first run's names them).
        kind: done
            .first()
            .map(|f| f.config.model.kind().to_string())
            .unwrap_or_default(),
    };
    let mut files = Vec::new();
    for name in &study.curves {
        files.extend(c.curves(name)?);
    }
    for stops in &study.stops {
        files.extend(stops_chart(
            study, study_dir, cells, done, c.folder, stops, &c.kind,
        )?);
    }
    if cells.len() > 1 {
        files.extend(c.cells_figure()?);
    }
    for r in &study.real_data {
        files.extend(c.real_data_chart(r)?);
    }
    if let Some(sc) = &study.scaling {
        let curves = super::scaling::curves(study, cells, done, sc);
        if !curves.is_empty() {
            let file = format!("power-law-{}.png", sc.metric.trim_start_matches("test_"));
            let what = if in_percent(&sc.metric) {
                "test error (%)".to_string()
            } else {
                axis_label(&sc.metric, &c.kind)
            };
            plot::power_law_chart(
                &c.folder.join(&file),
                &format!(
                    "{what} against {}: every run a dot, the fitted power law a line (log-log)",
                    sc.x.replace('_', " ")
                ),
                &sc.x.replace('_', " "),
                &what,
                &sc.by,
                &curves
                    .iter()
                    .map(|k| (k.label.clone(), k.points.clone(), k.fit))
                    .collect::<Vec<_>>(),
            )?;
            files.push(file);
        }
    }
    Ok(Ok(files))
}

/// What every chart of a study needs.
struct Charts<'a> {
    study: &'a StudyFile,
    cells: &'a [Cell],
    done: &'a [Finished],
    folder: &'a Path,
    kind: String,
}

impl Charts<'_> {
    /// A cell's name in a legend or on an axis.
    fn label(&self, c: &Cell) -> String {
        if c.label.is_empty() {
            "nnlab".to_string()
        } else {
            c.label.clone()
        }
    }

    /// A chart's title: what it shows, then how it summarises the seeds (nothing to average
    /// over one seed).
    fn title(&self, what: String, over_seeds: String) -> String {
        let (_, most) = self.seed_counts();
        if most > 1 {
            format!("{what} ({over_seeds})")
        } else {
            format!("{what} (1 seed)")
        }
    }

    /// The fewest and the most seeds of a cell (cells may have seeds of their own).
    fn seed_counts(&self) -> (usize, usize) {
        self.cells
            .iter()
            .map(|c| c.seeds.as_ref().unwrap_or(&self.study.seeds).len())
            .fold((usize::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)))
    }

    fn seeds(&self) -> String {
        match self.seed_counts() {
            (1, 1) => "1 seed".to_string(),
            (lo, hi) if lo == hi => format!("{lo} seeds"),
            (lo, hi) => format!("{lo} to {hi} seeds"),
        }
    }

    /// What the legend's labels are values of: the axes' names, less the first `skip` (the
    /// first axis when each of its values has a chart of its own).
    fn axis_names(&self, skip: usize) -> Option<String> {
        let names: Vec<&str> = self
            .study
            .axis
            .iter()
            .skip(skip)
            .map(|a| a.name.as_str())
            .collect();
        (!names.is_empty()).then(|| names.join("/"))
    }

    /// The groups of cells that share a curves chart: the study's `[[curve_group]]`s, else one
    /// per value of the first axis (with two or more axes, so the lines stay readable).
    /// The flag says whether the groups are the first axis' values (whose labels then drop
    /// that value).
    fn groups(&self) -> (Vec<(String, Vec<usize>)>, bool) {
        if self.study.curve_group.is_empty() {
            return (first_axis_groups(self.study, self.cells), true);
        }
        let groups = self
            .study
            .curve_group
            .iter()
            .map(|g| {
                let members = self
                    .cells
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| g.cells.contains(&c.label))
                    .map(|(i, _)| i)
                    .collect();
                (g.name.clone(), members)
            })
            .collect();
        (groups, false)
    }

    /// The curves charts of figure `name`: one per group, and within it one per loss function
    /// (losses of different kinds do not share an axis).
    fn curves(&self, name: &str) -> Result<Vec<String>> {
        let mut files = Vec::new();
        let (groups, by_axis) = self.groups();
        for (group, members) in groups {
            let mut by_loss: Vec<(String, Vec<usize>)> = Vec::new();
            for &c in &members {
                let loss = match runs_of(self.done, c).first() {
                    Some(f) if name.ends_with("_loss") => super::loss_name(&f.config),
                    _ => String::new(),
                };
                match by_loss.iter_mut().find(|(l, _)| *l == loss) {
                    Some((_, v)) => v.push(c),
                    None => by_loss.push((loss, vec![c])),
                }
            }
            let split = by_loss.len() > 1;
            for (loss, members) in by_loss {
                let loss = split.then_some(loss.as_str());
                if let Some(file) = self.curves_chart(name, &group, by_axis, loss, &members)? {
                    files.push(file);
                }
            }
        }
        Ok(files)
    }

    /// One curves chart: `members`' curves of `name`, with their anchors.
    fn curves_chart(
        &self,
        name: &str,
        group: &str,
        by_axis: bool,
        loss: Option<&str>,
        members: &[usize],
    ) -> Result<Option<String>> {
        let series: Vec<Series> = members
            .iter()
            .filter_map(|&c| {
                let cell = self.label(&self.cells[c]);
                let short = match cell.split_once('/') {
                    Some((_, rest)) if by_axis && !group.is_empty() => rest.to_string(),
                    _ => cell,
                };
                curve(self.done, c, name, short)
            })
            .collect();
        if series.is_empty() {
            return Ok(None);
        }
        let series = best_of_each_family(series, name);
        let mut parts = vec![format!("curves-{name}")];
        parts.extend((!group.is_empty()).then(|| group.to_string()));
        parts.extend(loss.map(str::to_string));
        let file = format!("{}.png", parts.join("-"));
        let mut what: Vec<String> = Vec::new();
        what.extend((!group.is_empty()).then(|| group.to_string()));
        what.extend(loss.map(|l| format!("{l} loss")));
        let prefix = if what.is_empty() {
            String::new()
        } else {
            format!("{}: ", what.join(", "))
        };
        plot::line_chart(
            &self.folder.join(&file),
            &self.title(
                format!("{prefix}{}", name.replace('_', " ")),
                format!("mean over {}, band: +-1 std", self.seeds()),
            ),
            "epoch",
            &axis_label(name, &self.kind),
            self.axis_names(usize::from(by_axis && !group.is_empty()))
                .as_deref(),
            &series,
            &anchors_of(self.study, self.cells, members, name),
        )?;
        Ok(Some(file))
    }

    /// The dot plots of the study's first figure per cell: the anchored cells on an axis of
    /// their own, zoomed to them (the study's question is their gap, which the other cells'
    /// range would squash), and every cell.
    fn cells_figure(&self) -> Result<Vec<String>> {
        let metric = self
            .study
            .metrics
            .first()
            .cloned()
            .unwrap_or_else(|| "test_accuracy".into());
        let rows: Vec<plot::DotRow> = self
            .cells
            .iter()
            .enumerate()
            .filter(|(c, _)| !runs_of(self.done, *c).is_empty())
            .map(|(c, cell)| self.dot_row(c, cell, &metric))
            .collect();
        let unit = if in_percent(&metric) { " pp" } else { "" };
        let name = metric.trim_start_matches("test_");
        let anchored: Vec<plot::DotRow> = rows
            .iter()
            .filter(|r| r.anchor.is_some())
            .cloned()
            .collect();
        let charts = if anchored.is_empty() || anchored.len() == rows.len() {
            vec![(format!("{name}.png"), rows, "")]
        } else {
            vec![
                (
                    format!("{name}.png"),
                    anchored,
                    "the cells with an anchor: ",
                ),
                (format!("{name}-all-cells.png"), rows, "every cell: "),
            ]
        };
        let mut files = Vec::new();
        for (file, rows, which) in charts {
            plot::dot_chart(
                &self.folder.join(&file),
                &self.title(
                    format!("{which}final {}", metric.replace('_', " ")),
                    format!("every seed a dot, mean +- std over {}", self.seeds()),
                ),
                &axis_label(&metric, &self.kind),
                &self.axis_names(0).unwrap_or_default(),
                &rows,
                plot::Summary::MeanSd,
                unit,
            )?;
            files.push(file);
        }
        Ok(files)
    }

    /// `real-data-<metric>.png`: each cell's samples' figure (every seed a dot) against the same
    /// figure of real data from the same runs, with its uncertainty as the band.
    fn real_data_chart(&self, r: &super::file::RealData) -> Result<Option<String>> {
        let rows: Vec<plot::DotRow> = self
            .cells
            .iter()
            .enumerate()
            .filter(|(c, _)| !runs_of(self.done, *c).is_empty())
            .map(|(c, cell)| plot::DotRow {
                label: self.label(cell),
                values: runs_of(self.done, c)
                    .iter()
                    .filter_map(|f| f.summary.metric(&r.metric))
                    .map(|v| shown(&r.metric, v))
                    .collect(),
                anchor: super::anchors::uncertain(self.done, c, &r.real).map(|(v, sd)| {
                    (
                        shown(&r.real, v),
                        sd.map(|s| shown(&r.real, s)),
                        "real data",
                    )
                }),
            })
            .collect();
        if rows.iter().all(|row| row.values.is_empty()) {
            return Ok(None);
        }
        let file = format!("real-data-{}.png", r.metric.trim_start_matches("test_"));
        plot::dot_chart(
            &self.folder.join(&file),
            &self.title(
                format!(
                    "{} of the samples against real data",
                    r.metric.replace('_', " ")
                ),
                format!("every seed a dot, mean +- std over {}", self.seeds()),
            ),
            &axis_label(&r.metric, &self.kind),
            &self.axis_names(0).unwrap_or_default(),
            &rows,
            plot::Summary::MeanSd,
            "",
        )?;
        Ok(Some(file))
    }

    /// Cell `c`'s row: every seed's figure, and its anchor.
    fn dot_row(&self, c: usize, cell: &Cell, metric: &str) -> plot::DotRow {
        plot::DotRow {
            label: self.label(cell),
            values: runs_of(self.done, c)
                .iter()
                .filter_map(|f| f.summary.metric(metric))
                .map(|v| shown(metric, v))
                .collect(),
            anchor: self
                .study
                .expect
                .iter()
                .find(|e| e.cell == cell.label && e.metric == metric)
                .map(|e| {
                    (
                        shown(metric, e.value),
                        e.std.map(|sd| shown(metric, sd)),
                        anchor_kind(&e.source),
                    )
                }),
        }
    }
}

/// Where a setting (an optimizer) has several curves that differ only in their learning rate
/// (`adam@0.001`, `adam@0.003`), all but the one that ends best on `metric` are faded, so the
/// chart reads as each setting at its best learning rate.
fn best_of_each_family(mut series: Vec<Series>, metric: &str) -> Vec<Series> {
    let higher = higher_is_better(metric);
    let end = |s: &Series| s.points.last().map_or(f64::NAN, |p| p.1);
    // The same setting at another learning rate: the label up to its `@`.
    let setting = |s: &Series| s.label.rsplit_once('@').map(|(head, _)| head.to_string());
    for i in 0..series.len() {
        let Some(own) = setting(&series[i]) else {
            continue;
        };
        let members: Vec<usize> = (0..series.len())
            .filter(|&j| setting(&series[j]).as_deref() == Some(own.as_str()))
            .collect();
        if members.len() < 2 {
            continue;
        }
        let best = members
            .iter()
            .copied()
            .filter(|&j| end(&series[j]).is_finite())
            .max_by(|&a, &b| {
                let (x, y) = (end(&series[a]), end(&series[b]));
                if higher {
                    x.total_cmp(&y)
                } else {
                    y.total_cmp(&x)
                }
            });
        series[i].faded = best.is_some_and(|b| b != i);
    }
    series
}

/// `stops-<metric>[-<name>].png`: the figure after each stop of training (the finished runs' summaries and
/// the earlier stops'), the study's anchors for it, and real data's figure as a line.
fn stops_chart(
    study: &StudyFile,
    study_dir: &Path,
    cells: &[Cell],
    done: &[Finished],
    folder: &Path,
    stops: &super::file::Stops,
    kind: &str,
) -> Result<Option<String>> {
    let m = &stops.metric;
    let point = |s: &crate::engine::metrics::Summary| {
        s.metric(m)
            .map(|v| (s.epochs as f64, v, s.metric(&format!("{m}_se"))))
    };
    let included = |f: &&Finished| {
        let label = &cells[f.cell].label;
        stops.cells.as_ref().is_none_or(|c| c.contains(label))
    };
    let mut summaries: Vec<crate::engine::metrics::Summary> = done
        .iter()
        .filter(included)
        .map(|f| f.summary.clone())
        .collect();
    let dir = study_dir.join(&stops.summaries);
    // No folder: no earlier stops, only the finished runs.
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("summary-epoch-") && name.ends_with(".json") {
            summaries.push(crate::engine::metrics::Summary::read(&e.path())?);
        }
    }
    let mut all: Vec<plot::Stop> = summaries.iter().filter_map(point).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Several runs (seeds) at one stop: their mean, with the standard error of that mean.
    let mut points: Vec<plot::Stop> = Vec::new();
    for chunk in all.chunk_by(|a, b| a.0 == b.0) {
        let values: Vec<f64> = chunk.iter().map(|p| p.1).collect();
        let (mean, sd) = mean_std(&values);
        let se = if chunk.len() > 1 {
            Some(sd / (chunk.len() as f64).sqrt())
        } else {
            chunk[0].2
        };
        points.push((chunk[0].0, mean, se));
    }
    if points.is_empty() {
        return Ok(None);
    }
    let all: Vec<usize> = (0..cells.len()).collect();
    let mut references = anchors_of(study, cells, &all, m);
    if let Some(real) = &stops.real {
        let values: Vec<f64> = summaries.iter().filter_map(|s| s.metric(real)).collect();
        if !values.is_empty() {
            let (mean, _) = mean_std(&values);
            references.push(Reference {
                value: mean,
                band: None,
                label: format!(
                    "real data {}: the same estimate of test images",
                    plot::significant(mean)
                ),
            });
        }
    }
    let file = stops.file();
    plot::stops_chart(
        &folder.join(&file),
        &format!(
            "{} after each stop of training{} (+-1 standard error)",
            m.replace('_', " "),
            stops
                .name
                .as_ref()
                .map(|n| format!(", {n}"))
                .unwrap_or_default()
        ),
        &axis_label(m, kind),
        &points,
        &references,
    )?;
    Ok(Some(file))
}

/// The anchors of a curves chart of `metric` over the cells `members`: the study's reference
/// (a single-cell study) and each member's expected figure, one line per distinct value.
fn anchors_of(
    study: &StudyFile,
    cells: &[Cell],
    members: &[usize],
    metric: &str,
) -> Vec<Reference> {
    let mut out: Vec<Reference> = Vec::new();
    if let Some(r) = study
        .reference
        .as_ref()
        .filter(|r| r.metric == metric && cells.len() == 1)
    {
        out.push(Reference {
            value: shown(metric, r.value),
            band: r.std.map(|sd| shown(metric, sd)),
            label: format!("{}: {}", anchor_kind(&r.source), shorten(&r.source, 160)),
        });
    }
    for e in &study.expect {
        let member = members.iter().any(|&c| cells[c].label == e.cell);
        let value = shown(metric, e.value);
        if e.metric != metric || !member || out.iter().any(|r| r.value == value) {
            continue;
        }
        out.push(Reference {
            value,
            band: e.std.map(|sd| shown(metric, sd)),
            label: format!(
                "{} {}: {}",
                anchor_kind(&e.source),
                published(value),
                shorten(&e.source, 160)
            ),
        });
    }
    out
}

/// A published figure as published: up to four decimals, no trailing zeros (13.87, 225, 96.6).
fn published(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Whether an anchor is a paper's number or one of the peer scripts' runs, from its source.
pub fn anchor_kind(source: &str) -> &'static str {
    if ["Keras", "PyTorch", "peers", "JAX"]
        .iter()
        .any(|w| source.contains(w))
    {
        "peer run"
    } else {
        "paper"
    }
}

/// `text` cut to `n` characters with an ellipsis.
fn shorten(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(n).collect::<String>())
    }
}
