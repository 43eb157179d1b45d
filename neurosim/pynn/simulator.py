"""The state of the PyNN backend: the description PyNN builds, and the ``ns.Network`` run from it.

PyNN lets a script change anything between two ``run()`` calls, while a neurosim network's
structure is fixed once it is built. This module reconciles the two:

- the PyNN objects (populations, projections, current sources, recorders) are the description;
- the first ``run()`` builds an :class:`neurosim.Network` from it (:meth:`State.build`);
- a change that neurosim cannot apply to a built network (a new population or projection,
  a changed parameter, delay or current source) marks the network stale; the next ``run()``
  rebuilds it and carries every state variable over (``v``, ``w``, synaptic currents...),
  continuing at the same time: the new network's ``t = 0`` is PyNN's ``t_offset``. Spikes
  in flight (emitted, not yet delivered) and refractory counters are lost at such a rebuild,
  and plasticity traces restart at zero;
- ``reset()`` drops the network; the next ``run()`` builds it afresh from the description at
  ``t = 0`` (initial values, weights as set by the script, not as learned).
"""

from __future__ import annotations

import logging

import numpy as np

from pyNN import common

log = logging.getLogger(__name__)

name = "neurosim"


class ID(int, common.IDMixin):
    def __init__(self, n):
        int.__init__(n)
        common.IDMixin.__init__(self)


class State(common.control.BaseState):
    def __init__(self):
        super().__init__()
        self.mpi_rank = 0
        self.num_processes = 1
        self.dt = 0.1
        self.min_delay = "auto"
        self.max_delay = "auto"
        self.device = "cpu"
        self.seed = 0
        self.populations = []
        self.projections = []
        self.current_sources = []
        self.segment_counter = -1
        self.clear()

    # -- life cycle ---------------------------------------------------------------------------
    def clear(self):
        self.recorders = set()
        self.populations = []
        self.projections = []
        self.current_sources = []
        self.id_counter = 0
        self.segment_counter = -1
        self.n_builds = 0
        self.reset()

    def reset(self):
        """Back to t = 0: the next run() builds the network afresh from the description."""
        self.net = None
        self.stale = False
        self.running = False
        self.t = 0.0
        self.t_offset = 0.0
        self.t_start = 0
        self.horizon = np.inf
        self.segment_counter += 1
        for rec in self.recorders:
            rec._reset_buffers()
        for prj in self.projections:
            prj._on_reset()

    def mark_stale(self, why: str):
        if self.net is not None and not self.stale:
            log.debug("neurosim.pynn: network will be rebuilt before the next run (%s)", why)
            self.stale = True

    # -- running ------------------------------------------------------------------------------
    def run(self, simtime):
        self.run_until(self.t + simtime)

    def run_until(self, tstop):
        steps = int(round((tstop - self.t) / self.dt))
        if steps < 0:
            raise ValueError(f"run_until(): tstop = {tstop} ms is before the current time "
                             f"{self.t} ms")
        if self.net is None or self.stale or tstop > self.horizon + 1e-9:
            self.build(tstop)
        self.running = True
        if steps:
            self.net.run(steps * self.dt)
        self.t = self.t_offset + self.net.t
        for rec in self.recorders:
            rec._collect()

    def build(self, tstop):
        """Build (or rebuild, carrying state over) the ns.Network for a run up to ``tstop``."""
        import neurosim as ns
        carried = {}
        old = self.net
        if old is not None:
            for rec in self.recorders:
                rec._collect()
            for pop in self.populations:
                if pop._ns is not None:
                    carried[pop] = {v: old.get_state(pop._ns, v) for v in pop._ns.state_names}
            for prj in self.projections:
                prj._pull_weights()
        self.t_offset = self.t
        self.n_builds += 1
        seed = int(np.random.SeedSequence([self.seed, self.n_builds]).generate_state(1)[0])
        net = ns.Network(dt=self.dt, device=self.device, seed=seed, connectivity="host")
        self.horizon = np.inf
        for pop in self.populations:
            pop._build(net, self.t_offset, tstop)
        for prj in self.projections:
            prj._build(net)
        for src in self.current_sources:
            src._build(net, self.t_offset)
        net.build()
        for pop, states in carried.items():
            for var, values in states.items():
                net.set_state(pop._ns, var, values)
        self.net = net
        self.stale = False
        for rec in self.recorders:
            rec._monitors = {}
            rec._attach()


state = State()
