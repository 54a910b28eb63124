//! The generative adversarial network of Goodfellow et al. (2014), "Generative Adversarial
//! Nets" (NeurIPS), with multilayer perceptrons: a generator `G(z)` from noise `z ~ N(0, I)` to
//! pixels in `[0, 1]` (ReLU hidden units, logistic outputs, as the paper's MNIST generator) and a
//! discriminator `D(x)` from pixels to the logit of "real" (leaky-ReLU hidden units with dropout,
//! where the paper used maxout units with dropout).
//!
//! Both networks speak flat images `[batch, pixels]` in `[0, 1]`, as the convolutional pair of
//! [`crate::dcgan`] does, so one training task serves both.

use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu, sigmoid};
use nnlab_config::GanSpec;

/// Slope of the discriminators' leaky ReLUs for negative inputs (Radford et al. 2016).
pub const LEAKY_SLOPE: f64 = 0.2;

/// A generator: noise `[batch, latent]` to images `[batch, pixels]` in `[0, 1]`.
pub trait Generator: burn::module::Module {
    /// Dimension of the noise.
    fn latent(&self) -> usize;
    /// `G(z)`.
    fn generate(&self, z: Tensor<2>) -> Tensor<2>;
}

/// A discriminator: images `[batch, pixels]` in `[0, 1]` to logits `[batch, 1]` of "real".
pub trait Discriminator: burn::module::Module {
    /// The logit of `D(x)`.
    fn logit(&self, x: Tensor<2>) -> Tensor<2>;
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
}

/// The MLP generator.
#[derive(Module, Debug)]
pub struct MlpGenerator {
    /// Dense layers; ReLU between them, logistic at the end.
    pub layers: Vec<Linear>,
}

/// The MLP discriminator.
#[derive(Module, Debug)]
pub struct MlpDiscriminator {
    /// Dense layers; leaky ReLU between them, one logit at the end.
    pub layers: Vec<Linear>,
    /// Dropout on each hidden layer's output, when configured.
    pub dropout: Option<Dropout>,
}

fn dense(ws: &[usize], device: &Device) -> Vec<Linear> {
    ws.windows(2)
        .map(|w| {
            LinearConfig::new(w[0], w[1])
                .with_initializer(Initializer::XavierUniform { gain: 1.0 })
                .init(device)
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
    }

    /// Builds the generator on `device`.
    pub fn init_generator(&self, device: &Device) -> MlpGenerator {
        let mut ws = vec![self.latent];
        ws.extend(&self.generator);
        ws.push(self.pixels);
        MlpGenerator {
            layers: dense(&ws, device),
        }
    }

    /// Builds the discriminator on `device`.
    pub fn init_discriminator(&self, device: &Device) -> MlpDiscriminator {
        let mut ws = vec![self.pixels];
        ws.extend(&self.discriminator);
        ws.push(1);
        MlpDiscriminator {
            layers: dense(&ws, device),
            dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
        }
    }
}

impl Generator for MlpGenerator {
    fn latent(&self) -> usize {
        self.layers[0].weight.dims()[0]
    }

    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(z, |h, (i, l)| {
            let y = l.forward(h);
            if i == last { sigmoid(y) } else { relu(y) }
        })
    }
}

impl Discriminator for MlpDiscriminator {
    fn logit(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, l)| {
            let y = l.forward(h);
            if i == last {
                y
            } else {
                let a = leaky_relu(y, LEAKY_SLOPE);
                match &self.dropout {
                    Some(d) => d.forward(a),
                    None => a,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
