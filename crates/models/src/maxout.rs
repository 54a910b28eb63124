//! Maxout units (Goodfellow, Warde-Farley, Mirza, Courville & Bengio 2013, "Maxout networks",
//! ICML): a unit takes the largest of `k` affine pieces of its input,
//! `h_i = max_j (x W_{.ij} + b_ij)`, a learned convex piecewise-linear activation. The
//! discriminator of Goodfellow et al.'s (2014) GAN on MNIST is two layers of 240 maxout units of
//! 5 pieces each.

use burn::prelude::*;

/// The maxout of a dense layer's outputs `a`, `[batch, units * pieces]` with each unit's pieces
/// side by side (`a[:, i * pieces + j]` is piece `j` of unit `i`): `[batch, units]`.
pub fn maxout(a: Tensor<2>, pieces: usize) -> Tensor<2> {
    let [n, width] = a.dims();
    assert!(
        pieces > 0 && width % pieces == 0,
        "maxout: {width} outputs are not units of {pieces} pieces"
    );
    let units = width / pieces;
    let grouped: Tensor<3> = a.reshape([n, units, pieces]);
    grouped.max_dim(2).reshape([n, units])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_piece_by_hand() {
        let device = Device::flex();
        // Two examples, two units of three pieces.
        let a = Tensor::<2>::from_data(
            TensorData::new(
                vec![
                    1.0f32, -2.0, 0.5, -1.0, -3.0, -0.5, 0.0, 4.0, 2.0, 7.0, 1.0, 1.5,
                ],
                [2, 6],
            ),
            &device,
        );
        let h: Vec<f32> = maxout(a, 3).into_data().try_into_vec().unwrap();
        assert_eq!(h, vec![1.0, -0.5, 4.0, 7.0]);
    }

    /// The gradient reaches only each unit's largest piece.
    #[test]
    fn gradient_flows_through_the_winning_piece() {
        let device = Device::flex().autodiff();
        let a = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 3.0, 2.0, -1.0], [1, 4]),
            &device,
        )
        .require_grad();
        let grads = maxout(a.clone(), 2).sum().backward();
        let g: Vec<f32> = a.grad(&grads).unwrap().into_data().try_into_vec().unwrap();
        assert_eq!(g, vec![0.0, 1.0, 1.0, 0.0]);
    }
}
