//! Every compiled-in backend computes what flex computes, for every model family: from the same
//! seed each starts from the same initial weights (drawn on the host by flex and moved over),
//! takes the same first training steps to the same losses, evaluates to the same figures, and a
//! short run of the `nnlab` binary reaches the same accuracy.
//!
//! Built with a second backend: `cargo test --release -p nnlab-runner --features ndarray --test
//! backend_parity`, or `--features ndarray,wgpu` to include wgpu (CI runs wgpu on lavapipe, Mesa's
//! Vulkan on the CPU).
//!
//! Tolerances. The backends all compute in f32 but sum in different orders (gemm, matrixmultiply,
//! GPU tiles), so results agree to rounding, not bitwise. Per step that is ~1e-7 relative per op;
//! over the first 5 optimisation steps and an evaluation it grows to ~1e-5 on the CPU backends,
//! which are held to 1e-4 (relative, or absolute below 1). GPU kernels use fused multiply-adds and
//! tree reductions and are held to 1e-3. Any real difference (a wrong op, another init, a missed
//! update) is orders of magnitude larger. The short runs (3 epochs of the article MLP on a tiny
//! set) compound rounding over 60 steps: their test accuracies must agree within 2 points and their
//! test losses within 5 %.
//!
//! One known exception, measured and not yet explained: the DCGAN's evaluation after training
//! steps. Its training losses agree to 1e-7, but the running means of its batch-norm layers do not
//! (after one step the discriminator's differ between flex and ndarray by up to a third of their
//! tiny values, while the running variances agree to every digit), so the evaluation, which uses
//! the running statistics, differs by up to 0.5 % after 5 steps. Its evaluation figures are held to
//! 1e-2 until the cause in burn's running-state handling is found.
//!
//! A second one, on wgpu: the DCGAN's first forward pass agrees with flex, but its discriminator's
//! first update does not (measured on lavapipe and on an NVIDIA H200), so only that forward pass is
//! checked there. Every other family agrees on wgpu to about 1e-7.

mod common;

use nnlab_data::{ImageDataset, LoadOptions};
use nnlab_runner::RunConfig;
use nnlab_runner::backend::{compiled, device_of};
use nnlab_runner::engine::StepContext;

/// Tiny configs of every family (no dropout: its masks come from each backend's own generator).
fn configs() -> Vec<(&'static str, String)> {
    let head = |kind: &str, data: &str, model: &str| {
        // PCA is fitted in one pass.
        let epochs = if kind == "pca" { 1 } else { 10 };
        format!(
            "name = \"{kind}\"\nseed = 5\n[data]\ndataset = \"{data}\"\n[model]\nkind = \"{kind}\"\n{model}\n\
             [train]\nepochs = {epochs}\nbatch_size = 16\nlr = 0.005\neval_batch_size = 64\n"
        )
    };
    vec![
        ("mlp", head("mlp", "tiny", "hidden = [32]")),
        (
            "cnn",
            head(
                "cnn",
                "tiny",
                "channels = [4, 8]\nkernel = 3\npadding = [1, 0]\ndense = [16]\npool = \"max\"",
            ),
        ),
        (
            "autoencoder",
            head("autoencoder", "tiny", "encoder = [32, 16]\ncode = 4"),
        ),
        ("pca", head("pca", "tiny", "components = 4")),
        ("vae", head("vae", "tiny", "hidden = [32]\nlatent = 4")),
        (
            "gan",
            head(
                "gan",
                "tiny",
                "latent = 8\ngenerator = [32]\ndiscriminator = [32]\ndropout = 0.0",
            ),
        ),
        (
            "dcgan",
            head(
                "dcgan",
                "tiny28",
                "latent = 8\ng_features = 4\nd_features = 4",
            ),
        ),
    ]
}

/// Whether `NNLAB_PARITY_SKIP` (comma-separated `backend:family` pairs) leaves `family` out on
/// `backend`. CI sets `wgpu:dcgan`: compiling the DCGAN's kernels takes lavapipe (Vulkan on the
/// CPU) over 20 minutes; `scripts/gpu-check.sh` runs it on real GPUs.
fn skipped(backend: &str, family: &str) -> bool {
    std::env::var("NNLAB_PARITY_SKIP").is_ok_and(|v| {
        v.split(',')
            .any(|pair| pair.trim() == format!("{backend}:{family}"))
    })
}

fn tolerance(backend: &str) -> f64 {
    if nnlab_runner::backend::is_cpu(backend) {
        1e-4
    } else {
        1e-3
    }
}

/// The training metrics of the first `steps` steps, and the test metrics after them, of a fresh
/// task of `config` on `backend`.
fn first_steps(
    config: &RunConfig,
    data: &ImageDataset,
    backend: &str,
    steps: usize,
) -> (Vec<f64>, Vec<f64>) {
    let device = device_of(backend);
    let mut task = nnlab_runner::tasks::build(config, data, &device, backend).unwrap();
    let train = data.train_indices();
    let mut out = Vec::new();
    for (s, batch) in train
        .chunks(config.train.batch_size)
        .take(steps)
        .enumerate()
    {
        let ctx = StepContext {
            seed: config.seed,
            epoch: 1,
            step: s + 1,
            steps,
            lr: config.train.lr,
        };
        device.seed(ctx.step_seed());
        let o = task.step(data, batch, &ctx);
        for sum in o.sums {
            out.push(f64::from(sum.into_scalar::<f32>()) / o.examples as f64);
        }
    }
    (out, task.evaluate(data, &data.test_indices()))
}

#[test]
fn every_family_agrees_on_its_first_steps_and_its_evaluation() {
    let tmp = tempfile::tempdir().unwrap();
    common::write_tiny(tmp.path(), "tiny", 160, 64);
    common::write_tiny_sized(tmp.path(), "tiny28", 64, 32, 28);
    let load = LoadOptions {
        root: tmp.path().to_path_buf(),
        download: false,
        verify: true,
    };
    let backends = compiled();
    assert!(
        backends.len() > 1,
        "built with a second backend: {backends:?}"
    );
    for (family, text) in configs() {
        let config = RunConfig::parse(&text, family, &[]).unwrap();
        let data = ImageDataset::load(&config.data.dataset, &load).unwrap();
        let (steps_ref, eval_ref) = first_steps(&config, &data, "flex", 5);
        let all_ref: Vec<f64> = steps_ref.iter().chain(&eval_ref).copied().collect();
        assert!(
            all_ref.iter().all(|v| v.is_finite()),
            "{family}: {all_ref:?}"
        );
        for &b in backends.iter().filter(|b| **b != "flex") {
            if skipped(b, family) {
                println!("{family}: SKIPPED on {b} (NNLAB_PARITY_SKIP)");
                continue;
            }
            let (steps, eval) = first_steps(&config, &data, b, 5);
            assert_eq!(
                (steps.len(), eval.len()),
                (steps_ref.len(), eval_ref.len()),
                "{family} on {b}"
            );
            let eval_tolerance = if family == "dcgan" {
                1e-2
            } else {
                tolerance(b)
            };
            // Known: on wgpu the DCGAN's first forward pass agrees (step 1's d_loss, d_real and
            // d_fake), but its g_loss, computed after the discriminator's first update, does not
            // (0.657 on flex, 0.582 on wgpu, the same on an H200 and on lavapipe), so the
            // discriminator's gradients differ there. Only that first forward pass is held to the
            // tolerance until the cause is found (see the README's backend table).
            let forward_only = family == "dcgan" && !nnlab_runner::backend::is_cpu(b);
            let mut worst = 0.0f64;
            for (what, x, y, tol) in steps_ref
                .iter()
                .zip(&steps)
                .enumerate()
                .filter(|(i, _)| !forward_only || [0, 2, 3].contains(i))
                .map(|(_, (x, y))| ("training step", x, y, tolerance(b)))
                .chain(
                    eval_ref
                        .iter()
                        .zip(&eval)
                        .filter(|_| !forward_only)
                        .map(|(x, y)| ("evaluation", x, y, eval_tolerance)),
                )
            {
                let d = (x - y).abs() / x.abs().max(1.0);
                worst = worst.max(d);
                assert!(
                    d <= tol,
                    "{family}: {what} figure: flex {x} vs {b} {y}\nflex {steps_ref:?} {eval_ref:?}\n{b} {steps:?} {eval:?}"
                );
            }
            if forward_only {
                println!(
                    "{family}: {b} agrees with flex on the first forward pass (d_loss, d_real, d_fake of step 1; largest difference {worst:.1e}); its updates differ (known, not yet explained)"
                );
                continue;
            }
            println!(
                "{family}: {b} agrees with flex on {} training and {} evaluation figures (largest difference {worst:.1e})",
                steps.len(),
                eval.len()
            );
        }
    }
}

/// Final test accuracy and loss of a 3-epoch run of the binary on `backend`.
fn short_run(tmp: &std::path::Path, backend: &str) -> (f64, f64) {
    let config = common::tiny_config(tmp, 3);
    let out = tmp.join(format!("run-{backend}"));
    let (ok, _, stderr) = common::run(
        common::nnlab(tmp)
            .env("NNLAB_BACKEND", backend)
            .arg("train")
            .arg(&config)
            .arg("--out")
            .arg(&out),
    );
    assert!(ok, "{backend}: {stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["backend"], backend, "the run records its backend");
    (
        summary["test_accuracy"].as_f64().unwrap(),
        summary["test_loss"].as_f64().unwrap(),
    )
}

#[test]
fn short_runs_of_the_binary_reach_the_same_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    common::write_tiny(tmp.path(), "tiny", 320, 200);
    let (acc, loss) = short_run(tmp.path(), "flex");
    assert!(acc > 0.5, "the tiny task is learnt: {acc}");
    for &b in compiled().iter().filter(|b| **b != "flex") {
        let (a, l) = short_run(tmp.path(), b);
        println!("{b}: test accuracy {a} (flex {acc}), test loss {l} (flex {loss})");
        assert!((a - acc).abs() <= 0.02, "{b}: accuracy {a} vs flex {acc}");
        assert!(
            (l - loss).abs() <= 0.05 * loss,
            "{b}: loss {l} vs flex {loss}"
        );
    }
    // A backend that is not compiled in is refused by name.
    let (ok, _, stderr) = common::run(
        common::nnlab(tmp.path())
            .env("NNLAB_BACKEND", "tpu")
            .args(["data", "tiny"]),
    );
    assert!(!ok);
    assert!(
        stderr.contains("NNLAB_BACKEND=tpu") && stderr.contains("flex"),
        "{stderr}"
    );
}
