//! Checkpoints: `checkpoint/epoch-<k>/{model,optim}.bpk` plus `checkpoint/latest`, which names
//! the newest complete one and is written last (atomically), so a crash at any point leaves a
//! loadable checkpoint behind. The two newest epochs are kept.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

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

/// Saves the model and optimizer state after `epoch` (1-based) into `run/checkpoint/`.
pub fn save<M: Module>(run: &Path, epoch: usize, model: &M, optim: &ModuleOptimizer) -> Result<()> {
    let root = run.join(DIR);
    let dir = root.join(format!("epoch-{epoch}"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
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
    write_atomic(&optim_path, &bytes)?;
    write_atomic(&root.join("latest"), format!("epoch-{epoch}\n").as_bytes())?;
    // Keep this epoch and the one before it.
    if epoch >= 3 {
        let old = root.join(format!("epoch-{}", epoch - 2));
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(())
}

/// The newest complete checkpoint of a run: its epoch and folder, or `None` if there is none.
pub fn latest(run: &Path) -> Result<Option<(usize, PathBuf)>> {
    let root = run.join(DIR);
    let pointer = root.join("latest");
    let text = match std::fs::read_to_string(&pointer) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&pointer, e)),
    };
    let name = text.trim();
    let epoch = name
        .strip_prefix("epoch-")
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| ckpt_err(&pointer, format!("corrupt pointer {name:?}")))?;
    Ok(Some((epoch, root.join(name))))
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
