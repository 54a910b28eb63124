//! A trained run's modules as one safetensors file in PyTorch's layouts, for PyTorch, a web page
//! or another burn program. burn-store writes each module (its `BurnToPyTorchAdapter` stores a
//! linear layer's weight `[out, in]` as `torch.nn.Linear` keeps it, where burn keeps `[in, out]`,
//! and names batch norm's `gamma`/`beta` `weight`/`bias`); the modules' files are merged into one,
//! each tensor named `<module>.<path in the module>` (`generator.layers.0.weight`).

use std::collections::HashMap;

use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use safetensors::tensor::{SafeTensors, TensorView};

use crate::error::{Error, Result};

fn export_error(e: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: "export".into(),
        message: e.to_string(),
    }
}

/// The safetensors bytes of `module` in PyTorch's layouts, its tensors named `prefix.<path>`.
pub fn module_bytes<M: ModuleSnapshot>(module: &M, prefix: &str) -> Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .with_key_remapping("^", format!("{prefix}."));
    module.save_into(&mut store).map_err(export_error)?;
    store.get_bytes().map_err(export_error)
}

/// One safetensors file holding every tensor of `parts` (each a safetensors file), with
/// `metadata` in its header. Two tensors of one name are refused.
pub fn merge(parts: &[Vec<u8>], metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let files: Vec<SafeTensors> = parts
        .iter()
        .map(|b| SafeTensors::deserialize(b).map_err(export_error))
        .collect::<Result<_>>()?;
    let mut views: Vec<(String, TensorView)> = Vec::new();
    for f in &files {
        for (name, view) in f.tensors() {
            if views.iter().any(|(n, _)| *n == name) {
                return Err(export_error(format!("two tensors named {name}")));
            }
            views.push((name, view));
        }
    }
    views.sort_by(|a, b| a.0.cmp(&b.0));
    safetensors::serialize(views, Some(metadata)).map_err(export_error)
}

/// Loads `module`'s parameters from safetensors `bytes` in PyTorch's layouts (what
/// [`module_bytes`] writes), its tensors named `prefix.<path>`; tensors of other prefixes are
/// left alone. A tensor the module has and the file lacks, or one of another shape or type, is
/// refused, naming it (`file` says where the bytes came from).
pub fn load_module<M: ModuleSnapshot>(
    module: &mut M,
    bytes: &[u8],
    prefix: &str,
    file: &std::path::Path,
) -> Result<()> {
    let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()))
        .with_from_adapter(PyTorchToBurnAdapter)
        .skip_enum_variants(true)
        .with_key_remapping(format!("^{prefix}\\."), "")
        .allow_partial(true)
        .validate(false);
    let result = module
        .load_from(&mut store)
        .map_err(|e| Error::Config(format!("train.init_from: {}: {e}", file.display())))?;
    // Shapes as the file holds them: a linear weight is [out, in] there, [in, out] in burn.
    let file_layout = |s: &[usize]| -> Vec<usize> {
        if s.len() == 2 {
            vec![s[1], s[0]]
        } else {
            s.to_vec()
        }
    };
    let mut problems: Vec<String> = result
        .errors
        .iter()
        .map(|e| match e {
            burn::store::ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => format!(
                "tensor `{prefix}.{path}` has shape {:?} in the file, the model needs {:?}",
                file_layout(found.as_slice()),
                file_layout(expected.as_slice())
            ),
            other => format!("{prefix}.{other}"),
        })
        .collect();
    problems.extend(
        result
            .missing
            .iter()
            .map(|(path, _)| format!("no tensor `{prefix}.{path}`")),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "config: key `train.init_from`: {}: {} (PyTorch's layouts: a linear weight [out, in])",
            file.display(),
            problems.join("; ")
        )))
    }
}

/// A generator as plain numbers, for a sampler outside burn (the page `nnlab export` writes):
/// dense layers with their nonlinearities, and a check, the images `nnlab generate --seed 0`
/// draws first with the noise that drew them.
#[derive(Debug, Clone)]
pub struct Sampler {
    /// Dimension of the noise.
    pub latent: usize,
    /// Image side (square, grey).
    pub side: usize,
    /// The dense layers, input first.
    pub layers: Vec<DenseLayer>,
    /// The noise of the check, `[n * latent]`.
    pub check_z: Vec<f32>,
    /// The images it gives in nnlab, `[n * side * side]` in `[0, 1]`.
    pub check_images: Vec<f32>,
}

/// One dense layer as plain numbers.
#[derive(Debug, Clone)]
pub struct DenseLayer {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// `[inputs * outputs]`, row-major as burn keeps it (`y = x W + b`).
    pub weight: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
    /// The nonlinearity after it, by name.
    pub activation: String,
}

/// The numbers of `layers` (dense layers and their nonlinearities).
pub fn plain_layers(layers: Vec<(&burn::nn::Linear, String)>) -> Vec<DenseLayer> {
    let host = |t: burn::prelude::Tensor<1>| -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 weights")
    };
    layers
        .into_iter()
        .map(|(l, act)| {
            let w = l.weight.val();
            let [inputs, outputs] = w.dims();
            let weight = host(w.reshape([inputs * outputs]));
            let bias = l
                .bias
                .as_ref()
                .map_or(vec![0.0; outputs], |b| host(b.val()));
            DenseLayer {
                inputs,
                outputs,
                weight,
                bias,
                activation: act,
            }
        })
        .collect()
}
