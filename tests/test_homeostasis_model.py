"""Homeostasis rules as descriptions (neurosim.plasticity.homeostasis_model): a rule written
once in the code language runs on every backend, against a closed form computed here; the
description's errors name the rule, the block and the name at fault."""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.models.language import ModelDefinitionError
from neurosim.plasticity import (DESCRIBED_HOMEOSTASIS, DescribedHomeostasis,
                                 HomeostasisModel)

DT = 0.1
PARROT = dict(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=20.0, tau_refrac=0.5,
              synapse="delta")

#: a per-neuron spike trace (decays with tau, +1 per spike) and, every interval, a snapshot
#: of it and the spikes counted in the interval
TRACE = HomeostasisModel(
    "test_spike_trace",
    parameters={"tau": 20.0, "period": 5.0},
    state={"a": 0.0, "snap": 0.0, "count": 0.0, "last": 0.0},
    derived={"P": "exp(-dt / tau)"},
    every_step="a = a * P",
    on_spike="a += 1\ncount += 1",
    every_interval="snap = a\nlast = count\ncount = 0",
    interval="period")


class SpikeTrace(DescribedHomeostasis):
    description = TRACE

    def __init__(self, tau: float, period: float):
        super().__init__()
        self.tau, self.period = tau, period


def _run(device, spikes, t_end):
    net = ns.Network(dt=DT, device=device, seed=1)
    teach = net.add_population(2, ns.SpikeSource([np.asarray(s) - DT for s in spikes]))
    post = net.add_population(2, ns.LIF(**PARROT))
    net.connect(teach, post, ns.OneToOne(), weight=50.0, delay=DT)
    rule = net.add_homeostasis(post, SpikeTrace(tau=20.0, period=5.0))
    mon = net.record_spikes(post)
    net.run(t_end)
    return rule, mon


def test_a_described_rule_runs_on_every_backend_as_its_closed_form(device):
    spikes = [[3.0, 11.0, 12.0, 27.5], [8.0, 9.0]]
    t_end = 31.0                          # the last interval ended at 30 ms
    rule, mon = _run(device, spikes, t_end)
    for i, s in enumerate(spikes):
        assert list(mon.times[mon.indices == i]) == pytest.approx(s)
    trace = lambda t: [sum(np.exp(-(t - tk) / 20.0) for tk in s if tk <= t)  # noqa: E731
                       for s in spikes]
    np.testing.assert_allclose(rule.value("a"), trace(t_end), rtol=3e-5)           # float32 steps
    np.testing.assert_allclose(rule.value("snap"), trace(30.0), rtol=3e-5)           # float32 steps
    assert list(rule.value("last")) == [1.0, 0.0]          # spikes in (25, 30]
    assert list(rule.value("count")) == [0.0, 0.0]         # none since
    assert rule.value("a").dtype == np.float32
    with pytest.raises(ValueError, match=r"'b' is not a state variable of 'test_spike_trace'"):
        rule.value("b")


def test_a_described_rule_is_bit_identical_on_cpu_and_cuda_host():
    from neurosim.backends import host_build_status
    if not host_build_status()[0]:
        pytest.skip("cuda:host unavailable")
    spikes = [[3.0, 11.0, 12.0, 27.5], [8.0, 9.0]]
    a, _ = _run("cpu", spikes, 31.0)
    b, _ = _run("cuda:host", spikes, 31.0)
    for name in TRACE.state:
        np.testing.assert_array_equal(a.value(name), b.value(name))


def test_builtin_descriptions_generate_numpy_and_cuda_code():
    for d in DESCRIBED_HOMEOSTASIS:
        fns, sources = d.numpy()
        assert set(fns) == set(d.blocks) and all(callable(f) for f in fns.values())
        filename, kernels, source = d.cuda()
        assert filename.startswith(f"generated-homeostasis-{d.name}-")
        for kernel in kernels.values():
            assert f"NS_GLOBAL void {kernel}(" in source


@pytest.mark.parametrize("kwargs, match", [
    (dict(every_step="tau = 1.0"), r"every_step.*tau"),
    (dict(every_step="a = a * Q"), r"every_step.*'Q'"),
    (dict(every_interval="a = 0"), r"every_interval needs interval="),
    (dict(every_step="a = a", threshold="b"), r"threshold must name a state variable"),
    (dict(every_step="a = a", interval="a"), r"interval must name a parameter"),
    (dict(), r"every_step, on_spike or every_interval must hold code"),
])
def test_description_errors_name_the_rule_and_what_is_wrong(kwargs, match):
    with pytest.raises(ModelDefinitionError, match=match) as err:
        HomeostasisModel("bad_rule", parameters={"tau": 1.0}, state={"a": 0.0}, **kwargs)
    assert "bad_rule" in str(err.value)


def test_reserved_state_names_are_refused():
    with pytest.raises(ModelDefinitionError, match=r"'thr' is reserved"):
        HomeostasisModel("bad_rule", parameters={}, state={"thr": 0.0}, every_step="thr = 1")
