#!/usr/bin/env python3
"""Runs every runnable shell block of the nnlab book, in the order of its SUMMARY.md.

A runnable block is fenced as ```sh,run. Each block runs in bash (-euo pipefail) in a scratch
copy of the repository's configs/ and experiments/ (so a study's --report-only cannot touch the
committed records), with the nnlab under test first on PATH and the data root set. A ```text,output
block right after a runnable block quotes its output: every line of the quote, except `...`, must
appear in the block's output, in order. A block that fails, or whose quote differs, fails the run.

usage: docs/book/run_commands.py --nnlab PATH --data-dir DIR [--keep]
"""
import argparse, os, re, shutil, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--nnlab", required=True, help="the nnlab binary under test")
p.add_argument("--data-dir", required=True, help="the data root holding mnist/")
p.add_argument("--keep", action="store_true", help="keep the scratch folder and say where it is")
a = p.parse_args()

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.S | re.M)


def chapters():
    summary = open(os.path.join(here, "src", "SUMMARY.md")).read()
    return [m for m in re.findall(r"\]\(([^)]+\.md)\)", summary)]


def blocks(path):
    """(runnable command, quoted output or None) pairs of one chapter."""
    found = list(FENCE.finditer(open(path).read()))
    out = []
    for k, m in enumerate(found):
        if m.group(1).strip() != "sh,run":
            continue
        quote = None
        if k + 1 < len(found) and found[k + 1].group(1).strip() == "text,output":
            quote = found[k + 1].group(2)
        out.append((m.group(2), quote))
    return out


def quoted_lines_appear(quote, output):
    lines = output.splitlines()
    at = 0
    for want in quote.splitlines():
        if want.strip() in ("", "..."):
            continue
        while at < len(lines) and lines[at].rstrip() != want.rstrip():
            at += 1
        if at == len(lines):
            return want
        at += 1
    return None


nnlab = os.path.abspath(a.nnlab)
data = os.path.abspath(a.data_dir)
scratch = tempfile.mkdtemp(prefix="nnlab-book-")
for folder in ("configs", "experiments"):
    # The records only: checkpoints (not committed, but a machine that trained has them) stay.
    shutil.copytree(os.path.join(root, folder), os.path.join(scratch, folder),
                    ignore=shutil.ignore_patterns("checkpoint", "*.log", ".lock"))
bindir = os.path.join(scratch, ".bin")
os.makedirs(bindir)
os.symlink(nnlab, os.path.join(bindir, "nnlab"))
env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"], NNLAB_DATA=data, NNLAB_OFFLINE="1")

failed, ran = [], 0
for chapter in chapters():
    for n, (command, quote) in enumerate(blocks(os.path.join(here, "src", chapter)), 1):
        start = time.perf_counter()
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=scratch, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ran += 1
        what = f"{chapter} block {n}"
        secs = time.perf_counter() - start
        if proc.returncode != 0:
            failed.append(what)
            print(f"FAILED {what} (exit {proc.returncode}, {secs:.1f} s):\n{command}\n--- output:\n{proc.stdout}")
            continue
        missing = quoted_lines_appear(quote, proc.stdout) if quote is not None else None
        if missing is not None:
            failed.append(what)
            print(f"FAILED {what}: the quoted line {missing!r} is not in its output:\n{proc.stdout}")
            continue
        print(f"ok {what} ({secs:.1f} s)")

if a.keep:
    print(f"scratch folder kept: {scratch}")
else:
    shutil.rmtree(scratch)
print(f"{ran - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed or ran == 0 else 0)
