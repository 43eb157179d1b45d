"""Population, PopulationView and Assembly of the neurosim PyNN backend.

A :class:`Population` keeps its native (neurosim-unit) parameters and its initial values (PyNN
units) as arrays; it becomes one neurosim population when the network is built.
"""

from __future__ import annotations

import numpy as np

from pyNN import common, errors
from pyNN.parameters import ParameterSpace, simplify

from . import simulator
from .recording import Recorder


def base_cells(cells):
    """[(base Population, indices in it)] covering ``cells`` (a Population, a PopulationView,
    an Assembly or a single ID), in ``cells``' order."""
    if isinstance(cells, common.IDMixin):
        pop = cells.parent
        return [(pop, np.array([pop.id_to_index(cells)]))]
    if isinstance(cells, Population):
        return [(cells, np.arange(cells.size))]
    if isinstance(cells, PopulationView):
        return [(cells.grandparent, np.asarray(cells.index_in_grandparent(np.arange(cells.size))))]
    if isinstance(cells, common.Assembly):
        out = []
        for p in cells.populations:
            out.extend(base_cells(p))
        return out
    if isinstance(cells, (list, tuple, np.ndarray)):
        out = []
        for c in cells:
            out.extend(base_cells(c))
        return out
    raise TypeError(f"expected a Population, PopulationView, Assembly or ID, got {cells!r}")


def flat_index(cells):
    """Two arrays over the indices of ``cells``: the base Population of each, its index there."""
    parts = base_cells(cells)
    pops = np.concatenate([np.full(idx.size, k) for k, (_, idx) in enumerate(parts)]) \
        if parts else np.zeros(0, int)
    idx = np.concatenate([idx for _, idx in parts]) if parts else np.zeros(0, int)
    return [p for p, _ in parts], pops, idx


class Assembly(common.Assembly):
    _simulator = simulator


class PopulationView(common.PopulationView):
    _assembly_class = Assembly
    _simulator = simulator

    def _get_parameters(self, *names):
        return _get_parameters(self, names)

    def _get_native_parameters(self, *names):
        out = {}
        for name in names:
            value = self.parent._parameters[name]
            if isinstance(value, np.ndarray):
                value = value[self.mask]
            out[name] = simplify(value)
        return ParameterSpace(out, shape=(self.size,))

    def _set_parameters(self, parameter_space):
        parent = self.grandparent
        idx = self.index_in_grandparent(np.arange(self.size))
        for name, value in parameter_space.items():
            try:
                parent._parameters[name][idx] = value.evaluate(simplify=True)
            except ValueError:
                raise errors.InvalidParameterValueError(
                    f"{name} should not be of type {type(value)}")
        simulator.state.mark_stale("parameters set")

    def _set_initial_value_array(self, variable, initial_values):
        parent = self.grandparent
        idx = self.index_in_grandparent(np.arange(self.size))
        parent._set_initial_values_at(variable, idx, initial_values.evaluate(simplify=False))

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)


def _get_parameters(pop, names):
    """PyNN-unit parameters from the native (neurosim-unit) ones; every cell type here is a
    standard one (Population refuses others)."""
    if any(name in pop.celltype.computed_parameters() for name in names):
        native_names = pop.celltype.get_native_names()
    else:
        native_names = pop.celltype.get_native_names(*names)
    return pop.celltype.reverse_translate(pop._get_native_parameters(*native_names))


class Population(common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    def _create_cells(self):
        from .standardmodels import _NeurosimCell
        if not isinstance(self.celltype, _NeurosimCell):
            raise NotImplementedError(
                f"neurosim.pynn: cell type {type(self.celltype).__name__} is not supported; "
                f"supported: IF_curr_exp, IF_curr_delta, IF_cond_exp, EIF_cond_exp_isfa_ista, "
                f"Izhikevich, SpikeSourcePoisson, SpikeSourceArray")
        state = simulator.state
        ids = np.arange(state.id_counter, state.id_counter + self.size)
        self.all_cells = np.array([simulator.ID(i) for i in ids], dtype=simulator.ID)
        self._mask_local = np.ones(self.size, bool)
        ps = self.celltype.native_parameters
        ps.shape = (self.size,)
        ps.evaluate(mask=self._mask_local, simplify=False)
        self._parameters = ps.as_dict()
        self.celltype.check_parameters(self._parameters)
        self._initial = {}
        self._ns = None
        for id in self.all_cells:
            id.parent = self
        state.id_counter += self.size
        state.populations.append(self)
        state.mark_stale("population created")

    def _set_initial_values_at(self, variable, idx, values):
        arr = self._initial.setdefault(variable, np.zeros(self.size))
        arr[idx] = values
        net = simulator.state.net
        smap = self.celltype.state_map
        if net is not None and self._ns is not None and variable in smap:
            native, factor = smap[variable]
            cur = net.get_state(self._ns, native)
            cur[idx] = np.asarray(values, float) / factor
            net.set_state(self._ns, native, cur)

    def _set_initial_value_array(self, variable, initial_values):
        self._set_initial_values_at(variable, np.arange(self.size),
                                    initial_values.evaluate(simplify=False))

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)

    def _get_parameters(self, *names):
        return _get_parameters(self, names)

    def _get_native_parameters(self, *names):
        return ParameterSpace({n: simplify(self._parameters[n]) for n in names},
                              shape=(self.local_size,))

    def _set_parameters(self, parameter_space):
        parameter_space.evaluate(simplify=False, mask=self._mask_local)
        for name, value in parameter_space.items():
            self._parameters[name] = value
        self.celltype.check_parameters(self._parameters)
        simulator.state.mark_stale("parameters set")

    # -- building -----------------------------------------------------------------------------
    def _build(self, net, t_offset, tstop):
        state = simulator.state
        seed = int(np.random.SeedSequence([state.seed, state.n_builds, self.all_cells[0]])
                   .generate_state(1)[0]) if self.size else 0
        made = self.celltype.ns_model(dict(self._parameters), t_offset, tstop, state.dt, seed)
        model, horizon = made if isinstance(made, tuple) else (made, np.inf)
        state.horizon = min(state.horizon, horizon)
        initial = {}
        for var, values in self._initial.items():
            if var in self.celltype.state_map:
                native, factor = self.celltype.state_map[var]
                initial[native] = np.asarray(values, float) / factor
        self._ns = net.add_population(self.size, model, name=f"p{self.all_cells[0]}_{self.label}"
                                      if self.size else None, initial=initial)
