//! Model definitions for nnlab, in burn's `Config -> init(&device) -> Module` style, one model
//! per file, each citing its paper and giving its tensor shapes.
//!
//! Library code only: no backend is enabled here; the runner picks one with a cargo feature. Its
//! `flex` feature also turns on this crate's `flex` feature: the burn-flex kernels in
//! [`kernels`] (their tests run with it, e.g. in `cargo test --workspace`).
//! The names of activations and initialisations come from `nnlab-config`, the one list of them.

pub mod activation;
pub mod autoencoder;
pub mod batch_norm;
pub mod classification_loss;
pub mod cppn;
pub mod dbn;
pub mod dcgan;
pub mod gan;
pub mod init;
pub mod kernels;
pub mod lenet;
pub mod lenet5;
pub mod maxout;
pub mod mlp;
pub mod pca;
pub mod rbm;
pub mod vae;

#[cfg(feature = "flex")]
pub use kernels::flex;
pub use kernels::{
    avg_pool, bernoulli_cross_entropy, bias_activation, conv2d, cross_entropy, dense, fast_math,
    leaky_relu, tanh,
};

pub use activation::Activation;
pub use autoencoder::{Autoencoder, AutoencoderConfig};
pub use cppn::{Cppn, CppnConfig};
pub use dbn::Dbn;
pub use dcgan::{DcganConfig, DcganDiscriminator, DcganGenerator};
pub use gan::{Discriminator, GanConfig, Generator, MlpDiscriminator, MlpGenerator};
pub use init::WeightInit;
pub use lenet::{Cnn, CnnConfig};
pub use lenet5::{LeNet5, LeNet5Config};
pub use mlp::{Mlp, MlpConfig};
pub use pca::{Moments, Pca};
pub use rbm::{Rbm, RbmConfig};
pub use vae::{Vae, VaeConfig};

/// burn's seeded generator is process-wide, and tests run on threads: every test that builds a
/// model (drawing its weights) or draws noise holds this lock, so seeded tests see their own
/// stream.
#[cfg(test)]
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
