#!/usr/bin/env bash
# nnlab's GPU check: on a machine with a GPU, builds nnlab with the wgpu backend, measures training
# throughput — samples per second of the second of two epochs, the first one warming up — of the
# article MLP, the LeNet-style CNN, the VAE and the DCGAN at several batch sizes, beside the same
# models in PyTorch on the same GPU (bench/peers/torch_mlp_throughput.py, torch_lenet.py,
# torch_vae.py, torch_dcgan.py), printed as a markdown table, then runs the backend parity suite on the GPU (every model family against flex).
# Meant to fit in 10 minutes, build included (16 cores).
#
# usage: NNLAB_DATA=DIR scripts/gpu-check.sh
#   NNLAB_DATA             folder holding mnist/ (required)
#   FEATURES               the runner's features to build (default ndarray,wgpu; add fusion for
#                          burn's operation fusion: faster, but see the README's backend table)
#   NNLAB_BIN, PARITY_BIN  prebuilt `nnlab` (features ndarray,wgpu) and backend_parity test
#                          binary: skip the build (for machines without a Rust toolchain)
#   PYTHON                 a Python with PyTorch and CUDA (default python3; skipped if absent)
#   BATCHES                batch sizes (default "64 512")
#   MLP_LIMIT, CNN_LIMIT, VAE_LIMIT, DCGAN_LIMIT
#                          training images per epoch (defaults 60000, 25600, 60000, 25600)
#   CUBECL_AUTOTUNE_LEVEL  burn's kernel autotuning (default minimal: the full search takes
#                          minutes per new shape)
#   LIMIT_S                seconds each measured run may take before it is cut off (default 150)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${NNLAB_DATA:?set NNLAB_DATA to the folder holding mnist/}"
export NNLAB_DATA NNLAB_OFFLINE=1 NNLAB_BACKEND=wgpu
export CUBECL_AUTOTUNE_LEVEL="${CUBECL_AUTOTUNE_LEVEL:-minimal}"
read -r -a batches <<< "${BATCHES:-64 512}"
mlp_limit=${MLP_LIMIT:-60000}
dcgan_limit=${DCGAN_LIMIT:-25600}
cnn_limit=${CNN_LIMIT:-25600}
vae_limit=${VAE_LIMIT:-60000}
python=${PYTHON:-python3}
limit=${LIMIT_S:-150}
features=${FEATURES:-ndarray,wgpu}
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

if [ -z "${NNLAB_BIN:-}" ]; then
  step "build: nnlab and the parity suite with --features $features"
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nnlab/target}"
  cargo build --release --locked -p nnlab-runner --features "$features"
  NNLAB_BIN="$CARGO_TARGET_DIR/release/nnlab"
  PARITY_BIN=$(cargo test --release --locked -p nnlab-runner --features "$features" \
    --test backend_parity --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "backend_parity" and m.get("executable"):
        print(m["executable"])')
fi

step "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

step "throughput: samples/s of the second epoch (autotune: $CUBECL_AUTOTUNE_LEVEL)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# nnlab's samples/s: train 2 epochs of $1 at batch $2 on $3 images, time the second.
nnlab_rate() {
  local out="$work/$(basename "$1" .toml)-$2"
  timeout "$limit" "$NNLAB_BIN" train "$1" --set train.batch_size="$2" --set data.limit_train="$3" \
    --set data.validation=0 --set data.limit_test=1000 --set train.epochs=2 --out "$out" \
    > "$out.log" 2>&1 || { echo "failed or cut off"; tail -5 "$out.log" >&2; return; }
  python3 -c 'import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(round(int(sys.argv[2]) / float(rows[-1]["seconds"])))' "$out/metrics.csv" "$3"
}
# PyTorch's samples/s from a peer script's RESULT line.
torch_rate() {
  if ! "$python" -c 'import torch; assert torch.cuda.is_available()' 2> /dev/null; then
    echo "-"
    return
  fi
  (cd bench/peers && MNIST_DIR="$NNLAB_DATA/mnist" timeout "$limit" "$python" "$@" --device cuda --epochs 2) |
    sed -n 's/^RESULT //p' |
    python3 -c 'import json, sys; print(round(json.load(sys.stdin)["samples_per_s"]))'
}
printf '\n| model | batch | nnlab wgpu (samples/s) | PyTorch CUDA (samples/s) |\n|---|---|---|---|\n'
for b in "${batches[@]}"; do
  printf '| article MLP | %s | %s | %s |\n' "$b" "$(nnlab_rate configs/article_mlp.toml "$b" "$mlp_limit")" \
    "$(torch_rate torch_mlp_throughput.py --batch-size "$b" --limit "$mlp_limit")"
done
for b in "${batches[@]}"; do
  printf '| LeNet-style CNN | %s | %s | %s |\n' "$b" "$(nnlab_rate configs/lenet_1998.toml "$b" "$cnn_limit")" \
    "$(torch_rate torch_lenet.py 1 --batch-size "$b" --limit "$cnn_limit")"
done
for b in "${batches[@]}"; do
  printf '| VAE | %s | %s | %s |\n' "$b" "$(nnlab_rate configs/vae_2014.toml "$b" "$vae_limit")" \
    "$(torch_rate torch_vae.py 1 --batch-size "$b" --limit "$vae_limit")"
done
for b in "${batches[@]}"; do
  printf '| DCGAN | %s | %s | %s |\n' "$b" "$(nnlab_rate configs/dcgan_2016.toml "$b" "$dcgan_limit")" \
    "$(torch_rate torch_dcgan.py 1 --batch-size "$b" --limit "$dcgan_limit")"
done
step "parity: every model family on every compiled backend against flex"
parity=ok
timeout $((2 * limit)) env -u NNLAB_BACKEND NNLAB_BIN="$NNLAB_BIN" "$PARITY_BIN" --test-threads 1 || parity=FAILED

step "done: parity $parity"
[ "$parity" = ok ]
