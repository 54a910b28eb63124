//! The multilayer perceptron of the article: dense layers with a nonlinearity between them.
//!
//! The article's Keras model is `Dense(32, input_dim=784, activation='relu') ->
//! Dense(10, activation='softmax')`; here the last layer returns logits and the softmax is
//! folded into the loss (`categorical_crossentropy` on softmax outputs equals cross-entropy on
//! logits), which is also how Keras computes it stably.

use burn::nn::Linear;
use burn::prelude::*;

use crate::activation::Activation;
use crate::init::WeightInit;

/// Configuration of an [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input features per example (784 for 28x28 images).
    pub inputs: usize,
    /// Widths of the hidden layers, e.g. `[32]` for the article's model.
    pub hidden: Vec<usize>,
    /// Output classes (logits per example).
    #[config(default = 10)]
    pub classes: usize,
    /// Nonlinearity after each hidden layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Weight initialisation.
    #[config(default = "WeightInit::GlorotUniform")]
    pub init: WeightInit,
}

/// A multilayer perceptron: `x -> f(x W1 + b1) -> ... -> h Wn + bn` (logits).
#[derive(Module, Debug)]
pub struct Mlp {
    /// Dense layers, the last one producing logits.
    pub layers: Vec<Linear>,
    /// Nonlinearity after every layer but the last.
    #[module(skip)]
    pub activation: Activation,
}

impl MlpConfig {
    /// The article's model for `inputs` features: one hidden layer of 32 ReLU units, 10 classes,
    /// Glorot-uniform weights and zero biases (Keras' defaults).
    pub fn article(inputs: usize) -> Self {
        Self::new(inputs, vec![32])
    }

    /// Builds the model on `device`, parameters drawn from the device's seeded generator.
    pub fn init(&self, device: &Device) -> Mlp {
        let mut widths = vec![self.inputs];
        widths.extend(&self.hidden);
        widths.push(self.classes);
        let layers = widths
            .windows(2)
            .map(|w| self.init.linear(w[0], w[1], device))
            .collect();
        Mlp {
            layers,
            activation: self.activation,
        }
    }

    /// Number of trainable parameters: `sum (d_in + 1) * d_out` over the layers.
    pub fn num_params(&self) -> usize {
        let mut widths = vec![self.inputs];
        widths.extend(&self.hidden);
        widths.push(self.classes);
        widths.windows(2).map(|w| (w[0] + 1) * w[1]).sum()
    }
}

impl Mlp {
    /// Forward propagation.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`
    /// - returns logits `[batch, classes]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, layer)| {
            let z = layer.forward(h);
            if i < last {
                self.activation.forward(z)
            } else {
                z
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_model_has_25450_parameters() {
        // Keras' model.summary() of the article: 784*32+32 + 32*10+10 = 25,450.
        assert_eq!(MlpConfig::article(784).num_params(), 25_450);
    }
}
