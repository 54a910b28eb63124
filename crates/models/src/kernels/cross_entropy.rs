//! Softmax cross-entropy on logits, `L = -(1/n) sum_i log softmax(z_i)[t_i]`, and its gradient
//! `dL/dz_i = (softmax(z_i) - onehot(t_i)) / n`.
//!
//! On burn-flex this runs as a burn backend extension (`#[backend_extension]`): the forward pass
//! is one loop over the logits (a row's maximum, its log-sum-exp, the loss), which keeps the
//! softmax for the backward pass, and the backward pass is one loop that subtracts the one-hot
//! targets and scales. burn's `CrossEntropyLoss` composes the same loss from about ten tensor
//! operations (log-softmax as max, subtract, exp, sum, log, subtract; then gather, reshape, mean,
//! negate), each with its own allocation and autodiff node, and as many again in the backward
//! pass: for the article's MLP (logits of 32 x 10) that bookkeeping, not the arithmetic, is the
//! cost. Other backends use burn's `CrossEntropyLoss`.
//!
//! # Shapes
//! - `logits`: `[batch, classes]`
//! - `targets`: `[batch]`, class indices in `0..classes`
//! - returns `[1]`, the mean over the batch

use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;

/// Mean softmax cross-entropy of `logits` `[n, k]` against class indices `targets` `[n]`,
/// as a `[1]` tensor. On flex (f32, `n, k > 0`), the fused extension; elsewhere burn's
/// `CrossEntropyLoss`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    #[cfg(feature = "flex")]
    if crate::flex::on_flex(&logits.device())
        && crate::flex::is_f32(logits.dtype())
        && logits.shape().num_elements() > 0
    {
        use burn::backend::Dispatch;
        let loss = <Dispatch as extension::CrossEntropyBackend>::cross_entropy(
            logits.into_dispatch(),
            targets.into_dispatch(),
        );
        return Tensor::from_dispatch(loss);
    }
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, targets)
}

#[cfg(feature = "flex")]
mod extension {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
    use burn::backend::tensor::{FloatTensor, IntTensor};
    use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
    use burn::tensor::DType;

    use crate::flex;

    /// The loss on flex, f32, non-empty (checked by [`super::cross_entropy`]).
    #[backend_extension(Flex, Autodiff)]
    pub trait CrossEntropyBackend: Backend {
        /// Mean of `-log softmax(logits)[targets]` over the rows, `[1]`.
        fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self>;
    }

    /// The class indices of `targets` `[n]` on the host, each checked against `classes`.
    fn indices(targets: &IntTensor<Flex>, classes: usize) -> Vec<usize> {
        let check = |t: i64| {
            assert!(
                (0..classes as i64).contains(&t),
                "cross-entropy: target {t} is not a class index below {classes}"
            );
            t as usize
        };
        let contiguous = targets.to_contiguous();
        match contiguous.dtype() {
            DType::I64 => contiguous
                .storage::<i64>()
                .iter()
                .map(|&t| check(t))
                .collect(),
            DType::I32 => contiguous
                .storage::<i32>()
                .iter()
                .map(|&t| check(t as i64))
                .collect(),
            other => panic!("cross-entropy: targets of dtype {other:?}, expected integers"),
        }
    }

    /// The mean loss of `logits` `[n, k]`, and their softmax when `keep` (for the backward pass).
    fn forward_host(
        logits: &FloatTensor<Flex>,
        targets: &[usize],
        keep: bool,
    ) -> (f32, Option<FloatTensor<Flex>>) {
        let [n, k] = logits.shape().dims::<2>();
        assert_eq!(
            targets.len(),
            n,
            "cross-entropy: {n} rows of logits, {} targets",
            targets.len()
        );
        let mut values = flex::values(logits).into_owned();
        let mut total = 0.0f64;
        for (row, &t) in values.chunks_exact_mut(k).zip(targets) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let shifted_t = row[t] - max;
            let mut sum = 0.0f32;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            // -log softmax(z)[t] = log sum_j e^(z_j - max) - (z_t - max).
            total += (sum.ln() - shifted_t) as f64;
            if keep {
                let inv = 1.0 / sum;
                row.iter_mut().for_each(|v| *v *= inv);
            }
        }
        let probs = keep.then(|| flex::tensor(values, [n, k]));
        ((total / n as f64) as f32, probs)
    }

    impl CrossEntropyBackend for Flex {
        fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
            let classes = logits.shape().dims::<2>()[1];
            let (loss, _) = forward_host(&logits, &indices(&targets, classes), false);
            flex::tensor(vec![loss], [1])
        }
    }

    /// The backward step: keeps the softmax and the targets; `(p - onehot) g / n`.
    #[derive(Debug)]
    struct CrossEntropyGrad;

    impl Backward<Flex, 1> for CrossEntropyGrad {
        type State = (FloatTensor<Flex>, Vec<usize>);

        fn backward(
            self,
            ops: Ops<Self::State, 1>,
            grads: &mut Gradients,
            _checkpointer: &mut Checkpointer,
        ) {
            let (mut probs, targets) = ops.state;
            unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
                let upstream = flex::values(&grad)[0];
                let [n, k] = probs.shape().dims::<2>();
                let scale = upstream / n as f32;
                let p = probs.storage_mut::<f32>();
                for (row, &t) in p.chunks_exact_mut(k).zip(&targets) {
                    row[t] -= 1.0;
                    row.iter_mut().for_each(|v| *v *= scale);
                }
                probs
            });
        }
    }

    impl<C: CheckpointStrategy> CrossEntropyBackend for Autodiff<Flex, C> {
        fn cross_entropy(logits: FloatTensor<Self>, targets: IntTensor<Self>) -> FloatTensor<Self> {
            let classes = logits.primitive().shape().dims::<2>()[1];
            let targets = indices(&targets, classes);
            match CrossEntropyGrad
                .prepare::<C>([logits.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (loss, probs) = forward_host(logits.primitive(), &targets, true);
                    let probs = probs.expect("kept for the backward pass");
                    prep.finish((probs, targets), flex::tensor(vec![loss], [1]))
                }
                OpsKind::UnTracked(prep) => {
                    let (loss, _) = forward_host(logits.primitive(), &targets, false);
                    prep.finish(flex::tensor(vec![loss], [1]))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vec1(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn loss_and_gradient_by_hand() {
        // Row 1: logits [0, ln 3] -> softmax [1/4, 3/4], target 1: loss ln(4/3), gradient
        // ([1/4, 3/4] - [0, 1]) / 2 = [1/8, -1/8]. Row 2: logits [0, 0] -> [1/2, 1/2], target 0:
        // loss ln 2, gradient [-1/4, 1/4]. Mean loss (ln(4/3) + ln 2) / 2.
        let device = Device::flex().autodiff();
        let z = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 3f32.ln(), 0.0, 0.0], [2, 2]),
            &device,
        )
        .require_grad();
        let t = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 0], [2]), &device);
        let loss = cross_entropy(z.clone(), t);
        let want = ((4.0f64 / 3.0).ln() + 2f64.ln()) / 2.0;
        assert!((vec1(loss.clone().inner())[0] as f64 - want).abs() < 1e-6);
        let g = z.grad(&loss.backward()).unwrap();
        let g = g.into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in g.iter().zip([0.125f32, -0.125, -0.25, 0.25]) {
            assert!((a - b).abs() < 1e-6, "{g:?}");
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn agrees_with_burns_cross_entropy() {
        // Large and spread logits (the max-shift matters), a loss weighted downstream (the
        // upstream gradient is not 1), with and without autodiff.
        let device = Device::flex().autodiff();
        assert!(crate::flex::on_flex(&device), "the extension runs here");
        let (n, k) = (7, 5);
        let values: Vec<f32> = (0..n * k)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 3.1)
            .collect();
        let labels: Vec<i64> = (0..n as i64).map(|i| (i * 3) % k as i64).collect();
        let on = |device: &Device| {
            let z = Tensor::<2>::from_data(TensorData::new(values.clone(), [n, k]), device);
            let t = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [n]), device);
            (z, t)
        };
        let (z, t) = on(&device);
        let z = z.require_grad();
        let (z_plain, t_plain) = on(&Device::flex());
        let burns = |z: Tensor<2>, t: Tensor<1, Int>| {
            CrossEntropyLossConfig::new()
                .init(&z.device())
                .forward(z, t)
        };
        let run = |f: &dyn Fn(Tensor<2>, Tensor<1, Int>) -> Tensor<1>| {
            let loss = f(z.clone(), t.clone());
            let g = z.grad(&(loss.clone() * 2.5).backward()).unwrap();
            let plain = f(z_plain.clone(), t_plain.clone());
            (
                vec1(loss.inner()),
                g.into_data().try_to_vec::<f32>().unwrap(),
                vec1(plain),
            )
        };
        let (ours, theirs) = (run(&|z, t| cross_entropy(z, t)), run(&burns));
        assert!((ours.0[0] - theirs.0[0]).abs() < 1e-5 * theirs.0[0].abs());
        assert!((ours.2[0] - theirs.2[0]).abs() < 1e-5 * theirs.2[0].abs());
        for (a, b) in ours.1.iter().zip(&theirs.1) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    #[should_panic(expected = "not a class index below 3")]
    fn a_target_out_of_range_is_refused() {
        let device = Device::flex();
        let z = Tensor::<2>::zeros([1, 3], &device);
        let t = Tensor::<1, Int>::from_data(TensorData::new(vec![3i64], [1]), &device);
        let _ = cross_entropy(z, t);
    }
}
