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
        "Inception Score with the eye, 10 splits (Salimans et al. 2016); at most 10",
    ),
    (
        "fid",
        "Frechet distance to real test images in the eye's features (Heusel et al. 2017)",
    ),
    (
        "kid",
        "kernel distance to real test images, x 1000 (Binkowski et al. 2018)",
    ),
    (
        "precision",
        "share inside the real images' manifold, k = 3 (Kynkaanniemi et al. 2019)",
    ),
    ("recall", "share of real images inside the set's manifold"),
    (
        "nearest_train",
        "mean pixel distance to the nearest training image (memorisation)",
    ),
    ("images", "images in the set"),
];

/// What was measured of one set.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Per image, one value per [`IMAGE_MEASURES`] entry (`NaN` where it does not apply).
    pub per_image: Vec<[f64; IMAGE_MEASURES.len()]>,
    /// One value per [`SET_MEASURES`] entry.
    pub per_set: [f64; SET_MEASURES.len()],
    /// The eye's predicted class per image.
    pub predicted: Vec<usize>,
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
    let k = eye.data.classes;
    // The real reference: the first half of the test set, the second half as a second sample.
    let test: Vec<u32> = eye.data.test_indices();
    let half = test.len() / 2;
    let real_a = eye.features(&eye.data.batch(&test[..half]).images);
    let real_b = eye.features(&eye.data.batch(&test[half..]).images);
    let real_probs = eye.probabilities(&eye.data.batch(&test[..half]).images);
    // Class means of the real features, by the eye's own prediction.
    let d = real_a.d;
    let mut means = vec![0.0f64; k * d];
    let mut counts = vec![0usize; k];
    for i in 0..real_a.n {
        let c = argmax(&real_probs[i * k..(i + 1) * k]);
        counts[c] += 1;
        for (m, v) in means[c * d..(c + 1) * d].iter_mut().zip(real_a.row(i)) {
            *m += v;
        }
    }
    for c in 0..k {
        means[c * d..(c + 1) * d]
            .iter_mut()
            .for_each(|m| *m /= counts[c].max(1) as f64);
    }
    sets.iter()
        .map(|set| {
            let imgs = &set.images;
            let each = imgs.height * imgs.width;
            let probs = eye.probabilities(&set.eye_pixels);
            let feats = eye.features(&set.eye_pixels);
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
                let dist = nnlab_aesthetics::features::squared_distance(
                    feats.row(i),
                    &means[c * d..(c + 1) * d],
                )
                .sqrt();
                let mut row = [f64::NAN; IMAGE_MEASURES.len()];
                row[..10].copy_from_slice(&m);
                row[10] = p[c];
                row[11] = h;
                row[12] = dist;
                per_image.push(row);
            }
            // Test images are compared with the other half of the test set.
            let reference = if set.source == super::study::Source::Test {
                &real_b
            } else {
                &real_a
            };
            let is_ = inception_score::inception_score(&probs, k, 10.min(imgs.n.max(1))).0;
            let fid_ = if feats.n > 1 {
                fid::fid(&feats, reference)
            } else {
                f64::NAN
            };
            let kid_ = if feats.n > 1 {
                1000.0 * kid::kid(&feats, reference, 20, 200.min(feats.n), study.seed).0
            } else {
                f64::NAN
            };
            let (precision, recall) = if feats.n > 3 {
                let r = subset(reference, 1000);
                precision_recall::precision_recall(&r, &subset(&feats, 1000), 3)
            } else {
                (f64::NAN, f64::NAN)
            };
            let near = nearest_train(
                eye,
                &set.eye_pixels[..set.eye_pixels.len().min(500 * eye.data.features())],
            );
            Ok(Measured {
                per_image,
                per_set: [is_, fid_, kid_, precision, recall, near, imgs.n as f64],
                predicted,
            })
        })
        .collect()
}

fn subset(f: &Features, n: usize) -> Features {
    let m = f.n.min(n);
    Features::new(m, f.d, f.values[..m * f.d].to_vec())
}

fn argmax(p: &[f64]) -> usize {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}
