//! The floor under the article job's speed: how fast this CPU runs the matrix products of one
//! training step of the article's MLP (784-32-10, batch 32) with a tuned GEMM (the `gemm` crate,
//! which burn's flex backend calls), and how fast it streams Adam's update over the 25,450
//! parameters. One epoch is 1,875 such steps; the sum is the epoch's floor, the time no framework
//! built on these kernels can beat.
//!
//! ```text
//! cargo run --release -p nnlab-floor                           # the article job: batch 32, hidden 32
//! cargo run --release -p nnlab-floor -- --batch 128 --hidden 512   # other shapes (bench/scaling.py)
//! ```
//!
//! Per step (row-major, `[rows x cols]`; shown for batch 32 and 32 hidden units):
//! - forward: `Z1 = X [32x784] W1 [784x32]`, `Z2 = H [32x32] W2 [32x10]`
//! - backward: `dW2 = H^T [32x32] dZ2 [32x10]`, `dH = dZ2 [32x10] W2^T [10x32]`,
//!   `dW1 = X^T [784x32] dZ1 [32x32]` (the input needs no gradient)
//! - Adam: per parameter, read `w, g, m, v`, write `w, m, v` (7 x 4 bytes)
//!
//! Elementwise work (bias, activation, softmax) is left out: it is 0.1 % of the FLOPs, so the
//! floor stated is a little below the true one.

use std::time::Instant;

use gemm::Parallelism;

/// Training images per epoch.
const IMAGES: usize = 60_000;
/// The article model's input width (28 x 28 pixels).
const INPUTS: usize = 784;
/// Its output width (the ten digits).
const CLASSES: usize = 10;

/// One matrix product `C [m x n] = A [m x k] B [k x n]` of the step, `a_t` / `b_t` when the
/// operand is used transposed (read through swapped strides, as burn-flex does).
struct Product {
    what: &'static str,
    m: usize,
    k: usize,
    n: usize,
    a_t: bool,
    b_t: bool,
}

/// The step's five products for `batch` images and `hidden` units (784-hidden-10).
fn step(batch: usize, hidden: usize) -> [Product; 5] {
    let p = |what, m, k, n, a_t, b_t| Product {
        what,
        m,
        k,
        n,
        a_t,
        b_t,
    };
    [
        p("Z1 = X W1", batch, INPUTS, hidden, false, false),
        p("Z2 = H W2", batch, hidden, CLASSES, false, false),
        p("dW2 = H^T dZ2", hidden, batch, CLASSES, true, false),
        p("dH = dZ2 W2^T", batch, CLASSES, hidden, false, true),
        p("dW1 = X^T dZ1", INPUTS, batch, hidden, true, false),
    ]
}

/// `C = A B` with gemm; `A` is stored `[m x k]` (or `[k x m]` when `a_t`), `B` `[k x n]` (or
/// `[n x k]` when `b_t`), `C` `[m x n]`, all row-major and contiguous.
fn matmul(p: &Product, a: &[f32], b: &[f32], c: &mut [f32], par: Parallelism) {
    assert!(a.len() >= p.m * p.k && b.len() >= p.k * p.n && c.len() >= p.m * p.n);
    // (column stride, row stride) of each operand as the logical matrix.
    let (a_cs, a_rs) = if p.a_t {
        (p.m as isize, 1)
    } else {
        (1, p.k as isize)
    };
    let (b_cs, b_rs) = if p.b_t {
        (p.k as isize, 1)
    } else {
        (1, p.n as isize)
    };
    #[allow(unsafe_code)]
    // SAFETY: the asserts above give every operand room for its m x k, k x n and m x n
    // elements at the strides passed, `c` is the only one written, and none overlap (distinct
    // slices).
    unsafe {
        gemm::gemm(
            p.m,
            p.n,
            p.k,
            c.as_mut_ptr(),
            1,
            p.n as isize,
            false,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// Seconds per call of `f`: the median of 7 timings of `reps` calls, after a warm-up.
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..reps {
        f();
    }
    let mut t: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                f();
            }
            start.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[3]
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

/// One Adam update of `w` from `g` (the arithmetic of nnlab's fused host update), compiled
/// for the CPU's best vector unit found at run time (pulp), as nnlab's is.
fn adam(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    struct Update<'a> {
        w: &'a mut [f32],
        g: &'a [f32],
        m: &'a mut [f32],
        v: &'a mut [f32],
    }
    impl pulp::WithSimd for Update<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) {
            let (b1, b2, alpha, eps) = (0.9f32, 0.999f32, 1e-3f32, 1e-7f32);
            let items = self.w.iter_mut().zip(self.g).zip(self.m).zip(self.v);
            for (((w, &g), m), v) in items {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *w -= alpha * *m / (v.sqrt() + eps);
            }
        }
    }
    pulp::Arch::new().dispatch(Update { w, g, m, v });
}

/// `--batch B --hidden H` (defaults 32 and 32, the article job).
fn shape() -> Result<(usize, usize), String> {
    let (mut batch, mut hidden) = (32, 32);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--batch" => &mut batch,
            "--hidden" => &mut hidden,
            _ => {
                return Err(format!(
                    "unknown argument `{flag}` (usage: nnlab-floor [--batch B] [--hidden H])"
                ));
            }
        };
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        *slot = value.parse().ok().filter(|v| *v > 0).ok_or(format!(
            "{flag} {value}: must be a whole number of at least 1"
        ))?;
    }
    Ok((batch, hidden))
}

/// Times each matrix product of a step (and a 1024-cube product for scale) on one thread and
/// on all, printing a table row per product; returns the step's total on each.
fn time_products(batch: usize, hidden: usize) -> [f64; 2] {
    let big = Product {
        what: "1024 x 1024 x 1024",
        m: 1024,
        k: 1024,
        n: 1024,
        a_t: false,
        b_t: false,
    };
    let mut step_total = [0.0f64; 2];
    let pars = [
        ("1 thread", Parallelism::None),
        ("all threads", Parallelism::Rayon(0)),
    ];
    println!(
        "| product | shape (m x k x n) | MFLOP | {} us | {} us | best GFLOP/s |",
        pars[0].0, pars[1].0
    );
    println!("|---|---|---|---|---|---|");
    let products = step(batch, hidden);
    for p in products.iter().chain(std::iter::once(&big)) {
        let (a, b) = (values(p.m * p.k, 3), values(p.k * p.n, 5));
        let mut c = vec![0.0f32; p.m * p.n];
        let flop = 2.0 * (p.m * p.k * p.n) as f64;
        let reps = (2e8 / flop).clamp(3.0, 20_000.0) as usize;
        let secs: Vec<f64> = pars
            .iter()
            .map(|&(_, par)| time(reps, || matmul(p, &a, &b, &mut c, par)))
            .collect();
        let best = secs[0].min(secs[1]);
        if !std::ptr::eq(p, &big) {
            step_total[0] += secs[0];
            step_total[1] += secs[1];
        }
        println!(
            "| {} | {} x {} x {} | {:.3} | {:.2} | {:.2} | {:.1} |",
            p.what,
            p.m,
            p.k,
            p.n,
            flop / 1e6,
            secs[0] * 1e6,
            secs[1] * 1e6,
            flop / best / 1e9
        );
    }
    step_total
}

/// Times Adam's update over `params` parameters, printing its rate; returns seconds per step.
fn time_adam(params: usize) -> f64 {
    let (mut w, g) = (values(params, 7), values(params, 11));
    let (mut m, mut v) = (vec![0.0f32; params], vec![0.0f32; params]);
    let adam_s = time((5.1e7 / params as f64).clamp(3.0, 2000.0) as usize, || {
        adam(&mut w, &g, &mut m, &mut v)
    });
    let bytes = 7.0 * 4.0 * params as f64;
    println!(
        "\nAdam over {params} parameters: {:.2} us per step ({:.1} GB/s of the {:.0} KB it reads and writes)",
        adam_s * 1e6,
        bytes / adam_s / 1e9,
        bytes / 1e3
    );
    adam_s
}

fn main() {
    let (batch, hidden) = shape().unwrap_or_else(|e| {
        eprintln!("nnlab-floor: {e}");
        std::process::exit(2)
    });
    // 60,000 images a step of `batch` at a time; the last step takes what is left, counted here
    // as a full one (a slight overestimate of the floor when `batch` does not divide 60,000).
    let steps = IMAGES.div_ceil(batch) as f64;
    let params = INPUTS * hidden + hidden + hidden * CLASSES + CLASSES;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if (batch, hidden) == (32, 32) {
        println!("nnlab-floor: the article job's step on this CPU ({threads} threads available)\n");
    } else {
        println!(
            "nnlab-floor: the article model's step with batch {batch} and {hidden} hidden units on this CPU ({threads} threads available)\n"
        );
    }
    let step_total = time_products(batch, hidden);
    let adam_s = time_adam(params);
    let gemm_step = step_total[0].min(step_total[1]);
    println!(
        "\nper step: matrix products {:.1} us (best of 1 thread {:.1} and all {:.1}), Adam {:.1} us",
        gemm_step * 1e6,
        step_total[0] * 1e6,
        step_total[1] * 1e6,
        adam_s * 1e6
    );
    println!(
        "epoch floor ({steps} steps): matrix products {:.1} ms + Adam {:.1} ms = {:.1} ms",
        gemm_step * steps * 1e3,
        adam_s * steps * 1e3,
        (gemm_step + adam_s) * steps * 1e3
    );
    println!("FLOOR_MS {:.1}", (gemm_step + adam_s) * steps * 1e3);
}
