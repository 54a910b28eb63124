//! The Shannon entropy of an image's intensity histogram (256 bins), in bits: 0 for a single
//! grey level, 8 for intensities spread evenly over all 256 levels. A first-order measure of
//! "information" in the tradition of Birkhoff's and Moles' information aesthetics (Rigau, Feixas
//! & Sbert 2008).

use crate::image::Grey;

/// Entropy of the 256-bin histogram of `img`, bits.
pub fn histogram_entropy(img: &Grey) -> f64 {
    let mut counts = [0usize; 256];
    for b in img.bytes() {
        counts[b as usize] += 1;
    }
    let n = img.pixels.len().max(1) as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_by_hand() {
        assert_eq!(histogram_entropy(&Grey::new(4, 1, vec![0.3; 4])), 0.0);
        // Two levels, half each: 1 bit.
        let half = Grey::new(4, 1, vec![0.0, 1.0, 0.0, 1.0]);
        assert!((histogram_entropy(&half) - 1.0).abs() < 1e-12);
        // All 256 levels once each: 8 bits.
        let all = Grey::new(256, 1, (0..256).map(|i| i as f32 / 255.0).collect());
        assert!((histogram_entropy(&all) - 8.0).abs() < 1e-12);
    }
}
