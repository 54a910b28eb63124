//! Two ways of computing the same training reach the same weights: `engine = "manual"`
//! (nnlab-principles' backpropagation and update rules) and `engine = "autodiff"` (burn); and
//! one device against data-parallel workers (`train.devices`, each batch split across them).
//!
//! Tolerance: 1e-4 absolute on every weight after one epoch of 40 steps. Both compute the same
//! formulas in f32 but round in different orders (e.g. the softmax and matmul reductions, a
//! batch's gradient summed over shards), and the differences, ~1e-7 per step, accumulate over
//! the steps.

mod common;

use burn::prelude::*;
use nnlab_models::MlpConfig;
use nnlab_runner::engine::checkpoint;
use nnlab_runner::{RunConfig, TrainOptions, tasks};

fn mlp(config: &RunConfig, inputs: usize) -> MlpConfig {
    MlpConfig::from_spec(config.mlp().unwrap(), inputs, 10)
}

fn weights(run: &std::path::Path, config: &RunConfig, inputs: usize) -> Vec<Vec<f32>> {
    let device = Device::flex();
    let model = mlp(config, inputs).init(&device);
    let ckpt = checkpoint::latest(run).unwrap().unwrap();
    let model = ckpt.module("model", model).unwrap();
    model
        .layers
        .iter()
        .flat_map(|l| {
            [
                l.weight.val().into_data().try_to_vec::<f32>().unwrap(),
                l.bias
                    .as_ref()
                    .unwrap()
                    .val()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ]
        })
        .collect()
}

fn train(tmp: &std::path::Path, name: &str, overrides: &[&str]) -> (std::path::PathBuf, RunConfig) {
    let mut o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    o.push("train.epochs=1".into());
    let config = RunConfig::load(&common::tiny_config(tmp, 1), &o).unwrap();
    let out = tmp.join(name);
    let opts = TrainOptions {
        data_dir: Some(tmp.to_path_buf()),
        out: Some(out.clone()),
        download: false,
        quiet: true,
        ..TrainOptions::default()
    };
    tasks::train(&config, &opts).unwrap();
    (out, config)
}

/// burn's seeded generator is process-wide: runs in one process must not initialise at once.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn assert_same_weights(overrides: &[&str], tol: f32) {
    let mut a = overrides.to_vec();
    a.push("train.engine=autodiff");
    let mut m = overrides.to_vec();
    m.push("train.engine=manual");
    assert_same_weights_of(("autodiff", &a), ("manual", &m), tol);
}

/// Trains the tiny config with each of two override lists and compares the weights.
fn assert_same_weights_of(a: (&str, &[&str]), b: (&str, &[&str]), tol: f32) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    common::write_tiny(tmp.path(), "tiny", 640, 50);
    let (run_a, config) = train(tmp.path(), a.0, a.1);
    let (run_b, _) = train(tmp.path(), b.0, b.1);
    let accuracy = |run: &std::path::Path| {
        common::metrics_without_seconds(run)
            .lines()
            .nth(1)
            .map(|l| l.split(',').nth(6).map(str::to_string))
    };
    assert_eq!(accuracy(&run_a), accuracy(&run_b), "same test accuracy");
    let inputs = common::SIDE * common::SIDE;
    let (wa, wb) = (
        weights(&run_a, &config, inputs),
        weights(&run_b, &config, inputs),
    );
    let initial = mlp(&config, inputs);
    assert_eq!(wa.len(), 2 * (initial.hidden.len() + 1));
    for (p, (x, y)) in wa.iter().zip(&wb).enumerate() {
        for (k, (u, v)) in x.iter().zip(y).enumerate() {
            assert!(
                (u - v).abs() <= tol,
                "{:?} vs {:?}: param {p}[{k}]: {} {u} vs {} {v}",
                a.1,
                b.1,
                a.0,
                b.0
            );
        }
    }
}

/// Three workers on the CPU (shards of 6, 5 and 5 of each batch of 16: the gradients are
/// weighted by shard size) take the steps one device takes.
#[test]
fn three_workers_take_one_devices_sgd_steps() {
    let base = ["train.optimizer=sgd", "train.lr=0.1"];
    let mut three = base.to_vec();
    three.push("train.devices=[0,0,0]");
    assert_same_weights_of(("one device", &base), ("three workers", &three), 1e-5);
}

/// The same with Adam (whose moments see the summed gradients), two workers, with and without
/// weight decay.
#[test]
fn two_workers_take_one_devices_adam_steps() {
    let mut two = vec!["train.devices=[0,0]"];
    assert_same_weights_of(("one device", &[]), ("two workers", &two), 1e-4);
    two.push("train.weight_decay=0.001");
    assert_same_weights_of(
        ("one device", &["train.weight_decay=0.001"]),
        ("two workers", &two),
        1e-4,
    );
}

#[test]
fn sgd_one_epoch_same_weights() {
    assert_same_weights(&["train.optimizer=sgd", "train.lr=0.1"], 1e-4);
}

#[test]
fn sgd_with_mse_and_sigmoid_same_weights() {
    assert_same_weights(
        &[
            "train.optimizer=sgd",
            "train.lr=0.5",
            "train.loss=mse",
            "model.activation=sigmoid",
        ],
        1e-4,
    );
}

#[test]
fn momentum_same_weights() {
    assert_same_weights(
        &[
            "train.optimizer=sgd",
            "train.sgd.momentum=0.9",
            "train.lr=0.05",
        ],
        1e-4,
    );
}

/// Adam by hand (nnlab-principles) and our fused Adam (the autodiff engine), with epsilon where
/// PyTorch and burn put it and where Keras puts it. The fused Adam is itself checked against
/// burn's `Adam` (crates/train/src/optim/adam.rs), and the hand-written formula against burn's
/// `Adam` step by step in crates/principles/tests/gradient_checks.rs.
#[test]
fn adam_same_weights() {
    for placement in ["pytorch", "keras"] {
        assert_same_weights(
            &[
                "train.optimizer=adam",
                &format!("train.adam.epsilon_placement={placement}"),
                "train.lr=0.005",
            ],
            1e-4,
        );
    }
}
