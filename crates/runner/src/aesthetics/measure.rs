//! Every measure of every image, and the comparisons of each set with real images.

use nnlab_aesthetics::{Features, Grey};
use nnlab_aesthetics::{
    birkhoff, compression, edges, entropy, fid, fractal, inception_score, kid, precision_recall,
    symmetry,
};

use super::eye::Eye;
use super::sets::ImageSet;
use super::study::AestheticsFile;
use crate::error::Result;

/// The per-image measures, in the order of the columns of `measures.csv`, with what each is.
pub const IMAGE_MEASURES: [(&str, &str); 13] = [
    (
        "complexity",
        "DEFLATE ratio (Forsythe et al. 2011; Machado et al. 2015)",
    ),
    ("edge_density", "share of Sobel edge pixels"),
    ("entropy", "histogram entropy, bits"),
    (
        "symmetry_lr",
        "left-right mirror symmetry (Jacobsen & Hoefel 2002)",
    ),
    ("symmetry_ud", "up-down mirror symmetry"),
    ("symmetry_rot", "symmetry under a 180-degree rotation"),
    (
        "birkhoff_order",
        "Birkhoff's O = 1 - H/8 (Rigau et al. 2008)",
    ),
    ("birkhoff", "Birkhoff's M = O / C (Birkhoff 1933)"),
    (
        "fractal_d",
        "box-counting dimension, images >= 128 px (Taylor 1999; Spehar et al. 2003)",
    ),
    ("fractal_r2", "r^2 of the box-counting fit"),
    (
        "confidence",
        "the eye's largest class probability (fluency; Reber et al. 2004)",
    ),
    ("class_entropy", "entropy of the eye's p(y|x), nats"),
    (
        "prototype_distance",
        "distance to the mean features of the predicted class among real images (prototypicality; Winkielman et al. 2006)",
    ),
];

/// The per-set comparisons with real images, with what each is.
pub const SET_MEASURES: [(&str, &str); 7] = [
    (
        "inception_score",
        "Inception Score with the eye, 10 splits (Salimans et al. 2016); from 1 to 10 (the classes); +- over the splits",
    ),
    (
        "fid",
        "Frechet distance to real test images in the eye's features, in squared feature units (Heusel et al. 2017)",
    ),
    (
        "kid",
        "kernel inception distance to real test images: the squared MMD of a cubic polynomial kernel, unitless, x 1000 (Binkowski et al. 2018)",
    ),
    (
        "precision",
        "share of the set inside the real images' manifold, k = 3 (Kynkaanniemi et al. 2019)",
    ),
    (
        "recall",
        "share of real images inside the set's manifold, k = 3",
    ),
    (
        "nearest_train",
        "mean pixel distance to the nearest training image, pixels in [0, 1] (memorisation)",
    ),
    ("images", "images in the set"),
];

/// The fewest images a set needs before each set measure is reported: the Inception Score needs
/// 10 splits of at least 10 images (with one image per split it is exactly 1 whatever the images
/// are); FID a covariance of full rank in the eye's features (`2 d`, given separately); KID and
/// precision/recall enough images that one image does not move the figure by more than 2 %.
pub const MIN_IMAGES: [usize; 7] = [100, 0, 50, 50, 50, 1, 0];

/// How many random samples of the real images, each of the set's own size, a set is compared
/// with; the figure is their mean and the +- their standard deviation.
pub const REAL_DRAWS: usize = 5;

/// One set measure: the figure, its spread, the images it compared, or why it was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct SetFigure {
    /// The figure (`NaN` when refused).
    pub value: f64,
    /// The standard deviation over the real samples (or the Inception Score's splits); `NaN`
    /// where there is none.
    pub sd: f64,
    /// Images of the set compared (and of each real sample).
    pub n: usize,
    /// Why the figure is not given.
    pub refused: Option<String>,
}

impl SetFigure {
    fn of(value: f64, sd: f64, n: usize) -> Self {
        Self {
            value,
            sd,
            n,
            refused: None,
        }
    }

    fn refuse(n: usize, need: usize) -> Self {
        Self {
            value: f64::NAN,
            sd: f64::NAN,
            n,
            refused: Some(format!("n = {n} < {need}")),
        }
    }
}

/// Mean and standard deviation of a measure taken once per real sample.
fn over_draws(values: &[f64]) -> (f64, f64) {
    crate::study::report::mean_std(values)
}

/// What was measured of one set.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Per image, one value per [`IMAGE_MEASURES`] entry (`NaN` where it does not apply).
    pub per_image: Vec<[f64; IMAGE_MEASURES.len()]>,
    /// One figure per [`SET_MEASURES`] entry.
    pub per_set: [SetFigure; SET_MEASURES.len()],
    /// The eye's predicted class per image.
    pub predicted: Vec<usize>,
    /// What the eye looks at in the set.
    pub gaze: super::eye::Gaze,
}

fn image_measures(img: &Grey) -> [f64; 10] {
    let s = symmetry::symmetry(img);
    let b = birkhoff::birkhoff(img);
    let f = fractal::box_counting(img);
    [
        compression::deflate_ratio(img),
        edges::edge_density(img),
        entropy::histogram_entropy(img),
        s.left_right,
        s.up_down,
        s.rotation,
        b.order,
        b.measure,
        f.map_or(f64::NAN, |f| f.d),
        f.map_or(f64::NAN, |f| f.r2),
    ]
}

/// Mean pixel-space distance from each image to its nearest training image (`eye_pixels`
/// rows), computed with the eye's device in chunks.
fn nearest_train(eye: &Eye, rows: &[f32]) -> f64 {
    use burn::prelude::*;
    let f = eye.data.features();
    let n = rows.len() / f;
    if n == 0 {
        return f64::NAN;
    }
    let train_idx = eye.data.train_indices();
    let mut best = vec![f32::INFINITY; n];
    let x = Tensor::<2>::from_data(TensorData::new(rows.to_vec(), [n, f]), &eye.device);
    let xn = x.clone().square().sum_dim(1);
    for chunk in train_idx.chunks(5000) {
        let t = crate::tasks::batch::pixels(&eye.data, chunk, &eye.device);
        let tn = t.clone().square().sum_dim(1).transpose();
        let d = (xn.clone() + tn - x.clone().matmul(t.transpose()).mul_scalar(2.0)).clamp_min(0.0);
        let m: Vec<f32> = d
            .min_dim(1)
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .expect("f32");
        for (b, v) in best.iter_mut().zip(m) {
            *b = b.min(v);
        }
    }
    best.iter().map(|v| (*v as f64).sqrt()).sum::<f64>() / n as f64
}

/// Measures every set.
pub fn measure_all(study: &AestheticsFile, sets: &[ImageSet], eye: &Eye) -> Result<Vec<Measured>> {
    // The real reference: the first half of the test set, the second half as a second sample.
    let test: Vec<u32> = eye.data.test_indices();
    let half = test.len() / 2;
    let real_a = eye.features(&eye.data.batch(&test[..half]).images);
    let real_b = eye.features(&eye.data.batch(&test[half..]).images);
    let real_probs = eye.probabilities(&eye.data.batch(&test[..half]).images);
    let means = class_means(&real_a, &real_probs, eye.data.classes);
    sets.iter()
        .map(|set| {
            let probs = eye.probabilities(&set.eye_pixels);
            let feats = eye.features(&set.eye_pixels);
            let (per_image, predicted) = image_rows(set, eye.data.classes, &probs, &feats, &means);
            // Test images are compared with the other half of the test set.
            let reference = if set.source == super::study::Source::Test {
                &real_b
            } else {
                &real_a
            };
            let per_set = set_figures(study, set, eye, &probs, &feats, reference);
            let n = predicted.len().min(super::eye::GAZE_IMAGES);
            let gaze = eye.gaze(&set.eye_pixels, &predicted[..n], super::eye::GAZE_STEPS);
            Ok(Measured {
                per_image,
                per_set,
                predicted,
                gaze,
            })
        })
        .collect()
}

/// The mean features of each class among real images `real` (`[classes * d]`), by the eye's own
/// prediction `probs`.
fn class_means(real: &Features, probs: &[f64], k: usize) -> Vec<f64> {
    let d = real.d;
    let mut means = vec![0.0f64; k * d];
    let mut counts = vec![0usize; k];
    for i in 0..real.n {
        let c = argmax(&probs[i * k..(i + 1) * k]);
        counts[c] += 1;
        for (m, v) in means[c * d..(c + 1) * d].iter_mut().zip(real.row(i)) {
            *m += v;
        }
    }
    for c in 0..k {
        means[c * d..(c + 1) * d]
            .iter_mut()
            .for_each(|m| *m /= counts[c].max(1) as f64);
    }
    means
}

/// Every image measure of each image of `set`, and the eye's predicted class of each.
#[allow(clippy::type_complexity)]
fn image_rows(
    set: &ImageSet,
    k: usize,
    probs: &[f64],
    feats: &Features,
    means: &[f64],
) -> (Vec<[f64; IMAGE_MEASURES.len()]>, Vec<usize>) {
    let imgs = &set.images;
    let each = imgs.height * imgs.width;
    let d = feats.d;
    let mut per_image = Vec::with_capacity(imgs.n);
    let mut predicted = Vec::with_capacity(imgs.n);
    for i in 0..imgs.n {
        let grey = Grey::new(
            imgs.width,
            imgs.height,
            imgs.pixels[i * each..(i + 1) * each].to_vec(),
        );
        let m = image_measures(&grey);
        let p = &probs[i * k..(i + 1) * k];
        let c = argmax(p);
        predicted.push(c);
        let h: f64 = p.iter().filter(|&&q| q > 0.0).map(|q| -q * q.ln()).sum();
        let dist =
            nnlab_aesthetics::features::squared_distance(feats.row(i), &means[c * d..(c + 1) * d])
                .sqrt();
        let mut row = [f64::NAN; IMAGE_MEASURES.len()];
        row[..10].copy_from_slice(&m);
        row[10] = p[c];
        row[11] = h;
        row[12] = dist;
        per_image.push(row);
    }
    (per_image, predicted)
}

/// The set measures of `set` (features `feats`, class probabilities `probs`) against the real
/// images `reference`: each reference measure against [`REAL_DRAWS`] samples of the real
/// images of this set's size, so that every set is compared at its own n with its spread.
fn set_figures(
    study: &AestheticsFile,
    set: &ImageSet,
    eye: &Eye,
    probs: &[f64],
    feats: &Features,
    reference: &Features,
) -> [SetFigure; SET_MEASURES.len()] {
    let n = feats.n;
    let (is_, is_sd) = inception_score::inception_score(probs, eye.data.classes, 10);
    let is_ = if n < MIN_IMAGES[0] {
        SetFigure::refuse(n, MIN_IMAGES[0])
    } else {
        SetFigure::of(is_, is_sd, n)
    };
    let m = n.min(reference.n);
    let draws: Vec<Features> = (0..REAL_DRAWS as u64)
        .map(|draw| sample(reference, m, study.seed.wrapping_add(draw)))
        .collect();
    let compared = subset(feats, m);
    let each = |need: usize, f: &dyn Fn(&Features) -> f64| {
        if m < need.max(1) {
            return SetFigure::refuse(n, need);
        }
        let values: Vec<f64> = draws.iter().map(f).collect();
        let (mean, sd) = over_draws(&values);
        SetFigure::of(mean, sd, m)
    };
    let fid_ = each(2 * feats.d, &|r| fid::fid(&compared, r));
    let kid_ = each(MIN_IMAGES[2], &|r| {
        1000.0 * kid::kid(&compared, r, 20, 200.min(m), study.seed).0
    });
    let pr: Vec<(f64, f64)> = if m >= MIN_IMAGES[3] {
        draws
            .iter()
            .map(|r| precision_recall::precision_recall(r, &compared, 3))
            .collect()
    } else {
        Vec::new()
    };
    let pr_figure = |pick: fn(&(f64, f64)) -> f64| {
        if pr.is_empty() {
            SetFigure::refuse(n, MIN_IMAGES[3])
        } else {
            let values: Vec<f64> = pr.iter().map(pick).collect();
            let (mean, sd) = over_draws(&values);
            SetFigure::of(mean, sd, m)
        }
    };
    let shown = set.eye_pixels.len().min(500 * eye.data.features());
    let near = SetFigure::of(
        nearest_train(eye, &set.eye_pixels[..shown]),
        f64::NAN,
        shown / eye.data.features(),
    );
    [
        is_,
        fid_,
        kid_,
        pr_figure(|p| p.0),
        pr_figure(|p| p.1),
        near,
        SetFigure::of(set.images.n as f64, f64::NAN, set.images.n),
    ]
}

/// `n` rows of `f` drawn without replacement, seeded.
fn sample(f: &Features, n: usize, seed: u64) -> Features {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut rows: Vec<usize> = (0..f.n).collect();
    rows.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let values = rows[..n.min(f.n)]
        .iter()
        .flat_map(|&r| f.row(r).iter().copied())
        .collect();
    Features::new(n.min(f.n), f.d, values)
}

fn subset(f: &Features, n: usize) -> Features {
    let m = f.n.min(n);
    Features::new(m, f.d, f.values[..m * f.d].to_vec())
}

/// The index of the largest of `p` (the last of equals).
pub(crate) fn argmax(p: &[f64]) -> usize {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}
