//! Checkpoints as named records.
//!
//! A checkpoint is a folder under `<run>/checkpoint/`:
//! - `epoch-<k>/` after epoch `k`;
//! - `epoch-<k>-step-<s>/` when a run is interrupted (Ctrl-C) after step `s` of epoch `k`;
//! - `best/` the epoch early stopping keeps, when it is on.
//!
//! Each holds one burn record (`<name>.bpk`) per module and optimizer state the task saves, and
//! `state.json`: which epoch (and step) it is, the names of its records, the running sums of an
//! interrupted epoch, and any small values the task keeps. `checkpoint/latest` names the newest
//! complete checkpoint and is written last (atomically), so a crash at any point leaves a
//! loadable one; reading it cross-checks the name against `state.json` and the records.
//! The two newest epochs are kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::optim::Optim;
use crate::run_dir::write_atomic;

/// Folder of the checkpoints inside a run folder.
pub const DIR: &str = "checkpoint";

/// The folder of the checkpoint early stopping keeps.
pub const BEST: &str = "best";

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
    /// Per training metric, the sums read back (or kept on the host) so far.
    pub totals: Vec<f64>,
    /// Examples seen so far.
    pub seen: usize,
    /// Per training metric, the sums of the window not yet read back (f32).
    pub window: Option<Vec<f32>>,
    /// First step of that window.
    pub window_start: usize,
    /// Training seconds spent on this epoch so far.
    pub seconds: f64,
}

/// `state.json` of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Epochs fully done when it was written.
    pub epochs_done: usize,
    /// The interrupted epoch, for a mid-epoch checkpoint.
    pub partial: Option<PartialEpoch>,
    /// The records (`<name>.bpk`) it holds.
    pub records: Vec<String>,
    /// Raw byte files (`<name>.bin`) it holds, for state that is no burn record.
    #[serde(default)]
    pub blobs: Vec<String>,
    /// Small values of the task (e.g. an optimizer's step count).
    #[serde(default)]
    pub values: BTreeMap<String, serde_json::Value>,
}

/// Collects a task's records into a checkpoint folder.
#[derive(Debug)]
pub struct CheckpointWriter {
    dir: PathBuf,
    records: Vec<String>,
    blobs: Vec<String>,
    values: BTreeMap<String, serde_json::Value>,
}

impl CheckpointWriter {
    fn new(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self {
            dir,
            records: Vec::new(),
            blobs: Vec::new(),
            values: BTreeMap::new(),
        })
    }

    fn record(&mut self, name: &str, bytes: std::result::Result<Bytes, String>) -> Result<()> {
        let path = self.dir.join(format!("{name}.bpk"));
        if self.records.iter().any(|r| r == name) {
            return Err(ckpt_err(&path, "saved twice in one checkpoint"));
        }
        let bytes = bytes.map_err(|e| ckpt_err(&path, e))?;
        write_atomic(&path, &bytes)?;
        self.records.push(name.to_string());
        Ok(())
    }

    /// Saves `module`'s parameters (and running statistics) as `<name>.bpk`. The module is
    /// saved as `Module::valid` gives it, which folds in batch normalisation's latest
    /// running-statistics update (burn holds it back until the next forward pass).
    pub fn module<M: Module>(&mut self, name: &str, module: &M) -> Result<()> {
        let bytes = module
            .valid()
            .into_record()
            .into_bytes()
            .map_err(|e| e.to_string());
        self.record(name, bytes)
    }

    /// Saves an optimizer's state (moments, step counts) as `<name>.bpk`.
    pub fn optimizer(&mut self, name: &str, optim: &Optim) -> Result<()> {
        self.record(name, optim.to_bytes())
    }

    /// Saves raw bytes as `<name>.bin`.
    pub fn blob(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(format!("{name}.bin"));
        if self.blobs.iter().any(|b| b == name) {
            return Err(ckpt_err(&path, "saved twice in one checkpoint"));
        }
        write_atomic(&path, bytes)?;
        self.blobs.push(name.to_string());
        Ok(())
    }

    /// Keeps a small value in `state.json`.
    pub fn value<T: Serialize>(&mut self, name: &str, value: &T) -> Result<()> {
        let v = serde_json::to_value(value).map_err(|e| ckpt_err(&self.dir, e))?;
        self.values.insert(name.to_string(), v);
        Ok(())
    }

    /// Writes `state.json`, completing the folder.
    fn finish(self, epochs_done: usize, partial: Option<PartialEpoch>) -> Result<()> {
        let state = State {
            epochs_done,
            partial,
            records: self.records,
            blobs: self.blobs,
            values: self.values,
        };
        let json = serde_json::to_string_pretty(&state).expect("a checkpoint state serialises");
        write_atomic(&self.dir.join("state.json"), json.as_bytes())
    }
}

/// Reads a task's records back from a checkpoint folder.
#[derive(Debug, Clone)]
pub struct CheckpointReader {
    dir: PathBuf,
    state: State,
}

fn read_bytes(path: &Path) -> Result<Bytes> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(Bytes::from_bytes_vec(raw))
}

impl CheckpointReader {
    /// Opens the checkpoint folder `dir` and checks that every record it lists is there.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("state.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let state: State = serde_json::from_str(&text)
            .map_err(|e| ckpt_err(&path, format!("not a checkpoint state: {e}")))?;
        let files = state
            .records
            .iter()
            .map(|r| format!("{r}.bpk"))
            .chain(state.blobs.iter().map(|b| format!("{b}.bin")));
        for f in files {
            let file = dir.join(f);
            if !file.is_file() {
                return Err(ckpt_err(
                    &file,
                    "listed in state.json but missing; the checkpoint is incomplete",
                ));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            state,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its `state.json`.
    pub fn state(&self) -> &State {
        &self.state
    }

    fn file(&self, name: &str) -> Result<PathBuf> {
        let path = self.dir.join(format!("{name}.bpk"));
        if self.state.records.iter().any(|r| r == name) {
            Ok(path)
        } else {
            Err(ckpt_err(
                &path,
                format!(
                    "this checkpoint has no record `{name}` (it has: {})",
                    self.state.records.join(", ")
                ),
            ))
        }
    }

    /// Loads `<name>.bpk` into `module`.
    pub fn module<M: Module>(&self, name: &str, module: M) -> Result<M> {
        let path = self.file(name)?;
        let record = ModuleRecord::from_bytes(read_bytes(&path)?)
            .map_err(|e| ckpt_err(&path, format!("not a readable burnpack record: {e}")))?;
        module
            .try_load_record(record)
            .map_err(|e| ckpt_err(&path, format!("does not fit this model: {e}")))
    }

    /// Loads the optimizer state `<name>.bpk` into `optim`. Load the modules it optimizes
    /// first: the state is keyed by their parameter ids.
    pub fn optimizer(&self, name: &str, optim: &mut Optim) -> Result<()> {
        let path = self.file(name)?;
        optim
            .load_bytes(read_bytes(&path)?)
            .map_err(|e| ckpt_err(&path, e))
    }

    /// The raw bytes saved as `<name>.bin`.
    pub fn blob(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.dir.join(format!("{name}.bin"));
        if !self.state.blobs.iter().any(|b| b == name) {
            return Err(ckpt_err(
                &path,
                format!("this checkpoint has no file `{name}.bin`"),
            ));
        }
        std::fs::read(&path).map_err(|e| Error::io(&path, e))
    }

    /// A small value the task kept in `state.json`.
    pub fn value<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let path = self.dir.join("state.json");
        let v = self
            .state
            .values
            .get(name)
            .ok_or_else(|| ckpt_err(&path, format!("has no value `{name}`")))?;
        serde_json::from_value(v.clone()).map_err(|e| ckpt_err(&path, format!("`{name}`: {e}")))
    }
}

/// Writes a checkpoint folder `name` with what `save` writes, then points `latest` at it.
fn write_checkpoint(
    run: &Path,
    name: &str,
    epochs_done: usize,
    partial: Option<PartialEpoch>,
    save: impl FnOnce(&mut CheckpointWriter) -> Result<()>,
    point_latest: bool,
) -> Result<()> {
    let root = run.join(DIR);
    let dir = root.join(name);
    // A folder left by a crash mid-write is replaced whole.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    let mut w = CheckpointWriter::new(dir)?;
    save(&mut w)?;
    w.finish(epochs_done, partial)?;
    if point_latest {
        write_atomic(&root.join("latest"), format!("{name}\n").as_bytes())?;
    }
    Ok(())
}

/// Copies every record of `from` into `to` through a checkpoint in a temporary folder (removed
/// afterwards): how parameters drawn on the host reach another backend.
pub fn transfer(from: &dyn super::Task, to: &mut dyn super::Task) -> Result<()> {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let tmp = std::env::temp_dir().join(format!(
        "nnlab-init-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let result = write_checkpoint(&tmp, "init", 0, None, |w| from.save(w), false)
        .and_then(|()| CheckpointReader::open(&tmp.join(DIR).join("init")))
        .and_then(|r| to.load(&r));
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Saves the checkpoint after `epoch` (1-based) and makes it the one to resume from; drops
/// mid-epoch checkpoints and epochs older than the one before.
pub fn save_epoch(
    run: &Path,
    epoch: usize,
    save: impl FnOnce(&mut CheckpointWriter) -> Result<()>,
) -> Result<()> {
    write_checkpoint(run, &format!("epoch-{epoch}"), epoch, None, save, true)?;
    let root = run.join(DIR);
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
pub fn save_partial(
    run: &Path,
    partial: &PartialEpoch,
    save: impl FnOnce(&mut CheckpointWriter) -> Result<()>,
) -> Result<String> {
    let name = partial_name(partial.epoch, partial.step);
    write_checkpoint(
        run,
        &name,
        partial.epoch - 1,
        Some(partial.clone()),
        save,
        true,
    )?;
    Ok(name)
}

/// The folder name of the checkpoint taken after `step` steps of `epoch`.
pub fn partial_name(epoch: usize, step: usize) -> String {
    format!("epoch-{epoch}-step-{step}")
}

/// Saves the checkpoint early stopping keeps (the best epoch so far); `latest` is untouched. It
/// is written as `best-new/` and then renamed to `best/`, so a crash leaves one of the two whole.
pub fn save_best(
    run: &Path,
    epoch: usize,
    save: impl FnOnce(&mut CheckpointWriter) -> Result<()>,
) -> Result<()> {
    let root = run.join(DIR);
    let fresh = format!("{BEST}-new");
    write_checkpoint(run, &fresh, epoch, None, save, false)?;
    let best = root.join(BEST);
    if best.exists() {
        std::fs::remove_dir_all(&best).map_err(|e| Error::io(&best, e))?;
    }
    std::fs::rename(root.join(&fresh), &best).map_err(|e| Error::io(&best, e))
}

/// The checkpoint early stopping kept, if any.
pub fn best(run: &Path) -> Result<Option<CheckpointReader>> {
    let root = run.join(DIR);
    for name in [BEST.to_string(), format!("{BEST}-new")] {
        let dir = root.join(name);
        if dir.join("state.json").is_file() {
            return CheckpointReader::open(&dir).map(Some);
        }
    }
    Ok(None)
}

/// The newest complete checkpoint of a run, or `None` if there is none. The name in `latest`
/// must agree with the `state.json` it points to.
pub fn latest(run: &Path) -> Result<Option<CheckpointReader>> {
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
    let (epoch, step) = match rest.split_once("-step-") {
        None => (rest.parse::<usize>().map_err(|_| corrupt())?, None),
        Some((e, s)) => (
            e.parse::<usize>().map_err(|_| corrupt())?,
            Some(s.parse::<usize>().map_err(|_| corrupt())?),
        ),
    };
    let dir = root.join(name);
    if !dir.is_dir() {
        return Err(ckpt_err(
            &pointer,
            format!("names {name}, which does not exist"),
        ));
    }
    let reader = CheckpointReader::open(&dir)?;
    let state = reader.state();
    let agrees = match (step, &state.partial) {
        (None, None) => state.epochs_done == epoch,
        (Some(s), Some(p)) => p.epoch == epoch && p.step == s && state.epochs_done + 1 == epoch,
        _ => false,
    };
    if !agrees {
        let says = match &state.partial {
            None => format!("after epoch {}", state.epochs_done),
            Some(p) => format!("epoch {} after step {}", p.epoch, p.step),
        };
        return Err(ckpt_err(
            &pointer,
            format!("names {name}, but that checkpoint's state.json says {says}"),
        ));
    }
    Ok(Some(reader))
}
