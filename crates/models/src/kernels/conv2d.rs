//! 2-D convolution and transposed convolution for one layout (`[n, c, h, w]` maps, weights
//! `[o, c, kh, kw]`), each pass as one kernel per block of images: the images unfolded side by
//! side into a `[c kh kw, B oh ow]` matrix (im2col) and one matrix product, reading and writing
//! the tensors in the order they are stored, so the batch is never copied into another layout.
//!
//! The three products of a convolution `y = x * w` (Goodfellow, Bengio & Courville 2016, 9.5):
//! - forward: `y_n = W cols(x_n)`, `W` the weights as `[o, c kh kw]`;
//! - input gradient: `dx_n = fold(W^T dy_n)`, the adjoint of the unfolding (col2im) adding each
//!   column back where it was read from;
//! - weight gradient: `dW = sum_n dy_n cols(x_n)^T`.
//!
//! A transposed convolution (the DCGAN generator's upsampling, Radford et al. 2016) is the
//! adjoint of the convolution with the same weights: its forward pass is the convolution's input
//! gradient, its input gradient the convolution's forward pass, and its weight gradient the
//! convolution's with the two spaces swapped. burn-flex 0.22.1 computes the backward passes
//! through burn's generic ones, which swap the batch and channel axes of the input and gradient
//! (two full copies) and run a transposed convolution as a scatter; in a DCGAN step burn-flex's
//! convolution paths and tiled copies together (`conv_transpose3d_impl` 5.6 %, `conv3d_f32`
//! 4.6 %, `copy_2d_tiled` 6.7 %) took 17 % of the time (`bench/results/profile-dcgan-a06c552.txt`).
//!
//! A stride-2 convolution (the DCGAN's) unfolds and folds through the image's four phase planes
//! (even and odd rows times even and odd columns), where each window row is a contiguous run:
//! in a DCGAN step the unfolding and folding through the padded image took about as long as a
//! third of the products (`bench/results/ab-conv-phases-*.txt`).
//!
//! Blocks of [`host::BLOCK`] images run in parallel (rayon), each product on one thread; the
//! weight gradient sums each block and then the blocks in order, so a result does not depend on
//! the number of threads. Values agree with burn's to rounding (tested, with gradients). Other
//! backends, f64, groups, dilation and asymmetric padding use burn's own modules.

#[cfg(feature = "flex")]
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

pub use crate::bias_activation::Kind;
use crate::bias_activation::activate;
#[cfg(feature = "flex")]
use crate::bias_activation::bias_activation;

/// The sizes of one convolution from `[n, c, h, w]` to `[n, o, oh, ow]` with `[o, c, kh, kw]`
/// weights, stride `stride` and `pad` zeros on each side; for a transposed convolution, the
/// convolution it is the adjoint of (`c, h, w` its output, `o, oh, ow` its input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Channels, height and width of the convolution's input.
    pub input: [usize; 3],
    /// Channels, height and width of the convolution's output.
    pub output: [usize; 3],
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Rows and columns between two windows.
    pub stride: [usize; 2],
    /// Zero rows (top and bottom) and columns (left and right) around the input.
    pub pad: [usize; 2],
}

impl Geometry {
    /// `c kh kw`: the length of one unfolded window.
    pub fn window(&self) -> usize {
        self.input[0] * self.kernel[0] * self.kernel[1]
    }

    /// `oh ow`: the number of windows.
    pub fn positions(&self) -> usize {
        self.output[1] * self.output[2]
    }
}

/// `layer.forward(x)`: `[n, c, h, w]` -> `[n, o, oh, ow]`. On flex (f32, one group, no
/// dilation, the same padding on opposite sides) the kernels of this file; elsewhere burn's.
pub fn conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_with(layer, x, Kind::Identity)
}

/// `f(layer.forward(x))` for the nonlinearity `kind`, the bias and `f` in one pass after the
/// convolution ([`crate::bias_activation`]) where the kernels take the layer.
pub fn conv2d_with(layer: &Conv2d, x: Tensor<4>, kind: Kind) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(geometry) = conv_geometry(layer, &x) {
        use burn::backend::Dispatch;
        let y = <Dispatch as extension::ConvBackend>::conv2d(
            x.into_dispatch(),
            layer.weight.val().into_dispatch(),
            geometry,
        );
        return bias_activation(Tensor::from_dispatch(y), layer.bias.as_ref(), kind);
    }
    activate(layer.forward(x), kind)
}

/// `layer.forward(x)`: `[n, i, h, w]` -> `[n, o, oh, ow]`, weights `[i, o, kh, kw]`. On flex
/// (f32, one group, no dilation) the kernels of this file; elsewhere burn's.
pub fn conv_transpose2d(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    conv_transpose2d_with(layer, x, Kind::Identity)
}

/// `f(layer.forward(x))` for the nonlinearity `kind`, as [`conv2d_with`].
pub fn conv_transpose2d_with(layer: &ConvTranspose2d, x: Tensor<4>, kind: Kind) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if let Some(geometry) = transpose_geometry(layer, &x) {
        use burn::backend::Dispatch;
        let y = <Dispatch as extension::ConvBackend>::conv_transpose2d(
            x.into_dispatch(),
            layer.weight.val().into_dispatch(),
            geometry,
        );
        return bias_activation(Tensor::from_dispatch(y), layer.bias.as_ref(), kind);
    }
    activate(layer.forward(x), kind)
}

/// Whether the kernels take this tensor: on flex, f32, and not empty.
#[cfg(feature = "flex")]
fn takes(x: &Tensor<4>) -> bool {
    crate::flex::on_flex(&x.device())
        && crate::flex::is_f32(x.dtype())
        && x.dims().iter().all(|&d| d > 0)
}

/// The geometry of `layer` on `x`, if the kernels handle it.
#[cfg(feature = "flex")]
fn conv_geometry(layer: &Conv2d, x: &Tensor<4>) -> Option<Geometry> {
    let [_, c, h, w] = x.dims();
    let [o, ci, kh, kw] = layer.weight.dims();
    if !takes(x) || o == 0 || kh == 0 || kw == 0 {
        return None;
    }
    let pad = match layer.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return None,
    };
    let [sh, sw] = layer.stride;
    let fits = h + 2 * pad[0] >= kh && w + 2 * pad[1] >= kw && sh > 0 && sw > 0;
    if layer.groups != 1 || layer.dilation != [1, 1] || ci != c || !fits {
        return None;
    }
    let output = [
        o,
        (h + 2 * pad[0] - kh) / sh + 1,
        (w + 2 * pad[1] - kw) / sw + 1,
    ];
    Some(Geometry {
        input: [c, h, w],
        output,
        kernel: [kh, kw],
        stride: layer.stride,
        pad,
    })
}

/// The geometry of the convolution `layer` is the adjoint of, on `x`, if the kernels handle it.
#[cfg(feature = "flex")]
fn transpose_geometry(layer: &ConvTranspose2d, x: &Tensor<4>) -> Option<Geometry> {
    let [_, i, h, w] = x.dims();
    let [wi, o, kh, kw] = layer.weight.dims();
    if !takes(x) || o == 0 || kh == 0 || kw == 0 {
        return None;
    }
    let ([sh, sw], [ph, pw], [qh, qw]) = (layer.stride, layer.padding, layer.padding_out);
    if layer.groups != 1 || layer.dilation != [1, 1] || wi != i || sh == 0 || sw == 0 {
        return None;
    }
    // burn's output size: (h - 1) s - 2 p + k + padding_out.
    let oh = ((h - 1) * sh + kh + qh).checked_sub(2 * ph)?;
    let ow = ((w - 1) * sw + kw + qw).checked_sub(2 * pw)?;
    // The convolution from `[o, oh, ow]` back to `[i, h, w]` must have exactly `h x w` windows.
    let back = [
        (oh + 2 * ph).checked_sub(kh).map(|d| d / sh + 1),
        (ow + 2 * pw).checked_sub(kw).map(|d| d / sw + 1),
    ];
    (oh > 0 && ow > 0 && back == [Some(h), Some(w)]).then_some(Geometry {
        input: [o, oh, ow],
        output: [i, h, w],
        kernel: [kh, kw],
        stride: layer.stride,
        pad: layer.padding,
    })
}

/// The convolution's host kernels on f32 slices, by blocks of images.
#[cfg(feature = "flex")]
pub mod host {
    use rayon::prelude::*;

    use super::Geometry;
    use crate::flex::{self, View};

    /// Images unfolded side by side into one `[c kh kw, B oh ow]` matrix, so that each product
    /// is wide enough for the gemm kernels (the DCGAN's 7x7 maps give 49 columns an image),
    /// and summed together into one partial weight gradient. A fixed number, so the sums'
    /// rounding does not depend on the machine's threads; blocks run in parallel.
    pub const BLOCK: usize = 8;

    /// Height and width of an image with its zero border: `[h + 2 ph, w + 2 pw]`.
    fn padded_size(g: &Geometry) -> (usize, usize) {
        (g.input[1] + 2 * g.pad[0], g.input[2] + 2 * g.pad[1])
    }

    /// Copies `x`, one image `[c, h, w]`, into `padded`, `[c, h + 2 ph, w + 2 pw]` with zeros
    /// around it, so that every window reads inside it and the unfolding needs no bounds tests;
    /// `sw` more zeros after it let each window row read `ow` whole runs of `sw` values.
    fn pad(g: &Geometry, x: &[f32], padded: &mut Vec<f32>) {
        let ([c, h, w], [ph, pw]) = (g.input, g.pad);
        let (hp, wp) = padded_size(g);
        padded.clear();
        padded.resize(c * hp * wp + g.stride[1], 0.0);
        for (plane, image) in padded.chunks_exact_mut(hp * wp).zip(x.chunks_exact(h * w)) {
            for (row, src) in plane[ph * wp..]
                .chunks_exact_mut(wp)
                .zip(image.chunks_exact(w))
            {
                row[pw..pw + w].copy_from_slice(src);
            }
        }
    }

    /// Calls `f(at, from)` for each window element `r = (c, i, j)` and output row `oy`: `at`
    /// where the row's `ow` columns start in a matrix of rows `ld` apart whose image starts at
    /// column `off`, `from` where its first value is in the padded image (the next ones every
    /// `sw`).
    #[inline(always)]
    fn rows(g: &Geometry, ld: usize, off: usize, mut f: impl FnMut(usize, usize)) {
        let ([c, _, _], [_, oh, ow]) = (g.input, g.output);
        let ([kh, kw], [sh, _]) = (g.kernel, g.stride);
        let (hp, wp) = padded_size(g);
        for ch in 0..c {
            for i in 0..kh {
                for j in 0..kw {
                    let r = (ch * kh + i) * kw + j;
                    for oy in 0..oh {
                        f(r * ld + off + oy * ow, (ch * hp + oy * sh + i) * wp + j);
                    }
                }
            }
        }
    }

    /// Unfolds `padded`, one image made by [`pad`], into columns `off..off + oh ow` of `cols`,
    /// a `[c kh kw, ld]` matrix. `S` is the column stride when known at compile time (the
    /// strided reads of stride 2 then vectorise), 0 for any other.
    fn unfold_strided<const S: usize>(
        g: &Geometry,
        padded: &[f32],
        cols: &mut [f32],
        ld: usize,
        off: usize,
    ) {
        let (ow, s) = (g.output[2], if S == 0 { g.stride[1] } else { S });
        rows(g, ld, off, |at, from| {
            let (out, src) = (&mut cols[at..at + ow], &padded[from..from + ow * s]);
            for (v, run) in out.iter_mut().zip(src.chunks_exact(s)) {
                *v = run[0];
            }
        });
    }

    /// The values moved as one unit by [`copy_runs`] and [`add_runs`]: 32 bytes, two SSE
    /// registers or one AVX register.
    const LANES: usize = 8;

    /// Height and width of the four phase planes of a padded image (stride 2 both ways).
    #[inline(always)]
    fn phase_size(g: &Geometry) -> (usize, usize) {
        let (hp, wp) = padded_size(g);
        (hp.div_ceil(2), wp.div_ceil(2))
    }

    /// Calls `f(row, lead, even, odd)` for each row of an image `[c, h, w]`: `row` the row's
    /// values, and where they go in its two column-phase planes (see [`phases`]) in a
    /// `[c, 2, 2, hq, wq]` array: `lead`, with an odd left padding, where the first value goes
    /// alone (the odd plane's row, at `(pw - 1) / 2`); then the rest in pairs, one to each
    /// plane at the same place, from `even` and `odd` on.
    #[inline(always)]
    fn phase_rows(
        g: &Geometry,
        mut f: impl FnMut(std::ops::Range<usize>, Option<usize>, usize, usize),
    ) {
        let ([c, h, w], [ph, pw]) = (g.input, g.pad);
        let (hq, wq) = phase_size(g);
        let lead = pw % 2 == 1 && w > 0;
        let first = (pw + usize::from(lead)) / 2;
        for ch in 0..c {
            for y in 0..h {
                let py = y + ph;
                let even = (((ch * 2 + py % 2) * 2) * hq + py / 2) * wq;
                let odd = even + hq * wq;
                let start = (ch * h + y) * w;
                let at = lead.then_some(odd + (pw - 1) / 2);
                f(start..start + w, at, even + first, odd + first);
            }
        }
    }

    /// `planes` set to zeros for an image's four phase planes, with [`LANES`] more so that a
    /// window's runs may be read or added as whole vectors ([`copy_runs`], [`add_runs`]).
    #[inline(always)]
    fn zero_planes(g: &Geometry, planes: &mut Vec<f32>) {
        let (hq, wq) = phase_size(g);
        planes.clear();
        planes.resize(g.input[0] * 4 * hq * wq + LANES, 0.0);
    }

    /// Splits `x`, one image `[c, h, w]`, padded with zeros as by [`pad`], into its four phase
    /// planes for stride 2: `planes[c][a][b][y][x] = padded[c][2 y + a][2 x + b]`, each
    /// `[hq, wq]`. Every window row of a stride-2 convolution then reads a contiguous run of
    /// one plane, `ow` values, instead of every second value of the padded image.
    #[inline(always)]
    fn phases(g: &Geometry, x: &[f32], planes: &mut Vec<f32>) {
        zero_planes(g, planes);
        phase_rows(g, |row, lead, even, odd| {
            let mut row = &x[row];
            if let Some(at) = lead {
                planes[at] = row[0];
                row = &row[1..];
            }
            let pairs = row.len() / 2;
            let (e, o) = planes.split_at_mut(odd);
            let (e, o) = (&mut e[even..even + pairs], &mut o[..pairs]);
            for ((e, o), pair) in e.iter_mut().zip(o).zip(row.chunks_exact(2)) {
                *e = pair[0];
                *o = pair[1];
            }
            if let [.., last] = row
                && row.len() % 2 == 1
            {
                planes[even + pairs] = *last;
            }
        });
    }

    /// Calls `f(r, from)` for each window element `r = (c, i, j)` of a stride-2 convolution,
    /// in order: `from` where its `oh ow` values start in the phase planes of [`phases`] (`oh`
    /// runs of `ow` values, `wq` apart).
    #[inline(always)]
    fn phase_windows(g: &Geometry, mut f: impl FnMut(usize, usize)) {
        let ([c, _, _], [kh, kw]) = (g.input, g.kernel);
        let (hq, wq) = phase_size(g);
        let mut r = 0;
        for ch in 0..c {
            for i in 0..kh {
                let row = ((ch * 2 + i % 2) * 2 * hq + i / 2) * wq;
                for j in 0..kw {
                    f(r, row + (j % 2) * hq * wq + j / 2);
                    r += 1;
                }
            }
        }
    }

    /// Copies `runs` runs of `len` values of `src`, `stride` apart, one after the other into
    /// `dst`. A run is copied as whole vectors of [`LANES`] values where they stay inside both
    /// slices, writing past its end into the places of the runs after it (written later) or
    /// past the last run into the rest of `dst` (which the caller writes afterwards). This is
    /// the inner loop of the stride-2 unfolding, 7 values a run in the DCGAN, where bounds
    /// checks and a call to `memcpy` for each run cost four times the copy.
    ///
    /// # Panics
    /// If the runs reach past `src` or `dst`.
    #[inline(always)]
    fn copy_runs(src: &[f32], stride: usize, dst: &mut [f32], len: usize, runs: usize) {
        if len == 0 || runs == 0 {
            return;
        }
        assert!(
            (runs - 1) * stride + len <= src.len() && runs * len <= dst.len(),
            "copy_runs: a run reaches past its slice"
        );
        let vectors = len.div_ceil(LANES);
        let wide = vectors * LANES;
        let whole = whole_runs(runs, wide, [(src.len(), stride), (dst.len(), len)]);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        #[allow(unsafe_code)]
        // SAFETY: run `r` reads `src[r stride..r stride + len]` and writes `dst[r len..r len +
        // len]`, inside both slices for every `r < runs` (asserted for the last, the largest).
        // The runs `r < whole` read and write `wide` values: `r stride + wide <= src.len()` and
        // `r len + wide <= dst.len()` by the definition of `whole`. `src` and `dst` are
        // distinct borrows, one mutable, so they do not overlap.
        unsafe {
            // One or two vectors a run (the DCGAN's 7 and 14) spelled out: as a loop the
            // compiler turns the copies back into one call to `memcpy` a run.
            let vector = |s: *const f32, d: *mut f32| std::ptr::copy_nonoverlapping(s, d, LANES);
            for r in 0..whole {
                let (s, d) = (s.add(r * stride), d.add(r * len));
                match vectors {
                    1 => vector(s, d),
                    2 => {
                        vector(s, d);
                        vector(s.add(LANES), d.add(LANES));
                    }
                    _ => std::ptr::copy_nonoverlapping(s, d, wide),
                }
            }
            for r in whole..runs {
                std::ptr::copy_nonoverlapping(s.add(r * stride), d.add(r * len), len);
            }
        }
    }

    /// The adjoint of [`copy_runs`]: adds `runs` runs of `len` values of `src`, one after the
    /// other, to runs `stride` apart in `dst`. Runs of at most two vectors are added as whole
    /// vectors where these stay inside both slices, the lanes past `len` written back as they
    /// were read (whatever `src` holds there); this is the inner loop of the stride-2 folding.
    ///
    /// # Panics
    /// If the runs reach past `src` or `dst`.
    #[inline(always)]
    fn add_runs(src: &[f32], len: usize, dst: &mut [f32], stride: usize, runs: usize) {
        if len == 0 || runs == 0 {
            return;
        }
        assert!(
            runs * len <= src.len() && (runs - 1) * stride + len <= dst.len(),
            "add_runs: a run reaches past its slice"
        );
        let wide = len.next_multiple_of(LANES);
        let whole = whole_runs(runs, wide, [(src.len(), len), (dst.len(), stride)]);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        // `vector(s, d, n)`: `d[l] += s[l]` for the lanes `l < n` of one vector.
        let vector = |s: *const f32, d: *mut f32, n: usize| {
            #[allow(unsafe_code)]
            // SAFETY: the callers pass `s` and `d` with `LANES` values inside their slices.
            let (x, y) = unsafe {
                (
                    std::ptr::read_unaligned(s.cast::<[f32; LANES]>()),
                    std::ptr::read_unaligned(d.cast::<[f32; LANES]>()),
                )
            };
            let sum: [f32; LANES] = std::array::from_fn(|l| if l < n { y[l] + x[l] } else { y[l] });
            #[allow(unsafe_code)]
            // SAFETY: as above.
            unsafe {
                std::ptr::write_unaligned(d.cast::<[f32; LANES]>(), sum)
            };
        };
        #[allow(unsafe_code)]
        // SAFETY: run `r` reads `src[r len..r len + len]` and adds to `dst[r stride..r stride +
        // len]`, inside both slices for every `r < runs` (asserted for the last, the largest).
        // The runs `r < whole` read and write `wide` values, inside both by the definition of
        // `whole` (`whole_runs`). The two borrows are distinct, one mutable: no overlap.
        unsafe {
            let vectors = if wide <= 2 * LANES { whole } else { 0 };
            for r in 0..vectors {
                let (s, d) = (s.add(r * len), d.add(r * stride));
                if len <= LANES {
                    vector(s, d, len);
                } else {
                    vector(s, d, LANES);
                    vector(s.add(LANES), d.add(LANES), len - LANES);
                }
            }
            for r in vectors..runs {
                let (s, d) = (s.add(r * len), d.add(r * stride));
                for l in 0..len {
                    *d.add(l) += *s.add(l);
                }
            }
        }
    }

    /// How many of `runs` runs, the `r`-th starting at `r step` in a slice of `n` values for
    /// each `(n, step)` of `slices`, hold `wide` values from their start in every slice.
    #[inline(always)]
    fn whole_runs(runs: usize, wide: usize, slices: [(usize, usize); 2]) -> usize {
        let fits = |r: usize| slices.iter().all(|&(n, step)| r * step + wide <= n);
        // At most the last few runs do not fit: count down from the last.
        let mut whole = runs;
        while whole > 0 && !fits(whole - 1) {
            whole -= 1;
        }
        whole
    }

    /// [`unfold`] for stride 2: `x` split into its phase planes, then each window element's
    /// `oh` runs copied from one plane.
    #[inline(always)]
    fn unfold_phases(
        g: &Geometry,
        x: &[f32],
        planes: &mut Vec<f32>,
        cols: &mut [f32],
        ld: usize,
        off: usize,
    ) {
        phases(g, x, planes);
        let ([_, oh, ow], (_, wq)) = (g.output, phase_size(g));
        phase_windows(g, |r, from| {
            // To the end of the matrix row: the images after this one are unfolded next.
            let at = r * ld + off;
            copy_runs(&planes[from..], wq, &mut cols[at..(r + 1) * ld], ow, oh);
        });
    }

    /// [`fold`] for stride 2: each window element's runs added into the phase planes, which
    /// then interleave back into `x`.
    #[inline(always)]
    fn fold_phases(
        g: &Geometry,
        cols: &[f32],
        ld: usize,
        off: usize,
        planes: &mut Vec<f32>,
        x: &mut [f32],
    ) {
        let ([_, oh, ow], (_, wq)) = (g.output, phase_size(g));
        zero_planes(g, planes);
        phase_windows(g, |r, from| {
            add_runs(&cols[r * ld + off..], ow, &mut planes[from..], wq, oh);
        });
        phase_rows(g, |row, lead, even, odd| {
            let mut row = &mut x[row];
            if let Some(at) = lead {
                let (first, rest) = row.split_first_mut().expect("a row with a lead value");
                *first = planes[at];
                row = rest;
            }
            let pairs = row.len() / 2;
            let (e, o) = (&planes[even..even + pairs], &planes[odd..odd + pairs]);
            for ((&e, &o), pair) in e.iter().zip(o).zip(row.chunks_exact_mut(2)) {
                pair[0] = e;
                pair[1] = o;
            }
            if row.len() % 2 == 1 {
                row[2 * pairs] = planes[even + pairs];
            }
        });
    }

    /// Unfolds `x`, one image `[c, h, w]`, into columns `off..off + oh ow` of `cols`, a
    /// `[c kh kw, ld]` matrix, through the scratch buffer `padded` (the zero-bordered image, or
    /// for stride 2 its phase planes). For stride 2 it may also write up to 7 values past
    /// `off + oh ow` in each row of `cols`: unfold the images of a block in the order of their
    /// columns, so that each overwrites what the one before left there.
    pub fn unfold(
        g: &Geometry,
        x: &[f32],
        padded: &mut Vec<f32>,
        cols: &mut [f32],
        ld: usize,
        off: usize,
    ) {
        if g.stride == [2, 2] {
            return unfold_phases(g, x, padded, cols, ld, off);
        }
        pad(g, x, padded);
        match g.stride[1] {
            1 => unfold_strided::<1>(g, padded, cols, ld, off),
            2 => unfold_strided::<2>(g, padded, cols, ld, off),
            _ => unfold_strided::<0>(g, padded, cols, ld, off),
        }
    }

    /// [`fold`] into the padded image; `S` as for [`unfold_strided`].
    fn fold_strided<const S: usize>(
        g: &Geometry,
        cols: &[f32],
        ld: usize,
        off: usize,
        padded: &mut [f32],
    ) {
        let (ow, s) = (g.output[2], if S == 0 { g.stride[1] } else { S });
        rows(g, ld, off, |at, from| {
            let (src, out) = (&cols[at..at + ow], &mut padded[from..from + ow * s]);
            for (&v, run) in src.iter().zip(out.chunks_exact_mut(s)) {
                run[0] += v;
            }
        });
    }

    /// The adjoint of [`unfold`]: `x <- fold(cols)`, each column added back where it was read,
    /// through the scratch image `padded` (whose border takes the columns that read zeros).
    pub fn fold(
        g: &Geometry,
        cols: &[f32],
        ld: usize,
        off: usize,
        padded: &mut Vec<f32>,
        x: &mut [f32],
    ) {
        if g.stride == [2, 2] {
            return fold_phases(g, cols, ld, off, padded, x);
        }
        let ([c, h, w], [ph, pw]) = (g.input, g.pad);
        let (hp, wp) = padded_size(g);
        padded.clear();
        padded.resize(c * hp * wp + g.stride[1], 0.0);
        match g.stride[1] {
            1 => fold_strided::<1>(g, cols, ld, off, padded),
            2 => fold_strided::<2>(g, cols, ld, off, padded),
            _ => fold_strided::<0>(g, cols, ld, off, padded),
        }
        for (plane, image) in padded.chunks_exact(hp * wp).zip(x.chunks_exact_mut(h * w)) {
            for (row, dst) in plane[ph * wp..]
                .chunks_exact(wp)
                .zip(image.chunks_exact_mut(w))
            {
                dst.copy_from_slice(&row[pw..pw + w]);
            }
        }
    }

    /// Copies each image's `[o, p]` block of `maps` (`[b, o, p]`) into columns `i p..(i + 1) p`
    /// of `side`, an `[o, b p]` matrix.
    fn gather(maps: &[f32], side: &mut [f32], o: usize, p: usize) {
        let ld = maps.len() / o;
        for (i, map) in maps.chunks_exact(o * p).enumerate() {
            for (row, part) in map.chunks_exact(p).enumerate() {
                side[row * ld + i * p..row * ld + (i + 1) * p].copy_from_slice(part);
            }
        }
    }

    /// The inverse of [`gather`]: `side` `[o, b p]` back into `maps` `[b, o, p]`.
    fn scatter(side: &[f32], maps: &mut [f32], o: usize, p: usize) {
        let ld = maps.len() / o;
        for (i, map) in maps.chunks_exact_mut(o * p).enumerate() {
            for (row, part) in map.chunks_exact_mut(p).enumerate() {
                part.copy_from_slice(&side[row * ld + i * p..row * ld + (i + 1) * p]);
            }
        }
    }

    /// Scratch buffers of one thread: the unfolded block, an `[o, B p]` one and a padded
    /// image.
    type Scratch = (Vec<f32>, Vec<f32>, Vec<f32>);

    /// The convolution: `x` `[n, c, h, w]`, `w` `[o, c kh kw]` -> `[n, o, oh, ow]`; with `keep`
    /// also the unfolded blocks (`n c kh kw oh ow` values, block after block), for
    /// [`weight_grad_unfolded`]: the weight gradient then needs no second unfolding of the same
    /// input.
    pub fn forward_keeping(
        g: &Geometry,
        x: &[f32],
        w: &[f32],
        n: usize,
        keep: bool,
    ) -> (Vec<f32>, Option<Vec<f32>>) {
        let (chw, o) = (g.input.iter().product::<usize>(), g.output[0]);
        let (k, p) = (g.window(), g.positions());
        let mut y = flex::zeros(n * o * p);
        // One block: unfold its images into `cols`, one product into `side`, scattered to `y`.
        let block = |x: &[f32],
                     cols: &mut [f32],
                     (side, padded): (&mut Vec<f32>, &mut Vec<f32>),
                     y: &mut [f32]| {
            let ld = x.len() / chw * p;
            side.resize(o * ld, 0.0);
            for (i, image) in x.chunks_exact(chw).enumerate() {
                unfold(g, image, padded, cols, ld, i * p);
            }
            let (w, cols) = (View::rows(w, k), View::rows(cols, ld));
            flex::gemm_into(side, o, ld, k, w, cols, false);
            scatter(side, y, o, p);
        };
        let blocks = y
            .par_chunks_mut(BLOCK * o * p)
            .zip(x.par_chunks(BLOCK * chw));
        if !keep {
            blocks.for_each_init(Scratch::default, |(cols, side, padded), (y, x)| {
                cols.resize(k * x.len() / chw * p, 0.0);
                block(x, cols, (side, padded), y)
            });
            return (y, None);
        }
        let mut all = vec![0.0f32; n * k * p];
        blocks.zip(all.par_chunks_mut(BLOCK * k * p)).for_each_init(
            <(Vec<f32>, Vec<f32>)>::default,
            |(side, padded), ((y, x), cols)| block(x, cols, (side, padded), y),
        );
        (y, Some(all))
    }

    /// The convolution's input gradient: `dy` `[n, o, oh, ow]`, `w` `[o, c kh kw]` ->
    /// `[n, c, h, w]`.
    pub fn input_grad(g: &Geometry, dy: &[f32], w: &[f32], n: usize) -> Vec<f32> {
        let (chw, o) = (g.input.iter().product::<usize>(), g.output[0]);
        let (k, p) = (g.window(), g.positions());
        let mut dx = flex::zeros(n * chw);
        dx.par_chunks_mut(BLOCK * chw)
            .zip(dy.par_chunks(BLOCK * o * p))
            .for_each_init(Scratch::default, |(cols, side, padded), (dx, dy)| {
                let ld = dy.len() / o;
                cols.resize(k * ld, 0.0);
                side.resize(o * ld, 0.0);
                gather(dy, side, o, p);
                // W^T `[k, o]` (W read down its columns) times the block's `[o, b p]`.
                let wt = View::columns(w, k);
                flex::gemm_into(cols, k, ld, o, wt, View::rows(side, ld), false);
                for (i, image) in dx.chunks_exact_mut(chw).enumerate() {
                    fold(g, cols, ld, i * p, padded, image);
                }
            });
        dx
    }

    /// The convolution's weight gradient: `x` `[n, c, h, w]`, `dy` `[n, o, oh, ow]` ->
    /// `[o, c kh kw]`: one partial sum per block of images, then the partials in order.
    pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let (chw, k, p) = (g.input.iter().product::<usize>(), g.window(), g.positions());
        let partials = x
            .par_chunks(BLOCK * chw)
            .zip(dy.par_chunks(BLOCK * g.output[0] * p))
            .map_init(Scratch::default, |(cols, side, padded), (x, dy)| {
                let ld = x.len() / chw * p;
                cols.resize(k * ld, 0.0);
                for (i, image) in x.chunks_exact(chw).enumerate() {
                    unfold(g, image, padded, cols, ld, i * p);
                }
                block_weight_grad(g, cols, dy, side)
            })
            .collect();
        in_order(partials, g.output[0] * k)
    }

    /// [`weight_grad`] from the blocks [`forward_keeping`] kept.
    pub fn weight_grad_unfolded(g: &Geometry, cols: &[f32], dy: &[f32]) -> Vec<f32> {
        let (k, p) = (g.window(), g.positions());
        let partials = cols
            .par_chunks(BLOCK * k * p)
            .zip(dy.par_chunks(BLOCK * g.output[0] * p))
            .map_init(Vec::new, |side, (cols, dy)| {
                block_weight_grad(g, cols, dy, side)
            })
            .collect();
        in_order(partials, g.output[0] * k)
    }

    /// One block's weight gradient: its gradients `[o, b p]` times its unfolded images
    /// transposed, `[b p, k]`.
    fn block_weight_grad(g: &Geometry, cols: &[f32], dy: &[f32], side: &mut Vec<f32>) -> Vec<f32> {
        let (o, k, p) = (g.output[0], g.window(), g.positions());
        let ld = dy.len() / o;
        side.resize(o * ld, 0.0);
        gather(dy, side, o, p);
        let mut dw = vec![0.0f32; o * k];
        let (dy, ct) = (View::rows(side, ld), View::columns(cols, ld));
        flex::gemm_into(&mut dw, o, k, ld, dy, ct, false);
        dw
    }

    /// The blocks' partial sums added in block order (zeros of `len` for no blocks).
    fn in_order(partials: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
        let mut parts = partials.into_iter();
        let mut sum = parts.next().unwrap_or_else(|| vec![0.0f32; len]);
        for part in parts {
            for (a, b) in sum.iter_mut().zip(part) {
                *a += b;
            }
        }
        sum
    }
}

#[cfg(feature = "flex")]
mod extension {
    use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};

    use std::sync::Arc;

    use super::{Geometry, host};
    use crate::flex;

    /// The convolution and its adjoint on flex, f32, with a geometry checked by
    /// [`super::conv2d`] and [`super::conv_transpose2d`].
    #[backend_extension(Flex, Autodiff)]
    pub trait ConvBackend: Backend {
        /// `[n, c, h, w]` * `[o, c, kh, kw]` -> `[n, o, oh, ow]`.
        fn conv2d(x: FloatTensor<Self>, w: FloatTensor<Self>, g: Geometry) -> FloatTensor<Self>;
        /// `[n, o, oh, ow]` with `[o, c, kh, kw]` -> `[n, c, h, w]`: the adjoint of `conv2d`.
        fn conv_transpose2d(
            x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            g: Geometry,
        ) -> FloatTensor<Self>;
    }

    fn batch(t: &FloatTensor<Flex>) -> usize {
        t.shape().dims::<4>()[0]
    }

    /// The convolution `x * w` on the host.
    fn forward(x: &FloatTensor<Flex>, w: &FloatTensor<Flex>, g: &Geometry) -> FloatTensor<Flex> {
        conv_keeping(x, w, g, false).0
    }

    /// The convolution's input gradient from `dy` on the host.
    fn input_grad(
        dy: &FloatTensor<Flex>,
        w: &FloatTensor<Flex>,
        g: &Geometry,
    ) -> FloatTensor<Flex> {
        let n = batch(dy);
        let dx = host::input_grad(g, &flex::values(dy), &flex::values(w), n);
        let [c, h, wd] = g.input;
        flex::tensor(dx, [n, c, h, wd])
    }

    /// The convolution's weight gradient from its input `x` and output gradient `dy`.
    fn weight_grad(
        x: &FloatTensor<Flex>,
        dy: &FloatTensor<Flex>,
        g: &Geometry,
    ) -> FloatTensor<Flex> {
        weights(host::weight_grad(g, &flex::values(x), &flex::values(dy)), g)
    }

    /// A weight gradient's values as the weights' `[o, c, kh, kw]` tensor.
    fn weights(dw: Vec<f32>, g: &Geometry) -> FloatTensor<Flex> {
        let ([c, _, _], o, [kh, kw]) = (g.input, g.output[0], g.kernel);
        flex::tensor(dw, [o, c, kh, kw])
    }

    impl ConvBackend for Flex {
        fn conv2d(x: FloatTensor<Self>, w: FloatTensor<Self>, g: Geometry) -> FloatTensor<Self> {
            forward(&x, &w, &g)
        }

        fn conv_transpose2d(
            x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            g: Geometry,
        ) -> FloatTensor<Self> {
            input_grad(&x, &w, &g)
        }
    }

    /// Which of the two operations a backward step undoes.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Op {
        Conv,
        Transpose,
    }

    /// The most values of unfolded input a convolution keeps for its weight gradient (4 MiB,
    /// within a core's caches); past it the weight gradient unfolds the input again block by
    /// block, which costs less than writing all the blocks out to memory and reading them back
    /// (a DCGAN discriminator's second layer, 12.8 MB a batch: its step about 2 % faster on an
    /// AMD EPYC, `bench/results/ab-conv-keep-limit-31ce83b.txt`).
    const KEEP_LIMIT: usize = 1 << 20;

    /// What a weight gradient is computed from, kept by the forward pass only when the weights
    /// take one.
    #[derive(Debug, Clone)]
    enum ForWeights {
        /// A convolution's unfolded input.
        Unfolded(Arc<Vec<f32>>),
        /// A convolution's input (unfolded again for the weight gradient), or a transposed
        /// convolution's (its adjoint's output gradient).
        Input(FloatTensor<Flex>),
        /// The weights take no gradient.
        Nothing,
    }

    /// What the backward step keeps: the weights (for the input gradient), the geometry, which
    /// operation it undoes, and what the weight gradient needs.
    #[derive(Debug, Clone)]
    struct Saved {
        w: FloatTensor<Flex>,
        g: Geometry,
        op: Op,
        for_weights: ForWeights,
    }

    /// The backward step.
    #[derive(Debug)]
    struct ConvGrad;

    impl Backward<Flex, 2> for ConvGrad {
        type State = Saved;

        fn backward(
            self,
            ops: Ops<Self::State, 2>,
            grads: &mut Gradients,
            _checkpointer: &mut Checkpointer,
        ) {
            let Saved {
                w,
                g,
                op,
                for_weights,
            } = ops.state;
            let dy = grads.consume::<Flex>(&ops.node);
            let [px, pw] = ops.parents;
            if let Some(node) = pw {
                let dw = match for_weights {
                    ForWeights::Unfolded(cols) => weights(
                        host::weight_grad_unfolded(&g, &cols, &flex::values(&dy)),
                        &g,
                    ),
                    ForWeights::Input(x) if op == Op::Conv => weight_grad(&x, &dy, &g),
                    // The adjoint's output lives where the convolution's input does.
                    ForWeights::Input(x) => weight_grad(&dy, &x, &g),
                    ForWeights::Nothing => {
                        unreachable!("tracked weights keep what their gradient needs")
                    }
                };
                grads.register::<Flex>(node.id, dw);
            }
            if let Some(node) = px {
                let dx = match op {
                    Op::Conv => input_grad(&dy, &w, &g),
                    Op::Transpose => forward(&dy, &w, &g),
                };
                grads.register::<Flex>(node.id, dx);
            }
        }
    }

    fn tracked<C: CheckpointStrategy>(
        x: FloatTensor<Autodiff<Flex, C>>,
        w: FloatTensor<Autodiff<Flex, C>>,
        g: Geometry,
        op: Op,
    ) -> FloatTensor<Autodiff<Flex, C>> {
        // Weights that take a gradient keep what it needs: a convolution its unfolded input (or
        // its input, past `KEEP_LIMIT`), a transposed convolution its input.
        let keep = w.is_tracked();
        match ConvGrad
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.into_primitive(), w.into_primitive());
                let (y, for_weights) = match op {
                    Op::Conv if keep && g.window() * g.positions() * batch(&x) > KEEP_LIMIT => {
                        (forward(&x, &w, &g), ForWeights::Input(x.clone()))
                    }
                    Op::Conv => {
                        let (y, cols) = conv_keeping(&x, &w, &g, keep);
                        (y, cols.map_or(ForWeights::Nothing, ForWeights::Unfolded))
                    }
                    Op::Transpose => {
                        let y = input_grad(&x, &w, &g);
                        (
                            y,
                            if keep {
                                ForWeights::Input(x)
                            } else {
                                ForWeights::Nothing
                            },
                        )
                    }
                };
                let saved = Saved {
                    w,
                    g,
                    op,
                    for_weights,
                };
                prep.finish(saved, y)
            }
            OpsKind::UnTracked(prep) => {
                let (x, w) = (x.primitive(), w.primitive());
                prep.finish(match op {
                    Op::Conv => forward(x, w, &g),
                    Op::Transpose => input_grad(x, w, &g),
                })
            }
        }
    }

    /// The convolution, keeping its unfolded input when `keep`.
    fn conv_keeping(
        x: &FloatTensor<Flex>,
        w: &FloatTensor<Flex>,
        g: &Geometry,
        keep: bool,
    ) -> (FloatTensor<Flex>, Option<Arc<Vec<f32>>>) {
        let n = batch(x);
        let (y, cols) = host::forward_keeping(g, &flex::values(x), &flex::values(w), n, keep);
        let [o, oh, ow] = g.output;
        (flex::tensor(y, [n, o, oh, ow]), cols.map(Arc::new))
    }

    impl<C: CheckpointStrategy> ConvBackend for Autodiff<Flex, C> {
        fn conv2d(x: FloatTensor<Self>, w: FloatTensor<Self>, g: Geometry) -> FloatTensor<Self> {
            tracked::<C>(x, w, g, Op::Conv)
        }

        fn conv_transpose2d(
            x: FloatTensor<Self>,
            w: FloatTensor<Self>,
            g: Geometry,
        ) -> FloatTensor<Self> {
            tracked::<C>(x, w, g, Op::Transpose)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    #[cfg(feature = "flex")]
    use burn::nn::conv::ConvTranspose2dConfig;

    fn vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn a_convolution_by_hand() {
        // One 3x3 map 1..9, a 2x2 kernel [[1, 0], [0, -1]], stride 1, no padding, bias 0.5:
        // y = x[i][j] - x[i+1][j+1] + 0.5 = -4 + 0.5 everywhere. Loss sum(y): dW = the sum of
        // each window's element over the four windows: [[1+2+4+5, 2+3+5+6], [4+5+7+8, 5+6+8+9]];
        // dx counts how often each pixel meets each tap: +1 for top-left taps, -1 bottom-right.
        let _rng = crate::rng_lock();
        let device = Device::flex().autodiff();
        let mut layer = Conv2dConfig::new([1, 1], [2, 2]).init(&device);
        let w = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, -1.0], [1, 1, 2, 2]),
            &device,
        );
        let b = Tensor::<1>::from_data(TensorData::new(vec![0.5f32], [1]), &device);
        layer.weight = layer.weight.map(|_| w.require_grad());
        layer.bias = layer.bias.map(|p| p.map(|_| b.require_grad()));
        let values: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let x =
            Tensor::<4>::from_data(TensorData::new(values, [1, 1, 3, 3]), &device).require_grad();
        let y = conv2d(&layer, x.clone());
        assert_eq!(vec(y.clone().inner()), [-3.5; 4]);
        let grads = y.sum().backward();
        assert_eq!(
            vec(layer.weight.grad(&grads).unwrap()),
            [12.0, 16.0, 24.0, 28.0]
        );
        assert_eq!(
            vec(layer.bias.as_ref().unwrap().grad(&grads).unwrap()),
            [4.0]
        );
        assert_eq!(
            vec(x.grad(&grads).unwrap()),
            [1.0, 1.0, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0, -1.0]
        );
    }

    /// A layer the tests compare: this file's pass and burn's module, and its parameters.
    #[cfg(feature = "flex")]
    trait Layer {
        fn ours(&self, x: Tensor<4>) -> Tensor<4>;
        fn burns(&self, x: Tensor<4>) -> Tensor<4>;
        fn weight(&self) -> &burn::module::Param<Tensor<4>>;
        fn bias(&self) -> Option<&burn::module::Param<Tensor<1>>>;
        /// Whether this file's kernels take `x` (else the comparison is burn's with itself).
        fn handled(&self, x: &Tensor<4>) -> bool;
    }

    #[cfg(feature = "flex")]
    impl Layer for Conv2d {
        fn ours(&self, x: Tensor<4>) -> Tensor<4> {
            conv2d(self, x)
        }
        fn handled(&self, x: &Tensor<4>) -> bool {
            conv_geometry(self, x).is_some()
        }
        fn burns(&self, x: Tensor<4>) -> Tensor<4> {
            self.forward(x)
        }
        fn weight(&self) -> &burn::module::Param<Tensor<4>> {
            &self.weight
        }
        fn bias(&self) -> Option<&burn::module::Param<Tensor<1>>> {
            self.bias.as_ref()
        }
    }

    #[cfg(feature = "flex")]
    impl Layer for ConvTranspose2d {
        fn ours(&self, x: Tensor<4>) -> Tensor<4> {
            conv_transpose2d(self, x)
        }
        fn handled(&self, x: &Tensor<4>) -> bool {
            transpose_geometry(self, x).is_some()
        }
        fn burns(&self, x: Tensor<4>) -> Tensor<4> {
            self.forward(x)
        }
        fn weight(&self) -> &burn::module::Param<Tensor<4>> {
            &self.weight
        }
        fn bias(&self) -> Option<&burn::module::Param<Tensor<1>>> {
            self.bias.as_ref()
        }
    }

    /// Values and gradients (input, weights, bias) of `loss = sum(y * y + y)`: the extension's
    /// against burn's own module, for an input of shape `x_shape` that is a strided view (height
    /// and width swapped in memory).
    #[cfg(feature = "flex")]
    fn against_burns(device: &Device, layer: &(impl Layer + Module), x_shape: [usize; 4]) {
        tracking(device, layer, x_shape, [true, true]);
    }

    /// [`against_burns`] with the input and the weights (and bias) tracked or not.
    #[cfg(feature = "flex")]
    fn tracking<L: Layer + Module>(
        device: &Device,
        layer: &L,
        x_shape: [usize; 4],
        [track_x, track_w]: [bool; 2],
    ) {
        let n: usize = x_shape.iter().product();
        let xs: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.09)
            .collect();
        let [a, b, c, d] = x_shape;
        let mut x = Tensor::<4>::from_data(TensorData::new(xs, [a, b, d, c]), device);
        if track_x {
            x = x.require_grad();
        }
        // Initialise the lazily drawn parameters first: `no_grad` on a copy whose parameters
        // are still lazy would switch off the original's too (they share the pending draw).
        let _ = (layer.weight().val(), layer.bias().map(|b| b.val()));
        let layer = if track_w {
            layer.clone()
        } else {
            layer.clone().no_grad()
        };
        let view = x.clone().swap_dims(2, 3);
        assert!(layer.handled(&view), "{x_shape:?}: the kernels take it");
        let run = |ours: bool| {
            let view = x.clone().swap_dims(2, 3);
            let y = if ours {
                layer.ours(view)
            } else {
                layer.burns(view)
            };
            let grads = (y.clone() * y.clone() + y.clone()).sum().backward();
            let mut out = vec![vec(y.inner())];
            if track_x {
                out.push(vec(x.grad(&grads).unwrap()));
            }
            if track_w {
                out.push(vec(layer.weight().grad(&grads).unwrap()));
                if let Some(bias) = layer.bias() {
                    out.push(vec(bias.grad(&grads).unwrap()));
                }
            } else {
                assert!(layer.weight().grad(&grads).is_none());
            }
            out
        };
        let (ours, burns) = (run(true), run(false));
        assert_eq!(ours.len(), burns.len());
        // The bias gradient (the last part, with tracked weights and a bias) sums a channel's
        // whole batch, 8,192 values in the largest case: ours in f64, burn's in f32, whose
        // rounding (and order, which depends on burn-flex's features) is worth about 1e-5 of
        // the sum there.
        let bias_part = (track_w && layer.bias().is_some()).then(|| ours.len() - 1);
        for (k, (a, b)) in ours.iter().zip(&burns).enumerate() {
            assert_eq!(a.len(), b.len(), "part {k}");
            let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
            let tol = if Some(k) == bias_part { 2e-5 } else { 2e-6 };
            for (a, b) in a.iter().zip(b) {
                assert!(
                    (a - b).abs() <= tol * scale,
                    "part {k}: {a} vs {b} (scale {scale})"
                );
            }
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn convolutions_agree_with_burns() {
        let _rng = crate::rng_lock();
        let device = Device::flex().autodiff();
        device.seed(5);
        // (channels, kernel, stride, padding, input [n, c, h, w]): the DCGAN's 4x4 stride 2,
        // LeNet's 5x5, a padded 3x3, a rectangular kernel and stride, windows that leave the
        // last row and column unread, a batch of two blocks (the second partial), and 17 maps
        // from windows wider apart than the kernel with padding as wide as it (whole kernel
        // columns in the padding), and a batch whose unfolded input (1.2 million values) is
        // past what the forward pass keeps, unfolded again for the weight gradient. Stride 2
        // reads the phase planes: also with odd and even padding on odd sizes, 15 and 20
        // windows a row (two vectors a run, and more), and a one-column image padded by 3.
        let cases = [
            ([1, 4], [4, 4], [2, 2], (1, 1), [3, 1, 8, 8]),
            ([3, 2], [3, 5], [2, 2], (2, 1), [2, 3, 7, 9]),
            ([2, 3], [4, 4], [2, 2], (2, 2), [9, 2, 5, 5]),
            ([1, 3], [4, 4], [2, 2], (1, 1), [2, 1, 6, 30]),
            ([1, 2], [4, 4], [2, 2], (1, 1), [1, 1, 6, 40]),
            ([2, 2], [4, 4], [2, 2], (3, 3), [2, 2, 5, 1]),
            ([3, 5], [5, 5], [1, 1], (0, 0), [2, 3, 9, 9]),
            ([2, 3], [3, 3], [1, 1], (1, 1), [2, 2, 5, 6]),
            ([2, 2], [2, 3], [2, 1], (1, 2), [1, 2, 5, 4]),
            ([2, 3], [3, 3], [2, 2], (0, 0), [2, 2, 6, 6]),
            ([2, 3], [3, 3], [1, 1], (1, 1), [11, 2, 4, 4]),
            ([2, 17], [2, 2], [3, 3], (2, 2), [2, 2, 5, 7]),
            ([16, 4], [3, 3], [1, 1], (1, 1), [32, 16, 16, 16]),
        ];
        for (channels, kernel, stride, (ph, pw), x) in cases {
            let layer = Conv2dConfig::new(channels, kernel)
                .with_stride(stride)
                .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
                .init(&device);
            against_burns(&device, &layer, x);
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn transposed_convolutions_agree_with_burns() {
        let _rng = crate::rng_lock();
        let device = Device::flex().autodiff();
        device.seed(6);
        // (channels, kernel, stride, padding, padding_out, input): the DCGAN's two upsamplings,
        // a stride-1 one, an output padding, a batch of two blocks, and no padding.
        let cases = [
            ([4, 2], [4, 4], [2, 2], [1, 1], [0, 0], [2, 4, 7, 7], false),
            ([2, 1], [4, 4], [2, 2], [1, 1], [0, 0], [3, 2, 5, 5], true),
            ([3, 2], [3, 3], [1, 1], [1, 1], [0, 0], [2, 3, 4, 5], true),
            ([2, 3], [3, 3], [2, 2], [1, 1], [1, 1], [1, 2, 4, 3], true),
            ([2, 1], [4, 4], [2, 2], [1, 1], [0, 0], [10, 2, 3, 3], true),
            ([3, 2], [4, 4], [2, 2], [0, 0], [0, 0], [2, 3, 5, 9], true),
        ];
        for (channels, kernel, stride, padding, padding_out, x, bias) in cases {
            let layer = ConvTranspose2dConfig::new(channels, kernel)
                .with_stride(stride)
                .with_padding(padding)
                .with_padding_out(padding_out)
                .with_bias(bias)
                .init(&device);
            against_burns(&device, &layer, x);
        }
    }

    /// The GAN's cases: a discriminator without weight gradients in the generator's step (a
    /// tracked input, untracked weights), and its first layer on real images (the reverse).
    #[cfg(feature = "flex")]
    #[test]
    fn with_the_input_or_the_weights_untracked() {
        let _rng = crate::rng_lock();
        let device = Device::flex().autodiff();
        device.seed(8);
        let conv = Conv2dConfig::new([2, 3], [4, 4])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        let up = ConvTranspose2dConfig::new([3, 2], [4, 4])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .init(&device);
        for track in [[true, false], [false, true]] {
            tracking(&device, &conv, [9, 2, 8, 8], track);
            tracking(&device, &up, [9, 3, 4, 4], track);
        }
    }

    /// An output padding as wide as the stride has no adjoint convolution here: burn's module.
    #[cfg(feature = "flex")]
    #[test]
    fn a_transposed_convolution_with_a_wide_output_padding_is_burns() {
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let layer = ConvTranspose2dConfig::new([1, 1], [3, 3])
            .with_stride([2, 2])
            .with_padding_out([2, 2])
            .init(&device);
        let x = Tensor::<4>::ones([1, 1, 3, 3], &device);
        assert!(transpose_geometry(&layer, &x).is_none());
        assert_eq!(conv_transpose2d(&layer, x.clone()).dims(), [1, 1, 9, 9]);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn under_gradient_checkpointing_and_without_autodiff() {
        let _rng = crate::rng_lock();
        let device = Device::flex().autodiff().gradient_checkpointing();
        device.seed(7);
        let layer = Conv2dConfig::new([2, 3], [4, 4])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        against_burns(&device, &layer, [2, 2, 8, 8]);
        let up = ConvTranspose2dConfig::new([2, 1], [4, 4])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .init(&device);
        against_burns(&device, &up, [2, 2, 5, 5]);
        // Plain flex: the forward pass alone.
        let plain = Device::flex();
        let layer = Conv2dConfig::new([2, 3], [3, 3]).init(&plain);
        let x = Tensor::<4>::from_data(
            TensorData::new(
                (0..72).map(|i| i as f32 * 0.01).collect::<Vec<_>>(),
                [1, 2, 6, 6],
            ),
            &plain,
        );
        let (a, b) = (vec(conv2d(&layer, x.clone())), vec(layer.forward(x)));
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[cfg(feature = "flex")]
    #[test]
    fn weight_gradients_do_not_depend_on_the_threads_or_the_kept_blocks() {
        // 20 images: three blocks (8, 8 and 4 images), their partial weight gradients summed
        // in order.
        let g = Geometry {
            input: [2, 6, 6],
            output: [3, 3, 3],
            kernel: [2, 2],
            stride: [2, 2],
            pad: [0, 0],
        };
        let n = 20;
        let x: Vec<f32> = (0..n * 72).map(|i| ((i * 13 % 29) as f32).sin()).collect();
        let dy: Vec<f32> = (0..n * 27).map(|i| ((i * 7 % 31) as f32).cos()).collect();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let serial = one.install(|| host::weight_grad(&g, &x, &dy));
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        assert_eq!(three.install(|| host::weight_grad(&g, &x, &dy)), serial);
        // From the blocks the forward pass kept: the same sums.
        let w: Vec<f32> = (0..3 * 8).map(|i| i as f32 * 0.1).collect();
        let (y, cols) = host::forward_keeping(&g, &x, &w, n, true);
        assert_eq!(y, host::forward_keeping(&g, &x, &w, n, false).0);
        assert_eq!(host::weight_grad_unfolded(&g, &cols.unwrap(), &dy), serial);
    }

    #[test]
    fn unsupported_layers_use_burns() {
        // Dilation 2: burn's module computes it, on every backend.
        let _rng = crate::rng_lock();
        let device = Device::flex();
        let layer = Conv2dConfig::new([1, 1], [2, 2])
            .with_dilation([2, 2])
            .init(&device);
        let x = Tensor::<4>::ones([1, 1, 5, 5], &device);
        assert_eq!(conv2d(&layer, x.clone()).dims(), [1, 1, 3, 3]);
        assert_eq!(vec(conv2d(&layer, x.clone())), vec(layer.forward(x)));
    }
}
