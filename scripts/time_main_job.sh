#!/usr/bin/env bash
# The README's main job step by step, each under /usr/bin/time -v: wall time and peak RSS per step.
# usage: bash scripts/time_main_job.sh [WORKDIR]   (default /tmp/ttsx-main-job; emptied first if this script made it)
set -u
work=${1:-/tmp/ttsx-main-job}
if [ -d "$work" ] && [ -n "$(ls -A "$work")" ] && [ ! -e "$work/.ttsx-main-job" ]; then
    echo "$work is not empty and was not made by this script; give an empty or new directory" >&2
    exit 2
fi
rm -rf "$work" && mkdir -p "$work" && touch "$work/.ttsx-main-job"
step() {
    name=$1; shift
    /usr/bin/time -v "$@" > "$work/$name.out" 2> "$work/$name.err"
    echo "$name rc=$? $(grep -E 'Elapsed|Maximum resident' "$work/$name.err" | sed 's/^\s*//' | tr '\n' ' ')"
}
start=$(date +%s)
step export ttsx export --recipe bark-small --random-weights -o "$work/bark-small"
step parity ttsx parity "$work/bark-small"
step quantize ttsx quantize "$work/bark-small" --precision int8 -o "$work/bark-small-int8"
step parity-int8 ttsx parity "$work/bark-small-int8"
step synthesize ttsx synthesize "$work/bark-small-int8" "Hello from ttsx." -o "$work/hello.wav" --seed 0 --max-tokens 100
echo "total $(( $(date +%s) - start )) s"
