//! The image sets: each at its own size for the image measures, and scaled to the eye's input
//! for the classifier-based measures.

use std::path::Path;

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::eye::Eye;
use super::study::{AestheticsFile, SetSpec, Source};
use crate::art::{self, CppnOptions};
use crate::error::Result;
use crate::pictures::Images;
use crate::say;
use crate::tasks::{self, TrainOptions};

/// One set of grey images.
#[derive(Debug, Clone)]
pub struct ImageSet {
    /// Its name.
    pub name: String,
    /// Where it came from, in words.
    pub origin: String,
    /// Its source kind.
    pub source: Source,
    /// The images at their own size.
    pub images: Images,
    /// The same images at the eye's input size, flat rows.
    pub eye_pixels: Vec<f32>,
}

/// `img` (one grey `size x size` image) scaled to `side x side` by averaging the pixels each
/// output pixel covers.
pub fn shrink(pixels: &[f32], size: usize, side: usize) -> Vec<f32> {
    if size == side {
        return pixels.to_vec();
    }
    let mut out = vec![0.0f32; side * side];
    let mut count = vec![0u32; side * side];
    for r in 0..size {
        for c in 0..size {
            let (r2, c2) = (r * side / size, c * side / size);
            out[r2 * side + c2] += pixels[r * size + c];
            count[r2 * side + c2] += 1;
        }
    }
    out.iter_mut()
        .zip(&count)
        .for_each(|(v, &n)| *v /= n.max(1) as f32);
    out
}

fn cppn_images(spec: &SetSpec, n: usize, seed: u64, device: &Device) -> Images {
    let size = spec.size.unwrap_or(256);
    let activation = spec.activation.unwrap_or(nnlab_config::Activation::Tanh);
    let mut pixels = Vec::with_capacity(n * size * size);
    for i in 0..n {
        let o = CppnOptions {
            seed: seed.wrapping_mul(1_000_003).wrapping_add(i as u64),
            size,
            activation,
            channels: 1,
            weight_scale: art::default_scale(activation),
            ..CppnOptions::default()
        };
        let cpu = crate::backend::is_cpu(crate::backend::select_device().1);
        let (img, _) = art::cppn(&o, device, cpu);
        pixels.extend(img.pixels().map(|p| p.0[0] as f32 / 255.0));
    }
    Images::grey(pixels, size)
}

fn set_of(
    spec: &SetSpec,
    study: &AestheticsFile,
    eye: &Eye,
    dir: &Path,
    opts: &TrainOptions,
    device: &Device,
) -> Result<(Images, String)> {
    let n = study.images;
    let side = eye.side();
    let data = &eye.data;
    Ok(match spec.source {
        Source::Test => {
            let idx: Vec<u32> = data.test_indices().into_iter().take(n).collect();
            (
                Images::grey(data.batch(&idx).images, side),
                format!("the first {} test images of `{}`", idx.len(), data.name),
            )
        }
        Source::Prototypes => {
            let f = data.features();
            let mut sums = vec![0.0f64; data.classes * f];
            let mut counts = vec![0usize; data.classes];
            for i in 0..data.n_train {
                let c = data.labels[i] as usize;
                counts[c] += 1;
                for (s, &p) in sums[c * f..(c + 1) * f].iter_mut().zip(data.image(i)) {
                    *s += p as f64 / 255.0;
                }
            }
            let pixels = sums
                .chunks(f)
                .zip(&counts)
                .flat_map(|(s, &k)| s.iter().map(move |v| (v / k.max(1) as f64) as f32))
                .collect();
            (
                Images::grey(pixels, side),
                "the mean training image of each class".into(),
            )
        }
        Source::Run => {
            let run = dir.join(spec.run.as_ref().expect("checked when the study was read"));
            (
                tasks::generate(&run, n, study.seed, opts)?,
                format!(
                    "{n} samples of {}",
                    spec.run
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
            )
        }
        Source::Cppn => {
            let a = spec.activation.unwrap_or(nnlab_config::Activation::Tanh);
            (
                cppn_images(spec, n, study.seed, device),
                format!("{n} random CPPNs ({a}), {0}x{0}", spec.size.unwrap_or(256)),
            )
        }
        Source::Noise => {
            let mut rng = ChaCha8Rng::seed_from_u64(study.seed ^ 0x006e_6f69_7365);
            let pixels = (0..n * side * side).map(|_| rng.random::<f32>()).collect();
            (Images::grey(pixels, side), "uniform noise".into())
        }
    })
}

/// Makes every set of the study.
pub fn make_all(
    study: &AestheticsFile,
    eye: &Eye,
    dir: &Path,
    opts: &TrainOptions,
    device: &Device,
) -> Result<Vec<ImageSet>> {
    let side = eye.side();
    study
        .set
        .iter()
        .map(|spec| {
            let (images, origin) = set_of(spec, study, eye, dir, opts, device)?;
            let each = images.height * images.width;
            let eye_pixels = images
                .pixels
                .chunks(each)
                .flat_map(|p| shrink(p, images.width, side))
                .collect();
            say!("set {}: {} images, {origin}", spec.name, images.n);
            Ok(ImageSet {
                name: spec.name.clone(),
                origin,
                source: spec.source,
                images,
                eye_pixels,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shrinking_averages_blocks() {
        // 4x4 to 2x2: each output pixel is the mean of a 2x2 block.
        let img: Vec<f32> = (0..16).map(|i| i as f32).collect();
        assert_eq!(super::shrink(&img, 4, 2), vec![2.5, 4.5, 10.5, 12.5]);
    }
}
