//! The classifier family (the article's MLP and its variants) as a [`Task`]: softmax
//! classification with cross-entropy or MSE, trained by burn's autodiff and an optimizer, or by
//! nnlab-principles' hand-written backpropagation and update rules (`train.engine = "manual"`).
//!
//! Training metrics: `loss`, `accuracy`; evaluation metrics: `loss`, `accuracy`.

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use nnlab_config::{EngineName, OptimizerName, RunConfig};
use nnlab_data::{Batch, ImageDataset};
use nnlab_models::{Mlp, MlpConfig};
use nnlab_principles::gradient_descent::{AdamHyper, AdamMoments, Rule};
use nnlab_principles::mlp::loss_and_gradients;

use super::classification_loss::{Loss, one_hot};
use crate::engine::{CheckpointReader, CheckpointWriter, StepContext, StepOutput, Task};
use crate::error::{Error, Result};

/// How the weights are updated.
enum Engine {
    /// burn's autodiff and an optimizer (the model lives on an autodiff device).
    Autodiff(ModuleOptimizer),
    /// Our backpropagation and update rule (the model lives on a plain device).
    Manual(Rule),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Autodiff(_) => f.write_str("Autodiff(ModuleOptimizer)"),
            Self::Manual(rule) => f.debug_tuple("Manual").field(rule).finish(),
        }
    }
}

/// A classifier being trained.
#[derive(Debug)]
pub struct Classifier {
    /// Always `Some` between calls; taken out during a step so the update owns the weights.
    model: Option<Mlp>,
    engine: Engine,
    model_config: MlpConfig,
    loss: Loss,
    eval_loss: Loss,
    /// The plain device (evaluation).
    device: Device,
    /// The training device (autodiff unless the engine is manual).
    train_device: Device,
    classes: usize,
    eval_batch_size: usize,
}

impl Classifier {
    /// The classifier `config` describes, for `data`'s inputs and classes, on `device`;
    /// `host_optimizer` fuses Adam's update in host memory (CPU backends).
    pub fn new(
        config: &RunConfig,
        data: &ImageDataset,
        device: &Device,
        host_optimizer: bool,
    ) -> Result<Self> {
        let spec = config.mlp().ok_or_else(|| {
            Error::Config(format!(
                "model.kind = \"{}\" is not a classifier",
                config.model.kind()
            ))
        })?;
        let t = &config.train;
        let manual = t.engine == EngineName::Manual;
        // The manual engine computes its own gradients, so its tensors need no autodiff.
        let train_device = if manual {
            device.clone()
        } else {
            device.clone().autodiff()
        };
        let model_config = MlpConfig::from_spec(spec, data.features(), data.classes);
        let model = model_config.init(&train_device);
        nnlab_models::init::materialize(&model);
        let engine = if manual {
            Engine::Manual(match t.optimizer {
                OptimizerName::Adam => {
                    let a = t.adam.clone().unwrap_or_default();
                    Rule::Adam {
                        hyper: AdamHyper {
                            beta1: a.beta1,
                            beta2: a.beta2,
                            epsilon: a.epsilon,
                            placement: a.epsilon_placement,
                        },
                        moments: Vec::new(),
                    }
                }
                _ if t.momentum() > 0.0 => Rule::Momentum {
                    mu: t.momentum(),
                    velocity: Vec::new(),
                },
                _ => Rule::GradientDescent,
            })
        } else {
            Engine::Autodiff(crate::optim::build(t, host_optimizer))
        };
        Ok(Self {
            model: Some(model),
            engine,
            model_config,
            loss: Loss::new(t.loss, &train_device),
            eval_loss: Loss::new(t.loss, device),
            device: device.clone(),
            train_device,
            classes: data.classes,
            eval_batch_size: t.eval_batch_size,
        })
    }

    /// The model (for inspection, e.g. drawing its first-layer weights).
    pub fn model(&self) -> &Mlp {
        self.model
            .as_ref()
            .expect("the model is back after every step")
    }
}

/// A batch on `device`: images `[n, features]`, targets `[n]`, and the labels kept on the host.
fn batch_tensors(
    batch: Batch,
    features: usize,
    device: &Device,
) -> (Tensor<2>, Tensor<1, Int>, Vec<i64>) {
    let n = batch.size;
    let x = Tensor::from_data(TensorData::new(batch.images, [n, features]), device);
    let y = Tensor::from_data(TensorData::new(batch.labels.clone(), [n]), device);
    (x, y, batch.labels)
}

/// How many rows of `logits` `[n, classes]` pick their target `[n]`, as a `[1]` tensor.
fn correct_count(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1, Int> {
    logits
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(targets)
        .int()
        .sum()
}

/// An `Mlp` whose weights and biases are `tensors` (per layer `(W, b)`), to save per-layer
/// optimizer state with the model's own record layout.
fn shaped_like(template: &Mlp, tensors: &[(Tensor<2>, Tensor<1>)]) -> Mlp {
    let mut m = template.clone();
    for (layer, (w, b)) in m.layers.iter_mut().zip(tensors) {
        layer.weight = burn::module::Param::initialized(layer.weight.id, w.clone());
        if let Some(bias) = layer.bias.take() {
            layer.bias = Some(burn::module::Param::initialized(bias.id, b.clone()));
        }
    }
    m
}

/// The per-layer `(W, b)` of an `Mlp`.
fn tensors_of(m: &Mlp) -> Vec<(Tensor<2>, Tensor<1>)> {
    m.layers
        .iter()
        .map(|l| {
            let w = l.weight.val();
            let b = match &l.bias {
                Some(b) => b.val(),
                None => Tensor::zeros([w.dims()[1]], &w.device()),
            };
            (w, b)
        })
        .collect()
}

impl Task for Classifier {
    fn train_metrics(&self) -> Vec<String> {
        vec!["loss".into(), "accuracy".into()]
    }

    fn eval_metrics(&self) -> Vec<String> {
        vec!["loss".into(), "accuracy".into()]
    }

    fn parameters(&self) -> usize {
        self.model_config.num_params()
    }

    fn step(&mut self, data: &ImageDataset, batch: &[u32], ctx: &StepContext) -> StepOutput {
        let (x, y, labels) = batch_tensors(data.batch(batch), data.features(), &self.train_device);
        let n = labels.len();
        let model = self
            .model
            .take()
            .expect("the model is back after every step");
        let (loss, logits, model) = match &mut self.engine {
            Engine::Manual(rule) => {
                let onehot = one_hot(&labels, self.classes, &self.train_device);
                let objective = self.loss.kind();
                let (loss, grads, logits) = loss_and_gradients(&model, x, onehot, objective);
                (loss, logits, rule.step(model, grads, ctx.lr))
            }
            Engine::Autodiff(optim) => {
                let logits = model.forward(x);
                let loss = self.loss.forward(logits.clone(), y.clone(), &labels);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                let model = optim.step(ctx.lr, model, grads);
                (loss.detach(), logits.detach(), model)
            }
        };
        self.model = Some(model);
        let correct = correct_count(logits, y).float();
        StepOutput {
            examples: n,
            sums: vec![loss * n as f32, correct],
        }
    }

    fn evaluate(&mut self, data: &ImageDataset, indices: &[u32]) -> Vec<f64> {
        let model = self.model().valid();
        let features = data.features();
        let (mut loss, mut correct) = (0.0f64, 0i64);
        for chunk in indices.chunks(self.eval_batch_size) {
            let (x, y, labels) = batch_tensors(data.batch(chunk), features, &self.device);
            let logits = model.forward(x);
            loss += self
                .eval_loss
                .forward(logits.clone(), y.clone(), &labels)
                .into_scalar::<f32>() as f64
                * labels.len() as f64;
            correct += correct_count(logits, y).into_scalar::<i64>();
        }
        let n = indices.len().max(1) as f64;
        vec![loss / n, correct as f64 / n]
    }

    fn save(&self, ckpt: &mut CheckpointWriter) -> Result<()> {
        let model = self.model();
        ckpt.module("model", model)?;
        match &self.engine {
            Engine::Autodiff(optim) => ckpt.optimizer("optim", optim),
            Engine::Manual(Rule::GradientDescent) => Ok(()),
            Engine::Manual(Rule::Momentum { velocity, .. }) => {
                if velocity.is_empty() {
                    return Ok(());
                }
                ckpt.module("velocity", &shaped_like(model, velocity))
            }
            Engine::Manual(Rule::Adam { moments, .. }) => {
                let Some(first) = moments.first() else {
                    return Ok(());
                };
                let m: Vec<_> = moments
                    .iter()
                    .map(|(w, b)| (w.m.clone(), b.m.clone()))
                    .collect();
                let v: Vec<_> = moments
                    .iter()
                    .map(|(w, b)| (w.v.clone(), b.v.clone()))
                    .collect();
                ckpt.module("moment_1", &shaped_like(model, &m))?;
                ckpt.module("moment_2", &shaped_like(model, &v))?;
                ckpt.value("adam_steps", &first.0.t)
            }
        }
    }

    fn load(&mut self, ckpt: &CheckpointReader) -> Result<()> {
        // The model first: optimizer state is keyed by its parameter ids.
        let model = ckpt.module("model", self.model().clone())?;
        let template = model.clone();
        self.model = Some(model);
        let has = |name: &str| ckpt.state().records.iter().any(|r| r == name);
        match &mut self.engine {
            Engine::Autodiff(optim) => {
                let fresh = std::mem::replace(optim, burn::optim::SgdConfig::new().init());
                *optim = ckpt.optimizer("optim", fresh)?;
            }
            Engine::Manual(Rule::GradientDescent) => {}
            Engine::Manual(Rule::Momentum { velocity, .. }) => {
                if has("velocity") {
                    *velocity = tensors_of(&ckpt.module("velocity", template)?);
                }
            }
            Engine::Manual(Rule::Adam { moments, .. }) => {
                if has("moment_1") {
                    let t: i32 = ckpt.value("adam_steps")?;
                    let m = tensors_of(&ckpt.module("moment_1", template.clone())?);
                    let v = tensors_of(&ckpt.module("moment_2", template)?);
                    *moments = m
                        .into_iter()
                        .zip(v)
                        .map(|((mw, mb), (vw, vb))| {
                            (
                                AdamMoments { t, m: mw, v: vw },
                                AdamMoments { t, m: mb, v: vb },
                            )
                        })
                        .collect();
                }
            }
        }
        Ok(())
    }
}
