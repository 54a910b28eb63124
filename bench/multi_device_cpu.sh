#!/usr/bin/env bash
# Data-parallel training on the CPU: the article job with train.devices = [0] (one worker), [0, 0]
# and [0, 0, 0] (two and three workers on the CPU's one device), 3 epochs on 20,000 MNIST
# images. Prints each run's median seconds per epoch and its final test accuracy.
#
#   NNLAB_DATA=../shared/data bench/multi_device_cpu.sh [path/to/nnlab]
set -euo pipefail
cd "$(dirname "$0")/.."
nnlab="${1:-${CARGO_TARGET_DIR:-target}/release/nnlab}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-10s %12s %14s\n' devices "s/epoch" "test accuracy"
for devices in "[0]" "[0,0]" "[0,0,0]"; do
  out="$work/run-${#devices}"
  "$nnlab" train configs/article_mlp.toml --set train.epochs=3 --set data.limit_train=20000 \
    --set "train.devices=$devices" --out "$out" > /dev/null
  # metrics.csv: epoch, train_loss, train_accuracy, valid_loss, valid_accuracy, test_loss,
  # test_accuracy, seconds.
  median=$(tail -n +2 "$out/metrics.csv" | cut -d, -f8 | sort -g | sed -n 2p)
  accuracy=$(tail -n 1 "$out/metrics.csv" | cut -d, -f7)
  printf '%-10s %12.3f %14s\n' "$devices" "$median" "$accuracy"
done
# The build that ran (from the last run's summary.json), the machine, the date.
grep -E '"(backend|git_rev|git_dirty)"' "$out/summary.json" | tr -d ' ,' | paste -sd' ' | tr -d '\n'
echo " $(nproc) cores, $(date -u +%F)"
