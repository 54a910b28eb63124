#!/usr/bin/env python3
"""Where the gap between this study's Parzen-window log-likelihood and Goodfellow et al.'s 225
comes from: an independent NumPy check of the estimate, and what the samples lack.

Draws 10,000 samples from the study's trained run with `nnlab generate` (rounded to 8 bits by
the PNG), then prints, each on the MNIST test set with the bandwidth chosen on the same 1,000
validation images as the run (training images 50,000 to 50,999) from the same 10 values:

1. the Parzen estimate of the samples (the run's own figure, recomputed here in NumPy), of 10,000
   real training images, and of 10,000 k-means centroids of the training images (Theis et al.
   2016: a model that is no model of digits at all beats the data);
2. how far test digits are from their nearest sample and from their nearest training image
   (squared distance over the 784 pixels in [0, 1]): with the bandwidth near 0.2 the estimate is
   nearly the mean of -d^2 / (2 sigma^2) over test images;
3. the estimate per test digit class, and the class mix of the samples (each labelled by its
   nearest training image);
4. whether the samples' faint speckle explains it: the samples with their faint pixels removed,
   and real images with a sample's faint pixels added.

usage: parzen_gap.py [--run experiments/gan-2014/runs/20-epochs/seed-1] [--data DIR] [--nnlab BIN]
                     [--seed 3] [--out experiments/gan-2014/parzen-gap.txt]
Needs NumPy and Pillow (the peers' venv, ../shared/peers/setup-venv.sh); the run's checkpoint
(`nnlab study experiments/gan-2014` makes it; checkpoints are not committed).
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
p = argparse.ArgumentParser()
p.add_argument("--run", default=os.path.join(root, "experiments/gan-2014/runs/20-epochs/seed-1"))
p.add_argument("--data", default=os.path.join(os.environ.get("NNLAB_DATA", os.path.join(root, "..", "shared", "data")), "mnist"))
p.add_argument("--nnlab", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "nnlab"))
p.add_argument("--seed", type=int, default=3, help="noise seed of the samples (the run's own estimate used another draw)")
p.add_argument("--kmeans-iterations", type=int, default=10)
p.add_argument("--out", default=os.path.join(root, "experiments/gan-2014/parzen-gap.txt"))
args = p.parse_args()

lines = []


def say(s=""):
    print(s, flush=True)
    lines.append(s)


def idx(name, labels=False):
    with gzip.open(os.path.join(args.data, name)) as f:
        b = f.read()
    if labels:
        return np.frombuffer(b[8:], np.uint8)
    n = int.from_bytes(b[4:8], "big")
    return np.frombuffer(b[16:], np.uint8).reshape(n, 784).astype(np.float32) / 255.0


train, test = idx("train-images-idx3-ubyte.gz"), idx("t10k-images-idx3-ubyte.gz")
y_train = idx("train-labels-idx1-ubyte.gz", True)
y_test = idx("t10k-labels-idx1-ubyte.gz", True)
valid, real = train[50000:51000], train[:10000]

# The samples: `nnlab generate` tiles them 100 per row, each pixel a 2x2 block, 2 px apart.
n, cols, scale, pad = 10000, 100, 2, 2
with tempfile.TemporaryDirectory() as tmp:
    grid_png = os.path.join(tmp, "samples.png")
    cmd = [args.nnlab, "generate", args.run, "--n", str(n), "--seed", str(args.seed), "--out", grid_png]
    subprocess.run(cmd, check=True, env={**os.environ, "NNLAB_BACKEND": "flex"}, stdout=subprocess.DEVNULL)
    grid = np.asarray(Image.open(grid_png).convert("L"), np.float32) / 255.0
cell = 28 * scale + pad
samples = np.stack([
    grid[pad + (i // cols) * cell:][:28 * scale:scale, pad + (i % cols) * cell:][:, :28 * scale:scale].reshape(784)
    for i in range(n)
])


def sq_dist(x, y):
    return np.maximum((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T, 0)


def log_likelihoods(x, centres, sigma, chunk=500):
    """log of the mean over centres of N(x; centre, sigma^2 I), per row of x."""
    out = []
    for i in range(0, len(x), chunk):
        a = -sq_dist(x[i:i + chunk], centres) / (2 * sigma * sigma)
        m = a.max(1)
        out.append(m + np.log(np.exp(a - m[:, None]).sum(1)))
    return np.concatenate(out) - np.log(len(centres)) - x.shape[1] * np.log(sigma * np.sqrt(2 * np.pi))


def nearest(x, ref, chunk=1000):
    """Index of and squared distance to each row's nearest row of ref."""
    j, d = [], []
    for i in range(0, len(x), chunk):
        d2 = sq_dist(x[i:i + chunk], ref)
        k = d2.argmin(1)
        j.append(k)
        d.append(d2[np.arange(len(k)), k])
    return np.concatenate(j), np.concatenate(d)


sigmas = [10 ** (-1 + i / 9) for i in range(10)]


def parzen(name, centres):
    k = int(np.argmax([log_likelihoods(valid, centres, s).mean() for s in sigmas]))
    ll = log_likelihoods(test, centres, sigmas[k])
    say(f"{name:58s} sigma {sigmas[k]:.3f}  test LL {ll.mean():6.1f} +- {ll.std() / np.sqrt(len(ll)):.1f}")
    return ll, sigmas[k]


def kmeans(x, k, iterations, seed=0):
    """Lloyd's algorithm from k distinct training images; an emptied cluster keeps its centre."""
    c = x[np.random.default_rng(seed).choice(len(x), k, replace=False)].copy()
    for _ in range(iterations):
        j, _ = nearest(x, c)
        order = np.argsort(j, kind="stable")
        members, starts = np.unique(j[order], return_index=True)
        sums = np.add.reduceat(x[order], starts, axis=0)
        c[members] = sums / np.diff(np.append(starts, len(x)))[:, None]
    return c


start = time.time()
rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
say(f"# parzen_gap.py at {rev}: {n} samples (seed {args.seed}) of {os.path.relpath(args.run, root)}")
say()
say("## 1. The estimate (test set, bandwidth from 1,000 validation images)")
ll_samples, s_samples = parzen("GAN samples", samples)
ll_real, s_real = parzen("10,000 real training images", real)
parzen(f"10,000 k-means centroids of the 50,000 training images", kmeans(train[:50000], n, args.kmeans_iterations))
say()
say("## 2. Squared distance from each test digit to its nearest ... (784 pixels in [0, 1])")
_, d_samples = nearest(test, samples)
_, d_real = nearest(test, real)
say(f"GAN sample:             median {np.median(d_samples):5.1f}  mean {d_samples.mean():5.1f}")
say(f"real training image:    median {np.median(d_real):5.1f}  mean {d_real.mean():5.1f}")
say()
say("## 3. Per test class: mean log-likelihood under the samples and under real images")
j, _ = nearest(samples, train[:50000])
share = np.bincount(y_train[j], minlength=10) / n
say("class | samples of it (nearest training image's label) | test LL, samples | test LL, real | gap")
for c in range(10):
    m = y_test == c
    say(f"{c} | {share[c]:.3f} | {ll_samples[m].mean():6.1f} | {ll_real[m].mean():6.1f} | {ll_real[m].mean() - ll_samples[m].mean():6.1f}")
say()
say("## 4. The samples' faint speckle")
faint = (samples > 0.05) & (samples < 0.5)
say(f"pixels in (0.05, 0.5): samples {faint.mean():.3f}, test images {((test > 0.05) & (test < 0.5)).mean():.3f}")
for t in [0.1, 0.25]:
    parzen(f"GAN samples, pixels below {t} set to 0", np.where(samples < t, 0, samples))
speckle = np.where(samples < 0.5, samples, 0)[np.random.default_rng(1).permutation(n)]
parzen("real images + a sample's faint pixels on their background", np.clip(real + speckle * (real < 0.05), 0, 1))
say()
say(f"({time.time() - start:.0f} s)")
with open(args.out, "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"written to {args.out}", file=sys.stderr)
