"""How far the DCGAN's steps drift with f32 rounding: nnlab and its PyTorch twin, each in f32 and
in f64, from the same initial weights, batches and noise, against PyTorch's f64 replay.

The adversarial game magnifies the last digits' differences step after step, so two f32 programs
(or one f32 program and the exact steps) part ways within tens of steps; in f64 the same
magnification starts from differences 10^9 times smaller. The table gives, for each pair, the
largest relative difference between the two runs' discriminator losses up to each step.

usage (the peers' venv, shared/peers/setup-venv.sh):
  python bench/peers/torch_steps_drift.py --nnlab NNLAB_BIN --data MNIST_ROOT [--config C] [--steps N]
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import machine  # noqa: E402


def losses(path, column):
    with open(path) as f:
        return [float(r[column]) for r in csv.DictReader(f)]


def largest_gap(a, b, upto):
    return max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a[:upto], b[:upto]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nnlab", required=True)
    p.add_argument("--data", required=True, help="folder holding mnist/")
    p.add_argument("--config", default=os.path.join(ROOT, "configs", "dcgan_2016.toml"))
    p.add_argument("--steps", type=int, default=100)
    a = p.parse_args()
    import tomllib
    batch = tomllib.load(open(a.config, "rb"))["train"]["batch_size"]
    steps_py = os.path.join(HERE, "torch_steps.py")
    with tempfile.TemporaryDirectory() as work:
        init = os.path.join(work, "init.safetensors")
        subprocess.run([sys.executable, steps_py, "init", a.config, "--out", init, "--seed", "1"],
                       check=True)
        runs = {}
        for dtype in ("f32", "f64"):
            run = os.path.join(work, f"nnlab-{dtype}")
            subprocess.run(
                [a.nnlab, "train", a.config, "--set", f"train.init_from={init}",
                 "--set", f"data.limit_train={a.steps * batch}", "--set", "data.validation=0",
                 "--set", "data.limit_test=1000", "--set", "train.epochs=1",
                 "--set", f"train.float_dtype={dtype}", "--trace", "--out", run],
                check=True, stdout=subprocess.DEVNULL, env={**os.environ, "NNLAB_DATA": a.data})
            runs[f"nnlab {dtype}"] = losses(os.path.join(run, "trace", "steps.csv"), "d_loss")
        for name in ("order.txt", "noise.f32"):
            same = [open(os.path.join(work, f"nnlab-{d}", "trace", name), "rb").read()
                    for d in ("f32", "f64")]
            if same[0] != same[1]:
                raise SystemExit(f"the f32 and f64 runs fed different {name}")
        for dtype, flag in (("f32", []), ("f64", ["--double"])):
            out = os.path.join(work, f"torch-{dtype}.csv")
            subprocess.run([sys.executable, steps_py, "replay", os.path.join(work, "nnlab-f32"),
                            "--init", init, "--losses", out, "--data",
                            os.path.join(a.data, "mnist")] + flag, check=True)
            runs[f"PyTorch {dtype}"] = losses(out, "loss")
    import torch
    print(machine.describe())
    print(f"config: {os.path.relpath(a.config, ROOT)}, {a.steps} steps of {batch}; "
          f"PyTorch {torch.__version__}, 1 thread")
    pairs = [("PyTorch f32", "PyTorch f64"), ("nnlab f32", "PyTorch f64"),
             ("nnlab f32", "PyTorch f32"), ("nnlab f64", "PyTorch f64")]
    marks = [k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500) if k <= a.steps]
    print("largest relative difference of the discriminator's loss up to step k")
    print(f"{'pair':<28}" + "".join(f"{'k=' + str(k):>10}" for k in marks))
    for x, y in pairs:
        print(f"{x + ' vs ' + y:<28}"
              + "".join(f"{largest_gap(runs[x], runs[y], k):>10.1e}" for k in marks))


if __name__ == "__main__":
    main()
