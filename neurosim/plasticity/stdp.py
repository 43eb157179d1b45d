r"""Pair-based spike-timing-dependent plasticity (``STDP``), trace-based and event-driven.

For a pair of a presynaptic arrival at ``t_pre`` and a postsynaptic spike at ``t_post``,
``Delta t = t_post - t_pre`` (delays count as axonal, see :mod:`.numpy_runtime`)::

    Delta t >= 0:  w <- w + A_plus  f_+(w) exp(-Delta t / tau_plus)     (potentiation)
    Delta t <  0:  w <- w - A_minus f_-(w) exp( Delta t / tau_minus)    (depression)

with ``f = 1`` (``update="additive"``) or ``f_+ = 1 - u``, ``f_- = u``, ``u = (w - w_min) /
(w_max - w_min)`` (``update="multiplicative"``, soft bounds), then clipped to ``[w_min, w_max]``.
Which pairs count (``pairing``), after Morrison, Diesmann & Gerstner (2008, Fig. 7):

- ``"all"`` (all-to-all): every pre/post pair; traces add ``+1`` per spike;
- ``"nearest"`` (symmetric nearest neighbour, NEST ``stdp_nn_symm_synapse``): a postsynaptic spike
  pairs with the last presynaptic arrival, a presynaptic arrival with the last postsynaptic
  spike; traces are reset to 1 per spike;
- ``"nearest_reduced"`` (restricted symmetric nearest neighbour: Morrison et al. 2008 Fig. 7C,
  NEST ``stdp_nn_restr_synapse``, the scheme of Masquelier, Guyonneau & Thorpe 2008): as
  ``"nearest"``, but a presynaptic arrival depresses only if no other arrival came since that
  postsynaptic spike, and a postsynaptic spike potentiates only if no other postsynaptic spike
  came since that arrival — every spike takes part in at most one potentiating and one
  depressing pair.

Within a step, arrivals are processed before postsynaptic spikes, so ``Delta t = 0`` is a
potentiating pair (and not a depressing one). On a grid of step ``dt`` this shifts the discrete
window by at most one step toward potentiation; rules balanced more finely than ``dt / tau``
(such as Song et al.'s ``A-/A+ = 1.05`` with ``tau = 20`` ms) need ``dt`` well below 1 ms.

The rule is a :class:`~neurosim.plasticity.description.PlasticityModel` (one per update
form, :data:`PAIR`): its ``on_pre``/``on_post`` code is all of its arithmetic, generated for
NumPy (:class:`StdpNumpy`, event by event: every pairing, both updates) and CUDA
(:class:`StdpCuda`). For additive updates with ``"all"``/``"nearest"`` pairing the NumPy backend
runs :class:`StdpDeferredNumpy` instead: the same weights (within float64 settling error),
computed in another order that touches synapses only row by row (no random access by column,
several times cheaper in NumPy). That runtime is not STDP's: it runs every description of the
linear additive form (:mod:`.linear`), taking the coefficients and time constants from it.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..models.snippets import propagator
from .base import PlasticityRule, choice
from .cuda_runtime import RuleCuda
from .description import PlasticityModel, DescribedRule
from .linear import LinearAdditiveForm, linear_additive_form
from .numpy_runtime import PlasticRuntime, RuleNumpy, row_ranges, select_local

PAIRINGS = ("all", "nearest", "nearest_reduced")
UPDATES = ("additive", "multiplicative")


def _pair(update: str) -> PlasticityModel:
    """Pair STDP; multiplicative: soft bounds, ``u = (w - w_min) / (w_max - w_min)``."""
    up = " * ((w_max - w) / (w_max - w_min))" if update == "multiplicative" else ""
    down = " * ((w - w_min) / (w_max - w_min))" if update == "multiplicative" else ""
    return PlasticityModel(
        f"stdp_{update}", form="stdp",
        parameters={"A_plus": 0.01, "A_minus": 0.0105, "tau_plus": 20.0, "tau_minus": 20.0},
        pre_traces={"x": "tau_plus"}, post_traces={"y": "tau_minus"},
        on_pre=f"w -= A_minus * y{down}",
        on_post=f"w += A_plus * x{up}",
        non_negative=("A_plus", "A_minus"), pairings=PAIRINGS,
        doc="pair STDP (Bi & Poo 1998; Song, Miller & Abbott 2000; Morrison et al. 2008)")


#: The descriptions of pair STDP, by ``update``.
PAIR = {u: _pair(u) for u in UPDATES}


class StdpNumpy(RuleNumpy):
    """Event-by-event NumPy runtime of :class:`STDP` (generated from its description)."""


class StdpCuda(RuleCuda):
    """CUDA runtime of :class:`STDP` (kernels generated from its description)."""


class STDP(DescribedRule):
    """Pair-based STDP (see the module docstring for the exact semantics).

    ``A_plus``, ``A_minus``: amplitudes (weight units: pA, nS or mV like the weights), ``>= 0``;
    ``tau_plus``, ``tau_minus``: time constants (ms); ``w_min``, ``w_max``: hard bounds;
    ``pairing``: ``"all"``, ``"nearest"`` or ``"nearest_reduced"``; ``update``: ``"additive"``
    or ``"multiplicative"``. Set ``rule.enabled = False`` to freeze the weights.
    """

    numpy_runtime = StdpNumpy       # where the deferred runtime does not apply (build_numpy)
    cuda_runtime = StdpCuda

    def __init__(self, A_plus: float = 0.01, A_minus: float = 0.0105, tau_plus: float = 20.0,
                 tau_minus: float = 20.0, w_min: float = 0.0, w_max: float = 1.0,
                 pairing: str = "all", update: str = "additive"):
        PlasticityRule.__init__(self, w_min, w_max)
        where = "STDP"
        self.A_plus = V.non_negative(where, "A_plus", A_plus, float32=True)
        self.A_minus = V.non_negative(where, "A_minus", A_minus, float32=True)
        self.tau_plus = V.positive(where, "tau_plus", tau_plus, float32=True)
        self.tau_minus = V.positive(where, "tau_minus", tau_minus, float32=True)
        self.pairing = choice(where, "pairing", pairing, PAIRINGS)
        self.update = choice(where, "update", update, UPDATES)

    @property
    def description(self) -> PlasticityModel:
        return PAIR[self.update]

    def window(self, delta_t) -> np.ndarray:
        """The weight change of one isolated pair (additive form), ``Delta t = t_post - t_pre``."""
        dt = np.asarray(delta_t, float)
        return np.where(dt >= 0, self.A_plus * np.exp(-np.abs(dt) / self.tau_plus),
                        -self.A_minus * np.exp(-np.abs(dt) / self.tau_minus))


#: Arrivals of at most this many presynaptic rows use row slices (see ``_arrive``).
ROW_SLICES = 256
#: Synapses per block of a settling sweep (``StdpDeferredNumpy.settled_weights``).
SETTLE_BLOCK = 1 << 16


class _Rows:
    """The synapse ids of CSR rows ``J``, computed only when asked (rarely: at run boundaries,
    weight reads and writes), for the undo record of the deferred runtime."""

    __slots__ = ("indptr", "J")

    def __init__(self, indptr, J):
        self.indptr, self.J = indptr, J


def _ids(syn):
    if isinstance(syn, _Rows):
        return row_ranges(syn.indptr, syn.J)
    return syn


class StdpDeferredNumpy(PlasticRuntime):
    r"""NumPy runtime of the linear additive rules (:func:`.linear.linear_additive_form`:
    additive :class:`STDP`, or a user's :class:`~.description.PlasticityModel` of that form)
    with ``"all"`` or ``"nearest"`` pairing that touches synapses only row by row (sequential
    memory), never by column. Below, ``A_plus``/``A_minus`` are the description's potentiation
    and depression coefficients (``on_post = "w += A_plus * x"``, ``on_pre = "w -= A_minus *
    y"``) and ``tau_plus``/``tau_minus`` the time constants of its traces ``x`` and ``y``, all
    read from the description (``form``): the rule's equation is written only there.

    Not the rule's arithmetic written a second time but another algorithm for it: the sums of
    the description's additive ``w += A_plus * x`` over a synapse's postsynaptic spikes are
    settled at once from float64 accumulators (tests compare it with the event-by-event
    :class:`StdpNumpy` / :class:`~.numpy_runtime.RuleNumpy`).

    Same semantics as :class:`StdpNumpy`, computed in another order: the potentiation a
    synapse owes for the postsynaptic spikes since its last arrival ``t0`` is settled when its
    next presynaptic spike is about to arrive (end of step ``a - 1``, just before it is sent, so
    the spike carries the same weight as with the eager runtime), or at a sweep. With ``X`` the
    presynaptic trace right after the arrival at ``t0`` (``"all"``: accumulated; ``"nearest"``:
    1) and ``lam = dt / tau_plus``::

        owed = A_plus X sum_{postsynaptic spikes p in [t0, a)} exp(-(p - t0) lam)
             = A_plus X exp((t0 - T) lam) (v_i - Z_s)

    where ``v_i = sum_{p >= T} exp(-(p - T) lam)`` is a float64 accumulator per postsynaptic
    neuron since the reference step ``T`` and ``Z_s`` (float64 per synapse) is ``v_i`` as it was
    at ``t0``. Additive increments of one sign commute with clipping at ``w_max``, so settling
    them together is exact; the depression of the arrival follows (postsynaptic trace ``y``,
    without the spikes of the arrival step), then ``Z_s``, ``X`` and ``t0`` move to the arrival.
    Every ``20 tau_plus`` (and whenever the weights are read, written or learning is switched)
    all synapses are settled and the reference moves (``T`` = now, ``v = Z = 0``), which bounds
    ``exp((t0 - T) lam)`` and keeps the float64 difference ``v_i - Z_s`` accurate (absolute
    error below 1e-4 of one pair's potentiation).
    """

    needs_columns = False

    def __init__(self, engine, proj, rule, form: LinearAdditiveForm | None = None):
        super().__init__(engine, proj, rule)
        if form is None:
            form = linear_additive_form(rule.description)
        if form is None or rule.pairing not in ("all", "nearest"):
            raise ValueError(f"{type(self).__name__}: rule {rule.description.name!r} with "
                             f"pairing {rule.pairing!r} is not a linear additive rule with "
                             f"'all' or 'nearest' pairing (see neurosim.plasticity.linear)")
        self.all_to_all = rule.pairing == "all"
        R_ = self.real                        # the network's: float32, or float64 (double)
        c = form.values(rule, R_)             # the description's coefficients and taus
        self.linear = form
        self.a_plus, self.a_minus = c["a_plus"], c["a_minus"]
        self.w_min, self.w_max = R_(rule.w_min), R_(rule.w_max)
        self.lam = self.dt / c["tau_plus"]                           # float64
        self.Pm = propagator(self.dt, c["tau_minus"], R_)
        n_tr = self.n_pre if self.d is None else self.pre.size       # per neuron or synapse
        self.X = np.zeros(n_tr, np.float64)
        self.t0 = np.zeros(n_tr, np.int64)
        self.yv = np.zeros(self.n_post, R_)
        self.ydep = np.zeros(self.n_post, R_)
        self.v = np.zeros(self.n_post, np.float64)
        self.Z = np.zeros(self.pre.size, np.float64)
        self.T = 0
        self.K = max(1, int(20.0 * c["tau_plus"] / self.dt))
        # the depression of the spikes arriving in the next step is applied one step early;
        # (synapses, weights before it, amounts, applied?) lets reads, writes and the learning
        # switch between two runs see exactly the event-by-event state
        self._undo = None
        # the postsynaptic spikes (step, neurons) since T, from which Z can be rebuilt exactly
        # (rollback_mark / rollback_restore), or None where Z was loaded from elsewhere
        self.history_restart()

    def step(self, n, S, D):
        if self._undo is not None:
            self._finalize()
        if n - self.T >= self.K:
            self.settle(n - 1)
        E = select_local(S, self.pre_lo, self.n_pre)
        Q = E if self.recurrent else select_local(S, self.post_lo, self.n_post)
        if E.size:
            self._schedule(n, E)
        self._decay(self.yv, self.Pm, self.yv)                      # y at t_{n+1}
        if Q.size:
            self.v[Q] += np.exp(-(n - self.T) * self.lam)
            if self._hist is not None:
                self._hist.append((n, Q))
            self.yv[Q] = self._jump[self.all_to_all](self.yv[Q])
        arr = self.pending.pop(n + 1, None)
        if arr is not None:
            # depression amount per postsynaptic neuron at the arrival time t_{n+2}
            np.multiply(self.yv, self.a_minus * self.Pm, out=self.ydep)
            if self.d is None:
                J = arr[0] if len(arr) == 1 else np.concatenate(arr)
                # synapse ids only where the rows are not read as slices (see _arrive)
                syn = self.row_synapses(J) if J.size > ROW_SLICES else None
            else:
                J = None
                syn = arr[0] if len(arr) == 1 else np.concatenate(arr)
            if syn is None or syn.size:
                self._arrive(n, J, syn, D)

    def _arrive(self, n, J, syn, D):
        """Spikes arriving in step ``a = n + 1``, handled at the end of step ``n``: settle the
        owed potentiation, send with the resulting weight, then depress (the arithmetic of the
        linear additive description, with the bound that an increment (decrement) cannot cross
        skipped: the coefficients are non-negative).

        With a constant delay and at most ``ROW_SLICES`` arriving rows, the per-synapse arrays
        are read and written as contiguous row slices (memory copies) instead of fancy
        indexing with the synapse ids ``syn`` (then None); the arithmetic, and so the result,
        is the same.

        Every value is computed by the same float operations in the same order as the plain
        form (``w = min(w + float32(g), w_max)``, sent, then ``max(w - dep, w_min)``); what
        is saved is passes over the arriving synapses: gathers with ``take`` and intp indices,
        the ring's columns reached through a view of the projection's block (no index
        offset), a clip only when some weight reaches its bound (``min(w, w_max)`` is ``w``
        itself where every ``w < w_max``, NaN included), the pre-depression weights kept for
        the undo record instead of copied, no synapse ids built for row slices, the targets
        converted to intp as they are gathered, the product rounded to float32 as it is stored,
        and the weights and ``Z`` of the arriving rows gathered in one loop that also moves
        ``Z`` to the arrival (its new value ``v_i`` does not depend on the rest).
        """
        a = n + 1
        if syn is None:
            rows = list(zip(self.indptr[J].tolist(), self.indptr[J + 1].tolist()))
            post, wa, Za = self.post, self.w, self.Z
            # empty rows are empty slices; the targets converted to intp as they are gathered
            i = np.concatenate([post[x:y] for x, y in rows], dtype=np.intp)
            if not i.size:
                return
            vi = self.v.take(i)
            w, Zs = np.empty(i.size, wa.dtype), np.empty(i.size, Za.dtype)
            o = 0
            for x, y in rows:       # Z moves to the arrival while its row is in the cache
                k = o + (y - x)
                w[o:k] = wa[x:y]
                Zs[o:k] = Za[x:y]
                Za[x:y] = vi[o:k]
                o = k
        else:
            rows = None
            i = self.post[syn].astype(np.intp)  # NumPy gathers much faster with intp indices
            w = self.w[syn]
            Zs = self.Z[syn]
            vi = self.v.take(i)
            self.Z[syn] = vi
        learn = bool(self.rule.enabled)
        if learn and self.a_plus:
            if J is not None:                   # one factor per arriving neuron, repeated
                lens = self.indptr[J + 1] - self.indptr[J]
                g = np.repeat(self.a_plus * self.X[J] * np.exp((self.t0[J] - self.T) * self.lam),
                              lens)
            else:
                g = self.a_plus * self.X[syn] * np.exp((self.t0[syn] - self.T) * self.lam)
            # (g (v_i - Z_s)) rounded to the network's type as it is stored: astype, fused
            w += np.multiply(g, np.subtract(vi, Zs, out=Zs), out=np.empty(g.size, self.real),
                             casting="unsafe")
            if w.size and not w.max() < self.w_max:      # NaN: min() would keep it too
                np.minimum(w, self.w_max, out=w)
        ring = self.engine.ring[a % D]
        np.add.at(ring[self.col_base:self.col_base + self.n_post], i, w)
        dep = self.ydep.take(i)
        applied = learn and bool(self.a_minus)
        self._undo = (syn if rows is None else _Rows(self.indptr, J), w, dep, applied)
        if applied:
            w = w - dep                         # a new array: the undo record keeps ``w``
            if w.size and not w.min() > self.w_min:
                np.maximum(w, self.w_min, out=w)
        if rows is None:
            self.w[syn] = w
        else:
            o = 0
            for x, y in rows:
                k = o + (y - x)
                wa[x:y] = w[o:k]
                o = k
        u = J if J is not None else syn
        X = self.X[u] * np.exp(-(a - self.t0[u]) * self.lam)
        self.X[u] = X + 1.0 if self.all_to_all else 1.0
        self.t0[u] = a

    @property
    def undo(self):
        """(synapse ids, weights before the depression, amounts, applied?) of the arrivals
        depressed one step early, or None; the ids resolved from row slices when needed."""
        if self._undo is None or not isinstance(self._undo[0], _Rows):
            return self._undo
        self._undo = (_ids(self._undo[0]),) + self._undo[1:]
        return self._undo

    @undo.setter
    def undo(self, value):
        self._undo = value

    def _owed(self, ti, syn, i):
        """Sum over postsynaptic spikes since each synapse's last arrival of its pre trace."""
        g = self.X[ti] * np.exp((self.t0[ti] - self.T) * self.lam)
        g *= self.v[i] - self.Z[syn]
        return g.astype(self.real)

    def add_owed(self, w, owed):
        """``w + A_plus owed``, clipped to the bounds (a copy)."""
        out = self.a_plus * owed
        out += w
        np.maximum(out, self.w_min, out=out)
        return np.minimum(out, self.w_max, out=out)

    def settled_weights(self, out: np.ndarray) -> np.ndarray:
        """Every synapse's weight with its owed potentiation added (``add_owed(w, _owed(...))``
        over all synapses), written into ``out`` (``self.w`` itself, or a copy of it).

        The same float operations per synapse as :meth:`_owed` and :meth:`add_owed`, done in
        blocks of ``SETTLE_BLOCK`` synapses (temporaries that stay in cache): the factor
        ``X exp((t0 - T) lam)`` computed once per presynaptic neuron and gathered (with a
        constant delay), the clips only where a weight reaches its bound."""
        if self.d is None:
            f = self.X * np.exp((self.t0 - self.T) * self.lam)
        n = self.pre.size
        for s0 in range(0, n, SETTLE_BLOCK):
            s1 = min(n, s0 + SETTLE_BLOCK)
            if self.d is None:
                g = f.take(self.pre[s0:s1])
            else:
                g = self.X[s0:s1] * np.exp((self.t0[s0:s1] - self.T) * self.lam)
            vi = self.v.take(self.post[s0:s1])
            g *= np.subtract(vi, self.Z[s0:s1], out=vi)
            o = g.astype(self.real)
            o *= self.a_plus
            o += out[s0:s1]
            if not o.min() > self.w_min:
                np.maximum(o, self.w_min, out=o)
            if not o.max() < self.w_max:
                np.minimum(o, self.w_max, out=o)
            out[s0:s1] = o
        return out

    def settle(self, upto: int) -> None:
        """Settle every synapse's potentiation for postsynaptic spikes up to step ``upto`` and
        move the reference to ``T = upto + 1``."""
        if self.pre.size and self.rule.enabled and self.a_plus:
            self.settled_weights(self.w)
        T = upto + 1
        keep = self.t0 < T
        self.X[keep] *= np.exp(-(T - self.t0[keep]) * self.lam)
        self.t0[keep] = T
        self.v[:] = 0.0
        self.Z[:] = 0.0
        self.T = T
        self.history_restart()

    # -- the rollback copy without Z (neurosim.engine.interrupts) -----------------------------
    def rollback_mark(self):
        """What rebuilds ``Z`` as it is now, or None (then a rollback copy must hold ``Z``).

        With a constant delay, every synapse's ``Z`` is the float64 accumulator ``v`` of its
        postsynaptic neuron as it was after step ``t0 - 1`` of its row (the row's last arrival;
        ``0`` where the row has not arrived since ``T``), and ``v`` is a sum of the postsynaptic
        spikes since ``T`` kept in ``_hist``: (``T``, the list, its length) is enough to
        compute ``Z`` again, bit for bit, instead of copying 8 bytes per synapse per chunk."""
        if self._hist is None:
            return None
        return (self.T, self._hist, len(self._hist))

    def history_restart(self, known: bool = True) -> None:
        """Start the spike history at ``T``: where ``v = Z = 0`` and ``t0 <= T`` (a settling
        sweep, a loaded portable state) it is complete (``known``); where ``Z`` was loaded from
        elsewhere it is not, and there is none until the next settling sweep."""
        self._hist = [] if known and self.d is None else None

    def rollback_restore(self, mark) -> None:
        """Rebuild ``Z`` (and the spike history) from ``mark`` (:meth:`rollback_mark`), after
        ``t0``, ``T`` and ``v`` were restored from the same rollback copy: the steps since ``T``
        are replayed with the same float operations as :meth:`step` (``v[Q] += exp(-(n - T)
        lam)``), each row's ``Z`` taken where its last arrival took it; the replayed ``v``
        must equal the restored one, bit for bit."""
        T, hist, size = mark
        if self.d is not None or T != self.T:
            raise RuntimeError(f"{type(self).__name__}: the rollback mark (T = {T}) does not "
                               f"belong to this state (T = {self.T})")
        hist = hist[:size]
        Z, v = self.Z, np.zeros_like(self.v)
        Z[...] = 0.0
        t0 = self.t0
        rows = np.flatnonzero(t0 > T)
        rows = rows[np.argsort(t0[rows], kind="stable")]
        at = t0[rows] - 1                         # the step at whose end each row arrived
        cuts = np.flatnonzero(np.diff(at)) + 1
        groups = np.split(rows, cuts)
        steps = [int(g[0]) for g in np.split(at, cuts)] if rows.size else []
        k = 0
        for n, Q in hist + [(None, None)]:
            while k < len(steps) and (n is None or steps[k] < n):
                self._rebuild_rows(groups[k], v)
                k += 1
            if n is None:
                break
            v[Q] += np.exp(-(n - T) * self.lam)
            if k < len(steps) and steps[k] == n:
                self._rebuild_rows(groups[k], v)
                k += 1
        if not np.array_equal(v, self.v):
            raise RuntimeError(f"{type(self).__name__}: rebuilding Z from the postsynaptic "
                               f"spikes since step {T} did not reproduce the accumulator v")
        self._hist = hist

    def _rebuild_rows(self, J, v) -> None:
        syn = row_ranges(self.indptr, J)
        self.Z[syn] = v.take(self.post[syn].astype(np.intp))

    def _finalize(self) -> None:
        """The arrivals of this step were depressed at the end of the previous one: make that
        agree with the learning switch as it is now (it may have changed between runs)."""
        syn, before, dep, applied = self._undo
        self._undo = None
        wanted = bool(self.rule.enabled) and bool(self.a_minus)
        if applied and not wanted:
            self.w[_ids(syn)] = before
        elif wanted and not applied:
            self.w[_ids(syn)] = np.maximum(before - dep, self.w_min)

    def sync(self) -> None:
        self.settle(self.engine.steps_done - 1)

    def current_weights(self) -> np.ndarray:
        self.sync()
        if self._undo is None:
            return self.w
        out = self.w.copy()
        out[_ids(self._undo[0])] = self._undo[1]    # before the next step's arrivals
        return out

    def set_weights(self, values) -> None:
        super().set_weights(values)
        if self._undo is not None:
            syn, _, dep, applied = self._undo
            syn = _ids(syn)
            before = self.w[syn].copy()
            self._undo = (syn, before, dep, applied)
            if applied:
                self.w[syn] = np.maximum(before - dep, self.w_min)
