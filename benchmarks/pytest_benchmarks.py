"""The benchmark cases of ``neurosim.bench`` as pytest-benchmark tests.

    pytest benchmarks/pytest_benchmarks.py --benchmark-only -v
    pytest benchmarks/pytest_benchmarks.py --benchmark-only --benchmark-json=bench.json
    NEUROSIM_BENCH_SIZES=100,1000,1000000 pytest benchmarks/pytest_benchmarks.py --benchmark-only

Parametrised by network size and device (``numpy``; ``cuda`` where CuPy sees a GPU, skipped
otherwise). Every timed round is preceded by warm-up rounds (``pedantic(warmup_rounds=...)``),
and pytest-benchmark reports min/max/mean/stddev/median/IQR over the rounds. The networks are
those of :mod:`neurosim.bench.cases`:

- ``test_step_throughput``: ``lif_uncoupled`` (benchmark case 1) and ``lif_recurrent``
  (sparse recurrent LIF, 100 inputs per neuron, delay 1.5 ms); one round = 10 ms simulated
  (100 steps); ``extra_info`` holds µs/step and neuron updates/s from the median round;
- ``test_build``: building the recurrent network (connectivity, state, buffers);
- ``test_reference_network``: COBA and Brunel 2000 at full size, one round = 100 ms simulated;
- ``test_memory``: the measured footprint of the recurrent network (10,000 neurons, 10^6
  synapses) with constant and per-synapse delays, bytes in ``extra_info`` (the timing is that
  of the measured builds, under tracemalloc).

Sizes default to 100 ... 100,000 neurons; ``NEUROSIM_BENCH_SIZES`` (comma-separated) changes
them. Works from a source checkout without installing neurosim.
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "neurosim" / "__init__.py").is_file():   # test this checkout's neurosim, installed or not
    sys.path.insert(0, str(ROOT))

from neurosim.backends import cuda_status  # noqa: E402
from neurosim.bench import cases, memory  # noqa: E402

STEPS_PER_ROUND = 100
ROUND_MS = STEPS_PER_ROUND * cases.DT_MS


def _sizes() -> list[int]:
    text = os.environ.get("NEUROSIM_BENCH_SIZES", "100,1000,5000,10000,100000")
    return [int(float(x)) for x in text.split(",") if x.strip()]


SIZES = _sizes()
DEVICES = [pytest.param("cpu", id="numpy"),
           pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(
               not cuda_status()[0], reason=f"CUDA not usable: {cuda_status()[1]}"))]


def _rounds(n: int) -> int:
    return 30 if n <= 10_000 else 10 if n <= 100_000 else 3


@pytest.fixture(scope="module")
def built_networks():
    """Networks built and warmed up once per module, keyed by (kind, n, device)."""
    cache: dict = {}

    def get(kind: str, n: int, device: str) -> cases.Built:
        key = (kind, n, device)
        if key not in cache:
            make = cases.lif_uncoupled if kind == "lif_uncoupled" else cases.lif_recurrent
            built = make(n, device=device)
            built.network.build()
            built.network.run(10.0)
            cache[key] = built
        return cache[key]

    yield get
    cache.clear()


def _median(benchmark) -> float | None:
    stats = getattr(benchmark, "stats", None)
    inner = getattr(stats, "stats", None)
    return getattr(inner, "median", None)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", ["lif_uncoupled", "lif_recurrent"])
def test_step_throughput(benchmark, built_networks, kind, n, device):
    built = built_networks(kind, n, device)
    net = built.network

    def run():
        net.run(ROUND_MS)
        cases.sync(net)

    benchmark.group = f"throughput {kind}"
    benchmark.extra_info.update(network=kind, n_neurons=n, n_synapses=cases.n_synapses(net),
                                steps_per_round=STEPS_PER_ROUND, backend=net.backend)
    before = cases.spike_count(built.monitors)
    t0 = net.t
    benchmark.pedantic(run, rounds=_rounds(n), warmup_rounds=2, iterations=1)
    med = _median(benchmark)
    if med:
        benchmark.extra_info.update(us_per_step=med / STEPS_PER_ROUND * 1e6,
                                    neuron_updates_per_s=n * STEPS_PER_ROUND / med,
                                    x_realtime=ROUND_MS * 1e-3 / med)
    elapsed = net.t - t0
    rate = (cases.spike_count(built.monitors) - before) / (n * elapsed * 1e-3)
    benchmark.extra_info["mean_rate_hz"] = rate
    assert 5.0 < rate < 60.0, f"{kind} at {n} neurons fired at {rate:.1f} Hz"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [n for n in SIZES if n <= 100_000])
def test_build(benchmark, n, device):
    def setup():
        return (cases.lif_recurrent(n, device=device, record=False).network,), {}

    def build(net):
        net.build()
        cases.sync(net)
        return net

    benchmark.group = "build lif_recurrent"
    net = benchmark.pedantic(build, setup=setup, rounds=3 if n >= 100_000 else 10,
                             warmup_rounds=1, iterations=1)
    n_syn = cases.n_synapses(net)
    benchmark.extra_info.update(n_neurons=n, n_synapses=n_syn)
    med = _median(benchmark)
    if med:
        benchmark.extra_info["synapses_per_s"] = n_syn / med
    assert n_syn == n * cases.recurrent_indegree(n)


@pytest.fixture(scope="module")
def reference_networks():
    cache: dict = {}

    def get(name: str, device: str):
        if (name, device) not in cache:
            ref = cases.build_reference(name, device=device, seed=2)
            ref.network.build()
            ref.network.run(100.0)                  # past the initial transient
            cache[(name, device)] = ref
        return cache[(name, device)]

    yield get
    cache.clear()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["coba", "brunel"])
def test_reference_network(benchmark, reference_networks, name, device):
    ref = reference_networks(name, device)
    net = ref.network

    def run():
        net.run(100.0)
        cases.sync(net)

    benchmark.group = "reference networks (100 ms per round)"
    benchmark.pedantic(run, rounds=5, warmup_rounds=1, iterations=1)
    med = _median(benchmark)
    rates = {k: m.mean_rate() for k, m in ref.monitors.items()}
    benchmark.extra_info.update(network=name, n_neurons=net.n_neurons,
                                n_synapses=cases.n_synapses(net), rates_hz=rates,
                                sim_ms_per_round=100.0)
    if med:
        benchmark.extra_info["x_realtime"] = 0.1 / med
    assert statistics.fmean(rates.values()) > 1.0, f"{name} fell silent: {rates}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("delays", ["constant", "per_synapse"])
def test_memory(benchmark, delays, device):
    benchmark.group = "memory (measured builds)"
    rec = benchmark.pedantic(memory.memory_record, args=(10_000, 100),
                             kwargs={"delays": delays, "device": device}, rounds=1,
                             iterations=1)
    benchmark.extra_info.update({k: rec[k] for k in (
        "n_neurons", "n_synapses", "host_bytes", "device_bytes", "bytes_per_neuron",
        "bytes_per_synapse", "delays", "method")})
    assert 7.0 < rec["bytes_per_synapse"] < 12.0
