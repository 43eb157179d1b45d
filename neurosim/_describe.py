"""A network's description as a checkpoint manifest, and back (see :mod:`neurosim.checkpoint`).

:func:`describe` writes the structure (populations, realised projections, inputs, rules,
monitors) and the engine state; :func:`rebuild` checks every entry the way user input is
checked (mostly by handing it to the same constructors and ``Network`` methods user code
calls) and returns the network, built, at the saved step.
"""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np

from . import inputs as I
from . import models as M
from . import plasticity as P
from .errors import CheckpointError

MODELS = {c.__name__: c for c in (M.LIF, M.LIFCond, M.AdEx, M.PoissonSource, M.SpikeSource)}
# models written as descriptions (ns.NeuronModel): their generated class, by name
MODELS.update({d.__name__: d.model_class for d in M.DESCRIBED})
RULES = {c.__name__: c for c in (P.STDP, P.TripletSTDP, P.RewardSTDP)}
HOMEOSTASIS = {c.__name__: c for c in (P.AdaptiveThreshold, P.IntrinsicPlasticity,
                                       P.SynapticScaling)}
TOP_KEYS = ("format", "version", "network", "engine", "populations", "projections", "rules",
            "poisson_inputs", "currents", "homeostasis", "monitors", "state", "stimulus")
OPTIONAL_KEYS = ("stimulus",)       # absent from files written before stimulus protocols


# -- writing -----------------------------------------------------------------------------------

def _init_params(obj) -> dict:
    """Constructor arguments of a rule, read back from the attributes of the same names."""
    names = [p for p in inspect.signature(type(obj).__init__).parameters if p != "self"]
    return {p: getattr(obj, p) for p in names}


def describe(net, w, with_monitors: bool) -> dict:
    engine = net._ensure_built()
    from .engine.state import export_engine
    # each runtime's own form (lazy rules are not settled by saving) and the portable form
    if getattr(net, "comm", None) is not None:      # the whole network's, from every rank
        from .distributed.checkpoint import gather_state
        state = gather_state(engine)
    else:
        state = export_engine(engine, portable=True)
    L = engine.L
    m = {"engine": engine.name}
    m["network"] = dict(dt=net.dt, seed=net.seed, device=net.device,
                        connectivity=net.connectivity, precision=net.precision,
                        steps_done=net._steps_done,
                        philox_key=[str(int(k)) for k in L.philox_key],
                        draws_per_step=int(getattr(L, "rng_width_global", L.rng_width)))
    m["populations"] = [_population(w, i, p) for i, p in enumerate(net.populations)]
    rules, rule_ids = [], {}
    for proj in net.projections:
        r = proj.plasticity
        if r is not None and id(r) not in rule_ids:
            rule_ids[id(r)] = len(rules)
            user = isinstance(r, P.DescribedRule) and r.__dict__.get("_values") is not None
            name = r.description.name if user else type(r).__name__   # a user's description
            params = r._params() if user else _init_params(r)
            rules.append(dict(rule=name, enabled=bool(r.enabled),
                              params={k: w.value("", v) for k, v in params.items()}))
    m["rules"] = rules
    plastic_of = {id(rt.proj): k for k, rt in enumerate(engine.plastic)
                  if getattr(rt, "proj", None) is not None}
    m["projections"] = []
    for k, proj in enumerate(net.projections):
        if proj.plasticity is None:
            weights = proj.weights
            ci = L.proj_class[proj][0]
            delay_class = L.classes[ci].delay
            delay_class = None if delay_class is None else int(delay_class)
        else:
            weights = state[f"plastic{plastic_of[id(proj)]}/w"]
            delay_class = None
        m["projections"].append(dict(
            name=proj.name, pre=proj.pre.index, post=proj.post.index, receptor=proj.receptor,
            delay_class=delay_class,
            plasticity=None if proj.plasticity is None else rule_ids[id(proj.plasticity)],
            sources=w.array(f"projection{k}/sources", proj.sources.astype(np.int32)),
            targets=w.array(f"projection{k}/targets", proj.targets.astype(np.int32)),
            weights=w.array(f"projection{k}/weights", np.asarray(weights, net.dtype)),
            delays=w.array(f"projection{k}/delays", np.asarray(proj.delays, np.float64))))
    m["poisson_inputs"] = [dict(target=d.target.index, rate=d.rate, weight=d.weight,
                                n_sources=d.n_sources, receptor=d.receptor)
                           for d in net.poisson_inputs]
    m["currents"] = [_current(w, k, pop, cur) for k, (pop, cur) in enumerate(net.currents)]
    proj_index = {id(p): k for k, p in enumerate(net.projections)}
    m["homeostasis"] = []
    for k, (pop, rule) in enumerate(net.homeostasis):
        user = isinstance(rule, P.DescribedHomeostasis) and rule._values is not None
        params = (dict(rule.parameters, projections=rule.projections) if user   # a user's
                  else _init_params(rule))                                        # description
        if "projections" in params and params["projections"] is not None:
            params["projections"] = [proj_index[id(p)] for p in params["projections"]]
        params = {n: (v if isinstance(v, list) else w.value(f"homeostasis{k}/{n}", v))
                  for n, v in params.items()}
        m["homeostasis"].append(dict(population=pop.index, rule=rule.description.name if user
                                     else type(rule).__name__,
                                     enabled=bool(rule.enabled), params=params))
    m["monitors"] = [_monitor(w, k, mon, with_monitors) for k, mon in enumerate(net.monitors)]
    m["state"] = {name: w.array(f"state/{name}", a) for name, a in state.items()}
    # rates, drive rates, spike schedules and added currents as changed since the build
    stim = getattr(engine, "stim", None)
    if stim is None:                  # a distributed network: the inputs as built
        from .distributed.checkpoint import built_stimulus
        stim = built_stimulus(engine)
    m["stimulus"] = {name: w.array(f"stimulus/{name}", a)
                     for name, a in stim.export().items()}
    return m


def _population(w, i, pop) -> dict:
    model = pop.model
    d = dict(name=pop.name, size=pop.size, model=type(model).__name__,
             params={k: w.value(f"population{i}/{k}", v) for k, v in model.parameters().items()},
             options={k: getattr(model, k) for k in model.option_fields if k != "times"})
    if isinstance(model, M.SpikeSource):
        times = [np.asarray(t, np.float64) for t in model.times]
        d["times"] = w.array(f"population{i}/times",
                             np.concatenate(times) if times else np.zeros(0))
        d["times_count"] = w.array(f"population{i}/times_count",
                                   np.array([t.size for t in times], np.int64))
    return d


def _current(w, k, pop, cur) -> dict:
    if isinstance(cur, I.DCCurrent):
        return dict(target=pop.index, kind="DCCurrent",
                    amplitude=w.value(f"current{k}/amplitude", cur.amplitude),
                    start=cur.start, stop=cur.stop)
    return dict(target=pop.index, kind="StepCurrent", times=list(cur.times),
                amplitudes=[w.value(f"current{k}/amplitude{j}", a)
                            for j, a in enumerate(cur.amplitudes)])


def _monitor(w, k, mon, with_data: bool) -> dict:
    d = dict(population=mon.population.index, t_start=mon.t_start, data=with_data,
             indices=None if mon.neurons is None else w.array(f"monitor{k}/indices",
                                                               mon.neurons.astype(np.int64)))
    from .monitors import RateMonitor, SpikeMonitor
    if isinstance(mon, SpikeMonitor):
        d["kind"] = "spikes"
        if with_data:
            d["steps"] = w.array(f"monitor{k}/steps", mon.steps)
            d["values"] = w.array(f"monitor{k}/values", mon.indices)
    elif isinstance(mon, RateMonitor):
        d.update(kind="rate", bin_steps=mon.bin_steps)
        if with_data:
            d["values"] = w.array(f"monitor{k}/values", mon.counts)
    else:
        d.update(kind="state", variable=mon.variable, every=mon.every)
        if with_data:
            d["values"] = w.array(f"monitor{k}/values", mon.values)
    return d


# -- reading -----------------------------------------------------------------------------------

def model_classes(models) -> list:
    """``load(models=...)`` as model classes: ``ns.NeuronModel`` descriptions give their
    generated class; anything else is a TypeError (checked before the file is read)."""
    if isinstance(models, (str, bytes)) or not hasattr(models, "__iter__"):
        raise TypeError(f"load(): models must be a list of ns.NeuronModel descriptions or "
                        f"neuron model classes, got {models!r}")
    out = []
    for cls in models:
        if isinstance(cls, (P.PlasticityModel, P.HomeostasisModel)):   # a rule's: itself
            out.append(cls)
            continue
        if isinstance(cls, M.NeuronModel):          # a description: its generated class
            cls = cls.model_class
        if not (isinstance(cls, type) and issubclass(cls, M.Model)):
            raise TypeError(f"load(): models must be ns.NeuronModel descriptions or neuron "
                            f"model classes, got {cls!r}")
        out.append(cls)
    return out


def rebuild(r, device: str, models: tuple, comm=None):
    from .network import Network
    m = r.manifest
    r.keys(m, "manifest", TOP_KEYS)
    types = dict(format=str, version=int, engine=str, network=dict, state=dict, stimulus=dict)
    for key in TOP_KEYS:
        r.get(m, key, "manifest", types.get(key, list), optional=key in OPTIONAL_KEYS)
    nd = m["network"]
    where = "network"
    r.keys(nd, where, ("dt", "seed", "device", "connectivity", "precision", "steps_done",
                       "philox_key", "draws_per_step"))
    for key in ("device", "connectivity"):         # informative: load() takes its device
        r.get(nd, key, where, str)
    dt = r.get(nd, "dt", where, (int, float))
    # files written before precision existed hold float32 arrays: "single"
    precision = r.get(nd, "precision", where, str) if "precision" in nd else "single"
    seed = r.get(nd, "seed", where, int)
    n = r.get(nd, "steps_done", where, int)
    if n < 0:
        raise r.error(f"network: 'steps_done' must be >= 0, got {n}")
    known, rule_kinds, homeostasis_kinds = dict(MODELS), dict(RULES), dict(HOMEOSTASIS)
    for cls in model_classes(models):
        if isinstance(cls, P.PlasticityModel):
            rule_kinds[cls.name] = cls
        elif isinstance(cls, P.HomeostasisModel):
            homeostasis_kinds[cls.name] = cls
        else:
            known[cls.__name__] = cls
    distributed = comm is not None         # load() resolved it (comm=, distributed=, mpirun)
    net = _checked(r, where, lambda: Network(dt=dt, device=device, seed=seed,
                                             connectivity="host", precision=precision,
                                             comm=comm, distributed=distributed))
    pops = [_add_population(r, net, i, d, known) for i, d in enumerate(m["populations"])]
    rules = [_rule(r, k, d, rule_kinds, f"rules[{k}]") for k, d in enumerate(m["rules"])]
    projs = [_connect(r, net, k, d, pops, rules) for k, d in enumerate(m["projections"])]
    for k, d in enumerate(m["poisson_inputs"]):
        w = f"poisson_inputs[{k}]"
        r.keys(d, w, ("target", "rate", "weight", "n_sources", "receptor"))
        target = _item(r, pops, r.get(d, "target", w, int), w, "target population")
        _checked(r, w, lambda: net.add_poisson_input(
            target, r.get(d, "rate", w, (int, float)), r.get(d, "weight", w, (int, float)),
            r.get(d, "n_sources", w, int), r.get(d, "receptor", w, str)))
    for k, d in enumerate(m["currents"]):
        _inject(r, net, k, d, pops)
    for k, d in enumerate(m["homeostasis"]):
        w = f"homeostasis[{k}]"
        r.keys(d, w, ("population", "rule", "enabled", "params"))
        pop = _item(r, pops, r.get(d, "population", w, int), w, "population")
        params = r.get(d, "params", w, dict)
        if isinstance(params.get("projections"), list):
            params = dict(params, projections=[
                _item(r, projs, j, w, "projection") if isinstance(j, int) and not
                isinstance(j, bool) else _bad(r, w, "projections", j)
                for j in params["projections"]])
        rule = _rule(r, k, dict(d, params=params), homeostasis_kinds, w, skip=("population",))
        _checked(r, w, lambda: net.add_homeostasis(pop, rule))
    mons = [_add_monitor(r, net, k, d, pops, n) for k, d in enumerate(m["monitors"])]
    net._steps_done = n
    engine = _checked(r, "network", net.build)
    key = [str(int(x)) for x in engine.L.philox_key]
    width = getattr(engine.L, "rng_width_global", engine.L.rng_width)
    if nd.get("philox_key") != key or nd.get("draws_per_step") != width:
        raise r.error("holds random streams that this neurosim derives differently from the "
                      "seed (Philox key or draws per step differ): it was written by another "
                      "version, and the run would not continue the same")
    state = {}
    for name, ref in r.get(m, "state", "manifest", dict).items():
        state[name] = r.array(ref, f"state {name!r}")
    try:
        if net.comm is not None:          # this rank's share of the whole network's state
            from .distributed.checkpoint import scatter_state
            from .distributed.exchange import agree
            error = None
            try:
                scatter_state(engine, state, f"checkpoint {r.path!r}, state")
            except ValueError as exc:
                error = exc
            agree(net.comm, error)        # raised on every rank
        else:
            engine.import_state(state, f"checkpoint {r.path!r}, state")
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    stimulus = {name: r.array(ref, f"stimulus {name!r}")
                for name, ref in (m.get("stimulus") or {}).items()}
    if "stimulus" in m and net.comm is not None:
        from .distributed.checkpoint import changed_stimulus
        changed = changed_stimulus(engine, stimulus)
        if changed:
            raise r.error(f"holds stimulus changes (set_rates, set_spike_times, set_current: "
                          f"{changed[:3]}), which a network distributed over MPI ranks does "
                          f"not take yet; load it on one process (distributed=False)")
    if "stimulus" in m and net.comm is None:
        try:
            engine.stim.load(stimulus, f"checkpoint {r.path!r}, stimulus")
        except (TypeError, ValueError) as exc:
            raise CheckpointError(str(exc)) from None
    for mon, d in zip(net.monitors, mons):
        _fill_monitor(r, mon, d, n)
    r.check_all_used()
    return net


def _checked(r, where, fn):
    """Run a constructor on values from the file; its errors name the file and the entry."""
    try:
        return fn()
    except (TypeError, ValueError) as exc:
        raise r.error(f"{where}: {exc}") from None


def _bad(r, where, key, value):
    raise r.error(f"{where}: {key!r} holds {value!r}; expected a projection index")


def _item(r, items, i, where, what):
    if not 0 <= i < len(items):
        raise r.error(f"{where}: {what} index {i} is outside [0, {len(items)})")
    return items[i]


def _scalar_or_array(r, value, where):
    v = r.value(value, where)
    if isinstance(v, np.ndarray):
        return np.asarray(v, np.float64)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise r.error(f"{where}: expected a number or an array, got {v!r}")
    return v


def _add_population(r, net, i, d, known):
    w = f"populations[{i}]"
    r.keys(d, w, ("name", "size", "model", "params", "options", "times", "times_count"))
    name = r.get(d, "name", w, str)
    model_name = r.get(d, "model", w, str)
    if model_name not in known:
        raise r.error(f"{w}: unknown neuron model {model_name!r}; known: {sorted(known)} (pass "
                      f"your own model classes as load(..., models=[...]))")
    cls = known[model_name]
    fields = {f.name for f in dataclasses.fields(cls)}
    options = r.get(d, "options", w, dict)
    params = r.get(d, "params", w, dict)
    kwargs = {k: _scalar_or_array(r, v, f"{w}.params[{k!r}]") for k, v in params.items()}
    for k, v in options.items():
        if not isinstance(v, (str, bool, int, float)) or v is None:
            raise r.error(f"{w}: option {k!r} must be a string, number or bool, got {v!r}")
        kwargs[k] = v
    if cls is M.SpikeSource:
        times = r.array(d.get("times"), f"{w}.times", np.float64, ndim=1)
        counts = r.array(d.get("times_count"), f"{w}.times_count", np.int64, ndim=1)
        if counts.size and (counts.min() < 0 or int(counts.sum()) != times.size):
            raise r.error(f"{w}: 'times_count' must be >= 0 and add up to the {times.size} "
                          f"spike times")
        kwargs["times"] = tuple(np.split(times, np.cumsum(counts)[:-1])) if counts.size else ()
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise r.error(f"{w}: {model_name} has no parameter(s) {unknown}")
    model = _checked(r, w, lambda: cls(**kwargs))
    return _checked(r, w, lambda: net.add_population(r.get(d, "size", w, int), model, name))


def _rule(r, k, d, registry, where, skip=()):
    r.keys(d, where, ("rule", "enabled", "params") + skip)
    name = r.get(d, "rule", where, str)
    if name not in registry:
        raise r.error(f"{where}: unknown rule {name!r}; known: {sorted(registry)}")
    cls = registry[name]
    params = r.get(d, "params", where, dict)
    if isinstance(cls, P.PlasticityModel):         # a user's description, given to load()
        allowed = [*cls.parameters, "w_min", "w_max", "pairing"]
    elif isinstance(cls, P.HomeostasisModel):
        allowed = [*cls.parameters, "projections"]
    else:
        allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    r.keys(params, f"{where}.params", allowed)
    kwargs = {}
    for p, v in params.items():
        if isinstance(v, list):
            kwargs[p] = v
        else:
            v = r.value(v, f"{where}.params[{p!r}]")
            if isinstance(v, np.ndarray) and p not in getattr(cls, "array_params", ()):
                raise r.error(f"{where}: parameter {p!r} must be a scalar, got an array")
            kwargs[p] = v
    rule = _checked(r, where, lambda: cls(**kwargs))
    enabled = r.get(d, "enabled", where, bool)
    rule.enabled = enabled
    return rule


def _connect(r, net, k, d, pops, rules):
    from .connectivity import Explicit
    w = f"projections[{k}]"
    r.keys(d, w, ("name", "pre", "post", "receptor", "delay_class", "plasticity", "sources",
                  "targets", "weights", "delays"))
    pre = _item(r, pops, r.get(d, "pre", w, int), w, "pre population")
    post = _item(r, pops, r.get(d, "post", w, int), w, "post population")
    src = r.array(d.get("sources"), f"{w}.sources", np.int32, ndim=1)
    tgt = r.array(d.get("targets"), f"{w}.targets", np.int32, shape=src.shape)
    weights = r.array(d.get("weights"), f"{w}.weights", net.dtype, shape=src.shape)
    delays = r.array(d.get("delays"), f"{w}.delays", np.float64, shape=src.shape)
    if src.size and np.any(np.diff(src) < 0):
        raise r.error(f"{w}: 'sources' must be sorted (synapses are stored by source)")
    rule = d.get("plasticity")
    if rule is not None:
        rule = _item(r, rules, r.get(d, "plasticity", w, int), w, "rule")
    dc = d.get("delay_class")
    if dc is not None:
        dc = r.get(d, "delay_class", w, int)
        steps = np.maximum(1, np.rint(delays / net.dt))
        if steps.size and not np.all(steps == dc):
            raise r.error(f"{w}: 'delay_class' {dc} does not match the delays")
    proj = _checked(r, w, lambda: net.connect(
        pre, post, Explicit(src, tgt), weight=weights.astype(np.float64),
        delay=delays if src.size else net.dt, receptor=r.get(d, "receptor", w, str),
        name=r.get(d, "name", w, str), plasticity=rule))
    proj._delay_class = "hetero" if dc is None and rule is None else dc
    return proj


def _inject(r, net, k, d, pops):
    w = f"currents[{k}]"
    kind = r.get(d, "kind", w, str)
    target = _item(r, pops, r.get(d, "target", w, int), w, "target population")
    if kind == "DCCurrent":
        r.keys(d, w, ("target", "kind", "amplitude", "start", "stop"))
        stop = d.get("stop")
        cur = _checked(r, w, lambda: I.DCCurrent(
            _scalar_or_array(r, d.get("amplitude"), f"{w}.amplitude"),
            r.get(d, "start", w, (int, float)),
            None if stop is None else r.get(d, "stop", w, (int, float))))
    elif kind == "StepCurrent":
        r.keys(d, w, ("target", "kind", "times", "amplitudes"))
        times = r.get(d, "times", w, list)
        amps = [_scalar_or_array(r, a, f"{w}.amplitudes[{j}]")
                for j, a in enumerate(r.get(d, "amplitudes", w, list))]
        cur = _checked(r, w, lambda: I.StepCurrent(tuple(times), tuple(amps)))
    else:
        raise r.error(f"{w}: unknown current kind {kind!r}; expected DCCurrent or StepCurrent")
    _checked(r, w, lambda: net.inject(target, cur))


def _add_monitor(r, net, k, d, pops, n):
    w = f"monitors[{k}]"
    kind = r.get(d, "kind", w, str)
    extra = {"spikes": (), "rate": ("bin_steps",), "state": ("variable", "every")}
    if kind not in extra:
        raise r.error(f"{w}: unknown monitor kind {kind!r}; expected spikes, state or rate")
    r.keys(d, w, ("kind", "population", "t_start", "data", "indices", "steps", "values")
           + extra[kind])
    pop = _item(r, pops, r.get(d, "population", w, int), w, "population")
    idx = d.get("indices")
    idx = None if idx is None else r.array(idx, f"{w}.indices", np.int64, ndim=1)
    if kind == "spikes":
        mon = _checked(r, w, lambda: net.record_spikes(pop, idx))
    elif kind == "state":
        mon = _checked(r, w, lambda: net.record_state(pop, r.get(d, "variable", w, str), idx,
                                                      r.get(d, "every", w, int)))
    else:
        bin_steps = r.get(d, "bin_steps", w, int)
        mon = _checked(r, w, lambda: net.record_rate(pop, bin_steps * net.dt))
    t0 = r.get(d, "t_start", w, (int, float))
    s0 = int(round(t0 / net.dt))
    if not (0 <= s0 <= n and abs(t0 - s0 * net.dt) <= 1e-6 * max(1.0, abs(t0))):
        raise r.error(f"{w}: 't_start' {t0} must be a multiple of dt = {net.dt} ms within "
                      f"[0, {n * net.dt}]")
    mon.t_start = t0
    if kind == "rate":
        mon._step0 = s0
    if not r.get(d, "data", w, bool):        # recordings restart at the checkpoint's time
        mon.t_start = n * net.dt
        if kind == "rate":
            mon._step0 = n
    return d


def _fill_monitor(r, mon, d, n) -> None:
    if not d["data"]:
        return
    from .monitors import RateMonitor, SpikeMonitor
    w = f"monitors[{r.manifest['monitors'].index(d)}]"
    s0, size = mon.start_step, mon.population.size
    if isinstance(mon, SpikeMonitor):
        steps = r.array(d.get("steps"), f"{w}.steps", np.int64, ndim=1)
        idx = r.array(d.get("values"), f"{w}.values", np.int32, shape=steps.shape)
        if steps.size and (steps[0] < s0 or steps[-1] >= n or np.any(np.diff(steps) < 0)):
            raise r.error(f"{w}: spike steps must be sorted within [{s0}, {n})")
        allowed = np.zeros(size, bool)
        allowed[mon.neurons if mon.neurons is not None else slice(None)] = True
        if idx.size and (idx.min() < 0 or idx.max() >= size or not allowed[idx].all()):
            raise r.error(f"{w}: spike indices must be recorded neurons of population "
                          f"{mon.population.name!r} (size {size})")
        mon._append(steps, idx)
    elif isinstance(mon, RateMonitor):
        counts = r.array(d.get("values"), f"{w}.values", np.int64, shape=(n - s0,))
        if counts.size and (counts.min() < 0 or counts.max() > size):
            raise r.error(f"{w}: rate counts must lie in [0, {size}]")
        mon._append(counts)
    else:
        k = int(np.count_nonzero((np.arange(s0, n) - s0 + 1) % mon.every == 0))
        values = r.array(d.get("values"), f"{w}.values", mon.population.network.dtype,
                         shape=(k, mon.n_recorded))
        steps = np.arange(s0, n, dtype=np.int64)
        mon._append(steps[(steps - s0 + 1) % mon.every == 0], values)
