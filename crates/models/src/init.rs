//! Weight initialisation of dense layers. The names live in [`nnlab_config::WeightInit`]; this
//! file builds burn layers with them.

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
pub use nnlab_config::WeightInit;

/// Nonzero incoming weights per unit under [`WeightInit::Sparse`] (Martens 2010, section 5).
pub const SPARSE_FAN_IN: usize = 15;

/// A dense layer `[d_input] -> [d_output]` initialised by `init` (zero biases unless
/// `BurnDefault`).
pub fn linear(init: WeightInit, d_input: usize, d_output: usize, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_input, d_output)
        .with_initializer(initializer(init))
        .init(device);
    if init == WeightInit::Sparse {
        // burn's Linear keeps its weight as [d_input, d_output].
        layer.weight = Param::from_tensor(sparse(d_input, d_output, device).transpose());
    }
    if init != WeightInit::BurnDefault {
        layer.bias = Some(Initializer::Zeros.init([d_output], device));
    }
    layer
}

/// Martens (2010)'s sparse weights, `[fan_out, fan_in]`: each row (a unit) holds
/// [`SPARSE_FAN_IN`] values drawn from `N(0, 1)` at inputs chosen uniformly without
/// replacement (all of them when `fan_in` is smaller), zeros elsewhere. Drawn with the
/// device's seeded generator, so a seed means the same weights.
pub fn sparse(fan_in: usize, fan_out: usize, device: &Device) -> Tensor<2> {
    let values = Tensor::<2>::random([fan_out, fan_in], Distribution::Normal(0.0, 1.0), device);
    let keys = Tensor::<2>::random([fan_out, fan_in], Distribution::Default, device)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("uniform keys are f32");
    let kept = SPARSE_FAN_IN.min(fan_in);
    let mut mask = vec![0f32; fan_out * fan_in];
    let mut order: Vec<usize> = Vec::with_capacity(fan_in);
    for (row, keys) in keys.chunks(fan_in).enumerate() {
        order.clear();
        order.extend(0..fan_in);
        // The `kept` inputs with the smallest keys: a uniform choice without replacement.
        order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
        for &i in &order[..kept] {
            mask[row * fan_in + i] = 1.0;
        }
    }
    values * Tensor::from_data(TensorData::new(mask, [fan_out, fan_in]), device)
}

/// The burn initializer of weights for `init` (biases are zero unless `BurnDefault`; `Sparse`
/// weights are drawn by [`sparse`], not by burn). `BurnDefault` is burn's own default for
/// `Linear` and `Conv2d`, which draws the biases too.
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
        // Drawn by [`sparse`] instead; this only gives the layer its shape.
        WeightInit::Sparse => Initializer::Zeros,
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
    if init == WeightInit::Sparse {
        // Each output map's unit sees `channels[0] * k * k` inputs.
        let [c_in, c_out] = channels;
        conv.weight =
            Param::from_tensor(sparse(c_in * k * k, c_out, device).reshape([c_out, c_in, k, k]));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: Tensor<2>) -> (Vec<f32>, [usize; 2]) {
        let dims = t.dims();
        (t.into_data().try_into_vec::<f32>().unwrap(), dims)
    }

    #[test]
    fn sparse_layers_give_each_unit_fifteen_normal_inputs() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        device.seed(4);
        let layer = linear(WeightInit::Sparse, 784, 300, &device);
        let (w, [d_in, d_out]) = values(layer.weight.val());
        assert_eq!([d_in, d_out], [784, 300]);
        // Column j of [d_input, d_output] holds unit j's incoming weights.
        for j in 0..d_out {
            let nonzero = (0..d_in).filter(|&i| w[i * d_out + j] != 0.0).count();
            assert_eq!(nonzero, SPARSE_FAN_IN, "unit {j}");
        }
        // 4,500 draws of N(0, 1): mean within 0.05, variance within 0.1 (about 3 and 2.4
        // standard errors).
        let kept: Vec<f64> = w.iter().filter(|v| **v != 0.0).map(|v| *v as f64).collect();
        let mean = kept.iter().sum::<f64>() / kept.len() as f64;
        let var = kept.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / kept.len() as f64;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.1, "{mean} {var}");
        let (b, _) = values(layer.bias.unwrap().val().unsqueeze::<2>());
        assert!(b.iter().all(|v| *v == 0.0));

        // The same seed draws the same weights; a layer narrower than 15 inputs is dense.
        device.seed(4);
        let again = linear(WeightInit::Sparse, 784, 300, &device);
        assert_eq!(values(again.weight.val()).0, w);
        let narrow = values(linear(WeightInit::Sparse, 10, 3, &device).weight.val()).0;
        assert!(narrow.iter().all(|v| *v != 0.0));
    }

    #[test]
    fn sparse_convolutions_count_inputs_over_channels_and_kernel() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        device.seed(5);
        let conv = conv2d(WeightInit::Sparse, [6, 16], 5, 1, 0, &device);
        let w = conv.weight.val();
        assert_eq!(w.dims(), [16, 6, 5, 5]);
        let (w, _) = values(w.reshape([16, 150]));
        for row in w.chunks(150) {
            assert_eq!(row.iter().filter(|v| **v != 0.0).count(), SPARSE_FAN_IN);
        }
    }
}
