r"""The CUDA runtime of a plastic projection: the NumPy runtime's semantics on the device.

:class:`CudaPlasticRuntime` keeps the storage of :class:`~.numpy_runtime.PlasticRuntime` (the
same CSR sorted by presynaptic neuron, the same column index, built by the same code) in device
arrays of the :class:`~neurosim.engine.cuda_engine.CudaEngine` (CuPy on a GPU, NumPy in the host
build), and runs one step as the launches of ``kernels/plasticity.cu.j2``, in the event order of
``PlasticRuntime.step`` (see :mod:`.numpy_runtime`)::

    plastic_advance       traces decay (presynaptic rings: row n from row n - 1)
    plastic_pre_spikes    presynaptic jumps, spike steps, the step's presynaptic spike list
    <rule>_arrive         arrivals of step n (spikes of step n - d)
    <rule>_post           postsynaptic spikes walk their columns
    plastic_post_jump     postsynaptic jumps, spike steps
    plastic_deliver       arrivals of step n + 1 into ring slot (n + 1) % D, current weights

Where the NumPy runtime remembers pending arrivals in a dict, the device keeps the presynaptic
spike lists of the last ``R = max delay + 2`` steps (``pre_spk``/``pre_cnt``) and finds the
arrivals of step ``a`` as the synapses of delay ``d`` of the spikes of step ``a - d``. With
per-synapse delays the device stores each row sorted by delay (``perm``: device position ->
NumPy runtime position; weights are read and written in the NumPy order), so each step costs,
per spike of the last ``max - min + 1`` steps, one bisection of its row plus the synapses that
arrive; the order of delivery (steps ascending, rows in order) is the NumPy runtime's.

Traces decay by one multiplication per step, as in NumPy (bit for bit the same values), and the
rules' kernels repeat the operations (float32, or float64 in double) of the NumPy code
generated from the same description, so the weights agree exactly with the event-by-event
NumPy runtime (:class:`~.numpy_runtime.RuleNumpy`, e.g. :class:`~.stdp.StdpNumpy`) where no ``exp`` is
involved; with :class:`~.stdp.StdpDeferredNumpy` (the NumPy default for
additive ``"all"``/``"nearest"`` STDP) they agree within its float64 settling error.

Rules: :class:`RuleCuda` runs any described rule (:mod:`.description`) with the kernels
generated from its description (built-in rules subclass it by name: ``StdpCuda``,
``TripletCuda``, ``RewardCuda``, the names checkpoints record);
homeostasis (launched after the projections, as in NumPy): :class:`HomeostasisCuda` runs any
described rule (:mod:`.homeostasis_model`) with its generated kernels (a threshold rule makes
the group's ``v_thresh`` one value per neuron on the device; one threshold rule per
population), named for the built-ins as :class:`AdaptiveThresholdCuda`,
:class:`IntrinsicPlasticityCuda`, and :class:`SynapticScalingCuda` around it.

The learning switch is a one-element device array, written when ``rule.enabled`` changes
(:meth:`switched`); the kernels read it every step.
"""

from __future__ import annotations

import numpy as np

from .homeostasis import _share, scaled_projections
from .numpy_runtime import PlasticRuntime, modulator_level
from ..models.snippets import propagator

I32, U32, I64 = np.int32, np.uint32, np.int64


def __getattr__(name):
    """``KERNELS``: the name of the kernels every plastic projection shares, rendered on first
    use from ``kernels/plasticity.cu.j2`` (:func:`~.generate.machinery_source`)."""
    if name == "KERNELS":
        from .generate import machinery_source
        return machinery_source()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _set_flag(dev, flag, on: bool) -> None:
    """Write a one-element int32 device switch (on the engine's stream)."""
    with dev.context():
        flag[...] = dev.put(np.array([bool(on)], np.int32))


def trace_layout(rule, real_bytes: int = 4) -> tuple[int, int, bool, int, bool]:
    """(presynaptic traces, postsynaptic traces, spike steps tracked, bytes of rule state per
    synapse, lazy) of a rule's CUDA runtime: what its arrays below are sized by;
    ``real_bytes``: 4 (float32), 8 in a double network."""
    d = rule.description
    extra = real_bytes * len(d.state) + (8 if d.lazy else 0)     # state (ns_real), t1 (int64)
    return (len(d.pre_traces), len(d.post_traces), rule.pairing == "nearest_reduced", extra,
            d.lazy)


def plastic_device_bytes(rule, n_syn: int, n_pre: int, n_post: int, max_delay: int,
                         per_synapse_delays: bool, real_bytes: int = 4) -> int:
    """Bytes of the device arrays :class:`CudaPlasticRuntime` (and its rule's subclass)
    allocates for a projection of ``n_syn`` synapses whose largest delay is ``max_delay``
    steps: 20 B per synapse (int64 column index, int32 pre/post, float32 weight), 24 with
    per-synapse delays (int32), plus the rule's per-synapse state (4 B each) and, for rules
    with a ``between`` block, the last-update step (8 B: reward STDP has 36 B); per neuron
    the row and column pointers, the presynaptic trace rings and spike lists over ``R = max
    delay + 2`` steps, the postsynaptic traces, and spike steps where the rule tracks them.
    ``real_bytes``: the bytes of an ``ns_real`` (weights, traces, state): 8 in a double
    network."""
    n_pre_tr, n_post_tr, track, extra, lazy = trace_layout(rule, real_bytes)
    F = real_bytes
    R = max_delay + 2
    one = lambda n: max(1, n)                           # noqa: E731 (arrays of at least 1)
    b = 8 * (n_pre + 1) + 8 * (n_post + 1) + 8 * n_syn        # indptr, col_ptr, col_syn
    b += 4 * 2 * n_syn + F * n_syn                            # pre, post, w
    b += 4 * (n_syn if per_synapse_delays else 1)             # delays
    b += F * one(n_pre_tr) + F * one(n_post_tr)               # P_pre, P_post
    b += F * one(n_pre_tr * R * n_pre) + F * one(n_post_tr * n_post)   # xr, y
    b += 4 * one(R * n_pre) + 4 * R + 4                       # pre_spk, pre_cnt, learn
    b += (16 * R * n_pre + 16 * n_post) if track else 4 * 8   # pre/post last/prev steps
    if extra:
        b += extra * one(n_syn)                               # state, t1
    if lazy:
        b += F + 8                                            # dop, r_step
    return int(b)


def homeostasis_device_bytes(net, population, rule) -> int:
    """Bytes of the device arrays of a homeostasis rule's CUDA runtime: per neuron its own
    state (``ns_real``, 8 B in a double network) and incoming sums (float64); for a threshold
    rule ``base`` and the group's ``v_thresh`` made per neuron; for a rule that reads or scales
    weights (``SynapticScaling``), per scaled synapse of a static projection its target (int32)
    and position (int64), 12 B."""
    from ..engine.memory import expected_synapses
    from .homeostasis import SynapticScaling, _Scaling, scaled_projections
    n = population.size
    F = np.dtype(getattr(net, "dtype", np.float32)).itemsize     # ns_real
    if isinstance(rule, SynapticScaling):
        rule = _Scaling(rule)
    d = rule.description
    b = F * n * len(d.state) + 8 * n * len(d.incoming) + 4          # state, sums, learn
    if d.synaptic:
        b += sum(12 * expected_synapses(p) + 8
                 for p in scaled_projections(net, population, rule) if p.plasticity is None)
    if d.threshold is not None:                   # base + the group's v_thresh
        group = sum(p.size for p in net.populations
                    if p.model.group_key() == population.model.group_key())
        b += F * n + F * group
    return int(b)


def runtime_device_bytes(rt) -> int:
    """The bytes of the device arrays a built runtime holds (what the estimate predicts)."""
    return int(sum(a.nbytes for a in rt.v.values() if hasattr(a, "nbytes") and
                   getattr(a, "ndim", 0) > 0))


class CudaPlasticRuntime(PlasticRuntime):
    """Device storage and the shared launches; subclasses add the rule's own launches
    (:meth:`rule_launches`) and set ``pre_specs``/``post_specs``: ``[(tau_ms, all_to_all)]``
    per trace, and ``track_times``."""

    pre_specs: list = []
    post_specs: list = []

    def __init__(self, engine, proj, rule):
        # the NumPy runtime's host arrays: CSR, column index, delays (no host traces or
        # spike-step rings: those live on the device only)
        self.pre_traces, self.post_traces = {}, {}
        track, self.track_times = self.track_times, False
        super().__init__(engine, proj, rule)
        self.track_times = track
        self.dev = dev = engine.dev
        xp = dev.xp
        n_syn = self.pre.size
        steps = np.full(n_syn, self.delay, np.int64) if self.d is None else self.d
        self.d_lo = int(steps.min()) if n_syn else 1
        self.d_hi = int(steps.max()) if n_syn else 1
        i64 = lambda a: dev.put(np.asarray(a, np.int64))   # noqa: E731
        # device order: rows sorted by delay (kernels find a delay's synapses by bisection);
        # the host arrays keep the NumPy runtime's order, perm maps one to the other
        self.perm = None if self.d is None else np.lexsort((self.d, self.pre))
        dev_order = (lambda a: a) if self.perm is None else (lambda a: a[self.perm])
        col_syn = self.col_syn
        if self.perm is not None:
            inv = np.empty_like(self.perm)
            inv[self.perm] = np.arange(self.perm.size)
            col_syn = inv[col_syn]
        self.v = dict(
            n_pre=I32(self.n_pre), n_post=I32(self.n_post), R=I32(self.R),
            pre_lo=I32(self.pre_lo), post_lo=I32(self.post_lo), col_base=I32(self.col_base),
            indptr=i64(self.indptr), col_ptr=i64(self.col_ptr), col_syn=i64(col_syn),
            pre=dev.put(dev_order(self.pre)), post=dev.put(dev_order(self.post)),
            w=dev.put(dev_order(self.w)), delay=I32(self.delay if self.d is None else 0),
            delays=dev.put(dev_order(self.d).astype(np.int32) if self.d is not None
                           else np.zeros(1, np.int32)),
            per_syn=I32(self.d is not None), d_lo=I32(self.d_lo), d_hi=I32(self.d_hi),
            n_tr_pre=I32(len(self.pre_specs)), n_tr_post=I32(len(self.post_specs)),
            all_pre=U32(sum(1 << k for k, (_, a) in enumerate(self.pre_specs) if a)),
            all_post=U32(sum(1 << k for k, (_, a) in enumerate(self.post_specs) if a)),
            P_pre=dev.put(np.array([propagator(self.dt, t, self.real)
                                    for t, _ in self.pre_specs] or [0], self.real)),
            P_post=dev.put(np.array([propagator(self.dt, t, self.real)
                                     for t, _ in self.post_specs] or [0], self.real)),
            xr=dev.zeros(max(1, len(self.pre_specs) * self.R * self.n_pre), self.real),
            y=dev.zeros(max(1, len(self.post_specs) * self.n_post), self.real),
            track=I32(bool(self.track_times)),
            pre_spk=dev.zeros(max(1, self.R * self.n_pre), np.int32),
            pre_cnt=dev.zeros(self.R, np.int32),
            learn=dev.put(np.array([bool(rule.enabled)], np.int32)),
        )
        never = np.int64(-(2 ** 40))
        if self.track_times:
            self.v.update(pre_last=i64(np.full(self.R * self.n_pre, never)),
                          pre_prev=i64(np.full(self.R * self.n_pre, never)),
                          post_last=i64(np.full(self.n_post, never)),
                          post_prev=i64(np.full(self.n_post, never)))
        else:
            self.v.update({k: xp.zeros(1, np.int64) for k in
                           ("pre_last", "pre_prev", "post_last", "post_prev")})
        # host copies of what lives on the device are not kept up to date: drop them
        self.w = None

    # -- the step ------------------------------------------------------------------------------
    def launches(self, engine) -> list:
        from ..engine import cuda_device as ce, cuda_tuning
        from .generate import machinery_source
        dev, v = engine.dev, self.v
        kernels = machinery_source()             # kernels/plasticity.cu.j2, rendered once
        most = engine.L.n_total
        per_spike = dev.per_spike_grid(most)
        lanes = cuda_tuning.HOST_LANES if dev.host else ce.lanes_for(self.pre.size / max(1, self.n_pre))
        v["row_lanes"] = I32(lanes)                 # threads per presynaptic spike's row
        per_pre = dev.per_spike_grid(max(1, self.n_pre), lanes)
        out = [engine.bind(kernels, "plastic_advance", v,
                           *ce.grid_for(max(self.n_pre, self.n_post, 1))),
               engine.bind(kernels, "plastic_pre_spikes", v, *per_spike)]
        out += self.rule_launches(engine, per_pre)
        out += [engine.bind(kernels, "plastic_post_jump", v, *per_spike),
                engine.bind(kernels, "plastic_deliver", v, *per_pre)]
        return out

    def rule_launches(self, engine, per_pre) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def column_lanes(self, engine) -> int:
        from ..engine import cuda_device as ce, cuda_tuning
        if engine.dev.host:
            return cuda_tuning.HOST_LANES
        return ce.lanes_for(self.pre.size / max(1, self.n_post))

    # -- engine interface ----------------------------------------------------------------------
    def switched(self) -> None:
        """``rule.enabled`` changed: the kernels see it from the next step on."""
        _set_flag(self.dev, self.v["learn"], self.rule.enabled)

    def current_weights(self) -> np.ndarray:
        self.sync()
        with self.dev.context():
            w = np.array(self.dev.get(self.v["w"]), self.real)
        if self.perm is None:
            return w
        out = np.empty_like(w)
        out[self.perm] = w
        return out

    def set_weights(self, values) -> None:
        values = np.asarray(values, self.real)
        lo, hi = self.rule.w_min, self.rule.w_max
        if values.size and (values.min() < lo or values.max() > hi):
            raise ValueError(f"Projection.weights of {self.proj.name!r}: plastic weights must lie "
                             f"within [w_min, w_max] = [{lo}, {hi}], got values in "
                             f"[{values.min()}, {values.max()}]")
        if values.shape != (self.pre.size,):
            values = np.broadcast_to(values, (self.pre.size,))
        if self.perm is not None:
            values = values[self.perm]
        self.sync()
        with self.dev.context():
            self.v["w"][...] = self.dev.put(np.ascontiguousarray(values, self.real))

    def on_arrival(self, n, syn, learn):  # pragma: no cover - the kernels do it
        raise NotImplementedError

    def on_post(self, n, col, learn):  # pragma: no cover - the kernels do it
        raise NotImplementedError


class RuleCuda(CudaPlasticRuntime):
    """The CUDA runtime of a described rule (:class:`~.description.DescribedRule`): the
    kernels generated from its description (``<rule>_arrive``, ``<rule>_post`` and, for rules
    with a ``between`` block, ``<rule>_bring_arrivals`` every step and ``<rule>_bring_all`` at
    reads, writes, switches and modulator changes), its parameters as kernel arguments
    ``p_<name>``, its per-synapse state as device arrays ``st_<name>``; the last-update step
    ``t1`` per synapse and the modulator since its last change (``d_r``, ``r_step``, kept on
    the host as in :class:`~.numpy_runtime.RuleNumpy` and copied to the device)."""

    def __init__(self, engine, proj, rule):
        d = rule.description
        self.spec = d
        all_to_all = rule.pairing == "all"
        params = rule.parameters
        self.pre_specs = [(params[tau], all_to_all) for tau in d.pre_traces.values()]
        self.post_specs = [(params[tau], all_to_all) for tau in d.post_traces.values()]
        self.track_times = rule.pairing == "nearest_reduced"
        super().__init__(engine, proj, rule)
        dev, n = self.dev, self.pre.size
        self.kernel_file, self.kernels, _ = d.cuda()
        R_ = self.real
        consts = rule.constants(R_)
        self.v.update(w_min=consts["w_min"], w_max=consts["w_max"], dt=R_(self.dt))
        self.v.update({f"p_{k}": v for k, v in consts.items() if k not in ("w_min", "w_max")})
        self.syn_names = tuple(d.state)
        self.v.update({f"st_{s}": dev.put(np.full(max(1, n), v, R_))
                       for s, v in d.state.items()})
        if d.lazy:
            m = d.modulator
            self.mod_tau = R_(params[m["tau"]]) if m else R_(1.0)
            self.mod_rest = R_(params[m["rest"]]) if m else R_(0.0)
            self.d_r, self.r_step = self.mod_rest, -1
            self.v.update(t1=dev.put(np.full(max(1, n), -1, np.int64)),
                          dop=dev.put(np.array([self.d_r], R_)),
                          r_step=dev.put(np.array([self.r_step], np.int64)),
                          mod_tau=self.mod_tau, mod_rest=self.mod_rest)

    def rule_launches(self, engine, per_pre) -> list:
        lanes = self.column_lanes(engine)
        v = dict(self.v, lanes=I32(lanes))
        per_col = engine.dev.per_spike_grid(engine.L.n_total, lanes)
        k, f = self.kernels, self.kernel_file
        out = [engine.bind(f, k["arrive"], v, *per_pre), engine.bind(f, k["post"], v, *per_col)]
        if self.spec.lazy:
            out.append(engine.bind(f, k["bring_arrivals"], v, *per_pre))
        return out

    def _now(self) -> int:
        return self.engine.steps_done - 1

    def _modulator_at(self, step):
        return modulator_level(self.d_r, self.r_step, step, self.dt, self.mod_tau,
                               self.mod_rest, self.real)

    def modulator_now(self) -> float:
        return float(self._modulator_at(self._now()))

    def sync(self) -> None:
        n = self.pre.size
        if not n or not self.spec.lazy:
            return
        from ..engine.cuda_device import grid_for
        launch = self.engine.bind(self.kernel_file, self.kernels["bring_all"],
                                  dict(self.v, now=I64(self._now()), n_syn=I64(n)),
                                  *grid_for(n))
        with self.dev.context():
            launch.kernel(launch.grid, launch.block, launch.args[0])

    def add_modulator(self, amount: float) -> None:
        now = self._now()
        self.sync()
        self.d_r = self.real(self._modulator_at(now) + self.real(amount))
        self.r_step = now
        with self.dev.context():
            self.v["dop"][...] = self.dev.put(np.array([self.d_r], self.real))
            self.v["r_step"][...] = self.dev.put(np.array([now], np.int64))


# -- homeostasis -----------------------------------------------------------------------------------

def _device_threshold(engine, population, size=None):
    """Make the device ``v_thresh`` of ``population``'s group one value per neuron (once per
    group, before the engine plans its launches); (thr array, offset, base values of its
    ``size`` neurons: default all, an MPI rank's block)."""
    from ..engine.cuda_device import kernel_signature
    g, off = engine.L.pop_group[population.index]
    if not engine.claim_threshold(population):
        raise ValueError(f"add_homeostasis(): population {population.name!r} has more than one "
                         f"threshold rule; the CUDA backend supports one per population (use "
                         f"device='cpu')")
    values = engine.group_values(population)
    consts = [name for _, name in kernel_signature(g.model_cls.kernel_file, g.model_cls.kernel)
              if name in g.consts]
    bit = 1 << consts.index("v_thresh")
    if not int(values["per_neuron"]) & bit:
        full = np.full(g.size, engine.dev.get(values["v_thresh"])[0], engine.real)
        values["v_thresh"] = engine.dev.put(full)
        values["per_neuron"] = U32(int(values["per_neuron"]) | bit)
        engine.replan()
    thr = values["v_thresh"]
    size = population.size if size is None else size
    base = np.array(engine.dev.get(thr)[off:off + size], engine.real)
    return thr, off, base


class HomeostasisCuda:
    """A described homeostasis rule on the device
    (:class:`~.homeostasis_model.HomeostasisModel`): its per-neuron state as device arrays
    named as in the description, its kernels generated from it (``<rule>_every_step``,
    ``<rule>_on_spike``, ``<rule>_every_interval``) and, for a threshold rule, the group's
    ``v_thresh`` made one value per neuron and rewritten as ``base + shift`` by
    ``<rule>_threshold`` (every step, or at the end of each interval when only ``every_interval``
    changes the shift; one threshold rule per population)."""

    proj = None                                   # not a projection (engine's plastic_runtime)

    def __init__(self, engine, population, rule):
        from .homeostasis_model import kernel_constants
        self.engine, self.pop, self.rule, self.dev = engine, population, rule, engine.dev
        d = self.description = rule.description
        g, off = engine.L.pop_group[population.index]
        self.dt = engine.L.dt
        self.real = R_ = np.dtype(engine.real).type   # ns_real: float32, or float64 (double)
        values = rule.parameters
        consts = d.constants(values, self.dt, R_)
        k = d.interval_steps(values, self.dt)
        size, lo, block = population.size, g.start + off, (0, population.size)
        share = getattr(engine, "population_share", None)   # an MPI rank's block of it
        if share is not None:
            lo, size, block = share(population)
        state = {s: np.array(np.broadcast_to(_share(values[v] if isinstance(v, str) else v,
                                                    block), (size,)), R_)
                 for s, v in d.state.items()}
        self.state_names = tuple(d.state)
        self.v = dict(size=I32(size), lo=I32(lo), k=I32(max(1, k)),
                      learn=self.dev.put(np.array([bool(rule.enabled)], np.int32)))
        self.v.update({f"p_{c}": consts[c] for c in kernel_constants(d)})
        if d.threshold is not None:
            thr, off, base = _device_threshold(engine, population, size)
            with self.dev.context():
                thr[off:off + size] = self.dev.put(base + state[d.threshold])
            self.v.update(off=I32(off), thr=thr, base=self.dev.put(base),
                          every_k=I32(0 if d.shift_every_step else k))
        self.v.update({s: self.dev.put(a) for s, a in state.items()})
        self.v.update({i: self.dev.zeros(size, np.float64) for i in d.incoming})
        self.kernel_file, self.kernels, _ = d.cuda()
        self.projs = (scaled_projections(engine.net, population, rule) if d.synaptic else [])
        self.handles = None
        rule._runtime = self

    def _handles(self, engine) -> list:
        """The scaled projections' weights, targets and bounds (built at the first plan: the
        plastic runtimes exist only once the engine has built them all)."""
        from ..engine.layout import member_positions
        if self.handles is not None:
            return self.handles
        dev, real = engine.dev, self.real
        self.handles = []
        no_pos = dev.zeros(1, np.int64)
        for p in self.projs:
            if p.plasticity is not None:
                rt = engine.plastic_runtime(p)
                if rt.spec.lazy:
                    owner = getattr(self.rule, "rule", None)     # SynapticScaling's _Scaling
                    label = (type(owner).__name__ if owner is not None
                             else self.description.name)
                    raise ValueError(f"{label} of population {self.pop.name!r}: "
                                     f"projection {p.name!r} has {type(p.plasticity).__name__}"
                                     f", whose weights are integrated lazily, which the CUDA "
                                     f"backend cannot scale; use device='cpu'")
                h = dict(post=rt.v["post"], w=rt.v["w"], pos=no_pos, has_pos=I32(0),
                         n_syn=I64(rt.pre.size), w_min=real(p.plasticity.w_min),
                         w_max=real(p.plasticity.w_max))
            else:
                ci, _ = engine.L.proj_class[p]
                pos = member_positions(engine.L, p).astype(np.int64)
                post = np.asarray(engine.projection_array(p, "targets"), np.int32)
                h = dict(post=dev.put(post), w=engine.class_weights(ci), pos=dev.put(pos),
                         has_pos=I32(1), n_syn=I64(pos.size), w_min=real(-np.inf),
                         w_max=real(np.inf))
            self.handles.append(h)
        return self.handles

    def switched(self) -> None:
        _set_flag(self.dev, self.v["learn"], self.rule.enabled)

    def value(self, name: str) -> np.ndarray:
        with self.dev.context():
            return np.array(self.dev.get(self.v[name]), self.real)

    @property
    def theta(self) -> np.ndarray:
        return self.value("theta")

    @property
    def r(self) -> np.ndarray:
        return self.value("r")

    def launches(self, engine) -> list:
        from ..engine.cuda_device import grid_for
        v, size = self.v, int(self.v["size"])
        f, k = self.kernel_file, self.kernels
        grids = {"every_step": grid_for(size), "every_interval": grid_for(size),
                 "on_spike": engine.dev.per_spike_grid(engine.L.n_total)}
        out = [engine.bind(f, k[b], v, *grids[b]) for b in ("every_step", "on_spike") if b in k]
        handles = self._handles(engine) if self.projs else []
        if "incoming" in k:
            out += [engine.bind(f, k["incoming"], dict(v, **h), *grid_for(int(h["n_syn"])))
                    for h in handles]
        if "every_interval" in k:
            out.append(engine.bind(f, k["every_interval"], v, *grids["every_interval"]))
        if "weights" in k:
            out += [engine.bind(f, k["weights"], dict(v, **h), *grid_for(int(h["n_syn"])))
                    for h in handles]
        if "threshold" in k:
            out.append(engine.bind(f, k["threshold"], v, *grid_for(size)))
        return out


class AdaptiveThresholdCuda(HomeostasisCuda):
    """:class:`~.homeostasis.AdaptiveThreshold` on the device (named: checkpoints record the
    runtime kind)."""


class IntrinsicPlasticityCuda(HomeostasisCuda):
    """:class:`~.homeostasis.IntrinsicPlasticity` on the device (named: checkpoints record
    the runtime kind)."""


class SynapticScalingCuda:
    """:class:`~.homeostasis.SynapticScaling` on the device: the runtime of its description
    (``inner``, a :class:`HomeostasisCuda` of :data:`~.homeostasis.SCALING_RATE` or
    :data:`~.homeostasis.SCALING_TOTAL`: the factor per neuron, the total form's sums in float64
    with atomics, so their last bits may depend on the order), then each scaled projection's
    weights times the factor (static ones in their class arrays, plastic ones clipped to their
    rule's bounds). Projections with reward-modulated STDP (lazily integrated weights) cannot be
    scaled on the device yet. Named: checkpoints record the runtime kind."""

    proj = None                                   # not a projection (engine's plastic_runtime)

    def __init__(self, engine, population, rule):
        from .homeostasis import _Scaling
        self.engine, self.pop, self.rule, self.dev = engine, population, rule, engine.dev
        self.real = np.dtype(engine.real).type
        self.inner = HomeostasisCuda(engine, population, _Scaling(rule))
        self.v = self.inner.v
        rule._runtime = self

    @property
    def handles(self):
        return self.inner.handles

    def switched(self) -> None:
        self.inner.switched()

    def launches(self, engine) -> list:
        return self.inner.launches(engine)
