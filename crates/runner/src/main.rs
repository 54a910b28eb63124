//! `nnlab`: train, evaluate and reproduce neural-network studies.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use nnlab_runner::study::{self, StudyOptions};
use nnlab_runner::{RunConfig, TrainOptions, art, complain, pictures, say, tasks};

#[derive(Debug, Parser)]
#[command(
    name = "nnlab",
    version,
    about = "Train, evaluate and reproduce neural-network studies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct DataArgs {
    /// Data root holding `mnist/`, `fashion-mnist/`, ... [default: $NNLAB_DATA, else data/]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Never download missing dataset files (also: NNLAB_OFFLINE=1).
    #[arg(long)]
    offline: bool,
}

impl DataArgs {
    fn options(&self) -> TrainOptions {
        let env_offline = std::env::var("NNLAB_OFFLINE").is_ok_and(|v| !v.is_empty() && v != "0");
        TrainOptions {
            data_dir: self.data_dir.clone(),
            download: !(self.offline || env_offline),
            ..TrainOptions::default()
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a model from a config file, or resume a run.
    #[command(
        override_usage = "nnlab train <CONFIG> [OPTIONS]\n       nnlab train --resume <RUN_DIR>"
    )]
    Train(TrainArgs),
    /// Reload a run's checkpoint and evaluate it on the test set.
    Eval(EvalArgs),
    /// Run every cell and seed of a study or sweep and regenerate its results.md and charts.
    Study(StudyArgs),
    /// Draw images from a trained generative run (vae, gan, dcgan, rbm) into a PNG grid.
    Generate(GenerateArgs),
    /// Show what a trained classifier looks at: attribution maps of its decisions.
    Explain(ExplainArgs),
    /// Write a run's trained modules as safetensors in PyTorch's layouts.
    Export(ExportArgs),
    /// Draw and measure the article's mechanics from the hand-written principles crate.
    Principles {
        #[command(subcommand)]
        what: PrinciplesKind,
    },
    /// Make neural-network art without training data.
    Art {
        #[command(subcommand)]
        kind: ArtKind,
    },
    /// Measure image sets as perception research does and write the study's report.
    Aesthetics(AestheticsArgs),
    /// Serve the local page where people choose the more beautiful of two images.
    Rate(RateArgs),
    /// Download (if missing) and verify a known dataset.
    Data(DatasetArgs),
}

/// The arguments of `nnlab train`.
#[derive(Debug, Args)]
struct TrainArgs {
    /// The config (TOML), e.g. configs/article_mlp.toml.
    #[arg(required_unless_present = "resume")]
    config: Option<PathBuf>,
    /// Override a config value, e.g. --set train.lr=0.01 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Seed (same as --set seed=N).
    #[arg(long)]
    seed: Option<u64>,
    /// Run folder [default: runs/<name>/<timestamp>]; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue the run in this folder from its newest checkpoint.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "set", "seed", "out"])]
    resume: Option<PathBuf>,
    /// Print the resolved config (every default and override written out) and stop.
    #[arg(long, conflicts_with = "resume")]
    print_config: bool,
    /// Record each step's example indices (trace/order.txt) and training loss (trace/steps.csv)
    /// in the run folder, to replay the same batches in another framework.
    #[arg(long)]
    trace: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// The arguments of `nnlab eval`.
#[derive(Debug, Args)]
struct EvalArgs {
    /// The run folder.
    run: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

/// The arguments of `nnlab study`.
#[derive(Debug, Args)]
struct StudyArgs {
    /// The study folder, e.g. experiments/article-mlp.
    dir: PathBuf,
    /// Extra override for every run (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Where the runs go [default: <dir>/runs].
    #[arg(long, value_name = "DIR")]
    runs: Option<PathBuf>,
    /// Where the table goes [default: <dir>/results.md]; charts go beside it.
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Runs at once, as separate processes (at least 1).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    jobs: usize,
    /// Train only the study's run with this index (cells, then seeds), without the table:
    /// what each task of a Slurm job array runs.
    #[arg(long, value_name = "INDEX", conflicts_with_all = ["report_only", "slurm"])]
    task: Option<usize>,
    /// Write the table from finished runs only; fail naming any unfinished run.
    #[arg(long, conflicts_with = "slurm")]
    report_only: bool,
    /// Submit the unfinished runs to Slurm as one job array, and the table as a job after
    /// it; what follows goes to sbatch (e.g. --slurm --partition=cpu --time=2:00:00 --wait).
    /// Must come last.
    #[arg(long, num_args = 0.., allow_hyphen_values = true, value_name = "SBATCH OPTIONS")]
    slurm: Option<Vec<String>>,
    #[command(flatten)]
    data: DataArgs,
}

/// The arguments of `nnlab generate`.
#[derive(Debug, Args)]
struct GenerateArgs {
    /// The run folder.
    run: PathBuf,
    /// How many images.
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// Seed of the noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The PNG to write.
    #[arg(long, value_name = "FILE", default_value = "grid.png")]
    out: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

/// The arguments of `nnlab aesthetics`.
#[derive(Debug, Args)]
struct AestheticsArgs {
    /// The study folder (holding aesthetics.toml), e.g. experiments/art-vs-aesthetics.
    dir: PathBuf,
    /// Count the ratings made by the rating page's test hook (`nnlab rate --synthetic`),
    /// which are left out by default.
    #[arg(long)]
    with_synthetic: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// The arguments of `nnlab explain`.
#[derive(Debug, Args)]
struct ExplainArgs {
    /// A classifier run folder (mlp or cnn), e.g. runs/article_mlp/<timestamp>.
    run: PathBuf,
    /// Test images to explain, by 0-based index in the test set (repeatable or comma-separated)
    /// [default: the first eight].
    #[arg(long = "index", value_name = "N", value_delimiter = ',')]
    indices: Vec<usize>,
    /// Explain the PNG images of this folder instead (e.g. generated art), scaled to the input.
    #[arg(long, value_name = "DIR", conflicts_with = "indices")]
    png: Option<PathBuf>,
    /// Folder for the pictures and explain.csv.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Integrated gradients: points between the black baseline and the image (more points, a
    /// smaller completeness error).
    #[arg(long, default_value_t = 256)]
    steps: usize,
    /// Occlusion: side of the square set to black, in pixels.
    #[arg(long, default_value_t = 4)]
    patch: usize,
    /// Occlusion: step between squares, in pixels.
    #[arg(long, default_value_t = 2)]
    stride: usize,
    #[command(flatten)]
    data: DataArgs,
}

/// The arguments of `nnlab export`.
#[derive(Debug, Args)]
struct ExportArgs {
    /// A run folder with a checkpoint.
    run: PathBuf,
    /// The file format (safetensors is the one written).
    #[arg(long, default_value = "safetensors", value_parser = ["safetensors"])]
    format: String,
    /// The file to write; FILE.json beside it gets the config and the tensors' names and shapes.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Tensor names: nnlab's (`model.layers.0.weight`) or those of the PyTorch twins in
    /// bench/peers (`0.weight`), which their `load_state_dict` takes.
    #[arg(long, default_value = "nnlab", value_parser = ["nnlab", "torch"])]
    names: String,
    #[command(flatten)]
    data: DataArgs,
}

/// The arguments of `nnlab rate`.
#[derive(Debug, Args)]
struct RateArgs {
    /// The study folder (holding aesthetics.toml); run `nnlab aesthetics` on it first.
    dir: PathBuf,
    /// The port on 127.0.0.1 (0: any free one).
    #[arg(long, default_value_t = 8765)]
    port: u16,
    /// Stop after this many recorded choices (default: run until Ctrl-C).
    #[arg(long)]
    stop_after: Option<usize>,
    /// Serve the page with its test hook: `auto=N` in its URL makes N random choices by
    /// itself. Every row this server records is marked synthetic, and the analysis leaves
    /// such rows out unless asked (`nnlab aesthetics --with-synthetic`).
    #[arg(long)]
    synthetic: bool,
}

/// The arguments of `nnlab data`.
#[derive(Debug, Args)]
struct DatasetArgs {
    /// Dataset name: mnist or fashion-mnist.
    name: String,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Subcommand)]
enum PrinciplesKind {
    /// Every activation f(z) and its derivative f'(z) on [-4, 4], as two charts.
    Activations {
        /// The chart of f; the derivatives go beside it as <name>-derivative.png.
        #[arg(long, value_name = "FILE", default_value = "activations.png")]
        out: PathBuf,
    },
    /// The vanishing gradient, measured: ||dL/dW|| per layer of deep MLPs of each activation
    /// at their initial weights, on one batch of training images; a table and a chart.
    Gradients {
        /// Hidden layers.
        #[arg(long, default_value_t = 10, value_parser = at_least_one)]
        depth: usize,
        /// Units per hidden layer.
        #[arg(long, default_value_t = 64, value_parser = at_least_one)]
        width: usize,
        /// Training images in the batch.
        #[arg(long, default_value_t = 256, value_parser = at_least_one)]
        batch: usize,
        /// Seed of the weights and the batch.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The dataset.
        #[arg(long, default_value = "mnist")]
        dataset: String,
        /// The chart to write.
        #[arg(long, value_name = "FILE", default_value = "gradients.png")]
        out: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ArtKind {
    /// A compositional pattern-producing network with random weights (Stanley 2007): each
    /// pixel's colour is the network's output for its coordinates (x, y, r).
    Cppn {
        /// Seed of the weights: one seed, one picture.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Width and height in pixels.
        #[arg(long, default_value_t = 512)]
        size: usize,
        /// Nonlinearity: tanh, sigmoid, relu, sin, gaussian, ...
        #[arg(long, default_value = "tanh")]
        activation: String,
        /// 1 (grey) or 3 (colour).
        #[arg(long, default_value_t = 3)]
        channels: usize,
        /// Hidden layers.
        #[arg(long, default_value_t = 6)]
        layers: usize,
        /// Units per hidden layer.
        #[arg(long, default_value_t = 32)]
        width: usize,
        /// Weight scale, the weights' standard deviation times sqrt(fan-in) (larger: busier
        /// patterns) [default: 5, or 2 for sin and 2.5 for gaussian].
        #[arg(long)]
        scale: Option<f64>,
        /// Half-width of the coordinate square (larger: zoomed out).
        #[arg(long, default_value_t = 1.5)]
        zoom: f32,
        /// The PNG to write.
        #[arg(long, value_name = "FILE", default_value = "art.png")]
        out: PathBuf,
    },
}

/// `--jobs`: a whole number of at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "must be a whole number of at least 1, not `{text}`"
        )),
    }
}

fn main() -> ExitCode {
    nnlab_runner::engine::provenance::mark_process_start();
    keep_freed_blocks();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            complain!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Tells glibc's malloc to keep freed blocks in the process instead of handing every large one
/// (a convolution's im2col columns, a batch of feature maps: anything above 128 KiB to 32 MiB)
/// back to the kernel as it is freed: with glibc's defaults each tensor operation of a
/// convolutional network pays for fresh pages (page faults, zeroing, TLB shootdowns).
/// `bench/allocator.sh` measures what this changes (its outputs are in `bench/results/`).
/// `NNLAB_MALLOC=system` keeps glibc's defaults, and a `GLIBC_TUNABLES` that sets malloc
/// parameters is left to win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_blocks() {
    if std::env::var("NNLAB_MALLOC").is_ok_and(|m| m == "system")
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."))
    {
        return;
    }
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets two of glibc's malloc parameters (blocks up to 256 MiB come from
    // the heap; the heap's top is returned to the kernel above 1 GiB free); it is called first
    // thing in main, before any other thread exists, with valid parameter names and values.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Other platforms keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_blocks() {}

/// `Loss: 0.1074  Accuracy: 0.9682`: the test figures, as Keras' `evaluate` prints them.
fn final_line(figures: &[(String, f64)]) -> String {
    figures
        .iter()
        .map(|(name, v)| {
            let mut words = name.replace('_', " ");
            if let Some(first) = words.get(0..1) {
                words.replace_range(0..1, &first.to_uppercase());
            }
            format!("{words}: {v:.4}")
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// `nnlab principles ...`.
fn principles(what: PrinciplesKind) -> anyhow::Result<()> {
    use nnlab_runner::principles::{self as p, GradientOptions};
    match what {
        PrinciplesKind::Activations { out } => {
            let [f, df] = p::activations(&out)?;
            say!("written to {} and {}", f.display(), df.display());
        }
        PrinciplesKind::Gradients {
            depth,
            width,
            batch,
            seed,
            dataset,
            out,
            data,
        } => {
            let load = data.options().load_options();
            let d = nnlab_data::ImageDataset::load(&dataset, &load)?;
            let opts = GradientOptions {
                depth,
                width,
                batch,
                seed,
            };
            let norms = p::gradient_norms(&d, &opts);
            let header: Vec<&str> = norms.iter().map(|(a, _)| a.name()).collect();
            say!(
                "||dL/dW|| per layer ({depth} hidden layers of {width}, {batch} images of {dataset}, seed {seed}):"
            );
            say!("| layer | {} |", header.join(" | "));
            say!("|---|{}", "---|".repeat(header.len()));
            for l in 0..=depth {
                let cells: Vec<String> =
                    norms.iter().map(|(_, v)| format!("{:.3e}", v[l])).collect();
                say!("| {} | {} |", l + 1, cells.join(" | "));
            }
            let ratio: Vec<String> = norms
                .iter()
                .map(|(a, v)| format!("{} {:.1e}", a.name(), v[0] / v[depth]))
                .collect();
            say!("first layer / output layer: {}", ratio.join(", "));
            p::draw_gradients(&norms, &opts, &out)?;
            say!("written to {}", out.display());
        }
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    nnlab_runner::backend::chosen().map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Train(args) => train(args)?,
        Command::Eval(args) => eval(args)?,
        Command::Study(args) => study(args)?,
        Command::Generate(args) => generate(args)?,
        Command::Art { kind } => art(kind)?,
        Command::Explain(args) => explain(args)?,
        Command::Export(args) => export(args)?,
        Command::Aesthetics(args) => aesthetics(args)?,
        Command::Rate(args) => rate(args)?,
        Command::Principles { what } => principles(what)?,
        Command::Data(args) => data(args)?,
    }
    Ok(())
}

/// `nnlab train`.
fn train(args: TrainArgs) -> anyhow::Result<()> {
    let TrainArgs {
        config,
        mut set,
        seed,
        out,
        resume,
        print_config,
        trace,
        data,
    } = args;
    // The config with its overrides (`--seed` is one more); `--resume` takes the run's own.
    let resolved = || -> anyhow::Result<RunConfig> {
        let path = config.context("a config file is required")?;
        set.extend(seed.map(|s| format!("seed={s}")));
        Ok(RunConfig::load(&path, &set)?)
    };
    if print_config {
        print!("{}", resolved()?.to_toml());
        return Ok(());
    }
    let opts = TrainOptions {
        out,
        trace,
        ..data.options()
    };
    let outcome = match resume {
        Some(run) => tasks::resume(&run, &opts)?,
        None => tasks::train(&resolved()?, &opts)?,
    };
    let figures: Vec<(String, f64)> = outcome
        .eval_metrics
        .iter()
        .filter_map(|m| {
            let v = outcome.summary.metric(&format!("test_{m}"))?;
            Some((m.clone(), v))
        })
        .collect();
    say!("{}", final_line(&figures));
    say!("saved in {}", outcome.run_dir.display());
    Ok(())
}

/// `nnlab eval`.
fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let EvalArgs { run, data } = args;
    if !run.join("config.toml").is_file() && run.is_dir() {
        let runs = nnlab_runner::run_dir::runs_under(&run);
        if !runs.is_empty() {
            let list: Vec<String> = runs.iter().map(|r| r.display().to_string()).collect();
            anyhow::bail!(
                "{} is not a run folder but holds {} run(s); evaluate one of them: {}",
                run.display(),
                runs.len(),
                list.join(", ")
            );
        }
    }
    let e = tasks::eval_run(&run, &data.options())?;
    if let Some(w) = &e.warning {
        complain!("warning: {w}");
    }
    say!("checkpoint: {}", e.checkpoint);
    say!("{}", final_line(&e.metrics));
    Ok(())
}

/// `nnlab study`.
fn study(args: StudyArgs) -> anyhow::Result<()> {
    let StudyArgs {
        dir,
        set,
        runs,
        results,
        jobs,
        task,
        report_only,
        slurm,
        data,
    } = args;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if jobs > cores {
        complain!(
            "note: --jobs {jobs} on {cores} cores: runs share the cores, so their seconds per epoch grow"
        );
    }
    // The folder, or its study.toml.
    let dir = if dir.file_name().is_some_and(|f| f == "study.toml") && dir.is_file() {
        dir.parent().map(PathBuf::from).unwrap_or_default()
    } else {
        dir
    };
    let opts = StudyOptions {
        set,
        runs,
        results,
        jobs,
        train: TrainOptions {
            quiet: jobs > 1,
            ..data.options()
        },
        mode: match (task, report_only, slurm) {
            (Some(i), _, _) => study::Mode::Task(i),
            (_, true, _) => study::Mode::ReportOnly,
            (_, _, Some(extra)) => study::Mode::Slurm(extra),
            _ => study::Mode::Local,
        },
    };
    match study::run(&dir, &opts)? {
        study::Outcome::Table(path) => {
            say!("{}", std::fs::read_to_string(&path).unwrap_or_default());
            say!("written to {}", path.display());
        }
        study::Outcome::Run(out) => say!("run done: {}", out.display()),
        study::Outcome::Submitted {
            array,
            report,
            results,
        } => {
            if let Some(a) = array {
                say!("runs: Slurm job array {a} (squeue -j {a})");
            }
            say!("table: Slurm job {report}, writes {}", results.display());
        }
    }
    Ok(())
}

/// `nnlab generate`.
fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let GenerateArgs {
        run,
        n,
        seed,
        out,
        data,
    } = args;
    if n == 0 {
        anyhow::bail!("--n 0: draw at least one image");
    }
    let images = tasks::generate(&run, n, seed, &data.options())?;
    let cols = (n as f64).sqrt().ceil() as usize;
    pictures::save_png(&images.grid(cols, 2, 2), &out)?;
    say!(
        "{n} images from {} (seed {seed}) written to {}",
        run.display(),
        out.display()
    );
    Ok(())
}

/// `nnlab aesthetics`.
fn aesthetics(args: AestheticsArgs) -> anyhow::Result<()> {
    let AestheticsArgs {
        dir,
        with_synthetic,
        data,
    } = args;
    let path = nnlab_runner::aesthetics::run(&dir, &data.options(), with_synthetic)?;
    say!(
        "written to {} and {}",
        path.display(),
        dir.join("report/index.html").display()
    );
    Ok(())
}

/// `nnlab export`.
fn export(args: ExportArgs) -> anyhow::Result<()> {
    let ExportArgs {
        run,
        format: _,
        out,
        names,
        data,
    } = args;
    let names = tasks::export_run(&run, &data.options(), &out, names == "torch")?;
    say!(
        "{} tensors written to {} (PyTorch layouts; {}.json has the config and shapes)",
        names.len(),
        out.display(),
        out.display()
    );
    Ok(())
}

/// `nnlab explain`.
fn explain(args: ExplainArgs) -> anyhow::Result<()> {
    let ExplainArgs {
        run,
        indices,
        png,
        out,
        steps,
        patch,
        stride,
        data,
    } = args;
    let o = nnlab_runner::explain::ExplainOptions {
        indices,
        pngs: png,
        out,
        steps,
        patch,
        stride,
    };
    let done = nnlab_runner::explain::explain(&run, &data.options(), &o)?;
    let mut table = nnlab_runner::markdown::Table::new([
        "image",
        "label",
        "predicts",
        "p",
        "integrated gradients: sum",
        "score difference",
        "completeness error",
    ]);
    for e in &done {
        let ig = &e.integrated;
        // Relative to the score's difference, unless that is about zero.
        let error = if ig.difference.abs() > 1e-9 {
            format!("{:.2} %", 100.0 * ig.completeness_error())
        } else {
            format!("{:.2e} (absolute)", ig.completeness_error())
        };
        table.row([
            e.name.clone(),
            e.label.map_or("-".into(), |l| l.to_string()),
            e.predicted.to_string(),
            format!("{:.3}", e.probabilities[e.predicted]),
            format!("{:.4}", ig.sum),
            format!("{:.4}", ig.difference),
            error,
        ]);
    }
    say!("{}", table.render().trim_end());
    say!("pictures and explain.csv written to {}", o.out.display());
    Ok(())
}

/// `nnlab rate`.
fn rate(args: RateArgs) -> anyhow::Result<()> {
    let RateArgs {
        dir,
        port,
        stop_after,
        synthetic,
    } = args;
    let opts = nnlab_rate::Options {
        port,
        stop_after,
        synthetic,
    };
    nnlab_runner::engine::interrupt::arm();
    let ctrl_c = nnlab_runner::engine::interrupt::requested;
    let n = nnlab_rate::serve(
        &dir,
        &opts,
        |url| {
            say!("rating page (this machine only; the token in the URL keeps others out): {url}");
            say!(
                "choices go to {}; stop with Ctrl-C",
                dir.join("ratings.csv").display()
            );
        },
        ctrl_c,
    )?;
    say!("{n} choices recorded");
    Ok(())
}

/// `nnlab data`.
fn data(args: DatasetArgs) -> anyhow::Result<()> {
    let DatasetArgs { name, data } = args;
    let load = data.options().load_options();
    let started = std::time::Instant::now();
    let d = nnlab_data::ImageDataset::load(&name, &load)?;
    let checked = if d.checksums_verified {
        "checksums verified"
    } else {
        "no published checksums to verify"
    };
    say!(
        "{}: {} train + {} test images of {}x{}, {} classes, {checked}, loaded in {:.3} s from {}",
        d.name,
        d.n_train,
        d.n_test,
        d.rows,
        d.cols,
        d.classes,
        started.elapsed().as_secs_f64(),
        load.root.join(&name).display()
    );
    Ok(())
}

/// `nnlab art ...`.
fn art(kind: ArtKind) -> anyhow::Result<()> {
    let ArtKind::Cppn {
        seed,
        size,
        activation,
        channels,
        layers,
        width,
        scale,
        zoom,
        out,
    } = kind;
    let activation: nnlab_runner::config::Activation = toml::Value::String(activation.clone())
        .try_into()
        .map_err(|_| {
            let names: Vec<&str> = nnlab_runner::config::Activation::ALL
                .iter()
                .map(|a| a.name())
                .collect();
            anyhow::anyhow!(
                "--activation {activation}: not an activation; one of {}",
                names.join(", ")
            )
        })?;
    if !(channels == 1 || channels == 3) {
        anyhow::bail!("--channels {channels}: 1 (grey) or 3 (colour)");
    }
    if size == 0 || size > 8192 {
        anyhow::bail!("--size {size}: between 1 and 8192 pixels");
    }
    let scale = scale.unwrap_or(art::default_scale(activation));
    if !(scale.is_finite() && scale > 0.0 && zoom.is_finite() && zoom > 0.0) {
        anyhow::bail!("--scale and --zoom must be finite numbers > 0");
    }
    let o = art::CppnOptions {
        seed,
        size,
        activation,
        channels,
        hidden: vec![width.max(1); layers],
        weight_scale: scale,
        zoom,
        ..art::CppnOptions::default()
    };
    let (device, backend) = nnlab_runner::backend::select_device();
    let (img, secs) = art::cppn(&o, &device, nnlab_runner::backend::is_cpu(backend));
    pictures::save_png(&img, &out)?;
    say!(
        "CPPN seed {seed}, {size}x{size}, {} ({backend}): {secs:.3} s, written to {}",
        activation.name(),
        out.display()
    );
    Ok(())
}
