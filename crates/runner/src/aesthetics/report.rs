//! The report of an aesthetics study: `report/index.html` (the images, a table of every measure
//! per set, the comparisons with real images, what the network likes, people's choices, plots),
//! `report/measures.csv` (every image), the rating pool, the study's record `summary.json` (every
//! figure of the tables, with the build that made them) and its `results.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::maximize::Preferred;
use super::measure::{IMAGE_MEASURES, MIN_IMAGES, Measured, REAL_DRAWS, SET_MEASURES, SetFigure};
use super::people::{self, Ratings};
use super::sets::ImageSet;
use super::study::AestheticsFile;
use crate::error::{Error, Result};
use crate::markdown::Table;
use crate::pictures;
use crate::plot;
use crate::run_dir::write_atomic;
use crate::study::report::mean_std;
use nnlab_rate::{POOL, POOL_LIST};

/// Mean and std of a per-image measure over a set, ignoring values that do not apply.
fn stat(m: &Measured, k: usize) -> Option<(f64, f64)> {
    let xs: Vec<f64> = m
        .per_image
        .iter()
        .map(|r| r[k])
        .filter(|v| v.is_finite())
        .collect();
    (!xs.is_empty()).then(|| mean_std(&xs))
}

/// How the sets are compared with real images, under the table.
const SET_NOTE: &str = "Every set is compared with random samples of real test images of its own size n, drawn REAL_DRAWS times (the figures depend on n: compare two sets' figures only where their n is equal); the figure is the mean over the draws and +- their standard deviation (for the Inception Score, over its 10 splits). A measure is refused where the set is too small for it. Real test images are compared with samples of the other half of the test set, so their column is the baseline of every other. What each measures:";

/// A set measure as a table shows it: the figure with its spread and n, or why it is refused.
fn figure(name: &str, f: &SetFigure) -> String {
    if let Some(why) = &f.refused {
        return format!("refused ({why})");
    }
    match name {
        "images" => format!("{}", f.n),
        _ if f.sd.is_finite() => format!("{} ± {} (n = {})", fmt(f.value), fmt(f.sd), f.n),
        _ => format!("{} (n = {})", fmt(f.value), f.n),
    }
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Markdown (tables included) as HTML; raw HTML in the text is escaped, not passed through.
fn markdown_html(text: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let events = Parser::new_ext(text, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

/// The hypotheses the study tests, as Markdown: each with its measure, the direction it
/// expects, and the sets it is tested on.
fn hypotheses(study: &AestheticsFile) -> String {
    let mut s = String::new();
    for h in &study.hypothesis {
        let sets = if h.sets.is_empty() {
            "every rated image".to_string()
        } else {
            format!("the images of {}", h.sets.join(", "))
        };
        let _ = writeln!(
            s,
            "- {}: `{}` correlates {} with people's scores, over {sets}",
            h.text,
            h.measure,
            match h.expect {
                super::study::Direction::Positive => "positively",
                super::study::Direction::Negative => "negatively",
            }
        );
    }
    s
}

/// Escapes text for HTML.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes everything; returns the path of `results.md`.
pub fn write(
    dir: &Path,
    study: &AestheticsFile,
    sets: &[ImageSet],
    measured: &[Measured],
    preferred: &Preferred,
    ratings: Option<&Ratings>,
) -> Result<PathBuf> {
    let report = dir.join("report");
    std::fs::create_dir_all(report.join("sets")).map_err(|e| Error::io(&report, e))?;
    write_pictures(dir, study, sets, measured, preferred)?;
    write_atomic(
        &report.join("measures.csv"),
        measures_csv(sets, measured).as_bytes(),
    )?;
    write_atomic(
        &dir.join("summary.json"),
        summary(study, sets, measured).as_bytes(),
    )?;
    let plots = measure_plots(&report, sets, measured)?;
    let people_part = people_section(study, sets, measured, ratings);
    let md = markdown(study, sets, measured, preferred, &people_part);
    write_atomic(&dir.join("results.md"), md.as_bytes())?;
    let page = page(study, sets, measured, preferred, &people_part, &plots);
    write_atomic(&report.join("index.html"), page.as_bytes())?;
    Ok(dir.join("results.md"))
}

/// The images of each set, the rating pool (one PNG per image and its list of ids), and what
/// the network likes.
fn write_pictures(
    dir: &Path,
    study: &AestheticsFile,
    sets: &[ImageSet],
    measured: &[Measured],
    preferred: &Preferred,
) -> Result<()> {
    let report = dir.join("report");
    for s in sets {
        let shown = s.images.take(if s.images.width > 64 { 12 } else { 64 });
        let (cols, scale) = if s.images.width > 64 { (6, 1) } else { (16, 2) };
        pictures::save_png(
            &shown.grid(cols, 2, scale),
            &report.join("sets").join(format!("{}.png", s.name)),
        )?;
    }
    std::fs::create_dir_all(report.join("gaze")).map_err(|e| Error::io(&report, e))?;
    for (s, m) in sets.iter().zip(measured) {
        let side = (m.gaze.mean_map.len() as f64).sqrt() as usize;
        if m.gaze.n == 0 || side * side != m.gaze.mean_map.len() {
            continue;
        }
        let map = pictures::diverging(std::slice::from_ref(&m.gaze.mean_map), side);
        pictures::save_png(
            &map.grid(1, 0, (140 / side).max(1)),
            &report.join("gaze").join(format!("{}.png", s.name)),
        )?;
    }
    let pool = people::pool(study, sets);
    std::fs::create_dir_all(dir.join(POOL)).map_err(|e| Error::io(dir, e))?;
    let mut ids = String::new();
    for item in &pool {
        let s = &sets[item.set];
        let one = Images1::of(s, item.index);
        let scale = (280 / one.width.max(1)).max(1);
        pictures::save_png(
            &one.grid(1, 0, scale),
            &dir.join(POOL).join(format!("{}.png", item.id(sets))),
        )?;
        ids.push_str(&item.id(sets));
        ids.push('\n');
    }
    write_atomic(&dir.join(POOL_LIST), ids.as_bytes())?;
    pictures::save_png(
        &preferred.regularised.grid(10, 2, 3),
        &report.join("preferred.png"),
    )?;
    pictures::save_png(
        &preferred.fooling.grid(10, 2, 3),
        &report.join("fooling.png"),
    )
}

/// `measures.csv`: every image's measures, one row per image.
fn measures_csv(sets: &[ImageSet], measured: &[Measured]) -> String {
    let mut csv = String::from("set,index,predicted");
    for (m, _) in IMAGE_MEASURES {
        csv.push(',');
        csv.push_str(m);
    }
    csv.push('\n');
    for (s, m) in sets.iter().zip(measured) {
        for (i, row) in m.per_image.iter().enumerate() {
            let _ = write!(csv, "{},{i},{}", s.name, m.predicted[i]);
            for v in row {
                let _ = write!(
                    csv,
                    ",{}",
                    if v.is_finite() {
                        v.to_string()
                    } else {
                        String::new()
                    }
                );
            }
            csv.push('\n');
        }
    }
    csv
}

/// One plot per image measure, every set a row: the median with its quartiles (the measures are
/// skewed, and some bounded in [0, 1], where mean +- std would pass the bound). None without a
/// font.
fn measure_plots(report: &Path, sets: &[ImageSet], measured: &[Measured]) -> Result<Vec<String>> {
    let mut plots = Vec::new();
    if !plot::font_available() {
        return Ok(plots);
    }
    for (k, (name, what)) in IMAGE_MEASURES.iter().enumerate() {
        let rows: Vec<plot::DotRow> = sets
            .iter()
            .zip(measured)
            .map(|(s, m)| plot::DotRow {
                label: format!("{} (n = {})", s.name, m.per_image.len()),
                values: m
                    .per_image
                    .iter()
                    .map(|r| r[k])
                    .filter(|v| v.is_finite())
                    .collect(),
                anchor: None,
            })
            .filter(|r| !r.values.is_empty())
            .collect();
        if rows.is_empty() {
            continue;
        }
        let file = format!("{name}.png");
        plot::dot_chart(
            &report.join(&file),
            &format!("{name}: median, quartiles, 5th to 95th percentile"),
            what,
            "image set",
            &rows,
            plot::Summary::Quartiles,
            "",
        )?;
        plots.push(file);
    }
    Ok(plots)
}

/// One image of a set as a batch of one.
struct Images1;

impl Images1 {
    fn of(s: &ImageSet, i: usize) -> pictures::Images {
        let each = s.images.width * s.images.height;
        pictures::Images {
            n: 1,
            pixels: s.images.pixels[i * each..(i + 1) * each].to_vec(),
            ..s.images.clone()
        }
    }
}

/// The people part as markdown rows: `None` text when nobody rated.
struct PeoplePart {
    lines: Vec<String>,
}

fn people_section(
    study: &AestheticsFile,
    sets: &[ImageSet],
    measured: &[Measured],
    ratings: Option<&Ratings>,
) -> PeoplePart {
    let mut lines = Vec::new();
    let Some(r) = ratings.filter(|r| !r.choices.is_empty()) else {
        if let Some(r) = ratings {
            lines.push(format!(
                "{} synthetic choices (made by the rating page's test hook, `nnlab rate --synthetic`) are left out; `nnlab aesthetics --with-synthetic` counts them.",
                r.synthetic_left_out
            ));
            lines.push(String::new());
        }
        lines.push(format!(
            "**No human data.** Nobody has rated this study's images yet, so there are no correlations with people's choices. Rate with `nnlab rate` (the pool: the first {} images of each set).",
            study.rated_per_set
        ));
        return PeoplePart { lines };
    };
    lines.push(format!(
        "{} choices by {} rater(s) over {} images; Bradley-Terry scores (Bradley & Terry 1952), and each measure's Spearman correlation with them, with a bootstrap 95 % interval (2,000 resamples).",
        r.choices.len(),
        r.raters,
        r.pool.len()
    ));
    if r.synthetic_left_out > 0 {
        lines.push(format!(
            "{} synthetic choices (made by the rating page's test hook, `nnlab rate --synthetic`) are left out; `nnlab aesthetics --with-synthetic` counts them.",
            r.synthetic_left_out
        ));
    }
    let (scores, correlations) = people::correlate(r, measured, sets, &[], study.seed);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let top: Vec<String> = order
        .iter()
        .take(5)
        .map(|&i| format!("{} ({:+.2})", r.pool[i].id(sets), scores[i]))
        .collect();
    lines.push(format!("Most preferred: {}.", top.join(", ")));
    lines.push(String::new());
    let mut table = Table::new(["measure", "Spearman rho", "95 % interval", "images"]);
    for c in &correlations {
        table.row([
            c.measure.clone(),
            format!("{:+.2}", c.rho),
            format!("[{:+.2}, {:+.2}]", c.low, c.high),
            c.n.to_string(),
        ]);
    }
    lines.extend(table.render().lines().map(str::to_string));
    if !study.hypothesis.is_empty() {
        lines.push(String::new());
        lines.push("Hypotheses, written in `aesthetics.toml` before rating:".into());
        lines.push(String::new());
        for h in &study.hypothesis {
            let (_, cs) = people::correlate(r, measured, sets, &h.sets, study.seed);
            let verdict = match cs.iter().find(|c| c.measure == h.measure) {
                Some(c) => format!(
                    "rho {:+.2} [{:+.2}, {:+.2}], n = {}: **{}**",
                    c.rho,
                    c.low,
                    c.high,
                    c.n,
                    people::verdict(h.expect, c)
                ),
                None => "too few rated images with this measure".into(),
            };
            lines.push(format!("- {} — {verdict}", h.text));
        }
    }
    PeoplePart { lines }
}

/// The study's record, `summary.json`: every figure of the tables (per set, the mean and std of
/// each image measure and each set measure) with the build and the runs that made them.
fn summary(study: &AestheticsFile, sets: &[ImageSet], measured: &[Measured]) -> String {
    let finite = |v: f64| v.is_finite().then_some(v);
    let per_set: serde_json::Map<String, serde_json::Value> = sets
        .iter()
        .zip(measured)
        .map(|(s, m)| {
            let image: serde_json::Map<String, serde_json::Value> = IMAGE_MEASURES
                .iter()
                .enumerate()
                .filter_map(|(k, (name, _))| {
                    stat(m, k).map(|(a, b)| (name.to_string(), serde_json::json!([a, b])))
                })
                .collect();
            let set: serde_json::Map<String, serde_json::Value> = SET_MEASURES
                .iter()
                .zip(&m.per_set)
                .map(|((name, _), f)| {
                    let figure = serde_json::json!({
                        "value": finite(f.value),
                        "sd": finite(f.sd),
                        "n": f.n,
                        "refused": f.refused,
                    });
                    (name.to_string(), figure)
                })
                .collect();
            let figures = serde_json::json!({
                "origin": s.origin,
                "images": m.per_image.len(),
                "image_measures_mean_std": image,
                "set_measures": set,
                "gaze": {
                    "images": m.gaze.n,
                    "attribution_on_strokes": finite(m.gaze.on_strokes),
                    "brightness_on_strokes": finite(m.gaze.brightness_on_strokes),
                    "pixels_that_are_strokes": finite(m.gaze.stroke_pixels),
                },
            });
            (s.name.clone(), figures)
        })
        .collect();
    let record = serde_json::json!({
        "nnlab": env!("CARGO_PKG_VERSION"),
        "git_rev": crate::engine::provenance::GIT_REV,
        "git_dirty": crate::engine::provenance::git_dirty(),
        "eye": study.eye,
        "seed": study.seed,
        "sets": per_set,
    });
    serde_json::to_string_pretty(&record).expect("JSON of plain values") + "\n"
}

/// The results' tables: the sets (`with_sets`; the page shows them as pictures), every image
/// measure, every set measure, with what each is.
fn markdown_measures(sets: &[ImageSet], measured: &[Measured], with_sets: bool) -> String {
    let mut s = String::new();
    if with_sets {
        let mut table = Table::new(["set", "images", "source"]);
        for set in sets {
            table.row([
                set.name.clone(),
                set.images.n.to_string(),
                set.origin.clone(),
            ]);
        }
        let _ = writeln!(s, "\n## Sets\n\n{}", table.render().trim_end());
    }
    let by_set =
        || std::iter::once("measure".to_string()).chain(sets.iter().map(|x| x.name.clone()));
    let mut table = Table::new(by_set());
    for (k, (name, _)) in IMAGE_MEASURES.iter().enumerate() {
        let cells = measured
            .iter()
            .map(|m| stat(m, k).map_or("-".into(), |(a, b)| format!("{} +- {}", fmt(a), fmt(b))));
        table.row(std::iter::once(name.to_string()).chain(cells));
    }
    let _ = writeln!(
        s,
        "\n## Image measures (mean +- std per set)\n\n{}",
        table.render().trim_end()
    );
    let _ = writeln!(s, "\nWhat each measures:\n");
    for (name, what) in IMAGE_MEASURES {
        let _ = writeln!(s, "- `{name}`: {what}");
    }
    let mut table = Table::new(by_set());
    for (k, (name, _)) in SET_MEASURES.iter().enumerate() {
        let cells = measured.iter().map(|m| figure(name, &m.per_set[k]));
        table.row(std::iter::once(name.to_string()).chain(cells));
    }
    let _ = writeln!(
        s,
        "\n## Sets compared with real test images\n\n{}",
        table.render().trim_end()
    );
    let note = SET_NOTE.replace("REAL_DRAWS", &REAL_DRAWS.to_string());
    let _ = writeln!(s, "\n{note}\n");
    for (k, (name, what)) in SET_MEASURES.iter().enumerate() {
        let need = match (*name, MIN_IMAGES[k]) {
            ("fid", _) => {
                " (needs at least twice as many images as the eye has features)".to_string()
            }
            (_, n) if n > 1 => format!(" (needs at least {n} images)"),
            _ => String::new(),
        };
        let _ = writeln!(s, "- `{name}`: {what}{need}");
    }
    s
}

/// "What the eye looks at": per set, the share of the eye's attribution on the strokes against
/// the share of pixels that are strokes, and its mean attribution map; pictures under `prefix`.
fn gaze_section(sets: &[ImageSet], measured: &[Measured], prefix: &str) -> String {
    let mut table = crate::markdown::Table::new([
        "set",
        "images",
        "attribution on strokes",
        "brightness on strokes",
        "pixels that are strokes",
        "attribution / brightness",
    ]);
    let mut pictures = String::new();
    for (s, m) in sets.iter().zip(measured) {
        let g = &m.gaze;
        if g.n == 0 {
            table.row([s.name.clone(), "0".into()]);
            continue;
        }
        table.row([
            s.name.clone(),
            g.n.to_string(),
            format!("{:.1} %", 100.0 * g.on_strokes),
            format!("{:.1} %", 100.0 * g.brightness_on_strokes),
            format!("{:.1} %", 100.0 * g.stroke_pixels),
            if g.brightness_on_strokes > 0.0 {
                format!("{:.2}", g.on_strokes / g.brightness_on_strokes)
            } else {
                "-".into()
            },
        ]);
        pictures.push_str(&format!("![{0}]({prefix}gaze/{0}.png) ", s.name));
    }
    format!(
        "\n## What the eye looks at\n\nIntegrated gradients (Sundararajan et al. 2017) of the eye's predicted class, from a black baseline over {} points, for each set's first {} images: the share of each image's |attribution| that falls on its strokes (pixels above 0.5), the mean over the images. From a black baseline a pixel's attribution is its brightness times its mean gradient, so a black pixel gets none and bright pixels get more whatever the eye does: the share of the brightness on the strokes is what the attribution's share would be if the eye weighted every pixel alike. A ratio above 1: the eye's gradients favour the strokes beyond their brightness; below 1, the rest. The maps are the mean |attribution| per pixel, each image's scaled to sum 1; darker red, more. `nnlab explain` draws single images' maps.\n\n{}\n\n{}\n",
        super::eye::GAZE_STEPS,
        super::eye::GAZE_IMAGES,
        table.render().trim_end(),
        pictures.trim_end()
    )
}

fn markdown(
    study: &AestheticsFile,
    sets: &[ImageSet],
    measured: &[Measured],
    preferred: &Preferred,
    people: &PeoplePart,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", study.title);
    let _ = writeln!(
        s,
        "Generated by `nnlab aesthetics` from `aesthetics.toml`; the page with the images is [report/index.html](report/index.html), every image's measures are in `report/measures.csv`, every figure of the tables below with the revision that made it in `summary.json`. Do not edit by hand.\n"
    );
    let _ = writeln!(
        s,
        "- the eye: `{}`; measured by nnlab {} at git revision {}",
        study.eye.display(),
        env!("CARGO_PKG_VERSION"),
        crate::engine::provenance::revision()
    );
    let _ = writeln!(
        s,
        "- seed {}, up to {} images per set",
        study.seed, study.images
    );
    if let Some(n) = &study.notes {
        let _ = writeln!(s, "\n{}", n.trim());
    }
    s.push_str(&markdown_measures(sets, measured, true));
    s.push_str(&gaze_section(sets, measured, "report/"));
    let _ = writeln!(s, "\n## What the network likes\n");
    let _ = writeln!(
        s,
        "Activation maximisation per class (Erhan et al. 2009), with L2 and total-variation regularisation, then without (fooling images, Nguyen et al. 2015); the eye's probability of the intended class under each:\n"
    );
    let _ = writeln!(
        s,
        "![preferred](report/preferred.png)\n\n![fooling](report/fooling.png)\n"
    );
    let conf = |v: &[f64]| {
        v.iter()
            .map(|c| format!("{c:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        s,
        "- regularised, classes 0-9: {}",
        conf(&preferred.regularised_confidence)
    );
    let _ = writeln!(
        s,
        "- unregularised, classes 0-9: {}",
        conf(&preferred.fooling_confidence)
    );
    if !study.hypothesis.is_empty() {
        let _ = writeln!(
            s,
            "\n## Hypotheses\n\nWritten in `aesthetics.toml` before anyone rated; people's choices test them below.\n\n{}",
            hypotheses(study).trim_end()
        );
    }
    let _ = writeln!(s, "\n## People\n");
    for l in &people.lines {
        let _ = writeln!(s, "{l}");
    }
    s
}

fn page(
    study: &AestheticsFile,
    sets: &[ImageSet],
    measured: &[Measured],
    preferred: &Preferred,
    people: &PeoplePart,
    plots: &[String],
) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
         body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}}.sets{{display:flex;flex-wrap:wrap;gap:1.5em}}\
         figure{{margin:0}}img{{max-width:100%}}.plots img{{width:48%}}\
         </style></head><body>\n<h1>{}</h1>\n",
        html(&study.title),
        html(&study.title)
    );
    if let Some(n) = &study.notes {
        let _ = writeln!(s, "<p>{}</p>", html(n.trim()).replace("\n\n", "</p><p>"));
    }
    let _ = writeln!(s, "<h2>Sets</h2><div class=\"sets\">");
    for set in sets {
        let _ = writeln!(
            s,
            "<figure><img src=\"sets/{0}.png\" alt=\"{0}\"><figcaption><b>{0}</b> (n = {2}): {1}</figcaption></figure>",
            html(&set.name),
            html(&set.origin),
            set.images.n
        );
    }
    let _ = writeln!(s, "</div>");
    // The same tables and definitions as results.md.
    s.push_str(&markdown_html(&markdown_measures(sets, measured, false)));
    s.push_str(&markdown_html(&gaze_section(sets, measured, "")));
    let _ = writeln!(
        s,
        "<h2>What the network likes</h2><p>Per class, regularised (top) and unregularised, fooling (bottom):</p>\
         <img src=\"preferred.png\" alt=\"preferred images\"><br><img src=\"fooling.png\" alt=\"fooling images\">"
    );
    if !study.hypothesis.is_empty() {
        let _ = writeln!(
            s,
            "<h2>Hypotheses</h2><p>Written in <code>aesthetics.toml</code> before anyone rated:</p>{}",
            markdown_html(&hypotheses(study))
        );
    }
    let _ = writeln!(s, "<h2>People</h2>");
    s.push_str(&markdown_html(&people.lines.join("\n")));
    let _ = writeln!(s, "<h2>Plots</h2><div class=\"plots\">");
    for p in plots {
        let _ = writeln!(s, "<img src=\"{0}\" alt=\"{0}\">", html(p));
    }
    let _ = writeln!(
        s,
        "</div>\n<p>Every image's measures: <a href=\"measures.csv\">measures.csv</a>.</p>"
    );
    let _ = writeln!(
        s,
        "<p>Regularised images' confidence: {:?}</p>",
        preferred
            .regularised_confidence
            .iter()
            .map(|c| (c * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    s.push_str("</body></html>\n");
    s
}
