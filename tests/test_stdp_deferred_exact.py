"""The deferred STDP runtime's fused passes give bit for bit the weights of its plain form.

:class:`~neurosim.plasticity.stdp.StdpDeferredNumpy` reads arriving rows as slices, gathers with
``take``, clips only where a bound is reached and settles in blocks with a per-neuron factor
(issue 13, the cost of learning). ``_Plain`` below is the same algorithm written plainly (fancy
indexing with synapse ids, a clip every time, a copy for the undo record, the settling sweep over
all synapses at once): the arithmetic of the runtime before those changes. Both run the same
network, spikes and weights compared exactly, through everything that touches the passes:
settling sweeps (short ``tau_plus``), weights reaching both bounds, many rows arriving at once
(the synapse-id path), constant and per-synapse delays, both pairings, the learning switch and
weight writes between runs.
"""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim.plasticity.numpy_runtime import row_ranges
from neurosim.plasticity.stdp import ROW_SLICES, StdpDeferredNumpy

DT = 0.1


class _Plain(StdpDeferredNumpy):
    def _arrive(self, n, J, syn, D):
        a = n + 1
        if syn is None:
            syn = row_ranges(self.indptr, J)
        i = self.post[syn].astype(np.intp)
        w, Zs, vi = self.w[syn], self.Z[syn], self.v[i]
        learn = bool(self.rule.enabled)
        if learn and self.a_plus:
            if J is not None:
                lens = self.indptr[J + 1] - self.indptr[J]
                g = np.repeat(self.a_plus * self.X[J] * np.exp((self.t0[J] - self.T) * self.lam),
                              lens)
            else:
                g = self.a_plus * self.X[syn] * np.exp((self.t0[syn] - self.T) * self.lam)
            g *= vi - Zs
            w += g.astype(self.real)
            np.minimum(w, self.w_max, out=w)
        np.add.at(self.engine.ring[a % D], i + self.col_base, w)
        dep = self.ydep[i]
        applied = learn and bool(self.a_minus)
        self._undo = (syn, w.copy(), dep, applied)
        if applied:
            w -= dep
            np.maximum(w, self.w_min, out=w)
        self.w[syn] = w
        self.Z[syn] = vi
        u = J if J is not None else syn
        X = self.X[u] * np.exp(-(a - self.t0[u]) * self.lam)
        self.X[u] = X + 1.0 if self.all_to_all else 1.0
        self.t0[u] = a

    def settle(self, upto):
        if self.pre.size and self.rule.enabled and self.a_plus:
            ti = self.pre if self.d is None else np.arange(self.pre.size)
            self.w[:] = self.add_owed(self.w, self._owed(ti, slice(None), self.post))
        T = upto + 1
        keep = self.t0 < T
        self.X[keep] *= np.exp(-(T - self.t0[keep]) * self.lam)
        self.t0[keep] = T
        self.v[:] = 0.0
        self.Z[:] = 0.0
        self.T = T


class _PlainSTDP(ns.STDP):
    def build_numpy(self, engine, proj):
        return _Plain(engine, proj, self)


def _net(rule_cls, pairing, delay, n_pre):
    rng = np.random.default_rng(3)
    net = ns.Network(dt=DT, seed=2)
    # Poisson input; every source neuron also fires at 20, 60, 100 ms: more rows arrive in
    # one step than ROW_SLICES (synapse ids instead of row slices)
    times = [np.sort(np.concatenate([rng.uniform(1.0, 150.0, 6), [20.0, 60.0, 100.0]]))
             for _ in range(n_pre)]
    pre = net.add_population(n_pre, ns.SpikeSource(times))
    post = net.add_population(40, ns.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0,
                                         v_thresh=15.0, tau_refrac=1.0, synapse="delta"))
    rule = rule_cls(A_plus=0.4, A_minus=0.45, tau_plus=2.0, tau_minus=3.0, w_min=0.0,
                    w_max=1.5, pairing=pairing)
    proj = net.connect(pre, post, ns.FixedProbability(0.3), weight=ns.Uniform(0.0, 1.5),
                       delay=delay, plasticity=rule)
    drive = net.add_population(40, ns.PoissonSource(rate=300.0))
    net.connect(drive, post, ns.OneToOne(), weight=8.0, delay=DT)
    mon = net.record_spikes(post)
    return net, proj, rule, mon


@pytest.mark.parametrize("pairing", ["all", "nearest"])
@pytest.mark.parametrize("delay", ["constant", "per-synapse"])
def test_fused_passes_give_the_plain_forms_weights(pairing, delay):
    d = 1.5 if delay == "constant" else ns.Uniform(0.1, 3.0)
    n_pre = ROW_SLICES + 44
    runs = [_net(cls, pairing, d, n_pre) for cls in (ns.STDP, _PlainSTDP)]
    rts = [net._ensure_built().plastic[0] for net, *_ in runs]
    assert type(rts[0]) is StdpDeferredNumpy and type(rts[1]) is _Plain
    for k, (ms, change) in enumerate([(45.0, "off"), (30.0, "on"), (35.0, "write"),
                                      (40.0, None)]):
        for net, *_ in runs:
            net.run(ms)
        (_, pa, ra, ma), (_, pb, rb, mb) = runs
        wa, wb = pa.weights, pb.weights
        np.testing.assert_array_equal(wa, wb, err_msg=f"run {k}")
        np.testing.assert_array_equal(ma.indices, mb.indices)
        np.testing.assert_array_equal(ma.times, mb.times)
        if change in ("off", "on"):
            ra.enabled = rb.enabled = change == "on"
        elif change == "write":
            pa.weights = pb.weights = np.clip(wa * 0.8 + 0.1, 0.0, 1.5)
    w = runs[0][1].weights
    # the runs did what they are for: settling sweeps, both bounds reached, spikes
    assert rts[0].K == 400           # 20 tau_plus: sweeps within the first run too
    assert (w == 0.0).any() and (w == 1.5).any() and ((w > 0) & (w < 1.5)).any()
    assert runs[0][3].num_spikes > 100
