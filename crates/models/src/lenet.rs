//! A convolutional classifier in the style of LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998,
//! "Gradient-based learning applied to document recognition", Proc. IEEE 86(11), Fig. 2):
//! convolutions of 5x5 kernels, each followed by a nonlinearity and 2x2 subsampling, then dense
//! layers, then one logit per class. LeNet-5 itself: C1 6@28x28, S2 6@14x14, C3 16@10x10,
//! S4 16@5x5, C5 120, F6 84, 10 outputs — 0.95 % test error on MNIST without distortions.
//!
//! Differences from the paper, kept as settings: the 28x28 MNIST images are zero-padded by 2 in
//! the first convolution (the paper centred them in 32x32), C3 connects to every S2 map (the
//! paper used a sparse table), pooling has no trainable coefficients, and the outputs are logits
//! for a softmax cross-entropy instead of Euclidean RBF units.

use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use nnlab_config::{CnnSpec, Pooling};

use crate::activation::{self, Activation};
use crate::init::{self, WeightInit};

/// Configuration of a [`Cnn`].
#[derive(Config, Debug)]
pub struct CnnConfig {
    /// Input channels (1 for MNIST).
    pub in_channels: usize,
    /// Side of the square input images (28 for MNIST).
    pub side: usize,
    /// Output classes.
    pub classes: usize,
    /// Feature maps of each convolution.
    pub channels: Vec<usize>,
    /// Side of the square kernels.
    #[config(default = 5)]
    pub kernel: usize,
    /// Zero padding of each convolution.
    pub padding: Vec<usize>,
    /// Subsampling after each convolution.
    #[config(default = "Pooling::Max")]
    pub pool: Pooling,
    /// Widths of the dense layers after the convolutions.
    pub dense: Vec<usize>,
    /// Nonlinearity after every convolution and hidden dense layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Batch normalisation after each convolution.
    #[config(default = false)]
    pub batch_norm: bool,
    /// Dropout rate before each dense layer.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Weight initialisation.
    #[config(default = "WeightInit::GlorotUniform")]
    pub init: WeightInit,
}

/// A LeNet-style convolutional network.
#[derive(Module, Debug)]
pub struct Cnn {
    /// The convolutions.
    pub convs: Vec<Conv2d>,
    /// Batch normalisation after each convolution, when configured.
    pub norms: Vec<Option<BatchNorm>>,
    /// 2x2 max pooling, when configured.
    pub max_pool: Option<MaxPool2d>,
    /// 2x2 average pooling, when configured.
    pub avg_pool: Option<AvgPool2d>,
    /// The dense layers, the last one producing logits.
    pub dense: Vec<Linear>,
    /// Dropout before each dense layer, when configured.
    pub dropout: Option<Dropout>,
    /// Nonlinearity.
    #[module(skip)]
    pub activation: Activation,
    /// `[channels, side, side]` of the input.
    #[module(skip)]
    pub input: [usize; 3],
}

impl CnnConfig {
    /// The network a config's `[model]` section describes, for `side x side` images of
    /// `in_channels` channels and `classes` classes.
    pub fn from_spec(spec: &CnnSpec, in_channels: usize, side: usize, classes: usize) -> Self {
        Self::new(
            in_channels,
            side,
            classes,
            spec.channels.clone(),
            spec.padding.clone(),
            spec.dense.clone(),
        )
        .with_kernel(spec.kernel)
        .with_pool(spec.pool)
        .with_activation(spec.activation)
        .with_batch_norm(spec.batch_norm)
        .with_dropout(spec.dropout)
        .with_init(spec.init)
    }

    /// The side of the feature maps after every convolution and pooling, or the index of the
    /// first convolution whose input is too small for its kernel.
    pub fn feature_side(&self) -> std::result::Result<usize, usize> {
        let mut s = self.side as isize;
        for (i, &p) in self.padding.iter().enumerate() {
            s = s + 2 * p as isize - self.kernel as isize + 1;
            if s < 2 {
                return Err(i);
            }
            s /= 2;
        }
        Ok(s as usize)
    }

    /// Builds the network on `device`. The shapes must fit ([`feature_side`](Self::feature_side)).
    pub fn init(&self, device: &Device) -> Cnn {
        let side = self
            .feature_side()
            .expect("the config's shapes were checked before building");
        let mut in_c = self.in_channels;
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        for (&c, &p) in self.channels.iter().zip(&self.padding) {
            convs.push(init::conv2d(
                self.init,
                [in_c, c],
                self.kernel,
                1,
                p,
                device,
            ));
            norms.push(
                self.batch_norm
                    .then(|| BatchNormConfig::new(c).init(device)),
            );
            in_c = c;
        }
        let mut widths = vec![in_c * side * side];
        widths.extend(&self.dense);
        widths.push(self.classes);
        let dense = widths
            .windows(2)
            .map(|w| init::linear(self.init, w[0], w[1], device))
            .collect();
        Cnn {
            convs,
            norms,
            max_pool: (self.pool == Pooling::Max).then(|| MaxPool2dConfig::new([2, 2]).init()),
            avg_pool: (self.pool == Pooling::Avg).then(|| AvgPool2dConfig::new([2, 2]).init()),
            dense,
            dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
            activation: self.activation,
            input: [self.in_channels, self.side, self.side],
        }
    }
}

impl Cnn {
    /// The activations of the last hidden layer — the features the network classifies by
    /// (LeNet-5's F6, 84 units): `[batch, pixels]` -> `[batch, dense.last()]` (or the flattened
    /// feature maps when there is no hidden dense layer).
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.dense.len() - 1;
        let flat = self.feature_maps(x);
        self.dense[..last].iter().fold(flat, |h, layer| {
            let h = match &self.dropout {
                Some(d) => d.forward(h),
                None => h,
            };
            activation::apply(self.activation, layer.forward(h))
        })
    }

    /// The flattened maps after the convolutions: `[batch, pixels]` -> `[batch, c * s * s]`.
    fn feature_maps(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, _] = x.dims();
        let [c, h, w] = self.input;
        let mut h4: Tensor<4> = x.reshape([n, c, h, w]);
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            // The bias and the activation in one pass after the convolution, where no batch
            // norm comes between and the kernel applies the activation.
            h4 = match (norm, crate::dense::Kind::of(self.activation)) {
                (None, Some(kind)) => crate::conv2d::conv2d_with(conv, h4, kind),
                _ => {
                    let mut h = crate::conv2d::conv2d(conv, h4);
                    if let Some(bn) = norm {
                        h = crate::batch_norm::forward(bn, h);
                    }
                    activation::apply(self.activation, h)
                }
            };
            h4 = match (&self.max_pool, &self.avg_pool) {
                (Some(p), _) => p.forward(h4),
                (_, Some(p)) => {
                    // Built by `init` as 2x2 windows with stride 2 and no padding, which is all
                    // `avg_pool2d` takes.
                    debug_assert!(
                        p.stride == p.kernel_size && p.kernel_size[0] == p.kernel_size[1]
                    );
                    crate::avg_pool::avg_pool2d(h4, p.kernel_size[0])
                }
                _ => h4,
            };
        }
        h4.flatten(1, 3)
    }

    /// Forward propagation.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels * side * side]` (flat images, as the data loader gives them)
    /// - returns logits `[batch, classes]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.dense.len() - 1;
        let flat = self.feature_maps(x);
        self.dense.iter().enumerate().fold(flat, |h, (i, layer)| {
            let h = match &self.dropout {
                Some(d) => d.forward(h),
                None => h,
            };
            let z = layer.forward(h);
            if i < last {
                activation::apply(self.activation, z)
            } else {
                z
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lenet() -> CnnConfig {
        CnnConfig::from_spec(&CnnSpec::default(), 1, 28, 10)
    }

    #[test]
    fn lenet5_shapes_and_parameters() {
        let _rng = crate::rng_lock();
        // C1: 6 x (1*25 + 1) = 156; C3: 16 x (6*25 + 1) = 2416; 16*5*5 = 400 inputs to C5/F:
        // 400*120 + 120 = 48120; 120*84 + 84 = 10164; 84*10 + 10 = 850. Total 61,706.
        let config = lenet();
        assert_eq!(config.feature_side(), Ok(5));
        let device = Device::flex();
        let net = config.init(&device);
        assert_eq!(net.num_params(), 156 + 2416 + 48_120 + 10_164 + 850);
        let x = Tensor::<2>::zeros([3, 784], &device);
        assert_eq!(net.forward(x.clone()).dims(), [3, 10]);
        assert_eq!(net.features(x).dims(), [3, 84], "F6's 84 units");
    }

    #[test]
    fn too_small_an_input_is_found_before_building() {
        let _rng = crate::rng_lock();
        let config = CnnConfig::new(1, 8, 10, vec![6, 16, 32], vec![0, 0, 0], vec![]);
        assert_eq!(config.feature_side(), Err(1));
    }
}
