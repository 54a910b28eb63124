//! The classification losses, both on the softmax of the model's logits: how the classifier
//! computes `train.loss` (the names and the list live in [`nnlab_config::LossKind`]), as
//! [`crate::activation`] computes the activations.

use burn::prelude::*;
use burn::tensor::activation::softmax;

use nnlab_config::LossKind;

/// Mean loss `kind` over the batch: categorical cross-entropy on the logits (softmax folded in;
/// burn's `CrossEntropyLoss`, fused into one operation on flex), or the mean squared error
/// between `softmax(z)` and one-hot targets.
///
/// # Shapes
/// - `logits`: `[batch, classes]`
/// - `targets`: `[batch]` class indices on the device (what cross-entropy gathers)
/// - `labels`: the same indices on the host (what MSE's one-hot targets are built from)
/// - returns `[1]`
pub fn loss(
    kind: LossKind,
    logits: Tensor<2>,
    targets: Tensor<1, Int>,
    labels: &[i64],
) -> Tensor<1> {
    match kind {
        LossKind::CrossEntropy => crate::cross_entropy::cross_entropy(logits, targets),
        LossKind::Mse => {
            let [_, classes] = logits.dims();
            let y = one_hot(labels, classes, &logits.device());
            (softmax(logits, 1) - y).square().mean()
        }
    }
}

/// One-hot targets `[n, classes]` from class labels `[n]`, built on the host.
pub fn one_hot(labels: &[i64], classes: usize, device: &Device) -> Tensor<2> {
    let mut v = vec![0.0f32; labels.len() * classes];
    for (row, &l) in labels.iter().enumerate() {
        v[row * classes + l as usize] = 1.0;
    }
    Tensor::from_data(TensorData::new(v, [labels.len(), classes]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mse_by_hand() {
        // logits 0 everywhere -> softmax 1/2 each; target [1, 0]: ((0.5-1)^2 + 0.5^2) / 2 = 0.25.
        let device = Device::flex();
        let z = Tensor::<2>::zeros([1, 2], &device);
        let t = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64], [1]), &device);
        let l = loss(LossKind::Mse, z, t, &[0]);
        assert!((l.into_scalar::<f32>() - 0.25).abs() < 1e-7);
    }

    #[test]
    fn cross_entropy_by_hand() {
        // logits [0, ln 3] -> softmax [1/4, 3/4]; label 1: -ln(3/4).
        let device = Device::flex();
        let z = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 3f32.ln()], [1, 2]), &device);
        let t = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64], [1]), &device);
        let l = loss(LossKind::CrossEntropy, z, t, &[1]);
        assert!((l.into_scalar::<f32>() as f64 - (4.0f64 / 3.0).ln()).abs() < 1e-6);
    }
}
