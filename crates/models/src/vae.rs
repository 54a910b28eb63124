//! The variational autoencoder of Kingma & Welling (2014), "Auto-Encoding Variational Bayes"
//! (ICLR): a Gaussian encoder `q(z|x) = N(mu(x), diag(sigma^2(x)))` and a Bernoulli decoder
//! `p(x|z)`, both MLPs, trained by maximising the evidence lower bound
//!
//! ```text
//! ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I))
//! KL      = -1/2 sum_k (1 + log sigma_k^2 - mu_k^2 - sigma_k^2)
//! ```
//!
//! with one sample `z = mu + sigma * eps`, `eps ~ N(0, I)` (the reparameterisation trick).
//! PyTorch's VAE example uses 784-400-20; the paper's MNIST runs used 500 hidden units.

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use nnlab_config::VaeSpec;

use crate::activation::Activation;
use crate::dense::{dense, stack};
use crate::init::{self, WeightInit};

/// Configuration of a [`Vae`].
#[derive(Config, Debug)]
pub struct VaeConfig {
    /// Input features (784 for 28x28 images).
    pub inputs: usize,
    /// Widths of the encoder's hidden layers; the decoder uses them in reverse.
    pub hidden: Vec<usize>,
    /// Dimension of `z`.
    pub latent: usize,
    /// Nonlinearity of the hidden layers.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
}

/// A variational autoencoder.
#[derive(Module, Debug)]
pub struct Vae {
    /// Hidden layers of the encoder.
    pub encoder: Vec<Linear>,
    /// The encoder's mean head.
    pub mu: Linear,
    /// The encoder's log-variance head.
    pub log_var: Linear,
    /// The decoder, from `z` to the output logits.
    pub decoder: Vec<Linear>,
    /// Nonlinearity of the hidden layers.
    #[module(skip)]
    pub activation: Activation,
}

impl VaeConfig {
    /// The VAE a config's `[model]` section describes, for `inputs` features.
    pub fn from_spec(spec: &VaeSpec, inputs: usize) -> Self {
        Self::new(inputs, spec.hidden.clone(), spec.latent).with_activation(spec.activation)
    }

    /// Builds it on `device` (burn's default initialisation, as PyTorch's example).
    pub fn init(&self, device: &Device) -> Vae {
        let l = |i, o| init::linear(WeightInit::BurnDefault, i, o, device);
        let mut widths = vec![self.inputs];
        widths.extend(&self.hidden);
        let encoder = widths.windows(2).map(|w| l(w[0], w[1])).collect();
        let top = *widths.last().expect("widths start with the inputs");
        let mut back = vec![self.latent];
        back.extend(self.hidden.iter().rev());
        back.push(self.inputs);
        Vae {
            encoder,
            mu: l(top, self.latent),
            log_var: l(top, self.latent),
            decoder: back.windows(2).map(|w| l(w[0], w[1])).collect(),
            activation: self.activation,
        }
    }
}

impl Vae {
    /// `(mu, log sigma^2)` of `q(z|x)`.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`, pixels in `[0, 1]`
    /// - returns two `[batch, latent]`
    pub fn encode(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let h = stack(&self.encoder, x, self.activation, self.activation);
        (
            dense(&self.mu, h.clone(), Activation::Identity),
            dense(&self.log_var, h, Activation::Identity),
        )
    }

    /// The logits of `p(x|z)`: `[batch, latent]` -> `[batch, inputs]`.
    pub fn decode_logits(&self, z: Tensor<2>) -> Tensor<2> {
        stack(&self.decoder, z, self.activation, Activation::Identity)
    }

    /// The decoder as dense layers with the nonlinearity after each by name (see
    /// [`crate::Generator::layers`]): the hidden activation, then the logistic mean.
    pub fn decoder_layers(&self) -> Vec<crate::gan::GeneratorLayer<'_>> {
        let last = self.decoder.len() - 1;
        self.decoder
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let name = if i == last {
                    "sigmoid".to_string()
                } else {
                    crate::gan::activation_name(self.activation)
                };
                crate::gan::GeneratorLayer::Dense(l, name)
            })
            .collect()
    }

    /// The mean image of `p(x|z)`, in `[0, 1]`: `[batch, latent]` -> `[batch, inputs]`.
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        sigmoid(self.decode_logits(z))
    }
}

/// `KL(N(mu, diag(exp(log_var))) || N(0, I))` per example: `[batch, latent]` -> `[batch]`.
pub fn kl_to_standard_normal(mu: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    (log_var.clone().add_scalar(1.0) - mu.square() - log_var.exp())
        .sum_dim(1)
        .squeeze_dim::<1>(1)
        .mul_scalar(-0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_parameters() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let vae = VaeConfig::new(784, vec![400], 20).init(&device);
        // PyTorch's example: 784*400+400 + 2*(400*20+20) + 20*400+400 + 400*784+784.
        assert_eq!(vae.num_params(), 314_000 + 16_040 + 8_400 + 314_384);
        let (mu, lv) = vae.encode(Tensor::zeros([3, 784], &device));
        assert_eq!((mu.dims(), lv.dims()), ([3, 20], [3, 20]));
        assert_eq!(vae.decode(mu).dims(), [3, 784]);
    }

    #[test]
    fn kl_by_hand() {
        let _rng = crate::rng_lock();
        // KL(N(1, e^0) || N(0, 1)) in one dimension = (sigma^2 + mu^2 - 1 - log sigma^2) / 2 = 1/2.
        let device = Device::flex();
        let mu = Tensor::<2>::ones([1, 1], &device);
        let lv = Tensor::<2>::zeros([1, 1], &device);
        assert!((kl_to_standard_normal(mu, lv).into_scalar::<f32>() - 0.5).abs() < 1e-7);
    }
}
