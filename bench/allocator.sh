#!/usr/bin/env bash
# What glibc's malloc costs the convolutional models: each job below runs twice, with glibc's
# defaults (NNLAB_MALLOC=system) and with nnlab's setting (its default on Linux with glibc:
# mallopt keeps freed blocks in the process, mmap threshold 256 MiB, trim threshold 1 GiB),
# and prints the seconds per step of its one epoch and its peak RSS. The profile
# (bench/profile.sh) shows why: with glibc's defaults, every large buffer a convolution
# allocates (im2col columns, feature maps) comes fresh from the kernel and goes back after the
# operation (page faults, page zeroing, TLB shootdowns: the kernel's share of the profile).
#
# usage: bench/allocator.sh        (data: $NNLAB_DATA, the folder holding mnist/)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NNLAB_DATA:?set NNLAB_DATA to the folder holding mnist/}"
nnlab="${CARGO_TARGET_DIR:-target}/release/nnlab"
[ -x "$nnlab" ] || { echo "error: $nnlab not found: cargo build --release" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "# bench/allocator.sh: nnlab at revision $(git rev-parse --short HEAD), $(nproc) CPUs, $(date -u '+%F %H:%M') UTC"
echo
echo "| job | malloc | ms/step | peak RSS (MB) |"
echo "|---|---|---|---|"
job() { # label, then nnlab train arguments
  local label=$1
  shift
  for mode in system nnlab; do
    rm -rf "$work/run"
    NNLAB_MALLOC=$mode /usr/bin/time -f "RSS %M" -o "$work/rss" "$nnlab" train "$@" --set train.epochs=1 \
      --out "$work/run" > "$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
    ms=$(grep -oE '\(([0-9.]+) ms/step\)' "$work/log" | tail -1 | tr -d '(' | cut -d' ' -f1)
    rss=$(awk '/^RSS/ { printf "%.0f", $2 / 1024 }' "$work/rss")
    echo "| $label | $mode | $ms | $rss |"
  done
}
job "DCGAN, 40 steps of 128" configs/dcgan_2016.toml --set data.limit_train=6144 --set data.limit_test=1000
job "LeNet-5 CNN, 375 steps of 32" configs/lenet_1998.toml --set data.limit_train=12000 --set data.limit_test=1000
job "article MLP, 1,875 steps of 32" configs/article_mlp.toml
