//! Model definitions for nnlab, in burn's `Config -> init(&device) -> Module` style.
//!
//! Library code only: no backend is enabled here; the runner picks one with a cargo feature.
//! The names of activations and initialisations come from `nnlab-config`, the one list of them.

pub mod activation;
pub mod init;
pub mod mlp;

pub use activation::Activation;
pub use init::WeightInit;
pub use mlp::{Mlp, MlpConfig};
