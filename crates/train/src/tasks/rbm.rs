//! The restricted Boltzmann machine (`nnlab_models::rbm`) as a [`Task`]: contrastive divergence
//! (CD-k) with momentum and weight decay, as Hinton's practical guide (2010) trains one (the
//! momentum `model.momentum`, switching to `model.momentum_final` after `model.momentum_epochs`
//! epochs: the guide's 0.5, then 0.9, after 5 epochs as Hinton & Salakhutdinov's 2006 code
//! switches); with
//! `model.persistent`, the negative phase continues the same chains from step to step
//! (persistent CD, Tieleman 2008), kept in the checkpoint. The update is the CD estimate of the
//! log-likelihood gradient, written out (no autodiff):
//! `velocity = momentum * velocity + lr * (gradient - weight_decay * W)`, `W += velocity`
//! (the biases without decay). The Gibbs sampling draws from the device's generator, which the
//! engine reseeds before every step, so a resumed run draws the same states.
//!
//! Metrics: training `recon_error` (squared error of the first reconstruction per image, the
//! guide's warning applies: it is not the objective) and `free_energy` (mean `F(v)` of the
//! data; lower is likelier); the same for evaluation, with the stochastic pseudo-log-likelihood
//! of the binarised test images (`pseudo_ll`, one flipped unit per image, in nats; binary
//! visible units only). Gaussian visible units (`model.visible_units = "gaussian"`) see each
//! pixel standardised over the training images, as the guide advises, and their errors and free
//! energies are in those standardised units. Pictures: the first 100 hidden units' weights
//! (filters) each epoch with an animation, and at the end Gibbs samples and a GIF of eight
//! chains step by step.

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use nnlab_config::{RbmSpec, RunConfig};
use nnlab_data::{ImageDataset, Split};
use nnlab_models::rbm::{Rbm, RbmConfig, Units, bernoulli};

use rand::Rng;

use super::batch::{self, pixels};
use crate::engine::{CheckpointReader, CheckpointWriter, Finish, StepContext, StepOutput, Task};
use crate::error::Result;
use crate::pictures::{self, Images};

/// Hidden units whose filters are drawn.
const FILTERS: usize = 100;
/// Gibbs steps from noise for a sample.
const GIBBS_STEPS: usize = 1000;

/// The hidden states persistent CD's chains stopped at, `[chains, hidden]` (kept in the
/// checkpoint so a resumed run continues the same chains).
#[derive(Module, Debug)]
struct Chain {
    h: Param<Tensor<2>>,
}

/// An RBM being trained.
#[derive(Debug)]
pub struct RbmTask {
    rbm: Rbm,
    /// Persistent CD's chains, once the first step has started them from its batch.
    chain: Option<Chain>,
    batch_size: usize,
    /// The last update of each parameter (the momentum's memory), shaped as the machine.
    velocity: Rbm,
    spec: RbmSpec,
    weight_decay: f64,
    device: Device,
    side: usize,
    eval_batch_size: usize,
    /// Gaussian visible units see each pixel standardised: its training images' mean and
    /// standard deviation (`[visible]` each, the deviation at least [`MIN_STD`]).
    standard: Option<(Tensor<1>, Tensor<1>)>,
}

/// The smallest standard deviation a pixel is divided by, in pixel units: pixels almost always
/// black (the border) would otherwise take huge standardised values.
const MIN_STD: f64 = 0.1;

/// Each pixel's mean and standard deviation (at least [`MIN_STD`]) over `data`'s training
/// images, on `device`.
fn pixel_moments(data: &ImageDataset, device: &Device) -> (Tensor<1>, Tensor<1>) {
    let (mean, std) = batch::pixel_moments(data);
    let d = mean.len();
    let t = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [d]), device);
    (
        t(mean.iter().map(|&m| m as f32).collect()),
        t(std.iter().map(|&s| s.max(MIN_STD) as f32).collect()),
    )
}

impl RbmTask {
    /// The machine `spec` describes, for `data`'s pixels, on `device`.
    pub fn new(config: &RunConfig, spec: &RbmSpec, data: &ImageDataset, device: &Device) -> Self {
        let rbm = RbmConfig::new(data.features(), spec.hidden)
            .with_visible_units(spec.visible_units)
            .with_hidden_units(spec.hidden_units)
            .init(device);
        let velocity = rbm.zeros_like();
        Self {
            rbm,
            chain: None,
            batch_size: config.train.batch_size,
            velocity,
            spec: spec.clone(),
            weight_decay: config.train.weight_decay,
            device: device.clone(),
            side: data.rows,
            eval_batch_size: config.train.eval_batch_size,
            standard: (spec.visible_units == Units::Gaussian).then(|| pixel_moments(data, device)),
        }
    }

    /// The visible units' values for the examples `batch`: pixels in `[0, 1]`, standardised
    /// for Gaussian units. `[n, visible]`.
    fn input(&self, data: &ImageDataset, batch: &[u32]) -> Tensor<2> {
        let x = pixels(data, batch, &self.device);
        match &self.standard {
            Some((mean, std)) => (x - mean.clone().unsqueeze()) / std.clone().unsqueeze(),
            None => x,
        }
    }

    /// Visible values back as pixels in `[0, 1]`.
    fn to_pixels(&self, v: Tensor<2>) -> Tensor<2> {
        match &self.standard {
            Some((mean, std)) => {
                (v * std.clone().unsqueeze() + mean.clone().unsqueeze()).clamp(0.0, 1.0)
            }
            None => v,
        }
    }

    /// `n` random visible states to start chains from: coin flips for binary units, standard
    /// normal values for Gaussian ones.
    fn random_states(&self, n: usize) -> Tensor<2> {
        let shape = [n, self.rbm.visible()];
        match self.spec.visible_units {
            Units::Binary => bernoulli(Tensor::full(shape, 0.5, &self.device)),
            Units::Gaussian => Tensor::random(shape, Distribution::Normal(0.0, 1.0), &self.device),
        }
    }

    /// The first hidden units' weight vectors as images, blue to red.
    fn filters(&self) -> Images {
        let w: Vec<f32> = self
            .rbm
            .weight
            .val()
            .transpose()
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .expect("f32 weights");
        let v = self.rbm.visible();
        let shown: Vec<Vec<f32>> = w.chunks(v).take(FILTERS).map(<[f32]>::to_vec).collect();
        pictures::diverging(&shown, self.side)
    }
}

impl RbmTask {
    /// `pictures/gibbs-chain.gif`: eight chains from random states, frame by frame at growing
    /// numbers of Gibbs steps, each frame captioned with its step.
    fn chain_gif(&mut self, run: &Path) -> Result<PathBuf> {
        const STEPS: [usize; 11] = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
        self.device.seed(1);
        let mut v = self.random_states(8);
        let mut done = 0;
        let mut frames = Vec::new();
        for &step in &STEPS {
            v = self.rbm.gibbs(v, step - done);
            done = step;
            let grid = batch::images(self.to_pixels(v.clone()), self.side).grid(8, 2, 3);
            frames.push(pictures::captioned(&grid, &format!("Gibbs step {step}")));
        }
        let path = run.join("pictures/gibbs-chain.gif");
        pictures::save_gif(&frames, 500, &path)?;
        Ok(path)
    }
}

impl Task for RbmTask {
    fn train_metrics(&self) -> Vec<String> {
        vec!["recon_error".into(), "free_energy".into()]
    }

    fn eval_metrics(&self) -> Vec<String> {
        let mut names = vec!["recon_error".into(), "free_energy".into()];
        // The pseudo-likelihood flips a binary unit; Gaussian units have none to flip.
        if self.spec.visible_units == Units::Binary {
            names.push("pseudo_ll".into());
        }
        names
    }

    fn parameters(&self) -> usize {
        self.rbm.num_params()
    }

    fn step(&mut self, data: &ImageDataset, batch: &[u32], ctx: &StepContext) -> StepOutput {
        let v0 = self.input(data, batch);
        let n = batch.len();
        let free_energy = self.rbm.free_energy(v0.clone()).sum();
        let g = if self.spec.persistent {
            let start = self.chain.take().map(|c| c.h.val());
            let (g, end) = self.rbm.cd_from(v0, start, self.spec.cd_k);
            self.chain = Some(Chain {
                h: Param::from_tensor(end),
            });
            g
        } else {
            self.rbm.cd(v0, self.spec.cd_k)
        };
        let reconstruction_error = g.reconstruction_error;
        let (m, lr, decay) = (self.spec.momentum_at(ctx.epoch), ctx.lr, self.weight_decay);
        self.rbm.momentum_step(&mut self.velocity, g, lr, m, decay);
        StepOutput {
            examples: n,
            sums: vec![
                crate::engine::Sum::Host(reconstruction_error * n as f32),
                free_energy.into(),
            ],
        }
    }

    fn evaluate(&mut self, data: &ImageDataset, indices: &[u32]) -> Vec<f64> {
        let (mut recon, mut free, mut pl) = (0.0f64, 0.0f64, 0.0f64);
        // The unit each example's pseudo-likelihood flips, from a fixed generator.
        let mut rng = batch::rng_for(0, "pseudo-likelihood");
        let d = self.rbm.visible();
        for chunk in indices.chunks(self.eval_batch_size) {
            let v = self.input(data, chunk);
            // The mean reconstruction: hidden and visible probabilities, no sampling.
            let pv = self.rbm.visible_probs(self.rbm.hidden_probs(v.clone()));
            recon += (v.clone() - pv).square().sum().into_scalar::<f32>() as f64;
            free += self.rbm.free_energy(v.clone()).sum().into_scalar::<f32>() as f64;
            if self.standard.is_some() {
                continue;
            }
            // The pseudo-likelihood of the binarised pixels.
            let binary = v.greater_elem(0.5).float();
            let flip: Vec<usize> = (0..chunk.len()).map(|_| rng.random_range(0..d)).collect();
            pl += self
                .rbm
                .pseudo_log_likelihood(binary, &flip)
                .sum()
                .into_scalar::<f32>() as f64;
        }
        let n = indices.len().max(1) as f64;
        let mut values = vec![recon / n, free / n, pl / n];
        values.truncate(self.eval_metrics().len());
        values
    }

    fn save(&self, ckpt: &mut CheckpointWriter) -> Result<()> {
        ckpt.module("rbm", &self.rbm)?;
        if let Some(chain) = &self.chain {
            ckpt.module("chain", chain)?;
        }
        ckpt.module("velocity", &self.velocity)
    }

    fn load(&mut self, ckpt: &CheckpointReader) -> Result<()> {
        self.rbm = ckpt.module("rbm", self.rbm.clone())?;
        self.velocity = ckpt.module("velocity", self.velocity.clone())?;
        if self.spec.persistent {
            // The chains started from the first batch, a full one.
            let shape = Chain {
                h: Param::from_tensor(Tensor::zeros(
                    [self.batch_size, self.rbm.hidden()],
                    &self.device,
                )),
            };
            self.chain = Some(ckpt.module("chain", shape)?);
        }
        Ok(())
    }

    fn epoch_end(
        &mut self,
        _data: &ImageDataset,
        epoch: usize,
        run: &Path,
    ) -> Result<Vec<PathBuf>> {
        let path = batch::epoch_picture(run, "filters", epoch);
        pictures::save_png(&self.filters().grid(10, 1, 2), &path)?;
        Ok(vec![path])
    }

    fn finish(&mut self, _data: &ImageDataset, _split: &Split, run: &Path) -> Result<Finish> {
        let mut files: Vec<PathBuf> = batch::animate(run, "filters")?.into_iter().collect();
        if let Some(samples) = self.sample(64, 0) {
            let path = run.join("pictures/samples.png");
            pictures::save_png(&samples.grid(8, 2, 2), &path)?;
            files.push(path);
        }
        files.push(self.chain_gif(run)?);
        Ok(Finish {
            files,
            metrics: Vec::new(),
        })
    }

    fn sample(&mut self, n: usize, seed: u64) -> Option<Images> {
        // Chains from random binary states, 1,000 Gibbs steps each, drawn from `seed`.
        self.device.seed(seed);
        let start = self.random_states(n);
        let v = self.to_pixels(self.rbm.gibbs(start, GIBBS_STEPS));
        Some(batch::images(v, self.side))
    }

    fn export(&self) -> Option<Result<Vec<Vec<u8>>>> {
        Some(crate::export::module_bytes(&self.rbm, "model").map(|b| vec![b]))
    }

    fn import(&mut self, bytes: &[u8], file: &Path) -> Option<Result<()>> {
        Some(crate::export::load_module(
            &mut self.rbm,
            bytes,
            "model",
            file,
        ))
    }
}
