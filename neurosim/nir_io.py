"""NIR (Neuromorphic Intermediate Representation) in and out: ``ns.nir.load`` / ``ns.nir.export``.

Needs the ``nir`` package (``pip install "neurosim[nir]"``), imported when called.

**Nodes.** ``Input`` (a spike source: ``ns.SpikeSource`` with the times given to ``load``),
``Output``, ``LIF``, ``CubaLIF``, ``IF``, ``LI``, ``CubaLI``, ``Linear``, ``Affine`` and
``Delay``. Anything else (``Conv1d``, ``Conv2d``, ``SumPool2d``, ``AvgPool2d``, ``Flatten``,
``Threshold``, ``Scale``, ``I``, nested graphs) is refused by :func:`load` with one
``ValueError`` listing every unsupported node by name and type.

**Mapping.** NIR's time unit is the second, neurosim's the ms (``tau`` × 1000); potentials map
to mV, currents to pA, ``r`` to mV/pA. ``LIF`` -> ``ns.LIF(synapse="delta")`` with
``tau_m = tau``, ``cm = tau / r``, ``v_rest = v_leak``; ``CubaLIF`` ->
``ns.LIF(synapse="exponential")`` with ``tau_syn_E = tau_syn_I = tau_syn``; ``IF`` -> the same
``LIF`` with ``tau_m = 1e12`` ms (no leak over any run; ``cm = 1/r``); ``LI``/``CubaLI`` (the
non-spiking read-outs) -> the same cells with an unreachable threshold (``1e30`` mV) whose
``v`` is recorded. No refractory period; neurosim spikes at ``v >= v_threshold`` where NIR
writes ``v > v_threshold``.

**Events.** ``load(graph, dt)`` reads the graph as the discrete-time frameworks that export it
run it: a spike is an input of height 1 held for one step ``dt``. Through a weight ``W`` it
makes the integrating state jump by its first-order integral over the step:
``I += w_in * W * dt / tau_syn`` (``CubaLIF``/``CubaLI``), ``v += r * W * dt / tau``
(``LIF``/``LI``), ``v += r * W * dt`` (``IF``) — so a graph exported by snnTorch (``r = tau /
dt``, ``w_in = tau_syn / dt``) loaded with the same ``dt`` makes jumps of exactly ``W``.
``Affine`` biases are constant inputs: ``i_offset = bias`` for ``LIF``/``IF``/``LI``
(exact); a bias into ``CubaLIF``/``CubaLI`` is refused (neurosim has no constant synaptic
input). Positive weights go to the excitatory receptor, negative ones to the inhibitory one.

**Delays.** Every hop from one population to the next takes at least one step ``dt`` (neurosim's
minimum delay; NIR's layers without a ``Delay`` node are instantaneous); a ``Delay`` node
(seconds, one value per element of its input) sets the hop's delay to ``max(delay, dt)``.

:func:`export` writes a network of ``LIF`` populations (delta or exponential synapses) and
spike sources the same way, so ``load(export(net), dt=net.dt)`` gives back the parameters and
weights. It refuses, naming each, what NIR cannot hold: other models, injected currents,
Poisson inputs, homeostasis, a non-zero ``i_offset``, delays that vary within one presynaptic
neuron's synapses. Plastic projections are exported with their current weights (NIR has no
learning rules), with a ``UserWarning``.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

UNREACHABLE = 1e30          # mV: the threshold of LI / CubaLI read-outs
NO_LEAK_TAU = 1e12          # ms: tau_m of an IF node
SUPPORTED = ("Input", "Output", "LIF", "CubaLIF", "IF", "LI", "CubaLI", "Linear", "Affine",
             "Delay")
_NEURONS = ("LIF", "CubaLIF", "IF", "LI", "CubaLI")


def _nir():
    try:
        import nir
    except ImportError as exc:
        raise ImportError("NIR import/export needs the nir package: "
                          "pip install 'neurosim[nir]'") from exc
    return nir


@dataclasses.dataclass
class NIRNetwork:
    """What :func:`load` returns: the network and its parts by NIR node name.

    ``populations``: neuron nodes -> ``ns.Population``; ``inputs``: ``Input`` nodes ->
    ``ns.SpikeSource`` populations; ``outputs``: ``Output`` nodes -> the monitor of the node
    feeding them (``SpikeMonitor`` of a spiking node, ``StateMonitor`` of ``v`` for ``LI``/
    ``CubaLI``); ``projections``: ``(source, target)`` node names -> list of ``ns.Projection``.
    """

    network: object
    populations: dict
    inputs: dict
    outputs: dict
    projections: dict

    def run(self, duration: float) -> None:
        self.network.run(duration)


def _arr(value, n, name, node):
    a = np.asarray(value, dtype=np.float64).ravel()
    if a.size == 1:
        a = np.full(n, float(a[0]))
    if a.size != n:
        raise ValueError(f"nir.load: {name} of node {node!r} has {a.size} values, expected {n}")
    return a


def _size(node, name):
    kind = type(node).__name__
    if kind == "Input":
        return int(np.prod(next(iter(node.input_type.values()))))
    if kind in ("LIF", "LI"):
        return int(np.asarray(node.tau).size)
    if kind in ("CubaLIF", "CubaLI"):
        return int(np.asarray(node.tau_mem).size)
    if kind == "IF":
        return int(np.asarray(node.r).size)
    raise ValueError(f"nir.load: cannot size node {name!r} of type {kind}")


def _scalar(a):
    a = np.asarray(a, float)
    return float(a[0]) if a.size and np.all(a == a[0]) else a


def _cell(node, name, n, bias):
    """(neurosim model, factor per post neuron from W to the jump, what the jump is)."""
    import neurosim as ns
    kind = type(node).__name__
    if kind in ("CubaLIF", "CubaLI") and np.any(bias != 0):
        raise ValueError(f"nir.load: node {name!r} ({kind}) receives an Affine bias; neurosim "
                         f"has no constant synaptic input (use Linear, or an LIF node)")
    if kind in ("LIF", "LI"):
        tau = _arr(node.tau, n, "tau", name) * 1e3
        r = _arr(node.r, n, "r", name)
        v_leak = _arr(node.v_leak, n, "v_leak", name)
        common = dict(tau_m=_scalar(tau), cm=_scalar(tau / r), v_rest=_scalar(v_leak),
                      i_offset=_scalar(bias), tau_refrac=0.0, synapse="delta")
        factor = r / tau                              # * W * dt
    elif kind == "IF":
        r = _arr(node.r, n, "r", name)
        tau = np.full(n, NO_LEAK_TAU)
        common = dict(tau_m=NO_LEAK_TAU, cm=_scalar(1.0 / r), v_rest=0.0,
                      i_offset=_scalar(bias), tau_refrac=0.0, synapse="delta")
        factor = r
    else:                                             # CubaLIF, CubaLI
        tau = _arr(node.tau_mem, n, "tau_mem", name) * 1e3
        tau_syn = _arr(node.tau_syn, n, "tau_syn", name) * 1e3
        r = _arr(node.r, n, "r", name)
        w_in = _arr(node.w_in, n, "w_in", name)
        common = dict(tau_m=_scalar(tau), cm=_scalar(tau / r),
                      v_rest=_scalar(_arr(node.v_leak, n, "v_leak", name)),
                      tau_syn_E=_scalar(tau_syn), tau_syn_I=_scalar(tau_syn),
                      tau_refrac=0.0, synapse="exponential")
        factor = w_in / tau_syn
    if kind in ("LI", "CubaLI"):
        thresh, reset = np.full(n, UNREACHABLE), np.zeros(n)
    else:
        thresh = _arr(node.v_threshold, n, "v_threshold", name)
        reset = _arr(node.v_reset if node.v_reset is not None else 0.0, n, "v_reset", name)
    return ns.LIF(v_thresh=_scalar(thresh), v_reset=_scalar(reset), **common), factor


def load(graph, dt: float = 0.1, inputs: dict | None = None, device: str = "cpu",
         seed: int | None = 0, record_outputs: bool = True) -> NIRNetwork:
    """Build a neurosim network from a NIR graph (or the path of a ``.nir`` file).

    ``dt`` (ms): the time step, also the length of one input event (see the module
    docstring); ``inputs``: ``{input node name: per-neuron spike times (ms)}`` for the
    ``Input`` nodes (default: silent); ``device``, ``seed``: as for ``ns.Network``.
    ``record_outputs``: add monitors for the ``Output`` nodes (see :class:`NIRNetwork`).
    """
    import neurosim as ns
    nir = _nir()
    if isinstance(graph, (str, bytes)) or hasattr(graph, "__fspath__"):
        graph = nir.read(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"nir.load: graph must be a nir.NIRGraph or a path, got "
                        f"{type(graph).__name__}")
    nodes, edges = graph.nodes, list(graph.edges)
    bad = [f"{k!r} ({type(v).__name__})" for k, v in nodes.items()
           if type(v).__name__ not in SUPPORTED]
    if bad:
        raise ValueError(f"nir.load: unsupported NIR node(s): {', '.join(bad)}; neurosim "
                         f"supports {', '.join(SUPPORTED)}")
    inputs = dict(inputs or {})
    unknown = set(inputs) - {k for k, v in nodes.items() if type(v).__name__ == "Input"}
    if unknown:
        raise ValueError(f"nir.load: inputs names {sorted(unknown)} are not Input nodes of the "
                         f"graph")
    preds = {k: [s for s, d in edges if d == k] for k in nodes}
    kind = {k: type(v).__name__ for k, v in nodes.items()}

    # biases of Affine nodes reaching each neuron node
    bias = {k: np.zeros(_size(v, k)) for k, v in nodes.items() if kind[k] in _NEURONS}
    net = ns.Network(dt=dt, device=device, seed=seed, connectivity="host")
    pops = {}
    for k, v in nodes.items():
        if kind[k] == "Input":
            n = _size(v, k)
            times = inputs.get(k, [[] for _ in range(n)])
            pops[k] = net.add_population(n, ns.SpikeSource(times), name=k)
    factors = {}
    hops = []                       # (source node, target node, W (post x pre), delay per pre)
    for k in nodes:
        if kind[k] not in _NEURONS:
            continue
        for p in preds[k]:
            for src, w, b, delay in _trace(nodes, kind, preds, p, k):
                bias[k] = bias[k] + (0.0 if b is None else b)
                hops.append((src, k, w, delay))
    for k, v in nodes.items():
        if kind[k] in _NEURONS:
            model, factors[k] = _cell(v, k, _size(v, k), bias[k])
            pops[k] = net.add_population(_size(v, k), model, name=k)
    projections = {}
    for src, dst, w, delay in hops:
        n_pre, n_post = pops[src].size, pops[dst].size
        w = np.broadcast_to(np.asarray(w, float), (n_post, n_pre)) if np.ndim(w) else \
            np.eye(n_post, n_pre) * float(w)
        if w.shape != (n_post, n_pre):
            raise ValueError(f"nir.load: weights into {dst!r} from {src!r} have shape "
                             f"{w.shape}, expected ({n_post}, {n_pre})")
        jump = w * (factors[dst] * dt)[:, None]
        d = np.maximum(np.zeros(n_pre) if delay is None else delay * 1e3, dt)
        for receptor, mask in (("excitatory", jump > 0), ("inhibitory", jump < 0)):
            post, pre = np.nonzero(mask)
            if pre.size == 0:
                continue
            prj = net.connect(pops[src], pops[dst], ns.Explicit(pre, post),
                              weight=jump[post, pre], delay=d[pre], receptor=receptor,
                              name=f"{src}->{dst}:{receptor}#{len(net.projections)}")
            projections.setdefault((src, dst), []).append(prj)
    outputs = {}
    if record_outputs:
        for k, v in nodes.items():
            if kind[k] != "Output":
                continue
            for p in preds[k]:
                if kind[p] in ("LI", "CubaLI"):
                    outputs[k] = net.record_state(pops[p], "v")
                elif p in pops:
                    outputs[k] = net.record_spikes(pops[p])
                else:
                    raise ValueError(f"nir.load: Output {k!r} is fed by {p!r} "
                                     f"({kind[p]}); outputs must come from neuron or Input "
                                     f"nodes")
    return NIRNetwork(net, {k: p for k, p in pops.items() if kind[k] in _NEURONS},
                      {k: p for k, p in pops.items() if kind[k] == "Input"}, outputs,
                      projections)


def _trace(nodes, kind, preds, start, target):
    """Walk back from ``start`` (a predecessor of neuron node ``target``) through Linear,
    Affine and Delay nodes to the spiking source(s): [(source, W, bias, delay per pre)]."""
    chain, node = [], start
    while kind[node] in ("Linear", "Affine", "Delay"):
        chain.append(node)
        ps = preds[node]
        if len(ps) != 1:
            raise ValueError(f"nir.load: {kind[node]} node {node!r} has {len(ps)} inputs "
                             f"({ps}); neurosim needs exactly one (a population or Input)")
        node = ps[0]
    if kind[node] not in _NEURONS + ("Input",):
        raise ValueError(f"nir.load: the path into {target!r} starts at {node!r} "
                         f"({kind[node]}), not at a neuron or Input node")
    w, b, delay = 1.0, None, None
    for c in reversed(chain):                      # from the source towards the target
        v = nodes[c]
        if kind[c] == "Delay":
            if not np.isscalar(w) and np.ndim(w):
                raise ValueError(f"nir.load: Delay node {c!r} after a weight node on the way "
                                 f"to {target!r}; put Delay nodes before Linear/Affine")
            delay = np.asarray(v.delay, float).ravel()
        else:
            m = np.asarray(v.weight, float)
            if m.ndim != 2:
                raise ValueError(f"nir.load: {kind[c]} node {c!r} has a weight of shape "
                                 f"{m.shape}; expected a matrix (out x in)")
            w = m if np.ndim(w) == 0 else m @ w
            if b is not None:
                b = m @ b
            if kind[c] == "Affine":
                bb = np.asarray(v.bias, float).ravel()
                b = bb if b is None else b + bb
    return [(node, w, b, delay)]


def export(network, path: str | None = None):
    """A ``nir.NIRGraph`` of ``network`` (see the module docstring); written to ``path`` too
    when given. Builds the network first if needed (to read weights and delays)."""
    import neurosim as ns
    nir = _nir()
    problems = []
    for p in network.populations:
        m = p.model
        if isinstance(m, (ns.PoissonSource,)):
            problems.append(f"population {p.name!r}: PoissonSource (NIR inputs are given "
                            f"spikes; use ns.SpikeSource)")
        elif isinstance(m, ns.LIF):
            if np.any(np.asarray(m.i_offset) != 0):
                problems.append(f"population {p.name!r}: i_offset != 0")
            if np.any(np.asarray(m.tau_refrac) != 0):
                warnings.warn(f"nir.export: population {p.name!r} has tau_refrac = "
                              f"{m.tau_refrac} ms; NIR neurons have no refractory period",
                              UserWarning, stacklevel=2)
        elif not isinstance(m, ns.SpikeSource):
            problems.append(f"population {p.name!r}: model {type(m).__name__} has no NIR node "
                            f"(supported: LIF, SpikeSource)")
    if network.currents:
        problems.append("injected currents (net.inject)")
    if network.poisson_inputs:
        problems.append("Poisson inputs (net.add_poisson_input)")
    if network.homeostasis:
        problems.append("homeostasis rules")
    if problems:
        raise ValueError("nir.export: the network has what NIR cannot represent: "
                         + "; ".join(problems))
    dt = network.dt
    network.build()
    nodes, edges = {}, []
    for p in network.populations:
        m = p.model
        if isinstance(m, ns.SpikeSource):
            nodes[p.name] = nir.Input(input_type={"input": np.array([p.size])})
            continue
        n = p.size
        full = {k: np.broadcast_to(np.asarray(getattr(m, k), float), (n,)).copy()
                for k in ("tau_m", "cm", "v_rest", "v_thresh", "v_reset", "tau_syn_E")}
        tau_s = full["tau_m"] * 1e-3
        r = full["tau_m"] / full["cm"]
        readout = np.all(full["v_thresh"] >= UNREACHABLE)
        if m.synapse == "delta" and np.all(full["tau_m"] >= NO_LEAK_TAU):
            nodes[p.name] = nir.IF(r=1.0 / full["cm"], v_threshold=full["v_thresh"],
                                   v_reset=full["v_reset"])
        elif m.synapse == "delta":
            if readout:
                nodes[p.name] = nir.LI(tau=tau_s, r=r, v_leak=full["v_rest"])
            else:
                nodes[p.name] = nir.LIF(tau=tau_s, r=r, v_leak=full["v_rest"],
                                        v_threshold=full["v_thresh"], v_reset=full["v_reset"])
        else:
            if np.any(np.asarray(m.tau_syn_E) != np.asarray(m.tau_syn_I)):
                raise ValueError(f"nir.export: population {p.name!r} has tau_syn_E != "
                                 f"tau_syn_I; NIR's CubaLIF has one synaptic time constant")
            kw = dict(tau_syn=full["tau_syn_E"] * 1e-3, tau_mem=tau_s, r=r,
                      v_leak=full["v_rest"], w_in=np.ones(n))
            nodes[p.name] = (nir.CubaLI(**kw) if readout else
                             nir.CubaLIF(v_threshold=full["v_thresh"], v_reset=full["v_reset"],
                                         **kw))
    pairs = {}
    for prj in network.projections:
        if prj.plasticity is not None:
            warnings.warn(f"nir.export: projection {prj.name!r} is plastic; NIR has no "
                          f"learning rules, its current weights are exported", UserWarning,
                          stacklevel=2)
        pairs.setdefault((prj.pre, prj.post), []).append(prj)
    for (pre, post), prjs in pairs.items():
        w = np.zeros((post.size, pre.size))
        delay = np.full(pre.size, np.nan)
        factor = _jump_factor(post.model, dt, post.size)
        for prj in prjs:
            src, tgt = prj.sources, prj.targets
            np.add.at(w, (tgt, src), prj.weights.astype(float) / factor[tgt])
            d = prj.delays.astype(float)
            for i in np.unique(src):
                di = np.unique(d[src == i])
                if di.size > 1 or (not np.isnan(delay[i]) and delay[i] != di[0]):
                    raise ValueError(f"nir.export: synapses from neuron {i} of {pre.name!r} "
                                     f"to {post.name!r} have different delays; NIR's Delay "
                                     f"holds one delay per presynaptic neuron")
                delay[i] = di[0]
        base = f"{pre.name}->{post.name}"
        src_node = pre.name
        delay = np.where(np.isnan(delay), dt, delay)
        if np.any(delay > dt * (1 + 1e-6)):
            nodes[base + ":delay"] = nir.Delay(delay=delay * 1e-3)
            edges.append((src_node, base + ":delay"))
            src_node = base + ":delay"
        nodes[base] = nir.Linear(weight=w)
        edges += [(src_node, base), (base, post.name)]
    senders = {pre.name for pre, _ in pairs}
    for p in network.populations:
        if p.name not in senders and not isinstance(p.model, ns.SpikeSource):
            nodes[p.name + ":out"] = nir.Output(output_type={"output": np.array([p.size])})
            edges.append((p.name, p.name + ":out"))
    graph = nir.NIRGraph(nodes=nodes, edges=edges,
                         metadata={"source": "neurosim", "dt_ms": float(dt)})
    if path is not None:
        nir.write(path, graph)
    return graph


def _jump_factor(model, dt, n):
    """neurosim weight per unit of NIR weight, per post neuron (the inverse of load's)."""
    cm = np.broadcast_to(np.asarray(model.cm, float), (n,))
    if model.synapse == "delta":
        f = dt / cm          # LIF: r dt / tau with r = tau / cm; IF: r dt with r = 1 / cm
    else:
        f = dt / np.broadcast_to(np.asarray(model.tau_syn_E, float), (n,))
    return f
