#!/usr/bin/env bash
# Where a training run's CPU time goes: `perf record` over a short run of CONFIG (one epoch on
# LIMIT training images, 1,000 test images), then the share of each crate (the first path segment
# of each function's name: burn's backend, its autodiff, the gemm kernels, the allocator, ...)
# and the hottest functions, by self time. Needs `perf` (Debian: linux-perf) and a release build
# of nnlab; extra arguments go to `nnlab train` (e.g. --set train.batch_size=128).
#
# usage: bench/profile.sh CONFIG LIMIT [nnlab train options...]
#   e.g. bench/profile.sh configs/dcgan_2016.toml 6144
#        bench/profile.sh configs/article_mlp.toml 60000
# The data folder is $NNLAB_DATA (the folder holding mnist/).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
config=$1 limit=$2
shift 2
: "${NNLAB_DATA:?set NNLAB_DATA to the folder holding mnist/}"
nnlab="${CARGO_TARGET_DIR:-target}/release/nnlab"
[ -x "$nnlab" ] || { echo "error: $nnlab not found: cargo build --release" >&2; exit 1; }
command -v perf > /dev/null || { echo "error: perf not found (Debian: apt-get install linux-perf)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "# bench/profile.sh $config $limit $*"
echo "# $("$nnlab" --version) at revision $(git rev-parse --short HEAD), $(nproc) CPUs, $(date -u '+%F %H:%M') UTC"
echo "# $(python3 bench/machine.py)"
perf record -q -F 999 -o "$work/perf.data" -- "$nnlab" train "$config" --set train.epochs=1 \
  --set data.limit_train="$limit" --set data.limit_test=1000 "$@" --out "$work/run" \
  > "$work/train.log" 2>&1 || { cat "$work/train.log" >&2; exit 1; }
grep -E "^Epoch" "$work/train.log" | sed 's/^/# /'
perf report -q -i "$work/perf.data" --no-children --sort symbol --stdio 2> /dev/null |
  grep -E '^ +[0-9]' > "$work/symbols.txt"
echo
echo "## By crate (self time, % of all samples)"
echo
# A line reads "  12.34%  [.] name"; the crate is the name's first path segment, without the
# "<" of a trait impl ("<burn_flex::...>::f" -> burn_flex); names without one are libc's or
# the kernel's.
sed -E 's/^ +([0-9.]+)% +\[(.)\] +/\1 \2 /' "$work/symbols.txt" |
  awk '{ pct = $1; kind = $2; name = $3; sub(/^</, "", name); sub(/^&(mut )?/, "", name)
         n = split(name, part, "::"); crate = (n > 1) ? part[1] : (kind == "k" ? "[kernel]" : "[libc and others]")
         total[crate] += pct }
       END { for (c in total) printf "%6.2f%%  %s\n", total[c], c }' | sort -rn | head -15
echo
echo "## Hottest functions (self time)"
echo
head -25 "$work/symbols.txt" | sed -E 's/^ +//' | cut -c1-180
