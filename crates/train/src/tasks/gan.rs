//! Generative adversarial networks (Goodfellow et al. 2014) as a [`Task`], for any generator
//! and discriminator pair (the MLPs of `kind = "gan"`, the convolutional pair of
//! `kind = "dcgan"`): two modules, two optimizers, fresh noise every step.
//!
//! Each step: the discriminator takes one step on `-log D(x) - log(1 - D(G(z1)))` for the batch's
//! real images `x` and a batch of fakes; then the generator takes one step on the non-saturating
//! `-log D(G(z2))` (the paper's practical recommendation, Sec. 3) with fresh noise `z2`. With
//! `model.simultaneous`, as Goodfellow et al.'s code, the generator's loss is `-log D(G(z1))` on
//! the same fakes through the discriminator before its step, and both step from there; the
//! generator's pass draws dropout masks of its own, or, with `model.shared_dropout_masks`, drops
//! the units the discriminator's pass over those fakes drops, as their code (where one forward
//! pass serves both objectives). The noise comes from the step's generator on the host, so a
//! resumed run draws the same noise.
//!
//! Metrics: `d_loss`, `g_loss`, and the discriminator's mean probabilities `d_real` = D(x) and
//! `d_fake` = D(G(z)); evaluation reports `d_real` on test images and `d_fake` on fixed noise.
//! Finished runs add the Parzen-window log-likelihood of the test set under 10,000 samples,
//! bandwidth chosen on 1,000 validation images, beside the same estimate with 10,000 real
//! training images in place of samples (see `nnlab_aesthetics::parzen` for why it needs that
//! company). Pictures: samples from fixed noise each epoch, their animation, an interpolation.

use std::path::{Path, PathBuf};

use crate::optim::Optim;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softplus};
use nnlab_aesthetics::parzen;
use nnlab_config::{ModelConfig, Noise, RunConfig};
use nnlab_data::{ImageDataset, Split};
use nnlab_models::{Discriminator, Generator};

use super::batch::{self, pixels, rng_for};
use crate::engine::{CheckpointReader, CheckpointWriter, Finish, StepContext, StepOutput, Task};
use crate::error::Result;
use crate::pictures::{self, Images};

/// Samples in the per-epoch grid.
const GRID: usize = 64;
/// Generated samples of the Parzen estimate (Goodfellow et al.'s 10,000).
pub const PARZEN_SAMPLES: usize = 10_000;
/// Validation images the bandwidth is chosen on (their code's 1,000).
pub const PARZEN_VALIDATION: usize = 1_000;

/// A GAN being trained.
pub struct GanTask<G: Generator, D: Discriminator> {
    g: Option<G>,
    d: Option<D>,
    optim_g: Optim,
    optim_d: Optim,
    device: Device,
    train_device: Device,
    side: usize,
    seed: u64,
    eval_batch_size: usize,
    /// The distribution of `z`.
    noise: Noise,
    /// The cap on each unit's incoming weight norm (0: none).
    max_col_norm: f64,
    /// The factor on the discriminator's loss in its step.
    d_loss_scale: f64,
    /// Both networks step at once from the same fakes (`model.simultaneous`).
    simultaneous: bool,
    /// The generator's pass reuses the discriminator's dropout masks on the fakes.
    shared_masks: bool,
    /// The training settings, for a momentum that changes with the epoch.
    train: nnlab_config::TrainConfig,
    /// The momentum the optimizers were built with.
    momentum: f64,
    host_optimizer: bool,
}

/// Scales each column of every rank-2 parameter (a dense layer's `[in, out]` weights: each
/// unit's incoming vector) back to norm `max` where it is longer.
struct CapColumns {
    max: f64,
}

impl burn::module::ModuleMapper for CapColumns {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        if D != 2 {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let require_grad = tensor.is_require_grad();
        let w = tensor.inner();
        let norm = w.clone().square().sum_dim(0).sqrt();
        let scale = norm.recip().mul_scalar(self.max).clamp_max(1.0);
        let mut capped = Tensor::from_inner(w * scale);
        if require_grad {
            capped = capped.require_grad();
        }
        burn::module::Param::from_mapped_value(id, capped, mapper)
    }
}

impl<G: Generator, D: Discriminator> std::fmt::Debug for GanTask<G, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GanTask")
            .field("generator", &self.g.as_ref().map(|g| g.num_params()))
            .field("discriminator", &self.d.as_ref().map(|d| d.num_params()))
            .finish_non_exhaustive()
    }
}

/// `-log sigmoid(logit)` per row, stably: `softplus(-logit)`. `[n, 1]` -> `[n]`.
fn minus_log_real(logit: Tensor<2>) -> Tensor<1> {
    softplus(logit.neg(), 1.0).squeeze_dim::<1>(1)
}

/// `-log(1 - sigmoid(logit))` per row: `softplus(logit)`. `[n, 1]` -> `[n]`.
fn minus_log_fake(logit: Tensor<2>) -> Tensor<1> {
    softplus(logit, 1.0).squeeze_dim::<1>(1)
}

/// The diversity of generated images from their per-pixel sums and sums of squares over `n`
/// images: the mean over pixels of the standard deviation across images. 0 when every image is
/// the same (mode collapse). Evaluation records it beside the same figure of the real images
/// (`diversity_real`).
pub fn diversity(sum: &[f64], squares: &[f64], n: f64) -> f64 {
    if n < 2.0 || sum.is_empty() {
        return 0.0;
    }
    sum.iter()
        .zip(squares)
        .map(|(s, q)| (q / n - (s / n).powi(2)).max(0.0).sqrt())
        .sum::<f64>()
        / sum.len() as f64
}

/// Per-pixel sums and sums of squares over a stream of `[n, features]` batches.
struct PixelMoments {
    sum: Vec<f64>,
    squares: Vec<f64>,
    n: f64,
}

impl PixelMoments {
    fn new(features: usize) -> Self {
        Self {
            sum: vec![0.0; features],
            squares: vec![0.0; features],
            n: 0.0,
        }
    }

    /// Adds the rows of `images`, `[n, features]`.
    fn add(&mut self, images: Tensor<2>) {
        let values: Vec<f32> = images
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .expect("f32");
        for row in values.chunks(self.sum.len()) {
            for ((s, q), &v) in self.sum.iter_mut().zip(&mut self.squares).zip(row) {
                *s += v as f64;
                *q += (v as f64) * (v as f64);
            }
            self.n += 1.0;
        }
    }

    fn diversity(&self) -> f64 {
        diversity(&self.sum, &self.squares, self.n)
    }
}

impl<G: Generator, D: Discriminator> GanTask<G, D> {
    /// A GAN of `g` and `d` (built on `device`'s autodiff twin) trained as `config` says.
    pub fn new(
        config: &RunConfig,
        g: G,
        d: D,
        data: &ImageDataset,
        device: &Device,
        host_optimizer: bool,
    ) -> Self {
        nnlab_models::init::materialize(&g);
        nnlab_models::init::materialize(&d);
        // The MLP GAN's own settings; the DCGAN draws normal noise, caps and scales nothing and
        // alternates its steps.
        let (noise, max_col_norm, d_loss_scale, simultaneous, shared_masks) = match &config.model {
            ModelConfig::Gan(spec) => (
                spec.noise,
                spec.max_col_norm,
                spec.d_loss_scale,
                spec.simultaneous,
                spec.shared_dropout_masks,
            ),
            _ => (Noise::Normal, 0.0, 1.0, false, false),
        };
        Self {
            g: Some(g),
            d: Some(d),
            optim_g: crate::optim::build(&config.train, host_optimizer),
            optim_d: crate::optim::build(&config.train, host_optimizer),
            device: device.clone(),
            train_device: device.clone().autodiff(),
            side: data.rows,
            seed: config.seed,
            eval_batch_size: config.train.eval_batch_size,
            noise,
            max_col_norm,
            d_loss_scale,
            simultaneous,
            shared_masks,
            train: config.train.clone(),
            momentum: config.train.sgd.as_ref().map_or(0.0, |s| s.momentum),
            host_optimizer,
        }
    }

    /// One step of the generator `g` on `g_loss`, its units' weights capped after it.
    fn step_generator(&mut self, lr: f64, g: G, g_loss: Tensor<1>) -> G {
        let g = self.optim_g.step_backward(lr, g, g_loss.backward());
        match self.max_col_norm {
            0.0 => g,
            max => g.map(&mut CapColumns { max }),
        }
    }

    /// Rebuilds both optimizers with the momentum of `epoch` when it differs from theirs,
    /// keeping their state (the velocities).
    fn follow_momentum(&mut self, epoch: usize) {
        let Some(sgd) = self.train.sgd.clone() else {
            return;
        };
        let m = sgd.momentum_at(epoch);
        if m == self.momentum {
            return;
        }
        let mut train = self.train.clone();
        train.sgd = Some(nnlab_config::SgdSettings {
            momentum: m,
            momentum_final: None,
            ..sgd
        });
        for optim in [&mut self.optim_g, &mut self.optim_d] {
            let state = optim.to_bytes().expect("an SGD state serialises");
            let mut fresh = crate::optim::build(&train, self.host_optimizer);
            fresh
                .load_bytes(state)
                .expect("the state of the same optimizer loads");
            *optim = fresh;
        }
        self.momentum = m;
    }

    /// `n` noise vectors `[n, latent]` from `rng`, row by row, in the model's distribution.
    fn noise_values(&self, rng: &mut impl rand::Rng, n: usize, latent: usize) -> Vec<f32> {
        match self.noise {
            Noise::Normal => batch::normal_values(rng, n, latent),
            Noise::Uniform => {
                let r = 3.0f32.sqrt();
                (0..n * latent)
                    .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * r)
                    .collect()
            }
        }
    }

    /// [`noise_values`](Self::noise_values) as a tensor on the evaluation device.
    fn z(&self, rng: &mut impl rand::Rng, n: usize, latent: usize) -> Tensor<2> {
        let values = self.noise_values(rng, n, latent);
        Tensor::from_data(TensorData::new(values, [n, latent]), &self.device)
    }

    fn g(&self) -> &G {
        self.g
            .as_ref()
            .expect("the generator is back after every step")
    }

    fn d(&self) -> &D {
        self.d
            .as_ref()
            .expect("the discriminator is back after every step")
    }

    /// `n` samples from noise drawn from `rng`, in evaluation mode: `[n, pixels]`.
    fn generate(&self, rng: &mut impl rand::Rng, n: usize) -> Tensor<2> {
        let g = self.g().valid();
        let chunks: Vec<Tensor<2>> = (0..n)
            .step_by(self.eval_batch_size)
            .map(|start| {
                let len = self.eval_batch_size.min(n - start);
                g.generate(self.z(rng, len, g.latent()))
            })
            .collect();
        Tensor::cat(chunks, 0)
    }

    fn images(&self, t: Tensor<2>) -> Images {
        batch::images(t, self.side)
    }
}

impl<G: Generator, D: Discriminator> Task for GanTask<G, D> {
    fn train_metrics(&self) -> Vec<String> {
        ["d_loss", "g_loss", "d_real", "d_fake"]
            .map(String::from)
            .to_vec()
    }

    fn eval_metrics(&self) -> Vec<String> {
        ["d_real", "d_fake", "diversity", "diversity_real"]
            .map(String::from)
            .to_vec()
    }

    fn parameters(&self) -> usize {
        self.g().num_params() + self.d().num_params()
    }

    fn step(&mut self, data: &ImageDataset, batch: &[u32], ctx: &StepContext) -> StepOutput {
        self.follow_momentum(ctx.epoch);
        let n = batch.len();
        // The discriminator's noise, then the generator's (what `--trace` records).
        let noise = self.step_noise(ctx, n).expect("a GAN step draws its noise");
        let (z_d, z_g) = noise.split_at(noise.len() / 2);
        let device = self.train_device.clone();
        let z = |values: &[f32], latent: usize| {
            Tensor::<2>::from_data(TensorData::new(values.to_vec(), [n, latent]), &device)
        };
        let (g, d) = (
            self.g
                .take()
                .expect("the generator is back after every step"),
            self.d
                .take()
                .expect("the discriminator is back after every step"),
        );
        let latent = g.latent();
        let real = pixels(data, batch, &self.train_device);
        // The generator's graph of these fakes is kept only when it steps on them.
        let fake = match self.simultaneous {
            true => g.generate(z(z_d, latent)),
            false => g.generate(z(z_d, latent)).detach(),
        };
        // The generator's loss goes through the discriminator's weights taken as constants
        // (`no_grad` on a copy sharing them and its batch-norm statistics): the backward pass
        // computes the discriminator's input gradients only, not its weights' gradients, which
        // the generator's step would throw away.
        let g_loss_through = |d: &D, fake: Tensor<2>, masks: &[Tensor<2>]| {
            minus_log_real(d.clone().no_grad().logit_masked(fake, masks)).mean()
        };
        // The dropout masks of the discriminator's pass over the fakes, drawn here when the
        // generator's pass shares them (empty: each pass draws its own).
        let masks = match self.shared_masks {
            true => d.dropout_masks(n, &device),
            false => Vec::new(),
        };
        // Stepping both at once, the generator steps first, on these fakes through the
        // discriminator before its step (`z_g` goes unused).
        let (g, g_loss_now) = if self.simultaneous {
            let g_loss = g_loss_through(&d, fake.clone(), &masks);
            (self.step_generator(ctx.lr, g, g_loss.clone()), Some(g_loss))
        } else {
            (g, None)
        };
        let (real_logit, fake_logit) = (d.logit(real), d.logit_masked(fake.detach(), &masks));
        let d_real = sigmoid(real_logit.clone()).detach().sum();
        let d_fake = sigmoid(fake_logit.clone()).detach().sum();
        let d_loss = minus_log_real(real_logit).mean() + minus_log_fake(fake_logit).mean();
        let d = match self.d_loss_scale {
            1.0 => self.optim_d.step_backward(ctx.lr, d, d_loss.backward()),
            k => self
                .optim_d
                .step_backward(ctx.lr, d, d_loss.clone().mul_scalar(k).backward()),
        };
        let d = match self.max_col_norm {
            0.0 => d,
            max => d.map(&mut CapColumns { max }),
        };
        // Otherwise the generator steps after it, on fresh noise through the updated one.
        let (g, g_loss) = match g_loss_now {
            Some(g_loss) => (g, g_loss),
            None => {
                let g_loss = g_loss_through(&d, g.generate(z(z_g, latent)), &[]);
                (self.step_generator(ctx.lr, g, g_loss.clone()), g_loss)
            }
        };
        self.g = Some(g);
        self.d = Some(d);
        StepOutput {
            examples: n,
            sums: vec![
                (d_loss.detach() * n as f32).into(),
                (g_loss.detach() * n as f32).into(),
                d_real.into(),
                d_fake.into(),
            ],
        }
    }

    fn step_noise(&self, ctx: &StepContext, examples: usize) -> Option<Vec<f32>> {
        // Two draws from the step's generator, one after the other: `[examples, latent]` for
        // the discriminator's fakes, then as many for the generator's step.
        let latent = self.g().latent();
        let mut rng = ctx.rng();
        let mut values = self.noise_values(&mut rng, examples, latent);
        values.extend(self.noise_values(&mut rng, examples, latent));
        Some(values)
    }

    fn evaluate(&mut self, data: &ImageDataset, indices: &[u32]) -> Vec<f64> {
        let d = self.d().valid();
        let mut rng = rng_for(self.seed, "evaluation");
        let (mut real, mut fake) = (0.0f64, 0.0f64);
        // Per-pixel sums and sums of squares of the generated images and of the real ones, for
        // their diversity: the samples' beside the data's they imitate.
        let mut generated = PixelMoments::new(data.features());
        let mut data_moments = PixelMoments::new(data.features());
        for chunk in indices.chunks(self.eval_batch_size) {
            let x = pixels(data, chunk, &self.device);
            real += sigmoid(d.logit(x.clone())).sum().into_scalar::<f32>() as f64;
            data_moments.add(x);
            let f = self.generate(&mut rng, chunk.len());
            fake += sigmoid(d.logit(f.clone())).sum().into_scalar::<f32>() as f64;
            generated.add(f);
        }
        let n = indices.len().max(1) as f64;
        vec![
            real / n,
            fake / n,
            generated.diversity(),
            data_moments.diversity(),
        ]
    }

    fn export(&self) -> Option<Result<Vec<Vec<u8>>>> {
        let parts = [
            crate::export::module_bytes(self.g(), "generator"),
            crate::export::module_bytes(self.d(), "discriminator"),
        ];
        Some(parts.into_iter().collect())
    }

    fn import(&mut self, bytes: &[u8], file: &Path) -> Option<Result<()>> {
        let g = self
            .g
            .as_mut()
            .expect("the generator is back after every step");
        if let Err(e) = crate::export::load_module(g, bytes, "generator", file) {
            return Some(Err(e));
        }
        let d = self
            .d
            .as_mut()
            .expect("the discriminator is back after every step");
        Some(crate::export::load_module(d, bytes, "discriminator", file))
    }

    fn sampler(&mut self) -> Option<crate::export::Sampler> {
        const CHECK: usize = 8;
        let g = self.g().valid();
        let layers = crate::export::plain_layers(g.layers()?)?;
        // The noise `sample(CHECK, 0)` draws (one chunk: CHECK is below any eval batch size).
        let z = self.z(&mut rng_for(0, "sample"), CHECK, g.latent());
        let mut sampler = crate::export::Sampler::checked(layers, z, self.sample(CHECK, 0)?)?;
        if self.noise == Noise::Uniform {
            sampler.noise = "uniform".into();
        }
        Some(sampler)
    }

    fn save(&self, ckpt: &mut CheckpointWriter) -> Result<()> {
        ckpt.module("generator", self.g())?;
        ckpt.module("discriminator", self.d())?;
        ckpt.optimizer("optim_g", &self.optim_g)?;
        ckpt.optimizer("optim_d", &self.optim_d)
    }

    fn load(&mut self, ckpt: &CheckpointReader) -> Result<()> {
        self.g = Some(ckpt.module("generator", self.g().clone())?);
        self.d = Some(ckpt.module("discriminator", self.d().clone())?);
        ckpt.optimizer("optim_g", &mut self.optim_g)?;
        ckpt.optimizer("optim_d", &mut self.optim_d)?;
        Ok(())
    }

    fn epoch_end(
        &mut self,
        _data: &ImageDataset,
        epoch: usize,
        run: &Path,
    ) -> Result<Vec<PathBuf>> {
        let samples = self.generate(&mut rng_for(self.seed, "sample grid"), GRID);
        let path = batch::epoch_picture(run, "samples", epoch);
        pictures::save_png(&self.images(samples).grid(8, 2, 2), &path)?;
        Ok(vec![path])
    }

    fn finish(&mut self, data: &ImageDataset, split: &Split, run: &Path) -> Result<Finish> {
        let mut files: Vec<PathBuf> = batch::animate(run, "samples")?.into_iter().collect();
        // From one noise vector to another, in 10 steps.
        let g = self.g().valid();
        let ends = self.z(&mut rng_for(self.seed, "interpolation"), 2, g.latent());
        let (a, b) = (ends.clone().narrow(0, 0, 1), ends.narrow(0, 1, 1));
        let z: Vec<Tensor<2>> = (0..10)
            .map(|k| {
                let t = k as f64 / 9.0;
                a.clone().mul_scalar(1.0 - t) + b.clone().mul_scalar(t)
            })
            .collect();
        let path = run.join("pictures/interpolation.png");
        pictures::save_png(
            &self.images(g.generate(Tensor::cat(z, 0))).grid(10, 2, 2),
            &path,
        )?;
        files.push(path);

        let mut metrics = Vec::new();
        if split.valid.len() >= PARZEN_VALIDATION {
            let samples = self.generate(&mut rng_for(self.seed, "parzen"), PARZEN_SAMPLES);
            let valid = pixels(data, &split.valid[..PARZEN_VALIDATION], &self.device);
            let test = pixels(data, &split.test, &self.device);
            let grid = parzen::default_grid();
            // The validation estimate at the chosen bandwidth is kept too: it is the figure a
            // user may pick an epoch or a run by without looking at the test set.
            let (sigma, valid_ll) =
                parzen::choose_sigma(valid.clone(), samples.clone(), &grid, 500);
            let ll = parzen::log_likelihoods(test.clone(), samples, sigma, 500);
            let (mean, se) = parzen::mean_and_standard_error(&ll);
            // The same estimate with real training images in place of samples.
            let n_real = PARZEN_SAMPLES.min(split.train.len());
            let real = pixels(data, &split.train[..n_real], &self.device);
            let (sigma_real, _) = parzen::choose_sigma(valid, real.clone(), &grid, 500);
            let ll_real = parzen::log_likelihoods(test, real, sigma_real, 500);
            let (mean_real, se_real) = parzen::mean_and_standard_error(&ll_real);
            metrics.extend([
                ("test_parzen_ll".to_string(), mean),
                ("test_parzen_ll_se".to_string(), se),
                ("parzen_sigma".to_string(), sigma),
                ("valid_parzen_ll".to_string(), valid_ll),
                ("test_parzen_ll_real".to_string(), mean_real),
                ("test_parzen_ll_real_se".to_string(), se_real),
                ("parzen_sigma_real".to_string(), sigma_real),
            ]);
        }
        Ok(Finish { files, metrics })
    }

    fn sample(&mut self, n: usize, seed: u64) -> Option<Images> {
        let t = self.generate(&mut rng_for(seed, "sample"), n);
        Some(self.images(t))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn diversity_is_zero_for_copies_and_the_pixel_std_otherwise() {
        // Two images: [0, 1] and [0, 0]. Pixel 0 never varies; pixel 1 has std 0.5.
        let (sum, squares) = ([0.0, 1.0], [0.0, 1.0]);
        assert!((super::diversity(&sum, &squares, 2.0) - 0.25).abs() < 1e-12);
        // Copies of one image.
        assert!(super::diversity(&[2.0, 0.6], &[2.0, 0.18], 2.0) < 1e-6);
    }

    /// Columns longer than the cap come back to it; shorter ones stay as they were.
    #[test]
    fn long_columns_are_scaled_back_to_the_cap() {
        use super::*;
        use burn::module::Module;
        use burn::nn::LinearConfig;
        let device = Device::flex();
        let mut layer = LinearConfig::new(2, 2).init(&device);
        layer.weight = burn::module::Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![3.0f32, 0.3, 4.0, 0.4], [2, 2]),
            &device,
        ));
        let capped = layer.map(&mut CapColumns { max: 1.0 });
        let w: Vec<f32> = capped.weight.val().into_data().try_into_vec().unwrap();
        // Column 0 is (3, 4), norm 5: scaled to (0.6, 0.8). Column 1, norm 0.5, stays.
        let want = [0.6f32, 0.3, 0.8, 0.4];
        for (g, e) in w.iter().zip(want) {
            assert!((g - e).abs() < 1e-6, "{w:?}");
        }
    }
}
