//! Helpers of the end-to-end tests: tiny datasets written as real IDX files, and the `nnlab`
//! binary run on them offline.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use nnlab_data::idx::{IdxImages, labels_to_bytes, write_file};

/// Image side of the tiny datasets.
pub const SIDE: usize = 8;

/// Writes a learnable 10-class dataset `name` under `root`: class `c` lights up row `c % 8`
/// (and column `c / 8 * 4` for the upper classes) over a noise floor. Deterministic.
pub fn write_tiny(root: &Path, name: &str, n_train: usize, n_test: usize) {
    write_tiny_sized(root, name, n_train, n_test, SIDE);
}

/// [`write_tiny`] with `side x side` images (the lit rows repeat every 8).
pub fn write_tiny_sized(root: &Path, name: &str, n_train: usize, n_test: usize, side: usize) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut state = 12345u64;
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % 60) as u8
    };
    for (images, labels, n) in [
        (
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            n_train,
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            n_test,
        ),
    ] {
        let mut pixels = Vec::with_capacity(n * side * side);
        let mut ys = Vec::with_capacity(n);
        for i in 0..n {
            let c = (i * 7 + i / 3) % 10;
            ys.push(c as u8);
            for r in 0..side {
                for col in 0..side {
                    let lit = r % SIDE == c % SIDE || (c >= SIDE && col % SIDE == (c / SIDE) * 4);
                    pixels.push(if lit { 200 + noise() / 2 } else { noise() });
                }
            }
        }
        let img = IdxImages {
            n,
            rows: side,
            cols: side,
            pixels,
        };
        write_file(&dir.join(images), &img.to_bytes(), true).unwrap();
        write_file(&dir.join(labels), &labels_to_bytes(&ys), true).unwrap();
    }
}

/// Writes `<name>.toml` under `root` (seed 3, batches of 16, lr 0.01, `epochs` epochs on the
/// dataset `data`, `model` as its `[model]` table) and trains it offline into `root/<name>`;
/// returns the run folder.
pub fn train_tiny_model(
    root: &Path,
    name: &str,
    data: &str,
    model: &str,
    epochs: usize,
) -> PathBuf {
    let config = root.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "name = \"{name}\"\nseed = 3\n[data]\ndataset = \"{data}\"\n[model]\n{model}\n\
             [train]\nepochs = {epochs}\nbatch_size = 16\nlr = 0.01\n"
        ),
    )
    .unwrap();
    let out = root.join(name);
    let (ok, _, stderr) = run(nnlab(root).arg("train").arg(&config).arg("--out").arg(&out));
    assert!(ok, "{stderr}");
    out
}

/// The library's options for data under `root`, with downloads off.
pub fn offline_options(root: &Path) -> nnlab_runner::tasks::TrainOptions {
    nnlab_runner::tasks::TrainOptions {
        data_dir: Some(root.to_path_buf()),
        download: false,
        ..nnlab_runner::tasks::TrainOptions::default()
    }
}

/// A config for the tiny dataset.
pub fn tiny_config(dir: &Path, epochs: usize) -> PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"tiny\"\nseed = 3\n[data]\ndataset = \"tiny\"\n[model]\nhidden = [16]\n\
             [train]\nepochs = {epochs}\nbatch_size = 16\nlr = 0.01\nlog_every = 3\n"
        ),
    )
    .unwrap();
    path
}

/// The `nnlab` binary under test: `$NNLAB_BIN` when set (a copy kept aside, as CI's background
/// parity run and `scripts/gpu-check.sh` use, since the next cargo build with other features
/// relinks `target/release/nnlab`), else the one cargo built with this test.
pub fn binary() -> PathBuf {
    std::env::var_os("NNLAB_BIN")
        .filter(|p| !p.is_empty())
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_nnlab").into())
}

/// The `nnlab` binary with networking off and the data root set.
pub fn nnlab(data_root: &Path) -> Command {
    let mut c = Command::new(binary());
    c.env("NNLAB_OFFLINE", "1")
        .env("NNLAB_DATA", data_root)
        .env_remove("RUST_BACKTRACE");
    c
}

/// Runs and returns (success, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("nnlab runs");
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// `metrics.csv` without the `seconds` column (timings differ between runs).
pub fn metrics_without_seconds(run: &Path) -> String {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The data root holding `mnist/`, from `NNLAB_DATA` (relative paths are meant from the
/// workspace root, where CI runs), or `None` when it is not set or holds no MNIST.
pub fn mnist_root() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = workspace.join(std::env::var_os("NNLAB_DATA")?);
    root.join("mnist").is_dir().then_some(root)
}

/// Starts `nnlab rate` on the study `dir` on a free port with `args`, waits for the page's URL it
/// prints, and keeps reading its output so that it never blocks on a full pipe; returns the
/// process and the URL.
pub fn start_rate(data_root: &Path, dir: &Path, args: &[&str]) -> (Child, String) {
    let mut child = nnlab(data_root)
        .arg("rate")
        .arg(dir)
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("nnlab rate prints its URL").unwrap();
        if let Some(at) = line.find("http://127.0.0.1:") {
            break line[at..].trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// `nnlab export RUN_DIR --out RUN_DIR/model.safetensors`: the file's bytes and its JSON
/// description.
pub fn export(tmp: &Path, run_dir: &Path) -> (Vec<u8>, serde_json::Value) {
    let file = run_dir.join("model.safetensors");
    let (ok, stdout, stderr) = run(nnlab(tmp)
        .arg("export")
        .arg(run_dir)
        .arg("--out")
        .arg(&file));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("tensors written to"), "{stdout}");
    let json = std::fs::read_to_string(run_dir.join("model.safetensors.json")).unwrap();
    (
        std::fs::read(&file).unwrap(),
        serde_json::from_str(&json).unwrap(),
    )
}
