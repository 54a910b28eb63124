#!/usr/bin/env bash
# Two nnlab binaries side by side on the same jobs, alternating (A, B, A, B, ...) so a slow spell
# of the machine hits both: seconds per epoch of one epoch of each config on LIMIT training
# images, REPEATS times each. For a build change that should not change the figures (e.g. a
# kernel feature), it also prints each run's test figure.
#
# usage: bench/ab_binaries.sh BINARY_A BINARY_B REPEATS CONFIG:LIMIT [CONFIG:LIMIT ...]
#   e.g. bench/ab_binaries.sh nnlab-before "$CARGO_TARGET_DIR/release/nnlab" 2 configs/vae_2014.toml:60000
# The data folder is $NNLAB_DATA (the folder holding mnist/).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
a=$1 b=$2 repeats=$3
shift 3
: "${NNLAB_DATA:?set NNLAB_DATA to the folder holding mnist/}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The binaries by name only: their folders are this machine's.
echo "# bench/ab_binaries.sh A=$(basename "$a") B=$(basename "$b") $repeats $*"
echo "# at revision $(git rev-parse --short HEAD), $(date -u '+%F %H:%M') UTC"
echo "# $(python3 bench/machine.py)"
echo
echo "| config | images | binary | run | s/epoch | test figure |"
echo "|---|---|---|---|---|---|"
for job in "$@"; do
  config=${job%%:*} limit=${job##*:}
  for r in $(seq 1 "$repeats"); do
    for side in A B; do
      bin=$a
      [ "$side" = B ] && bin=$b
      out="$work/$side-$r-$(basename "$config" .toml)"
      "$bin" train "$config" --set train.epochs=1 --set data.limit_train="$limit" \
        --set data.limit_test=1000 --out "$out" > /dev/null 2>&1
      python3 - "$out/summary.json" "$config" "$limit" "$side" "$r" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
figure = next((f"{k} {v:.6f}" for k, v in sorted(s["metrics"].items() if "metrics" in s else s.items())
               if k in ("test_accuracy", "test_elbo", "test_d_real")), "-")
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {sys.argv[5]} | {s['seconds_per_epoch']:.3f} | {figure} |")
PY
    done
  done
done
