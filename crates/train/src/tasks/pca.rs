//! PCA as a [`Task`]: one epoch accumulates the training images' first and second moments batch
//! by batch, and the first evaluation fits the components (see `nnlab_models::pca`). Nothing is
//! trained by gradients; the engine's loop still gives it run folders, checkpoints, resume and
//! the same metrics as the autoencoder it is the baseline of.
//!
//! Evaluation metric: `recon_error`, the squared reconstruction error per image summed over the
//! pixels (Hinton & Salakhutdinov 2006: 13.87 for 30 components on the MNIST test set).

use std::path::Path;

use burn::prelude::*;
use nnlab_data::{ImageDataset, Split};
use nnlab_models::{Moments, Pca};

use super::batch::pixels;
use super::codes;
use crate::engine::{CheckpointReader, CheckpointWriter, Finish, StepContext, StepOutput, Task};
use crate::error::{Error, Result};

/// PCA being fitted.
#[derive(Debug)]
pub struct PcaTask {
    moments: Moments,
    pca: Pca,
    fitted: bool,
    components: usize,
    device: Device,
    eval_batch_size: usize,
    /// The variances of all components once fitted, largest first.
    variances: Vec<f64>,
}

impl PcaTask {
    /// PCA with `components` components of `data`'s images, on `device`.
    pub fn new(
        components: usize,
        data: &ImageDataset,
        device: &Device,
        eval_batch_size: usize,
    ) -> Self {
        let d = data.features();
        Self {
            moments: Moments::new(d),
            pca: Pca::zeros(d, components, device),
            fitted: false,
            components,
            device: device.clone(),
            eval_batch_size,
            variances: Vec::new(),
        }
    }

    fn fit(&mut self) {
        if !self.fitted {
            let (pca, variances) = self.moments.fit(self.components, &self.device);
            self.pca = pca;
            self.variances = variances;
            self.fitted = true;
        }
    }
}

/// `f64`s as little-endian bytes, and back.
fn to_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_bytes(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

impl Task for PcaTask {
    fn train_metrics(&self) -> Vec<String> {
        Vec::new()
    }

    fn eval_metrics(&self) -> Vec<String> {
        vec!["recon_error".into()]
    }

    fn parameters(&self) -> usize {
        self.moments.d * (self.components + 1)
    }

    fn checkpoint_bytes(&self) -> u64 {
        // The f64 moments and the f32 components.
        (8 * self.moments.d * (self.moments.d + 2) + 4 * self.parameters()) as u64
    }

    fn step(&mut self, data: &ImageDataset, batch: &[u32], _ctx: &StepContext) -> StepOutput {
        self.moments.add(&data.batch(batch).images, &self.device);
        self.fitted = false;
        StepOutput {
            examples: batch.len(),
            sums: Vec::new(),
        }
    }

    fn evaluate(&mut self, data: &ImageDataset, indices: &[u32]) -> Vec<f64> {
        self.fit();
        let mut sse = 0.0f64;
        for chunk in indices.chunks(self.eval_batch_size) {
            let x = pixels(data, chunk, &self.device);
            let back = self.pca.decode(self.pca.encode(x.clone()));
            sse += (back - x).square().sum().into_scalar::<f32>() as f64;
        }
        vec![sse / indices.len().max(1) as f64]
    }

    fn save(&self, ckpt: &mut CheckpointWriter) -> Result<()> {
        ckpt.module("pca", &self.pca)?;
        ckpt.value("fitted", &self.fitted)?;
        ckpt.value("examples", &self.moments.n)?;
        let mut bytes = to_bytes(&self.moments.shift);
        bytes.extend(to_bytes(&self.moments.sum));
        bytes.extend(to_bytes(&self.moments.outer));
        ckpt.blob("moments", &bytes)
    }

    fn load(&mut self, ckpt: &CheckpointReader) -> Result<()> {
        self.pca = ckpt.module("pca", self.pca.clone())?;
        self.fitted = ckpt.value("fitted")?;
        let n: u64 = ckpt.value("examples")?;
        let v = from_bytes(&ckpt.blob("moments")?);
        let d = self.moments.d;
        let shift_len = if n > 0 { d } else { 0 };
        if v.len() != shift_len + d + d * d {
            return Err(Error::Checkpoint {
                path: ckpt.dir().join("moments.bin"),
                message: format!("holds {} values, not those of {d} features", v.len()),
            });
        }
        self.moments.n = n;
        self.moments.shift = v[..shift_len].to_vec();
        self.moments.sum = v[shift_len..shift_len + d].to_vec();
        self.moments.outer = v[shift_len + d..].to_vec();
        Ok(())
    }

    fn finish(&mut self, data: &ImageDataset, split: &Split, run: &Path) -> Result<Finish> {
        self.fit();
        let total: f64 = self.variances.iter().sum();
        let kept: f64 = self.variances.iter().take(self.components).sum();
        let mut files = Vec::new();
        let mut metrics = vec![(
            "explained_variance".to_string(),
            if total > 0.0 { kept / total } else { 0.0 },
        )];
        if self.components == 2 {
            let encode = |x: &[u32]| self.pca.encode(pixels(data, x, &self.device));
            metrics.push((
                "test_code_knn_accuracy".to_string(),
                codes::knn_accuracy(data, &split.train, &split.test, encode),
            ));
            let path = run.join("pictures/codes.png");
            codes::scatter(
                data,
                encode,
                "PCA: the first two principal components of 500 test images per digit",
                &path,
            )?;
            files.extend(path.exists().then_some(path));
        }
        Ok(Finish { files, metrics })
    }
}
