//! `engine = "manual"` (nnlab-principles' backpropagation and update rules) and
//! `engine = "autodiff"` (burn) train to the same weights.
//!
//! Tolerance: 1e-4 absolute on every weight after one epoch of 40 steps. Both compute the same
//! formulas in f32 but round in different orders (e.g. the softmax and matmul reductions), and
//! the differences, ~1e-7 per step, accumulate over the steps.

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
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    common::write_tiny(tmp.path(), "tiny", 640, 50);
    let mut a = overrides.to_vec();
    a.push("train.engine=autodiff");
    let mut m = overrides.to_vec();
    m.push("train.engine=manual");
    let (run_a, config) = train(tmp.path(), "autodiff", &a);
    let (run_m, _) = train(tmp.path(), "manual", &m);
    assert_eq!(
        common::metrics_without_seconds(&run_a)
            .lines()
            .nth(1)
            .map(|l| l.split(',').nth(6).map(str::to_string)),
        common::metrics_without_seconds(&run_m)
            .lines()
            .nth(1)
            .map(|l| l.split(',').nth(6).map(str::to_string)),
        "same test accuracy"
    );
    let inputs = common::SIDE * common::SIDE;
    let (wa, wm) = (
        weights(&run_a, &config, inputs),
        weights(&run_m, &config, inputs),
    );
    let initial = mlp(&config, inputs);
    assert_eq!(wa.len(), 2 * (initial.hidden.len() + 1));
    for (p, (x, y)) in wa.iter().zip(&wm).enumerate() {
        for (k, (u, v)) in x.iter().zip(y).enumerate() {
            assert!(
                (u - v).abs() <= tol,
                "{overrides:?} param {p}[{k}]: autodiff {u} vs manual {v}"
            );
        }
    }
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
/// burn's `Adam` (crates/runner/src/optim/adam.rs), and the hand-written formula against burn's
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
