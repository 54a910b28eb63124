//! Improved precision and recall of generative models (Kynkäänniemi, Karras, Laine, Lehtinen &
//! Aila 2019, NeurIPS): each set's manifold is the union of balls around its feature vectors,
//! each ball reaching to that vector's `k`-th nearest neighbour in its own set (k = 3). Precision
//! is the share of generated samples inside the real manifold (are the samples realistic?);
//! recall the share of real samples inside the generated manifold (is the variety covered?).

use crate::features::{Features, squared_distance};

/// The squared distance from each row to its `k`-th nearest other row of the same set.
fn radii(f: &Features, k: usize) -> Vec<f64> {
    (0..f.n)
        .map(|i| {
            let mut d: Vec<f64> = (0..f.n)
                .filter(|&j| j != i)
                .map(|j| squared_distance(f.row(i), f.row(j)))
                .collect();
            let k = k.clamp(1, d.len().max(1));
            d.select_nth_unstable_by(k - 1, f64::total_cmp);
            d[k - 1]
        })
        .collect()
}

/// The share of `points`' rows within the manifold of `set` (radii from `set`).
fn coverage(set: &Features, radii: &[f64], points: &Features) -> f64 {
    let inside = (0..points.n)
        .filter(|&i| (0..set.n).any(|j| squared_distance(points.row(i), set.row(j)) <= radii[j]))
        .count();
    inside as f64 / points.n.max(1) as f64
}

/// `(precision, recall)` of `fake` against `real`, neighbourhood `k`.
pub fn precision_recall(real: &Features, fake: &Features, k: usize) -> (f64, f64) {
    let (rr, rf) = (radii(real, k), radii(fake, k));
    (coverage(real, &rr, fake), coverage(fake, &rf, real))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_sets_cover_each_other_distant_ones_do_not() {
        let grid: Vec<f64> = (0..25)
            .flat_map(|i| [(i % 5) as f64, (i / 5) as f64])
            .collect();
        let a = Features::new(25, 2, grid.clone());
        assert_eq!(precision_recall(&a, &a, 3), (1.0, 1.0));
        let far = Features::new(25, 2, grid.iter().map(|v| v + 100.0).collect());
        assert_eq!(precision_recall(&a, &far, 3), (0.0, 0.0));
        // Fakes all at one real point: realistic (precision 1) but no variety (recall 1/25...).
        let collapsed = Features::new(25, 2, [2.0, 2.0].repeat(25));
        let (p, r) = precision_recall(&a, &collapsed, 3);
        assert_eq!(p, 1.0);
        assert!(r < 0.1, "{r}");
    }
}
