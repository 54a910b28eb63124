//! The multilayer perceptron of the article: dense layers with a nonlinearity between them,
//! optionally with dropout (Srivastava et al., 2014, "Dropout: a simple way to prevent neural
//! networks from overfitting", JMLR 15), or with maxout units in place of the nonlinearity
//! (Goodfellow et al., 2013, "Maxout networks", ICML: a hidden layer of `u` units of `k` pieces
//! is a dense layer of `u * k` outputs, each unit passing on its largest piece).
//!
//! The article's Keras model is `Dense(32, input_dim=784, activation='relu') ->
//! Dense(10, activation='softmax')`; here the last layer returns logits and the softmax is
//! folded into the loss (`categorical_crossentropy` on softmax outputs equals cross-entropy on
//! logits), which is also how Keras computes it stably.

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use nnlab_config::MlpSpec;

use crate::activation::Activation;
use crate::dense::dense;
use crate::init::{self, WeightInit};
use crate::maxout::maxout;

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
    /// Pieces per maxout unit in the hidden layers; 0 for `activation`.
    #[config(default = 0)]
    pub maxout_pieces: usize,
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
    /// Pieces per maxout unit (the hidden layers' outputs are `units * pieces` wide); 0 when
    /// `activation` is used.
    #[module(skip)]
    pub maxout_pieces: usize,
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
            .with_maxout_pieces(spec.maxout_pieces)
    }

    /// `(inputs, outputs)` of each dense layer: a maxout layer of `u` units has `u * pieces`
    /// outputs, and the next layer takes its `u` units.
    fn shapes(&self) -> Vec<(usize, usize)> {
        let pieces = self.maxout_pieces.max(1);
        let mut inputs = self.inputs;
        let mut shapes = Vec::with_capacity(self.hidden.len() + 1);
        for &units in &self.hidden {
            shapes.push((inputs, units * pieces));
            inputs = units;
        }
        shapes.push((inputs, self.classes));
        shapes
    }

    /// Builds the model on `device`, parameters drawn from the device's seeded generator.
    pub fn init(&self, device: &Device) -> Mlp {
        let layers = self
            .shapes()
            .into_iter()
            .map(|(i, o)| init::linear(self.init, i, o, device))
            .collect();
        let dropouts = (0..self.hidden.len())
            .map(|i| dropout(self.dropout.get(i).copied().unwrap_or(0.0)))
            .collect();
        Mlp {
            layers,
            dropouts,
            input_dropout: dropout(self.input_dropout),
            activation: self.activation,
            maxout_pieces: self.maxout_pieces,
        }
    }

    /// Number of trainable parameters: `sum (d_in + 1) * d_out` over the layers.
    pub fn num_params(&self) -> usize {
        self.shapes().iter().map(|(i, o)| (i + 1) * o).sum()
    }
}

impl Mlp {
    /// The activations of the last hidden layer (the inputs themselves for logistic
    /// regression): `[batch, inputs]` -> `[batch, hidden.last()]`.
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers[..last]
            .iter()
            .fold(x, |h, layer| self.hidden(layer, h))
    }

    /// One hidden layer: the nonlinearity, or each maxout unit's largest piece.
    fn hidden(&self, layer: &Linear, h: Tensor<2>) -> Tensor<2> {
        match self.maxout_pieces {
            0 => dense(layer, h, self.activation),
            k => maxout(dense(layer, h, Activation::Identity), k),
        }
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
                let a = self.hidden(layer, h);
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
    fn maxout_mlp_of_the_maxout_paper_counts_its_pieces() {
        // Goodfellow et al. 2013's permutation-invariant MNIST net: 240 units of 5 pieces, twice.
        let c = MlpConfig::new(784, vec![240, 240]).with_maxout_pieces(5);
        assert_eq!(c.num_params(), 785 * 1200 + 241 * 1200 + 241 * 10);
    }

    /// Each hidden unit passes on its largest piece, computed here on the host from the model's
    /// own weights: `h_u = max_j (x W[:, u*k + j] + b[u*k + j])`, logits `h W2 + b2`.
    #[test]
    fn maxout_units_take_their_largest_piece() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        device.seed(3);
        let (inputs, units, pieces, classes) = (3, 2, 4, 2);
        let model = MlpConfig::new(inputs, vec![units])
            .with_classes(classes)
            .with_maxout_pieces(pieces)
            .init(&device);
        fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
            t.into_data().convert::<f32>().try_into_vec().unwrap()
        }
        let w1 = host(model.layers[0].weight.val());
        let b1 = host(model.layers[0].bias.as_ref().unwrap().val());
        let w2 = host(model.layers[1].weight.val());
        let b2 = host(model.layers[1].bias.as_ref().unwrap().val());
        let x = [0.3f32, -1.2, 0.8, 1.5, 0.1, -0.4];
        let out = host(model.forward(Tensor::<2>::from_data(
            TensorData::new(x.to_vec(), [2, 3]),
            &device,
        )));
        for (n, row) in x.chunks(inputs).enumerate() {
            let h: Vec<f32> = (0..units)
                .map(|u| {
                    (0..pieces)
                        .map(|j| {
                            let o = u * pieces + j;
                            b1[o]
                                + (0..inputs)
                                    .map(|i| row[i] * w1[i * units * pieces + o])
                                    .sum::<f32>()
                        })
                        .fold(f32::MIN, f32::max)
                })
                .collect();
            for c in 0..classes {
                let want = b2[c] + (0..units).map(|u| h[u] * w2[u * classes + c]).sum::<f32>();
                let got = out[n * classes + c];
                assert!(
                    (got - want).abs() < 1e-5,
                    "example {n}, class {c}: {got} vs {want}"
                );
            }
        }
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
