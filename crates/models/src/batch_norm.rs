//! Batch normalisation (Ioffe & Szegedy 2015, "Batch normalization: accelerating deep network
//! training by reducing internal covariate shift", ICML) with PyTorch's running statistics.
//!
//! Training mode normalises each channel by its batch mean and biased variance,
//! `y = gamma * (x - mean) / sqrt(var + eps) + beta`, as one operation with its own backward pass:
//! on flex (f32) nnlab's kernel with the unit that follows fused in
//! ([`crate::kernels::batch_norm`], its sums in f64 as PyTorch's CPU kernel takes them),
//! elsewhere burn's `batch_norm_train` (sums in the input's precision) and then the unit. The
//! running statistics that evaluation uses are updated as PyTorch updates them, with the
//! *unbiased* batch variance (`n / (n - 1)` times the biased one, `n` the values per channel: the
//! paper's Algorithm 2), where burn's [`BatchNorm`] takes the biased one; so a model exported to
//! PyTorch normalises there as it does here.
//!
//! Shapes: `x [n, c, ...]` -> `[n, c, ...]`; the module's `gamma`, `beta`, `running_mean` and
//! `running_var` are `[c]`, so its record (and its PyTorch names) are those of [`BatchNorm`].

use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::activation::relu;

pub use crate::kernels::batch_norm::Unit;

/// `bn` applied to `x [n, c, ...]`. When gradients are tracked and `bn` is in training mode,
/// the batch statistics normalise `x` and the running statistics are updated; otherwise
/// (inference) this is `bn.forward(x)`, which uses the running statistics.
pub fn forward<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    forward_with(bn, x, Unit::Linear)
}

/// [`forward`] followed by `unit`: on flex in training mode one fused operation
/// ([`crate::kernels::batch_norm`]), elsewhere burn's batch norm and then the activation.
pub fn forward_with<const D: usize>(bn: &BatchNorm, x: Tensor<D>, unit: Unit) -> Tensor<D> {
    if !(x.device().is_autodiff() && bn.training.is_enabled()) {
        return apply(unit, bn.forward(x));
    }
    let (gamma, beta) = (bn.gamma.val(), bn.beta.val());
    let (output, mean, variance) = match crate::kernels::batch_norm::batch_norm_train(
        &x,
        gamma.clone(),
        beta.clone(),
        bn.epsilon,
        unit,
    ) {
        Some(fused) => (fused.output, fused.mean, fused.variance),
        None => {
            let result = burn::tensor::module::batch_norm_train(x, gamma, beta, bn.epsilon);
            (apply(unit, result.output), result.mean, result.variance)
        }
    };
    let device = output.device();
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - bn.momentum)
            .add(batch.detach().mul_scalar(bn.momentum))
            .detach()
    };
    let n = output.shape().num_elements() / bn.gamma.shape().num_elements();
    let unbiased = variance.mul_scalar(n as f64 / (n.max(2) - 1) as f64);
    bn.running_mean
        .update(blend(bn.running_mean.value_sync(), mean));
    bn.running_var
        .update(blend(bn.running_var.value_sync(), unbiased));
    output
}

/// `unit` with burn's operations (and nnlab's leaky ReLU).
fn apply<const D: usize>(unit: Unit, z: Tensor<D>) -> Tensor<D> {
    match unit {
        Unit::Linear => z,
        Unit::Relu => relu(z),
        Unit::LeakyRelu(slope) => crate::leaky_relu::leaky_relu(z, slope),
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::nn::BatchNormConfig;
    use burn::tensor::{Distribution, TensorData};

    /// Against burn's own module: the same outputs and gradients.
    #[test]
    fn normalises_as_burns_batch_norm() {
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
}
