//! The Inception Score (Salimans et al. 2016, "Improved techniques for training GANs",
//! NeurIPS): `IS = exp(E_x KL(p(y|x) || p(y)))`, high when each image is classified
//! confidently (low-entropy `p(y|x)`) and the classes are spread evenly (high-entropy `p(y)`);
//! its maximum is the number of classes. Computed as torch-fidelity does: the images split into
//! `splits` consecutive parts, the score per part, their mean and standard deviation. Here with
//! nnlab's MNIST classifier in place of Inception, so at most 10.

/// Mean and standard deviation over `splits` parts of the score of the class probabilities
/// `probs` (`n` rows of `k`).
pub fn inception_score(probs: &[f64], k: usize, splits: usize) -> (f64, f64) {
    let n = probs.len() / k.max(1);
    let splits = splits.clamp(1, n.max(1));
    let scores: Vec<f64> = (0..splits)
        .map(|s| {
            let (lo, hi) = (s * n / splits, (s + 1) * n / splits);
            let rows: Vec<&[f64]> = (lo..hi).map(|i| &probs[i * k..(i + 1) * k]).collect();
            let m = rows.len().max(1) as f64;
            let py: Vec<f64> = (0..k)
                .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / m)
                .collect();
            let kl: f64 = rows
                .iter()
                .map(|r| {
                    r.iter()
                        .zip(&py)
                        .filter(|(p, _)| **p > 0.0)
                        .map(|(p, q)| p * (p.ln() - q.ln()))
                        .sum::<f64>()
                })
                .sum::<f64>()
                / m;
            kl.exp()
        })
        .collect();
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / scores.len() as f64;
    (mean, var.sqrt())
}

/// Softmax of logit rows (`n` rows of `k`), stably.
pub fn softmax_rows(logits: &[f64], k: usize) -> Vec<f64> {
    logits
        .chunks(k)
        .flat_map(|row| {
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = row.iter().map(|v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_for_confident_even_predictions_one_for_constant() {
        // 100 images, each certain of one class, the classes in turn: p(y) uniform, IS = 10.
        let even: Vec<f64> = (0..100)
            .flat_map(|i| (0..10).map(move |j| f64::from(j == i % 10)))
            .collect();
        let (is, sd) = inception_score(&even, 10, 1);
        assert!((is - 10.0).abs() < 1e-9, "{is}");
        assert_eq!(sd, 0.0);
        // Every image gets the same prediction: p(y|x) = p(y), KL = 0, IS = 1.
        let same: Vec<f64> = (0..50).flat_map(|_| [0.2, 0.3, 0.5]).collect();
        assert!((inception_score(&same, 3, 5).0 - 1.0).abs() < 1e-12);
        let p = softmax_rows(&[0.0, 3f64.ln()], 2);
        assert!((p[0] - 0.25).abs() < 1e-12 && (p[1] - 0.75).abs() < 1e-12);
    }
}
