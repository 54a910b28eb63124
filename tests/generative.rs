//! Every model family of the art-creation work trains from a config on the shared engine, lowers
//! its loss, draws its pictures, resumes exactly after SIGKILL, and the generative ones sample
//! through `nnlab generate`; `nnlab art cppn` draws without training data. All on tiny data the
//! tests write themselves (8x8 images; 28x28 for the DCGAN, which is built for that size).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use nnlab_runner::run_dir::RunDir;

/// The 2014 GAN's training (SGD, decaying step, rising momentum) for the tiny maxout GANs.
const MAXOUT_GAN_TRAIN: &str = "optimizer = \"sgd\"\nlr = 0.1\nschedule = \"exponential\"\n\
     gamma = 0.999\nlr_min = 0.01\n[train.sgd]\nmomentum = 0.5\nmomentum_final = 0.7\n\
     momentum_epochs = 10";

/// A config of `kind` with small layers for the tiny data, `epochs` epochs.
fn config(dir: &Path, kind: &str, epochs: usize) -> PathBuf {
    let (dataset, model, train) = match kind {
        "cnn" => (
            "tiny",
            "channels = [4, 8]\nkernel = 3\npadding = [1, 0]\ndense = [16]\npool = \"max\"",
            "lr = 0.01",
        ),
        "autoencoder" => ("tiny", "encoder = [32, 16]\ncode = 4", "lr = 0.01"),
        // Pretrained as a stack of RBMs (the top one's hidden units Gaussian: a linear code).
        "autoencoder_dbn" => (
            "tiny",
            "encoder = [32, 16]\ncode = 4\npretrain_epochs = 3",
            "lr = 0.01",
        ),
        // Fine-tuned by conjugate gradients, pretrained on batches of its own (the paper's way).
        "autoencoder_cg" => (
            "tiny",
            "encoder = [32, 16]\ncode = 4\npretrain_epochs = 3\npretrain_batch_size = 16",
            "optimizer = \"cg\"",
        ),
        "pca" => ("tiny", "components = 4", ""),
        "vae" => ("tiny", "hidden = [32]\nlatent = 4", "lr = 0.01"),
        "gan" => (
            "tiny",
            "latent = 8\ngenerator = [32]\ndiscriminator = [32]\ndropout = 0.2",
            "lr = 0.002",
        ),
        "dcgan" => (
            "tiny28",
            "latent = 8\ng_features = 4\nd_features = 4",
            "lr = 0.002",
        ),
        "rbm" => ("tiny", "hidden = 16\nmomentum = 0.5", "lr = 0.1"),
        // Persistent CD: its chains must come back from the checkpoint for an exact resume.
        "rbm_pcd" => (
            "tiny",
            "hidden = 16\nmomentum = 0.5\npersistent = true\ncd_k = 2",
            "lr = 0.1",
        ),
        // Its curvature computed exactly (84 backward passes per image).
        "lenet5_exact" => (
            "tiny28",
            "sdlm_mu = 0.2\nsdlm_samples = 16\nsdlm_every = 64\nsdlm_exact = true",
            "optimizer = \"sgd\"\nlr = 0.0005\nschedule = \"piecewise\"\n\
             lr_boundaries = [2]\nlr_factors = [0.4]",
        ),
        // Its curvature by the paper's layer-by-layer recursion.
        "lenet5_layerwise" => (
            "tiny28",
            "sdlm_mu = 0.2\nsdlm_samples = 40\nsdlm_every = 64\nsdlm_layerwise = true",
            "optimizer = \"sgd\"\nlr = 0.0005\nschedule = \"piecewise\"\n\
             lr_boundaries = [2]\nlr_factors = [0.4]",
        ),
        // The 2014 GAN's discriminator: maxout units, input dropout; uniform noise.
        "gan_maxout" => (
            "tiny",
            "latent = 8\ngenerator = [32]\ndiscriminator = [16]\nmaxout_pieces = 3\n\
             dropout = 0.5\ninput_dropout = 0.2\nnoise = \"uniform\"\nmax_col_norm = 1.9365\n\
             output_bias_from_data = true",
            MAXOUT_GAN_TRAIN,
        ),
        // The same, both networks stepping at once from the same fakes, as the 2014 GAN's code.
        "gan_maxout_simultaneous" => (
            "tiny",
            "latent = 8\ngenerator = [32]\ndiscriminator = [16]\nmaxout_pieces = 3\n\
             dropout = 0.5\ninput_dropout = 0.2\nnoise = \"uniform\"\n\
             output_bias_from_data = true\nd_loss_scale = 0.5\nsimultaneous = true",
            MAXOUT_GAN_TRAIN,
        ),
        // LeNet-5 as in 1998, by SDLM with the curvature re-estimated every 64 images.
        "lenet5" => (
            "tiny28",
            "sdlm_mu = 0.2\nsdlm_samples = 40\nsdlm_every = 64",
            "optimizer = \"sgd\"\nlr = 0.0005\nschedule = \"piecewise\"\n\
             lr_boundaries = [2]\nlr_factors = [0.4]",
        ),
        // A Gaussian-binary RBM: the pixels standardised.
        "rbm_gauss" => (
            "tiny",
            "hidden = 16\nmomentum = 0.5\nvisible_units = \"gaussian\"",
            "lr = 0.01",
        ),
        other => panic!("no tiny config for {other}"),
    };
    let path = dir.join(format!("{kind}.toml"));
    let model_kind = kind.split('_').next().unwrap_or(kind);
    std::fs::write(
        &path,
        format!(
            "name = \"{kind}\"\nseed = 2\n[data]\ndataset = \"{dataset}\"\nvalidation = 0.2\n\
             [model]\nkind = \"{model_kind}\"\n{model}\n[train]\nepochs = {epochs}\nbatch_size = 16\n\
             log_every = 4\neval_batch_size = 64\n{train}\n"
        ),
    )
    .unwrap();
    path
}

fn data(tmp: &Path) {
    write_tiny(tmp, "tiny", 320, 64);
    write_tiny_sized(tmp, "tiny28", 192, 32, 28);
}

fn train(tmp: &Path, config: &Path, out: &Path, set: &[&str]) -> (String, String) {
    let (ok, stdout, stderr) = run(nnlab(tmp)
        .arg("train")
        .arg(config)
        .args(set.iter().flat_map(|s| ["--set", s]))
        .arg("--out")
        .arg(out));
    assert!(ok, "{}: {stderr}", config.display());
    (stdout, stderr)
}

/// The values of a `metrics.csv` column, by name.
fn column(run: &Path, name: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no {name} in {header:?}"));
    lines
        .map(|l| l.split(',').nth(at).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn each_family_trains_lowers_its_loss_and_draws() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    for (kind, loss, pictures) in [
        ("cnn", "train_loss", &["weights.png"][..]),
        (
            "autoencoder",
            "train_loss",
            &["reconstructions-epoch-001.png", "reconstructions.gif"][..],
        ),
        (
            "vae",
            "train_loss",
            &[
                "samples-epoch-004.png",
                "samples.gif",
                "reconstructions-epoch-004.png",
                "interpolation.png",
            ][..],
        ),
        (
            "gan",
            "train_d_loss",
            &["samples-epoch-004.png", "samples.gif", "interpolation.png"][..],
        ),
        (
            "dcgan",
            "train_d_loss",
            &["samples-epoch-004.png", "samples.gif", "interpolation.png"][..],
        ),
        (
            "rbm",
            "train_recon_error",
            &[
                "filters-epoch-004.png",
                "filters.gif",
                "samples.png",
                "gibbs-chain.gif",
            ][..],
        ),
        ("lenet5", "train_loss", &[][..]),
        ("lenet5_exact", "train_loss", &[][..]),
        ("lenet5_layerwise", "train_loss", &[][..]),
        ("gan_maxout", "train_d_loss", &["samples.gif"][..]),
        (
            "rbm_gauss",
            "train_recon_error",
            &["filters.gif", "samples.png", "gibbs-chain.gif"][..],
        ),
    ] {
        let out = tmp.path().join(kind);
        train(tmp.path(), &config(tmp.path(), kind, 4), &out, &[]);
        if kind.starts_with("lenet5") {
            sdlm_curvature_rows(&out);
        }
        let l = column(&out, loss);
        assert!(l[3] < l[0], "{kind}: {loss} falls over 4 epochs: {l:?}");
        for p in pictures {
            let bytes = std::fs::read(out.join("pictures").join(p))
                .unwrap_or_else(|e| panic!("{kind}: {p}: {e}"));
            assert!(
                bytes.starts_with(b"\x89PNG") || bytes.starts_with(b"GIF89a"),
                "{kind}: {p}"
            );
        }
    }
}

/// A LeNet-5 run by SDLM summarises each estimate of its curvature in `curvature.csv`: the 12
/// parameter tensors in the module's order for every estimate (the first step of each of the 4
/// epochs, then every 64 images: every 4th step of 16 images), `h` ordered, and the step sizes
/// `lr / (mu + h)` at most `lr / mu`, `lr` 0.0005 for 2 epochs and 0.0002 after.
fn sdlm_curvature_rows(run: &Path) {
    let text = std::fs::read_to_string(run.join("curvature.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,step,parameter,size,h_min,h_mean,h_max,rate_min,rate_max")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let estimates: Vec<(usize, usize)> = rows
        .chunks(12)
        .map(|c| {
            let names: Vec<&str> = c.iter().map(|r| r[2]).collect();
            assert_eq!(names[0], "c1.weight", "{text}");
            assert_eq!(names[11], "f6.bias", "{text}");
            assert!(c.iter().all(|r| r[..2] == c[0][..2]), "{text}");
            (c[0][0].parse().unwrap(), c[0][1].parse().unwrap())
        })
        .collect();
    let per_epoch = estimates.len() / 4;
    assert!(per_epoch >= 2, "{text}");
    for (i, &(epoch, step)) in estimates.iter().enumerate() {
        assert_eq!(
            (epoch, step),
            (i / per_epoch + 1, 4 * (i % per_epoch) + 1),
            "{text}"
        );
    }
    for r in &rows {
        let v: Vec<f64> = r[4..].iter().map(|x| x.parse().unwrap()).collect();
        let lr = if r[0] == "1" || r[0] == "2" {
            0.0005
        } else {
            0.0002
        };
        assert!(0.0 <= v[0] && v[0] <= v[1] && v[1] <= v[2], "{r:?}");
        assert!(
            0.0 < v[3] && v[3] <= v[4] && v[4] <= lr / 0.2 * (1.0 + 1e-4),
            "{r:?}"
        );
    }
}

/// A GAN records its samples' diversity beside the real test images' (the same every epoch:
/// the data do not train), and a study's `[[real_data]]` makes that its anchor: the first line of
/// results.md and a dot chart of its own.
#[test]
fn a_gan_study_sets_its_samples_beside_real_data() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let study = tmp.path().join("study");
    std::fs::create_dir_all(&study).unwrap();
    config(&study, "gan", 2);
    std::fs::write(
        study.join("study.toml"),
        "title = \"t\"\nconfig = \"gan.toml\"\nseeds = [1]\n\
         metrics = [\"test_diversity\", \"test_diversity_real\"]\ncurves = []\n\
         [[real_data]]\nmetric = \"test_diversity\"\nreal = \"test_diversity_real\"\n\
         source = \"the tiny test images\"\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = run(nnlab(tmp.path()).arg("study").arg(&study));
    assert!(ok, "{stderr}");
    // The line for a finished run gives its test figures (a GAN has no accuracy or loss).
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("seed 1: test_") && l.contains(" test_diversity 0.")),
        "{stdout}"
    );
    let run_dir = study.join("runs/seed-1");
    let real = column(&run_dir, "valid_diversity_real");
    assert!(
        real.iter().all(|&r| r == real[0] && r > 0.01 && r < 0.5),
        "{real:?}"
    );
    let ours = *column(&run_dir, "test_diversity").last().unwrap();
    let results = std::fs::read_to_string(study.join("results.md")).unwrap();
    let line = results
        .lines()
        .find(|l| l.starts_with("| test diversity: "))
        .unwrap_or_else(|| panic!("no anchor line: {results}"));
    assert!(line.contains("(real data: the tiny test images)"), "{line}");
    assert!(line.contains(&format!("| {ours:.4}")), "{ours}: {line}");
    // Samples should match the data, not beat it: above or below, not better or worse.
    let side = if ours > column(&run_dir, "test_diversity_real")[0] {
        "(above)"
    } else {
        "(below)"
    };
    assert!(line.contains(side), "{line}");
    if results.contains("## Charts") {
        assert!(study.join("real-data-diversity.png").is_file());
    }
}

/// PCA fits in one pass; `eval` reloads the fitted components and gets the same error; four
/// components of 64 pixels explain part of the variance, all 64 explain all of it.
#[test]
fn pca_fits_in_one_pass_and_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let config = config(tmp.path(), "pca", 1);
    let out = tmp.path().join("pca");
    let (stdout, _) = train(tmp.path(), &config, &out, &[]);
    let err = column(&out, "test_recon_error")[0];
    assert!(
        stdout.contains(&format!("Recon error: {err:.4}")),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(nnlab(tmp.path()).arg("eval").arg(&out));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("Recon error: {err:.4}")),
        "{stdout}"
    );
    let all = tmp.path().join("pca64");
    train(tmp.path(), &config, &all, &["model.components=64"]);
    let err_all = column(&all, "test_recon_error")[0];
    assert!(
        err_all < 1e-6 && err_all < err,
        "all components reconstruct exactly: {err_all}"
    );
    let e = run(nnlab(tmp.path())
        .arg("train")
        .arg(&config)
        .args(["--set", "train.epochs=2"]));
    assert!(
        !e.0 && e.2.contains("PCA is fitted in closed form in one pass"),
        "{}",
        e.2
    );
}

/// 2-D codes (PCA's two components, an autoencoder's 2-unit code) are scored by how well a
/// 5-nearest-neighbour vote among the training images' codes classifies the test images' codes;
/// other code sizes are not. On the tiny data the classes are lit rows and columns: the codes do
/// far better than chance (0.1), PCA's short of every image.
#[test]
fn two_dimensional_codes_are_scored_by_nearest_neighbours() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let summary = |run: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
    };
    for (kind, set) in [
        ("pca", ["model.components=2", "train.epochs=1"]),
        ("autoencoder", ["model.code=2", "train.epochs=3"]),
    ] {
        let config = config(tmp.path(), kind, 1);
        let two = tmp.path().join(format!("{kind}-2"));
        train(tmp.path(), &config, &two, &set);
        let knn = summary(&two)["test_code_knn_accuracy"]
            .as_f64()
            .unwrap_or_else(|| panic!("{kind}: no k-NN figure"));
        assert!((0.3..=1.0).contains(&knn), "{kind}: k-NN accuracy {knn}");
        // Two linear components cannot keep ten such classes apart: some test images are lost.
        assert!(kind != "pca" || knn < 1.0, "PCA's k-NN accuracy {knn}");
        let four = tmp.path().join(format!("{kind}-4"));
        train(tmp.path(), &config, &four, &[]);
        assert!(
            summary(&four).get("test_code_knn_accuracy").is_none(),
            "{kind}: only 2-D codes are scored"
        );
    }
}

/// SIGKILL after a few epochs, then `--resume`: the same metrics as an uninterrupted run.
fn kill_and_resume(kind: &str) {
    kill_and_resume_with(kind, &[]);
}

/// [`kill_and_resume`] with `--set` overrides on the tiny config of `kind`.
fn kill_and_resume_with(kind: &str, set: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let config = config(tmp.path(), kind, 40);
    let whole = tmp.path().join("whole");
    train(tmp.path(), &config, &whole, set);
    let killed = tmp.path().join("killed");
    let mut child = nnlab(tmp.path())
        .arg("train")
        .arg(&config)
        .args(set.iter().flat_map(|s| ["--set", s]))
        .arg("--out")
        .arg(&killed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(killed.join("metrics.csv")).map_or(0, |t| t.lines().count()) < 4 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{kind}: ended before the kill"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{kind}: no progress"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!RunDir::in_use(&killed));
    let before = std::fs::read_to_string(killed.join("metrics.csv")).unwrap();
    let (ok, stdout, stderr) = run(nnlab(tmp.path()).arg("train").arg("--resume").arg(&killed));
    assert!(ok, "{kind}: {stderr}");
    // It went on from a checkpoint: a run that started over would repeat the same metrics but
    // not their seconds, so the header and first two epochs' rows must be the killed run's bytes.
    assert!(
        stdout.contains("Resuming") && !stdout.contains("from the start"),
        "{kind}: {stdout}"
    );
    let after = std::fs::read_to_string(killed.join("metrics.csv")).unwrap();
    let kept: Vec<&str> = before.lines().take(3).collect();
    assert_eq!(
        after.lines().take(3).collect::<Vec<_>>(),
        kept,
        "{kind}: the rows written before the kill"
    );
    assert_eq!(
        metrics_without_seconds(&whole),
        metrics_without_seconds(&killed),
        "{kind}: metrics after the resume"
    );
    // LeNet-5's summary of SDLM's curvature: every estimate once, as in the whole run.
    if kind == "lenet5" {
        let read = |run: &Path| std::fs::read_to_string(run.join("curvature.csv")).unwrap();
        assert_eq!(read(&whole), read(&killed), "{kind}: curvature.csv");
    }
}

#[test]
fn a_killed_cnn_resumes_exactly() {
    kill_and_resume("cnn");
}

#[test]
fn a_killed_autoencoder_resumes_exactly() {
    kill_and_resume("autoencoder");
}

#[test]
fn a_killed_pretrained_autoencoder_resumes_exactly() {
    kill_and_resume("autoencoder_dbn");
}

#[test]
fn a_killed_autoencoder_fine_tuned_by_conjugate_gradients_resumes_exactly() {
    kill_and_resume("autoencoder_cg");
}

/// Fine-tuning by conjugate gradients (Hinton & Salakhutdinov's method) on batches of 32 after
/// pretraining on batches of 16: the pretraining is the one a run with batches of 16 makes, the
/// loss falls, and each batch's line searches cost more than one evaluation and at most their
/// budget.
#[test]
fn the_autoencoder_fine_tunes_by_conjugate_gradients() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let cg = tmp.path().join("cg");
    train(
        tmp.path(),
        &config(tmp.path(), "autoencoder_cg", 4),
        &cg,
        &["train.batch_size=32"],
    );
    let adam = tmp.path().join("adam");
    train(
        tmp.path(),
        &config(tmp.path(), "autoencoder_dbn", 1),
        &adam,
        &[],
    );
    let layers = |run: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(run.join("pretrain.csv")).unwrap();
        // Without the seconds column.
        text.lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(layers(&cg), layers(&adam), "the same pretraining");
    let loss = column(&cg, "train_loss");
    assert!(loss[3] < loss[0], "the loss falls: {loss:?}");
    // One evaluation at the start of each batch and one at least per line search: more than
    // that, on average, once the searches extrapolate or interpolate; at most 20 (the default
    // budget) for each of the 3.
    for e in column(&cg, "train_cg_evaluations") {
        assert!(e > 4.0 && e <= 61.0, "evaluations per batch: {e}");
    }
}

/// Greedy layer-wise pretraining: every machine's epochs are recorded, the pretrained network
/// is ahead of the same one from random weights after the same epochs, and a run stopped in the middle of
/// its pretraining continues from the first unfinished machine to the same result.
#[test]
fn pretraining_starts_the_autoencoder_ahead_and_resumes_by_layer() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let config = config(tmp.path(), "autoencoder_dbn", 2);
    let dbn = tmp.path().join("dbn");
    let (stdout, _) = train(tmp.path(), &config, &dbn, &[]);
    assert!(stdout.contains("pretraining layer 3 (16-4, Gaussian hidden units): epoch 3/3"));
    let csv = std::fs::read_to_string(dbn.join("pretrain.csv")).unwrap();
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|f| f.parse().unwrap()).collect())
        .collect();
    let layers: Vec<(f64, f64)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(layers.len(), 9, "{csv}");
    assert_eq!((layers[0], layers[8]), ((1.0, 1.0), (3.0, 3.0)), "{csv}");
    assert!(rows[2][2] < rows[0][2], "layer 1's error falls: {csv}");
    let scratch = tmp.path().join("scratch");
    train(tmp.path(), &config, &scratch, &["model.pretrain_epochs=0"]);
    let (pre, raw) = (
        column(&dbn, "test_recon_error"),
        column(&scratch, "test_recon_error"),
    );
    assert!(
        pre[1] < 0.95 * raw[1],
        "pretrained {pre:?} vs from scratch {raw:?}"
    );
    // Stopped after two machines: the third is trained again, the first two read back.
    for gone in [
        "pretrain/layer-3.safetensors",
        "summary.json",
        "metrics.csv",
    ] {
        std::fs::remove_file(dbn.join(gone)).unwrap();
    }
    let metrics = metrics_without_seconds(&scratch);
    std::fs::remove_dir_all(dbn.join("checkpoint")).unwrap();
    let (ok, stdout, stderr) = run(nnlab(tmp.path()).arg("train").arg("--resume").arg(&dbn));
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("pretraining layer 2"), "{stdout}");
    assert!(stdout.contains("pretraining layer 3"), "{stdout}");
    let again = std::fs::read_to_string(dbn.join("pretrain.csv")).unwrap();
    let head = |t: &str| {
        t.lines()
            .take(7)
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(head(&csv), head(&again));
    assert_eq!(column(&dbn, "test_recon_error"), pre);
    assert_ne!(metrics, metrics_without_seconds(&dbn));
}

#[test]
fn a_killed_lenet5_resumes_exactly() {
    kill_and_resume("lenet5");
}

/// The momentum rises with the epoch: a resumed run must rebuild it as the uninterrupted one did.
#[test]
fn a_killed_maxout_gan_resumes_exactly() {
    kill_and_resume("gan_maxout");
}

#[test]
fn a_killed_simultaneous_maxout_gan_resumes_exactly() {
    kill_and_resume("gan_maxout_simultaneous");
}

#[test]
fn a_killed_gan_sharing_dropout_masks_resumes_exactly() {
    kill_and_resume_with("gan_maxout_simultaneous", &[SHARED_MASKS]);
}

/// The simultaneous maxout GAN's generator dropping the units its discriminator's pass drops.
const SHARED_MASKS: &str = "model.shared_dropout_masks=true";

/// With shared masks the generator's loss is computed from the very logits of the
/// discriminator's pass over the fakes: for one step on one image, `g_loss = -ln d_fake`
/// (both are that image's). Drawing its own masks, the generator sees other logits.
#[test]
fn shared_masks_give_the_generator_the_discriminators_logits() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let config = config(tmp.path(), "gan_maxout_simultaneous", 1);
    let one_step = [
        "data.validation=0",
        "data.limit_train=1",
        "train.batch_size=1",
    ];
    let gap = |name: &str, set: &[&str]| {
        let out = tmp.path().join(name);
        train(tmp.path(), &config, &out, &[&one_step[..], set].concat());
        let (g_loss, d_fake) = (
            column(&out, "train_g_loss")[0],
            column(&out, "train_d_fake")[0],
        );
        assert!(g_loss.is_finite() && d_fake > 0.0, "{g_loss} {d_fake}");
        (g_loss + d_fake.ln()).abs()
    };
    let shared = gap("shared", &[SHARED_MASKS]);
    assert!(shared < 1e-5, "g_loss + ln d_fake = {shared}");
    let own = gap("own", &[]);
    assert!(own > 1e-3, "own masks should give other logits: {own}");
}

/// `model.simultaneous` changes what the generator steps on: from the same start, the two ways
/// of stepping give different training losses after the first epoch's steps.
#[test]
fn simultaneous_gan_steps_differ_from_alternating_ones() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let config = config(tmp.path(), "gan_maxout_simultaneous", 1);
    let both = tmp.path().join("both");
    let alternating = tmp.path().join("alternating");
    train(tmp.path(), &config, &both, &[]);
    train(
        tmp.path(),
        &config,
        &alternating,
        &["model.simultaneous=false"],
    );
    for name in ["train_g_loss", "train_d_loss"] {
        let (a, b) = (column(&both, name)[0], column(&alternating, name)[0]);
        assert!(a.is_finite() && b.is_finite(), "{name}: {a} {b}");
        assert_ne!(a, b, "{name}");
    }
}

/// Stepping at once, the generator steps through the discriminator as it was before its step,
/// so how far the discriminator steps cannot change where the generator goes: after one step,
/// runs whose discriminators step on half and on all of their loss hold the same generator.
/// Stepping one after the other, the generator steps through the updated discriminator, and
/// the two differ.
#[test]
fn simultaneous_generator_steps_through_the_discriminator_before_its_step() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let config = config(tmp.path(), "gan_maxout_simultaneous", 1);
    let generator = |name: &str, set: &[&str]| -> Vec<(String, Vec<u8>)> {
        let out = tmp.path().join(name);
        // One step: 16 training images, batches of 16.
        let one_step = [
            "data.validation=0",
            "data.limit_train=16",
            "train.batch_size=16",
        ];
        train(tmp.path(), &config, &out, &[&one_step[..], set].concat());
        let (bytes, _) = export(tmp.path(), &out);
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut g: Vec<(String, Vec<u8>)> = tensors
            .tensors()
            .into_iter()
            .filter(|(n, _)| n.starts_with("generator"))
            .map(|(n, t)| (n, t.data().to_vec()))
            .collect();
        g.sort();
        assert!(!g.is_empty(), "{name}: no generator tensors");
        g
    };
    let half = generator("half", &["model.d_loss_scale=0.5"]);
    let all = generator("all", &["model.d_loss_scale=1"]);
    assert!(half == all, "the generator saw the discriminator's step");
    let half = generator(
        "half-alt",
        &["model.d_loss_scale=0.5", "model.simultaneous=false"],
    );
    let all = generator(
        "all-alt",
        &["model.d_loss_scale=1", "model.simultaneous=false"],
    );
    assert!(
        half != all,
        "alternating steps should see the discriminator's step"
    );
}

#[test]
fn a_killed_vae_resumes_exactly() {
    kill_and_resume("vae");
}

#[test]
fn a_killed_gan_resumes_exactly() {
    kill_and_resume("gan");
}

#[test]
fn a_killed_dcgan_resumes_exactly() {
    kill_and_resume("dcgan");
}

/// The guide's momentum schedule: `model.momentum_final` leaves the first
/// `model.momentum_epochs` epochs as they were and changes the steps after them.
#[test]
fn an_rbm_switches_its_momentum_after_momentum_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let config = config(tmp.path(), "rbm", 3);
    let constant = tmp.path().join("constant");
    train(tmp.path(), &config, &constant, &[]);
    let switched = tmp.path().join("switched");
    let set = ["model.momentum_final=0.9", "model.momentum_epochs=2"];
    train(tmp.path(), &config, &switched, &set);
    let (before, after) = (
        column(&constant, "train_free_energy"),
        column(&switched, "train_free_energy"),
    );
    assert_eq!(before[..2], after[..2], "the first two epochs");
    assert_ne!(before[2], after[2], "the third epoch, at momentum 0.9");
}

#[test]
fn a_killed_rbm_resumes_exactly() {
    kill_and_resume("rbm");
}

#[test]
fn a_killed_persistent_rbm_resumes_exactly() {
    kill_and_resume("rbm_pcd");
}

#[test]
fn generate_samples_from_generative_runs_only() {
    let tmp = tempfile::tempdir().unwrap();
    data(tmp.path());
    let vae = tmp.path().join("vae");
    train(tmp.path(), &config(tmp.path(), "vae", 2), &vae, &[]);
    let png = tmp.path().join("grid.png");
    let (ok, stdout, stderr) = run(nnlab(tmp.path())
        .arg("generate")
        .arg(&vae)
        .args(["--n", "9", "--seed", "4", "--out"])
        .arg(&png));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("9 images from"), "{stdout}");
    let first = std::fs::read(&png).unwrap();
    assert!(first.starts_with(b"\x89PNG"));
    // The same seed draws the same grid.
    run(nnlab(tmp.path())
        .arg("generate")
        .arg(&vae)
        .args(["--n", "9", "--seed", "4", "--out"])
        .arg(&png));
    assert_eq!(std::fs::read(&png).unwrap(), first);
    // An RBM draws from Gibbs chains, the same for the same seed.
    let rbm = tmp.path().join("rbm");
    train(tmp.path(), &config(tmp.path(), "rbm", 2), &rbm, &[]);
    let grid = |seed: &str| {
        let out = tmp.path().join(format!("rbm-{seed}.png"));
        let (ok, _, stderr) = run(nnlab(tmp.path())
            .arg("generate")
            .arg(&rbm)
            .args(["--n", "4", "--seed", seed, "--out"])
            .arg(&out));
        assert!(ok, "{stderr}");
        std::fs::read(&out).unwrap()
    };
    assert_eq!(grid("1"), grid("1"));
    let cnn = tmp.path().join("cnn");
    train(tmp.path(), &config(tmp.path(), "cnn", 1), &cnn, &[]);
    let (ok, _, stderr) = run(nnlab(tmp.path()).arg("generate").arg(&cnn));
    assert!(
        !ok && stderr.contains("does not generate images"),
        "{stderr}"
    );
    // A finished run without its checkpoint (a study run in a fresh clone) is named before any
    // data is looked for: with no data at all, the error is still about the checkpoint.
    std::fs::remove_dir_all(vae.join("checkpoint")).unwrap();
    let empty = tmp.path().join("no-data");
    std::fs::create_dir(&empty).unwrap();
    for command in ["generate", "eval"] {
        let (ok, _, stderr) = run(nnlab(&empty).arg(command).arg(&vae));
        assert!(
            !ok && stderr.contains("has no checkpoint: the run finished")
                && stderr.contains("run its study"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn cppn_art_needs_no_data() {
    let tmp = tempfile::tempdir().unwrap();
    let draw = |seed: &str, activation: &str, out: &Path| {
        run(nnlab(tmp.path())
            .args([
                "art",
                "cppn",
                "--seed",
                seed,
                "--size",
                "96",
                "--activation",
                activation,
                "--out",
            ])
            .arg(out))
    };
    let a = tmp.path().join("a.png");
    let (ok, stdout, stderr) = draw("3", "tanh", &a);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("CPPN seed 3, 96x96, tanh"), "{stdout}");
    let img = nnlab_runner::pictures::load_png(&a).unwrap();
    assert_eq!(img.dimensions(), (96, 96));
    let b = tmp.path().join("b.png");
    draw("3", "tanh", &b);
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "one seed, one picture"
    );
    draw("4", "tanh", &b);
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    for act in ["sin", "gaussian", "relu", "sigmoid"] {
        let (ok, _, stderr) = draw("1", act, &b);
        assert!(ok, "{act}: {stderr}");
    }
    let (ok, _, stderr) = draw("1", "swish", &b);
    assert!(
        !ok && stderr.contains("--activation swish: not an activation"),
        "{stderr}"
    );
}
