//! `nnlab explain`: what a trained classifier looks at when it decides. For each chosen image, its
//! class probabilities and three attribution maps of the predicted class (see
//! [`nnlab_train::explain`]): the gradient, integrated gradients from a black baseline with their
//! completeness error, and occlusion. Each image gets a picture of the four panels; `explain.csv`
//! holds the figures.

use std::path::{Path, PathBuf};

use nnlab_train::explain::{self, IntegratedGradients};

use crate::aesthetics::eye::Eye;
use crate::error::{Error, Result};
use crate::pictures::{self, Images};
use crate::tasks::TrainOptions;

/// What to explain and how.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// Test-set indices (0-based); empty with no `pngs` means the first eight.
    pub indices: Vec<usize>,
    /// A folder of PNG images (e.g. generated art), scaled to the network's input.
    pub pngs: Option<PathBuf>,
    /// Where pictures and `explain.csv` go.
    pub out: PathBuf,
    /// Integrated gradients' points between the baseline and the image.
    pub steps: usize,
    /// Occlusion's square side, in pixels.
    pub patch: usize,
    /// Occlusion's stride, in pixels.
    pub stride: usize,
}

/// One explained image.
#[derive(Debug, Clone)]
pub struct Explained {
    /// `test-5` or the PNG's file stem.
    pub name: String,
    /// Its label, for test images.
    pub label: Option<usize>,
    /// The class the network picks.
    pub predicted: usize,
    /// The class probabilities.
    pub probabilities: Vec<f64>,
    /// Integrated gradients and their completeness.
    pub integrated: IntegratedGradients,
    /// The picture written.
    pub picture: PathBuf,
}

/// An image to explain: its name, its label (test images) and its pixels in [0, 1].
type Chosen = (String, Option<usize>, Vec<f32>);

/// The images to explain.
fn images(eye: &Eye, o: &ExplainOptions) -> Result<Vec<Chosen>> {
    let side = eye.side();
    if let Some(dir) = &o.pngs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("png")))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::RunDir(format!(
                "{}: holds no PNG images",
                dir.display()
            )));
        }
        return files
            .iter()
            .map(|p| {
                let img = pictures::load_png(p)?;
                let grey = image::imageops::grayscale(&img);
                let small = image::imageops::resize(
                    &grey,
                    side as u32,
                    side as u32,
                    image::imageops::FilterType::Triangle,
                );
                let pixels = small.pixels().map(|q| f32::from(q.0[0]) / 255.0).collect();
                let name = p
                    .file_stem()
                    .map_or("image".into(), |s| s.to_string_lossy().into_owned());
                Ok((name, None, pixels))
            })
            .collect();
    }
    let test = eye.data.test_indices();
    let chosen: Vec<usize> = if o.indices.is_empty() {
        (0..8.min(test.len())).collect()
    } else {
        o.indices.clone()
    };
    chosen
        .into_iter()
        .map(|k| {
            let i = *test.get(k).ok_or_else(|| {
                Error::Config(format!(
                    "--index {k}: the test set of `{}` has {} images (0 to {})",
                    eye.data.name,
                    test.len(),
                    test.len().saturating_sub(1)
                ))
            })?;
            let b = eye.data.batch(&[i]);
            Ok((format!("test-{k}"), Some(b.labels[0] as usize), b.images))
        })
        .collect()
}

/// An attribution map over the image: red where it raises the score, blue where it lowers it
/// (each map scaled by its own largest magnitude), darker on the strokes.
fn overlay(map: &[f32], ink: &[f32], side: usize) -> Images {
    let mut m = pictures::diverging(&[map.to_vec()], side);
    let plane = side * side;
    for c in 0..3 {
        for (p, v) in m.pixels[c * plane..(c + 1) * plane].iter_mut().enumerate() {
            *v *= 1.0 - 0.45 * ink[p].clamp(0.0, 1.0);
        }
    }
    m
}

/// The image and its three maps side by side, captioned.
fn picture(
    pixels: &[f32],
    maps: [&[f32]; 3],
    side: usize,
    caption: &str,
    path: &Path,
) -> Result<()> {
    let grey = Images::grey(pixels.to_vec(), side);
    let rgb = Images {
        n: 1,
        channels: 3,
        height: side,
        width: side,
        pixels: grey.pixels.repeat(3),
    };
    let mut all = rgb;
    for map in maps {
        all = all.concat(&overlay(map, pixels, side));
    }
    let scale = (168 / side).max(1);
    let grid = all.grid(4, 4, scale);
    pictures::save_png(&pictures::captioned(&grid, caption), path)
}

/// Explains the classifier run in `run` as `o` says; returns one entry per image.
pub fn explain(run: &Path, opts: &TrainOptions, o: &ExplainOptions) -> Result<Vec<Explained>> {
    let (device, backend) = crate::backend::select_device();
    if o.stride > o.patch {
        return Err(Error::Config(format!(
            "--stride {} is larger than --patch {}: pixels between the squares would never be occluded",
            o.stride, o.patch
        )));
    }
    let eye = Eye::load(run, opts, &device, backend)?;
    let side = eye.side();
    if eye.data.rows != eye.data.cols {
        return Err(Error::Config(format!(
            "{}: nnlab explain draws square images; `{}` has {}x{}",
            run.display(),
            eye.data.name,
            eye.data.rows,
            eye.data.cols
        )));
    }
    let autodiff = device.clone().autodiff();
    let frozen = explain::frozen_on(&eye.net, &autodiff);
    std::fs::create_dir_all(&o.out).map_err(|e| Error::io(&o.out, e))?;
    let mut out = Vec::new();
    for (name, label, x) in images(&eye, o)? {
        let probabilities = eye.probabilities(&x);
        let predicted = crate::aesthetics::measure::argmax(&probabilities);
        let baseline = vec![0.0f32; x.len()];
        let gradient = explain::gradient(&frozen, &x, predicted, &autodiff);
        let integrated =
            explain::integrated_gradients(&frozen, &x, &baseline, predicted, o.steps, &autodiff);
        let occlusion = explain::occlusion(
            &eye.net,
            &x,
            side,
            predicted,
            (o.patch, o.stride, 0.0),
            &device,
        );
        let truth = label.map_or(String::new(), |l| format!("label {l}, "));
        let caption = format!(
            "{name}: {truth}predicts {predicted} (p = {:.3}) | gradient | integrated gradients | occlusion {}x{}",
            probabilities[predicted], o.patch, o.patch
        );
        let path = o.out.join(format!("explain-{name}.png"));
        picture(
            &x,
            [&gradient, &integrated.map, &occlusion],
            side,
            &caption,
            &path,
        )?;
        out.push(Explained {
            name,
            label,
            predicted,
            probabilities,
            integrated,
            picture: path,
        });
    }
    write_csv(&o.out.join("explain.csv"), &out)?;
    Ok(out)
}

/// `explain.csv`: per image its label, prediction, probabilities and the completeness of its
/// integrated gradients.
fn write_csv(path: &Path, rows: &[Explained]) -> Result<()> {
    let classes = rows.first().map_or(0, |r| r.probabilities.len());
    let mut text = String::from("image,label,predicted");
    for c in 0..classes {
        text.push_str(&format!(",p{c}"));
    }
    text.push_str(",ig_sum,score_difference,completeness_error\n");
    for r in rows {
        text.push_str(&format!(
            "{},{},{}",
            r.name,
            r.label.map_or(String::new(), |l| l.to_string()),
            r.predicted
        ));
        for p in &r.probabilities {
            text.push_str(&format!(",{p:.6}"));
        }
        text.push_str(&format!(
            ",{:.6},{:.6},{:.6}\n",
            r.integrated.sum,
            r.integrated.difference,
            r.integrated.completeness_error()
        ));
    }
    crate::run_dir::write_atomic(path, text.as_bytes())
}
