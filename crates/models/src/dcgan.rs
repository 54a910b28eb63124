//! The deep convolutional GAN of Radford, Metz & Chintala (2016), "Unsupervised representation
//! learning with deep convolutional generative adversarial networks" (ICLR), scaled to 28x28:
//! strided (transposed) convolutions instead of pooling, batch normalisation in both networks
//! (not on the generator's output nor the discriminator's input), ReLU in the generator with
//! tanh at its output, leaky ReLU (slope 0.2) in the discriminator, weights drawn from
//! `N(0, 0.02)`. A convolution followed by batch norm has no bias (as in the paper's reference
//! code): batch norm subtracts the batch mean, so such a bias never changes the output and its
//! gradient is zero up to rounding, which Adam, dividing by its tiny magnitude, would turn into
//! full-size steps driven by rounding noise (different on every backend, and leaking into the
//! batch norm's running mean).
//!
//! Generator: `z [n, latent]` -> dense -> `[n, 2g, 7, 7]` -> BN, ReLU -> 4x4 transposed
//! convolution, stride 2 -> `[n, g, 14, 14]` -> BN, ReLU -> 4x4 transposed convolution, stride 2
//! -> `[n, 1, 28, 28]` -> tanh. Discriminator: `[n, 1, 28, 28]` -> 4x4 convolution, stride 2 ->
//! `[n, d, 14, 14]` -> leaky ReLU -> 4x4 convolution, stride 2 -> `[n, 2d, 7, 7]` -> BN, leaky
//! ReLU -> dense -> one logit. Both speak flat images in `[0, 1]` (see [`crate::gan`]).

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use nnlab_config::DcganSpec;

use crate::activation::Activation;
use crate::batch_norm::{self, Unit};
use crate::conv2d::{Kind, conv_transpose2d, conv_transpose2d_with, conv2d, conv2d_with};
use crate::dense::dense;
use crate::gan::{Discriminator, Generator, GeneratorLayer, LEAKY_SLOPE};

/// Side of the images (MNIST's 28).
pub const SIDE: usize = 28;

const INIT: Initializer = Initializer::Normal {
    mean: 0.0,
    std: 0.02,
};

/// Configuration of a DCGAN pair.
#[derive(Config, Debug)]
pub struct DcganConfig {
    /// Dimension of the noise.
    pub latent: usize,
    /// Feature maps of the generator's last hidden layer (the first has twice as many).
    #[config(default = 32)]
    pub g_features: usize,
    /// Feature maps of the discriminator's first layer (the second has twice as many).
    #[config(default = 32)]
    pub d_features: usize,
}

/// The convolutional generator.
#[derive(Module, Debug)]
pub struct DcganGenerator {
    /// `z` to `[2g, 7, 7]`.
    pub project: Linear,
    /// BN of the projection.
    pub bn0: BatchNorm,
    /// `[2g, 7, 7]` to `[g, 14, 14]`.
    pub up1: ConvTranspose2d,
    /// BN after `up1`.
    pub bn1: BatchNorm,
    /// `[g, 14, 14]` to `[1, 28, 28]`.
    pub up2: ConvTranspose2d,
    /// `g`.
    #[module(skip)]
    pub features: usize,
}

/// The convolutional discriminator.
#[derive(Module, Debug)]
pub struct DcganDiscriminator {
    /// `[1, 28, 28]` to `[d, 14, 14]`.
    pub down1: Conv2d,
    /// `[d, 14, 14]` to `[2d, 7, 7]`.
    pub down2: Conv2d,
    /// BN after `down2`.
    pub bn2: BatchNorm,
    /// `[2d * 7 * 7]` to one logit.
    pub out: Linear,
}

impl DcganConfig {
    /// The pair a config's `[model]` section describes.
    pub fn from_spec(spec: &DcganSpec) -> Self {
        Self::new(spec.latent)
            .with_g_features(spec.g_features)
            .with_d_features(spec.d_features)
    }

    /// Builds the generator on `device`.
    pub fn init_generator(&self, device: &Device) -> DcganGenerator {
        let g = self.g_features;
        let up = |i, o, bias| {
            ConvTranspose2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_bias(bias)
                .with_initializer(INIT)
                .init(device)
        };
        DcganGenerator {
            project: LinearConfig::new(self.latent, 2 * g * 7 * 7)
                .with_initializer(INIT)
                .init(device),
            bn0: BatchNormConfig::new(2 * g).init(device),
            up1: up(2 * g, g, false),
            bn1: BatchNormConfig::new(g).init(device),
            up2: up(g, 1, true),
            features: g,
        }
    }

    /// Builds the discriminator on `device`.
    pub fn init_discriminator(&self, device: &Device) -> DcganDiscriminator {
        let d = self.d_features;
        let down = |i, o, bias| {
            Conv2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(bias)
                .with_initializer(INIT)
                .init(device)
        };
        DcganDiscriminator {
            down1: down(1, d, true),
            down2: down(d, 2 * d, false),
            bn2: BatchNormConfig::new(2 * d).init(device),
            out: LinearConfig::new(2 * d * 7 * 7, 1)
                .with_initializer(INIT)
                .init(device),
        }
    }
}

impl Generator for DcganGenerator {
    fn latent(&self) -> usize {
        self.project.weight.dims()[0]
    }

    fn layers(&self) -> Option<Vec<GeneratorLayer<'_>>> {
        use GeneratorLayer::{BatchNorm, ConvTranspose, Dense};
        Some(vec![
            Dense(&self.project, "identity".into()),
            BatchNorm(&self.bn0, "relu".into()),
            ConvTranspose(&self.up1, "identity".into()),
            BatchNorm(&self.bn1, "relu".into()),
            ConvTranspose(&self.up2, "tanh01".into()),
        ])
    }

    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        let [n, _] = z.dims();
        let h: Tensor<4> =
            dense(&self.project, z, Activation::Identity).reshape([n, 2 * self.features, 7, 7]);
        let h = batch_norm::forward_with(&self.bn0, h, Unit::Relu);
        let h = batch_norm::forward_with(&self.bn1, conv_transpose2d(&self.up1, h), Unit::Relu);
        let x = conv_transpose2d_with(&self.up2, h, Kind::Tanh);
        // tanh's [-1, 1] to the pixels' [0, 1].
        x.reshape([n, SIDE * SIDE]).add_scalar(1.0).mul_scalar(0.5)
    }
}

impl Discriminator for DcganDiscriminator {
    fn logit(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, _] = x.dims();
        // The pixels' [0, 1] to the [-1, 1] of the generator's tanh.
        let x: Tensor<4> = x
            .mul_scalar(2.0)
            .sub_scalar(1.0)
            .reshape([n, 1, SIDE, SIDE]);
        let h = conv2d_with(&self.down1, x, Kind::LeakyRelu(LEAKY_SLOPE));
        let h = batch_norm::forward_with(
            &self.bn2,
            conv2d(&self.down2, h),
            Unit::LeakyRelu(LEAKY_SLOPE),
        );
        dense(&self.out, h.flatten(1, 3), Activation::Identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let c = DcganConfig::new(100);
        let g = c.init_generator(&device);
        let d = c.init_discriminator(&device);
        let x = g.generate(Tensor::zeros([2, 100], &device));
        assert_eq!(x.dims(), [2, 784]);
        let v: Vec<f32> = x.clone().into_data().try_to_vec().unwrap();
        assert!(
            v.iter().all(|p| (0.0..=1.0).contains(p)),
            "pixels in [0, 1]"
        );
        assert_eq!(d.logit(x).dims(), [2, 1]);
        // No bias where batch norm follows.
        assert!(g.up1.bias.is_none() && d.down2.bias.is_none());
        assert!(g.up2.bias.is_some() && d.down1.bias.is_some());
    }
}
