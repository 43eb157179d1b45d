"""Recording for the neurosim PyNN backend: neurosim monitors -> PyNN's Neo blocks.

Each built network gets a spike monitor and one state monitor per recorded variable for every
recorded population (all its neurons; PyNN's recorder filters the ids). After every run the new
data are moved into the recorder's buffers, shifted by the network's time offset, so that data
survive a rebuild. Signals start with a sample at the recording's start time (the state then),
as PyNN's other backends do; spike times are the end of the step (see docs/pynn.md).
"""

from __future__ import annotations

import numpy as np

from pyNN import recording

from . import simulator


class Recorder(recording.Recorder):
    _simulator = simulator

    def __init__(self, population, file=None):
        super().__init__(population, file)
        self._reset_buffers()
        self._monitors = {}

    # -- PyNN's hooks ---------------------------------------------------------------------------
    def _record(self, variable, new_ids, sampling_interval=None):
        if sampling_interval is not None:
            self.sampling_interval = sampling_interval
        name = variable.name
        ct = self.population.celltype
        if name in getattr(ct, "unsupported_record", ()):
            raise NotImplementedError(
                f"neurosim.pynn: cannot record {name!r} from {type(ct).__name__}: neurosim's "
                f"AdEx has current-based synapses, so there is no conductance to record")
        state = simulator.state
        if state.net is not None and name not in self._monitors:
            self._attach()

    def _get_spiketimes(self, ids, clear=False):
        pop = self.population
        t = np.concatenate(self._spike_t) if self._spike_t else np.zeros(0)
        i = np.concatenate(self._spike_i) if self._spike_i else np.zeros(0, int)
        ids = np.asarray(list(ids), dtype=int)
        index = pop.id_to_index(ids) if ids.size else np.zeros(0, int)
        keep = np.isin(i, index)
        out = pop.all_cells[i[keep]].astype(int), t[keep]
        if clear:
            self._spike_t, self._spike_i = [], []
        return out

    def _get_all_signals(self, variable, ids, clear=False):
        name = variable.name
        pop = self.population
        samples = self._signals.get(name, [])
        ids = list(ids)
        if not samples or not ids:
            return np.zeros((0, len(ids))), None
        times = np.concatenate([s[0] for s in samples])
        values = np.concatenate([s[1] for s in samples])
        index = pop.id_to_index(np.asarray(ids, dtype=int))
        si = self.sampling_interval
        t0 = float(self._recording_start_time.rescale("ms").magnitude) \
            if hasattr(self._recording_start_time, "rescale") else float(self._recording_start_time)
        k = np.round((times - t0) / si)
        on_grid = (np.abs(times - t0 - k * si) < 1e-6 * si) & (k >= 0)
        k, values = k[on_grid].astype(int), values[on_grid]
        _, first = np.unique(k, return_index=True)
        out = values[first][:, index]
        if clear:
            self._signals[name] = []
        return out, None

    def _local_count(self, variable, filter_ids=None):
        ids = np.array(sorted(self.filter_recorded(variable, filter_ids)), dtype=int)
        if variable.name != "spikes":
            raise ValueError(f"count(): only spikes can be counted, got {variable.name!r}")
        i = np.concatenate(self._spike_i) if self._spike_i else np.zeros(0, int)
        counts = np.bincount(i, minlength=self.population.size)
        return {int(id): int(counts[self.population.id_to_index(id)]) for id in ids}

    def _clear_simulator(self):
        self._spike_t, self._spike_i = [], []
        self._signals = {}
        net = simulator.state.net
        if net is not None:
            for name in list(self._monitors):
                if name != "spikes":
                    self._first_sample(name)

    def _reset(self):
        self._monitors = {}

    # -- between the recorder and the network -------------------------------------------------
    def _reset_buffers(self):
        self._spike_t, self._spike_i = [], []
        self._signals = {}
        self._monitors = {}

    def _names(self):
        return {v.name for v, ids in self.recorded.items() if ids}

    def _attach(self):
        """Add monitors for what is recorded to the (new) network, and take the first sample."""
        state = simulator.state
        pop = self.population
        net = state.net
        if net is None or pop._ns is None:
            return
        for name in self._names():
            if name in self._monitors:
                continue
            if name == "spikes":
                self._monitors[name] = [net.record_spikes(pop._ns), 0]
            else:
                native, _ = pop.celltype.state_map[name]
                every = max(1, int(round(self.sampling_interval / state.dt)))
                self._monitors[name] = [net.record_state(pop._ns, native, every=every), 0]
                self._first_sample(name)

    def _first_sample(self, name):
        state = simulator.state
        pop = self.population
        native, factor = pop.celltype.state_map[name]
        values = state.net.get_state(pop._ns, native).astype(float) * factor
        self._signals.setdefault(name, []).append((np.array([state.t]), values[None, :]))

    def _collect(self):
        """Move what the monitors recorded since the last call into the buffers."""
        state = simulator.state
        pop = self.population
        for name, entry in list(self._monitors.items()):
            mon, done = entry
            if mon.population.network is not state.net:
                continue
            if name == "spikes":
                t, i = mon.times, mon.indices
                self._spike_t.append(t[done:] + state.t_offset)
                self._spike_i.append(i[done:].astype(int))
                entry[1] = t.size
            else:
                _, factor = pop.celltype.state_map[name]
                t, v = mon.times, mon.values
                self._signals.setdefault(name, []).append(
                    (t[done:] + state.t_offset, v[done:].astype(float) * factor))
                entry[1] = t.size
