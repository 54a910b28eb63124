//! Adam (Kingma & Ba, 2014, <https://arxiv.org/abs/1412.6980>, Algorithm 1) with the whole
//! update of a parameter done in one pass over host memory.
//!
//! burn's `Adam` expresses the update as about a dozen tensor operations per parameter, each a
//! separate pass with its own allocation. On CPU backends, for models as small as the article's
//! MLP (25,450 parameters), that overhead is most of an optimizer step. This implementation
//! computes the same formula, per element:
//!
//! ```text
//! m <- beta1 m + (1 - beta1) g
//! v <- beta2 v + (1 - beta2) g^2
//! w <- w - alpha_t m / (sqrt(v) + eps_t),  alpha_t = lr sqrt(1 - beta2^t) / (1 - beta1^t),
//!                                          eps_t   = eps sqrt(1 - beta2^t)
//! ```
//!
//! which is burn's and PyTorch's form (`m_hat / (sqrt(v_hat) + eps)`, rearranged). It is used on
//! CPU backends only (flex, ndarray); on GPUs the parameters stay on the device and burn's `Adam`
//! is used.

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource};
use burn::prelude::*;
use burn_pack::Scalar;

/// Adam with a fused host-side update. Build a `ModuleOptimizer` with `.into()`.
#[derive(Debug, Clone)]
pub struct FusedAdam {
    /// First-moment decay `beta1`.
    pub beta1: f32,
    /// Second-moment decay `beta2`.
    pub beta2: f32,
    /// `epsilon`.
    pub epsilon: f32,
}

/// Per-parameter state: step count and the two moment estimates, flat in host memory.
#[derive(Debug, Clone)]
pub struct Moments {
    /// Steps taken (`t`).
    pub time: usize,
    /// First moment `m`.
    pub m: Vec<f32>,
    /// Second moment `v`.
    pub v: Vec<f32>,
    /// Shape of the parameter.
    pub shape: Vec<usize>,
}

impl RecordState for Moments {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(
            prefix,
            "moment_1",
            TensorData::new(self.m.clone(), self.shape.clone()),
        );
        out.push_tensor(
            prefix,
            "moment_2",
            TensorData::new(self.v.clone(), self.shape.clone()),
        );
        out.push_scalar(prefix, "time", Scalar::UInt(self.time as u64));
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, _device: &Device) -> Option<Self> {
        let m = src.take_tensor(prefix, "moment_1")?;
        let v = src.take_tensor(prefix, "moment_2")?;
        let time = match src.take_scalar(prefix, "time")? {
            Scalar::UInt(t) => t as usize,
            Scalar::Int(t) if t >= 0 => t as usize,
            _ => return None,
        };
        let shape = m.shape().to_vec();
        Some(Self {
            time,
            m: m.try_into_vec::<f32>().ok()?,
            v: v.try_into_vec::<f32>().ok()?,
            shape,
        })
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = Moments;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Moments>,
    ) -> (Tensor<D>, Option<Moments>) {
        let device = tensor.device();
        let mut w = tensor.into_data().convert::<f32>();
        let g = grad.into_data().convert::<f32>();
        let n = g.num_elements();
        let mut s = state.unwrap_or_else(|| Moments {
            time: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
            shape: g.shape().to_vec(),
        });
        s.time += 1;
        let t = s.time as i32;
        let bc2 = (1.0 - (self.beta2 as f64).powi(t)).sqrt();
        let alpha = (lr * bc2 / (1.0 - (self.beta1 as f64).powi(t))) as f32;
        let eps = (self.epsilon as f64 * bc2) as f32;
        pulp::Arch::new().dispatch(Update {
            w: w.as_mut_slice::<f32>().expect("parameters are f32"),
            g: g.as_slice::<f32>().expect("gradients are f32"),
            m: &mut s.m,
            v: &mut s.v,
            beta1: self.beta1,
            beta2: self.beta2,
            alpha,
            eps,
        });
        (Tensor::from_data(w, &device), Some(s))
    }

    fn to_device<const D: usize>(state: Moments, _device: &Device) -> Moments {
        state
    }
}

/// One Adam step over flat slices, compiled for the best vector unit found at run time (pulp).
/// Only IEEE `+ - * / sqrt` are used (no fused multiply-add), so every instruction set gives the
/// same bits.
struct Update<'a> {
    w: &'a mut [f32],
    g: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    beta1: f32,
    beta2: f32,
    alpha: f32,
    eps: f32,
}

impl pulp::WithSimd for Update<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let (b1, b2, alpha, eps) = (self.beta1, self.beta2, self.alpha, self.eps);
        for (((w, &g), m), v) in self.w.iter_mut().zip(self.g).zip(self.m).zip(self.v) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *w -= alpha * *m / (v.sqrt() + eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};

    /// The fused update and burn's `Adam` take the same steps (to f32 rounding).
    #[test]
    fn matches_burn_adam_over_steps() {
        let device = Device::flex().autodiff();
        device.seed(0);
        let layer = burn::nn::LinearConfig::new(7, 5).init(&device);
        let mut ours: ModuleOptimizer = FusedAdam {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
        .into();
        let mut theirs = AdamConfig::new().with_epsilon(1e-7).init();
        let (mut a, mut b) = (layer.clone(), layer);
        let x = Tensor::<2>::random([4, 7], burn::tensor::Distribution::Default, &device);
        for _ in 0..10 {
            let ga = GradientsParams::from_grads(
                a.forward(x.clone()).powi_scalar(2).sum().backward(),
                &a,
            );
            a = ours.step(1e-2, a, ga);
            let gb = GradientsParams::from_grads(
                b.forward(x.clone()).powi_scalar(2).sum().backward(),
                &b,
            );
            b = theirs.step(1e-2, b, gb);
        }
        let wa: Vec<f32> = a.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let wb: Vec<f32> = b.weight.val().into_data().try_to_vec::<f32>().unwrap();
        for (x, y) in wa.iter().zip(&wb) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}
