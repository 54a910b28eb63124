//! What the network likes: activation maximisation (Erhan, Bengio, Courville & Vincent 2009,
//! "Visualizing higher-layer features of a deep network"): gradient ascent on an input image to
//! raise one class's logit, regularised towards natural-looking images by an L2 penalty (small
//! intensities) and a total-variation penalty (smooth regions), beside the unregularised optimum,
//! which shows how easily the network is fooled by images no person would call that digit
//! (Nguyen, Yosinski & Clune 2015, "Deep neural networks are easily fooled").

use burn::prelude::*;
use burn::tensor::Distribution;

use super::eye::Eye;
use crate::error::Result;
use crate::pictures::Images;

/// Gradient-ascent steps.
pub const STEPS: usize = 300;
/// Step size.
pub const STEP: f64 = 0.05;
/// Weight of the L2 penalty `sum x^2` in the regularised objective.
pub const L2: f64 = 0.01;
/// Weight of the total-variation penalty (squared neighbour differences).
pub const TV: f64 = 0.3;

/// The images each class's logit likes best, regularised and not.
#[derive(Debug, Clone)]
pub struct Preferred {
    /// One regularised image per class.
    pub regularised: Images,
    /// One unregularised image per class.
    pub fooling: Images,
    /// The eye's probability of the intended class for each regularised image.
    pub regularised_confidence: Vec<f64>,
    /// The same for each fooling image.
    pub fooling_confidence: Vec<f64>,
}

/// Sum over the batch of squared differences between neighbouring pixels, `[n, side * side]`.
fn total_variation(x: Tensor<2>, side: usize) -> Tensor<1> {
    let [n, _] = x.dims();
    let img: Tensor<3> = x.reshape([n, side, side]);
    let dr = img.clone().narrow(1, 1, side - 1) - img.clone().narrow(1, 0, side - 1);
    let dc = img.clone().narrow(2, 1, side - 1) - img.narrow(2, 0, side - 1);
    dr.square().sum() + dc.square().sum()
}

fn ascend(eye: &Eye, regularise: bool, seed: u64) -> Result<(Images, Vec<f64>)> {
    let k = eye.data.classes;
    let side = eye.side();
    let f = side * side;
    let ad = eye.device.clone().autodiff();
    ad.seed(seed);
    let mut x = Tensor::<2>::random([k, f], Distribution::Uniform(0.4, 0.6), &ad).require_grad();
    // Row i asks for class i.
    let mask = Tensor::<2>::from_data(
        TensorData::new(
            (0..k * k)
                .map(|j| f32::from(j / k == j % k))
                .collect::<Vec<f32>>(),
            [k, k],
        ),
        &ad,
    );
    for _ in 0..STEPS {
        let logits = eye.net.forward(x.clone());
        let mut objective = (logits * mask.clone()).sum();
        if regularise {
            objective = objective
                - x.clone().square().sum().mul_scalar(L2)
                - total_variation(x.clone(), side).mul_scalar(TV);
        }
        let grads = objective.backward();
        let g = x
            .grad(&grads)
            .expect("the input takes part in the objective");
        // Normalised steps, so every class moves at the same pace.
        let norm = g.clone().square().sum_dim(1).sqrt().add_scalar(1e-12);
        x = (x.inner() + (g / norm).mul_scalar(STEP * (f as f64).sqrt()))
            .clamp(0.0, 1.0)
            .autodiff()
            .require_grad();
    }
    let pixels: Vec<f32> = x
        .inner()
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("f32");
    let probs = eye.probabilities(&pixels);
    let confidence = (0..k).map(|i| probs[i * k + i]).collect();
    Ok((Images::grey(pixels, side), confidence))
}

/// The preferred image of every class, regularised and not.
pub fn preferred_images(eye: &Eye, seed: u64) -> Result<Preferred> {
    let (regularised, regularised_confidence) = ascend(eye, true, seed)?;
    let (fooling, fooling_confidence) = ascend(eye, false, seed)?;
    Ok(Preferred {
        regularised,
        fooling,
        regularised_confidence,
        fooling_confidence,
    })
}
