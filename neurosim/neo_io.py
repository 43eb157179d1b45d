"""Neo output: monitors as ``neo.SpikeTrain`` / ``neo.AnalogSignal`` objects with units.

``spike_monitor.to_neo()`` gives a list of ``SpikeTrain`` (one per recorded neuron, ms),
``state_monitor.to_neo()`` an ``AnalogSignal`` (samples x recorded neurons, in the variable's
unit), ``rate_monitor.to_neo()`` an ``AnalogSignal`` of the population rate (Hz), and
``network.to_neo()`` a ``neo.Block`` with one ``Segment`` holding all of a network's monitors.
Each object is annotated with the population, the neuron ids (``neuron_id``, population-local
indices, as annotations of spike trains and array annotations of signal channels), the device
asked for and the backend that ran, the seed and ``dt`` — enough for Elephant to analyse it and
for Neo's file formats (NIX, NWB) to store it.

Spike times are the end of the step that emitted the spike (see :mod:`neurosim.monitors`); a
spike train spans ``[t_start, t_stop]`` = [the monitor's start, the network's time now].

Neo and quantities are optional (``pip install "neurosim[neo]"``); they are imported when a
conversion is asked for, and a missing package is an ``ImportError`` naming the extra.

Files: the tests round-trip a ``network.to_neo()`` block through Neo's ``NixIO`` (NIX, an
HDF5 format): it keeps units, annotations and array annotations, stores no pickles, and its
one dependency, ``nixio``, is pure Python on h5py, so it installs cleanly everywhere the
``neo`` extra does (NWB through ``pynwb`` would bring a much larger stack).
"""

from __future__ import annotations

import numpy as np

# units of the state variables of neurosim's models (anything else is dimensionless)
STATE_UNITS = {
    "v": "mV", "i_syn_e": "pA", "i_syn_i": "pA", "g_e": "nS", "g_i": "nS", "w": "pA",
    "u": "mV/ms", "theta": "mV",
}


def _neo():
    try:
        import neo
        import quantities as pq
    except ImportError as exc:
        raise ImportError("Neo output needs the neo and quantities packages: "
                          "pip install 'neurosim[neo]'") from exc
    return neo, pq


def _annotations(monitor) -> dict:
    pop = monitor.population
    net = pop.network
    return {"population": pop.name, "model": type(pop.model).__name__,
            "device": net.device, "backend": net.backend or "not built", "seed": int(net.seed),
            "dt_ms": float(net.dt), "simulator": "neurosim"}


def _units(pq, name: str):
    unit = STATE_UNITS.get(name)
    if unit is None:
        return pq.dimensionless
    num, _, den = unit.partition("/")
    u = getattr(pq, num)
    return u / getattr(pq, den) if den else u


def spike_trains(monitor) -> list:
    """One ``neo.SpikeTrain`` (ms) per recorded neuron of a :class:`SpikeMonitor`."""
    neo, pq = _neo()
    net = monitor.population.network
    t_stop = max(net.t, monitor.t_start)
    ids = (np.arange(monitor.population.size) if monitor.neurons is None
           else np.asarray(monitor.neurons))
    trains = monitor.spike_trains()
    common = _annotations(monitor)
    out = []
    for i in ids:
        st = neo.SpikeTrain(np.asarray(trains[i], float), units=pq.ms,
                            t_start=monitor.t_start * pq.ms, t_stop=t_stop * pq.ms,
                            name=f"{monitor.population.name}[{int(i)}]")
        st.annotate(neuron_id=int(i), **common)
        out.append(st)
    return out


def state_signal(monitor):
    """A ``neo.AnalogSignal`` (samples x recorded neurons) of a :class:`StateMonitor`."""
    neo, pq = _neo()
    values = monitor.values
    times = monitor.times
    period = monitor.every * monitor.dt
    t_start = float(times[0]) if times.size else monitor.t_start + period
    sig = neo.AnalogSignal(values.astype(np.float64), units=_units(pq, monitor.variable),
                           t_start=t_start * pq.ms, sampling_period=period * pq.ms,
                           name=monitor.variable,
                           array_annotations={"neuron_id": np.asarray(monitor.indices,
                                                                      dtype=np.int64)})
    sig.annotate(variable=monitor.variable, **_annotations(monitor))
    return sig


def rate_signal(monitor):
    """A ``neo.AnalogSignal`` (Hz, one channel) of a :class:`RateMonitor`."""
    neo, pq = _neo()
    rates = monitor.rates
    sig = neo.AnalogSignal(np.asarray(rates, float)[:, None], units=pq.Hz,
                           t_start=monitor.t_start * pq.ms,
                           sampling_period=monitor.bin_size * pq.ms,
                           name=f"{monitor.population.name} rate")
    sig.annotate(bin_size_ms=float(monitor.bin_size), **_annotations(monitor))
    return sig


def network_block(network, name: str | None = None):
    """A ``neo.Block`` with one ``Segment``: every monitor of ``network``."""
    neo, pq = _neo()
    from .monitors import RateMonitor, SpikeMonitor, StateMonitor
    block = neo.Block(name=name or "neurosim network", device=network.device,
                      backend=network.backend or "not built", seed=int(network.seed),
                      dt_ms=float(network.dt), simulator="neurosim")
    seg = neo.Segment(name="run", t_ms=float(network.t))
    block.segments.append(seg)
    for mon in network.monitors:
        if isinstance(mon, SpikeMonitor):
            for st in spike_trains(mon):
                st.segment = seg
                seg.spiketrains.append(st)
        elif isinstance(mon, (StateMonitor, RateMonitor)):
            sig = state_signal(mon) if isinstance(mon, StateMonitor) else rate_signal(mon)
            sig.segment = seg
            seg.analogsignals.append(sig)
    return block
