//! Mirror symmetry, which people see fast and tend to prefer (Jacobsen & Höfel 2002,
//! "Aesthetic judgments of novel graphic patterns: analyses of individual judgments", Perceptual
//! and Motor Skills 95): one minus the mean absolute difference between the image and its mirror
//! image, so 1 for a perfectly symmetric image and lower the more the halves differ.

use crate::image::Grey;

/// Symmetry scores of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Symmetry {
    /// About the vertical axis (left against right).
    pub left_right: f64,
    /// About the horizontal axis (top against bottom).
    pub up_down: f64,
    /// Under a rotation by 180 degrees.
    pub rotation: f64,
}

/// `1 - mean |I(r, c) - I(map(r, c))|`.
fn score(img: &Grey, map: impl Fn(usize, usize) -> (usize, usize)) -> f64 {
    let (w, h) = (img.width, img.height);
    let mut diff = 0.0f64;
    for r in 0..h {
        for c in 0..w {
            let (r2, c2) = map(r, c);
            diff += (img.at(r, c) - img.at(r2, c2)).abs() as f64;
        }
    }
    1.0 - diff / (w * h).max(1) as f64
}

/// The three symmetry scores of `img`.
pub fn symmetry(img: &Grey) -> Symmetry {
    let (w, h) = (img.width, img.height);
    Symmetry {
        left_right: score(img, |r, c| (r, w - 1 - c)),
        up_down: score(img, |r, c| (h - 1 - r, c)),
        rotation: score(img, |r, c| (h - 1 - r, w - 1 - c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_symmetric_image_has_symmetry_one() {
        // Symmetric about the vertical axis, not about the horizontal one.
        let img = Grey::new(4, 2, vec![0.1, 0.5, 0.5, 0.1, 0.9, 0.0, 0.0, 0.9]);
        let s = symmetry(&img);
        assert_eq!(s.left_right, 1.0);
        assert!(s.up_down < 1.0);
        // Half black, half white across the vertical axis: every pixel differs by 1 from its mirror.
        let halves = Grey::new(2, 1, vec![0.0, 1.0]);
        assert_eq!(symmetry(&halves).left_right, 0.0);
    }
}
