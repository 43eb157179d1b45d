r"""The NumPy runtime of a plastic projection: storage, spike delivery, traces, event order.

Storage
-------
The synapses of a plastic projection live in their own CSR, sorted by presynaptic neuron (the
order of ``proj.sources``/``weights``...): ``pre``, ``post`` (int32, population-local),
``w`` (the network's real type: float32, or float64 in double), delay steps (one constant, or
int per synapse), ``indptr`` (rows). A column index ``col_ptr``/``col_syn`` (with
``col_pre``/``col_d``, the presynaptic neurons and delays in column order) lists, per postsynaptic neuron, the positions of its synapses in that CSR, so a
postsynaptic spike walks its column without touching other synapses.

Time
----
Step ``n`` ends at ``t_{n+1} = (n+1) dt``; spikes of step ``n`` are stamped ``t_{n+1}``. A
presynaptic spike of step ``e`` through a synapse of delay ``d`` steps *arrives* in step
``a = e + d``, at ``t_{a+1}`` (ring slot ``a % D``, read by step ``a``), exactly like a static
synapse. Plasticity treats the whole delay as axonal (as Brian2 does by default): the synapse
sees the presynaptic spike when it arrives and the postsynaptic spike when it is emitted,
``Delta t = t_post - t_arrival``.

Event order (event-by-event runtime, this module's :class:`PlasticRuntime`). The engine calls
``step(n, S, D)`` after the neurons were updated and the static synapses delivered; in it:

1. **remember** the presynaptic spikes of step ``n`` until the step before their arrival;
2. **advance presynaptic traces**: row ``n % R`` of each presynaptic trace ring is row
   ``n - 1`` times ``P = exp(-dt/tau)``, plus the jumps of the spikes of step ``n``. The trace a
   synapse of delay ``d`` sees at step ``n`` is row ``n - d`` (its arrivals up to ``t_{n+1}``):
   exact for any mix of delays, with ``R = max delay + 2`` rows per presynaptic neuron;
3. **decay postsynaptic traces** to ``t_{n+1}`` (multiply by ``P``);
4. **arrivals of step n** (at ``t_{n+1}``): each touched synapse is *depressed* with the
   postsynaptic trace, which does not yet contain postsynaptic spikes of step ``n``;
5. **postsynaptic spikes** of step ``n``: each synapse of their columns is *potentiated* with the
   presynaptic trace it sees, which contains the arrivals of step ``n`` — a pair with
   ``Delta t = 0`` counts as causal (potentiation; with delta synapses such an arrival can indeed
   cause the spike); then the postsynaptic traces jump;
6. **send the arrivals of step n + 1** into ring slot ``(n + 1) % D`` with the weights they
   have now: a spike carries the weight of its synapse at its arrival, after all learning of the
   earlier steps and before its own depression (as ``on_pre`` in Brian2).

No step touches a synapse that neither receives a spike nor belongs to a spiking neuron's
column; per-neuron work (trace decay) is O(neurons) per step. Additive pair STDP with all-to-all
or nearest pairing uses a runtime with the same semantics that never walks columns
(:class:`neurosim.plasticity.stdp.StdpDeferredNumpy`).

What a rule does at steps 4 and 5 is its description's ``on_pre`` / ``on_post`` code
(:class:`~neurosim.plasticity.description.PlasticityModel`), run by :class:`RuleNumpy` through
the functions generated from it (:mod:`neurosim.plasticity.generate`); rules with a ``between``
block bring each synapse up to date before its events and before its spike is sent.
"""

from __future__ import annotations

import numpy as np

from ..engine.layout import _ranges, generate_projection
from ..models.snippets import DECAY, ELAPSED, TRACE_JUMP, numpy_function, propagator

NEVER = np.int64(-(2 ** 40))      # "no spike yet", as a step index
_EMPTY = np.zeros(0, np.int64)


def select_local(S: np.ndarray, lo: int, n: int) -> np.ndarray:
    """Population-local indices of the global spike ids ``S`` that fall in ``[lo, lo + n)``."""
    if not S.size:
        return _EMPTY
    sel = S[(S >= lo) & (S < lo + n)]
    return sel - lo if lo else sel


def row_ranges(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions of the CSR rows ``rows`` (concatenated), cheaply for the common small cases."""
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    if rows.size == 1:
        a = int(starts[0])
        return np.arange(a, a + int(lens[0]), dtype=np.int64)
    top = int(lens.max())
    if top <= 1:                            # rows of at most one synapse (one-to-one, sparse)
        return starts if top and lens.min() else starts[lens > 0]
    return _ranges(starts, lens)


class Column:
    """Synapses of postsynaptic spikers, in column order: ids ``syn``, presynaptic neurons
    ``pre``, delays ``d`` (None when constant) and, computed on first use, postsynaptic
    neurons ``post``."""

    __slots__ = ("syn", "pre", "d", "_Q", "_counts", "_post")

    def __init__(self, syn, pre, d, Q, counts):
        self.syn, self.pre, self.d = syn, pre, d
        self._Q, self._counts, self._post = Q, counts, None

    @property
    def post(self) -> np.ndarray:
        if self._post is None:
            self._post = np.repeat(self._Q, self._counts)
        return self._post


class PlasticRuntime:
    """Base runtime (see module docstring): storage, traces, pending arrivals, the step.

    Subclasses declare ``pre_traces`` / ``post_traces`` as ``{name: (tau_ms, all_to_all)}`` and
    ``track_times`` (True when they need the last and previous spike steps), and implement
    ``on_arrival(n, syn, learn)`` and ``on_post(n, syn, learn)``: :class:`RuleNumpy` does, for
    every described rule, with the code generated from its description.
    """

    pre_traces: dict = {}
    post_traces: dict = {}
    track_times = False
    needs_columns = True

    def __init__(self, engine, proj, rule):
        self.engine, self.proj, self.rule = engine, proj, rule
        L = engine.L
        self.dt = L.dt
        # the network's real type (float32, or float64 with precision="double"): weights,
        # traces, per-synapse state and constants (computed in float64, rounded once to it)
        self.real = np.dtype(getattr(L, "dtype", np.float32)).type
        # a distributed engine draws the synapses onto its own neurons (neurosim.distributed)
        draw = getattr(engine, "plastic_synapses", None)
        pre, post, w, steps = (draw(proj) if draw is not None
                               else generate_projection(engine.net, proj, L.pop_group))
        order = np.argsort(pre, kind="stable")
        self.n_pre, self.n_post = proj.pre.size, proj.post.size
        self.pre = np.ascontiguousarray(pre[order], np.int32)
        self.post = np.ascontiguousarray(post[order], np.int32)
        self.w = np.array(w[order] if np.ndim(w) else np.broadcast_to(w, pre.shape),
                          self.real)
        steps = np.asarray(steps)[order]
        n = self.pre.size
        self.indptr = np.zeros(self.n_pre + 1, np.int64)
        np.cumsum(np.bincount(self.pre, minlength=self.n_pre), out=self.indptr[1:])
        if n and steps.min() != steps.max():
            self.delay, self.d = None, steps.astype(np.int64)
        else:
            self.delay, self.d = (int(steps[0]) if n else 1), None
        if self.needs_columns:
            self.col_syn = np.argsort(self.post, kind="stable").astype(np.int64)
            self.col_ptr = np.zeros(self.n_post + 1, np.int64)
            np.cumsum(np.bincount(self.post, minlength=self.n_post), out=self.col_ptr[1:])
            self.col_pre = self.pre[self.col_syn]     # presynaptic neuron, in column order
            if self.d is not None:
                self.col_d = self.d[self.col_syn]
        max_d = int(steps.max()) if n else 1
        self.R = max_d + 2
        g_pre, off_pre = L.pop_group[proj.pre.index]
        g_post, off_post = L.pop_group[proj.post.index]
        self.pre_lo = g_pre.start + off_pre
        self.post_lo = g_post.start + off_post
        self.recurrent = proj.pre is proj.post
        ch = g_post.model_cls.layout(g_post.options)[1][proj.receptor]
        self.col_base = int(g_post.col_offset + ch * g_post.size + off_post)
        self.cols = self.post + np.int32(self.col_base)          # ring columns
        self.pending: dict = {}                # arrival step -> [spiking rows or synapse ids]
        self.arrived = None                    # synapses sent at the end of the previous step
        # traces: presynaptic ones as rings of R rows, postsynaptic ones as plain arrays
        R_ = self.real
        self.P_pre = {k: propagator(self.dt, tau, R_) for k, (tau, _) in
                      self.pre_traces.items()}
        self.P_post = {k: propagator(self.dt, tau, R_) for k, (tau, _) in
                       self.post_traces.items()}
        # a trace's decay over one step and its jump at a spike (models/snippets.py)
        double = np.dtype(R_) == np.float64
        self._decay = numpy_function(DECAY, ("x", "P"), double, with_out=True)
        self._jump = {a: numpy_function(TRACE_JUMP["all" if a else "nearest"], ("x",), double)
                      for a in (False, True)}
        self.xr = {k: np.zeros((self.R, self.n_pre), R_) for k in self.pre_traces}
        self.y = {k: np.zeros(self.n_post, R_) for k in self.post_traces}
        if self.track_times:
            self.pre_last = np.full((self.R, self.n_pre), NEVER, np.int64)
            self.pre_prev = np.full((self.R, self.n_pre), NEVER, np.int64)
            self.post_last = np.full(self.n_post, NEVER, np.int64)
            self.post_prev = np.full(self.n_post, NEVER, np.int64)
        rule._bind(self)

    # -- the step ------------------------------------------------------------------------------
    def step(self, n: int, S: np.ndarray, D: int) -> None:
        E = select_local(S, self.pre_lo, self.n_pre)
        Q = E if self.recurrent else select_local(S, self.post_lo, self.n_post)
        if E.size:
            self._schedule(n, E)
        self._advance_pre(n, E)
        for k, P in self.P_post.items():
            y = self.y[k]
            self._decay(y, P, y)
        learn = bool(self.rule.enabled)
        if self.arrived is not None:            # sent at the end of step n - 1, arriving now
            syn, self.arrived = self.arrived, None
            self.on_arrival(n, syn, learn)
        if Q.size:
            self.on_post(n, self.column(Q), learn)
            self._post_jump(n, Q)
        arr = self.pending.pop(n + 1, None)
        if arr is not None:
            if self.d is None:
                syn = self.row_synapses(arr[0] if len(arr) == 1 else np.concatenate(arr))
            else:
                syn = arr[0] if len(arr) == 1 else np.concatenate(arr)
            if syn.size:
                self.before_delivery(n, syn)
                np.add.at(self.engine.ring[(n + 1) % D], self.cols[syn], self.w[syn])
                self.arrived = syn

    def _schedule(self, n: int, E: np.ndarray) -> None:
        """Remember the spikes of step ``n`` until the step before their arrival."""
        if self.d is None:
            self.pending.setdefault(n + self.delay, []).append(E)
            return
        syn = self.row_synapses(E)
        d = self.d[syn]
        order = np.argsort(d, kind="stable")
        cuts = np.flatnonzero(np.diff(d[order])) + 1
        for part in np.split(order, cuts):
            if part.size:
                self.pending.setdefault(n + int(d[part[0]]), []).append(syn[part])

    def _advance_pre(self, n: int, E: np.ndarray) -> None:
        r, r0 = n % self.R, (n - 1) % self.R
        for k, (_, all_to_all) in self.pre_traces.items():
            ring = self.xr[k]
            self._decay(ring[r0], self.P_pre[k], ring[r])
            if E.size:
                ring[r, E] = self._jump[all_to_all](ring[r, E])
        if self.track_times:
            self.pre_last[r] = self.pre_last[r0]
            self.pre_prev[r] = self.pre_prev[r0]
            if E.size:
                self.pre_prev[r, E] = self.pre_last[r, E]
                self.pre_last[r, E] = n

    def _post_jump(self, n: int, Q: np.ndarray) -> None:
        for k, (_, all_to_all) in self.post_traces.items():
            self.y[k][Q] = self._jump[all_to_all](self.y[k][Q])
        if self.track_times:
            self.post_prev[Q] = self.post_last[Q]
            self.post_last[Q] = n

    # -- what a synapse sees -------------------------------------------------------------------
    def row_synapses(self, E: np.ndarray) -> np.ndarray:
        return row_ranges(self.indptr, E)

    def column(self, Q: np.ndarray) -> "Column":
        """The synapses of the columns of postsynaptic neurons ``Q`` (positions in column
        order, so that their presynaptic neurons and delays are read sequentially)."""
        cp = self.col_ptr
        pos = row_ranges(cp, Q)
        return Column(self.col_syn[pos], self.col_pre[pos],
                      None if self.d is None else self.col_d[pos], Q, cp[Q + 1] - cp[Q])

    def _ring_index(self, syn, n: int, back: int = 0):
        """(row, column) of the presynaptic rings that synapses ``syn`` (an array of synapse
        ids or a :class:`Column`) see at the end of step ``n - back``."""
        if isinstance(syn, Column):
            j, d = syn.pre, syn.d
        else:
            j, d = self.pre[syn], (None if self.d is None else self.d[syn])
        if d is None:
            return (n - self.delay - back) % self.R, j
        return (n - back - d) % self.R, j

    def pre_trace(self, name: str, syn, n: int, back: int = 0) -> np.ndarray:
        """Presynaptic trace ``name`` as synapses ``syn`` see it at the end of step ``n - back``."""
        row, j = self._ring_index(syn, n, back)
        return self.xr[name][row, j]

    def arrival_steps(self, syn, n: int):
        """(last, previous) arrival steps at synapses ``syn`` as of step ``n``."""
        row, j = self._ring_index(syn, n)
        if self.d is None:
            d = self.delay
        else:
            d = syn.d if isinstance(syn, Column) else self.d[syn]
        return self.pre_last[row, j] + d, self.pre_prev[row, j] + d

    # -- hooks ---------------------------------------------------------------------------------
    def sync(self) -> None:
        """Bring lazily updated state up to the current time (rules with lazy weights)."""

    def before_delivery(self, n: int, syn: np.ndarray) -> None:
        """Bring the weights of ``syn`` up to date before they are sent (lazy rules)."""

    def on_arrival(self, n: int, syn: np.ndarray, learn: bool) -> None:  # pragma: no cover
        raise NotImplementedError

    def on_post(self, n: int, col: Column, learn: bool) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- engine interface ----------------------------------------------------------------------
    @property
    def n_synapses(self) -> int:
        return int(self.pre.size)

    def current_weights(self) -> np.ndarray:
        self.sync()
        return self.w

    def array(self, kind: str) -> np.ndarray:
        if kind == "sources":
            return self.pre.copy()
        if kind == "targets":
            return self.post.copy()
        if kind == "weights":
            return self.current_weights().copy()
        if kind == "delays":
            steps = np.full(self.pre.size, self.delay) if self.d is None else self.d
            return steps.astype(np.float64) * self.dt
        raise ValueError(f"unknown projection array {kind!r}")

    def set_weights(self, values: np.ndarray) -> None:
        values = np.asarray(values, self.real)
        lo, hi = self.rule.w_min, self.rule.w_max
        if values.size and (values.min() < lo or values.max() > hi):
            raise ValueError(f"Projection.weights of {self.proj.name!r}: plastic weights must lie "
                             f"within [w_min, w_max] = [{lo}, {hi}], got values in "
                             f"[{values.min()}, {values.max()}]")
        self.sync()
        self.w[:] = values


def modulator_level(level, since: int, steps, dt, tau, rest, real=np.float32):
    """A modulator's level at the end of ``steps`` (>= ``since``, the step of its last change,
    right after which it was ``level``): exponential relaxation to ``rest`` in ``real``
    (float32, or float64 in a double network; ``level``, ``tau``, ``rest`` of that type). The
    host side of both runtimes; it and the kernels' are generated from
    :data:`~.generate.MODULATOR_RELAXATION`)."""
    from .generate import modulator_relaxation
    el = numpy_function(ELAPSED, ("steps", "dt"), np.dtype(real) == np.float64)(
        (np.asarray(steps) - since).astype(real), real(dt))
    return modulator_relaxation(np.dtype(real) == np.float64)(level, el, tau, rest)


class RuleNumpy(PlasticRuntime):
    """The NumPy runtime of a described rule (:class:`~.description.DescribedRule`): its
    traces, per-synapse state, and the generated ``on_pre``/``on_post``/``between`` functions
    called with the values the touched synapses see (see :mod:`.description`)."""

    def __init__(self, engine, proj, rule):
        d = rule.description
        self.spec = d
        all_to_all = rule.pairing == "all"
        params = rule.parameters
        self.pre_traces = {t: (params[tau], all_to_all) for t, tau in d.pre_traces.items()}
        self.post_traces = {t: (params[tau], all_to_all) for t, tau in d.post_traces.items()}
        self.track_times = rule.pairing == "nearest_reduced"
        super().__init__(engine, proj, rule)
        R_ = self.real
        self.fns = d.numpy(double=R_ is np.float64)[0]
        self.consts = dict(rule.constants(R_), dt=R_(self.dt))
        n = self.pre.size
        self.syn_state = {s: np.full(n, R_(v), R_) for s, v in d.state.items()}
        self.reads = {k: b.reads | b.writes for k, b in d.blocks().items()}
        self.post_names = [t for t in self.post_traces if t in self.reads.get("on_pre", ())]
        self.pre_names = [t for t in self.pre_traces if t in self.reads.get("on_post", ())]
        self.pre_back = [t for t in self.pre_traces if t in self.reads.get("on_pre", ())]
        self.post_seen = [t for t in self.post_traces if t in self.reads.get("on_post", ())]
        # per block: (function, reads w, state read) -- looked up once, not per event
        self.lazy = d.lazy
        self.calls = {k: (self.fns[k], "w" in used, [s for s in self.syn_state if s in used])
                      for k, used in self.reads.items()}
        self.f_pre = self.calls.get("on_pre")
        self.f_post = self.calls.get("on_post")
        if d.lazy:
            self.t1 = np.full(n, -1, np.int64)      # step whose end the synapse is brought to
            self._elapsed = numpy_function(ELAPSED, ("steps", "dt"), R_ is np.float64)
            m = d.modulator
            if m is not None:
                self.mod_tau = R_(params[m["tau"]])
                self.mod_rest = R_(params[m["rest"]])
                self.d_r, self.r_step = self.mod_rest, -1

    def _values(self, call, syn) -> dict:
        v = self.consts.copy()
        if call[1]:
            v["w"] = self.w[syn]
        for s in call[2]:
            v[s] = self.syn_state[s][syn]
        return v

    def _store(self, out: dict, syn, weights: bool = True) -> None:
        for k, a in out.items():
            if k == "w":
                if weights:
                    self.w[syn] = a
            else:
                self.syn_state[k][syn] = a

    def on_arrival(self, n, syn, learn):
        if self.lazy:
            self._bring(syn, n)
        call = self.f_pre
        if not learn or call is None:
            return
        v = self._values(call, syn)
        if self.post_names:
            i = self.post[syn]
            keep = None
            if self.track_times:                # only the first arrival after a post spike
                _, prev_arrival = self.arrival_steps(syn, n)
                keep = self.post_last[i] >= prev_arrival
            for t in self.post_names:
                y = self.y[t][i]
                v[t] = y if keep is None else np.where(keep, y, self.real(0.0))
        for t in self.pre_back:             # just before this arrival's own jump
            v[t] = self._decay(self.pre_trace(t, syn, n, back=1), self.P_pre[t])
        self._store(call[0](v), syn)

    def on_post(self, n, col, learn):
        if self.lazy:
            self._bring(col.syn, n)
        call = self.f_post
        if not learn or call is None:
            return
        syn = col.syn
        v = self._values(call, syn)
        if self.pre_names:
            keep = None
            if self.track_times:                # only the first post spike after an arrival
                last_arrival, _ = self.arrival_steps(col, n)
                keep = last_arrival > self.post_last[col.post]
            for t in self.pre_names:
                x = self.pre_trace(t, col, n)
                v[t] = x if keep is None else np.where(keep, x, self.real(0.0))
        for t in self.post_seen:                # not yet jumped for this step's spike
            v[t] = self.y[t][col.post]
        self._store(call[0](v), syn)

    # -- rules with a between block: lazy, exact integration -----------------------------------
    def _now(self) -> int:
        return self.engine.step_now

    def _modulator_at(self, steps):
        """The modulator at the end of ``steps`` (>= its last change)."""
        return modulator_level(self.d_r, self.r_step, steps, self.dt, self.mod_tau,
                               self.mod_rest, self.real)

    def modulator_now(self) -> float:
        return float(self._modulator_at(self._now()))

    def _bring(self, syn: np.ndarray, n: int) -> None:
        t1 = self.t1[syn]
        v = self._values(self.calls["between"], syn)
        v["elapsed"] = self._elapsed((n - t1).astype(self.real), self.real(self.dt))
        m = self.spec.modulator
        if m is not None and m["name"] in self.reads["between"]:
            v[m["name"]] = self._modulator_at(t1)
        self._store(self.fns["between"](v), syn, weights=bool(self.rule.enabled))
        self.t1[syn] = n

    def sync(self) -> None:
        if self.lazy and self.pre.size:
            self._bring(np.arange(self.pre.size), self._now())

    def before_delivery(self, n, syn):
        if self.lazy:
            self._bring(syn, n)

    def add_modulator(self, amount: float) -> None:
        now = self._now()
        self.sync()
        self.d_r = self.real(self._modulator_at(now) + self.real(amount))
        self.r_step = now
