//! The generative adversarial network of Goodfellow et al. (2014), "Generative Adversarial
//! Nets" (NeurIPS), with multilayer perceptrons: a generator `G(z)` from noise `z ~ N(0, I)` to
//! pixels in `[0, 1]` (ReLU hidden units, logistic outputs, as the paper's MNIST generator) and a
//! discriminator `D(x)` from pixels to the logit of "real" (leaky-ReLU hidden units with dropout,
//! where the paper used maxout units with dropout).
//!
//! Both networks speak flat images `[batch, pixels]` in `[0, 1]`, as the convolutional pair of
//! [`crate::dcgan`] does, so one training task serves both. With [`GanOutput::Tanh`] they work
//! in `[-1, 1]` inside (Radford et al. 2016): the generator ends in `tanh(y)` and the
//! discriminator first maps `x` to `2x - 1`; the generator hands out `(tanh(y) + 1) / 2`, the
//! same image in `[0, 1]`.

use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{sigmoid, tanh};
use nnlab_config::{Activation, GanOutput, GanSpec};

use crate::dense::{dense, dense_leaky};

/// Slope of the discriminators' leaky ReLUs for negative inputs (Radford et al. 2016).
pub const LEAKY_SLOPE: f64 = 0.2;

/// A generator: noise `[batch, latent]` to images `[batch, pixels]` in `[0, 1]`.
pub trait Generator: burn::module::Module {
    /// Dimension of the noise.
    fn latent(&self) -> usize;
    /// `G(z)`.
    fn generate(&self, z: Tensor<2>) -> Tensor<2>;

    /// The generator as a sequence of layers, each with the nonlinearity after it by name
    /// (`relu`, `leaky_relu:0.2`, `sigmoid`, `tanh01` for `(tanh + 1) / 2`, ...), for samplers
    /// outside burn; `None` for a generator made otherwise.
    fn layers(&self) -> Option<Vec<GeneratorLayer<'_>>> {
        None
    }
}

/// One layer of a generator as a sampler outside burn sees it (see [`Generator::layers`]).
#[derive(Debug, Clone)]
pub enum GeneratorLayer<'a> {
    /// `x W + b` on a flat vector, then the named nonlinearity.
    Dense(&'a Linear, String),
    /// Batch normalisation with its running statistics (evaluation mode) on `[channels, h, w]`,
    /// then the nonlinearity.
    BatchNorm(&'a burn::nn::BatchNorm, String),
    /// A transposed convolution on `[channels, side, side]`, then the nonlinearity.
    ConvTranspose(&'a burn::nn::conv::ConvTranspose2d, String),
}

/// A discriminator: images `[batch, pixels]` in `[0, 1]` to logits `[batch, 1]` of "real".
pub trait Discriminator: burn::module::Module {
    /// The logit of `D(x)`.
    fn logit(&self, x: Tensor<2>) -> Tensor<2>;

    /// Dropout masks for one training pass over `batch` examples, in the order the pass applies
    /// them, each `[batch, width]` of 0 and `1 / keep` (inverted dropout); empty where the
    /// discriminator drops nothing (or is not training).
    fn dropout_masks(&self, _batch: usize, _device: &Device) -> Vec<Tensor<2>> {
        Vec::new()
    }

    /// [`logit`](Self::logit) with the given [`dropout_masks`](Self::dropout_masks) in place of
    /// fresh ones, so that two passes over the same input drop the same units; empty `masks`:
    /// fresh ones, as `logit`.
    fn logit_masked(&self, x: Tensor<2>, masks: &[Tensor<2>]) -> Tensor<2> {
        assert!(masks.is_empty(), "this discriminator draws its own masks");
        self.logit(x)
    }
}

/// Configuration of an MLP generator and discriminator.
#[derive(Config, Debug)]
pub struct GanConfig {
    /// Pixels per image.
    pub pixels: usize,
    /// Dimension of the noise.
    pub latent: usize,
    /// Widths of the generator's hidden layers.
    pub generator: Vec<usize>,
    /// Widths of the discriminator's hidden layers.
    pub discriminator: Vec<usize>,
    /// Dropout rate in the discriminator's hidden layers.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Nonlinearity of the generator's hidden layers.
    #[config(default = "Activation::Relu")]
    pub generator_activation: Activation,
    /// The pixel scale both networks work in.
    #[config(default = "GanOutput::Logistic")]
    pub output: GanOutput,
    /// Pieces of the discriminator's maxout units; 0 for leaky-ReLU units.
    #[config(default = 0)]
    pub maxout_pieces: usize,
    /// Dropout rate on the discriminator's input pixels.
    #[config(default = 0.0)]
    pub input_dropout: f64,
    /// The generator's weights uniform in `+-generator_init`; 0 for Glorot-uniform.
    #[config(default = 0.0)]
    pub generator_init: f64,
    /// The discriminator's weights uniform in `+-discriminator_init`; 0 for Glorot-uniform.
    #[config(default = 0.0)]
    pub discriminator_init: f64,
}

/// The MLP generator.
#[derive(Module, Debug)]
pub struct MlpGenerator {
    /// Dense layers; the hidden nonlinearity between them, logistic or tanh at the end.
    pub layers: Vec<Linear>,
    /// Nonlinearity of the hidden layers.
    #[module(skip)]
    pub activation: Activation,
    /// Logistic or tanh outputs.
    #[module(skip)]
    pub output: GanOutput,
}

/// The MLP discriminator.
#[derive(Module, Debug)]
pub struct MlpDiscriminator {
    /// Dense layers; leaky ReLU or maxout units between them, one logit at the end. With
    /// maxout, a hidden layer has `units * pieces` outputs.
    pub layers: Vec<Linear>,
    /// Dropout on each hidden layer's output, when configured.
    pub dropout: Option<Dropout>,
    /// Dropout on the input pixels, when configured.
    pub input_dropout: Option<Dropout>,
    /// Pieces per maxout unit; 0 for leaky-ReLU units.
    #[module(skip)]
    pub maxout_pieces: usize,
    /// With tanh outputs, images are mapped from `[0, 1]` to `[-1, 1]` first.
    #[module(skip)]
    pub output: GanOutput,
}

/// Dense layers of widths `ws`: Glorot-uniform weights and biases when `range` is 0 (burn's
/// `Linear` draws both from its initializer), else weights uniform in `+-range` and zero
/// biases, as pylearn2's `irange`.
fn layers(ws: &[usize], range: f64, device: &Device) -> Vec<Linear> {
    ws.windows(2)
        .map(|w| {
            let init = if range > 0.0 {
                Initializer::Uniform {
                    min: -range,
                    max: range,
                }
            } else {
                Initializer::XavierUniform { gain: 1.0 }
            };
            let mut l = LinearConfig::new(w[0], w[1])
                .with_initializer(init)
                .init(device);
            if range > 0.0 {
                l.bias = l
                    .bias
                    .map(|b| burn::module::Param::from_tensor(b.val().zeros_like()));
            }
            l
        })
        .collect()
}

impl GanConfig {
    /// The pair a config's `[model]` section describes, for images of `pixels` pixels.
    pub fn from_spec(spec: &GanSpec, pixels: usize) -> Self {
        Self::new(
            pixels,
            spec.latent,
            spec.generator.clone(),
            spec.discriminator.clone(),
        )
        .with_dropout(spec.dropout)
        .with_generator_activation(spec.generator_activation)
        .with_output(spec.output)
        .with_maxout_pieces(spec.maxout_pieces)
        .with_input_dropout(spec.input_dropout)
        .with_generator_init(spec.generator_init)
        .with_discriminator_init(spec.discriminator_init)
    }

    /// Builds the generator on `device`.
    pub fn init_generator(&self, device: &Device) -> MlpGenerator {
        let mut ws = vec![self.latent];
        ws.extend(&self.generator);
        ws.push(self.pixels);
        MlpGenerator {
            layers: layers(&ws, self.generator_init, device),
            activation: self.generator_activation,
            output: self.output,
        }
    }

    /// Builds the discriminator on `device`.
    pub fn init_discriminator(&self, device: &Device) -> MlpDiscriminator {
        // A maxout unit is `pieces` affine units whose largest value it passes on.
        let pieces = self.maxout_pieces.max(1);
        let mut inputs = self.pixels;
        let mut built = Vec::new();
        for &units in &self.discriminator {
            built
                .push(layers(&[inputs, units * pieces], self.discriminator_init, device).remove(0));
            inputs = units;
        }
        built.push(layers(&[inputs, 1], self.discriminator_init, device).remove(0));
        MlpDiscriminator {
            layers: built,
            dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
            input_dropout: (self.input_dropout > 0.0)
                .then(|| DropoutConfig::new(self.input_dropout).init()),
            maxout_pieces: self.maxout_pieces,
            output: self.output,
        }
    }
}

impl MlpGenerator {
    /// Sets the output layer's biases so that, before training, each output is the given
    /// pixel mean (`means`, `[pixels]` in `[0, 1]`, clamped to `[1e-3, 1 - 1e-3]`): the logit
    /// of the mean for logistic outputs, `atanh(2m - 1)` for tanh ones.
    pub fn set_output_bias(&mut self, means: &[f32], device: &Device) {
        let bias: Vec<f32> = means
            .iter()
            .map(|&m| {
                let m = m.clamp(1e-3, 1.0 - 1e-3);
                match self.output {
                    GanOutput::Logistic => (m / (1.0 - m)).ln(),
                    GanOutput::Tanh => (2.0 * m - 1.0).atanh(),
                }
            })
            .collect();
        let n = bias.len();
        let last = self.layers.last_mut().expect("a generator has layers");
        last.bias = Some(burn::module::Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [n]),
            device,
        )));
    }
}

impl Generator for MlpGenerator {
    fn latent(&self) -> usize {
        self.layers[0].weight.dims()[0]
    }

    fn layers(&self) -> Option<Vec<GeneratorLayer<'_>>> {
        let last = self.layers.len() - 1;
        Some(
            self.layers
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let name = match (i == last, self.output) {
                        (false, _) if self.activation == Activation::LeakyRelu => {
                            format!("leaky_relu:{LEAKY_SLOPE}")
                        }
                        (false, _) => activation_name(self.activation),
                        (true, GanOutput::Logistic) => "sigmoid".into(),
                        (true, GanOutput::Tanh) => "tanh01".into(),
                    };
                    GeneratorLayer::Dense(l, name)
                })
                .collect(),
        )
    }

    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(z, |h, (i, l)| {
            match (i == last, self.output) {
                // Leaky units take the discriminators' slope of 0.2 (Radford et al. 2016), not
                // the 0.01 of `leaky_relu` elsewhere: with 0.01 the generator collapses.
                (false, _) if self.activation == Activation::LeakyRelu => {
                    dense_leaky(l, h, LEAKY_SLOPE)
                }
                (false, _) => dense(l, h, self.activation),
                (true, GanOutput::Logistic) => sigmoid(dense(l, h, Activation::Identity)),
                (true, GanOutput::Tanh) => (tanh(dense(l, h, Activation::Identity)) + 1.0) / 2.0,
            }
        })
    }
}

impl MlpDiscriminator {
    /// Width of hidden layer `i`'s output (after maxout).
    fn hidden_width(&self, i: usize) -> usize {
        let width = self.layers[i].weight.dims()[1];
        match self.maxout_pieces {
            0 => width,
            k => width / k,
        }
    }
}

/// Applies dropout `d`: `mask` when one is given (of `x`'s shape), else a fresh one.
fn apply_dropout(d: &Option<Dropout>, x: Tensor<2>, mask: Option<&Tensor<2>>) -> Tensor<2> {
    match (d, mask) {
        (None, _) => x,
        (Some(_), Some(m)) => {
            assert_eq!(
                m.dims(),
                x.dims(),
                "a dropout mask of another layer's shape"
            );
            x * m.clone()
        }
        (Some(d), None) => d.forward(x),
    }
}

/// `[batch, width]` of 0 (probability `d.prob`) and `1 / (1 - d.prob)`, as `d` would draw them
/// now; `None` where `d` drops nothing in this mode (the conditions of burn's
/// `Dropout::forward`).
fn draw_mask(
    d: &Option<Dropout>,
    batch: usize,
    width: usize,
    device: &Device,
) -> Option<Tensor<2>> {
    let d = d.as_ref()?;
    if !d.training.is_enabled() || !device.is_autodiff() || d.prob == 0.0 {
        return None;
    }
    let keep = 1.0 - d.prob;
    let m = Tensor::<2>::random([batch, width], Distribution::Bernoulli(keep), device);
    Some(m * (1.0 / keep))
}

impl Discriminator for MlpDiscriminator {
    fn logit(&self, x: Tensor<2>) -> Tensor<2> {
        self.logit_masked(x, &[])
    }

    fn dropout_masks(&self, batch: usize, device: &Device) -> Vec<Tensor<2>> {
        let pixels = self.layers[0].weight.dims()[0];
        let input = draw_mask(&self.input_dropout, batch, pixels, device);
        let hidden = (0..self.layers.len() - 1)
            .map(|i| draw_mask(&self.dropout, batch, self.hidden_width(i), device));
        // Masks exist for all of a pass's dropout sites or for none of them.
        std::iter::once(input).chain(hidden).flatten().collect()
    }

    fn logit_masked(&self, x: Tensor<2>, masks: &[Tensor<2>]) -> Tensor<2> {
        let x = match self.output {
            GanOutput::Logistic => x,
            GanOutput::Tanh => x * 2.0 - 1.0,
        };
        // The masks given, in the order `dropout_masks` draws them: the input's first (when it
        // drops any), then each hidden layer's.
        let mut given = masks.iter();
        let mut next = |d: &Option<Dropout>| match d {
            Some(_) if !masks.is_empty() => Some(given.next().expect("a mask for every dropout")),
            _ => None,
        };
        let x = apply_dropout(&self.input_dropout, x, next(&self.input_dropout));
        let last = self.layers.len() - 1;
        let logit = self.layers.iter().enumerate().fold(x, |h, (i, l)| {
            if i == last {
                dense(l, h, Activation::Identity)
            } else {
                let a = match self.maxout_pieces {
                    0 => dense_leaky(l, h, LEAKY_SLOPE),
                    k => crate::maxout::maxout(dense(l, h, Activation::Identity), k),
                };
                apply_dropout(&self.dropout, a, next(&self.dropout))
            }
        });
        assert!(given.next().is_none(), "more masks than dropout layers");
        logit
    }
}

/// An activation's name for samplers outside burn (`leaky_relu` with its slope after a colon).
pub fn activation_name(a: Activation) -> String {
    match a {
        Activation::LeakyRelu => format!("leaky_relu:{}", Activation::LEAKY_SLOPE),
        other => other.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    /// The output biases start at the logit of each pixel's mean (a bias-only generator would
    /// draw the mean image).
    #[test]
    fn output_bias_from_pixel_means() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let mut g = GanConfig::new(4, 2, vec![3], vec![3]).init_generator(&device);
        g.set_output_bias(&[0.5, 0.9, 0.0, 1.0], &device);
        let b: Vec<f32> = g.layers[1]
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_into_vec()
            .unwrap();
        let logit = |m: f32| (m / (1.0 - m)).ln();
        let want = [0.0, logit(0.9), logit(1e-3), logit(1.0 - 1e-3)];
        for (got, w) in b.iter().zip(want) {
            assert!((got - w).abs() < 1e-5, "{b:?}");
        }
    }

    use super::*;

    /// Masks of ones (keep everything, scale 1) give the logits of the discriminator without
    /// dropout; one set of drawn masks gives the same logits twice; fresh masks, others.
    #[test]
    fn given_masks_replace_fresh_ones() {
        let _rng = crate::rng_lock();
        let device = Device::flex().autodiff();
        let spec = GanSpec {
            maxout_pieces: 3,
            dropout: 0.5,
            input_dropout: 0.2,
            ..GanSpec::default()
        };
        let mut c = GanConfig::from_spec(&spec, 12);
        c.discriminator = vec![6, 5];
        let d = c.init_discriminator(&device);
        let plain_device = Device::flex();
        let x_plain = Tensor::<2>::random([4, 12], Distribution::Uniform(0.0, 1.0), &plain_device);
        let x = Tensor::<2>::from_data(x_plain.to_data(), &device);
        let values = |t: Tensor<2>| -> Vec<f32> { t.into_data().try_into_vec().unwrap() };
        let masks = d.dropout_masks(4, &device);
        // The input's [4, 12], then one per hidden layer of maxout units: [4, 6] and [4, 5].
        let dims: Vec<[usize; 2]> = masks.iter().map(|m| m.dims()).collect();
        assert_eq!(dims, vec![[4, 12], [4, 6], [4, 5]]);
        let ones: Vec<Tensor<2>> = masks.iter().map(|m| m.ones_like()).collect();
        let plain = values(d.valid().logit(x_plain));
        let with_ones = values(d.logit_masked(x.clone(), &ones));
        for (a, b) in plain.iter().zip(&with_ones) {
            assert!((a - b).abs() < 1e-6, "{plain:?} {with_ones:?}");
        }
        // Inverted dropout: each value 0 or 1 / keep, about 1 on average.
        for (m, keep) in masks.iter().zip([0.8f32, 0.5, 0.5]) {
            let v = values(m.clone());
            assert!(
                v.iter().all(|&a| a == 0.0 || (a - 1.0 / keep).abs() < 1e-6),
                "{v:?}"
            );
            assert!(v.contains(&0.0) && v.iter().any(|&a| a > 0.0), "{v:?}");
        }
        let once = values(d.logit_masked(x.clone(), &masks));
        assert_eq!(once, values(d.logit_masked(x.clone(), &masks)));
        assert_ne!(once, values(d.logit(x.clone())));
        // Not training (or not on an autodiff device), nothing is dropped and nothing is drawn.
        assert!(d.valid().dropout_masks(4, &plain_device).is_empty());
    }

    #[test]
    fn shapes() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let c = GanConfig::from_spec(&GanSpec::default(), 784);
        let g = c.init_generator(&device);
        let d = c.init_discriminator(&device);
        assert_eq!(g.latent(), 100);
        let x = g.generate(Tensor::zeros([4, 100], &device));
        assert_eq!(x.dims(), [4, 784]);
        assert_eq!(d.logit(x).dims(), [4, 1]);
        // 100-1200-1200-784 and 784-240-240-1.
        assert_eq!(g.num_params(), 101 * 1200 + 1201 * 1200 + 1201 * 784);
        assert_eq!(d.num_params(), 785 * 240 + 241 * 240 + 241);
    }

    /// The tanh recipe is the logistic one seen through `x -> 2x - 1`: with the same weights the
    /// generator hands out `(tanh(y) + 1) / 2 = sigmoid(2y)` where the logistic one gives
    /// `sigmoid(y)`, and the discriminator sees `2x - 1`.
    #[test]
    fn tanh_outputs_are_the_logistic_ones_rescaled() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let spec = GanSpec {
            generator: vec![16],
            discriminator: vec![8],
            generator_activation: Activation::LeakyRelu,
            dropout: 0.0,
            output: GanOutput::Tanh,
            ..GanSpec::default()
        };
        let c = GanConfig::from_spec(&spec, 12);
        let g_tanh = c.init_generator(&device);
        let d_tanh = c.init_discriminator(&device);
        let g_logistic = MlpGenerator {
            output: GanOutput::Logistic,
            ..g_tanh.clone()
        };
        let d_logistic = MlpDiscriminator {
            output: GanOutput::Logistic,
            ..d_tanh.clone()
        };
        let z = Tensor::<2>::random(
            [5, 100],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let p = g_logistic.generate(z.clone());
        let y = (p.clone() / (p.neg() + 1.0)).log();
        let expected = sigmoid(y * 2.0);
        let t = g_tanh.generate(z);
        let diff = (t.clone() - expected).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "{diff}");
        let (lo, hi) = (
            t.clone().min().into_scalar::<f32>(),
            t.max().into_scalar::<f32>(),
        );
        assert!((0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi));
        let x = Tensor::<2>::random(
            [5, 12],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let a = d_tanh.logit(x.clone());
        let b = d_logistic.logit(x * 2.0 - 1.0);
        let diff = (a - b).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-6, "{diff}");
    }
}
