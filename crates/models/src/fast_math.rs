//! Elementwise activations over host buffers, written so that the compiler vectorises them
//! (branch-free polynomial approximations, run under pulp's runtime CPU dispatch). burn-flex
//! evaluates `tanh`, `exp` and `sin` one element at a time through the C library; drawing a
//! 1024x1024 CPPN applies an activation to 200 million values, where that costs seconds.
//!
//! Accuracy: `exp` to about 2 ulp over the float range (range reduction by `ln 2` and a degree-5
//! minimax-style polynomial on `[-ln2/2, ln2/2]`, Cephes' coefficients), so `tanh`, `sigmoid` and
//! `gaussian` to a few 1e-7 absolute; `sin` to about 1e-6 absolute for `|x| < 1e4` (reduction by
//! `pi/2` in two parts, Taylor polynomials of degree 7 and 8). Plenty for pictures; the training
//! paths never use these.

use nnlab_config::Activation;

#[inline(always)]
fn exp(x: f32) -> f32 {
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
    }
}
