#!/usr/bin/env bash
# One prepared run for a lent GPU machine: everything the project needs measured on a GPU, in
# one command that fits the lending limits (at most 10 minutes a command; 15 minutes of device
# time per session), from the source tree (no install: the machine reaches no package index).
#
#     OUT=/some/dir bash benchmarks/gpu_session.sh          # from the repository root
#
# Steps, each with its own time limit so that a slow one cannot eat the others (about 9 minutes
# in all); whatever a step writes stays in $OUT even if a later one fails:
#   1. nvidia-smi and `neurosim info`                              -> $OUT/machine.txt
#   2. the GPU test suite (`pytest -m gpu`)                        -> $OUT/gpu-tests.txt, .xml
#   3. benchmarks/gpu_benchmarks.py: issue 3's speed targets and the full Potjans-Diesmann
#      microcircuit with connectivity generated on the GPU (issue 6) -> $OUT/gpu-speed.json
#   4. the benchmark suite on the GPU, quick mode (`neurosim bench --quick --device cuda`), its
#      results JSON and rendered report                          -> $OUT/results/, $OUT/reports/
# Then commit what came back: copy gpu-speed.json to reports/, the results JSON to
# benchmarks/results/, re-render with `neurosim report`, and name the GPU in the commit.
set -u
OUT="${OUT:-/tmp/neurosim-gpu}"
mkdir -p "$OUT/results" "$OUT/reports"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
status=0

step() {   # step NAME LIMIT_S COMMAND...: run with a time limit, log the exit status
  local name="$1" limit="$2"
  shift 2
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0)) s (limit $limit s)" | tee -a "$OUT/steps.txt"
  [ "$rc" -eq 0 ] || status=1
}

{ nvidia-smi; python -m neurosim.cli info; } > "$OUT/machine.txt" 2>&1
step "gpu tests" 140 python -m pytest -m gpu -q -p no:cacheprovider \
    --junitxml="$OUT/gpu-tests.xml" tests > "$OUT/gpu-tests.txt" 2>&1
step "gpu benchmarks" 230 python benchmarks/gpu_benchmarks.py \
    --output "$OUT/gpu-speed.json" > "$OUT/gpu-benchmarks.txt" 2>&1
step "bench suite" 170 python -m neurosim.cli bench --quick --device cuda \
    --results-dir "$OUT/results" --output "$OUT/reports" > "$OUT/bench.txt" 2>&1
tail -n 3 "$OUT/gpu-tests.txt" "$OUT/gpu-benchmarks.txt" "$OUT/bench.txt"
exit "$status"
