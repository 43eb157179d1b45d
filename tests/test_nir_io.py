"""NIR in and out (neurosim.nir_io as ns.nir): a graph built with nir runs on neurosim and
matches a NumPy integration of the same equations; neurosim -> NIR -> neurosim keeps
parameters, weights, delays and spikes; unsupported nodes and networks are refused."""

from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns

nir = pytest.importorskip("nir", reason="nir is not installed (pip install 'neurosim[nir]')")

DT = 0.1                                   # ms
INPUT_TIMES = [[2.0, 2.5, 3.0, 9.0, 9.2, 15.0], [4.0, 4.1, 12.0, 12.3, 12.6], [6.0, 18.0, 18.1]]


def snntorch_style_graph(dt_s=DT * 1e-3):
    """Input(3) -> Linear -> CubaLIF(4) -> Delay -> Linear -> LIF(2) -> Output, with the
    conventions of a discrete-time exporter (r = tau / dt, w_in = tau_syn / dt)."""
    tau_syn, tau_mem, tau2 = np.array([5e-3, 5e-3, 3e-3, 8e-3]), np.full(4, 20e-3), \
        np.array([10e-3, 15e-3])
    w1 = np.array([[1.2, 0.6, 0.0], [0.0, 1.0, -0.4], [0.9, 0.9, 0.9], [1.5, 0.0, 1.5]])
    w2 = np.array([[0.5, 0.4, 0.3, 0.6], [0.7, -0.2, 0.5, 0.0]])
    nodes = {
        "input": nir.Input(input_type={"input": np.array([3])}),
        "fc1": nir.Linear(weight=w1),
        "lif1": nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt_s,
                            v_leak=np.zeros(4), v_threshold=np.full(4, 1.0),
                            v_reset=np.zeros(4), w_in=tau_syn / dt_s),
        "delay": nir.Delay(delay=np.array([1e-3, 0.5e-3, 2e-3, 0.0])),
        "fc2": nir.Linear(weight=w2),
        "lif2": nir.LIF(tau=tau2, r=tau2 / dt_s, v_leak=np.zeros(2),
                        v_threshold=np.array([0.8, 0.6]), v_reset=np.zeros(2)),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "delay"), ("delay", "fc2"),
             ("fc2", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def numpy_reference(graph, t_stop, dt=DT):
    """The same equations integrated directly (float64), with the documented conventions:
    exact propagation over a step, inputs added at the end of the step in which they
    arrive, threshold v >= v_threshold, spike stamped at the end of the step, a hop takes
    max(delay, dt), an input event through W makes a jump of w_in W dt / tau_syn (CubaLIF)
    or r W dt / tau (LIF)."""
    n = graph.nodes
    c, l2 = n["lif1"], n["lif2"]
    ts, tm = c.tau_syn * 1e3, c.tau_mem * 1e3
    t2 = l2.tau * 1e3
    steps = int(round(t_stop / dt))
    d1 = np.maximum(n["delay"].delay * 1e3, dt)
    jump1 = n["fc1"].weight * (c.w_in * dt / ts)[:, None]
    jump2 = n["fc2"].weight * (l2.r * dt / t2)[:, None]
    arr1 = np.zeros((steps + 100, 4))
    arr2 = np.zeros((steps + 100, 2))
    for i, times in enumerate(INPUT_TIMES):
        for t in times:
            k = int(round(t / dt)) - 1                       # emitted by the step ending at t
            arr1[k + 1] += jump1[:, i]                       # arrives one step later
    v1, i1, v2 = np.zeros(4), np.zeros(4), np.zeros(2)
    p22, p11, p2 = np.exp(-dt / tm), np.exp(-dt / ts), np.exp(-dt / t2)
    p21 = c.r * ts / (tm - ts) * (p22 - p11)                 # R I enters v (cm = tau / r)
    out1, out2 = [], []
    for k in range(steps):
        v1 = c.v_leak + (v1 - c.v_leak) * p22 + i1 * p21
        i1 = i1 * p11 + arr1[k]
        fire = v1 >= c.v_threshold
        v1[fire] = c.v_reset[fire]
        for j in np.flatnonzero(fire):
            out1.append((round((k + 1) * dt, 6), j))
            arr2[k + int(round(d1[j] / dt))] += jump2[:, j]
        v2 = l2.v_leak + (v2 - l2.v_leak) * p2 + arr2[k]
        fire2 = v2 >= l2.v_threshold
        v2[fire2] = l2.v_reset[fire2]
        out2 += [(round((k + 1) * dt, 6), j) for j in np.flatnonzero(fire2)]
    return out1, out2


def _spikes(mon):
    return sorted(zip(np.round(mon.times, 6).tolist(), mon.indices.tolist()))


def test_nir_graph_matches_numpy_integration():
    graph = snntorch_style_graph()
    model = ns.nir.load(graph, dt=DT, inputs={"input": INPUT_TIMES})
    hidden = model.network.record_spikes(model.populations["lif1"])
    model.run(30.0)
    ref1, ref2 = numpy_reference(graph, 30.0)
    assert len(ref1) >= 10 and len(ref2) >= 3          # the comparison is not vacuous
    assert _spikes(hidden) == sorted(ref1)
    assert _spikes(model.outputs["output"]) == sorted(ref2)


def test_snntorch_convention_gives_jumps_of_w():
    model = ns.nir.load(snntorch_style_graph(), dt=DT)
    lif1 = [p for p in model.network.projections if p.post.name == "lif1"]
    lif1[0].network.build()
    w = np.concatenate([p.weights for p in lif1])
    assert sorted(np.round(w.astype(float), 5).tolist()) == sorted(
        np.round([1.2, 0.6, 1.0, -0.4, 0.9, 0.9, 0.9, 1.5, 1.5], 5).tolist())


def _small_network(seed=3):
    net = ns.Network(dt=DT, device="cpu", seed=seed)
    inp = net.add_population(4, ns.SpikeSource([[1.0, 5.0], [2.0], [3.0, 3.5, 4.0], [7.0]]),
                             name="inp")
    hid = net.add_population(3, ns.LIF(tau_m=np.array([10.0, 12.0, 15.0]), cm=200.0,
                                       v_rest=-65.0, v_reset=-68.0, v_thresh=-55.0,
                                       tau_syn_E=4.0, tau_syn_I=4.0, tau_refrac=0.0),
                             name="hid")
    out = net.add_population(2, ns.LIF(synapse="delta", tau_m=8.0, cm=100.0, v_rest=-60.0,
                                       v_reset=-60.0, v_thresh=-58.0, tau_refrac=0.0),
                             name="out")
    net.connect(inp, hid, ns.AllToAll(), weight=ns.Uniform(300.0, 900.0), delay=1.0)
    net.connect(inp, hid, ns.Explicit([0, 1], [2, 2]), weight=[-200.0, -100.0], delay=1.0,
                receptor="inhibitory")
    net.connect(hid, out, ns.AllToAll(), weight=1.5, delay=np.repeat([0.5, 1.0, 2.0], 2))
    return net


def test_round_trip_keeps_parameters_weights_delays_and_spikes(tmp_path):
    net = _small_network()
    path = tmp_path / "net.nir"
    graph = ns.nir.export(net, path=str(path))
    assert {type(v).__name__ for v in graph.nodes.values()} >= {"Input", "CubaLIF", "LIF",
                                                                 "Linear", "Delay", "Output"}
    back = ns.nir.load(str(path), dt=DT,
                       inputs={"inp": [list(t) for t in net.populations[0].model.times]})
    hid0, hid1 = net.populations[1].model, back.populations["hid"].model
    for name in ("tau_m", "cm", "v_rest", "v_reset", "v_thresh", "tau_syn_E", "tau_syn_I"):
        np.testing.assert_allclose(np.broadcast_to(getattr(hid1, name), 3),
                                   np.broadcast_to(getattr(hid0, name), 3), rtol=1e-6)
    assert back.populations["out"].model.synapse == "delta"

    def matrix(network, pre, post):
        w = np.zeros((post.size, pre.size))
        d = np.zeros(pre.size)
        for p in network.projections:
            if p.pre.name == pre.name and p.post.name == post.name:
                np.add.at(w, (p.targets, p.sources), p.weights)
                d[p.sources] = p.delays
        return w, d

    back.network.build()
    for pre, post in (("inp", "hid"), ("hid", "out")):
        a = matrix(net, *(next(p for p in net.populations if p.name == x) for x in (pre, post)))
        b = matrix(back.network, *(next(p for p in back.network.populations if p.name == x)
                                   for x in (pre, post)))
        np.testing.assert_allclose(b[0], a[0], rtol=1e-5)
        np.testing.assert_allclose(b[1], a[1])
    s0 = net.record_spikes(net.populations[1])
    s1 = back.network.record_spikes(back.populations["hid"])
    o0 = net.record_spikes(net.populations[2])
    net.run(20.0)
    back.run(20.0)
    assert _spikes(s0) == _spikes(s1) and len(_spikes(s0)) > 0
    assert _spikes(o0) == _spikes(back.outputs["out:out"])


def test_unsupported_nodes_are_listed():
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([1, 4, 4])}),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1,
                           padding=0, dilation=1, groups=1, bias=np.zeros(2)),
        "thr": nir.Threshold(threshold=np.ones(2)),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }, edges=[("input", "conv"), ("conv", "thr"), ("thr", "output")], type_check=False)
    with pytest.raises(ValueError, match=r"'conv' \(Conv2d\), 'thr' \(Threshold\)"):
        ns.nir.load(graph, dt=DT)


def test_export_refuses_what_nir_cannot_hold():
    net = ns.Network(dt=DT, device="cpu", seed=0)
    a = net.add_population(3, ns.PoissonSource(rate=5.0), name="noise")
    b = net.add_population(2, ns.Izhikevich(), name="izh")
    net.connect(a, b, ns.AllToAll(), weight=1.0)
    net.inject(b, ns.DCCurrent(5.0))
    with pytest.raises(ValueError) as err:
        ns.nir.export(net)
    msg = str(err.value)
    assert "'noise'" in msg and "'izh'" in msg and "Izhikevich" in msg and "injected" in msg


def test_affine_bias_is_a_constant_current():
    """LIF with r = 1, tau = 10 ms and bias 2 (R I = 2 mV above v_leak = 0): crosses
    v_threshold = 1.5 at t = -tau ln(1 - 1.5 / 2)."""
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([1])}),
        "fc": nir.Affine(weight=np.zeros((1, 1)), bias=np.array([2.0])),
        "lif": nir.LIF(tau=np.array([0.01]), r=np.array([1.0]), v_leak=np.zeros(1),
                       v_threshold=np.array([1.5]), v_reset=np.zeros(1)),
        "output": nir.Output(output_type={"output": np.array([1])}),
    }, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    model = ns.nir.load(graph, dt=0.01)
    model.run(20.0)
    t_exact = -10.0 * np.log(1.0 - 1.5 / 2.0)
    assert model.outputs["output"].times[0] == pytest.approx(np.ceil(t_exact / 0.01) * 0.01,
                                                             abs=1e-6)
