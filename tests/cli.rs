//! End-to-end tests of the `nnlab` binary on tiny datasets the tests write themselves.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use nnlab_runner::run_dir::RunDir;

fn value<'a>(json: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    json.get(key)
        .unwrap_or_else(|| panic!("summary.json lacks {key}"))
}

/// Parses `Loss: x  Accuracy: y` from the output.
fn loss_accuracy(stdout: &str) -> (f64, f64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Loss: "))
        .unwrap_or_else(|| panic!("no Loss line in {stdout}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[1].parse().unwrap(), f[3].parse().unwrap())
}

#[test]
fn train_writes_a_complete_run_and_eval_reproduces_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 400, 100);
    let config = tiny_config(tmp.path(), 4);
    let out = tmp.path().join("run");
    let (ok, stdout, stderr) = run(nnlab(tmp.path())
        .arg("train")
        .arg(&config)
        .arg("--out")
        .arg(&out));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("backend flex"), "{stdout}");
    assert!(stdout.contains("Epoch 4/4: 25 steps"), "{stdout}");
    let (loss, accuracy) = loss_accuracy(&stdout);
    assert!(accuracy > 0.9, "the tiny set is easy; got {accuracy}");

    // The run folder: resolved config, one metrics row per epoch, summary, checkpoint.
    let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        resolved.contains("epsilon = 0.0000001"),
        "defaults are resolved: {resolved}"
    );
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 5);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(value(&summary, "epochs"), 4);
    assert_eq!(value(&summary, "seed"), 3);
    assert_eq!(value(&summary, "backend"), "flex");
    assert_eq!(value(&summary, "parameters"), (64 + 1) * 16 + (16 + 1) * 10);
    for key in ["seconds_per_epoch", "git_rev", "test_loss"] {
        value(&summary, key);
    }
    assert!((value(&summary, "test_accuracy").as_f64().unwrap() - accuracy).abs() < 1e-4);
    assert!(out.join("checkpoint/epoch-4/model.bpk").is_file());
    // "What each hidden neuron looks for": the 16 first-layer weight vectors as 8x8 images.
    let weights = image::open(out.join("pictures/weights.png")).expect("pictures/weights.png");
    assert!(
        weights.width() > 4 * 8 && weights.height() > 4 * 8,
        "a 4x4 grid of 8x8 tiles"
    );
    assert!(!RunDir::in_use(&out), "the lock is released");
    assert!(
        out.join("run.json").is_file(),
        "the run records its data root"
    );

    let (ok, stdout, stderr) = run(nnlab(tmp.path()).arg("eval").arg(&out));
    assert!(ok, "{stderr}");
    assert_eq!(loss_accuracy(&stdout), (loss, accuracy));
    assert!(stdout.contains("checkpoint: epoch 4 ("), "{stdout}");
    assert!(!stderr.contains("warning"), "a finished run: {stderr}");
}

#[test]
fn same_seed_gives_identical_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 200, 50);
    let config = tiny_config(tmp.path(), 3);
    let mut runs = Vec::new();
    for name in ["a", "b"] {
        let out = tmp.path().join(name);
        let (ok, _, stderr) = run(nnlab(tmp.path())
            .arg("train")
            .arg(&config)
            .arg("--out")
            .arg(&out)
            .args(["--set", "data.validation=0.2"]));
        assert!(ok, "{stderr}");
        runs.push(metrics_without_seconds(&out));
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        !runs[0].contains(",,"),
        "validation columns are filled: {}",
        runs[0]
    );
    let out = tmp.path().join("c");
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("train")
        .arg(&config)
        .args(["--seed", "4", "--set", "data.validation=0.2", "--out"])
        .arg(&out));
    assert!(ok, "{stderr}");
    assert_ne!(
        runs[0],
        metrics_without_seconds(&out),
        "another seed, other numbers"
    );
}

/// Waits until `path` has at least `lines` lines, or the child exits.
fn wait_for_lines(child: &mut std::process::Child, path: &Path, lines: usize) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if std::fs::read_to_string(path).is_ok_and(|t| t.lines().count() > lines) {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too early"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("{} never reached {lines} rows", path.display());
}

/// An 80-epoch run on tiny data with `set`, trained without interruption: the reference for
/// resumes. Returns the config and the finished run.
fn uninterrupted(tmp: &Path, set: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
    write_tiny(tmp, "tiny", 640, 100);
    let config = tiny_config(tmp, 80);
    let whole = tmp.join("whole");
    let (ok, _, stderr) = run(nnlab(tmp)
        .arg("train")
        .arg(&config)
        .args(set.iter().flat_map(|s| ["--set", s]))
        .arg("--out")
        .arg(&whole));
    assert!(ok, "{stderr}");
    (config, whole)
}

/// Starts `nnlab train config --set ... --out out` in the background, stderr captured.
fn spawn_train(tmp: &Path, config: &Path, set: &[&str], out: &Path) -> std::process::Child {
    nnlab(tmp)
        .arg("train")
        .arg(config)
        .args(set.iter().flat_map(|s| ["--set", s]))
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A run with `set`, killed with SIGKILL after a few epochs and resumed, ends with the
/// `metrics.csv` of an uninterrupted one.
fn assert_kill_and_resume_is_exact(set: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let (config, whole) = uninterrupted(tmp.path(), set);
    let killed = tmp.path().join("killed");
    let mut child = spawn_train(tmp.path(), &config, set, &killed);
    wait_for_lines(&mut child, &killed.join("metrics.csv"), 3);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert!(
        !RunDir::in_use(&killed),
        "the OS released the killed run's lock"
    );
    let rows = std::fs::read_to_string(killed.join("metrics.csv")).unwrap();
    assert!(rows.lines().count() < 81, "killed before the end");

    let (ok, stdout, stderr) = run(nnlab(tmp.path()).arg("train").arg("--resume").arg(&killed));
    assert!(ok, "{set:?}: {stderr}");
    assert!(stdout.contains("Resuming"), "{stdout}");
    assert_eq!(
        metrics_without_seconds(&whole),
        metrics_without_seconds(&killed),
        "{set:?}"
    );
}

#[test]
fn a_killed_run_resumes_to_the_same_metrics() {
    assert_kill_and_resume_is_exact(&[]);
}

#[test]
fn a_killed_dropout_run_resumes_to_the_same_metrics() {
    assert_kill_and_resume_is_exact(&["model.dropout=[0.3]", "model.input_dropout=0.1"]);
}

#[test]
fn killed_manual_engine_runs_with_momentum_or_adam_resume_exactly() {
    assert_kill_and_resume_is_exact(&["train.engine=manual"]);
    assert_kill_and_resume_is_exact(&[
        "train.engine=manual",
        "train.optimizer=sgd",
        "train.sgd.momentum=0.9",
        "train.lr=0.02",
    ]);
}

/// Ctrl-C stops at the next batch and saves mid-epoch; the resumed run ends like an
/// uninterrupted one.
fn assert_ctrl_c_and_resume_is_exact(set: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let (config, whole) = uninterrupted(tmp.path(), set);
    let out = tmp.path().join("run");
    let mut child = spawn_train(tmp.path(), &config, set, &out);
    wait_for_lines(&mut child, &out.join("metrics.csv"), 2);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("interrupted in epoch"), "{stderr}");
    assert!(stderr.contains("nnlab train --resume"), "{stderr}");
    assert!(!RunDir::in_use(&out), "the lock is released");
    let latest = std::fs::read_to_string(out.join("checkpoint/latest")).unwrap();
    assert!(
        latest.contains("-step-"),
        "a mid-epoch checkpoint: {latest}"
    );
    // The message names the step the checkpoint folder is named after.
    let (epoch, step) = latest
        .trim()
        .strip_prefix("epoch-")
        .and_then(|r| r.split_once("-step-"))
        .unwrap();
    assert!(
        stderr.contains(&format!(
            "interrupted in epoch {epoch} after step {step}; the run is saved as checkpoint/{}",
            latest.trim()
        )),
        "{stderr}"
    );

    let (ok, stdout, stderr) = run(nnlab(tmp.path()).arg("train").arg("--resume").arg(&out));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "Resuming {} in epoch {epoch} after step {step}",
            out.display()
        )),
        "{stdout}"
    );
    assert_eq!(
        metrics_without_seconds(&whole),
        metrics_without_seconds(&out),
        "{set:?}"
    );
}

#[test]
fn ctrl_c_saves_mid_epoch_and_resumes_to_the_same_metrics() {
    assert_ctrl_c_and_resume_is_exact(&[]);
}

#[test]
fn ctrl_c_in_a_dropout_run_resumes_to_the_same_metrics() {
    assert_ctrl_c_and_resume_is_exact(&["model.dropout=[0.3]"]);
}

#[test]
fn finished_runs_go_on_only_when_their_epochs_are_raised() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 200, 50);
    let config = tiny_config(tmp.path(), 2);
    let out = tmp.path().join("manual");
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("train")
        .arg(&config)
        .args(["--set", "train.engine=manual", "--out"])
        .arg(&out));
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(nnlab(tmp.path()).args(["train", "--resume"]).arg(&out));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("already finished (2 of 2 epochs)"),
        "{stdout}"
    );
    // Raising the run's epochs continues it, as a longer run would have gone on.
    let config_path = out.join("config.toml");
    let raised = std::fs::read_to_string(&config_path)
        .unwrap()
        .replace("\nepochs = 2\n", "\nepochs = 3\n");
    std::fs::write(&config_path, raised).unwrap();
    let (ok, stdout, stderr) = run(nnlab(tmp.path()).args(["train", "--resume"]).arg(&out));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("Continuing the finished run") && stdout.contains("after epoch 2, to 3"),
        "{stdout}"
    );
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 3, "{metrics}");
    expect_error(
        nnlab(tmp.path()).arg("train").arg(&config).args([
            "--set",
            "train.engine=manual",
            "--set",
            "train.optimizer=rmsprop",
        ]),
        "engine = \"manual\" implements sgd (with or without momentum) and adam",
    );
}

/// A model too large for the machine is refused before it is allocated, naming the key, instead
/// of aborting on the failed allocation. The limit is set so that the test means the same on
/// every machine.
#[test]
fn a_model_too_large_for_memory_is_refused_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 200, 50);
    let config = tiny_config(tmp.path(), 1);
    for (set, key) in [
        ("model.hidden=[20000000]", "model.hidden"),
        ("train.batch_size=100", ""),
    ] {
        let (ok, _, stderr) = run(nnlab(tmp.path())
            .env("NNLAB_MEMORY_LIMIT", (1u64 << 30).to_string())
            .arg("train")
            .arg(&config)
            .args(["--set", set, "--out"])
            .arg(tmp.path().join("run").join(key)));
        if key.is_empty() {
            assert!(ok, "a small model fits: {stderr}");
            continue;
        }
        assert!(!ok);
        assert!(
            stderr.contains(&format!("key `{key}`")) && stderr.contains("1.0 GiB of memory"),
            "{stderr}"
        );
        assert!(!stderr.contains("memory allocation"), "{stderr}");
    }
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .env("NNLAB_MEMORY_LIMIT", (1u64 << 30).to_string())
        .arg("train")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../configs/article_mlp.toml"
        ))
        .args([
            "--set",
            "model.hidden=[20000000]",
            "--set",
            "data.dataset=tiny",
        ]));
    assert!(!ok);
    assert!(stderr.contains("key `model.hidden`"), "{stderr}");
}

#[test]
fn a_diverging_run_stops_naming_epoch_step_and_learning_rate() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 200, 50);
    let config = tiny_config(tmp.path(), 5);
    let out = tmp.path().join("run");
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("train")
        .arg(&config)
        .args([
            "--set",
            "train.optimizer=sgd",
            "--set",
            "train.lr=1e30",
            "--set",
            "train.log_every=1",
        ])
        .arg("--out")
        .arg(&out));
    assert!(!ok);
    assert!(
        stderr.contains("training diverged: the loss became"),
        "{stderr}"
    );
    assert!(stderr.contains("at epoch 1, step "), "{stderr}");
    assert!(
        stderr.contains("learning rate (1e30) is likely too high"),
        "{stderr}"
    );
    assert!(
        stderr.contains("No epoch finished, so there is no checkpoint"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.join("summary.json").exists());
}

/// Every bad input gets one line on stderr, a non-zero exit, and no panic.
fn expect_error(cmd: &mut std::process::Command, needle: &str) {
    let (ok, _, stderr) = run(cmd);
    assert!(!ok, "expected failure with {needle:?}");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn bad_configs_are_refused_with_the_key_and_the_rule() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 40, 10);
    let config = tiny_config(tmp.path(), 1);
    let train = |set: &str| {
        let mut c = nnlab(tmp.path());
        c.arg("train").arg(&config).args(["--set", set]);
        c
    };
    expect_error(&mut train("train.lrr=0.1"), "unknown field `lrr`");
    expect_error(&mut train("train.lr=fast"), "key `train.lr`: invalid type");
    expect_error(
        &mut train("train.lr=0"),
        "key `train.lr` = 0: must be a finite number > 0",
    );
    expect_error(&mut train("train.lr=-1"), "must be a finite number > 0");
    expect_error(&mut train("train.batch_size=0"), "`train.batch_size` = 0");
    expect_error(&mut train("train.epochs=0"), "`train.epochs` = 0");
    expect_error(
        &mut train("model.activation=swish"),
        "unknown variant `swish`",
    );
    expect_error(
        &mut train("train.batch_size=64"),
        "larger than the 40 training examples",
    );
    expect_error(
        &mut train("data.dataset=nothere"),
        "missing train-images-idx3-ubyte",
    );
    let typo = tmp.path().join("typo.toml");
    std::fs::write(&typo, "name = \"x\"\n[train]\nepoch = 3\n").unwrap();
    expect_error(
        nnlab(tmp.path()).arg("train").arg(&typo),
        "key `train.epoch`: unknown field `epoch`",
    );
    let broken = tmp.path().join("broken.toml");
    std::fs::write(&broken, "name = \"x\"\n[train\n").unwrap();
    expect_error(
        nnlab(tmp.path()).arg("train").arg(&broken),
        "not valid TOML",
    );
    expect_error(
        nnlab(tmp.path())
            .arg("train")
            .arg(tmp.path().join("none.toml")),
        "cannot read",
    );
}

#[test]
fn bad_data_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path(), 1);
    let dir = tmp.path().join("tiny");
    let train = || {
        let mut c = nnlab(tmp.path());
        c.arg("train").arg(&config);
        c
    };
    let images = dir.join("train-images-idx3-ubyte.gz");
    let labels = dir.join("train-labels-idx1-ubyte.gz");

    write_tiny(tmp.path(), "tiny", 40, 10);
    let gz = std::fs::read(&images).unwrap();
    std::fs::write(&images, &gz[..gz.len() / 2]).unwrap();
    expect_error(
        &mut train(),
        "train-images-idx3-ubyte.gz: corrupt gzip data",
    );

    write_tiny(tmp.path(), "tiny", 40, 10);
    let raw = nnlab_data::idx::read_maybe_gz(&images).unwrap();
    std::fs::remove_file(&images).unwrap();
    let plain = dir.join("train-images-idx3-ubyte");
    std::fs::write(&plain, &raw[..raw.len() - 10]).unwrap();
    expect_error(&mut train(), "truncated or corrupt");
    let mut wrong = raw.clone();
    wrong[2] = 0x0d;
    std::fs::write(&plain, &wrong).unwrap();
    expect_error(&mut train(), "element type 0x0d");
    wrong[0] = 0x1f;
    wrong[1] = 0x00;
    std::fs::write(&plain, &wrong).unwrap();
    expect_error(&mut train(), "wrong magic number");
    std::fs::remove_file(&plain).unwrap();

    write_tiny(tmp.path(), "tiny", 40, 10);
    nnlab_data::idx::write_file(&labels, &nnlab_data::idx::labels_to_bytes(&[1; 39]), true)
        .unwrap();
    expect_error(&mut train(), "holds 40 images but");

    write_tiny(tmp.path(), "mnist", 40, 10);
    let bad = tmp.path().join("mnist.toml");
    std::fs::write(&bad, "name = \"m\"\n[data]\ndataset = \"mnist\"\n").unwrap();
    expect_error(
        nnlab(tmp.path()).arg("train").arg(&bad),
        "does not match the published",
    );
    let big = tmp.path().join("mnist/train-labels-idx1-ubyte.gz");
    nnlab_data::idx::write_file(&big, &nnlab_data::idx::labels_to_bytes(&[12; 40]), true).unwrap();
    expect_error(
        nnlab(tmp.path())
            .arg("train")
            .arg(&bad)
            .arg("--data-dir")
            .arg(tmp.path()),
        "does not match the published",
    );

    let empty = tempfile::tempdir().unwrap();
    expect_error(
        nnlab(empty.path()).arg("train").arg(&bad),
        "dataset `mnist`: missing train-images-idx3-ubyte[.gz]",
    );
}

#[test]
fn run_folders_are_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 40, 10);
    let config = tiny_config(tmp.path(), 1);
    let out = tmp.path().join("run");
    let train = |out: &Path| {
        let mut c = nnlab(tmp.path());
        c.arg("train").arg(&config).arg("--out").arg(out);
        c
    };
    let (ok, _, stderr) = run(&mut train(&out));
    assert!(ok, "{stderr}");
    let before = std::fs::read(out.join("metrics.csv")).unwrap();
    expect_error(&mut train(&out), "already exists and is not empty");
    assert_eq!(std::fs::read(out.join("metrics.csv")).unwrap(), before);

    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    expect_error(&mut train(&file.join("run")), "cannot create run folder");

    expect_error(
        nnlab(tmp.path()).arg("eval").arg(tmp.path()),
        "is not a run folder",
    );
    expect_error(
        nnlab(tmp.path())
            .args(["train", "--resume"])
            .arg(tmp.path().join("nope")),
        "is not a run folder",
    );
}

#[test]
fn a_study_runs_its_seeds_and_writes_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 200, 50);
    let study = tmp.path().join("study");
    std::fs::create_dir_all(&study).unwrap();
    tiny_config(&study, 2);
    std::fs::write(
        study.join("study.toml"),
        "title = \"tiny study\"\nconfig = \"tiny.toml\"\nseeds = [1, 2]\n\
         [reference]\nsource = \"made up\"\nvalue = 0.5\ntarget = 0.5\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = run(nnlab(tmp.path()).arg("study").arg(&study));
    assert!(ok, "{stderr}");
    let table = std::fs::read_to_string(study.join("results.md")).unwrap();
    assert!(table.contains("| nnlab, 2 seeds |"), "{table}");
    // It opens with its anchor: the published number, ours, the gap and its unit, the seeds.
    let anchor = table.lines().nth(4).unwrap();
    assert!(
        anchor.starts_with("| test accuracy: 50.00 % (made up) | ") && anchor.contains(" pp ("),
        "{table}"
    );
    assert!(anchor.contains(" | 2 | "), "{anchor}");
    assert!(table.contains("meets the target"), "{table}");
    assert!(stdout.contains("seed 2: training into"), "{stdout}");
    // A second call finds the runs done and only rebuilds the table.
    let (ok, stdout, _) = run(nnlab(tmp.path()).arg("study").arg(&study));
    assert!(ok);
    assert!(stdout.contains("2 runs done already, 0 to go"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(study.join("results.md")).unwrap(),
        table
    );
}

#[test]
fn a_grid_study_runs_cells_in_parallel_and_draws_charts() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 200, 50);
    let study = tmp.path().join("grid");
    std::fs::create_dir_all(&study).unwrap();
    tiny_config(&study, 2);
    std::fs::write(
        study.join("study.toml"),
        r#"title = "tiny grid"
config = "tiny.toml"
seeds = [1, 2]
[[axis]]
name = "activation"
key = "model.activation"
values = ["relu", "tanh"]
[[axis]]
name = "optimizer"
values = [{ label = "adam", set = ["train.optimizer=adam"] },
          { label = "sgd", set = ["train.optimizer=sgd", "train.lr=0.1"] }]
[[expect]]
cell = "relu/adam"
value = 0.2
source = "a low bar"
[[expect]]
cell = "tanh/sgd"
value = 0.2
source = "the same bar"
"#,
    )
    .unwrap();
    let (ok, stdout, stderr) = run(nnlab(tmp.path())
        .arg("study")
        .arg(&study)
        .args(["--jobs", "2"]));
    assert!(ok, "{stdout}{stderr}");
    let table = std::fs::read_to_string(study.join("results.md")).unwrap();
    for cell in [
        "| relu | adam |",
        "| relu | sgd |",
        "| tanh | adam |",
        "| tanh | sgd |",
    ] {
        assert!(table.contains(cell), "{cell} in {table}");
    }
    // The tiny set is easy: both cells end far above 20 %, outside a two-sided band.
    assert!(
        table.contains("Outside the 0.5 pp band: relu/adam (+"),
        "{table}"
    );
    assert!(table.contains("pp, above), tanh/sgd (+"), "{table}");
    assert!(study.join("runs/tanh_sgd/seed-2/summary.json").is_file());
    if table.contains("## Charts") {
        for png in [
            "curves-test_accuracy-relu.png",
            "curves-train_loss-tanh.png",
            "accuracy.png",
        ] {
            let bytes = std::fs::read(study.join(png)).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{png}");
        }
    } else {
        assert!(
            table.contains("charts skipped: no TrueType font"),
            "{table}"
        );
    }
    let (ok, stdout, _) = run(nnlab(tmp.path())
        .arg("study")
        .arg(&study)
        .args(["--jobs", "2"]));
    assert!(ok);
    assert!(stdout.contains("8 runs done already, 0 to go"), "{stdout}");
}

/// Real MNIST, through the binary.
#[test]
#[ignore = "needs MNIST: set NNLAB_DATA to the folder holding mnist/ (CI runs it with --ignored)"]
fn mnist_subset_trains_through_the_binary() {
    let root = mnist_root().expect("NNLAB_DATA must point at a folder holding mnist/");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let config = workspace.join("configs/article_mlp.toml");
    let (ok, stdout, stderr) = run(nnlab(&root)
        .arg("train")
        .arg(&config)
        .args(["--set", "train.epochs=1", "--set", "data.limit_train=3000"])
        .arg("--out")
        .arg(&out));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("(3000 train, 0 valid, 10000 test, 28x28), 25450 parameters"),
        "{stdout}"
    );
    let (_, accuracy) = loss_accuracy(&stdout);
    // One epoch on 3,000 images: well above chance, well below the full run.
    assert!(accuracy > 0.80, "{accuracy}");
    let (ok, stdout, stderr) = run(nnlab(&root).args(["data", "mnist"]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("60000 train + 10000 test images of 28x28, 10 classes, checksums verified"),
        "{stdout}"
    );
}

/// A committed study record is what today's code computes: the article-mlp study's seed-1 run is
/// retrained from its own config and compared with its `metrics.csv`, so a change that moves the
/// figures cannot pass unnoticed. Accuracies (counts of correct images) must be equal; losses may
/// differ in their last bits where another CPU's vector unit sums in another order (1e-5).
#[test]
#[ignore = "needs MNIST: set NNLAB_DATA to the folder holding mnist/ (CI runs it with --ignored)"]
fn a_committed_study_run_retrains_to_its_record() {
    let root = mnist_root().expect("NNLAB_DATA must point at a folder holding mnist/");
    let record =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/article-mlp/runs/seed-1");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let (ok, _, stderr) = run(nnlab(&root)
        .arg("train")
        .arg(record.join("config.toml"))
        .arg("--out")
        .arg(&out));
    assert!(ok, "{stderr}");
    let table = |dir: &Path| -> Vec<Vec<String>> {
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let (want, got) = (table(&record), table(&out));
    assert_eq!(want[0], got[0], "the columns");
    assert_eq!(want.len(), got.len(), "the epochs");
    for (w, g) in want[1..].iter().zip(&got[1..]) {
        for ((name, a), b) in want[0].iter().zip(w).zip(g) {
            if name == "seconds" || a == b {
                continue;
            }
            let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            assert!(
                name.ends_with("loss") && (a - b).abs() <= 1e-5 * a.abs(),
                "epoch {}: {name} is {b}, the record says {a}",
                w[0]
            );
        }
    }
}

/// `nnlab principles`: the activations and their derivatives drawn, and the vanishing gradient
/// measured on tiny data: through sigmoid layers the first layer's gradient is orders of
/// magnitude below the output layer's (each layer multiplies by f' <= 1/4), through ReLU not.
#[test]
fn principles_draws_activations_and_measures_vanishing_gradients() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 200, 50);
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .args(["principles", "activations", "--out"])
        .arg(tmp.path().join("act.png")));
    assert!(ok, "{stderr}");
    assert!(
        tmp.path().join("act.png").is_file() && tmp.path().join("act-derivative.png").is_file()
    );
    let (ok, stdout, stderr) = run(nnlab(tmp.path())
        .args([
            "principles",
            "gradients",
            "--dataset",
            "tiny",
            "--depth",
            "8",
            "--width",
            "32",
        ])
        .args(["--batch", "64", "--out"])
        .arg(tmp.path().join("grad.png")));
    assert!(ok, "{stderr}");
    assert!(tmp.path().join("grad.png").is_file());
    let ratios = stdout
        .lines()
        .find_map(|l| l.strip_prefix("first layer / output layer: "))
        .expect("the ratios line");
    let ratio = |name: &str| -> f64 {
        ratios
            .split(", ")
            .find_map(|p| p.strip_prefix(&format!("{name} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(ratio("sigmoid") < 1e-3, "{ratios}");
    assert!(ratio("relu") > 1e-2, "{ratios}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("| ")).count(),
        1 + 9,
        "{stdout}"
    );
}

/// `nnlab data` says "checksums verified" only when it checked some; a dataset of our own has
/// no published checksums.
#[test]
fn data_says_whether_checksums_were_checked() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 40, 10);
    let (ok, stdout, stderr) = run(nnlab(tmp.path()).args(["data", "tiny"]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("no published checksums to verify"),
        "{stdout}"
    );
    assert!(!stdout.contains("checksums verified"), "{stdout}");
}

/// `checkpoint/latest` must agree with the state of the checkpoint it names: a pointer to a
/// folder holding another epoch's weights is refused instead of silently resumed.
#[test]
fn a_latest_pointer_that_disagrees_with_its_checkpoint_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 200, 50);
    let config = tiny_config(tmp.path(), 3);
    let out = tmp.path().join("run");
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .arg("train")
        .arg(&config)
        .arg("--out")
        .arg(&out));
    assert!(ok, "{stderr}");
    let ckpt = out.join("checkpoint");
    // epoch-2/ now holds epoch 3's checkpoint; latest claims epoch 2.
    std::fs::remove_dir_all(ckpt.join("epoch-2")).unwrap();
    std::fs::rename(ckpt.join("epoch-3"), ckpt.join("epoch-2")).unwrap();
    std::fs::write(ckpt.join("latest"), "epoch-2\n").unwrap();
    std::fs::remove_file(out.join("summary.json")).unwrap();
    expect_error(
        nnlab(tmp.path()).args(["train", "--resume"]).arg(&out),
        "names epoch-2, but that checkpoint's state.json says after epoch 3",
    );
    std::fs::write(ckpt.join("latest"), "epoch-7\n").unwrap();
    expect_error(
        nnlab(tmp.path()).args(["train", "--resume"]).arg(&out),
        "names epoch-7, which does not exist",
    );
}

/// A study resumes an unfinished run only when the run was started with the config the study
/// gives now; otherwise it stops and says so, touching nothing.
#[test]
fn a_study_does_not_resume_a_run_made_with_another_config() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 200, 50);
    let study = tmp.path().join("study");
    std::fs::create_dir_all(&study).unwrap();
    let config = tiny_config(&study, 2);
    std::fs::write(
        study.join("study.toml"),
        "title = \"t\"\nconfig = \"tiny.toml\"\nseeds = [1]\n",
    )
    .unwrap();
    // An unfinished run in the study's place, started with another learning rate.
    let run_dir = study.join("runs/seed-1");
    let mut child = nnlab(tmp.path())
        .arg("train")
        .arg(&config)
        .args([
            "--seed",
            "1",
            "--set",
            "train.lr=0.5",
            "--set",
            "train.epochs=80",
            "--out",
        ])
        .arg(&run_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_lines(&mut child, &run_dir.join("metrics.csv"), 1);
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read(run_dir.join("metrics.csv")).unwrap();
    expect_error(
        nnlab(tmp.path()).arg("study").arg(&study),
        "was started with another config than the study now gives",
    );
    assert_eq!(std::fs::read(run_dir.join("metrics.csv")).unwrap(), before);
}

/// Early stopping as Keras does it: after `patience` epochs without an improvement of more than
/// `min_delta` in the monitored validation figure, training stops; with `restore_best` the run
/// ends with the best epoch's weights and reports that epoch's test figures, and `eval`
/// evaluates those weights.
#[test]
fn early_stopping_stops_and_restores_the_best_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 200, 50);
    let config = tiny_config(tmp.path(), 50);
    let out = tmp.path().join("run");
    // No later epoch can beat the first by 10: the run stops after epoch 1 + patience.
    let (ok, stdout, stderr) = run(nnlab(tmp.path())
        .arg("train")
        .arg(&config)
        .args([
            "--set",
            "data.validation=0.2",
            "--set",
            "train.early_stopping.patience=2",
            "--set",
            "train.early_stopping.min_delta=10",
            "--out",
        ])
        .arg(&out));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("Early stopping: valid_loss has not improved for 2 epochs (best: epoch 1)"),
        "{stdout}"
    );
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        1 + 3,
        "epochs 1 to 3, then stop: {metrics}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(value(&summary, "best_epoch"), 1);
    assert_eq!(value(&summary, "stopped_early"), true);
    let first: Vec<&str> = metrics.lines().nth(1).unwrap().split(',').collect();
    let test_loss: f64 = first[5].parse().unwrap();
    assert_eq!(value(&summary, "test_loss").as_f64().unwrap(), test_loss);
    let (ok, stdout, stderr) = run(nnlab(tmp.path()).arg("eval").arg(&out));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("epoch 1 (the best, kept by early stopping)"),
        "{stdout}"
    );
    assert!(
        (loss_accuracy(&stdout).0 - test_loss).abs() < 1e-4,
        "{stdout}"
    );
    let (ok, stdout, _) = run(nnlab(tmp.path()).args(["train", "--resume"]).arg(&out));
    assert!(ok);
    assert!(
        stdout.contains("already finished: early stopping ended it after epoch 3 (of 50)"),
        "{stdout}"
    );
}

/// A reader that closes the pipe after the first line must not kill or corrupt a run: nnlab
/// stops printing and finishes its work.
#[test]
fn a_closed_pipe_neither_panics_nor_loses_the_run() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 400, 100);
    let config = tiny_config(tmp.path(), 6);
    let study = tmp.path().join("study");
    std::fs::create_dir_all(&study).unwrap();
    tiny_config(&study, 3);
    std::fs::write(
        study.join("study.toml"),
        "title = \"t\"\nconfig = \"tiny.toml\"\nseeds = [1, 2]\n",
    )
    .unwrap();
    let out = tmp.path().join("run");
    for (what, args) in [
        (
            "train",
            vec![
                "train".into(),
                config.display().to_string(),
                "--out".into(),
                out.display().to_string(),
            ],
        ),
        ("study", vec!["study".into(), study.display().to_string()]),
    ] {
        let mut child = nnlab(tmp.path())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{what}");
        // The reader is gone: `| head -1`.
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
    assert!(out.join("summary.json").is_file(), "the run finished");
    assert!(study.join("results.md").is_file(), "the study finished");
    assert!(study.join("runs/seed-2/summary.json").is_file());
}

#[test]
fn the_cli_says_what_it_means() {
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 40, 10);
    let config = tiny_config(tmp.path(), 1);
    // The other form of `train` is shown when the config is missing.
    let (ok, _, stderr) = run(nnlab(tmp.path()).arg("train"));
    assert!(
        !ok && stderr.contains("nnlab train --resume <RUN_DIR>"),
        "{stderr}"
    );
    // A mistyped dataset gets the known one.
    expect_error(
        nnlab(tmp.path())
            .arg("train")
            .arg(&config)
            .args(["--set", "data.dataset=mnsit"]),
        "did you mean `mnist`?",
    );
    // The source of a bad key is the --set, not the file.
    expect_error(
        nnlab(tmp.path())
            .arg("train")
            .arg(&config)
            .args(["--set", "train.lrr=1"]),
        "error: --set train.lrr=1: key `train.lrr`",
    );
    let (ok, _, stderr) = run(nnlab(tmp.path()).args(["study", "x", "--jobs", "0"]));
    assert!(
        !ok && stderr.contains("--jobs") && stderr.contains("at least 1"),
        "{stderr}"
    );
    // More jobs than cores: said before anything runs.
    let (_, _, stderr) = run(nnlab(tmp.path()).args(["study", "x", "--jobs", "4096"]));
    assert!(
        stderr.contains("note: --jobs 4096 on") && stderr.contains("cores: runs share the cores"),
        "{stderr}"
    );
    // `eval` of a folder of runs lists them.
    let runs = tmp.path().join("runs");
    for name in ["a", "b"] {
        let (ok, _, stderr) = run(nnlab(tmp.path())
            .arg("train")
            .arg(&config)
            .arg("--out")
            .arg(runs.join(name)));
        assert!(ok, "{stderr}");
    }
    let (ok, _, stderr) = run(nnlab(tmp.path()).arg("eval").arg(&runs));
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("is not a run folder but holds 2 run(s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&runs.join("b").display().to_string()),
        "{stderr}"
    );
}

/// Tiny data and a study `grid/` of one config and one seed under `root`; returns its folder.
fn one_seed_study(root: &Path) -> PathBuf {
    write_tiny(root, "tiny", 200, 50);
    let study = root.join("grid");
    std::fs::create_dir_all(&study).unwrap();
    tiny_config(&study, 2);
    std::fs::write(
        study.join("study.toml"),
        "title = \"t\"\nconfig = \"tiny.toml\"\nseeds = [1]\n",
    )
    .unwrap();
    study
}

/// A study run with `--set` overrides is another study: by default it goes to
/// `runs/studies/<study>/<overrides>/` and leaves the study's own record untouched. The study
/// file itself may be named instead of its folder.
#[test]
fn a_study_with_overrides_leaves_its_record_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let study = one_seed_study(tmp.path());
    let (ok, stdout, stderr) = run(nnlab(tmp.path())
        .current_dir(tmp.path())
        .arg("study")
        .arg(study.join("study.toml"))
        .args(["--set", "train.epochs=1"]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("its committed record stays as it is"),
        "{stdout}"
    );
    assert!(!study.join("results.md").exists() && !study.join("runs").exists());
    let variant = tmp.path().join("runs/studies/grid/train.epochs=1");
    let table = std::fs::read_to_string(variant.join("results.md")).unwrap();
    assert!(table.contains("**command-line overrides**"), "{table}");
    assert!(variant.join("runs/seed-1/summary.json").is_file());
}

/// `--set` with `--runs` (the table goes to the variant's folder, which nothing else made) and
/// with `--results` in a new folder: both write the table and its charts.
#[test]
fn a_study_with_overrides_writes_where_it_is_told() {
    let tmp = tempfile::tempdir().unwrap();
    let study = one_seed_study(tmp.path());
    let runs = tmp.path().join("elsewhere/runs");
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .current_dir(tmp.path())
        .arg("study")
        .arg(&study)
        .args(["--set", "train.epochs=1", "--runs"])
        .arg(&runs));
    assert!(ok, "{stderr}");
    assert!(runs.join("seed-1/summary.json").is_file());
    let variant = tmp.path().join("runs/studies/grid/train.epochs=1");
    assert!(variant.join("results.md").is_file());
    assert!(variant.join("curves-test_accuracy.png").is_file());
    let results = tmp.path().join("new/folder/table.md");
    let (ok, _, stderr) = run(nnlab(tmp.path())
        .current_dir(tmp.path())
        .arg("study")
        .arg(&study)
        .args(["--set", "train.epochs=1", "--runs"])
        .arg(&runs)
        .arg("--results")
        .arg(&results));
    assert!(ok, "{stderr}");
    assert!(results.is_file());
    assert!(results.with_file_name("curves-test_accuracy.png").is_file());
}

/// Ctrl-C during a study stops its run at the next batch, saves it, and says to rerun the study.
#[test]
fn ctrl_c_in_a_study_says_to_rerun_the_study() {
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    write_tiny(tmp.path(), "tiny", 640, 100);
    let study = tmp.path().join("long");
    std::fs::create_dir_all(&study).unwrap();
    tiny_config(&study, 80);
    std::fs::write(
        study.join("study.toml"),
        "title = \"t\"\nconfig = \"tiny.toml\"\nseeds = [1, 2]\n",
    )
    .unwrap();
    // Its own process group, as a shell gives a foreground job: Ctrl-C reaches all of it.
    let mut child = nnlab(tmp.path())
        .arg("study")
        .arg(&study)
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lines(&mut child, &study.join("runs/seed-1/metrics.csv"), 2);
    let status = std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!(
            "Continue the study with: nnlab study {}",
            study.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("nnlab train --resume"), "{stderr}");
    assert!(!study.join("runs/seed-2").exists(), "no new run started");
}
