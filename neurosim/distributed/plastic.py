"""Plasticity across ranks: the rank that owns a synapse's target owns the synapse.

A plastic projection's runtime (:class:`neurosim.plasticity.numpy_runtime.PlasticRuntime`) is
built on each rank for the synapses onto its own neurons (drawn as static ones are, per target
chunk), and its step is cut in three, which the distributed engine calls at different times:

- :func:`post_part` (in step ``n``, before the exchange): decay the postsynaptic traces, the
  arrivals of step ``n`` (depression), the postsynaptic spikes of step ``n`` (potentiation;
  they are this rank's own spikes);
- :func:`send` (the arrivals of step ``n + 1`` into the ring with the weights they have now):
  in step ``n`` too, except for the last step of an exchange interval, whose send waits for the
  exchange;
- :func:`pre_part` (after the exchange, for each step ``e`` of the interval): schedule the
  presynaptic spikes of step ``e`` (every rank's) and advance the presynaptic trace rings.

This gives the single-step order's results: the postsynaptic part of step ``n`` reads the
presynaptic trace rows ``n - d`` (``d >= d_min``), which an earlier interval wrote; a send in
step ``n`` needs the spikes of step ``n + 1 - d``, exchanged already when ``n`` is not the
interval's last step, and after the exchange when it is. The interval boundaries (``d_min``
and the ``run()`` lengths) do not depend on the rank count, so neither do the results.
Supported: the rules whose runtime keeps the base step (``STDP``, always with the
column-walking runtime; ``TripletSTDP``); ``RewardSTDP`` is not (its reward signal is not
shared across ranks yet).
"""

from __future__ import annotations

import numpy as np

from ..plasticity.numpy_runtime import PlasticRuntime, select_local


def build_runtimes(engine) -> list:
    """The plastic runtimes of ``engine``'s rank (raises ValueError for unsupported rules)."""
    from ..plasticity.reward import RewardSTDP
    from ..plasticity.stdp import STDP, StdpNumpy
    L, out = engine.L, []
    for proj in engine.net.projections:
        rule = proj.plasticity
        if rule is None:
            continue
        if isinstance(rule, RewardSTDP):
            raise ValueError(f"distributed run: projection {proj.name!r} uses RewardSTDP, whose "
                             f"reward signal is not shared across MPI ranks yet; run it on one "
                             f"process (distributed=False)")
        rt = StdpNumpy(engine, proj, rule) if type(rule) is STDP else rule.build_numpy(engine,
                                                                                        proj)
        if type(rt).step is not PlasticRuntime.step:
            raise ValueError(f"distributed run: projection {proj.name!r} uses "
                             f"{type(rule).__name__}, whose runtime is not supported across MPI "
                             f"ranks yet; run it on one process (distributed=False)")
        a, b = L.blocks[proj.post.index]
        rt.pre_lo = L.global_starts[proj.pre.index]
        rt.post_lo = L.global_starts[proj.post.index] + a
        rt.n_post = b - a
        rt.post_block = a
        out.append(rt)
    return out


def post_part(rt, n: int, mine: np.ndarray) -> None:
    """Step ``n``'s postsynaptic side; ``mine``: this rank's spikes of step ``n`` (global ids,
    sorted)."""
    Q = select_local(mine, rt.post_lo, rt.n_post)
    for k, P in rt.P_post.items():
        rt.y[k] *= P
    learn = bool(rt.rule.enabled)
    if rt.arrived is not None:
        syn, rt.arrived = rt.arrived, None
        rt.on_arrival(n, syn, learn)
    if Q.size:
        rt.on_post(n, rt.column(Q), learn)
        rt._post_jump(n, Q)


def pre_part(rt, e: int, S: np.ndarray) -> None:
    """Step ``e``'s presynaptic side; ``S``: every rank's spikes of step ``e``."""
    E = select_local(S, rt.pre_lo, rt.n_pre)
    if E.size:
        rt._schedule(e, E)
    rt._advance_pre(e, E)


def send(rt, n: int, ring, D: int) -> None:
    """In step ``n``: the arrivals of step ``n + 1`` into ring slot ``(n + 1) % D``."""
    arr = rt.pending.pop(n + 1, None)
    if arr is None:
        return
    if rt.d is None:
        syn = rt.row_synapses(arr[0] if len(arr) == 1 else np.concatenate(arr))
    else:
        syn = arr[0] if len(arr) == 1 else np.concatenate(arr)
    if syn.size:
        rt.before_delivery(n, syn)
        np.add.at(ring[(n + 1) % D], rt.cols[syn], rt.w[syn])
        rt.arrived = syn


def local_arrays(rt):
    """(sources, targets, weights, delays) of the runtime's synapses, population-local."""
    return (rt.pre.astype(np.int32), (rt.post.astype(np.int64) + rt.post_block).astype(np.int32),
            rt.current_weights().copy(), rt.array("delays"))
