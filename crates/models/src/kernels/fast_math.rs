//! Elementwise activations over host buffers, written so that the compiler vectorises them
//! (branch-free polynomial approximations, run under pulp's runtime CPU dispatch). burn-flex
//! evaluates `tanh`, `exp` and `sin` one element at a time through the C library; drawing a
//! 1024x1024 CPPN applies an activation to 200 million values, where that costs seconds.
//!
//! Accuracy: `exp` to about 2 ulp over the float range (range reduction by `ln 2` and a degree-5
//! minimax-style polynomial on `[-ln2/2, ln2/2]`, Cephes' coefficients), so `sigmoid`, `tanh`
//! (`1 - 2 / (e^2x + 1)`) and `gaussian` to a few 1e-7 absolute; `sin` to about 1e-6 absolute for
//! `|x| < 1e4` (reduction by `pi/2` in two parts, Taylor polynomials of degree 7 and 8). Plenty
//! for pictures, which [`apply`] draws.
//!
//! Training on burn-flex ([`crate::tanh`]) takes [`tanh_accurate`] and [`tanh_backward`]: a tanh
//! to a few ulp also near 0, where `1 - 2 / (e^2x + 1)` cancels (an odd polynomial below
//! `|x| = 0.625`, as Cephes' `tanhf`), at about 1.4 times the cost. There libm's scalar `tanhf`
//! took 31 % of a LeNet-5 step.

use nnlab_config::Activation;

/// `e^x`, to about 2 ulp; 0 below -87 and `e^88` above 88.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round();
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[inline(always)]
fn tanh_to_a_few_ulp(x: f32) -> f32 {
    // Near 0, `1 - 2 / (e^2x + 1)` cancels: an odd polynomial in x there (Cephes' tanhf).
    let z = x * x;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
            - 3.333_328e-1)
            * z
            * x
            + x;
    let large = 1.0 - 2.0 / (exp(2.0 * x.abs()) + 1.0);
    if x.abs() < 0.625 {
        small
    } else {
        large.copysign(x)
    }
}

#[inline(always)]
fn sin(x: f32) -> f32 {
    // x = k pi/2 + r, |r| <= pi/4; pi/2 split in two for an exact first product.
    let k = (x * std::f32::consts::FRAC_2_PI).round();
    let r = (x - k * 1.570_312_5) - k * 4.838_268e-4;
    let r2 = r * r;
    let s = r + r * r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0)));
    let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0))));
    let q = (k as i32) & 3;
    let v = if q & 1 == 0 { s } else { c };
    if q & 2 == 0 { v } else { -v }
}

#[inline(always)]
fn apply_one(act: Activation, x: f32) -> f32 {
    match act {
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu => {
            if x > 0.0 {
                x
            } else {
                x * Activation::LEAKY_SLOPE as f32
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + exp(-x)),
        Activation::Tanh => 1.0 - 2.0 / (exp(2.0 * x) + 1.0),
        Activation::Gaussian => exp(-x * x),
        Activation::Sin => sin(x),
        Activation::Identity => x,
        // x * Phi(x) with Phi(x) ~ sigmoid(1.702 x) (Hendrycks & Gimpel's approximation).
        Activation::Gelu => x / (1.0 + exp(-1.702 * x)),
    }
}

struct Apply<'a> {
    act: Activation,
    values: &'a mut [f32],
}

/// The loop for one activation, so the compiler sees a single branch-free body to vectorise.
#[inline(always)]
fn each(values: &mut [f32], f: impl Fn(f32) -> f32) {
    for v in values.iter_mut() {
        *v = f(*v);
    }
}

impl pulp::WithSimd for Apply<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let v = self.values;
        match self.act {
            Activation::Relu => each(v, |x| apply_one(Activation::Relu, x)),
            Activation::LeakyRelu => each(v, |x| apply_one(Activation::LeakyRelu, x)),
            Activation::Sigmoid => each(v, |x| apply_one(Activation::Sigmoid, x)),
            Activation::Tanh => each(v, |x| apply_one(Activation::Tanh, x)),
            Activation::Gaussian => each(v, |x| apply_one(Activation::Gaussian, x)),
            Activation::Sin => each(v, |x| apply_one(Activation::Sin, x)),
            Activation::Identity => {}
            Activation::Gelu => each(v, |x| apply_one(Activation::Gelu, x)),
        }
    }
}

/// Applies `act` to every value, in place.
pub fn apply(act: Activation, values: &mut [f32]) {
    pulp::Arch::new().dispatch(Apply { act, values });
}

struct TanhAccurate<'a> {
    values: &'a mut [f32],
}

impl pulp::WithSimd for TanhAccurate<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        each(self.values, tanh_to_a_few_ulp);
    }
}

/// `tanh` of every value, in place, to a few ulp also near 0 (for training; [`apply`] is for
/// pictures).
pub fn tanh_accurate(values: &mut [f32]) {
    pulp::Arch::new().dispatch(TanhAccurate { values });
}

struct TanhBackward<'a> {
    grad: &'a mut [f32],
    y: &'a [f32],
}

impl pulp::WithSimd for TanhBackward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for (g, &y) in self.grad.iter_mut().zip(self.y) {
            *g *= 1.0 - y * y;
        }
    }
}

/// `grad <- grad (1 - y^2)`, in place: the gradient through `y = tanh(x)`, from its output.
///
/// # Panics
/// If the two slices differ in length.
pub fn tanh_backward(grad: &mut [f32], y: &[f32]) {
    assert_eq!(
        grad.len(),
        y.len(),
        "tanh_backward: gradient and output differ in length"
    );
    pulp::Arch::new().dispatch(TanhBackward { grad, y });
}

struct LeakyRelu<'a> {
    values: &'a mut [f32],
    a: f32,
}

impl pulp::WithSimd for LeakyRelu<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let a = self.a;
        each(self.values, |x| if x < 0.0 { a * x } else { x });
    }
}

/// `x <- x` for `x >= 0`, else `a x`, in place: the leaky rectifier (NaN stays NaN).
pub fn leaky_relu(values: &mut [f32], a: f32) {
    pulp::Arch::new().dispatch(LeakyRelu { values, a });
}

struct LeakyReluBackward<'a> {
    grad: &'a mut [f32],
    x: &'a [f32],
    a: f32,
}

impl pulp::WithSimd for LeakyReluBackward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let a = self.a;
        for (g, &x) in self.grad.iter_mut().zip(self.x) {
            if x < 0.0 {
                *g *= a;
            }
        }
    }
}

/// `grad <- grad` where `x >= 0` (or NaN), else `a grad`, in place: the gradient through the
/// leaky rectifier, from its input.
///
/// # Panics
/// If the two slices differ in length.
pub fn leaky_relu_backward(grad: &mut [f32], x: &[f32], a: f32) {
    assert_eq!(
        grad.len(),
        x.len(),
        "leaky_relu_backward: gradient and input differ in length"
    );
    pulp::Arch::new().dispatch(LeakyReluBackward { grad, x, a });
}

/// Lanes of the f64 sums of [`lane_sum`]: each lane adds every `SUM_LANES`-th value in order,
/// then the caller adds the lanes in order, so a sum does not depend on the machine, and the
/// lanes' additions run side by side instead of waiting on one another.
#[cfg(feature = "flex")]
pub(crate) const SUM_LANES: usize = 8;

/// `sum f(v)` over `values` into the lanes `acc`.
#[cfg(feature = "flex")]
#[inline(always)]
pub(crate) fn lane_sum(values: &[f32], f: impl Fn(f32) -> f64, acc: &mut [f64; SUM_LANES]) {
    let mut runs = values.chunks_exact(SUM_LANES);
    for run in &mut runs {
        for (a, &v) in acc.iter_mut().zip(run) {
            *a += f(v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(runs.remainder()) {
        *a += f(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_the_library_functions() {
        let _rng = crate::rng_lock();
        let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.01).collect();
        for act in [
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Gaussian,
            Activation::Sin,
        ] {
            let mut v = xs.clone();
            apply(act, &mut v);
            for (&x, &y) in xs.iter().zip(&v) {
                let want = match act {
                    Activation::Tanh => x.tanh(),
                    Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
                    Activation::Gaussian => (-x * x).exp(),
                    _ => x.sin(),
                };
                assert!((y - want).abs() < 2e-6, "{act:?}({x}) = {y}, want {want}");
            }
        }
        let mut big = vec![1e3f32, -1e3, 200.0];
        apply(Activation::Tanh, &mut big);
        assert_eq!(big, [1.0, -1.0, 1.0]);
        let mut nan = vec![f32::NAN];
        tanh_accurate(&mut nan);
        assert!(nan[0].is_nan(), "a diverged value must stay NaN");
        let mut big = vec![1e3f32, -1e3, 200.0];
        tanh_accurate(&mut big);
        assert_eq!(big, [1.0, -1.0, 1.0]);
    }

    #[test]
    fn tanh_to_a_few_ulp_also_near_zero() {
        // Against f64's tanh, relative: where `1 - 2 / (e^2x + 1)` alone would lose the digits.
        let xs: Vec<f32> = (-3000..=3000)
            .map(|i| i as f32 * 1e-3)
            .chain([1e-30, -1e-20, 1e-7, 3e-5, 0.6249, 0.6251])
            .collect();
        let mut v = xs.clone();
        tanh_accurate(&mut v);
        for (&x, &y) in xs.iter().zip(&v) {
            let want = (x as f64).tanh();
            let rel = ((y as f64 - want) / want.abs().max(1e-38)).abs();
            assert!(
                rel < 4.0 * f32::EPSILON as f64,
                "tanh({x}) = {y}, want {want}"
            );
        }
    }

    #[test]
    fn tanh_backward_by_hand() {
        // d tanh / dx = 1 - tanh^2: at y = 0.5 a gradient of 2 becomes 2 * 0.75 = 1.5.
        let mut grad = vec![2.0f32, 1.0, -4.0];
        tanh_backward(&mut grad, &[0.5, 0.0, -1.0]);
        assert_eq!(grad, [1.5, 1.0, 0.0]);
    }
}
