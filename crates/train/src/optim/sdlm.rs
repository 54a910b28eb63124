//! The stochastic diagonal Levenberg-Marquardt method (LeCun, Bottou, Bengio & Haffner 1998,
//! appendix C; LeCun, Bottou, Orr & Müller 1998, "Efficient BackProp", section 9.1): stochastic
//! gradient descent in which each parameter `w_k` has its own step size
//! `eta_k = lr / (mu + h_kk)`, `h_kk` an estimate of the loss's second derivative with respect
//! to `w_k` (the Gauss-Newton approximation, which is never negative), re-estimated on a few
//! hundred examples before each pass; `mu` keeps the step bounded where the curvature is small.
//!
//! The curvature is kept as a module of the model's own type whose parameters hold `h` (so it is
//! saved and loaded like any module), and the update walks the model's and the curvature's
//! parameters in the same order.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;

use super::flat_parameters;

/// One SDLM step over a module: `w <- w - scale * lr / (mu + h) * grad`.
struct Step<'a> {
    curvature: std::vec::IntoIter<Tensor<1>>,
    grads: &'a mut Gradients,
    lr: f64,
    mu: f64,
}

impl ModuleMapper for Step<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let h = self
            .curvature
            .next()
            .expect("the curvature has the model's parameters");
        let (id, tensor, mapper) = param.consume();
        let require_grad = tensor.is_require_grad();
        let grad = if require_grad {
            tensor.grad_remove(self.grads)
        } else {
            None
        };
        let Some(grad) = grad else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let shape = grad.shape();
        let h: Tensor<D> = h.reshape(shape).to_device(&grad.device());
        let step = grad / h.add_scalar(self.mu) * self.lr;
        let mut updated = Tensor::from_inner(tensor.inner() - step);
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// `module` after one SDLM step at base rate `lr`, with the gradients of a backward pass and the
/// per-parameter curvature `curvature` (a module of the same type holding `h`).
pub fn step<M: Module>(module: M, curvature: &M, grads: &mut Gradients, lr: f64, mu: f64) -> M {
    module.map(&mut Step {
        curvature: flat_parameters(curvature).into_iter(),
        grads,
        lr,
        mu,
    })
}

/// Adds the squares [`Squares`] collected to each of a curvature module's parameters, walked in
/// the model's order.
struct Accumulate {
    squares: std::vec::IntoIter<Option<Tensor<1>>>,
}

impl ModuleMapper for Accumulate {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let square = self
            .squares
            .next()
            .expect("the curvature has the model's parameters");
        let (id, tensor, mapper) = param.consume();
        let updated = match square {
            Some(s) => tensor.clone() + s.reshape(tensor.shape()),
            None => tensor,
        };
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// Collects `scale * grad^2` (or `scale * grad` when not `square`) of each float parameter of
/// a module (flattened, on the inner device), `None` for one without a gradient.
struct Squares<'a> {
    grads: &'a Gradients,
    scale: f64,
    square: bool,
    out: Vec<Option<Tensor<1>>>,
}

impl ModuleVisitor for Squares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = param.val().grad(self.grads).map(|g| {
            let g = if self.square { g.square() } else { g };
            g.mul_scalar(self.scale).flatten(0, D - 1)
        });
        self.out.push(g);
    }
}

/// `curvature` plus `scale * grad^2` for every parameter of `model` (`grads` from a backward
/// pass through it; `curvature` of the same type, without autodiff).
pub fn accumulate<M: Module, C: Module>(
    curvature: C,
    model: &M,
    grads: &Gradients,
    scale: f64,
) -> C {
    add(curvature, model, grads, scale, true)
}

/// `curvature` plus `scale * grad` for every parameter of `model`: for a graph whose gradients
/// are second derivatives already (`LeNet5::paper_curvature`).
pub fn add_gradients<M: Module, C: Module>(
    curvature: C,
    model: &M,
    grads: &Gradients,
    scale: f64,
) -> C {
    add(curvature, model, grads, scale, false)
}

fn add<M: Module, C: Module>(
    curvature: C,
    model: &M,
    grads: &Gradients,
    scale: f64,
    square: bool,
) -> C {
    let mut squares = Squares {
        grads,
        scale,
        square,
        out: Vec::new(),
    };
    model.visit(&mut squares);
    curvature.map(&mut Accumulate {
        squares: squares.out.into_iter(),
    })
}

/// `module` with every float parameter squared, each a new tracked leaf
/// ([`crate::export::leaf`]).
pub fn squared_leaves<M: Module>(module: &M) -> M {
    struct Square;
    impl ModuleMapper for Square {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let squared = crate::export::leaf(tensor.detach().square(), true);
            Param::from_mapped_value(id, squared, mapper)
        }
    }
    module.clone().map(&mut Square)
}

/// A module of `module`'s shapes with every float parameter zero.
pub fn zeros_like<M: Module>(module: M) -> M {
    struct Zero;
    impl ModuleMapper for Zero {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            Param::from_mapped_value(id, tensor.zeros_like(), mapper)
        }
    }
    module.map(&mut Zero)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Distribution;

    /// For a dense layer `y = x W + b`, `sum_j (d y_j / d W_kl)^2 = x_k^2` and each bias's is 1:
    /// the random-sign estimate, averaged over many groups, must find them; the step then divides
    /// each gradient by `mu + h`.
    #[test]
    fn curvature_of_a_dense_layer_and_the_step() {
        let device = Device::flex().autodiff();
        device.seed(4);
        let layer: Linear = LinearConfig::new(3, 2).init(&device);
        let x = Tensor::<2>::random([8, 3], Distribution::Uniform(-1.0, 1.0), &device);
        let exact: Vec<f32> = x
            .clone()
            .inner()
            .square()
            .mean_dim(0)
            .into_data()
            .try_into_vec()
            .unwrap();
        let mut h = zeros_like(layer.valid());
        let draws = 4000;
        for _ in 0..draws {
            let out = layer.forward(x.clone());
            let v = out
                .random_like(Distribution::Uniform(0.0, 1.0))
                .greater_elem(0.5)
                .float()
                * 2.0
                - 1.0;
            let grads = (out * v).sum().backward();
            h = accumulate(h, &layer, &grads, 1.0 / (8.0 * draws as f64));
        }
        let flat = flat_parameters(&h);
        let w: Vec<f32> = flat[0].clone().into_data().try_into_vec().unwrap();
        let b: Vec<f32> = flat[1].clone().into_data().try_into_vec().unwrap();
        for k in 0..3 {
            for l in 0..2 {
                let got = w[k * 2 + l];
                assert!(
                    (got - exact[k]).abs() < 0.1 * exact[k] + 0.02,
                    "W[{k},{l}]: {got} vs {}",
                    exact[k]
                );
            }
        }
        for got in b {
            assert!((got - 1.0).abs() < 0.1, "bias: {got}");
        }
        // One step: w - lr g / (mu + h), with g the gradient of sum(y).
        let before: Vec<f32> = layer
            .weight
            .val()
            .inner()
            .into_data()
            .try_into_vec()
            .unwrap();
        let mut grads = layer.forward(x.clone()).sum().backward();
        let after = step(layer, &h, &mut grads, 0.5, 0.1);
        let after: Vec<f32> = after
            .weight
            .val()
            .inner()
            .into_data()
            .try_into_vec()
            .unwrap();
        let colsum: Vec<f32> = x.inner().sum_dim(0).into_data().try_into_vec().unwrap();
        for k in 0..3 {
            for l in 0..2 {
                let want = before[k * 2 + l] - 0.5 * colsum[k] / (0.1 + w[k * 2 + l]);
                let got = after[k * 2 + l];
                assert!((got - want).abs() < 1e-5, "W[{k},{l}]: {got} vs {want}");
            }
        }
    }
}
