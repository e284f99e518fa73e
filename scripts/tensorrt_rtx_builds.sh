#!/usr/bin/env bash
# Real-size TensorRT for RTX builds on a machine without a GPU (docs/BENCHMARKS.md, "TensorRT for RTX builds"):
# export each recipe's --kv-cache tensorrt artifact from random weights, then build its engines at fp32, fp16 and
# int8, each step under /usr/bin/time -v (wall time, peak memory); `ttsx info` describes each engine directory.
#   bash scripts/tensorrt_rtx_builds.sh OUT RECIPE...     e.g. bash scripts/tensorrt_rtx_builds.sh /tmp/rtx bark-small chattts
set -euo pipefail
out=$1; shift
mkdir -p "$out"
timed() {  # timed LOG COMMAND...: run it, then print its wall time and peak memory
  local log=$1; shift
  /usr/bin/time -v "$@" > "$log" 2>&1 || { tail -20 "$log"; return 1; }
  printf '%-60s wall %s, peak %s MiB\n' "$*" "$(grep 'Elapsed (wall' "$log" | awk '{print $NF}')" \
    "$(( $(grep 'Maximum resident' "$log" | awk '{print $NF}') / 1024 ))"
}
for recipe in "$@"; do
  art=$out/$recipe
  rm -rf "$art"
  timed "$out/$recipe-export.log" ttsx export --recipe "$recipe" --random-weights --kv-cache tensorrt -o "$art"
  du -sh "$art" | sed 's/^/artifact size: /'
  for precision in fp32 fp16 int8; do
    timed "$out/$recipe-$precision.log" ttsx build-engine "$art" --builder tensorrt-rtx --precision "$precision" \
      -o "$art/engines-$precision"
    ttsx info "$art/engines-$precision" | sed -n '3p;6p;9,$p' | grep -v '^    profile'
  done
done
