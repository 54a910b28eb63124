//! Feature sets: rows of `f64`s (one per image), with the statistics the set measures need.

use nalgebra::{DMatrix, DVector};

/// `n` feature vectors of dimension `d`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Rows.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// `n * d` values.
    pub values: Vec<f64>,
}

impl Features {
    /// Rows of `values` (`n * d`).
    pub fn new(n: usize, d: usize, values: Vec<f64>) -> Self {
        assert_eq!(values.len(), n * d, "{n} rows of {d}");
        Self { n, d, values }
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.d..(i + 1) * self.d]
    }

    /// The mean vector.
    pub fn mean(&self) -> DVector<f64> {
        let mut m = DVector::zeros(self.d);
        for i in 0..self.n {
            for (j, v) in self.row(i).iter().enumerate() {
                m[j] += v;
            }
        }
        m / self.n.max(1) as f64
    }

    /// The sample covariance (divided by `n - 1`, as `numpy.cov`).
    pub fn covariance(&self) -> DMatrix<f64> {
        let m = self.mean();
        let x = DMatrix::from_fn(self.n, self.d, |i, j| self.values[i * self.d + j] - m[j]);
        (x.transpose() * &x) / (self.n.saturating_sub(1).max(1)) as f64
    }
}

/// Squared Euclidean distance.
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}
