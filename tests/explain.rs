//! `nnlab explain` on tiny data: the three maps of an MLP and a CNN run, integrated gradients
//! that add up to the score's difference (completeness, Sundararajan et al. 2017), and the
//! sanity checks of Adebayo et al. 2018: the maps change when the trained weights are replaced
//! by random ones, layer by layer from the top, and when the labels were shuffled.

mod common;

use std::path::Path;

use burn::prelude::*;
use common::*;
use nnlab_runner::aesthetics::eye::Eye;
use nnlab_runner::tasks::classifier::Classifier;
use nnlab_train::explain;

/// The figures of explain.csv, by column name, one map per row.
fn csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn explain_draws_three_maps_that_add_up_for_an_mlp_and_a_cnn() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 400, 100);
    let mlp = train_tiny_model(tmp.path(), "mlp", "tiny", "hidden = [16]", 6);
    let cnn = train_tiny_model(
        tmp.path(),
        "cnn",
        "tiny",
        "kind = \"cnn\"\nchannels = [4]\nkernel = 3\npadding = [1]\ndense = [16]\npool = \"max\"",
        4,
    );
    for (run_dir, args, n) in [
        (&mlp, vec!["--index", "0,3,5", "--steps", "256"], 3),
        (&cnn, vec!["--steps", "256"], 8),
    ] {
        let out = run_dir.join("explained");
        let (ok, stdout, stderr) = run(nnlab(tmp.path())
            .arg("explain")
            .arg(run_dir)
            .args(&args)
            .arg("--out")
            .arg(&out));
        assert!(ok, "{stderr}");
        assert!(stdout.contains("| completeness error |"), "{stdout}");
        let rows = csv(&out.join("explain.csv"));
        assert_eq!(rows.len(), n);
        for r in &rows {
            let png = out.join(format!("explain-{}.png", r["image"]));
            assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
            let error: f64 = r["completeness_error"].parse().unwrap();
            assert!(error < 0.01, "{}: completeness error {error}", r["image"]);
        }
        // The tiny classes are easy: most explained images are classified right.
        let right = rows.iter().filter(|r| r["label"] == r["predicted"]).count();
        assert!(2 * right >= n, "{rows:?}");
    }
    // PNGs from a folder, scaled to the input; a test index past the end is refused.
    let pngs = tmp.path().join("pngs");
    std::fs::create_dir_all(&pngs).unwrap();
    for (k, v) in [(0u8, 40u8), (1, 220)] {
        image::RgbImage::from_pixel(16, 16, image::Rgb([v, v, v]))
            .save(pngs.join(format!("art-{k}.png")))
            .unwrap();
    }
    let out = tmp.path().join("art");
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("explain")
        .arg(&mlp)
        .arg("--png")
        .arg(&pngs)
        .arg("--out")
        .arg(&out));
    assert!(ok, "{stderr}");
    assert!(out.join("explain-art-1.png").is_file());
    assert_eq!(csv(&out.join("explain.csv")).len(), 2);
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("explain")
        .arg(&mlp)
        .args(["--index", "100", "--out"])
        .arg(&out));
    assert!(!ok && stderr.contains("--index 100: the test set of `tiny` has 100 images"));
}

/// The gradient maps of the first `n` test images for their labels.
fn maps(eye: &Eye, net: &nnlab_runner::tasks::classifier::Net, n: usize) -> Vec<Vec<f32>> {
    let autodiff = eye.device.clone().autodiff();
    let frozen = explain::frozen_on(net, &autodiff);
    let test = eye.data.test_indices();
    test[..n]
        .iter()
        .map(|&i| {
            let b = eye.data.batch(&[i]);
            explain::gradient(&frozen, &b.images, b.labels[0] as usize, &autodiff)
        })
        .collect()
}

fn mean_correlation(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| explain::rank_correlation(x, y))
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn maps_change_with_random_weights_and_shuffled_labels() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 400, 100);
    // The same images with their training labels shuffled (a fixed permutation).
    write_tiny(tmp.path(), "shuffled", 400, 100);
    let labels: Vec<u8> = (0..400).map(|i| ((i * 7 + i / 3) % 10) as u8).collect();
    let shuffled: Vec<u8> = (0..400).map(|i| labels[(i * 173 + 59) % 400]).collect();
    nnlab_data::idx::write_file(
        &tmp.path().join("shuffled/train-labels-idx1-ubyte.gz"),
        &nnlab_data::idx::labels_to_bytes(&shuffled),
        true,
    )
    .unwrap();
    let model = "hidden = [32, 32]";
    let real = train_tiny_model(tmp.path(), "real", "tiny", model, 8);
    let noise = train_tiny_model(tmp.path(), "noise", "shuffled", model, 8);
    let opts = offline_options(tmp.path());
    let device = Device::flex();
    let eye = Eye::load(&real, &opts, &device, "flex").unwrap();
    let original = maps(&eye, &eye.net, 20);
    // A network of the same shape with other weights.
    device.seed(eye.config.seed + 1);
    let fresh = Classifier::new(&eye.config, &eye.data, &device, true)
        .unwrap()
        .model()
        .valid();
    let mut cascade = Vec::new();
    for k in 1..=explain::layers(&eye.net) {
        let random = explain::randomise_from_top(&eye.net, &fresh, k);
        cascade.push(mean_correlation(&original, &maps(&eye, &random, 20)));
    }
    eprintln!("rank correlation with the trained maps, top 1..all layers random: {cascade:?}");
    assert!(
        cascade.iter().all(|&r| r < 0.9) && *cascade.last().unwrap() < 0.5,
        "{cascade:?}"
    );
    let shuffled_eye = Eye::load(&noise, &opts, &device, "flex").unwrap();
    let labels_shuffled = mean_correlation(&original, &maps(&eye, &shuffled_eye.net, 20));
    eprintln!("rank correlation with the maps of the shuffled-label model: {labels_shuffled:.3}");
    assert!(labels_shuffled < 0.5, "{labels_shuffled}");
}

/// Explanations use the network as evaluation does: with batch norm and dropout in the model, an
/// image's gradient is the same alone, inside a batch, and on every call.
#[test]
fn frozen_maps_do_not_depend_on_the_batch_or_dropout() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 400, 100);
    let run = train_tiny_model(
        tmp.path(),
        "cnn-bn",
        "tiny",
        "kind = \"cnn\"\nchannels = [4]\nkernel = 3\npadding = [1]\ndense = [16]\n\
         pool = \"max\"\nbatch_norm = true\ndropout = 0.5",
        2,
    );
    let opts = offline_options(tmp.path());
    let device = Device::flex();
    let eye = Eye::load(&run, &opts, &device, "flex").unwrap();
    let autodiff = device.clone().autodiff();
    let frozen = explain::frozen_on(&eye.net, &autodiff);
    let test = eye.data.test_indices();
    let batch = eye.data.batch(&test[..3]);
    let f = eye.data.features();
    let alone = explain::gradient(&frozen, &batch.images[..f], 1, &autodiff);
    let again = explain::gradient(&frozen, &batch.images[..f], 1, &autodiff);
    let in_batch = explain::gradients(&frozen, &batch.images, f, 1, &autodiff);
    assert_eq!(alone, again, "dropout is off");
    let gap = alone
        .iter()
        .zip(&in_batch[..f])
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(gap < 1e-5, "batch norm uses its running statistics: {gap}");
    assert!(alone.iter().any(|v| v.abs() > 0.0));
}
