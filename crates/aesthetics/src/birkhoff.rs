//! Birkhoff's aesthetic measure `M = O / C` (Birkhoff 1933, "Aesthetic Measure"): order over
//! complexity, in the information-theoretic reading of Rigau, Feixas & Sbert (2008,
//! "Informational aesthetics measures", IEEE Computer Graphics and Applications 28):
//!
//! - order `O = 1 - H / H_max`: the redundancy of the intensity histogram (`H` its entropy in
//!   bits, `H_max = 8` for 256 levels), 0 for levels used evenly, 1 for a single level;
//! - complexity `C`: the compressed size per pixel relative to the raw size (the DEFLATE ratio of
//!   [`crate::compression`]), a computable stand-in for Kolmogorov complexity.
//!
//! `M` is large for images that are ordered yet not trivially simple.

use crate::compression::deflate_ratio;
use crate::entropy::histogram_entropy;
use crate::image::Grey;

/// Birkhoff's measure with its terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Birkhoff {
    /// Order `O = 1 - H / 8`.
    pub order: f64,
    /// Complexity `C`, the DEFLATE ratio.
    pub complexity: f64,
    /// `M = O / C`.
    pub measure: f64,
}

/// Birkhoff's measure of `img`.
pub fn birkhoff(img: &Grey) -> Birkhoff {
    let order = 1.0 - histogram_entropy(img) / 8.0;
    let complexity = deflate_ratio(img);
    Birkhoff {
        order,
        complexity,
        measure: if complexity > 0.0 {
            order / complexity
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_at_the_extremes() {
        let blank = birkhoff(&Grey::new(64, 64, vec![0.0; 4096]));
        assert_eq!(blank.order, 1.0);
        assert!(blank.measure > 10.0, "ordered and simple: {blank:?}");
        let ramp = birkhoff(&Grey::new(
            256,
            16,
            (0..4096).map(|i| (i % 256) as f32 / 255.0).collect(),
        ));
        assert!(
            ramp.order.abs() < 1e-12,
            "every level equally often: {ramp:?}"
        );
        assert_eq!(ramp.measure, 0.0);
    }
}
