//! A grey image as the measures see it: intensities in `[0, 1]`, row-major.

/// A grey image, intensities in `[0, 1]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Grey {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` intensities.
    pub pixels: Vec<f32>,
}

impl Grey {
    /// An image of `pixels` (`width * height` values in `[0, 1]`).
    pub fn new(width: usize, height: usize, pixels: Vec<f32>) -> Self {
        assert_eq!(
            pixels.len(),
            width * height,
            "pixels of a {width}x{height} image"
        );
        Self {
            width,
            height,
            pixels,
        }
    }

    /// The luminance of an RGB image (`[3, height, width]` planes in `[0, 1]`), with the Rec. 601
    /// weights.
    pub fn from_rgb_planes(width: usize, height: usize, planes: &[f32]) -> Self {
        let n = width * height;
        let pixels = (0..n)
            .map(|i| 0.299 * planes[i] + 0.587 * planes[n + i] + 0.114 * planes[2 * n + i])
            .collect();
        Self::new(width, height, pixels)
    }

    /// The intensity at `(row, col)`.
    pub fn at(&self, row: usize, col: usize) -> f32 {
        self.pixels[row * self.width + col]
    }

    /// Intensities quantised to 8 bits.
    pub fn bytes(&self) -> Vec<u8> {
        self.pixels
            .iter()
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect()
    }
}
