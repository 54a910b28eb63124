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

    #[test]
    fn flex_devices_and_only_they() {
        assert!(on_flex(&Device::flex()));
        assert!(on_flex(&Device::flex().autodiff()));
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
