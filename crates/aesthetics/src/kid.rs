//! The Kernel Inception Distance (Bińkowski, Sutherland, Arbel & Gretton 2018, "Demystifying
//! MMD GANs", ICLR): the unbiased estimate of the squared maximum mean discrepancy between two
//! feature sets under the cubic polynomial kernel `k(x, y) = (x . y / d + 1)^3`, averaged over
//! random subsets (torch-fidelity's defaults: 100 subsets of 1,000). Unlike FID it is unbiased,
//! so small sets can be compared.

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use crate::features::Features;

fn kernel(a: &[f64], b: &[f64]) -> f64 {
    let d = a.len() as f64;
    (a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / d + 1.0).powi(3)
}

/// The unbiased MMD^2 of the rows `ia` of `a` against the rows `ib` of `b` (equal counts m):
/// `sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
///  - 2 sum_{i, j} k(x_i, y_j) / m^2`.
pub fn mmd2(a: &Features, ia: &[usize], b: &Features, ib: &[usize]) -> f64 {
    let m = ia.len() as f64;
    let within = |f: &Features, idx: &[usize]| {
        let mut s = 0.0;
        for (p, &i) in idx.iter().enumerate() {
            for &j in &idx[p + 1..] {
                s += kernel(f.row(i), f.row(j));
            }
        }
        2.0 * s / (m * (m - 1.0))
    };
    let mut cross = 0.0;
    for &i in ia {
        for &j in ib {
            cross += kernel(a.row(i), b.row(j));
        }
    }
    within(a, ia) + within(b, ib) - 2.0 * cross / (m * m)
}

/// KID: mean and standard deviation of [`mmd2`] over `subsets` random subsets of `size` rows of
/// each set (`size` capped at the smaller set), drawn with `seed`.
pub fn kid(a: &Features, b: &Features, subsets: usize, size: usize, seed: u64) -> (f64, f64) {
    let m = size.min(a.n).min(b.n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f64> = (0..subsets.max(1))
        .map(|_| {
            let ia = sample(&mut rng, a.n, m).into_vec();
            let ib = sample(&mut rng, b.n, m).into_vec();
            mmd2(a, &ia, b, &ib)
        })
        .collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand, in one dimension: x = {0, 1}, y = {1, 2}. k(u, v) = (uv + 1)^3.
    /// Within x: k(0, 1) = 1; within y: k(1, 2) = 27; cross: k(0,1) = 1, k(0,2) = 1,
    /// k(1,1) = 8, k(1,2) = 27, sum 37. MMD^2 = 2*1/2 + 2*27/2 - 2*37/4 = 1 + 27 - 18.5 = 9.5.
    #[test]
    fn mmd_by_hand() {
        let x = Features::new(2, 1, vec![0.0, 1.0]);
        let y = Features::new(2, 1, vec![1.0, 2.0]);
        assert!((mmd2(&x, &[0, 1], &y, &[0, 1]) - 9.5).abs() < 1e-12);
    }

    #[test]
    fn same_distribution_near_zero_shifted_far() {
        let mut state = 3u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let a = Features::new(300, 2, (0..600).map(|_| uniform()).collect());
        let b = Features::new(300, 2, (0..600).map(|_| uniform()).collect());
        let c = Features::new(300, 2, b.values.iter().map(|v| v + 1.0).collect());
        let (same, _) = kid(&a, &b, 20, 100, 7);
        let (apart, _) = kid(&a, &c, 20, 100, 7);
        assert!(apart > 1.0, "{apart}");
        assert!(same.abs() < apart / 50.0, "{same} vs {apart}");
    }
}
