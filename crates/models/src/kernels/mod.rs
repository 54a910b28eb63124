//! nnlab's fused burn-flex kernels, each a burn backend extension with burn's own operations as
//! its fallback on every other backend (and on flex for what it does not cover): a dense layer
//! with its activation ([`dense`]), convolutions and their adjoints ([`conv2d`]) with their
//! bias and activation ([`bias_activation`]), tanh
//! ([`tanh`]), leaky ReLU ([`leaky_relu`]), softmax cross-entropy ([`cross_entropy`]), average
//! pooling ([`avg_pool`]), the Bernoulli log-likelihood ([`bernoulli_cross_entropy`]) and
//! training-mode batch norm with the unit after it ([`batch_norm`]), with their shared
//! vectorised math ([`fast_math`]) and flex plumbing ([`flex`], only with this
//! crate's `flex` feature).

pub mod avg_pool;
pub mod batch_norm;
pub mod bernoulli_cross_entropy;
pub mod bias_activation;
pub mod conv2d;
pub mod cross_entropy;
pub mod dense;
pub mod fast_math;
#[cfg(feature = "flex")]
pub mod flex;
pub mod leaky_relu;
pub mod tanh;
