//! The Fréchet Inception Distance (Heusel et al. 2017, "GANs trained by a two time-scale update
//! rule converge to a local Nash equilibrium", NeurIPS): the Fréchet (2-Wasserstein) distance
//! between Gaussians fitted to two sets of features,
//!
//! ```text
//! FID = |mu_1 - mu_2|^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^(1/2))
//! ```
//!
//! Here the features are those of nnlab's own MNIST classifier, not Inception's, so values are
//! comparable only with other FIDs computed the same way. `tr((S_1 S_2)^(1/2))` is computed as
//! the sum of the square roots of the eigenvalues of `S_1^(1/2) S_2 S_1^(1/2)` (symmetric, so
//! nalgebra's symmetric eigensolver applies; tiny negative eigenvalues from rounding count as 0).

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::features::Features;

/// `A^(1/2)` of a symmetric positive semi-definite matrix.
fn sqrt_psd(a: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(a.clone());
    let roots = eig.eigenvalues.map(|v| v.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// The Fréchet distance between `N(mu_1, s_1)` and `N(mu_2, s_2)`.
pub fn frechet_distance(
    mu_1: &DVector<f64>,
    s_1: &DMatrix<f64>,
    mu_2: &DVector<f64>,
    s_2: &DMatrix<f64>,
) -> f64 {
    let r = sqrt_psd(s_1);
    let inner = &r * s_2 * &r;
    let inner = (&inner + inner.transpose()) * 0.5;
    let tr_sqrt: f64 = SymmetricEigen::new(inner)
        .eigenvalues
        .iter()
        .map(|v| v.max(0.0).sqrt())
        .sum();
    (mu_1 - mu_2).norm_squared() + s_1.trace() + s_2.trace() - 2.0 * tr_sqrt
}

/// The FID of two feature sets.
pub fn fid(a: &Features, b: &Features) -> f64 {
    frechet_distance(&a.mean(), &a.covariance(), &b.mean(), &b.covariance())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_against_itself_is_zero() {
        let f = Features::new(
            5,
            2,
            vec![1.0, 2.0, 0.5, -1.0, 3.0, 0.0, -2.0, 1.0, 0.0, 0.3],
        );
        assert!(fid(&f, &f).abs() < 1e-9, "{}", fid(&f, &f));
    }

    /// For Gaussians with diagonal covariances the distance is
    /// `|mu_1 - mu_2|^2 + sum_i (sigma_1i - sigma_2i)^2`.
    #[test]
    fn closed_form_for_diagonal_gaussians() {
        let mu_1 = DVector::from_vec(vec![0.0, 1.0, 2.0]);
        let mu_2 = DVector::from_vec(vec![1.0, 1.0, 0.0]);
        let s_1 = DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, 4.0, 9.0]));
        let s_2 = DMatrix::from_diagonal(&DVector::from_vec(vec![4.0, 4.0, 1.0]));
        // |d|^2 = 1 + 0 + 4 = 5; (1-2)^2 + (2-2)^2 + (3-1)^2 = 5.
        let d = frechet_distance(&mu_1, &s_1, &mu_2, &s_2);
        assert!((d - 10.0).abs() < 1e-9, "{d}");
    }

    /// A case that is not diagonal: rotating both covariances by the same rotation leaves the
    /// distance unchanged.
    #[test]
    fn rotation_invariance() {
        let (c, s) = (0.6f64, 0.8f64);
        let rot = DMatrix::from_row_slice(2, 2, &[c, -s, s, c]);
        let s_1 = DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.0, 0.5]);
        let s_2 = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 3.0]);
        let mu = DVector::from_vec(vec![0.0, 0.0]);
        let plain = frechet_distance(&mu, &s_1, &mu, &s_2);
        let turned = frechet_distance(
            &mu,
            &(&rot * &s_1 * rot.transpose()),
            &mu,
            &(&rot * &s_2 * rot.transpose()),
        );
        let expected = (2f64.sqrt() - 1.0).powi(2) + (0.5f64.sqrt() - 3f64.sqrt()).powi(2);
        assert!((plain - expected).abs() < 1e-9 && (turned - expected).abs() < 1e-9);
    }
}
