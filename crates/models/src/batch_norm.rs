//! Batch normalisation (Ioffe & Szegedy 2015, "Batch normalization: accelerating deep network
//! training by reducing internal covariate shift", ICML) with PyTorch's running statistics.
//!
//! Training mode normalises each channel by its batch mean and biased variance,
//! `y = gamma * (x - mean) / sqrt(var + eps) + beta`, through burn's own fused operation
//! (`batch_norm_train`, with its backward pass). The running statistics that evaluation uses are
//! updated as PyTorch updates them, with the *unbiased* batch variance (`n / (n - 1)` times the
//! biased one, `n` the values per channel: the paper's Algorithm 2), where burn's [`BatchNorm`]
//! takes the biased one; so a model exported to PyTorch normalises there as it does here.
//!
//! The sums run in the input's precision: in f32 one after another, so that a DCGAN generator's
//! first layer (3,136 values per channel) gets a scale gradient 1.8e-4 away from the exact one,
//! where PyTorch's CPU kernel, adding in double precision, gets 1.4e-6. Summing an f64 copy here
//! made a DCGAN epoch half as slow again (20.4 s instead of 13.5 s on 12,800 images,
//! `bench/results/ab-batch-norm-f64-sums-f899f6f.txt`) and did not keep its f32 steps with
//! PyTorch's any longer (the adversarial game magnifies every rounding difference, PyTorch's
//! own among them); `train.float_dtype = "f64"` is the exact comparison.
//!
//! Shapes: `x [n, c, ...]` -> `[n, c, ...]`; the module's `gamma`, `beta`, `running_mean` and
//! `running_var` are `[c]`, so its record (and its PyTorch names) are those of [`BatchNorm`].

use burn::nn::BatchNorm;
use burn::prelude::*;

/// `bn` applied to `x [n, c, ...]`. When gradients are tracked and `bn` is in training mode,
/// the batch statistics normalise `x` and the running statistics are updated; otherwise
/// (inference) this is `bn.forward(x)`, which uses the running statistics.
pub fn forward<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    if !(x.device().is_autodiff() && bn.training.is_enabled()) {
        return bn.forward(x);
    }
    let result =
        burn::tensor::module::batch_norm_train(x, bn.gamma.val(), bn.beta.val(), bn.epsilon);
    let device = result.output.device();
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - bn.momentum)
            .add(batch.detach().mul_scalar(bn.momentum))
            .detach()
    };
    let n = result.output.shape().num_elements() / bn.gamma.shape().num_elements();
    let unbiased = result.variance.mul_scalar(n as f64 / (n.max(2) - 1) as f64);
    bn.running_mean
        .update(blend(bn.running_mean.value_sync(), result.mean));
    bn.running_var
        .update(blend(bn.running_var.value_sync(), unbiased));
    result.output
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
