//! A convolution's bias and nonlinearity, `y = f(z + b_c)` for every value of channel `c` of the
//! maps `z` `[n, c, ...]` a convolution outputs, and its gradients `dz = dy * f'`, `db_c = sum of
//! dz over the batch and the positions of channel c`.
//!
//! On burn-flex this runs as one burn backend extension, one node of burn's autodiff graph: the
//! forward pass adds the bias and applies `f` in place on the convolution's fresh output, on all
//! threads for large maps; the backward pass takes `dz` from the saved output as the dense
//! kernel does ([`crate::dense`]: `f'` of ReLU is `y > 0`, of tanh `1 - y^2`, of a leaky ReLU
//! with a positive slope `1` or the slope by the sign of `y`) and sums the bias gradient in the
//! same pass, by blocks of [`BLOCK`] images and then the blocks in order (so the sum does not
//! depend on the threads), in f64. burn's `z + b.reshape([1, c, 1, 1])` followed by an
//! activation allocates a new tensor for each and reduces the gradient over the batch and the
//! two spatial axes in three more passes. The values are burn's (the same f32 additions; tanh is
//! [`crate::fast_math`]'s); the bias gradient agrees to rounding. Other backends, f64 and layers
//! without a bias use burn's addition and [`activate`] (nnlab's tanh and leaky ReLU kernels,
//! burn's ReLU).
//!
//! # Shapes
//! - `z`: `[n, c, ...]` (any rank from 2)
//! - `b`: `[c]`
//! - returns the shape of `z`

use burn::module::Param;
use burn::prelude::*;

pub use crate::dense::Kind;

/// Images a backward block sums its bias gradient over (fixed, so that the rounding of the sum
/// does not depend on the machine's threads).
pub const BLOCK: usize = 8;

/// `f(z + b)` with the bias `b` `[c]` (if any) added along axis 1 of `z` `[n, c, ...]`, `f` the
/// `kind`. On flex (f32, with a bias), the fused extension; elsewhere burn's operations.
pub fn bias_activation<const D: usize>(
    z: Tensor<D>,
    bias: Option<&Param<Tensor<1>>>,
    kind: Kind,
) -> Tensor<D> {
    assert!(
        D >= 2,
        "bias_activation: maps [n, c, ...] of rank 2 or more"
    );
    #[cfg(feature = "flex")]
    if let Some(b) = bias {
        let b = b.val();
        // The backward pass reads a leaky unit's side off the output's sign: slopes positive
        // in f32, where the kernel applies them.
        let positive = match kind {
            Kind::LeakyRelu(slope) => (slope as f32) > 0.0,
            _ => true,
        };
        if positive
            && crate::flex::on_flex(&z.device())
            && crate::flex::is_f32(z.dtype())
            && crate::flex::is_f32(b.dtype())
            && z.dims()[1] == b.dims()[0]
        {
            use burn::backend::Dispatch;
            let y = <Dispatch as extension::BiasActivationBackend>::bias_activation(
                z.into_dispatch(),
                b.into_dispatch(),
                kind,
            );
            return Tensor::from_dispatch(y);
        }
    }
    let z = match bias {
        Some(b) => {
            let mut shape = [1; D];
            shape[1] = z.dims()[1];
            z + b.val().reshape(shape)
        }
        None => z,
    };
    activate(z, kind)
}

/// `f(z)` for `kind` with burn's operations (tanh and leaky ReLU on flex with nnlab's kernels).
pub fn activate<const D: usize>(z: Tensor<D>, kind: Kind) -> Tensor<D> {
    match kind {
        Kind::Relu => burn::tensor::activation::relu(z),
        Kind::LeakyRelu(slope) => crate::leaky_relu::leaky_relu(z, slope),
        Kind::Tanh => crate::tanh::tanh(z),
        Kind::Identity => z,
    }
}

/// The host passes on f32 slices.
#[cfg(feature = "flex")]
pub mod host {
    use rayon::prelude::*;

    use super::{BLOCK, Kind};
    use crate::fast_math::{self, SUM_LANES, lane_sum};
    use crate::flex;

    /// Values from which `kind`'s pass runs on all threads: tanh costs about ten times a copy
    /// per value.
    fn parallel_from(kind: Kind) -> usize {
        if kind == Kind::Tanh {
            flex::COSTLY_FROM
        } else {
            flex::PARALLEL_FROM
        }
    }

    /// `y <- f(y + b)` in place on `y` `[n, c, p]` (`c = b.len()`), one image after another.
    pub fn forward(y: &mut [f32], n: usize, b: &[f32], kind: Kind) {
        if n == 0 || y.is_empty() {
            return;
        }
        let (image, c) = (y.len() / n, b.len());
        let p = image / c;
        assert_eq!(
            n * c * p,
            y.len(),
            "bias_activation: {n} images of {c} maps"
        );
        let maps = |maps: &mut [f32]| {
            for (plane, &bias) in maps.chunks_exact_mut(p).zip(b) {
                plane.iter_mut().for_each(|v| *v += bias);
                match kind {
                    Kind::Tanh => fast_math::tanh_accurate(plane),
                    _ => kind.rectify(plane),
                }
            }
        };
        if y.len() < parallel_from(kind) {
            y.chunks_exact_mut(image).for_each(maps);
        } else {
            y.par_chunks_exact_mut(image).for_each(maps);
        }
    }

    /// The backward pass in place on `dz` `[n, c, p]` (the upstream gradient on entry):
    /// times `f'` read off the output `y` (none for no activation), and, with `db` (`[c]`), the
    /// bias gradient, each block of [`BLOCK`] images summed in f64 and the blocks added in
    /// order.
    pub fn backward(
        dz: &mut [f32],
        y: Option<&[f32]>,
        n: usize,
        kind: Kind,
        db: Option<&mut [f32]>,
    ) {
        if let Some(y) = y {
            assert_eq!(dz.len(), y.len(), "bias_activation: the gradient's shape");
        }
        if n == 0 || dz.is_empty() {
            return;
        }
        let image = dz.len() / n;
        let c = db.as_ref().map_or(1, |db| db.len());
        let p = image / c;
        let sums = db.is_some();
        // One block: `dz *= f'(y)`, then its channels' sums (none without `db`).
        let block = |dz: &mut [f32], y: Option<&[f32]>| {
            match (kind, y) {
                (Kind::Tanh, Some(y)) => fast_math::tanh_backward(dz, y),
                (_, Some(y)) => kind.rectify_backward(dz, y),
                (_, None) => {}
            }
            let mut lanes = vec![[0.0f64; SUM_LANES]; if sums { c } else { 0 }];
            for maps in dz.chunks_exact(image).filter(|_| sums) {
                for (acc, plane) in lanes.iter_mut().zip(maps.chunks_exact(p)) {
                    lane_sum(plane, f64::from, acc);
                }
            }
            lanes
                .iter()
                .map(|acc| acc.iter().sum())
                .collect::<Vec<f64>>()
        };
        let chunk = BLOCK * image;
        let serial = dz.len() < parallel_from(kind);
        let partials: Vec<Vec<f64>> = match (y, serial) {
            (Some(y), true) => dz
                .chunks_mut(chunk)
                .zip(y.chunks(chunk))
                .map(|(d, y)| block(d, Some(y)))
                .collect(),
            (Some(y), false) => dz
                .par_chunks_mut(chunk)
                .zip(y.par_chunks(chunk))
                .map(|(d, y)| block(d, Some(y)))
                .collect(),
            (None, true) => dz.chunks_mut(chunk).map(|d| block(d, None)).collect(),
            (None, false) => dz.par_chunks_mut(chunk).map(|d| block(d, None)).collect(),
        };
        if let Some(db) = db {
            let mut total = vec![0.0f64; c];
            for part in partials {
                total.iter_mut().zip(part).for_each(|(t, v)| *t += v);
            }
            db.iter_mut().zip(total).for_each(|(d, t)| *d = t as f32);
        }
    }
}

#[cfg(feature = "flex")]
mod extension {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};

    use super::{Kind, host};
    use crate::flex;

    /// The bias and activation on flex, f32, with as many biases as channels (checked by
    /// [`super::bias_activation`]).
    #[backend_extension(Flex, Autodiff)]
    pub trait BiasActivationBackend: Backend {
        /// `f(z + b)`: `[n, c, ...]`, `[c]` -> `[n, c, ...]`.
        fn bias_activation(
            z: FloatTensor<Self>,
            b: FloatTensor<Self>,
            kind: Kind,
        ) -> FloatTensor<Self>;
    }

    impl BiasActivationBackend for Flex {
        fn bias_activation(
            z: FloatTensor<Self>,
            b: FloatTensor<Self>,
            kind: Kind,
        ) -> FloatTensor<Self> {
            let mut y = flex::owned(z);
            let n = y.shape()[0];
            let len = y.shape().num_elements();
            host::forward(
                &mut y.storage_mut::<f32>()[..len],
                n,
                &flex::values(&b),
                kind,
            );
            y
        }
    }

    /// The backward step: keeps the output (for `f'`; not for no activation) and the kind.
    #[derive(Debug)]
    struct BiasActivationGrad;

    impl Backward<Flex, 2> for BiasActivationGrad {
        type State = (Option<FloatTensor<Flex>>, Kind, usize);

        fn backward(
            self,
            ops: Ops<Self::State, 2>,
            grads: &mut Gradients,
            _checkpointer: &mut Checkpointer,
        ) {
            let (y, kind, c) = ops.state;
            let mut dz = flex::owned(grads.consume::<Flex>(&ops.node));
            let n = dz.shape()[0];
            let len = dz.shape().num_elements();
            let y = y.as_ref().map(flex::values);
            let [pz, pb] = ops.parents;
            let mut db = pb.is_some().then(|| vec![0.0f32; c]);
            let d = &mut dz.storage_mut::<f32>()[..len];
            host::backward(d, y.as_deref(), n, kind, db.as_deref_mut());
            if let (Some(node), Some(db)) = (pb, db) {
                grads.register::<Flex>(node.id, flex::tensor(db, [c]));
            }
            if let Some(node) = pz {
                grads.register::<Flex>(node.id, dz);
            }
        }
    }

    impl<C: CheckpointStrategy> BiasActivationBackend for Autodiff<Flex, C> {
        fn bias_activation(
            z: FloatTensor<Self>,
            b: FloatTensor<Self>,
            kind: Kind,
        ) -> FloatTensor<Self> {
            let c = b.primitive().shape()[0];
            match BiasActivationGrad
                .prepare::<C>([z.node(), b.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let y = Flex::bias_activation(z.into_primitive(), b.into_primitive(), kind);
                    let saved = (kind != Kind::Identity).then(|| y.clone());
                    prep.finish((saved, kind, c), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::bias_activation(
                    z.into_primitive(),
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
    use burn::module::Param;

    fn vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// `y`, `dz` and `db` of `loss = sum(w * y)` for `y = f(z + b)`, ours or burn's.
    #[cfg(feature = "flex")]
    fn run(
        device: &Device,
        shape: [usize; 4],
        kind: Kind,
        ours: bool,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let n = shape.iter().product::<usize>();
        let zs: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.021)
            .collect();
        let ws: Vec<f32> = (0..n).map(|i| 0.5 + (i % 13) as f32 * 0.1).collect();
        let z = Tensor::<4>::from_data(TensorData::new(zs, shape), device).require_grad();
        let w = Tensor::<4>::from_data(TensorData::new(ws, shape), device);
        let c = shape[1];
        let bs: Vec<f32> = (0..c).map(|i| i as f32 * 0.3 - 0.4).collect();
        let b = Param::from_tensor(Tensor::<1>::from_data(TensorData::new(bs, [c]), device));
        let y = if ours {
            bias_activation(z.clone(), Some(&b), kind)
        } else {
            activate(z.clone() + b.val().reshape([1, c, 1, 1]), kind)
        };
        let grads = (y.clone() * w).sum().backward();
        (
            vec(y.inner()),
            vec(z.grad(&grads).unwrap()),
            vec(b.grad(&grads).unwrap()),
        )
    }

    #[cfg(feature = "flex")]
    fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * scale, "{what}[{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn relu_by_hand() {
        // z = [[-1, 2], [0.5, 3]] in two channels of one 1x2 map, b = [0.5, -1]:
        // z + b = [[-0.5, 2.5], [-0.5, 2]], y = [[0, 2.5], [0, 2]]. With loss = sum(w y),
        // w = [[1, 2], [3, 4]]: dz = w where y > 0, db = [2, 4].
        let device = Device::flex().autodiff();
        let z = Tensor::<4>::from_data(
            TensorData::new(vec![-1.0f32, 2.0, 0.5, 3.0], [1, 2, 1, 2]),
            &device,
        )
        .require_grad();
        let b = Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(vec![0.5f32, -1.0], [2]),
            &device,
        ));
        let w = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 2, 1, 2]),
            &device,
        );
        let y = bias_activation(z.clone(), Some(&b), Kind::Relu);
        let grads = (y.clone() * w).sum().backward();
        assert_eq!(vec(y.inner()), [0.0, 2.5, 0.0, 2.0]);
        assert_eq!(vec(z.grad(&grads).unwrap()), [0.0, 2.0, 0.0, 4.0]);
        assert_eq!(vec(b.grad(&grads).unwrap()), [2.0, 4.0]);
    }

    /// Against burn's broadcast addition and activations: values (tanh to a few ulp), the
    /// input gradient and the bias gradient (to rounding: ours sums in f64), on small maps and
    /// on maps past the threads' thresholds.
    #[cfg(feature = "flex")]
    #[test]
    fn agrees_with_burns_operations() {
        let device = Device::flex().autodiff();
        for shape in [[3, 4, 5, 5], [20, 8, 48, 40]] {
            for kind in [Kind::Relu, Kind::LeakyRelu(0.2), Kind::Tanh, Kind::Identity] {
                let (y, dz, db) = run(&device, shape, kind, true);
                let (by, bdz, bdb) = run(&device, shape, kind, false);
                let what = format!("{shape:?} {kind:?}");
                close(&y, &by, 1e-6, &format!("{what} y"));
                close(&dz, &bdz, 1e-6, &format!("{what} dz"));
                close(&db, &bdb, 1e-5, &format!("{what} db"));
            }
        }
    }

    /// The bias gradient's bits do not depend on the threads that sum it.
    #[cfg(feature = "flex")]
    #[test]
    fn the_bias_gradient_does_not_depend_on_the_threads() {
        let device = Device::flex().autodiff();
        let on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| run(&device, [20, 8, 48, 40], Kind::Tanh, true))
        };
        assert_eq!(on(1), on(3));
    }

    /// Without autodiff, without a bias and in f64: burn's operations, the same values.
    #[test]
    fn elsewhere_burns_operations() {
        let device = Device::flex();
        let z = Tensor::<4>::from_data(
            TensorData::new(vec![-1.0f32, 2.0, 0.5, 3.0], [1, 2, 1, 2]),
            &device,
        );
        let b = Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(vec![0.5f32, -1.0], [2]),
            &device,
        ));
        let y = bias_activation(z.clone(), Some(&b), Kind::LeakyRelu(0.5));
        assert_eq!(vec(y), [-0.25, 2.5, -0.25, 2.0]);
        assert_eq!(
            vec(bias_activation(z.clone(), None, Kind::Relu)),
            [0.0, 2.0, 0.5, 3.0]
        );
        let z64 = z.cast(burn::tensor::DType::F64);
        let y = bias_activation(z64, None, Kind::Identity);
        assert_eq!(
            y.into_data().try_to_vec::<f64>().unwrap(),
            [-1.0, 2.0, 0.5, 3.0]
        );
    }
}
