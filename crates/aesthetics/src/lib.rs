//! Measures of generated images, in three groups, each measure in its own file citing its
//! source. Library code only: measures that need tensor arithmetic take burn tensors on whatever
//! device the caller chose; no backend is enabled here.
//!
//! * Image statistics from perception research, on one grey image ([`image::Grey`]):
//!   [`compression`] (complexity), [`edges`] (edge density), [`entropy`] (histogram entropy),
//!   [`symmetry`], [`birkhoff`] (order over complexity), [`fractal`] (box-counting dimension).
//! * Sets of images compared through a classifier's features or probabilities ([`features`]):
//!   [`inception_score`], [`fid`], [`kid`], [`precision_recall`], and the Parzen-window
//!   likelihood of [`parzen`] with its warning.
//! * People's choices: [`bradley_terry`] scores from paired comparisons, [`spearman`]
//!   correlations with bootstrap intervals.

pub mod birkhoff;
pub mod bradley_terry;
pub mod compression;
pub mod edges;
pub mod entropy;
pub mod features;
pub mod fid;
pub mod fractal;
pub mod image;
pub mod inception_score;
pub mod kid;
pub mod parzen;
pub mod precision_recall;
pub mod spearman;
pub mod symmetry;

pub use features::Features;
pub use image::Grey;
