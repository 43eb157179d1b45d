#!/usr/bin/env bash
# One prepared run for a lent GPU machine: every GPU figure the project needs, in one command that
# fits the lending limits (10 minutes a command, about 15 minutes of device time per session,
# 8 files brought back), from the source tree (no install: the machine reaches no package index).
#
#     OUT=/some/dir bash benchmarks/gpu_session.sh          # from anywhere; one call, timeout 600
#
# $OUT receives exactly two files: gpu-session.tar.gz (everything) and SUMMARY.txt (device, the
# budget plan and each step's actual time, test counts, key figures, what timed out; it is also
# printed last). Both are rewritten after every step, and once more on exit (a trap), so a step
# that fails or is killed by its time limit, or a signal to the script, still leaves the archive
# with everything measured before. Inside a step results are written as they come: the speed
# JSON after every case, the test log after every test, the suite's checkpoint after every case.
#
# Steps, in this order, each under its own time limit (planned seconds; all steps must end by
# the deadline, 450 s by default, leaving the margin of a 600 s command for packing):
#   machine       15  nvidia-smi, `neurosim info`                                -> machine.log
#   warm          75  compile every kernel module once (in parallel) with an empty cache, then
#                     tiny networks for CuPy's own first-use kernels; timed apart -> warm.json
#   tests        120  `pytest -m gpu tests` (test_gpu.py and every cuda-parametrised test)
#                                                      -> tests.jsonl (per test), tests.xml
#   speed         75  benchmarks/gpu_benchmarks.py: LIF bandwidth, step overhead, Brunel, COBA
#                     1M (the quick sizes)                  -> repo/reports/gpu-speed.json
#   bench         90  `neurosim bench --quick --device cuda`, test counts attached, report
#                     rendered  -> repo/benchmarks/results/*.json, repo/reports/, checkpoint
#   microcircuit  75  the full Potjans-Diesmann microcircuit (1 s + 9 s, recorded and not),
#                     merged into repo/reports/gpu-speed.json; it also gets whatever time the
#                     earlier steps left unused, up to the deadline
#
# Options (the rehearsal below is this same script with smaller arguments):
#   --device cuda|cuda:host   where the CUDA backend runs (default cuda); cuda:host is the host
#                             build of the kernels, for rehearsing here without a GPU (its
#                             figures are not GPU figures; the suite then runs on cpu, since it
#                             knows only numpy and cuda)
#   --tests "ARGS"            pytest arguments (default "-m gpu tests")
#   --speed "ARGS"            benchmarks/gpu_benchmarks.py arguments of the speed step
#                             (default "--cases lif_bandwidth,step_overhead,brunel,coba_1m")
#   --bench "ARGS"            `neurosim bench` arguments (default "--quick"; --device is added)
#   --microcircuit "ARGS"     gpu_benchmarks.py arguments of the last step
#                             (default "--cases microcircuit")
#   --steps a,b,...           run only these steps (in the order above)
#   --budget step=S,...       change planned seconds;  --deadline S   (default 450)
#   --fresh-cache             compile into empty kernel caches under the work folder
#   --work DIR                work folder (default: a new one under $TMPDIR or /tmp)
#   --label TEXT              written into the summary (say, the commit the tree came from)
#   --jobs N                  compile workers (default: one per module, at most the CPUs)
#   --dry-run                 print the plan and the commands, run nothing
# Environment: OUT (default /tmp/neurosim-gpu), PYTHON (the interpreter; default python).
#
# Rehearsal here (measured: 68 s on 2 quiet cores, 187 s on 2 loaded ones; tests/test_gpu_session.py runs a
# smaller one):
#   OUT=/tmp/rehearsal bash benchmarks/gpu_session.sh --device cuda:host --fresh-cache \
#     --tests "-k cuda-host tests" \
#     --speed "--quick --lif-neurons 100000 --coba-neurons 20000 --brunel-scale 0.2 \
#              --bandwidth-bytes 256e6 --cases lif_bandwidth,step_overhead,brunel,coba_1m" \
#     --bench "--quick --sizes 100,1000,10000 --microcircuit-scale 0.05" \
#     --microcircuit "--cases microcircuit --quick --microcircuit-scale 0.05"
#
# Then commit what came back (see SUMMARY.txt's last lines): reports/gpu-speed.json and
# benchmarks/results/*.json from the archive's repo/ folder, re-render with `neurosim report`,
# and name the GPU in the commit.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
OUT="${OUT:-/tmp/neurosim-gpu}"
PY="${PYTHON:-python}"              # the interpreter (default: python on the PATH)
ARCHIVE=gpu-session.tar.gz

DEVICE=cuda
TESTS="-m gpu tests"
SPEED="--cases lif_bandwidth,step_overhead,brunel,coba_1m"
BENCH="--quick"
MICRO="--cases microcircuit"
ORDER=(machine warm tests speed bench microcircuit)
STEPS="${ORDER[*]}"
STEPS="${STEPS// /,}"
declare -A PLAN=([machine]=15 [warm]=75 [tests]=120 [speed]=75 [bench]=90 [microcircuit]=75)
DEADLINE=450
WORK=""
LABEL=""
FRESH=0
DRY=0
JOBS=0

usage() { sed -n '2,/^set -u$/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "gpu_session.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --device|--tests|--speed|--bench|--microcircuit|--steps|--budget|--deadline|--work|--label|--jobs)
      [ $# -ge 2 ] || die "$1 needs a value" ;;
  esac
  case "$1" in
    --device) DEVICE="${2-}"; shift 2 ;;
    --tests) TESTS="${2-}"; shift 2 ;;
    --speed) SPEED="${2-}"; shift 2 ;;
    --bench) BENCH="${2-}"; shift 2 ;;
    --microcircuit) MICRO="${2-}"; shift 2 ;;
    --steps) STEPS="${2-}"; shift 2 ;;
    --budget) BUDGET="${2-}"; shift 2
      for kv in ${BUDGET//,/ }; do
        k="${kv%%=*}"; v="${kv#*=}"
        [ -n "${PLAN[$k]+x}" ] || die "--budget: unknown step '$k' (steps: ${ORDER[*]})"
        [[ "$v" =~ ^[0-9]+$ ]] || die "--budget: '$kv' needs whole seconds"
        PLAN[$k]=$v
      done ;;
    --deadline) DEADLINE="${2-}"; shift 2
      [[ "$DEADLINE" =~ ^[0-9]+$ ]] || die "--deadline needs whole seconds, got '$DEADLINE'" ;;
    --work) WORK="${2-}"; shift 2 ;;
    --label) LABEL="${2-}"; shift 2 ;;
    --jobs) JOBS="${2-}"; shift 2 ;;
    --fresh-cache) FRESH=1; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (--help lists the options)" ;;
  esac
done
case "$DEVICE" in cuda|cuda:host) ;; *) die "--device must be cuda or cuda:host, got '$DEVICE'" ;; esac
SELECTED=()
for s in "${ORDER[@]}"; do
  [[ ",$STEPS," == *",$s,"* ]] && SELECTED+=("$s")
done
for s in ${STEPS//,/ }; do
  [ -n "${PLAN[$s]+x}" ] || die "--steps: unknown step '$s' (steps: ${ORDER[*]})"
done
[ ${#SELECTED[@]} -gt 0 ] || die "--steps selects no step"
LAST="${SELECTED[-1]}"

eval "TEST_ARGS=($TESTS)" && eval "SPEED_ARGS=($SPEED)" && eval "BENCH_ARGS=($BENCH)" &&
  eval "MICRO_ARGS=($MICRO)" || die "could not split the arguments of --tests/--speed/--bench"
BENCH_DEVICE=cuda
[ "$DEVICE" = cuda ] || BENCH_DEVICE=cpu
[[ " $BENCH " == *" --device"* ]] || BENCH_ARGS+=(--device "$BENCH_DEVICE")

if [ -z "$WORK" ]; then
  if [ "$DRY" = 1 ]; then WORK="${TMPDIR:-/tmp}/WORK"; else
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/neurosim-gpu-session.XXXXXX")" || die "mktemp failed"; fi
fi
S="$WORK/gpu-session"
SPEED_JSON="$S/repo/reports/gpu-speed.json"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
if [ "$FRESH" = 1 ]; then
  export CUPY_CACHE_DIR="$WORK/cache/cupy" NEUROSIM_HOSTBUILD_CACHE="$WORK/cache/hostbuild"
fi

# the steps' commands
CMD_machine=("$PY" benchmarks/gpu_session.py machine)
CMD_warm=("$PY" benchmarks/gpu_session.py warm --device "$DEVICE" --record "$S/warm.json"
  --jobs "$JOBS")
CMD_tests=(env "NEUROSIM_SESSION_TESTLOG=$S/tests.jsonl" "PYTHONPATH=$ROOT/benchmarks:$PYTHONPATH"
  "$PY" -m pytest "${TEST_ARGS[@]}" -p gpu_session -p no:cacheprovider -q -rfE
  "--junitxml=$S/tests.xml")
CMD_speed=("$PY" benchmarks/gpu_benchmarks.py --device "$DEVICE" "${SPEED_ARGS[@]}"
  --output "$SPEED_JSON")
CMD_bench=("$PY" benchmarks/gpu_session.py bench --session "$S" --device "$DEVICE" --
  "${BENCH_ARGS[@]}")
CMD_microcircuit=("$PY" benchmarks/gpu_benchmarks.py --device "$DEVICE" "${MICRO_ARGS[@]}"
  --merge --output "$SPEED_JSON")

planned_total=0
for s in "${SELECTED[@]}"; do planned_total=$((planned_total + PLAN[$s])); done
if [ "$DRY" = 1 ]; then
  echo "plan (device $DEVICE, deadline $DEADLINE s, $planned_total s planned):"
  for s in "${SELECTED[@]}"; do
    declare -n cmd="CMD_$s"
    printf '%-13s %4s s  ' "$s" "${PLAN[$s]}"; printf '%q ' "${cmd[@]}"; echo
    unset -n cmd
  done
  exit 0
fi
[ -e "$S" ] && die "$S exists already: give --work a new folder"
mkdir -p "$S/repo/reports" "$S/repo/benchmarks/results" "$OUT" || die "cannot create $S or $OUT"

log() { echo "$*" | tee -a "$S/session.log"; }
now() { date +%s.%N; }
source_id() {
  if git -C "$ROOT" rev-parse --short HEAD >/dev/null 2>&1; then
    echo "git $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
  else
    echo "a copy without git metadata"
  fi
}
{
  printf 'device\t%s\n' "$DEVICE"; printf 'deadline_s\t%s\n' "$DEADLINE"
  printf 'label\t%s\n' "$LABEL"; printf 'source\t%s\n' "$(source_id)"
  printf 'started\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"; printf 'fresh_cache\t%s\n' "$FRESH"
  printf 'bench_device\t%s\n' "$BENCH_DEVICE"
} > "$S/meta.tsv"
for s in "${SELECTED[@]}"; do
  declare -n cmd="CMD_$s"
  printf '%s\t%s\t%s\n' "$s" "${PLAN[$s]}" "$(printf '%q ' "${cmd[@]}")" >> "$S/plan.tsv"
  unset -n cmd
done
: > "$S/steps.tsv"

status=0
CHILD=""
CHILD_STEP=""
CHILD_START=""
CHILD_LIMIT=""

pack() {   # pack [--final]: SUMMARY.txt and the archive into $OUT
  timeout 60 "$PY" benchmarks/gpu_session.py report --session "$S" --out "$OUT" "$@" \
    >> "$S/session.log" 2>&1 || echo "gpu_session.sh: packing failed (see session.log)" >&2
}

record_step() {   # record_step NAME LIMIT RC START END
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "${PLAN[$1]}" "$2" "$3" "$4" "$5" >> "$S/steps.tsv"
}

finish() {
  trap - EXIT TERM INT HUP
  if [ -n "$CHILD" ]; then            # a signal stopped the script while a step ran
    kill -TERM "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null
    record_step "$CHILD_STEP" "$CHILD_LIMIT" 143 "$CHILD_START" "$(now)"
    log "== $CHILD_STEP: interrupted"
    status=1
  fi
  pack --final
  echo
  cat "$OUT/SUMMARY.txt" 2>/dev/null
  log "gpu_session.sh: $OUT/$ARCHIVE and $OUT/SUMMARY.txt written; $SECONDS s in all (exit $status)"
  exit "$status"
}
trap finish EXIT
trap 'log "gpu_session.sh: stopped by a signal"; status=1; exit 143' TERM INT HUP

run_step() {   # run_step NAME: run CMD_NAME under its limit, output to NAME.log
  local name="$1" planned="${PLAN[$1]}" left=$((DEADLINE - SECONDS)) limit rc start
  declare -n cmd="CMD_$name"
  limit=$planned
  if [ "$name" = "$LAST" ] || [ "$limit" -gt "$left" ]; then limit=$left; fi
  start="$(now)"
  if [ "$limit" -lt 3 ]; then
    record_step "$name" 0 -1 "$start" "$start"
    log "== $name: skipped ($left s left before the $DEADLINE s deadline)"
    status=1; pack; return
  fi
  log "== $name: limit $limit s (planned $planned s), from $((SECONDS)) s"
  CHILD_STEP=$name CHILD_START=$start CHILD_LIMIT=$limit
  timeout --kill-after=5 "$limit" "${cmd[@]}" > "$S/$name.log" 2>&1 &
  CHILD=$!
  wait "$CHILD"
  rc=$?
  CHILD=""
  record_step "$name" "$limit" "$rc" "$start" "$(now)"
  case $rc in
    0) log "== $name: ok" ;;
    124|137) log "== $name: TIMED OUT after $limit s" ;;
    *) log "== $name: exit $rc" ;;
  esac
  tail -n 4 "$S/$name.log" | cut -c1-200 | sed 's/^/     /' | tee -a "$S/session.log"
  [ "$rc" -eq 0 ] || status=1
  pack
}

log "gpu_session.sh: device $DEVICE, $planned_total s planned, deadline $DEADLINE s; work folder $WORK"
for s in "${SELECTED[@]}"; do
  log "   plan: $(printf '%-13s %4s s' "$s" "${PLAN[$s]}")$([ "$s" = "$LAST" ] && echo ' (+ time left unused, to the deadline)')"
done
for s in "${SELECTED[@]}"; do run_step "$s"; done
