//! The compute backend, chosen at compile time by the runner's cargo features.
//!
//! | feature | device | notes |
//! |---|---|---|
//! | `flex` (default) | `Device::flex()` | burn's pure-Rust CPU backend |
//! | `ndarray` | `Device::ndarray()` | burn-ndarray (deprecated upstream, kept for our users) |
//! | `wgpu` | `Device::wgpu(DefaultDevice)` | Vulkan/Metal/DX12 GPUs, with autotune (burn's fusion: the `fusion` feature, known wrong) |
//! | `cuda` | `Device::cuda(0)` | NVIDIA GPUs, the same |
//!
//! When several are compiled in, the most specific wins: cuda, wgpu, ndarray, flex; the
//! environment variable `NNLAB_BACKEND` picks another of those compiled in (the parity tests
//! use it to run one binary on each). The backend features also compile in `flex`, which draws
//! every model's initial parameters on the host, so that a seed means the same initial weights
//! on every backend.

use burn::prelude::*;

/// The environment variable that picks one of the compiled-in backends.
pub const BACKEND_ENV: &str = "NNLAB_BACKEND";

/// The backends compiled into this build, the default (most specific) first.
pub fn compiled() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(feature = "cuda") {
        v.push("cuda");
    }
    if cfg!(feature = "wgpu") {
        v.push("wgpu");
    }
    if cfg!(feature = "ndarray") {
        v.push("ndarray");
    }
    v.push("flex");
    v
}

/// The backend `NNLAB_BACKEND` names, or the default; an error names the compiled-in ones.
pub fn chosen() -> Result<&'static str, String> {
    let all = compiled();
    match std::env::var(BACKEND_ENV) {
        Ok(name) if !name.is_empty() => all.iter().copied().find(|b| *b == name).ok_or_else(|| {
            format!(
                "{BACKEND_ENV}={name}: this nnlab was built with {}; other backends are cargo features of nnlab-runner (--features wgpu, ndarray, cuda)",
                all.join(", ")
            )
        }),
        _ => Ok(all[0]),
    }
}

/// The device of `name`, a compiled-in backend.
pub fn device_of(name: &str) -> Device {
    match name {
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(DeviceKind::DefaultDevice),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        "ndarray" => Device::ndarray(),
        _ => Device::flex(),
    }
}

/// The devices `indices` name on backend `name`, for data-parallel training (`train.devices`):
/// GPUs by index (wgpu: the discrete GPUs in the order the graphics API lists them); the CPU
/// backends have one device, 0, which may be listed several times for several workers on it.
pub fn devices_of(name: &str, indices: &[usize]) -> Result<Vec<Device>, String> {
    indices
        .iter()
        .map(|&i| match name {
            #[cfg(feature = "cuda")]
            "cuda" => Ok(Device::cuda(i)),
            #[cfg(feature = "wgpu")]
            "wgpu" => Ok(Device::wgpu(DeviceKind::DiscreteGpu(i))),
            _ if i == 0 => Ok(device_of(name)),
            _ => Err(format!(
                "config: key `train.devices`: device {i} does not exist on the {name} backend, \
                 which has one device, 0 (list it more than once for several workers on the CPU)"
            )),
        })
        .collect()
}

/// The device of the chosen backend, and its name as recorded in runs (the default backend
/// when `NNLAB_BACKEND` is invalid; the CLI checks it first with [`chosen`]).
pub fn select_device() -> (Device, &'static str) {
    let name = chosen().unwrap_or_else(|_| compiled()[0]);
    (device_of(name), name)
}

/// Whether a backend computes in host memory (where fused host-side updates pay off).
pub fn is_cpu(backend: &str) -> bool {
    matches!(backend, "flex" | "ndarray")
}
