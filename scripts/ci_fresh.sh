#!/usr/bin/env bash
# CI as a clean machine runs it, optionally beside CPU-bound processes: a fresh clone of this checkout's HEAD and a
# fresh venv, then `CI=true bash .ci/run`, timed. The load average is sampled every 30 s into LOG.load.
# usage: bash scripts/ci_fresh.sh DIR [HOGS] [LOG]   e.g.  bash scripts/ci_fresh.sh /tmp/ci-load 6 ci-load.log
set -uo pipefail
dir=${1:?usage: ci_fresh.sh DIR [HOGS] [LOG]}; hogs=${2:-0}; log=$(realpath -m "${3:-ci-fresh.log}")
src=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$dir" && git clone -q "$src" "$dir" && cd "$dir" && python -m venv .venv && . .venv/bin/activate || exit 1
pids=()
for _ in $(seq 1 "$hogs"); do sh -c 'while :; do :; done' & pids+=($!); done
(while :; do echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 30; done) > "$log.load" &
sampler=$!
trap 'kill $sampler ${pids[@]+"${pids[@]}"} 2>/dev/null' EXIT
t0=$(date +%s)
CI=true bash .ci/run > "$log" 2>&1; rc=$?
echo "exit $rc, $(( $(date +%s) - t0 )) s with $hogs CPU-bound processes beside it, commit $(git rev-parse --short HEAD)" | tee -a "$log"
exit $rc
