#!/usr/bin/env python3
"""The VAE of PyTorch's examples (vae/main.py) — 784-400-LATENT with ReLU, a Bernoulli decoder on
pixel intensities in [0, 1], Adam lr 1e-3, batch 128 — written for nnlab's side-by-side
comparison (bench/compare_generative.py): same data, same model, same evaluation as
configs/vae_2014.toml. Prints one line per epoch and `RESULT {json}`: the test loss (-ELBO per
image, one sample of z per image) and the median seconds per epoch.

usage: torch_vae.py SEED [--epochs 10] [--latent 20] [--threads 2] [--data DIR]
       [--device cpu|cuda] [--batch-size 128] [--limit 60000]
(`scripts/gpu-check.sh` runs it with --device cuda; RESULT then also has the last epoch's
seconds and samples per second.)
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
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--latent", type=int, default=20)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--data", default=os.environ.get("MNIST_DIR", "../../../shared/data/mnist"))
p.add_argument("--device", default="cpu")
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--limit", type=int, default=60000)
a = p.parse_args()
dev = torch.device(a.device)
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)

train_x, _, test_x, _ = mnist.load(a.data)
train_x, test_x = torch.from_numpy(train_x[:a.limit]).to(dev), torch.from_numpy(test_x).to(dev)


class Vae(torch.nn.Module):
    def __init__(self, latent):
        super().__init__()
        self.enc = torch.nn.Linear(784, 400)
        self.mu = torch.nn.Linear(400, latent)
        self.log_var = torch.nn.Linear(400, latent)
        self.dec1 = torch.nn.Linear(latent, 400)
        self.dec2 = torch.nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.enc(x))
        mu, log_var = self.mu(h), self.log_var(h)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)  # on mu's device
        return self.dec2(F.relu(self.dec1(z))), mu, log_var


def loss(logits, x, mu, log_var):
    """-ELBO summed over the batch: Bernoulli cross-entropy of the pixels plus the KL term."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
    return recon + kl


model = Vae(a.latent).to(dev)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
secs = []
for epoch in range(1, a.epochs + 1):
    model.train()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    total = 0.0
    for idx in torch.randperm(len(train_x), device=dev).split(a.batch_size):
        x = train_x[idx]
        opt.zero_grad()
        logits, mu, log_var = model(x)
        l = loss(logits, x, mu, log_var)
        l.backward()
        opt.step()
        total += l.item()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    secs.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        test = 0.0
        for xb in test_x.split(1000):
            logits, mu, log_var = model(xb)
            test += loss(logits, xb, mu, log_var).item()
    print(f"epoch {epoch}: train loss {total / len(train_x):.4f}, test loss {test / len(test_x):.4f}, {secs[-1]:.2f} s", flush=True)
print("RESULT " + json.dumps({"test_loss": test / len(test_x), "epoch_s_median": statistics.median(secs),
                              "seconds": secs[-1], "samples_per_s": len(train_x) / secs[-1]}))
