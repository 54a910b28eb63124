//! The classifier trains to bit-identical `metrics.csv` files on the shared engine: each case in
//! `tests/fixtures/classifier/cases.toml` was run by nnlab at revision 013dffd, before the
//! training loop moved onto the engine, and stored (without the timing column); here the same
//! runs are made with today's binary and every number must match to the last bit.
//!
//! The fixtures were made with the flex backend on a 2-core AMD EPYC (Zen 3, AVX2) machine.
//! burn-flex's matrix products pick their kernels by CPU features, so on a machine with other
//! vector units (e.g. AVX-512) the last bits can differ; such a machine needs fixtures of its own
//! (`cases.toml` says how they were made).

mod common;

use std::path::{Path, PathBuf};

use common::*;

#[derive(serde::Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    mnist: Option<String>,
    set: Vec<String>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/classifier")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("cases.toml")).unwrap();
    toml::from_str::<Cases>(&text).unwrap().case
}

/// Trains `case` with `config` on the data under `root` and compares with its fixture.
fn check(case: &Case, config: &Path, root: &Path, tmp: &Path) {
    let out = tmp.join(&case.name);
    let mut cmd = nnlab(root);
    cmd.arg("train").arg(config).arg("--out").arg(&out);
    for s in &case.set {
        cmd.args(["--set", s]);
    }
    let (ok, _, stderr) = run(&mut cmd);
    assert!(ok, "{}: {stderr}", case.name);
    let expected = std::fs::read_to_string(fixtures().join(format!("{}.csv", case.name))).unwrap();
    assert_eq!(
        metrics_without_seconds(&out),
        expected.trim_end(),
        "{}: metrics.csv differs from the fixture made before the engine",
        case.name
    );
}

#[test]
fn tiny_runs_are_bit_identical_to_the_fixtures() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 400, 100);
    let config = tiny_config(tmp.path(), 3);
    let tiny: Vec<Case> = cases().into_iter().filter(|c| c.mnist.is_none()).collect();
    assert!(tiny.len() >= 9, "the fixture cases are there");
    for case in &tiny {
        check(case, &config, tmp.path(), tmp.path());
    }
}

#[test]
#[ignore = "needs MNIST: set NNLAB_DATA to the folder holding mnist/ (CI runs it with --ignored)"]
fn mnist_runs_are_bit_identical_to_the_fixtures() {
    let root = mnist_root().expect("NNLAB_DATA must point at a folder holding mnist/");
    let tmp = tempfile::tempdir().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for case in cases().into_iter().filter(|c| c.mnist.is_some()) {
        let config = workspace.join(case.mnist.as_ref().unwrap());
        check(&case, &config, &root, tmp.path());
    }
}
