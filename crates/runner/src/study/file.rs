//! `study.toml`: the config a study runs, its seeds and overrides, an optional grid of axes, the
//! published numbers it reproduces, and what its report shows.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// `study.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    /// One line saying what the study reproduces.
    pub title: String,
    /// The config, relative to the study folder.
    pub config: PathBuf,
    /// Seeds; one run per cell and seed.
    pub seeds: Vec<u64>,
    /// Overrides applied to every run (`key=value`).
    #[serde(default)]
    pub set: Vec<String>,
    /// The grid: every combination of one value per axis is a cell.
    #[serde(default)]
    pub axis: Vec<Axis>,
    /// The number a single-cell study reproduces.
    #[serde(default)]
    pub reference: Option<Reference>,
    /// Published numbers for some cells of a grid.
    #[serde(default)]
    pub expect: Vec<Expect>,
    /// How far (in the metric's display units: percentage points for accuracies) a cell's mean
    /// may be from its expected value, either way.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// The summary figures tabulated per cell (columns of `metrics.csv` at the last epoch).
    #[serde(default = "default_metrics")]
    pub metrics: Vec<String>,
    /// The figure cells are ranked by within each group (see the report).
    #[serde(default = "default_rank_by")]
    pub rank_by: String,
    /// Which per-epoch metrics get a learning-curve chart.
    #[serde(default = "default_curves")]
    pub curves: Vec<String>,
    /// Cells whose curves share a chart (each group a chart of its own), where the first axis'
    /// values do not say it: e.g. the 30-dimensional codes apart from the 2-dimensional ones.
    #[serde(default)]
    pub curve_group: Vec<CurveGroup>,
    /// Figures measured at earlier stops of a run continued from cell to cell, charted against
    /// epochs: one chart per `[[stops]]`.
    #[serde(default)]
    pub stops: Vec<Stops>,
    /// Figures of generated samples set beside the same figure of the real data, both from the
    /// run records: each becomes an anchor line and a dot chart of its own.
    #[serde(default)]
    pub real_data: Vec<RealData>,
    /// A power law fitted to a figure against a size, one curve per value of an axis.
    #[serde(default)]
    pub scaling: Option<Scaling>,
    /// Free text for results.md: how the study was set up, what it found.
    #[serde(default)]
    pub notes: Option<String>,
}

fn default_tolerance() -> f64 {
    0.5
}

fn default_metrics() -> Vec<String> {
    vec!["test_accuracy".into(), "test_loss".into()]
}

fn default_rank_by() -> String {
    "train_loss".into()
}

fn default_curves() -> Vec<String> {
    vec!["test_accuracy".into(), "train_loss".into()]
}

/// A power law `y = a x^b` of a figure against a size (see [`StudyFile::scaling`] and
/// `study/scaling.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// The size: `train_examples` or another summary figure.
    #[serde(default = "default_scaling_x")]
    pub x: String,
    /// The figure; an accuracy is fitted as its error (1 - accuracy).
    pub metric: String,
    /// The axis whose values are the curves, e.g. `model`.
    pub by: String,
}

fn default_scaling_x() -> String {
    "train_examples".into()
}

/// A figure of the samples and the summary key of the same figure of real data (see
/// [`StudyFile::real_data`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealData {
    /// The samples' figure (a summary key), e.g. `test_diversity`.
    pub metric: String,
    /// The real data's, e.g. `test_diversity_real`.
    pub real: String,
    /// Which real images, in words.
    pub source: String,
}

/// The summaries of a run stopped at several epochs (see [`StudyFile::stops`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stops {
    /// The figure charted (a summary key); `<metric>_se`, when present, is its standard error.
    pub metric: String,
    /// The folder, relative to the study, of the earlier stops' `summary-epoch-<N>.json`.
    pub summaries: PathBuf,
    /// The same figure of real data (a summary key), drawn as a line, if there is one.
    #[serde(default)]
    pub real: Option<String>,
    /// The cells whose finished runs are this run's last stops (default: every cell); cells
    /// trained another way stay out of its chart.
    #[serde(default)]
    pub cells: Option<Vec<String>>,
    /// Names the chart `stops-<metric>-<name>.png` (default `stops-<metric>.png`): needed when
    /// two charts show the same figure.
    #[serde(default)]
    pub name: Option<String>,
}

impl Stops {
    /// The chart's file name.
    pub fn file(&self) -> String {
        match &self.name {
            Some(n) => format!("stops-{}-{n}.png", self.metric),
            None => format!("stops-{}.png", self.metric),
        }
    }
}

/// Refuses a `section`'s name that cannot be part of a file name: letters, digits, '-', '_'
/// and '.' only.
fn check_file_name(section: &str, name: &str) -> std::result::Result<(), String> {
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if safe {
        Ok(())
    } else {
        Err(format!(
            "`{section}` name {name:?}: letters, digits, '-', '_', '.' (it names a file)"
        ))
    }
}

/// Cells charted together (see [`StudyFile::curve_group`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurveGroup {
    /// Its name, in the chart's file name and title.
    pub name: String,
    /// The cells' labels.
    pub cells: Vec<String>,
}

/// One axis of a grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// Name, for the table.
    pub name: String,
    /// The config key plain values are assigned to.
    #[serde(default)]
    pub key: Option<String>,
    /// The values.
    pub values: Vec<AxisValue>,
}

/// A value of an axis: a plain value for the axis' `key`, or a labelled set of overrides (and
/// optionally a config of its own, for cells of different model kinds).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AxisValue {
    /// `{ label = "sgd", set = ["train.optimizer=sgd", "train.lr=0.01"] }`, or
    /// `{ label = "pca", config = "../../configs/pca.toml" }`.
    Labeled {
        /// Label in cell names.
        label: String,
        /// Overrides.
        #[serde(default)]
        set: Vec<String>,
        /// A config replacing the study's for this cell, relative to the study folder.
        #[serde(default)]
        config: Option<PathBuf>,
        /// Seeds replacing the study's for this cell (more where runs are cheap and noisy).
        #[serde(default)]
        seeds: Option<Vec<u64>>,
    },
    /// A TOML value for the axis' key.
    Plain(toml::Value),
}

/// The number a single-cell study is compared with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Where the number comes from.
    pub source: String,
    /// Which summary figure it is (a `metrics.csv` column).
    #[serde(default = "default_metric")]
    pub metric: String,
    /// Its mean.
    pub value: f64,
    /// Its standard deviation over seeds, if reported.
    #[serde(default)]
    pub std: Option<f64>,
    /// Seconds per epoch of the reference, if measured.
    #[serde(default)]
    pub seconds_per_epoch: Option<f64>,
    /// What our mean must reach: at least this for figures where higher is better
    /// (accuracies), at most this otherwise (errors, losses).
    pub target: f64,
}

fn default_metric() -> String {
    "test_accuracy".into()
}

/// A published number for one cell of a grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Cell label, e.g. `relu/cross_entropy/adam`.
    pub cell: String,
    /// Which summary figure it is.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// Its standard deviation, if the source gives one.
    #[serde(default)]
    pub std: Option<f64>,
    /// Where it comes from.
    pub source: String,
}

/// Whether larger values of a figure are better (accuracies, likelihoods and bounds on them,
/// scores, the diversity of samples).
pub fn higher_is_better(metric: &str) -> bool {
    [
        "accuracy",
        "elbo",
        "log_likelihood",
        "parzen_ll",
        "pseudo_ll",
        "score",
        "diversity",
    ]
    .iter()
    .any(|w| metric.contains(w))
}

/// Whether a figure is shown in percent (accuracies).
pub fn in_percent(metric: &str) -> bool {
    metric.contains("accuracy")
}

impl StudyFile {
    /// Reads and checks `dir/study.toml`.
    pub fn load(dir: &Path) -> Result<Self> {
        let file = dir.join("study.toml");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::Study(format!("{}: cannot read: {e}", file.display())))?;
        let study: Self = toml::from_str(&text).map_err(|e| {
            let msg = e.to_string();
            Error::Study(format!(
                "{}: {}",
                file.display(),
                msg.split_whitespace().collect::<Vec<_>>().join(" ")
            ))
        })?;
        let bad = |why: String| Err(Error::Study(format!("{}: {why}", file.display())));
        if study.seeds.is_empty() {
            return bad("`seeds` is empty".into());
        }
        for a in &study.axis {
            if a.values.is_empty() {
                return bad(format!("axis `{}` has no values", a.name));
            }
            if a.values
                .iter()
                .any(|v| matches!(v, AxisValue::Labeled { seeds: Some(s), .. } if s.is_empty()))
            {
                return bad(format!("axis `{}` has a value with `seeds = []`", a.name));
            }
            let plain = a.values.iter().any(|v| matches!(v, AxisValue::Plain(_)));
            if plain && a.key.is_none() {
                return bad(format!("axis `{}` has plain values but no `key`", a.name));
            }
        }
        let cells = super::grid::cells(&study);
        for e in &study.expect {
            if !cells.iter().any(|c| c.label == e.cell) {
                return bad(format!(
                    "`expect` names cell `{}`, which is not in the grid",
                    e.cell
                ));
            }
        }
        if let Some(sc) = &study.scaling
            && !study.axis.iter().any(|a| a.name == sc.by)
        {
            return bad(format!(
                "`scaling.by` = {:?} is not an axis of the study",
                sc.by
            ));
        }
        for r in &study.real_data {
            if r.metric == r.real {
                return bad(format!(
                    "`real_data` compares `{}` with itself; `real` names the real data's figure",
                    r.metric
                ));
            }
        }
        for g in &study.curve_group {
            if let Err(why) = check_file_name("curve_group", &g.name) {
                return bad(why);
            }
            if let Some(missing) = g
                .cells
                .iter()
                .find(|l| !cells.iter().any(|c| c.label == **l))
            {
                return bad(format!(
                    "`curve_group` {} names cell `{missing}`, which is not in the grid",
                    g.name
                ));
            }
        }
        if let Some(missing) = study
            .stops
            .iter()
            .flat_map(|s| s.cells.iter().flatten())
            .find(|l| !cells.iter().any(|c| c.label == **l))
        {
            return bad(format!(
                "`stops.cells` names cell `{missing}`, which is not in the grid"
            ));
        }
        for (i, s) in study.stops.iter().enumerate() {
            if let Err(why) = s.name.iter().try_for_each(|n| check_file_name("stops", n)) {
                return bad(why);
            }
            if study.stops[..i].iter().any(|t| t.file() == s.file()) {
                return bad(format!(
                    "two `[[stops]]` charts would both be {}: give them distinct `name`s",
                    s.file()
                ));
            }
        }
        Ok(study)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn curve_groups_name_cells_of_the_grid_and_safe_files() {
        let dir = tempfile::tempdir().unwrap();
        let study = |group: &str| {
            std::fs::write(
                dir.path().join("study.toml"),
                format!(
                    "title = \"t\"\nconfig = \"c.toml\"\nseeds = [1]\n\
                     [[axis]]\nname = \"lr\"\nkey = \"train.lr\"\nvalues = [0.1, 0.01]\n{group}"
                ),
            )
            .unwrap();
            super::StudyFile::load(dir.path()).map(|_| ())
        };
        study("[[curve_group]]\nname = \"fast\"\ncells = [\"0.1\"]\n").unwrap();
        let e = study("[[curve_group]]\nname = \"fast\"\ncells = [\"0.5\"]\n").unwrap_err();
        assert!(e.to_string().contains("names cell `0.5`"), "{e}");
        let e = study("[[curve_group]]\nname = \"a/b\"\ncells = [\"0.1\"]\n").unwrap_err();
        assert!(e.to_string().contains("it names a file"), "{e}");
        let real = "[[real_data]]\nmetric = \"test_diversity\"\nreal = \"test_diversity\"\nsource = \"s\"\n";
        let e = study(real).unwrap_err();
        assert!(e.to_string().contains("with itself"), "{e}");
        study("[scaling]\nmetric = \"test_accuracy\"\nby = \"lr\"\n").unwrap();
        let e = study("[scaling]\nmetric = \"test_accuracy\"\nby = \"model\"\n").unwrap_err();
        assert!(e.to_string().contains("not an axis"), "{e}");
        let stops = |cells: &str| {
            format!("[[stops]]\nmetric = \"test_loss\"\nsummaries = \"s\"\ncells = [{cells}]\n")
        };
        study(&stops("\"0.1\"")).unwrap();
        let e = study(&stops("\"0.5\"")).unwrap_err();
        assert!(
            e.to_string().contains("`stops.cells` names cell `0.5`"),
            "{e}"
        );
        // Two charts of one figure: each needs a name of its own, fit for a file name.
        let two = stops("\"0.1\"") + &stops("\"0.01\"");
        let e = study(&two).unwrap_err();
        assert!(e.to_string().contains("distinct `name`s"), "{e}");
        study(&format!("{two}name = \"slow\"\n")).unwrap();
        let e = study(&format!("{two}name = \"a b\"\n")).unwrap_err();
        assert!(e.to_string().contains("it names a file"), "{e}");
    }

    #[test]
    fn the_direction_of_every_figure_studies_tabulate() {
        for m in [
            "test_accuracy",
            "test_elbo",
            "test_parzen_ll",
            "test_parzen_ll_real",
            "test_pseudo_ll",
            "test_diversity",
        ] {
            assert!(super::higher_is_better(m), "{m}");
        }
        for m in [
            "test_loss",
            "test_recon_error",
            "test_recon",
            "test_kl",
            "train_d_loss",
        ] {
            assert!(!super::higher_is_better(m), "{m}");
        }
    }
}
