//! Measures of generated images. Library code only: measures that need tensor arithmetic take
//! burn tensors on whatever device the caller chose; no backend is enabled here.
//!
//! * [`parzen`]: the Gaussian Parzen-window log-likelihood estimate used by Goodfellow et al.
//!   (2014), with the warning of Theis et al. (2016) that it is unreliable.

pub mod parzen;
