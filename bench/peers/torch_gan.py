#!/usr/bin/env python3
"""The MLP GAN of configs/gan_2014.toml in PyTorch, for nnlab's side-by-side comparison: the
same layers (a 100-256-512-1024-784 generator with leaky-ReLU units of slope 0.2 and a tanh
output, a 784-1024-512-256-1 leaky-ReLU discriminator with dropout 0.3, pixels in [-1, 1]),
Glorot-uniform weights and zero biases, Adam lr 2e-4 with betas (0.5, 0.999) and epsilon 1e-8,
batch 100, the non-saturating generator loss, 50,000 training images. The flags give back the
paper's layers (--generator 1200 1200 --g-activation relu --discriminator 240 240 --output
sigmoid), which collapse. Prints one line per epoch — the losses, D's mean output on real and
generated images, and the diversity of 1,000 samples in [0, 1] (the mean over pixels of their
standard deviation across samples; 0 means every sample is the same image) — and `RESULT {json}`.

usage: torch_gan.py SEED [--epochs 5] [--threads 2] [--data DIR] [--limit N]
       [--generator 256 512 1024] [--discriminator 1024 512 256]
       [--g-activation leaky_relu|relu] [--g-slope 0.2] [--output tanh|sigmoid]
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

import mnist

p = argparse.ArgumentParser()
p.add_argument("seed", type=int)
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--data", default=os.environ.get("MNIST_DIR", "../../../shared/data/mnist"))
p.add_argument("--limit", type=int, default=50000)
p.add_argument("--generator", type=int, nargs="+", default=[256, 512, 1024])
p.add_argument("--discriminator", type=int, nargs="+", default=[1024, 512, 256])
p.add_argument("--g-activation", choices=["relu", "leaky_relu"], default="leaky_relu")
p.add_argument("--g-slope", type=float, default=0.2, help="the generator's leaky-ReLU slope")
p.add_argument("--output", choices=["sigmoid", "tanh"], default="tanh",
               help="tanh: images scaled to [-1, 1] and a tanh generator output")
a = p.parse_args()
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)

train_x = torch.from_numpy(mnist.load(a.data)[0][:min(a.limit, 50000)])
if a.output == "tanh":
    train_x = train_x * 2 - 1


def mlp(sizes):
    layers = [torch.nn.Linear(i, o) for i, o in zip(sizes, sizes[1:])]
    for l in layers:
        torch.nn.init.xavier_uniform_(l.weight)
        torch.nn.init.zeros_(l.bias)
    return torch.nn.ModuleList(layers)


g_layers = mlp([100, *a.generator, 784])
d_layers = mlp([784, *a.discriminator, 1])


def generate(z):
    h = z
    for i, l in enumerate(g_layers):
        h = l(h)
        if i == len(g_layers) - 1:
            h = torch.sigmoid(h) if a.output == "sigmoid" else torch.tanh(h)
        else:
            h = F.relu(h) if a.g_activation == "relu" else F.leaky_relu(h, a.g_slope)
    return h


def logit(x):
    h = x
    for i, l in enumerate(d_layers):
        h = l(h)
        if i < len(d_layers) - 1:
            h = F.dropout(F.leaky_relu(h, 0.2), 0.3, d_layers.training)
    return h


opt_g = torch.optim.Adam(g_layers.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
opt_d = torch.optim.Adam(d_layers.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
seconds = []
for epoch in range(1, a.epochs + 1):
    start = time.perf_counter()
    order = torch.randperm(len(train_x))
    sums = [0.0, 0.0, 0.0, 0.0]
    for s in range(0, len(train_x), 100):
        real = train_x[order[s:s + 100]]
        n = len(real)
        fake = generate(torch.randn(n, 100)).detach()
        lr_, lf = logit(real), logit(fake)
        d_loss = F.softplus(-lr_).mean() + F.softplus(lf).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-logit(generate(torch.randn(n, 100)))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        for k, v in enumerate([d_loss.item(), g_loss.item(), torch.sigmoid(lr_).mean().item(),
                               torch.sigmoid(lf).mean().item()]):
            sums[k] += v * n
    seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        images = generate(torch.randn(1000, 100))
        if a.output == "tanh":
            images = (images + 1) / 2
        diversity = images.std(0).mean().item()
    d_loss, g_loss, d_real, d_fake = (v / len(train_x) for v in sums)
    print(f"epoch {epoch}: d_loss {d_loss:.4f} g_loss {g_loss:.4f} d_real {d_real:.4f} "
          f"d_fake {d_fake:.4f} diversity {diversity:.4f} {seconds[-1]:.2f}s", flush=True)
print("RESULT " + json.dumps({"d_loss": d_loss, "g_loss": g_loss, "diversity": diversity,
                              "seconds_per_epoch": statistics.median(seconds)}))
