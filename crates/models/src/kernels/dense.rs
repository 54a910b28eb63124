//! A dense (fully connected) layer with its nonlinearity, `y = f(x W + b)`, the building block
//! of the article's network (Rumelhart, Hinton & Williams 1986, "Learning representations by
//! back-propagating errors", Nature 323), and its gradients
//! `dz = dy * f'(z)`, `dW = x^T dz`, `db = sum over the batch of dz`, `dx = dz W^T`.
//!
//! On burn-flex this runs as one burn backend extension, one node of burn's autodiff graph:
//! the forward pass is one matrix product and one pass adding the bias and applying `f`; the
//! backward pass one pass for `dz` (from the saved output `y`: `f'` of ReLU is `y > 0`, of tanh
//! `1 - y^2`, of a leaky ReLU with a positive slope `1` or the slope by the sign of `y`) and the
//! bias gradient, then the matrix products. burn's `Linear` followed by an activation records
//! five to six nodes (reshapes, product, broadcast add, activation), each with its own buffers
//! and bookkeeping, which for the article's small layers cost more than their arithmetic. The
//! products call the `gemm` crate as burn-flex does ([`crate::flex::matmul`]), so values are
//! those of burn's operations, bit for bit for ReLU, leaky ReLU and no activation (tanh is
//! [`crate::fast_math`]'s, within a few ulp of burn's). Other backends, and other activations,
//! use burn's `Linear` and [`crate::activation::apply`].
//!
//! # Shapes
//! - `x`: `[batch, inputs]`
//! - `W`: `[inputs, outputs]` (burn's `Linear` layout), `b`: `[outputs]`
//! - returns `[batch, outputs]`

use burn::nn::Linear;
use burn::prelude::*;

use crate::activation::{self, Activation};

/// `f(x W + b)` for `layer` (weights `W`, bias `b`) and `act` (`f`). On flex (f32, with a bias,
/// and ReLU, leaky ReLU, tanh or no activation), the fused extension; elsewhere burn's `Linear`
/// and [`activation::apply`].
pub fn dense(layer: &Linear, x: Tensor<2>, act: Activation) -> Tensor<2> {
    fused(layer, x, Kind::of(act), |x| {
        activation::apply(act, layer.forward(x))
    })
}

/// Dense layers one after the other, `act` after each but the last and `last` after that one:
/// `[batch, inputs]` -> `[batch, outputs of the last layer]` (`x` itself for no layers).
pub fn stack(layers: &[Linear], x: Tensor<2>, act: Activation, last: Activation) -> Tensor<2> {
    let n = layers.len();
    layers.iter().enumerate().fold(x, |h, (i, layer)| {
        dense(layer, h, if i + 1 == n { last } else { act })
    })
}

/// `leaky_relu(x W + b, slope)`: the layer with leaky units (the GANs' slope 0.2), fused on flex
/// as [`dense`] is for a `slope` positive in f32 (the backward pass reads the sign of `z` off
/// the output's); other slopes take the layer and [`crate::leaky_relu`] apart.
pub fn dense_leaky(layer: &Linear, x: Tensor<2>, slope: f64) -> Tensor<2> {
    let kind = ((slope as f32) > 0.0).then_some(Kind::LeakyRelu(slope));
    fused(layer, x, kind, |x| {
        crate::leaky_relu::leaky_relu(layer.forward(x), slope)
    })
}

/// The nonlinearities the kernel applies itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// `max(z, 0)`.
    Relu,
    /// `z` for `z >= 0`, else `slope z` (`slope > 0`; applied in the tensors' precision).
    LeakyRelu(f64),
    /// `tanh z`.
    Tanh,
    /// `z` (the logits layer).
    Identity,
}

impl Kind {
    /// The kernel's nonlinearity for `act`, if it applies it itself.
    pub fn of(act: Activation) -> Option<Self> {
        match act {
            Activation::Relu => Some(Kind::Relu),
            Activation::LeakyRelu => Some(Kind::LeakyRelu(Activation::LEAKY_SLOPE)),
            Activation::Tanh => Some(Kind::Tanh),
            Activation::Identity => Some(Kind::Identity),
            _ => None,
        }
    }

    /// ReLU or leaky ReLU in place on `z`, as burn-flex computes them (a NaN stays NaN, so a
    /// diverging run is still seen; -0 becomes +0); tanh and no activation leave `z` alone.
    #[cfg(feature = "flex")]
    #[inline(always)]
    pub(crate) fn rectify(self, z: &mut [f32]) {
        match self {
            Kind::Relu => z
                .iter_mut()
                .for_each(|z| *z = if *z > 0.0 || z.is_nan() { *z } else { 0.0 }),
            Kind::LeakyRelu(slope) => {
                let slope = slope as f32;
                z.iter_mut()
                    .for_each(|z| *z = if *z < 0.0 { *z * slope } else { *z })
            }
            Kind::Tanh | Kind::Identity => {}
        }
    }

    /// `g` times the slope of [`Kind::rectify`] read off its output `y` (a leaky unit's side
    /// by the sign of `y`, so its slope must be positive); tanh and no activation leave `g`.
    #[cfg(feature = "flex")]
    #[inline(always)]
    pub(crate) fn rectify_backward(self, g: &mut [f32], y: &[f32]) {
        let pairs = g.iter_mut().zip(y);
        match self {
            Kind::Relu => pairs.for_each(|(g, &y)| *g = if y <= 0.0 { 0.0 } else { *g }),
            Kind::LeakyRelu(slope) => {
                let slope = slope as f32;
                pairs.for_each(|(g, &y)| *g = if y < 0.0 { *g * slope } else { *g })
            }
            Kind::Tanh | Kind::Identity => {}
        }
    }
}

/// The fused layer where it runs (flex, f32, a bias, shapes that match, a `kind`); otherwise
/// `burns(x)`, the same with burn's operations.
fn fused(
    layer: &Linear,
    x: Tensor<2>,
    kind: Option<Kind>,
    burns: impl FnOnce(Tensor<2>) -> Tensor<2>,
) -> Tensor<2> {
    #[cfg(feature = "flex")]
    if let (Some(kind), Some(bias)) = (kind, &layer.bias) {
        let w = layer.weight.val();
        if crate::flex::on_flex(&x.device())
            && [x.dtype(), w.dtype(), bias.dtype()]
                .into_iter()
                .all(crate::flex::is_f32)
            && x.dims()[1] == w.dims()[0]
        {
            use burn::backend::Dispatch;
            let y = <Dispatch as extension::DenseBackend>::dense(
                x.into_dispatch(),
                w.into_dispatch(),
                bias.val().into_dispatch(),
                kind,
            );
            return Tensor::from_dispatch(y);
        }
    }
    let _ = (layer, kind);
    burns(x)
}

/// The forward pass after the product, in place on `z` `[n, o]`: `+ b` on every row, then the
/// activation (ReLU and leaky ReLU here, branch-free so that it runs several lanes at a time;
/// tanh is [`crate::fast_math`]'s own pass).
#[cfg(feature = "flex")]
struct ForwardPass<'a> {
    z: &'a mut [f32],
    b: &'a [f32],
    kind: Kind,
}

#[cfg(feature = "flex")]
impl pulp::WithSimd for ForwardPass<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for row in self.z.chunks_exact_mut(self.b.len()) {
            row.iter_mut().zip(self.b).for_each(|(z, &b)| *z += b);
        }
        self.kind.rectify(self.z);
    }
}

/// The backward pass before the products, in place on `dz` `[n, o]` (the upstream gradient on
/// entry, already times `1 - y^2` for tanh): times the activation's slope read off the output
/// `y`, then the bias gradient `db` `[o]` as its column sums.
#[cfg(feature = "flex")]
struct BackwardPass<'a> {
    dz: &'a mut [f32],
    y: &'a [f32],
    db: Option<&'a mut [f32]>,
    kind: Kind,
}

#[cfg(feature = "flex")]
impl pulp::WithSimd for BackwardPass<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        self.kind.rectify_backward(self.dz, self.y);
        if let Some(db) = self.db {
            for row in self.dz.chunks_exact(db.len()) {
                db.iter_mut().zip(row).for_each(|(s, &g)| *s += g);
            }
        }
    }
}

// How many times this thread ran the kernel: the tests check that it, not burn's fallback, ran.
#[cfg(all(test, feature = "flex"))]
thread_local! {
    static KERNEL_RUNS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(feature = "flex")]
mod extension {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::ops::FloatTensorOps;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};

    use super::Kind;
    use crate::{fast_math, flex};

    /// The layer on flex, f32, with matching shapes (checked by [`super::fused`]).
    #[backend_extension(Flex, Autodiff)]
    pub trait DenseBackend: Backend {
        /// `f(x W + b)`: `[n, i]`, `[i, o]`, `[o]` -> `[n, o]`.
        fn dense(
            x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            b: FloatTensor<Self>,
            kind: Kind,
        ) -> FloatTensor<Self>;
    }

    impl DenseBackend for Flex {
        fn dense(
            x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            b: FloatTensor<Self>,
            kind: Kind,
        ) -> FloatTensor<Self> {
            #[cfg(test)]
            super::KERNEL_RUNS.with(|n| n.set(n.get() + 1));
            let mut y = flex::matmul(x, w);
            let o = y.shape().dims::<2>()[1];
            let b = flex::values(&b);
            assert_eq!(b.len(), o, "dense: {} biases for {o} outputs", b.len());
            let values = y.storage_mut::<f32>();
            pulp::Arch::new().dispatch(super::ForwardPass {
                z: values,
                b: &b,
                kind,
            });
            if kind == Kind::Tanh {
                fast_math::tanh_accurate(values);
            }
            y
        }
    }

    /// What the backward pass keeps: the input, the weights, the output and the activation.
    #[derive(Debug, Clone)]
    struct Saved {
        x: FloatTensor<Flex>,
        w: FloatTensor<Flex>,
        y: FloatTensor<Flex>,
        kind: Kind,
    }

    /// The backward step: `dz` from the upstream gradient and the saved output in one pass,
    /// the bias gradient as its column sums, then `dW = x^T dz` and `dx = dz W^T` for the
    /// parents that are tracked.
    #[derive(Debug)]
    struct DenseGrad;

    impl Backward<Flex, 3> for DenseGrad {
        type State = Saved;

        fn backward(
            self,
            ops: Ops<Self::State, 3>,
            grads: &mut Gradients,
            _checkpointer: &mut Checkpointer,
        ) {
            let Saved { x, w, y, kind } = ops.state;
            let mut dz = flex::owned(grads.consume::<Flex>(&ops.node));
            let o = dz.shape().dims::<2>()[1];
            let d = dz.storage_mut::<f32>();
            let y = flex::values(&y);
            if kind == Kind::Tanh {
                fast_math::tanh_backward(d, &y);
            }
            let [px, pw, pb] = ops.parents;
            let mut db = pb.is_some().then(|| vec![0.0f32; o]);
            pulp::Arch::new().dispatch(super::BackwardPass {
                dz: d,
                y: &y,
                db: db.as_deref_mut(),
                kind,
            });
            if let (Some(node), Some(db)) = (pb, db) {
                grads.register::<Flex>(node.id, flex::tensor(db, [o]));
            }
            if let Some(node) = pw {
                let dw = flex::matmul(Flex::float_transpose(x), dz.clone());
                grads.register::<Flex>(node.id, dw);
            }
            if let Some(node) = px {
                grads.register::<Flex>(node.id, flex::matmul(dz, Flex::float_transpose(w)));
            }
        }
    }

    impl<C: CheckpointStrategy> DenseBackend for Autodiff<Flex, C> {
        fn dense(
            x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            b: FloatTensor<Self>,
            kind: Kind,
        ) -> FloatTensor<Self> {
            match DenseGrad
                .prepare::<C>([x.node(), w.node(), b.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (xp, wp) = (x.primitive().clone(), w.primitive().clone());
                    let y = Flex::dense(
                        x.into_primitive(),
                        w.into_primitive(),
                        b.into_primitive(),
                        kind,
                    );
                    let saved = Saved {
                        x: xp,
                        w: wp,
                        y: y.clone(),
                        kind,
                    };
                    prep.finish(saved, y)
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::dense(
                    x.into_primitive(),
                    w.into_primitive(),
                    b.into_primitive(),
                    kind,
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;

    /// A layer `2 -> 2` with `W = [[1, -2], [3, 4]]` (rows: inputs) and `b = [0.5, -1]`.
    fn layer(device: &Device) -> Linear {
        let mut l = LinearConfig::new(2, 2).init(device);
        let w = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, -2.0, 3.0, 4.0], [2, 2]),
            device,
        );
        let b = Tensor::<1>::from_data(TensorData::new(vec![0.5f32, -1.0], [2]), device);
        l.weight = l.weight.map(|_| w.require_grad());
        l.bias = l.bias.map(|p| p.map(|_| b.require_grad()));
        l
    }

    fn vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn relu_layer_by_hand() {
        // x = [1, 1]: z = [1 + 3 + 0.5, -2 + 4 - 1] = [4.5, 1]; x = [1, -1]: z = [-1.5, -7],
        // both cut to 0. Loss sum(y): dz = [[1, 1], [0, 0]], so dW = x^T dz = [[1, 1], [1, 1]],
        // db = [1, 1], dx = dz W^T = [[-1, 7], [0, 0]].
        let device = Device::flex().autodiff();
        let l = layer(&device);
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 1.0, 1.0, -1.0], [2, 2]),
            &device,
        )
        .require_grad();
        let y = dense(&l, x.clone(), Activation::Relu);
        assert_eq!(vec(y.clone().inner()), [4.5, 1.0, 0.0, 0.0]);
        let grads = y.sum().backward();
        assert_eq!(vec(l.weight.grad(&grads).unwrap()), [1.0, 1.0, 1.0, 1.0]);
        assert_eq!(
            vec(l.bias.as_ref().unwrap().grad(&grads).unwrap()),
            [1.0, 1.0]
        );
        assert_eq!(vec(x.grad(&grads).unwrap()), [-1.0, 7.0, 0.0, 0.0]);
    }

    /// On flex, two layers through the extension against burn's `Linear` and activations:
    /// values and the gradients of every weight, bias and the input, for `act` in the hidden
    /// layer, a transposed (strided) input and a loss that uses the output twice.
    #[cfg(feature = "flex")]
    fn against_burns(device: Device, act: Activation) {
        let _rng = crate::rng_lock();
        assert!(crate::flex::on_flex(&device), "the extension runs here");
        device.seed(3);
        let (l1, l2) = (
            LinearConfig::new(7, 5).init(&device),
            LinearConfig::new(5, 3).init(&device),
        );
        let xs: Vec<f32> = (0..28)
            .map(|i| ((i * 11 % 17) as f32 - 8.0) * 0.3)
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(xs, [7, 4]), &device).require_grad();
        let run = |f: &dyn Fn(&Linear, Tensor<2>, Activation) -> Tensor<2>| {
            let y = f(
                &l2,
                f(&l1, x.clone().transpose(), act),
                Activation::Identity,
            );
            let grads = (y.clone() * y.clone() + y.clone()).sum().backward();
            let g = |p: &burn::module::Param<Tensor<2>>| vec(p.grad(&grads).unwrap());
            let gb = |l: &Linear| vec(l.bias.as_ref().unwrap().grad(&grads).unwrap());
            [
                vec(y.inner()),
                g(&l1.weight),
                gb(&l1),
                g(&l2.weight),
                gb(&l2),
                vec(x.grad(&grads).unwrap()),
            ]
        };
        let runs = KERNEL_RUNS.with(|n| n.get());
        let ours = run(&dense);
        // Both layers, but a sigmoid hidden layer (burn's operations) and the identity after it.
        let fused = act != Activation::Sigmoid;
        let expected = if fused { 2 } else { 1 };
        assert_eq!(
            KERNEL_RUNS.with(|n| n.get()) - runs,
            expected,
            "{act:?}: the kernel ran"
        );
        let burns = run(&|l, x, act| activation::apply(act, l.forward(x)));
        for (k, (a, b)) in ours.iter().zip(&burns).enumerate() {
            for (a, b) in a.iter().zip(b) {
                // Bit for bit, but for tanh (fast_math's against libm's).
                let tolerance = if act == Activation::Tanh {
                    1e-6 * b.abs().max(1.0)
                } else {
                    0.0
                };
                assert!((a - b).abs() <= tolerance, "{act:?}, part {k}: {a} vs {b}");
            }
        }
    }

    /// burn's `cat` hands each input a slice of one gradient buffer; the first slice is unique,
    /// contiguous and at offset 0 but shorter than its buffer, and the backward pass must read
    /// only its own rows.
    #[cfg(feature = "flex")]
    #[test]
    fn a_gradient_sliced_out_of_a_concatenation() {
        let device = Device::flex().autodiff();
        let l = layer(&device);
        let rows = |v: Vec<f32>| {
            Tensor::<2>::from_data(TensorData::new(v, [2, 2]), &device).require_grad()
        };
        let (x1, x2) = (
            rows(vec![1.0, 1.0, 1.0, -1.0]),
            rows(vec![-0.5, 0.25, 2.0, -3.0]),
        );
        let w = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, -2.0, 0.5, 3.0, -1.0, 2.0, 0.25, -4.0], [4, 2]),
            &device,
        );
        for act in [Activation::Relu, Activation::Tanh] {
            let run = |f: &dyn Fn(&Linear, Tensor<2>, Activation) -> Tensor<2>| {
                let y = Tensor::cat(vec![f(&l, x1.clone(), act), f(&l, x2.clone(), act)], 0);
                let grads = (y * w.clone()).sum().backward();
                [
                    vec(l.weight.grad(&grads).unwrap()),
                    vec(l.bias.as_ref().unwrap().grad(&grads).unwrap()),
                    vec(x1.grad(&grads).unwrap()),
                    vec(x2.grad(&grads).unwrap()),
                ]
            };
            let ours = run(&dense);
            let burns = run(&|l, x, act| activation::apply(act, l.forward(x)));
            for (k, (a, b)) in ours.iter().zip(&burns).enumerate() {
                for (a, b) in a.iter().zip(b) {
                    assert!(
                        (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                        "{act:?}, part {k}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn agrees_with_burns_layers() {
        for act in [
            Activation::Relu,
            Activation::LeakyRelu,
            Activation::Tanh,
            Activation::Identity,
            Activation::Sigmoid,
        ] {
            against_burns(Device::flex().autodiff(), act);
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn leaky_units() {
        // The GANs' slope 0.2: the layer by hand with x = [1, -1]: z = [-1.5, -7] -> 0.2 z;
        // loss sum(y): dz = [0.2, 0.2], dW = x^T dz, db = dz, dx = dz W^T = [0.2 * -1, 0.2 * 7].
        let device = Device::flex().autodiff();
        let l = layer(&device);
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -1.0], [1, 2]), &device)
            .require_grad();
        let runs = KERNEL_RUNS.with(|n| n.get());
        let y = dense_leaky(&l, x.clone(), 0.2);
        assert_eq!(KERNEL_RUNS.with(|n| n.get()), runs + 1, "the kernel ran");
        let burns = burn::tensor::activation::leaky_relu(l.forward(x.clone()), 0.2);
        assert_eq!(vec(y.clone().inner()), vec(burns.inner()));
        assert_eq!(vec(y.clone().inner()), [-1.5 * 0.2f32, -7.0 * 0.2f32]);
        let grads = y.sum().backward();
        let w = vec(l.weight.grad(&grads).unwrap());
        assert_eq!(w, [0.2, 0.2, -0.2, -0.2]);
        assert_eq!(
            vec(l.bias.as_ref().unwrap().grad(&grads).unwrap()),
            [0.2, 0.2]
        );
        let dx = vec(x.grad(&grads).unwrap());
        assert!(
            (dx[0] + 0.2).abs() < 1e-7 && (dx[1] - 1.4).abs() < 1e-6,
            "{dx:?}"
        );
        // Slope 0 is left to burn (its outputs, -0 and 0, would not tell the backward pass the
        // sign of z): both units are cut, so no gradient reaches the bias.
        let y = dense_leaky(&l, x.clone(), 0.0);
        assert_eq!(
            KERNEL_RUNS.with(|n| n.get()),
            runs + 1,
            "burn's operations ran"
        );
        let grads = y.sum().backward();
        assert_eq!(
            vec(l.bias.as_ref().unwrap().grad(&grads).unwrap()),
            [0.0, 0.0]
        );
    }

    #[cfg(feature = "flex")]
    #[test]
    fn agrees_with_burns_layers_under_gradient_checkpointing() {
        against_burns(
            Device::flex().autodiff().gradient_checkpointing(),
            Activation::Tanh,
        );
    }

    #[test]
    fn without_autodiff() {
        let l = layer(&Device::flex().autodiff()).valid();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0], [1, 2]), &Device::flex());
        assert_eq!(vec(dense(&l, x.clone(), Activation::Identity)), [4.5, 1.0]);
        let t = vec(dense(&l, x, Activation::Tanh));
        assert!((t[0] - 4.5f32.tanh()).abs() < 1e-7 && (t[1] - 1f32.tanh()).abs() < 1e-7);
    }
}
