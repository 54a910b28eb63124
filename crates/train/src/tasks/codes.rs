//! Scatter plots of 2-D codes coloured by digit, as Hinton & Salakhutdinov (2006) drew them in
//! Fig. 3 (PCA's first two components beside a 784-1000-500-250-2 autoencoder's codes).

use std::path::Path;

use burn::prelude::*;
use nnlab_data::ImageDataset;
use plotters::prelude::*;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::pictures::font_available;

/// Neighbours that vote in [`knn_accuracy`] (as many as scikit-learn's `KNeighborsClassifier`
/// takes by default; its ties go to the lowest label, ours to the nearest neighbour's).
pub const NEIGHBOURS: usize = 5;

/// Images per class drawn.
pub const PER_CLASS: usize = 500;

/// Ten colours that tell the digits apart (the "tab10" palette).
pub const DIGIT_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The first [`PER_CLASS`] test images of each class, in test-set order.
pub fn test_sample(data: &ImageDataset) -> Vec<u32> {
    let mut count = vec![0usize; data.classes];
    data.test_indices()
        .into_iter()
        .filter(|&i| {
            let c = data.labels[i as usize] as usize;
            count[c] += 1;
            count[c] <= PER_CLASS
        })
        .collect()
}

/// Codes `encode` gives the examples `indices`, `[indices.len() * d]` row-major, and `d`.
fn encode_all(indices: &[u32], encode: &impl Fn(&[u32]) -> Tensor<2>) -> (Vec<f32>, usize) {
    let mut codes = Vec::new();
    let mut d = 0;
    for chunk in indices.chunks(1000) {
        let c = encode(chunk);
        d = c.dims()[1];
        codes.extend(
            c.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("codes are f32"),
        );
    }
    (codes, d)
}

/// Test accuracy of classifying each test image by the [`NEIGHBOURS`] training images whose
/// codes lie nearest to its code (Euclidean distance): how far apart the classes lie in the code
/// space, as a number to go with [`scatter`]'s picture. `train` are the training examples that
/// vote, `test` the test examples classified (the run's split of each).
pub fn knn_accuracy(
    data: &ImageDataset,
    train: &[u32],
    test: &[u32],
    encode: impl Fn(&[u32]) -> Tensor<2>,
) -> f64 {
    let (train_codes, d) = encode_all(train, &encode);
    let (test_codes, _) = encode_all(test, &encode);
    let labels =
        |idx: &[u32]| -> Vec<u8> { idx.iter().map(|&i| data.labels[i as usize]).collect() };
    knn_vote_accuracy(
        &train_codes,
        &labels(train),
        &test_codes,
        &labels(test),
        d,
        NEIGHBOURS,
    )
}

/// Fraction of the `queries` (rows of `d` values) whose `k` nearest `points` (Euclidean) vote
/// for the query's own label. The most frequent label among the neighbours wins; a tie goes to
/// the tied label of the nearest neighbour. A point at a distance that is not finite (a code of
/// a diverged model) is no neighbour. Brute force, one query per thread task: for 10,000
/// queries among 60,000 two-dimensional points this is a second or two.
pub fn knn_vote_accuracy(
    points: &[f32],
    point_labels: &[u8],
    queries: &[f32],
    query_labels: &[u8],
    d: usize,
    k: usize,
) -> f64 {
    assert_eq!(points.len(), point_labels.len() * d, "one label per point");
    assert_eq!(queries.len(), query_labels.len() * d, "one label per query");
    let k = k.min(point_labels.len());
    if query_labels.is_empty() || k == 0 {
        return 0.0;
    }
    let right: usize = queries
        .par_chunks(d)
        .zip(query_labels.par_iter())
        .map(|(q, &label)| {
            // The k nearest so far, sorted by distance.
            let mut near: Vec<(f32, u8)> = Vec::with_capacity(k + 1);
            for (p, &l) in points.chunks(d).zip(point_labels) {
                let dist: f32 = p.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
                if !dist.is_finite() || (near.len() == k && dist >= near[k - 1].0) {
                    continue;
                }
                let at = near.partition_point(|&(e, _)| e <= dist);
                near.insert(at, (dist, l));
                near.truncate(k);
            }
            let mut votes = [0usize; 256];
            for &(_, l) in &near {
                votes[l as usize] += 1;
            }
            let most = votes.iter().max().copied().unwrap_or(0);
            let winner = near
                .iter()
                .find(|&&(_, l)| votes[l as usize] == most)
                .map(|&(_, l)| l);
            usize::from(winner == Some(label))
        })
        .sum();
    right as f64 / query_labels.len() as f64
}

/// Draws the 2-D codes `encode` gives [`test_sample`]'s images into `path` (PNG).
pub fn scatter(
    data: &ImageDataset,
    encode: impl Fn(&[u32]) -> Tensor<2>,
    title: &str,
    path: &Path,
) -> Result<()> {
    let indices = test_sample(data);
    let (codes, _) = encode_all(&indices, &encode);
    let points: Vec<(f64, f64, usize)> = codes
        .chunks(2)
        .zip(&indices)
        .map(|(c, &i)| (c[0] as f64, c[1] as f64, data.labels[i as usize] as usize))
        .collect();
    if !font_available() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let err =
        |e: &dyn std::fmt::Display| Error::Study(format!("{}: cannot draw: {e}", path.display()));
    let range = |f: fn(&(f64, f64, usize)) -> f64| {
        let (lo, hi) = points
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        let pad = ((hi - lo) * 0.05).max(1e-6);
        (lo - pad)..(hi + pad)
    };
    let root = BitMapBackend::new(path, (760, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (plot_area, legend) = root.split_horizontally(660);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(range(|p| p.0), range(|p| p.1))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("code unit 1")
        .y_desc("code unit 2")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(
            points
                .iter()
                .map(|&(x, y, c)| Circle::new((x, y), 2, DIGIT_COLOURS[c % 10].mix(0.7).filled())),
        )
        .map_err(|e| err(&e))?;
    for (d, colour) in DIGIT_COLOURS.iter().enumerate().take(data.classes) {
        let y = 40 + 24 * d as i32;
        legend
            .draw(&Circle::new((20, y), 5, colour.filled()))
            .map_err(|e| err(&e))?;
        legend
            .draw(&Text::new(d.to_string(), (34, y - 8), ("sans-serif", 16)))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_votes_by_majority_and_breaks_ties_by_the_nearest() {
        // Points on a line: labels 0 0 0 at x = 0, 1, 2 and labels 1 1 at x = 10, 11.
        let points = [0.0, 1.0, 2.0, 10.0, 11.0];
        let labels = [0, 0, 0, 1, 1];
        // Worked by hand, k = 3. Query 0.5: nearest 0, 1, 2 -> label 0.
        // Query 9: nearest 10, 11, 2 -> two votes for 1.
        // Query 6.2 (labelled 1): nearest 2 (4.2), 10 (3.8), 11 (4.8) -> 1 wins 2:1.
        // Query 5.2 (labelled 0): nearest 2 (3.2), 1 (4.2), 10 (4.8) -> 0 wins 2:1.
        let queries = [0.5, 9.0, 6.2, 5.2];
        let right = knn_vote_accuracy(&points, &labels, &queries, &[0, 1, 1, 0], 1, 3);
        assert_eq!(right, 1.0);
        // Wrong labels on every query: none right.
        let wrong = knn_vote_accuracy(&points, &labels, &queries, &[1, 0, 0, 1], 1, 3);
        assert_eq!(wrong, 0.0);
        // k = 2 at x = 6.2: 10 (3.8, label 1) and 2 (4.2, label 0) tie 1:1 -> the nearest, 1.
        assert_eq!(knn_vote_accuracy(&points, &labels, &[6.2], &[1], 1, 2), 1.0);
        // k = 2 at x = 5.9: 2 (3.9, label 0) is nearer than 10 (4.1) -> 0.
        assert_eq!(knn_vote_accuracy(&points, &labels, &[5.9], &[0], 1, 2), 1.0);
    }

    #[test]
    fn knn_passes_over_points_that_are_not_finite() {
        // A NaN point after the nearest one, 1.0 (label 2): compared by `<=`, it would take
        // the front of the neighbour list and give its label, 1.
        let points = [1.0, f32::NAN, 9.0];
        let labels = [2, 1, 1];
        assert_eq!(knn_vote_accuracy(&points, &labels, &[0.4], &[2], 1, 1), 1.0);
    }

    #[test]
    fn knn_uses_every_code_dimension() {
        // Two classes that differ only in the second coordinate.
        let points = [0.0, 0.0, 0.0, 0.1, 0.0, 5.0, 0.0, 5.1];
        let labels = [3, 3, 7, 7];
        let queries = [0.0, 4.8, 0.0, 0.3];
        assert_eq!(
            knn_vote_accuracy(&points, &labels, &queries, &[7, 3], 2, 1),
            1.0
        );
        assert_eq!(
            knn_vote_accuracy(&points, &labels, &queries, &[3, 3], 2, 1),
            0.5
        );
    }
}
