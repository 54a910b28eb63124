//! The rating page of nnlab (`nnlab rate`): a server on 127.0.0.1 that shows two images of a
//! study's pool at a time and records which one the rater finds more beautiful, and the ratings
//! file it appends to. People's choices are the only human data nnlab has, so this crate's job is
//! that every recorded choice was a real one and that none is lost.
//!
//! Layout: [`server`] (routes, limits, who may post), [`ledger`] (the pairs shown, each chosen
//! at most once), [`token`] (the study's secret),
//! [`page`] (the HTML and its Content-Security-Policy), [`append`] (rows to disk), [`ratings`]
//! (the file's format, read back).

pub mod append;
pub mod error;
pub mod ledger;
pub mod page;
pub mod ratings;
mod replace;
pub mod server;
pub mod token;

pub use error::{RateError, Result};
pub use server::{Options, POOL, POOL_LIST, serve};
