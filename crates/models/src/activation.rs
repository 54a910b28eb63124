//! Activations applied with burn's tensor ops (tanh and leaky ReLU on flex with nnlab's
//! kernels, [`crate::tanh`] and [`crate::leaky_relu`]). The names and the list live in
//! [`nnlab_config::Activation`]; this file is how the models compute them.

use burn::prelude::*;
use burn::tensor::activation;
pub use nnlab_config::Activation;

/// Applies `act` element-wise; any shape.
pub fn apply<const D: usize>(act: Activation, x: Tensor<D>) -> Tensor<D> {
    match act {
        Activation::Relu => activation::relu(x),
        Activation::Sigmoid => activation::sigmoid(x),
        Activation::Tanh => crate::tanh::tanh(x),
        Activation::LeakyRelu => crate::leaky_relu::leaky_relu(x, Activation::LEAKY_SLOPE),
        Activation::Gelu => activation::gelu(x),
        Activation::Sin => x.sin(),
        Activation::Gaussian => x.square().neg().exp(),
        Activation::Identity => x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_hand() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let x = Tensor::<1>::from_data(TensorData::new(vec![-1.0f32, 0.0, 2.0], [3]), &device);
        let y = |a| apply(a, x.clone()).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y(Activation::Relu), [0.0, 0.0, 2.0]);
        assert_eq!(y(Activation::LeakyRelu), [-0.01, 0.0, 2.0]);
        assert_eq!(y(Activation::Identity), [-1.0, 0.0, 2.0]);
        let g = y(Activation::Gaussian);
        assert!((g[0] - (-1.0f32).exp()).abs() < 1e-6 && g[1] == 1.0);
        let s = y(Activation::Sin);
        assert!((s[2] - 2f32.sin()).abs() < 1e-6);
    }
}
