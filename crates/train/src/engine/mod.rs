//! The training engine: one loop for every model family.
//!
//! A model family is a [`Task`]: it builds its modules and optimizers from the config, takes one
//! optimisation step on a batch and reports named scalars, evaluates on a split, saves and
//! restores its modules and optimizer states as named records, and may draw pictures at the
//! end of an epoch. The loop in [`fit`] owns everything else: epochs and the seeded data order,
//! progress, Ctrl-C, divergence, `metrics.csv` with named columns, checkpoints, exact resume
//! and early stopping.
//!
//! Randomness during training (dropout masks, a GAN's noise) is a function of the seed, the
//! epoch and the step: before every step the loop reseeds the device's generator from the
//! three, and [`StepContext::rng`] gives a host generator keyed the same way. A resumed run
//! therefore draws the very numbers an uninterrupted one would, with no generator state to save.
//!
//! Module layout: [`fit`] (the loop), [`data_parallel`] (the multi-device strategy),
//! [`checkpoint`] (named records, `latest`), [`metrics`]
//! (`metrics.csv`, `summary.json`), [`progress`] (the bar and the epoch lines),
//! [`interrupt`] (Ctrl-C), [`provenance`] (build revision, peak memory).

pub mod checkpoint;
pub mod data_parallel;
pub mod fit;
pub mod interrupt;
pub mod metrics;
pub mod progress;
pub mod provenance;
pub mod trace;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use nnlab_data::{ImageDataset, Split};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use checkpoint::{CheckpointReader, CheckpointWriter};
pub use fit::{FitOptions, Outcome, fit};

use crate::error::Result;
use crate::pictures::Images;

/// Environment variable telling a study's child runs which study they belong to (so that an
/// interrupted one says to rerun the study).
pub const STUDY_ENV: &str = "NNLAB_STUDY";

/// Environment variable telling a study's child runs how many runs share the machine with them
/// (recorded in their summaries: their seconds per epoch depend on it).
pub const JOBS_ENV: &str = "NNLAB_STUDY_JOBS";

/// What a task adds once training has finished: files it drew, and figures that are too costly
/// to compute every epoch (they go into `summary.json` beside the last epoch's).
#[derive(Debug, Clone, Default)]
pub struct Finish {
    /// Files written into the run folder.
    pub files: Vec<PathBuf>,
    /// Named figures, e.g. `test_parzen_ll`.
    pub metrics: Vec<(String, f64)>,
}

/// What one training step reports: for each of the task's [`Task::train_metrics`], the sum of
/// its value over the batch's examples (value times `examples` for a batch mean). The loop adds
/// these up and reads them back only every `train.log_every` steps.
#[derive(Debug)]
pub struct StepOutput {
    /// Examples in the batch.
    pub examples: usize,
    /// One sum per training metric, in the order of [`Task::train_metrics`].
    pub sums: Vec<Sum>,
}

/// One training metric's sum over a batch, added up over steps in f32 either way, so that both
/// forms give the same bits.
#[derive(Debug)]
// A few per step, each moved once into the running window: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Sum {
    /// A `[1]` tensor still on the device (added there; a GPU is not waited for every step).
    Device(Tensor<1>),
    /// A value already on the host: where reading the device costs nothing (CPU backends),
    /// adding tensors of one element would cost a tensor operation each.
    Host(f32),
}

impl std::ops::Add for Sum {
    type Output = Sum;

    /// The sum of two sums (on the device when both are there).
    fn add(self, other: Sum) -> Sum {
        match (self, other) {
            (Self::Device(a), Self::Device(b)) => Self::Device(a + b),
            (a, b) => Self::Host(a.read() + b.read()),
        }
    }
}

impl Sum {
    /// The value, read back from the device if it is there.
    pub fn read(self) -> f32 {
        match self {
            Self::Device(t) => t.into_scalar::<f32>(),
            Self::Host(v) => v,
        }
    }

    /// The value at the precision it was computed in (a `train.float_dtype = "f64"` tensor's
    /// every digit).
    pub fn read_f64(self) -> f64 {
        match self {
            Self::Device(t) => t.into_scalar::<f64>(),
            Self::Host(v) => f64::from(v),
        }
    }
}

impl From<Tensor<1>> for Sum {
    fn from(t: Tensor<1>) -> Self {
        Self::Device(t)
    }
}

/// Where a step is: the epoch (1-based), the step within it (1-based), the learning rate, and
/// the randomness keyed to them.
#[derive(Debug, Clone, Copy)]
pub struct StepContext {
    /// The run's seed.
    pub seed: u64,
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Step within the epoch, 1-based.
    pub step: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// The learning rate of this step (after the schedule).
    pub lr: f64,
}

/// splitmix64's finaliser: spreads the bits of `x` over the whole word.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl StepContext {
    /// The seed of this step's randomness: a function of the run's seed, the epoch and the step
    /// only, so a resumed run repeats it exactly.
    pub fn step_seed(&self) -> u64 {
        mix(mix(mix(self.seed) ^ self.epoch as u64) ^ self.step as u64)
    }

    /// A host-side generator for this step (e.g. a GAN's noise drawn on the host, the same on
    /// every backend).
    pub fn rng(&self) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.step_seed())
    }
}

/// A model family trained by the shared loop.
///
/// Metric names are plain (`loss`, `accuracy`, `d_loss`); `metrics.csv` prefixes them with
/// `train_`, `valid_` and `test_`.
pub trait Task {
    /// Names of the scalars a training step reports; each epoch records their mean over the
    /// epoch's examples as `train_<name>`.
    fn train_metrics(&self) -> Vec<String>;

    /// Names of the scalars an evaluation reports, recorded as `valid_<name>` and `test_<name>`.
    fn eval_metrics(&self) -> Vec<String>;

    /// Trainable parameters of all its modules.
    fn parameters(&self) -> usize;

    /// Bytes one checkpoint takes, about (for the free-space check before training).
    fn checkpoint_bytes(&self) -> u64 {
        // Weights plus up to two optimizer moments, f32.
        3 * 4 * self.parameters() as u64
    }

    /// One optimisation step on the examples `batch` (indices into `data`).
    fn step(&mut self, data: &ImageDataset, batch: &[u32], ctx: &StepContext) -> StepOutput;

    /// The random numbers step `ctx` draws for a batch of `examples` (a VAE's `epsilon`), as the
    /// step uses them, for `nnlab train --trace`; `None` for a step that draws none or draws on
    /// the device.
    fn step_noise(&self, ctx: &StepContext, examples: usize) -> Option<Vec<f32>> {
        let _ = (ctx, examples);
        None
    }

    /// Evaluates on the examples `indices`: one value per [`eval_metrics`](Self::eval_metrics)
    /// name, each a mean over the examples.
    fn evaluate(&mut self, data: &ImageDataset, indices: &[u32]) -> Vec<f64>;

    /// Saves every module and optimizer state (and any other state) as named records.
    fn save(&self, ckpt: &mut CheckpointWriter) -> Result<()>;

    /// Restores what [`save`](Self::save) wrote.
    fn load(&mut self, ckpt: &CheckpointReader) -> Result<()>;

    /// Work before the first epoch of a run that has no checkpoint yet (a deep autoencoder's
    /// layer-wise pretraining), keeping what it makes in `run`; `quiet` silences its progress.
    fn prepare(
        &mut self,
        data: &ImageDataset,
        split: &Split,
        run: &Path,
        quiet: bool,
    ) -> Result<()> {
        let _ = (data, split, run, quiet);
        Ok(())
    }

    /// Files drawn at the end of `epoch` (sample grids, reconstructions) into `run`; their paths.
    fn epoch_end(&mut self, data: &ImageDataset, epoch: usize, run: &Path) -> Result<Vec<PathBuf>> {
        let _ = (data, epoch, run);
        Ok(Vec::new())
    }

    /// Pictures and costly figures once training has finished (e.g. an animation of the
    /// epochs' samples, a Parzen-window log-likelihood).
    fn finish(&mut self, data: &ImageDataset, split: &Split, run: &Path) -> Result<Finish> {
        let _ = (data, split, run);
        Ok(Finish::default())
    }

    /// `n` new images from the model (generative families), drawn with `seed`; `None` when the
    /// family does not generate images.
    fn sample(&mut self, n: usize, seed: u64) -> Option<Images> {
        let _ = (n, seed);
        None
    }

    /// Every trained module as safetensors files in PyTorch's layouts (see [`crate::export`]),
    /// each tensor named after its module (`model`, `generator`, ...); `None` for a family
    /// without modules to export.
    fn export(&self) -> Option<Result<Vec<Vec<u8>>>> {
        None
    }

    /// The generator as plain numbers for a sampler outside burn (see
    /// [`crate::export::Sampler`]); `None` for a family that does not generate, or whose
    /// generator is not a stack of dense layers.
    fn sampler(&mut self) -> Option<crate::export::Sampler> {
        None
    }

    /// Sets every module's parameters from a safetensors file as [`export`](Self::export)
    /// writes it (`bytes`, read from `file`); `None` for a family without modules to import.
    fn import(&mut self, bytes: &[u8], file: &Path) -> Option<Result<()>> {
        let _ = (bytes, file);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums stay on the device while both are there; a host value brings the other back, and
    /// the f32 additions give the same bits either way.
    #[test]
    fn sums_add_on_the_device_or_the_host_alike() {
        let device = Device::flex();
        let t = |v: f32| Sum::Device(Tensor::from_data(TensorData::new(vec![v], [1]), &device));
        let (a, b) = (0.1f32, 0.7f32);
        assert!(matches!(t(a) + t(b), Sum::Device(_)));
        let on_device = (t(a) + t(b)).read();
        let mixed = t(a) + Sum::Host(b);
        assert!(matches!(mixed, Sum::Host(_)));
        assert_eq!(on_device.to_bits(), mixed.read().to_bits());
        assert_eq!(
            (Sum::Host(a) + Sum::Host(b)).read().to_bits(),
            (a + b).to_bits()
        );
    }

    #[test]
    fn step_seeds_differ_by_seed_epoch_and_step() {
        let at = |seed, epoch, step| {
            StepContext {
                seed,
                epoch,
                step,
                steps: 10,
                lr: 0.1,
            }
            .step_seed()
        };
        let all = [at(1, 1, 1), at(1, 1, 2), at(1, 2, 1), at(2, 1, 1)];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j]);
            }
        }
        assert_eq!(at(1, 1, 1), at(1, 1, 1));
    }
}
