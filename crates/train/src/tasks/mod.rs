//! The model families, each a [`crate::engine::Task`]: classifiers (MLP, CNN), the autoencoder,
//! PCA, the VAE and the GANs (MLP and DCGAN), and what they share (batches, the classification
//! losses, scatter plots of 2-D codes).

pub mod autoencoder;
pub mod batch;
pub mod classification_loss;
pub mod classifier;
pub mod codes;
pub mod gan;
pub mod pca;
pub mod vae;
