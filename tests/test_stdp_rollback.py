"""The NumPy rollback copy of the deferred STDP runtime holds no ``Z``: ``Z`` is rebuilt from
the postsynaptic spikes since the last settling sweep (issue 13, the cost of learning). A chunk
that fails half-way must continue exactly as the uninterrupted run, also where a settling sweep
fell inside the failed chunk, where many rows arrived at once (the synapse-id path), and after
a state was loaded from elsewhere (then ``Z`` is copied until the next sweep)."""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.plasticity.stdp import ROW_SLICES, StdpDeferredNumpy

DT = 0.1
T_END = 90.0


def build(seed: int = 3):
    """Poisson and a synchronous volley (more than ROW_SLICES rows at once) -> LIF through
    additive STDP with one delay; tau_plus = 1 ms, so a settling sweep every 20 ms."""
    net = ns.Network(dt=DT, device="cpu", seed=seed)
    poi = net.add_population(60, ns.PoissonSource(rate=80.0), name="poi")
    n_volley = ROW_SLICES + 20
    vol = net.add_population(n_volley, ns.SpikeSource([[12.0, 47.0]] * n_volley), name="vol")
    pop = net.add_population(30, ns.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_thresh=10.0,
                                        tau_refrac=1.0, synapse="delta"), name="pop")
    rule = dict(A_plus=0.02, A_minus=0.021, tau_plus=1.0, tau_minus=2.0, w_max=2.0)
    net.connect(poi, pop, ns.FixedProbability(0.5), weight=ns.Uniform(0.5, 1.5), delay=0.3,
                plasticity=ns.STDP(**rule), name="p")
    net.connect(vol, pop, ns.FixedProbability(0.3), weight=ns.Uniform(0.0, 0.2), delay=0.5,
                plasticity=ns.STDP(**rule), name="v")
    mon = net.record_spikes(pop)
    net.build()
    rts = net._engine.plastic
    assert all(type(rt) is StdpDeferredNumpy and rt.d is None for rt in rts)
    return net, mon


def final(net, mon):
    return [p.weights for p in net.projections], (mon.steps, mon.indices)


def assert_same(a, b):
    (wa, sa), (wb, sb) = a, b
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(sa, sb):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def reference():
    net, mon = build()
    net.run(T_END)
    return final(net, mon)


class _Boom(MemoryError):
    pass


@pytest.mark.parametrize("t_first, k", [(0.0, 150), (0.0, 640), (45.0, 710)],
                         ids=["no-sweep", "sweeps-inside", "after-sweeps"])
def test_failed_chunk_continues_exactly(reference, monkeypatch, t_first, k):
    net, mon = build()
    if t_first:
        net.run(t_first)
    eng = net._engine
    eng._chunk = 10 ** 5                      # one chunk to the end: the failure rolls it back
    rt = eng.plastic[1]
    restored = []
    original_restore = StdpDeferredNumpy.rollback_restore
    monkeypatch.setattr(StdpDeferredNumpy, "rollback_restore",
                        lambda self, mark: (restored.append(mark[0]),
                                            original_restore(self, mark))[1])
    original_step = rt.step

    def failing(n, *args):
        if n == k:
            raise _Boom(f"step {k}")
        return original_step(n, *args)
    rt.step = failing
    with pytest.raises(_Boom):
        net.run(T_END - t_first)
    assert net._steps_done == round(t_first / DT)
    assert len(restored) == 2, "both runtimes' Z must have been rebuilt, not copied"
    del rt.step
    net.run(T_END - net.t)
    assert_same(final(net, mon), reference)


def test_rebuilt_z_equals_the_live_one():
    net, mon = build()
    net.run(48.0)                            # just after the volley arrived; T = 400
    for rt in net._engine.plastic:
        mark = rt.rollback_mark()
        assert mark is not None and mark[0] == rt.T > 0 and mark[2] > 0
        z = rt.Z.copy()
        assert z.any()
        rt.rollback_restore(mark)
        np.testing.assert_array_equal(rt.Z, z)


def test_loaded_state_copies_z_until_the_next_sweep(reference):
    net, mon = build()
    net.run(30.0)
    eng = net._engine
    eng.import_state(eng.export_state(), "test")
    snap = eng.snapshot()
    assert "plastic0/Z.replay" not in snap and snap["plastic0/Z"] is not eng.plastic[0].Z
    net.run(T_END - 30.0)
    assert_same(final(net, mon), reference)
    assert eng.plastic[0].rollback_mark() is not None     # known again after a sweep


def test_replay_entry_refused_in_a_users_state():
    net, _ = build()
    net.run(5.0)
    eng = net._engine
    state = eng.export_state()
    state["plastic0/Z.replay"] = np.array((0, [], 0), dtype=object)
    with pytest.raises(ValueError, match="Z.replay"):
        eng.import_state(state, "test")


def test_a_foreign_mark_is_refused():
    net, _ = build()
    net.run(30.0)
    rt = net._engine.plastic[0]
    T, hist, size = rt.rollback_mark()
    with pytest.raises(RuntimeError, match=r"T = 201.*T = 200"):
        rt.rollback_restore((T + 1, hist, size))
    with pytest.raises(RuntimeError, match="did not reproduce the accumulator v"):
        rt.rollback_restore((T, hist, size - 1))       # a spike step missing
