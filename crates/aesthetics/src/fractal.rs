//! Box-counting fractal dimension (Taylor, Micolich & Jonas 1999, "Fractal analysis of
//! Pollock's drip paintings", Nature 399; Spehar, Clifford, Newell & Taylor 2003, "Universal
//! aesthetic of fractals", Computers & Graphics 27, who found people prefer D of about 1.3-1.5).
//! The image is thresholded at 0.5; for box sides `s` = 1, 2, 4, ... up to a quarter of the
//! image, `N(s)` counts the boxes of a grid of side `s` that hold at least one foreground pixel;
//! `D` is the slope of `log N(s)` against `log(1/s)`, fitted by least squares, and `r^2` says how
//! straight that line is (how fractal the image is over those scales). Images smaller than
//! [`MIN_SIDE`] pixels have too few scales to fit and get no dimension.

use crate::image::Grey;

/// The smallest side, in pixels, of an image that gets a dimension.
pub const MIN_SIDE: usize = 128;

/// A fitted box-counting dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dimension {
    /// The slope `D`.
    pub d: f64,
    /// The coefficient of determination of the fit.
    pub r2: f64,
    /// The box sides used.
    pub scales: usize,
}

/// The box-counting dimension of `img`'s pixels at or above 0.5, or `None` for images with a
/// side below [`MIN_SIDE`] or no foreground.
pub fn box_counting(img: &Grey) -> Option<Dimension> {
    let (w, h) = (img.width, img.height);
    if w.min(h) < MIN_SIDE {
        return None;
    }
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut s = 1;
    while s <= w.min(h) / 4 {
        let (bw, bh) = (w.div_ceil(s), h.div_ceil(s));
        let mut boxes = vec![false; bw * bh];
        for r in 0..h {
            for c in 0..w {
                if img.at(r, c) >= 0.5 {
                    boxes[(r / s) * bw + c / s] = true;
                }
            }
        }
        let n = boxes.iter().filter(|&&b| b).count();
        if n == 0 {
            return None;
        }
        xs.push(-(s as f64).ln());
        ys.push((n as f64).ln());
        s *= 2;
    }
    let k = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / k, ys.iter().sum::<f64>() / k);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let syy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
    let d = sxy / sxx;
    let r2 = if syy == 0.0 {
        1.0
    } else {
        sxy * sxy / (sxx * syy)
    };
    Some(Dimension {
        d,
        r2,
        scales: xs.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(side: usize, on: impl Fn(usize, usize) -> bool) -> Grey {
        Grey::new(
            side,
            side,
            (0..side * side)
                .map(|i| if on(i / side, i % side) { 1.0 } else { 0.0 })
                .collect(),
        )
    }

    #[test]
    fn known_dimensions() {
        let square = box_counting(&img(512, |_, _| true)).unwrap();
        assert!((square.d - 2.0).abs() < 0.05, "{square:?}");
        let line = box_counting(&img(512, |r, _| r == 100)).unwrap();
        assert!((line.d - 1.0).abs() < 0.05, "{line:?}");
        // Sierpinski's triangle as Pascal's triangle mod 2: (r, c) is on when c & r == c.
        let sierpinski = box_counting(&img(512, |r, c| c <= r && (c & r) == c)).unwrap();
        let expected = 3f64.ln() / 2f64.ln();
        assert!(
            (sierpinski.d - expected).abs() < 0.05,
            "{sierpinski:?} vs {expected}"
        );
        assert!(sierpinski.r2 > 0.99);
        assert!(box_counting(&img(64, |_, _| true)).is_none(), "too small");
    }
}
