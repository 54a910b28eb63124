//! Edge density: the share of pixels on an edge, with edges found by the Sobel operator — a
//! common correlate of perceived visual complexity (e.g. Machado et al. 2015). A pixel is on an
//! edge when its gradient magnitude reaches [`THRESHOLD`], the response of the Sobel operator to
//! an intensity step of 1/8 of the range.

use crate::image::Grey;

/// The Sobel gradient magnitude that counts as an edge (a step of 0.125 gives 4 * 0.125 = 0.5).
pub const THRESHOLD: f32 = 0.5;

/// Sobel gradient magnitudes of the interior pixels (border pixels get 0).
pub fn sobel(img: &Grey) -> Vec<f32> {
    let (w, h) = (img.width, img.height);
    let mut out = vec![0.0; w * h];
    if w < 3 || h < 3 {
        return out;
    }
    for r in 1..h - 1 {
        for c in 1..w - 1 {
            let p = |dr: isize, dc: isize| {
                img.at((r as isize + dr) as usize, (c as isize + dc) as usize)
            };
            let gx = (p(-1, 1) + 2.0 * p(0, 1) + p(1, 1)) - (p(-1, -1) + 2.0 * p(0, -1) + p(1, -1));
            let gy = (p(1, -1) + 2.0 * p(1, 0) + p(1, 1)) - (p(-1, -1) + 2.0 * p(-1, 0) + p(-1, 1));
            out[r * w + c] = (gx * gx + gy * gy).sqrt();
        }
    }
    out
}

/// The share of pixels whose Sobel gradient magnitude reaches [`THRESHOLD`].
pub fn edge_density(img: &Grey) -> f64 {
    let g = sobel(img);
    g.iter().filter(|&&v| v >= THRESHOLD).count() as f64 / g.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vertical_step_is_an_edge_two_pixels_wide() {
        // 8x8, left half black, right half white: columns 3 and 4 respond, rows 1..7 (interior).
        let img = Grey::new(
            8,
            8,
            (0..64)
                .map(|i| if i % 8 >= 4 { 1.0 } else { 0.0 })
                .collect(),
        );
        assert_eq!(edge_density(&img), (2 * 6) as f64 / 64.0);
        assert_eq!(edge_density(&Grey::new(8, 8, vec![0.7; 64])), 0.0);
    }
}
