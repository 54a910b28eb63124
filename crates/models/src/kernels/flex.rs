//! What the burn-flex backend extensions of this crate ([`crate::dense`], [`crate::tanh`],
//! [`crate::leaky_relu`], [`crate::cross_entropy`], [`crate::avg_pool`],
//! [`crate::bernoulli_cross_entropy`]) share: which devices they run on, and f32 buffers in and
//! out of burn-flex's tensors. Each public function checks its inputs (the device, f32, shapes
//! the kernel handles) and otherwise calls burn's own operations, so the kernels themselves see
//! only f32 tensors they can handle.

use burn::backend::tensor::FloatTensor;
use burn::backend::{DispatchDevice, Flex};
use burn::tensor::{DType, Device, Shape, TensorData};

/// Whether `device` is burn-flex's, with or without autodiff: where the extensions run.
pub fn on_flex(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// Whether the extensions take a tensor of this dtype (f32 only).
pub fn is_f32(dtype: DType) -> bool {
    dtype == DType::F32
}

/// A flex tensor holding `values` in `shape`.
pub fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FloatTensor<Flex> {
    FloatTensor::<Flex>::from_data(TensorData::new(values, shape))
}

/// `t`'s values in row-major order (a copy only when `t` is strided or offset).
pub fn values(t: &FloatTensor<Flex>) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("f32").to_vec()),
    }
}

/// `a b` for f32 tensors `[m, k]` and `[k, n]` of any non-negative strides: burn-flex's own
/// product (the `gemm` crate, called as burn-flex 0.22.1 calls it, so the same bits, on every
/// thread of rayon's pool from burn-flex's size threshold on), into an f32 buffer of its own.
/// burn-flex allocates its output as bytes and then copies them into a buffer aligned for f32;
/// for the article's 784 x 32 weight gradient that is a second 100 KB buffer written every
/// step. Anything else (other ranks, negative strides, sizes that overflow) goes to
/// burn-flex's `float_matmul`.
pub fn matmul(a: FloatTensor<Flex>, b: FloatTensor<Flex>) -> FloatTensor<Flex> {
    use burn::backend::TensorMetadata;
    use burn::backend::ops::FloatTensorOps;
    /// burn-flex's threshold (m n k) for running one product on every thread.
    const PRODUCT_THREADS_FROM: usize = 192 * 192 * 192;
    let (la, lb) = (a.layout(), b.layout());
    let (sa, sb) = (la.strides(), lb.strides());
    if a.shape().num_dims() != 2
        || b.shape().num_dims() != 2
        || sa.iter().chain(sb).any(|&s| s < 0)
        || !is_f32(a.dtype())
        || !is_f32(b.dtype())
    {
        return Flex::float_matmul(a, b);
    }
    let ([m, k], [k2, n]) = (a.shape().dims::<2>(), b.shape().dims::<2>());
    assert_eq!(k, k2, "matmul: [{m}, {k}] by [{k2}, {n}]");
    let (da, db) = (a.storage::<f32>(), b.storage::<f32>());
    let (oa, ob) = (la.start_offset(), lb.start_offset());
    // The index of the last element each operand is read at, from its offset and strides
    // (`None` on overflow).
    let last = |o: usize, rows: usize, cols: usize, s: &[isize]| {
        let down = (rows - 1).checked_mul(s[0] as usize)?;
        let across = (cols - 1).checked_mul(s[1] as usize)?;
        o.checked_add(down)?.checked_add(across)
    };
    let Some(ops) = m.checked_mul(n).and_then(|mn| mn.checked_mul(k)) else {
        return Flex::float_matmul(a, b);
    };
    if ops == 0 {
        return tensor(vec![0.0f32; m * n], [m, n]);
    }
    let (Some(end_a), Some(end_b)) = (last(oa, m, k, sa), last(ob, k, n, sb)) else {
        return Flex::float_matmul(a, b);
    };
    assert!(
        end_a < da.len() && end_b < db.len(),
        "matmul: a view reaches past its buffer"
    );
    let mut c = zeros(m * n);
    let a = View::strided(&da[oa..], sa[0] as usize, sa[1] as usize);
    let b = View::strided(&db[ob..], sb[0] as usize, sb[1] as usize);
    let threads = rayon::current_num_threads();
    if ops >= PRODUCT_THREADS_FROM
        && threads > 1
        && m >= BAND_ROWS * threads
        && n > BAND_ROWS
        && a.col_stride == 1
    {
        by_rows(&mut c, [m, n, k], a, b, m.div_ceil(threads));
    } else {
        product(&mut c, [m, n, k], a, b, false, ops >= PRODUCT_THREADS_FROM);
    }
    tensor(c, [m, n])
}

/// [`by_rows`] runs a product whose rows give each thread at least this many and whose output
/// is wider than this; otherwise, or when `a` is read down its columns (a weight gradient's
/// `x^T`, whose bands then compete for memory), gemm's own split of the product runs it (a
/// DCGAN's 100 x 128 x 3136 weight gradient in two 50-row bands was slower than gemm's split).
/// The width keeps the bits: gemm blocks the inner dimension by its size (its own `kc`) except
/// for products of at most 64 rows and 64 columns, which it blocks by 512.
const BAND_ROWS: usize = 64;

/// `c <- a b` as [`product`] computes it, with `a`'s rows (and `c`'s) split into bands of
/// `band` rows, each band's product on one thread of rayon's pool (the same bits: each value's
/// sum runs in the same order). gemm's own split of a product over two threads gains little or
/// nothing at the VAE's shapes (128 x 400 x 784: 790 us on two threads, 750 on one,
/// `bench/results/floor-vae-71383be.txt`); bands of rows halve it.
fn by_rows(c: &mut [f32], [m, n, k]: [usize; 3], a: View<'_>, b: View<'_>, band: usize) {
    use rayon::prelude::*;
    c[..m * n]
        .par_chunks_mut(band * n)
        .enumerate()
        .for_each(|(i, c)| {
            let a = View::strided(
                &a.data[i * band * a.row_stride..],
                a.row_stride,
                a.col_stride,
            );
            product(c, [c.len() / n, n, k], a, b, false, false);
        });
}

/// A matrix on a slice: element `(i, j)` at `i row_stride + j col_stride`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> View<'a> {
    /// Row-major rows `row_stride` apart.
    pub fn rows(data: &'a [f32], row_stride: usize) -> Self {
        Self::strided(data, row_stride, 1)
    }

    /// The transpose of a row-major matrix whose rows are `stride` apart: its columns.
    pub fn columns(data: &'a [f32], stride: usize) -> Self {
        Self::strided(data, 1, stride)
    }

    /// Any non-negative strides.
    pub fn strided(data: &'a [f32], row_stride: usize, col_stride: usize) -> Self {
        Self {
            data,
            row_stride,
            col_stride,
        }
    }

    /// Whether a `rows x cols` matrix (both non-zero) lies inside the slice.
    fn holds(&self, rows: usize, cols: usize) -> bool {
        let last = (rows - 1)
            .checked_mul(self.row_stride)
            .zip((cols - 1).checked_mul(self.col_stride))
            .and_then(|(d, a)| d.checked_add(a));
        last.is_some_and(|l| l < self.data.len())
    }
}

/// `c <- a b`, or `c <- c + a b` with `accumulate`: `a` `m x k`, `b` `k x n`, `c` `m x n`
/// row-major, on the calling thread (for kernels that run one product per thread).
///
/// # Panics
/// If a matrix reaches past its slice.
pub fn gemm_into(
    c: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    a: View<'_>,
    b: View<'_>,
    accumulate: bool,
) {
    product(c, [m, n, k], a, b, accumulate, false);
}

/// The one call into the gemm crate: `c (+)= a b` as in [`gemm_into`], on rayon's pool when
/// `parallel`.
fn product(
    c: &mut [f32],
    [m, n, k]: [usize; 3],
    a: View<'_>,
    b: View<'_>,
    accumulate: bool,
    parallel: bool,
) {
    assert!(c.len() >= m * n, "gemm: {m} x {n} does not fit its output");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    assert!(
        a.holds(m, k) && b.holds(k, n),
        "gemm: a view reaches past its buffer"
    );
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    #[allow(unsafe_code)]
    // SAFETY: gemm reads `a` at `i rs_a + p cs_a` (i < m, p < k) and `b` at `p rs_b + j cs_b`
    // (p < k, j < n), non-negative strides; `holds` checked (without overflow) that the largest
    // such index is inside each slice. `c` holds at least m x n elements at row stride n and
    // unit column stride and is the only operand written; it is borrowed mutably, so it
    // overlaps neither input. With `accumulate` gemm reads `c` first, which is initialised.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Whether `t` is a contiguous f32 tensor at offset 0 whose buffer holds exactly its elements
/// and no other tensor shares it: one the caller may overwrite. (A slice of a larger buffer, as
/// burn's `cat` hands each input its share of one gradient, may be unique, contiguous and at
/// offset 0 and still not span its buffer.)
fn overwritable(t: &FloatTensor<Flex>) -> bool {
    let spans = t.storage::<f32>().len() == t.layout().num_elements();
    t.is_unique() && t.layout().is_contiguous() && t.layout().start_offset() == 0 && spans
}

/// `t` as a tensor the caller may overwrite (see [`overwritable`]): itself, else a copy.
pub fn owned(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    if overwritable(&t) {
        return t;
    }
    let shape = t.layout().shape().clone();
    tensor(values(&t).into_owned(), shape)
}

/// Elements from which [`zeros`], [`map`] and [`zip_map`] share their work among rayon's
/// threads; below it one thread does it all, as the work is too short to hand out.
pub const PARALLEL_FROM: usize = 1 << 18;

/// The pieces the work is handed out in: 64 KiB of f32.
const PIECE: usize = 1 << 14;

/// `len` zeros, written by all of rayon's threads past [`PARALLEL_FROM`]: with freed blocks
/// kept by the allocator (the runner's setting), a large buffer is zeroed by a `memset` on the
/// calling thread while the others wait.
pub fn zeros(len: usize) -> Vec<f32> {
    use rayon::prelude::*;
    if len < PARALLEL_FROM {
        return vec![0.0; len];
    }
    let mut v = Vec::with_capacity(len);
    v.par_extend(rayon::iter::repeat_n(0.0f32, len));
    v
}

/// Elements from which [`map_from`] shares out a function that costs about ten times a copy
/// per value (tanh to a few ulp): a LeNet-5 step's first tanh, 32 x 6 maps of 28 x 28, is past
/// it.
pub const COSTLY_FROM: usize = 1 << 15;

/// `f` applied in place to pieces of `t`'s values (in parallel past [`PARALLEL_FROM`]): `t`
/// itself when it may be overwritten, else a new tensor (each piece copied, then `f`).
pub fn map(t: FloatTensor<Flex>, f: impl Fn(&mut [f32]) + Sync) -> FloatTensor<Flex> {
    map_from(t, PARALLEL_FROM, f)
}

/// [`map`], in parallel past `from` elements (for example [`COSTLY_FROM`]).
pub fn map_from(
    t: FloatTensor<Flex>,
    from: usize,
    f: impl Fn(&mut [f32]) + Sync,
) -> FloatTensor<Flex> {
    use rayon::prelude::*;
    let n = t.layout().num_elements();
    let run = |values: &mut [f32]| {
        if n < from {
            f(values)
        } else {
            values.par_chunks_mut(PIECE).for_each(&f)
        }
    };
    if overwritable(&t) {
        let mut t = t;
        run(&mut t.storage_mut::<f32>()[..n]);
        return t;
    }
    let shape = t.layout().shape().clone();
    let src = values(&t);
    let mut out = zeros(n);
    if n < from {
        out.copy_from_slice(&src);
        f(&mut out);
    } else {
        out.par_chunks_mut(PIECE)
            .zip(src.par_chunks(PIECE))
            .for_each(|(o, s)| {
                o.copy_from_slice(s);
                f(o)
            });
    }
    tensor(out, shape)
}

/// `f(piece of t, matching piece of other)` in place on `t`'s values, as [`map`] does: for a
/// backward pass, the gradient with the saved input or output.
pub fn zip_map(
    t: FloatTensor<Flex>,
    other: &[f32],
    f: impl Fn(&mut [f32], &[f32]) + Sync,
) -> FloatTensor<Flex> {
    use rayon::prelude::*;
    let mut t = owned(t);
    let n = t.layout().num_elements();
    assert_eq!(n, other.len(), "zip_map: the tensors differ in length");
    let values = &mut t.storage_mut::<f32>()[..n];
    if n < PARALLEL_FROM {
        f(values, other);
    } else {
        values
            .par_chunks_mut(PIECE)
            .zip(other.par_chunks(PIECE))
            .for_each(|(v, o)| f(v, o));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::TensorMetadata;

    #[test]
    fn flex_devices_and_only_they() {
        assert!(on_flex(&Device::flex()));
        assert!(on_flex(&Device::flex().autodiff()));
    }

    /// Bit for bit burn-flex's product: small and above the two-thread threshold (there in
    /// bands of rows, one per thread, on a machine with two threads or more), with
    /// transposed (strided) operands, an offset view, and an empty inner dimension.
    #[test]
    fn matmul_is_burn_flexs() {
        use burn::backend::ops::FloatTensorOps;
        let filled = |r: usize, c: usize, seed: usize| {
            let v = (0..r * c).map(|i| (((i * 7919 + seed) % 1013) as f32 - 506.0) / 97.0);
            tensor(v.collect(), [r, c])
        };
        let same = |a: FloatTensor<Flex>, b: FloatTensor<Flex>| {
            let ours = matmul(a.clone(), b.clone());
            let theirs = Flex::float_matmul(a, b);
            assert_eq!(ours.shape(), theirs.shape());
            let bits =
                |t: &FloatTensor<Flex>| values(t).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ours), bits(&theirs));
        };
        same(filled(32, 784, 1), filled(784, 32, 2));
        same(filled(200, 210, 3), filled(210, 220, 4));
        same(
            Flex::float_transpose(filled(784, 32, 5)),
            filled(784, 10, 6),
        );
        same(filled(32, 10, 7), Flex::float_transpose(filled(32, 10, 8)));
        let rows = Flex::float_slice(
            filled(6, 5, 9),
            &[
                burn::tensor::Slice::from(2..6),
                burn::tensor::Slice::from(0..5),
            ],
        );
        same(rows, filled(5, 3, 10));
        same(filled(3, 0, 11), filled(0, 4, 12));
        // Bands of rows on two and three threads: uneven bands, and an inner dimension past
        // gemm's 512 (its blocking must not change with the band).
        for threads in [2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                same(filled(193, 300, 13), filled(300, 200, 14));
                same(filled(130, 1000, 15), filled(1000, 80, 16));
            });
        }
    }

    /// `gemm_into` against the product by hand (f64 sums): wide and narrow outputs, a
    /// transposed operand, accumulation, and an empty inner dimension.
    #[test]
    fn gemm_into_by_hand() {
        let filled = |len: usize, seed: usize| -> Vec<f32> {
            (0..len)
                .map(|i| (((i * 7919 + seed) % 1013) as f32 - 506.0) / 97.0)
                .collect()
        };
        for (m, n, k) in [(6, 300, 25), (40, 7, 33), (3, 2, 5), (20, 30, 1)] {
            let (a, b) = (filled(m * k, 1), filled(k * n, 2));
            let start = filled(m * n, 3);
            // `a` stored transposed (`[k, m]`): its columns are `a`'s rows.
            let a_t: Vec<f32> = (0..k * m).map(|q| a[(q % m) * k + q / m]).collect();
            for (accumulate, a_view) in [(false, View::rows(&a, k)), (true, View::columns(&a_t, m))]
            {
                let mut c = start.clone();
                gemm_into(&mut c, m, n, k, a_view, View::rows(&b, n), accumulate);
                for i in 0..m {
                    for j in 0..n {
                        let dot: f64 = (0..k)
                            .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                            .sum();
                        let want = dot
                            + if accumulate {
                                start[i * n + j] as f64
                            } else {
                                0.0
                            };
                        let got = c[i * n + j] as f64;
                        assert!(
                            (got - want).abs() < 1e-4 * want.abs().max(1.0),
                            "{m}x{n}x{k} ({i}, {j}): {got} vs {want}"
                        );
                    }
                }
            }
        }
        let mut c = vec![9.0f32; 6];
        gemm_into(
            &mut c,
            2,
            3,
            0,
            View::rows(&[], 0),
            View::rows(&[], 3),
            false,
        );
        assert_eq!(c, [0.0; 6]);
    }

    #[test]
    fn a_shared_buffer_is_copied_before_it_is_overwritten() {
        let t = tensor(vec![1.0, 2.0], [2]);
        let mut copy = owned(t.clone());
        copy.storage_mut::<f32>()[0] = 5.0;
        assert_eq!(t.as_slice::<f32>().unwrap(), [1.0, 2.0]);
        let transposed = tensor(vec![1.0, 2.0, 3.0, 4.0], [2, 2]).transpose(0, 1);
        assert_eq!(&*values(&transposed), [1.0, 3.0, 2.0, 4.0]);
    }

    /// Past the threshold, the pieces handed to rayon's threads give the same values as one
    /// pass, for a tensor that may be overwritten and for one shared with another (copied, the
    /// other left alone).
    #[test]
    fn maps_in_pieces_as_in_one_pass() {
        let n = PARALLEL_FROM + PIECE / 2 + 3;
        let xs: Vec<f32> = (0..n)
            .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 100.0)
            .collect();
        let leaky = |v: &mut [f32]| crate::fast_math::leaky_relu(v, 0.2);
        let mut once = xs.clone();
        leaky(&mut once);
        assert_eq!(&*values(&map(tensor(xs.clone(), [n]), leaky)), once);
        let shared = tensor(xs.clone(), [n]);
        let kept = shared.clone();
        assert_eq!(&*values(&map(shared, leaky)), once);
        assert_eq!(&*values(&kept), xs);
        let mut grad = vec![1.5f32; n];
        crate::fast_math::leaky_relu_backward(&mut grad, &xs, 0.2);
        let zipped = zip_map(tensor(vec![1.5f32; n], [n]), &xs, |g, x| {
            crate::fast_math::leaky_relu_backward(g, x, 0.2)
        });
        assert_eq!(&*values(&zipped), grad);
        assert_eq!(zeros(n), vec![0.0f32; n]);
    }
}
