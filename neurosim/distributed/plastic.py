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
interval's last step, and after the exchange when it is. The interval boundaries (``d_min``,
the ``run()`` lengths and the scaling steps below) do not depend on the rank count, so neither
do the results. Supported: the rules whose runtime keeps the base step (``STDP``, always with
the column-walking runtime; ``TripletSTDP``; ``RewardSTDP``).

**RewardSTDP**: the eligibility traces are per synapse (the target's rank), the dopamine level
is one number per projection that every rank keeps: ``rule.deliver_reward(R)`` is a collective
call (every rank runs the same script), which checks with one ``allgather`` that every rank
delivers the same ``R`` at the same step (the reward is computed from monitors, which hold the
whole network's spikes on every rank, or broadcast by the script) and raises on every rank,
naming the ranks and amounts, if not (:func:`agree_reward`). Every rank then moves its dopamine
level the same way, so the weights learnt are those of one process.

**Homeostasis** is per target neuron, so local to the rank that owns the neuron: each rank runs
the rule for its block of the population (:meth:`~neurosim.distributed.engine.
DistributedNumpyEngine.population_share`). ``AdaptiveThreshold`` and ``IntrinsicPlasticity``
run in the step itself (after the projections' postsynaptic part, as on one process after the
projections' step) from the rank's own spikes. ``SynapticScaling`` changes weights, which on
one process happens after the step's static delivery and the plastic sends; here the static
deliveries of an interval happen after its exchange, so the scaling runs there: its steps
(rate estimates from the rank's own spikes, then the scaling) run after the interval's
deliveries and the last send, and every exchange interval ends at a scaling step
(:func:`intervals`: each interval is cut at the multiples of every scaling period), so no
spike of a later step is delivered, and no plastic weight learns, before the scaling that
precedes it on one process.
"""

from __future__ import annotations

import numpy as np

from ..plasticity.numpy_runtime import PlasticRuntime, select_local


def build_runtimes(engine) -> list:
    """The plastic runtimes of ``engine``'s rank (raises ValueError for unsupported rules),
    then its homeostasis runtimes (one per rule, for the rank's block of the population)."""
    from ..plasticity.stdp import STDP, StdpNumpy
    L, out = engine.L, []
    for proj in engine.net.projections:
        rule = proj.plasticity
        if rule is None:
            continue
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
        # per-postsynaptic-neuron arrays: the rank's block only
        rt.y = {k: y[:b - a].copy() for k, y in rt.y.items()}
        for name in ("post_last", "post_prev"):
            if hasattr(rt, name):
                setattr(rt, name, getattr(rt, name)[:b - a].copy())
        if hasattr(rt, "col_ptr"):
            rt.col_ptr = rt.col_ptr[:b - a + 1].copy()
        out.append(rt)
    engine.plastic = out            # synaptic scaling looks its plastic projections up there
    for pop, rule in engine.net.homeostasis:
        rt = rule.build_numpy(engine, pop)
        rt.scaling_steps = [] if is_scaling(rt) else None
        out.append(rt)
    return out


def is_scaling(rt) -> bool:
    """Whether homeostasis runtime ``rt`` changes weights (SynapticScaling)."""
    from ..plasticity.homeostasis import SynapticScaling
    return isinstance(rt.rule, SynapticScaling)


def scaling_periods(engine) -> list:
    """The periods (steps) of the scaling rules: every exchange interval must end at each
    of their scalings."""
    return sorted({rt.k for rt in engine.plastic if getattr(rt, "scaling_steps", None)
                   is not None})


def intervals(engine, n0: int, n1: int):
    """The exchange intervals ``(a, b)`` of steps ``[n0, n1)``: ``d_min`` steps each from
    ``n0``, cut at the ends of the scaling periods (steps ``b`` with ``b % k == 0`` for the
    period ``k`` of any scaling rule) so that a scaling is the last step of its interval. The
    cuts do not depend on the rank count."""
    m = engine.L.d_min
    periods = scaling_periods(engine)
    a = n0
    while a < n1:
        b = min(n1, a + m)
        for k in periods:
            b = min(b, (a // k + 1) * k)
        yield a, b
        a = b


def agree_reward(rule, amount: float) -> None:
    """Collective on a network distributed over more than one rank: every rank must deliver
    the same reward at the same step (see the module docstring); raises ValueError on every
    rank if not."""
    engine = rule._runtimes[0].engine
    # a NumPy rank's engine holds the communicator, a CUDA rank's (its device engine) not
    comm = getattr(engine, "comm", None) or getattr(engine.net, "comm", None)
    if comm is None or comm.Get_size() < 2:
        return
    step = engine.net._steps_done
    votes = comm.allgather((float(amount), step))
    if any(v != votes[0] for v in votes):
        other = next(r for r, v in enumerate(votes) if v != votes[0])
        err = ValueError(
            f"RewardSTDP.deliver_reward(): the MPI ranks delivered different rewards: rank "
            f"{other} amount={votes[other][0]!r} at step {votes[other][1]}, rank 0 "
            f"amount={votes[0][0]!r} at step {votes[0][1]}; every rank must deliver the same "
            f"amount at the same time (compute it from the monitors, which hold every spike on "
            f"every rank, or share rank 0's with comm.bcast)")
        err._neurosim_agreed = True
        raise err


def post_part(rt, n: int, mine: np.ndarray) -> None:
    """Step ``n``'s postsynaptic side; ``mine``: this rank's spikes of step ``n`` (global ids,
    sorted). Homeostasis: threshold rules step here; scaling rules keep the spikes for
    :func:`finish`."""
    if rt.proj is None:
        if rt.scaling_steps is None:
            rt.step(n, mine, 0)
        else:
            rt.scaling_steps.append((n, mine))
        return
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
    if rt.proj is None:
        return
    E = select_local(S, rt.pre_lo, rt.n_pre)
    if E.size:
        rt._schedule(e, E)
    rt._advance_pre(e, E)


def send(rt, n: int, ring, D: int) -> None:
    """In step ``n``: the arrivals of step ``n + 1`` into ring slot ``(n + 1) % D``
    (nothing for homeostasis runtimes)."""
    if rt.proj is None:
        return
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


def finish(rt, n: int, ring, D: int) -> None:
    """After an interval's exchange and deliveries, ``n`` its last step: the projections'
    :func:`send` of step ``n``; the scaling rules' steps kept since the last interval (rate
    estimates, then the scaling at the interval's end), after every projection's send."""
    if rt.proj is not None:
        send(rt, n, ring, D)
    elif rt.scaling_steps:
        for step, mine in rt.scaling_steps:
            rt.step(step, mine, D)
        rt.scaling_steps.clear()
