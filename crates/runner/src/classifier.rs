//! The training loop of the classifier family (the article's MLP and its variants): a custom
//! loop over seeded batches, with Keras-like progress, per-epoch evaluation, metrics, atomic
//! checkpoints, resume, Ctrl-C and divergence handling.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdaGradConfig, AdamConfig, GradientsParams, ModuleOptimizer, RmsPropConfig, SgdConfig,
};
use burn::prelude::*;
use nnlab_data::{Batch, ImageDataset, LoadOptions, Split, SplitOptions, resolve_root, shuffled};
use nnlab_models::{Activation, Mlp, MlpConfig, WeightInit};
use nnlab_principles::gradient_descent::Rule;
use nnlab_principles::mlp::{Objective, loss_and_gradients};

use crate::backend::select_device;
use crate::checkpoint;
use crate::config::{ActivationName, EngineName, InitName, LossName, OptimizerName, RunConfig};
use crate::error::{Error, Result};
use crate::fused_adam::FusedAdam;
use crate::loss::{Loss, one_hot};
use crate::metrics::{self, EpochMetrics, Summary};
use crate::progress::EpochProgress;
use crate::run_dir::RunDir;

/// Where data and runs live, and how chatty to be.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Data root (`--data-dir`); `None` means `$NNLAB_DATA` or `data/`.
    pub data_dir: Option<PathBuf>,
    /// Run folder (`--out`); `None` means `runs/<name>/<timestamp>/`.
    pub out: Option<PathBuf>,
    /// Where default run folders go.
    pub runs_root: PathBuf,
    /// Download a known dataset when its files are missing.
    pub download: bool,
    /// No progress bar and no per-epoch lines (used by studies' summaries and tests).
    pub quiet: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            out: None,
            runs_root: PathBuf::from("runs"),
            download: true,
            quiet: false,
        }
    }
}

impl TrainOptions {
    /// Where and how datasets are loaded: the data root, downloads on or off, checksums always.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            root: resolve_root(self.data_dir.as_deref()),
            download: self.download,
            verify: true,
        }
    }
}

/// A finished run: its folder and summary.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// What `summary.json` holds.
    pub summary: Summary,
}

static STOP: AtomicBool = AtomicBool::new(false);
static HANDLER: Once = Once::new();

/// Makes Ctrl-C (SIGINT) stop training at the next batch instead of killing the process.
fn install_interrupt_handler() {
    HANDLER.call_once(|| {
        // If the embedding program already owns SIGINT, it keeps it.
        let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    });
}

/// What a [`RunConfig`] builds: its model, optimizer and data.
pub trait Recipe {
    /// The model this config describes, for `inputs` features and `classes` classes.
    fn mlp(&self, inputs: usize, classes: usize) -> MlpConfig;
    /// The optimizer this config describes. `host` selects the fused host-memory update of
    /// [`FusedAdam`] (CPU backends); otherwise burn's tensor-op implementation is used.
    fn optimizer(&self, host: bool) -> ModuleOptimizer;
    /// Loads the dataset and splits it as this config says.
    fn load_data(&self, opts: &TrainOptions) -> Result<(ImageDataset, Split)>;
}

impl Recipe for RunConfig {
    fn mlp(&self, inputs: usize, classes: usize) -> MlpConfig {
        let activation = match self.model.activation {
            ActivationName::Relu => Activation::Relu,
            ActivationName::Sigmoid => Activation::Sigmoid,
            ActivationName::Tanh => Activation::Tanh,
            ActivationName::LeakyRelu => Activation::LeakyRelu,
            ActivationName::Gelu => Activation::Gelu,
        };
        let init = match self.model.init {
            InitName::GlorotUniform => WeightInit::GlorotUniform,
            InitName::HeUniform => WeightInit::HeUniform,
            InitName::BurnDefault => WeightInit::BurnDefault,
        };
        MlpConfig::new(inputs, self.model.hidden.clone())
            .with_classes(classes)
            .with_activation(activation)
            .with_init(init)
    }

    fn optimizer(&self, host: bool) -> ModuleOptimizer {
        let t = &self.train;
        match t.optimizer {
            OptimizerName::Adam if host => FusedAdam {
                beta1: t.beta1 as f32,
                beta2: t.beta2 as f32,
                epsilon: t.epsilon as f32,
            }
            .into(),
            OptimizerName::Adam => AdamConfig::new()
                .with_beta_1(t.beta1 as f32)
                .with_beta_2(t.beta2 as f32)
                .with_epsilon(t.epsilon as f32)
                .init(),
            OptimizerName::Sgd | OptimizerName::Momentum => {
                let m = t.momentum();
                let momentum = (m > 0.0).then(|| {
                    // Keras' and PyTorch's heavy-ball momentum: no dampening.
                    MomentumConfig::new()
                        .with_momentum(m)
                        .with_dampening(0.0)
                        .with_nesterov(t.nesterov)
                });
                SgdConfig::new().with_momentum(momentum).init()
            }
            // Set every field: burn's defaults (alpha 0.99, momentum 0.9) are not Keras'.
            OptimizerName::Rmsprop => RmsPropConfig::new()
                .with_alpha(t.rho as f32)
                .with_momentum(t.momentum() as f32)
                .with_epsilon(t.epsilon as f32)
                .init(),
            OptimizerName::Adagrad => AdaGradConfig::new().with_epsilon(t.epsilon as f32).init(),
        }
    }

    fn load_data(&self, opts: &TrainOptions) -> Result<(ImageDataset, Split)> {
        let data = ImageDataset::load(&self.data.dataset, &opts.load_options())?;
        let split = Split::new(
            &data,
            SplitOptions {
                validation: self.data.validation,
                limit_train: self.data.limit_train,
                limit_test: self.data.limit_test,
            },
        )?;
        if self.train.batch_size > split.train.len() {
            return Err(Error::Config(format!(
                "config: key `train.batch_size` = {}: larger than the {} training examples of `{}`",
                self.train.batch_size,
                split.train.len(),
                data.name
            )));
        }
        if split.test.is_empty() {
            return Err(Error::Config(format!(
                "dataset `{}` has no test examples",
                data.name
            )));
        }
        Ok((data, split))
    }
}

/// The hand-written update rule of the manual engine.
fn manual_rule(config: &RunConfig) -> Rule {
    let t = &config.train;
    match t.optimizer {
        OptimizerName::Adam => Rule::Adam {
            hyper: (t.beta1, t.beta2, t.epsilon),
            moments: Vec::new(),
        },
        _ if t.momentum() > 0.0 => Rule::Momentum {
            mu: t.momentum(),
            velocity: Vec::new(),
        },
        _ => Rule::GradientDescent,
    }
}

/// Whether a backend computes in host memory (where fused host-side updates pay off).
pub fn is_cpu(backend: &str) -> bool {
    matches!(backend, "flex" | "ndarray")
}

/// Trains `config` in a new run folder.
pub fn train(config: &RunConfig, opts: &TrainOptions) -> Result<Outcome> {
    let (data, split) = config.load_data(opts)?;
    let path = match &opts.out {
        Some(p) => p.clone(),
        None => crate::run_dir::default_path(&opts.runs_root, &config.name),
    };
    let run = RunDir::create(&path)?;
    // Two checkpoints are kept, each the weights plus up to two optimizer moments (f32), plus
    // the metrics and a margin.
    let params = config.mlp(data.features(), data.classes).num_params() as u64;
    crate::run_dir::check_space(run.path(), 2 * 3 * 4 * params + (1 << 20))?;
    run.write("config.toml", config.to_toml().as_bytes())?;
    fit(config, &data, &split, &run, Vec::new(), None, opts)
}

/// Continues the run in `path` from its newest checkpoint.
pub fn resume(path: &Path, opts: &TrainOptions) -> Result<Outcome> {
    let run = RunDir::open(path)?;
    let config = RunConfig::load(&path.join("config.toml"), &[])?;
    let (data, split) = config.load_data(opts)?;
    let start = checkpoint::latest(path)?;
    let done = start.as_ref().map_or(0, |r| r.epochs_done);
    let metrics_path = path.join("metrics.csv");
    let mut rows = if metrics_path.exists() {
        metrics::read_csv(&metrics_path)?
    } else {
        Vec::new()
    };
    if rows.len() < done {
        return Err(Error::RunDir(format!(
            "{} has {} rows but the checkpoint is at epoch {done}",
            metrics_path.display(),
            rows.len()
        )));
    }
    rows.truncate(done);
    if done >= config.train.epochs {
        println!(
            "{} already finished its {} epochs; nothing to resume",
            path.display(),
            config.train.epochs
        );
    } else if !opts.quiet {
        match start.as_ref().and_then(|r| r.partial.as_ref()) {
            Some(p) => println!(
                "Resuming {} at epoch {}, step {}",
                path.display(),
                p.epoch,
                p.step + 1
            ),
            None => println!("Resuming {} after epoch {done}", path.display()),
        }
    }
    fit(&config, &data, &split, &run, rows, start, opts)
}

/// The loop shared by new and resumed runs.
fn fit(
    config: &RunConfig,
    data: &ImageDataset,
    split: &Split,
    run: &RunDir,
    mut rows: Vec<EpochMetrics>,
    start: Option<checkpoint::Resume>,
    opts: &TrainOptions,
) -> Result<Outcome> {
    install_interrupt_handler();
    STOP.store(false, Ordering::SeqCst);
    let t = &config.train;
    let (device, backend) = select_device();
    device.seed(config.seed);
    let manual = t.engine == EngineName::Manual;
    // The manual engine computes its own gradients, so its tensors need no autodiff.
    let ad = if manual {
        device.clone()
    } else {
        device.clone().autodiff()
    };
    let model_config = config.mlp(data.features(), data.classes);
    let mut model: Mlp = model_config.init(&ad);
    // With the manual engine the burn optimizer stays empty (its record is an empty file).
    let mut optim = if manual {
        SgdConfig::new().init()
    } else {
        config.optimizer(is_cpu(backend))
    };
    let mut rule = manual_rule(config);
    let (first, mut partial) = match start {
        Some(r) => {
            let work_left = r.epochs_done < t.epochs;
            if manual && work_left && !matches!(rule, Rule::GradientDescent) {
                return Err(Error::RunDir(format!(
                    "{}: engine = \"manual\" does not checkpoint the state of {:?}, so this run cannot be resumed exactly; start it again",
                    run.path().display(),
                    t.optimizer
                )));
            }
            model = checkpoint::load_model(&r.dir, model)?;
            optim = checkpoint::load_optim(&r.dir, optim)?;
            (r.epochs_done + 1, r.partial)
        }
        None => (1, None),
    };
    let objective = match t.loss {
        LossName::CrossEntropy => Objective::CrossEntropy,
        LossName::Mse => Objective::Mse,
    };
    if !opts.quiet && first == 1 {
        println!(
            "nnlab: {} on {} ({} train, {} valid, {} test, {}x{}), {} parameters, backend {backend}, seed {}",
            config.name,
            data.name,
            split.train.len(),
            split.valid.len(),
            split.test.len(),
            data.rows,
            data.cols,
            model_config.num_params(),
            config.seed
        );
        println!("run folder: {}", run.path().display());
    }
    let loss_fn = Loss::new(t.loss, &ad);
    let features = data.features();
    let steps = split.train.len().div_ceil(t.batch_size);

    for epoch in first..=t.epochs {
        let order = shuffled(&split.train, config.seed, epoch - 1);
        let progress = EpochProgress::start(epoch, t.epochs, steps, opts.quiet);
        let started = Instant::now();
        // A resumed epoch starts where it stopped, with the sums it had.
        let resumed = partial.take().filter(|p| p.epoch == epoch);
        let skip = resumed.as_ref().map_or(0, |p| p.step);
        let prior_seconds = resumed.as_ref().map_or(0.0, |p| p.seconds);
        let (mut loss_total, mut correct_total, mut seen) =
            resumed.as_ref().map_or((0.0f64, 0i64, 0usize), |p| {
                (p.loss_total, p.correct_total, p.seen)
            });
        let mut window: Option<(Tensor<1>, Tensor<1, Int>)> = resumed.as_ref().and_then(|p| {
            Some((
                Tensor::from_data(TensorData::new(vec![p.window_loss?], [1]), &ad),
                Tensor::from_data(TensorData::new(vec![p.window_correct?], [1]), &ad),
            ))
        });
        let mut window_start = resumed.as_ref().map_or(1, |p| p.window_start);
        for (i, chunk) in order.chunks(t.batch_size).enumerate().skip(skip) {
            let step = i + 1;
            if STOP.load(Ordering::SeqCst) {
                progress.abandon();
                let (window_loss, window_correct) = match window.take() {
                    Some((l, c)) => (Some(l.into_scalar::<f32>()), Some(c.into_scalar::<i64>())),
                    None => (None, None),
                };
                let state = checkpoint::PartialEpoch {
                    epoch,
                    step: i,
                    loss_total,
                    correct_total,
                    seen,
                    window_loss,
                    window_correct,
                    window_start,
                    seconds: prior_seconds + started.elapsed().as_secs_f64(),
                };
                checkpoint::save_partial(run.path(), &state, &model, &optim)?;
                return Err(Error::Interrupted {
                    epoch,
                    step,
                    run_dir: run.path().to_path_buf(),
                });
            }
            let (x, y, labels) = batch_tensors(data.batch(chunk), features, &ad);
            let n = labels.len();
            let lr = t.lr_at(epoch - 1, i, steps);
            let (loss, logits) = if manual {
                let onehot = one_hot(&labels, data.classes, &ad);
                let (loss, grads, logits) = loss_and_gradients(&model, x, onehot, objective);
                model = rule.step(model, grads, lr);
                (loss, logits)
            } else {
                let logits = model.forward(x);
                let loss = loss_fn.forward(logits.clone(), y.clone(), &labels);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(lr, model, grads);
                (loss.detach(), logits.detach())
            };
            let correct = correct_count(logits, y);
            let weighted = loss * n as f32;
            window = Some(match window.take() {
                Some((l, c)) => (l + weighted, c + correct),
                None => (weighted, correct),
            });
            seen += n;

            if step % t.log_every == 0 || step == steps {
                let (l, c) = window.take().expect("the window holds this step");
                let l = l.into_scalar::<f32>() as f64;
                if !l.is_finite() {
                    progress.abandon();
                    let which = if window_start == step {
                        format!("step {step}")
                    } else {
                        format!("between steps {window_start} and {step}")
                    };
                    return Err(Error::Diverged {
                        value: format!("{l}"),
                        epoch,
                        steps: which,
                        lr: t.lr_at(epoch - 1, i, steps),
                        kept: if epoch > 1 {
                            format!(
                                "The last good checkpoint (epoch {}) is kept in {}",
                                epoch - 1,
                                run.path().display()
                            )
                        } else {
                            format!(
                                "No epoch finished, so there is no checkpoint; the config is in {}",
                                run.path().display()
                            )
                        },
                    });
                }
                loss_total += l;
                correct_total += c.into_scalar::<i64>();
                window_start = step + 1;
                progress.update(
                    step,
                    loss_total / seen as f64,
                    correct_total as f64 / seen as f64,
                );
            }
        }
        device.sync().ok();
        let seconds = prior_seconds + started.elapsed().as_secs_f64();
        let eval_model = model.valid();
        let valid = (!split.valid.is_empty())
            .then(|| evaluate(&eval_model, data, &split.valid, config, &device));
        let (test_loss, test_accuracy) = evaluate(&eval_model, data, &split.test, config, &device);
        let row = EpochMetrics {
            epoch,
            train_loss: loss_total / seen as f64,
            train_accuracy: correct_total as f64 / seen as f64,
            valid,
            test_loss,
            test_accuracy,
            seconds,
        };
        let line = progress.finish(&row);
        rows.push(row);
        run.write("metrics.csv", metrics::csv(&rows).as_bytes())?;
        checkpoint::save(run.path(), epoch, &model, &optim)?;
        if !opts.quiet {
            println!("{line}");
        }
    }

    let last = rows
        .last()
        .ok_or_else(|| Error::RunDir(format!("{} has no finished epoch", run.path().display())))?;
    let summary = Summary {
        name: config.name.clone(),
        dataset: data.name.clone(),
        test_loss: last.test_loss,
        test_accuracy: last.test_accuracy,
        epochs: rows.len(),
        seconds_per_epoch: metrics::median(&rows.iter().map(|r| r.seconds).collect::<Vec<_>>()),
        backend: backend.to_string(),
        seed: config.seed,
        git_rev: metrics::git_rev(),
        parameters: model_config.num_params(),
        train_examples: split.train.len(),
        peak_rss_mb: metrics::peak_rss_mb(),
        nnlab_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let json = serde_json::to_string_pretty(&summary).expect("a summary serialises to JSON");
    run.write("summary.json", json.as_bytes())?;
    Ok(Outcome {
        run_dir: run.path().to_path_buf(),
        summary,
    })
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

/// Mean loss (the config's) and accuracy of `model` on the examples `indices`.
///
/// `model` must be on a device without autodiff (`Module::valid`).
pub fn evaluate(
    model: &Mlp,
    data: &ImageDataset,
    indices: &[u32],
    config: &RunConfig,
    device: &Device,
) -> (f64, f64) {
    let loss_fn = Loss::new(config.train.loss, device);
    let features = data.features();
    let (mut loss, mut correct) = (0.0f64, 0i64);
    for chunk in indices.chunks(config.train.eval_batch_size) {
        let (x, y, labels) = batch_tensors(data.batch(chunk), features, device);
        let logits = model.forward(x);
        loss += loss_fn
            .forward(logits.clone(), y.clone(), &labels)
            .into_scalar::<f32>() as f64
            * labels.len() as f64;
        correct += correct_count(logits, y).into_scalar::<i64>();
    }
    let n = indices.len().max(1) as f64;
    (loss / n, correct as f64 / n)
}

/// Reloads a run's newest checkpoint and evaluates it on the test split of its config.
pub fn eval_run(path: &Path, opts: &TrainOptions) -> Result<(f64, f64)> {
    let config = RunConfig::load(&crate::run_dir::config_of(path)?, &[])?;
    let (data, split) = config.load_data(opts)?;
    let dir = checkpoint::latest(path)?
        .ok_or_else(|| Error::RunDir(format!("{} has no checkpoint yet", path.display())))?
        .dir;
    let (device, _) = select_device();
    let model = config.mlp(data.features(), data.classes).init(&device);
    let model = checkpoint::load_model(&dir, model)?;
    Ok(evaluate(&model, &data, &split.test, &config, &device))
}
