//! nnlab takes the same 100 steps as PyTorch. For the article MLP, the LeNet-style CNN and the
//! VAE (whose epsilon of each step the trace records, kept here as a digest),
//! `tests/fixtures/torch_steps/<model>/` holds the PyTorch twin's initial weights, the batch
//! order nnlab feeds from them (`nnlab train --trace`), and the twin's loss at each of the 100
//! steps and its final weights after replaying that order (`bench/peers/torch_steps.py`, made by
//! `bench/peers/torch_steps_fixtures.sh`; `made.toml` says which PyTorch and machine). Here
//! nnlab starts from the same weights (`train.init_from`) and must match every loss and every
//! final weight within [`TOLERANCE`] (relative). The fixtures also hold the losses of twins with
//! one deliberate error (Adam's beta2 0.99 instead of 0.999, Adam without bias correction, the
//! convolution kernels transposed): each must miss nnlab's losses by ten times the tolerance or
//! more, so that the comparison would catch such a mistake in nnlab.
//!
//! Needs MNIST (the first 3,200 training images): `NNLAB_DATA` pointing at a folder with
//! `mnist/`, as CI sets it.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::*;

/// The largest relative difference allowed between nnlab's and PyTorch's losses and final
/// weights. Measured on the machine that made the fixtures: 5e-7 for the losses, 1.3e-6 for the
/// weights (the VAE: 1.7e-7 for the losses); another CPU orders its sums differently, hence the
/// margin.
const TOLERANCE: f64 = 1e-4;

fn fixtures(model: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/torch_steps")
        .join(model)
}

/// The `loss` column of a losses file (`step,loss` or nnlab's `epoch,step,loss`).
fn losses(path: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect()
}

fn largest_relative_gap(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-12))
        .fold(0.0, f64::max)
}

fn tensors(path: &Path) -> HashMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (name, values)
        })
        .collect()
}

fn same_steps_as_pytorch(model: &str, config: &str, images: usize, mutations: &[&str]) {
    let Some(data) = mnist_root() else {
        panic!("needs MNIST: set NNLAB_DATA to a folder holding mnist/");
    };
    let dir = fixtures(model);
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs")
        .join(config);
    let init = format!("train.init_from={}", dir.join("init.safetensors").display());
    let (ok, _, stderr) = common::run(
        nnlab(&data)
            .arg("train")
            .arg(&config)
            .args([
                "--set",
                &init,
                "--set",
                &format!("data.limit_train={images}"),
            ])
            .args(["--set", "data.limit_test=1000", "--set", "train.epochs=1"])
            .arg("--trace")
            .arg("--out")
            .arg(&run),
    );
    assert!(ok, "{stderr}");
    let order = std::fs::read_to_string(run.join("trace/order.txt")).unwrap();
    assert_eq!(
        order,
        std::fs::read_to_string(dir.join("order.txt")).unwrap(),
        "{model}: nnlab feeds other batches than the fixtures' (the shuffle changed?)"
    );
    if let Ok(digest) = std::fs::read_to_string(dir.join("noise.sha256")) {
        use sha2::Digest;
        let noise = std::fs::read(run.join("trace/noise.f32")).unwrap();
        let ours: String = sha2::Sha256::digest(&noise)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            ours,
            digest.trim(),
            "{model}: nnlab draws other noise than the fixtures'"
        );
    }
    let ours = losses(&run.join("trace/steps.csv"));
    assert_eq!(ours.len(), 100);
    let gap = largest_relative_gap(&ours, &losses(&dir.join("losses.csv")));
    eprintln!("{model}: largest relative gap to PyTorch's 100 losses: {gap:.2e}");
    assert!(
        gap < TOLERANCE,
        "{model}: losses differ from PyTorch's by {gap:e}"
    );
    for m in mutations {
        let wrong = largest_relative_gap(&ours, &losses(&dir.join(format!("losses-{m}.csv"))));
        eprintln!("{model}: against the twin with {m}: {wrong:.2e}");
        assert!(
            wrong > 10.0 * TOLERANCE,
            "{model}: the tolerance would not catch {m} ({wrong:e})"
        );
    }
    let exported = tmp.path().join("final.safetensors");
    let (ok, _, stderr) = common::run(
        nnlab(&data)
            .arg("export")
            .arg(&run)
            .args(["--names", "torch", "--out"])
            .arg(&exported),
    );
    assert!(ok, "{stderr}");
    let (ours, theirs) = (tensors(&exported), tensors(&dir.join("final.safetensors")));
    assert_eq!(
        ours.keys().collect::<std::collections::BTreeSet<_>>(),
        theirs.keys().collect()
    );
    for (name, want) in &theirs {
        let got = &ours[name];
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        let gap = got
            .iter()
            .zip(want)
            .fold(0.0f64, |m, (a, b)| m.max(f64::from((a - b).abs())))
            / scale;
        assert!(
            gap < TOLERANCE,
            "{model}: final {name} differs by {gap:e} of its scale"
        );
    }
}

#[test]
#[ignore = "needs MNIST (NNLAB_DATA); CI runs it with --ignored"]
fn the_article_mlp_takes_pytorchs_steps() {
    same_steps_as_pytorch(
        "mlp",
        "article_mlp.toml",
        3200,
        &["beta2", "no-bias-correction"],
    );
}

#[test]
#[ignore = "needs MNIST (NNLAB_DATA); CI runs it with --ignored"]
fn the_cnn_takes_pytorchs_steps() {
    same_steps_as_pytorch(
        "cnn",
        "lenet_1998.toml",
        3200,
        &["beta2", "no-bias-correction", "transposed-kernel"],
    );
}

#[test]
#[ignore = "needs MNIST (NNLAB_DATA); CI runs it with --ignored"]
fn the_vae_takes_pytorchs_steps() {
    same_steps_as_pytorch(
        "vae",
        "vae_2014.toml",
        12_800,
        &["beta2", "no-bias-correction"],
    );
}
