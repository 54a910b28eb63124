//! The classifier family (the article's MLP and its variants, and LeNet-style CNNs) as a
//! [`Task`]: softmax classification with cross-entropy or MSE, trained by burn's autodiff and an
//! optimizer, or, for MLPs, by nnlab-principles' hand-written backpropagation and update rules
//! (`train.engine = "manual"`).
//!
//! Training metrics: `loss`, `accuracy`; evaluation metrics: `loss`, `accuracy`. Pictures: the
//! first layer's weights as images ("what each hidden unit looks for"): an MLP's weight vectors
//! as 28x28 images, a CNN's first kernels.

use std::path::Path;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use nnlab_config::{EngineName, LossKind, ModelConfig, OptimizerName, RunConfig};
use nnlab_data::{Batch, ImageDataset, Split};
use nnlab_models::{Cnn, CnnConfig, Mlp, MlpConfig};
use nnlab_principles::gradient_descent::{AdamHyper, AdamMoments, Rule};
use nnlab_principles::mlp::loss_and_gradients;

use super::classification_loss::{self, one_hot};
use crate::engine::data_parallel::{DataParallel, Replica, ShardOutput};
use crate::engine::{
    CheckpointReader, CheckpointWriter, Finish, StepContext, StepOutput, Sum, Task,
};
use crate::error::{Error, Result};
use crate::optim::Optim;
use crate::pictures;

/// The network being trained.
#[derive(Debug, Clone)]
pub enum Net {
    /// A multilayer perceptron.
    Mlp(Mlp),
    /// A convolutional network.
    Cnn(Box<Cnn>),
}

impl Net {
    /// The network `config.model` describes, for `data`'s inputs and classes, on `device`.
    fn new(config: &RunConfig, data: &ImageDataset, device: &Device) -> Result<Self> {
        Ok(match &config.model {
            ModelConfig::Mlp(spec) => {
                let m = MlpConfig::from_spec(spec, data.features(), data.classes).init(device);
                nnlab_models::init::materialize(&m);
                Net::Mlp(m)
            }
            ModelConfig::Cnn(spec) => {
                if data.rows != data.cols {
                    return Err(Error::Config(format!(
                        "model.kind = \"cnn\" takes square images; `{}` has {}x{}",
                        data.name, data.rows, data.cols
                    )));
                }
                let c = CnnConfig::from_spec(spec, 1, data.rows, data.classes);
                if let Err(i) = c.feature_side() {
                    return Err(Error::Config(format!(
                        "config: key `model.channels`: convolution {} gets feature maps smaller than its {}x{} kernel from {}x{} images; use fewer convolutions, a smaller model.kernel or more model.padding",
                        i + 1,
                        spec.kernel,
                        spec.kernel,
                        data.rows,
                        data.cols
                    )));
                }
                let m = c.init(device);
                nnlab_models::init::materialize(&m);
                Net::Cnn(Box::new(m))
            }
            other => {
                return Err(Error::Config(format!(
                    "model.kind = \"{}\" is not a classifier",
                    other.kind()
                )));
            }
        })
    }

    /// Logits `[batch, classes]` of flat images `[batch, pixels]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Mlp(m) => m.forward(x),
            Self::Cnn(c) => c.forward(x),
        }
    }

    /// The network in evaluation mode (no autodiff, no dropout, running BN statistics).
    pub fn valid(&self) -> Self {
        match self {
            Self::Mlp(m) => Self::Mlp(m.valid()),
            Self::Cnn(c) => Self::Cnn(Box::new(c.valid())),
        }
    }

    /// The last hidden layer's activations `[batch, features]` (evaluation mode expected).
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Mlp(m) => m.features(x),
            Self::Cnn(c) => c.features(x),
        }
    }

    /// The gradients of its parameters in `grads` (from a backward pass).
    fn grads_params(&self, grads: burn::tensor::Gradients) -> GradientsParams {
        match self {
            Self::Mlp(m) => GradientsParams::from_grads(grads, m),
            Self::Cnn(c) => GradientsParams::from_grads(grads, &**c),
        }
    }

    /// The gradients of its parameters in `grads` (from a backward pass), moved to `device`.
    fn grads_on(&self, grads: burn::tensor::Gradients, device: &Device) -> GradientsParams {
        let g = self.grads_params(grads);
        match self {
            Self::Mlp(m) => g.to_device(device, m),
            Self::Cnn(c) => g.to_device(device, &**c),
        }
    }

    /// The network after one step of `optim` with `grads` at learning rate `lr`.
    fn optimizer_step(self, optim: &mut Optim, lr: f64, grads: GradientsParams) -> Self {
        match self {
            Self::Mlp(m) => Self::Mlp(optim.step(lr, m, grads)),
            Self::Cnn(c) => Self::Cnn(Box::new(optim.step(lr, *c, grads))),
        }
    }

    /// The network after one step of `optim` with a backward pass's gradients `grads`.
    fn optimizer_step_backward(
        self,
        optim: &mut Optim,
        lr: f64,
        grads: burn::tensor::Gradients,
    ) -> Self {
        match self {
            Self::Mlp(m) => Self::Mlp(optim.step_backward(lr, m, grads)),
            Self::Cnn(c) => Self::Cnn(Box::new(optim.step_backward(lr, *c, grads))),
        }
    }

    /// Trainable parameters.
    pub fn num_params(&self) -> usize {
        match self {
            Self::Mlp(m) => m.num_params(),
            Self::Cnn(c) => c.num_params(),
        }
    }
}

impl Replica for Net {
    fn fork(self, device: &Device) -> Self {
        match self {
            Self::Mlp(m) => Self::Mlp(m.fork(device)),
            Self::Cnn(c) => Self::Cnn(Box::new(c.fork(device))),
        }
    }

    fn sum_grads(&self, parts: Vec<GradientsParams>) -> GradientsParams {
        fn sum<M: Module>(m: &M, parts: Vec<GradientsParams>) -> GradientsParams {
            let mut acc = GradientsAccumulator::<M>::new();
            for p in parts {
                acc.accumulate(m, p);
            }
            acc.grads()
        }
        match self {
            Self::Mlp(m) => sum(m, parts),
            Self::Cnn(c) => sum(&**c, parts),
        }
    }
}

/// How the weights are updated.
enum Engine {
    /// burn's autodiff and an optimizer (the model lives on an autodiff device).
    Autodiff(Optim),
    /// Our backpropagation and update rule (the model lives on a plain device).
    Manual(Rule),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Autodiff(o) => f.debug_tuple("Autodiff").field(o).finish(),
            Self::Manual(rule) => f.debug_tuple("Manual").field(rule).finish(),
        }
    }
}

/// A classifier being trained.
#[derive(Debug)]
pub struct Classifier {
    /// Always `Some` between calls; taken out during a step so the update owns the weights.
    model: Option<Net>,
    engine: Engine,
    loss: LossKind,
    /// The plain device (evaluation).
    device: Device,
    /// The training device (autodiff unless the engine is manual).
    train_device: Device,
    classes: usize,
    eval_batch_size: usize,
    /// Data-parallel training over `train.devices`: none for one device.
    parallel: Option<DataParallel>,
    /// The backend computes in host memory (a CPU): each step's loss is read and its correct
    /// predictions are counted there, and Adam runs as `HostAdam`.
    host: bool,
}

/// The manual engine's update rule for `t` (nnlab-principles' hand-written Adam, momentum or
/// plain gradient descent).
fn manual_rule(t: &nnlab_config::TrainConfig) -> Rule {
    match t.optimizer {
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
    }
}

impl Classifier {
    /// The classifier `config` describes, for `data`'s inputs and classes, on `device`;
    /// `host_optimizer` (CPU backends) runs Adam's update in host memory (`HostAdam`) and reads
    /// each step's loss and counts its correct predictions there.
    pub fn new(
        config: &RunConfig,
        data: &ImageDataset,
        device: &Device,
        host_optimizer: bool,
    ) -> Result<Self> {
        let t = &config.train;
        let manual = t.engine == EngineName::Manual;
        // The manual engine computes its own gradients, so its tensors need no autodiff.
        let train_device = if manual {
            device.clone()
        } else {
            device.clone().autodiff()
        };
        let model = Net::new(config, data, &train_device)?;
        let engine = if manual {
            Engine::Manual(manual_rule(t))
        } else {
            Engine::Autodiff(crate::optim::build(t, host_optimizer))
        };
        Ok(Self {
            model: Some(model),
            engine,
            loss: t.loss,
            device: device.clone(),
            train_device,
            classes: data.classes,
            eval_batch_size: t.eval_batch_size,
            parallel: None,
            host: host_optimizer,
        })
    }

    /// The classifier training data-parallel on `devices` (two or more; fewer leaves it on its
    /// own device): the model and optimizer stay on its device, the main one.
    pub fn with_workers(mut self, devices: &[Device]) -> Self {
        self.parallel = DataParallel::new(devices);
        self
    }

    /// One data-parallel step's gradients (see [`DataParallel`]): each shard's mean loss
    /// weighted by its share of the batch, so the sum is the gradient of the whole batch's mean
    /// loss. Returns the gradients, the batch's loss sum and its correct predictions (`[1]`
    /// each, on the main device).
    fn parallel_grads(
        &self,
        parallel: &DataParallel,
        model: &Net,
        data: &ImageDataset,
        batch: &[u32],
    ) -> (GradientsParams, Vec<Tensor<1>>) {
        let features = data.features();
        let main = &self.train_device;
        parallel.step(model, batch, |model, shard, share, worker| {
            let (x, y, labels) = batch_tensors(data.batch(shard), features, worker);
            let logits = model.forward(x);
            let loss = classification_loss::loss(self.loss, logits.clone(), y.clone(), &labels);
            let grads = model.grads_on((loss.clone() * share).backward(), main);
            let loss_sum = (loss.detach() * shard.len() as f32).to_device(main);
            let correct = correct_count(logits.detach(), y).float().to_device(main);
            ShardOutput {
                grads,
                sums: vec![loss_sum, correct],
            }
        })
    }

    /// The model (for inspection, e.g. drawing its first-layer weights).
    pub fn model(&self) -> &Net {
        self.model
            .as_ref()
            .expect("the model is back after every step")
    }
}

/// A batch on `device`: images `[n, features]`, targets `[n]`, and the labels kept on the host.
pub(crate) fn batch_tensors(
    batch: Batch,
    features: usize,
    device: &Device,
) -> (Tensor<2>, Tensor<1, Int>, Vec<i64>) {
    let n = batch.size;
    let x = Tensor::from_data(TensorData::new(batch.images, [n, features]), device);
    let y = Tensor::from_data(TensorData::new(batch.labels.clone(), [n]), device);
    (x, y, batch.labels)
}

/// How many rows of `logits` `[n, classes]` pick their label, counted in host memory: no
/// tensor operation instead of the six of [`correct_count`], for a CPU backend, where reading
/// the logits waits on nothing. The rule is burn-flex's argmax: the first NaN, else the first
/// largest.
pub(crate) fn correct_count_host(logits: Tensor<2>, labels: &[i64]) -> usize {
    let [n, classes] = logits.dims();
    assert_eq!(
        n,
        labels.len(),
        "correct_count_host: {n} rows of logits, {} labels",
        labels.len()
    );
    let values = logits.into_data().convert::<f32>();
    let values = values.as_slice::<f32>().expect("logits are f32");
    values
        .chunks_exact(classes.max(1))
        .zip(labels)
        .filter(|(row, label)| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v.is_nan() {
                    best = i;
                    break;
                }
                if v > row[best] {
                    best = i;
                }
            }
            best as i64 == **label
        })
        .count()
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
        self.model().num_params()
    }

    fn step(&mut self, data: &ImageDataset, batch: &[u32], ctx: &StepContext) -> StepOutput {
        if let Some(parallel) = &self.parallel {
            let model = self
                .model
                .take()
                .expect("the model is back after every step");
            let (grads, sums) = self.parallel_grads(parallel, &model, data, batch);
            let Engine::Autodiff(optim) = &mut self.engine else {
                unreachable!("the config refuses train.devices with engine = \"manual\"")
            };
            self.model = Some(model.optimizer_step(optim, ctx.lr, grads));
            return StepOutput {
                examples: batch.len(),
                sums: sums.into_iter().map(Sum::from).collect(),
            };
        }
        let (x, y, labels) = batch_tensors(data.batch(batch), data.features(), &self.train_device);
        let n = labels.len();
        let model = self
            .model
            .take()
            .expect("the model is back after every step");
        let (loss, logits, model) = match (&mut self.engine, model) {
            (Engine::Manual(rule), Net::Mlp(model)) => {
                let onehot = one_hot(&labels, self.classes, &self.train_device);
                let objective = self.loss;
                let (loss, grads, logits) = loss_and_gradients(&model, x, onehot, objective);
                (loss, logits, Net::Mlp(rule.step(model, grads, ctx.lr)))
            }
            (Engine::Manual(_), Net::Cnn(_)) => {
                unreachable!("the config refuses engine = \"manual\" for other models than MLPs")
            }
            (Engine::Autodiff(optim), model) => {
                let logits = model.forward(x);
                let loss = classification_loss::loss(self.loss, logits.clone(), y.clone(), &labels);
                let model = model.optimizer_step_backward(optim, ctx.lr, loss.backward());
                (loss.detach(), logits.detach(), model)
            }
        };
        self.model = Some(model);
        let sums = if self.host {
            // Read at once: the same f32 products the device would compute.
            let correct = correct_count_host(logits, &labels) as f32;
            vec![
                Sum::Host(loss.into_scalar::<f32>() * n as f32),
                Sum::Host(correct),
            ]
        } else {
            vec![
                (loss * n as f32).into(),
                correct_count(logits, y).float().into(),
            ]
        };
        StepOutput { examples: n, sums }
    }

    fn evaluate(&mut self, data: &ImageDataset, indices: &[u32]) -> Vec<f64> {
        let model = self.model().valid();
        let features = data.features();
        let (mut loss, mut correct) = (0.0f64, 0i64);
        for chunk in indices.chunks(self.eval_batch_size) {
            let (x, y, labels) = batch_tensors(data.batch(chunk), features, &self.device);
            let logits = model.forward(x);
            loss += classification_loss::loss(self.loss, logits.clone(), y.clone(), &labels)
                .into_scalar::<f32>() as f64
                * labels.len() as f64;
            correct += correct_count(logits, y).into_scalar::<i64>();
        }
        let n = indices.len().max(1) as f64;
        vec![loss / n, correct as f64 / n]
    }

    fn export(&self) -> Option<Result<Vec<Vec<u8>>>> {
        Some(
            match self.model() {
                Net::Mlp(m) => crate::export::module_bytes(m, "model"),
                Net::Cnn(c) => crate::export::module_bytes(&**c, "model"),
            }
            .map(|b| vec![b]),
        )
    }

    fn import(&mut self, bytes: &[u8], file: &Path) -> Option<Result<()>> {
        Some(
            match self
                .model
                .as_mut()
                .expect("the model is back after every step")
            {
                Net::Mlp(m) => crate::export::load_module(m, bytes, "model", file),
                Net::Cnn(c) => crate::export::load_module(&mut **c, bytes, "model", file),
            },
        )
    }

    fn save(&self, ckpt: &mut CheckpointWriter) -> Result<()> {
        let model = match self.model() {
            Net::Cnn(c) => {
                ckpt.module("model", &**c)?;
                return match &self.engine {
                    Engine::Autodiff(optim) => ckpt.optimizer("optim", optim),
                    Engine::Manual(_) => Ok(()),
                };
            }
            Net::Mlp(m) => m,
        };
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
        let template = match self.model().clone() {
            Net::Cnn(c) => {
                self.model = Some(Net::Cnn(Box::new(ckpt.module("model", *c)?)));
                if let Engine::Autodiff(optim) = &mut self.engine {
                    ckpt.optimizer("optim", optim)?;
                }
                return Ok(());
            }
            Net::Mlp(m) => ckpt.module("model", m)?,
        };
        self.model = Some(Net::Mlp(template.clone()));
        let has = |name: &str| ckpt.state().records.iter().any(|r| r == name);
        match &mut self.engine {
            Engine::Autodiff(optim) => {
                ckpt.optimizer("optim", optim)?;
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

    fn finish(&mut self, data: &ImageDataset, _split: &Split, run: &Path) -> Result<Finish> {
        let first: Vec<Vec<f32>> = match self.model() {
            // Row j of W^T: the weights from every pixel into hidden unit j (with maxout units,
            // into piece j % k of unit j / k).
            Net::Mlp(m) if m.layers.len() > 1 => {
                let w = m.layers[0].weight.val().transpose();
                let [units, _] = w.dims();
                let v: Vec<f32> = w.into_data().convert::<f32>().try_into_vec().expect("f32");
                v.chunks(v.len() / units.max(1))
                    .map(<[f32]>::to_vec)
                    .collect()
            }
            Net::Cnn(c) => {
                let w = c.convs[0].weight.val();
                let [out, _, _, _] = w.dims();
                let v: Vec<f32> = w.into_data().convert::<f32>().try_into_vec().expect("f32");
                v.chunks(v.len() / out.max(1))
                    .map(<[f32]>::to_vec)
                    .collect()
            }
            Net::Mlp(_) => Vec::new(),
        };
        let Some(len) = first.first().map(Vec::len) else {
            return Ok(Finish::default());
        };
        let side = (len as f64).sqrt() as usize;
        // MLP weight vectors are images only when there is one input channel of square images.
        if side * side != len || (matches!(self.model(), Net::Mlp(_)) && side != data.rows) {
            return Ok(Finish::default());
        }
        let path = run.join("pictures/weights.png");
        let cols = (first.len() as f64).sqrt().ceil() as usize;
        let scale = if side < 10 { 8 } else { 2 };
        let grid = pictures::diverging(&first, side).grid(cols, 2, scale);
        pictures::save_png(&pictures::with_diverging_scale(&grid), &path)?;
        Ok(Finish {
            files: vec![path],
            metrics: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{correct_count, correct_count_host};
    use burn::prelude::*;

    #[test]
    fn host_count_is_the_device_count() {
        // Rows: a clear winner (right), a tie of the first two (burn picks the first: right),
        // a tie won by the first only (wrong), a NaN that wins where it stands (right), and a
        // wrong winner.
        let device = Device::flex();
        let nan = f32::NAN;
        let logits = vec![
            0.1, 2.0, -1.0, //
            3.0, 3.0, 1.0, //
            1.0, 1.0, 0.0, //
            0.0, nan, 5.0, //
            0.0, 0.0, 1.0,
        ];
        let labels = vec![1i64, 0, 1, 1, 0];
        let logits = Tensor::<2>::from_data(TensorData::new(logits, [5, 3]), &device);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [5]), &device);
        let host = correct_count_host(logits.clone(), &labels);
        let on_device = correct_count(logits, targets).into_scalar::<i64>();
        assert_eq!((host, on_device), (3, 3));
    }
}
