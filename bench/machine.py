"""The machine a bench ran on, in one line: CPU model, its vector units, cores and threads.

Every bench output starts with it, since speed ratios against the peers differ from one CPU to the
next (PyTorch's kernels use AVX-512 where there is one, as nnlab's gemm does with its x86-v4
feature).
"""
import os
import platform
import re

VECTOR_UNITS = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16",
                "avx512_vnni", "amx_tile", "amx_bf16", "neon", "asimd", "sve"]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            names = re.findall(r"^model name\s*:\s*(.*)$", f.read(), re.M)
        return names[0] if names else platform.processor()
    except OSError:
        return platform.processor() or "unknown CPU"


def vector_units():
    try:
        with open("/proc/cpuinfo") as f:
            flags = re.search(r"^(?:flags|Features)\s*:\s*(.*)$", f.read(), re.M)
    except OSError:
        return []
    have = set(flags.group(1).split()) if flags else set()
    return [v for v in VECTOR_UNITS if v in have]


def describe(threads=None):
    """`machine: AMD EPYC ..., vector units avx2 fma avx512f ..., 2 cores, 2 threads`."""
    units = " ".join(vector_units()) or "unknown"
    line = f"machine: {cpu_model()}, vector units {units}, {os.cpu_count()} cores"
    if threads is not None:
        line += f", {threads} threads"
    return line


if __name__ == "__main__":
    print(describe())
