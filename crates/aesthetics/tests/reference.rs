//! Our image-set measures against the reference implementations in
//! `shared/peers/aesthetics_reference.py` — torch-fidelity 0.4 (FID, KID, IS, precision and
//! recall), pytorch-fid 0.3 (FID), choix 0.4 (Bradley-Terry) and scipy 1.17 (Spearman) — on the
//! same small arrays. The expected values below are what that script printed for these arrays
//! (written out as CSV files), e.g. `aesthetics_reference.py fid a.csv b.csv`.

// The arrays are random numbers; one of them happens to be close to -pi.
#![allow(clippy::approx_constant)]

use nnlab_aesthetics::Features;
use nnlab_aesthetics::bradley_terry::{Choice, fit};
use nnlab_aesthetics::fid::fid;
use nnlab_aesthetics::inception_score::{inception_score, softmax_rows};
use nnlab_aesthetics::kid::mmd2;
use nnlab_aesthetics::precision_recall::precision_recall;
use nnlab_aesthetics::spearman::rho;

const A: &[f64] = &[
    -1.179, -1.148, 0.669, -2.294, -0.143, -2.256, 1.101, 0.203, 1.356, -0.504, 0.398, -0.286,
    -0.738, 0.145, -1.257, -0.355, 0.697, 0.058, -0.41, 2.189, 0.058, -0.587, 0.16, -0.523,
];
const B: &[f64] = &[
    -0.078, -0.025, 3.538, 0.534, 0.763, 1.511, 3.525, 0.164, -0.436, 4.212, -1.689, -0.051, 1.5,
    3.925, -0.925, -3.142, 1.492, -0.282, -0.081, 1.192, 0.836, 0.937, -0.147, 2.434, 2.757, 0.548,
    -0.178,
];
const LOGITS: &[f64] = &[
    1.467, 0.956, -2.081, -0.92, 2.098, -0.193, -0.658, 0.425, -0.067, -0.005, -3.861, 3.499,
    0.399, -1.753, 1.959, 0.618, 0.035, 2.096, 4.522, 1.107, 3.17, 4.315, -2.042, -1.046, 1.553,
    -3.416, -0.534, 2.586, 2.086, 1.159, -3.791, 4.702, 1.102, 1.534, 0.99, -3.432, -2.87, -2.433,
    3.836, -1.662, -0.484, -0.509, 1.142, 1.001, 0.536, -2.523, -6.278, 0.333, 0.536, 2.461,
    -0.206, -1.222, 0.821, -3.109, -2.083, -2.013, 0.576, 4.182, 1.527, 2.284, 0.476, 0.558,
    -0.899, -0.562, -4.86, -2.405, -2.574, 1.674, 1.326, 2.284, 3.112, -0.611, 2.111, 3.911,
    -0.017, 2.174, -0.33, -3.225, 0.24, -1.644,
];
const GENERATED: &[f64] = &[
    0.109, -0.463, 0.32, -2.137, 2.084, 1.36, -0.351, -0.909, 0.004, 0.676, 0.424, 0.402, -1.97,
    -1.131, 1.344, 0.24, -1.521, -0.868, -1.448, -1.021, 1.181, -0.222, 1.132, 0.19,
];
const REFERENCE: &[f64] = &[
    -0.721, 0.144, 3.122, 0.023, -0.265, 2.055, 0.891, 0.794, 2.292, -0.992, 1.225, -0.274, -0.629,
    -0.029, 1.974, 0.657, -1.071, -0.331, 2.356, 1.845, -0.314, 3.276, 0.426, -0.42,
];

fn features(v: &[f64], d: usize) -> Features {
    Features::new(v.len() / d, d, v.to_vec())
}

#[test]
fn fid_as_torch_fidelity_and_pytorch_fid() {
    // torch-fidelity: 8.370371582881038, pytorch-fid: 8.370371582881035.
    let d = fid(&features(A, 3), &features(B, 3));
    assert!((d - 8.370371582881038).abs() < 1e-9, "{d}");
}

#[test]
fn kid_as_torch_fidelity() {
    // `kid a.csv b8.csv --subsets 1 --subset-size 8`: all 8 rows of each set (B's first 8).
    let (a, b) = (features(A, 3), features(&B[..24], 3));
    let all: Vec<usize> = (0..8).collect();
    let k = mmd2(&a, &all, &b, &all);
    assert!((k - 5.723672809358909).abs() < 1e-9, "{k}");
}

#[test]
fn inception_score_as_torch_fidelity() {
    // `isc l.csv --splits 2`: mean 1.9530087509704337, std 0.16432586473426158.
    let (m, s) = inception_score(&softmax_rows(LOGITS, 4), 4, 2);
    assert!((m - 1.9530087509704337).abs() < 1e-9, "{m}");
    assert!((s - 0.16432586473426158).abs() < 1e-9, "{s}");
}

#[test]
fn precision_and_recall_as_torch_fidelity() {
    // `prc p.csv q.csv --k 3`: precision 0.9166666865348816 (11 of 12, in f32), recall 0.75.
    // torch-fidelity's first set is the generated one, its second the real reference.
    let (p, r) = precision_recall(&features(REFERENCE, 2), &features(GENERATED, 2), 3);
    assert_eq!((p, r), (11.0 / 12.0, 0.75));
}

#[test]
fn bradley_terry_order_as_choix_and_spearman_as_scipy() {
    // choix `ilsr_pairwise(4, ..., alpha=0.01)` on these choices: scores [3.78, 0.90, -2.34, -2.34],
    // best first 0, 1, then 2 and 3 tied. (choix regularises differently, so only the order is
    // compared.)
    let pairs = [
        (0, 1),
        (0, 2),
        (1, 2),
        (0, 3),
        (3, 2),
        (1, 3),
        (0, 1),
        (2, 3),
    ];
    let choices: Vec<Choice> = pairs
        .iter()
        .map(|&(w, l)| Choice {
            winner: w,
            loser: l,
        })
        .collect();
    let s = fit(4, &choices, 0.01, 10_000);
    assert!(
        s[0] > s[1] && s[1] > s[2] && (s[2] - s[3]).abs() < 1e-9,
        "{s:?}"
    );
    // scipy `spearmanr([1..6], [2, 1, 4, 3, 6, 5])`: 0.8285714285714287.
    let r = rho(
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        &[2.0, 1.0, 4.0, 3.0, 6.0, 5.0],
    );
    assert!((r - 0.8285714285714287).abs() < 1e-12, "{r}");
}
