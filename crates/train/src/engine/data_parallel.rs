//! Data parallelism, as burn-train's multi-device strategy does it: the model and its optimizer
//! live on the main device; each step splits the batch into one shard per worker device, runs
//! each shard's forward and backward pass on its own device and thread, moves the gradients to
//! the main device and sums them there. A task that weights each shard's mean loss by the
//! shard's share of the batch gets the gradient of the whole batch's mean loss.
//!
//! The strategy knows no model family: a task gives it a [`Replica`] (a model that can be
//! copied to a device and can sum its gradients) and what one shard computes.

use std::ops::Range;

use burn::optim::GradientsParams;
use burn::prelude::*;

/// A model data parallelism can train: copied to each worker, its gradients summed.
pub trait Replica: Clone + Send + Sync {
    /// The same parameters on `device`.
    fn fork(self, device: &Device) -> Self;
    /// The sum, parameter by parameter, of `parts` (gradients of this model's parameters).
    fn sum_grads(&self, parts: Vec<GradientsParams>) -> GradientsParams;
}

/// What one worker returns for its shard: its gradients and its sums (a loss sum, a count of
/// correct predictions), all on the main device.
#[derive(Debug)]
pub struct ShardOutput {
    /// The shard's gradients, moved to the main device.
    pub grads: GradientsParams,
    /// Named sums of the shard (each `[1]`), in the task's order.
    pub sums: Vec<Tensor<1>>,
}

/// The worker devices of a data-parallel run (autodiff devices, one thread each).
#[derive(Debug, Clone)]
pub struct DataParallel {
    workers: Vec<Device>,
}

/// `n` examples in `k` contiguous shards of sizes differing by at most one (the first ones
/// larger): the ranges of a batch the `k` workers take.
pub fn shards(n: usize, k: usize) -> Vec<Range<usize>> {
    let (base, extra) = (n / k, n % k);
    let mut start = 0;
    (0..k)
        .map(|j| {
            let len = base + usize::from(j < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .collect()
}

impl DataParallel {
    /// Data parallelism over `devices` (`train.devices`); `None` for fewer than two.
    pub fn new(devices: &[Device]) -> Option<Self> {
        (devices.len() > 1).then(|| Self {
            workers: devices.iter().map(|d| d.clone().autodiff()).collect(),
        })
    }

    /// One step's gradients and sums for `batch`: each worker runs `shard` on its copy of
    /// `model` with its slice of the batch, that slice's share of the batch (`len / n`) and its
    /// device. The gradients come back summed, and each sum added up over the shards.
    pub fn step<M, F>(
        &self,
        model: &M,
        batch: &[u32],
        shard: F,
    ) -> (GradientsParams, Vec<Tensor<1>>)
    where
        M: Replica,
        F: Fn(M, &[u32], f32, &Device) -> ShardOutput + Sync,
    {
        let n = batch.len();
        let outputs: Vec<ShardOutput> = std::thread::scope(|scope| {
            let handles: Vec<_> = shards(n, self.workers.len())
                .into_iter()
                .zip(&self.workers)
                // An epoch's last batch may be smaller than the device count.
                .filter(|(range, _)| !range.is_empty())
                .map(|(range, worker)| {
                    let part = &batch[range];
                    let model = model.clone();
                    let shard = &shard;
                    scope.spawn(move || {
                        let share = part.len() as f32 / n as f32;
                        shard(model.fork(worker), part, share, worker)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a training worker panicked"))
                .collect()
        });
        let mut grads = Vec::with_capacity(outputs.len());
        let mut sums: Vec<Vec<Tensor<1>>> = Vec::new();
        for out in outputs {
            grads.push(out.grads);
            for (k, s) in out.sums.into_iter().enumerate() {
                if sums.len() <= k {
                    sums.push(Vec::new());
                }
                sums[k].push(s);
            }
        }
        let sums = sums.into_iter().map(|s| Tensor::cat(s, 0).sum()).collect();
        (model.sum_grads(grads), sums)
    }
}

#[cfg(test)]
mod tests {
    use super::shards;

    #[test]
    fn shards_cover_the_batch_evenly() {
        assert_eq!(shards(16, 3), vec![0..6, 6..11, 11..16]);
        assert_eq!(shards(32, 2), vec![0..16, 16..32]);
        assert_eq!(shards(3, 3), vec![0..1, 1..2, 2..3]);
        // The last batch of an epoch may be smaller than the device count: empty shards.
        assert_eq!(shards(1, 2), vec![0..1, 1..1]);
    }
}
