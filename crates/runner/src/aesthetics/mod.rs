//! `nnlab aesthetics`: sets of images — real MNIST, class-mean prototypes, samples of trained
//! generative runs, CPPN art, noise — through every measure of `nnlab-aesthetics`, a trained
//! classifier as the "eye", and (when people have rated them with `nnlab rate`) their choices.
//! It writes a report folder (an HTML page with the images, a table of every measure per set,
//! PNG plots) and the study's `results.md`.
//!
//! The study file, `experiments/<name>/aesthetics.toml`:
//!
//! ```toml
//! title = "Art against aesthetics"
//! eye = "../lenet-1998/runs/constant-lr/seed-1"   # a trained classifier's run folder
//! images = 400                        # images per set
//! [[set]]
//! name = "mnist"
//! source = "test"                     # test | prototypes | run | cppn | noise
//! [[set]]
//! name = "vae"
//! source = "run"
//! run = "../vae-2014/runs/20/seed-1"
//! [[hypothesis]]
//! measure = "symmetry_lr"
//! expect = "positive"
//! text = "Symmetry raises preference (Jacobsen & Hoefel 2002)"
//! ```
//!
//! Layout: [`study`] (the file), [`sets`] (making the images), [`measure`] (every measure of an
//! image and of a set), [`eye`] (the classifier as perceiver), [`maximize`] (what the network
//! likes), [`people`] (ratings, Bradley-Terry, Spearman), [`report`] (HTML, markdown, plots).
//! The rating server is the `nnlab-rate` crate.

pub mod eye;
pub mod maximize;
pub mod measure;
pub mod people;
pub mod report;
pub mod sets;
pub mod study;

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::say;
use crate::tasks::TrainOptions;

/// Runs the aesthetics study in `dir` and writes its report; returns the `results.md` path.
/// Ratings made by the rating page's test hook count only `with_synthetic`.
pub fn run(dir: &Path, opts: &TrainOptions, with_synthetic: bool) -> Result<PathBuf> {
    let study = study::AestheticsFile::load(dir)?;
    let (device, backend) = crate::backend::select_device();
    let eye = eye::Eye::load(&dir.join(&study.eye), opts, &device, backend)?;
    say!(
        "eye: {} ({}), {} test images",
        study.eye.display(),
        eye.describe(),
        eye.data.n_test
    );
    let sets = sets::make_all(&study, &eye, dir, opts, &device)?;
    let measured = measure::measure_all(&study, &sets, &eye)?;
    let preferred = maximize::preferred_images(&eye, study.seed)?;
    let ratings = people::load(dir, &study, &sets, with_synthetic)?;
    report::write(dir, &study, &sets, &measured, &preferred, ratings.as_ref())
}
