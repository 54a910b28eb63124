"""A system BLAS against the gemm crate on a step's own matrix shapes.

Reads the products of an `nnlab-floor` output (its table: each product's shape, the time the gemm
crate takes on one thread, on all threads and, for a convolution's, one product per thread at
once) and times the same shapes with the BLAS that NumPy links (OpenBLAS in the PyPI wheels, with
its kernels for this CPU), on one thread and on all, in fresh processes. Prints a markdown table
with the gemm crate's best, the BLAS's best and their ratio per product, and the step's total
each way (each product as many times as the step computes it).

Two differences favour the gemm crate and are left in: the BLAS reads every operand row-major,
where a step's gradient products read one transposed (the floor's table does not say which);
and the gemm crate's best includes the floor's one-product-per-thread column (how nnlab runs
convolutions and large dense products), which the BLAS is not given.

usage (the peers' venv, which has NumPy):
  python bench/blas_shapes.py bench/results/floor-dcgan-REV.txt [--reps N]
"""

import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import machine  # noqa: E402

TIMER = r"""
import json, sys, time
import numpy as np
shapes = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
out = []
for m, k, n in shapes:
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    reps = max(3, min(20000, int(2e8 / (2 * m * k * n))))
    for _ in range(reps):
        np.matmul(a, b, out=c)
    times = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        times.append((time.perf_counter() - t) / reps)
    out.append(sorted(times)[3])
print(json.dumps(out))
"""


def floor_rows(path):
    """(name, count, m, k, n, gemm's best seconds) for each product row of a floor table."""
    rows = []
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 7 or not re.fullmatch(r"\d+ x \d+ x \d+", cells[1]):
            continue
        m, k, n = (int(v) for v in cells[1].split(" x "))
        times = [float(c) * 1e-6 for c in cells[4:-1] if c not in ("-", "")]
        rows.append((cells[0], int(cells[2]), m, k, n, min(times)))
    return rows


def blas_times(shapes, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    done = subprocess.run([sys.executable, "-c", TIMER, json.dumps(shapes)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("floor", help="an nnlab-floor output (bench/results/floor-*.txt)")
    a = p.parse_args()
    rows = floor_rows(a.floor)
    if not rows:
        sys.exit(f"error: {a.floor}: no product rows (is it an nnlab-floor output?)")
    import numpy as np
    blas = next((lib for lib in ("openblas", "mkl", "blis", "accelerate")
                 if lib in json.dumps(np.show_config(mode="dicts")).lower()), "unknown")
    threads = len(os.sched_getaffinity(0))
    shapes = [[m, k, n] for _, _, m, k, n, _ in rows]
    one, all_ = blas_times(shapes, 1), blas_times(shapes, threads)
    print(f"# python bench/blas_shapes.py {a.floor}")
    print(f"# {machine.describe()}; NumPy {np.__version__} with {blas}, {threads} threads")
    print()
    print("| product | shape (m x k x n) | per step | gemm crate best us | BLAS 1 thread us | BLAS all threads us | gemm / BLAS |")
    print("|---|---|---|---|---|---|---|")
    total_gemm = total_blas = 0.0
    for (name, count, m, k, n, gemm), t1, ta in zip(rows, one, all_):
        best = min(t1, ta)
        total_gemm += count * gemm
        total_blas += count * best
        print(f"| {name} | {m} x {k} x {n} | {count} | {gemm * 1e6:.2f} | {t1 * 1e6:.2f} | {ta * 1e6:.2f} | {gemm / best:.2f} |")
    print()
    print(f"step's products: gemm crate {total_gemm * 1e6:.1f} us, BLAS {total_blas * 1e6:.1f} us "
          f"(gemm / BLAS {total_gemm / total_blas:.2f}; above 1 the BLAS is faster)")


if __name__ == "__main__":
    main()
