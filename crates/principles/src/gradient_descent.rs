//! Gradient descent and two of its refinements, as the update formulas.
//!
//! * Gradient descent: `w_new = w_old - alpha * grad L(w)`.
//! * Momentum (Polyak's heavy ball, in PyTorch's and burn's form): `v <- mu v + g`,
//!   `w <- w - alpha v` (for a constant `alpha` this is Keras' `v <- mu v - alpha g; w <- w + v`).
//! * Adam (Kingma & Ba, 2014, Algorithm 1): `m <- b1 m + (1 - b1) g`,
//!   `v <- b2 v + (1 - b2) g^2`, `m_hat = m / (1 - b1^t)`, `v_hat = v / (1 - b2^t)`,
//!   `w <- w - alpha m_hat / (sqrt(v_hat) + eps)` (PyTorch and burn put epsilon here); or, as
//!   Keras computes it (the paper's "efficient" form, Sec. 2),
//!   `alpha_t = alpha sqrt(1 - b2^t) / (1 - b1^t)`, `w <- w - alpha_t m / (sqrt(v) + eps)`.

use burn::module::Param;
use burn::prelude::*;
use nnlab_config::EpsilonPlacement;
use nnlab_models::Mlp;

use crate::mlp::LayerGrads;

/// `w_new = w_old - alpha * grad`. Any shape.
pub fn gradient_descent<const D: usize>(w: Tensor<D>, grad: Tensor<D>, alpha: f64) -> Tensor<D> {
    w - grad.mul_scalar(alpha)
}

/// Heavy-ball momentum: returns the new `w` and velocity `v`.
pub fn momentum<const D: usize>(
    w: Tensor<D>,
    grad: Tensor<D>,
    velocity: Option<Tensor<D>>,
    alpha: f64,
    mu: f64,
) -> (Tensor<D>, Tensor<D>) {
    let v = match velocity {
        Some(v) => v.mul_scalar(mu) + grad,
        None => grad,
    };
    (w - v.clone().mul_scalar(alpha), v)
}

/// Adam's moments for one parameter.
#[derive(Debug, Clone)]
pub struct AdamMoments<const D: usize> {
    /// Steps taken, `t`.
    pub t: i32,
    /// First moment `m`.
    pub m: Tensor<D>,
    /// Second moment `v`.
    pub v: Tensor<D>,
}

/// Adam's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamHyper {
    /// First-moment decay `b1`.
    pub beta1: f64,
    /// Second-moment decay `b2`.
    pub beta2: f64,
    /// `eps`.
    pub epsilon: f64,
    /// Where `eps` is added.
    pub placement: EpsilonPlacement,
}

/// One Adam step: returns the new `w` and moments.
pub fn adam<const D: usize>(
    w: Tensor<D>,
    grad: Tensor<D>,
    moments: Option<AdamMoments<D>>,
    alpha: f64,
    h: AdamHyper,
) -> (Tensor<D>, AdamMoments<D>) {
    let (b1, b2, eps) = (h.beta1, h.beta2, h.epsilon);
    let (t, m, v) = match moments {
        Some(s) => (s.t, s.m, s.v),
        None => (0, grad.zeros_like(), grad.zeros_like()),
    };
    let t = t + 1;
    let m = m.mul_scalar(b1) + grad.clone().mul_scalar(1.0 - b1);
    let v = v.mul_scalar(b2) + grad.square().mul_scalar(1.0 - b2);
    let w = match h.placement {
        EpsilonPlacement::Pytorch => {
            let m_hat = m.clone().div_scalar(1.0 - b1.powi(t));
            let v_hat = v.clone().div_scalar(1.0 - b2.powi(t));
            w - (m_hat / v_hat.sqrt().add_scalar(eps)).mul_scalar(alpha)
        }
        EpsilonPlacement::Keras => {
            let alpha_t = alpha * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
            w - (m.clone() / v.clone().sqrt().add_scalar(eps)).mul_scalar(alpha_t)
        }
    };
    (w, AdamMoments { t, m, v })
}

/// An update rule with its per-layer state, applied to a whole [`Mlp`].
#[derive(Debug, Clone)]
pub enum Rule {
    /// Plain gradient descent.
    GradientDescent,
    /// Momentum `mu`, with the velocities of each layer's `(W, b)`.
    Momentum {
        /// `mu`.
        mu: f64,
        /// Velocities, once the first step is taken.
        velocity: Vec<(Tensor<2>, Tensor<1>)>,
    },
    /// Adam, with the moments of each layer's `(W, b)`.
    Adam {
        /// `beta1`, `beta2`, `epsilon` and where epsilon goes.
        hyper: AdamHyper,
        /// Moments, once the first step is taken.
        moments: Vec<(AdamMoments<2>, AdamMoments<1>)>,
    },
}

impl Rule {
    /// Applies the rule with learning rate `alpha` to every layer of `mlp`.
    pub fn step(&mut self, mut mlp: Mlp, grads: Vec<LayerGrads>, alpha: f64) -> Mlp {
        for (l, (gw, gb)) in grads.into_iter().enumerate() {
            let layer = &mut mlp.layers[l];
            let w = layer.weight.val();
            let b = layer.bias.as_ref().map(|b| b.val());
            let (w, b) = match self {
                Rule::GradientDescent => (
                    gradient_descent(w, gw, alpha),
                    b.map(|b| gradient_descent(b, gb, alpha)),
                ),
                Rule::Momentum { mu, velocity } => {
                    let prev = velocity.get(l).cloned();
                    let (w, vw) = momentum(w, gw, prev.clone().map(|p| p.0), alpha, *mu);
                    let bias = b.map(|b| momentum(b, gb.clone(), prev.map(|p| p.1), alpha, *mu));
                    let vb = bias.as_ref().map_or(gb, |(_, v)| v.clone());
                    set(velocity, l, (vw, vb));
                    (w, bias.map(|(b, _)| b))
                }
                Rule::Adam { hyper, moments } => {
                    let prev = moments.get(l).cloned();
                    let (w, mw) = adam(w, gw, prev.clone().map(|p| p.0), alpha, *hyper);
                    let (b, mb) = match b {
                        Some(b) => {
                            let (b, mb) = adam(b, gb, prev.map(|p| p.1), alpha, *hyper);
                            (Some(b), mb)
                        }
                        None => (
                            None,
                            AdamMoments {
                                t: 0,
                                m: gb.zeros_like(),
                                v: gb.zeros_like(),
                            },
                        ),
                    };
                    set(moments, l, (mw, mb));
                    (w, b)
                }
            };
            layer.weight = Param::initialized(layer.weight.id, w);
            if let (Some(old), Some(b)) = (layer.bias.take(), b) {
                layer.bias = Some(Param::initialized(old.id, b));
            }
        }
        mlp
    }
}

fn set<T>(v: &mut Vec<T>, l: usize, value: T) {
    if l < v.len() {
        v[l] = value;
    } else {
        v.push(value);
    }
}
