//! A deep belief net as Hinton & Salakhutdinov (2006), "Reducing the dimensionality of data with
//! neural networks", Science 313, use one: a stack of restricted Boltzmann machines, each trained
//! on the hidden means of the one below (greedy layer-wise pretraining, Hinton, Osindero & Teh
//! 2006), then *unrolled* into a deep autoencoder: the machines' recognition weights `W_k` and
//! hidden biases `c_k` make the encoder, their transposes `W_k^T` and visible biases `b_k` the
//! decoder, in reverse order. Fine-tuning then trains the autoencoder as usual.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;

use crate::activation::Activation;
use crate::autoencoder::Autoencoder;
use crate::rbm::{Rbm, Units};

/// Pretrained machines, from the pixels up: machine `k`'s visible units are machine `k - 1`'s
/// hidden units.
#[derive(Debug, Clone)]
pub struct Dbn {
    /// The machines, bottom first.
    pub layers: Vec<Rbm>,
}

impl Dbn {
    /// The hidden means of machine `upto - 1` given the pixels `x` (`[batch, visible of the
    /// first]`): the data machine `upto` is trained on; `x` itself when `upto` is 0.
    pub fn propagate(&self, x: Tensor<2>, upto: usize) -> Tensor<2> {
        self.layers[..upto]
            .iter()
            .fold(x, |h, rbm| rbm.hidden_probs(h))
    }

    /// The deep autoencoder the stack unrolls into: encoder layer `k` computes machine `k`'s
    /// hidden means (logistic for binary units, linear for Gaussian ones), decoder layer `k`
    /// its visible means, mirrored. The autoencoder's hidden layers are logistic, so every
    /// machine but the top one has binary hidden units; the code is linear when the top one's
    /// are Gaussian.
    ///
    /// # Panics
    /// If a machine below the top has Gaussian hidden units or any has Gaussian visible units
    /// (the autoencoder's layers are logistic there).
    pub fn unroll(&self) -> Autoencoder {
        let top = self.layers.len() - 1;
        for (k, rbm) in self.layers.iter().enumerate() {
            assert!(
                rbm.visible_units == Units::Binary
                    && (k == top || rbm.hidden_units == Units::Binary),
                "machine {k} has Gaussian units where the autoencoder is logistic"
            );
        }
        let linear = |weight: Tensor<2>, bias: Tensor<1>| Linear {
            weight: Param::from_tensor(weight),
            bias: Some(Param::from_tensor(bias)),
        };
        let encoder = self
            .layers
            .iter()
            .map(|r| linear(r.weight.val(), r.hidden_bias.val()))
            .collect();
        let decoder = self
            .layers
            .iter()
            .rev()
            .map(|r| linear(r.weight.val().transpose(), r.visible_bias.val()))
            .collect();
        Autoencoder {
            encoder,
            decoder,
            activation: Activation::Sigmoid,
            code_activation: match self.layers[top].hidden_units {
                Units::Binary => Activation::Sigmoid,
                Units::Gaussian => Activation::Identity,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbm::RbmConfig;
    use burn::tensor::Distribution;

    /// The unrolled encoder computes the machines' hidden means layer by layer, and the
    /// decoder their visible means from the top down.
    #[test]
    fn unrolled_autoencoder_is_the_stack() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        device.seed(5);
        let widths = [12, 8, 6, 3];
        let layers: Vec<Rbm> = widths
            .windows(2)
            .enumerate()
            .map(|(k, w)| {
                let mut rbm = RbmConfig::new(w[0], w[1]).with_init_std(0.5);
                if k == 2 {
                    rbm = rbm.with_hidden_units(Units::Gaussian);
                }
                let mut rbm = rbm.init(&device);
                rbm.visible_bias = Param::from_tensor(Tensor::random(
                    [w[0]],
                    Distribution::Normal(0.0, 1.0),
                    &device,
                ));
                rbm.hidden_bias = Param::from_tensor(Tensor::random(
                    [w[1]],
                    Distribution::Normal(0.0, 1.0),
                    &device,
                ));
                rbm
            })
            .collect();
        let dbn = Dbn { layers };
        let ae = dbn.unroll();
        let x = Tensor::<2>::random([4, 12], Distribution::Uniform(0.0, 1.0), &device);
        let close = |a: Tensor<2>, b: Tensor<2>| {
            let gap = (a - b).abs().max().into_scalar::<f32>();
            assert!(gap < 1e-5, "gap {gap}");
        };
        let code = ae.encode(x.clone());
        close(code.clone(), dbn.propagate(x, 3));
        let down = dbn
            .layers
            .iter()
            .rev()
            .fold(code.clone(), |h, rbm| rbm.visible_probs(h));
        // The decoder's logistic output is the bottom machine's visible mean.
        let decoded = burn::tensor::activation::sigmoid(ae.decode_logits(code));
        close(decoded, down);
    }
}
