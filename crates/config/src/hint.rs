//! Help for mistyped and moved keys: "did you mean" by edit distance, and the new home of keys
//! that older configs used.

/// Edit distance between `a` and `b`: insertions, deletions, substitutions and swaps of two
/// neighbouring letters each count one (the optimal-string-alignment distance), so `mnsit` is
/// one edit from `mnist`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a typo: at most a third of the
/// word's length away (and at most 3 edits).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// The field names serde lists in an "unknown field `x`, expected one of `a`, `b`" message.
pub fn expected_fields(message: &str) -> Vec<&str> {
    let Some((_, list)) = message.split_once("expected ") else {
        return Vec::new();
    };
    list.split('`').skip(1).step_by(2).collect()
}

/// The key an older config's `train.<key>` moved to, for the optimizer the config chooses.
pub fn moved_train_key(key: &str, optimizer: &str) -> Option<String> {
    let section = match key {
        "beta1" | "beta2" => match optimizer {
            "adamw" => "adamw",
            _ => "adam",
        },
        "epsilon" => match optimizer {
            // Neither has an epsilon: the Adam one is the likeliest meant.
            "sgd" | "cg" => "adam",
            o => o,
        },
        "momentum" => match optimizer {
            "rmsprop" => "rmsprop",
            _ => "sgd",
        },
        "nesterov" => "sgd",
        "rho" => "rmsprop",
        _ => return None,
    };
    Some(format!("train.{section}.{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_by_hand() {
        assert_eq!(edit_distance("epoch", "epochs"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("mnsit", "mnist"), 1);
        assert_eq!(closest("mnsit", ["mnist", "fashion-mnist"]), Some("mnist"));
        assert_eq!(closest("lrr", ["lr", "loss"]), Some("lr"));
        assert_eq!(closest("nonsense", ["lr", "loss"]), None);
    }

    #[test]
    fn serde_lists_are_read() {
        let m = "unknown field `epoch`, expected one of `epochs`, `batch_size`";
        assert_eq!(expected_fields(m), ["epochs", "batch_size"]);
        assert_eq!(
            expected_fields("unknown field `x`, expected `a` or `b`"),
            ["a", "b"]
        );
    }
}
