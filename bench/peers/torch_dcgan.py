#!/usr/bin/env python3
"""The DCGAN of configs/dcgan_2016.toml in PyTorch, for nnlab's side-by-side speed comparison
(bench/compare_generative.py): the same generator and discriminator (Radford et al. 2016 at
28x28), weights N(0, 0.02), Adam lr 2e-4 with beta1 0.5, batch 128, the first 50,000 MNIST
training images, one discriminator and one generator step per batch (non-saturating loss).
Prints one line per epoch and `RESULT {json}` with the median seconds per epoch, and the last
epoch's seconds and samples per second (scripts/gpu-check.sh runs it on a GPU with --device cuda,
where the first epoch warms up).

usage: torch_dcgan.py SEED [--epochs 2] [--features 32] [--threads 2] [--data DIR]
       [--device cpu|cuda] [--batch-size 128] [--limit 50000]
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import mnist

p = argparse.ArgumentParser()
p.add_argument("seed", type=int)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--features", type=int, default=32)
p.add_argument("--latent", type=int, default=100)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--data", default=os.environ.get("MNIST_DIR", "../../../shared/data/mnist"))
p.add_argument("--device", default="cpu")
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--limit", type=int, default=50000)
a = p.parse_args()
dev = torch.device(a.device)
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)
g, d, z_dim = a.features, a.features, a.latent

train_x = (torch.from_numpy(mnist.load(a.data)[0][:min(a.limit, 50000)]).view(-1, 1, 28, 28) * 2 - 1).to(dev)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.project = nn.Linear(z_dim, 2 * g * 7 * 7)
        self.bn0 = nn.BatchNorm2d(2 * g)
        self.up1 = nn.ConvTranspose2d(2 * g, g, 4, 2, 1, bias=False)  # batch norm follows
        self.bn1 = nn.BatchNorm2d(g)
        self.up2 = nn.ConvTranspose2d(g, 1, 4, 2, 1)

    def forward(self, z):
        h = F.relu(self.bn0(self.project(z).view(-1, 2 * g, 7, 7)))
        return torch.tanh(self.up2(F.relu(self.bn1(self.up1(h)))))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.down1 = nn.Conv2d(1, d, 4, 2, 1)
        self.down2 = nn.Conv2d(d, 2 * d, 4, 2, 1, bias=False)  # batch norm follows
        self.bn2 = nn.BatchNorm2d(2 * d)
        self.out = nn.Linear(2 * d * 7 * 7, 1)

    def forward(self, x):
        h = F.leaky_relu(self.down1(x), 0.2)
        h = F.leaky_relu(self.bn2(self.down2(h)), 0.2)
        return self.out(h.flatten(1))


def init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)


G, D = Generator().to(dev), Discriminator().to(dev)
G.apply(init)
D.apply(init)
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
secs = []
for epoch in range(1, a.epochs + 1):
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    d_total = g_total = 0.0
    for idx in torch.randperm(len(train_x), device=dev).split(a.batch_size):
        real = train_x[idx]
        n = len(real)
        fake = G(torch.randn(n, z_dim, device=dev)).detach()
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # D's weights as constants in G's step (as nnlab's GAN step does): the backward pass
        # computes D's input gradients only.
        D.requires_grad_(False)
        g_loss = F.softplus(-D(G(torch.randn(n, z_dim, device=dev)))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        d_total += d_loss.item() * n
        g_total += g_loss.item() * n
    secs.append(time.perf_counter() - start)
    print(f"epoch {epoch}: d_loss {d_total / len(train_x):.4f}, g_loss {g_total / len(train_x):.4f}, {secs[-1]:.2f} s", flush=True)
print("RESULT " + json.dumps({"epoch_s_median": statistics.median(secs), "seconds": secs[-1],
                              "samples_per_s": len(train_x) / secs[-1]}))
