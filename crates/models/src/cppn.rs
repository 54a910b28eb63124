//! Compositional pattern-producing networks (Stanley 2007, "Compositional pattern producing
//! networks: A novel abstraction of development", Genetic Programming and Evolvable Machines 8):
//! a network from a pixel's coordinates to its colour. With random weights and no training at
//! all it draws smooth, symmetric or periodic patterns, depending on its activation — art
//! without training data, at any resolution.
//!
//! Input per pixel: `(x, y, r)` with `x, y` in `[-scale, scale]` and `r = sqrt(x^2 + y^2)`
//! (radial symmetry), optionally followed by a latent vector `z` shared by all pixels (other
//! `z`, other pictures from the same network). Output: 1 (grey) or 3 (RGB) logistic units.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use crate::activation::{self, Activation};

/// Configuration of a [`Cppn`].
#[derive(Config, Debug)]
pub struct CppnConfig {
    /// Widths of the hidden layers.
    #[config(default = "vec![32; 6]")]
    pub hidden: Vec<usize>,
    /// Nonlinearity of every hidden layer.
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// 1 for grey, 3 for RGB.
    #[config(default = 3)]
    pub channels: usize,
    /// Standard deviation of the weights times `sqrt(fan_in)` (larger: busier patterns).
    #[config(default = 1.5)]
    pub weight_scale: f64,
    /// Dimension of the latent input `z` appended to every pixel's coordinates (0 for none).
    #[config(default = 0)]
    pub latent: usize,
}

/// A CPPN: coordinates to colours.
#[derive(Module, Debug)]
pub struct Cppn {
    /// Dense layers, the last producing the colour logits.
    pub layers: Vec<Linear>,
    /// Nonlinearity of the hidden layers.
    #[module(skip)]
    pub activation: Activation,
}

impl CppnConfig {
    /// A network with weights drawn from `N(0, weight_scale^2 / fan_in)` on `device` (seed it
    /// first with `device.seed`).
    pub fn init(&self, device: &Device) -> Cppn {
        let mut widths = vec![3 + self.latent];
        widths.extend(&self.hidden);
        widths.push(self.channels);
        let layers = widths
            .windows(2)
            .map(|w| {
                LinearConfig::new(w[0], w[1])
                    .with_initializer(Initializer::KaimingNormal {
                        gain: self.weight_scale,
                        fan_out_only: false,
                    })
                    .init(device)
            })
            .collect();
        Cppn {
            layers,
            activation: self.activation,
        }
    }
}

/// `(x, y, r)` of every pixel of a `width x height` picture, row by row, `x` and `y` spanning
/// `[-scale, scale]` along the longer side (so pixels stay square): `[width * height, 3]`.
pub fn coordinates(width: usize, height: usize, scale: f32) -> Vec<f32> {
    let long = width.max(height).max(2) as f32 - 1.0;
    let mut v = Vec::with_capacity(width * height * 3);
    for row in 0..height {
        let y = scale * (2.0 * row as f32 - (height as f32 - 1.0)) / long;
        for col in 0..width {
            let x = scale * (2.0 * col as f32 - (width as f32 - 1.0)) / long;
            v.extend_from_slice(&[x, y, (x * x + y * y).sqrt()]);
        }
    }
    v
}

impl Cppn {
    /// The network's weights in host memory, for [`HostCppn`].
    pub fn to_host(&self) -> HostCppn {
        let vec = |t: Tensor<2>| -> Vec<f32> {
            t.into_data()
                .convert::<f32>()
                .try_into_vec()
                .expect("f32 weights")
        };
        HostCppn {
            layers: self
                .layers
                .iter()
                .map(|l| {
                    let [i, o] = l.weight.dims();
                    let b = match &l.bias {
                        Some(b) => vec(b.val().unsqueeze_dim(0)),
                        None => vec![0.0; o],
                    };
                    (vec(l.weight.val()), b, i, o)
                })
                .collect(),
            activation: self.activation,
        }
    }

    /// Colours in `[0, 1]` of the pixels at `coords` (`[pixels, 3]`), with latent `z`
    /// (`[latent]`, may be empty): `[pixels, channels]`.
    pub fn forward(&self, coords: Tensor<2>, z: &[f32]) -> Tensor<2> {
        let [n, _] = coords.dims();
        let input = if z.is_empty() {
            coords
        } else {
            let device = coords.device();
            let zs = Tensor::<1>::from_data(TensorData::new(z.to_vec(), [z.len()]), &device)
                .reshape([1, z.len()])
                .repeat_dim(0, n);
            Tensor::cat(vec![coords, zs], 1)
        };
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(input, |h, (i, l)| {
            let y = l.forward(h);
            if i == last {
                sigmoid(y)
            } else {
                activation::apply(self.activation, y)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_span_the_square_symmetrically() {
        let _rng = crate::rng_lock();
        let c = coordinates(3, 3, 1.0);
        assert_eq!(c.len(), 27);
        assert_eq!(&c[0..3], &[-1.0, -1.0, 2f32.sqrt()]);
        assert_eq!(&c[12..15], &[0.0, 0.0, 0.0], "the centre pixel");
        assert_eq!(&c[24..27], &[1.0, 1.0, 2f32.sqrt()]);
    }

    #[test]
    fn the_host_path_draws_the_same_picture() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        device.seed(3);
        for act in [Activation::Tanh, Activation::Sin, Activation::Gaussian] {
            let net = CppnConfig::new()
                .with_latent(2)
                .with_activation(act)
                .init(&device);
            let c = coordinates(7, 5, 1.0);
            let xy = Tensor::<2>::from_data(TensorData::new(c.clone(), [35, 3]), &device);
            let a: Vec<f32> = net
                .forward(xy, &[0.3, -0.2])
                .into_data()
                .try_to_vec()
                .unwrap();
            let b = net.to_host().forward(&c, &[0.3, -0.2]);
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-5, "{act:?}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn any_resolution_and_seeded() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let draw = |seed| {
            device.seed(seed);
            let net = CppnConfig::new().with_latent(2).init(&device);
            let xy =
                Tensor::<2>::from_data(TensorData::new(coordinates(5, 4, 1.0), [20, 3]), &device);
            net.forward(xy, &[0.5, -0.5]).into_data()
        };
        let a = draw(7);
        assert_eq!(a.shape().to_vec(), vec![20, 3]);
        assert_eq!(a, draw(7), "the same seed draws the same picture");
        assert_ne!(a, draw(8));
    }
}

/// A CPPN evaluated in host memory: the same function as [`Cppn::forward`] (to about 1e-6, see
/// [`crate::fast_math`]), for CPU backends, where burn-flex's scalar `tanh`/`exp`/`sin` and its
/// per-operation overhead on 32-wide layers make a 1024x1024 picture take seconds. Only drawing
/// uses it; nothing is trained here.
#[derive(Debug, Clone)]
pub struct HostCppn {
    /// Per layer: weights `[in, out]` row-major, biases `[out]`, `in`, `out`.
    pub layers: Vec<(Vec<f32>, Vec<f32>, usize, usize)>,
    /// Nonlinearity of the hidden layers.
    pub activation: Activation,
}

impl HostCppn {
    /// Colours of the pixels at `coords` (`[pixels, 3]` row-major) with latent `z`:
    /// `[pixels, channels]` row-major, in `[0, 1]`.
    pub fn forward(&self, coords: &[f32], z: &[f32]) -> Vec<f32> {
        let n = coords.len() / 3;
        let mut h: Vec<f32> = Vec::with_capacity(n * (3 + z.len()));
        for p in coords.chunks_exact(3) {
            h.extend_from_slice(p);
            h.extend_from_slice(z);
        }
        let last = self.layers.len() - 1;
        for (l, (w, b, i, o)) in self.layers.iter().enumerate() {
            let mut out = vec![0.0f32; n * o];
            pulp::Arch::new().dispatch(Dense {
                x: &h,
                w,
                b,
                inputs: *i,
                outputs: *o,
                out: &mut out,
            });
            let act = if l == last {
                Activation::Sigmoid
            } else {
                self.activation
            };
            crate::fast_math::apply(act, &mut out);
            h = out;
        }
        h
    }
}

/// `out = x W + b` for row-major `x` `[n, inputs]`, `W` `[inputs, outputs]`, compiled for the
/// best vector unit found at run time (pulp).
struct Dense<'a> {
    x: &'a [f32],
    w: &'a [f32],
    b: &'a [f32],
    inputs: usize,
    outputs: usize,
    out: &'a mut [f32],
}

impl pulp::WithSimd for Dense<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        // Blocks of 16 outputs are summed in a fixed-size array the compiler keeps in vector
        // registers across the inputs; the last, narrower block (e.g. 3 colours) in a plain loop.
        const B: usize = 16;
        let (i, o) = (self.inputs, self.outputs);
        for (row, out) in self.x.chunks_exact(i).zip(self.out.chunks_exact_mut(o)) {
            let mut j = 0;
            while j + B <= o {
                let mut acc = [0.0f32; B];
                acc.copy_from_slice(&self.b[j..j + B]);
                for (k, &x) in row.iter().enumerate() {
                    let w: &[f32; B] = self.w[k * o + j..k * o + j + B]
                        .try_into()
                        .expect("a block of B weights");
                    for t in 0..B {
                        acc[t] += x * w[t];
                    }
                }
                out[j..j + B].copy_from_slice(&acc);
                j += B;
            }
            if j < o {
                let acc = &mut out[j..];
                acc.copy_from_slice(&self.b[j..]);
                for (k, &x) in row.iter().enumerate() {
                    for (a, &w) in acc.iter_mut().zip(&self.w[k * o + j..(k + 1) * o]) {
                        *a += x * w;
                    }
                }
            }
        }
    }
}
