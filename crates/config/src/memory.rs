//! How much memory a run of a config needs, estimated from its shapes before anything is
//! allocated, so that a model that cannot fit is refused with the key that made it too large
//! instead of aborting on a failed allocation.
//!
//! The estimate counts, in `f32`s: the parameters; their gradients; the optimizer's state (two
//! moments for Adam and AdamW, one for momentum SGD, RMSprop and AdaGrad); a host copy of the
//! parameters (drawn on the host, and the checkpoint's bytes); and the activations of one
//! training batch and one evaluation batch, each kept for the backward pass with its gradient.
//! It is an estimate of what the run holds at its peak, not a bound: burn's allocator and
//! temporary buffers come on top, the dataset too. The point is to refuse what cannot possibly
//! fit, with the key to change, before the allocation aborts the process.

use crate::model::{ModelConfig, Pooling};
use crate::optimizer::OptimizerName;
use crate::{ConfigError, Result, RunConfig};

/// The images a run trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageShape {
    /// Channels per pixel.
    pub channels: usize,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Classes (for classifiers).
    pub classes: usize,
}

/// A run's estimated memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    /// Trainable parameters (and batch norm's running statistics).
    pub parameters: u128,
    /// Bytes of parameters, gradients, optimizer state and the host copy.
    pub state_bytes: u128,
    /// Bytes of one batch's activations and their gradients.
    pub activation_bytes: u128,
    /// The config key that sets the model's size (named when it does not fit).
    pub size_key: &'static str,
}

impl Footprint {
    /// All bytes.
    pub fn total(&self) -> u128 {
        self.state_bytes + self.activation_bytes
    }
}

/// Parameters and per-example activations of a stack of dense layers `widths[0] -> ... -> last`.
fn dense(widths: &[usize]) -> (u128, u128) {
    let params = widths
        .windows(2)
        .map(|w| w[0] as u128 * w[1] as u128 + w[1] as u128)
        .sum();
    let acts = widths.iter().map(|&w| w as u128).sum();
    (params, acts)
}

fn chain(first: usize, middle: &[usize], last: usize) -> Vec<usize> {
    std::iter::once(first)
        .chain(middle.iter().copied())
        .chain(std::iter::once(last))
        .collect()
}

/// Bytes in a gibibyte, for messages.
const GIB: f64 = (1u64 << 30) as f64;

/// Parameters, per-example activations, and the key that sets the model's size.
type Size = (u128, u128, &'static str);

fn mlp(m: &crate::MlpSpec, features: usize, classes: usize) -> Size {
    let (mut p, mut a) = dense(&chain(features, &m.hidden, classes));
    // A maxout layer's units have `pieces` affine pieces each: its dense layer is `pieces`
    // times as wide as its units, and its pieces are kept beside the units.
    if m.maxout_pieces > 1 {
        let extra = (m.maxout_pieces - 1) as u128;
        let inputs = std::iter::once(features).chain(m.hidden.iter().copied());
        for (d_in, &units) in inputs.zip(&m.hidden) {
            p += extra * (d_in as u128 + 1) * units as u128;
            // The pieces, besides the units the maximum keeps.
            a += m.maxout_pieces as u128 * units as u128;
        }
    }
    (p, a, "model.hidden")
}

fn cnn(c: &crate::CnnSpec, shape: ImageShape) -> Size {
    let (mut p, mut a) = (0u128, (shape.channels * shape.rows * shape.cols) as u128);
    let mut maps = shape.channels as u128;
    let mut side = shape.rows.max(shape.cols) as u128;
    let k = c.kernel as u128;
    for (i, &out) in c.channels.iter().enumerate() {
        let (out, pad) = (out as u128, c.padding.get(i).copied().unwrap_or(0) as u128);
        p += k * k * maps * out + out;
        if c.batch_norm {
            p += 4 * out;
        }
        let conv_side = (side + 2 * pad + 1).saturating_sub(k);
        // The map, and the unfolded patches (im2col) the product reads.
        a += out * conv_side * conv_side + k * k * maps * conv_side * conv_side;
        side = match c.pool {
            Pooling::Max | Pooling::Avg => conv_side / 2,
        };
        maps = out;
    }
    let flat = maps * side * side;
    let widths: Vec<u128> = std::iter::once(flat)
        .chain(c.dense.iter().map(|&w| w as u128))
        .chain(std::iter::once(shape.classes as u128))
        .collect();
    let dp: u128 = widths.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
    let da: u128 = widths.iter().sum();
    // The first dense layer joins the last convolution's maps to the first dense width: it
    // counts for whichever of the two is the wider.
    let flatten = widths[0] * widths[1];
    let (to_dense, to_convs) = if widths[1] > widths[0] {
        (dp, p)
    } else {
        (dp - flatten, p + flatten)
    };
    let key = if to_dense > to_convs {
        "model.dense"
    } else {
        "model.channels"
    };
    (p + dp, a + da, key)
}

fn vae(m: &crate::VaeSpec, features: usize) -> Size {
    let (pe, ae) = dense(&chain(features, &m.hidden, 2 * m.latent));
    let back: Vec<usize> = m.hidden.iter().rev().copied().collect();
    let (pd, ad) = dense(&chain(m.latent, &back, features));
    (pe + pd, ae + ad, "model.hidden")
}

fn gan(m: &crate::GanSpec, features: usize) -> Size {
    let (pg, ag) = dense(&chain(m.latent, &m.generator, features));
    // A maxout layer computes `pieces` affine values per unit: as wide a dense layer, roughly.
    let pieces = m.maxout_pieces.max(1);
    let widths: Vec<usize> = m.discriminator.iter().map(|w| w * pieces).collect();
    let (pd, ad) = dense(&chain(features, &widths, 1));
    let key = if pg > pd {
        "model.generator"
    } else {
        "model.discriminator"
    };
    // The discriminator sees a real and a generated batch.
    (pg + pd, ag + 2 * ad, key)
}

fn dcgan(m: &crate::DcganSpec, channels: usize) -> Size {
    let (z, g, d, c) = (
        m.latent as u128,
        m.g_features as u128,
        m.d_features as u128,
        channels as u128,
    );
    // Generator: z -> 2g x 7 x 7 -> g x 14 x 14 -> c x 28 x 28 (4x4 transposed convolutions,
    // batch norm); discriminator: c x 28 x 28 -> d x 14 x 14 -> 2d x 7 x 7 -> 1.
    let gen_p =
        z * 2 * g * 49 + 2 * g * 49 + 4 * 2 * g + 16 * 2 * g * g + g + 4 * g + 16 * g * c + c;
    let disc_p = 16 * c * d + d + 16 * d * 2 * d + 2 * d + 4 * 2 * d + 2 * d * 49 + 1;
    // Each layer's output, and the columns its 4x4 kernels unfold (out x 16 x the input's
    // positions for a transposed convolution, in x 16 x the output's for a convolution).
    let gen_a = z + 2 * g * 49 + g * 196 + c * 784 + 16 * (g * 49 + c * 196);
    let disc_a = c * 784 + d * 196 + 2 * d * 49 + 1 + 16 * (c * 196 + d * 49);
    let key = if g >= d {
        "model.g_features"
    } else {
        "model.d_features"
    };
    (gen_p + disc_p, gen_a + 2 * disc_a, key)
}

impl RunConfig {
    /// The memory a run of this config needs on images of `shape`.
    pub fn footprint(&self, shape: ImageShape) -> Footprint {
        let features = shape.channels * shape.rows * shape.cols;
        let (params, per_example, size_key) = match &self.model {
            ModelConfig::Mlp(m) => mlp(m, features, shape.classes),
            ModelConfig::Cnn(c) => cnn(c, shape),
            ModelConfig::Autoencoder(m) => {
                let (p, a) = dense(&chain(features, &m.encoder, m.code));
                (2 * p, 2 * a, "model.encoder")
            }
            ModelConfig::Pca(m) => {
                // The covariance matrix and its eigenvectors, and the components.
                let f = features as u128;
                (
                    2 * f * f + m.components as u128 * f,
                    2 * f,
                    "model.components",
                )
            }
            ModelConfig::Vae(m) => vae(m, features),
            ModelConfig::Gan(m) => gan(m, features),
            ModelConfig::Dcgan(m) => dcgan(m, shape.channels),
            // About 60,000 weights (the masked C3 kernels too); per example C1's and S2's maps
            // dominate: 6 x (28 x 28 + 14 x 14), twice (value and gradient), plus the 32x32 input.
            ModelConfig::Lenet5(_) => (
                62_000,
                2 * 6 * (784 + 196) + 2 * 16 * 125 + 1024,
                "model.kind",
            ),
            ModelConfig::Rbm(m) => {
                // Weights, biases; per example the visible and hidden states of each Gibbs step.
                let (v, h) = (features as u128, m.hidden as u128);
                (
                    v * h + v + h,
                    (v + h) * (2 + m.cd_k as u128),
                    "model.hidden",
                )
            }
        };
        let moments: u128 = match self.train.optimizer {
            OptimizerName::Adam | OptimizerName::Adamw => 2,
            OptimizerName::Sgd | OptimizerName::Rmsprop | OptimizerName::Adagrad => 1,
            // The start, the direction, the best point and the gradients at up to three trial
            // points of a line search, each as large as the weights.
            OptimizerName::Cg => 6,
        };
        // Weights, gradients, the optimizer's moments, the host copy.
        let state_bytes = 4 * params * (3 + moments);
        // Each activation and its gradient, for a training and an evaluation batch.
        let batch = (self.train.batch_size + self.train.eval_batch_size) as u128;
        let activation_bytes = 4 * 2 * per_example * batch;
        Footprint {
            parameters: params,
            state_bytes,
            activation_bytes,
            size_key,
        }
    }

    /// Refuses a config whose run needs more than `available` bytes, naming the key that sets
    /// the model's size, or the batch size when the run would fit with smaller batches.
    pub fn check_memory(&self, shape: ImageShape, available: u64) -> Result<()> {
        let f = self.footprint(shape);
        if f.total() <= available as u128 {
            return Ok(());
        }
        // The batches are to blame when the run would fit with batches of one example.
        let mut one = self.clone();
        one.train.batch_size = 1;
        one.train.eval_batch_size = 1;
        let key = if one.footprint(shape).total() > available as u128 {
            f.size_key
        } else if self.train.batch_size >= self.train.eval_batch_size {
            "train.batch_size"
        } else {
            "train.eval_batch_size"
        };
        Err(ConfigError(format!(
            "config: key `{key}`: this run needs about {:.1} GiB ({} parameters: {:.1} GiB with \
             their gradients and the optimizer's state; a batch's activations {:.1} GiB) and \
             {:.1} GiB of memory is available; make the model or the batch smaller",
            f.total() as f64 / GIB,
            f.parameters,
            f.state_bytes as f64 / GIB,
            f.activation_bytes as f64 / GIB,
            available as f64 / GIB
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MNIST: ImageShape = ImageShape {
        channels: 1,
        rows: 28,
        cols: 28,
        classes: 10,
    };
    const GIB: u64 = 1 << 30;

    fn config(model: &str) -> RunConfig {
        RunConfig::parse(
            &format!("name = \"m\"\n[model]\n{model}\n[train]\nepochs = 1\nbatch_size = 128\n"),
            "test",
            &[],
        )
        .unwrap()
    }

    #[test]
    fn the_article_mlp_counts_its_parameters_exactly() {
        // 784 * 32 + 32 + 32 * 10 + 10 = 25,450 (the article's Keras summary).
        let f = config("kind = \"mlp\"\nhidden = [32]").footprint(MNIST);
        assert_eq!(f.parameters, 25_450);
        // Maxout units of 5 pieces (Goodfellow et al. 2013's MNIST net): five times the pieces.
        let f = config("kind = \"mlp\"\nhidden = [240, 240]\nmaxout_pieces = 5").footprint(MNIST);
        assert_eq!(f.parameters, 785 * 1200 + 241 * 1200 + 241 * 10);
    }

    #[test]
    fn every_family_fits_as_configured_and_is_refused_when_huge() {
        for (normal, huge, key) in [
            (
                "kind = \"mlp\"",
                "kind = \"mlp\"\nhidden = [20000000]",
                "model.hidden",
            ),
            (
                "kind = \"cnn\"",
                "kind = \"cnn\"\nchannels = [6, 200000]",
                "model.channels",
            ),
            (
                "kind = \"cnn\"",
                "kind = \"cnn\"\ndense = [100000000]",
                "model.dense",
            ),
            (
                "kind = \"autoencoder\"",
                "kind = \"autoencoder\"\nencoder = [50000000]",
                "model.encoder",
            ),
            (
                "kind = \"pca\"",
                "kind = \"pca\"\ncomponents = 20000000000",
                "model.components",
            ),
            (
                "kind = \"vae\"",
                "kind = \"vae\"\nhidden = [50000000]",
                "model.hidden",
            ),
            (
                "kind = \"gan\"",
                "kind = \"gan\"\ngenerator = [50000000]",
                "model.generator",
            ),
            (
                "kind = \"gan\"",
                "kind = \"gan\"\ndiscriminator = [50000000]",
                "model.discriminator",
            ),
            (
                "kind = \"dcgan\"",
                "kind = \"dcgan\"\ng_features = 100000",
                "model.g_features",
            ),
            (
                "kind = \"dcgan\"",
                "kind = \"dcgan\"\nd_features = 100000",
                "model.d_features",
            ),
        ] {
            config(normal).check_memory(MNIST, 2 * GIB).unwrap();
            let e = config(huge).check_memory(MNIST, 8 * GIB).unwrap_err().0;
            assert!(e.contains(&format!("key `{key}`")), "{huge}: {e}");
            assert!(e.contains("8.0 GiB of memory is available"), "{e}");
        }
    }

    #[test]
    fn a_huge_batch_names_the_batch_size() {
        let mut c = config("kind = \"cnn\"\nchannels = [512, 512]\npadding = [2, 0]");
        c.train.batch_size = 1_000_000;
        let e = c.check_memory(MNIST, 8 * GIB).unwrap_err().0;
        assert!(e.contains("key `train.batch_size`"), "{e}");
    }
}
