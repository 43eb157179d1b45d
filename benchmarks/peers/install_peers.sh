#!/usr/bin/env bash
# Install the peer simulators that neurosim's benchmarks compare against, each in its own venv:
#   <repo>/peers/brian2  brian2 + numpy<2.4 (2.4 removed ndarray.ptp, which Brian2 uses) + Cython
#   <repo>/peers/nest    nest-simulator (PyPI wheel)
# Idempotent: an existing venv whose packages import is left alone (pass --force to reinstall).
# Quiet: pip's output goes to <repo>/peers/<name>/install.log; this script says what it did.
# Environment: PYTHON (default python3) is the interpreter used to create the venvs.
set -euo pipefail
export PYNEST_QUIET=1  # no NEST banner on stdout

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PEERS="$ROOT/peers"
PYTHON="${PYTHON:-python3}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

say() { echo "[install_peers] $*"; }

# make_venv NAME CHECK_IMPORT PACKAGES...
make_venv() {
    local name="$1" check="$2"; shift 2
    local venv="$PEERS/$name" py="$PEERS/$name/bin/python"
    if [[ $FORCE -eq 0 && -x "$py" ]] && "$py" -c "$check" >/dev/null 2>&1; then
        say "$name: already installed ($("$py" -c "$check" 2>/dev/null)), skipped"
        return 0
    fi
    mkdir -p "$PEERS"
    [[ -x "$py" ]] || "$PYTHON" -m venv "$venv"
    say "$name: installing $* (log: $venv/install.log)"
    if ! { "$py" -m pip install --upgrade pip && "$py" -m pip install --upgrade "$@"; } \
            >"$venv/install.log" 2>&1; then
        say "$name: pip failed, last lines of $venv/install.log:"
        tail -n 20 "$venv/install.log" >&2
        return 1
    fi
    say "$name: installed ($("$py" -c "$check"))"
}

# Brian2's cython target compiles C++ through Cython: prove it works, not just that it imports.
check_brian2_cython() {
    local py="$PEERS/brian2/bin/python" out
    out="$(cd "$PEERS/brian2" && "$py" - <<'PY' 2>&1
import brian2 as b
b.prefs.codegen.target = "cython"
import atexit, shutil, tempfile
cache = tempfile.mkdtemp(prefix="install_peers_")  # fresh cache: really compile
atexit.register(shutil.rmtree, cache, ignore_errors=True)
b.prefs.codegen.runtime.cython.cache_dir = cache
g = b.NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", method="exact")
g.v = 1
b.run(1 * b.ms)
assert abs(g.v[0] - 0.904837) < 1e-5, g.v[0]
print("cython target compiles and runs")
PY
    )" || { say "brian2: cython target FAILED:"; echo "$out" | tail -n 20 >&2; return 1; }
    say "brian2: $(echo "$out" | tail -n 1)"
}

# Brian2's C++ standalone mode (the OpenMP columns of `neurosim bench --peers`) runs make and
# g++ -fopenmp: prove that a two-thread program builds and runs.
check_brian2_standalone() {
    local py="$PEERS/brian2/bin/python" out
    out="$(cd "$PEERS/brian2" && "$py" - <<'PY' 2>&1
import brian2 as b
import atexit, shutil, tempfile
b.set_device("cpp_standalone", build_on_run=False)
b.prefs.devices.cpp_standalone.openmp_threads = 2
project = tempfile.mkdtemp(prefix="install_peers_")
atexit.register(shutil.rmtree, project, ignore_errors=True)
g = b.NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", method="exact")
g.v = 1
b.run(1 * b.ms)
b.device.build(directory=project, with_output=False)
assert abs(g.v[0] - 0.904837) < 1e-5, g.v[0]
assert "omp_set_num_threads(2)" in open(f"{project}/main.cpp").read()
print("C++ standalone with OpenMP (2 threads) compiles and runs")
PY
    )" || { say "brian2: C++ standalone FAILED:"; echo "$out" | tail -n 20 >&2; return 1; }
    say "brian2: $(echo "$out" | tail -n 1)"
}

command -v c++ >/dev/null || say "warning: no C++ compiler on PATH; Brian2's cython target will not work"

make_venv brian2 \
    'import brian2, numpy, Cython; print(f"brian2 {brian2.__version__}, numpy {numpy.__version__}, Cython {Cython.__version__}")' \
    brian2 'numpy<2.4' Cython
check_brian2_cython
check_brian2_standalone
make_venv nest \
    'import nest, numpy; print(f"nest {nest.__version__}, numpy {numpy.__version__}")' \
    nest-simulator
say "done: peers in $PEERS"
