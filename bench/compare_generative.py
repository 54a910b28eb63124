#!/usr/bin/env python3
"""Side-by-side speed (and the test figure) of nnlab's convolutional and generative models against
the same models in PyTorch on this CPU: the LeNet-5-style CNN of configs/lenet_1998.toml against
bench/peers/torch_lenet.py, the VAE of configs/vae_2014.toml against bench/peers/torch_vae.py
(PyTorch's VAE example) and the DCGAN of configs/dcgan_2016.toml against bench/peers/torch_dcgan.py.
Runs alternate (nnlab, PyTorch, nnlab, ...), one process each, same data, same thread count; prints
a markdown table of median seconds per epoch, peak RSS (from wait4), the test figure (the CNN's
accuracy, the VAE's -ELBO; the DCGAN has none) and PyTorch's time over nnlab's.

usage: bench/compare_generative.py [--seeds 1 2] [--cnn-epochs 2] [--vae-epochs 10]
       [--dcgan-epochs 2] [--data-dir DIR] [--venv DIR] [--nnlab PATH] [--only cnn vae dcgan]
The data folder holds mnist/ (default: $NNLAB_DATA). Build nnlab first: cargo build --release.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import describe  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--seeds", type=int, nargs="+", default=[1])
p.add_argument("--cnn-epochs", type=int, default=2)
p.add_argument("--vae-epochs", type=int, default=10)
p.add_argument("--dcgan-epochs", type=int, default=2)
p.add_argument("--data-dir", default=os.environ.get("NNLAB_DATA"), help="folder holding mnist/ [default: $NNLAB_DATA]")
p.add_argument("--venv", default=os.path.expanduser("~/.cache/nnlab-peers-venv"))
p.add_argument("--nnlab", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "nnlab"))
p.add_argument("--only", nargs="*", choices=["cnn", "vae", "dcgan"])
a = p.parse_args()
if not a.data_dir:
    sys.exit("error: no data folder: pass --data-dir DIR (the folder holding mnist/) or set NNLAB_DATA")
data = os.path.abspath(a.data_dir)
py = os.path.join(a.venv, "bin", "python")
if not os.path.exists(py):
    sys.exit(f"error: no Python venv with PyTorch at {a.venv}: make it with ../shared/peers/setup-venv.sh, or pass --venv DIR")
if not os.path.exists(a.nnlab):
    sys.exit(f"error: {a.nnlab} not found: build it with cargo build --release, or pass --nnlab PATH")
env = dict(os.environ, MNIST_DIR=os.path.join(data, "mnist"), NNLAB_DATA=data, NNLAB_OFFLINE="1")


def run(cmd, cwd):
    """Runs cmd; returns (output, peak RSS in MB of that process)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if code != 0:
        sys.exit(f"{' '.join(cmd)} failed ({code}):\n{text[-3000:]}")
    return text, usage.ru_maxrss / 1024.0


def nnlab(config, epochs):
    def job(seed):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "run")
            _, rss = run([a.nnlab, "train", config, "--seed", str(seed), "--set", f"train.epochs={epochs}", "--out", out], root)
            s = json.load(open(os.path.join(out, "summary.json")))
        figure = -s["test_elbo"] if "test_elbo" in s else s.get("test_accuracy")
        return dict(s_epoch=s["seconds_per_epoch"], figure=figure, rss=rss, backend=s["backend"])
    return job


def torch(script, epochs):
    def job(seed):
        text, rss = run([py, script, str(seed), "--epochs", str(epochs)], os.path.join(here, "peers"))
        r = json.loads(next(l for l in text.splitlines() if l.startswith("RESULT "))[7:])
        figure = r.get("test_accuracy", r.get("test_loss"))
        return dict(s_epoch=r["epoch_s_median"], figure=figure, rss=rss)
    return job


pairs = {
    "cnn": ("LeNet-5-style CNN, batch 32 (test accuracy)", nnlab("configs/lenet_1998.toml", a.cnn_epochs), torch("torch_lenet.py", a.cnn_epochs), a.cnn_epochs),
    "vae": ("VAE 784-400-20, batch 128 (test -ELBO)", nnlab("configs/vae_2014.toml", a.vae_epochs), torch("torch_vae.py", a.vae_epochs), a.vae_epochs),
    "dcgan": ("DCGAN 28x28 (32/64 maps), batch 128", nnlab("configs/dcgan_2016.toml", a.dcgan_epochs), torch("torch_dcgan.py", a.dcgan_epochs), a.dcgan_epochs),
}
rows = []
for name in a.only or list(pairs):
    label, ours, theirs, epochs = pairs[name]
    res = {"nnlab": [], "torch": []}
    for seed in a.seeds:
        for who, job in (("nnlab", ours), ("torch", theirs)):
            r = job(seed)
            res[who].append(r)
            print(f"{name} seed {seed} {who}: {r['s_epoch']:.2f} s/epoch, {r['rss']:.0f} MB" + (f", test figure {r['figure']:.4f}" if r["figure"] is not None else ""), file=sys.stderr, flush=True)
    rows.append((label, epochs, res))

backend = rows[0][2]["nnlab"][0]["backend"] if rows else "?"
print(f"\n{describe(os.cpu_count())}")
print(f"seeds {a.seeds}, {os.cpu_count()} CPUs, PyTorch {os.cpu_count()} threads; seconds: medians over seeds, test figures: their mean, peak RSS: the largest; nnlab backend {backend}.\n")
print("| model | epochs | nnlab s/epoch | PyTorch s/epoch | PyTorch / nnlab | nnlab peak RSS (MB) | PyTorch peak RSS (MB) | nnlab test figure | PyTorch test figure |")
print("|---|---|---|---|---|---|---|---|---|")
for label, epochs, res in rows:
    med = lambda who, k: statistics.median(r[k] for r in res[who])
    figure = lambda who: f"{statistics.mean(r['figure'] for r in res[who]):.4f}" if res[who][0]["figure"] is not None else "-"
    n, t = med("nnlab", "s_epoch"), med("torch", "s_epoch")
    print(f"| {label} | {epochs} | {n:.2f} | {t:.2f} | {t / n:.2f}x | {max(r['rss'] for r in res['nnlab']):.0f} | {max(r['rss'] for r in res['torch']):.0f} | {figure('nnlab')} | {figure('torch')} |")
