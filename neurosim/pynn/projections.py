"""Projection of the neurosim PyNN backend.

Connectors call :meth:`Projection._convergent_connect`; the connections are kept as arrays
(pre and post index within the projection's pre/post, weight in PyNN units, delay in ms, in
creation order). At build time they become one ``ns.Explicit`` projection per pair of base
populations (an Assembly or a view spans several), weights scaled to neurosim's units by the
post-synaptic cell type. Weights read after a run are the network's (learned ones included).
"""

from __future__ import annotations

import numpy as np

from pyNN import common
from pyNN.core import is_listlike
from pyNN.space import Space

from . import simulator
from .populations import flat_index
from .standardmodels import STDPMechanism, StaticSynapse


def _connect(connector, projection):
    """``connector.connect(projection)``, working around PyNN 0.13's map connectors on
    NumPy >= 2.1: from a one-neuron population they hand ``nonzero()`` a 0-d array, which
    NumPy now refuses. Each such column mask is passed on as a 1-element array instead."""
    orig = getattr(connector, "_standard_connect", None)
    if orig is None or projection.pre.size != 1:
        return connector.connect(projection)

    def standard_connect(prj, connection_map_generator, distance_map=None):
        def masks(*args, **kwargs):
            for m in connection_map_generator(*args, **kwargs):
                yield np.atleast_1d(m) if (m is not True and np.ndim(m) == 0) else m
        return orig(prj, masks, distance_map)

    connector._standard_connect = standard_connect
    try:
        connector.connect(projection)
    finally:
        del connector._standard_connect


class Connection(common.Connection):
    """One connection, read through its projection's arrays."""

    def __init__(self, projection, k):
        self._prj, self._k = projection, k

    @property
    def presynaptic_index(self):
        return int(self._prj._pre[self._k])

    @property
    def postsynaptic_index(self):
        return int(self._prj._post[self._k])

    def _get(self, name):
        return self._prj._attr(name)[self._k]

    def _set(self, name, value):
        self._prj._set_one(name, self._k, value)

    weight = property(lambda self: self._get("weight"), lambda self, v: self._set("weight", v))
    delay = property(lambda self: self._get("delay"), lambda self, v: self._set("delay", v))

    def as_tuple(self, *names):
        return tuple(getattr(self, n) if n in ("presynaptic_index", "postsynaptic_index")
                     else self._get(n) for n in names)


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    def __init__(self, presynaptic_population, postsynaptic_population, connector,
                 synapse_type=None, source=None, receptor_type=None, space=Space(), label=None):
        common.Projection.__init__(self, presynaptic_population, postsynaptic_population,
                                   connector, synapse_type, source, receptor_type, space, label)
        self._pre_pops, self._pre_pop_of, self._pre_base = flat_index(self.pre)
        self._post_pops, self._post_pop_of, self._post_base = flat_index(self.post)
        for pop in self._post_pops:
            if not pop.celltype.accepts_synapses:
                raise NotImplementedError(
                    f"neurosim.pynn: {type(pop.celltype).__name__} population {pop.label!r} "
                    f"cannot receive synapses")
        if self.receptor_type not in ("excitatory", "inhibitory"):
            raise NotImplementedError(f"neurosim.pynn: receptor_type must be 'excitatory' or "
                                      f"'inhibitory', got {self.receptor_type!r}")
        self._chunks = {"pre": [], "post": [], "weight": [], "delay": []}
        self._arrays = None
        self._live = []                 # (ns projection, positions in our arrays)
        _connect(connector, self)
        simulator.state.projections.append(self)
        simulator.state.mark_stale("projection created")

    # -- connections ----------------------------------------------------------------------------
    def _convergent_connect(self, presynaptic_indices, postsynaptic_index,
                            location_selector=None, **params):
        if location_selector is not None:
            raise NotImplementedError("neurosim.pynn does not support multicompartment models")
        pre = np.asarray(presynaptic_indices, dtype=int).ravel()
        n = pre.size
        if n == 0:
            return
        for name in params:
            if name not in ("weight", "delay", "dendritic_delay_fraction") and \
                    not isinstance(self.synapse_type, STDPMechanism):
                raise NotImplementedError(f"neurosim.pynn: synapse parameter {name!r} per "
                                          f"connection is not supported")
        ddf = params.get("dendritic_delay_fraction", 1.0)
        if np.any(np.asarray(ddf) != 1.0):
            raise NotImplementedError("neurosim.pynn: dendritic_delay_fraction must be 1 "
                                      f"(the whole delay before the synapse), got {ddf}")
        c = self._chunks
        c["pre"].append(pre)
        c["post"].append(np.full(n, int(postsynaptic_index)))
        for name in ("weight", "delay"):
            v = params[name]
            c[name].append(np.asarray(v, float).ravel() if is_listlike(v)
                           else np.full(n, float(v)))
        self._arrays = None

    def _finalize(self):
        if self._arrays is None:
            c = self._chunks
            self._arrays = {k: (np.concatenate(v) if v else np.zeros(0, int if k in ("pre", "post")
                                                                     else float))
                            for k, v in c.items()}
            self._chunks = {k: [a] for k, a in self._arrays.items()}
            self._user_weight = self._arrays["weight"].copy()   # what reset() goes back to
        return self._arrays

    def _on_reset(self):
        """reset(): weights back to their values as connected or set (not as learned)."""
        if self._arrays is not None:
            self._arrays["weight"] = self._user_weight.copy()

    @property
    def _pre(self):
        return self._finalize()["pre"]

    @property
    def _post(self):
        return self._finalize()["post"]

    def _attr(self, name):
        if name == "weight":
            self._pull_weights()
        arrays = self._finalize()
        if name not in arrays and isinstance(self.synapse_type, STDPMechanism):
            params = self.synapse_type.rule_parameters()
            if name in params:
                return np.full(len(self), float(np.asarray(params[name]).ravel()[0]))
        if name not in arrays:
            raise KeyError(f"Projection {self.label!r} has no attribute {name!r}; it has "
                           f"weight, delay" + (", and the STDP parameters"
                                               if isinstance(self.synapse_type, STDPMechanism)
                                               else ""))
        return arrays[name]

    def __len__(self):
        return int(self._pre.size)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [Connection(self, k) for k in range(*i.indices(len(self)))]
        return Connection(self, int(i))

    @property
    def connections(self):
        return [Connection(self, k) for k in range(len(self))]

    # -- attributes -----------------------------------------------------------------------------
    def _get_attributes_as_list(self, names):
        cols = [self._pre if n == "presynaptic_index" else self._post
                if n == "postsynaptic_index" else self._attr(n) for n in names]
        return [tuple(row) for row in zip(*(c.tolist() for c in cols))]

    def _get_attributes_as_arrays(self, names, multiple_synapses="sum"):
        ops = {"sum": (np.add.at, 0.0), "min": (np.minimum.at, np.inf),
               "max": (np.maximum.at, -np.inf)}
        out = []
        for name in names:
            name = name[:-1] if name in ("weights", "delays") else name
            vals = self._attr(name)
            if multiple_synapses in ops:
                op, fill = ops[multiple_synapses]
                arr = np.full((self.pre.size, self.post.size), fill)
                op(arr, (self._pre, self._post), vals)
            else:                                   # 'first' / 'last'
                order = np.arange(vals.size)
                if multiple_synapses == "first":
                    order = order[::-1]
                arr = np.full((self.pre.size, self.post.size), np.nan)
                arr[self._pre[order], self._post[order]] = vals[order]
            empty = np.ones(arr.shape, bool)
            empty[self._pre, self._post] = False
            arr[empty] = np.nan
            out.append(arr)
        return out

    def _set_attributes(self, parameter_space):
        parameter_space.evaluate()
        arrays = self._finalize()
        for name, value in parameter_space.items():
            if name not in ("weight", "delay"):
                raise NotImplementedError(f"neurosim.pynn: Projection.set({name}=...) is not "
                                          f"supported; set STDP parameters on the "
                                          f"synapse type before connecting")
            if name == "weight":
                self._pull_weights()
            new = np.asarray(value, float)[self._pre, self._post]
            keep = np.isnan(new)
            arrays[name] = np.where(keep, arrays[name], new)
            if name == "weight":
                self._user_weight = np.where(keep, self._user_weight, new)
                self._push_weights()
            else:
                simulator.state.mark_stale("delays set")

    def _set_one(self, name, k, value):
        if name == "weight":
            self._pull_weights()
        self._finalize()[name][k] = float(value)
        if name == "weight":
            self._user_weight[k] = float(value)
            self._push_weights()
        else:
            simulator.state.mark_stale("delay set")

    # -- building -------------------------------------------------------------------------------
    def _ns_rule(self, post_pop):
        scale = post_pop.celltype.weight_scale
        if isinstance(self.synapse_type, STDPMechanism):
            return self.synapse_type.ns_rule(scale)
        if not isinstance(self.synapse_type, StaticSynapse):
            raise NotImplementedError(
                f"neurosim.pynn: synapse type {type(self.synapse_type).__name__} is not "
                f"supported; use StaticSynapse or STDPMechanism")
        return None

    def _build(self, net):
        import neurosim as ns
        a = self._finalize()
        self._live = []
        ppre = self._pre_pop_of[a["pre"]]
        ppost = self._post_pop_of[a["post"]]
        dt = simulator.state.dt
        for i, pre_pop in enumerate(self._pre_pops):
            for j, post_pop in enumerate(self._post_pops):
                pos = np.flatnonzero((ppre == i) & (ppost == j))
                if pos.size == 0:
                    continue
                scale = post_pop.celltype.weight_scale
                delays = a["delay"][pos]
                if np.any(delays < dt * (1 - 1e-6)):
                    raise ValueError(f"Projection {self.label!r}: delays must be >= the time "
                                     f"step {dt} ms, got {delays.min()} ms")
                order = np.argsort(a["pre"][pos], kind="stable")
                pos = pos[order]
                proj = net.connect(pre_pop._ns, post_pop._ns,
                                   ns.Explicit(self._pre_base[a["pre"][pos]],
                                               self._post_base[a["post"][pos]]),
                                   weight=a["weight"][pos] * scale, delay=a["delay"][pos],
                                   receptor=self.receptor_type,
                                   plasticity=self._ns_rule(post_pop))
                self._live.append((proj, pos, scale))

    def _check_order(self, proj, pos):
        src, tgt = proj.sources, proj.targets
        a = self._finalize()
        if not (np.array_equal(src, self._pre_base[a["pre"][pos]])
                and np.array_equal(tgt, self._post_base[a["post"][pos]])):
            # neurosim sorted the synapses in its own way: match (source, target) pairs
            mine = np.lexsort((self._post_base[a["post"][pos]], self._pre_base[a["pre"][pos]]))
            theirs = np.lexsort((tgt, src))
            perm = np.empty_like(pos)
            perm[theirs] = pos[mine]
            return perm
        return pos

    def _pull_weights(self):
        """Copy the network's current weights (STDP may have changed them) into ours."""
        state = simulator.state
        if (state.net is None or not self._live or self._arrays is None
                or not isinstance(self.synapse_type, STDPMechanism)):
            return
        for k, (proj, pos, scale) in enumerate(self._live):
            if proj.network is not state.net:
                return
            pos = self._check_order(proj, pos)
            self._live[k] = (proj, pos, scale)
            self._arrays["weight"][pos] = proj.weights.astype(float) / scale

    def _push_weights(self):
        state = simulator.state
        for proj, pos, scale in self._live:
            if proj.network is state.net:
                proj.weights = self._arrays["weight"][pos] * scale
