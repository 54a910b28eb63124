//! `[model]`: which model family, chosen by `kind`, and its settings.
//!
//! ```toml
//! [model]
//! kind = "mlp"          # the default when `kind` is left out (configs written before kinds)
//! hidden = [32]
//! activation = "relu"
//! ```

use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::init::{Lenet5Init, WeightInit};

/// Declares every model kind once: its variant, its spec, its name in `model.kind`, whether it
/// classifies and whether it generates images. The enum, the list of names, the parser of each
/// kind's table, its field names (for the unknown-key hints) and the kinds `nnlab generate` draws
/// from are all made from this one list.
macro_rules! model_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident($spec:ty) = $name:literal, classifies: $classifies:literal, generates: $generates:literal;)*) => {
        /// The model of a run, tagged by `kind`.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum ModelConfig {
            $($(#[doc = $doc])* $variant($spec),)*
        }

        impl ModelConfig {
            /// The kinds accepted in `model.kind`.
            pub const KINDS: &'static [&'static str] = &[$($name),*];

            /// Every kind with whether it classifies and whether it generates images.
            const TABLE: &'static [(&'static str, bool, bool)] =
                &[$(($name, $classifies, $generates)),*];

            /// The kinds `nnlab generate` draws images from.
            pub fn generating_kinds() -> Vec<&'static str> {
                Self::TABLE.iter().filter(|k| k.2).map(|k| k.0).collect()
            }

            /// The value of `model.kind`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)*
                }
            }

            /// Whether the model classifies (and so takes `train.loss` and reports accuracy).
            pub fn is_classifier(&self) -> bool {
                match self {
                    $(Self::$variant(_) => $classifies,)*
                }
            }

            /// Whether the model generates images from noise or a latent code.
            pub fn generates(&self) -> bool {
                match self {
                    $(Self::$variant(_) => $generates,)*
                }
            }

            /// Deserializes the `[model]` table of `kind` (the `kind` key already taken out);
            /// errors carry the path inside the table.
            pub(crate) fn from_table(
                kind: &str,
                table: toml::Table,
            ) -> Result<Self, serde_path_to_error::Error<toml::de::Error>> {
                let value = toml::Value::Table(table);
                match kind {
                    $($name => serde_path_to_error::deserialize(value).map(Self::$variant),)*
                    _ => unreachable!("kinds are checked before"),
                }
            }

            /// The keys of `kind`'s `[model]` table (none for an unknown kind).
            pub(crate) fn fields_of_kind(kind: &str) -> Vec<String> {
                match kind {
                    $($name => crate::fields_of::<$spec>(),)*
                    _ => Vec::new(),
                }
            }
        }
    };
}

model_kinds! {
    /// A multilayer perceptron classifier (the article's model).
    Mlp(MlpSpec) = "mlp", classifies: true, generates: false;
    /// A convolutional classifier in the style of LeNet-5 (LeCun et al. 1998).
    Cnn(CnnSpec) = "cnn", classifies: true, generates: false;
    /// A deep autoencoder (Hinton & Salakhutdinov 2006).
    Autoencoder(AutoencoderSpec) = "autoencoder", classifies: false, generates: false;
    /// Principal component analysis, the linear baseline of an autoencoder.
    Pca(PcaSpec) = "pca", classifies: false, generates: false;
    /// A variational autoencoder (Kingma & Welling 2014).
    Vae(VaeSpec) = "vae", classifies: false, generates: true;
    /// A generative adversarial network of two MLPs (Goodfellow et al. 2014).
    Gan(GanSpec) = "gan", classifies: false, generates: true;
    /// A deep convolutional GAN (Radford, Metz & Chintala 2016) for 28x28 images.
    Dcgan(DcganSpec) = "dcgan", classifies: false, generates: true;
    /// A restricted Boltzmann machine trained by contrastive divergence (Hinton 2002).
    Rbm(RbmSpec) = "rbm", classifies: false, generates: true;
    /// LeNet-5 as LeCun et al. (1998) built it: RBF outputs and their own loss.
    Lenet5(Lenet5Spec) = "lenet5", classifies: false, generates: false;
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::Mlp(MlpSpec::default())
    }
}

/// `kind = "mlp"`: dense layers with a nonlinearity between them, logits out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpSpec {
    /// Hidden layer widths; `[]` is multinomial logistic regression.
    pub hidden: Vec<usize>,
    /// Nonlinearity of the hidden layers.
    pub activation: Activation,
    /// Weight initialisation.
    pub init: WeightInit,
    /// Dropout rate after each hidden layer (Srivastava et al., 2014): one rate per hidden layer,
    /// or `[]` for none.
    pub dropout: Vec<f64>,
    /// Dropout rate on the input pixels.
    pub input_dropout: f64,
    /// Pieces per maxout unit (Goodfellow et al. 2013): each hidden unit passes on the largest
    /// of this many affine pieces of its input, in place of `activation`; 0 for `activation`.
    #[serde(skip_serializing_if = "is_zero")]
    pub maxout_pieces: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Default for MlpSpec {
    fn default() -> Self {
        Self {
            hidden: vec![32],
            activation: Activation::Relu,
            init: WeightInit::GlorotUniform,
            dropout: Vec::new(),
            input_dropout: 0.0,
            maxout_pieces: 0,
        }
    }
}

impl MlpSpec {
    /// The dropout rate after hidden layer `i` (0 when none is set).
    pub fn dropout_after(&self, i: usize) -> f64 {
        self.dropout.get(i).copied().unwrap_or(0.0)
    }

    /// Whether any dropout is on.
    pub fn has_dropout(&self) -> bool {
        self.input_dropout > 0.0 || self.dropout.iter().any(|&p| p > 0.0)
    }
}

/// Subsampling between convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The largest value of each 2x2 window.
    Max,
    /// The mean of each 2x2 window (LeNet-5's subsampling, without its trainable coefficients).
    Avg,
}

/// `kind = "cnn"`: convolutions (each followed by the activation and 2x2 pooling), then dense
/// layers, then logits; LeNet-5's layout by default (LeCun et al. 1998): 6 and 16 feature maps
/// of 5x5 kernels, dense layers of 120 and 84 units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CnnSpec {
    /// Feature maps of each convolution.
    pub channels: Vec<usize>,
    /// Side of the square kernels.
    pub kernel: usize,
    /// Zero padding of each convolution (LeNet-5 saw 32x32 inputs; padding the 28x28 MNIST
    /// images by 2 gives its 28x28 first maps).
    pub padding: Vec<usize>,
    /// Subsampling after each convolution.
    pub pool: Pooling,
    /// Widths of the dense layers after the convolutions.
    pub dense: Vec<usize>,
    /// Nonlinearity after every convolution and hidden dense layer.
    pub activation: Activation,
    /// Batch normalisation after each convolution (Ioffe & Szegedy 2015).
    pub batch_norm: bool,
    /// Dropout rate before each dense layer.
    pub dropout: f64,
    /// Weight initialisation of every layer.
    pub init: WeightInit,
}

impl Default for CnnSpec {
    fn default() -> Self {
        Self {
            channels: vec![6, 16],
            kernel: 5,
            padding: vec![2, 0],
            pool: Pooling::Max,
            dense: vec![120, 84],
            activation: Activation::Relu,
            batch_norm: false,
            dropout: 0.0,
            init: WeightInit::GlorotUniform,
        }
    }
}

/// How reconstructions are scored in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reconstruction {
    /// Cross-entropy between pixel intensities and the logistic outputs, summed over pixels
    /// (Hinton & Salakhutdinov 2006; the Bernoulli likelihood of Kingma & Welling 2014).
    Bce,
    /// Squared error summed over pixels.
    Mse,
}

/// `kind = "autoencoder"`: an encoder of dense layers down to a code, and the mirror-image
/// decoder back to the pixels (logistic outputs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoencoderSpec {
    /// Widths of the encoder's hidden layers; the decoder mirrors them.
    pub encoder: Vec<usize>,
    /// Units of the code layer.
    pub code: usize,
    /// Nonlinearity of the hidden layers (Hinton & Salakhutdinov: logistic).
    pub activation: Activation,
    /// Nonlinearity of the code layer (Hinton & Salakhutdinov: linear).
    pub code_activation: Activation,
    /// The training loss.
    pub reconstruction: Reconstruction,
    /// Weight initialisation.
    pub init: WeightInit,
    /// Epochs of greedy layer-wise pretraining per layer (Hinton & Salakhutdinov 2006): each
    /// encoder layer trained as an RBM on the layer below's hidden probabilities, then the stack
    /// unrolled into the encoder and decoder before fine-tuning; 0 for none.
    pub pretrain_epochs: usize,
    /// Images per step of the pretraining (default: `train.batch_size`). Hinton &
    /// Salakhutdinov pretrained on batches of 100 and fine-tuned by conjugate gradients on
    /// batches of 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretrain_batch_size: Option<usize>,
}

impl Default for AutoencoderSpec {
    fn default() -> Self {
        Self {
            encoder: vec![1000, 500, 250],
            code: 30,
            activation: Activation::Sigmoid,
            code_activation: Activation::Identity,
            reconstruction: Reconstruction::Bce,
            init: WeightInit::GlorotUniform,
            pretrain_epochs: 0,
            pretrain_batch_size: None,
        }
    }
}

/// `kind = "pca"`: the `components` leading principal components of the training images,
/// fitted in closed form in one pass (one epoch); a linear autoencoder's optimum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PcaSpec {
    /// Number of components kept.
    pub components: usize,
}

impl Default for PcaSpec {
    fn default() -> Self {
        Self { components: 30 }
    }
}

/// `kind = "vae"`: a Gaussian encoder `q(z|x)` and a Bernoulli decoder `p(x|z)`, each an MLP,
/// trained on the evidence lower bound with the reparameterisation trick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaeSpec {
    /// Widths of the encoder's hidden layers; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Dimension of the latent code `z`.
    pub latent: usize,
    /// Nonlinearity of the hidden layers.
    pub activation: Activation,
}

impl Default for VaeSpec {
    fn default() -> Self {
        Self {
            hidden: vec![400],
            latent: 20,
            activation: Activation::Relu,
        }
    }
}

/// The units of one layer of a restricted Boltzmann machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// Logistic units with states 0 and 1.
    Binary,
    /// Linear units with unit-variance Gaussian noise (Hinton's practical guide, section 13).
    Gaussian,
}

/// `kind = "rbm"`: visible units (the pixels, read as probabilities when binary, standardised
/// per pixel when Gaussian) and hidden units, trained by contrastive divergence with momentum and
/// weight decay as Hinton's practical guide (2010) sets them: `train.lr` is the step size,
/// `train.weight_decay` the L2 cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RbmSpec {
    /// Hidden units.
    pub hidden: usize,
    /// Gibbs steps of contrastive divergence (CD-k).
    pub cd_k: usize,
    /// Persistent CD (Tieleman 2008): the negative phase continues one chain per example of a
    /// batch from step to step instead of restarting at the data.
    pub persistent: bool,
    /// Momentum of the updates (the guide: 0.5 at first, then 0.9 once learning settles).
    pub momentum: f64,
    /// The momentum after the first `momentum_epochs` epochs (the guide's 0.9); absent for a
    /// constant `momentum`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum_final: Option<f64>,
    /// The epochs trained at `momentum` before `momentum_final` takes over, a switch (Hinton &
    /// Salakhutdinov's 2006 code: 5), unlike `train.sgd.momentum_epochs`' linear rise.
    pub momentum_epochs: usize,
    /// The visible units: `binary` (a Bernoulli RBM) or `gaussian` (a Gaussian-binary RBM).
    pub visible_units: Units,
    /// The hidden units: `binary`, or `gaussian` (linear, as the code layer of Hinton &
    /// Salakhutdinov's deep autoencoder).
    pub hidden_units: Units,
}

impl Default for RbmSpec {
    fn default() -> Self {
        Self {
            hidden: 500,
            cd_k: 1,
            persistent: false,
            momentum: 0.5,
            momentum_final: None,
            momentum_epochs: 5,
            visible_units: Units::Binary,
            hidden_units: Units::Binary,
        }
    }
}

impl RbmSpec {
    /// The momentum of the steps in `epoch` (1-based): `momentum` for the first
    /// `momentum_epochs` epochs, then `momentum_final` where it is set.
    pub fn momentum_at(&self, epoch: usize) -> f64 {
        match self.momentum_final {
            Some(end) if epoch > self.momentum_epochs => end,
            _ => self.momentum,
        }
    }
}

/// `kind = "gan"`: a generator MLP from noise to pixels and a discriminator MLP from pixels to a
/// logit, trained against each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GanSpec {
    /// Dimension of the noise `z ~ N(0, I)`.
    pub latent: usize,
    /// Widths of the generator's hidden layers.
    pub generator: Vec<usize>,
    /// Nonlinearity of the generator's hidden layers (`leaky_relu` here has slope 0.2, as the
    /// discriminator's).
    pub generator_activation: Activation,
    /// Widths of the discriminator's hidden layers (leaky ReLU, slope 0.2, or maxout units).
    pub discriminator: Vec<usize>,
    /// Dropout rate in the discriminator's hidden layers.
    pub dropout: f64,
    /// How the generator's output and the discriminator's input are scaled.
    pub output: GanOutput,
    /// Pieces of the discriminator's maxout units (Goodfellow et al. 2013; the 2014 GAN: 5);
    /// 0 for leaky-ReLU units.
    pub maxout_pieces: usize,
    /// Dropout rate on the discriminator's input pixels (the 2014 GAN: 0.2).
    pub input_dropout: f64,
    /// The noise `z`: `normal` (N(0, I)) or `uniform` (U(-sqrt 3, sqrt 3) per dimension, unit
    /// variance, as the 2014 GAN's code draws it).
    pub noise: Noise,
    /// The generator's weights uniform in `+-generator_init` (the 2014 GAN: 0.05); 0 for
    /// Glorot-uniform.
    pub generator_init: f64,
    /// The discriminator's weights uniform in `+-discriminator_init` (the 2014 GAN: 0.005); 0
    /// for Glorot-uniform.
    pub discriminator_init: f64,
    /// After every step, each unit's incoming weight vector (each maxout piece's) in both
    /// networks is scaled back to this norm if longer (pylearn2's `max_col_norm`; the 2014 GAN's
    /// TFD and CIFAR-10 configs: 1.9365, its MNIST one: none); 0 for no cap.
    pub max_col_norm: f64,
    /// The factor on the discriminator's loss in its gradient step (the 2014 GAN's code: 0.5,
    /// the mean of its real and fake terms); the reported `d_loss` is the unscaled sum.
    pub d_loss_scale: f64,
    /// Start the generator's logistic outputs at the training images' mean (each output bias
    /// the logit of its pixel's mean over all the training images, validation ones included,
    /// clamped to [1e-3, 1 - 1e-3]), as the 2014 GAN's code did (pylearn2's
    /// `init_sigmoid_bias_from_marginals`).
    pub output_bias_from_data: bool,
    /// Update both networks at once from the same fakes, the generator's gradient taken
    /// through the discriminator as it was before its step, as the 2014 GAN's code does (one
    /// SGD step of both, each network on the gradient of its own objective); `false`: the
    /// discriminator steps first, then the generator on fresh noise through the updated
    /// discriminator.
    pub simultaneous: bool,
    /// With `simultaneous`, the generator's loss drops the units that the discriminator's own
    /// pass over those fakes drops (the same dropout masks, as the 2014 GAN's code, where one
    /// forward pass serves both objectives); its pass over real images draws its own. `false`:
    /// the generator's pass draws masks of its own. Without dropout it changes nothing.
    pub shared_dropout_masks: bool,
}

/// The distribution of a GAN's noise (`model.noise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Noise {
    /// Standard normal.
    Normal,
    /// Uniform on `[-sqrt 3, sqrt 3]`: mean 0, variance 1.
    Uniform,
}

impl Default for GanSpec {
    fn default() -> Self {
        Self {
            latent: 100,
            generator: vec![1200, 1200],
            generator_activation: Activation::Relu,
            discriminator: vec![240, 240],
            dropout: 0.3,
            output: GanOutput::Logistic,
            maxout_pieces: 0,
            input_dropout: 0.0,
            noise: Noise::Normal,
            generator_init: 0.0,
            discriminator_init: 0.0,
            max_col_norm: 0.0,
            d_loss_scale: 1.0,
            output_bias_from_data: false,
            simultaneous: false,
            shared_dropout_masks: false,
        }
    }
}

/// The pixel scale a GAN's two networks work in (`model.output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GanOutput {
    /// Pixels in `[0, 1]`: a logistic generator output, as Goodfellow et al. (2014).
    Logistic,
    /// Pixels in `[-1, 1]`: a tanh generator output, and real images scaled to `[-1, 1]` before
    /// the discriminator sees them (Radford et al. 2016's recipe).
    Tanh,
}

/// `kind = "dcgan"`: Radford et al.'s convolutional generator and discriminator, at 28x28.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DcganSpec {
    /// Dimension of the noise `z ~ N(0, I)`.
    pub latent: usize,
    /// Feature maps of the generator's last hidden layer (the first has twice as many).
    pub g_features: usize,
    /// Feature maps of the discriminator's first layer (the second has twice as many).
    pub d_features: usize,
}

impl Default for DcganSpec {
    fn default() -> Self {
        Self {
            latent: 100,
            g_features: 32,
            d_features: 32,
        }
    }
}

/// `kind = "lenet5"`: LeNet-5 exactly as LeCun, Bottou, Bengio & Haffner (1998) describe it
/// (32x32 input field, scaled tanh, trainable subsampling, C3's connection table, Euclidean RBF
/// outputs on fixed 7x12 bitmaps), trained on their MAP criterion; for 28x28 images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lenet5Spec {
    /// Train by the stochastic diagonal Levenberg-Marquardt method (their appendix C): each
    /// parameter steps by `train.lr / (sdlm_mu + h)` times its gradient summed over the batch,
    /// `h` its Gauss-Newton second derivative averaged over `sdlm_samples` training images,
    /// re-estimated before every epoch (each estimate summarised in the run's `curvature.csv`:
    /// per parameter tensor, `h`'s range and the step sizes it gives). Needs `train.optimizer =
    /// "sgd"` without momentum; when false, `train.optimizer` trains on the batch's mean gradient
    /// as for any model.
    pub sdlm: bool,
    /// `mu`, which keeps the step bounded where the curvature is small (the paper: 0.02).
    pub sdlm_mu: f64,
    /// Images the curvature is averaged over (the paper: 500).
    pub sdlm_samples: usize,
    /// Training images between two estimates of the curvature (besides the one at the start of
    /// every epoch; the paper: one pass, 60,000).
    pub sdlm_every: usize,
    /// Compute the Gauss-Newton diagonal exactly (one backward pass per image and F6 output)
    /// instead of estimating it with random signs (the paper's recursion approximates it
    /// differently, layer by layer).
    pub sdlm_exact: bool,
    /// Compute the curvature as the paper does (appendix C): second derivatives backpropagated
    /// layer by layer without their off-diagonal terms, a shared weight's summed over its
    /// connections (instead of the Gauss-Newton diagonal; not with `sdlm_exact`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sdlm_layerwise: bool,
    /// The constant `j` of the MAP criterion (eq. 9), which the paper leaves open.
    pub map_j: f64,
    /// How the weights start: `"fan_in"`, uniform in `+-2.4 / F_i` for every weight and bias
    /// as the paper prints it; `"sqrt_fan_in"`, uniform in `+-1 / sqrt(F_i)` with zero biases
    /// and subsampling coefficients 0.5, as LeCun and Bottou's Lush demo of LeNet-5 starts it.
    #[serde(skip_serializing_if = "Lenet5Init::is_default")]
    pub init: Lenet5Init,
}

impl Default for Lenet5Spec {
    fn default() -> Self {
        Self {
            sdlm: true,
            sdlm_mu: 0.02,
            sdlm_samples: 500,
            sdlm_every: 60_000,
            sdlm_exact: false,
            sdlm_layerwise: false,
            map_j: 1.0,
            init: Lenet5Init::FanIn,
        }
    }
}
