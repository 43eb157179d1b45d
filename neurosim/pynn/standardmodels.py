"""PyNN's standard cell types, synapse types and current sources on neurosim.

Parameters keep PyNN's names and units at the API (mV, ms, nA, nF, µS, Hz) and are translated
to neurosim's (mV, ms, pA, pF, nS, Hz) by PyNN's own translation machinery: the native names
are neurosim's model parameters, with the factor 1000 for nA -> pA (``i_offset``, ``b``),
nF -> pF (``cm``) and µS -> nS (``a`` of the AdEx is in nS in both). Weights stay in PyNN units
in the projections (nA, µS, or mV for ``IF_curr_delta`` and ``Izhikevich``) and are scaled by
the post-synaptic cell type's ``weight_scale`` when the network is built; recorded state
comes back in PyNN units (``state_map``).
"""

from __future__ import annotations

import numpy as np

from pyNN.standardmodels import build_translations, cells, electrodes, synapses

from .simulator import state


def _uniform(value):
    """A scalar when every neuron has the same value (neurosim accepts both)."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return float(arr)
    return float(arr[0]) if arr.size and np.all(arr == arr[0]) else arr


def _sequences(value) -> list:
    """The per-neuron spike-time sequences of a SpikeSourceArray's evaluated parameter."""
    from pyNN.parameters import Sequence
    if isinstance(value, Sequence):
        return [value]
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) and \
            all(isinstance(v, Sequence) for v in value):
        return list(value)
    return [value]


class _NeurosimCell:
    """Mixin: how a standard cell becomes a neurosim model.

    ``state_map``: PyNN variable -> (neurosim state variable, factor from neurosim's unit to
    PyNN's). ``weight_scale``: factor from the PyNN weight unit to neurosim's.
    """

    state_map: dict = {}
    weight_scale = 1000.0
    accepts_synapses = True
    injectable = True
    unsupported_record: tuple = ()

    @classmethod
    def ns_model(cls, params: dict, t_offset: float, tstop: float, dt: float, seed: int):
        raise NotImplementedError    # every concrete cell type below defines it

    @classmethod
    def check_parameters(cls, params: dict) -> None:
        """Refuse values neurosim cannot take, when the population is made or set."""


class IF_curr_exp(_NeurosimCell, cells.IF_curr_exp):
    __doc__ = cells.IF_curr_exp.__doc__
    translations = build_translations(
        ("tau_m", "tau_m"), ("cm", "cm", 1000.0), ("v_rest", "v_rest"),
        ("v_thresh", "v_thresh"), ("v_reset", "v_reset"), ("tau_refrac", "tau_refrac"),
        ("i_offset", "i_offset", 1000.0), ("tau_syn_E", "tau_syn_E"),
        ("tau_syn_I", "tau_syn_I"))
    state_map = {"v": ("v", 1.0), "isyn_exc": ("i_syn_e", 1e-3), "isyn_inh": ("i_syn_i", 1e-3)}
    recordable = ["spikes", "v", "isyn_exc", "isyn_inh"]      # the synaptic currents too (nA)
    units = dict(cells.IF_curr_exp.units, isyn_exc="nA", isyn_inh="nA")

    @classmethod
    def ns_model(cls, params, *_):
        import neurosim as ns
        return ns.LIF(synapse="exponential", **{k: _uniform(v) for k, v in params.items()})


class IF_curr_delta(_NeurosimCell, cells.IF_curr_delta):
    __doc__ = cells.IF_curr_delta.__doc__
    translations = build_translations(
        ("tau_m", "tau_m"), ("cm", "cm", 1000.0), ("v_rest", "v_rest"),
        ("v_thresh", "v_thresh"), ("v_reset", "v_reset"), ("tau_refrac", "tau_refrac"),
        ("i_offset", "i_offset", 1000.0))
    state_map = {"v": ("v", 1.0)}
    weight_scale = 1.0          # PyNN's weight for IF_curr_delta is the jump of v in mV

    @classmethod
    def ns_model(cls, params, *_):
        import neurosim as ns
        return ns.LIF(synapse="delta", **{k: _uniform(v) for k, v in params.items()})


class IF_cond_exp(_NeurosimCell, cells.IF_cond_exp):
    __doc__ = cells.IF_cond_exp.__doc__
    translations = build_translations(
        ("tau_m", "tau_m"), ("cm", "cm", 1000.0), ("v_rest", "v_rest"),
        ("v_thresh", "v_thresh"), ("v_reset", "v_reset"), ("tau_refrac", "tau_refrac"),
        ("i_offset", "i_offset", 1000.0), ("tau_syn_E", "tau_syn_E"),
        ("tau_syn_I", "tau_syn_I"), ("e_rev_E", "e_rev_E"), ("e_rev_I", "e_rev_I"))
    state_map = {"v": ("v", 1.0), "gsyn_exc": ("g_e", 1e-3), "gsyn_inh": ("g_i", 1e-3)}

    @classmethod
    def ns_model(cls, params, *_):
        import neurosim as ns
        return ns.LIFCond(**{k: _uniform(v) for k, v in params.items()})


class EIF_cond_exp_isfa_ista(_NeurosimCell, cells.EIF_cond_exp_isfa_ista):
    """PyNN's adaptive exponential integrate-and-fire cell with exponential conductances, on
    neurosim's ``AdExCond`` (forward Euler at ``dt``; ``v_spike`` is the detection level
    ``v_peak``)."""
    translations = build_translations(
        ("cm", "cm", 1000.0), ("tau_refrac", "tau_refrac"), ("v_spike", "v_peak"),
        ("v_reset", "v_reset"), ("v_rest", "e_L"),
        ("tau_m", "g_L", "1000.0*cm/tau_m", "cm/g_L"),
        ("i_offset", "i_offset", 1000.0), ("a", "a"), ("b", "b", 1000.0),
        ("delta_T", "delta_T"), ("tau_w", "tau_w"), ("v_thresh", "v_T"),
        ("e_rev_E", "e_rev_E"), ("tau_syn_E", "tau_syn_E"), ("e_rev_I", "e_rev_I"),
        ("tau_syn_I", "tau_syn_I"))
    state_map = {"v": ("v", 1.0), "w": ("w", 1e-3), "gsyn_exc": ("g_e", 1e-3),
                 "gsyn_inh": ("g_i", 1e-3)}

    @classmethod
    def ns_model(cls, params, *_):
        import neurosim as ns
        return ns.AdExCond(**{k: _uniform(v) for k, v in params.items()})


class Izhikevich(_NeurosimCell, cells.Izhikevich):
    __doc__ = cells.Izhikevich.__doc__
    translations = build_translations(
        ("a", "a"), ("b", "b"), ("c", "c"), ("d", "d"), ("i_offset", "i_offset", 1000.0))
    state_map = {"v": ("v", 1.0), "u": ("u", 1.0)}
    weight_scale = 1.0          # weights are jumps of v in mV (as pyNN.nest)

    @classmethod
    def ns_model(cls, params, *_):
        import neurosim as ns
        return ns.Izhikevich(v_peak=30.0, **{k: _uniform(v) for k, v in params.items()})


class SpikeSourcePoisson(_NeurosimCell, cells.SpikeSourcePoisson):
    """Poisson spike trains: neurosim's ``PoissonSource`` (one Bernoulli draw of probability
    ``rate * dt`` per step) when the source is on for the whole run; with a ``start`` or a
    finite ``duration``, the same per-step draws are made on the host for the window (all of
    it when it ends and fits in memory, else up to the end of the current run, the network
    being rebuilt for a later run) and played by a ``SpikeSource``."""
    __doc__ = cells.SpikeSourcePoisson.__doc__
    translations = build_translations(
        ("rate", "rate"), ("start", "start"), ("duration", "duration"))
    accepts_synapses = False
    injectable = False

    @classmethod
    def ns_model(cls, params, t_offset, tstop, dt, seed):
        import neurosim as ns
        n = np.size(params["rate"]) if np.ndim(params["rate"]) else None
        rate, start, duration = (np.asarray(params[k], float) for k in ("rate", "start", "duration"))
        if np.all(start <= t_offset + 1e-9) and np.all(start + duration >= 1e9):
            return ns.PoissonSource(rate=_uniform(rate)), np.inf
        size = n or 1
        rate, start, duration = (np.broadcast_to(a, (size,)) for a in (rate, start, duration))
        rng = np.random.default_rng(seed)
        s0, s1 = int(round(t_offset / dt)), int(round(tstop / dt))
        end = float(np.max(start + duration))
        horizon = tstop
        if end < 1e9 and (end / dt - s0) * size <= 5e7:
            # the whole window fits in memory: draw it, so later runs need no rebuild
            s1, horizon = max(s1, int(round(end / dt))), np.inf
        step_end = (np.arange(s0, s1) + 1) * dt          # the stamp of each step's spikes
        times = []
        for i in range(size):
            on = (step_end > start[i]) & (step_end <= start[i] + duration[i])
            hit = rng.random(step_end.size) < rate[i] * dt * 1e-3
            times.append(step_end[on & hit] - t_offset)
        return ns.SpikeSource(times), horizon


class SpikeSourceArray(_NeurosimCell, cells.SpikeSourceArray):
    """Spikes at given times (ms, sorted per neuron: unsorted times are an error). A spike
    at ``T`` is emitted in the step that ends at ``T`` rounded to the grid (stamp
    ``round(T/dt)*dt``); a time that rounds to 0 is dropped (the first step ends at ``dt``)."""
    translations = build_translations(("spike_times", "spike_times"))
    accepts_synapses = False
    injectable = False

    @classmethod
    def check_parameters(cls, params):
        from pyNN.errors import InvalidParameterValueError
        for i, seq in enumerate(_sequences(params["spike_times"])):
            t = np.asarray(getattr(seq, "value", seq), float).ravel()
            if np.any(np.diff(t) < 0):
                raise InvalidParameterValueError(
                    f"SpikeSourceArray: spike_times of neuron {i} must be sorted, got {t}")

    @classmethod
    def ns_model(cls, params, t_offset, tstop, dt, seed):
        import neurosim as ns
        times = []
        for seq in _sequences(params["spike_times"]):
            t = np.asarray(getattr(seq, "value", seq), float).ravel()
            steps = np.round(t / dt) - round(t_offset / dt)
            times.append(np.unique(steps[steps >= 1]) * dt)
        return ns.SpikeSource(times), np.inf


# -- synapses ---------------------------------------------------------------------------------

def _min_delay(self):
    d = state.min_delay
    return state.dt if d == "auto" else d


class StaticSynapse(synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = build_translations(("weight", "weight"), ("delay", "delay"))
    _get_minimum_delay = _min_delay


class STDPMechanism(synapses.STDPMechanism):
    """Pair-based STDP on neurosim's ``ns.STDP`` (all-to-all pairing, hard bounds).

    PyNN's ``A_plus``/``A_minus`` are relative amplitudes: the weight change of one pair is
    ``A_plus * w_max * exp(-dt/tau_plus)`` for ``AdditiveWeightDependence`` (as NEST's
    ``stdp_synapse``) and ``A_plus * (w_max - w) * exp(...)`` /
    ``A_minus * (w - w_min) * exp(...)`` for ``MultiplicativeWeightDependence``. Other timing
    or weight dependences, and a ``dendritic_delay_fraction`` other than 1, are refused.
    """
    base_translations = build_translations(
        ("weight", "weight"), ("delay", "delay"),
        ("dendritic_delay_fraction", "dendritic_delay_fraction"))
    _get_minimum_delay = _min_delay

    def rule_parameters(self) -> dict:
        """The timing and weight dependences' parameters (PyNN names and units)."""
        p = {}
        for comp in (self.timing_dependence, self.weight_dependence):
            ps = comp.parameter_space
            for k in ps.keys():
                v = ps[k]
                p[k] = v.base_value if hasattr(v, "base_value") else v
        return p

    def ns_rule(self, weight_scale: float):
        import neurosim as ns
        if not isinstance(self.timing_dependence, SpikePairRule):
            raise NotImplementedError(
                f"neurosim.pynn: STDPMechanism timing_dependence must be SpikePairRule, got "
                f"{type(self.timing_dependence).__name__}")
        wd = self.weight_dependence
        if not isinstance(wd, (AdditiveWeightDependence, MultiplicativeWeightDependence)):
            raise NotImplementedError(
                f"neurosim.pynn: STDPMechanism weight_dependence must be "
                f"AdditiveWeightDependence or MultiplicativeWeightDependence, got "
                f"{type(wd).__name__}")
        p = {}
        for comp in (self.timing_dependence, wd):
            ps = comp.native_parameters
            ps.shape = (1,)
            ps.evaluate(simplify=True)
            for k, v in ps.items():
                if np.ndim(v):
                    raise NotImplementedError(
                        f"neurosim.pynn: STDP parameter {k} must be one value per projection, "
                        f"got {np.asarray(v)[:5]}...")
                p[k] = float(v)
        mult = isinstance(wd, MultiplicativeWeightDependence)
        span = (p["w_max"] - p["w_min"]) if mult else p["w_max"]
        return ns.STDP(A_plus=p["A_plus"] * span * weight_scale,
                       A_minus=p["A_minus"] * span * weight_scale,
                       tau_plus=p["tau_plus"], tau_minus=p["tau_minus"],
                       w_min=p["w_min"] * weight_scale, w_max=p["w_max"] * weight_scale,
                       pairing="all", update="multiplicative" if mult else "additive")


class AdditiveWeightDependence(synapses.AdditiveWeightDependence):
    __doc__ = synapses.AdditiveWeightDependence.__doc__
    translations = build_translations(("w_max", "w_max"), ("w_min", "w_min"))


class MultiplicativeWeightDependence(synapses.MultiplicativeWeightDependence):
    __doc__ = synapses.MultiplicativeWeightDependence.__doc__
    translations = build_translations(("w_max", "w_max"), ("w_min", "w_min"))


class SpikePairRule(synapses.SpikePairRule):
    __doc__ = synapses.SpikePairRule.__doc__
    translations = build_translations(
        ("tau_plus", "tau_plus"), ("tau_minus", "tau_minus"),
        ("A_plus", "A_plus"), ("A_minus", "A_minus"))


# -- current sources --------------------------------------------------------------------------

class _CurrentSource:
    """Injected into cells of one or more populations; applied when the network is built
    (a change, or an injection after a run, rebuilds it before the next run)."""

    def __init__(self, **parameters):
        from pyNN.parameters import ParameterSpace
        object.__setattr__(self, "parameter_space", ParameterSpace(
            self.default_parameters, self.get_schema(), shape=(1,)))
        if parameters:
            self.parameter_space.update(**parameters)
        object.__setattr__(self, "_targets", [])      # (base population, index array)
        state.current_sources.append(self)

    def set_native_parameters(self, parameters):
        self.parameter_space.update(**self.reverse_translate(parameters))
        state.mark_stale("current source changed")

    def get_native_parameters(self):
        return self.native_parameters

    def get_parameters(self):
        """The parameters in PyNN units, sequences as arrays (``source.times[0]``)."""
        out = {}
        for k in self.parameter_space.keys():
            v = self.parameter_space[k]
            v = v.evaluate(simplify=True) if hasattr(v, "evaluate") else v
            out[k] = np.asarray(v.value) if hasattr(v, "value") else v
        return out

    def inject_into(self, cells):
        from .populations import base_cells
        for pop, idx in base_cells(cells):
            if not pop.celltype.injectable:
                raise TypeError(f"inject_into(): cannot inject a current into a spike source "
                                f"({type(pop.celltype).__name__} population {pop.label!r})")
            self._targets.append((pop, idx))
        state.mark_stale("current source injected")

    def _values(self):
        ps = self.native_parameters
        ps.shape = (1,)
        ps.evaluate(simplify=True)
        return {k: ps[k] for k in ps.keys()}

    def _build(self, net, t_offset):
        for pop, idx in self._targets:
            cur = self._ns_current(t_offset, pop.size, idx)
            if cur is not None:
                net.inject(pop._ns, cur)

    @staticmethod
    def _per_neuron(amp_pA, n, idx):
        if idx.size == n:
            return float(amp_pA)
        a = np.zeros(n)
        np.add.at(a, idx, amp_pA)
        return a


class DCSource(_CurrentSource, electrodes.DCSource):
    __doc__ = electrodes.DCSource.__doc__
    translations = build_translations(("amplitude", "amplitude", 1000.0),
                                      ("start", "start"), ("stop", "stop"))

    def _ns_current(self, t_offset, n, idx):
        import neurosim as ns
        p = self._values()
        start, stop = float(p["start"]) - t_offset, float(p["stop"]) - t_offset
        if stop <= 0:
            return None
        return ns.DCCurrent(self._per_neuron(float(p["amplitude"]), n, idx),
                            start=max(start, 0.0), stop=None if stop > 1e9 else stop)


class StepCurrentSource(_CurrentSource, electrodes.StepCurrentSource):
    """A current that steps to ``amplitudes[k]`` (nA) at ``times[k]`` (ms). Times must be
    >= 0 and increasing; they are mapped to the time grid when the source is made (several
    times in one step: the last amplitude wins), and ``times`` reads back the mapped ones."""
    translations = build_translations(("amplitudes", "amplitudes", 1000.0),
                                      ("times", "times"))

    def __init__(self, **parameters):
        times = parameters.get("times")
        amps = parameters.get("amplitudes")
        if times is not None:
            t = np.asarray(getattr(times, "value", times), float).ravel()
            a = np.asarray(getattr(amps, "value", amps), float).ravel() if amps is not None \
                else np.zeros(t.size)
            if t.size != a.size:
                raise ValueError(f"StepCurrentSource: times ({t.size}) and amplitudes "
                                 f"({a.size}) must have the same length")
            if np.any(t < 0):
                raise ValueError(f"StepCurrentSource: times must be >= 0 ms, got {t}")
            if np.any(np.diff(t) <= 0):
                raise ValueError(f"StepCurrentSource: times must be strictly increasing, "
                                 f"got {t}")
            steps = np.round(t / state.dt).astype(np.int64)
            last = np.r_[steps[1:] != steps[:-1], True] if steps.size else steps.astype(bool)
            parameters["times"] = list(steps[last] * state.dt)
            parameters["amplitudes"] = list(a[last])
        super().__init__(**parameters)

    def _ns_current(self, t_offset, n, idx):
        import neurosim as ns
        p = self._values()
        times = np.asarray(getattr(p["times"], "value", p["times"]), float) - t_offset
        amps = np.asarray(getattr(p["amplitudes"], "value", p["amplitudes"]), float)
        if times.size == 0:
            return None
        past = times <= 0
        keep_t, keep_a = list(times[~past]), list(amps[~past])
        if past.any():
            keep_t.insert(0, 0.0)
            keep_a.insert(0, amps[past][-1])
        if not keep_t:
            return None
        # several changes in one step: the last one wins (as in NEST)
        steps = np.round(np.asarray(keep_t) / state.dt).astype(np.int64)
        last = np.r_[steps[1:] != steps[:-1], True]
        return ns.StepCurrent(tuple(steps[last] * state.dt),
                              tuple(self._per_neuron(a, n, idx) for a in np.asarray(keep_a)[last]))
