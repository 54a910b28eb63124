//! [`Adam`] over a whole module in host memory (CPU backends), as one burn [`ModuleMapper`]
//! walk per step.
//!
//! burn's [`ModuleOptimizer`](burn::optim::ModuleOptimizer) runs any per-tensor
//! [`Optimizer`](burn::optim::Optimizer) and pays, for every parameter and step, for what that
//! generality needs: the module path as a string, the parameter's group and learning rate
//! looked up, its state boxed as a type-erased `Arc` and moved to the parameter's device, and
//! the gradients first gathered into a [`GradientsParams`] map. For the article's MLP (four
//! parameters, a step of about 0.1 ms) that bookkeeping cost more than the update of its 25,450
//! weights. Here the state is a plain map from [`ParamId`] to host vectors, and the gradients
//! can be taken straight from the backward pass's [`Gradients`].
//!
//! The state is saved in the burnpack layout of `ModuleOptimizer`'s record (per parameter id:
//! tensors `<id>.moment_1` and `<id>.moment_2`, scalars `<id>.time` and `<id>.__rank`), so a
//! checkpoint written by either loads into the other. Left out, as nnlab uses none of them:
//! parameter groups, gradient clipping, the module paths `ModuleOptimizer` records beside the
//! state (only used to match groups), and the "distributed" mark of burn's multi-device
//! training, which an updated parameter does not carry over.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::{Bytes, Gradients};
use burn_pack::Scalar;

use super::adam::{Adam, MOMENT_1, MOMENT_2, RANK, TIME, step_count};

/// One parameter's Adam state.
#[derive(Debug, Clone)]
struct ParamState {
    /// Steps taken (`t`).
    time: usize,
    /// First moment `m`.
    m: Vec<f32>,
    /// Second moment `v`.
    v: Vec<f32>,
    /// Shape of the parameter.
    shape: Vec<usize>,
}

/// Adam or AdamW on a whole module, its state in host memory.
#[derive(Clone)]
pub struct HostAdam {
    adam: Adam,
    states: HashMap<ParamId, ParamState>,
}

impl std::fmt::Debug for HostAdam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostAdam")
            .field("adam", &self.adam)
            .field("parameters", &self.states.len())
            .finish()
    }
}

/// Where a step's gradients come from.
enum Grads<'a> {
    /// The backward pass's own gradients, taken per parameter.
    Backward(&'a mut Gradients),
    /// Gradients already gathered per parameter (e.g. summed over devices).
    Params(&'a mut GradientsParams),
}

/// The walk of one step over the module's float parameters.
struct Step<'a> {
    adam: &'a Adam,
    lr: f64,
    states: &'a mut HashMap<ParamId, ParamState>,
    grads: Grads<'a>,
}

impl ModuleMapper for Step<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        // What autodiff state the parameter carries, to put back on the updated value.
        let require_grad = tensor.is_require_grad();
        let grad = match &mut self.grads {
            // Only a tracked parameter has a gradient (and may be asked for one).
            Grads::Backward(g) if require_grad => tensor.grad_remove(g),
            Grads::Backward(_) => None,
            Grads::Params(g) => g.remove::<D>(id),
        };
        let Some(grad) = grad else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let strategy = tensor.gradient_checkpointing_strategy();
        let device = grad.device();
        let mut w = tensor.inner().into_data().convert::<f32>();
        let g = grad.into_data().convert::<f32>();
        let n = g.num_elements();
        let state = self.states.entry(id).or_insert_with(|| ParamState {
            time: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
            shape: g.shape().to_vec(),
        });
        assert!(
            state.shape[..] == g.shape()[..],
            "Adam's state for parameter {id} has shape {:?}, the parameter {:?}: a state \
             loaded from another model's checkpoint?",
            state.shape,
            g.shape()
        );
        state.time += 1;
        self.adam.update_host(
            self.lr,
            state.time,
            w.as_mut_slice::<f32>().expect("parameters are f32"),
            g.as_slice::<f32>().expect("gradients are f32"),
            &mut state.m,
            &mut state.v,
        );
        let mut updated = Tensor::from_inner(Tensor::from_data(w, &device));
        if let Some(strategy) = strategy {
            updated = updated.with_gradient_checkpointing_strategy(strategy);
        }
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

impl HostAdam {
    /// `adam` with no state yet.
    pub fn new(adam: Adam) -> Self {
        Self {
            adam,
            states: HashMap::new(),
        }
    }

    /// `module` after one step at learning rate `lr` with the gradients of a backward pass.
    pub fn step_backward<M: Module>(&mut self, lr: f64, module: M, mut grads: Gradients) -> M {
        self.walk(lr, module, Grads::Backward(&mut grads))
    }

    /// `module` after one step at learning rate `lr` with gradients gathered per parameter.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, mut grads: GradientsParams) -> M {
        self.walk(lr, module, Grads::Params(&mut grads))
    }

    fn walk<M: Module>(&mut self, lr: f64, module: M, grads: Grads<'_>) -> M {
        module.map(&mut Step {
            adam: &self.adam,
            lr,
            states: &mut self.states,
            grads,
        })
    }

    /// The state as burnpack bytes, in `ModuleOptimizer`'s layout.
    pub fn to_bytes(&self) -> Result<Bytes, String> {
        let mut ids: Vec<&ParamId> = self.states.keys().collect();
        ids.sort_by_key(|id| id.val());
        let mut tensors = Vec::new();
        let mut writer_scalars = Vec::new();
        for id in ids {
            let s = &self.states[id];
            let prefix = id.val().to_string();
            for (leaf, values) in [(MOMENT_1, &s.m), (MOMENT_2, &s.v)] {
                let data = TensorData::new(values.clone(), s.shape.clone());
                let (bytes, shape, dtype) = data.into_parts();
                tensors.push(burn_pack::Tensor::new(
                    format!("{prefix}.{leaf}"),
                    dtype,
                    shape,
                    Some(id.val()),
                    bytes,
                ));
            }
            writer_scalars.push((format!("{prefix}.{TIME}"), Scalar::UInt(s.time as u64)));
            writer_scalars.push((format!("{prefix}.{RANK}"), Scalar::from(s.shape.len())));
        }
        let mut writer = burn_pack::Writer::new(tensors);
        for (key, value) in &writer_scalars {
            writer = writer.with_scalar(key, *value);
        }
        writer.into_bytes().map_err(|e| e.to_string())
    }

    /// Replaces the state with the one in `bytes` (from [`to_bytes`](Self::to_bytes) or from
    /// a `ModuleOptimizer` running [`Adam`]); on an error the state is left as it was.
    pub fn load_bytes(&mut self, bytes: Bytes) -> Result<(), String> {
        let reader = burn_pack::Reader::from_bytes(bytes).map_err(|e| e.to_string())?;
        let scalars = reader.scalars().clone();
        let mut moments: HashMap<u64, [Option<TensorData>; 2]> = HashMap::new();
        for tensor in reader.into_tensors().map_err(|e| e.to_string())? {
            let (name, dtype, shape, param_id, bytes) =
                tensor.into_parts().map_err(|e| e.to_string())?;
            let id = param_id.ok_or_else(|| format!("tensor `{name}` names no parameter"))?;
            let slot = [MOMENT_1, MOMENT_2]
                .iter()
                .position(|leaf| name == format!("{id}.{leaf}"))
                .ok_or_else(|| {
                    format!("tensor `{name}` is not an Adam moment of parameter {id}")
                })?;
            moments.entry(id).or_default()[slot] =
                Some(TensorData::from_bytes(bytes, shape, dtype));
        }
        let mut states = HashMap::new();
        for (id, [m, v]) in moments {
            let (Some(m), Some(v)) = (m, v) else {
                return Err(format!("parameter {id} has only one of its two moments"));
            };
            let shape = m.shape().to_vec();
            if v.shape().to_vec() != shape {
                return Err(format!(
                    "parameter {id}: moments of shapes {shape:?} and {:?}",
                    v.shape().to_vec()
                ));
            }
            if let Some(rank) = scalars.get(&format!("{id}.{RANK}"))
                && usize::try_from(*rank).ok() != Some(shape.len())
            {
                return Err(format!(
                    "parameter {id}: rank {rank:?} for moments of shape {shape:?}"
                ));
            }
            let time = scalars
                .get(&format!("{id}.{TIME}"))
                .and_then(|t| step_count(*t))
                .ok_or_else(|| format!("parameter {id} has no step count"))?;
            let vec = |t: TensorData| {
                t.convert::<f32>()
                    .try_into_vec::<f32>()
                    .map_err(|e| format!("parameter {id}: {e:?}"))
            };
            states.insert(
                ParamId::from(id),
                ParamState {
                    time,
                    m: vec(m)?,
                    v: vec(v)?,
                    shape,
                },
            );
        }
        self.states = states;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Optim;
    use crate::optim::adam::tests::adam;
    use burn::nn::{Linear, LinearConfig};
    use nnlab_config::EpsilonPlacement;

    fn setup() -> (Linear, Tensor<2>) {
        let device = Device::flex().autodiff();
        device.seed(3);
        let layer = LinearConfig::new(6, 4).init(&device);
        let x = Tensor::<2>::random([5, 6], burn::tensor::Distribution::Default, &device);
        (layer, x)
    }

    fn grads(layer: &Linear, x: &Tensor<2>) -> Gradients {
        layer.forward(x.clone()).powi_scalar(2).sum().backward()
    }

    fn weights(layer: &Linear) -> Vec<u32> {
        let w = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let b = layer
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        w.iter().chain(&b).map(|v| v.to_bits()).collect()
    }

    /// Saved after 4 steps and loaded into a fresh optimizer, 3 more steps give the same bits
    /// as 7 steps without the stop; gradients gathered per parameter step as the backward
    /// pass's do.
    #[test]
    fn resumes_exactly_and_takes_either_form_of_gradients() {
        let (layer, x) = setup();
        let adam = adam(EpsilonPlacement::Keras);
        let mut straight = HostAdam::new(adam.clone());
        let mut a = layer.clone();
        for _ in 0..7 {
            a = straight.step_backward(1e-2, a.clone(), grads(&a, &x));
        }
        let mut first = HostAdam::new(adam.clone());
        let mut b = layer;
        for _ in 0..4 {
            let g = GradientsParams::from_grads(grads(&b, &x), &b);
            b = first.step(1e-2, b.clone(), g);
        }
        let mut resumed = HostAdam::new(adam);
        resumed.load_bytes(first.to_bytes().unwrap()).unwrap();
        for _ in 0..3 {
            b = resumed.step_backward(1e-2, b.clone(), grads(&b, &x));
        }
        assert_eq!(weights(&a), weights(&b));
    }

    /// The state crosses between burn's `ModuleOptimizer` (Adam as tensor operations) and
    /// `HostAdam` both ways: after 3 steps on one and a save, a step on the other matches a
    /// fourth step on the first (to f32 rounding).
    #[test]
    fn state_moves_between_module_optimizer_and_host_adam() {
        let (layer, x) = setup();
        let adam = adam(EpsilonPlacement::Pytorch);
        let fresh = |host: bool| {
            if host {
                Optim::HostAdam(HostAdam::new(adam.clone()))
            } else {
                Optim::Module(adam.clone().into())
            }
        };
        for host in [true, false] {
            let mut one = fresh(host);
            let mut a = layer.clone();
            for _ in 0..3 {
                a = one.step_backward(1e-2, a.clone(), grads(&a, &x));
            }
            let mut other = fresh(!host);
            other.load_bytes(one.to_bytes().unwrap()).unwrap();
            let b = other.step_backward(1e-2, a.clone(), grads(&a, &x));
            let a = one.step_backward(1e-2, a.clone(), grads(&a, &x));
            let value = |l: &Linear| l.weight.val().into_data().try_to_vec::<f32>().unwrap();
            for (u, v) in value(&a).iter().zip(&value(&b)) {
                assert!((u - v).abs() < 1e-6, "from host {host}: {u} vs {v}");
            }
            // A fresh optimizer's first step moves differently: the state did carry over.
            let c = fresh(!host).step_backward(1e-2, a.clone(), grads(&a, &x));
            assert_ne!(weights(&c), weights(&b));
        }
    }

    /// Bytes that are no Adam state are refused with a reason, the state left as it was.
    #[test]
    fn refuses_foreign_state() {
        let mut sgd = burn::optim::SgdConfig::new()
            .with_momentum(Some(burn::optim::momentum::MomentumConfig::new()))
            .init();
        let (layer, x) = setup();
        let g = GradientsParams::from_grads(grads(&layer, &x), &layer);
        let _ = sgd.step(1e-2, layer.clone(), g);
        let bytes = sgd.to_record().into_bytes().unwrap();
        let mut host = HostAdam::new(adam(EpsilonPlacement::Keras));
        let _ = host.step_backward(1e-2, layer.clone(), grads(&layer, &x));
        let before = host.to_bytes().unwrap();
        let e = host.load_bytes(bytes).unwrap_err();
        assert!(e.contains("is not an Adam moment"), "{e}");
        assert_eq!(&*host.to_bytes().unwrap(), &*before);
    }

    /// A parameter without a gradient keeps its value, and gets no state (its step count does
    /// not start).
    #[test]
    fn a_parameter_without_gradient_is_left_alone() {
        let (layer, x) = setup();
        let mut all = GradientsParams::from_grads(grads(&layer, &x), &layer);
        let bias = layer.bias.as_ref().unwrap();
        let _ = all.remove::<1>(bias.id);
        let mut host = HostAdam::new(adam(EpsilonPlacement::Keras));
        let stepped = host.step(1e-2, layer.clone(), all);
        let value = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(
            value(stepped.bias.as_ref().unwrap().val()),
            value(bias.val())
        );
        assert_ne!(
            stepped
                .weight
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            layer.weight.val().into_data().try_to_vec::<f32>().unwrap()
        );
        assert_eq!(host.states.len(), 1);
        assert!(host.states.contains_key(&layer.weight.id));
    }

    /// Records that do not hold a whole Adam state are refused, saying what is wrong.
    #[test]
    fn refuses_incomplete_records() {
        let moment = |name: &str, shape: Vec<usize>| {
            let n = shape.iter().product();
            let (bytes, shape, dtype) = TensorData::new(vec![0.5f32; n], shape).into_parts();
            burn_pack::Tensor::new(name.into(), dtype, shape, Some(7), bytes)
        };
        let record = |tensors: Vec<burn_pack::Tensor>, time: bool| {
            let writer = burn_pack::Writer::new(tensors);
            let writer = if time {
                writer.with_scalar("7.time", Scalar::UInt(3))
            } else {
                writer
            };
            writer.into_bytes().unwrap()
        };
        let cases = [
            (
                record(vec![moment("7.moment_1", vec![2, 3])], true),
                "only one of its two moments",
            ),
            (
                record(
                    vec![
                        moment("7.moment_1", vec![2, 3]),
                        moment("7.moment_2", vec![3, 2]),
                    ],
                    true,
                ),
                "moments of shapes",
            ),
            (
                record(
                    vec![
                        moment("7.moment_1", vec![2, 3]),
                        moment("7.moment_2", vec![2, 3]),
                    ],
                    false,
                ),
                "no step count",
            ),
            (
                record(vec![moment("8.moment_1", vec![2])], true),
                "is not an Adam moment of parameter 7",
            ),
        ];
        for (bytes, why) in cases {
            let mut host = HostAdam::new(adam(EpsilonPlacement::Keras));
            let e = host.load_bytes(bytes).unwrap_err();
            assert!(e.contains(why), "{e} (expected: {why})");
        }
        let mut host = HostAdam::new(adam(EpsilonPlacement::Keras));
        let whole = record(
            vec![
                moment("7.moment_1", vec![2, 3]),
                moment("7.moment_2", vec![2, 3]),
            ],
            true,
        );
        host.load_bytes(whole).unwrap();
        assert_eq!(host.states[&ParamId::from(7)].time, 3);
    }
}
