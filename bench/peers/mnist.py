"""MNIST from the four IDX files (gzip or raw) under a folder, as float32 arrays in [0, 1]."""
import gzip
import os

import numpy as np


def _read(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            raw = open(p, "rb").read()
            return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    raise SystemExit(f"missing {path}[.gz]")


def load(folder):
    """(train_x [60000, 784], train_y, test_x [10000, 784], test_y)."""
    def images(name):
        b = _read(os.path.join(folder, name))
        n = int.from_bytes(b[4:8], "big")
        return np.frombuffer(b, np.uint8, offset=16).reshape(n, 784).astype(np.float32) / 255.0

    def labels(name):
        return np.frombuffer(_read(os.path.join(folder, name)), np.uint8, offset=8).astype(np.int64)

    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))
