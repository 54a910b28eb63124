//! Nonlinear conjugate gradients with line searches to the Wolfe-Powell conditions, the method
//! of Rasmussen's `minimize` with which Hinton & Salakhutdinov (2006, Science 313) fine-tuned
//! their deep autoencoders: three line searches on each batch of 1000 images, the search
//! restarted from the gradient on every batch.
//!
//! Each line search follows the direction `s` from the point `x`:
//! - it extrapolates (a cubic through the last two points, at most `EXT` times the last step)
//!   until the slope along `s` is no longer steeply negative or the loss stops falling enough;
//! - it then interpolates (quadratic or cubic) inside the bracket until both Wolfe-Powell
//!   conditions hold: `f(x + a s) <= f(x) + RHO a f'(0)` and `|f'(a)| <= -SIG f'(0)`;
//! - on success the next direction is Polak-Ribiere's `s <- (g1.g1 - g0.g1) / (g0.g0) s - g1`
//!   (the negative gradient when that points uphill), and the first trial step the last one
//!   scaled by the ratio of the slopes (at most `RATIO`);
//! - a failed search falls back to the best point seen and tries the steepest direction once;
//!   two failures in a row end the minimisation, as does a zero gradient.
//!
//! One difference from `minimize`: there each extrapolation step fits its cubic from the start
//! of the line, and the interpolation brackets `[0, a]`; here both start from the last point that
//! already lowered the loss enough with a still steep slope, which brackets a Wolfe point too and
//! spends no evaluation going back.
//!
//! The method works on any [`Point`]: a `Vec<f64>` (the tests) or a model's parameters flattened
//! into one `[n]` tensor ([`flatten`], [`unflatten`], [`flatten_grads`]), their losses and
//! gradients computed by burn's autodiff.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use nnlab_config::CgSettings;

/// A trial step may not come closer than this fraction of the bracket to either end.
const INT: f64 = 0.1;
/// Extrapolate at most this many times the current step.
const EXT: f64 = 3.0;
/// The next search's first step grows by at most this factor.
const RATIO: f64 = 10.0;
/// Curvature condition: `|f'(a)| <= SIG |f'(0)|`.
const SIG: f64 = 0.1;
/// Sufficient decrease: `f(a) <= f(0) + RHO a f'(0)`.
const RHO: f64 = SIG / 2.0;

/// A point of the space searched: a vector with a dot product.
pub trait Point: Clone {
    /// `<self, other>`.
    fn dot(&self, other: &Self) -> f64;
    /// `self + a * other`.
    fn add_scaled(&self, a: f64, other: &Self) -> Self;
    /// `a * self`.
    fn scaled(&self, a: f64) -> Self;
}

impl Point for Vec<f64> {
    fn dot(&self, other: &Self) -> f64 {
        self.iter().zip(other).map(|(a, b)| a * b).sum()
    }
    fn add_scaled(&self, a: f64, other: &Self) -> Self {
        self.iter().zip(other).map(|(x, y)| x + a * y).collect()
    }
    fn scaled(&self, a: f64) -> Self {
        self.iter().map(|x| a * x).collect()
    }
}

impl Point for Tensor<1> {
    fn dot(&self, other: &Self) -> f64 {
        (self.clone() * other.clone()).sum().into_scalar::<f64>()
    }
    fn add_scaled(&self, a: f64, other: &Self) -> Self {
        self.clone() + other.clone().mul_scalar(a)
    }
    fn scaled(&self, a: f64) -> Self {
        self.clone().mul_scalar(a)
    }
}

/// Where [`minimize`] ended.
#[derive(Debug, Clone)]
pub struct Minimized<P> {
    /// The best point found.
    pub x: P,
    /// The loss there.
    pub loss: f64,
    /// The loss at the start and after each successful line search.
    pub losses: Vec<f64>,
    /// How many times the loss and its gradient were evaluated.
    pub evaluations: usize,
}

/// One evaluation: the point's offset along the direction, its loss, gradient and slope.
#[derive(Clone)]
struct Trial<P> {
    a: f64,
    f: f64,
    g: P,
    d: f64,
}

/// Minimises `f` (returning the loss and its gradient) from `x` by `settings.line_searches`
/// line searches of at most `settings.max_evaluations` evaluations each.
pub fn minimize<P: Point>(
    x: P,
    mut f: impl FnMut(&P) -> (f64, P),
    settings: &CgSettings,
) -> Minimized<P> {
    let (mut f0, mut g0) = f(&x);
    let mut evaluations = 1;
    let mut x = x;
    let mut losses = vec![f0];
    let mut s = g0.scaled(-1.0);
    let mut d0 = -s.dot(&s);
    let mut step = 1.0 / (1.0 - d0);
    let mut failed_before = false;
    let wolfe =
        |t: &Trial<P>, f0: f64, d0: f64| t.d.abs() <= -SIG * d0 && t.f <= f0 + t.a * RHO * d0;
    for _ in 0..settings.line_searches {
        // A zero (or non-finite) gradient: nowhere to go.
        if d0 >= 0.0 || d0.is_nan() {
            break;
        }
        // The best point seen in this search, returned to if it fails.
        let (mut best_x, mut best_f, mut best_g) = (x.clone(), f0, g0.clone());
        let mut budget = settings.max_evaluations;
        let mut eval = |a: f64, budget: &mut usize| -> Option<Trial<P>> {
            *budget -= 1;
            evaluations += 1;
            let p = x.add_scaled(a, &s);
            let (fa, ga) = f(&p);
            let d = ga.dot(&s);
            if !(fa.is_finite() && d.is_finite()) {
                return None;
            }
            if fa < best_f {
                (best_x, best_f, best_g) = (p, fa, ga.clone());
            }
            Some(Trial { a, f: fa, g: ga, d })
        };
        let start = Trial {
            a: 0.0,
            f: f0,
            g: g0.clone(),
            d: d0,
        };

        // Extrapolation: lengthen the step while the loss falls steeply along `s`.
        let mut low = start.clone();
        let mut trial = None;
        let mut a3 = step;
        while budget > 0 {
            let Some(t) = eval(a3, &mut budget) else {
                // A non-finite loss: halve the step towards the last good point.
                a3 = (low.a + a3) / 2.0;
                continue;
            };
            let done = t.d > SIG * d0 || t.f > f0 + t.a * RHO * d0 || budget == 0;
            if done {
                trial = Some(t);
                break;
            }
            // A cubic through the last two points, its minimum as the next step.
            let (a1, f1, d1) = (low.a, low.f, low.d);
            let (a2, f2, d2) = (t.a, t.f, t.d);
            let aa = 6.0 * (f1 - f2) + 3.0 * (d2 + d1) * (a2 - a1);
            let bb = 3.0 * (f2 - f1) - (2.0 * d1 + d2) * (a2 - a1);
            let mut next =
                a1 - d1 * (a2 - a1).powi(2) / (bb + (bb * bb - aa * d1 * (a2 - a1)).sqrt());
            if !next.is_finite() || next < 0.0 || next > a2 * EXT {
                next = a2 * EXT;
            } else if next < a2 + INT * (a2 - a1) {
                next = a2 + INT * (a2 - a1);
            }
            low = t;
            a3 = next;
        }

        // Interpolation: shrink the bracket [low, high] until the Wolfe-Powell conditions hold.
        let mut high: Option<Trial<P>> = None;
        if let Some(mut t) = trial {
            while !wolfe(&t, f0, d0) && budget > 0 {
                if t.d > 0.0 || t.f > f0 + t.a * RHO * d0 {
                    high = Some(t.clone());
                } else {
                    low = t.clone();
                }
                let Some(h) = high.as_ref() else { break };
                let (a2, f2, d2) = (low.a, low.f, low.d);
                let (a4, f4, d4) = (h.a, h.f, h.d);
                let mut next = if f4 > f0 {
                    // Quadratic through f2, d2 and f4.
                    a2 - (0.5 * d2 * (a4 - a2).powi(2)) / (f4 - f2 - d2 * (a4 - a2))
                } else {
                    let aa = 6.0 * (f2 - f4) / (a4 - a2) + 3.0 * (d4 + d2);
                    let bb = 3.0 * (f4 - f2) - (2.0 * d2 + d4) * (a4 - a2);
                    a2 + ((bb * bb - aa * d2 * (a4 - a2).powi(2)).sqrt() - bb) / aa
                };
                if !next.is_finite() {
                    next = (a2 + a4) / 2.0;
                }
                next = next.min(a4 - INT * (a4 - a2)).max(a2 + INT * (a4 - a2));
                match eval(next, &mut budget) {
                    Some(n) => t = n,
                    None => {
                        // Treat a non-finite loss as too far: it closes the bracket there.
                        t = Trial {
                            a: next,
                            f: f64::INFINITY,
                            g: h.g.clone(),
                            d: f64::INFINITY,
                        };
                    }
                }
            }
            if wolfe(&t, f0, d0) {
                // Success: move, and turn the direction by Polak-Ribiere.
                x = x.add_scaled(t.a, &s);
                f0 = t.f;
                losses.push(f0);
                let beta = (t.g.dot(&t.g) - g0.dot(&t.g)) / g0.dot(&g0);
                s = s.scaled(beta).add_scaled(-1.0, &t.g);
                g0 = t.g;
                let last_slope = d0;
                d0 = g0.dot(&s);
                // Uphill, or not a number (beta's denominator 0): the steepest direction.
                if d0 >= 0.0 || d0.is_nan() {
                    s = g0.scaled(-1.0);
                    d0 = -s.dot(&s);
                }
                step = t.a * RATIO.min(last_slope / (d0 - f64::MIN_POSITIVE));
                failed_before = false;
                continue;
            }
        }
        // Failure: back to the best point seen; a second failure in a row ends the search.
        x = best_x;
        f0 = best_f;
        g0 = best_g;
        if failed_before {
            break;
        }
        s = g0.scaled(-1.0);
        d0 = -s.dot(&s);
        step = 1.0 / (1.0 - d0);
        failed_before = true;
    }
    Minimized {
        x,
        loss: f0,
        losses,
        evaluations,
    }
}

/// The float parameters of `module` as one `[n]` tensor on its inner (non-autodiff) device, in
/// the module's visiting order.
pub fn flatten<M: Module>(module: &M) -> Tensor<1> {
    let parts = super::flat_parameters(module)
        .into_iter()
        .map(Tensor::inner)
        .collect();
    Tensor::cat(parts, 0)
}

/// Replaces each float parameter with its stretch of a flat vector.
struct Unflatten<'a> {
    flat: &'a Tensor<1>,
    offset: usize,
}

impl ModuleMapper for Unflatten<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let values: Tensor<D> = self.flat.clone().narrow(0, self.offset, n).reshape(shape);
        self.offset += n;
        let mut updated = Tensor::from_inner(values);
        if tensor.is_require_grad() {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// `module` with its float parameters read, in visiting order, from `flat` (laid out as
/// [`flatten`] lays them out).
pub fn unflatten<M: Module>(module: M, flat: &Tensor<1>) -> M {
    let mut m = Unflatten { flat, offset: 0 };
    let module = module.map(&mut m);
    assert_eq!(
        m.offset,
        flat.dims()[0],
        "the flat vector holds exactly the module's parameters"
    );
    module
}

/// Every float parameter's gradient, flattened, in visiting order; zeros where it has none.
struct FlattenGrads<'a> {
    grads: &'a Gradients,
    out: Vec<Tensor<1>>,
}

impl ModuleVisitor for FlattenGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let g = value
            .grad(self.grads)
            .unwrap_or_else(|| value.clone().inner().zeros_like());
        self.out.push(g.flatten(0, D - 1));
    }
}

/// The gradients of `module`'s float parameters in `grads`, as one `[n]` tensor laid out as
/// [`flatten`] lays out the parameters.
pub fn flatten_grads<M: Module>(module: &M, grads: &Gradients) -> Tensor<1> {
    let mut v = FlattenGrads {
        grads,
        out: Vec::new(),
    };
    module.visit(&mut v);
    Tensor::cat(v.out, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(line_searches: usize) -> CgSettings {
        CgSettings {
            line_searches,
            ..CgSettings::default()
        }
    }

    /// On a convex quadratic `1/2 x'Ax - b'x` in n dimensions, conjugate directions reach the
    /// minimum `A^-1 b` in n line searches when each search is exact; these stop at the first
    /// point that meets the Wolfe-Powell conditions, and take a few more: here 10 for n = 4.
    #[test]
    fn a_quadratic_is_solved_in_about_n_searches() {
        // A = diag(1, 4, 9, 16) plus a coupling between the first two coordinates.
        let a = [
            [1.5, 0.5, 0.0, 0.0],
            [0.5, 4.0, 0.0, 0.0],
            [0.0, 0.0, 9.0, 0.0],
            [0.0, 0.0, 0.0, 16.0],
        ];
        let b = [1.0, -2.0, 3.0, 0.5];
        let f = |x: &Vec<f64>| {
            let ax: Vec<f64> = a
                .iter()
                .map(|r| r.iter().zip(x).map(|(p, q)| p * q).sum())
                .collect();
            let loss = 0.5 * x.dot(&ax) - b.iter().zip(x).map(|(p, q)| p * q).sum::<f64>();
            let grad = ax.iter().zip(b).map(|(p, q)| p - q).collect();
            (loss, grad)
        };
        let r = minimize(vec![0.0; 4], f, &settings(10));
        // The solution, by hand: the 2x2 block [[1.5, 0.5], [0.5, 4]] (determinant 5.75) and
        // the diagonal.
        let want = [
            (4.0 * 1.0 - 0.5 * -2.0) / 5.75,
            (1.5 * -2.0 - 0.5 * 1.0) / 5.75,
            3.0 / 9.0,
            0.5 / 16.0,
        ];
        for (got, want) in r.x.iter().zip(want) {
            assert!((got - want).abs() < 1e-4, "{:?} vs {want:?}", r.x);
        }
        // Each successful search lowered the loss.
        assert!(r.losses.windows(2).all(|w| w[1] < w[0]), "{:?}", r.losses);
    }

    /// Rosenbrock's valley `(1 - x)^2 + 100 (y - x^2)^2` and its gradient: nonconvex, minimum 0
    /// at (1, 1), where steepest descent crawls.
    fn rosenbrock(p: &[f64]) -> (f64, Vec<f64>) {
        let (x, y) = (p[0], p[1]);
        let loss = (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
        let gx = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x);
        let gy = 200.0 * (y - x * x);
        (loss, vec![gx, gy])
    }

    #[test]
    fn rosenbrock_reaches_its_minimum() {
        let r = minimize(
            vec![-1.2, 1.0],
            |p: &Vec<f64>| rosenbrock(p),
            &settings(100),
        );
        assert!(r.loss < 1e-8, "loss {} at {:?}", r.loss, r.x);
        assert!((r.x[0] - 1.0).abs() < 1e-3 && (r.x[1] - 1.0).abs() < 1e-3);
    }

    /// Only a few line searches: the loss still falls, and the evaluations stay within the
    /// budget of one start plus `max_evaluations` per search.
    #[test]
    fn few_searches_lower_the_loss_within_budget() {
        let s = settings(3);
        let r = minimize(vec![-1.2, 1.0], |p: &Vec<f64>| rosenbrock(p), &s);
        assert!(r.loss < r.losses[0], "{:?}", r.losses);
        assert!(r.evaluations <= 1 + 3 * s.max_evaluations);
        assert_eq!(rosenbrock(&r.x).0, r.loss);
    }

    /// A loss that is not finite past a point (a log of a negative number): the search steps
    /// back instead of stopping, and the point it returns has a finite loss.
    #[test]
    fn a_non_finite_loss_is_stepped_back_from() {
        // -log(1 - 8x) + x^2 - 10x has its minimum just above 0 and no value beyond 1/8, where
        // the first steps from 0 land.
        let mut non_finite = 0;
        let f = |p: &Vec<f64>| {
            let x = p[0];
            let loss = -(1.0 - 8.0 * x).ln() + x * x - 10.0 * x;
            non_finite += usize::from(!loss.is_finite());
            (loss, vec![8.0 / (1.0 - 8.0 * x) + 2.0 * x - 10.0])
        };
        let r = minimize(vec![0.0], f, &settings(10));
        assert!(r.loss.is_finite() && r.x[0] < 0.125, "{r:?}");
        assert!(non_finite > 0, "the searches reached past the boundary");
        // The minimum, by hand: 8/(1-8x) + 2x - 10 = 0, i.e. 16x^2 - 82x + 2 = 0,
        // x = (82 - sqrt(6596)) / 32.
        let want = (82.0 - 6596f64.sqrt()) / 32.0;
        assert!((r.x[0] - want).abs() < 1e-6, "{} vs {want}", r.x[0]);
    }

    /// At a minimum already (a zero gradient) no search is made: one evaluation, no move.
    #[test]
    fn a_zero_gradient_ends_at_once() {
        let f = |p: &Vec<f64>| (p[0] * p[0], vec![2.0 * p[0]]);
        let r = minimize(vec![0.0], f, &settings(3));
        assert_eq!((r.x, r.evaluations, r.losses), (vec![0.0], 1, vec![0.0]));
    }

    /// The flat layout round-trips a module's parameters, and the gradients line up with it:
    /// the gradient of `sum(w^2) / 2` over all parameters is the flat vector itself.
    #[test]
    fn flat_parameters_and_gradients_line_up() {
        use burn::nn::{Linear, LinearConfig};
        let device = Device::flex().autodiff();
        let linear: Linear = LinearConfig::new(3, 2).init(&device);
        let flat = flatten(&linear);
        assert_eq!(flat.dims(), [3 * 2 + 2]);
        let doubled = unflatten(linear.clone(), &flat.clone().mul_scalar(2.0));
        // The same parameters, by id, as the optimizer state and checkpoints know them.
        assert_eq!(doubled.weight.id, linear.weight.id);
        assert_eq!(
            flatten(&doubled).into_data().try_to_vec::<f32>().unwrap(),
            flat.clone()
                .mul_scalar(2.0)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        );
        let bias = doubled.bias.as_ref().expect("a bias").val();
        let w = doubled.weight.val();
        let loss = ((w.clone() * w).sum() + (bias.clone() * bias).sum()).div_scalar(2.0);
        let grads = loss.backward();
        assert_eq!(
            flatten_grads(&doubled, &grads)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            flatten(&doubled).into_data().try_to_vec::<f32>().unwrap()
        );
    }
}
