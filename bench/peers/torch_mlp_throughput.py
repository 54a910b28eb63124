#!/usr/bin/env python3
"""Training throughput of the article's MLP (configs/article_mlp.toml: 784-32-10, ReLU,
Glorot-uniform weights, zero biases, Adam lr 1e-3 with epsilon 1e-7, softmax cross-entropy) in
PyTorch, for scripts/gpu-check.sh and bench/scaling.py: the first LIMIT MNIST training images,
batch B, HIDDEN units, the data held on the device, EPOCHS epochs; the first epoch warms up
(kernel selection, caches) and the last one is timed. Prints `RESULT {json}` with that epoch's
seconds and samples per second.

usage: torch_mlp_throughput.py [--device cuda] [--batch-size 32] [--hidden 32] [--limit 60000]
       [--epochs 2] [--threads N] [--data DIR]
"""
import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

import mnist

p = argparse.ArgumentParser()
p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--hidden", type=int, default=32)
p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
p.add_argument("--limit", type=int, default=60000)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--data", default=os.environ.get("MNIST_DIR", "../../../shared/data/mnist"))
a = p.parse_args()
torch.manual_seed(a.seed)
if a.threads:
    torch.set_num_threads(a.threads)
dev = torch.device(a.device)
train_x, train_y, _, _ = mnist.load(a.data)
x = torch.from_numpy(train_x[:a.limit]).to(dev)
y = torch.from_numpy(train_y[:a.limit]).to(dev)

model = torch.nn.Sequential(torch.nn.Linear(784, a.hidden), torch.nn.ReLU(), torch.nn.Linear(a.hidden, 10))
for m in model:
    if isinstance(m, torch.nn.Linear):
        torch.nn.init.xavier_uniform_(m.weight)
        torch.nn.init.zeros_(m.bias)
model.to(dev)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


for epoch in range(1, a.epochs + 1):
    sync()
    start = time.perf_counter()
    total = torch.zeros((), device=dev)
    for idx in torch.randperm(len(x), device=dev).split(a.batch_size):
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.detach() * len(idx)
    sync()
    seconds = time.perf_counter() - start
    print(f"epoch {epoch}: loss {total.item() / len(x):.4f}, {seconds:.3f} s", flush=True)
print("RESULT " + json.dumps({"seconds": seconds, "samples_per_s": len(x) / seconds}))
