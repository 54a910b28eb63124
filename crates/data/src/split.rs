//! Train / validation / test splits, deterministic shuffling by seed, and batches gathered
//! straight from the dataset's buffer.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::dataset::ImageDataset;
use crate::error::{DataError, Result};

/// Which examples each split uses, as global indices into an [`ImageDataset`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Examples trained on.
    pub train: Vec<u32>,
    /// Held-out examples evaluated after each epoch (may be empty).
    pub valid: Vec<u32>,
    /// Test examples.
    pub test: Vec<u32>,
}

/// How to split a dataset.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SplitOptions {
    /// Fraction of the training examples held out for validation, taken from the end of the
    /// training set before any shuffling (Keras' `validation_split`). `0.0` for none.
    pub validation: f64,
    /// Use only the first `n` training examples (before the validation split).
    pub limit_train: Option<usize>,
    /// Use only the first `n` test examples.
    pub limit_test: Option<usize>,
}

impl Split {
    /// Splits `data` as `opts` says.
    pub fn new(data: &ImageDataset, opts: SplitOptions) -> Result<Self> {
        if !(0.0..1.0).contains(&opts.validation) {
            return Err(DataError::Invalid(format!(
                "validation fraction {} must be in [0, 1)",
                opts.validation
            )));
        }
        let mut train = data.train_indices();
        let mut test = data.test_indices();
        if let Some(n) = opts.limit_train {
            train.truncate(n);
        }
        if let Some(n) = opts.limit_test {
            test.truncate(n);
        }
        let keep = (train.len() as f64 * (1.0 - opts.validation)) as usize;
        let valid = train.split_off(keep);
        if train.is_empty() {
            return Err(DataError::Invalid(format!(
                "no training examples left ({} in `{}`, limit {:?}, validation {})",
                data.n_train, data.name, opts.limit_train, opts.validation
            )));
        }
        Ok(Self { train, valid, test })
    }
}

/// The order of `indices` for `epoch` of a run seeded with `seed`: a Fisher-Yates shuffle
/// driven by ChaCha8 on stream `epoch`, so every epoch's order can be recomputed on its own
/// (which makes a resumed run see the same batches).
pub fn shuffled(indices: &[u32], seed: u64, epoch: usize) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64);
    let mut order = indices.to_vec();
    order.shuffle(&mut rng);
    order
}

/// One batch in the layout a dense model takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// `[size, rows * cols]` pixels scaled to `[0, 1]` (divided by 255, as in the article).
    pub images: Vec<f32>,
    /// `[size]` class labels.
    pub labels: Vec<i64>,
    /// Number of examples.
    pub size: usize,
}

impl ImageDataset {
    /// Gathers the examples `indices` into a batch, pixels divided by 255.
    pub fn batch(&self, indices: &[u32]) -> Batch {
        let mut images = Vec::with_capacity(indices.len() * self.features());
        let mut labels = Vec::with_capacity(indices.len());
        self.touch(indices);
        let arch = pulp::Arch::new();
        for &i in indices {
            let i = i as usize;
            arch.dispatch(Scale {
                dst: &mut images,
                src: self.image(i),
            });
            labels.push(self.labels[i] as i64);
        }
        Batch {
            images,
            labels,
            size: indices.len(),
        }
    }

    /// Asks the CPU to start loading every cache line of the examples `indices` (the next batch)
    /// and returns at once: called before a training step, the rows arrive while the step
    /// computes, and [`batch`](Self::batch) then finds them in cache. A shuffled batch's rows
    /// lie scattered over the whole set, farther apart than the hardware prefetcher looks. A
    /// hint only: nothing is read, and other CPUs than x86-64 skip it. (What it saves is
    /// measured in the book's speed chapter.)
    pub fn prefetch(&self, indices: &[u32]) {
        #[cfg(target_arch = "x86_64")]
        for &i in indices {
            for p in one_per_line(self.image(i as usize)) {
                safe_arch::prefetch_t0(p);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = indices;
    }

    /// Reads one byte of each cache line of the examples `indices`, all before any is used, so
    /// that their misses overlap: a shuffled batch's rows lie scattered over the whole set
    /// (47 MB for MNIST's training images), and gathered one by one each row waited on memory
    /// for most of the time `batch` took.
    fn touch(&self, indices: &[u32]) {
        let mut sum = 0u8;
        for &i in indices {
            for &p in one_per_line(self.image(i as usize)) {
                sum = sum.wrapping_add(p);
            }
        }
        std::hint::black_box(sum);
    }
}

/// Bytes in a cache line of x86-64 and most ARM CPUs.
const CACHE_LINE: usize = 64;

/// A byte of `row` in each cache line it spans, wherever it starts: every 64th from the first,
/// and the last.
fn one_per_line(row: &[u8]) -> impl Iterator<Item = &u8> {
    row.iter().step_by(CACHE_LINE).chain(row.last())
}

/// Appends `src / 255` to `dst`, compiled for the best vector unit found at run time (pulp): the
/// same IEEE results as the plain loop, several lanes at a time.
struct Scale<'a> {
    dst: &'a mut Vec<f32>,
    src: &'a [u8],
}

impl pulp::WithSimd for Scale<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        self.dst.extend(self.src.iter().map(|&p| p as f32 / 255.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n_train: usize, n_test: usize) -> ImageDataset {
        let n = n_train + n_test;
        ImageDataset {
            name: "toy".into(),
            rows: 1,
            cols: 2,
            classes: 10,
            n_train,
            n_test,
            pixels: (0..2 * n).map(|i| (i % 256) as u8).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
            checksums_verified: false,
        }
    }

    #[test]
    fn validation_is_the_tail_of_the_training_set_like_keras() {
        let s = Split::new(
            &toy(10, 3),
            SplitOptions {
                validation: 0.2,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.train, (0..8).collect::<Vec<_>>());
        assert_eq!(s.valid, vec![8, 9]);
        assert_eq!(s.test, vec![10, 11, 12]);
    }

    #[test]
    fn limits_and_bad_fractions() {
        let opts = SplitOptions {
            limit_train: Some(4),
            limit_test: Some(1),
            ..Default::default()
        };
        let s = Split::new(&toy(10, 3), opts).unwrap();
        assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (4, 0, 1));
        let bad = SplitOptions {
            validation: 1.0,
            ..Default::default()
        };
        assert!(Split::new(&toy(10, 3), bad).is_err());
    }

    #[test]
    fn shuffle_is_a_seeded_permutation_per_epoch() {
        let idx: Vec<u32> = (0..100).collect();
        let a = shuffled(&idx, 7, 0);
        assert_eq!(a, shuffled(&idx, 7, 0));
        assert_ne!(a, shuffled(&idx, 7, 1));
        assert_ne!(a, shuffled(&idx, 8, 0));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, idx);
    }

    #[test]
    fn dispatched_scaling_equals_division() {
        // Each of the 256 pixel values through `batch`'s vectorised loop.
        let all = ImageDataset {
            rows: 16,
            cols: 16,
            pixels: (0..=255).collect(),
            ..toy(1, 0)
        };
        let batch = all.batch(&[0]);
        for p in 0..=255u8 {
            assert_eq!(
                batch.images[p as usize].to_bits(),
                (p as f32 / 255.0).to_bits()
            );
        }
    }

    #[test]
    fn batch_scales_pixels_and_keeps_labels() {
        let b = toy(3, 0).batch(&[2, 0]);
        assert_eq!(b.size, 2);
        assert_eq!(b.images, vec![4.0 / 255.0, 5.0 / 255.0, 0.0, 1.0 / 255.0]);
        assert_eq!(b.labels, vec![2, 0]);
    }

    /// Every cache line a row spans is reached, whatever its length and its start's offset in a
    /// line (what `touch` and `prefetch` rely on).
    #[test]
    fn one_byte_per_cache_line() {
        let buf = vec![0u8; 4096];
        let line = |p: *const u8| p as usize / CACHE_LINE;
        for len in [1, 63, 64, 65, 784, 1000] {
            for skew in 0..CACHE_LINE {
                let at = (CACHE_LINE - buf.as_ptr() as usize % CACHE_LINE) % CACHE_LINE + skew;
                let row = &buf[at..at + len];
                let spanned: std::collections::BTreeSet<usize> =
                    (line(row.as_ptr())..=line(&row[len - 1])).collect();
                let reached: std::collections::BTreeSet<usize> =
                    one_per_line(row).map(|p| line(p)).collect();
                assert_eq!(reached, spanned, "length {len}, offset {skew} in its line");
            }
        }
    }

    /// A prefetch is only a hint: rows shorter and longer than a cache line, the last row and
    /// no rows at all are taken, and the batch gathered afterwards is the same.
    #[test]
    fn prefetch_changes_no_batch() {
        for cols in [1, 63, 64, 65, 200] {
            let d = ImageDataset {
                cols,
                pixels: (0..5 * cols).map(|i| (i % 251) as u8).collect(),
                ..toy(5, 0)
            };
            let rows = [4, 0, 3];
            let before = d.batch(&rows);
            d.prefetch(&rows);
            d.prefetch(&[]);
            let after = d.batch(&rows);
            assert_eq!(before.images, after.images);
            assert_eq!(before.labels, after.labels);
        }
    }
}
