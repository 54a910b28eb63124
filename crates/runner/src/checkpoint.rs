//! Checkpoints: `checkpoint/epoch-<k>/{model,optim}.bpk` after each epoch,
//! `checkpoint/epoch-<k>-step-<s>/` (plus `state.json`) when a run is interrupted mid-epoch, and
//! `checkpoint/latest`, which names the newest complete one and is written last (atomically), so
//! a crash at any point leaves a loadable checkpoint behind. The two newest epochs are kept.
//!
//! Nothing else is needed to continue a run exactly: the data order of epoch `k` is a function of
//! the seed and `k` (see `nnlab_data::shuffled`), and nothing draws random numbers after
//! initialisation.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::run_dir::write_atomic;

/// Folder of the checkpoints inside a run folder.
pub const DIR: &str = "checkpoint";

fn ckpt_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Where an interrupted epoch stopped, and its running sums, so that it can be finished with the
/// very same floating-point additions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialEpoch {
    /// The epoch in progress (1-based).
    pub epoch: usize,
    /// Steps of it already taken.
    pub step: usize,
    /// Sum of batch losses times batch sizes read back so far.
    pub loss_total: f64,
    /// Correct predictions read back so far.
    pub correct_total: i64,
    /// Examples seen so far.
    pub seen: usize,
    /// The on-device loss sum of the window not yet read back (f32), if any.
    pub window_loss: Option<f32>,
    /// The on-device correct count of that window.
    pub window_correct: Option<i64>,
    /// First step of that window.
    pub window_start: usize,
    /// Training seconds spent on this epoch so far.
    pub seconds: f64,
}

/// A checkpoint to continue from.
#[derive(Debug, Clone)]
pub struct Resume {
    /// Its folder.
    pub dir: PathBuf,
    /// Epochs fully done.
    pub epochs_done: usize,
    /// The interrupted epoch, if the checkpoint was taken mid-epoch.
    pub partial: Option<PartialEpoch>,
}

/// Saves the model and optimizer state after `epoch` (1-based) into `run/checkpoint/`.
pub fn save<M: Module>(run: &Path, epoch: usize, model: &M, optim: &ModuleOptimizer) -> Result<()> {
    let root = run.join(DIR);
    let name = format!("epoch-{epoch}");
    write_pair(&root.join(&name), model, optim)?;
    write_atomic(&root.join("latest"), format!("{name}\n").as_bytes())?;
    // Keep this epoch and the one before it; drop mid-epoch checkpoints.
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            let stale = n.contains("-step-")
                || n.strip_prefix("epoch-")
                    .and_then(|k| k.parse::<usize>().ok())
                    .is_some_and(|k| k + 2 <= epoch);
            if stale {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(())
}

/// Saves a mid-epoch checkpoint (on Ctrl-C) and makes it the one to resume from.
pub fn save_partial<M: Module>(
    run: &Path,
    partial: &PartialEpoch,
    model: &M,
    optim: &ModuleOptimizer,
) -> Result<()> {
    let root = run.join(DIR);
    let name = format!("epoch-{}-step-{}", partial.epoch, partial.step);
    let dir = root.join(&name);
    write_pair(&dir, model, optim)?;
    let json = serde_json::to_string_pretty(partial).expect("a partial epoch serialises");
    write_atomic(&dir.join("state.json"), json.as_bytes())?;
    write_atomic(&root.join("latest"), format!("{name}\n").as_bytes())
}

fn write_pair<M: Module>(dir: &Path, model: &M, optim: &ModuleOptimizer) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let model_path = dir.join("model.bpk");
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| ckpt_err(&model_path, e))?;
    write_atomic(&model_path, &bytes)?;
    let optim_path = dir.join("optim.bpk");
    let bytes = optim
        .to_record()
        .into_bytes()
        .map_err(|e| ckpt_err(&optim_path, e))?;
    write_atomic(&optim_path, &bytes)
}

/// The newest complete checkpoint of a run, or `None` if there is none.
pub fn latest(run: &Path) -> Result<Option<Resume>> {
    let root = run.join(DIR);
    let pointer = root.join("latest");
    let text = match std::fs::read_to_string(&pointer) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&pointer, e)),
    };
    let name = text.trim();
    let corrupt = || ckpt_err(&pointer, format!("corrupt pointer {name:?}"));
    let rest = name.strip_prefix("epoch-").ok_or_else(corrupt)?;
    let dir = root.join(name);
    match rest.split_once("-step-") {
        None => Ok(Some(Resume {
            dir,
            epochs_done: rest.parse().map_err(|_| corrupt())?,
            partial: None,
        })),
        Some((epoch, _)) => {
            let epoch: usize = epoch.parse().map_err(|_| corrupt())?;
            let state = dir.join("state.json");
            let text = std::fs::read_to_string(&state).map_err(|e| Error::io(&state, e))?;
            let partial: PartialEpoch = serde_json::from_str(&text)
                .map_err(|e| ckpt_err(&state, format!("not a partial-epoch state: {e}")))?;
            Ok(Some(Resume {
                dir,
                epochs_done: epoch - 1,
                partial: Some(partial),
            }))
        }
    }
}

fn read_bytes(path: &Path) -> Result<Bytes> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(Bytes::from_bytes_vec(raw))
}

/// Loads the model weights saved in checkpoint folder `dir` into `model`.
pub fn load_model<M: Module>(dir: &Path, model: M) -> Result<M> {
    let path = dir.join("model.bpk");
    let record = ModuleRecord::from_bytes(read_bytes(&path)?)
        .map_err(|e| ckpt_err(&path, format!("not a readable burnpack record: {e}")))?;
    model
        .try_load_record(record)
        .map_err(|e| ckpt_err(&path, format!("does not fit this model: {e}")))
}

/// Loads the optimizer state saved in checkpoint folder `dir`.
pub fn load_optim(dir: &Path, optim: ModuleOptimizer) -> Result<ModuleOptimizer> {
    let path = dir.join("optim.bpk");
    let record = OptimizerRecord::from_bytes(read_bytes(&path)?)
        .map_err(|e| ckpt_err(&path, format!("not a readable optimizer record: {e}")))?;
    Ok(optim.load_record(record))
}
