//! A step-by-step record of training (`nnlab train --trace`), for comparing nnlab with another
//! framework step by step: `trace/order.txt` holds each step's example indices (one line per
//! step, in the order the batch was fed) and `trace/steps.csv` each step's first training metric
//! (`epoch,step,<metric>`, the batch's mean, e.g. its loss); a task that draws random numbers
//! on the host for each step (a VAE's `epsilon`) adds them to `trace/noise.f32` (little-endian
//! f32, step after step). Another program can feed the same batches and noise in the same order
//! and compare its losses (see `bench/peers/torch_steps.py`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// The open trace files of a run.
pub struct Trace {
    order: BufWriter<File>,
    steps: BufWriter<File>,
    noise: Option<BufWriter<File>>,
    dir: std::path::PathBuf,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace").field("dir", &self.dir).finish()
    }
}

impl Trace {
    /// Opens (or continues, after a resume) the trace of the run in `run`, whose first training
    /// metric is `metric`.
    pub fn open(run: &Path, metric: &str) -> Result<Self> {
        let dir = run.join("trace");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let append = |name: &str| -> Result<(BufWriter<File>, bool)> {
            let path = dir.join(name);
            let fresh = !path.exists();
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            Ok((BufWriter::new(f), fresh))
        };
        let (order, _) = append("order.txt")?;
        let (mut steps, fresh) = append("steps.csv")?;
        if fresh {
            writeln!(steps, "epoch,step,{metric}").map_err(|e| Error::io(&dir, e))?;
        }
        Ok(Self {
            order,
            steps,
            noise: None,
            dir,
        })
    }

    /// Adds a step's random numbers to `trace/noise.f32`.
    pub fn noise(&mut self, values: &[f32]) -> Result<()> {
        if self.noise.is_none() {
            let path = self.dir.join("noise.f32");
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            self.noise = Some(BufWriter::new(f));
        }
        let out = self.noise.as_mut().expect("opened above");
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.write_all(&bytes).map_err(|e| Error::io(&self.dir, e))
    }

    /// Records step `step` of `epoch`: its batch `indices` and its metric's mean `value`.
    pub fn record(&mut self, epoch: usize, step: usize, indices: &[u32], value: f64) -> Result<()> {
        let line: Vec<String> = indices.iter().map(u32::to_string).collect();
        writeln!(self.order, "{}", line.join(" "))
            .and_then(|()| writeln!(self.steps, "{epoch},{step},{value:e}"))
            .map_err(|e| Error::io(&self.dir, e))
    }

    /// Writes what is buffered.
    pub fn flush(&mut self) -> Result<()> {
        self.order
            .flush()
            .and_then(|()| self.steps.flush())
            .and_then(|()| self.noise.as_mut().map_or(Ok(()), |n| n.flush()))
            .map_err(|e| Error::io(&self.dir, e))
    }
}
