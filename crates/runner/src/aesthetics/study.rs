//! `aesthetics.toml`: which image sets, which classifier looks at them, and the hypotheses about
//! people's preferences written down before anyone rates.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The study file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AestheticsFile {
    /// One line saying what the study looks at.
    pub title: String,
    /// The run folder of a trained classifier (relative to the study folder): the "eye".
    pub eye: PathBuf,
    /// Images per set (sets that have fewer give all they have).
    #[serde(default = "default_images")]
    pub images: usize,
    /// Seed of everything drawn (samples, noise, CPPN weights, subsets).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Images of each set shown to raters.
    #[serde(default = "default_rated")]
    pub rated_per_set: usize,
    /// The sets.
    pub set: Vec<SetSpec>,
    /// Hypotheses about people's preferences.
    #[serde(default)]
    pub hypothesis: Vec<Hypothesis>,
    /// Free text for results.md.
    #[serde(default)]
    pub notes: Option<String>,
}

fn default_images() -> usize {
    400
}

fn default_seed() -> u64 {
    1
}

fn default_rated() -> usize {
    6
}

/// Where a set's images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The eye's test images.
    Test,
    /// The mean training image of each class.
    Prototypes,
    /// Samples of a trained generative run.
    Run,
    /// Random CPPNs (Stanley 2007), one per image.
    Cppn,
    /// Uniform noise.
    Noise,
}

/// One image set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSpec {
    /// Its name in tables and file names.
    pub name: String,
    /// Where its images come from.
    pub source: Source,
    /// `run`: the run folder (relative to the study folder).
    #[serde(default)]
    pub run: Option<PathBuf>,
    /// `cppn`: the activation of the hidden layers.
    #[serde(default)]
    pub activation: Option<nnlab_config::Activation>,
    /// `cppn`: the side in pixels the images are drawn at for the image measures (the eye sees
    /// them scaled to its input size).
    #[serde(default)]
    pub size: Option<usize>,
}

/// A hypothesis about preferences: the Spearman correlation between people's scores and a
/// measure has the expected sign (its 95 % interval excludes 0).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hypothesis {
    /// The measure (a column of `measures.csv`).
    pub measure: String,
    /// `positive` or `negative`.
    pub expect: Direction,
    /// Only these sets' images (empty: every rated image).
    #[serde(default)]
    pub sets: Vec<String>,
    /// The hypothesis in words, with its source.
    pub text: String,
}

/// The sign a hypothesis expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher measure, more preferred.
    Positive,
    /// Higher measure, less preferred.
    Negative,
}

impl AestheticsFile {
    /// The name of the study file in a study folder.
    pub const FILE: &'static str = "aesthetics.toml";

    /// Reads and checks `dir/aesthetics.toml`.
    pub fn load(dir: &Path) -> Result<Self> {
        let file = dir.join(Self::FILE);
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::Study(format!("{}: cannot read: {e}", file.display())))?;
        let study: Self = toml::from_str(&text).map_err(|e| {
            Error::Study(format!(
                "{}: {}",
                file.display(),
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
        })?;
        let bad = |why: String| Err(Error::Study(format!("{}: {why}", file.display())));
        if study.set.is_empty() {
            return bad("no `[[set]]`".into());
        }
        if study.images == 0 {
            return bad("`images` must be at least 1".into());
        }
        for (i, s) in study.set.iter().enumerate() {
            if study.set[..i].iter().any(|t| t.name == s.name) {
                return bad(format!("two sets are named `{}`", s.name));
            }
            if !s
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            {
                return bad(format!(
                    "set name `{}`: letters, digits, '-' and '_' only",
                    s.name
                ));
            }
            if (s.source == Source::Run) != s.run.is_some() {
                return bad(format!(
                    "set `{}`: `run` is given exactly for source = \"run\"",
                    s.name
                ));
            }
        }
        for h in &study.hypothesis {
            if let Some(s) = h
                .sets
                .iter()
                .find(|s| !study.set.iter().any(|t| &t.name == *s))
            {
                return bad(format!("hypothesis on `{}` names no set `{s}`", h.measure));
            }
        }
        Ok(study)
    }
}
