#!/usr/bin/env python3
"""Runs every bad input we know of through the real `nnlab` binary and writes docs/errors.md:
the input, the exit code and the one-line message. Each case is also asserted by a test
(tests/cli.rs, crates/*/src); this script shows users what they will see.

usage: bench/error_table.py [--nnlab PATH]   (build first: cargo build --release)
"""
import argparse, fcntl, gzip, os, re, shutil, struct, subprocess, sys, tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
p = argparse.ArgumentParser()
p.add_argument("--nnlab", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "nnlab"))
a = p.parse_args()

tmp = tempfile.mkdtemp()
env = dict(os.environ, NNLAB_DATA=tmp, NNLAB_OFFLINE="1")


def idx_images(n, r=4, c=4):
    return bytes([0, 0, 8, 3]) + struct.pack(">III", n, r, c) + bytes((i * 37) % 256 for i in range(n * r * c))


def idx_labels(labels):
    return bytes([0, 0, 8, 1]) + struct.pack(">I", len(labels)) + bytes(labels)


def dataset(name, train=None, train_labels=None, n=40):
    d = os.path.join(tmp, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    files = {
        "train-images-idx3-ubyte.gz": gzip.compress(idx_images(n)) if train is None else train,
        "train-labels-idx1-ubyte.gz": gzip.compress(idx_labels([i % 10 for i in range(n)])) if train_labels is None else train_labels,
        "t10k-images-idx3-ubyte.gz": gzip.compress(idx_images(10)),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_labels(list(range(10)))),
    }
    for f, b in files.items():
        if b is not None:
            open(os.path.join(d, f), "wb").write(b)
    return d


def config(text, name="c.toml"):
    path = os.path.join(tmp, name)
    open(path, "w").write(text)
    return path


good = config('name = "t"\n[data]\ndataset = "tiny"\n[train]\nepochs = 1\nbatch_size = 8\n', "good.toml")
rows = []


def case(group, what, args, setup=None):
    if setup:
        setup()
    out = subprocess.run([a.nnlab, *args], env=env, capture_output=True, text=True, cwd=root)
    msg = out.stderr.strip().replace(tmp, "$TMP").replace("|", "\\|")
    # A live lock names its process: the id changes with every run, so it is written as PID.
    msg = re.sub(r"by process \d+", "by process PID", msg)
    lines = msg.count("\n") + 1
    rows.append((group, what, out.returncode, msg.splitlines()[0] if msg else "(none)", lines))


tiny = lambda: dataset("tiny")
S = lambda kv: ["train", good, "--set", kv]
case("config", "unknown key in a table", S("train.lrr=0.1"), tiny)
case("config", "unknown top-level key", ["train", config('name = "t"\nepoch = 3\n')])
case("config", "key in the wrong table", ["train", config('name = "t"\n[model]\nepochs = 3\n')])
case("config", "wrong type", S("train.lr=fast"))
case("config", "learning rate 0", S("train.lr=0"))
case("config", "negative learning rate", S("train.lr=-1"))
case("config", "infinite learning rate", S("train.lr=inf"))
case("config", "batch size 0", S("train.batch_size=0"))
case("config", "negative batch size", S("train.batch_size=-3"))
case("config", "0 epochs", S("train.epochs=0"))
case("config", "unknown activation", S("model.activation=swish"))
case("config", "validation fraction out of range", S("data.validation=1.5"))
case("config", "hidden layer of width 0", S("model.hidden=[32, 0]"))
case("config", "a typo in a key", S("train.epoch=3"))
case("config", "unknown model kind", S("model.kind=mpl"))
case("config", "beta1 = 1", S("train.adam.beta1=1"))
case("config", "another optimizer's settings", S("train.optimizer=sgd") + ["--set", "train.adam.beta1=0.5"])
case("config", "a key of an older config (moved)", S("train.beta1=0.5"))
case("config", "an optimizer name of an older config", S("train.optimizer=momentum"))
case("config", "dropout rates and hidden layers disagree", S("model.dropout=[0.1, 0.2]"))
case("config", "early stopping without a validation split", S("train.early_stopping.patience=2"))
case("config", "unsafe name (path)", S("name=../x"))
case("config", "manual engine with an optimizer it lacks", S("train.engine=manual") + ["--set", "train.optimizer=rmsprop"])
case("config", "missing name", ["train", config("[train]\nepochs = 1\n")])
case("config", "not TOML", ["train", config('name = "t"\n[train\n')])
case("config", "config file missing", ["train", os.path.join(tmp, "none.toml")])
case("CLI", "--set without =", S("noequals"))
case("CLI", "--set into a value", S("name.x=1"))
case("config+data", "batch larger than the training set", S("train.batch_size=64"))
case("data", "dataset folder missing (offline)", ["train", config('name = "m"\n', "m.toml")])
case("data", "unknown dataset, no files", S("data.dataset=nothere"))
case("data", "truncated gzip", ["train", good], lambda: dataset("tiny", train=gzip.compress(idx_images(40))[:200]))
case("data", "truncated raw file", ["train", good], lambda: dataset("tiny", train=idx_images(40)[:-10]))
case("data", "wrong magic number", ["train", good], lambda: dataset("tiny", train=b"\x1f\x00" + idx_images(40)[2:]))
case("data", "wrong element type", ["train", good], lambda: dataset("tiny", train=b"\x00\x00\x0d\x03" + idx_images(40)[4:]))
case("data", "labels file given as images", ["train", good], lambda: dataset("tiny", train=gzip.compress(idx_labels([1, 2]))))
case("data", "image/label count mismatch", ["train", good], lambda: dataset("tiny", train_labels=gzip.compress(idx_labels([1] * 39))))
case("data", "images file with no images", ["train", good], lambda: dataset("tiny", train=gzip.compress(idx_images(0))))
case("data", "gzip that inflates past its header (bomb)", ["train", good],
     lambda: dataset("tiny", train=gzip.compress(idx_images(40) + bytes(8 << 20))))
case("data", "MNIST file that is not MNIST's", ["train", config('name = "m"\n', "m.toml")], lambda: dataset("mnist"))
def raw_fashion_mnist():
    d = dataset("fashion-mnist")
    for f, b in {"train-images-idx3-ubyte": idx_images(40), "train-labels-idx1-ubyte": idx_labels([i % 10 for i in range(40)])}.items():
        os.remove(os.path.join(d, f + ".gz"))
        open(os.path.join(d, f), "wb").write(b)


case("data", "uncompressed Fashion-MNIST file that is not Zalando's", ["train", good, "--set", "data.dataset=fashion-mnist"], raw_fashion_mnist)
run_dir = os.path.join(tmp, "run")
case("run folder", "--out exists and is not empty", ["train", good, "--out", tmp], tiny)
open(os.path.join(tmp, "a-file"), "w").write("x")
case("run folder", "--out under a file (unwritable)", ["train", good, "--out", os.path.join(tmp, "a-file", "run")])
case("run folder", "eval of a folder that is no run", ["eval", tmp])
case("run folder", "resume of a folder that is no run", ["train", "--resume", os.path.join(tmp, "nope")])
subprocess.run([a.nnlab, "train", good, "--out", run_dir], env=env, capture_output=True)


def corrupt_checkpoint():
    latest = open(os.path.join(run_dir, "checkpoint", "latest")).read().strip()
    open(os.path.join(run_dir, "checkpoint", latest, "model.bpk"), "wb").write(b"garbage")


case("checkpoint", "corrupt model checkpoint", ["eval", run_dir], corrupt_checkpoint)
lock = open(os.path.join(run_dir, ".lock"), "a")
fcntl.flock(lock, fcntl.LOCK_EX)  # this script holds the run's OS lock, as a live run would
lock.truncate(0)
lock.write(f"{os.getpid()}\n")
lock.flush()
case("checkpoint", "run folder in use by a live process", ["train", "--resume", run_dir])
fcntl.flock(lock, fcntl.LOCK_UN)
case("checkpoint", "checkpoint/latest names a missing checkpoint", ["train", "--resume", run_dir],
     lambda: open(os.path.join(run_dir, "checkpoint", "latest"), "w").write("epoch-7\n"))
case("training", "diverging run (NaN loss)", S("train.lr=1e30") + ["--set", "train.optimizer=sgd", "--set", "train.log_every=1", "--out", os.path.join(tmp, "nan")], tiny)

out = ["# Bad input and what nnlab says\n",
       "Generated by `bench/error_table.py` from the real binary (paths shortened to `$TMP`, process ids to `PID`). Every case exits",
       "non-zero with one line on stderr and no panic; the tests in `tests/cli.rs` and the crates assert them.\n",
       "| # | kind | input | exit | message |", "|---|---|---|---|---|"]
for i, (g, w, code, msg, lines) in enumerate(rows, 1):
    out.append(f"| {i} | {g} | {w} | {code} | {msg} |" + ("" if lines == 1 else f" ({lines} lines!)"))
open(os.path.join(root, "docs", "errors.md"), "w").write("\n".join(out) + "\n")
bad = [r for r in rows if r[2] == 0 or r[4] != 1 or "panicked" in r[3]]
print(f"{len(rows)} cases written to docs/errors.md; {len(bad)} not one-line failures")
for r in bad:
    print(r)
shutil.rmtree(tmp)
sys.exit(1 if bad else 0)
