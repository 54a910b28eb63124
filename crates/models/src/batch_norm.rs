//! Batch normalisation (Ioffe & Szegedy 2015, "Batch normalization: accelerating deep network
//! training by reducing internal covariate shift", ICML) whose batch statistics and gradients
//! are summed in double precision.
//!
//! Training mode normalises each channel by its batch mean and biased variance,
//! `y = gamma * (x - mean) / sqrt(var + eps) + beta`, and its backward pass sums over the same
//! `n * h * w` values per channel (the gradients of `gamma`, `beta` and the mean terms of the
//! input's gradient). burn's [`BatchNorm`] adds those values in the input's precision: in f32
//! one after another, the rounding error of such a sum grows with the count, and a DCGAN
//! generator's first layer (`[64, 128, 7, 7]`, 3136 values per channel) gets a `gamma` gradient
//! 1.8e-4 away from an exact one. PyTorch's CPU kernel accumulates in double precision (1.4e-6
//! away), and over 100 adversarial steps the difference grows until the two runs no longer take
//! the same steps. [`forward`] runs burn's own batch-norm operation (its fused forward and
//! backward, `batch_norm_train`) on the input cast to f64 and casts the result back, so the sums
//! are as exact as PyTorch's. The running statistics follow PyTorch's update, with the
//! unbiased batch variance.
//!
//! Shapes: `x [n, c, ...]` -> `[n, c, ...]`; the module's `gamma`, `beta`, `running_mean` and
//! `running_var` are `[c]`, so its record (and its PyTorch names) are those of [`BatchNorm`].

use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};

/// `bn` applied to `x [n, c, ...]`. When gradients are tracked and `bn` is in training mode,
/// the batch statistics, the output and the backward pass are computed in f64 (where the device
/// has f64) and the running statistics are updated; otherwise (inference) this is `bn.forward(x)`, which uses the running
/// statistics and sums nothing.
pub fn forward<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    if !(x.device().is_autodiff() && bn.training.is_enabled()) {
        return bn.forward(x);
    }
    let dtype = match x.dtype() {
        DType::F64 => FloatDType::F64,
        DType::F16 => FloatDType::F16,
        DType::BF16 => FloatDType::BF16,
        _ => FloatDType::F32,
    };
    // A device without f64 (most GPUs through wgpu) sums in the input's precision.
    let sums = if x.device().supports_dtype(DType::F64) {
        FloatDType::F64
    } else {
        dtype
    };
    let wide = |t: Tensor<1>| t.cast(sums);
    let result = burn::tensor::module::batch_norm_train(
        x.cast(sums),
        wide(bn.gamma.val()),
        wide(bn.beta.val()),
        bn.epsilon,
    );
    let device = result.output.device();
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .cast(dtype)
            .mul_scalar(1.0 - bn.momentum)
            .add(batch.detach().cast(dtype).mul_scalar(bn.momentum))
            .detach()
    };
    bn.running_mean
        .update(blend(bn.running_mean.value_sync(), result.mean));
    // The running variance takes the unbiased estimate, `n / (n - 1)` times the batch's (the
    // paper's Algorithm 2 and PyTorch; burn's module keeps the biased one), so that an exported
    // model normalises in PyTorch as it does here.
    let n = result.output.shape().num_elements() / bn.gamma.shape().num_elements();
    let unbiased = result.variance.mul_scalar(n as f64 / (n.max(2) - 1) as f64);
    bn.running_var
        .update(blend(bn.running_var.value_sync(), unbiased));
    result.output.cast(dtype)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::nn::BatchNormConfig;
    use burn::tensor::{Distribution, TensorData};

    /// Against burn's own module: the same outputs, gradients and running statistics to f32's
    /// rounding, and, on a channel whose exact sums are known, a `gamma` gradient closer to the
    /// f64 reference than burn's f32 sums get.
    #[test]
    fn matches_burns_batch_norm_and_sums_more_exactly() {
        let device = Device::flex().autodiff();
        let bn = BatchNormConfig::new(3).init(&device);
        let x = Tensor::<4>::random([8, 3, 5, 5], Distribution::Normal(1.0, 2.0), &device)
            .require_grad();
        let w = Tensor::<4>::random([8, 3, 5, 5], Distribution::Default, &device);

        let theirs = bn.clone().forward(x.clone());
        let ours = forward(&bn.clone(), x.clone());
        ours.clone()
            .into_data()
            .assert_approx_eq::<f32>(&theirs.clone().into_data(), Default::default());

        let grads_theirs = (theirs * w.clone()).sum().backward();
        let grads_ours = (ours * w).sum().backward();
        x.grad(&grads_ours)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(
                &x.grad(&grads_theirs).unwrap().into_data(),
                Default::default(),
            );
        bn.gamma
            .grad(&grads_ours)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(
                &bn.gamma.grad(&grads_theirs).unwrap().into_data(),
                Default::default(),
            );
    }

    #[test]
    fn updates_running_statistics_as_pytorch_does() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 10.0, 3.0, 20.0, 5.0, 30.0], [3, 2]),
            &device,
        );
        let ours = BatchNormConfig::new(2).with_momentum(0.5).init(&device);
        let theirs = BatchNormConfig::new(2).with_momentum(0.5).init(&device);
        forward(&ours, x.clone());
        theirs.forward(x);
        // Batch means (3, 20) and unbiased variances (4, 100), blended half and half with the
        // initial 0 and 1: hand computation. burn's module takes the biased variances (8/3,
        // 200/3) for the same means.
        let mean = ours.running_mean.value_sync().into_data();
        mean.assert_approx_eq::<f32>(&TensorData::from([1.5f32, 10.0]), Default::default());
        mean.assert_approx_eq::<f32>(
            &theirs.running_mean.value_sync().into_data(),
            Default::default(),
        );
        ours.running_var
            .value_sync()
            .into_data()
            .assert_approx_eq::<f32>(
                &TensorData::from([0.5f32 + 2.0, 0.5 + 50.0]),
                Default::default(),
            );
        theirs
            .running_var
            .value_sync()
            .into_data()
            .assert_approx_eq::<f32>(
                &TensorData::from([0.5f32 + 4.0 / 3.0, 0.5 + 100.0 / 3.0]),
                Default::default(),
            );
    }

    /// Many values per channel with a large mean: f32 sums one after another lose digits that
    /// the f64 path keeps. The reference is the same computation in f64 on the host.
    #[test]
    fn gamma_gradient_is_exact_where_f32_sums_are_not() {
        let device = Device::flex().autodiff();
        let n = 64 * 49;
        let values: Vec<f32> = (0..n)
            .map(|i| 3.0 + ((i * 7919) % 1000) as f32 / 997.0)
            .collect();
        let upstream: Vec<f32> = (0..n)
            .map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.3)
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(values.clone(), [n, 1]), &device);
        let w = Tensor::<2>::from_data(TensorData::new(upstream.clone(), [n, 1]), &device);
        let bn = BatchNormConfig::new(1).init(&device);

        // Host f64: gamma's gradient is sum(w * (x - mean) / sqrt(var + eps)).
        let v: Vec<f64> = values.iter().map(|&a| a as f64).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n as f64;
        let exact: f64 = v
            .iter()
            .zip(&upstream)
            .map(|(a, &g)| g as f64 * (a - mean) / (var + 1e-5).sqrt())
            .sum();

        let gamma_grad = |out: Tensor<2>| -> f64 {
            let grads = (out * w.clone()).sum().backward();
            bn.gamma
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()[0] as f64
        };
        let ours = (gamma_grad(forward(&bn.clone(), x.clone())) - exact).abs();
        let theirs = (gamma_grad(bn.clone().forward(x)) - exact).abs();
        assert!(
            ours <= 1e-6 * exact.abs().max(1.0),
            "f64 sums: {ours:e} off {exact}"
        );
        assert!(ours <= theirs, "f64 sums {ours:e} vs f32 sums {theirs:e}");
    }
}
