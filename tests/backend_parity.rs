//! flex and ndarray compute the same thing: identical weights give the same forward outputs,
//! and the same batches give the same losses over the first training steps.
//!
//! Built only with `--features ndarray`:
//! `cargo test --release -p nnlab-runner --features ndarray --test backend_parity`.
//!
//! Tolerance: 1e-5 absolute on logits and 1e-5 relative on losses. Both backends compute in
//! f32 but order their matrix-multiply sums differently (gemm vs matrixmultiply), so outputs
//! agree to a few ulps (~1e-7 relative per op), not bitwise; 1e-5 leaves room for that rounding to
//! grow over 20 Adam steps while any real difference (a wrong op, init or update) is far larger.

mod common;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::store::ModuleRecord;
use nnlab_data::{ImageDataset, LoadOptions, shuffled};
use nnlab_models::Mlp;
use nnlab_models::MlpConfig;
use nnlab_runner::RunConfig;

fn devices() -> [(Device, &'static str); 2] {
    #[allow(deprecated)]
    let ndarray = Device::ndarray();
    [(Device::flex(), "flex"), (ndarray, "ndarray")]
}

/// Logits of the first batch and the losses of the first `steps` steps on `device`, starting
/// from the weights in `record`.
fn run_on(
    device: &Device,
    config: &RunConfig,
    data: &ImageDataset,
    record: &burn::tensor::Bytes,
    steps: usize,
) -> (Vec<f32>, Vec<f32>) {
    let ad = device.clone().autodiff();
    let mlp = MlpConfig::from_spec(config.mlp().unwrap(), data.features(), data.classes);
    let mut model: Mlp = mlp
        .init(&ad)
        .load_record(ModuleRecord::from_bytes(record.clone()).unwrap());
    let mut optim = nnlab_runner::optim::build(&config.train, true);
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let order = shuffled(&data.train_indices(), config.seed, 0);
    let batch_tensors = |chunk: &[u32]| {
        let b = data.batch(chunk);
        (
            Tensor::<2>::from_data(TensorData::new(b.images, [b.size, data.features()]), &ad),
            Tensor::<1, Int>::from_data(TensorData::new(b.labels, [b.size]), &ad),
        )
    };
    let (x, _) = batch_tensors(&order[..32]);
    let logits = model
        .valid()
        .forward(x.inner())
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let mut losses = Vec::new();
    for chunk in order.chunks(config.train.batch_size).take(steps) {
        let (x, y) = batch_tensors(chunk);
        let loss = ce.forward(model.forward(x), y);
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(config.train.lr, model, grads);
    }
    (logits, losses)
}

#[test]
fn flex_and_ndarray_agree_on_forward_and_first_steps() {
    let tmp = tempfile::tempdir().unwrap();
    common::write_tiny(tmp.path(), "tiny", 640, 10);
    let data = ImageDataset::load(
        "tiny",
        &LoadOptions {
            root: tmp.path().to_path_buf(),
            download: false,
            verify: true,
        },
    )
    .unwrap();
    let config = RunConfig::parse(
        "name = \"parity\"\n[model]\nhidden = [32]\n[train]\nbatch_size = 32\n",
        "parity",
        &[],
    )
    .unwrap();
    // One set of initial weights for both backends.
    let flex = Device::flex();
    flex.seed(config.seed);
    let record = MlpConfig::from_spec(config.mlp().unwrap(), data.features(), data.classes)
        .init(&flex)
        .into_record()
        .into_bytes()
        .unwrap();

    let [(a_dev, a), (b_dev, b)] = devices();
    let (logits_a, losses_a) = run_on(&a_dev, &config, &data, &record, 20);
    let (logits_b, losses_b) = run_on(&b_dev, &config, &data, &record, 20);
    assert_eq!(logits_a.len(), 32 * 10);
    for (i, (x, y)) in logits_a.iter().zip(&logits_b).enumerate() {
        assert!((x - y).abs() < 1e-5, "logit {i}: {a} {x} vs {b} {y}");
    }
    for (step, (x, y)) in losses_a.iter().zip(&losses_b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * x.abs().max(1.0),
            "step {step}: {a} loss {x} vs {b} {y}"
        );
    }
    assert!(losses_a[19] < losses_a[0], "training moves: {losses_a:?}");
}
