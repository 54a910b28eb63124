//! A restricted Boltzmann machine (Smolensky 1986; Hinton 2002, "Training products of experts by
//! minimizing contrastive divergence"), the building block of Hinton, Osindero & Teh's (2006)
//! deep belief nets, trained as Hinton's "practical guide" (2010) describes.
//!
//! Energy with binary units `E(v, h) = -v·b - h·c - v W h`; `p(h_j = 1 | v) = sigmoid(c_j +
//! (v W)_j)`, `p(v_i = 1 | h) = sigmoid(b_i + (W h)_i)`; free energy
//! `F(v) = -v·b - sum_j softplus(c_j + (v W)_j)`, with `p(v) = exp(-F(v)) / Z`.
//!
//! Either layer may instead hold linear units with unit-variance Gaussian noise (the guide,
//! section 13): a Gaussian visible layer adds `|v - b|^2 / 2` to the energy in place of `-v·b`
//! (a Gaussian-binary RBM, for standardised real-valued data), and `p(v | h) = N(b + W h, I)`; a
//! Gaussian hidden layer adds `|h|^2 / 2 - h·c` and gives `p(h | v) = N(c + v W, I)`, the code
//! layer of Hinton & Salakhutdinov's (2006) deep autoencoder. Integrating the hidden units out
//! gives the free energies `F(v) = [|v - b|^2 / 2 or -v·b] - sum_j [softplus(a_j) or a_j^2 / 2]`
//! with `a = c + v W` (up to a constant).
//!
//! Contrastive divergence (CD-k) estimates the log-likelihood gradient
//! `<v h>_data - <v h>_model` with the model's expectation taken after `k` steps of Gibbs
//! sampling from the data. No autodiff: the update is written out, as in the papers.

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{sigmoid, softplus};
pub use nnlab_config::Units;

/// Configuration of an [`Rbm`].
#[derive(Config, Debug)]
pub struct RbmConfig {
    /// Visible units (pixels).
    pub visible: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Standard deviation of the initial weights (the guide: 0.01).
    #[config(default = 0.01)]
    pub init_std: f64,
    /// The visible units.
    #[config(default = "Units::Binary")]
    pub visible_units: Units,
    /// The hidden units.
    #[config(default = "Units::Binary")]
    pub hidden_units: Units,
}

/// The machine's parameters.
#[derive(Module, Debug)]
pub struct Rbm {
    /// `W`, `[visible, hidden]`.
    pub weight: Param<Tensor<2>>,
    /// `b`, `[visible]`.
    pub visible_bias: Param<Tensor<1>>,
    /// `c`, `[hidden]`.
    pub hidden_bias: Param<Tensor<1>>,
    /// The visible units' kind.
    #[module(skip)]
    pub visible_units: Units,
    /// The hidden units' kind.
    #[module(skip)]
    pub hidden_units: Units,
}

/// One contrastive-divergence estimate over a batch: the gradient of the mean log-likelihood
/// with respect to each parameter, and the batch's squared reconstruction error per example.
#[derive(Debug, Clone)]
pub struct CdGradient {
    /// `<v h>_data - <v h>_k`, `[visible, hidden]`.
    pub weight: Tensor<2>,
    /// `<v>_data - <v>_k`, `[visible]`.
    pub visible_bias: Tensor<1>,
    /// `<h>_data - <h>_k`, `[hidden]`.
    pub hidden_bias: Tensor<1>,
    /// Mean over the batch of `sum_i (v_i - p(v_i | h))^2` after the first Gibbs step.
    pub reconstruction_error: f32,
}

impl RbmConfig {
    /// Weights drawn from `N(0, init_std^2)`, biases zero.
    pub fn init(&self, device: &Device) -> Rbm {
        Rbm {
            weight: Param::from_tensor(Tensor::random(
                [self.visible, self.hidden],
                Distribution::Normal(0.0, self.init_std),
                device,
            )),
            visible_bias: Param::from_tensor(Tensor::zeros([self.visible], device)),
            hidden_bias: Param::from_tensor(Tensor::zeros([self.hidden], device)),
            visible_units: self.visible_units,
            hidden_units: self.hidden_units,
        }
    }
}

/// Binary states drawn with probabilities `p` (the device's seeded generator).
pub fn bernoulli(p: Tensor<2>) -> Tensor<2> {
    let u = p.random_like(Distribution::Uniform(0.0, 1.0));
    u.lower(p).float()
}

/// The mean of units of kind `units` given their total input `a`: `sigmoid(a)` (binary) or `a`
/// (Gaussian).
fn mean(units: Units, a: Tensor<2>) -> Tensor<2> {
    match units {
        Units::Binary => sigmoid(a),
        Units::Gaussian => a,
    }
}

/// States of units of kind `units` drawn around their `mean`: 0/1 (binary) or `mean + N(0, 1)`
/// (Gaussian).
pub fn sample(units: Units, mean: Tensor<2>) -> Tensor<2> {
    match units {
        Units::Binary => bernoulli(mean),
        Units::Gaussian => mean.clone() + mean.random_like(Distribution::Normal(0.0, 1.0)),
    }
}

impl Rbm {
    /// Visible units.
    pub fn visible(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Hidden units.
    pub fn hidden(&self) -> usize {
        self.weight.dims()[1]
    }

    /// `E[h | v]`: `p(h = 1 | v)` for binary hidden units, `c + v W` for Gaussian ones.
    /// `[batch, visible]` -> `[batch, hidden]`.
    pub fn hidden_probs(&self, v: Tensor<2>) -> Tensor<2> {
        let a = v.matmul(self.weight.val()) + self.hidden_bias.val().unsqueeze();
        mean(self.hidden_units, a)
    }

    /// `E[v | h]`: `p(v = 1 | h)` for binary visible units, `b + W h` for Gaussian ones.
    /// `[batch, hidden]` -> `[batch, visible]`.
    pub fn visible_probs(&self, h: Tensor<2>) -> Tensor<2> {
        let a = h.matmul(self.weight.val().transpose()) + self.visible_bias.val().unsqueeze();
        mean(self.visible_units, a)
    }

    /// `F(v)` per example (see the module's doc for both kinds of units): `[batch, visible]` ->
    /// `[batch]`.
    pub fn free_energy(&self, v: Tensor<2>) -> Tensor<1> {
        let a = v.clone().matmul(self.weight.val()) + self.hidden_bias.val().unsqueeze();
        let b = self.visible_bias.val().unsqueeze();
        let visible = match self.visible_units {
            Units::Binary => (v * b).sum_dim(1).neg(),
            Units::Gaussian => (v - b).square().sum_dim(1).div_scalar(2.0),
        };
        let hidden = match self.hidden_units {
            Units::Binary => softplus(a, 1.0).sum_dim(1),
            Units::Gaussian => a.square().sum_dim(1).div_scalar(2.0),
        };
        (visible - hidden).squeeze_dim::<1>(1)
    }

    /// The stochastic pseudo-log-likelihood per example of binary data `v` (`[batch, visible]`
    /// of 0 and 1), with one unit per example, `flip[n]`, flipped: `D log sigmoid(F(v~) - F(v))`
    /// where `v~` is `v` with that unit flipped and `D` the visible units (Besag 1975; the
    /// estimate scikit-learn's BernoulliRBM reports). `[batch]`.
    pub fn pseudo_log_likelihood(&self, v: Tensor<2>, flip: &[usize]) -> Tensor<1> {
        let [n, d] = v.dims();
        let mut mask = vec![0.0f32; n * d];
        for (row, &i) in flip.iter().enumerate() {
            mask[row * d + i] = 1.0;
        }
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, d]), &v.device());
        // Flipping: v + mask - 2 v mask.
        let flipped = v.clone() + mask.clone() - v.clone() * mask * 2.0;
        let gap = self.free_energy(flipped) - self.free_energy(v);
        burn::tensor::activation::log_sigmoid(gap).mul_scalar(d as f64)
    }

    /// CD-k on the data `v0` (`[batch, visible]`; binary units read values in `[0, 1]` as
    /// probabilities): hidden states are sampled, the reconstructions kept as their means (the
    /// guide's recommendation for the visible units, Gaussian ones too), and the statistics use
    /// the hidden units' means.
    pub fn cd(&self, v0: Tensor<2>, k: usize) -> CdGradient {
        self.cd_from(v0, None, k).0
    }

    /// CD-k as [`Rbm::cd`], the negative phase's chains started from the hidden states `chain`
    /// (persistent CD, Tieleman 2008: the previous step's last states) instead of the data's;
    /// returns the gradient and the chains' last hidden states. The two phases are averaged over
    /// their own rows, so the chains may number other than the batch.
    pub fn cd_from(
        &self,
        v0: Tensor<2>,
        chain: Option<Tensor<2>>,
        k: usize,
    ) -> (CdGradient, Tensor<2>) {
        let n = v0.dims()[0] as f64;
        let ph0 = self.hidden_probs(v0.clone());
        // The data's first reconstruction: the chains' first step unless they persist.
        let recon = self.visible_probs(sample(self.hidden_units, ph0.clone()));
        let reconstruction_error = (v0.clone() - recon.clone())
            .square()
            .sum()
            .into_scalar::<f32>()
            / n as f32;
        let mut pv = match chain {
            Some(h) => self.visible_probs(h),
            None => recon,
        };
        let chains = pv.dims()[0] as f64;
        // Between rounds the chain samples the visible states (a Gibbs chain, not mean field);
        // the last round's visible means and the hidden means they give make the statistics.
        for _ in 1..k {
            let v = sample(self.visible_units, pv);
            pv = self.visible_probs(sample(self.hidden_units, self.hidden_probs(v)));
        }
        let phk = self.hidden_probs(pv.clone());
        let positive = v0.clone().transpose().matmul(ph0.clone()).div_scalar(n);
        let negative = pv
            .clone()
            .transpose()
            .matmul(phk.clone())
            .div_scalar(chains);
        let gradient = CdGradient {
            weight: positive - negative,
            visible_bias: v0.mean_dim(0).squeeze_dim::<1>(0)
                - pv.clone().mean_dim(0).squeeze_dim::<1>(0),
            hidden_bias: ph0.mean_dim(0).squeeze_dim::<1>(0)
                - phk.clone().mean_dim(0).squeeze_dim::<1>(0),
            reconstruction_error,
        };
        // The chain goes on from sampled visible states.
        let next = self.hidden_probs(sample(self.visible_units, pv));
        (gradient, sample(self.hidden_units, next))
    }

    /// One step of the guide's update with momentum: `velocity = momentum * velocity +
    /// lr * (gradient - weight_decay * W)`, then each parameter moves by its velocity (the biases
    /// without decay). `velocity` has this machine's shapes.
    pub fn momentum_step(
        &mut self,
        velocity: &mut Rbm,
        g: CdGradient,
        lr: f64,
        momentum: f64,
        weight_decay: f64,
    ) {
        let w = self.weight.val();
        let vw = velocity.weight.val().mul_scalar(momentum)
            + (g.weight - w.clone().mul_scalar(weight_decay)).mul_scalar(lr);
        let vb = velocity.visible_bias.val().mul_scalar(momentum) + g.visible_bias.mul_scalar(lr);
        let vc = velocity.hidden_bias.val().mul_scalar(momentum) + g.hidden_bias.mul_scalar(lr);
        self.weight = Param::from_tensor(w + vw.clone());
        self.visible_bias = Param::from_tensor(self.visible_bias.val() + vb.clone());
        self.hidden_bias = Param::from_tensor(self.hidden_bias.val() + vc.clone());
        velocity.weight = Param::from_tensor(vw);
        velocity.visible_bias = Param::from_tensor(vb);
        velocity.hidden_bias = Param::from_tensor(vc);
    }

    /// A machine of this one's shapes and units, every parameter zero (a velocity's start).
    pub fn zeros_like(&self) -> Rbm {
        Rbm {
            weight: Param::from_tensor(self.weight.val().zeros_like()),
            visible_bias: Param::from_tensor(self.visible_bias.val().zeros_like()),
            hidden_bias: Param::from_tensor(self.hidden_bias.val().zeros_like()),
            visible_units: self.visible_units,
            hidden_units: self.hidden_units,
        }
    }

    /// `steps` rounds of Gibbs sampling from the visible states `v`, each drawing the hidden
    /// states given the visible ones and then the visible states given those; returns the last
    /// round's visible means (a sample's mean image) rather than its states.
    pub fn gibbs(&self, v: Tensor<2>, steps: usize) -> Tensor<2> {
        let mut pv = v.clone();
        let mut v = v;
        for step in 0..steps {
            let h = sample(self.hidden_units, self.hidden_probs(v));
            pv = self.visible_probs(h);
            v = if step + 1 < steps {
                sample(self.visible_units, pv.clone())
            } else {
                pv.clone()
            };
        }
        pv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3-visible, 2-hidden machine with weights chosen by hand.
    fn small(device: &Device) -> Rbm {
        let t2 = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [3, 2]), device);
        let t1 = |v: Vec<f32>| {
            let n = v.len();
            Tensor::<1>::from_data(TensorData::new(v, [n]), device)
        };
        Rbm {
            weight: Param::from_tensor(t2(vec![0.5, -1.0, 0.25, 0.0, -0.5, 1.5])),
            visible_bias: Param::from_tensor(t1(vec![0.1, -0.2, 0.3])),
            hidden_bias: Param::from_tensor(t1(vec![-0.4, 0.2])),
            visible_units: Units::Binary,
            hidden_units: Units::Binary,
        }
    }

    #[test]
    fn pseudo_likelihood_by_hand() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let rbm = small(&device);
        let v = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0], [1, 3]), &device);
        let flipped =
            Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 1.0], [1, 3]), &device);
        let gap =
            (rbm.free_energy(flipped) - rbm.free_energy(v.clone())).into_scalar::<f32>() as f64;
        let expected = 3.0 * -(1.0 + (-gap).exp()).ln();
        let pl = rbm.pseudo_log_likelihood(v, &[1]).into_scalar::<f32>() as f64;
        assert!((pl - expected).abs() < 1e-5, "{pl} vs {expected}");
    }

    #[test]
    fn free_energy_by_hand() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let rbm = small(&device);
        let v = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0], [1, 3]), &device);
        // v·b = 0.1 + 0.3 = 0.4; c + vW = [-0.4 + 0.5 - 0.5, 0.2 - 1.0 + 1.5] = [-0.4, 0.7].
        let softplus = |x: f64| (1.0 + x.exp()).ln();
        let expected = -0.4 - softplus(-0.4) - softplus(0.7);
        let f = rbm.free_energy(v).into_scalar::<f32>() as f64;
        assert!((f - expected).abs() < 1e-6, "{f} vs {expected}");
    }

    /// The largest gap between an exact gradient and an estimate of it, and their cosine.
    fn gap_and_cosine(exact: &[f64], estimate: &[f32]) -> (f64, f64) {
        let pairs = || exact.iter().zip(estimate).map(|(&g, &e)| (g, f64::from(e)));
        let gap = pairs().fold(0.0f64, |m, (g, e)| m.max((g - e).abs()));
        let dot: f64 = pairs().map(|(g, e)| g * e).sum();
        let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
        let cosine = dot
            / (norm(&mut exact.iter().copied())
                * norm(&mut estimate.iter().map(|&e| f64::from(e))));
        (gap, cosine)
    }

    /// Every joint state of a 6-visible, 4-hidden machine, enumerated: the exact model
    /// expectation `<v h>_model`. CD-k's negative phase, from many chains run long enough to
    /// mix, must approach it (CD-1 from the data is biased; CD with long chains is not).
    #[test]
    fn long_chains_reach_the_exact_model_expectation() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        device.seed(7);
        let rbm = RbmConfig::new(6, 4).with_init_std(0.8).init(&device);
        let w: Vec<f32> = rbm.weight.val().into_data().try_into_vec().unwrap();
        let b: Vec<f32> = rbm.visible_bias.val().into_data().try_into_vec().unwrap();
        let c: Vec<f32> = rbm.hidden_bias.val().into_data().try_into_vec().unwrap();
        let (mut z, mut vh) = (0.0f64, vec![0.0f64; 24]);
        for vs in 0..64u32 {
            for hs in 0..16u32 {
                let v = |i: usize| f64::from((vs >> i) & 1);
                let h = |j: usize| f64::from((hs >> j) & 1);
                let mut e = 0.0;
                for i in 0..6 {
                    e += v(i) * f64::from(b[i]);
                    for j in 0..4 {
                        e += v(i) * h(j) * f64::from(w[i * 4 + j]);
                    }
                }
                for (j, cj) in c.iter().enumerate() {
                    e += h(j) * f64::from(*cj);
                }
                let p = e.exp();
                z += p;
                for i in 0..6 {
                    for j in 0..4 {
                        vh[i * 4 + j] += p * v(i) * h(j);
                    }
                }
            }
        }
        let exact: Vec<f64> = vh.iter().map(|x| x / z).collect();
        // 4,000 chains of 200 steps from random binary states; <v h> with hidden probabilities.
        let start = bernoulli(Tensor::<2>::full([4000, 6], 0.5, &device));
        let v = bernoulli(rbm.gibbs(start, 200));
        let ph = rbm.hidden_probs(v.clone());
        let sampled: Vec<f32> = v
            .transpose()
            .matmul(ph)
            .div_scalar(4000.0)
            .into_data()
            .try_into_vec()
            .unwrap();
        let worst = exact
            .iter()
            .zip(&sampled)
            .fold(0.0f64, |m, (e, s)| m.max((e - f64::from(*s)).abs()));
        assert!(worst < 0.03, "largest gap to the exact <v h>: {worst}");
        // The whole gradient of the log-likelihood of two data vectors, exactly:
        // <v p(h|v)>_data - <v h>_model, against CD's estimate with 4,000 chains run 200 steps
        // from random states (persistent-style, so they forget their start).
        let data = [
            [1.0f32, 1.0, 0.0, 0.0, 1.0, 0.0],
            [0.0, 1.0, 1.0, 0.0, 0.0, 1.0],
        ];
        let mut gradient = [0.0f64; 24];
        for v in &data {
            for j in 0..4 {
                let act: f64 = f64::from(c[j])
                    + (0..6)
                        .map(|i| f64::from(v[i]) * f64::from(w[i * 4 + j]))
                        .sum::<f64>();
                let p = 1.0 / (1.0 + (-act).exp());
                for i in 0..6 {
                    gradient[i * 4 + j] += f64::from(v[i]) * p / 2.0;
                }
            }
        }
        for (g, e) in gradient.iter_mut().zip(&exact) {
            *g -= e;
        }
        let v0 = Tensor::<2>::from_data(TensorData::new(data.concat(), [2, 6]), &device);
        let chains = bernoulli(Tensor::<2>::full([4000, 4], 0.5, &device));
        let (cd, _) = rbm.cd_from(v0, Some(chains), 200);
        let estimate: Vec<f32> = cd.weight.into_data().try_into_vec().unwrap();
        // CD's negative statistic uses visible probabilities and the hidden probabilities they
        // give (the guide's choice, less noisy than sampled states), a mean-field bias that this
        // strongly coupled machine shows: the estimate points the exact gradient's way, within a
        // wider margin than the sampled statistic above.
        let (worst, cosine) = gap_and_cosine(&gradient, &estimate);
        eprintln!("CD against the exact gradient: largest gap {worst:.4}, cosine {cosine:.4}");
        assert!(worst < 0.1 && cosine > 0.95, "gap {worst}, cosine {cosine}");
        // CD-k from the data itself, as training runs it (each data vector repeated 2,000
        // times so the chains' noise averages out): CD-1 is biased (Carreira-Perpinan & Hinton
        // 2005) yet points the exact gradient's way; the bias shrinks as k grows.
        let repeated: Vec<f32> = (0..2000).flat_map(|_| data.concat()).collect();
        let v0 = Tensor::<2>::from_data(TensorData::new(repeated, [4000, 6]), &device);
        let against_exact = |k: usize| {
            let est: Vec<f32> = rbm
                .cd(v0.clone(), k)
                .weight
                .into_data()
                .try_into_vec()
                .unwrap();
            gap_and_cosine(&gradient, &est)
        };
        let (gap1, cos1) = against_exact(1);
        let (gap200, cos200) = against_exact(200);
        eprintln!(
            "CD-1 from the data: gap {gap1:.4}, cosine {cos1:.4}; CD-200: gap {gap200:.4}, cosine {cos200:.4}"
        );
        assert!(cos1 > 0.5, "CD-1's cosine to the exact gradient: {cos1}");
        assert!(
            gap200 < gap1 && cos200 > cos1,
            "CD-200 ({gap200}, {cos200}) vs CD-1 ({gap1}, {cos1})"
        );
        assert!(
            gap200 < 0.1 && cos200 > 0.95,
            "CD-200: gap {gap200}, cosine {cos200}"
        );
    }

    #[test]
    fn gaussian_free_energies_by_hand() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let mut rbm = small(&device);
        let v = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0], [1, 3]), &device);
        // a = c + vW = [-0.4, 0.7] as above; v·b = 0.4; |v - b|^2 = 0.81 + 0.04 + 0.49.
        let softplus = |x: f64| (1.0 + x.exp()).ln();
        rbm.hidden_units = Units::Gaussian;
        let f = rbm.free_energy(v.clone()).into_scalar::<f32>() as f64;
        let expected = -0.4 - (0.16 + 0.49) / 2.0;
        assert!((f - expected).abs() < 1e-6, "{f} vs {expected}");
        rbm.hidden_units = Units::Binary;
        rbm.visible_units = Units::Gaussian;
        let f = rbm.free_energy(v).into_scalar::<f32>() as f64;
        let expected = 1.34 / 2.0 - softplus(-0.4) - softplus(0.7);
        assert!((f - expected).abs() < 1e-6, "{f} vs {expected}");
    }

    /// `<v h>_model` of a machine with one Gaussian layer, exactly: the binary layer's states
    /// enumerated, the Gaussian layer integrated out. Long Gibbs chains must reach it.
    #[test]
    fn long_chains_reach_the_exact_expectation_with_gaussian_units() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        device.seed(11);
        for gaussian_visible in [false, true] {
            let (visible, hidden) = (5, 3);
            let mut config = RbmConfig::new(visible, hidden).with_init_std(0.4);
            if gaussian_visible {
                config = config.with_visible_units(Units::Gaussian);
            } else {
                config = config.with_hidden_units(Units::Gaussian);
            }
            let mut rbm = config.init(&device);
            let nudge = |n: usize| {
                Param::from_tensor(Tensor::<1>::random(
                    [n],
                    Distribution::Normal(0.0, 0.5),
                    &device,
                ))
            };
            rbm.visible_bias = nudge(visible);
            rbm.hidden_bias = nudge(hidden);
            let w: Vec<f64> = rbm
                .weight
                .val()
                .into_data()
                .convert::<f64>()
                .try_into_vec()
                .unwrap();
            let b: Vec<f64> = rbm
                .visible_bias
                .val()
                .into_data()
                .convert::<f64>()
                .try_into_vec()
                .unwrap();
            let c: Vec<f64> = rbm
                .hidden_bias
                .val()
                .into_data()
                .convert::<f64>()
                .try_into_vec()
                .unwrap();
            let (mut z, mut vh) = (0.0f64, vec![0.0f64; visible * hidden]);
            if gaussian_visible {
                // p(h) ∝ exp(c·h + |b + W h|^2 / 2); E[v | h] = b + W h.
                for hs in 0..1u32 << hidden {
                    let h = |j: usize| f64::from((hs >> j) & 1);
                    let m: Vec<f64> = (0..visible)
                        .map(|i| b[i] + (0..hidden).map(|j| w[i * hidden + j] * h(j)).sum::<f64>())
                        .collect();
                    let e = (0..hidden).map(|j| c[j] * h(j)).sum::<f64>()
                        + m.iter().map(|x| x * x).sum::<f64>() / 2.0;
                    let p = e.exp();
                    z += p;
                    for i in 0..visible {
                        for j in 0..hidden {
                            vh[i * hidden + j] += p * m[i] * h(j);
                        }
                    }
                }
            } else {
                // p(v) ∝ exp(b·v + |c + v W|^2 / 2); E[h | v] = c + v W.
                for vs in 0..1u32 << visible {
                    let v = |i: usize| f64::from((vs >> i) & 1);
                    let a: Vec<f64> = (0..hidden)
                        .map(|j| c[j] + (0..visible).map(|i| v(i) * w[i * hidden + j]).sum::<f64>())
                        .collect();
                    let e = (0..visible).map(|i| b[i] * v(i)).sum::<f64>()
                        + a.iter().map(|x| x * x).sum::<f64>() / 2.0;
                    let p = e.exp();
                    z += p;
                    for i in 0..visible {
                        for j in 0..hidden {
                            vh[i * hidden + j] += p * v(i) * a[j];
                        }
                    }
                }
            }
            // 20,000 chains of 300 steps; the sampled states' <v E[h | v]>.
            let start = Tensor::<2>::full([20_000, visible], 0.5, &device);
            let start = if gaussian_visible {
                start
            } else {
                bernoulli(start)
            };
            let v = sample(rbm.visible_units, rbm.gibbs(start, 300));
            let sampled: Vec<f64> = v
                .clone()
                .transpose()
                .matmul(rbm.hidden_probs(v))
                .div_scalar(20_000.0)
                .into_data()
                .convert::<f64>()
                .try_into_vec()
                .unwrap();
            let worst = vh
                .iter()
                .zip(&sampled)
                .fold(0.0f64, |m, (e, s)| m.max((e / z - s).abs()));
            assert!(
                worst < 0.03,
                "gaussian visible {gaussian_visible}: largest gap to the exact <v h>: {worst}"
            );
        }
    }

    #[test]
    fn cd_raises_the_likelihood_of_the_data_against_the_rest() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        device.seed(3);
        let mut rbm = RbmConfig::new(6, 4).init(&device);
        // Two patterns; a few hundred CD-1 steps make their free energy the lowest.
        let data = Tensor::<2>::from_data(
            TensorData::new(
                vec![
                    1.0f32, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0,
                ],
                [2, 6],
            ),
            &device,
        );
        let other = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0], [1, 6]),
            &device,
        );
        for _ in 0..500 {
            let g = rbm.cd(data.clone(), 1);
            rbm.weight = Param::from_tensor(rbm.weight.val() + g.weight.mul_scalar(0.1));
            rbm.visible_bias =
                Param::from_tensor(rbm.visible_bias.val() + g.visible_bias.mul_scalar(0.1));
            rbm.hidden_bias =
                Param::from_tensor(rbm.hidden_bias.val() + g.hidden_bias.mul_scalar(0.1));
        }
        let f_data: Vec<f32> = rbm.free_energy(data).into_data().try_into_vec().unwrap();
        let f_other = rbm.free_energy(other).into_scalar::<f32>();
        assert!(
            f_data.iter().all(|f| *f < f_other - 1.0),
            "{f_data:?} vs {f_other}"
        );
    }
}
