//! What every task needs of a batch: its pixels on a device, noise, and the pictures it draws
//! each epoch.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use nnlab_data::ImageDataset;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::pictures::{self, Images};

/// Pixels of the examples `indices`, scaled to `[0, 1]`: `[n, rows * cols]` on `device`.
pub fn pixels(data: &ImageDataset, indices: &[u32], device: &Device) -> Tensor<2> {
    let b = data.batch(indices);
    Tensor::from_data(TensorData::new(b.images, [b.size, data.features()]), device)
}

/// Standard normal noise `[n, dim]` from `rng` (Box-Muller), drawn on the host so that a seed
/// gives the same noise on every backend.
pub fn normal(rng: &mut impl Rng, n: usize, dim: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(normal_values(rng, n, dim), [n, dim]),
        device,
    )
}

/// The values [`normal`] puts in its tensor, row by row.
pub fn normal_values(rng: &mut impl Rng, n: usize, dim: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n * dim + 1);
    while v.len() < n * dim {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f32::consts::TAU * u2;
        v.push(r * a.cos());
        v.push(r * a.sin());
    }
    v.truncate(n * dim);
    v
}

/// Each pixel's mean and standard deviation over `data`'s training images (the validation ones
/// among them), pixels in `[0, 1]`: `([features], [features])`.
pub fn pixel_moments(data: &ImageDataset) -> (Vec<f64>, Vec<f64>) {
    let d = data.features();
    let (mut sum, mut sq) = (vec![0.0f64; d], vec![0.0f64; d]);
    let train = data.train_indices();
    for &i in &train {
        for (k, &p) in data.image(i as usize).iter().enumerate() {
            let x = f64::from(p) / 255.0;
            sum[k] += x;
            sq[k] += x * x;
        }
    }
    let n = train.len().max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| (q / n - m * m).max(0.0).sqrt())
        .collect();
    (mean, std)
}

/// A generator seeded from the run's seed and a purpose (fixed picture noise, sampling), apart
/// from the per-step streams.
pub fn rng_for(seed: u64, purpose: &str) -> ChaCha8Rng {
    let key = purpose.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    ChaCha8Rng::seed_from_u64(seed ^ key)
}

/// Images from a `[n, side * side]` tensor of values in `[0, 1]`.
pub fn images(t: Tensor<2>, side: usize) -> Images {
    Images::grey(
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("pixels are f32"),
        side,
    )
}

/// `pictures/<name>-epoch-<k>.png` of a run.
pub fn epoch_picture(run: &Path, name: &str, epoch: usize) -> PathBuf {
    run.join("pictures")
        .join(format!("{name}-epoch-{epoch:03}.png"))
}

/// Animates the epoch pictures `pictures/<name>-epoch-*.png` of a run into
/// `pictures/<name>.gif`, in epoch order; `None` when there are fewer than two.
pub fn animate(run: &Path, name: &str) -> Result<Option<PathBuf>> {
    let dir = run.join("pictures");
    let prefix = format!("{name}-epoch-");
    let mut frames: Vec<(usize, PathBuf)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let f = e.file_name().to_string_lossy().into_owned();
                    let k = f
                        .strip_prefix(&prefix)?
                        .strip_suffix(".png")?
                        .parse()
                        .ok()?;
                    Some((k, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    if frames.len() < 2 {
        return Ok(None);
    }
    frames.sort();
    // Each frame says its epoch.
    let images = frames
        .iter()
        .map(|(k, p)| {
            pictures::load_png(p).map(|img| pictures::captioned(&img, &format!("epoch {k}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let out = dir.join(format!("{name}.gif"));
    pictures::save_gif(&images, 400, &out)?;
    Ok(Some(out))
}
