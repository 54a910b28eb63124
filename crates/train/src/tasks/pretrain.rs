//! Greedy layer-wise pretraining of a deep autoencoder (Hinton & Salakhutdinov 2006, Science
//! 313; Hinton, Osindero & Teh 2006): each encoder layer is trained as a restricted Boltzmann
//! machine on the hidden means of the machine below (the pixels, for the first), then the stack
//! is unrolled into the autoencoder ([`nnlab_models::Dbn::unroll`]) for fine-tuning.
//!
//! The settings are those of the paper's published code: CD-1 on mini-batches of
//! `train.batch_size`, weights from `N(0, 0.1^2)`, an L2 weight cost of 0.0002, momentum 0.5 for
//! the first five epochs and 0.9 after; a step size of 0.1 for machines with logistic hidden
//! units and 0.001 for the top one when the code is linear (its hidden units Gaussian).
//!
//! Each finished machine is written to `pretrain/layer-<k>.safetensors` (atomically) and its
//! epochs to `pretrain.csv` (`layer,epoch,recon_error,seconds`), so a run stopped while
//! pretraining continues from the first unfinished machine.

use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use nnlab_config::{Activation, AutoencoderSpec};
use nnlab_data::ImageDataset;
use nnlab_models::Dbn;
use nnlab_models::rbm::{Rbm, RbmConfig, Units};
use rand::seq::SliceRandom;

use super::batch::{self, pixels};
use crate::engine::interrupt;
use crate::error::{Error, Result};
use crate::run_dir::write_atomic;
use crate::say;

/// The published code's settings (`rbm.m`, `rbmhidlinear.m`).
const INIT_STD: f64 = 0.1;
const WEIGHT_COST: f64 = 0.0002;
const LR_BINARY: f64 = 0.1;
const LR_GAUSSIAN: f64 = 0.001;
const MOMENTUM_EPOCHS: usize = 5;

/// What a pretraining needs besides the data.
#[derive(Debug, Clone)]
pub struct Pretraining {
    /// Layer widths from the pixels to the code, e.g. `[784, 1000, 500, 250, 30]`.
    pub widths: Vec<usize>,
    /// The top machine's hidden units: Gaussian for a linear code, binary for a logistic one.
    pub code_units: Units,
    /// Epochs per machine.
    pub epochs: usize,
    /// Examples per CD step.
    pub batch_size: usize,
    /// The run's seed.
    pub seed: u64,
    /// No per-epoch lines.
    pub quiet: bool,
}

impl Pretraining {
    /// The pretraining `spec` asks for, on `features` inputs.
    pub fn of(spec: &AutoencoderSpec, features: usize, batch_size: usize, seed: u64) -> Self {
        let mut widths = vec![features];
        widths.extend(&spec.encoder);
        widths.push(spec.code);
        Self {
            widths,
            code_units: match spec.code_activation {
                Activation::Identity => Units::Gaussian,
                _ => Units::Binary,
            },
            epochs: spec.pretrain_epochs,
            batch_size,
            seed,
            quiet: false,
        }
    }

    /// Trains the stack on the examples `train` of `data`, machine by machine, keeping each in
    /// `run`; machines already kept there are read back instead of trained again.
    pub fn run(
        &self,
        data: &ImageDataset,
        train: &[u32],
        device: &Device,
        run: &Path,
    ) -> Result<Dbn> {
        let dir = run.join("pretrain");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let csv = run.join("pretrain.csv");
        let mut rows = read_rows(&csv)?;
        let mut dbn = Dbn { layers: Vec::new() };
        for k in 0..self.widths.len() - 1 {
            let file = dir.join(format!("layer-{}.safetensors", k + 1));
            let mut rbm = self.machine(k, device);
            if file.is_file() {
                let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
                crate::export::load_module(&mut rbm, &bytes, "rbm", &file)?;
            } else {
                rows.retain(|r| r.0 != k + 1);
                rows.extend(self.train_machine(&mut rbm, &dbn, k, (data, train), run)?);
                // The rows first: a run stopped between the two writes trains this machine
                // again and rewrites its rows, where the other order would lose them.
                write_atomic(&csv, csv_text(&rows).as_bytes())?;
                write_atomic(&file, &crate::export::module_bytes(&rbm, "rbm")?)?;
            }
            dbn.layers.push(rbm);
        }
        Ok(dbn)
    }

    /// Machine `k` (0 is the bottom) before training, its weights drawn from a generator of
    /// its own (so a resumed pretraining draws the same).
    fn machine(&self, k: usize, device: &Device) -> Rbm {
        let top = k + 2 == self.widths.len();
        let mut rng = batch::rng_for(self.seed, &format!("pretrain layer {} weights", k + 1));
        device.seed(rand::Rng::random(&mut rng));
        RbmConfig::new(self.widths[k], self.widths[k + 1])
            .with_init_std(INIT_STD)
            .with_hidden_units(if top { self.code_units } else { Units::Binary })
            .init(device)
    }

    /// CD-1 epochs of machine `k` on the hidden means of the machines below (`below`); one row
    /// `(layer, epoch, recon_error, seconds)` per epoch.
    fn train_machine(
        &self,
        rbm: &mut Rbm,
        below: &Dbn,
        k: usize,
        (data, train): (&ImageDataset, &[u32]),
        run: &Path,
    ) -> Result<Vec<Row>> {
        let device = rbm.weight.val().device();
        let lr = match rbm.hidden_units {
            Units::Binary => LR_BINARY,
            Units::Gaussian => LR_GAUSSIAN,
        };
        let mut velocity = rbm.zeros_like();
        let mut rows = Vec::new();
        for epoch in 1..=self.epochs {
            let started = Instant::now();
            let momentum = if epoch <= MOMENTUM_EPOCHS { 0.5 } else { 0.9 };
            let purpose = format!("pretrain layer {} epoch {epoch}", k + 1);
            let mut rng = batch::rng_for(self.seed, &purpose);
            device.seed(rand::Rng::random(&mut rng));
            let mut order = train.to_vec();
            order.shuffle(&mut rng);
            let mut error = 0.0f64;
            for chunk in order.chunks(self.batch_size) {
                if interrupt::requested() {
                    return Err(Error::RunDir(format!(
                        "interrupted while pretraining layer {} (epoch {epoch}); the finished layers are kept in {}. Resume with: nnlab train --resume {}",
                        k + 1,
                        run.join("pretrain").display(),
                        run.display()
                    )));
                }
                let v = below.propagate(pixels(data, chunk, &device), k);
                let g = rbm.cd(v, 1);
                error += f64::from(g.reconstruction_error) * chunk.len() as f64;
                rbm.momentum_step(&mut velocity, g, lr, momentum, WEIGHT_COST);
            }
            let row = Row(
                k + 1,
                epoch,
                error / train.len().max(1) as f64,
                started.elapsed().as_secs_f64(),
            );
            if !self.quiet {
                say!(
                    "pretraining layer {} ({}-{}, {} hidden units): epoch {epoch}/{}, recon error {:.4}, {:.1} s",
                    k + 1,
                    self.widths[k],
                    self.widths[k + 1],
                    if rbm.hidden_units == Units::Gaussian {
                        "Gaussian"
                    } else {
                        "binary"
                    },
                    self.epochs,
                    row.2,
                    row.3
                );
            }
            rows.push(row);
        }
        Ok(rows)
    }
}

/// One epoch of one machine: layer (1-based), epoch, mean squared reconstruction error per
/// example, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Row(usize, usize, f64, f64);

const HEADER: &str = "layer,epoch,recon_error,seconds";

fn csv_text(rows: &[Row]) -> String {
    let mut text = format!("{HEADER}\n");
    for r in rows {
        text.push_str(&format!("{},{},{:.6},{:.3}\n", r.0, r.1, r.2, r.3));
    }
    text
}

/// The rows of an earlier, interrupted pretraining (none when the file is absent).
fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let bad =
        |line: &str| Error::RunDir(format!("{}: cannot read the row {line:?}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            match f.as_slice() {
                [l, e, r, s] => Ok(Row(
                    l.parse().map_err(|_| bad(line))?,
                    e.parse().map_err(|_| bad(line))?,
                    r.parse().map_err(|_| bad(line))?,
                    s.parse().map_err(|_| bad(line))?,
                )),
                _ => Err(bad(line)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let rows = vec![Row(1, 1, 12.5, 3.25), Row(1, 2, 10.0, 3.0)];
        let dir = std::env::temp_dir().join(format!("nnlab-pretrain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pretrain.csv");
        std::fs::write(&path, csv_text(&rows)).unwrap();
        assert_eq!(read_rows(&path).unwrap(), rows);
        std::fs::write(&path, format!("{HEADER}\n1,2,x,3\n")).unwrap();
        let err = read_rows(&path).unwrap_err().to_string();
        assert!(err.contains("1,2,x,3"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
