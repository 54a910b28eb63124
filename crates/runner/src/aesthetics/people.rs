//! People's choices: the pool of images raters compare, the ratings file `nnlab rate` appends
//! to, Bradley-Terry scores of the pool, and their Spearman correlations with every measure.

use std::path::Path;

use nnlab_aesthetics::bradley_terry::{self, Choice};
use nnlab_aesthetics::spearman;

use super::measure::{IMAGE_MEASURES, Measured};
use super::sets::ImageSet;
use super::study::{AestheticsFile, Direction};
use crate::error::{Error, Result};
use nnlab_rate::ratings::{RATINGS, read_rows};

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
    /// Synthetic rows (the page's test hook) left out.
    pub synthetic_left_out: usize,
}

/// The study's ratings, if anyone has rated (or only the page's test hook did: then with no
/// choices). Rows made by the test hook are left out unless `with_synthetic`.
pub fn load(
    dir: &Path,
    study: &AestheticsFile,
    sets: &[ImageSet],
    with_synthetic: bool,
) -> Result<Option<Ratings>> {
    let path = dir.join(RATINGS);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let (rows, notes) = read_rows(&path, &text).map_err(|e| Error::Study(e.to_string()))?;
    if notes.torn_last_line {
        crate::complain!(
            "{}: the last line has no line end (a write cut short); skipped, every earlier row kept",
            path.display()
        );
    }
    let pool = pool(study, sets);
    let ids: Vec<String> = pool.iter().map(|i| i.id(sets)).collect();
    let at = |id: &str| ids.iter().position(|x| x == id);
    let mut raters = std::collections::BTreeSet::new();
    let mut choices = Vec::new();
    let mut synthetic_left_out = 0;
    let mut pairs = std::collections::HashSet::new();
    for (k, row) in rows.iter().enumerate() {
        if let Some(pair) = row.pair.as_ref().filter(|p| !p.is_empty())
            && !pairs.insert(pair.clone())
        {
            return Err(Error::Study(format!(
                "{}: line {}: pair {pair} is recorded twice",
                path.display(),
                k + 2
            )));
        }
        let (Some(l), Some(r), Some(c)) = (at(&row.left), at(&row.right), at(&row.chosen)) else {
            return Err(Error::Study(format!(
                "{}: line {} is not a rating of this study's pool: {row:?}",
                path.display(),
                k + 2
            )));
        };
        if l == r || (c != l && c != r) {
            return Err(Error::Study(format!(
                "{}: line {}: the chosen image is not one of a pair of two: {row:?}",
                path.display(),
                k + 2
            )));
        }
        if row.synthetic == Some(true) && !with_synthetic {
            synthetic_left_out += 1;
            continue;
        }
        raters.insert(row.rater.clone());
        choices.push(Choice {
            winner: c,
            loser: if c == l { r } else { l },
        });
    }
    Ok(
        (!choices.is_empty() || synthetic_left_out > 0).then_some(Ratings {
            raters: raters.len(),
            choices,
            pool,
            synthetic_left_out,
        }),
    )
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
