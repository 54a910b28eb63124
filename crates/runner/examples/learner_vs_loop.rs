//! Benchmark: nnlab's custom training loop against burn-train's `SupervisedTraining` on the
//! article's job — same data, model, initialisation, optimizer (Adam) and batch size; both
//! evaluate the test set after every epoch and write a checkpoint per epoch. burn-train's
//! `Learner` takes burn's `ModuleOptimizer`, so it runs Adam as tensor operations, where nnlab's
//! loop runs its host-memory `HostAdam` on CPU backends.
//!
//! `NNLAB_DATA=../shared/data cargo run --release -p nnlab-runner --features learner --example learner_vs_loop [EPOCHS]`
//! (the `learner` feature compiles burn-train in, which nnlab itself does not need).

use std::sync::Arc;
use std::time::Instant;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{AccuracyMetric, LossMetric, MetricDefinition};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::{
    ClassificationOutput, InferenceStep, Learner, LearnerSummary, SupervisedTraining, TrainOutput,
    TrainStep,
};
use nnlab_data::ImageDataset;
use nnlab_models::{Mlp, MlpConfig};
use nnlab_runner::{RunConfig, TrainOptions, tasks};

#[derive(Debug, Clone)]
struct Batch {
    images: Tensor<2>,
    targets: Tensor<1, Int>,
}

/// Gathers examples (global indices) of the shared dataset into a batch.
#[derive(Debug, Clone)]
struct IndexBatcher(Arc<ImageDataset>);

impl Batcher<u32, Batch> for IndexBatcher {
    fn batch(&self, items: Vec<u32>, device: &Device) -> Batch {
        let b = self.0.batch(&items);
        let f = self.0.features();
        Batch {
            images: Tensor::from_data(TensorData::new(b.images, [b.size, f]), device),
            targets: Tensor::from_data(TensorData::new(b.labels, [b.size]), device),
        }
    }
}

#[derive(Module, Debug)]
struct Classifier {
    mlp: Mlp,
}

impl Classifier {
    fn output(&self, b: Batch) -> ClassificationOutput {
        let logits = self.mlp.forward(b.images);
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), b.targets.clone());
        ClassificationOutput::new(loss, logits, b.targets)
    }
}

impl TrainStep for Classifier {
    type Input = Batch;
    type Output = ClassificationOutput;
    fn step(&self, b: Batch) -> TrainOutput<ClassificationOutput> {
        let out = self.output(b);
        TrainOutput::new(self, out.loss.backward(), out)
    }
}

impl InferenceStep for Classifier {
    type Input = Batch;
    type Output = ClassificationOutput;
    fn step(&self, b: Batch) -> ClassificationOutput {
        self.output(b)
    }
}

/// Draws nothing: the comparison is about training, not about printing.
struct Silent;

impl MetricsRendererTraining for Silent {
    fn update_train(&mut self, _: MetricState) {}
    fn update_valid(&mut self, _: MetricState) {}
    fn on_train_end(
        &mut self,
        _: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for Silent {
    fn update_test(&mut self, _: EvaluationName, _: MetricState) {}
    fn on_test_end(&mut self, _: Option<LearnerSummary>) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for Silent {
    fn start(&mut self, _: usize, _: usize, _: Option<usize>, _: Option<&str>) {}
    fn update_epoch(&mut self, _: usize) {}
    fn start_split(&mut self, _: &str, _: usize) {}
    fn update_split(&mut self, _: usize) {}
    fn end_split(&mut self) {}
    fn end(&mut self) {}
    fn log_event_training(&mut self, _: String) {}
}

impl EvaluationProgressLogger for Silent {
    fn start_global_progress(&mut self, _: usize) {}
    fn start_test(&mut self, _: &str, _: usize) {}
    fn update_test_progress(&mut self, _: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _: String) {}
}

impl MetricsRenderer for Silent {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _: MetricDefinition) {}
}

/// Trains the article job with burn-train's `SupervisedTraining` into `tmp/learner`; returns its
/// seconds (data loading included) and its test accuracy.
fn learner_run(
    config: &RunConfig,
    opts: &TrainOptions,
    tmp: &std::path::Path,
    epochs: usize,
) -> (f64, f64) {
    let started = Instant::now();
    let (data, split) = tasks::load_data(config, &opts.load_options()).expect("MNIST loads");
    let data = Arc::new(data);
    let device = Device::flex();
    device.seed(config.seed);
    let ad = device.clone().autodiff();
    let train = DataLoaderBuilder::new(IndexBatcher(data.clone()))
        .batch_size(config.train.batch_size)
        .shuffle(config.seed)
        .set_device(ad.clone())
        .build(InMemDataset::new(split.train.clone()));
    let valid = DataLoaderBuilder::new(IndexBatcher(data.clone()))
        .batch_size(config.train.eval_batch_size)
        .set_device(ad.clone())
        .build(InMemDataset::new(split.test.clone()));
    let model = Classifier {
        mlp: MlpConfig::from_spec(config.mlp().expect("an MLP"), data.features(), data.classes)
            .init(&ad),
    };
    let result = SupervisedTraining::new(tmp.join("learner"), train, valid)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .with_default_checkpointers()
        .num_epochs(epochs)
        .renderer(Box::new(Silent))
        .launch(Learner::new(
            model,
            nnlab_runner::optim::module_optimizer(&config.train),
            config.train.lr,
        ));
    let learner_s = started.elapsed().as_secs_f64();
    let trained = result.model.mlp.valid();
    let mut correct = 0i64;
    for chunk in split.test.chunks(config.train.eval_batch_size) {
        let b = IndexBatcher(data.clone()).batch(chunk.to_vec(), &device);
        correct += trained
            .forward(b.images)
            .argmax(1)
            .squeeze_dim::<1>(1)
            .equal(b.targets)
            .int()
            .sum()
            .into_scalar::<i64>();
    }
    let learner_acc = correct as f64 / split.test.len() as f64;
    (learner_s, learner_acc)
}

fn main() {
    let epochs: usize = std::env::args()
        .nth(1)
        .map_or(3, |s| s.parse().expect("EPOCHS is a number"));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = RunConfig::load(
        &root.join("configs/article_mlp.toml"),
        &[format!("train.epochs={epochs}")],
    )
    .expect("the article config loads");
    let opts = TrainOptions {
        download: false,
        quiet: true,
        ..TrainOptions::default()
    };
    let tmp = std::env::temp_dir().join(format!("nnlab-learner-vs-loop-{}", std::process::id()));

    // nnlab's loop (data loading included, as below).
    let started = Instant::now();
    let loop_run = tasks::train(
        &config,
        &TrainOptions {
            out: Some(tmp.join("loop")),
            ..opts.clone()
        },
    )
    .expect("the custom loop trains");
    let loop_s = started.elapsed().as_secs_f64();

    // burn-train's SupervisedTraining.
    let (learner_s, learner_acc) = learner_run(&config, &opts, &tmp, epochs);
    let _ = std::fs::remove_dir_all(&tmp);

    println!(
        "{epochs} epochs of the article job, flex, data loading and per-epoch test evaluation included"
    );
    println!("| training | total s | test accuracy |");
    println!("|---|---|---|");
    println!(
        "| nnlab custom loop | {loop_s:.2} | {:.4} |",
        loop_run.summary.metric("test_accuracy").unwrap_or(f64::NAN)
    );
    println!("| burn-train SupervisedTraining | {learner_s:.2} | {learner_acc:.4} |");
    println!(
        "SupervisedTraining / custom loop: {:.2}x the time",
        learner_s / loop_s
    );
}
