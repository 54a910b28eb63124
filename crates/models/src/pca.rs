//! Principal component analysis, the linear baseline of Hinton & Salakhutdinov's autoencoders
//! (2006, Fig. 2: PCA with 30 components reconstructs MNIST test images with an average squared
//! error of 13.87; their deep autoencoder, 3.00). The `k` leading eigenvectors of the training
//! images' covariance span the subspace that a linear autoencoder with a `k`-unit code reaches
//! at its optimum; reconstruction projects onto it:
//!
//! ```text
//! code(x) = (x - mean) W,   reconstruction(c) = c W^T + mean,   W = [w_1 ... w_k]  (d x k)
//! ```
//!
//! The covariance is accumulated in one pass over the data ([`Moments`]) and decomposed with
//! nalgebra's symmetric eigensolver in `f64`.

use burn::module::Param;
use burn::prelude::*;
use nalgebra::{DMatrix, SymmetricEigen};

/// A fitted PCA as a burn module, so it saves, loads and runs like the other models.
#[derive(Module, Debug)]
pub struct Pca {
    /// The training mean `[d]`.
    pub mean: Param<Tensor<1>>,
    /// The components as columns `[d, k]`, the largest variance first.
    pub components: Param<Tensor<2>>,
}

impl Pca {
    /// An unfitted PCA (zero mean, zero components) of `d` features and `k` components; its
    /// record layout is that of a fitted one.
    pub fn zeros(d: usize, k: usize, device: &Device) -> Self {
        Self {
            mean: Param::from_tensor(Tensor::zeros([d], device)),
            components: Param::from_tensor(Tensor::zeros([d, k], device)),
        }
    }

    /// The codes: `[batch, d]` -> `[batch, k]`.
    pub fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        (x - self.mean.val().unsqueeze_dim(0)).matmul(self.components.val())
    }

    /// The reconstructions: `[batch, k]` -> `[batch, d]`.
    pub fn decode(&self, code: Tensor<2>) -> Tensor<2> {
        code.matmul(self.components.val().transpose()) + self.mean.val().unsqueeze_dim(0)
    }
}

/// First and second moments of data seen so far, accumulated in `f64` on the host: the sums
/// of `x - shift` and of `(x - shift)(x - shift)^T`, where `shift` is the first batch's mean
/// (which keeps the sums small, so little is lost when the mean is subtracted at the end).
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// Features.
    pub d: usize,
    /// Examples seen.
    pub n: u64,
    /// The shift subtracted from every example.
    pub shift: Vec<f64>,
    /// `sum (x - shift)`, `[d]`.
    pub sum: Vec<f64>,
    /// `sum (x - shift)(x - shift)^T`, `[d, d]` row-major.
    pub outer: Vec<f64>,
}

impl Moments {
    /// No data yet, `d` features.
    pub fn new(d: usize) -> Self {
        Self {
            d,
            n: 0,
            shift: Vec::new(),
            sum: vec![0.0; d],
            outer: vec![0.0; d * d],
        }
    }

    /// Adds a batch of `rows` (row-major `[n, d]`). The product is computed with burn (f32 on
    /// `device`, exact enough per batch) and summed here in `f64`.
    pub fn add(&mut self, rows: &[f32], device: &Device) {
        let d = self.d;
        let n = rows.len() / d;
        if n == 0 {
            return;
        }
        if self.shift.is_empty() {
            self.shift = (0..d)
                .map(|j| (0..n).map(|i| rows[i * d + j] as f64).sum::<f64>() / n as f64)
                .collect();
        }
        let shifted: Vec<f32> = rows
            .iter()
            .enumerate()
            .map(|(i, &v)| (v as f64 - self.shift[i % d]) as f32)
            .collect();
        for (j, s) in self.sum.iter_mut().enumerate() {
            *s += (0..n).map(|i| shifted[i * d + j] as f64).sum::<f64>();
        }
        let x = Tensor::<2>::from_data(TensorData::new(shifted, [n, d]), device);
        let outer: Vec<f32> = x
            .clone()
            .transpose()
            .matmul(x)
            .into_data()
            .try_into_vec()
            .expect("f32 products");
        for (acc, v) in self.outer.iter_mut().zip(outer) {
            *acc += v as f64;
        }
        self.n += n as u64;
    }

    /// The mean and the covariance (divided by `n`, the maximum-likelihood estimate).
    pub fn mean_and_covariance(&self) -> (Vec<f64>, DMatrix<f64>) {
        let n = self.n.max(1) as f64;
        let m: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let d = self.d;
        let cov = DMatrix::from_fn(d, d, |i, j| self.outer[i * d + j] / n - m[i] * m[j]);
        let mean = m
            .iter()
            .zip(&self.shift)
            .map(|(a, b)| a + b)
            .collect::<Vec<_>>();
        (mean, cov)
    }

    /// The PCA with `k` components of the data seen, with the variances of all components
    /// (largest first).
    pub fn fit(&self, k: usize, device: &Device) -> (Pca, Vec<f64>) {
        let (mean, cov) = self.mean_and_covariance();
        let (components, variances) = leading_eigenvectors(cov, k);
        let d = self.d;
        let w: Vec<f32> = (0..d)
            .flat_map(|i| {
                components
                    .iter()
                    .map(move |c| c[i] as f32)
                    .collect::<Vec<_>>()
            })
            .collect();
        let pca = Pca {
            mean: Param::from_tensor(Tensor::from_data(
                TensorData::new(mean.iter().map(|&v| v as f32).collect(), [d]),
                device,
            )),
            components: Param::from_tensor(Tensor::from_data(TensorData::new(w, [d, k]), device)),
        };
        (pca, variances)
    }
}

/// The `k` eigenvectors of the symmetric `matrix` with the largest eigenvalues (each as a
/// vector, sign fixed so its largest entry is positive), and all eigenvalues, largest first.
pub fn leading_eigenvectors(matrix: DMatrix<f64>, k: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let eig = SymmetricEigen::new(matrix);
    let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let vectors = order
        .iter()
        .take(k)
        .map(|&i| {
            let mut v: Vec<f64> = eig.eigenvectors.column(i).iter().copied().collect();
            let big = v
                .iter()
                .copied()
                .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            if big < 0.0 {
                v.iter_mut().for_each(|x| *x = -*x);
            }
            v
        })
        .collect();
    let values = order.iter().map(|&i| eig.eigenvalues[i]).collect();
    (vectors, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A case worked by hand: the points (0,0), (2,2), (1,1), (1,3) in 2-D. Mean (1, 1.5).
    /// Deviations (-1,-1.5), (1,0.5), (0,-0.5), (0,1.5); covariance (divided by n = 4):
    /// var x = (1+1+0+0)/4 = 0.5, var y = (2.25+0.25+0.25+2.25)/4 = 1.25,
    /// cov = (1.5+0.5+0+0)/4 = 0.5. Eigenvalues of [[0.5, 0.5], [0.5, 1.25]]:
    /// (1.75 +- sqrt(0.75^2 + 4*0.25))/2 = (1.75 +- 1.25)/2 = 1.5 and 0.25.
    /// With one component the squared reconstruction error summed over the 4 points is
    /// n * (smallest eigenvalue) = 4 * 0.25 = 1.
    #[test]
    fn pca_by_hand() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let data = [0.0f32, 0.0, 2.0, 2.0, 1.0, 1.0, 1.0, 3.0];
        let mut m = Moments::new(2);
        m.add(&data[..4], &device);
        m.add(&data[4..], &device);
        let (pca, variances) = m.fit(1, &device);
        assert!((variances[0] - 1.5).abs() < 1e-6 && (variances[1] - 0.25).abs() < 1e-6);
        let mean: Vec<f32> = pca.mean.val().into_data().try_to_vec().unwrap();
        assert!((mean[0] - 1.0).abs() < 1e-6 && (mean[1] - 1.5).abs() < 1e-6);
        // The first component is the eigenvector of 1.5: (1, 2) / sqrt(5).
        let w: Vec<f32> = pca.components.val().into_data().try_to_vec().unwrap();
        assert!((w[0] - 1.0 / 5f32.sqrt()).abs() < 1e-6 && (w[1] - 2.0 / 5f32.sqrt()).abs() < 1e-6);
        let x = Tensor::<2>::from_data(TensorData::new(data.to_vec(), [4, 2]), &device);
        let back = pca.decode(pca.encode(x.clone()));
        let err = (back - x).square().sum().into_scalar::<f32>();
        assert!((err - 1.0).abs() < 1e-5, "{err}");
    }
}
