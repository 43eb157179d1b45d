"""LIF (both synapse variants), LIFCond and AdEx written as NeuronModel descriptions give the
results of the hand-written code they replaced, bit for bit.

``tests/data/hand_models_trace.npz`` holds the spikes and state traces of :func:`trace` run by
the hand-written models (neurosim before they became descriptions, commit 3fcf5ce) on ``cpu``
and on ``cuda:host``; written with ``python tests/test_described_builtins.py OUT.npz`` from
that tree. Each network: 12 neurons with every parameter per neuron (+-2 %), 12 with the
defaults and an injected step current, Poisson input on both receptors, refractoriness.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import neurosim as ns

DATA = Path(__file__).parent / "data" / "hand_models_trace.npz"
DT = 0.1
T_MS = 60.0
EVERY = 3

CASES = {
    "lif": lambda **kw: ns.LIF(i_offset=300.0, **kw),
    "lif_delta": lambda **kw: ns.LIF(i_offset=300.0, synapse="delta", **kw),
    "lif_cond": lambda **kw: ns.LIFCond(i_offset=300.0, **kw),
    "adex": lambda **kw: ns.AdEx(i_offset=700.0, tau_refrac=1.0, **kw),
}
WEIGHTS = {"lif": (60.0, -30.0), "lif_delta": (1.5, -0.8), "lif_cond": (3.0, 4.0),
           "adex": (60.0, -30.0)}


def trace(case: str, device: str) -> dict:
    model = CASES[case]()
    rng = np.random.default_rng(5)
    varied = type(model)(**{k: v * rng.uniform(0.98, 1.02, 12)
                            for k, v in model.parameters().items()},
                         **dict(zip(model.option_fields, model.options())))
    net = ns.Network(dt=DT, device=device, seed=3)
    a = net.add_population(12, varied)
    b = net.add_population(12, model)
    net.inject(b, ns.StepCurrent([5.0, 30.0], [150.0, -100.0]))
    w_e, w_i = WEIGHTS[case]
    out = {}
    for name, pop in (("a", a), ("b", b)):
        net.add_poisson_input(pop, rate=800.0, weight=w_e, n_sources=2)
        net.add_poisson_input(pop, rate=500.0, weight=w_i, receptor="inhibitory")
    mons = {name: (net.record_spikes(pop),
                   {v: net.record_state(pop, v, every=EVERY) for v in pop.state_names})
            for name, pop in (("a", a), ("b", b))}
    net.run(T_MS)
    for name, (spikes, states) in mons.items():
        out[f"{case}/{device}/{name}/spikes"] = np.stack([spikes.steps, spikes.indices])
        for v, mon in states.items():
            out[f"{case}/{device}/{name}/{v}"] = np.asarray(mon.values, np.float32)
    return out


@pytest.mark.parametrize("device", ["cpu", "cuda:host"])
@pytest.mark.parametrize("case", list(CASES))
def test_same_bits_as_the_hand_written_model(case, device):
    saved = np.load(DATA)
    got = trace(case, device)
    assert sorted(got) == sorted(k for k in saved.files if k.startswith(f"{case}/{device}/"))
    for key, value in got.items():
        if key.endswith("spikes"):
            assert saved[key].shape[1] > 10, key
        np.testing.assert_array_equal(value, saved[key], err_msg=key)


if __name__ == "__main__":       # write the reference file from the tree on sys.path
    arrays = {}
    for device in ("cpu", "cuda:host"):
        for case in CASES:
            arrays.update(trace(case, device))
    np.savez_compressed(sys.argv[1], **arrays)
    print(ns.__file__, {k: v.shape for k, v in arrays.items() if k.endswith("spikes")})
