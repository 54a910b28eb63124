//! `nnlab principles`: the article's mechanics, measured and drawn from `nnlab-principles` (the
//! hand-written activations, forward propagation and backpropagation).
//!
//! - [`activations`]: every activation `f(z)` and its derivative `f'(z)` on `[-4, 4]`;
//! - [`gradients`]: the vanishing gradient, measured: the norm of the loss' gradient with
//!   respect to each layer's weights, `||dL/dW_l||`, in deep MLPs of each activation at their
//!   initial (Glorot-uniform) weights, on one batch of training images. Through `L` sigmoid
//!   layers the gradient at the first layer is a product of `L` factors `f'(z) <= 1/4`: it
//!   shrinks geometrically with depth; ReLU's derivative is 1 where a unit is active.

use std::path::Path;

use burn::prelude::*;
use nnlab_config::{LossKind, WeightInit};
use nnlab_data::ImageDataset;
use nnlab_models::{Activation, MlpConfig};
use nnlab_principles::mlp::{activate, activate_prime, loss_and_gradients};

use crate::error::Result;
use crate::plot::{self, Series};
use crate::tasks::classification_loss::one_hot;

/// The activations drawn and measured, in the order of their legend.
pub const ACTIVATIONS: [Activation; 7] = [
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Relu,
    Activation::LeakyRelu,
    Activation::Gelu,
    Activation::Sin,
    Activation::Gaussian,
];

/// Draws `f(z)` into `out` and `f'(z)` beside it (`<out>-derivative.png`), on 401 points of
/// `[-4, 4]`; returns the two files.
pub fn activations(out: &Path) -> Result<[std::path::PathBuf; 2]> {
    let device = Device::flex();
    let zs: Vec<f32> = (0..=400).map(|i| -4.0 + 8.0 * i as f32 / 400.0).collect();
    let z = Tensor::<1>::from_data(TensorData::new(zs.clone(), [zs.len()]), &device);
    let curve = |values: Tensor<1>| -> Vec<(f64, f64)> {
        let ys: Vec<f32> = values.into_data().try_to_vec::<f32>().expect("f32 values");
        zs.iter()
            .zip(ys)
            .map(|(&x, y)| (f64::from(x), f64::from(y)))
            .collect()
    };
    let (mut f, mut df) = (Vec::new(), Vec::new());
    for act in ACTIVATIONS {
        f.push(Series::plain(act.name(), curve(activate(act, z.clone()))));
        df.push(Series::plain(
            act.name(),
            curve(activate_prime(act, z.clone())),
        ));
    }
    let derivative = out.with_file_name(format!(
        "{}-derivative.png",
        out.file_stem()
            .map_or("activations".into(), |s| s.to_string_lossy())
    ));
    plot::xy_chart(
        out,
        "activations f(z), from nnlab-principles",
        "z",
        "f(z)",
        Some("activation"),
        &f,
        false,
    )?;
    plot::xy_chart(
        &derivative,
        "their derivatives f'(z): what backpropagation multiplies by",
        "z",
        "f'(z)",
        Some("activation"),
        &df,
        false,
    )?;
    Ok([out.to_path_buf(), derivative])
}

/// What [`gradients`] measures.
#[derive(Debug, Clone)]
pub struct GradientOptions {
    /// Hidden layers.
    pub depth: usize,
    /// Units per hidden layer.
    pub width: usize,
    /// Training images in the batch.
    pub batch: usize,
    /// Seed of the initial weights and the batch.
    pub seed: u64,
}

/// `||dL/dW_l||` per layer (first layer first), for each activation of [`ACTIVATIONS`].
pub fn gradient_norms(data: &ImageDataset, opts: &GradientOptions) -> Vec<(Activation, Vec<f64>)> {
    let device = Device::flex();
    let n = opts.batch.min(data.n_train).max(1);
    // The first `n` training images after a seeded shuffle.
    let mut indices = data.train_indices();
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    indices.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed));
    let batch = data.batch(&indices[..n]);
    let x = Tensor::<2>::from_data(TensorData::new(batch.images, [n, data.features()]), &device);
    let y = one_hot(&batch.labels, data.classes, &device);
    ACTIVATIONS
        .iter()
        .map(|&act| {
            device.seed(opts.seed);
            let mlp = MlpConfig::new(data.features(), vec![opts.width; opts.depth])
                .with_classes(data.classes)
                .with_activation(act)
                .with_init(WeightInit::GlorotUniform)
                .init(&device);
            let (_, grads, _) =
                loss_and_gradients(&mlp, x.clone(), y.clone(), LossKind::CrossEntropy);
            let norms = grads
                .into_iter()
                .map(|(w, _)| {
                    let sq: f32 = w.square().sum().into_scalar();
                    f64::from(sq).sqrt()
                })
                .collect();
            (act, norms)
        })
        .collect()
}

/// Draws [`gradient_norms`] into `out` (log scale, one line per activation).
pub fn draw_gradients(
    norms: &[(Activation, Vec<f64>)],
    opts: &GradientOptions,
    out: &Path,
) -> Result<()> {
    let series: Vec<Series> = norms
        .iter()
        .map(|(act, v)| {
            Series::plain(
                act.name(),
                v.iter()
                    .enumerate()
                    .map(|(l, &g)| ((l + 1) as f64, g))
                    .collect(),
            )
        })
        .collect();
    plot::xy_chart(
        out,
        &format!(
            "gradient per layer at the initial weights: {} hidden layers of {}, a batch of {}",
            opts.depth, opts.width, opts.batch
        ),
        "layer (1: nearest the input; the last: the output layer)",
        "||dL/dW|| (Frobenius norm)",
        Some("activation"),
        &series,
        true,
    )
}
