//! Pictures a user would rather look at than read: grids of images (samples, reconstructions,
//! weight vectors), animated GIFs across epochs, written as PNG/GIF with the `image` crate.
//! Files are written atomically, like everything in a run folder.

use std::path::Path;
use std::sync::OnceLock;

use image::{Delay, Frame, Rgb, RgbImage, RgbaImage};

use crate::error::{Error, Result};
use crate::run_dir::write_atomic;

/// Where a font for text on pictures and charts is looked for, after `$NNLAB_FONT`.
const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
];

/// Registers a font for plotters (captions here, the runner's charts) once; false when none
/// was found, and pictures then go without their texts.
pub fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let candidates = std::env::var("NNLAB_FONT")
            .ok()
            .into_iter()
            .chain(FONT_PATHS.iter().map(|s| s.to_string()));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(
                    "sans-serif",
                    plotters::style::FontStyle::Normal,
                    bytes,
                )
                .is_ok()
                {
                    return true;
                }
            }
        }
        false
    })
}

/// A batch of images with values in `[0, 1]`: `[n, channels, height, width]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    /// Number of images.
    pub n: usize,
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Rows of an image.
    pub height: usize,
    /// Columns of an image.
    pub width: usize,
    /// `n * channels * height * width` values.
    pub pixels: Vec<f32>,
}

impl Images {
    /// Grey square images from flat rows `[n, side * side]`.
    pub fn grey(pixels: Vec<f32>, side: usize) -> Self {
        Self {
            n: pixels.len() / (side * side).max(1),
            channels: 1,
            height: side,
            width: side,
            pixels,
        }
    }

    /// Image `i`'s colour at `(row, col)`, each channel in `0..=255`.
    fn rgb(&self, i: usize, row: usize, col: usize) -> [u8; 3] {
        let plane = self.height * self.width;
        let at = |c: usize| {
            let v = self.pixels[(i * self.channels + c) * plane + row * self.width + col];
            (v.clamp(0.0, 1.0) * 255.0).round() as u8
        };
        if self.channels == 1 {
            let g = at(0);
            [g, g, g]
        } else {
            [at(0), at(1), at(2)]
        }
    }

    /// The images tiled `cols` per row, `pad` pixels apart on a mid-grey background, each
    /// pixel drawn as a `scale x scale` block.
    pub fn grid(&self, cols: usize, pad: usize, scale: usize) -> RgbImage {
        let cols = cols.clamp(1, self.n.max(1));
        let rows = self.n.div_ceil(cols).max(1);
        let (cw, ch) = (self.width * scale + pad, self.height * scale + pad);
        let mut img = RgbImage::from_pixel(
            (cols * cw + pad) as u32,
            (rows * ch + pad) as u32,
            Rgb([128, 128, 128]),
        );
        for i in 0..self.n {
            let (x0, y0) = (pad + (i % cols) * cw, pad + (i / cols) * ch);
            for r in 0..self.height * scale {
                for c in 0..self.width * scale {
                    let p = self.rgb(i, r / scale, c / scale);
                    img.put_pixel((x0 + c) as u32, (y0 + r) as u32, Rgb(p));
                }
            }
        }
        img
    }

    /// The first `n` images.
    pub fn take(&self, n: usize) -> Self {
        let n = n.min(self.n);
        let each = self.channels * self.height * self.width;
        Self {
            n,
            pixels: self.pixels[..n * each].to_vec(),
            ..self.clone()
        }
    }

    /// These images followed by `other`'s (same shape).
    pub fn concat(&self, other: &Self) -> Self {
        let mut pixels = self.pixels.clone();
        pixels.extend_from_slice(&other.pixels);
        Self {
            n: self.n + other.n,
            pixels,
            ..self.clone()
        }
    }
}

/// Weight vectors drawn as images in a diverging palette: each vector scaled by its largest
/// magnitude, positive weights red, negative blue, zero white ("what each unit looks for").
/// `weights` are `[units][height * width]`.
pub fn diverging(weights: &[Vec<f32>], side: usize) -> Images {
    let mut pixels = Vec::with_capacity(weights.len() * 3 * side * side);
    for w in weights {
        let m = w.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
        let t: Vec<f32> = w.iter().map(|v| v / m).collect();
        // Channels: red = 1 - max(-t, 0), green = 1 - |t|, blue = 1 - max(t, 0).
        pixels.extend(t.iter().map(|v| 1.0 - (-v).max(0.0)));
        pixels.extend(t.iter().map(|v| 1.0 - v.abs()));
        pixels.extend(t.iter().map(|v| 1.0 - v.max(0.0)));
    }
    Images {
        n: weights.len(),
        channels: 3,
        height: side,
        width: side,
        pixels,
    }
}

/// `img` placed at (`left`, `top`) on a white canvas of `width` x `height`, with `texts` drawn in
/// black (`(text, x, y, size)`, in pixels) in the chart font. Without a font (see
/// [`font_available`]) the texts are left out.
fn on_canvas(
    img: &RgbImage,
    width: u32,
    height: u32,
    (left, top): (u32, u32),
    texts: &[(String, i32, i32, u32)],
) -> RgbImage {
    let mut canvas = RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    image::imageops::replace(&mut canvas, img, i64::from(left), i64::from(top));
    if !font_available() {
        return canvas;
    }
    let (w, h) = canvas.dimensions();
    let mut raw = canvas.into_raw();
    {
        use plotters::prelude::*;
        let area = BitMapBackend::with_buffer(&mut raw, (w, h)).into_drawing_area();
        for (text, x, y, size) in texts {
            // A text that does not fit is cut by the backend; nothing else can fail here.
            let _ = area.draw(&Text::new(text.clone(), (*x, *y), ("sans-serif", *size)));
        }
        let _ = area.present();
    }
    RgbImage::from_raw(w, h, raw).expect("the buffer keeps its size")
}

/// `img` with a line of text above it (an animation frame's epoch, a picture's title).
pub fn captioned(img: &RgbImage, text: &str) -> RgbImage {
    let (w, h) = img.dimensions();
    on_canvas(
        img,
        w.max(120),
        h + 22,
        (0, 22),
        &[(text.to_string(), 4, 3, 16)],
    )
}

/// `img` with a label to the left of each of its `labels.len()` equal bands of rows (e.g. "test
/// images" above "reconstructions").
pub fn row_labelled(img: &RgbImage, labels: &[&str]) -> RgbImage {
    let (w, h) = img.dimensions();
    let margin = 8 * labels.iter().map(|l| l.len()).max().unwrap_or(0) as u32 + 8;
    let band = h / labels.len().max(1) as u32;
    let texts: Vec<(String, i32, i32, u32)> = labels
        .iter()
        .enumerate()
        .map(|(k, l)| {
            (
                l.to_string(),
                4,
                (k as u32 * band + band / 2) as i32 - 7,
                14,
            )
        })
        .collect();
    on_canvas(img, w + margin, h, (margin, 0), &texts)
}

/// `img` (weights drawn by [`diverging`]) with its colour scale below: a bar from blue
/// (`-max |w|`) through white (0) to red (`+max |w|`), each unit scaled by its own largest
/// magnitude.
pub fn with_diverging_scale(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let width = w.max(340);
    let mut out = on_canvas(
        img,
        width,
        h + 46,
        (0, 0),
        &[
            ("-max|w|".into(), 2, h as i32 + 24, 13),
            ("0".into(), 126, h as i32 + 24, 13),
            ("+max|w| of each unit".into(), 170, h as i32 + 24, 13),
        ],
    );
    let bar = 250u32;
    for x in 0..bar {
        let t = 2.0 * x as f32 / (bar - 1) as f32 - 1.0;
        let rgb = [1.0 - (-t).max(0.0), 1.0 - t.abs(), 1.0 - t.max(0.0)]
            .map(|c| (c * 255.0).round() as u8);
        for y in h + 6..h + 20 {
            out.put_pixel(x + 4, y, image::Rgb(rgb));
        }
    }
    out
}

fn encode_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Writes `img` as a PNG at `path` (atomically).
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| encode_err(path, e))?;
    write_atomic(path, &bytes)
}

/// Reads a PNG written by [`save_png`] (or any PNG).
pub fn load_png(path: &Path) -> Result<RgbImage> {
    Ok(image::open(path)
        .map_err(|e| encode_err(path, e))?
        .to_rgb8())
}

/// Writes `frames` as an animated GIF that loops, `delay_ms` per frame (atomically).
pub fn save_gif(frames: &[RgbImage], delay_ms: u32, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new_with_speed(&mut bytes, 10);
        enc.set_repeat(image::codecs::gif::Repeat::Infinite)
            .map_err(|e| encode_err(path, e))?;
        for f in frames {
            let rgba: RgbaImage = image::DynamicImage::ImageRgb8(f.clone()).to_rgba8();
            enc.encode_frame(Frame::from_parts(
                rgba,
                0,
                0,
                Delay::from_numer_denom_ms(delay_ms, 1),
            ))
            .map_err(|e| encode_err(path, e))?;
        }
    }
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_images_with_padding_and_scale() {
        // Two 1x2 grey images: [0, 1] and [1, 0]; two per row, pad 1, scale 2.
        let imgs = Images {
            n: 2,
            channels: 1,
            height: 1,
            width: 2,
            pixels: vec![0.0, 1.0, 1.0, 0.0],
        };
        let g = imgs.grid(2, 1, 2);
        // Width: 2 cells of 2*2 + 1 and the closing pad; height: one cell of 1*2 + 1 and the pad.
        assert_eq!(g.dimensions(), (2 * 5 + 1, 3 + 1));
        assert_eq!(g.get_pixel(1, 1).0, [0, 0, 0]);
        assert_eq!(g.get_pixel(3, 2).0, [255, 255, 255]);
        assert_eq!(
            g.get_pixel(6, 1).0,
            [255, 255, 255],
            "second image starts at 1 + 5"
        );
        assert_eq!(g.get_pixel(0, 0).0, [128, 128, 128], "padding");
    }

    #[test]
    fn diverging_colours_by_sign() {
        let d = diverging(&[vec![1.0, -0.5, 0.0, -1.0]], 2);
        let g = d.grid(1, 0, 1);
        assert_eq!(g.get_pixel(0, 0).0, [255, 0, 0], "largest positive: red");
        assert_eq!(g.get_pixel(1, 1).0, [0, 0, 255], "largest negative: blue");
        assert_eq!(g.get_pixel(0, 1).0, [255, 255, 255], "zero: white");
    }

    #[test]
    fn labels_and_scales_add_their_margins_and_keep_the_picture() {
        let img = Images::grey(vec![1.0; 16], 4).grid(1, 0, 10);
        let c = captioned(&img, "epoch 3");
        assert_eq!(c.dimensions(), (120, 40 + 22));
        assert_eq!(
            c.get_pixel(5, 30).0,
            [255, 255, 255],
            "the picture, moved down"
        );
        let r = row_labelled(&img, &["a", "b"]);
        assert_eq!(r.dimensions(), (40 + 16, 40));
        let d = with_diverging_scale(&img);
        assert_eq!(d.dimensions(), (340, 40 + 46));
        assert_eq!(
            d.get_pixel(4, 40 + 10).0,
            [0, 0, 255],
            "the scale starts blue"
        );
        assert_eq!(d.get_pixel(4 + 249, 40 + 10).0, [255, 0, 0], "and ends red");
    }

    #[test]
    fn png_and_gif_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let img = Images::grey(vec![0.5; 16], 4).grid(1, 1, 2);
        let png = dir.path().join("a/b.png");
        save_png(&img, &png).unwrap();
        assert_eq!(load_png(&png).unwrap(), img);
        let gif = dir.path().join("c.gif");
        save_gif(&[img.clone(), img], 200, &gif).unwrap();
        assert_eq!(&std::fs::read(&gif).unwrap()[..6], b"GIF89a");
    }
}
