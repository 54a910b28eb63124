//! The page `nnlab export` writes beside a VAE's or a GAN's weights (the DCGAN's too): one
//! self-contained
//! HTML file (plain JavaScript, no framework, nothing fetched) that draws new samples from the
//! generator in the browser. It also redraws, on load, the images `nnlab generate --seed 0`
//! draws first, from the same noise, and writes the largest difference to nnlab's pixels into
//! `#check`, so a browser test (`tests/export.rs`) can hold the page to nnlab's arithmetic.

use base64::Engine;
use nnlab_train::export::{PlainLayer, Sampler};

/// The page's script: the generator's forward pass, a seeded sampler, the grid, the check.
const SCRIPT: &str = r##""use strict";
const M = JSON.parse(document.getElementById("model").textContent);
function unpack(b64) {
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}
const layers = M.layers.map(l => {
  const out = Object.assign({}, l);
  for (const key of ["weight", "bias", "scale", "shift"]) if (key in l) out[key] = unpack(l[key]);
  return out;
});
function erf(x) { // Abramowitz & Stegun 7.1.26, |error| < 1.5e-7
  const s = Math.sign(x), a = Math.abs(x), t = 1 / (1 + 0.3275911 * a);
  const y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
function act(name, v) {
  if (name.startsWith("leaky_relu:")) { const k = parseFloat(name.slice(11)); return v > 0 ? v : k * v; }
  switch (name) {
    case "relu": return Math.max(0, v);
    case "sigmoid": return 1 / (1 + Math.exp(-v));
    case "tanh": return Math.tanh(v);
    case "tanh01": return (Math.tanh(v) + 1) / 2;
    case "gelu": return 0.5 * v * (1 + erf(v / Math.SQRT2));
    case "sin": return Math.sin(v);
    case "gaussian": return Math.exp(-v * v);
    default: return v;
  }
}
// x W + b (W [inputs, outputs] row-major, as burn keeps it).
function dense(l, h) {
  const out = new Float64Array(l.outputs);
  for (let o = 0; o < l.outputs; o++) out[o] = l.bias[o];
  for (let i = 0; i < l.inputs; i++) {
    const hi = h[i], row = i * l.outputs;
    if (hi === 0) continue;
    for (let o = 0; o < l.outputs; o++) out[o] += hi * l.weight[row + o];
  }
  return out;
}
// Per channel x * scale + shift on [channels, h, w] (batch norm with its running statistics).
function affine(l, h) {
  const c = l.scale.length, per = h.length / c, out = new Float64Array(h.length);
  for (let k = 0; k < h.length; k++) { const ch = Math.floor(k / per); out[k] = h[k] * l.scale[ch] + l.shift[ch]; }
  return out;
}
// Transposed convolution on [in, side, side]: each input value spreads its kernel over the
// output, the adjoint of a strided convolution (W [in, out, k, k], PyTorch's layout).
function convTranspose(l, h) {
  const I = l.in_channels, O = l.out_channels, k = l.kernel, s = l.stride, p = l.padding;
  const side = Math.round(Math.sqrt(h.length / I)), outSide = (side - 1) * s - 2 * p + k;
  const out = new Float64Array(O * outSide * outSide);
  for (let o = 0; o < O; o++) out.fill(l.bias[o], o * outSide * outSide, (o + 1) * outSide * outSide);
  for (let i = 0; i < I; i++) for (let iy = 0; iy < side; iy++) for (let ix = 0; ix < side; ix++) {
    const v = h[(i * side + iy) * side + ix];
    if (v === 0) continue;
    for (let o = 0; o < O; o++) for (let ky = 0; ky < k; ky++) {
      const y = iy * s - p + ky;
      if (y < 0 || y >= outSide) continue;
      for (let kx = 0; kx < k; kx++) {
        const x = ix * s - p + kx;
        if (x < 0 || x >= outSide) continue;
        out[(o * outSide + y) * outSide + x] += v * l.weight[((i * O + o) * k + ky) * k + kx];
      }
    }
  }
  return out;
}
// One image from noise z, layer by layer, each followed by its nonlinearity.
function generate(z) {
  let h = z;
  for (const l of layers) {
    h = l.kind === "dense" ? dense(l, h) : l.kind === "affine" ? affine(l, h) : convTranspose(l, h);
    for (let k = 0; k < h.length; k++) h[k] = act(l.act, h[k]);
  }
  return h;
}
let seed = 1;
function uniform() { // mulberry32
  seed = (seed + 0x6D2B79F5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function normal() { return Math.sqrt(-2 * Math.log(Math.max(uniform(), 1e-12))) * Math.cos(2 * Math.PI * uniform()); }
// Unit-variance uniform noise on [-sqrt 3, sqrt 3], for a generator trained on it.
function flat() { return (2 * uniform() - 1) * Math.sqrt(3); }
function draw() {
  const side = M.side, cols = 8, rows = 4, scale = 3, pad = 2;
  const canvas = document.getElementById("grid");
  canvas.width = cols * (side + pad) * scale; canvas.height = rows * (side + pad) * scale;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let k = 0; k < cols * rows; k++) {
    const z = Array.from({length: M.latent}, M.noise === "uniform" ? flat : normal), img = generate(z);
    for (let p = 0; p < side * side; p++) {
      const v = Math.round(255 * Math.min(1, Math.max(0, img[p])));
      ctx.fillStyle = `rgb(${v},${v},${v})`;
      const x = (k % cols) * (side + pad) + (p % side), y = Math.floor(k / cols) * (side + pad) + Math.floor(p / side);
      ctx.fillRect(x * scale, y * scale, scale, scale);
    }
  }
}
document.getElementById("again").onclick = draw;
draw();
const cz = unpack(M.check_z), ci = unpack(M.check_images), n = cz.length / M.latent;
let worst = 0;
for (let k = 0; k < n; k++) {
  const img = generate(cz.subarray(k * M.latent, (k + 1) * M.latent));
  for (let p = 0; p < img.length; p++) worst = Math.max(worst, Math.abs(img[p] - ci[k * img.length + p]));
}
document.getElementById("check").textContent = `${n} images, largest difference ${worst.toExponential(2)}`;
"##;

/// f32 values as base64 of their little-endian bytes.
fn packed(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One layer as the page's script reads it.
fn layer_json(layer: &PlainLayer) -> serde_json::Value {
    match layer {
        PlainLayer::Dense(l) => serde_json::json!({
            "kind": "dense", "inputs": l.inputs, "outputs": l.outputs,
            "weight": packed(&l.weight), "bias": packed(&l.bias), "act": l.activation,
        }),
        PlainLayer::Affine {
            scale,
            shift,
            activation,
        } => serde_json::json!({
            "kind": "affine", "scale": packed(scale), "shift": packed(shift), "act": activation,
        }),
        PlainLayer::ConvTranspose {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            weight,
            bias,
            activation,
        } => serde_json::json!({
            "kind": "conv_transpose", "in_channels": in_channels, "out_channels": out_channels,
            "kernel": kernel, "stride": stride, "padding": padding,
            "weight": packed(weight), "bias": packed(bias), "act": activation,
        }),
    }
}

/// The page for `s`, titled `title`.
pub fn page(s: &Sampler, title: &str) -> String {
    let layers: Vec<serde_json::Value> = s.layers.iter().map(layer_json).collect();
    let data = serde_json::json!({
        "latent": s.latent,
        "side": s.side,
        "layers": layers,
        "check_z": packed(&s.check_z),
        "check_images": packed(&s.check_images),
        "noise": s.noise,
    });
    let escaped = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escaped}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}canvas{{image-rendering:pixelated;border:1px solid #ccc}}</style>
</head><body>
<h1>{escaped}</h1>
<p>New samples from the exported generator, computed in this page. <button id="again">draw again</button></p>
<canvas id="grid"></canvas>
<p>Check against nnlab (the images <code>nnlab generate --seed 0</code> draws first):</p>
<pre id="check">computing</pre>
<script id="model" type="application/json">{data}</script>
<script>
{SCRIPT}</script>
</body></html>
"##
    )
}
