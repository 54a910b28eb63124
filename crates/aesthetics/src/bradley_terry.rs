//! Scores from paired choices (Bradley & Terry 1952, "Rank analysis of incomplete block designs",
//! Biometrika 39): item `i` beats item `j` with probability `p_i / (p_i + p_j)`. The strengths
//! are fitted by Hunter's (2004) minorisation-maximisation iteration,
//! `p_i <- (W_i + a) / (sum_{j != i} n_ij / (p_i + p_j) + 2a / (p_i + 1))`, where `W_i` counts
//! `i`'s wins and `n_ij` the comparisons of `i` and `j`; the small prior `a` (a virtual win and
//! loss of every item against a reference of strength 1) keeps items that never won or never
//! lost finite. Scores are `log p_i`, centred on their mean.

/// One choice: the item picked and the one not picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// The preferred item.
    pub winner: usize,
    /// The other one.
    pub loser: usize,
}

/// Log-strengths of `n` items from `choices` (centred), after at most `iterations` MM steps.
pub fn fit(n: usize, choices: &[Choice], prior: f64, iterations: usize) -> Vec<f64> {
    let mut wins = vec![0.0f64; n];
    let mut pairs = vec![0.0f64; n * n];
    for c in choices {
        wins[c.winner] += 1.0;
        pairs[c.winner * n + c.loser] += 1.0;
        pairs[c.loser * n + c.winner] += 1.0;
    }
    let mut p = vec![1.0f64; n];
    for _ in 0..iterations {
        let next: Vec<f64> = (0..n)
            .map(|i| {
                let denom: f64 = (0..n)
                    .filter(|&j| j != i && pairs[i * n + j] > 0.0)
                    .map(|j| pairs[i * n + j] / (p[i] + p[j]))
                    .sum::<f64>()
                    + 2.0 * prior / (p[i] + 1.0);
                (wins[i] + prior) / denom.max(f64::MIN_POSITIVE)
            })
            .collect();
        let change = next
            .iter()
            .zip(&p)
            .map(|(a, b)| (a.ln() - b.ln()).abs())
            .fold(0.0, f64::max);
        p = next;
        if change < 1e-10 {
            break;
        }
    }
    let logs: Vec<f64> = p.iter().map(|v| v.ln()).collect();
    let mean = logs.iter().sum::<f64>() / n.max(1) as f64;
    logs.into_iter().map(|l| l - mean).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Choices simulated from known strengths: the fit recovers their order.
    #[test]
    fn recovers_a_known_order_from_simulated_choices() {
        let truth = [2.0f64, 1.0, 0.5, 0.0, -0.5, -1.5];
        let n = truth.len();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut choices = Vec::new();
        for _ in 0..3000 {
            let i = rng.random_range(0..n);
            let j = (i + rng.random_range(1..n)) % n;
            let p_i = 1.0 / (1.0 + (truth[j] - truth[i]).exp());
            let (winner, loser) = if rng.random::<f64>() < p_i {
                (i, j)
            } else {
                (j, i)
            };
            choices.push(Choice { winner, loser });
        }
        let scores = fit(n, &choices, 0.01, 1000);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        assert_eq!(order, (0..n).collect::<Vec<_>>(), "{scores:?}");
        // And roughly their spacing: the fitted range is close to the true one (3.5).
        let range = scores[0] - scores[n - 1];
        assert!((range - 3.5).abs() < 0.5, "{range}");
    }
}
