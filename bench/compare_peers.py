#!/usr/bin/env python3
"""Side-by-side speed, memory and accuracy of the article job: nnlab against the peer scripts.

Runs, one after the other on the same quiet machine, for each seed:
  nnlab train configs/article_mlp.toml            (release binary, backend of its build)
  torch_mlp.py --feed tensor / --feed dataloader  (PyTorch's fastest and its usual way)
  keras_mlp.py                                    (the article's code)
  numpy_mlp.py                                    (by hand)
  jax_mlp.py --mode scan / --mode step            (a whole epoch as one XLA program; one per step)
  and bench/peers/jax_mlp_scan.py                 (the epoch program gathering each batch on the
                                                   device: faster; it times its last epoch only)
and prints a markdown table: median seconds per epoch, start-up (process start to the first
batch: nnlab records it, and the seconds it spent loading and checking the data, in its
summary.json; for a peer it is the process's wall time less its epochs and its evaluation, as
its RESULT line reports them), peak RSS of each process (from wait4), test accuracy, and nnlab's
speed-up over each peer.

usage: bench/compare_peers.py [--seeds 1 2] [--epochs 10] [--data-dir DIR] [--peers ../shared/peers]
                              [--venv ~/.cache/nnlab-peers-venv] [--nnlab PATH] [--only nnlab torch-tensor ...]
The data folder holds mnist/ (as for nnlab: --data-dir, else $NNLAB_DATA). Build nnlab first:
cargo build --release (CARGO_TARGET_DIR decides where the binary is).
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import describe  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--seeds", type=int, nargs="+", default=[1])
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--peers", default=os.path.join(root, "..", "shared", "peers"))
p.add_argument("--venv", default=os.path.expanduser("~/.cache/nnlab-peers-venv"))
p.add_argument("--nnlab", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "nnlab"))
p.add_argument("--data-dir", default=os.environ.get("NNLAB_DATA"), help="folder holding mnist/ [default: $NNLAB_DATA]")
JOBS = ["nnlab", "torch-tensor", "torch-dataloader", "keras", "numpy", "jax-scan", "jax-scan-gather", "jax-step"]
p.add_argument("--only", nargs="*", metavar="JOB", help="subset of jobs to run: " + ", ".join(JOBS))
a = p.parse_args()
unknown = [n for n in (a.only or []) if n not in JOBS]
if unknown:
    sys.exit(f"error: --only {' '.join(unknown)}: no such job; the jobs are: {', '.join(JOBS)}")

if not a.data_dir:
    sys.exit("error: no data folder: pass --data-dir DIR (the folder holding mnist/) or set NNLAB_DATA")
data = os.path.abspath(a.data_dir)
if not os.path.isdir(os.path.join(data, "mnist")):
    sys.exit(f"error: {data} holds no mnist/ folder")
py = os.path.join(a.venv, "bin", "python")
peers = os.path.abspath(a.peers)
env = dict(os.environ, MNIST_DIR=os.path.join(data, "mnist"), NNLAB_DATA=data, NNLAB_OFFLINE="1")


def run(cmd, cwd):
    """Runs cmd; returns (stdout, peak RSS in MB of that process, its wall seconds)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{text[-3000:]}")
    return text, usage.ru_maxrss / 1024.0, wall


def nnlab(seed):
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = os.path.join(tmp, "run")
        _, rss, _ = run([a.nnlab, "train", "configs/article_mlp.toml", "--seed", str(seed), "--set", f"train.epochs={a.epochs}", "--out", run_dir], root)
        s = json.load(open(os.path.join(run_dir, "summary.json")))
    return dict(s_epoch=s["seconds_per_epoch"], acc=s["test_accuracy"], rss=rss, label=f"nnlab ({s['backend']})",
                startup=s.get("startup_seconds"), data=s.get("data_seconds"))


def peer(script, *args, label):
    def job(seed):
        text, rss, wall = run([py, script, str(seed), "--epochs", str(a.epochs), *args], peers)
        r = json.loads(next(l for l in text.splitlines() if l.startswith("RESULT "))[7:])
        # Everything but the epochs and the evaluation: interpreter, imports, data, model.
        startup = wall - sum(r["epoch_s"]) - r.get("eval_s", 0.0) if "epoch_s" in r else None
        return dict(s_epoch=r["epoch_s_median"], acc=r["test_acc"], rss=rss, label=label, startup=startup, data=None)
    return job


def jax_gather(seed):
    """bench/peers/jax_mlp_scan.py: the epoch as one XLA program that gathers each batch on the
    device (the fastest JAX variant found here); it times only its last epoch."""
    script = os.path.join(here, "peers", "jax_mlp_scan.py")
    text, rss, _ = run([py, script, "--seed", str(seed), "--epochs", str(a.epochs), "--threads", "2"], peers)
    r = json.loads(next(l for l in text.splitlines() if l.startswith("RESULT "))[7:])
    return dict(s_epoch=r["seconds"], acc=r["test_accuracy"], rss=rss, startup=None, data=None,
                label="JAX, one compiled epoch gathering batches on the device (last epoch)"
                + (" (with compilation: use --epochs 2 or more)" if a.epochs < 2 else ""))


jobs = {
    "nnlab": nnlab,
    "torch-tensor": peer("torch_mlp.py", "--feed", "tensor", label="PyTorch, tensor slicing"),
    "torch-dataloader": peer("torch_mlp.py", "--feed", "dataloader", label="PyTorch, DataLoader"),
    "keras": peer("keras_mlp.py", label="Keras (article code)"),
    "numpy": peer("numpy_mlp.py", label="NumPy by hand"),
    "jax-scan": peer("jax_mlp.py", "--mode", "scan", label="JAX, one compiled epoch (lax.scan)"),
    "jax-scan-gather": jax_gather,
    "jax-step": peer("jax_mlp.py", "--mode", "step", label="JAX, one compiled call per step"),
}
assert list(jobs) == JOBS
names = a.only or JOBS
if any(n != "nnlab" for n in names) and not os.path.exists(py):
    sys.exit(f"error: no Python venv with the peer frameworks at {a.venv}: make it with ../shared/peers/setup-venv.sh, or pass --venv DIR")
if "nnlab" in names and not os.path.exists(a.nnlab):
    sys.exit(f"error: {a.nnlab} not found: build it with cargo build --release, or pass --nnlab PATH")
results = {n: [] for n in names}
for seed in a.seeds:
    for n in names:
        r = jobs[n](seed)
        results[n].append(r)
        print(f"seed {seed} {n}: {r['s_epoch']:.3f} s/epoch, {r['rss']:.0f} MB, acc {r['acc']:.4f}", file=sys.stderr, flush=True)

base = statistics.median(r["s_epoch"] for r in results["nnlab"]) if "nnlab" in results else None
print(f"\n{describe(2)}")
print(f"{a.epochs} epochs, seeds {a.seeds}, {os.cpu_count()} CPUs; seconds: medians over seeds, test accuracy: their mean, peak RSS: the largest.\n")
print("| job | s/epoch | start-up to first batch (s) | of which data loading (s) | peak RSS (MB) | test accuracy | nnlab speed-up |")
print("|---|---|---|---|---|---|---|")
for n in names:
    rs = results[n]
    s = statistics.median(r["s_epoch"] for r in rs)
    rss = max(r["rss"] for r in rs)
    acc = statistics.mean(r["acc"] for r in rs)
    ratio = f"{s / base:.1f}x" if base else "-"
    def med(key):
        vals = [r[key] for r in rs if r.get(key) is not None]
        return f"{statistics.median(vals):.2f}" if vals else "-"
    print(f"| {rs[0]['label']} | {s:.3f} | {med('startup')} | {med('data')} | {rss:.0f} | {100 * acc:.2f} % | {ratio} |")
