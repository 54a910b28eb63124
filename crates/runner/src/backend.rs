//! The compute backend, chosen at compile time by the runner's cargo features.
//!
//! | feature | device | notes |
//! |---|---|---|
//! | `flex` (default) | `Device::flex()` | burn's pure-Rust CPU backend |
//! | `ndarray` | `Device::ndarray()` | burn-ndarray (deprecated upstream, kept for our users) |
//! | `wgpu` | `Device::wgpu(DefaultDevice)` | Vulkan/Metal/DX12 GPUs, with fusion and autotune |
//! | `cuda` | `Device::cuda(0)` | NVIDIA GPUs, with fusion and autotune |
//!
//! When several are compiled in, the most specific wins: cuda, wgpu, ndarray, flex.

use burn::prelude::*;

/// The device of the compiled-in backend, and its name as recorded in runs.
#[allow(unreachable_code)]
pub fn select_device() -> (Device, &'static str) {
    #[cfg(feature = "cuda")]
    return (Device::cuda(0), "cuda");
    #[cfg(feature = "wgpu")]
    return (Device::wgpu(DeviceKind::DefaultDevice), "wgpu");
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    return (Device::ndarray(), "ndarray");
    (Device::flex(), "flex")
}

/// Whether a backend computes in host memory (where fused host-side updates pay off).
pub fn is_cpu(backend: &str) -> bool {
    matches!(backend, "flex" | "ndarray")
}
