//! The floor under a model's training speed: how fast this CPU runs the matrix products of one
//! training step with a tuned GEMM (the `gemm` crate, which burn's flex backend calls), and how
//! fast it streams Adam's update over the parameters. An epoch's steps times the sum is its
//! floor, the time no framework built on these kernels can beat.
//!
//! ```text
//! cargo run --release -p nnlab-floor                           # the article job: batch 32, hidden 32
//! cargo run --release -p nnlab-floor -- --batch 128 --hidden 512   # other shapes (bench/scaling.py)
//! cargo run --release -p nnlab-floor -- --model dcgan         # the art half: cnn, vae, dcgan
//! ```
//!
//! The article MLP's step (row-major, `[rows x cols]`; batch 32 and 32 hidden units):
//! - forward: `Z1 = X [32x784] W1 [784x32]`, `Z2 = H [32x32] W2 [32x10]`
//! - backward: `dW2 = H^T [32x32] dZ2 [32x10]`, `dH = dZ2 [32x10] W2^T [10x32]`,
//!   `dW1 = X^T [784x32] dZ1 [32x32]` (the input needs no gradient)
//! - Adam: per parameter, read `w, g, m, v`, write `w, m, v` (7 x 4 bytes)
//!
//! The art half's models (their configs in `configs/`) count a convolution as the product of
//! its unfolded input (im2col) with its kernel: forward `[n*ho*wo x cin*k*k] [cin*k*k x cout]`,
//! kernel gradient `[cin*k*k x n*ho*wo] [n*ho*wo x cout]`, input gradient `[n*ho*wo x cout]
//! [cout x cin*k*k]` (then folded back); a transposed convolution is the adjoint of a
//! convolution, so its forward pass is a convolution's input gradient and the other way round.
//! Only what a step needs is counted: no gradient for the input images or the noise, and the
//! DCGAN's generator step takes the discriminator's input gradients but not its kernels'.
//!
//! Elementwise work (bias, activation, pooling, batch norm, softmax, unfolding) is left out, so
//! the floor stated is below the true one; for the article MLP it is 0.1 % of the FLOPs.

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
    what: String,
    /// Times a step computes it.
    count: usize,
    m: usize,
    k: usize,
    n: usize,
    a_t: bool,
    b_t: bool,
}

/// A product `m x k x n` named `what`, computed `count` times a step.
fn product(
    what: &str,
    count: usize,
    (m, k, n): (usize, usize, usize),
    a_t: bool,
    b_t: bool,
) -> Product {
    Product {
        what: what.to_string(),
        count,
        m,
        k,
        n,
        a_t,
        b_t,
    }
}

/// The article MLP's five products for `batch` images and `hidden` units (784-hidden-10).
fn mlp_step(batch: usize, hidden: usize) -> Vec<Product> {
    vec![
        product("Z1 = X W1", 1, (batch, INPUTS, hidden), false, false),
        product("Z2 = H W2", 1, (batch, hidden, CLASSES), false, false),
        product("dW2 = H^T dZ2", 1, (hidden, batch, CLASSES), true, false),
        product("dH = dZ2 W2^T", 1, (batch, CLASSES, hidden), false, true),
        product("dW1 = X^T dZ1", 1, (INPUTS, batch, hidden), true, false),
    ]
}

/// A dense layer `inputs -> outputs` on `n` rows: forward, weight gradient and (when `dx`)
/// input gradient, each `count` times a step.
fn dense(
    name: &str,
    n: usize,
    inputs: usize,
    outputs: usize,
    dx: bool,
    count: usize,
) -> Vec<Product> {
    let mut v = vec![
        product(
            &format!("{name} forward"),
            count,
            (n, inputs, outputs),
            false,
            false,
        ),
        product(
            &format!("{name} dW"),
            count,
            (inputs, n, outputs),
            true,
            false,
        ),
    ];
    if dx {
        v.push(product(
            &format!("{name} dX"),
            count,
            (n, outputs, inputs),
            false,
            true,
        ));
    }
    v
}

/// A convolution `cin -> cout` with `k x k` kernels producing `out x out` maps for `n` images,
/// as products on the unfolded input: (forward, kernel gradient, input gradient).
fn conv(n: usize, cin: usize, cout: usize, k: usize, out: usize) -> [(usize, usize, usize); 3] {
    let rows = n * out * out;
    [
        (rows, cin * k * k, cout),
        (cin * k * k, rows, cout),
        (rows, cout, cin * k * k),
    ]
}

/// `configs/lenet_1998.toml`: 28x28 -> conv 5x5 (6, padded) -> avg pool -> conv 5x5 (16) ->
/// avg pool -> 400 -> 120 -> 84 -> 10, batch 32.
fn cnn_step() -> (Vec<Product>, usize, usize) {
    let n = 32;
    let [c1, c1w, _] = conv(n, 1, 6, 5, 28);
    let [c2, c2w, c2x] = conv(n, 6, 16, 5, 10);
    let mut v = vec![
        product("conv1 forward", 1, c1, false, false),
        product("conv1 dW", 1, c1w, true, false),
        product("conv2 forward", 1, c2, false, false),
        product("conv2 dW", 1, c2w, true, false),
        product("conv2 dX", 1, c2x, false, true),
    ];
    v.extend(dense("dense 400-120", n, 400, 120, true, 1));
    v.extend(dense("dense 120-84", n, 120, 84, true, 1));
    v.extend(dense("dense 84-10", n, 84, 10, true, 1));
    (v, n, 61_706)
}

/// `configs/vae_2014.toml`: 784 -> 400 -> (mu, log var) 20 + 20, 20 -> 400 -> 784, batch 128.
fn vae_step() -> (Vec<Product>, usize, usize) {
    let n = 128;
    let mut v = dense("encoder 784-400", n, INPUTS, 400, false, 1);
    v.extend(dense("mu, log var 400-20", n, 400, 20, true, 2));
    v.extend(dense("decoder 20-400", n, 20, 400, true, 1));
    v.extend(dense("decoder 400-784", n, 400, INPUTS, true, 1));
    (v, n, 652_824)
}

/// `configs/dcgan_2016.toml` (latent 100, 32 features each side), batch 128. Generator:
/// 100 -> 64x7x7 -> transposed conv 4x4 -> 32x14x14 -> transposed conv 4x4 -> 1x28x28.
/// Discriminator: conv 4x4 -> 32x14x14 -> conv 4x4 -> 64x7x7 -> 1. A step: the generator's
/// forward pass on the discriminator's noise, the discriminator's forward and backward passes
/// on the real and the generated batch; then the generator's forward pass, the
/// discriminator's forward pass and input gradients, the generator's backward pass.
fn dcgan_step() -> (Vec<Product>, usize, usize) {
    let n = 128;
    // The transposed convolutions as adjoints of convolutions 32 -> 64 (14 -> 7) and 1 -> 32
    // (28 -> 14): forward = that convolution's input gradient, dX = its forward.
    let [t1x, t1w, t1f] = conv(n, 32, 64, 4, 7);
    let [t2x, t2w, t2f] = conv(n, 1, 32, 4, 14);
    let [d1, d1w, d1x] = conv(n, 1, 32, 4, 14);
    let [d2, d2w, d2x] = conv(n, 32, 64, 4, 7);
    let g_dense = (n, 100, 64 * 49);
    let d_dense = (n, 64 * 49, 1);
    let products = vec![
        product("G dense forward", 2, g_dense, false, false),
        product("G convT1 forward", 2, t1f, false, true),
        product("G convT2 forward", 2, t2f, false, true),
        product("D conv1 forward", 3, d1, false, false),
        product("D conv2 forward", 3, d2, false, false),
        product("D dense forward", 3, d_dense, false, false),
        product("D dense dW", 2, (64 * 49, n, 1), true, false),
        product("D dense dX", 3, (n, 1, 64 * 49), false, true),
        product("D conv2 dW", 2, d2w, true, false),
        product("D conv2 dX", 3, d2x, false, true),
        product("D conv1 dW", 2, d1w, true, false),
        product("D conv1 dX", 1, d1x, false, true),
        product("G convT2 dW", 1, t2w, true, false),
        product("G convT2 dX", 1, t2x, false, false),
        product("G convT1 dW", 1, t1w, true, false),
        product("G convT1 dX", 1, t1x, false, false),
        product("G dense dW", 1, (100, n, 64 * 49), true, false),
    ];
    (products, n, 387_106)
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

/// Seconds per round when each of `threads` threads calls its own `make()` once a round, `reps`
/// rounds at once: the wall time from when every thread has made its call ready (a barrier) to
/// when the last finishes, over `reps`; the median of 7 such timings after a warm-up one.
fn side_by_side<F: FnMut() + Send>(
    threads: usize,
    reps: usize,
    make: impl Fn() -> F + Sync,
) -> f64 {
    let round = || {
        let ready = std::sync::Barrier::new(threads + 1);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut f = make();
                    ready.wait();
                    for _ in 0..reps {
                        f();
                    }
                });
            }
            ready.wait();
            Instant::now()
        })
        .elapsed()
        .as_secs_f64()
            / reps as f64
    };
    round();
    let mut t: Vec<f64> = (0..7).map(|_| round()).collect();
    t.sort_by(f64::total_cmp);
    t[3]
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

/// `--model M` (`mlp`, the default, `cnn`, `vae`, `dcgan`) and, for the MLP, `--batch B
/// --hidden H` (defaults 32 and 32, the article job).
fn args() -> Result<(String, usize, usize), String> {
    const USAGE: &str = "usage: nnlab-floor [--model mlp|cnn|vae|dcgan] [--batch B] [--hidden H]";
    let (mut model, mut batch, mut hidden) = ("mlp".to_string(), 32, 32);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or(format!("{flag} needs a value ({USAGE})"))?;
        if flag == "--model" {
            if !["mlp", "cnn", "vae", "dcgan"].contains(&value.as_str()) {
                return Err(format!("--model {value}: one of mlp, cnn, vae, dcgan"));
            }
            model = value;
            continue;
        }
        let slot = match flag.as_str() {
            "--batch" => &mut batch,
            "--hidden" => &mut hidden,
            _ => return Err(format!("unknown argument `{flag}` ({USAGE})")),
        };
        *slot = value.parse().ok().filter(|v| *v > 0).ok_or(format!(
            "{flag} {value}: must be a whole number of at least 1"
        ))?;
    }
    if model != "mlp" && (batch, hidden) != (32, 32) {
        return Err(format!(
            "--batch and --hidden shape the MLP; the {model}'s shapes are its config's"
        ));
    }
    Ok((model, batch, hidden))
}

/// Times each matrix product of a step (and a 1024-cube product for scale) on one thread and
/// on all threads (gemm splitting the product), and those nnlab splits into independent
/// products also one on each thread at once (the time per product is the wall time over the
/// products done, within what the threads' shared memory allows): a convolution's (blocks of
/// images) and a large dense product's (bands of rows). Prints a table row per product; returns
/// the step's total each way (the others counted on one thread in the third) and with each
/// product at its best (each product as many times as the step computes it).
fn time_products(products: &[Product]) -> [f64; 4] {
    let big = product("1024 x 1024 x 1024", 0, (1024, 1024, 1024), false, false);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut step_total = [0.0f64; 4];
    println!(
        "| product | shape (m x k x n) | per step | MFLOP | 1 thread us | all threads us | one per thread us | best GFLOP/s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for p in products.iter().chain(std::iter::once(&big)) {
        let (a, b) = (values(p.m * p.k, 3), values(p.k * p.n, 5));
        let mut c = vec![0.0f32; p.m * p.n];
        let flop = 2.0 * (p.m * p.k * p.n) as f64;
        let reps = (2e8 / flop).clamp(3.0, 20_000.0) as usize;
        let one = time(reps, || matmul(p, &a, &b, &mut c, Parallelism::None));
        let all = time(reps, || matmul(p, &a, &b, &mut c, Parallelism::Rayon(0)));
        // Which products nnlab splits into independent ones, one per thread: a convolution's
        // (blocks of images), and a large dense product with at least 64 rows a thread and its
        // left operand read along its rows (bands of rows, nnlab-models' `flex::matmul`).
        let banded =
            p.m * p.k * p.n >= 192 * 192 * 192 && p.m >= 64 * threads && threads > 1 && !p.a_t;
        let (ra, rb) = (&a, &b);
        let side = if p.what.contains("conv") {
            // Each thread a whole product: a round is `threads` products.
            side_by_side(threads, reps, || {
                let mut c = vec![0.0f32; p.m * p.n];
                move || matmul(p, ra, rb, &mut c, Parallelism::None)
            }) / threads as f64
        } else if banded {
            // Each thread a band of rows: a round is one product.
            let band = product(
                &p.what,
                p.count,
                (p.m.div_ceil(threads), p.k, p.n),
                p.a_t,
                p.b_t,
            );
            side_by_side(threads, reps, || {
                let mut c = vec![0.0f32; band.m * band.n];
                let band = &band;
                move || matmul(band, ra, rb, &mut c, Parallelism::None)
            })
        } else {
            f64::INFINITY
        };
        let best = one.min(all).min(side);
        for (total, secs) in step_total.iter_mut().zip([one, all, side.min(one), best]) {
            *total += secs * p.count as f64;
        }
        let side = if side.is_finite() {
            format!("{:.2}", side * 1e6)
        } else {
            "-".to_string()
        };
        println!(
            "| {} | {} x {} x {} | {} | {:.3} | {:.2} | {:.2} | {side} | {:.1} |",
            p.what,
            p.m,
            p.k,
            p.n,
            p.count,
            flop / 1e6,
            one * 1e6,
            all * 1e6,
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
    let (model, batch, hidden) = args().unwrap_or_else(|e| {
        eprintln!("nnlab-floor: {e}");
        std::process::exit(2)
    });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (products, batch, params) = match model.as_str() {
        "cnn" => cnn_step(),
        "vae" => vae_step(),
        "dcgan" => dcgan_step(),
        _ => (
            mlp_step(batch, hidden),
            batch,
            INPUTS * hidden + hidden + hidden * CLASSES + CLASSES,
        ),
    };
    match model.as_str() {
        "mlp" if (batch, hidden) == (32, 32) => {
            println!(
                "nnlab-floor: the article job's step on this CPU ({threads} threads available)\n"
            )
        }
        "mlp" => println!(
            "nnlab-floor: the article model's step with batch {batch} and {hidden} hidden units on this CPU ({threads} threads available)\n"
        ),
        m => println!(
            "nnlab-floor: the {m}'s step (configs/, batch {batch}) on this CPU ({threads} threads available)\n"
        ),
    }
    // 60,000 images a step of `batch` at a time; the last step takes what is left, counted here
    // as a full one (a slight overestimate of the floor when `batch` does not divide 60,000).
    let steps = IMAGES.div_ceil(batch) as f64;
    let step_total = time_products(&products);
    let adam_s = time_adam(params);
    let gemm_step = step_total[3];
    println!(
        "\nper step: matrix products {:.1} us (each at its best; all on 1 thread {:.1}, on all threads {:.1}, split ones one per thread {:.1}), Adam {:.1} us",
        gemm_step * 1e6,
        step_total[0] * 1e6,
        step_total[1] * 1e6,
        step_total[2] * 1e6,
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
