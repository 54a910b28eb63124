//! People's choices: the pool of images raters compare, the ratings file `nnlab rate` appends
//! to, Bradley-Terry scores of the pool, and their Spearman correlations with every measure.

use std::path::Path;

use nnlab_aesthetics::bradley_terry::{self, Choice};
use nnlab_aesthetics::spearman;

use super::measure::{IMAGE_MEASURES, Measured};
use super::sets::ImageSet;
use super::study::{AestheticsFile, Direction};
use crate::error::{Error, Result};

/// The ratings file in the study folder.
pub const RATINGS: &str = "ratings.csv";
/// Its header.
pub const HEADER: &str = "rater,unix_ms,left,right,chosen,response_ms";

/// One image of the rating pool: `set:index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Index of its set.
    pub set: usize,
    /// Index in the set.
    pub index: usize,
}

impl Item {
    /// Its id in the ratings file and the page: `<set name>-<index>`.
    pub fn id(&self, sets: &[ImageSet]) -> String {
        format!("{}-{}", sets[self.set].name, self.index)
    }
}

/// The pool: the first `rated_per_set` images of every set.
pub fn pool(study: &AestheticsFile, sets: &[ImageSet]) -> Vec<Item> {
    sets.iter()
        .enumerate()
        .flat_map(|(s, set)| {
            (0..study.rated_per_set.min(set.images.n)).map(move |index| Item { set: s, index })
        })
        .collect()
}

/// The choices read back from the ratings file.
#[derive(Debug, Clone)]
pub struct Ratings {
    /// Distinct raters.
    pub raters: usize,
    /// Choices, as pool indices.
    pub choices: Vec<Choice>,
    /// The pool.
    pub pool: Vec<Item>,
}

/// Parses one line of the ratings file into `(rater, left, right, chosen)` pool indices.
pub fn parse_line(line: &str, ids: &[String]) -> Option<(String, usize, usize, usize)> {
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != 6 {
        return None;
    }
    let at = |id: &str| ids.iter().position(|x| x == id);
    let (l, r, c) = (at(f[2])?, at(f[3])?, at(f[4])?);
    (l != r && (c == l || c == r)).then(|| (f[0].to_string(), l, r, c))
}

/// The study's ratings, if anyone has rated.
pub fn load(dir: &Path, study: &AestheticsFile, sets: &[ImageSet]) -> Result<Option<Ratings>> {
    let path = dir.join(RATINGS);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let pool = pool(study, sets);
    let ids: Vec<String> = pool.iter().map(|i| i.id(sets)).collect();
    let mut raters = std::collections::BTreeSet::new();
    let mut choices = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let (rater, l, r, c) = parse_line(line, &ids).ok_or_else(|| {
            Error::Study(format!(
                "{}: line {} is not a rating of this study's pool: {line:?}",
                path.display(),
                n + 1
            ))
        })?;
        raters.insert(rater);
        choices.push(Choice {
            winner: c,
            loser: if c == l { r } else { l },
        });
    }
    Ok((!choices.is_empty()).then_some(Ratings {
        raters: raters.len(),
        choices,
        pool,
    }))
}

/// A measure's Spearman correlation with people's scores.
#[derive(Debug, Clone)]
pub struct Correlation {
    /// The measure.
    pub measure: String,
    /// Spearman's rho.
    pub rho: f64,
    /// Bootstrap 95 % interval.
    pub low: f64,
    /// Bootstrap 95 % interval.
    pub high: f64,
    /// Pool images with a value.
    pub n: usize,
}

/// Bradley-Terry scores of the pool and each measure's correlation with them (optionally only
/// over the images of `only` sets).
pub fn correlate(
    ratings: &Ratings,
    measured: &[Measured],
    sets: &[ImageSet],
    only: &[String],
    seed: u64,
) -> (Vec<f64>, Vec<Correlation>) {
    let scores = bradley_terry::fit(ratings.pool.len(), &ratings.choices, 0.01, 10_000);
    let keep: Vec<usize> = (0..ratings.pool.len())
        .filter(|&i| only.is_empty() || only.contains(&sets[ratings.pool[i].set].name))
        .collect();
    let correlations = IMAGE_MEASURES
        .iter()
        .enumerate()
        .filter_map(|(m, (name, _))| {
            let (xs, ys): (Vec<f64>, Vec<f64>) = keep
                .iter()
                .map(|&i| {
                    let it = &ratings.pool[i];
                    (measured[it.set].per_image[it.index][m], scores[i])
                })
                .filter(|(x, _)| x.is_finite())
                .unzip();
            (xs.len() >= 3).then(|| {
                let (rho, low, high) = spearman::rho_with_interval(&xs, &ys, 2000, seed);
                Correlation {
                    measure: name.to_string(),
                    rho,
                    low,
                    high,
                    n: xs.len(),
                }
            })
        })
        .collect();
    (scores, correlations)
}

/// A hypothesis' verdict from its correlation.
pub fn verdict(expect: Direction, c: &Correlation) -> &'static str {
    match expect {
        _ if !c.rho.is_finite() => "undecided (no variation)",
        Direction::Positive if c.low > 0.0 => "supported",
        Direction::Negative if c.high < 0.0 => "supported",
        Direction::Positive if c.high < 0.0 => "contradicted",
        Direction::Negative if c.low > 0.0 => "contradicted",
        _ => "not supported (the interval includes 0)",
    }
}
