//! LeNet-5 as LeCun et al. (1998) built it ([`nnlab_models::lenet5`]) as a [`Task`]: trained on
//! the MAP criterion of its RBF outputs, by their stochastic diagonal Levenberg-Marquardt method
//! (`model.sdlm`, [`crate::optim::sdlm`]) or by `train.optimizer`.
//!
//! The curvature SDLM divides by is the Gauss-Newton diagonal of the squared distance from F6's
//! output to the correct class's bitmap (the loss's first term, whose second derivative with
//! respect to that output is `2 I`): `h_k = 2 E_n[sum_j (d x_nj / d w_k)^2]`, averaged over
//! `model.sdlm_samples` training images drawn before each epoch and then every
//! `model.sdlm_every` images. It is estimated through
//! burn's autodiff without per-example gradients: for a group of images and random signs
//! `v_nj = +-1`, the gradient of `sum_nj v_nj x_nj` squared has the expectation
//! `sum_n sum_j (d x_nj / d w_k)^2`, the cross terms averaging out; groups of
//! [`CURVATURE_GROUP`] images keep their noise small; `model.sdlm_exact` computes this diagonal
//! exactly instead, one backward pass per image and output (84 per image, slower). The paper's
//! own recursion (appendix C, `model.sdlm_layerwise`, [`LeNet5::paper_curvature`]) is another
//! approximation: it backpropagates `f'(a)^2 sum w^2 d2E/da2` layer by layer, dropping the
//! off-diagonal terms on the way, and sums a shared weight's second derivatives over its
//! connections, where the Gauss-Newton diagonal squares their sum.
//!
//! SDLM steps with the gradient summed over the batch, i.e. as far as the batch's examples would
//! move the weights one after another in the paper's online training, at the same point.
//!
//! Metrics: `loss` (the MAP criterion per image) and `accuracy` (the nearest bitmap's class).
//! With SDLM, each estimate of the curvature is summarised in the run's `curvature.csv`
//! ([`CURVATURE_CSV`]): per parameter tensor, the smallest, mean and largest `h` and the
//! effective step sizes `lr / (mu + h)` they give, the figure the paper reports for its first
//! pass ("between approximately 7e-5 and 0.016").

use std::path::{Path, PathBuf};

use burn::prelude::*;
use nnlab_config::{Lenet5Spec, RunConfig};
use nnlab_data::ImageDataset;
use nnlab_models::lenet5::{C3_TABLE, LeNet5, LeNet5Config, map_loss};
use rand::Rng;

use super::batch::{self, pixels};
use super::classifier::{batch_tensors, correct_count_host};
use crate::engine::{CheckpointReader, CheckpointWriter, StepContext, StepOutput, Sum, Task};
use crate::error::{Error, Result};
use crate::optim::{Optim, sdlm};

/// The checkpoint value holding the curvature rows not yet in `curvature.csv`.
const CURVATURE_ROWS: &str = "curvature_rows";

/// Images per backward pass of the curvature estimate.
pub const CURVATURE_GROUP: usize = 20;

/// The run's summary of SDLM's curvature estimates.
pub const CURVATURE_CSV: &str = "curvature.csv";
const CURVATURE_HEADER: &str = "epoch,step,parameter,size,h_min,h_mean,h_max,rate_min,rate_max";
/// LeNet-5's parameter tensors in the order the module visits them.
const PARAMETERS: [&str; 12] = [
    "c1.weight",
    "c1.bias",
    "s2.coefficient",
    "s2.bias",
    "c3.weight",
    "c3.bias",
    "s4.coefficient",
    "s4.bias",
    "c5.weight",
    "c5.bias",
    "f6.weight",
    "f6.bias",
];

/// `curvature.csv`'s rows for one estimate `h` made at step `step` of `epoch`, where each image
/// steps by `lr / (mu + h)` times its gradient: per parameter tensor (C3's weights only those of
/// its table), the number of values, `h`'s smallest, mean and largest value and the step sizes
/// (5 significant digits).
fn curvature_rows(h: &LeNet5, epoch: usize, step: usize, lr: f64, mu: f64) -> Vec<String> {
    crate::optim::flat_parameters(h)
        .into_iter()
        .zip(PARAMETERS)
        .map(|(t, name)| {
            let all: Vec<f32> = t
                .into_data()
                .try_into_vec()
                .expect("the curvature holds f32 values");
            // C3's weights are [16, 6, 5, 5]: kernel (out, in) is used when the table says so.
            let kept: Vec<f64> = all
                .iter()
                .enumerate()
                .filter(|(k, _)| name != "c3.weight" || C3_TABLE[k / 150].contains(&(k / 25 % 6)))
                .map(|(_, v)| f64::from(*v))
                .collect();
            let min = kept.iter().copied().fold(f64::INFINITY, f64::min);
            let max = kept.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mean = kept.iter().sum::<f64>() / kept.len() as f64;
            format!(
                "{epoch},{step},{name},{},{min:.4e},{mean:.4e},{max:.4e},{:.4e},{:.4e}",
                kept.len(),
                lr / (mu + max),
                lr / (mu + min)
            )
        })
        .collect()
}

/// LeNet-5 being trained.
pub struct Lenet5Task {
    model: Option<LeNet5>,
    optim: Optim,
    spec: Lenet5Spec,
    /// SDLM's `h`, shaped as the model (on the inner device).
    curvature: Option<LeNet5>,
    /// Steps between two estimates of the curvature.
    curvature_steps: usize,
    /// `curvature.csv`'s rows not yet written (kept in checkpoints, so a run killed before
    /// writing them writes them after its resume).
    curvature_rows: Vec<String>,
    device: Device,
    train_device: Device,
    eval_batch_size: usize,
}

impl std::fmt::Debug for Lenet5Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lenet5Task")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Lenet5Task {
    /// LeNet-5 for `data` (28x28 images, 10 classes), on `device`.
    pub fn new(
        config: &RunConfig,
        spec: &Lenet5Spec,
        data: &ImageDataset,
        device: &Device,
        host: bool,
    ) -> Result<Self> {
        if (data.rows, data.cols, data.classes) != (28, 28, 10) {
            return Err(Error::Config(format!(
                "model.kind = \"lenet5\" is LeNet-5 for 28x28 images of 10 classes; `{}` has {}x{} images of {} classes",
                data.name, data.rows, data.cols, data.classes
            )));
        }
        let train_device = device.clone().autodiff();
        Ok(Self {
            model: Some(LeNet5Config::new().with_init(spec.init).init(&train_device)),
            optim: crate::optim::build(&config.train, host),
            spec: spec.clone(),
            curvature: None,
            curvature_steps: spec.sdlm_every.div_ceil(config.train.batch_size).max(1),
            curvature_rows: Vec::new(),
            device: device.clone(),
            train_device,
            eval_batch_size: config.train.eval_batch_size,
        })
    }

    fn model(&self) -> &LeNet5 {
        self.model
            .as_ref()
            .expect("the model is back after every step")
    }

    /// SDLM's curvature at step `ctx`, from `model.sdlm_samples` training images drawn for it.
    fn estimate_curvature(&self, data: &ImageDataset, ctx: &StepContext) -> LeNet5 {
        let model = self.model();
        let train = data.train_indices();
        let mut rng = batch::rng_for(ctx.step_seed(), "sdlm curvature");
        let picks: Vec<u32> = (0..self.spec.sdlm_samples)
            .map(|_| train[rng.random_range(0..train.len())])
            .collect();
        let mut h = sdlm::zeros_like(model.valid());
        // d^2/dx^2 of |x - w_D|^2 is 2; the mean over the images.
        let scale = 2.0 / picks.len() as f64;
        if self.spec.sdlm_layerwise {
            let squared = sdlm::squared_leaves(model);
            for group in picks.chunks(CURVATURE_GROUP) {
                let x = pixels(data, group, &self.train_device);
                let out = model.paper_curvature(x, &squared);
                h = sdlm::add_gradients(h, &squared, &out.sum().backward(), scale);
            }
            return h;
        }
        if self.spec.sdlm_exact {
            // Per image and per output: the gradient of one output, squared, summed over the
            // outputs: the Gauss-Newton diagonal itself (84 backward passes per image).
            for &i in &picks {
                let x = pixels(data, &[i], &self.train_device);
                for j in 0..nnlab_models::lenet5::F6 {
                    let out = model.f6(x.clone()).narrow(1, j, 1);
                    h = sdlm::accumulate(h, model, &out.sum().backward(), scale);
                }
            }
            return h;
        }
        for group in picks.chunks(CURVATURE_GROUP) {
            let x = pixels(data, group, &self.train_device);
            let out = model.f6(x);
            let signs: Vec<f32> = (0..out.dims().iter().product::<usize>())
                .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
                .collect();
            let v = Tensor::<2>::from_data(TensorData::new(signs, out.dims()), &self.train_device);
            let grads = (out * v).sum().backward();
            h = sdlm::accumulate(h, model, &grads, scale);
        }
        h
    }
}

impl Task for Lenet5Task {
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
        // The curvature is estimated at the first step of every epoch and every
        // `curvature_steps` steps after; in between, a resumed run goes on with its checkpoint's.
        if self.spec.sdlm
            && (self.curvature.is_none() || (ctx.step - 1).is_multiple_of(self.curvature_steps))
        {
            let h = self.estimate_curvature(data, ctx);
            self.curvature_rows.extend(curvature_rows(
                &h,
                ctx.epoch,
                ctx.step,
                ctx.lr,
                self.spec.sdlm_mu,
            ));
            self.curvature = Some(h);
        }
        let (x, targets, labels) =
            batch_tensors(data.batch(batch), data.features(), &self.train_device);
        let n = labels.len();
        let model = self
            .model
            .take()
            .expect("the model is back after every step");
        let y = model.forward(x);
        let loss = map_loss(y.clone(), targets, self.spec.map_j).mean();
        let mut grads = loss.backward();
        self.model = Some(match &self.curvature {
            Some(h) if self.spec.sdlm => {
                sdlm::step(model, h, &mut grads, ctx.lr * n as f64, self.spec.sdlm_mu)
            }
            _ => self.optim.step_backward(ctx.lr, model, grads),
        });
        // The nearest bitmap's class: the largest negated distance.
        let right = correct_count_host(y.detach().neg(), &labels) as f32;
        StepOutput {
            examples: n,
            sums: vec![
                Sum::Host(loss.detach().into_scalar::<f32>() * n as f32),
                Sum::Host(right),
            ],
        }
    }

    fn evaluate(&mut self, data: &ImageDataset, indices: &[u32]) -> Vec<f64> {
        let model = self.model().valid();
        let (mut loss, mut right) = (0.0f64, 0usize);
        for chunk in indices.chunks(self.eval_batch_size) {
            let (x, targets, labels) =
                batch_tensors(data.batch(chunk), data.features(), &self.device);
            let y = model.forward(x);
            loss += map_loss(y.clone(), targets, self.spec.map_j)
                .sum()
                .into_scalar::<f32>() as f64;
            right += correct_count_host(y.neg(), &labels);
        }
        let n = indices.len().max(1) as f64;
        vec![loss / n, right as f64 / n]
    }

    fn save(&self, ckpt: &mut CheckpointWriter) -> Result<()> {
        ckpt.module("model", self.model())?;
        if let Some(h) = &self.curvature {
            ckpt.module("curvature", h)?;
            ckpt.value(CURVATURE_ROWS, &self.curvature_rows)?;
        }
        ckpt.optimizer("optim", &self.optim)
    }

    fn load(&mut self, ckpt: &CheckpointReader) -> Result<()> {
        self.model = Some(ckpt.module("model", self.model().clone())?);
        if self.spec.sdlm {
            let shape = sdlm::zeros_like(self.model().valid());
            self.curvature = Some(ckpt.module("curvature", shape)?);
            // Checkpoints written before `curvature.csv` existed have no rows to write.
            if ckpt.state().values.contains_key(CURVATURE_ROWS) {
                self.curvature_rows = ckpt.value(CURVATURE_ROWS)?;
            }
        }
        ckpt.optimizer("optim", &mut self.optim)
    }

    /// Appends the epoch's curvature rows to `curvature.csv`, replacing rows of the same
    /// epochs a run killed after its checkpoint may have written already.
    fn epoch_end(
        &mut self,
        _data: &ImageDataset,
        _epoch: usize,
        run: &Path,
    ) -> Result<Vec<PathBuf>> {
        let Some(first) = self.curvature_rows.first() else {
            return Ok(Vec::new());
        };
        let epoch_of = |row: &str| -> usize {
            row.split(',')
                .next()
                .and_then(|e| e.parse().ok())
                .unwrap_or(usize::MAX)
        };
        let from = epoch_of(first);
        let path = run.join(CURVATURE_CSV);
        let old = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut text = format!("{CURVATURE_HEADER}\n");
        for row in old.lines().skip(1).filter(|r| epoch_of(r) < from) {
            text.push_str(row);
            text.push('\n');
        }
        for row in self.curvature_rows.drain(..) {
            text.push_str(&row);
            text.push('\n');
        }
        crate::run_dir::write_atomic(&path, text.as_bytes())?;
        Ok(Vec::new())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{ModuleMapper, Param};

    /// Fills parameter tensor `i` (visiting order) with `i + 1`, C3's kernels outside the table
    /// with 1000.
    struct Fill(usize);

    impl ModuleMapper for Fill {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let k = self.0;
            self.0 += 1;
            let values: Vec<f32> = (0..tensor.shape().num_elements())
                .map(|j| {
                    let outside = k == 4 && !C3_TABLE[j / 150].contains(&(j / 25 % 6));
                    if outside { 1000.0 } else { (k + 1) as f32 }
                })
                .collect();
            let filled =
                Tensor::from_data(TensorData::new(values, tensor.shape()), &tensor.device());
            Param::from_mapped_value(id, filled, mapper)
        }
    }

    /// One row per parameter tensor, named in the module's order (their sizes are the paper's:
    /// C3's 60 kernels, C5's 48,000 weights), C3's kernels outside the table left out, and the
    /// step sizes `lr / (mu + h)`.
    #[test]
    fn curvature_rows_name_each_tensor_and_its_step_sizes() {
        let h = LeNet5Config::new().init(&Device::flex()).map(&mut Fill(0));
        let rows = curvature_rows(&h, 3, 1, 5e-4, 0.02);
        let sizes = [150, 6, 6, 6, 1500, 16, 16, 16, 48_000, 120, 10_080, 84];
        assert_eq!(rows.len(), 12);
        for (k, row) in rows.iter().enumerate() {
            let f: Vec<&str> = row.split(',').collect();
            assert_eq!(
                f[..4],
                ["3", "1", PARAMETERS[k], &sizes[k].to_string()],
                "{row}"
            );
            let v: Vec<f64> = f[4..].iter().map(|x| x.parse().unwrap()).collect();
            let h = (k + 1) as f64;
            let rate = 5e-4 / (0.02 + h);
            for (got, want) in v.iter().zip([h, h, h, rate, rate]) {
                assert!((got - want).abs() <= 1e-4 * want, "{row}");
            }
        }
    }
}
