//! Batch normalisation in training mode (Ioffe & Szegedy 2015, "Batch normalization:
//! accelerating deep network training by reducing internal covariate shift", ICML, Algorithm 1)
//! with the unit that follows it fused in: `y = f(gamma (x - mean) / sqrt(var + eps) + beta)`,
//! per channel, `f` the identity, ReLU or leaky ReLU (the DCGAN's two networks, Radford et al.
//! 2016).
//!
//! On burn-flex this runs as a burn backend extension: the batch statistics in one read of the
//! input per channel (sums in f64, as PyTorch's CPU kernel adds them, so the mean and variance
//! are those of the exact sums rounded once), the output in one pass, and the backward pass in
//! two: the per-channel sums `sum dz` and `sum dz x_hat` (with `dz` the upstream gradient times
//! `f'`), then `dx = gamma / sqrt(var + eps) (dz - mean(dz) - x_hat mean(dz x_hat))`. burn 0.22.1's
//! generic `batch_norm_train` swaps the batch and channel axes of the input (and of the
//! gradient, twice) to reduce each channel, and takes about a dozen tensor operations each way;
//! the activation after it is one more pass each way. The values agree with burn's batch norm
//! and activation to rounding (tested, with gradients). Other backends and f64 use burn's.
//!
//! Shapes: `x [n, c, ...]` -> `y [n, c, ...]`, `gamma`, `beta`, the batch mean and the biased
//! batch variance `[c]`.

use burn::prelude::*;

/// The unit after the normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    /// `z`.
    Linear,
    /// `max(z, 0)` (a NaN stays NaN, as in burn-flex's ReLU).
    Relu,
    /// `z` for `z >= 0`, else `slope z`, `slope > 0` (f64, as burn's `leaky_relu` takes it;
    /// the kernel rounds it to f32).
    LeakyRelu(f64),
}

/// What [`batch_norm_train`] returns: the output and the batch statistics.
#[derive(Debug)]
pub struct BatchNormTrain<const D: usize> {
    /// `f(gamma x_hat + beta)`, `[n, c, ...]`.
    pub output: Tensor<D>,
    /// The batch mean of each channel, `[c]` (not tracked).
    pub mean: Tensor<1>,
    /// The biased batch variance of each channel, `[c]` (not tracked).
    pub variance: Tensor<1>,
}

/// Batch norm with the batch's own statistics, then `unit`, on `x [n, c, ...]`, where the fused
/// kernel runs (flex, f32, `gamma` and `beta` of `c` values, at least one value per channel);
/// `None` elsewhere, for the caller to take burn's operations.
pub fn batch_norm_train<const D: usize>(
    x: &Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    unit: Unit,
) -> Option<BatchNormTrain<D>> {
    #[cfg(feature = "flex")]
    {
        let dims = x.dims();
        let fits = D >= 2
            && dims.iter().all(|&d| d > 0)
            && gamma.dims() == [dims[1]]
            && beta.dims() == [dims[1]];
        if fits
            && crate::flex::on_flex(&x.device())
            && [x.dtype(), gamma.dtype(), beta.dtype()]
                .into_iter()
                .all(crate::flex::is_f32)
        {
            use burn::backend::Dispatch;
            let (output, mean, variance) = <Dispatch as extension::BatchNormBackend>::batch_norm(
                x.clone().into_dispatch(),
                gamma.into_dispatch(),
                beta.into_dispatch(),
                epsilon as f32,
                unit,
            );
            return Some(BatchNormTrain {
                output: Tensor::from_dispatch(output),
                mean: Tensor::from_dispatch(mean),
                variance: Tensor::from_dispatch(variance),
            });
        }
    }
    let _ = (x, gamma, beta, epsilon, unit);
    None
}

/// The kernel on host slices: `x` is `[n, c, s]` (`s` the values of one channel of one image).
#[cfg(feature = "flex")]
pub mod host {
    use rayon::prelude::*;

    use super::Unit;
    use crate::fast_math::{SUM_LANES as LANES, lane_sum};

    /// `sum f(a_i, b_i)` and `sum g(a_i, b_i)` over two slices of one length, in f64 lanes.
    #[inline(always)]
    fn lane_sums(
        a: &[f32],
        b: &[f32],
        f: impl Fn(f32, f32) -> (f64, f64),
        acc: &mut [[f64; LANES]; 2],
    ) {
        let (mut ra, mut rb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let [s, t] = acc;
        for (ca, cb) in (&mut ra).zip(&mut rb) {
            for (((s, t), &u), &v) in s.iter_mut().zip(t.iter_mut()).zip(ca).zip(cb) {
                let (p, q) = f(u, v);
                *s += p;
                *t += q;
            }
        }
        let rest = ra.remainder().iter().zip(rb.remainder());
        for ((s, t), (&u, &v)) in s.iter_mut().zip(t.iter_mut()).zip(rest) {
            let (p, q) = f(u, v);
            *s += p;
            *t += q;
        }
    }

    /// The per-channel `(mean, biased variance)` of `x` `[n, c, s]`: the mean, then the mean
    /// square distance from it (two passes, as burn's and PyTorch's kernels take them).
    pub fn statistics(x: &[f32], c: usize, s: usize) -> (Vec<f32>, Vec<f32>) {
        let stats: Vec<(f32, f32)> = (0..c)
            .into_par_iter()
            .map(|ch| pulp::Arch::new().dispatch(Statistics { x, c, s, ch }))
            .collect();
        stats.into_iter().unzip()
    }

    /// One channel's statistics, in the vector units pulp finds. (A closure handed to pulp's
    /// dispatch is compiled apart, without them.)
    struct Statistics<'a> {
        x: &'a [f32],
        c: usize,
        s: usize,
        ch: usize,
    }

    impl pulp::WithSimd for Statistics<'_> {
        type Output = (f32, f32);

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) -> (f32, f32) {
            let Self { x, c, s, ch } = self;
            let count = (x.len() / c) as f64;
            let segments = || x.chunks_exact(c * s).map(|image| &image[ch * s..][..s]);
            let mut acc = [0.0f64; LANES];
            segments().for_each(|seg| lane_sum(seg, f64::from, &mut acc));
            let mean = acc.iter().sum::<f64>() / count;
            let mut acc = [0.0f64; LANES];
            segments().for_each(|seg| lane_sum(seg, |v| (f64::from(v) - mean).powi(2), &mut acc));
            (mean as f32, (acc.iter().sum::<f64>() / count) as f32)
        }
    }

    /// Per channel, `z = x a + b` is the normalised and scaled value: `a = gamma / sqrt(var +
    /// eps)`, `b = beta - mean a`. Also the inverse deviations `1 / sqrt(var + eps)`.
    pub fn affine(
        gamma: &[f32],
        beta: &[f32],
        mean: &[f32],
        var: &[f32],
        eps: f32,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let inv: Vec<f32> = var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
        let a: Vec<f32> = gamma.iter().zip(&inv).map(|(&g, &i)| g * i).collect();
        let b = beta
            .iter()
            .zip(mean)
            .zip(&a)
            .map(|((&be, &m), &a)| be - m * a)
            .collect();
        (a, b, inv)
    }

    /// `f(z)`.
    #[inline(always)]
    fn unit(z: f32, unit: Unit) -> f32 {
        match unit {
            Unit::Linear => z,
            Unit::Relu => {
                if z > 0.0 || z.is_nan() {
                    z
                } else {
                    0.0
                }
            }
            Unit::LeakyRelu(slope) => {
                if z >= 0.0 {
                    z
                } else {
                    z * slope as f32
                }
            }
        }
    }

    /// `f'(z)`: 1 or 0 (ReLU, 0 at 0 as burn's), 1 or `slope` (leaky ReLU, 1 at 0); 1 at a
    /// NaN, which lets the gradient through as burn-flex's backward passes do, so that a NaN
    /// reaches the parameters' gradients and the divergence check sees it.
    #[inline(always)]
    fn slope(z: f32, unit: Unit) -> f32 {
        match unit {
            Unit::Linear => 1.0,
            Unit::Relu => {
                if z > 0.0 || z.is_nan() {
                    1.0
                } else {
                    0.0
                }
            }
            Unit::LeakyRelu(slope) => {
                if z < 0.0 {
                    slope as f32
                } else {
                    1.0
                }
            }
        }
    }

    /// `y = f(x a + b)` per channel, `x` and `y` `[n, c, s]`.
    pub fn forward(x: &[f32], a: &[f32], b: &[f32], s: usize, f: Unit) -> Vec<f32> {
        let c = a.len();
        let mut y = crate::flex::zeros(x.len());
        y.par_chunks_mut(c * s)
            .zip(x.par_chunks(c * s))
            .for_each(|(y, x)| {
                pulp::Arch::new().dispatch(Forward { x, y, a, b, s, f });
            });
        y
    }

    /// [`forward`] on some images.
    struct Forward<'a> {
        x: &'a [f32],
        y: &'a mut [f32],
        a: &'a [f32],
        b: &'a [f32],
        s: usize,
        f: Unit,
    }

    impl pulp::WithSimd for Forward<'_> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) {
            #[inline(always)]
            fn run(p: Forward<'_>, f: impl Fn(f32) -> f32) {
                let segments = p.y.chunks_exact_mut(p.s).zip(p.x.chunks_exact(p.s));
                for ((y, x), (&a, &b)) in segments.zip(p.a.iter().zip(p.b).cycle()) {
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = f(x * a + b);
                    }
                }
            }
            match self.f {
                Unit::Linear => run(self, |z| z),
                Unit::Relu => run(self, |z| unit(z, Unit::Relu)),
                Unit::LeakyRelu(slope) => run(self, move |z| unit(z, Unit::LeakyRelu(slope))),
            }
        }
    }

    /// The backward pass, in place on `dy` (the upstream gradient `[n, c, s]` on entry, `dx` on
    /// return); returns `(d gamma, d beta)`. `a`, `b` and `inv` as [`affine`] makes them.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        x: &[f32],
        dy: &mut [f32],
        mean: &[f32],
        a: &[f32],
        b: &[f32],
        inv: &[f32],
        s: usize,
        f: Unit,
    ) -> (Vec<f32>, Vec<f32>) {
        let c = a.len();
        let count = (x.len() / c) as f64;
        // dz = dy f'(z), then per channel sum dz and sum dz x_hat.
        let dy_read: &[f32] = dy;
        let sums: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (a, b, m, i) = (a[ch], b[ch], mean[ch], inv[ch]);
                pulp::Arch::new().dispatch(Sums {
                    x,
                    dy: dy_read,
                    c,
                    s,
                    ch,
                    coefficients: [a, b, m, i],
                    f,
                })
            })
            .collect();
        let dbeta: Vec<f32> = sums.iter().map(|&(d, _)| d as f32).collect();
        let dgamma: Vec<f32> = sums.iter().map(|&(_, dx)| dx as f32).collect();
        // Per channel: a, b, mean, 1 / deviation, mean dz, mean dz x_hat.
        let coefficients: Vec<[f32; 6]> = (0..c)
            .map(|ch| {
                let (d, dx) = sums[ch];
                let (md, mdx) = ((d / count) as f32, (dx / count) as f32);
                [a[ch], b[ch], mean[ch], inv[ch], md, mdx]
            })
            .collect();
        dy.par_chunks_mut(c * s)
            .zip(x.par_chunks(c * s))
            .for_each(|(g, x)| {
                pulp::Arch::new().dispatch(InputGrad {
                    x,
                    g,
                    coefficients: &coefficients,
                    s,
                    f,
                });
            });
        (dgamma, dbeta)
    }

    /// One channel's `sum dz` and `sum dz x_hat`, `dz = dy f'(x a + b)`, `x_hat = (x - m) i`.
    struct Sums<'a> {
        x: &'a [f32],
        dy: &'a [f32],
        c: usize,
        s: usize,
        ch: usize,
        /// `a`, `b`, `m`, `i`.
        coefficients: [f32; 4],
        f: Unit,
    }

    impl pulp::WithSimd for Sums<'_> {
        type Output = (f64, f64);

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) -> (f64, f64) {
            #[inline(always)]
            fn run(p: Sums<'_>, d: impl Fn(f32) -> f32) -> (f64, f64) {
                let [a, b, m, i] = p.coefficients;
                let (c, s, ch) = (p.c, p.s, p.ch);
                let mut acc = [[0.0f64; LANES]; 2];
                for (xi, gi) in p.x.chunks_exact(c * s).zip(p.dy.chunks_exact(c * s)) {
                    let (xs, gs) = (&xi[ch * s..][..s], &gi[ch * s..][..s]);
                    let dz = |x: f32, g: f32| {
                        let dz = f64::from(g * d(x * a + b));
                        (dz, dz * f64::from((x - m) * i))
                    };
                    lane_sums(xs, gs, dz, &mut acc);
                }
                let [sd, sdx] = acc;
                (sd.iter().sum::<f64>(), sdx.iter().sum::<f64>())
            }
            match self.f {
                Unit::Linear => run(self, |_| 1.0),
                Unit::Relu => run(self, |z| slope(z, Unit::Relu)),
                Unit::LeakyRelu(k) => run(self, move |z| slope(z, Unit::LeakyRelu(k))),
            }
        }
    }

    /// `dx = a (dz - mean dz - x_hat mean(dz x_hat))` on some images, in place on the upstream
    /// gradient `g`.
    struct InputGrad<'a> {
        x: &'a [f32],
        g: &'a mut [f32],
        /// Per channel `a`, `b`, `m`, `i`, mean `dz`, mean `dz x_hat`.
        coefficients: &'a [[f32; 6]],
        s: usize,
        f: Unit,
    }

    impl pulp::WithSimd for InputGrad<'_> {
        type Output = ();

        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) {
            #[inline(always)]
            fn run(p: InputGrad<'_>, d: impl Fn(f32) -> f32) {
                let segments = p.g.chunks_exact_mut(p.s).zip(p.x.chunks_exact(p.s));
                for ((g, x), k) in segments.zip(p.coefficients.iter().cycle()) {
                    let [a, b, m, i, md, mdx] = *k;
                    for (g, &x) in g.iter_mut().zip(x) {
                        let dz = *g * d(x * a + b);
                        *g = a * (dz - md - (x - m) * i * mdx);
                    }
                }
            }
            match self.f {
                Unit::Linear => run(self, |_| 1.0),
                Unit::Relu => run(self, |z| slope(z, Unit::Relu)),
                Unit::LeakyRelu(k) => run(self, move |z| slope(z, Unit::LeakyRelu(k))),
            }
        }
    }
}

#[cfg(feature = "flex")]
mod extension {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{
        Autodiff, AutodiffBackend, Backend, Flex, TensorMetadata, backend_extension,
    };

    use super::{Unit, host};
    use crate::flex;

    /// Training-mode batch norm and its unit on flex, f32 (checked by
    /// [`super::batch_norm_train`]).
    #[backend_extension(Flex, Autodiff)]
    pub trait BatchNormBackend: Backend {
        /// `[n, c, ...]`, `[c]`, `[c]` -> (output `[n, c, ...]`, mean `[c]`, variance `[c]`).
        fn batch_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f32,
            unit: Unit,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    }

    /// `(c, s)`: the channels and the values per channel of one image.
    fn sizes(x: &FloatTensor<Flex>) -> (usize, usize) {
        let dims = x.shape();
        let c = dims[1];
        (c, dims.num_elements() / dims[0] / c)
    }

    impl BatchNormBackend for Flex {
        fn batch_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f32,
            unit: Unit,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let (c, s) = sizes(&x);
            let xs = flex::values(&x);
            let (mean, var) = host::statistics(&xs, c, s);
            let (a, b, _) = host::affine(
                &flex::values(&gamma),
                &flex::values(&beta),
                &mean,
                &var,
                epsilon,
            );
            let y = host::forward(&xs, &a, &b, s, unit);
            (
                flex::tensor(y, x.shape()),
                flex::tensor(mean, [c]),
                flex::tensor(var, [c]),
            )
        }
    }

    /// What the backward step keeps: the input, the scale and shift, the batch statistics, eps
    /// and the unit.
    #[derive(Debug, Clone)]
    struct Saved {
        x: FloatTensor<Flex>,
        gamma: FloatTensor<Flex>,
        beta: FloatTensor<Flex>,
        mean: Vec<f32>,
        var: Vec<f32>,
        epsilon: f32,
        unit: Unit,
    }

    /// The backward step, for the parents that are tracked.
    #[derive(Debug)]
    struct BatchNormGrad;

    impl Backward<Flex, 3> for BatchNormGrad {
        type State = Saved;

        fn backward(
            self,
            ops: Ops<Self::State, 3>,
            grads: &mut Gradients,
            _checkpointer: &mut Checkpointer,
        ) {
            let Saved {
                x,
                gamma,
                beta,
                mean,
                var,
                epsilon,
                unit,
            } = ops.state;
            let mut dy = flex::owned(grads.consume::<Flex>(&ops.node));
            let (c, s) = sizes(&x);
            let n = dy.layout().num_elements();
            let (a, b, inv) = host::affine(
                &flex::values(&gamma),
                &flex::values(&beta),
                &mean,
                &var,
                epsilon,
            );
            let (dgamma, dbeta) = host::backward(
                &flex::values(&x),
                &mut dy.storage_mut::<f32>()[..n],
                &mean,
                &a,
                &b,
                &inv,
                s,
                unit,
            );
            let [px, pg, pb] = ops.parents;
            if let Some(node) = pg {
                grads.register::<Flex>(node.id, flex::tensor(dgamma, [c]));
            }
            if let Some(node) = pb {
                grads.register::<Flex>(node.id, flex::tensor(dbeta, [c]));
            }
            if let Some(node) = px {
                grads.register::<Flex>(node.id, dy);
            }
        }
    }

    impl<C: CheckpointStrategy> BatchNormBackend for Autodiff<Flex, C> {
        fn batch_norm(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f32,
            unit: Unit,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let untracked = |t| <Self as AutodiffBackend>::from_inner(t);
            match BatchNormGrad
                .prepare::<C>([x.node(), gamma.node(), beta.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (x, gamma, beta) = (
                        x.into_primitive(),
                        gamma.into_primitive(),
                        beta.into_primitive(),
                    );
                    let (y, mean, var) =
                        Flex::batch_norm(x.clone(), gamma.clone(), beta.clone(), epsilon, unit);
                    let saved = Saved {
                        x,
                        gamma,
                        beta,
                        mean: flex::values(&mean).into_owned(),
                        var: flex::values(&var).into_owned(),
                        epsilon,
                        unit,
                    };
                    (prep.finish(saved, y), untracked(mean), untracked(var))
                }
                OpsKind::UnTracked(prep) => {
                    let (y, mean, var) = Flex::batch_norm(
                        x.into_primitive(),
                        gamma.into_primitive(),
                        beta.into_primitive(),
                        epsilon,
                        unit,
                    );
                    (prep.finish(y), untracked(mean), untracked(var))
                }
            }
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Per channel `x = [1, 3]`, `gamma = 2`, `beta = 1`, `eps = 0`: mean 2, variance 1,
    /// `x_hat = [-1, 1]`, `z = [-1, 3]` (by hand), then each unit.
    #[test]
    fn values_by_hand() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 3.0], [2, 1]), &device);
        let gamma = Tensor::<1>::from_data(TensorData::new(vec![2.0f32], [1]), &device);
        let beta = Tensor::<1>::from_data(TensorData::new(vec![1.0f32], [1]), &device);
        for (unit, y) in [
            (Unit::Linear, [-1.0, 3.0]),
            (Unit::Relu, [0.0, 3.0]),
            (Unit::LeakyRelu(0.2), [-0.2, 3.0]),
        ] {
            let r = batch_norm_train(&x, gamma.clone(), beta.clone(), 0.0, unit).expect("on flex");
            assert_eq!(vec(r.output), y, "{unit:?}");
            assert_eq!(vec(r.mean), [2.0]);
            assert_eq!(vec(r.variance), [1.0]);
        }
    }

    /// Output, statistics and the gradients of `sum(w * y)` for `x`, `gamma` and `beta`, from
    /// the kernel (`fused`) or from burn's batch norm and activation.
    fn run<const D: usize>(
        x: &Tensor<D>,
        gamma: &Tensor<1>,
        beta: &Tensor<1>,
        w: &Tensor<D>,
        unit: Unit,
        fused: bool,
    ) -> Vec<Vec<f32>> {
        let (x, gamma, beta) = (x.clone().require_grad(), gamma.clone(), beta.clone());
        let (y, mean, var) = if fused {
            let r = batch_norm_train(&x, gamma.clone(), beta.clone(), 1e-5, unit).expect("flex");
            (r.output, r.mean, r.variance)
        } else {
            let r = burn::tensor::module::batch_norm_train(
                x.clone(),
                gamma.clone(),
                beta.clone(),
                1e-5,
            );
            let y = match unit {
                Unit::Linear => r.output,
                Unit::Relu => burn::tensor::activation::relu(r.output),
                Unit::LeakyRelu(s) => burn::tensor::activation::leaky_relu(r.output, s),
            };
            (y, r.mean, r.variance)
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        let grad = |g: Option<Tensor<1>>| g.map(vec).unwrap_or_default();
        vec![
            vec(y),
            vec(mean),
            vec(var),
            x.grad(&grads).map(vec).unwrap_or_default(),
            grad(gamma.grad(&grads)),
            grad(beta.grad(&grads)),
        ]
    }

    fn assert_close(ours: &[Vec<f32>], burns: &[Vec<f32>], what: &str) {
        let names = ["output", "mean", "variance", "dx", "dgamma", "dbeta"];
        for ((a, b), name) in ours.iter().zip(burns).zip(names) {
            assert_eq!(a.len(), b.len(), "{what}: {name}");
            for (u, v) in a.iter().zip(b) {
                assert!(
                    (u - v).abs() <= 1e-4 * (1.0 + v.abs()),
                    "{what}: {name} {u} vs burn's {v}"
                );
            }
        }
    }

    /// Against burn's `batch_norm_train` and activations, for maps and for flat features, each
    /// unit, with `gamma` and `beta` tracked and not (a discriminator under `no_grad`).
    #[test]
    fn agrees_with_burns_batch_norm_and_activations() {
        let _rng = crate::rng_lock();
        let device = Device::flex().autodiff();
        device.seed(3);
        let units = [Unit::Linear, Unit::Relu, Unit::LeakyRelu(0.2)];
        for unit in units {
            for tracked in [true, false] {
                let gamma = Tensor::<1>::random([3], Distribution::Normal(1.0, 0.5), &device);
                let beta = Tensor::<1>::random([3], Distribution::Normal(0.0, 0.5), &device);
                let (gamma, beta) = if tracked {
                    (gamma.require_grad(), beta.require_grad())
                } else {
                    (gamma, beta)
                };
                let x4 = Tensor::<4>::random([5, 3, 4, 3], Distribution::Normal(0.5, 2.0), &device);
                let w4 = Tensor::<4>::random([5, 3, 4, 3], Distribution::Default, &device);
                let what = format!("{unit:?}, maps, tracked {tracked}");
                assert_close(
                    &run(&x4, &gamma, &beta, &w4, unit, true),
                    &run(&x4, &gamma, &beta, &w4, unit, false),
                    &what,
                );
                let x2 = Tensor::<2>::random([19, 3], Distribution::Normal(-1.0, 3.0), &device);
                let w2 = Tensor::<2>::random([19, 3], Distribution::Default, &device);
                let what = format!("{unit:?}, features, tracked {tracked}");
                assert_close(
                    &run(&x2, &gamma, &beta, &w2, unit, true),
                    &run(&x2, &gamma, &beta, &w2, unit, false),
                    &what,
                );
            }
        }
    }

    /// Without autodiff the kernel runs too; parameters that do not match the channels are
    /// left to burn's operations (which then say what is wrong).
    #[test]
    fn plain_flex_runs_and_mismatched_parameters_decline() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 3.0], [2, 1]), &device);
        let ones = Tensor::<1>::ones([1], &device);
        let r = batch_norm_train(&x, ones.clone(), ones.zeros_like(), 0.0, Unit::Relu);
        assert_eq!(vec(r.expect("flex").output), [0.0, 1.0]);
        // Gamma of the wrong length: declined.
        let two = Tensor::<1>::ones([2], &device);
        assert!(batch_norm_train(&x, two.clone(), two, 0.0, Unit::Relu).is_none());
    }
}
