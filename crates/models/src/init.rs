//! Weight initialisation of dense layers. The names live in [`nnlab_config::WeightInit`]; this
//! file builds burn layers with them.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
pub use nnlab_config::WeightInit;

/// A dense layer `[d_input] -> [d_output]` initialised by `init`.
pub fn linear(init: WeightInit, d_input: usize, d_output: usize, device: &Device) -> Linear {
    let config = LinearConfig::new(d_input, d_output);
    let (config, zero_bias) = match init {
        WeightInit::GlorotUniform => (
            config.with_initializer(Initializer::XavierUniform { gain: 1.0 }),
            true,
        ),
        WeightInit::HeUniform => (
            config.with_initializer(Initializer::KaimingUniform {
                gain: 2f64.sqrt(),
                fan_out_only: false,
            }),
            true,
        ),
        WeightInit::BurnDefault => (config, false),
    };
    let mut layer = config.init(device);
    if zero_bias {
        layer.bias = Some(Initializer::Zeros.init([d_output], device));
    }
    layer
}

/// The burn initializer of weights for `init` (biases are zero unless `BurnDefault`).
pub fn initializer(init: WeightInit) -> Initializer {
    match init {
        WeightInit::GlorotUniform => Initializer::XavierUniform { gain: 1.0 },
        WeightInit::HeUniform => Initializer::KaimingUniform {
            gain: 2f64.sqrt(),
            fan_out_only: false,
        },
        WeightInit::BurnDefault => Initializer::KaimingUniform {
            gain: 1.0 / 3f64.sqrt(),
            fan_out_only: false,
        },
    }
}

/// A convolution `[in, out]` channels, `k x k` kernel, `stride`, symmetric `padding`,
/// initialised by `init` (zero biases unless `BurnDefault`).
pub fn conv2d(
    init: WeightInit,
    channels: [usize; 2],
    k: usize,
    stride: usize,
    padding: usize,
    device: &Device,
) -> burn::nn::conv::Conv2d {
    let mut conv = burn::nn::conv::Conv2dConfig::new(channels, [k, k])
        .with_stride([stride, stride])
        .with_padding(burn::nn::PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_initializer(initializer(init))
        .init(device);
    if init != WeightInit::BurnDefault {
        conv.bias = Some(Initializer::Zeros.init([channels[1]], device));
    }
    conv
}

/// Draws every parameter of `module` now. burn draws a parameter's initial values lazily, at
/// its first use; training code calls this right after building a model so that the initial
/// weights depend on the seed alone, never on what else draws random numbers before the first
/// step (dropout masks, noise).
pub fn materialize<M: burn::module::Module>(module: &M) {
    struct Touch;
    impl burn::module::ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
}
