//! Spearman's rank correlation (the Pearson correlation of the ranks, ties given their mean
//! rank) with a percentile bootstrap 95 % confidence interval (Efron & Tibshirani 1993): the
//! pairs resampled with replacement `resamples` times, the interval between the 2.5th and
//! 97.5th percentiles of the resampled correlations.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Ranks 1..n of `xs`, ties sharing their mean rank.
pub fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut r = vec![0.0; xs.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && xs[order[j + 1]] == xs[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    if sxx == 0.0 || syy == 0.0 {
        f64::NAN
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Spearman's rho of paired `x`, `y`.
pub fn rho(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// `(rho, low, high)`: rho and its bootstrap 95 % interval from `resamples` resamples drawn
/// with `seed`. Resamples whose ranks are all tied (rho undefined) are left out.
pub fn rho_with_interval(x: &[f64], y: &[f64], resamples: usize, seed: u64) -> (f64, f64, f64) {
    let n = x.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut boot: Vec<f64> = (0..resamples)
        .map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            let xs: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
            let ys: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
            rho(&xs, &ys)
        })
        .filter(|r| r.is_finite())
        .collect();
    boot.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if boot.is_empty() {
            f64::NAN
        } else {
            boot[((q * (boot.len() - 1) as f64).round() as usize).min(boot.len() - 1)]
        }
    };
    (rho(x, y), at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rho_by_hand() {
        assert_eq!(ranks(&[10.0, 30.0, 20.0, 20.0]), [1.0, 4.0, 2.5, 2.5]);
        assert!((rho(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 35.0, 100.0]) - 1.0).abs() < 1e-12);
        assert!((rho(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // Ranks (1,2,3,4,5) against (2,1,4,3,5): d^2 sum = 4, rho = 1 - 6*4/(5*24) = 0.8.
        assert!((rho(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 1.0, 4.0, 3.0, 5.0]) - 0.8).abs() < 1e-12);
        let (r, lo, hi) = rho_with_interval(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            &[1.0, 3.0, 2.0, 5.0, 4.0, 6.0],
            2000,
            1,
        );
        assert!(
            lo <= r && r <= hi && hi <= 1.0 && lo > -1.0,
            "{r} [{lo}, {hi}]"
        );
    }
}
