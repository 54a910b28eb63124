//! The deep autoencoder (Hinton & Salakhutdinov 2006) as a [`Task`]: trained end to end on the
//! cross-entropy (or squared error) of the reconstructed pixels, from its initial weights or,
//! with `model.pretrain_epochs`, from a stack of RBMs pretrained layer by layer (see
//! [`super::pretrain`]).
//!
//! Metrics: `loss` (the training objective per image, summed over pixels) and `recon_error` (the
//! squared reconstruction error per image, summed over the 784 pixels: the figure Hinton &
//! Salakhutdinov report, 3.00 for their autoencoder and 13.87 for PCA with 30 components).
//! Pictures: reconstructions of fixed test images each epoch; with a 2-unit code, the codes of
//! 500 test images per class (their Fig. 3).

use std::path::{Path, PathBuf};

use crate::optim::Optim;
use crate::optim::conjugate_gradient;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use nnlab_config::{CgSettings, OptimizerName, Reconstruction, RunConfig};
use nnlab_data::{ImageDataset, Split};
use nnlab_models::autoencoder::squared_error;
use nnlab_models::bernoulli_cross_entropy::bernoulli_cross_entropy;
use nnlab_models::{Autoencoder, AutoencoderConfig};

use super::batch::{self, pixels};
use super::codes;
use super::pretrain::Pretraining;
use crate::engine::{
    CheckpointReader, CheckpointWriter, Finish, StepContext, StepOutput, Sum, Task,
};
use crate::error::Result;
use crate::pictures;

/// Test images shown in the reconstruction pictures.
pub const SHOWN: usize = 10;

/// An autoencoder being trained.
pub struct AutoencoderTask {
    model: Option<Autoencoder>,
    optim: Optim,
    reconstruction: Reconstruction,
    device: Device,
    train_device: Device,
    eval_batch_size: usize,
    side: usize,
    code: usize,
    /// `784-1000-500-250-2`, for picture titles.
    layout: String,
    /// Layer-wise pretraining before the first epoch (`model.pretrain_epochs`).
    pretraining: Option<Pretraining>,
    /// Conjugate gradients on each batch in place of `optim`'s steps (`train.optimizer = "cg"`).
    cg: Option<CgSettings>,
}

impl std::fmt::Debug for AutoencoderTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoencoderTask")
            .field("model", &self.model)
            .field("reconstruction", &self.reconstruction)
            .finish_non_exhaustive()
    }
}

impl AutoencoderTask {
    /// The autoencoder `config` describes, for `data`, on `device`.
    pub fn new(
        config: &RunConfig,
        spec: &nnlab_config::AutoencoderSpec,
        data: &ImageDataset,
        device: &Device,
        host_optimizer: bool,
    ) -> Self {
        let train_device = device.clone().autodiff();
        let model = AutoencoderConfig::from_spec(spec, data.features()).init(&train_device);
        nnlab_models::init::materialize(&model);
        Self {
            model: Some(model),
            optim: crate::optim::build(&config.train, host_optimizer),
            reconstruction: spec.reconstruction,
            device: device.clone(),
            train_device,
            eval_batch_size: config.train.eval_batch_size,
            side: data.rows,
            code: spec.code,
            layout: std::iter::once(data.features())
                .chain(spec.encoder.iter().copied())
                .chain([spec.code])
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join("-"),
            pretraining: (spec.pretrain_epochs > 0).then(|| {
                let batch_size = spec.pretrain_batch_size.unwrap_or(config.train.batch_size);
                Pretraining::of(spec, data.features(), batch_size, config.seed)
            }),
            cg: (config.train.optimizer == OptimizerName::Cg)
                .then(|| config.train.cg.clone().unwrap_or_default()),
        }
    }

    fn model(&self) -> &Autoencoder {
        self.model
            .as_ref()
            .expect("the model is back after every step")
    }

    /// `(objective, squared error)` per image `[n]` of `model` on `x`.
    fn losses(&self, model: &Autoencoder, x: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        let logits = model.decode_logits(model.encode(x.clone()));
        let out = sigmoid(logits.clone());
        let sse = squared_error(out, x.clone());
        let objective = match self.reconstruction {
            Reconstruction::Bce => bernoulli_cross_entropy(logits, x),
            Reconstruction::Mse => sse.clone(),
        };
        (objective, sse)
    }

    /// Conjugate gradients on one batch `x`, from `model`: `settings.line_searches` line
    /// searches on the batch's mean objective, restarted from its gradient (Hinton &
    /// Salakhutdinov's fine-tuning). The model where the searches ended (the last successful
    /// search's point, or the best one seen after a failed search), the batch's objective and
    /// squared error before the step, and how many evaluations the searches took.
    fn cg_step(
        &self,
        model: Autoencoder,
        x: Tensor<2>,
        settings: &CgSettings,
    ) -> (Autoencoder, [Sum; 2], usize) {
        let mut model = Some(model);
        let mut before = None;
        let start = conjugate_gradient::flatten(model.as_ref().expect("the model is here"));
        let result = conjugate_gradient::minimize(
            start,
            |point| {
                let m =
                    conjugate_gradient::unflatten(model.take().expect("the model is here"), point);
                let (objective, sse) = self.losses(&m, x.clone());
                let loss = objective.clone().mean();
                let value = loss.clone().into_scalar::<f64>();
                let grads = loss.backward();
                let grad = conjugate_gradient::flatten_grads(&m, &grads);
                before.get_or_insert_with(|| {
                    [objective.detach().sum().into(), sse.detach().sum().into()]
                });
                model = Some(m);
                (value, grad)
            },
            settings,
        );
        let model = conjugate_gradient::unflatten(model.expect("the model is back"), &result.x);
        (
            model,
            before.expect("the first evaluation is at the start"),
            result.evaluations,
        )
    }
}

impl Task for AutoencoderTask {
    fn train_metrics(&self) -> Vec<String> {
        let mut names = vec!["loss".to_string(), "recon_error".to_string()];
        if self.cg.is_some() {
            // Evaluations of the loss and gradient per batch: what a conjugate-gradient step
            // costs in forward and backward passes.
            names.push("cg_evaluations".into());
        }
        names
    }

    fn eval_metrics(&self) -> Vec<String> {
        vec!["loss".into(), "recon_error".into()]
    }

    fn parameters(&self) -> usize {
        self.model().num_params()
    }

    fn step(&mut self, data: &ImageDataset, batch: &[u32], ctx: &StepContext) -> StepOutput {
        let x = pixels(data, batch, &self.train_device);
        let model = self
            .model
            .take()
            .expect("the model is back after every step");
        if let Some(settings) = self.cg.clone() {
            let (model, [objective, sse], evaluations) = self.cg_step(model, x, &settings);
            self.model = Some(model);
            return StepOutput {
                examples: batch.len(),
                sums: vec![
                    objective,
                    sse,
                    Sum::Host((evaluations * batch.len()) as f32),
                ],
            };
        }
        let (objective, sse) = self.losses(&model, x);
        let loss = objective.clone().mean();
        self.model = Some(self.optim.step_backward(ctx.lr, model, loss.backward()));
        StepOutput {
            examples: batch.len(),
            sums: vec![objective.detach().sum().into(), sse.detach().sum().into()],
        }
    }

    fn evaluate(&mut self, data: &ImageDataset, indices: &[u32]) -> Vec<f64> {
        let model = self.model().valid();
        let (mut obj, mut sse) = (0.0f64, 0.0f64);
        for chunk in indices.chunks(self.eval_batch_size) {
            let (o, s) = self.losses(&model, pixels(data, chunk, &self.device));
            obj += o.sum().into_scalar::<f32>() as f64;
            sse += s.sum().into_scalar::<f32>() as f64;
        }
        let n = indices.len().max(1) as f64;
        vec![obj / n, sse / n]
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

    fn save(&self, ckpt: &mut CheckpointWriter) -> Result<()> {
        ckpt.module("model", self.model())?;
        ckpt.optimizer("optim", &self.optim)
    }

    fn load(&mut self, ckpt: &CheckpointReader) -> Result<()> {
        self.model = Some(ckpt.module("model", self.model().clone())?);
        ckpt.optimizer("optim", &mut self.optim)?;
        Ok(())
    }

    /// Pretrains the layers as a stack of RBMs and starts the autoencoder from its unrolling.
    fn prepare(
        &mut self,
        data: &ImageDataset,
        split: &Split,
        run: &Path,
        quiet: bool,
    ) -> Result<()> {
        let Some(mut pretraining) = self.pretraining.clone() else {
            return Ok(());
        };
        pretraining.quiet = quiet;
        let dbn = pretraining.run(data, &split.train, &self.device, run)?;
        let bytes = crate::export::module_bytes(&dbn.unroll(), "model")?;
        let model = self
            .model
            .as_mut()
            .expect("the model is back after every step");
        crate::export::load_module(model, &bytes, "model", &run.join("pretrain"))
    }

    fn epoch_end(&mut self, data: &ImageDataset, epoch: usize, run: &Path) -> Result<Vec<PathBuf>> {
        let model = self.model().valid();
        let shown: Vec<u32> = data.test_indices().into_iter().take(SHOWN).collect();
        let x = pixels(data, &shown, &self.device);
        let rows =
            batch::images(x.clone(), self.side).concat(&batch::images(model.forward(x), self.side));
        let path = batch::epoch_picture(run, "reconstructions", epoch);
        let grid = rows.grid(shown.len(), 2, 2);
        let labelled = pictures::row_labelled(&grid, &["test images", "reconstructions"]);
        pictures::save_png(&labelled, &path)?;
        Ok(vec![path])
    }

    fn finish(&mut self, data: &ImageDataset, split: &Split, run: &Path) -> Result<Finish> {
        let mut files: Vec<PathBuf> = batch::animate(run, "reconstructions")?
            .into_iter()
            .collect();
        let mut metrics = Vec::new();
        if self.code == 2 {
            let model = self.model().valid();
            let encode = |x: &[u32]| model.encode(pixels(data, x, &self.device));
            metrics.push((
                "test_code_knn_accuracy".to_string(),
                codes::knn_accuracy(data, &split.train, &split.test, encode),
            ));
            let path = run.join("pictures/codes.png");
            codes::scatter(
                data,
                encode,
                &format!(
                    "{} autoencoder: codes of 500 test images per digit",
                    self.layout
                ),
                &path,
            )?;
            files.extend(path.exists().then_some(path));
        }
        Ok(Finish { files, metrics })
    }
}
