//! A task shaped like a GAN — two modules, two optimizers, fresh noise every step (drawn on the
//! host from the step's generator, and on the device from its reseeded generator) — trains on
//! the shared engine, is killed with SIGKILL, resumes, and ends bit-identical to a run that was
//! never interrupted: the same `metrics.csv` and the same final weights of both networks.
//!
//! The training runs are separate processes: this test binary runs itself with
//! `NNLAB_TOY_GAN_RUN=<folder>` (hence `harness = false` in Cargo.toml: `main` is either the
//! test or the training process it kills).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{leaky_relu, relu, sigmoid, softplus};
use nnlab_data::ImageDataset;
use nnlab_runner::engine::{
    CheckpointReader, CheckpointWriter, FitOptions, StepContext, StepOutput, Task, checkpoint,
};
use nnlab_runner::optim::Optim;
use nnlab_runner::run_dir::RunDir;
use nnlab_runner::{RunConfig, tasks};
use rand::Rng;

const RUN_ENV: &str = "NNLAB_TOY_GAN_RUN";
const LATENT: usize = 8;
const EPOCHS: usize = 40;

#[derive(Module, Debug)]
struct Generator {
    a: Linear,
    b: Linear,
}

#[derive(Module, Debug)]
struct Discriminator {
    a: Linear,
    b: Linear,
}

impl Generator {
    fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        sigmoid(self.b.forward(relu(self.a.forward(z))))
    }
}

impl Discriminator {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.b.forward(leaky_relu(self.a.forward(x), 0.2))
    }
}

/// The toy GAN as a task of the engine.
struct ToyGan {
    g: Option<Generator>,
    d: Option<Discriminator>,
    optim_g: Optim,
    optim_d: Optim,
    ad: Device,
    features: usize,
}

/// Standard normal noise `[n, LATENT]` from the step's host generator (Box-Muller).
fn noise(rng: &mut impl Rng, n: usize, device: &Device) -> Tensor<2> {
    let v: Vec<f32> = (0..n * LATENT)
        .map(|_| {
            let (u1, u2): (f32, f32) = (rng.random::<f32>().max(1e-7), rng.random());
            (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        })
        .collect();
    Tensor::from_data(TensorData::new(v, [n, LATENT]), device)
}

impl ToyGan {
    fn new(device: &Device, features: usize) -> Self {
        let ad = device.clone().autodiff();
        let g = Generator {
            a: LinearConfig::new(LATENT, 16).init(&ad),
            b: LinearConfig::new(16, features).init(&ad),
        };
        let d = Discriminator {
            a: LinearConfig::new(features, 16).init(&ad),
            b: LinearConfig::new(16, 1).init(&ad),
        };
        nnlab_models::init::materialize(&g);
        nnlab_models::init::materialize(&d);
        Self {
            g: Some(g),
            d: Some(d),
            optim_g: Optim::Module(AdamConfig::new().with_beta_1(0.5).init()),
            optim_d: Optim::Module(AdamConfig::new().with_beta_1(0.5).init()),
            ad,
            features,
        }
    }

    fn images(&self, data: &ImageDataset, batch: &[u32], device: &Device) -> Tensor<2> {
        let b = data.batch(batch);
        Tensor::from_data(TensorData::new(b.images, [b.size, self.features]), device)
    }
}

impl Task for ToyGan {
    fn train_metrics(&self) -> Vec<String> {
        vec!["d_loss".into(), "g_loss".into()]
    }

    fn eval_metrics(&self) -> Vec<String> {
        vec!["d_loss".into()]
    }

    fn parameters(&self) -> usize {
        self.g.as_ref().unwrap().num_params() + self.d.as_ref().unwrap().num_params()
    }

    fn step(&mut self, data: &ImageDataset, batch: &[u32], ctx: &StepContext) -> StepOutput {
        let n = batch.len();
        let mut rng = ctx.rng();
        let (g, d) = (self.g.take().unwrap(), self.d.take().unwrap());
        // Instance noise on the real images, drawn on the device (reseeded for every step).
        let real = self.images(data, batch, &self.ad)
            + Tensor::random(
                [n, self.features],
                Distribution::Normal(0.0, 0.05),
                &self.ad,
            );
        let fake = g.forward(noise(&mut rng, n, &self.ad)).detach();
        let d_loss =
            softplus(d.forward(real).neg(), 1.0).mean() + softplus(d.forward(fake), 1.0).mean();
        let grads = GradientsParams::from_grads(d_loss.backward(), &d);
        let d = self.optim_d.step(ctx.lr, d, grads);
        let g_loss = softplus(
            d.forward(g.forward(noise(&mut rng, n, &self.ad))).neg(),
            1.0,
        )
        .mean();
        let mut grads = g_loss.backward();
        let grads = GradientsParams::from_module(&mut grads, &g);
        let g = self.optim_g.step(ctx.lr, g, grads);
        self.g = Some(g);
        self.d = Some(d);
        StepOutput {
            examples: n,
            sums: vec![
                (d_loss.detach() * n as f32).into(),
                (g_loss.detach() * n as f32).into(),
            ],
        }
    }

    fn evaluate(&mut self, data: &ImageDataset, indices: &[u32]) -> Vec<f64> {
        let device = self.ad.clone().without_autodiff();
        let d = self.d.as_ref().unwrap().valid();
        let real = self.images(data, indices, &device);
        vec![
            softplus(d.forward(real).neg(), 1.0)
                .mean()
                .into_scalar::<f32>() as f64,
        ]
    }

    fn save(&self, ckpt: &mut CheckpointWriter) -> nnlab_runner::Result<()> {
        ckpt.module("generator", self.g.as_ref().unwrap())?;
        ckpt.module("discriminator", self.d.as_ref().unwrap())?;
        ckpt.optimizer("optim_g", &self.optim_g)?;
        ckpt.optimizer("optim_d", &self.optim_d)
    }

    fn load(&mut self, ckpt: &CheckpointReader) -> nnlab_runner::Result<()> {
        self.g = Some(ckpt.module("generator", self.g.take().unwrap())?);
        self.d = Some(ckpt.module("discriminator", self.d.take().unwrap())?);
        ckpt.optimizer("optim_g", &mut self.optim_g)?;
        ckpt.optimizer("optim_d", &mut self.optim_d)?;
        Ok(())
    }
}

/// The config of the toy runs (its model section is not used by the toy task).
fn config(data_root: &Path) -> RunConfig {
    let text = format!(
        "name = \"toy_gan\"\nseed = 5\n[data]\ndataset = \"tiny\"\n[train]\nepochs = {EPOCHS}\nbatch_size = 16\nlr = 0.002\nlog_every = 4\n"
    );
    let _ = data_root;
    RunConfig::parse(&text, "toy_gan", &[]).unwrap()
}

/// The training process: trains into (or resumes) the run folder `out`.
fn train(out: &Path, data_root: &Path) {
    let config = config(data_root);
    let opts = tasks::TrainOptions {
        data_dir: Some(data_root.to_path_buf()),
        download: false,
        quiet: true,
        ..tasks::TrainOptions::default()
    };
    let (data, split) = tasks::load_data(&config, &opts.load_options()).unwrap();
    let device = Device::flex();
    device.seed(config.seed);
    let mut task = ToyGan::new(&device, data.features());
    let (run, start) = if out.join("config.toml").exists() {
        let run = RunDir::open(out).unwrap();
        (run, checkpoint::latest(out).unwrap())
    } else {
        let run = RunDir::create(out).unwrap();
        run.write("config.toml", config.to_toml().as_bytes())
            .unwrap();
        (run, None)
    };
    let fit = FitOptions {
        config: &config,
        data: &data,
        split: &split,
        run: &run,
        device: &device,
        backend: "flex",
        quiet: true,
        data_seconds: None,
        trace: false,
    };
    nnlab_runner::engine::fit(&mut task, fit, start).unwrap();
}

fn spawn(out: &Path, data_root: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(RUN_ENV, out)
        .env("NNLAB_TOY_GAN_DATA", data_root)
        .spawn()
        .unwrap()
}

/// Every weight of both networks in the run's newest checkpoint.
fn final_weights(out: &Path) -> Vec<Vec<f32>> {
    let device = Device::flex();
    let fresh = ToyGan::new(&device, common::SIDE * common::SIDE);
    let ckpt = checkpoint::latest(out).unwrap().unwrap();
    let g = ckpt.module("generator", fresh.g.unwrap()).unwrap();
    let d = ckpt.module("discriminator", fresh.d.unwrap()).unwrap();
    [g.a, g.b, d.a, d.b]
        .into_iter()
        .flat_map(|l| {
            [
                l.weight.val().into_data().try_to_vec::<f32>().unwrap(),
                l.bias
                    .unwrap()
                    .val()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ]
        })
        .collect()
}

fn main() {
    if let Some(out) = std::env::var_os(RUN_ENV) {
        let data = PathBuf::from(std::env::var_os("NNLAB_TOY_GAN_DATA").unwrap());
        train(Path::new(&out), &data);
        return;
    }
    // Only the test itself below: `cargo test` passes its own arguments (filters, --ignored),
    // which this one test has no use for.
    let tmp = tempfile::tempdir().unwrap();
    common::write_tiny(tmp.path(), "tiny", 640, 100);
    let whole = tmp.path().join("whole");
    assert!(spawn(&whole, tmp.path()).wait().unwrap().success());

    let killed = tmp.path().join("killed");
    let mut child = spawn(&killed, tmp.path());
    let started = Instant::now();
    loop {
        let rows = std::fs::read_to_string(killed.join("metrics.csv"))
            .map_or(0, |t| t.lines().count().saturating_sub(1));
        if rows >= 3 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let rows = std::fs::read_to_string(killed.join("metrics.csv")).unwrap();
    assert!(rows.lines().count() < EPOCHS + 1, "killed before the end");
    assert!(
        spawn(&killed, tmp.path()).wait().unwrap().success(),
        "the resume"
    );

    let metrics = common::metrics_without_seconds;
    assert_eq!(
        metrics(&whole),
        metrics(&killed),
        "metrics.csv after the resume"
    );
    assert!(
        metrics(&whole).starts_with("epoch,train_d_loss,train_g_loss,valid_d_loss,test_d_loss")
    );
    assert_eq!(
        final_weights(&whole),
        final_weights(&killed),
        "the final weights of both networks"
    );
    println!("test toy_gan_resumes_bit_identically_after_sigkill ... ok");
}
