//! The deep autoencoder of Hinton & Salakhutdinov (2006), "Reducing the dimensionality of data
//! with neural networks", Science 313: an encoder of dense layers down to a small code and a
//! decoder that mirrors it back to the pixels. For MNIST: 784-1000-500-250-30 logistic units with
//! a linear code layer, and logistic outputs; the paper pretrained each layer as an RBM and then
//! fine-tuned the whole network with backpropagation on the cross-entropy of the pixels. Here it
//! is trained end to end from Glorot-uniform weights with Adam (no pretraining).

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use nnlab_config::AutoencoderSpec;

use crate::activation::Activation;
use crate::dense::stack;
use crate::init::{self, WeightInit};

/// Configuration of an [`Autoencoder`].
#[derive(Config, Debug)]
pub struct AutoencoderConfig {
    /// Input features (784 for 28x28 images).
    pub inputs: usize,
    /// Widths of the encoder's hidden layers; the decoder uses them in reverse.
    pub encoder: Vec<usize>,
    /// Units of the code layer.
    pub code: usize,
    /// Nonlinearity of the hidden layers.
    #[config(default = "Activation::Sigmoid")]
    pub activation: Activation,
    /// Nonlinearity of the code layer.
    #[config(default = "Activation::Identity")]
    pub code_activation: Activation,
    /// Weight initialisation.
    #[config(default = "WeightInit::GlorotUniform")]
    pub init: WeightInit,
}

/// A deep autoencoder.
#[derive(Module, Debug)]
pub struct Autoencoder {
    /// Dense layers from the input to the code.
    pub encoder: Vec<Linear>,
    /// Dense layers from the code to the output logits.
    pub decoder: Vec<Linear>,
    /// Nonlinearity of the hidden layers.
    #[module(skip)]
    pub activation: Activation,
    /// Nonlinearity of the code layer.
    #[module(skip)]
    pub code_activation: Activation,
}

impl AutoencoderConfig {
    /// The autoencoder a config's `[model]` section describes, for `inputs` features.
    pub fn from_spec(spec: &AutoencoderSpec, inputs: usize) -> Self {
        Self::new(inputs, spec.encoder.clone(), spec.code)
            .with_activation(spec.activation)
            .with_code_activation(spec.code_activation)
            .with_init(spec.init)
    }

    /// Builds it on `device`.
    pub fn init(&self, device: &Device) -> Autoencoder {
        let mut widths = vec![self.inputs];
        widths.extend(&self.encoder);
        widths.push(self.code);
        let layers = |ws: &[usize]| {
            ws.windows(2)
                .map(|w| init::linear(self.init, w[0], w[1], device))
                .collect::<Vec<_>>()
        };
        let encoder = layers(&widths);
        widths.reverse();
        let decoder = layers(&widths);
        Autoencoder {
            encoder,
            decoder,
            activation: self.activation,
            code_activation: self.code_activation,
        }
    }
}

impl Autoencoder {
    /// The code of each input.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`, pixels in `[0, 1]`
    /// - returns `[batch, code]`
    pub fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        stack(&self.encoder, x, self.activation, self.code_activation)
    }

    /// The decoder's output logits (before the logistic output units).
    ///
    /// # Shapes
    /// - `code`: `[batch, code]`
    /// - returns `[batch, inputs]`
    pub fn decode_logits(&self, code: Tensor<2>) -> Tensor<2> {
        stack(&self.decoder, code, self.activation, Activation::Identity)
    }

    /// The reconstruction of each input, in `[0, 1]`: `[batch, inputs]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        sigmoid(self.decode_logits(self.encode(x)))
    }
}

/// Squared error summed over the pixels of each example: `[batch, pixels]` -> `[batch]`.
pub fn squared_error(reconstruction: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    (reconstruction - x).square().sum_dim(1).squeeze_dim::<1>(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_parameters() {
        let _rng = crate::rng_lock();
        let config = AutoencoderConfig::from_spec(&AutoencoderSpec::default(), 784);
        let device = Device::flex();
        let ae = config.init(&device);
        // Hinton & Salakhutdinov's 784-1000-500-250-30 and back:
        // encoder 785*1000 + 1001*500 + 501*250 + 251*30 = 1,418,280; decoder 31*250 + 251*500
        // + 501*1000 + 1001*784 = 1,419,034.
        assert_eq!(ae.num_params(), 1_418_280 + 1_419_034);
        let x = Tensor::<2>::zeros([2, 784], &device);
        assert_eq!(ae.encode(x.clone()).dims(), [2, 30]);
        assert_eq!(ae.forward(x).dims(), [2, 784]);
    }
}
