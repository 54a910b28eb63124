//! The restricted Boltzmann machine (`nnlab_models::rbm`) as a [`Task`]: contrastive divergence
//! (CD-k) with momentum and weight decay, as Hinton's practical guide (2010) trains one; with
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
//! of the binarised test images (`pseudo_ll`, one flipped unit per image, in nats). Pictures: the first 100 hidden units'
//! weights (filters) each epoch with an animation, and at the end Gibbs samples and a GIF of
//! eight chains step by step.

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::prelude::*;
use nnlab_config::{RbmSpec, RunConfig};
use nnlab_data::{ImageDataset, Split};
use nnlab_models::rbm::{Rbm, RbmConfig, bernoulli};

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
}

impl RbmTask {
    /// The machine `spec` describes, for `data`'s pixels, on `device`.
    pub fn new(config: &RunConfig, spec: &RbmSpec, data: &ImageDataset, device: &Device) -> Self {
        let rbm = RbmConfig::new(data.features(), spec.hidden).init(device);
        let velocity = Rbm {
            weight: Param::from_tensor(rbm.weight.val().zeros_like()),
            visible_bias: Param::from_tensor(rbm.visible_bias.val().zeros_like()),
            hidden_bias: Param::from_tensor(rbm.hidden_bias.val().zeros_like()),
        };
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
        let mut v = bernoulli(Tensor::full([8, self.rbm.visible()], 0.5, &self.device));
        let mut done = 0;
        let mut frames = Vec::new();
        for &step in &STEPS {
            v = self.rbm.gibbs(v, step - done);
            done = step;
            let grid = batch::images(v.clone(), self.side).grid(8, 2, 3);
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
        vec![
            "recon_error".into(),
            "free_energy".into(),
            "pseudo_ll".into(),
        ]
    }

    fn parameters(&self) -> usize {
        self.rbm.num_params()
    }

    fn step(&mut self, data: &ImageDataset, batch: &[u32], ctx: &StepContext) -> StepOutput {
        let v0 = pixels(data, batch, &self.device);
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
        let (m, lr, decay) = (self.spec.momentum, ctx.lr, self.weight_decay);
        let w = self.rbm.weight.val();
        let vw = self.velocity.weight.val().mul_scalar(m)
            + (g.weight - w.clone().mul_scalar(decay)).mul_scalar(lr);
        let vb = self.velocity.visible_bias.val().mul_scalar(m) + g.visible_bias.mul_scalar(lr);
        let vc = self.velocity.hidden_bias.val().mul_scalar(m) + g.hidden_bias.mul_scalar(lr);
        self.rbm.weight = Param::from_tensor(w + vw.clone());
        self.rbm.visible_bias = Param::from_tensor(self.rbm.visible_bias.val() + vb.clone());
        self.rbm.hidden_bias = Param::from_tensor(self.rbm.hidden_bias.val() + vc.clone());
        self.velocity.weight = Param::from_tensor(vw);
        self.velocity.visible_bias = Param::from_tensor(vb);
        self.velocity.hidden_bias = Param::from_tensor(vc);
        StepOutput {
            examples: n,
            sums: vec![
                crate::engine::Sum::Host(g.reconstruction_error * n as f32),
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
            let v = pixels(data, chunk, &self.device);
            // The mean reconstruction: hidden and visible probabilities, no sampling.
            let pv = self.rbm.visible_probs(self.rbm.hidden_probs(v.clone()));
            recon += (v.clone() - pv).square().sum().into_scalar::<f32>() as f64;
            free += self.rbm.free_energy(v.clone()).sum().into_scalar::<f32>() as f64;
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
        vec![recon / n, free / n, pl / n]
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
        let start = bernoulli(Tensor::full([n, self.rbm.visible()], 0.5, &self.device));
        Some(batch::images(self.rbm.gibbs(start, GIBBS_STEPS), self.side))
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
