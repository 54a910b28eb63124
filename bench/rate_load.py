#!/usr/bin/env python3
"""Load on the rating server: raters at once over loopback, each making the page's requests.

Starts `nnlab rate` on a study folder that holds only a rating pool (made here, in a temporary
folder), then runs RATERS threads, each making CHOICES choices the way the page does: GET /pair,
then POST /choice with the pair's id, over a new connection each (as `Connection: close`). It
prints the machine (CPU model, cores), the choices per second over the whole run, and the p50 and
p99 latency of a choice (the POST alone, which waits for the row to be fsynced) and of a pair,
then checks that every acknowledged choice is in ratings.csv exactly once.

usage: bench/rate_load.py [--raters 20] [--choices 100] [--nnlab PATH]
Build nnlab first: cargo build --release (CARGO_TARGET_DIR decides where the binary is).
"""
import argparse, csv, http.client, json, os, re, statistics, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import describe  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--raters", type=int, default=20)
p.add_argument("--choices", type=int, default=100, help="choices per rater")
p.add_argument("--nnlab", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "nnlab"))
a = p.parse_args()
if not os.path.isfile(a.nnlab):
    sys.exit(f"error: {a.nnlab} not found: build it with cargo build --release, or pass --nnlab")


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


study = tempfile.mkdtemp(prefix="nnlab-rate-load-")
pool = os.path.join(study, "report", "pool")
os.makedirs(pool)
ids = [f"set{s}-{i}" for s in range(4) for i in range(10)]
with open(os.path.join(pool, "ids.txt"), "w") as f:
    f.write("\n".join(ids) + "\n")
for i in ids:
    with open(os.path.join(pool, f"{i}.png"), "wb") as f:
        f.write(b"\x89PNG placeholder")

server = subprocess.Popen([a.nnlab, "rate", study, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
url = None
for line in server.stdout:
    m = re.search(r"http://(127\.0\.0\.1):(\d+)/\?token=([0-9a-f]+)", line)
    if m:
        host, port, token = m.group(1), int(m.group(2)), m.group(3)
        break
else:
    sys.exit("error: nnlab rate printed no URL")
threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
origin = f"http://{host}:{port}"
headers = {"Host": f"{host}:{port}", "Cookie": f"nnlab_rate={token}", "Connection": "close"}

pair_ms, choice_ms, acked, failed = [], [], [], []
lock = threading.Lock()


def rater(r):
    for _ in range(a.choices):
        t0 = time.perf_counter()
        c = http.client.HTTPConnection(host, port, timeout=30)
        c.request("GET", "/pair", headers=headers)
        pair = json.loads(c.getresponse().read())
        c.close()
        t1 = time.perf_counter()
        body = f"pair={pair['id']}&rater=load{r}&chosen={pair['left']}&ms=500"
        c = http.client.HTTPConnection(host, port, timeout=30)
        c.request("POST", "/choice", body=body, headers=dict(headers, Origin=origin, **{"Content-Type": "application/x-www-form-urlencoded"}))
        status = c.getresponse().status
        c.close()
        t2 = time.perf_counter()
        with lock:
            pair_ms.append((t1 - t0) * 1000)
            choice_ms.append((t2 - t1) * 1000)
            (acked if status == 200 else failed).append(pair["id"])


start = time.perf_counter()
threads = [threading.Thread(target=rater, args=(r,)) for r in range(a.raters)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - start
server.terminate()
server.wait()
with open(os.path.join(study, "ratings.csv")) as f:
    recorded = [row["pair"] for row in csv.DictReader(f)]

rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
print(f"# nnlab rate under load: {a.raters} raters x {a.choices} choices, loopback")
print(f"{describe()}; nnlab at {rev or 'unknown'}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
print(f"study folder on: {subprocess.run(['df', '--output=fstype', study], capture_output=True, text=True).stdout.split()[-1]}")
print()
print("| what | figure |")
print("|---|---|")
print(f"| choices acknowledged | {len(acked)} of {a.raters * a.choices} ({len(failed)} refused) |")
print(f"| choices per second (pair + choice, whole run) | {len(acked) / wall:.0f} |")
print(f"| choice latency p50 / p99 (POST, fsync included) | {percentile(choice_ms, 50):.1f} / {percentile(choice_ms, 99):.1f} ms |")
print(f"| pair latency p50 / p99 | {percentile(pair_ms, 50):.1f} / {percentile(pair_ms, 99):.1f} ms |")
print(f"| rows in ratings.csv | {len(recorded)} ({len(set(recorded))} distinct pairs) |")
ok = sorted(recorded) == sorted(acked)
print(f"| every acknowledged choice recorded exactly once | {'yes' if ok else 'NO'} |")
sys.exit(0 if ok else 1)
