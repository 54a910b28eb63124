//! Scatter plots of 2-D codes coloured by digit, as Hinton & Salakhutdinov (2006) drew them in
//! Fig. 3 (PCA's first two components beside a 784-1000-500-250-2 autoencoder's codes).

use std::path::Path;

use burn::prelude::*;
use nnlab_data::ImageDataset;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::pictures::font_available;

/// Images per class drawn.
pub const PER_CLASS: usize = 500;

/// Ten colours that tell the digits apart (the "tab10" palette).
pub const DIGIT_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The first [`PER_CLASS`] test images of each class, in test-set order.
pub fn test_sample(data: &ImageDataset) -> Vec<u32> {
    let mut count = vec![0usize; data.classes];
    data.test_indices()
        .into_iter()
        .filter(|&i| {
            let c = data.labels[i as usize] as usize;
            count[c] += 1;
            count[c] <= PER_CLASS
        })
        .collect()
}

/// Draws the 2-D codes `encode` gives [`test_sample`]'s images into `path` (PNG).
pub fn scatter(
    data: &ImageDataset,
    encode: impl Fn(&[u32]) -> Tensor<2>,
    title: &str,
    path: &Path,
) -> Result<()> {
    let indices = test_sample(data);
    let mut points: Vec<(f64, f64, usize)> = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(1000) {
        let c: Vec<f32> = encode(chunk)
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .expect("codes are f32");
        for (k, &i) in chunk.iter().enumerate() {
            points.push((
                c[2 * k] as f64,
                c[2 * k + 1] as f64,
                data.labels[i as usize] as usize,
            ));
        }
    }
    if !font_available() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let err =
        |e: &dyn std::fmt::Display| Error::Study(format!("{}: cannot draw: {e}", path.display()));
    let range = |f: fn(&(f64, f64, usize)) -> f64| {
        let (lo, hi) = points
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        let pad = ((hi - lo) * 0.05).max(1e-6);
        (lo - pad)..(hi + pad)
    };
    let root = BitMapBackend::new(path, (760, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (plot_area, legend) = root.split_horizontally(660);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(range(|p| p.0), range(|p| p.1))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("code unit 1")
        .y_desc("code unit 2")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(
            points
                .iter()
                .map(|&(x, y, c)| Circle::new((x, y), 2, DIGIT_COLOURS[c % 10].mix(0.7).filled())),
        )
        .map_err(|e| err(&e))?;
    for (d, colour) in DIGIT_COLOURS.iter().enumerate().take(data.classes) {
        let y = 40 + 24 * d as i32;
        legend
            .draw(&Circle::new((20, y), 5, colour.filled()))
            .map_err(|e| err(&e))?;
        legend
            .draw(&Text::new(d.to_string(), (34, y - 8), ("sans-serif", 16)))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}
