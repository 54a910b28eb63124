//! The multilayer perceptron of the article: dense layers with a nonlinearity between them,
//! optionally with dropout (Srivastava et al., 2014, "Dropout: a simple way to prevent neural
//! networks from overfitting", JMLR 15).
//!
//! The article's Keras model is `Dense(32, input_dim=784, activation='relu') ->
//! Dense(10, activation='softmax')`; here the last layer returns logits and the softmax is
//! folded into the loss (`categorical_crossentropy` on softmax outputs equals cross-entropy on
//! logits), which is also how Keras computes it stably.

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use nnlab_config::MlpSpec;

use crate::activation::Activation;
use crate::dense::{dense, stack};
use crate::init::{self, WeightInit};

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
    /// Dropout rate after each hidden layer (`[]` for none).
    #[config(default = "Vec::new()")]
    pub dropout: Vec<f64>,
    /// Dropout rate on the input.
    #[config(default = 0.0)]
    pub input_dropout: f64,
}

/// A multilayer perceptron: `x -> f(x W1 + b1) -> ... -> h Wn + bn` (logits), with dropout
/// (active only while training on an autodiff device) where configured.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Dense layers, the last one producing logits.
    pub layers: Vec<Linear>,
    /// Dropout after each hidden layer, when configured.
    pub dropouts: Vec<Option<Dropout>>,
    /// Dropout on the input, when configured.
    pub input_dropout: Option<Dropout>,
    /// Nonlinearity after every layer but the last.
    #[module(skip)]
    pub activation: Activation,
}

fn dropout(p: f64) -> Option<Dropout> {
    (p > 0.0).then(|| DropoutConfig::new(p).init())
}

impl MlpConfig {
    /// The article's model for `inputs` features: one hidden layer of 32 ReLU units, 10 classes,
    /// Glorot-uniform weights and zero biases (Keras' defaults).
    pub fn article(inputs: usize) -> Self {
        Self::new(inputs, vec![32])
    }

    /// The model a config's `[model]` section describes, for `inputs` features and `classes`.
    pub fn from_spec(spec: &MlpSpec, inputs: usize, classes: usize) -> Self {
        Self::new(inputs, spec.hidden.clone())
            .with_classes(classes)
            .with_activation(spec.activation)
            .with_init(spec.init)
            .with_dropout(spec.dropout.clone())
            .with_input_dropout(spec.input_dropout)
    }

    /// Builds the model on `device`, parameters drawn from the device's seeded generator.
    pub fn init(&self, device: &Device) -> Mlp {
        let mut widths = vec![self.inputs];
        widths.extend(&self.hidden);
        widths.push(self.classes);
        let layers = widths
            .windows(2)
            .map(|w| init::linear(self.init, w[0], w[1], device))
            .collect();
        let dropouts = (0..self.hidden.len())
            .map(|i| dropout(self.dropout.get(i).copied().unwrap_or(0.0)))
            .collect();
        Mlp {
            layers,
            dropouts,
            input_dropout: dropout(self.input_dropout),
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
    /// The activations of the last hidden layer (the inputs themselves for logistic
    /// regression): `[batch, inputs]` -> `[batch, hidden.last()]`.
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        stack(&self.layers[..last], x, self.activation, self.activation)
    }

    /// Forward propagation.
    ///
    /// # Shapes
    /// - `x`: `[batch, inputs]`
    /// - returns logits `[batch, classes]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = match &self.input_dropout {
            Some(d) => d.forward(x),
            None => x,
        };
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |h, (i, layer)| {
            if i < last {
                let a = dense(layer, h, self.activation);
                match self.dropouts.get(i) {
                    Some(Some(d)) => d.forward(a),
                    _ => a,
                }
            } else {
                dense(layer, h, Activation::Identity)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_model_has_25450_parameters() {
        let _rng = crate::rng_lock();
        // Keras' model.summary() of the article: 784*32+32 + 32*10+10 = 25,450.
        assert_eq!(MlpConfig::article(784).num_params(), 25_450);
    }

    #[test]
    fn dropout_acts_only_while_training() {
        let _rng = crate::rng_lock();
        let device = Device::flex().autodiff();
        device.seed(0);
        let config = MlpConfig::new(6, vec![50])
            .with_dropout(vec![0.5])
            .with_input_dropout(0.2);
        let model = config.init(&device);
        let x = Tensor::<2>::ones([4, 6], &device);
        let a = model.forward(x.clone()).into_data();
        let b = model.forward(x.clone()).into_data();
        assert_ne!(a, b, "training: a fresh mask each call");
        let eval = model.valid();
        let x = x.inner();
        assert_eq!(
            eval.forward(x.clone()).into_data(),
            eval.forward(x).into_data(),
            "evaluation: no dropout"
        );
    }
}
