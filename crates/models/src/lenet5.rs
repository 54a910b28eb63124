//! LeNet-5 as LeCun, Bottou, Bengio & Haffner (1998), "Gradient-based learning applied to
//! document recognition", Proc. IEEE 86(11), section II.B and appendices A and C, built it:
//!
//! - the 28x28 image centred in a 32x32 field, white (background) at -0.1 and black (ink) at
//!   1.175, so that the pixels have a mean of about 0 and a variance of about 1;
//! - every unit up to F6 squashed by the scaled tanh `f(a) = 1.7159 tanh(2a/3)` (appendix A);
//! - C1: 6 maps of 5x5 convolutions, 28x28;
//! - S2 and S4: each unit adds its 2x2 inputs, multiplies the sum by a trainable coefficient
//!   and adds a trainable bias (one of each per map), then squashes;
//! - C3: 16 maps of 5x5 convolutions, each seeing only the S2 maps of the paper's Table I
//!   (60 connections instead of 96: fewer parameters and broken symmetry);
//! - C5: 120 maps of 5x5 convolutions over the 5x5 S4 maps (a full connection), F6: 84 units;
//! - the output: one Euclidean RBF unit per class, `y_i = sum_j (x_j - w_ij)^2` over F6's 84
//!   outputs, its parameters fixed at -1 or +1 to draw the class's digit on a 7x12 bitmap
//!   (their Fig. 3 shows such stylised characters; the bitmaps here are drawn for nnlab);
//! - weights and biases drawn uniformly from `+-2.4 / F_i`, `F_i` the unit's fan-in (or, with
//!   [`Lenet5Init::SqrtFanIn`], as LeCun and Bottou's Lush demo of LeNet-5 starts them).
//!
//! The loss is the paper's MAP criterion (eq. 9): the correct class's distance plus a penalty
//! that pushes the other distances up, `y_D + log(exp(-j) + sum_i exp(-y_i))`; the prediction is
//! the class of the smallest distance. About 60,000 trainable parameters (C3's weight tensor
//! holds all 96 kernels, the 36 outside the table kept at zero by a mask).

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use nnlab_config::Lenet5Init;

/// `A` and `S` of the squashing function `A tanh(S a)` (appendix A).
const A: f64 = 1.7159;
const S: f64 = 2.0 / 3.0;
/// The pixel values of the background and the ink (section III.A).
const WHITE: f64 = -0.1;
const BLACK: f64 = 1.175;
/// F6's units, the points' dimension (84 = 7 x 12, a bitmap's pixels).
pub const F6: usize = 84;
/// The constant `j` of the MAP criterion (eq. 9; the paper gives no value): the penalty stops
/// pushing once every wrong class is `j` farther than no class at all.
pub const MAP_J: f64 = 1.0;

/// Which S2 maps each C3 map sees (the paper's Table I): columns 0-5 see three contiguous maps,
/// 6-11 four contiguous, 12-14 four discontinuous, 15 all six.
pub const C3_TABLE: [&[usize]; 16] = [
    &[0, 1, 2],
    &[1, 2, 3],
    &[2, 3, 4],
    &[3, 4, 5],
    &[0, 4, 5],
    &[0, 1, 5],
    &[0, 1, 2, 3],
    &[1, 2, 3, 4],
    &[2, 3, 4, 5],
    &[0, 3, 4, 5],
    &[0, 1, 4, 5],
    &[0, 1, 2, 5],
    &[0, 1, 3, 4],
    &[1, 2, 4, 5],
    &[0, 2, 3, 5],
    &[0, 1, 2, 3, 4, 5],
];

/// The digits on 7x12 bitmaps (`#` is +1, `.` is -1), the RBF units' parameter vectors.
const CODES: [[&str; 12]; 10] = [
    [
        "..###..", ".#...#.", "#.....#", "#.....#", "#.....#", "#.....#", "#.....#", "#.....#",
        "#.....#", "#.....#", ".#...#.", "..###..",
    ],
    [
        "...#...", "..##...", ".#.#...", "...#...", "...#...", "...#...", "...#...", "...#...",
        "...#...", "...#...", "...#...", ".#####.",
    ],
    [
        "..###..", ".#...#.", "#.....#", "......#", ".....#.", "....#..", "...#...", "..#....",
        ".#.....", "#......", "#......", "#######",
    ],
    [
        ".#####.", "#.....#", "......#", "......#", ".....#.", "..###..", ".....#.", "......#",
        "......#", "......#", "#.....#", ".#####.",
    ],
    [
        "....##.", "...#.#.", "..#..#.", ".#...#.", "#....#.", "#....#.", "#######", ".....#.",
        ".....#.", ".....#.", ".....#.", ".....#.",
    ],
    [
        "#######", "#......", "#......", "#......", "#####..", ".....#.", "......#", "......#",
        "......#", "......#", "#....#.", ".####..",
    ],
    [
        "..####.", ".#.....", "#......", "#......", "#.###..", "##...#.", "#.....#", "#.....#",
        "#.....#", "#.....#", ".#...#.", "..###..",
    ],
    [
        "#######", "......#", ".....#.", ".....#.", "....#..", "....#..", "...#...", "...#...",
        "..#....", "..#....", "..#....", "..#....",
    ],
    [
        "..###..", ".#...#.", "#.....#", "#.....#", ".#...#.", "..###..", ".#...#.", "#.....#",
        "#.....#", "#.....#", ".#...#.", "..###..",
    ],
    [
        "..###..", ".#...#.", "#.....#", "#.....#", "#.....#", ".#...##", "..###.#", "......#",
        "......#", ".....#.", "....#..", ".###...",
    ],
];

/// The RBF units' parameters, row `i` the bitmap of digit `i`: `[10, 84]` of -1 and +1.
pub fn rbf_codes() -> Vec<f32> {
    CODES
        .iter()
        .flat_map(|rows| rows.iter().flat_map(|r| r.chars()))
        .map(|c| if c == '#' { 1.0 } else { -1.0 })
        .collect()
}

/// `1.7159 tanh(2a / 3)`.
pub fn scaled_tanh<const D: usize>(a: Tensor<D>) -> Tensor<D> {
    crate::tanh::tanh(a.mul_scalar(S)).mul_scalar(A)
}

/// Configuration of a [`LeNet5`]: the paper's network has no free settings but how its
/// weights start.
#[derive(Config, Debug)]
pub struct LeNet5Config {
    /// The starting weights' scale ([`Lenet5Init`]).
    #[config(default = "Lenet5Init::FanIn")]
    pub init: Lenet5Init,
}

/// A subsampling layer: per map, the sum of each 2x2 block times a trainable coefficient plus a
/// trainable bias, squashed.
#[derive(Module, Debug)]
pub struct Subsampling {
    /// `[maps]`.
    pub coefficient: Param<Tensor<1>>,
    /// `[maps]`.
    pub bias: Param<Tensor<1>>,
}

impl Subsampling {
    /// `[n, maps, h, w]` -> `[n, maps, h / 2, w / 2]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let sum = crate::avg_pool::avg_pool2d(x, 2).mul_scalar(4.0);
        let c: Tensor<4> = self.coefficient.val().reshape([1, -1, 1, 1]);
        let b: Tensor<4> = self.bias.val().reshape([1, -1, 1, 1]);
        scaled_tanh(sum * c + b)
    }
}

/// A convolution's weights `[out, in, 5, 5]` and biases `[out]`.
#[derive(Module, Debug)]
pub struct Conv5 {
    /// `[out, in, 5, 5]`.
    pub weight: Param<Tensor<4>>,
    /// `[out]`.
    pub bias: Param<Tensor<1>>,
}

impl Conv5 {
    /// `[n, in, h, w]` -> `[n, out, h - 4, w - 4]`, the weights multiplied by `mask` (`[out,
    /// in, 1, 1]` of 0 and 1) when given.
    fn forward(&self, x: Tensor<4>, mask: Option<Tensor<4>>) -> Tensor<4> {
        let w = match mask {
            Some(m) => self.weight.val() * m,
            None => self.weight.val(),
        };
        let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        scaled_tanh(conv2d(x, w, Some(self.bias.val()), options))
    }
}

/// LeNet-5 (see the module's doc).
#[derive(Module, Debug)]
pub struct LeNet5 {
    /// C1: 1 -> 6 maps, 32x32 -> 28x28.
    pub c1: Conv5,
    /// S2: 6 maps, 28x28 -> 14x14.
    pub s2: Subsampling,
    /// C3: 6 -> 16 maps through [`C3_TABLE`], 14x14 -> 10x10.
    pub c3: Conv5,
    /// S4: 16 maps, 10x10 -> 5x5.
    pub s4: Subsampling,
    /// C5: 16 -> 120 maps, 5x5 -> 1x1.
    pub c5: Conv5,
    /// F6: 120 -> 84 units.
    pub f6: Linear,
}

/// Uniform in `+-r`.
fn uniform_within<const D: usize>(shape: [usize; D], r: f64, device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::random(shape, Distribution::Uniform(-r, r), device))
}

/// Uniform in `+-2.4 / fan_in`.
fn uniform<const D: usize>(shape: [usize; D], fan_in: usize, device: &Device) -> Param<Tensor<D>> {
    uniform_within(shape, 2.4 / fan_in as f64, device)
}

/// `[out, inp, 5, 5]` kernels, output map `o`'s uniform in `+-1 / sqrt(fan_in[o])`.
fn uniform_sqrt(out: usize, inp: usize, fan_in: &[usize], device: &Device) -> Param<Tensor<4>> {
    let bounds: Vec<f32> = fan_in.iter().map(|&f| (f as f32).sqrt().recip()).collect();
    let bounds = Tensor::<4>::from_data(TensorData::new(bounds, [out, 1, 1, 1]), device);
    let unit = Tensor::<4>::random([out, inp, 5, 5], Distribution::Uniform(-1.0, 1.0), device);
    Param::from_tensor(unit * bounds)
}

/// A tensor of `value`s.
fn filled(maps: usize, value: f64, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::full([maps], value, device))
}

impl LeNet5Config {
    /// The network, its weights drawn as [`LeNet5Config::init`]'s scheme says (by default the
    /// paper's appendix A: uniform in `+-2.4 / F_i`).
    pub fn init(&self, device: &Device) -> LeNet5 {
        match self.init {
            Lenet5Init::FanIn => Self::init_fan_in(device),
            Lenet5Init::SqrtFanIn => Self::init_sqrt_fan_in(device),
        }
    }

    fn init_fan_in(device: &Device) -> LeNet5 {
        let conv = |out: usize, inp: usize, fan_in: usize| Conv5 {
            weight: uniform([out, inp, 5, 5], fan_in, device),
            bias: uniform([out], fan_in, device),
        };
        let sub = |maps: usize| Subsampling {
            coefficient: uniform([maps], 4, device),
            bias: uniform([maps], 4, device),
        };
        LeNet5 {
            c1: conv(6, 1, 25),
            s2: sub(6),
            // A C3 unit's fan-in differs with its column of the table; the mean, 60 * 25 / 16.
            c3: conv(16, 6, 94),
            s4: sub(16),
            c5: conv(120, 16, 400),
            f6: Linear {
                weight: uniform([120, 84], 120, device),
                bias: Some(uniform([84], 120, device)),
            },
        }
    }

    fn init_sqrt_fan_in(device: &Device) -> LeNet5 {
        let conv = |out: usize, inp: usize, fan_in: &[usize]| Conv5 {
            weight: uniform_sqrt(out, inp, fan_in, device),
            bias: filled(out, 0.0, device),
        };
        let sub = |maps: usize| Subsampling {
            coefficient: filled(maps, 0.5, device),
            bias: filled(maps, 0.0, device),
        };
        let c3_fan_in: Vec<usize> = C3_TABLE.iter().map(|ins| 25 * ins.len()).collect();
        LeNet5 {
            c1: conv(6, 1, &[25; 6]),
            s2: sub(6),
            c3: conv(16, 6, &c3_fan_in),
            s4: sub(16),
            c5: conv(120, 16, &[400; 120]),
            f6: Linear {
                weight: uniform_within([120, 84], 1.0 / 120f64.sqrt(), device),
                bias: Some(filled(84, 0.0, device)),
            },
        }
    }
}

impl LeNet5 {
    /// C3's connection mask, `[16, 6, 1, 1]`.
    fn c3_mask(device: &Device) -> Tensor<4> {
        let mut m = vec![0.0f32; 16 * 6];
        for (out, ins) in C3_TABLE.iter().enumerate() {
            for &i in *ins {
                m[out * 6 + i] = 1.0;
            }
        }
        Tensor::from_data(TensorData::new(m, [16, 6, 1, 1]), device)
    }

    /// F6's outputs, the point each image is mapped to.
    ///
    /// # Shapes
    /// - `x`: `[batch, 784]`, 28x28 pixels in `[0, 1]` (1 is ink)
    /// - returns `[batch, 84]`
    pub fn f6(&self, x: Tensor<2>) -> Tensor<2> {
        let device = x.device();
        let x = input_field(x);
        let h = self.s2.forward(self.c1.forward(x, None));
        let h = self.c3.forward(h, Some(Self::c3_mask(&device)));
        let h = self.c5.forward(self.s4.forward(h), None);
        scaled_tanh(self.f6.forward(h.flatten(1, 3)))
    }

    /// The RBF outputs: the squared distance of F6's point to each class's bitmap.
    ///
    /// # Shapes
    /// - `x`: `[batch, 784]`
    /// - returns `[batch, 10]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        distances(self.f6(x))
    }
}

/// The 32x32 input field: 28x28 pixels `[batch, 784]` in `[0, 1]` centred (padded with 0, the
/// background) and scaled to `[-0.1, 1.175]`, `[batch, 1, 32, 32]`.
fn input_field(x: Tensor<2>) -> Tensor<4> {
    let [n, _] = x.dims();
    let x: Tensor<4> = x.reshape([n, 1, 28, 28]);
    x.pad([(2, 2), (2, 2)], PadMode::Constant(0.0))
        .mul_scalar(BLACK - WHITE)
        .add_scalar(WHITE)
}

/// `f'(a)^2` of the scaled tanh from its output `y = f(a)`: `(A S (1 - (y / A)^2))^2`.
fn slope_squared<const D: usize>(y: Tensor<D>) -> Tensor<D> {
    let t = y.div_scalar(A);
    (t.clone() * t)
        .neg()
        .add_scalar(1.0)
        .mul_scalar(A * S)
        .powi_scalar(2)
}

/// `t - t.detach()`: zero, with `t`'s gradient path.
fn path<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    t.clone() - t.detach()
}

impl LeNet5 {
    /// The paper's diagonal second derivatives (appendix C), as a graph whose backward pass
    /// computes them: backpropagated from `d2E/dy2` at F6's outputs, each layer turns the second
    /// derivatives of its outputs `y = f(a)` into `d2E/da2 = f'(a)^2 d2E/dy2` and those of its
    /// inputs into `d2E/dx_j2 = sum_k w_kj^2 d2E/da_k2`, dropping the off-diagonal terms; a
    /// weight's `h` is `sum x_j^2 d2E/da_k2` over every connection `(k, j)` that shares it (a
    /// bias's input is 1). `squared` holds this network's parameters squared, as tracked
    /// leaves: the gradient that `(out * d2E/dy2).sum()` leaves on each is its `h`, summed over
    /// the batch.
    ///
    /// Each layer's term is `layer(x^2; w^2)` plus `layer(s - s.detach(); w^2.detach())`: the
    /// first gives the weights' gradients `g x^2`, the second (zero in value) carries the
    /// gradient `w^2 g` back to the previous layer's `s`, which multiplies by `f'(a)^2`.
    ///
    /// # Shapes
    /// - `x`: `[batch, 784]`; returns `[batch, 84]` (values without meaning: only the gradients
    ///   are used)
    pub fn paper_curvature(&self, x: Tensor<2>, squared: &LeNet5) -> Tensor<2> {
        let device = x.device();
        let x = input_field(x).detach();
        let mask = Self::c3_mask(&device);
        // The network's own activations, fixed.
        let y1 = self.c1.forward(x.clone(), None).detach();
        let y2 = self.s2.forward(y1.clone()).detach();
        let y3 = self.c3.forward(y2.clone(), Some(mask.clone())).detach();
        let y4 = self.s4.forward(y3.clone()).detach();
        let y5 = self.c5.forward(y4.clone(), None).detach();
        let y6 = scaled_tanh(self.f6.forward(y5.clone().flatten(1, 3))).detach();
        let options = || ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        let conv = |x: Tensor<4>, s: Option<Tensor<4>>, c: &Conv5, mask: Option<Tensor<4>>| {
            let (w, b) = (c.weight.val(), c.bias.val());
            let w = match mask {
                Some(m) => w * m,
                None => w,
            };
            let a = conv2d(x.square(), w.clone(), Some(b), options());
            match s {
                Some(s) => a + conv2d(path(s), w.detach(), None, options()),
                None => a,
            }
        };
        let sub = |x: Tensor<4>, s: Tensor<4>, l: &Subsampling| {
            let sum4 = |t: Tensor<4>| crate::avg_pool::avg_pool2d(t, 2).mul_scalar(4.0);
            let c: Tensor<4> = l.coefficient.val().reshape([1, -1, 1, 1]);
            let b: Tensor<4> = l.bias.val().reshape([1, -1, 1, 1]);
            sum4(x.square()) * c.clone() + b + sum4(path(s)) * c.detach()
        };
        let s1 = conv(x, None, &squared.c1, None) * slope_squared(y1.clone());
        let s2 = sub(y1, s1, &squared.s2) * slope_squared(y2.clone());
        let s3 = conv(y2, Some(s2), &squared.c3, Some(mask)) * slope_squared(y3.clone());
        let s4 = sub(y3, s3, &squared.s4) * slope_squared(y4.clone());
        let s5 = conv(y4, Some(s4), &squared.c5, None) * slope_squared(y5.clone());
        let (x5, s5) = (y5.flatten(1, 3), s5.flatten(1, 3));
        let w = squared.f6.weight.val();
        let b = squared
            .f6
            .bias
            .as_ref()
            .expect("F6 has biases")
            .val()
            .unsqueeze_dim(0);
        let a6 = x5.square().matmul(w.clone()) + b + path(s5).matmul(w.detach());
        a6 * slope_squared(y6)
    }
}

/// Squared distances from points `[batch, 84]` to the ten bitmaps: `[batch, 10]`, as
/// `|x|^2 - 2 x·w + |w|^2` (`|w|^2 = 84`).
pub fn distances(x: Tensor<2>) -> Tensor<2> {
    let device = x.device();
    let w = Tensor::<2>::from_data(TensorData::new(rbf_codes(), [10, 84]), &device);
    let sq = x.clone().square().sum_dim(1);
    (sq - x.matmul(w.transpose()).mul_scalar(2.0)).add_scalar(84.0)
}

/// The MAP criterion per example (eq. 9): `y_D + log(exp(-j) + sum_i exp(-y_i))` for the
/// distances `y` (`[batch, 10]`) and the classes `targets` (`[batch]`); `[batch]`.
pub fn map_loss(y: Tensor<2>, targets: Tensor<1, Int>, j: f64) -> Tensor<1> {
    let [n, _] = y.dims();
    let correct = y.clone().gather(1, targets.reshape([n, 1])).reshape([n]);
    // log(exp(-j) + sum_i exp(-y_i)) as a log-sum-exp over [-j, -y_0, ..., -y_9], shifted by
    // its largest term.
    let device = y.device();
    let terms = Tensor::cat(vec![Tensor::full([n, 1], -j, &device), y.neg()], 1);
    let top = terms.clone().max_dim(1);
    let lse = (terms - top.clone()).exp().sum_dim(1).log() + top;
    correct + lse.reshape([n])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's curvature of F6 and C5, by hand from the activations: for F6's weight
    /// `(j, k)`, `sum_n y5_nj^2 d2E/da6_nk^2` with `d2E/da6^2 = f'(a6)^2 * 2`; for C5's (a 5x5
    /// convolution on 5x5 maps: one connection per weight and image), `sum_n x_n^2 d2E/da5^2`
    /// with `d2E/da5_k^2 = f'(a5_k)^2 sum_j w6_kj^2 d2E/da6_j^2`.
    #[cfg(feature = "flex")]
    #[test]
    fn paper_curvature_of_the_last_layers_by_hand() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let net = LeNet5Config::new().init(&device);
        let x = Tensor::<2>::random([3, 784], Distribution::Uniform(0.0, 1.0), &device);
        let squared = {
            let sq = |t: Tensor<1>| {
                Tensor::<1>::from_data(t.inner().square().into_data(), &device).require_grad()
            };
            let mut s = net.clone();
            s.f6.weight = Param::from_tensor(
                Tensor::<2>::from_data(net.f6.weight.val().inner().square().into_data(), &device)
                    .require_grad(),
            );
            s.f6.bias = Some(Param::from_tensor(sq(net.f6.bias.as_ref().unwrap().val())));
            s.c5.weight = Param::from_tensor(
                Tensor::<4>::from_data(net.c5.weight.val().inner().square().into_data(), &device)
                    .require_grad(),
            );
            s.c5.bias = Param::from_tensor(sq(net.c5.bias.val()));
            s
        };
        let out = net.paper_curvature(x.clone(), &squared);
        let grads = out.mul_scalar(2.0).sum().backward();
        // By hand, on the inner tensors.
        let v = net.valid();
        let xi = input_field(x.inner());
        let y4 = v.s4.forward(v.c3.forward(
            v.s2.forward(v.c1.forward(xi, None)),
            Some(LeNet5::c3_mask(&Device::flex())),
        ));
        let y5 = v.c5.forward(y4.clone(), None).flatten::<2>(1, 3);
        let y6 = scaled_tanh(v.f6.forward(y5.clone()));
        let d6 = slope_squared(y6).mul_scalar(2.0); // [n, 84]
        let h6 = y5.clone().square().transpose().matmul(d6.clone()); // [120, 84]
        let w6 = v.f6.weight.val();
        let d5 = slope_squared(y5) * d6.matmul(w6.square().transpose()); // [n, 120]
        let [n, c, hh, ww] = y4.dims();
        let x4 = y4.square().reshape([n, c * hh * ww]);
        let h5 = d5.transpose().matmul(x4).reshape([120, 16, 5, 5]);
        let close = |got: Tensor<2>, want: Tensor<2>| {
            let scale = want.clone().abs().max().into_scalar::<f32>();
            let gap = (got - want).abs().max().into_scalar::<f32>();
            assert!(gap <= 1e-4 * scale, "{gap} of {scale}");
        };
        close(squared.f6.weight.val().grad(&grads).unwrap(), h6);
        close(
            squared
                .c5
                .weight
                .val()
                .grad(&grads)
                .unwrap()
                .reshape([120, 400]),
            h5.reshape([120, 400]),
        );
    }

    #[test]
    fn parameters_as_the_paper_counts_them() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let net = LeNet5Config::new().init(&device);
        // C1 156, S2 12, C3 1516 (+ 36 * 25 masked weights), S4 32, C5 48120, F6 10164.
        assert_eq!(
            net.num_params(),
            156 + 12 + 1516 + 36 * 25 + 32 + 48_120 + 10_164
        );
        let x = Tensor::<2>::zeros([3, 784], &device);
        assert_eq!(net.forward(x).dims(), [3, 10]);
        let codes = rbf_codes();
        assert_eq!(codes.len(), 840);
        // The bitmaps are distinct: every pair differs in at least 8 of the 84 pixels (similar
        // digits on purpose have near codes, as the paper says of its stylised characters).
        for a in 0..10 {
            for b in 0..a {
                let diff = (0..84)
                    .filter(|&k| codes[a * 84 + k] != codes[b * 84 + k])
                    .count();
                assert!(diff >= 8, "digits {a} and {b} differ in {diff} pixels");
            }
        }
        assert_eq!(C3_TABLE.iter().map(|c| c.len()).sum::<usize>(), 60);
    }

    /// `sqrt_fan_in` starts as Lush's `forget 1 2`: each kernel within `1 / sqrt(F_i)` of its
    /// own map's fan-in (C3's 75, 100 or 150 by its table), biases 0, coefficients 0.5; the
    /// default keeps the paper's `2.4 / F_i` for biases and coefficients too.
    #[test]
    fn sqrt_fan_in_starts_as_the_lush_demo() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let values = |t: Tensor<1>| -> Vec<f32> { t.into_data().try_into_vec().unwrap() };
        let net = LeNet5Config::new()
            .with_init(Lenet5Init::SqrtFanIn)
            .init(&device);
        let c3 = net.c3.weight.val(); // [16, 6, 5, 5]
        for (o, ins) in C3_TABLE.iter().enumerate() {
            let bound = 1.0 / ((25 * ins.len()) as f32).sqrt();
            let mut largest = 0.0f32;
            for &i in *ins {
                let k = c3.clone().slice([o..o + 1, i..i + 1]).abs().max();
                largest = largest.max(k.into_scalar::<f32>());
            }
            assert!(
                largest <= bound && largest > 0.7 * bound,
                "C3 map {o}: {largest} of {bound}"
            );
        }
        let c1 = net.c1.weight.val().abs().max().into_scalar::<f32>();
        assert!(c1 <= 0.2 && c1 > 0.15, "C1: {c1}");
        let f6 = net.f6.weight.val().abs().max().into_scalar::<f32>();
        assert!(f6 <= 1.0 / 120f32.sqrt(), "F6: {f6}");
        for bias in [net.c1.bias.val(), net.s2.bias.val(), net.c5.bias.val()] {
            assert!(values(bias).iter().all(|&b| b == 0.0));
        }
        assert!(values(net.f6.bias.unwrap().val()).iter().all(|&b| b == 0.0));
        for c in [net.s2.coefficient.val(), net.s4.coefficient.val()] {
            assert!(values(c).iter().all(|&c| c == 0.5));
        }
        let paper = LeNet5Config::new().init(&device);
        let b = values(paper.c1.bias.val());
        assert!(b.iter().all(|&b| b.abs() <= 2.4 / 25.0) && b.iter().any(|&b| b != 0.0));
        let c = values(paper.s2.coefficient.val());
        assert!(c.iter().all(|&c| c.abs() <= 0.6) && c.iter().all(|&c| c != 0.5));
    }

    /// The loss by hand for two classes' worth of distances.
    #[test]
    fn map_loss_by_hand() {
        let device = Device::flex();
        let mut y = vec![50.0f32; 20];
        y[3] = 2.0;
        y[10 + 7] = 1.0;
        y[10 + 2] = 0.5;
        let y = Tensor::<2>::from_data(TensorData::new(y, [2, 10]), &device);
        let t = Tensor::<1, Int>::from_data(TensorData::new(vec![3i64, 7], [2]), &device);
        let loss: Vec<f32> = map_loss(y, t, 1.0).into_data().try_into_vec().unwrap();
        let e = |x: f64| (-x).exp();
        let first = 2.0 + (e(1.0) + e(2.0) + 9.0 * e(50.0)).ln();
        let second = 1.0 + (e(1.0) + e(1.0) + e(0.5) + 8.0 * e(50.0)).ln();
        assert!(
            (f64::from(loss[0]) - first).abs() < 1e-5,
            "{loss:?} vs {first}"
        );
        assert!(
            (f64::from(loss[1]) - second).abs() < 1e-5,
            "{loss:?} vs {second}"
        );
    }

    /// C3's masked kernels get no gradient: the table holds.
    #[test]
    fn c3_sees_only_its_table() {
        let _rng = crate::rng_lock();
        let device = Device::flex().autodiff();
        let net = LeNet5Config::new().init(&device);
        let x = Tensor::<2>::random([2, 784], Distribution::Uniform(0.0, 1.0), &device);
        let loss = net.forward(x).sum();
        let grads = loss.backward();
        let g: Vec<f32> = net
            .c3
            .weight
            .val()
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_into_vec()
            .unwrap();
        for out in 0..16 {
            for i in 0..6 {
                let block = &g[(out * 6 + i) * 25..(out * 6 + i + 1) * 25];
                let touched = block.iter().any(|v| *v != 0.0);
                assert_eq!(
                    touched,
                    C3_TABLE[out].contains(&i),
                    "C3 map {out}, S2 map {i}"
                );
            }
        }
    }
}
