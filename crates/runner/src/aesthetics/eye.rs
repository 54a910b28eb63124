//! The network as perceiver: a trained classifier run (nnlab's LeNet-style CNN in the study)
//! whose class probabilities and last hidden layer serve the processing-fluency proxies and the
//! set comparisons.

use std::path::Path;

use burn::prelude::*;
use nnlab_aesthetics::Features;
use nnlab_config::RunConfig;
use nnlab_data::ImageDataset;

use crate::engine::Task;
use crate::engine::checkpoint;
use crate::error::{Error, Result};
use crate::tasks::classifier::{Classifier, Net};
use crate::tasks::{self, TrainOptions};

/// What the eye looks at in a set of images: integrated gradients (Sundararajan et al. 2017,
/// from a black baseline) of each image's predicted class, over the set's first images.
#[derive(Debug, Clone)]
pub struct Gaze {
    /// Images explained.
    pub n: usize,
    /// The mean over images of each image's |attribution| map scaled to sum 1 (`[side * side]`).
    pub mean_map: Vec<f32>,
    /// The mean share of an image's |attribution| on its strokes (pixels above 0.5).
    pub on_strokes: f64,
    /// The mean share of an image's brightness on its strokes: what `on_strokes` is when every
    /// pixel's gradient is the same, since from a black baseline a pixel's attribution is its
    /// brightness times its mean gradient (and a black pixel gets none).
    pub brightness_on_strokes: f64,
    /// The mean share of an image's pixels that are strokes: what `on_strokes` would be if the
    /// eye looked everywhere alike.
    pub stroke_pixels: f64,
}

/// The shares of one image `x` (pixels in [0, 1]) and its attribution `map` on its strokes
/// (pixels above 0.5): of the |attribution|, of the brightness, and of the pixels. `None` for a
/// map or an image of nothing.
pub fn shares(map: &[f32], x: &[f32]) -> Option<(f64, f64, f64)> {
    let total: f64 = map.iter().map(|v| f64::from(v.abs())).sum();
    let bright: f64 = x.iter().map(|&v| f64::from(v)).sum();
    if total <= 0.0 || bright <= 0.0 {
        return None;
    }
    let on_strokes = |values: &[f32]| -> f64 {
        values
            .iter()
            .zip(x)
            .filter(|(_, p)| **p > 0.5)
            .map(|(v, _)| f64::from(v.abs()))
            .sum()
    };
    let strokes = x.iter().filter(|p| **p > 0.5).count() as f64;
    Some((
        on_strokes(map) / total,
        on_strokes(x) / bright,
        strokes / x.len() as f64,
    ))
}

/// Images per set whose attributions [`Eye::gaze`] takes, and the points of each integral.
pub const GAZE_IMAGES: usize = 64;
/// See [`GAZE_IMAGES`].
pub const GAZE_STEPS: usize = 128;

/// A trained classifier with its dataset.
#[derive(Debug)]
pub struct Eye {
    /// The network in evaluation mode.
    pub net: Net,
    /// Its dataset (MNIST for the study).
    pub data: ImageDataset,
    /// The device it runs on.
    pub device: Device,
    /// Its config.
    pub config: RunConfig,
}

impl Eye {
    /// The classifier of the run in `path`, its newest checkpoint.
    pub fn load(path: &Path, opts: &TrainOptions, device: &Device, backend: &str) -> Result<Self> {
        let config = RunConfig::load(&crate::run_dir::config_of(path)?, &[])?;
        if !config.model.is_classifier() {
            return Err(Error::Study(format!(
                "{}: the eye must be a classifier run (mlp or cnn), not model.kind = \"{}\"",
                path.display(),
                config.model.kind()
            )));
        }
        let load = opts.load_options_for(path);
        let (data, _) = tasks::load_data(&config, &load)?;
        let reader = checkpoint::latest(path)?
            .ok_or_else(|| Error::RunDir(format!("{} has no checkpoint yet", path.display())))?;
        device.seed(config.seed);
        let mut classifier =
            Classifier::new(&config, &data, device, crate::backend::is_cpu(backend))?;
        classifier.load(&reader)?;
        // A `train.float_dtype = "f64"` run's weights, cast to this device's precision.
        let dtype = device.settings().float_dtype;
        let net = match classifier.model().valid() {
            Net::Mlp(m) => Net::Mlp(nnlab_train::export::cast_floats(m, dtype)),
            Net::Cnn(c) => Net::Cnn(Box::new(nnlab_train::export::cast_floats(*c, dtype))),
        };
        Ok(Self {
            net,
            data,
            device: device.clone(),
            config,
        })
    }

    /// `cnn, 61706 parameters` and so on.
    pub fn describe(&self) -> String {
        format!(
            "{}, {} parameters",
            self.config.model.kind(),
            self.net.num_params()
        )
    }

    /// Pixels of the eye's input side.
    pub fn side(&self) -> usize {
        self.data.rows
    }

    fn tensor(&self, pixels: &[f32]) -> Tensor<2> {
        let f = self.data.features();
        Tensor::from_data(
            TensorData::new(pixels.to_vec(), [pixels.len() / f, f]),
            &self.device,
        )
    }

    /// Class probabilities of flat images (`n * side * side` pixels): `n * classes` values.
    pub fn probabilities(&self, pixels: &[f32]) -> Vec<f64> {
        let f = self.data.features();
        let mut out = Vec::with_capacity(pixels.len() / f * self.data.classes);
        for chunk in pixels.chunks(1000 * f) {
            let logits = self.net.forward(self.tensor(chunk));
            let p = burn::tensor::activation::softmax(logits, 1);
            out.extend(
                p.into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("f32 probabilities")
                    .into_iter()
                    .map(f64::from),
            );
        }
        out
    }

    /// What the eye looks at in the first `predicted.len()` images of `pixels` (flat), each
    /// explained for its class in `predicted` (the eye's prediction), by integrated gradients over
    /// `steps` points.
    pub fn gaze(&self, pixels: &[f32], predicted: &[usize], steps: usize) -> Gaze {
        let f = self.data.features();
        let autodiff = self.device.clone().autodiff();
        let frozen = nnlab_train::explain::frozen_on(&self.net, &autodiff);
        let baseline = vec![0.0f32; f];
        let mut gaze = Gaze {
            n: 0,
            mean_map: vec![0.0; f],
            on_strokes: 0.0,
            brightness_on_strokes: 0.0,
            stroke_pixels: 0.0,
        };
        for (x, &class) in pixels.chunks(f).zip(predicted) {
            let ig = nnlab_train::explain::integrated_gradients(
                &frozen, x, &baseline, class, steps, &autodiff,
            );
            let Some((on, bright, share)) = shares(&ig.map, x) else {
                continue;
            };
            let total: f32 = ig.map.iter().map(|v| v.abs()).sum();
            for (m, v) in gaze.mean_map.iter_mut().zip(&ig.map) {
                *m += v.abs() / total;
            }
            gaze.on_strokes += on;
            gaze.brightness_on_strokes += bright;
            gaze.stroke_pixels += share;
            gaze.n += 1;
        }
        if gaze.n > 0 {
            let n = gaze.n as f32;
            gaze.mean_map.iter_mut().for_each(|m| *m /= n);
            gaze.on_strokes /= gaze.n as f64;
            gaze.brightness_on_strokes /= gaze.n as f64;
            gaze.stroke_pixels /= gaze.n as f64;
        }
        gaze
    }

    /// The last hidden layer's activations of flat images.
    pub fn features(&self, pixels: &[f32]) -> Features {
        let f = self.data.features();
        let mut values = Vec::new();
        let mut d = 0;
        for chunk in pixels.chunks(1000 * f) {
            let h = self.net.features(self.tensor(chunk));
            d = h.dims()[1];
            values.extend(
                h.into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("f32 features")
                    .into_iter()
                    .map(f64::from),
            );
        }
        Features::new(values.len() / d.max(1), d, values)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shares_on_the_strokes_by_hand() {
        // Pixels 0.9 and 0.6 are strokes, 0.2 and 0.0 are not.
        let x = [0.9, 0.6, 0.2, 0.0];
        let map = [0.3, -0.1, 0.4, 0.2];
        let (on, bright, pixels) = super::shares(&map, &x).unwrap();
        assert!(
            (on - 0.4).abs() < 1e-6,
            "|0.3| + |-0.1| of a total 1.0: {on}"
        );
        assert!((bright - 1.5 / 1.7).abs() < 1e-6, "{bright}");
        assert!((pixels - 0.5).abs() < 1e-12);
        assert!(super::shares(&[0.0; 4], &x).is_none());
        assert!(super::shares(&map, &[0.0; 4]).is_none());
    }
}
