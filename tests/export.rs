//! `nnlab export`: a run's modules as one safetensors file in PyTorch's layouts. An MLP's and a
//! CNN's files, read back with the safetensors crate alone (no burn), compute the same logits in
//! PyTorch's convention (`y = x W^T + b`, OIHW kernels) as nnlab does; a GAN's tensors have
//! PyTorch's names and shapes. A run started from an exported file (`train.init_from`) has its weights; a file
//! of other shapes is refused, naming the tensor and both shapes. The sampler page of a VAE and
//! a GAN (the DCGAN too) draws, in headless chromium, what `nnlab generate` draws from the same
//! noise.

mod common;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use common::*;
use nnlab_runner::aesthetics::eye::Eye;

fn trained(tmp: &Path, name: &str, model: &str) -> PathBuf {
    // PCA is fitted in one pass.
    let epochs = if model.contains("\"pca\"") { 1 } else { 2 };
    train_tiny_model(tmp, name, "tiny", model, epochs)
}

/// The first `n` test images of the tiny data (flat), their features, and the logits nnlab's
/// network of `run_dir` gives them.
fn nnlab_logits(tmp: &Path, run_dir: &Path, n: usize) -> (Vec<f32>, usize, Vec<f32>) {
    let device = Device::flex();
    let eye = Eye::load(run_dir, &offline_options(tmp), &device, "flex").unwrap();
    let test = eye.data.test_indices();
    let batch = eye.data.batch(&test[..n]);
    let f = eye.data.features();
    let logits: Vec<f32> = eye
        .net
        .forward(Tensor::from_data(
            TensorData::new(batch.images.clone(), [n, f]),
            &device,
        ))
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    (batch.images, f, logits)
}

/// The test accuracy a run's summary.json records.
fn test_accuracy(run_dir: &Path) -> f64 {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    s["test_accuracy"].as_f64().unwrap()
}

/// One epoch of `root/mlp.toml` started from `file`, by SGD at a learning rate far below any
/// weight's last bit (so the weights stay the file's), into `out`.
fn start_from(root: &Path, file: &Path, out: &Path) {
    let (ok, _, stderr) = run(nnlab(root)
        .arg("train")
        .arg(root.join("mlp.toml"))
        .args(["--set", "train.epochs=1", "--set", "train.optimizer=sgd"])
        .args(["--set", "train.lr=1e-30", "--set"])
        .arg(format!("train.init_from={}", file.display()))
        .arg("--out")
        .arg(out));
    assert!(ok, "{stderr}");
}

/// `nnlab export RUN_DIR --names torch --out FILE` (the PyTorch twins' names); the file's bytes.
fn export_torch(tmp: &Path, run_dir: &Path, file: &Path) -> Vec<u8> {
    let (ok, _, stderr) = run(nnlab(tmp)
        .arg("export")
        .arg(run_dir)
        .args(["--names", "torch", "--out"])
        .arg(file));
    assert!(ok, "{stderr}");
    std::fs::read(file).unwrap()
}

fn tensor(file: &safetensors::SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = file.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let values = t
        .data()
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (t.shape().to_vec(), values)
}

#[test]
fn an_exported_mlp_computes_nnlabs_logits_in_pytorchs_convention() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 320, 64);
    let mlp = trained(tmp.path(), "mlp", "hidden = [16]");
    let (bytes, json) = export(tmp.path(), &mlp);
    assert_eq!(json["model"], "mlp");
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (s0, w0) = tensor(&file, "model.layers.0.weight");
    let (_, b0) = tensor(&file, "model.layers.0.bias");
    let (s1, w1) = tensor(&file, "model.layers.1.weight");
    let (_, b1) = tensor(&file, "model.layers.1.bias");
    assert_eq!(
        (s0.clone(), s1.clone()),
        (vec![16, 64], vec![10, 16]),
        "[out, in]"
    );
    // PyTorch's Linear: y = x W^T + b, W [out, in].
    let linear = |x: &[f32], w: &[f32], b: &[f32], out: usize| -> Vec<f32> {
        let inp = x.len();
        (0..out)
            .map(|o| b[o] + (0..inp).map(|i| x[i] * w[o * inp + i]).sum::<f32>())
            .collect()
    };
    let (images, f, logits) = nnlab_logits(tmp.path(), &mlp, 8);
    let mut worst = 0.0f32;
    for (k, x) in images.chunks(f).enumerate() {
        let h: Vec<f32> = linear(x, &w0, &b0, 16).iter().map(|v| v.max(0.0)).collect();
        let y = linear(&h, &w1, &b1, 10);
        for (a, b) in y.iter().zip(&logits[k * 10..(k + 1) * 10]) {
            worst = worst.max((a - b).abs() / b.abs().max(1.0));
        }
    }
    assert!(worst < 1e-5, "largest difference {worst}");
    // A file that cannot be written, and a run without modules to export (PCA), are refused.
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("export")
        .arg(&mlp)
        .args(["--out", "/nonexistent-dir/x.safetensors"]));
    assert!(!ok && stderr.contains("/nonexistent-dir"), "{stderr}");
    let pca = trained(tmp.path(), "pca", "kind = \"pca\"\ncomponents = 4");
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("export")
        .arg(&pca)
        .args(["--out", "pca.safetensors"]));
    assert!(
        !ok && stderr.contains("has no modules to export"),
        "{stderr}"
    );
}

#[test]
fn cnn_and_gan_tensors_have_pytorchs_names_and_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 320, 64);
    let cnn = trained(
        tmp.path(),
        "cnn",
        "kind = \"cnn\"\nchannels = [4]\nkernel = 3\npadding = [1]\ndense = [16]\npool = \"max\"\nbatch_norm = true",
    );
    let (bytes, _) = export(tmp.path(), &cnn);
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let names = file.names();
    // Convolution kernels [out, in, kh, kw]; batch norm's scale and shift as weight and bias.
    assert_eq!(tensor(&file, "model.convs.0.weight").0, vec![4, 1, 3, 3]);
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("model.norms.0") && n.ends_with(".weight")),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with("gamma") || n.ends_with("beta")),
        "{names:?}"
    );
    let gan = trained(
        tmp.path(),
        "gan",
        "kind = \"gan\"\nlatent = 8\ngenerator = [32]\ndiscriminator = [32]",
    );
    let (bytes, json) = export(tmp.path(), &gan);
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert!(file.names().iter().any(|n| n.starts_with("generator.")));
    assert!(file.names().iter().any(|n| n.starts_with("discriminator.")));
    assert_eq!(json["tensors"].as_array().unwrap().len(), file.len());
}

#[test]
fn a_run_starts_from_an_exported_file_and_refuses_other_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 320, 64);
    let mlp = trained(tmp.path(), "mlp", "hidden = [16]");
    let (bytes, _) = export(tmp.path(), &mlp);
    let file = mlp.join("model.safetensors");
    // The weights stay those of the file, so the new run's test figures are the exported run's.
    let config = tmp.path().join("mlp.toml");
    let again = tmp.path().join("again");
    start_from(tmp.path(), &file, &again);
    assert_eq!(test_accuracy(&mlp), test_accuracy(&again));
    let (bytes_again, _) = export(tmp.path(), &again);
    let (a, b) = (
        safetensors::SafeTensors::deserialize(&bytes).unwrap(),
        safetensors::SafeTensors::deserialize(&bytes_again).unwrap(),
    );
    for name in a.names() {
        let (x, y) = (tensor(&a, name).1, tensor(&b, name).1);
        let gap = x
            .iter()
            .zip(&y)
            .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(gap < 1e-20, "{name}: {gap}");
    }
    // `file` as train.init_from with `settings`, into run folder `out`: refused; its stderr.
    let refused = |file: &Path, settings: &[&str], out: &str| {
        let (ok, _, stderr) = run(nnlab(tmp.path())
            .arg("train")
            .arg(&config)
            .args(settings.iter().flat_map(|s| ["--set", s]))
            .arg("--set")
            .arg(format!("train.init_from={}", file.display()))
            .arg("--out")
            .arg(tmp.path().join(out)));
        assert!(!ok, "{file:?} is refused");
        stderr
    };
    // Another width: refused before training, naming the tensor and both shapes.
    let stderr = refused(&file, &["model.hidden=[8]"], "narrow");
    assert!(
        stderr.contains("train.init_from")
            && stderr.contains("tensor `model.layers.0.weight` has shape [16, 64] in the file, the model needs [8, 64]"),
        "{stderr}"
    );
    assert!(!tmp.path().join("narrow").join("summary.json").exists());
    // A tensor the model has no place for: refused too, naming it.
    let a = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut views = a.tensors();
    views.push((
        "model.layers.7.bias".into(),
        a.tensor("model.layers.0.bias").unwrap(),
    ));
    let extra = tmp.path().join("extra.safetensors");
    std::fs::write(&extra, safetensors::serialize(views, None).unwrap()).unwrap();
    let stderr = refused(&extra, &[], "extra");
    assert!(
        stderr.contains("the file's tensor `model.layers.7.bias` has no place in the model"),
        "{stderr}"
    );
    // Not a safetensors file at all: refused, naming the key and the file.
    let junk = tmp.path().join("junk.safetensors");
    std::fs::write(&junk, b"junk").unwrap();
    let stderr = refused(&junk, &[], "junk");
    assert!(
        stderr.contains("key `train.init_from`")
            && stderr.contains("junk.safetensors")
            && stderr.contains("not a safetensors file"),
        "{stderr}"
    );
    // In PyTorch's names (the twin's `state_dict`): a problem is named as the file names it.
    let torch = tmp.path().join("torch.safetensors");
    let bytes = export_torch(tmp.path(), &mlp, &torch);
    let a = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut views = a.tensors();
    views.push(("4.bias".into(), a.tensor("0.bias").unwrap()));
    std::fs::write(&extra, safetensors::serialize(views, None).unwrap()).unwrap();
    let stderr = refused(&extra, &[], "refused");
    assert!(
        stderr.contains("the file's tensor `4.bias` has no place in the model"),
        "{stderr}"
    );
    let stderr = refused(&torch, &["model.hidden=[8]"], "refused");
    assert!(
        stderr.contains(
            "tensor `0.weight` (nnlab's `model.layers.0.weight`) has shape [16, 64] in the file, \
             the model needs [8, 64]"
        ),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs Debian's chromium (CI installs it and runs the ignored tests)"]
fn the_sampler_page_draws_what_generate_draws() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 320, 64);
    write_tiny_sized(tmp.path(), "tiny28", 64, 16, 28);
    for (name, data, model) in [
        ("vae", "tiny", "kind = \"vae\"\nhidden = [32]\nlatent = 4"),
        (
            "gan",
            "tiny",
            "kind = \"gan\"\nlatent = 8\ngenerator = [32]\ndiscriminator = [32]",
        ),
        // Batch norm (its running statistics) and transposed convolutions.
        (
            "dcgan",
            "tiny28",
            "kind = \"dcgan\"\nlatent = 8\ng_features = 4\nd_features = 4",
        ),
    ] {
        let run_dir = train_tiny_model(tmp.path(), name, data, model, 2);
        export(tmp.path(), &run_dir);
        let page = run_dir.join("model.html");
        assert!(page.is_file(), "{name}: no sampler page");
        let profile = tmp.path().join(format!("chromium-{name}"));
        let browser = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--dump-dom")
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium is installed (apt-get install chromium)");
        let dom = String::from_utf8_lossy(&browser.stdout);
        let check = dom
            .split("<pre id=\"check\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .unwrap_or_else(|| panic!("{name}: no check in the page: {dom}"));
        let worst: f64 = check
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: {check}"));
        assert!(
            check.starts_with("8 images") && worst < 1e-4,
            "{name}: {check}"
        );
    }
    // A classifier run gets no page.
    let mlp = trained(tmp.path(), "mlp", "hidden = [16]");
    export(tmp.path(), &mlp);
    assert!(!mlp.join("model.html").exists());
}

/// `--names torch` gives the PyTorch twins' names (bench/peers' Sequential for the MLP), and a
/// run starts from such a file as from one in nnlab's names.
#[test]
fn torch_names_go_out_and_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 320, 64);
    let mlp = trained(tmp.path(), "mlp", "hidden = [16]");
    let file = tmp.path().join("torch.safetensors");
    let bytes = export_torch(tmp.path(), &mlp, &file);
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    assert_eq!(names, ["0.bias", "0.weight", "2.bias", "2.weight"]);
    let again = tmp.path().join("again");
    start_from(tmp.path(), &file, &again);
    assert_eq!(test_accuracy(&mlp), test_accuracy(&again));
}

/// A CNN's file computes nnlab's logits in PyTorch's convention: conv2d with OIHW kernels and
/// zero padding, ReLU, 2x2 max pooling, flattening channel by channel, then `x W^T + b`.
#[test]
fn an_exported_cnn_computes_nnlabs_logits_in_pytorchs_convention() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 320, 64);
    let cnn = trained(
        tmp.path(),
        "cnn",
        "kind = \"cnn\"\nchannels = [4]\nkernel = 3\npadding = [1]\ndense = [16]\npool = \"max\"",
    );
    let (bytes, _) = export(tmp.path(), &cnn);
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (ks, k) = tensor(&file, "model.convs.0.weight");
    let (_, kb) = tensor(&file, "model.convs.0.bias");
    let (s0, w0) = tensor(&file, "model.dense.0.weight");
    let (_, b0) = tensor(&file, "model.dense.0.bias");
    let (_, w1) = tensor(&file, "model.dense.1.weight");
    let (_, b1) = tensor(&file, "model.dense.1.bias");
    assert_eq!((ks.clone(), s0), (vec![4, 1, 3, 3], vec![16, 64]));
    let side = 8;
    let forward = |x: &[f32]| -> Vec<f32> {
        // conv 3x3, padding 1, OIHW; ReLU; 2x2 max pool -> [4, 4, 4]; flatten (c, h, w).
        let mut pooled = Vec::new();
        for o in 0..4 {
            let mut map = vec![0.0f32; side * side];
            for i in 0..side {
                for j in 0..side {
                    let mut v = kb[o];
                    for u in 0..3 {
                        for w in 0..3 {
                            let (r, c) = (i as i32 + u as i32 - 1, j as i32 + w as i32 - 1);
                            if r >= 0 && c >= 0 && (r as usize) < side && (c as usize) < side {
                                v += k[o * 9 + u * 3 + w] * x[r as usize * side + c as usize];
                            }
                        }
                    }
                    map[i * side + j] = v.max(0.0);
                }
            }
            for i in 0..side / 2 {
                for j in 0..side / 2 {
                    let at = |a: usize, b: usize| map[(2 * i + a) * side + 2 * j + b];
                    pooled.push(at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1)));
                }
            }
        }
        let linear = |h: &[f32], w: &[f32], b: &[f32], out: usize| -> Vec<f32> {
            (0..out)
                .map(|o| {
                    b[o] + h
                        .iter()
                        .enumerate()
                        .map(|(i, v)| v * w[o * h.len() + i])
                        .sum::<f32>()
                })
                .collect()
        };
        let h: Vec<f32> = linear(&pooled, &w0, &b0, 16)
            .iter()
            .map(|v| v.max(0.0))
            .collect();
        linear(&h, &w1, &b1, 10)
    };
    let (images, f, logits) = nnlab_logits(tmp.path(), &cnn, 8);
    let mut worst = 0.0f32;
    for (n, x) in images.chunks(f).enumerate() {
        for (a, b) in forward(x).iter().zip(&logits[n * 10..(n + 1) * 10]) {
            worst = worst.max((a - b).abs() / b.abs().max(1.0));
        }
    }
    assert!(worst < 1e-5, "largest difference {worst}");
}
