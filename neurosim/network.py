"""The description layer: ``Network``, ``Population``, ``Projection``.

Plain Python, validated at once, no simulation arrays: the engine for one backend is built from
it on the first :meth:`Network.run` (or :meth:`Network.build`). Units: ms, mV, pA, nS, pF, Hz.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from . import _validate as V
from . import distributions as D
from .connectivity import Rule, expected_size, n_pairs_hint
from .inputs import Current, PoissonInput
from .models.base import Model
from .models.sources import PoissonSource, SpikeSource
from .monitors import RateMonitor, SpikeMonitor, StateMonitor

log = logging.getLogger(__name__)

MIN_DT = 1e-3                   # ms: the smallest time step (NEST's default resolution floor)
PRECISIONS = {"single": np.float32, "double": np.float64}   # Network(precision=...) -> dtype
MAX_RUN_STEPS = 10**8           # steps one run() call takes at most unless told otherwise


class Population:
    """A group of ``size`` neurons of one model. Create with :meth:`Network.add_population`."""

    def __init__(self, network, size, model, name, initial, index):
        self.network = network
        self.size = size
        self.model = model
        self.name = name
        self.initial = initial
        self.index = index

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"Population({self.name!r}, size={self.size}, model={type(self.model).__name__})"

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.model.state_names(self.model.options())


class Projection:
    """Synapses from one population to another. Create with :meth:`Network.connect`.

    After the network is built, ``sources``/``targets`` (population-local indices), ``weights``
    and ``delays`` (ms) are arrays in the projection's synapse order (sorted by source);
    ``weights`` can be assigned (same length) to change them.
    """

    def __init__(self, network, pre, post, rule, weight, delay, receptor, name, plasticity=None):
        self.network = network
        self.pre, self.post = pre, post
        self.rule, self.weight, self.delay = rule, weight, delay
        self.receptor, self.name = receptor, name
        self.plasticity = plasticity

    def __repr__(self):
        return f"Projection({self.name!r}, {self.pre.name} -> {self.post.name}, {self.rule!r})"

    def _engine(self):
        return self.network._ensure_built()

    @property
    def n_synapses(self) -> int:
        return self._engine().projection_size(self)

    @property
    def sources(self) -> np.ndarray:
        return self._engine().projection_array(self, "sources")

    @property
    def targets(self) -> np.ndarray:
        return self._engine().projection_array(self, "targets")

    @property
    def delays(self) -> np.ndarray:
        return self._engine().projection_array(self, "delays")

    @property
    def weights(self) -> np.ndarray:
        return self._engine().projection_array(self, "weights")

    @weights.setter
    def weights(self, values) -> None:
        values = V.per_neuron("Projection.weights", "weights", values, self.n_synapses)
        _check_sign(f"Projection.weights of {self.name!r}", self.post.model, self.receptor,
                    (float(values.min()), float(values.max())) if values.size else (0.0, 0.0))
        self._engine().set_weights(self, values.astype(self.network.dtype))


class Network:
    """A spiking network: populations, projections, inputs and monitors.

    ``dt``: time step (ms); ``device``: ``"auto"`` (CUDA from 10,000 neurons up when the CUDA
    probe of :mod:`neurosim.backends.probe` succeeds, NumPy otherwise, the reason logged),
    ``"cpu"`` (NumPy), ``"cuda"`` (a ``DeviceUnavailableError`` naming what is missing and how
    to install it when the probe fails), ``"cpu:native"`` (the same kernels compiled for this
    CPU with g++ -O3 and OpenMP, the step loop in C: :mod:`neurosim.backends.native`) or
    ``"cuda:host"`` (the CUDA backend's kernels compiled for the CPU: for testing, slow);
    ``threads``: OpenMP threads of ``"cpu:native"`` (default: every core, but at most one per
    2,000 neurons, since a small network's step costs less than the threads' barriers; an upper
    bound: the step loop runs on at most one per 10,000 units of work a step,
    :func:`neurosim.backends.native.step_threads`); ``seed``: integer seed
    for connectivity, initial states and all random input (None draws one from the OS);
    ``connectivity``: where static projections are drawn — ``"host"`` (NumPy; the same network
    on every backend for a seed), ``"device"`` (by the CUDA kernels on the GPU: fast, no host
    memory; a different draw from the same distributions) or ``"auto"`` (the device on a real
    GPU for the projections it supports, else the host); see
    :mod:`neurosim.engine.device_connect`; ``precision``: the floating type of the simulation,
    ``"single"`` (float32, the default) or ``"double"`` (float64): state, model constants
    (derived in float64 on the host, then kept as they are instead of rounded to float32),
    weights, delivered input, plasticity traces and weights, and the values that
    :meth:`get_state` and the state monitors return, on every backend (the CUDA kernels are
    compiled in a double variant). Double costs twice the memory of those arrays and, on most
    GPUs, much more time; it is for checks of accuracy, e.g. against a float64 reference.

    ``comm`` / ``distributed``: MPI (:mod:`neurosim.distributed`, ``docs/distributed.md``).
    Under ``mpirun -n R`` (R > 1) the network is spread over ``MPI.COMM_WORLD`` by default; an
    explicit mpi4py ``comm`` spreads it over that communicator; ``distributed=True`` uses the
    distributed scheme even on one process (the same spikes as on any number of ranks),
    ``distributed=False`` never does. Distributed runs use the NumPy engine on each rank
    (``device="cpu"`` or ``"auto"``), or the CUDA engine (``device="cuda"``: rank r on GPU
    ``local_rank % n_gpus``; ``"cuda:host"``).

    Every argument of every method is validated at the call (see ``neurosim._validate``):
    numbers must be real numbers (not strings, booleans or complex), flags ``True``/``False``,
    and values stored in the float32 state, weights or inputs (weights, initial and set
    states, currents, model parameters) must lie within float32's range (about +-3.4e38)
    instead of silently becoming ``inf``. A population holds at most ``2**31 - 1`` neurons
    and a projection at most ``2**31 - 1`` synapses (int32 indices), checked before anything
    is allocated. :meth:`add_population` warns (``UserWarning``) when ``dt`` represents a
    model's ``tau_refrac`` with an error above 10% (``dt = 50`` ms, ``tau_refrac = 2`` ms:
    no refractory step at all).
    """

    def __init__(self, dt: float = 0.1, device: str = "auto", seed: int | None = None,
                 connectivity: str = "auto", precision: str = "single", threads: int | None = None,
                 comm=None, distributed: bool | None = None):
        self.dt = V.positive("Network", "dt", dt)
        if self.dt < MIN_DT:
            raise ValueError(f"Network: dt must be >= {MIN_DT} ms (1 us, NEST's finest default "
                             f"resolution), got {self.dt} ms; dt is in milliseconds (0.1 is the "
                             f"usual step)")
        from .backends import DEVICES
        from .engine.device_connect import MODES
        self.device = V.choice("Network", "device", device, DEVICES)
        self.connectivity = V.choice("Network", "connectivity", connectivity, MODES)
        self.precision = V.choice("Network", "precision", precision, tuple(PRECISIONS))
        if self.connectivity == "device" and self.device == "cpu":
            raise ValueError("Network: connectivity='device' draws connections with the CUDA "
                             "kernels, but device='cpu' runs NumPy; use device='cuda' (or "
                             "'cuda:host'), or connectivity='host'")
        if threads is not None:
            threads = V.integer("Network", "threads", threads, minimum=1)
            if self.device not in ("cpu:native", "auto"):
                raise ValueError(f"Network: threads={threads} applies to device='cpu:native' "
                                 f"(the compiled CPU backend), not to device={self.device!r}; "
                                 f"leave threads out")
        self.threads = threads
        from .distributed import check_network_options, resolve
        self.comm = resolve(comm, distributed)
        if self.comm is not None:
            check_network_options(self.comm, self.device, self.connectivity)
            if self.precision != "single":
                raise ValueError(f"Network: precision={self.precision!r} is not supported yet "
                                 f"on a network distributed over MPI ranks (their engine is "
                                 f"float32); use precision='single' or distributed=False")
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
            if self.comm is not None:           # every rank must draw the same network
                seed = self.comm.bcast(seed, root=0)
        self.seed = V.integer("Network", "seed", seed, minimum=0)
        self.populations: list[Population] = []
        self.projections: list[Projection] = []
        self.poisson_inputs: list[PoissonInput] = []
        self.currents: list[tuple[Population, Current]] = []
        self.monitors: list = []
        self.homeostasis: list = []               # (population, HomeostasisRule)
        self._engine = None
        self._steps_done = 0

    # -- properties ---------------------------------------------------------------------------
    @property
    def t(self) -> float:
        """Simulated time so far (ms)."""
        return self._steps_done * self.dt

    @property
    def dtype(self) -> np.dtype:
        """The floating type of state, weights and input: float32 (``precision="single"``) or
        float64 (``"double"``)."""
        return np.dtype(PRECISIONS[self.precision])

    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    @property
    def rank(self) -> int:
        """This process's MPI rank (0 when the network is not distributed)."""
        return 0 if self.comm is None else self.comm.Get_rank()

    @property
    def n_ranks(self) -> int:
        """How many MPI ranks share the network (1 when it is not distributed)."""
        return 1 if self.comm is None else self.comm.Get_size()

    @property
    def timings(self) -> dict | None:
        """A distributed network's wall seconds so far on this rank, computing and
        communicating apart (:attr:`neurosim.distributed.engine.DistributedNumpyEngine.
        timings`); None otherwise."""
        return getattr(self._engine, "timings", None)

    @property
    def backend(self) -> str | None:
        """Name of the backend the network runs on ("numpy", "cuda"), None before building."""
        return None if self._engine is None else self._engine.name

    # -- building the description -------------------------------------------------------------
    def add_population(self, n: int, model: Model, name: str | None = None,
                       initial: dict | None = None) -> Population:
        """Add ``n`` neurons of ``model``; ``initial`` maps state names to a value, an array of
        ``n`` values or a distribution (e.g. ``{"v": ns.Normal(-65.0, 5.0)}``)."""
        where = "add_population()"
        self._check_open(where)
        n = V.count(where, "n", n)
        V.check_count(where, f"n = {n} with the {self.n_neurons} neurons already added",
                      self.n_neurons + n, what="neurons")
        V.instance(where, "model", model, Model, "a neuron model such as ns.LIF(...)")
        model.check_size(n, where)
        check_times = getattr(model, "check_times", None)      # SpikeSource: needs dt
        if check_times is not None:
            check_times(self.dt, where)
        name = f"pop{len(self.populations)}" if name is None else V.text(where, "name", name)
        if any(p.name == name for p in self.populations):
            raise ValueError(f"{where}: a population named {name!r} exists already")
        initial = V.mapping(where, "initial", initial, "{'v': -65.0}")
        states = model.state_names(model.options())
        for var, value in initial.items():
            if var not in states:
                raise ValueError(f"{where}: initial state {var!r} is not a state of "
                                 f"{type(model).__name__}; expected one of {list(states)}")
            D.check_spec(where, f"initial[{var!r}]", value, n, float32=True)
        if model.has_refractory and model.refractory_param in model.parameters():
            V.warn_coarse_refractory(f"{where}: {type(model).__name__}",
                                     model.parameters()[model.refractory_param], self.dt)
        pop = Population(self, n, model, name, initial, len(self.populations))
        self.populations.append(pop)
        return pop

    def connect(self, pre: Population, post: Population, rule: Rule, weight, delay=None,
                receptor: str = "excitatory", name: str | None = None,
                plasticity=None) -> Projection:
        """Connect ``pre`` to ``post`` with a connection ``rule``.

        ``weight``: pA (current synapses), nS (conductances) or mV (delta synapses) — a scalar,
        an array (rules with a defined order: ``AllToAll``, ``OneToOne``, ``Explicit``) or a
        distribution. Excitatory weights must be >= 0; inhibitory ones <= 0 for current and
        delta synapses and >= 0 for conductances. ``delay`` (ms, default ``dt``): scalar,
        array or distribution, rounded to the nearest multiple of ``dt``, at least ``dt``.
        ``plasticity``: a plasticity rule (see :mod:`neurosim.plasticity`) or None.
        """
        where = "connect()"
        self._check_open(where)
        for arg, pop in (("pre", pre), ("post", post)):
            self._check_own(where, arg, pop)
        if post.model.is_source:
            raise ValueError(f"{where}: post population {post.name!r} is a "
                             f"{type(post.model).__name__}, which cannot receive synapses")
        V.instance(where, "rule", rule, Rule, "a connection rule such as ns.FixedProbability(0.1)")
        _, receptors, _ = post.model.layout(post.model.options())
        V.choice(where, "receptor", receptor, receptors)
        same = pre is post
        rule.check(pre.size, post.size, same)
        V.check_count(where, f"{rule!r} from {pre.size} to {post.size} neurons",
                      expected_size(rule, pre.size, post.size, same), what="synapses")
        n_known = n_pairs_hint(rule, pre.size, post.size)
        for arg, value in (("weight", weight), ("delay", delay)):
            if value is None and arg == "delay":
                continue
            if D.spec_kind(where, arg, value) != "array":
                D.check_spec(where, arg, value, float32=arg == "weight")
            else:
                if not rule.ordered:
                    raise ValueError(f"{where}: {arg} as an array needs a rule with a defined "
                                     f"synapse order (AllToAll, OneToOne, Explicit), got {rule!r}")
                D.check_spec(where, arg, value, n_known, float32=arg == "weight")
        _check_sign(where, post.model, receptor, D.value_range(weight))
        delay = self.dt if delay is None else delay
        lo, _ = D.value_range(delay)
        if lo < self.dt * (1 - 1e-6):
            raise ValueError(f"{where}: delay must be >= dt = {self.dt} ms, got {lo} ms")
        _check_delay_reach(where, delay, self.dt)
        if plasticity is not None:
            from .plasticity import PlasticityRule
            V.instance(where, "plasticity", plasticity, PlasticityRule,
                       "a plasticity rule such as ns.STDP(...)")
            plasticity.check(pre, post, receptor, weight)
        name = (f"{pre.name}->{post.name}#{len(self.projections)}" if name is None
                else V.text(where, "name", name))
        proj = Projection(self, pre, post, rule, weight, delay, receptor, name, plasticity)
        if self.connectivity == "device" and plasticity is None:
            from .engine.device_connect import unsupported
            why = unsupported(proj)
            if why is not None:
                raise ValueError(f"{where}: projection {name!r} cannot be generated on the "
                                 f"device (Network(connectivity='device')): {why}; use "
                                 f"connectivity='auto' or 'host'")
        proj.index = len(self.projections)
        self.projections.append(proj)
        return proj

    def add_poisson_input(self, target: Population, rate: float, weight: float,
                          n_sources: int = 1, receptor: str = "excitatory") -> PoissonInput:
        """Drive every neuron of ``target`` with ``n_sources`` independent Poisson trains at
        ``rate`` Hz, each spike adding ``weight`` (see :class:`neurosim.inputs.PoissonInput`)."""
        where = "add_poisson_input()"
        self._check_open(where)
        self._check_own(where, "target", target)
        if target.model.is_source:
            raise ValueError(f"{where}: target {target.name!r} is a spike source")
        rate = V.non_negative(where, "rate", rate)
        weight = V.real(where, "weight", weight, float32=True)
        n_sources = V.integer(where, "n_sources", n_sources, minimum=1)
        _, receptors, _ = target.model.layout(target.model.options())
        V.choice(where, "receptor", receptor, receptors)
        _check_sign(where, target.model, receptor, (weight, weight))
        lam = n_sources * rate * self.dt * 1e-3
        from .rng import MAX_POISSON_LAMBDA
        if lam > MAX_POISSON_LAMBDA:
            raise ValueError(f"{where}: n_sources * rate * dt = {lam:g} spikes per step is too "
                             f"large (at most {MAX_POISSON_LAMBDA:g}); use a current instead")
        inp = PoissonInput(target, rate, weight, n_sources, receptor)
        self.poisson_inputs.append(inp)
        return inp

    def inject(self, target: Population, current: Current) -> None:
        """Inject a current (``ns.DCCurrent``, ``ns.StepCurrent``; pA) into ``target``."""
        where = "inject()"
        self._check_open(where)
        self._check_own(where, "target", target)
        if target.model.is_source:
            raise ValueError(f"{where}: target {target.name!r} is a spike source")
        V.instance(where, "current", current, Current, "ns.DCCurrent or ns.StepCurrent")
        current.check_size(target.size, where)
        peak = sum(_peak_amplitude(c) for p, c in self.currents if p is target)
        V.fits_float32(where, f"the sum of the currents into {target.name!r} (pA)",
                       peak + _peak_amplitude(current))
        self.currents.append((target, current))

    def add_homeostasis(self, population: Population, rule):
        """Attach a homeostatic rule (``ns.AdaptiveThreshold``, ``ns.IntrinsicPlasticity``,
        ``ns.SynapticScaling``; see :mod:`neurosim.plasticity.homeostasis`) to ``population``."""
        where = "add_homeostasis()"
        self._check_open(where)
        self._check_own(where, "population", population)
        from .plasticity import HomeostasisRule
        V.instance(where, "rule", rule, HomeostasisRule,
                   "a homeostatic rule such as ns.AdaptiveThreshold(...)")
        rule.check(population)
        self.homeostasis.append((population, rule))
        return rule

    def set_learning(self, enabled: bool) -> None:
        """Switch all plasticity (projection rules and homeostasis) on or off (``rule.enabled``)."""
        enabled = V.boolean("set_learning()", "enabled", enabled)
        for proj in self.projections:
            if proj.plasticity is not None:
                proj.plasticity.enabled = enabled
        for _, rule in self.homeostasis:
            rule.enabled = enabled

    # -- monitors ------------------------------------------------------------------------------
    def record_spikes(self, population: Population, indices=None) -> SpikeMonitor:
        """Record the spikes of ``population`` (or of ``indices`` within it)."""
        self._check_own("record_spikes()", "population", population)
        return self._add_monitor(SpikeMonitor(population, indices))

    def record_state(self, population: Population, variable: str, indices=None,
                     every: int = 1) -> StateMonitor:
        """Record state ``variable`` of ``population`` (or ``indices``) every ``every`` steps."""
        where = "record_state()"
        self._check_own(where, "population", population)
        V.choice(where, "variable", variable, population.state_names)
        V.integer(where, "every", every, minimum=1)
        return self._add_monitor(StateMonitor(population, variable, indices, every))

    def record_rate(self, population: Population, bin_size: float | None = None) -> RateMonitor:
        """Record the population rate (Hz) in bins of ``bin_size`` ms (default: dt)."""
        where = "record_rate()"
        self._check_own(where, "population", population)
        bin_size = self.dt if bin_size is None else V.positive(where, "bin_size", bin_size)
        k = bin_size / self.dt
        if abs(k - round(k)) > 1e-6 or round(k) < 1:
            raise ValueError(f"{where}: bin_size must be a multiple of dt = {self.dt} ms, "
                             f"got {bin_size}")
        return self._add_monitor(RateMonitor(population, bin_size))

    def _add_monitor(self, mon):
        self.monitors.append(mon)
        if self._engine is not None:
            self._engine.add_monitor(mon)
        return mon

    # -- running -------------------------------------------------------------------------------
    def build(self):
        """Build the engine now (connectivity, state, buffers) instead of at the first run."""
        return self._ensure_built()

    def run(self, duration: float, progress=False, max_steps: int | None = MAX_RUN_STEPS,
            every: float | None = None, callback=None) -> None:
        """Advance the simulation by ``duration`` ms (a multiple of dt); repeated calls continue.

        ``progress``: True for a progress bar (simulated time and speed), or a callable
        ``progress(t_ms, t_end_ms)`` called a few times per second of wall time.

        Ctrl-C stops the run at the end of the chunk of steps in progress (a fraction of a
        second) and raises ``KeyboardInterrupt``; any exception leaves time, state, delay ring,
        plasticity and monitors at one step boundary (a failed chunk is rolled back), so
        ``run()`` again continues exactly as an uninterrupted run would
        (:mod:`neurosim.engine.interrupts`).

        ``max_steps``: the most steps one call may take (default 10^8, e.g. 2.8 hours of
        simulated time at dt = 0.1 ms): a longer run is refused before it starts, since it is
        far more often a slip of units (seconds for milliseconds, a dt of 1e-9) than meant;
        pass a larger number, or None, to run it anyway.

        ``every`` (ms, a multiple of dt) and ``callback``: closed-loop protocols. The run stops
        every ``every`` ms of simulated time (counted from the start of this call, and at its
        end when ``duration`` is not a multiple of ``every``) and calls ``callback(t)`` with
        ``t = net.t`` (ms); the callback may read monitors and state and
        change inputs and state (``set_rates``, ``set_spike_times``, ``set_current``,
        ``set_state``, weights, ``set_learning``), which take effect from the next step. The
        network is at a step boundary with its monitors complete when the callback runs; an
        exception from the callback ends ``run()`` there with that exception (time, state
        and monitors stay at the callback's step: ``run()`` again continues from it). The
        engines cut their chunks of steps at the callback times (on CUDA, no graph spans
        one); a callback costs one return to Python, not a rebuild.
        """
        duration = V.non_negative("run()", "duration", duration)
        every_steps = None
        if every is not None or callback is not None:
            if every is None or callback is None:
                raise ValueError(f"run(): every and callback go together (a callback every "
                                 f"`every` ms), got every={V.show(every)}, callback="
                                 f"{V.show(callback)}")
            if not callable(callback):
                raise TypeError(f"run(): callback must be callable as callback(t_ms), got "
                                f"{V.show(callback)}")
            every = V.positive("run()", "every", every)
            k = every / self.dt
            if abs(k - round(k)) > 1e-6 * max(1.0, k) or round(k) < 1:
                raise ValueError(f"run(): every must be a multiple of dt = {self.dt} ms, got "
                                 f"{every}")
            every_steps = int(round(k))
            self._refuse_distributed("run(every=..., callback=...)")
        if max_steps is not None:
            max_steps = V.integer("run()", "max_steps", max_steps, minimum=1)
        steps = duration / self.dt
        if abs(steps - round(steps)) > 1e-6 + 1e-12 * steps:
            raise ValueError(f"run(): duration must be a multiple of dt = {self.dt} ms, "
                             f"got {duration}")
        if (max_steps is not None and steps > max_steps) or steps >= 2**62:
            limit = (f"more than max_steps = {max_steps:,} per call" if steps < 2**62
                     else "more than a run can count (2^62)")
            raise ValueError(f"run(): duration = {duration:g} ms at dt = {self.dt:g} ms is "
                             f"{steps:.4g} steps, {limit}; check duration and dt (both in "
                             f"ms), or pass max_steps=None (or a larger number) to run that "
                             f"many steps")
        if not (progress is True or progress is False or progress is None or callable(progress)):
            raise TypeError(f"run(): progress must be a bool or a callable, got "
                            f"{V.show(progress)}")
        if not self.populations:
            raise ValueError("run(): the network has no populations")
        engine = self._ensure_built()
        from .engine.interrupts import DeferredInterrupt
        from .engine.memory import check_recording
        total = int(round(steps))
        check_recording(self, total)
        if every_steps is None:
            with DeferredInterrupt() as guard:
                engine.run(total, progress or None, guard)
            return
        from .engine.common import Progress
        n_end = self._steps_done + total
        bar = Progress(progress, self.t, n_end * self.dt) if progress else None
        try:
            with DeferredInterrupt() as guard:
                while self._steps_done < n_end and not guard.pending:
                    engine.run(min(every_steps, n_end - self._steps_done), None, guard)
                    if guard.pending:
                        break
                    if bar is not None:
                        bar.update(self.t)
                    callback(self.t)
        finally:
            if bar is not None:
                bar.close()

    def save(self, path, monitors: bool = False) -> None:
        """Write a checkpoint of the network to ``path`` (a NumPy ``.npz`` file; the name is
        used as given): structure, parameters, weights, every state variable, spikes in
        flight, plasticity state and the step count; with ``monitors=True`` also what the
        monitors hold. ``ns.load(path, device=...)`` continues from it exactly, spike for
        spike; the format is described in :mod:`neurosim.checkpoint`. Builds the network
        first if needed. On a network distributed over MPI ranks every rank calls it (a
        collective call): the ranks' shares are gathered and rank 0 writes one file, which
        loads on one process or on any number of ranks
        (:mod:`neurosim.distributed.checkpoint`)."""
        from .checkpoint import save
        save(self, path, monitors)

    def get_state(self, population, variable: str) -> np.ndarray:
        """A copy of a state variable (an array of the network's :attr:`dtype`: float32, or
        float64 with ``precision="double"``) of ``population``, which may be:

        - a population: its model's state variables (``"v"``...); ``"rate"`` (Hz) of a
          ``PoissonSource``; and the variables of the homeostatic rules attached to it
          (``"theta"`` in mV, ``"rate_estimate"`` in Hz; see below), where one rule has them;
        - a plastic projection: ``"pre.x"``/``"post.y"`` (STDP and reward STDP traces, per
          presynaptic / postsynaptic neuron, as of the last step), ``"pre.r1"``,
          ``"pre.r2"``, ``"post.o1"``, ``"post.o2"`` (triplet STDP), ``"c"`` (reward STDP
          eligibility, per synapse in ``proj.sources`` order) and ``"dopamine"`` (one value);
          weights are ``proj.weights``;
        - a homeostatic rule (the object given to :meth:`add_homeostasis`): ``"theta"``
          (threshold rules), ``"rate_estimate"`` (rules that estimate rates).

        Plasticity state reads and writes go through the portable form of
        :mod:`neurosim.engine.portable`, the same on every backend.
        """
        where = "get_state()"
        kind, obj, rt = self._state_target(where, population, variable)
        if kind == "rate":
            return self.get_rates(obj).astype(np.float32)
        if kind == "neuron":
            return self._ensure_built().get_state(obj, variable)
        from .engine.state import plastic_get
        value = plastic_get(rt, variable).astype(self.dtype)
        if self.comm is not None:   # a homeostatic rule's block on each rank: gathered
            value = self._engine._gather(value)
        return value

    def set_state(self, population, variable: str, value) -> None:
        """Set a state variable (see :meth:`get_state` for what ``population`` and
        ``variable`` may be): a number, or an array of one value per neuron (per presynaptic
        or postsynaptic neuron for traces, per synapse for ``"c"``; ``"dopamine"`` takes a
        number). A presynaptic trace is set as every synapse sees it from the next step on,
        whatever its delay. Takes effect from the next step, between runs or from a
        ``run(every=..., callback=...)`` callback."""
        where = "set_state()"
        kind, obj, rt = self._state_target(where, population, variable)
        if kind == "rate":
            return self.set_rates(obj, value)
        if kind == "neuron":
            arr = V.per_neuron(where, "value", value, obj.size).astype(self.dtype)
            return self._ensure_built().set_state(obj, variable, arr)
        self._refuse_distributed(where)
        from .engine.state import plastic_get, plastic_set
        size = plastic_get(rt, variable).size
        if variable == "dopamine":
            arr = self.dtype.type(V.real(where, "value", value, float32=True))
        else:
            arr = V.per_neuron(where, "value", value, size).astype(self.dtype)
        if variable in ("theta", "rate_estimate") or variable.startswith(("pre.", "post.")):
            lo = 0.0 if variable != "theta" else -np.inf
            if arr.size and np.min(arr) < lo:
                raise ValueError(f"{where}: {variable} must be >= 0, got {float(np.min(arr)):g}")
        plastic_set(rt, variable, arr, where)

    def reset_traces(self, projections=None) -> None:
        """Set every trace of the plastic projections (all, or the list ``projections``) to 0,
        e.g. between the presentations of a trial-based protocol: the rules forget the spikes
        before now ("nearest_reduced" pairing: no last spikes); weights, eligibility, spikes in
        flight and homeostasis are kept."""
        where = "reset_traces()"
        self._refuse_distributed(where)
        plastic = [p for p in self.projections if p.plasticity is not None]
        if projections is not None:
            projections = V.sequence_of(where, "projections", projections, Projection,
                                        "a plastic Projection")
            for k, proj in enumerate(projections):
                if proj.network is not self or proj.plasticity is None:
                    raise ValueError(f"{where}: projections[{k}] ({proj.name!r}) is not a "
                                     f"plastic projection of this network")
            plastic = projections
        engine = self._ensure_built()
        from .engine.state import reset_traces
        for proj in plastic:
            reset_traces(engine._plastic_for(proj), where)

    def _state_target(self, where: str, target, variable):
        """("neuron" | "rate" | "plastic", population or None, plastic runtime or None)."""
        from .plasticity import HomeostasisRule
        if isinstance(target, Population):
            self._check_own(where, "population", target)
            if _is_rate(target, variable):
                return "rate", target, None
            names = _variables(target)
            if isinstance(variable, str) and variable not in names:
                rules = [r for p, r in self.homeostasis if p is target]
                if rules:
                    from .engine.state import plastic_names
                    engine = self._ensure_built()
                    having = [r for r in rules
                              if variable in plastic_names(self._homeostasis_runtime(r))]
                    if len(having) > 1:
                        raise ValueError(f"{where}: population {target.name!r} has "
                                         f"{len(having)} homeostatic rules with {variable!r}; "
                                         f"pass the rule object instead of the population")
                    if having:
                        return "plastic", None, self._homeostasis_runtime(having[0])
                    names = names + tuple(n for r in rules for n in
                                          plastic_names(self._homeostasis_runtime(r)))
                    del engine
            V.choice(where, "variable", variable, names)
            return "neuron", target, None
        self._refuse_distributed(where)
        if isinstance(target, Projection):
            if target.network is not self:
                raise ValueError(f"{where}: projection {target.name!r} belongs to another "
                                 f"network")
            if target.plasticity is None:
                raise ValueError(f"{where}: projection {target.name!r} is static: it has no "
                                 f"plasticity state (its weights are proj.weights)")
            rt = self._ensure_built()._plastic_for(target)
        elif isinstance(target, HomeostasisRule):
            if not any(r is target for _, r in self.homeostasis):
                raise ValueError(f"{where}: this {type(target).__name__} is not attached to a "
                                 f"population of this network (add_homeostasis)")
            rt = self._homeostasis_runtime(target)
        else:
            raise TypeError(f"{where}: population must be a Population, a plastic Projection "
                            f"or a homeostatic rule of this network, got {V.show(target)}")
        from .engine.state import plastic_names
        V.choice(where, "variable", variable, plastic_names(rt))
        return "plastic", None, rt

    def _homeostasis_runtime(self, rule):
        engine = self._ensure_built()
        n_proj = sum(1 for p in self.projections if p.plasticity is not None)
        k = next(i for i, (_, r) in enumerate(self.homeostasis) if r is rule)
        return engine.plastic[n_proj + k]

    # -- stimulus protocols (neurosim.engine.stimulus) ------------------------------------------
    def set_rates(self, target, rates, times=None) -> None:
        """Change Poisson rates (Hz) from the next step on, between runs or from a
        ``run(every=..., callback=...)`` callback; builds the network if needed.

        ``target``: a ``PoissonSource`` population (``rates``: a number or one per neuron) or
        a Poisson input returned by :meth:`add_poisson_input` (one rate for all its neurons).
        With ``times`` (ms, increasing, absolute simulated time): a rate table over time,
        ``rates[k]`` in force for ``t`` in ``[times[k], times[k+1])`` and the last one after
        it (as Brian2's ``TimedArray`` / NEST's ``inhomogeneous_poisson_generator``); before
        ``times[0]`` the rates in force now go on. For a population ``rates`` then has shape
        ``(K,)`` or ``(K, size)``. Times round to the step grid; a change at ``t`` acts from
        the step that begins at ``t``. A table replaces any earlier one. The draws stay those
        of the seed: the same seed and rate table give the same spikes on every backend
        (:mod:`neurosim.engine.stimulus`).
        """
        where = "set_rates()"
        stim, k = self._stimulus_target(where, target)
        if k is None:
            stim.set_rates(target, rates, times)
        else:
            stim.set_drive_rate(k, rates, times)

    def get_rates(self, target) -> np.ndarray:
        """The rates (Hz) in force at the next step: one per neuron of a ``PoissonSource``
        population, or a 1-element array for a Poisson input."""
        stim, k = self._stimulus_target("get_rates()", target)
        if k is None:
            return stim.rates_now(target)
        return np.array([stim.drive_rate_now(k)])

    def set_spike_times(self, population: Population, times, append: bool = False) -> None:
        """New spike times (ms) for a ``SpikeSource`` population: ``times[i]`` the sorted
        times of neuron ``i`` (as ``ns.SpikeSource``), all after the current time; they
        replace the spikes not yet emitted, or with ``append=True`` are added to them."""
        where = "set_spike_times()"
        self._refuse_distributed(where)
        self._check_own(where, "population", population)
        if not isinstance(population.model, SpikeSource):
            raise ValueError(f"{where}: population {population.name!r} is a "
                             f"{type(population.model).__name__}, not a SpikeSource")
        append = V.boolean(where, "append", append)
        self._ensure_built().stim.set_spike_times(population, times, append)

    def set_current(self, population: Population, amplitude) -> None:
        """A constant current (pA; a number or one per neuron) added from the next step on
        to the currents injected with :meth:`inject`, replacing the previous ``set_current``
        of this population (0 removes it). Works whether or not the population had currents
        when the network was built."""
        where = "set_current()"
        self._refuse_distributed(where)
        self._check_own(where, "population", population)
        if population.model.is_source:
            raise ValueError(f"{where}: population {population.name!r} is a spike source "
                             f"({type(population.model).__name__}), which takes no current")
        self._ensure_built().stim.set_current(population, amplitude)

    def _refuse_distributed(self, where: str) -> None:
        """Stimulus changes, callbacks and plasticity-state access are not distributed yet:
        refused on every rank before any work (the ranks would otherwise disagree)."""
        if self.comm is not None:
            raise NotImplementedError(
                f"{where}: not supported yet on a network distributed over MPI ranks "
                f"(stimulus protocols, run(every=..., callback=...) and plasticity state run "
                f"on one process: Network(distributed=False))")

    def _stimulus_target(self, where: str, target):
        self._refuse_distributed(where)
        if isinstance(target, PoissonInput):
            if not any(inp is target for inp in self.poisson_inputs):
                raise ValueError(f"{where}: this Poisson input belongs to another network")
            k = next(i for i, inp in enumerate(self.poisson_inputs) if inp is target)
            return self._ensure_built().stim, k
        if not isinstance(target, Population):
            raise TypeError(f"{where}: target must be a PoissonSource population or a Poisson "
                            f"input from add_poisson_input(), got {V.show(target)}")
        self._check_own(where, "target", target)
        if not isinstance(target.model, PoissonSource):
            raise ValueError(f"{where}: target population {target.name!r} is a "
                             f"{type(target.model).__name__}; rates belong to PoissonSource "
                             f"populations and Poisson inputs (add_poisson_input)")
        return self._ensure_built().stim, None

    def to_neo(self, name: str | None = None):
        """Every monitor's recording as a ``neo.Block`` (one ``Segment``) with units and
        annotations (:mod:`neurosim.neo_io`; needs ``pip install 'neurosim[neo]'``)."""
        from .neo_io import network_block
        return network_block(self, name)

    # -- internals -----------------------------------------------------------------------------
    def _ensure_built(self):
        if self._engine is None and self.comm is not None:
            from .distributed.build import build_engine as build_distributed
            log.info("building network (%d neurons) over %d MPI ranks", self.n_neurons,
                     self.n_ranks)
            self._engine = build_distributed(self, self.comm)
        if self._engine is None:
            from .backends import select_backend
            from .engine import build_engine
            name = select_backend(self.device, self.n_neurons)
            log.info("building network (%d neurons) on backend %s", self.n_neurons, name)
            self._engine = build_engine(self, name)
        return self._engine

    def _check_open(self, where: str) -> None:
        if self._engine is not None:
            raise RuntimeError(f"{where}: the network's structure is fixed once it is built "
                               f"(first run() or build()); add everything before that")

    def _check_own(self, where: str, arg: str, pop) -> None:
        V.instance(where, arg, pop, Population, "a Population")
        if pop.network is not self:
            raise ValueError(f"{where}: {arg} population {pop.name!r} belongs to another network")


def _is_rate(population, variable) -> bool:
    return isinstance(population.model, PoissonSource) and variable == "rate"


def _variables(population) -> tuple:
    """The names get_state/set_state take for a population (a PoissonSource's "rate")."""
    if isinstance(population.model, PoissonSource):
        return ("rate",)
    return population.state_names


def _peak_amplitude(current: Current) -> float:
    """The largest magnitude (pA) a current can inject into one neuron."""
    return max(float(np.max(np.abs(amp))) for _, _, amp in current.segments(1.0))


def _check_sign(where: str, model, receptor: str, value_range) -> None:
    """Excitatory weights >= 0; inhibitory <= 0 (current/delta) or >= 0 (conductance)."""
    sign = model.weight_sign.get(receptor, 0)
    lo, hi = value_range
    if (sign > 0 and math.isinf(lo)) or (sign < 0 and math.isinf(hi)):
        raise ValueError(f"{where}: the weight distribution is unbounded; give it bounds "
                         f"(e.g. ns.Normal(mean, std, low=0.0) or high=0.0) so that the sign that the "
                         f"{receptor} receptor of {type(model).__name__} needs is guaranteed")
    if sign > 0 and lo < 0:
        hint = ("; use receptor='inhibitory' with negative weights for inhibition"
                if receptor == "excitatory" and model.weight_sign.get("inhibitory") == -1 else "")
        raise ValueError(f"{where}: weights on the {receptor} receptor of "
                         f"{type(model).__name__} must be >= 0, got values down to {lo}{hint}")
    if sign < 0 and hi > 0:
        raise ValueError(f"{where}: weights on the {receptor} receptor of {type(model).__name__} "
                         f"must be <= 0 (they are currents/jumps), got values up to {hi}")


def _check_delay_reach(where: str, delay, dt: float) -> None:
    """One bound for every form of delay (number, array, distribution): at most
    ``MAX_DELAY_STEPS`` steps (the per-synapse delays are stored as int16, and a longer constant
    delay would size the delay ring at ``steps * 4`` bytes per receiving neuron and channel).
    A distribution is bounded by :func:`neurosim.distributions.reach`."""
    from .engine.layout import MAX_DELAY_STEPS
    top = D.reach(delay)
    if not np.rint(top / dt) > MAX_DELAY_STEPS:
        return
    limit = (f"at most {MAX_DELAY_STEPS} steps ({MAX_DELAY_STEPS * dt:g} ms at this dt) are "
             f"supported")
    if not isinstance(delay, D.Distribution):
        raise ValueError(f"{where}: delay reaches {top:g} ms = {top / dt:.6g} steps of dt = "
                         f"{dt} ms; {limit}: use shorter delays, or a larger dt")
    if math.isinf(top):
        raise ValueError(f"{where}: delay {delay!r} has no upper bound; {limit}: give it a "
                         f"finite upper bound (its bounds() are {delay.bounds()})")
    how = ("its upper bound" if math.isfinite(delay.bounds()[1])
           else "the largest value it draws: it has no high bound")
    raise ValueError(f"{where}: delay {delay!r} reaches {top:g} ms ({how}) = {top / dt:.6g} "
                     f"steps of dt = {dt} ms; {limit}: give it a smaller high bound, or use a "
                     f"larger dt")
