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

/// The tensor names of the safetensors files `parts`, in file order.
pub fn tensor_names<B: AsRef<[u8]>>(parts: &[B]) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for p in parts {
        let file = SafeTensors::deserialize(p.as_ref()).map_err(export_error)?;
        names.extend(file.names().into_iter().map(String::from));
    }
    Ok(names)
}

/// One safetensors file holding every tensor of `parts` (each a safetensors file), each renamed
/// by `rename`, with `metadata` in its header. Two tensors of one name are refused.
pub fn merge<B: AsRef<[u8]>>(
    parts: &[B],
    rename: impl Fn(&str) -> String,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let files: Vec<SafeTensors> = parts
        .iter()
        .map(|b| SafeTensors::deserialize(b.as_ref()).map_err(export_error))
        .collect::<Result<_>>()?;
    let mut views: Vec<(String, TensorView)> = files
        .iter()
        .flat_map(|f| f.tensors())
        .map(|(n, v)| (rename(&n), v))
        .collect();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = views.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(export_error(format!("two tensors named {}", w[0].0)));
    }
    safetensors::serialize(views, Some(metadata)).map_err(export_error)
}

/// `t`'s values as a new leaf of the autodiff graph, tracked when `tracked`: through the host,
/// since an operation on the device (a cast, a square) would make a node of the graph, which
/// cannot be trained as a parameter.
pub fn leaf<const D: usize>(t: burn::tensor::Tensor<D>, tracked: bool) -> burn::tensor::Tensor<D> {
    let device = t.device();
    let data = t.into_data();
    let dtype = data.dtype();
    let t = burn::tensor::Tensor::from_data(data, (&device, dtype));
    if tracked { t.require_grad() } else { t }
}

/// `module` with every float parameter and buffer cast to `dtype` (a no-op for those already
/// in it), each still trained or not as before: what a module loaded from a record or a file of
/// another precision needs on a device of `train.float_dtype`.
pub fn cast_floats<M: burn::module::Module>(module: M, dtype: burn::tensor::FloatDType) -> M {
    module.map(&mut CastTo(dtype))
}

/// See [`cast_floats`].
struct CastTo(burn::tensor::FloatDType);

impl burn::module::ModuleMapper for CastTo {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::tensor::Tensor<D>>,
    ) -> burn::module::Param<burn::tensor::Tensor<D>> {
        let dtype = self.0;
        param.map(|t| {
            if t.dtype() == dtype.into() {
                return t;
            }
            let trained = t.is_require_grad();
            leaf(t.detach().cast(dtype), trained)
        })
    }
}

/// Loads `module`'s parameters from safetensors `bytes` in PyTorch's layouts (what
/// [`module_bytes`] writes), its tensors named `prefix.<path>`; tensors of other prefixes are
/// left alone. A tensor the module has and the file lacks, one of another shape or type, or one
/// under `prefix` the module has no place for, is refused, naming it (`file` says where the
/// bytes came from).
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
    // A tensor of this module's in the file that the module has no place for (PyTorch's batch
    // norm step counter aside, which burn keeps none of).
    let own: std::collections::HashSet<String> = tensor_names(&[bytes])?
        .into_iter()
        .filter_map(|n| n.strip_prefix(&format!("{prefix}.")).map(str::to_string))
        .collect();
    problems.extend(
        result
            .unused
            .iter()
            .filter(|u| own.contains(*u) && !u.ends_with("num_batches_tracked"))
            .map(|u| format!("the file's tensor `{prefix}.{u}` has no place in the model")),
    );
    if problems.is_empty() {
        // The file's dtype (PyTorch's f32, say) becomes the device's (`train.float_dtype`).
        if let Some(device) = module.devices().first() {
            *module = cast_floats(module.clone(), device.settings().float_dtype);
        }
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
/// its layers with their nonlinearities, and a check, the images `nnlab generate --seed 0`
/// draws first with the noise that drew them.
#[derive(Debug, Clone)]
pub struct Sampler {
    /// Dimension of the noise.
    pub latent: usize,
    /// Image side (square, grey).
    pub side: usize,
    /// The layers, input first.
    pub layers: Vec<PlainLayer>,
    /// The noise of the check, `[n * latent]`.
    pub check_z: Vec<f32>,
    /// The images it gives in nnlab, `[n * side * side]` in `[0, 1]`.
    pub check_images: Vec<f32>,
    /// The distribution new noise is drawn from: `normal` or `uniform` (on `[-sqrt 3, sqrt 3]`).
    pub noise: String,
}

impl Sampler {
    /// A sampler of `layers` whose check is `images`, which nnlab drew from the noise `z`
    /// (`[n, latent]`); `None` if `z` cannot be read as f32.
    pub fn checked(
        layers: Vec<PlainLayer>,
        z: burn::prelude::Tensor<2>,
        images: crate::pictures::Images,
    ) -> Option<Self> {
        Some(Self {
            latent: z.dims()[1],
            side: images.height,
            layers,
            check_z: z.into_data().convert::<f32>().try_into_vec::<f32>().ok()?,
            check_images: images.pixels,
            noise: "normal".into(),
        })
    }
}

/// One layer of a generator as plain numbers, each followed by its nonlinearity (by name).
#[derive(Debug, Clone)]
pub enum PlainLayer {
    /// `y = x W + b` on a flat vector.
    Dense(DenseLayer),
    /// `y = x * scale[c] + shift[c]` on `[channels, h, w]`: batch normalisation in evaluation
    /// mode, folded (`scale = gamma / sqrt(running_var + eps)`, `shift = beta - running_mean *
    /// scale`).
    Affine {
        /// `[channels]`.
        scale: Vec<f32>,
        /// `[channels]`.
        shift: Vec<f32>,
        /// The nonlinearity after it.
        activation: String,
    },
    /// A transposed convolution of square kernels on `[in_channels, side, side]`.
    ConvTranspose {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Kernel side.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding.
        padding: usize,
        /// `[in_channels, out_channels, kernel, kernel]`, row-major (PyTorch's and burn's layout).
        weight: Vec<f32>,
        /// `[out_channels]`.
        bias: Vec<f32>,
        /// The nonlinearity after it.
        activation: String,
    },
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

/// A tensor's values in host memory.
fn host<const D: usize>(t: burn::prelude::Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 weights")
}

/// The numbers of a generator's `layers`. A transposed convolution with unequal sides,
/// dilation or groups is refused (`None`): the page does not draw those.
pub fn plain_layers(layers: Vec<nnlab_models::gan::GeneratorLayer<'_>>) -> Option<Vec<PlainLayer>> {
    use nnlab_models::gan::GeneratorLayer;
    layers
        .into_iter()
        .map(|layer| match layer {
            GeneratorLayer::Dense(l, activation) => {
                let w = l.weight.val();
                let [inputs, outputs] = w.dims();
                let bias = l
                    .bias
                    .as_ref()
                    .map_or(vec![0.0; outputs], |b| host(b.val()));
                Some(PlainLayer::Dense(DenseLayer {
                    inputs,
                    outputs,
                    weight: host(w),
                    bias,
                    activation,
                }))
            }
            GeneratorLayer::BatchNorm(bn, activation) => {
                let inv = bn.running_var.value().add_scalar(bn.epsilon).sqrt().recip();
                let scale = bn.gamma.val() * inv;
                let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
                Some(PlainLayer::Affine {
                    scale: host(scale),
                    shift: host(shift),
                    activation,
                })
            }
            GeneratorLayer::ConvTranspose(c, activation) => {
                let [in_channels, out_channels, k0, k1] = c.weight.dims();
                let square = k0 == k1
                    && c.stride[0] == c.stride[1]
                    && c.padding[0] == c.padding[1]
                    && c.dilation == [1, 1]
                    && c.groups == 1
                    && c.padding_out == [0, 0];
                square.then(|| PlainLayer::ConvTranspose {
                    in_channels,
                    out_channels,
                    kernel: k0,
                    stride: c.stride[0],
                    padding: c.padding[0],
                    weight: host(c.weight.val()),
                    bias: c
                        .bias
                        .as_ref()
                        .map_or(vec![0.0; out_channels], |b| host(b.val())),
                    activation,
                })
            }
        })
        .collect()
}

/// The name PyTorch's twin of a `kind` model in `bench/peers/` gives the tensor nnlab's export
/// names `name`, with `convs` the model's convolutions (a CNN's Sequential counts its layers):
///
/// - `mlp` (`torch_mlp_throughput.py`, a Sequential of Linear and ReLU): `model.layers.1.weight`
///   is `2.weight`;
/// - `cnn` (`torch_lenet.py`: conv, tanh, pool per convolution, then Flatten, then Linear and
///   tanh): `model.convs.1.weight` is `3.weight`, `model.dense.0.weight` is `7.weight`;
/// - `vae` (`torch_vae.py`): `enc`, `mu`, `log_var`, `dec1`, `dec2` (`enc1`, `enc2`, ... for
///   several encoder layers);
/// - `gan` (`torch_gan.py`, a ModuleList per network): `generator.layers.0.weight` is
///   `generator.0.weight`;
/// - `dcgan` (`torch_dcgan.py`): the fields already have the twin's names, under `generator.`
///   and `discriminator.`.
///
/// Other names (batch norms the twins lack) are kept.
pub fn torch_name(kind: &str, name: &str, convs: usize, encoders: usize) -> String {
    let index_of = |rest: &str| -> Option<(usize, String)> {
        let (i, tail) = rest.split_once('.')?;
        Some((i.parse().ok()?, tail.to_string()))
    };
    let mapped = match kind {
        "mlp" => name
            .strip_prefix("model.layers.")
            .and_then(index_of)
            .map(|(i, tail)| format!("{}.{tail}", 2 * i)),
        "cnn" => name
            .strip_prefix("model.convs.")
            .and_then(index_of)
            .map(|(i, tail)| format!("{}.{tail}", 3 * i))
            .or_else(|| {
                name.strip_prefix("model.dense.")
                    .and_then(index_of)
                    .map(|(j, tail)| format!("{}.{tail}", 3 * convs + 1 + 2 * j))
            }),
        "vae" => {
            let rest = name.strip_prefix("model.");
            rest.and_then(|r| r.strip_prefix("encoder."))
                .and_then(index_of)
                .map(|(i, tail)| {
                    if encoders == 1 {
                        format!("enc.{tail}")
                    } else {
                        format!("enc{}.{tail}", i + 1)
                    }
                })
                .or_else(|| {
                    rest.and_then(|r| r.strip_prefix("decoder."))
                        .and_then(index_of)
                        .map(|(i, tail)| format!("dec{}.{tail}", i + 1))
                })
                .or_else(|| rest.map(str::to_string))
        }
        "gan" => ["generator", "discriminator"].iter().find_map(|m| {
            name.strip_prefix(&format!("{m}.layers."))
                .and_then(index_of)
                .map(|(i, tail)| format!("{m}.{i}.{tail}"))
        }),
        _ => None,
    };
    mapped.unwrap_or_else(|| name.to_string())
}

/// How many convolutions and encoder layers the export's tensor `names` show (for
/// [`torch_name`]).
pub fn layer_counts(names: &[String]) -> (usize, usize) {
    let count = |prefix: &str| {
        let mut seen: Vec<&str> = names
            .iter()
            .filter_map(|n| n.strip_prefix(prefix)?.split('.').next())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    };
    (count("model.convs."), count("model.encoder."))
}

#[cfg(test)]
mod tests {
    use super::torch_name;

    #[test]
    fn the_twins_names() {
        // bench/peers/torch_mlp_throughput.py: Sequential(Linear, ReLU, Linear).
        assert_eq!(torch_name("mlp", "model.layers.0.weight", 0, 0), "0.weight");
        assert_eq!(torch_name("mlp", "model.layers.1.bias", 0, 0), "2.bias");
        // bench/peers/torch_lenet.py: conv, tanh, pool, conv, tanh, pool, flatten, Linear x 3.
        let lenet = |n| torch_name("cnn", n, 2, 0);
        assert_eq!(lenet("model.convs.0.weight"), "0.weight");
        assert_eq!(lenet("model.convs.1.bias"), "3.bias");
        assert_eq!(lenet("model.dense.0.weight"), "7.weight");
        assert_eq!(lenet("model.dense.2.bias"), "11.bias");
        // bench/peers/torch_vae.py: enc, mu, log_var, dec1, dec2.
        let vae = |n| torch_name("vae", n, 0, 1);
        assert_eq!(vae("model.encoder.0.weight"), "enc.weight");
        assert_eq!(vae("model.mu.bias"), "mu.bias");
        assert_eq!(vae("model.log_var.weight"), "log_var.weight");
        assert_eq!(vae("model.decoder.1.weight"), "dec2.weight");
        assert_eq!(torch_name("vae", "model.encoder.1.bias", 0, 2), "enc2.bias");
        // bench/peers/torch_gan.py: a ModuleList per network; torch_dcgan.py: the same fields.
        assert_eq!(
            torch_name("gan", "discriminator.layers.1.weight", 0, 0),
            "discriminator.1.weight"
        );
        assert_eq!(
            torch_name("dcgan", "generator.project.weight", 0, 0),
            "generator.project.weight"
        );
    }
}
