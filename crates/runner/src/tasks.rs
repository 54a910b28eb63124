//! The entry points that turn a config into a run on the backend this binary was built with:
//! [`train`], [`resume`], [`eval_run`] and [`generate`]. The model families themselves, each a
//! [`Task`] of the engine, are in `nnlab-train` ([`nnlab_train::tasks`]).

pub use nnlab_train::tasks::{
    autoencoder, batch, classification_loss, classifier, codes, gan, lenet5, pca, rbm, vae,
};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use nnlab_config::{FloatDtype, ModelConfig, RunConfig};
use nnlab_data::{ImageDataset, LoadOptions, Split, SplitOptions, resolve_root};
use nnlab_models::{DcganConfig, GanConfig};
use serde::{Deserialize, Serialize};

use crate::backend::{is_cpu, select_device};
use crate::engine::{self, CheckpointReader, FitOptions, Outcome, Task, checkpoint};
use crate::error::{Error, Result};
use crate::run_dir::{self, RunDir};
use crate::say;

/// Where data and runs live, and how chatty to be.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Data root (`--data-dir`); `None` means `$NNLAB_DATA`, else the root the run recorded,
    /// else `data/`.
    pub data_dir: Option<PathBuf>,
    /// Run folder (`--out`); `None` means `runs/<name>/<timestamp>/`.
    pub out: Option<PathBuf>,
    /// Where default run folders go.
    pub runs_root: PathBuf,
    /// Download a known dataset when its files are missing.
    pub download: bool,
    /// No progress bar and no per-epoch lines (used by studies' summaries and tests).
    pub quiet: bool,
    /// Record every step's batch and loss in the run's `trace/` (`--trace`).
    pub trace: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            out: None,
            runs_root: PathBuf::from("runs"),
            download: true,
            quiet: false,
            trace: false,
        }
    }
}

impl TrainOptions {
    /// Where and how datasets are loaded: the data root, downloads on or off, checksums always.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            root: resolve_root(self.data_dir.as_deref()),
            download: self.download,
            verify: true,
        }
    }

    /// The load options for an existing run: an explicit `--data-dir` or `$NNLAB_DATA` wins,
    /// else the data root the run recorded when it started.
    pub fn load_options_for(&self, run: &Path) -> LoadOptions {
        let mut load = self.load_options();
        let explicit = self.data_dir.is_some()
            || std::env::var_os(nnlab_data::DATA_ENV).is_some_and(|v| !v.is_empty());
        if !explicit && let Some(info) = RunInfo::read(run) {
            load.root = info.data_root;
        }
        load
    }
}

/// `run.json`: facts about a run known when it starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// The data root the run read its dataset from (absolute).
    pub data_root: PathBuf,
    /// The backend it trains on.
    pub backend: String,
    /// The build's git revision (`-dirty` when its sources differed).
    pub git_rev: String,
}

impl RunInfo {
    const FILE: &'static str = "run.json";

    /// The run's `run.json`, if it has a readable one.
    pub fn read(run: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(run.join(Self::FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Loads the dataset and splits it as `config` says; checks what only the data can tell.
pub fn load_data(config: &RunConfig, load: &LoadOptions) -> Result<(ImageDataset, Split)> {
    let data = ImageDataset::load(&config.data.dataset, load)?;
    let split = Split::new(
        &data,
        SplitOptions {
            validation: config.data.validation,
            limit_train: config.data.limit_train,
            limit_test: config.data.limit_test,
        },
    )?;
    config
        .train
        .check_batch_size(split.train.len(), &data.name)?;
    if split.test.is_empty() {
        return Err(Error::Config(format!(
            "dataset `{}` has no test examples",
            data.name
        )));
    }
    Ok((data, split))
}

/// The task `config` describes on `device` (of `backend`), its parameters drawn from
/// `config.seed` on the host — by flex, whatever the backend — so that a seed means the same
/// initial weights on every backend, and swapping the backend changes only the arithmetic.
///
/// `workers`: the devices of a multi-device run (`train.devices`, see [`run_devices`]), or none.
pub fn build(
    config: &RunConfig,
    data: &ImageDataset,
    device: &Device,
    backend: &str,
    workers: &[Device],
) -> Result<Box<dyn Task>> {
    check_memory(config, data, backend)?;
    // Host-memory Adam and the fused kernels compute in f32.
    let host = is_cpu(backend) && config.train.float_dtype.is_f32();
    for d in std::iter::once(device).chain(workers) {
        use_float_dtype(d, config.train.float_dtype)?;
    }
    if backend == "flex" {
        return build_on(config, data, device, host, workers);
    }
    use_float_dtype(&Device::flex(), config.train.float_dtype)?;
    // The optimizer kind follows the target (a fused host update on CPU backends), so the
    // records of both copies match.
    let drawn = build_on(config, data, &Device::flex(), host, &[])?;
    let mut task = build_on(config, data, device, host, workers)?;
    checkpoint::transfer(drawn.as_ref(), task.as_mut())?;
    Ok(task)
}

/// Makes `dtype` (`train.float_dtype`) the precision of the tensors created on `device`: burn's
/// device setting, fixed for the life of the process once a tensor exists there (one run per
/// process, as `nnlab train` and a study's runs are).
fn use_float_dtype(device: &Device, dtype: FloatDtype) -> Result<()> {
    let want = match dtype {
        FloatDtype::F32 => burn::tensor::FloatDType::F32,
        FloatDtype::F64 => burn::tensor::FloatDType::F64,
    };
    // f32 is burn's default, left to it (an explicit setting would also fix the integer and
    // boolean dtypes, which the defaults leave to each backend).
    let refused = match dtype {
        FloatDtype::F32 => None,
        FloatDtype::F64 => device.clone().configure(want).err(),
    };
    if device.settings().float_dtype == want {
        return Ok(());
    }
    let why = refused.map_or_else(
        || "this process's device already computes in another precision".to_string(),
        |e| e.to_string(),
    );
    Err(Error::Config(format!(
        "config: key `train.float_dtype` = \"{}\": the {device:?} device cannot use it: {why}",
        dtype.name()
    )))
}

/// Refuses a config whose run cannot fit in the memory available now, before any of its model
/// is allocated: on CPU backends, Linux's `MemAvailable` (or the cgroup's limit less its usage,
/// when lower), or `NNLAB_MEMORY_LIMIT` bytes when set. GPU backends hold the model in the
/// device's memory, which this does not know.
fn check_memory(config: &RunConfig, data: &ImageDataset, backend: &str) -> Result<()> {
    let available = match std::env::var("NNLAB_MEMORY_LIMIT") {
        Ok(v) => Some(v.trim().parse::<u64>().map_err(|_| {
            Error::Config(format!(
                "NNLAB_MEMORY_LIMIT = {v:?}: must be a number of bytes"
            ))
        })?),
        Err(_) if is_cpu(backend) => memory_available(),
        Err(_) => None,
    };
    let Some(available) = available else {
        return Ok(());
    };
    let shape = nnlab_config::memory::ImageShape {
        channels: 1,
        rows: data.rows,
        cols: data.cols,
        classes: data.classes,
    };
    config
        .check_memory(shape, available)
        .map_err(|e| Error::Config(e.0))
}

/// The bytes this process may still allocate: `MemAvailable` of `/proc/meminfo`, or the cgroup
/// (v2) limit less its current usage when that is lower.
fn memory_available() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let meminfo = read("/proc/meminfo")?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let system = line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024;
    let number = |path: &str| read(path).and_then(|t| t.trim().parse::<u64>().ok());
    let cgroup = number("/sys/fs/cgroup/memory.max")
        .zip(number("/sys/fs/cgroup/memory.current"))
        .map(|(max, used)| max.saturating_sub(used));
    Some(cgroup.map_or(system, |c| c.min(system)))
}

/// The task `config` describes with its parameters drawn on `device` itself; `host` fuses
/// optimizer updates in host memory.
fn build_on(
    config: &RunConfig,
    data: &ImageDataset,
    device: &Device,
    host: bool,
    workers: &[Device],
) -> Result<Box<dyn Task>> {
    device.seed(config.seed);
    let ad = device.clone().autodiff();
    Ok(match &config.model {
        ModelConfig::Mlp(_) | ModelConfig::Cnn(_) => {
            Box::new(classifier::Classifier::new(config, data, device, host)?.with_workers(workers))
        }
        ModelConfig::Autoencoder(spec) => Box::new(autoencoder::AutoencoderTask::new(
            config, spec, data, device, host,
        )),
        ModelConfig::Pca(spec) => Box::new(pca::PcaTask::new(
            spec.components.min(data.features()),
            data,
            device,
            config.train.eval_batch_size,
        )),
        ModelConfig::Vae(spec) => Box::new(vae::VaeTask::new(config, spec, data, device, host)),
        ModelConfig::Rbm(spec) => Box::new(rbm::RbmTask::new(config, spec, data, device)),
        ModelConfig::Lenet5(spec) => {
            Box::new(lenet5::Lenet5Task::new(config, spec, data, device, host)?)
        }
        ModelConfig::Gan(spec) => {
            let c = GanConfig::from_spec(spec, data.features());
            let mut g = c.init_generator(&ad);
            if spec.output_bias_from_data {
                let (means, _) = batch::pixel_moments(data);
                let means: Vec<f32> = means.iter().map(|&m| m as f32).collect();
                g.set_output_bias(&means, &ad);
            }
            Box::new(gan::GanTask::new(
                config,
                g,
                c.init_discriminator(&ad),
                data,
                device,
                host,
            ))
        }
        ModelConfig::Dcgan(spec) => {
            let side = nnlab_models::dcgan::SIDE;
            if (data.rows, data.cols) != (side, side) {
                return Err(Error::Config(format!(
                    "model.kind = \"dcgan\" is built for {side}x{side} images; `{}` has {}x{}",
                    data.name, data.rows, data.cols
                )));
            }
            let c = DcganConfig::from_spec(spec);
            Box::new(gan::GanTask::new(
                config,
                c.init_generator(&ad),
                c.init_discriminator(&ad),
                data,
                device,
                host,
            ))
        }
    })
}

/// The device a run of `config` trains on, and the workers of a multi-device run
/// (`train.devices` with two or more entries; none otherwise): the first listed device is the
/// main one, else the backend's default `device`.
pub fn run_devices(
    config: &RunConfig,
    backend: &str,
    device: Device,
) -> Result<(Device, Vec<Device>)> {
    let listed =
        crate::backend::devices_of(backend, &config.train.devices).map_err(Error::Config)?;
    let main = listed.first().cloned().unwrap_or(device);
    let workers = if listed.len() > 1 { listed } else { Vec::new() };
    Ok((main, workers))
}

/// Trains `config` in a new run folder.
pub fn train(config: &RunConfig, opts: &TrainOptions) -> Result<Outcome> {
    let load = opts.load_options();
    let loading = std::time::Instant::now();
    let (data, split) = load_data(config, &load)?;
    let data_seconds = Some(loading.elapsed().as_secs_f64());
    let path = match &opts.out {
        Some(p) => p.clone(),
        None => run_dir::default_path(&opts.runs_root, &config.name),
    };
    let (device, backend) = select_device();
    let (device, workers) = run_devices(config, backend, device)?;
    let mut task = build(config, &data, &device, backend, &workers)?;
    if let Some(file) = &config.train.init_from {
        start_from(task.as_mut(), config, file)?;
    }
    let run = RunDir::create(&path)?;
    // Two epoch checkpoints are kept (and a best one with early stopping), plus a margin.
    let copies = if config.train.early_stopping.is_some() {
        3
    } else {
        2
    };
    run_dir::check_space(run.path(), copies * task.checkpoint_bytes() + (1 << 20))?;
    run.write("config.toml", config.to_toml().as_bytes())?;
    let info = RunInfo {
        data_root: std::path::absolute(&load.root).unwrap_or(load.root.clone()),
        backend: backend.to_string(),
        git_rev: engine::provenance::revision(),
    };
    let json = serde_json::to_string_pretty(&info).expect("run info serialises");
    run.write(RunInfo::FILE, json.as_bytes())?;
    if !opts.quiet {
        say!(
            "nnlab: {} on {} ({} train, {} valid, {} test, {}x{}), {} parameters, backend {backend}{}, seed {}",
            config.name,
            data.name,
            split.train.len(),
            split.valid.len(),
            split.test.len(),
            data.rows,
            data.cols,
            task.parameters(),
            if workers.is_empty() {
                String::new()
            } else {
                format!(" (data-parallel on devices {:?})", config.train.devices)
            },
            config.seed
        );
        say!("run folder: {}", run.path().display());
    }
    let fit = FitOptions {
        config,
        data: &data,
        split: &split,
        run: &run,
        device: &device,
        backend,
        quiet: opts.quiet,
        data_seconds,
        trace: opts.trace,
    };
    with_curves(engine::fit(task.as_mut(), fit, None)?, config)
}

/// A file's bytes under nnlab's names, and the map from each of them to the file's own.
type Renamed = (Vec<u8>, HashMap<String, String>);

/// `bytes` (holding the tensors `in_file`) with nnlab's names when the file uses the PyTorch
/// twins' (`nnlab export --names torch`, or the twin's own `state_dict`): each of the model's
/// names mapped by [`nnlab_train::export::torch_name`] and back, with the map from nnlab's names
/// to the file's.
/// `None` when the file needs no renaming. A tensor of the file that no name of the model maps
/// to is refused, naming it (PyTorch's batch-norm step counters aside, which burn keeps none of).
fn from_torch_names(
    task: &dyn Task,
    config: &RunConfig,
    bytes: &[u8],
    in_file: &[String],
    file: &Path,
) -> Result<Option<Renamed>> {
    let Some(parts) = task.export() else {
        return Ok(None);
    };
    let own = nnlab_train::export::tensor_names(&parts?)?;
    if own.iter().any(|n| in_file.contains(n)) {
        return Ok(None);
    }
    let (convs, encoders) = nnlab_train::export::layer_counts(&own);
    let kind = config.model.kind();
    let back: HashMap<String, String> = own
        .iter()
        .map(|n| {
            (
                nnlab_train::export::torch_name(kind, n, convs, encoders),
                n.clone(),
            )
        })
        .collect();
    if !back.keys().any(|t| in_file.contains(t)) {
        return Ok(None);
    }
    let strays: Vec<String> = in_file
        .iter()
        .filter(|n| !back.contains_key(*n) && !n.ends_with("num_batches_tracked"))
        .map(|n| format!("`{n}`"))
        .collect();
    if !strays.is_empty() {
        return Err(Error::Config(format!(
            "config: key `train.init_from`: {}: the file's tensor{} {} ha{} no place in the model \
             (PyTorch's names of model.kind = \"{kind}\")",
            file.display(),
            if strays.len() > 1 { "s" } else { "" },
            strays.join(", "),
            if strays.len() > 1 { "ve" } else { "s" },
        )));
    }
    let renamed = nnlab_train::export::merge(
        &[bytes],
        |n| back.get(n).cloned().unwrap_or_else(|| n.to_string()),
        Default::default(),
    )?;
    Ok(Some((
        renamed,
        back.into_iter().map(|(torch, own)| (own, torch)).collect(),
    )))
}

/// Sets `task`'s weights from the safetensors `file` (`train.init_from`), in nnlab's names or
/// the PyTorch twins'; a problem with a tensor names it as the file does.
fn start_from(task: &mut dyn Task, config: &RunConfig, file: &Path) -> Result<()> {
    let bytes = std::fs::read(file).map_err(|e| {
        Error::Config(format!(
            "config: key `train.init_from` = {:?}: cannot read it: {e}",
            file.display().to_string()
        ))
    })?;
    // A file that is not safetensors is refused before anything reads its tensors.
    let in_file = nnlab_train::export::tensor_names(&[&bytes]).map_err(|e| {
        Error::Config(format!(
            "config: key `train.init_from` = {:?}: not a safetensors file: {e}",
            file.display().to_string()
        ))
    })?;
    let (bytes, torch) = match from_torch_names(task, config, &bytes, &in_file, file)? {
        Some((renamed, names)) => (renamed, names),
        None => (bytes, HashMap::new()),
    };
    let imported = task.import(&bytes, file).ok_or_else(|| {
        Error::Config(format!(
            "config: key `train.init_from`: model.kind = \"{}\" has no weights to start from a file",
            config.model.kind()
        ))
    })?;
    imported.map_err(|e| match e {
        Error::Config(mut message) => {
            for (own, theirs) in &torch {
                message = message.replace(
                    &format!("`{own}`"),
                    &format!("`{theirs}` (nnlab's `{own}`)"),
                );
            }
            Error::Config(message)
        }
        other => other,
    })
}

/// A finished run's outcome, after drawing its learning curves (see [`crate::curves`]).
fn with_curves(outcome: Outcome, config: &RunConfig) -> Result<Outcome> {
    let table = engine::metrics::MetricsTable::read(&outcome.run_dir.join("metrics.csv"))?;
    crate::curves::draw(&outcome.run_dir, &table, config.model.kind())?;
    Ok(outcome)
}

/// Continues the run in `path` from its newest checkpoint.
pub fn resume(path: &Path, opts: &TrainOptions) -> Result<Outcome> {
    let run = RunDir::open(path)?;
    let config = RunConfig::load(&path.join("config.toml"), &[])?;
    let loading = std::time::Instant::now();
    let (data, split) = load_data(&config, &opts.load_options_for(path))?;
    let data_seconds = Some(loading.elapsed().as_secs_f64());
    let start = checkpoint::latest(path)?;
    let (device, backend) = select_device();
    let (device, workers) = run_devices(&config, backend, device)?;
    let mut task = build(&config, &data, &device, backend, &workers)?;
    // A run stopped before its first checkpoint starts over, from its file if it had one.
    if start.is_none()
        && let Some(file) = &config.train.init_from
    {
        start_from(task.as_mut(), &config, file)?;
    }
    if !opts.quiet {
        // A finished run goes on when its config now asks for more epochs, unless early
        // stopping ended it (the same rule as `engine::fit`).
        let summary = engine::metrics::Summary::read(&path.join("summary.json")).ok();
        let stopped_early = summary.as_ref().is_some_and(|s| s.stopped_early);
        match start.as_ref().map(|r| r.state()) {
            Some(s) if stopped_early => say!(
                "{} already finished: early stopping ended it after epoch {} (of {}); nothing to \
                 resume",
                path.display(),
                s.epochs_done,
                config.train.epochs
            ),
            Some(s) if s.epochs_done >= config.train.epochs => say!(
                "{} already finished ({} of {} epochs); nothing to resume",
                path.display(),
                s.epochs_done,
                config.train.epochs
            ),
            Some(s) if summary.is_some() => say!(
                "Continuing the finished run {} after epoch {}, to {} epochs",
                path.display(),
                s.epochs_done,
                config.train.epochs
            ),
            Some(s) => match &s.partial {
                Some(p) => say!(
                    "Resuming {} in epoch {} after step {}",
                    path.display(),
                    p.epoch,
                    p.step
                ),
                None => say!("Resuming {} after epoch {}", path.display(), s.epochs_done),
            },
            None => say!(
                "Resuming {} from the start (no checkpoint yet)",
                path.display()
            ),
        }
    }
    let fit = FitOptions {
        config: &config,
        data: &data,
        split: &split,
        run: &run,
        device: &device,
        backend,
        quiet: opts.quiet,
        data_seconds,
        trace: opts.trace,
    };
    with_curves(engine::fit(task.as_mut(), fit, start)?, &config)
}

/// What `nnlab eval` found.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Which checkpoint was evaluated, in words (e.g. `epoch 10`, `epoch 3, step 120`).
    pub checkpoint: String,
    /// A warning about the run's state (still training, interrupted), if any.
    pub warning: Option<String>,
    /// The test figures, by evaluation metric name.
    pub metrics: Vec<(String, f64)>,
}

/// The checkpoint `nnlab eval` and `nnlab generate` load: the best one when early stopping
/// restored it, else the newest. Found before any data is read, so a run without one (a study
/// run from a clone: records are committed, checkpoints are not) is named at once.
fn checkpoint_to_load(path: &Path, config: &RunConfig) -> Result<CheckpointReader> {
    let restore_best = config
        .train
        .early_stopping
        .as_ref()
        .is_some_and(|es| es.restore_best);
    if restore_best && let Some(best) = checkpoint::best(path)? {
        return Ok(best);
    }
    checkpoint::latest(path)?.ok_or_else(|| {
        Error::RunDir(if path.join("summary.json").is_file() {
            format!(
                "{} has no checkpoint: the run finished, but its checkpoint is not there (studies commit their runs' records, not their checkpoints); train it again, e.g. remove the folder and run its study",
                path.display()
            )
        } else {
            format!("{} has no checkpoint yet", path.display())
        })
    })
}

/// Writes the trained modules of the run in `path` (its newest checkpoint, or the best one an
/// early-stopping run kept) as one safetensors file `out` in PyTorch's layouts (see
/// [`nnlab_train::export`]), with `out` + `.json` beside it: the run's config as JSON and the
/// tensors' names and shapes, and for a VAE or an MLP GAN `out` with `.html`: a page that
/// draws samples in the browser (see [`crate::sampler_page`]). Returns the tensors' names.
pub fn export_run(
    path: &Path,
    opts: &TrainOptions,
    out: &Path,
    torch_names: bool,
) -> Result<Vec<String>> {
    let config = RunConfig::load(&run_dir::config_of(path)?, &[])?;
    if torch_names && config.mlp().is_some_and(|m| m.maxout_pieces > 0) {
        return Err(Error::Config(
            "--names torch names the tensors for bench/peers' MLP twins, which have no maxout \
             units (model.maxout_pieces > 0): export with --names nnlab"
                .into(),
        ));
    }
    let reader = checkpoint_to_load(path, &config)?;
    let (data, _) = load_data(&config, &opts.load_options_for(path))?;
    let (device, backend) = select_device();
    let mut task = build(&config, &data, &device, backend, &[])?;
    task.load(&reader)?;
    let parts = task.export().ok_or_else(|| {
        Error::Config(format!(
            "model.kind = \"{}\" has no modules to export",
            config.model.kind()
        ))
    })??;
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("nnlab_model".to_string(), config.model.kind().to_string());
    metadata.insert("nnlab_revision".to_string(), engine::provenance::revision());
    if torch_names {
        metadata.insert("nnlab_names".to_string(), "torch".to_string());
    }
    let kind = config.model.kind();
    let (convs, encoders) =
        nnlab_train::export::layer_counts(&nnlab_train::export::tensor_names(&parts)?);
    let bytes = nnlab_train::export::merge(
        &parts,
        |n| {
            if torch_names {
                nnlab_train::export::torch_name(kind, n, convs, encoders)
            } else {
                n.to_string()
            }
        },
        metadata,
    )?;
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| Error::Checkpoint {
        path: out.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut tensors: Vec<(String, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec()))
        .collect();
    tensors.sort();
    let json = serde_json::json!({
        "model": config.model.kind(),
        "config": serde_json::to_value(&config).expect("the config serialises"),
        "checkpoint": reader.dir().display().to_string(),
        "revision": engine::provenance::revision(),
        "names": if torch_names { "the twins' of bench/peers (torch_name)" } else { "nnlab's: <module>.<path>" },
        "layout": "PyTorch: a linear layer's weight is [out, in], a convolution's [out, in, kh, kw], a transposed convolution's [in, out, kh, kw]",
        "tensors": tensors.iter().map(|(n, s)| serde_json::json!({"name": n, "shape": s})).collect::<Vec<_>>(),
    });
    run_dir::write_atomic(out, &bytes)?;
    if let Some(sampler) = task.sampler() {
        let html = out.with_extension("html");
        let title = format!("{} ({}): samples", config.name, config.model.kind());
        run_dir::write_atomic(
            &html,
            crate::sampler_page::page(&sampler, &title).as_bytes(),
        )?;
    }
    let mut side = out.as_os_str().to_owned();
    side.push(".json");
    run_dir::write_atomic(
        Path::new(&side),
        (serde_json::to_string_pretty(&json).expect("plain JSON") + "\n").as_bytes(),
    )?;
    Ok(tensors.into_iter().map(|(n, _)| n).collect())
}

/// Reloads a run's checkpoint (the best one when early stopping restored it, else the newest)
/// and evaluates it on the test split of its config.
pub fn eval_run(path: &Path, opts: &TrainOptions) -> Result<Evaluation> {
    let config = RunConfig::load(&run_dir::config_of(path)?, &[])?;
    let reader = checkpoint_to_load(path, &config)?;
    let (data, split) = load_data(&config, &opts.load_options_for(path))?;
    let state = reader.state();
    let what = match &state.partial {
        Some(p) => format!("epoch {}, step {}", p.epoch, p.step),
        None if reader.dir().ends_with(checkpoint::BEST) => {
            format!(
                "epoch {} (the best, kept by early stopping)",
                state.epochs_done
            )
        }
        None => format!("epoch {}", state.epochs_done),
    };
    let finished = path.join("summary.json").is_file();
    let warning = if RunDir::in_use(path) {
        Some(format!(
            "{} is still training; this is its checkpoint of {what}",
            path.display()
        ))
    } else if !finished {
        Some(format!(
            "{} did not finish (interrupted or killed); this is its checkpoint of {what}. Continue it with: nnlab train --resume {}",
            path.display(),
            path.display()
        ))
    } else {
        None
    };
    let (device, backend) = select_device();
    let mut task = build(&config, &data, &device, backend, &[])?;
    task.load(&reader)?;
    let values = task.evaluate(&data, &split.test);
    Ok(Evaluation {
        checkpoint: format!("{what} ({})", reader.dir().display()),
        warning,
        metrics: task.eval_metrics().into_iter().zip(values).collect(),
    })
}

/// `n` images drawn with `seed` by the trained generative model of the run in `path` (its
/// newest checkpoint, or the best one early stopping kept).
pub fn generate(
    path: &Path,
    n: usize,
    seed: u64,
    opts: &TrainOptions,
) -> Result<crate::pictures::Images> {
    let config = RunConfig::load(&run_dir::config_of(path)?, &[])?;
    if !config.model.generates() {
        return Err(Error::Config(format!(
            "{}: model.kind = \"{}\" does not generate images; `nnlab generate` takes runs of {}",
            path.display(),
            config.model.kind(),
            nnlab_config::ModelConfig::generating_kinds().join(", ")
        )));
    }
    let reader = checkpoint_to_load(path, &config)?;
    let (data, _) = load_data(&config, &opts.load_options_for(path))?;
    let (device, backend) = select_device();
    let mut task = build(&config, &data, &device, backend, &[])?;
    task.load(&reader)?;
    task.sample(n, seed).ok_or_else(|| {
        Error::Config(format!(
            "{}: this model does not generate images",
            path.display()
        ))
    })
}
