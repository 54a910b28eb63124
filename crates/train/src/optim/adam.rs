//! Adam (Kingma & Ba, 2014, <https://arxiv.org/abs/1412.6980>) and AdamW (Loshchilov & Hutter,
//! 2019, <https://arxiv.org/abs/1711.05101>) as one burn [`Optimizer`], with both placements of
//! epsilon and with the whole update of a parameter done in one pass over host memory on CPU
//! backends.
//!
//! Per element, at step `t` with learning rate `lr`:
//!
//! ```text
//! g <- g + l2 w                                   (coupled L2 weight decay, train.weight_decay)
//! m <- beta1 m + (1 - beta1) g
//! v <- beta2 v + (1 - beta2) g^2
//! w <- w (1 - lr wd)                              (decoupled weight decay, AdamW)
//! w <- w - alpha_t m / (sqrt(v) + eps_t),  alpha_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)
//! ```
//!
//! with `eps_t = eps` where Keras puts epsilon (before the bias correction: Kingma & Ba's
//! "efficient" form, Sec. 2) and `eps_t = eps sqrt(1 - beta2^t)` where PyTorch and burn put it
//! (`m_hat / (sqrt(v_hat) + eps)`, Algorithm 1, rearranged). The two differ most in the first
//! steps, when `sqrt(1 - beta2^t)` is small.
//!
//! burn's own `Adam` expresses the update as about a dozen tensor operations per parameter,
//! each a separate pass with its own allocation. On CPU backends, for models as small as the
//! article's MLP (25,450 parameters), that overhead is most of an optimizer step, so there
//! [`HostAdam`](super::host_adam::HostAdam) runs the update fused in host memory
//! ([`Adam::update_host`]); on GPUs the parameters stay on the device and this [`Optimizer`]
//! runs the same formula as tensor operations, inside burn's `ModuleOptimizer` (there without
//! the host update's flush of subnormal moments, see [`flush`]).

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::prelude::*;
use burn_pack::Scalar;
use nnlab_config::EpsilonPlacement;

/// Adam / AdamW's settings. Build a `ModuleOptimizer` (tensor operations) with `.into()`, or a
/// [`HostAdam`](super::host_adam::HostAdam).
#[derive(Debug, Clone)]
pub struct Adam {
    /// First-moment decay `beta1`.
    pub beta1: f64,
    /// Second-moment decay `beta2`.
    pub beta2: f64,
    /// `epsilon`.
    pub epsilon: f64,
    /// Where epsilon enters.
    pub placement: EpsilonPlacement,
    /// Coupled L2 weight decay (added to the gradient); 0 for none.
    pub l2: f64,
    /// Decoupled weight decay (AdamW); 0 for none.
    pub decoupled: f64,
}

/// Per-parameter state on the device: the step count and the two moment estimates.
#[derive(Debug, Clone)]
pub struct Moments<const D: usize> {
    /// Steps taken (`t`).
    time: usize,
    /// First moment `m`.
    m: Tensor<D>,
    /// Second moment `v`.
    v: Tensor<D>,
}

/// The names of a parameter's state in an optimizer record (after `<param id>.`): the two
/// moments, the step count, and (written by burn's `ModuleOptimizer`) the parameter's rank.
pub(super) const MOMENT_1: &str = "moment_1";
/// See [`MOMENT_1`].
pub(super) const MOMENT_2: &str = "moment_2";
/// See [`MOMENT_1`].
pub(super) const TIME: &str = "time";
/// See [`MOMENT_1`].
pub(super) const RANK: &str = "__rank";

/// A step count as a record keeps it (an unsigned or a non-negative integer).
pub(super) fn step_count(scalar: Scalar) -> Option<usize> {
    match scalar {
        Scalar::UInt(t) => usize::try_from(t).ok(),
        Scalar::Int(t) => usize::try_from(t).ok(),
        _ => None,
    }
}

impl<const D: usize> RecordState for Moments<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, MOMENT_1, self.m.clone().into_data());
        out.push_tensor(prefix, MOMENT_2, self.v.clone().into_data());
        out.push_scalar(prefix, TIME, Scalar::UInt(self.time as u64));
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let m = src.take_tensor(prefix, MOMENT_1)?;
        let v = src.take_tensor(prefix, MOMENT_2)?;
        let time = step_count(src.take_scalar(prefix, TIME)?)?;
        if m.rank() != D || v.shape() != m.shape() {
            return None;
        }
        Some(Self {
            time,
            m: Tensor::from_data(m.convert::<f32>(), device),
            v: Tensor::from_data(v.convert::<f32>(), device),
        })
    }
}

/// The step's scalars: `(alpha_t, eps_t)` for step `t` (1-based).
fn step_scalars(a: &Adam, lr: f64, t: usize) -> (f64, f64) {
    let t = t as i32;
    let bc2 = (1.0 - a.beta2.powi(t)).sqrt();
    let alpha = lr * bc2 / (1.0 - a.beta1.powi(t));
    let eps = match a.placement {
        EpsilonPlacement::Keras => a.epsilon,
        EpsilonPlacement::Pytorch => a.epsilon * bc2,
    };
    (alpha, eps)
}

/// Values from which [`Adam::update_host`] splits a parameter among rayon's threads.
const PARALLEL_FROM: usize = 1 << 17;

/// The pieces it splits it into: 16,384 values (64 KiB of each of the four buffers).
const PIECE: usize = 1 << 14;

impl Adam {
    /// Step `time` (1-based) of the update in host memory: `w`, `m` and `v` updated in place
    /// from the gradient `g`, all of one length.
    pub(super) fn update_host(
        &self,
        lr: f64,
        time: usize,
        w: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        let n = w.len();
        assert!(
            g.len() == n && m.len() == n && v.len() == n,
            "Adam: a parameter of {n} values, its gradient {} and moments {} and {}",
            g.len(),
            m.len(),
            v.len()
        );
        let (alpha, eps) = step_scalars(self, lr, time);
        let update = |w, g, m, v| {
            pulp::Arch::new().dispatch(Update {
                w,
                g,
                m,
                v,
                beta1: self.beta1 as f32,
                beta2: self.beta2 as f32,
                rest1: (1.0 - self.beta1) as f32,
                rest2: (1.0 - self.beta2) as f32,
                alpha: alpha as f32,
                eps: eps as f32,
                l2: self.l2 as f32,
                keep: (1.0 - lr * self.decoupled) as f32,
            })
        };
        // Each value's update depends on its own four values only, so pieces on rayon's
        // threads give the same bits; a VAE's 314,000-weight layer updated on the calling
        // thread alone was 8 % of its step with the other core idle.
        if n < PARALLEL_FROM {
            update(w, g, m, v);
            return;
        }
        use rayon::prelude::*;
        w.par_chunks_mut(PIECE)
            .zip(g.par_chunks(PIECE))
            .zip(m.par_chunks_mut(PIECE))
            .zip(v.par_chunks_mut(PIECE))
            .for_each(|(((w, g), m), v)| update(w, g, m, v));
    }
}

impl Optimizer for Adam {
    type State<const D: usize> = Moments<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Moments<D>>,
    ) -> (Tensor<D>, Option<Moments<D>>) {
        let (time, m, v) = match state {
            Some(s) => (s.time, s.m, s.v),
            None => (0, grad.zeros_like(), grad.zeros_like()),
        };
        let time = time + 1;
        let (alpha, eps) = step_scalars(self, lr, time);
        let g = if self.l2 > 0.0 {
            grad + tensor.clone().mul_scalar(self.l2)
        } else {
            grad
        };
        let m = m.mul_scalar(self.beta1) + g.clone().mul_scalar(1.0 - self.beta1);
        let v = v.mul_scalar(self.beta2) + g.square().mul_scalar(1.0 - self.beta2);
        let w = if self.decoupled > 0.0 {
            tensor.mul_scalar(1.0 - lr * self.decoupled)
        } else {
            tensor
        };
        let w = w - m.clone().mul_scalar(alpha) / v.clone().sqrt().add_scalar(eps);
        (w, Some(Moments { time, m, v }))
    }

    fn to_device<const D: usize>(state: Moments<D>, device: &Device) -> Moments<D> {
        Moments {
            time: state.time,
            m: state.m.to_device(device),
            v: state.v.to_device(device),
        }
    }
}

/// One Adam step over flat slices, compiled for the best vector unit found at run time (pulp).
/// Only IEEE `+ - * / sqrt` are used (no fused multiply-add), so every instruction set gives the
/// same bits; without weight decay the arithmetic is exactly the plain update's, except that a
/// moment estimate that falls below `f32::MIN_POSITIVE` is stored as zero where that changes no
/// weight measurably ([`flush`]).
struct Update<'a> {
    w: &'a mut [f32],
    g: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    beta1: f32,
    beta2: f32,
    /// `1 - beta1` and `1 - beta2`, subtracted in f64 and rounded once, as PyTorch's
    /// `value=1 - beta2` is (in f32 `1 - 0.999f32` is 1.3e-5 away from 0.001, which the bias
    /// correction, taken in f64, would not cancel).
    rest1: f32,
    rest2: f32,
    alpha: f32,
    eps: f32,
    /// Coupled L2 decay.
    l2: f32,
    /// `1 - lr * decoupled decay`.
    keep: f32,
}

/// `x`, or zero when its size is below `floor` (`f32::MIN_POSITIVE`: `x` is subnormal; 0:
/// never).
///
/// A weight whose gradient stops (an MNIST pixel that is rarely lit) sees its moments decay by
/// `beta1` and `beta2` each step, into the subnormal range after about 800 steps for `m`.
/// Arithmetic on subnormal numbers is slow on x86 CPUs (the book's speed chapter has what it
/// cost the article job's update). XLA (JAX) and TensorFlow run
/// their CPU kernels with subnormals flushed to zero for the same reason; here only the moments
/// are flushed, and `v` only where that cannot change a weight: when `eps_t` swallows any
/// subnormal's square root (`eps_t + sqrt(f32::MIN_POSITIVE) == eps_t`, true from
/// `eps_t` of about 2e-12 up), `sqrt(v) + eps_t` is the same with `v` flushed. A subnormal
/// `m` moves a weight by at most `alpha * 1.2e-38 / (sqrt(v) + eps_t)`, below 1e-28 at the
/// defaults.
#[inline(always)]
fn flush(x: f32, floor: f32) -> f32 {
    if x.abs() < floor { 0.0 } else { x }
}

impl pulp::WithSimd for Update<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let (b1, b2, alpha, eps) = (self.beta1, self.beta2, self.alpha, self.eps);
        let (r1, r2, l2, keep) = (self.rest1, self.rest2, self.l2, self.keep);
        let v_floor = if eps + f32::MIN_POSITIVE.sqrt() == eps {
            f32::MIN_POSITIVE
        } else {
            0.0
        };
        let items = self.w.iter_mut().zip(self.g).zip(self.m).zip(self.v);
        if l2 == 0.0 && keep == 1.0 {
            for (((w, &g), m), v) in items {
                *m = flush(b1 * *m + r1 * g, f32::MIN_POSITIVE);
                *v = flush(b2 * *v + r2 * g * g, v_floor);
                *w -= alpha * *m / (v.sqrt() + eps);
            }
        } else {
            for (((w, &g), m), v) in items {
                let g = g + l2 * *w;
                *m = flush(b1 * *m + r1 * g, f32::MIN_POSITIVE);
                *v = flush(b2 * *v + r2 * g * g, v_floor);
                *w = *w * keep - alpha * *m / (v.sqrt() + eps);
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::optim::Optim;
    use crate::optim::host_adam::HostAdam;
    use burn::optim::{AdamConfig, AdamWConfig};

    pub(in crate::optim) fn adam(placement: EpsilonPlacement) -> Adam {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
            placement,
            l2: 0.0,
            decoupled: 0.0,
        }
    }

    /// `adam` in host memory (`host`, as CPU backends run it) or as tensor operations.
    fn optim(adam: Adam, host: bool) -> Optim {
        if host {
            Optim::HostAdam(HostAdam::new(adam))
        } else {
            Optim::Module(adam.into())
        }
    }

    /// Ten steps of `ours` and `theirs` on the same layer and loss; the largest weight difference.
    fn compare(mut ours: Optim, mut theirs: Optim, lr: f64) -> f32 {
        let device = Device::flex().autodiff();
        device.seed(0);
        let layer = burn::nn::LinearConfig::new(7, 5).init(&device);
        let (mut a, mut b) = (layer.clone(), layer);
        let x = Tensor::<2>::random([4, 7], burn::tensor::Distribution::Default, &device);
        for _ in 0..10 {
            let ga = a.forward(x.clone()).powi_scalar(2).sum().backward();
            a = ours.step_backward(lr, a, ga);
            let gb = b.forward(x.clone()).powi_scalar(2).sum().backward();
            b = theirs.step_backward(lr, b, gb);
        }
        let wa: Vec<f32> = a.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let wb: Vec<f32> = b.weight.val().into_data().try_to_vec::<f32>().unwrap();
        wa.iter()
            .zip(&wb)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// A parameter past the threshold, updated in pieces on rayon's threads, gets the same bits
    /// as its pieces updated one after another on one thread (each below the threshold).
    #[test]
    fn a_large_parameter_updates_in_pieces_as_in_one_pass() {
        let n = PARALLEL_FROM + PIECE / 2 + 5;
        let fill = |seed: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (((i * 7919 + seed) % 1013) as f32 - 506.0) / 997.0)
                .collect()
        };
        let adam = Adam {
            l2: 1e-3,
            ..adam(EpsilonPlacement::Pytorch)
        };
        let (g, w0, m0) = (fill(1), fill(2), fill(3));
        let v0: Vec<f32> = fill(4).iter().map(|x| x * x).collect();
        let (mut w, mut m, mut v) = (w0.clone(), m0.clone(), v0.clone());
        adam.update_host(1e-3, 3, &mut w, &g, &mut m, &mut v);
        let (mut w1, mut m1, mut v1) = (w0, m0, v0);
        for (((w, g), m), v) in w1
            .chunks_mut(PIECE)
            .zip(g.chunks(PIECE))
            .zip(m1.chunks_mut(PIECE))
            .zip(v1.chunks_mut(PIECE))
        {
            adam.update_host(1e-3, 3, w, g, m, v);
        }
        assert_eq!((w, m, v), (w1, m1, v1));
    }

    /// The host update (CPU backends) and the tensor one (GPUs) take the same steps on a DCGAN
    /// discriminator: 4-D convolution kernels, batch norm, biases and none.
    #[test]
    fn host_and_tensor_updates_agree_on_a_dcgan_discriminator() {
        use nnlab_models::gan::Discriminator;
        let device = Device::flex().autodiff();
        device.seed(1);
        let d = nnlab_models::dcgan::DcganConfig::new(8)
            .with_d_features(4)
            .init_discriminator(&device);
        let x = Tensor::<2>::random([16, 784], burn::tensor::Distribution::Default, &device);
        let (mut host, mut tensor) = (
            optim(adam(EpsilonPlacement::Keras), true),
            optim(adam(EpsilonPlacement::Keras), false),
        );
        let (mut a, mut b) = (d.clone(), d);
        for _ in 0..3 {
            a = host.step_backward(5e-3, a.clone(), a.logit(x.clone()).sum().backward());
            b = tensor.step_backward(5e-3, b.clone(), b.logit(x.clone()).sum().backward());
        }
        let logits = |m: &nnlab_models::dcgan::DcganDiscriminator| {
            m.logit(x.clone()).into_data().try_to_vec::<f32>().unwrap()
        };
        for (u, v) in logits(&a).iter().zip(&logits(&b)) {
            assert!((u - v).abs() <= 1e-5 * u.abs().max(1.0), "{u} vs {v}");
        }
    }

    /// With epsilon placed as PyTorch does, ours and burn's `Adam` take the same steps (to f32
    /// rounding), on the host and as tensor operations.
    #[test]
    fn matches_burn_adam_over_steps() {
        for host in [true, false] {
            let burn_adam = AdamConfig::new().with_epsilon(1e-7).init();
            let d = compare(
                optim(adam(EpsilonPlacement::Pytorch), host),
                Optim::Module(burn_adam),
                1e-2,
            );
            assert!(d < 1e-5, "host {host}: {d}");
        }
    }

    /// Decoupled decay as PyTorch's AdamW: the same steps as burn's `AdamW`.
    #[test]
    fn matches_burn_adamw_over_steps() {
        for host in [true, false] {
            let ours = Adam {
                decoupled: 0.1,
                ..adam(EpsilonPlacement::Pytorch)
            };
            let theirs = AdamWConfig::new()
                .with_epsilon(1e-7)
                .with_weight_decay(0.1)
                .init();
            let d = compare(optim(ours, host), Optim::Module(theirs), 1e-2);
            assert!(d < 1e-5, "host {host}: {d}");
        }
    }

    /// Coupled L2 decay as burn's (and PyTorch's) `weight_decay` on Adam.
    #[test]
    fn matches_burn_adam_with_l2() {
        let ours = Adam {
            l2: 0.05,
            ..adam(EpsilonPlacement::Pytorch)
        };
        let theirs = AdamConfig::new()
            .with_epsilon(1e-7)
            .with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(0.05)))
            .init();
        let d = compare(optim(ours, true), Optim::Module(theirs), 1e-2);
        assert!(d < 1e-5, "{d}");
    }

    /// Keras' placement by hand, first step of one weight: m = 0.1 g, v = 0.001 g^2,
    /// alpha_1 = lr sqrt(0.001) / 0.1, so w1 = w0 - lr sqrt(0.001) g / (sqrt(0.001) |g| + eps)
    /// = w0 - lr g / (|g| + eps / sqrt(0.001)); PyTorch's gives w0 - lr g / (|g| + eps).
    #[test]
    fn keras_placement_by_hand() {
        let device = Device::flex();
        let (w0, g, lr, eps) = (1.0f32, 1e-5f32, 0.1f64, 1e-4f32);
        for (placement, denominator) in [
            (EpsilonPlacement::Keras, g + eps / 0.001f32.sqrt()),
            (EpsilonPlacement::Pytorch, g + eps),
        ] {
            let opt = Adam {
                epsilon: f64::from(eps),
                ..adam(placement)
            };
            let want = w0 - lr as f32 * g / denominator;
            // As tensor operations, and in host memory.
            let w = Tensor::<1>::from_data(TensorData::new(vec![w0], [1]), &device);
            let gt = Tensor::<1>::from_data(TensorData::new(vec![g], [1]), &device);
            let (w1, _) = opt.step(lr, w, gt, None);
            let got = w1.into_scalar::<f32>();
            assert!((got - want).abs() < 1e-6, "{placement:?}: {got} vs {want}");
            let (mut w, mut m, mut v) = ([w0], [0.0], [0.0]);
            opt.update_host(lr, 1, &mut w, &[g], &mut m, &mut v);
            assert!(
                (w[0] - want).abs() < 1e-6,
                "{placement:?}: {} vs {want}",
                w[0]
            );
        }
    }

    /// A weight whose gradient stopped: its moments decay into the subnormal range and are
    /// stored as zero there, while the weight moves exactly as without the flush (hand
    /// computation: `v = 0.999 * 1.18e-38` is subnormal, and `sqrt(v) + eps == eps`).
    #[test]
    fn subnormal_moments_are_flushed_without_moving_the_weight() {
        let (b1, b2, alpha, eps) = (0.9f32, 0.999f32, 1e-3f32, 1e-7f32);
        let (m0, v0, w0) = (1.0e-30f32, f32::MIN_POSITIVE, 0.25f32);
        let (mut w, mut m, mut v) = ([w0], [m0], [v0]);
        pulp::Arch::new().dispatch(Update {
            w: &mut w,
            g: &[0.0],
            m: &mut m,
            v: &mut v,
            beta1: b1,
            beta2: b2,
            rest1: 1.0 - b1,
            rest2: 1.0 - b2,
            alpha,
            eps,
            l2: 0.0,
            keep: 1.0,
        });
        let unflushed_v = b2 * v0;
        assert!(unflushed_v > 0.0 && unflushed_v < f32::MIN_POSITIVE);
        assert_eq!(v[0].to_bits(), 0, "v is flushed to +0");
        assert_eq!(m[0], b1 * m0, "a normal m is kept");
        let unflushed_w = w0 - alpha * (b1 * m0) / (unflushed_v.sqrt() + eps);
        assert_eq!(w[0].to_bits(), unflushed_w.to_bits());
    }

    /// With an epsilon too small to swallow a subnormal's square root, `v` is kept: flushing it
    /// would turn a tiny step into one of `alpha m / eps`.
    #[test]
    fn subnormal_v_is_kept_when_epsilon_is_tiny() {
        let (mut w, mut m, mut v) = ([0.25f32], [0.0f32], [f32::MIN_POSITIVE]);
        pulp::Arch::new().dispatch(Update {
            w: &mut w,
            g: &[0.0],
            m: &mut m,
            v: &mut v,
            beta1: 0.9,
            beta2: 0.999,
            rest1: 0.1,
            rest2: 0.001,
            alpha: 1e-3,
            eps: 1e-30,
            l2: 0.0,
            keep: 1.0,
        });
        assert_eq!(v[0], 0.999 * f32::MIN_POSITIVE);
        assert!(v[0] > 0.0 && v[0] < f32::MIN_POSITIVE);
    }
}
