"""The CUDA engine on one MPI rank (``device="cuda"``, or ``"cuda:host"``: the same engine on
the kernels compiled for the CPU, how the tests run it without a GPU).

Rank ``r`` runs its share of the network (:mod:`.partition`) on GPU ``local_rank % n_gpus``,
``local_rank`` being the rank among the processes of its node (``OMPI_COMM_WORLD_LOCAL_RANK``,
or a ``split_type=COMM_TYPE_SHARED`` communicator). An exchange interval ``[a, b)`` (``b - a <=
d_min``) is:

1. the rank's :class:`~neurosim.engine.cuda_engine.CudaEngine` runs steps ``a .. b - 1``
   (:meth:`~neurosim.engine.cuda_engine.CudaEngine.advance`): the fused neuron kernels, the
   Poisson drives and sources drawn at the *global* Philox positions (the whole network's stream
   width, each drive and source block at its global offset), injected currents; its
   propagation has no synapses (it only ends each step), and every spike is recorded;
2. the interval's spikes are copied to the host once
   (:meth:`~neurosim.engine.cuda_engine.CudaEngine.take_spikes`), mapped to global ids and
   exchanged (:class:`~neurosim.distributed.exchange.Exchanger`) as the NumPy ranks do;
3. every rank's spikes are delivered step by step through the synapses onto the rank's
   neurons — CSR rows over all global ids, on the device — into the engine's delay ring by the
   same propagation kernel (:class:`~neurosim.engine.cuda_inject.SpikeInjector`), and the
   spike and rate monitors record them on the host.

A spike of step ``n`` lands in ring slot ``(n + d) % D`` with ``d >= d_min >= b - a``, so no
step of its interval reads it: the deferred delivery is exact, and the spikes are those of the
distributed scheme on any number of ranks (the float sums into a ring cell come in the same
order: steps in order, spikes by global id, each spike's rows class by class). State monitors
sample the rank's own neurons on the device and are gathered at each chunk's end, as on NumPy
ranks. Plastic projections with a described rule (``STDP``, ``TripletSTDP``, ``RewardSTDP``)
run on the device, their step cut as on the NumPy ranks (:class:`RankPlasticCuda`), and so do
the per-neuron homeostasis rules (``AdaptiveThreshold``, ``IntrinsicPlasticity``, for the
rank's block); ``SynapticScaling`` is refused on this engine (the NumPy ranks run it): a clear
error before any work.
"""

from __future__ import annotations

import os
from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from ..engine.layout import Layout
from ..inputs import Current
from ..models.sources import PoissonSource
from ..monitors import StateMonitor
from .engine import DistributedNumpyEngine, _non_finite, _Recorder
from .exchange import Exchanger, exchange_mode

_EMPTY = np.zeros(0, np.int64)
LOCAL_RANK_VARS = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMIX_LOCAL_RANK",
                   "SLURM_LOCALID")


def local_rank(comm) -> int:
    """This process's rank among the processes of its node (collective when no launcher
    variable says it: every rank must call it)."""
    for var in LOCAL_RANK_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    if comm.Get_size() == 1 or not hasattr(comm, "Split_type"):
        return 0
    from mpi4py import MPI
    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    try:
        return node.Get_rank()
    finally:
        node.Free()


def select_gpu(local: int) -> int:
    """Make GPU ``local % n_gpus`` CuPy's current device (``local``: the rank on its node);
    returns its id."""
    import cupy
    n_gpus = cupy.cuda.runtime.getDeviceCount()
    if n_gpus < 1:
        raise RuntimeError(f"device='cuda' on the MPI rank of local rank {local}: no GPU is "
                           f"visible to this process")
    gpu = local % n_gpus
    cupy.cuda.Device(gpu).use()
    return gpu


class _BlockCurrent(Current):
    """The neurons ``[a, b)`` of a population's injected current."""

    def __init__(self, current, a: int, b: int):
        self.current, self.a, self.b = current, a, b

    def segments(self, dt):
        return [(s, e, amp if np.ndim(amp) == 0 else np.asarray(amp)[self.a:self.b])
                for s, e, amp in self.current.segments(dt)]


def device_layout(L) -> Layout:
    """The layout the rank's CUDA engine steps: ``L``'s neurons, inputs and ring without its
    synapses (delivered by the injector); Poisson drives and sources at their global Philox
    positions (stream width: the whole network's), a Poisson-source group of several
    populations cut into one group per population (their blocks are not adjacent in the global
    stream); currents cut to the rank's blocks."""
    to_global = {loc: glob for loc, glob, length in L.rng_segments}
    drives = [replace(d, rng_offset=to_global.get(d.rng_offset, 0) if d.n else 0)
              for d in L.drives]
    groups, pop_group = list(L.groups), dict(L.pop_group)
    for g in L.groups:
        if g.model_cls is not PoissonSource:
            continue
        parts = []
        for p in g.pops:
            a, b = L.blocks[p.index]
            off = g.offsets[p.index]
            sel = slice(off, off + b - a)
            pr = g.consts["p"]
            sub = replace(g, pops=[p], start=g.start + off, size=b - a, offsets={p.index: 0},
                          params={k: (v if np.ndim(v) == 0 else np.asarray(v)[sel])
                                  for k, v in g.params.items()},
                          consts={"p": pr if np.ndim(pr) == 0 else np.asarray(pr)[sel]},
                          state={k: v[sel] for k, v in g.state.items()},
                          rng_offset=to_global.get(g.rng_offset + off, 0) if b > a else 0)
            parts.append(sub)
        # the first part keeps the group's index (current events and the engine's group list
        # are indexed by it), the others are appended
        for k, sub in enumerate(parts):
            sub.index = g.index if k == 0 else len(groups)
            if k == 0:
                groups[g.index] = sub
            else:
                groups.append(sub)
            pop_group[sub.pops[0].index] = (sub, 0)
    currents = [(pop, _BlockCurrent(cur, *L.blocks[pop.index])) for pop, cur in L.currents]
    return Layout(L.dt, L.seed, groups, L.n_total, pop_group, L.ring_width, L.max_delay, [], {},
                  drives, L.rng_width_global, L.current_events, currents, L.philox_key, [],
                  L.dtype)


class DistributedCudaEngine(DistributedNumpyEngine):
    """One rank's CUDA engine (``host=True``: cuda:host) over a
    :class:`~neurosim.distributed.partition.LocalLayout`; the run loop, exchange, monitors and
    projection access are the NumPy rank's (:class:`~neurosim.distributed.engine.
    DistributedNumpyEngine`), the stepping and delivery are the device's."""

    def __init__(self, net, layout, comm, host: bool):
        from ..engine.cuda_device import Device
        from ..engine.cuda_engine import CudaEngine
        from ..engine.device_memory import check_memory, device_bytes, record_budget
        self.net, self.L, self.comm = net, layout, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.name = "cuda:host" if host else "cuda"
        check_rank_plasticity(net, self.name)
        self.gpu = None
        if not host:        # the build chose the rank's GPU (build.rank_backend)
            import cupy
            self.gpu = cupy.cuda.Device().id
        dl = device_layout(layout)
        # the device holds the rank's synapses too (rows over every global id)
        parts = device_bytes(replace(dl, classes=layout.classes), record_budget(net), net)
        parts["synapses"] += 8 * len(layout.classes) * (layout.n_global - layout.n_total)
        parts["spike lists"] += 16 * layout.n_global
        check_memory(parts, host)
        # the plastic runtimes draw the synapses onto the rank's neurons (plastic_synapses)
        self.cuda = CudaEngine(net, dl, host=host, dev=Device(host, False), monitors=False,
                               draw=self.plastic_synapses, share=self._device_share)
        self.cuda.send_spikes()
        self.injector = self.cuda.injector(layout.classes)
        self.local_to_global = (np.concatenate(layout.gids) if layout.gids
                                else np.zeros(0, np.int64))
        self.rank_plastic = RankPlasticCuda(self, [rt for rt in self.cuda.plastic
                                                   if rt.proj is not None])
        self.plastic = list(self.cuda.plastic)
        for rt in self.plastic:
            if rt.proj is None:
                rt.scaling_steps = None     # threshold rules: in the device's step
        self._plan_cache, self._plan_key = {}, None
        self.ring = None
        self.exchanger = Exchanger(comm, layout.n_global, exchange_mode())
        self.recorder = _CudaRecorder(self)
        for mon in net.monitors:
            self.recorder.add(mon, mon.start_step)
        self._chunk = 10 * layout.d_min
        self.broken = None
        self.compute_seconds = 0.0

    def _interval(self, a: int, b: int):
        """Steps ``[a, b)`` on the device: per step the sorted global ids of the rank's spikes,
        and the exception that stopped it (None if all went well): a SimulationError for a
        non-finite state, or whatever the device raised (out of memory...), which the next
        exchange carries to every rank."""
        try:
            if self.plastic and b - a > 1:
                # the plastic sends of steps a .. b - 2 in the step, the last one's after the
                # exchange (it needs the spikes of step a when d_min = b - a)
                self._use_plan(True)
                bad = self.cuda.advance(a, b - 1)
                if bad is None:
                    self._use_plan(False)
                    bad = self.cuda.advance(b - 1, b)
            else:
                self._use_plan(False)
                bad = self.cuda.advance(a, b)
            steps, ids = self.cuda.take_spikes()
            reached = b if bad is None else bad[0] + 1
            gids = self.local_to_global[ids]
            cut = np.searchsorted(steps, np.arange(a + 1, b))
            per_step = [np.sort(s) for s in np.split(gids, cut)]
            self.recorder.sampled(a, reached)
            if bad is None:
                return per_step, None
            return per_step, self._non_finite(bad[0])
        except Exception as exc:            # noqa: BLE001 -- reported at the exchange
            return [_EMPTY] * (b - a), exc

    def _non_finite(self, step: int):
        """The error of the first non-finite value after ``step``, naming the neuron by its
        index in its population (as the NumPy ranks do)."""
        for g in self.L.groups:
            if g.is_source:
                continue
            state = {var: np.concatenate([self.cuda.get_state(p, var, int(np.diff(
                self.L.blocks[p.index])[0])) for p in g.pops]) for var in g.state}
            if any(not np.all(np.isfinite(v)) for v in state.values()):
                return _non_finite(self.L, SimpleNamespace(g=g, s=state), step)
        return RuntimeError(f"internal error: the device flagged a non-finite state in step "
                            f"{step}, but every state value read back is finite")

    def _deliver(self, a: int, spikes: list) -> None:
        """Every rank's spikes of steps ``a, a + 1, ...`` into the device's ring, and to the
        spike and rate monitors."""
        self.injector.deliver(a, spikes)
        for k, S in enumerate(spikes):
            self.recorder.record_spikes(a + k, S)
        if self.plastic:
            self.rank_plastic.after_exchange(a, spikes)

    def _use_plan(self, send: bool) -> None:
        """The device step with (``send``) or without the plastic projections' sends: two
        plans, each kept with its host launchers and CUDA graph while the engine does not
        rebuild them (a grown recording buffer makes both stale)."""
        if not self.plastic:
            return
        c, key = self.cuda, self._plan_key
        if key is not None and self._plan_cache.get(key, (None,))[0] is not c._plans:
            self._plan_cache.clear()        # rebuilt since: the other plan is stale too
        if send == key:
            return
        if key is not None and c._plans is not None:
            self._plan_cache[key] = (c._plans, c.__dict__.get("_fast"),
                                     c.__dict__.get("_checked"), c._graph)
        for rt in self.plastic:
            rt.send_in_step = send
        self._plan_key = send
        cached = self._plan_cache.get(send)
        if cached is None:
            c._plans = c._graph = None
            with c.dev.context():
                c.plan()
            self._plan_cache[send] = (c._plans, None, None, None)
        else:
            c._plans, c._fast, c._checked, c._graph = cached

    def _device_share(self, pop):
        """(first device id, number of neurons, (a, b)) of this rank's block ``[a, b)`` of
        ``pop``: the neurons a homeostasis runtime of the rank's engine runs for."""
        g, off = self.L.pop_group[pop.index]
        a, b = self.L.blocks[pop.index]
        return g.start + off, b - a, (a, b)

    def seek(self, n: int) -> None:
        self.cuda.seek(n)

    def get_state(self, pop, var):
        a, b = self.L.blocks[pop.index]
        return self._gather(self.cuda.get_state(pop, var, b - a))

    def set_state(self, pop, var, values):
        a, b = self.L.blocks[pop.index]
        self.cuda.set_state(pop, var, np.asarray(values)[a:b])

    def add_monitor(self, mon) -> None:
        self.recorder.add(mon, self.net._steps_done)


class _LocalStates(StateMonitor):
    """The columns of a state monitor that one rank holds, as its CUDA engine records them
    (block-relative neuron indices); the samples go to the rank's recorder entry."""

    def __init__(self, entry: list, pop, n_local: int, cols: np.ndarray):
        mon = entry[0]
        self.population = SimpleNamespace(index=pop.index, size=n_local, network=pop.network)
        self.neurons = cols
        self.variable, self.every = mon.variable, mon.every
        self.entry = entry

    def _append(self, steps, values) -> None:
        self.entry[5].extend(np.asarray(steps).tolist())
        self.entry[6].extend(np.asarray(values))


class _CudaRecorder(_Recorder):
    """A rank's monitors on the CUDA engine: spikes and rates from the exchanged spikes (the
    NumPy rank's), state samples of the rank's neurons taken on the device."""

    def add(self, mon, n_now: int):
        if not isinstance(mon, StateMonitor):
            return super().add(mon, n_now)
        eng = self.engine
        pop = mon.population
        a, b = eng.L.blocks[pop.index]
        wanted = np.arange(pop.size) if mon.neurons is None else np.asarray(mon.neurons)
        mine = np.flatnonzero((wanted >= a) & (wanted < b))       # monitor columns here
        cols = (wanted[mine] - a).astype(np.int64)
        entry = [mon, None, mon.variable, cols, int(n_now), [], [], mine]
        self.states.append(entry)
        if cols.size:
            eng.cuda.add_monitor(_LocalStates(entry, pop, b - a, cols), int(n_now))

    def record_states(self, n: int) -> None:
        """Sampled on the device (:meth:`sampled`)."""

    def sampled(self, a: int, b: int) -> None:
        """After the device ran steps ``[a, b)``: the sample steps of monitors whose neurons
        all live on other ranks (an empty row each, for the gather)."""
        for e in self.states:
            if e[3].size == 0:
                steps = np.arange(a, b, dtype=np.int64)
                steps = steps[(steps - e[4] + 1) % e[0].every == 0]
                e[5].extend(steps.tolist())
                e[6].extend([np.zeros(0, np.float32)] * steps.size)


# -- plasticity on a CUDA rank ---------------------------------------------------------------------

def check_rank_plasticity(net, device: str) -> None:
    """Refuse, before any work, what a CUDA rank cannot run: plasticity rules without a
    description (no CUDA runtime), homeostasis rules that change weights (``SynapticScaling``:
    on one process its steps interleave with the deliveries, which a rank makes after the
    exchange)."""
    for proj in net.projections:
        rule = proj.plasticity
        if rule is None:
            continue
        if getattr(rule, "description", None) is None:
            raise ValueError(f"distributed run on device={device!r}: projection {proj.name!r} "
                             f"is plastic ({type(rule).__name__}), whose runtime does not run "
                             f"on the CUDA engine of an MPI rank yet (the described rules: "
                             f"STDP, TripletSTDP, RewardSTDP do); use device='cpu'")
    for pop, rule in getattr(net, "homeostasis", ()):
        desc = getattr(rule, "description", None)
        if desc is None or desc.synaptic:
            raise ValueError(f"distributed run on device={device!r}: population {pop.name!r} "
                             f"has homeostasis {type(rule).__name__}, which does not run on "
                             f"the CUDA engine of an MPI rank yet (rules that change weights; "
                             f"AdaptiveThreshold and IntrinsicPlasticity do run); use "
                             f"device='cpu'")


class RankPlasticCuda:
    """The plastic projections of one CUDA rank (:class:`~neurosim.plasticity.cuda_runtime.
    RuleCuda` runtimes built by the rank's engine over the synapses onto its neurons), their
    step cut as on the NumPy ranks (:mod:`.plastic`), with the same kernels
    (``kernels/plasticity.cu.j2`` and the rule's generated ones) and other launch arguments:

    - in step ``n`` (the engine's plan): the postsynaptic traces decay (``plastic_advance``
      with no presynaptic neurons), the rule's arrivals and postsynaptic spikes (the rank's
      own, device ids from ``post_lo``: the block's first), the postsynaptic jumps and, except
      in the interval's last step, the arrivals of step ``n + 1`` brought up to date (lazily
      integrated rules) and sent (``plastic_deliver``);
    - after the exchange (:meth:`after_exchange`), for each step ``e`` of the interval: the
      presynaptic trace rings advance (``plastic_advance`` with no postsynaptic neurons) and
      jump at every rank's spikes of step ``e`` (``plastic_pre_spikes`` on the exchanged global
      ids, ``pre_lo``: the presynaptic population's first global id); then the interval's last
      step brings and sends.

    The presynaptic side is the whole presynaptic population (its trace rings and spike lists
    over every global id), the postsynaptic side the rank's block."""

    def __init__(self, engine, runtimes):
        from ..engine.cuda_device import grid_for
        from ..plasticity.cuda_runtime import KERNELS
        self.engine, self.kernels = engine, KERNELS
        self.runtimes = list(runtimes)
        L, dev = engine.L, engine.cuda.dev
        never = np.int64(-(2 ** 40))
        for rt in self.runtimes:
            proj = rt.proj
            a, b = L.blocks[proj.post.index]
            nb = b - a
            rt.pre_lo = int(L.global_starts[proj.pre.index])
            rt.post_block, rt.n_post = a, nb
            rt.col_ptr = rt.col_ptr[:nb + 1].copy()
            v = rt.v
            v["pre_lo"], v["n_post"] = np.int32(rt.pre_lo), np.int32(nb)
            with dev.context():
                v["col_ptr"] = dev.put(rt.col_ptr)
                v["y"] = dev.zeros(max(1, len(rt.post_specs) * nb), rt.real)
                if rt.track_times:
                    v["post_last"] = dev.put(np.full(nb, never, np.int64))
                    v["post_prev"] = dev.put(np.full(nb, never, np.int64))
            rt.send_in_step = False
            rt.launches = self._in_step(rt)
        self.grid_advance = {id(rt): grid_for(max(1, rt.n_pre)) for rt in self.runtimes}
        self._cap = (0, 0)

    def _in_step(self, rt):
        base = type(rt).launches

        def launches(cuda):
            # advance, pre spikes, the rule's (arrive, post, bring the arrivals of step n + 1
            # for a lazily integrated rule), post jump, deliver
            full = base(rt, cuda)
            first = full[0]
            advance = cuda.bind(self.kernels, "plastic_advance",
                                dict(rt.v, n_pre=np.int32(0)), first.grid, first.block)
            rule = full[2:-2]
            if rt.spec.lazy and not rt.send_in_step:
                rule = rule[:-1]        # the last step brings its arrivals after the exchange
            return [advance] + rule + [full[-2]] + ([full[-1]] if rt.send_in_step else [])
        return launches

    def _reserve(self, steps: int, spikes: int) -> None:
        dev = self.engine.cuda.dev
        if steps > self._cap[0]:
            self.clock = dev.zeros(4 * max(steps, 2 * self._cap[0]), np.int64)
            self.nspk = dev.zeros(max(steps, 2 * self._cap[0]), np.uint64)
            self._cap = (max(steps, 2 * self._cap[0]), self._cap[1])
        if spikes > self._cap[1]:
            self.spk = dev.zeros(max(spikes, 2 * self._cap[1]), np.int32)
            self._cap = (self._cap[0], max(spikes, 2 * self._cap[1]))

    def _launch(self, filename: str, name: str, values: dict, grid) -> None:
        from ..engine.cuda_device import kernel_signature
        args = []
        for _, arg in kernel_signature(filename, name):
            if arg not in values:
                raise RuntimeError(f"kernels/{filename}: {name}() takes {arg!r}, which the "
                                   f"CUDA rank's plasticity does not provide")
            args.append(values[arg])
        self.engine.cuda.dev.kernel(filename, name)(grid[0], grid[1], tuple(args))

    def after_exchange(self, a: int, spikes: list) -> None:
        """Every rank's spikes of steps ``a, a + 1, ...`` (``spikes[k]``: sorted global ids) into
        the presynaptic side, then the sends of the interval's last step."""
        from ..engine import cuda_tuning as T
        cuda = self.engine.cuda
        dev = cuda.dev
        m = len(spikes)
        sizes = np.fromiter((s.size for s in spikes), np.int64, m)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        clocks = np.zeros((m, 4), np.int64)
        clocks[:, 0] = a + np.arange(m)
        clocks[:, 1] = np.arange(m)
        self._reserve(m, max(1, int(starts[-1])))
        shared = cuda.shared_values()
        per_spike = dev.per_spike_grid(max(1, int(sizes.max()) if m else 1))
        with dev.context():
            if starts[-1]:
                self.spk[:starts[-1]] = dev.put(np.concatenate(spikes).astype(np.int32))
            self.nspk[:m] = dev.put(sizes.astype(np.uint64) << np.uint64(T.WORK_BITS))
            self.clock[:4 * m] = dev.put(clocks.reshape(-1))
            for rt in self.runtimes:
                for k in range(m):
                    values = dict(rt.v, clk=self.clock[4 * k:4 * k + 4], nspk=self.nspk,
                                  spk=self.spk[int(starts[k]):] if sizes[k] else self.spk,
                                  n_post=np.int32(0))
                    self._launch(self.kernels, "plastic_advance", values,
                                 self.grid_advance[id(rt)])
                    values["n_post"] = rt.v["n_post"]
                    self._launch(self.kernels, "plastic_pre_spikes", values, per_spike)
            for rt in self.runtimes:
                values = dict(shared, **rt.v)
                values["clk"] = self.clock[4 * (m - 1):4 * m]
                per_pre = dev.per_spike_grid(max(1, rt.n_pre), int(rt.v["row_lanes"]))
                if rt.spec.lazy:        # the arrivals brought to the end of the last step
                    self._launch(rt.kernel_file, rt.kernels["bring_arrivals"], values, per_pre)
                self._launch(self.kernels, "plastic_deliver", values, per_pre)
