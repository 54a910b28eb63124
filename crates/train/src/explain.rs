//! Attribution maps of a classifier's decision: which pixels its class score depends on.
//!
//! - **Gradient** (Simonyan, Vedaldi & Zisserman 2014, "Deep inside convolutional networks"):
//!   `d score_c / d x`, one backward pass through burn's autodiff.
//! - **Integrated gradients** (Sundararajan, Taly & Yan 2017, "Axiomatic attribution for deep
//!   networks"): `(x - x') * mean over a in (0, 1] of d score_c / d x at x' + a (x - x')`, from a
//!   baseline `x'`, by the midpoint rule over `steps` points. Completeness: the attributions sum
//!   to `score_c(x) - score_c(x')`; [`IntegratedGradients::completeness_error`] says how far the
//!   sum is from it (the rule's error, which shrinks with more steps).
//! - **Occlusion** (Zeiler & Fergus 2014, "Visualizing and understanding convolutional
//!   networks"): the fall of the class score when a `patch` x `patch` square is set to the
//!   baseline's value, sliding by `stride`; each pixel gets the mean fall over the squares that
//!   cover it.
//!
//! The score of class `c` is its logit (before the softmax), as in Simonyan et al. Images are
//! flat rows `[features]` of a square `side` x `side` picture.

use burn::prelude::*;

use crate::engine::data_parallel::Replica;
use crate::tasks::classifier::Net;

/// Logits `[n, classes]` of flat images `[n, features]`.
fn logits(net: &Net, rows: Vec<f32>, features: usize, device: &Device) -> Tensor<2> {
    let n = rows.len() / features;
    net.forward(Tensor::from_data(
        TensorData::new(rows, [n, features]),
        device,
    ))
}

/// Column `class` of `logits` `[n, classes]` on the host: `n` scores.
fn scores(logits: Tensor<2>, class: usize) -> Vec<f32> {
    let [n, _] = logits.dims();
    logits
        .slice([0..n, class..class + 1])
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 scores")
}

/// The network on `autodiff` (an autodiff device) frozen: its parameters take no gradient and
/// its layers run as in evaluation (no dropout, batch norm's running statistics), so that the
/// forward pass being explained is the deterministic one, while gradients still flow to inputs.
pub fn frozen_on(net: &Net, autodiff: &Device) -> Net {
    use burn::module::Module;
    match net.clone().fork(autodiff) {
        Net::Mlp(m) => Net::Mlp(m.freeze()),
        Net::Cnn(c) => Net::Cnn(Box::new(c.freeze())),
    }
}

/// `d score_class / d x` at each of the `n` images in `rows` (`[n, features]` flat), each row's
/// gradient of its own score, as `n * features` values. `net` lives on `autodiff`, an autodiff
/// device (see [`frozen_on`]).
pub fn gradients(
    net: &Net,
    rows: &[f32],
    features: usize,
    class: usize,
    autodiff: &Device,
) -> Vec<f32> {
    let n = rows.len() / features;
    let x = Tensor::<2>::from_data(TensorData::new(rows.to_vec(), [n, features]), autodiff)
        .require_grad();
    let logits = net.forward(x.clone());
    let [_, classes] = logits.dims();
    // The rows are independent, so the gradient of the sum of each row's score is each row's own.
    let score = logits.slice([0..n, class..class + 1]).sum();
    debug_assert!(class < classes);
    let grads = score.backward();
    x.grad(&grads)
        .expect("the input requires its gradient")
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 gradients")
}

/// The gradient map of one image `x` (`[features]`) for `class`.
pub fn gradient(net: &Net, x: &[f32], class: usize, autodiff: &Device) -> Vec<f32> {
    gradients(net, x, x.len(), class, autodiff)
}

/// Integrated gradients of one image and how well they add up.
#[derive(Debug, Clone)]
pub struct IntegratedGradients {
    /// One attribution per pixel.
    pub map: Vec<f32>,
    /// `score_c(x) - score_c(baseline)`, what the attributions should sum to.
    pub difference: f64,
    /// The sum of the attributions.
    pub sum: f64,
}

impl IntegratedGradients {
    /// `|sum - difference| / |difference|` (the absolute gap where the difference is 0).
    pub fn completeness_error(&self) -> f64 {
        let gap = (self.sum - self.difference).abs();
        if self.difference.abs() > 1e-12 {
            gap / self.difference.abs()
        } else {
            gap
        }
    }
}

/// Integrated gradients of `x` (`[features]`) for `class` from `baseline`, over `steps` points
/// (one forward and backward pass of `steps` images). `net` lives on `autodiff`.
pub fn integrated_gradients(
    net: &Net,
    x: &[f32],
    baseline: &[f32],
    class: usize,
    steps: usize,
    autodiff: &Device,
) -> IntegratedGradients {
    let f = x.len();
    let steps = steps.max(1);
    let mut path = Vec::with_capacity(steps * f);
    for k in 0..steps {
        let a = (k as f32 + 0.5) / steps as f32;
        path.extend(x.iter().zip(baseline).map(|(xi, bi)| bi + a * (xi - bi)));
    }
    let grads = gradients(net, &path, f, class, autodiff);
    let mut mean = vec![0.0f64; f];
    for row in grads.chunks(f) {
        for (m, g) in mean.iter_mut().zip(row) {
            *m += f64::from(*g) / steps as f64;
        }
    }
    let map: Vec<f32> = mean
        .iter()
        .zip(x.iter().zip(baseline))
        .map(|(m, (xi, bi))| (m * f64::from(xi - bi)) as f32)
        .collect();
    let ends = scores(
        logits(net, [x, baseline].concat(), f, autodiff).detach(),
        class,
    );
    IntegratedGradients {
        sum: map.iter().map(|v| f64::from(*v)).sum(),
        difference: f64::from(ends[0]) - f64::from(ends[1]),
        map,
    }
}

/// Occlusion sensitivity of `x` (`[side * side]`) for `class`: the fall of the score when a
/// `patch` x `patch` square (sliding by `stride`, the last one flush with the edge) is set to
/// `fill`, averaged per pixel over the squares covering it. One forward pass of every occluded
/// image; `net` may live on any device.
pub fn occlusion(
    net: &Net,
    x: &[f32],
    side: usize,
    class: usize,
    (patch, stride, fill): (usize, usize, f32),
    device: &Device,
) -> Vec<f32> {
    let patch = patch.clamp(1, side);
    let stride = stride.max(1);
    let mut starts: Vec<usize> = (0..=side - patch).step_by(stride).collect();
    if starts.last() != Some(&(side - patch)) {
        starts.push(side - patch);
    }
    let squares: Vec<(usize, usize)> = starts
        .iter()
        .flat_map(|&r| starts.iter().map(move |&c| (r, c)))
        .collect();
    let mut rows = Vec::with_capacity((squares.len() + 1) * x.len());
    rows.extend_from_slice(x);
    for &(r, c) in &squares {
        let mut img = x.to_vec();
        for i in r..r + patch {
            img[i * side + c..i * side + c + patch].fill(fill);
        }
        rows.extend(img);
    }
    let s = scores(logits(net, rows, x.len(), device), class);
    let (mut fall, mut count) = (vec![0.0f32; x.len()], vec![0u32; x.len()]);
    for (&(r, c), score) in squares.iter().zip(&s[1..]) {
        for i in r..r + patch {
            for j in c..c + patch {
                fall[i * side + j] += s[0] - score;
                count[i * side + j] += 1;
            }
        }
    }
    fall.iter()
        .zip(&count)
        .map(|(f, &n)| if n > 0 { f / n as f32 } else { 0.0 })
        .collect()
}

/// Spearman's rank correlation of two maps' absolute values (how alike two explanations are,
/// as Adebayo et al. 2018 compare them).
pub fn rank_correlation(a: &[f32], b: &[f32]) -> f64 {
    let abs = |v: &[f32]| v.iter().map(|x| f64::from(x.abs())).collect::<Vec<f64>>();
    nnlab_aesthetics::spearman::rho(&abs(a), &abs(b))
}

/// `net` with its top `k` layers (counted from the output: dense layers first, then a CNN's
/// convolutions) replaced by those of `fresh`, a network of the same shape with other weights:
/// the cascading randomisation of Adebayo et al. 2018 ("Sanity checks for saliency maps"). Maps
/// that stay alike as the layers are randomised do not depend on what the network learnt.
pub fn randomise_from_top(net: &Net, fresh: &Net, k: usize) -> Net {
    match (net.clone(), fresh) {
        (Net::Mlp(mut m), Net::Mlp(f)) => {
            let n = m.layers.len();
            for i in n.saturating_sub(k)..n {
                m.layers[i] = f.layers[i].clone();
            }
            Net::Mlp(m)
        }
        (Net::Cnn(mut c), Net::Cnn(f)) => {
            let dense = c.dense.len();
            for i in dense.saturating_sub(k)..dense {
                c.dense[i] = f.dense[i].clone();
            }
            let convs = c.convs.len();
            let more = k.saturating_sub(dense).min(convs);
            for i in convs - more..convs {
                c.convs[i] = f.convs[i].clone();
                // A convolution's batch norm (scale, shift, running statistics) goes with it.
                c.norms[i] = f.norms[i].clone();
            }
            Net::Cnn(c)
        }
        (net, _) => net,
    }
}

/// The number of layers [`randomise_from_top`] can replace.
pub fn layers(net: &Net) -> usize {
    match net {
        Net::Mlp(m) => m.layers.len(),
        Net::Cnn(c) => c.dense.len() + c.convs.len(),
    }
}
