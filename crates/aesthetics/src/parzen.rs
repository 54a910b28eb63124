//! The Parzen-window (kernel density) estimate of log-likelihood that Goodfellow et al. (2014,
//! "Generative Adversarial Nets", Table 1; after Breuleux et al. 2011) used to compare generative
//! models: fit an isotropic Gaussian of bandwidth `sigma` around each of `m` generated samples
//! `s_i` and report the mean log-density of the test images under that mixture,
//!
//! ```text
//! log p(x) = log( 1/m sum_i N(x; s_i, sigma^2 I) )
//!          = logsumexp_i( -|x - s_i|^2 / (2 sigma^2) ) - log m - d/2 log(2 pi sigma^2)
//! ```
//!
//! with `sigma` chosen to maximise the mean log-likelihood of validation images. Theis, van den
//! Oord & Bethge (2016, "A note on the evaluation of generative models") showed that this
//! estimate is unreliable in high dimensions: it ranks models differently from the true
//! likelihood, and a model that merely stores k-means centres can beat the training data itself.
//! Report it only beside that warning and beside the same estimate for real images.

use burn::prelude::*;

/// Squared Euclidean distances between every row of `points` `[n, d]` and every row of
/// `samples` `[m, d]`: `[n, m]`, computed as `|x|^2 + |s|^2 - 2 x s^T` and clamped at 0.
fn squared_distances(points: Tensor<2>, samples: Tensor<2>) -> Tensor<2> {
    let pn = points.clone().square().sum_dim(1); // [n, 1]
    let sn = samples.clone().square().sum_dim(1).transpose(); // [1, m]
    (pn + sn - points.matmul(samples.transpose()).mul_scalar(2.0)).clamp_min(0.0)
}

/// The log-likelihood of each row of `points` `[n, d]` under the Parzen window of bandwidth
/// `sigma` on `samples` `[m, d]`, in nats. Rows are processed `chunk` at a time to bound memory
/// (`chunk * m` floats).
pub fn log_likelihoods(
    points: Tensor<2>,
    samples: Tensor<2>,
    sigma: f64,
    chunk: usize,
) -> Vec<f64> {
    let [n, d] = points.dims();
    let [m, _] = samples.dims();
    let norm = (m as f64).ln() + 0.5 * d as f64 * (2.0 * std::f64::consts::PI * sigma * sigma).ln();
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let len = chunk.max(1).min(n - start);
        let rows = points.clone().narrow(0, start, len);
        let a = squared_distances(rows, samples.clone()).mul_scalar(-0.5 / (sigma * sigma));
        let max = a.clone().max_dim(1); // [len, 1]
        let lse = (a - max.clone()).exp().sum_dim(1).log() + max;
        let v: Vec<f32> = lse
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .expect("f32 values");
        out.extend(v.into_iter().map(|x| x as f64 - norm));
        start += len;
    }
    out
}

/// Mean and standard error of the mean (`std / sqrt(n)`, as Goodfellow et al. report).
pub fn mean_and_standard_error(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, (var / n).sqrt())
}

/// The bandwidths Goodfellow et al.'s code searched: 10 values from 0.1 to 1, log-spaced.
pub fn default_grid() -> Vec<f64> {
    (0..10).map(|i| 10f64.powf(-1.0 + i as f64 / 9.0)).collect()
}

/// The bandwidth of `grid` that gives `validation` `[n, d]` the highest mean log-likelihood
/// under the window on `samples`, and that mean.
pub fn choose_sigma(
    validation: Tensor<2>,
    samples: Tensor<2>,
    grid: &[f64],
    chunk: usize,
) -> (f64, f64) {
    grid.iter()
        .map(|&s| {
            let ll = log_likelihoods(validation.clone(), samples.clone(), s, chunk);
            (s, mean_and_standard_error(&ll).0)
        })
        .fold((f64::NAN, f64::NEG_INFINITY), |best, c| {
            if c.1 > best.1 { c } else { best }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, [rows, cols]), device)
    }

    /// One sample: the mixture is a single Gaussian, whose log-density is known in closed form:
    /// log N(x; s, sigma^2 I) = -|x - s|^2 / (2 sigma^2) - d/2 log(2 pi sigma^2).
    #[test]
    fn one_sample_is_a_gaussian() {
        let device = Device::flex();
        let s = t(vec![1.0, 2.0, 3.0], 1, 3, &device);
        let x = t(vec![1.5, 2.0, 2.0, 1.0, 2.0, 3.0], 2, 3, &device);
        let sigma = 0.5;
        let ll = log_likelihoods(x, s, sigma, 1);
        let c = -1.5 * (2.0 * std::f64::consts::PI * 0.25f64).ln();
        let expect = [-(0.25 + 1.0) / (2.0 * 0.25) + c, c];
        for (a, b) in ll.iter().zip(expect) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    /// Two samples at equal distance from x: the mixture density equals each component's, so
    /// the log-likelihood is that of one Gaussian; far from both, the log-sum-exp stays finite.
    #[test]
    fn mixtures_and_far_points() {
        let device = Device::flex();
        let s = t(vec![-1.0, 0.0, 1.0, 0.0], 2, 2, &device);
        let x = t(vec![0.0, 0.0, 1000.0, 0.0], 2, 2, &device);
        let ll = log_likelihoods(x, s, 1.0, 2);
        let one = -0.5 - (2.0 * std::f64::consts::PI).ln();
        assert!((ll[0] - one).abs() < 1e-5, "{}", ll[0]);
        // Nearest sample at distance 999: -(999^2)/2 - log 2 + log(1 + e^(-1998)) - log(2 pi).
        let far = -(999.0f64 * 999.0) / 2.0 - 2f64.ln() - (2.0 * std::f64::consts::PI).ln();
        assert!((ll[1] - far).abs() / far.abs() < 1e-5, "{} vs {far}", ll[1]);
    }

    #[test]
    fn sigma_is_chosen_where_validation_likelihood_peaks() {
        let device = Device::flex();
        // Samples and validation points drawn on a grid 1 apart: a tiny sigma puts validation
        // points between samples at -inf-like densities; a huge one blurs everything.
        let samples: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let valid: Vec<f32> = (0..19).map(|i| i as f32 + 0.5).collect();
        let (valid, samples) = (t(valid, 19, 1, &device), t(samples, 20, 1, &device));
        let (sigma, mean) = choose_sigma(valid.clone(), samples.clone(), &[0.01, 0.5, 100.0], 8);
        assert_eq!(sigma, 0.5);
        // The mean returned is the validation estimate at the chosen bandwidth.
        let at_half = log_likelihoods(valid, samples, 0.5, 8);
        assert_eq!(mean, mean_and_standard_error(&at_half).0);
        // Mean 2, variance (1 + 1) / 2 = 1, standard error sqrt(1 / 2).
        assert_eq!(mean_and_standard_error(&[1.0, 3.0]), (2.0, 0.5f64.sqrt()));
    }
}
