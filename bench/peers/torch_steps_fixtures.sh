#!/usr/bin/env bash
# Remakes tests/fixtures/torch_steps/: for the article MLP, the LeNet-style CNN, the VAE, the
# DCGAN (in f64, and in f32 for 10 steps) and the MLP GAN with maxout units (in f64), the
# PyTorch twin's initial weights, nnlab's batch order for 100 steps (128 for the MLP GAN) from
# them (`nnlab train --trace`), and the twin's losses and final weights replaying that order,
# plus the losses of the deliberately wrong twins (`--mutate`) that tests/torch_steps.rs must
# tell apart.
# usage: bench/peers/torch_steps_fixtures.sh NNLAB_BIN PYTHON [MNIST_ROOT]
# (PYTHON: the peers' venv, shared/peers/setup-venv.sh; MNIST_ROOT holds mnist/, default
# $NNLAB_DATA.)
set -euo pipefail
nnlab=$(realpath "$1")
python=$2
data=$(realpath "${3:-${NNLAB_DATA:?set NNLAB_DATA or pass MNIST_ROOT}}")
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/tests/fixtures/torch_steps
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root/bench/peers"
# The --set flags a case adds to its config, into the arrays `shape` (the twin's `init` takes
# them too) and `steps`: the MLP GAN replays Goodfellow et al.'s recipe as their code steps it
# (both networks at once, half the discriminator's loss, no norm cap) without dropout (the twin
# draws no masks), over two epochs so that the momentum rises between them, in narrower layers
# than theirs (1200-1200 and 240-240 would make 45 MB of fixtures).
case_sets() {
  shape=() steps=()
  if [ "$1" = gan ]; then
    shape=(--set 'model.generator=[64,64]' --set 'model.discriminator=[32,32]')
    steps=(--set train.epochs=2 --set train.sgd.momentum_epochs=2 --set model.simultaneous=true
           --set model.max_col_norm=0 --set model.dropout=0 --set model.input_dropout=0)
  fi
}
# Each case: name, config, training images (100 steps of its batch size, or 64 in each of the
# MLP GAN's two epochs), the nnlab settings and twin flags that set its precision, mutations.
# The DCGAN's adversarial steps magnify rounding: in f32 PyTorch itself drifts from its own f64 replay by 2e-4 after 10 steps and 0.4
# after 100, so its 100 steps are compared in f64 (`train.float_dtype`, `replay --double`), and
# its first 10 in f32.
for case in "mlp article_mlp.toml 3200 f32 beta2 no-bias-correction" \
            "cnn lenet_1998.toml 3200 f32 beta2 no-bias-correction transposed-kernel" \
            "vae vae_2014.toml 12800 f32 beta2 no-bias-correction" \
            "dcgan dcgan_2016.toml 12800 f64 beta2 no-bias-correction transposed-kernel" \
            "dcgan-f32 dcgan_2016.toml 1280 f32 no-bias-correction transposed-kernel" \
            "gan gan_2014_maxout.toml 6400 f64 alternating g-after-d full-d-loss constant-momentum constant-lr"; do
  set -- $case
  name=$1 config=$root/configs/$2 images=$3 dtype=$4
  shift 4
  double=()
  [ "$dtype" = f64 ] && double=(--double)
  case_sets "$name"
  mkdir -p "$out/$name"
  "$python" torch_steps.py init "$config" --out "$out/$name/init.safetensors" --seed 1 "${shape[@]}"
  NNLAB_DATA=$data "$nnlab" train "$config" --set train.init_from="$out/$name/init.safetensors" \
    --set data.limit_train="$images" --set data.validation=0 --set data.limit_test=1000 --set train.epochs=1 \
    --set train.float_dtype="$dtype" "${shape[@]}" "${steps[@]}" --trace --out "$work/$name" > /dev/null
  cp "$work/$name/trace/order.txt" "$out/$name/order.txt"
  # A VAE's or GAN's noise of each step (up to 1 MB) is kept as its digest only.
  if [ -f "$work/$name/trace/noise.f32" ]; then
    sha256sum "$work/$name/trace/noise.f32" | cut -d' ' -f1 > "$out/$name/noise.sha256"
  fi
  # The f32 DCGAN's final weights are not compared (tests/torch_steps.rs says why): none kept.
  weights=(--weights "$out/$name/final.safetensors")
  [ "$name" = dcgan-f32 ] && weights=()
  "$python" torch_steps.py replay "$work/$name" --init "$out/$name/init.safetensors" \
    --losses "$out/$name/losses.csv" "${weights[@]}" "${double[@]}" --data "$data/mnist"
  for mutation in "$@"; do
    "$python" torch_steps.py replay "$work/$name" --init "$out/$name/init.safetensors" \
      --losses "$out/$name/losses-$mutation.csv" --mutate "$mutation" "${double[@]}" --data "$data/mnist"
  done
done
{
  echo "# Made by bench/peers/torch_steps_fixtures.sh; do not edit by hand."
  echo "torch = \"$("$python" -c 'import torch; print(torch.__version__)')\""
  echo "python = \"$("$python" -c 'import platform; print(platform.python_version())')\""
  echo "machine = \"$(python3 "$root/bench/machine.py")\""
} > "$out/made.toml"
echo "fixtures in $out"
