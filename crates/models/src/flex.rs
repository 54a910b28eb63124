//! What the burn-flex backend extensions of this crate ([`crate::dense`], [`crate::tanh`],
//! [`crate::cross_entropy`], [`crate::avg_pool`], [`crate::bernoulli_cross_entropy`]) share:
//! which devices they run on, and f32 buffers in and out of burn-flex's tensors. Each public
//! function checks its inputs (the device, f32, shapes the kernel handles) and otherwise calls
//! burn's own operations, so the kernels themselves see only f32 tensors they can handle.

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
/// product (the `gemm` crate, called as burn-flex 0.22.1 calls it, so the same bits, also on
/// two threads from its size threshold on), into a buffer of its own. burn-flex's output
/// allocation zero-fills a byte buffer and then copies it into one aligned for f32; for the
/// article's 784 x 32 weight gradient that is 100 KB filled and copied again every step.
/// Anything else (other ranks, negative strides) goes to burn-flex's `float_matmul`.
pub fn matmul(a: FloatTensor<Flex>, b: FloatTensor<Flex>) -> FloatTensor<Flex> {
    use burn::backend::TensorMetadata;
    use burn::backend::ops::FloatTensorOps;
    /// burn-flex's threshold (m n k) for running one product on every thread.
    const PARALLEL_FROM: usize = 192 * 192 * 192;
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
    // The last element each operand is read at, from its offset and strides.
    let last = |o: usize, rows: usize, cols: usize, s: &[isize]| {
        o + (rows.max(1) - 1) * s[0] as usize + (cols.max(1) - 1) * s[1] as usize
    };
    let mut c = vec![0.0f32; m * n];
    if m * n * k == 0 {
        return tensor(c, [m, n]);
    }
    assert!(last(oa, m, k, sa) < da.len() && last(ob, k, n, sb) < db.len());
    let parallelism = if m * n * k >= PARALLEL_FROM {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    #[allow(unsafe_code)]
    // SAFETY: the assert above keeps every element gemm reads of `a` and `b` (offset plus
    // non-negative strides times indices below the sizes) inside their buffers; `c` holds
    // m x n elements at row stride n and unit column stride and is the only operand written;
    // it is a fresh allocation, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            da.as_ptr().add(oa),
            sa[1],
            sa[0],
            db.as_ptr().add(ob),
            sb[1],
            sb[0],
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    tensor(c, [m, n])
}

/// `t` as a contiguous f32 tensor at offset 0 that the caller may overwrite: itself when no
/// other tensor shares its buffer, else a copy.
pub fn owned(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    if t.is_unique() && t.layout().is_contiguous() && t.layout().start_offset() == 0 {
        return t;
    }
    let shape = t.layout().shape().clone();
    tensor(values(&t).into_owned(), shape)
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

    /// Bit for bit burn-flex's product: small and above the two-thread threshold, with
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
}
