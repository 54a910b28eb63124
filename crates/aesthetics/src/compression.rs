//! Compression complexity: how much a lossless compressor can shrink an image. Forsythe et al.
//! (2011, "Predicting beauty: Fractal dimension and visual complexity in art", British Journal of
//! Psychology 102) and Machado et al. (2015, "Computerized measures of visual complexity", Acta
//! Psychologica 160) found compressed file size to track people's judgements of visual
//! complexity. Here: the DEFLATE size (zlib, best compression) of the 8-bit intensities over
//! their raw size — near 0 for a blank image, near 1 (or above) for noise.

use std::io::Write;

use crate::image::Grey;

/// DEFLATE-compressed bytes of the 8-bit image over its raw bytes.
pub fn deflate_ratio(img: &Grey) -> f64 {
    let raw = img.bytes();
    if raw.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&raw)
        .expect("writing to memory does not fail");
    let packed = enc.finish().expect("writing to memory does not fail");
    packed.len() as f64 / raw.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_more_complex_than_a_blank_image() {
        let blank = Grey::new(64, 64, vec![0.5; 64 * 64]);
        let mut state = 7u64;
        let noise = Grey::new(
            64,
            64,
            (0..64 * 64)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 40) as f32 / (1u64 << 24) as f32
                })
                .collect(),
        );
        let (b, n) = (deflate_ratio(&blank), deflate_ratio(&noise));
        assert!(b < 0.02, "{b}");
        assert!(n > 0.9, "{n}");
    }
}
