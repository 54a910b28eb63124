#!/usr/bin/env python3
"""The LeNet-5-style CNN of configs/lenet_1998.toml in PyTorch, for nnlab's side-by-side
comparison (bench/compare_generative.py): 1x28x28 -> conv 6@5x5 (padding 2) -> tanh -> 2x2
average pooling -> conv 16@5x5 -> tanh -> 2x2 average pooling -> 400 -> 120 -> 84 -> 10 (tanh),
Glorot-uniform weights and zero biases, softmax cross-entropy, Adam lr 1e-3, batch 32, the
60,000 training images reshuffled every epoch. Prints one line per epoch and `RESULT {json}`:
the last epoch's test accuracy and loss, and the median seconds per epoch.

usage: torch_lenet.py SEED [--epochs 2] [--threads 2] [--data DIR]
       [--device cpu|cuda] [--batch-size 32] [--limit 60000]
(`scripts/gpu-check.sh` runs it with --device cuda; RESULT then also has the last epoch's
seconds and samples per second.)
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
p.add_argument("--threads", type=int, default=2)
p.add_argument("--data", default=os.environ.get("MNIST_DIR", "../../../shared/data/mnist"))
p.add_argument("--device", default="cpu")
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--limit", type=int, default=60000)
a = p.parse_args()
dev = torch.device(a.device)
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)

train_x, train_y, test_x, test_y = (torch.from_numpy(v).to(dev) for v in mnist.load(a.data))
train_x, train_y = train_x[:a.limit], train_y[:a.limit]
train_x, test_x = train_x.view(-1, 1, 28, 28), test_x.view(-1, 1, 28, 28)

model = nn.Sequential(
    nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
    nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
    nn.Flatten(),
    nn.Linear(400, 120), nn.Tanh(),
    nn.Linear(120, 84), nn.Tanh(),
    nn.Linear(84, 10),
)
for m in model:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)
model = model.to(dev)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
secs = []
for epoch in range(1, a.epochs + 1):
    model.train()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    total = 0.0
    for idx in torch.randperm(len(train_x), device=dev).split(a.batch_size):
        opt.zero_grad()
        loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    secs.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        correct, test = 0, 0.0
        for xb, yb in zip(test_x.split(1000), test_y.split(1000)):
            out = model(xb)
            test += F.cross_entropy(out, yb, reduction="sum").item()
            correct += (out.argmax(1) == yb).sum().item()
    acc, test = correct / len(test_x), test / len(test_x)
    print(f"epoch {epoch}: train loss {total / len(train_x):.4f}, test loss {test:.4f}, "
          f"test accuracy {acc:.4f}, {secs[-1]:.2f} s", flush=True)
print("RESULT " + json.dumps({"test_loss": test, "test_accuracy": acc, "epoch_s_median": statistics.median(secs),
                              "seconds": secs[-1], "samples_per_s": len(train_x) / secs[-1]}))
