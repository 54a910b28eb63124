//! The model families, each a [`crate::engine::Task`]: classifiers (MLP, CNN), the autoencoder,
//! PCA, the VAE, the GANs (MLP and DCGAN) and the restricted Boltzmann machine, and what they share (batches, scatter plots of 2-D
//! codes). The classification losses are nnlab-models' ([`classification_loss`]).

pub mod autoencoder;
pub mod batch;
pub mod classifier;
pub mod codes;
pub mod gan;
pub mod lenet5;
pub mod pca;
pub mod pretrain;
pub mod rbm;
pub mod vae;

pub use nnlab_models::classification_loss;
