//! `nnlab art cppn`: a picture drawn by an untrained, randomly weighted compositional
//! pattern-producing network (see `nnlab_models::cppn`), at any size.

use std::time::Instant;

use burn::prelude::*;
use image::RgbImage;
use nnlab_models::Activation;
use nnlab_models::cppn::{CppnConfig, coordinates};

use crate::pictures::Images;

/// What to draw.
#[derive(Debug, Clone)]
pub struct CppnOptions {
    /// Seed of the weights (and of `z`).
    pub seed: u64,
    /// Width and height in pixels.
    pub size: usize,
    /// Nonlinearity of the hidden layers.
    pub activation: Activation,
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Widths of the hidden layers.
    pub hidden: Vec<usize>,
    /// Weight scale (larger: busier).
    pub weight_scale: f64,
    /// Half-width of the coordinate square (larger: zoomed out).
    pub zoom: f32,
    /// Dimension of the latent input drawn from the seed (0 for none).
    pub latent: usize,
}

/// A weight scale that gives `activation` pictures with structure at every scale (periodic and
/// bump activations turn to noise at the scale that suits the sigmoid family).
pub fn default_scale(activation: Activation) -> f64 {
    match activation {
        Activation::Sin => 2.0,
        Activation::Gaussian => 2.5,
        _ => 5.0,
    }
}

impl Default for CppnOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            size: 512,
            activation: Activation::Tanh,
            channels: 3,
            hidden: vec![32; 6],
            weight_scale: 5.0,
            zoom: 1.5,
            latent: 4,
        }
    }
}

/// Draws the picture on `device` (`cpu`: a CPU backend, where the network runs in host memory,
/// see `HostCppn`); returns it and the seconds it took.
pub fn cppn(o: &CppnOptions, device: &Device, cpu: bool) -> (RgbImage, f64) {
    let started = Instant::now();
    device.seed(o.seed);
    let net = CppnConfig::new()
        .with_hidden(o.hidden.clone())
        .with_activation(o.activation)
        .with_channels(o.channels)
        .with_weight_scale(o.weight_scale)
        .with_latent(o.latent)
        .init(device);
    // z from the same seed, so one seed names one picture.
    let mut state = o.seed ^ 0x9e37_79b9_7f4a_7c15;
    let z: Vec<f32> = (0..o.latent)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    let n = o.size * o.size;
    let coords = coordinates(o.size, o.size, o.zoom);
    let rows: Vec<f32> = if cpu {
        // Blocks of pixels small enough for the caches, shared by two threads.
        const BLOCK: usize = 16_384;
        let blocks: Vec<&[f32]> = coords.chunks(BLOCK * 3).collect();
        let host = net.to_host();
        let draw = |parity: usize| -> Vec<(usize, Vec<f32>)> {
            (parity..blocks.len())
                .step_by(2)
                .map(|i| (i, host.forward(blocks[i], &z)))
                .collect()
        };
        let mut parts: Vec<(usize, Vec<f32>)> = std::thread::scope(|s| {
            let odd = s.spawn(|| draw(1));
            let mut even = draw(0);
            even.extend(odd.join().expect("the drawing thread does not panic"));
            even
        });
        parts.sort_by_key(|p| p.0);
        let parts: Vec<Vec<f32>> = parts.into_iter().map(|p| p.1).collect();
        parts.concat()
    } else {
        let xy = Tensor::<2>::from_data(TensorData::new(coords, [n, 3]), device);
        net.forward(xy, &z)
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .expect("colours are f32")
    };
    // [pixels, channels] -> planes [channels, pixels] as Images wants.
    let c = o.channels;
    let colours: Vec<f32> = (0..c)
        .flat_map(|k| rows.iter().skip(k).step_by(c).copied().collect::<Vec<_>>())
        .collect();
    let img = Images {
        n: 1,
        channels: o.channels,
        height: o.size,
        width: o.size,
        pixels: colours,
    }
    .grid(1, 0, 1);
    (img, started.elapsed().as_secs_f64())
}
