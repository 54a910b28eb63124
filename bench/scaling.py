#!/usr/bin/env python3
"""Where arithmetic starts to dominate: seconds per epoch of the article's MLP (784-H-10, ReLU,
Adam, softmax cross-entropy, the 60,000 MNIST training images) for every batch size B and hidden
width H of the grid, nnlab against PyTorch (one pre-shuffled tensor on the CPU,
bench/peers/torch_mlp_throughput.py) and JAX with the epoch compiled by XLA
(bench/peers/jax_mlp_scan.py), beside the floor that `nnlab-floor --batch B --hidden H` measures
(the step's matrix products with the gemm crate burn's CPU backend uses, plus Adam's memory
traffic). Each framework trains EPOCHS epochs in its own process and the last one is timed
(JAX's first compiles); the three alternate within each setting, same data, same thread count.

Prints a markdown table (also written to OUT/scaling.md with the CSV beside it) and draws
OUT/scaling.png (needs matplotlib in the venv: `pip install matplotlib`; without it only the
table is written).

usage: bench/scaling.py [--batches 32 128 1024] [--hiddens 32 512 2048] [--epochs 2]
       [--threads 2] [--data-dir DIR] [--venv DIR] [--nnlab PATH] [--floor PATH] [--out DIR]
       bench/scaling.py --plot-only [--out DIR]     (redraws OUT/scaling.png from OUT/scaling.csv)
The data folder holds mnist/ (default: $NNLAB_DATA). Build both binaries first:
cargo build --release -p nnlab-runner -p nnlab-floor.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import describe  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--batches", type=int, nargs="+", default=[32, 128, 1024])
p.add_argument("--hiddens", type=int, nargs="+", default=[32, 512, 2048])
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--data-dir", default=os.environ.get("NNLAB_DATA"), help="folder holding mnist/ [default: $NNLAB_DATA]")
p.add_argument("--venv", default=os.path.expanduser("~/.cache/nnlab-peers-venv"))
p.add_argument("--nnlab", default=os.path.join(target, "release", "nnlab"))
p.add_argument("--floor", default=os.path.join(target, "release", "nnlab-floor"))
p.add_argument("--out", default=os.path.join(here, "results"), help="folder for scaling.{md,csv,png}")
p.add_argument("--plot-only", action="store_true", help="only redraw OUT/scaling.png from OUT/scaling.csv")
a = p.parse_args()
py = os.path.join(a.venv, "bin", "python")
draw = ("import csv, sys\n"
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nfrom matplotlib.ticker import FuncFormatter\n"
        "rows = list(csv.DictReader(open(sys.argv[1])))\n"
        "hiddens = sorted({int(r['hidden']) for r in rows})\n"
        "fig, axes = plt.subplots(1, len(hiddens), figsize=(5 * len(hiddens), 4.5), squeeze=False)\n"
        "plain = FuncFormatter(lambda v, _: f'{v:g}')\n"
        "for ax, h in zip(axes[0], hiddens):\n"
        "    rs = sorted((r for r in rows if int(r['hidden']) == h), key=lambda r: int(r['batch']))\n"
        "    x = [int(r['batch']) for r in rs]\n"
        "    for key, label, style in (('nnlab_s', 'nnlab', 'o-'), ('torch_s', 'PyTorch', 's-'), ('jax_s', 'JAX scan', '^-'), ('floor_s', 'floor (gemm + Adam)', 'k--')):\n"
        "        ax.plot(x, [float(r[key]) for r in rs], style, label=label)\n"
        "    ax.set_xscale('log', base=2); ax.set_yscale('log')\n"
        "    ax.set_xticks(x); ax.set_xticklabels([str(v) for v in x])\n"
        "    ax.yaxis.set_major_formatter(plain); ax.yaxis.set_minor_formatter(plain)\n"
        "    ax.set_title(f'784-{h}-10'); ax.set_xlabel('batch size'); ax.set_ylabel('seconds per epoch (log scale)')\n"
        "    ax.grid(True, which='both', alpha=0.3)\n"
        "axes[0][0].legend(title='framework')\n"
        "fig.suptitle('Article MLP on this CPU: seconds per epoch against batch size and hidden width')\n"
        "fig.tight_layout(); fig.savefig(sys.argv[2], dpi=100)\n")


def plot():
    png = os.path.join(a.out, "scaling.png")
    proc = subprocess.run([py, "-c", draw, os.path.join(a.out, "scaling.csv"), png], capture_output=True, text=True)
    if proc.returncode == 0:
        print(f"\nwrote {png}", file=sys.stderr)
    else:
        print(f"\nno plot ({proc.stderr.strip().splitlines()[-1]}): pip install matplotlib into {a.venv}", file=sys.stderr)


if a.plot_only:
    if not os.path.exists(os.path.join(a.out, "scaling.csv")):
        sys.exit(f"error: {os.path.join(a.out, 'scaling.csv')} not found: run the bench first")
    plot()
    sys.exit(0)
if a.epochs < 2:
    sys.exit("error: --epochs must be at least 2 (the last epoch is timed; JAX's first one compiles)")
if not a.data_dir:
    sys.exit("error: no data folder: pass --data-dir DIR (the folder holding mnist/) or set NNLAB_DATA")
data = os.path.abspath(a.data_dir)
for path, how in ((py, "make it with ../shared/peers/setup-venv.sh, or pass --venv DIR"),
                  (a.nnlab, "build it with cargo build --release, or pass --nnlab PATH"),
                  (a.floor, "build it with cargo build --release -p nnlab-floor, or pass --floor PATH")):
    if not os.path.exists(path):
        sys.exit(f"error: {path} not found: {how}")
os.makedirs(a.out, exist_ok=True)
env = dict(os.environ, MNIST_DIR=os.path.join(data, "mnist"), NNLAB_DATA=data, NNLAB_OFFLINE="1")


def run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return proc.stdout


def result(text):
    return json.loads(next(l for l in text.splitlines() if l.startswith("RESULT "))[7:])


def nnlab(b, h):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        run([a.nnlab, "train", "configs/article_mlp.toml", "--set", f"train.batch_size={b}",
             "--set", f"model.hidden=[{h}]", "--set", f"train.epochs={a.epochs}", "--out", out], root)
        with open(os.path.join(out, "metrics.csv")) as f:
            last = list(csv.DictReader(f))[-1]
        backend = json.load(open(os.path.join(out, "summary.json")))["backend"]
    return float(last["seconds"]), float(last["test_accuracy"]), backend


def torch(b, h):
    r = result(run([py, "torch_mlp_throughput.py", "--device", "cpu", "--batch-size", str(b), "--hidden", str(h),
                    "--epochs", str(a.epochs), "--threads", str(a.threads)], os.path.join(here, "peers")))
    return r["seconds"]


def jax(b, h):
    r = result(run([py, "jax_mlp_scan.py", "--batch-size", str(b), "--hidden", str(h), "--epochs", str(a.epochs),
                    "--threads", str(a.threads)], os.path.join(here, "peers")))
    return r["seconds"], r["test_accuracy"]


def floor(b, h):
    text = run([a.floor, "--batch", str(b), "--hidden", str(h)], root)
    return float(next(l for l in text.splitlines() if l.startswith("FLOOR_MS "))[9:]) / 1e3


rows = []
for h in a.hiddens:
    for b in a.batches:
        ours, acc, backend = nnlab(b, h)
        theirs = torch(b, h)
        xla, xla_acc = jax(b, h)
        fl = floor(b, h)
        rows.append(dict(batch=b, hidden=h, floor_s=fl, nnlab_s=ours, torch_s=theirs, jax_s=xla,
                         nnlab_acc=acc, jax_acc=xla_acc))
        print(f"batch {b}, hidden {h}: floor {fl:.3f} s, nnlab {ours:.3f} s (accuracy {acc:.4f}), "
              f"PyTorch {theirs:.3f} s, JAX scan {xla:.3f} s (accuracy {xla_acc:.4f})", file=sys.stderr, flush=True)

lines = [
    describe(a.threads),
    f"{a.epochs} epochs each, the last one timed; {os.cpu_count()} CPUs, {a.threads} threads for each framework; "
    f"nnlab backend {backend}; test accuracy after {a.epochs} epochs.",
    "",
    "| batch | hidden | floor s | nnlab s/epoch | PyTorch s/epoch | JAX scan s/epoch | nnlab / floor | PyTorch / nnlab | JAX / nnlab | test accuracy nnlab / JAX |",
    "|---|---|---|---|---|---|---|---|---|---|",
]
for r in rows:
    lines.append(
        f"| {r['batch']} | {r['hidden']} | {r['floor_s']:.3f} | {r['nnlab_s']:.3f} | {r['torch_s']:.3f} | {r['jax_s']:.3f} | "
        f"{r['nnlab_s'] / r['floor_s']:.1f}x | {r['torch_s'] / r['nnlab_s']:.2f}x | {r['jax_s'] / r['nnlab_s']:.2f}x | "
        f"{r['nnlab_acc']:.4f} / {r['jax_acc']:.4f} |")
within = [f"batch {r['batch']}, hidden {r['hidden']}" for r in rows if r["nnlab_s"] <= 2 * r["floor_s"]]
lines += ["", "nnlab within 2x of the floor: " + ("; ".join(within) if within else "nowhere") + "."]
table = "\n".join(lines)
print("\n" + table)
with open(os.path.join(a.out, "scaling.md"), "w") as f:
    f.write(table + "\n")
with open(os.path.join(a.out, "scaling.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)

plot()
