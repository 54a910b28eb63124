//! The variational autoencoder (Kingma & Welling 2014) as a [`Task`]: Adam on the negative
//! evidence lower bound, one reparameterised sample of `z` per image per step (drawn from the
//! step's generator, so a resumed run draws the same `z`).
//!
//! Metrics, per image in nats: training `loss` (-ELBO), `recon` (the Bernoulli cross-entropy of
//! the pixels, summed over them) and `kl`; evaluation `elbo` (= -(recon + kl)), `recon`, `kl`,
//! with one sample of `z` per test image from a fixed generator (as PyTorch's VAE example
//! evaluates; its printed "test set loss" is our -elbo). Pictures: samples from fixed `z` and
//! reconstructions each epoch, an animation of the samples, an interpolation between two test
//! images' codes and, for a 2-D latent space, the manifold of Kingma & Welling's Fig. 4.

use std::path::{Path, PathBuf};

use crate::optim::Optim;
use burn::prelude::*;
use nnlab_config::{RunConfig, VaeSpec};
use nnlab_data::{ImageDataset, Split};
use nnlab_models::bernoulli_cross_entropy::bernoulli_cross_entropy;
use nnlab_models::vae::kl_to_standard_normal;
use nnlab_models::{Vae, VaeConfig};

use super::autoencoder::SHOWN;
use super::batch::{self, normal, pixels, rng_for};
use crate::engine::{CheckpointReader, CheckpointWriter, Finish, StepContext, StepOutput, Task};
use crate::error::Result;
use crate::pictures::{self, Images};

/// Samples in the per-epoch grid.
const GRID: usize = 64;

/// A VAE being trained.
pub struct VaeTask {
    model: Option<Vae>,
    optim: Optim,
    device: Device,
    train_device: Device,
    latent: usize,
    side: usize,
    seed: u64,
    eval_batch_size: usize,
}

impl std::fmt::Debug for VaeTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaeTask")
            .field("model", &self.model)
            .field("latent", &self.latent)
            .finish_non_exhaustive()
    }
}

impl VaeTask {
    /// The VAE `config` describes, for `data`, on `device`.
    pub fn new(
        config: &RunConfig,
        spec: &VaeSpec,
        data: &ImageDataset,
        device: &Device,
        host_optimizer: bool,
    ) -> Self {
        let train_device = device.clone().autodiff();
        let model = VaeConfig::from_spec(spec, data.features()).init(&train_device);
        nnlab_models::init::materialize(&model);
        Self {
            model: Some(model),
            optim: crate::optim::build(&config.train, host_optimizer),
            device: device.clone(),
            train_device,
            latent: spec.latent,
            side: data.rows,
            seed: config.seed,
            eval_batch_size: config.train.eval_batch_size,
        }
    }

    fn model(&self) -> &Vae {
        self.model
            .as_ref()
            .expect("the model is back after every step")
    }

    /// `(recon, kl)` per image `[n]` with one sample of `z` given the noise `eps` `[n, latent]`.
    fn terms(model: &Vae, x: Tensor<2>, eps: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        let (mu, log_var) = model.encode(x.clone());
        let z = mu.clone() + log_var.clone().mul_scalar(0.5).exp() * eps;
        let recon = bernoulli_cross_entropy(model.decode_logits(z), x);
        (recon, kl_to_standard_normal(mu, log_var))
    }

    /// Decoded images of the latent points `z` `[n, latent]`.
    fn decode(&self, z: Tensor<2>) -> Images {
        batch::images(self.model().valid().decode(z), self.side)
    }

    /// The fixed latent points of the per-epoch sample grids.
    fn grid_noise(&self) -> Tensor<2> {
        normal(
            &mut rng_for(self.seed, "sample grid"),
            GRID,
            self.latent,
            &self.device,
        )
    }
}

/// The standard normal quantile of `p` in (0, 1) (Acklam's rational approximation, relative
/// error below 1.2e-9), for the manifold grid.
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

impl Task for VaeTask {
    fn train_metrics(&self) -> Vec<String> {
        vec!["loss".into(), "recon".into(), "kl".into()]
    }

    fn eval_metrics(&self) -> Vec<String> {
        vec!["elbo".into(), "recon".into(), "kl".into()]
    }

    fn parameters(&self) -> usize {
        self.model().num_params()
    }

    fn step(&mut self, data: &ImageDataset, batch: &[u32], ctx: &StepContext) -> StepOutput {
        let x = pixels(data, batch, &self.train_device);
        // Epsilon as `step_noise` draws it (what `--trace` records).
        let n = batch.len();
        let values = self.step_noise(ctx, n).expect("a VAE step draws epsilon");
        let eps = Tensor::from_data(
            TensorData::new(values, [n, self.latent]),
            &self.train_device,
        );
        let model = self
            .model
            .take()
            .expect("the model is back after every step");
        let (recon, kl) = Self::terms(&model, x, eps);
        let per_image = recon.clone() + kl.clone();
        let grads = per_image.clone().mean().backward();
        self.model = Some(self.optim.step_backward(ctx.lr, model, grads));
        StepOutput {
            examples: batch.len(),
            sums: vec![
                per_image.detach().sum().into(),
                recon.detach().sum().into(),
                kl.detach().sum().into(),
            ],
        }
    }

    fn step_noise(&self, ctx: &StepContext, examples: usize) -> Option<Vec<f32>> {
        // The same draw as `step`'s epsilon: `[examples, latent]`, row by row.
        Some(batch::normal_values(&mut ctx.rng(), examples, self.latent))
    }

    fn evaluate(&mut self, data: &ImageDataset, indices: &[u32]) -> Vec<f64> {
        let model = self.model().valid();
        let mut rng = rng_for(self.seed, "evaluation");
        let (mut recon, mut kl) = (0.0f64, 0.0f64);
        for chunk in indices.chunks(self.eval_batch_size) {
            let eps = normal(&mut rng, chunk.len(), self.latent, &self.device);
            let (r, k) = Self::terms(&model, pixels(data, chunk, &self.device), eps);
            recon += r.sum().into_scalar::<f32>() as f64;
            kl += k.sum().into_scalar::<f32>() as f64;
        }
        let n = indices.len().max(1) as f64;
        vec![-(recon + kl) / n, recon / n, kl / n]
    }

    fn export(&self) -> Option<Result<Vec<Vec<u8>>>> {
        Some(crate::export::module_bytes(self.model(), "model").map(|b| vec![b]))
    }

    fn import(&mut self, bytes: &[u8], file: &Path) -> Option<Result<()>> {
        let model = self
            .model
            .as_mut()
            .expect("the model is back after every step");
        Some(crate::export::load_module(model, bytes, "model", file))
    }

    fn sampler(&mut self) -> Option<crate::export::Sampler> {
        const CHECK: usize = 8;
        let model = self.model().valid();
        let layers = crate::export::plain_layers(model.decoder_layers())?;
        // The noise `sample(CHECK, 0)` draws.
        let z = normal(&mut rng_for(0, "sample"), CHECK, self.latent, &self.device);
        crate::export::Sampler::checked(layers, z, self.sample(CHECK, 0)?)
    }

    fn save(&self, ckpt: &mut CheckpointWriter) -> Result<()> {
        ckpt.module("model", self.model())?;
        ckpt.optimizer("optim", &self.optim)
    }

    fn load(&mut self, ckpt: &CheckpointReader) -> Result<()> {
        self.model = Some(ckpt.module("model", self.model().clone())?);
        ckpt.optimizer("optim", &mut self.optim)?;
        Ok(())
    }

    fn epoch_end(&mut self, data: &ImageDataset, epoch: usize, run: &Path) -> Result<Vec<PathBuf>> {
        let samples = batch::epoch_picture(run, "samples", epoch);
        pictures::save_png(&self.decode(self.grid_noise()).grid(8, 2, 2), &samples)?;
        let model = self.model().valid();
        let shown: Vec<u32> = data.test_indices().into_iter().take(SHOWN).collect();
        let x = pixels(data, &shown, &self.device);
        let (mu, _) = model.encode(x.clone());
        let rows = batch::images(x, self.side).concat(&self.decode(mu));
        let recon = batch::epoch_picture(run, "reconstructions", epoch);
        let grid = rows.grid(SHOWN, 2, 2);
        let labelled = pictures::row_labelled(&grid, &["test images", "reconstructions"]);
        pictures::save_png(&labelled, &recon)?;
        Ok(vec![samples, recon])
    }

    fn finish(&mut self, data: &ImageDataset, _split: &Split, run: &Path) -> Result<Finish> {
        let mut files: Vec<PathBuf> = batch::animate(run, "samples")?.into_iter().collect();
        // From the code of one test image to another's, in 10 steps.
        let model = self.model().valid();
        let ends: Vec<u32> = data.test_indices().into_iter().take(2).collect();
        let (mu, _) = model.encode(pixels(data, &ends, &self.device));
        let (a, b) = (mu.clone().narrow(0, 0, 1), mu.narrow(0, 1, 1));
        let steps: Vec<Tensor<2>> = (0..10)
            .map(|k| {
                let t = k as f64 / 9.0;
                a.clone().mul_scalar(1.0 - t) + b.clone().mul_scalar(t)
            })
            .collect();
        let path = run.join("pictures/interpolation.png");
        pictures::save_png(&self.decode(Tensor::cat(steps, 0)).grid(10, 2, 2), &path)?;
        files.push(path);
        if self.latent == 2 {
            // Kingma & Welling's Fig. 4: the decoder's mean over a grid of latent points at the
            // standard normal's quantiles, so the grid covers the prior evenly.
            let k = 20;
            let q: Vec<f32> = (0..k)
                .map(|i| normal_quantile((i as f64 + 0.5) / k as f64) as f32)
                .collect();
            let z: Vec<f32> = (0..k)
                .flat_map(|r| {
                    (0..k)
                        .flat_map(|c| [q[c], q[k - 1 - r]])
                        .collect::<Vec<_>>()
                })
                .collect();
            let z = Tensor::from_data(TensorData::new(z, [k * k, 2]), &self.device);
            let path = run.join("pictures/manifold.png");
            pictures::save_png(&self.decode(z).grid(k, 0, 1), &path)?;
            files.push(path);
        }
        Ok(Finish {
            files,
            metrics: Vec::new(),
        })
    }

    fn sample(&mut self, n: usize, seed: u64) -> Option<Images> {
        let z = normal(&mut rng_for(seed, "sample"), n, self.latent, &self.device);
        Some(self.decode(z))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn normal_quantiles() {
        // Tabulated values of the standard normal: Phi^-1(0.5) = 0, Phi^-1(0.975) = 1.959964,
        // Phi^-1(0.01) = -2.326348.
        assert!(super::normal_quantile(0.5).abs() < 1e-12);
        assert!((super::normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((super::normal_quantile(0.01) + 2.326_348).abs() < 1e-6);
    }
}
