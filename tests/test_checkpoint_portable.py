"""Plastic state crosses backends (neurosim.engine.portable): a checkpoint saved on "cpu" loads
on "cuda:host" and back for every rule, pairing and update, with one delay and per-synapse
delays.

- Where the two runtimes compute the same (the event-by-event NumPy runtimes and the CUDA
  runtimes: every STDP but additive "all"/"nearest", TripletSTDP, RewardSTDP), their portable
  forms are equal bit for bit after the same steps, and run(a) -> save -> load on the other
  backend -> run(b) gives the spikes and weights of run(a + b) exactly.
- Additive "all"/"nearest" STDP runs StdpDeferredNumpy on the CPU (float64 settling): the
  forms agree within float32 rounding and the continuation statistically.
- Always: the loaded network's portable form is the saved one, exactly (both directions).
- Bad portable entries are a CheckpointError naming the file and the entry.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import neurosim as ns
from neurosim.checkpoint import MANIFEST
from neurosim.engine import portable as P
from state_nets import assert_same, plastic


@pytest.fixture(autouse=True)
def _host_build():
    from neurosim.backends import host_build_status
    if not host_build_status()[0]:
        pytest.skip("cuda:host unavailable")


RULES = {
    "stdp-all-add": lambda: ns.STDP(A_plus=0.05, A_minus=0.055, w_max=3.0),
    "stdp-nearest-add": lambda: ns.STDP(A_plus=0.05, A_minus=0.055, w_max=3.0,
                                        pairing="nearest"),
    "stdp-reduced-add": lambda: ns.STDP(A_plus=0.05, A_minus=0.055, w_max=3.0,
                                        pairing="nearest_reduced"),
    "stdp-all-mult": lambda: ns.STDP(A_plus=0.1, A_minus=0.11, w_max=3.0,
                                     update="multiplicative"),
    "stdp-nearest-mult": lambda: ns.STDP(A_plus=0.1, A_minus=0.11, w_max=3.0,
                                         pairing="nearest", update="multiplicative"),
    "stdp-reduced-mult": lambda: ns.STDP(A_plus=0.1, A_minus=0.11, w_max=3.0,
                                         pairing="nearest_reduced", update="multiplicative"),
    "triplet-all": lambda: ns.TripletSTDP(A2_plus=0.01, A3_plus=0.02, A2_minus=0.015,
                                          A3_minus=0.002, w_max=3.0),
    "triplet-nearest": lambda: ns.TripletSTDP(A2_plus=0.01, A3_plus=0.02, A2_minus=0.015,
                                              w_max=3.0, pairing="nearest"),
    "reward-nearest": lambda: ns.RewardSTDP(A_plus=0.05, A_minus=0.06, tau_c=50.0, tau_d=20.0,
                                            w_max=3.0),
    "reward-all": lambda: ns.RewardSTDP(A_plus=0.05, A_minus=0.06, tau_c=50.0, tau_d=20.0,
                                        w_max=3.0, pairing="all"),
    "reward-reduced": lambda: ns.RewardSTDP(A_plus=0.05, A_minus=0.06, tau_c=50.0, tau_d=20.0,
                                            w_max=3.0, pairing="nearest_reduced"),
}
DEFERRED = ("stdp-all-add", "stdp-nearest-add")      # StdpDeferredNumpy on the CPU
# NumPy's float32 exp/expm1 and the C library's expf/expm1f may differ in the last bit
# (tests/test_plasticity_cuda.py): the state crosses exactly, the two runs then differ by roundings
LIBM = ("reward-nearest", "reward-all", "reward-reduced")
DELAYS = {"one-delay": 2.5, "per-synapse": ns.Uniform(0.1, 3.0)}


def net_for(device, rule, delay, seed=3):
    """Poisson sources -> LIF (delta synapses: sums exact on both backends) through the rule,
    a recurrent plastic projection of the same rule, and a static one."""
    net = ns.Network(dt=0.1, device=device, seed=seed)
    src = net.add_population(30, ns.PoissonSource(rate=50.0), name="src")
    pop = net.add_population(12, ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=10.0,
                                        tau_refrac=1.0, synapse="delta"), name="pop")
    net.connect(src, pop, ns.FixedProbability(0.5), weight=ns.Uniform(0.5, 2.0), delay=delay,
                name="ff", plasticity=rule)
    net.connect(pop, pop, ns.FixedProbability(0.3), weight=0.5, delay=delay, name="rec",
                plasticity=rule)
    net.connect(pop, pop, ns.FixedProbability(0.2), weight=-1.0, delay=1.0,
                receptor="inhibitory")
    return net, dict(spikes=net.record_spikes(pop))


def portable_state(net) -> list:
    """The portable form of each plastic projection, now (names without the prefix)."""
    engine = net._ensure_built()
    return [{k[len(P.PREFIX):]: a for k, a in P.export(rt).items()}
            for rt in engine.plastic if P.is_projection(rt)]


def _reward(net):
    for proj in net.projections:
        if isinstance(proj.plasticity, ns.RewardSTDP):
            proj.plasticity.deliver_reward(0.8)
            return


def _equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("delay", DELAYS, ids=list(DELAYS))
@pytest.mark.parametrize("rule", RULES, ids=list(RULES))
def test_portable_forms_of_both_backends_agree(rule, delay):
    forms = []
    for device in ("cpu", "cuda:host"):
        net, _ = net_for(device, RULES[rule](), DELAYS[delay])
        net.run(23.7)
        _reward(net)
        net.run(13.6)
        forms.append(portable_state(net))
    assert forms[0][0]["spikes.step"].size                # spikes in flight are compared
    for cpu, host in zip(*forms):
        if rule not in DEFERRED + LIBM:
            _equal(cpu, host)
            continue
        if rule in LIBM:
            assert cpu.keys() == host.keys()
            for k in cpu:
                if k in ("w", "c"):
                    np.testing.assert_allclose(cpu[k], host[k], rtol=0, atol=1e-6, err_msg=k)
                else:
                    np.testing.assert_array_equal(cpu[k], host[k], err_msg=k)
            continue
        assert cpu.keys() == host.keys()
        for k in ("form", "step", "post.y", "spikes.step", "spikes.pre"):
            np.testing.assert_array_equal(cpu[k], host[k], err_msg=k)
        # float64 settling against float32 pair by pair: a few float32 roundings; the float32
        # traces decay by a rounded factor each step, the float64 ones by exp(-k dt / tau):
        # apart by about one rounding per step since the last spike
        np.testing.assert_allclose(cpu["w"], host["w"], rtol=0, atol=2e-6)
        np.testing.assert_allclose(cpu["pre.x"], host["pre.x"], rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("pair", [("cpu", "cuda:host"), ("cuda:host", "cpu")],
                         ids=["cpu-to-host", "host-to-cpu"])
@pytest.mark.parametrize("delay", DELAYS, ids=list(DELAYS))
@pytest.mark.parametrize("rule", RULES, ids=list(RULES))
def test_continue_on_the_other_backend(rule, delay, pair, tmp_path):
    src, dst = pair
    make = lambda device: net_for(device, RULES[rule](), DELAYS[delay])   # noqa: E731
    ref, ref_mons = make(src)
    ref.run(40.0)
    _reward(ref)
    ref.run(60.0)
    net, _ = make(src)
    net.run(40.0)
    _reward(net)
    saved = portable_state(net)
    net.save(tmp_path / "x.npz", monitors=True)
    loaded = ns.load(tmp_path / "x.npz", device=dst)
    assert loaded.backend == ("numpy" if dst == "cpu" else dst)
    for got, want in zip(portable_state(loaded), saved):   # the saved form, exactly
        _equal(got, want)
    loaded.run(60.0)
    mons = dict(zip(ref_mons, loaded.monitors))
    if rule not in DEFERRED + LIBM:
        assert_same(mons, ref_mons)
        for p, q in zip(loaded.projections, ref.projections):
            np.testing.assert_array_equal(p.weights, q.weights, err_msg=p.name)
        return
    # weights within a few float32 roundings, spike counts close
    for p, q in zip(loaded.projections, ref.projections):
        np.testing.assert_allclose(p.weights, q.weights, rtol=0, atol=1e-4, err_msg=p.name)
    n_ref, n_got = ref_mons["spikes"].num_spikes, mons["spikes"].num_spikes
    assert n_ref > 20 and abs(n_got - n_ref) <= 0.1 * n_ref


def test_stdp_network_with_homeostasis_crosses_both_ways(tmp_path):
    """state_nets.plastic: deferred STDP with per-synapse delays, an adaptive threshold and
    rate-driven scaling, saved on each backend, continued on the other and back."""
    ref, ref_mons = plastic("cpu")
    ref.run(150.0)
    net, _ = plastic("cpu")
    net.run(50.0)
    net.save(tmp_path / "a.npz", monitors=True)
    host = ns.load(tmp_path / "a.npz", device="cuda:host")
    host.run(50.0)
    host.save(tmp_path / "b.npz", monitors=True)
    back = ns.load(tmp_path / "b.npz", device="cpu")
    for got, want in zip(portable_state(back), portable_state(host)):
        _equal(got, want)
    back.run(50.0)
    w, w_ref = back.projections[0].weights, ref.projections[0].weights
    assert np.max(np.abs(w - w_ref)) < 1e-3
    counts = [m.num_spikes for m in (back.monitors[0], ref_mons["pop"])]
    assert counts[1] > 100 and abs(counts[0] - counts[1]) <= 0.05 * counts[1]


@pytest.mark.parametrize("pair", [("cpu", "cuda:host"), ("cuda:host", "cpu")],
                         ids=["cpu-to-host", "host-to-cpu"])
def test_reward_triplet_and_homeostasis_cross(pair, tmp_path):
    """test_checkpoint.rules_net (reward and triplet STDP with per-synapse delays, intrinsic
    plasticity, total-form scaling), a reward delivered before saving: triplet and static
    weights exactly, reward weights within float32 roundings (exp against expf), spikes alike
    (the same in this run)."""
    from test_checkpoint import rules_net
    src, dst = pair

    def reward(net):
        net.projections[0].plasticity.deliver_reward(0.5)
    ref, ref_mons = rules_net(src)
    net, _ = rules_net(src)
    for n in (ref, net):
        n.run(73.4)
        reward(n)
    ref.run(200.0)
    net.save(tmp_path / "r.npz", monitors=True)
    loaded = ns.load(tmp_path / "r.npz", device=dst)
    loaded.run(200.0)
    reward_w, *others = zip(loaded.projections, ref.projections)
    np.testing.assert_allclose(reward_w[0].weights, reward_w[1].weights, rtol=0, atol=1e-6)
    for p, q in others:
        np.testing.assert_array_equal(p.weights, q.weights, err_msg=p.name)
    for name, m in zip(ref_mons, loaded.monitors):
        if isinstance(m, ns.SpikeMonitor):
            n_ref = ref_mons[name].num_spikes
            assert n_ref > 50 and abs(m.num_spikes - n_ref) <= 0.02 * n_ref, name


def test_saving_leaves_a_lazy_runtime_as_it_was():
    net, _ = net_for("cpu", RULES["stdp-all-add"](), DELAYS["per-synapse"])
    net.run(31.2)
    rt = net._ensure_built().plastic[0]
    before = {k: np.array(getattr(rt, k), copy=True) for k in ("w", "X", "t0", "v", "Z")}
    T = rt.T
    first, second = portable_state(net), portable_state(net)
    for a, b in zip(first, second):
        _equal(a, b)
    assert rt.T == T
    for k, a in before.items():
        np.testing.assert_array_equal(getattr(rt, k), a, err_msg=k)


def test_every_device_continues_from_the_cpu_and_back(device, tmp_path):
    """cpu -> device -> cpu (on a GPU too: ring sums in any order, so compared statistically)."""
    for rule in ("triplet-all", "stdp-all-add", "reward-nearest"):
        ref, ref_mons = net_for("cpu", RULES[rule](), DELAYS["per-synapse"])
        ref.run(90.0)
        net, _ = net_for("cpu", RULES[rule](), DELAYS["per-synapse"])
        net.run(30.0)
        for k, dst in enumerate((device, "cpu")):
            saved = portable_state(net)
            net.save(tmp_path / f"{rule}{k}.npz", monitors=True)
            net = ns.load(tmp_path / f"{rule}{k}.npz", device=dst)
            for got, want in zip(portable_state(net), saved):
                _equal(got, want)
            net.run(30.0)
        for p, q in zip(net.projections, ref.projections):
            np.testing.assert_allclose(p.weights, q.weights, rtol=0, atol=1e-3, err_msg=rule)
        n_ref, n_got = ref_mons["spikes"].num_spikes, net.monitors[0].num_spikes
        assert abs(n_got - n_ref) <= 0.1 * n_ref, rule


@pytest.mark.parametrize("rule", ["stdp-all-add", "stdp-all-mult", "reward-all"])
def test_frozen_learning_and_empty_projection_cross(rule, tmp_path):
    """Learning switched off when saving (on again after loading), and a plastic projection
    without synapses, on the other backend."""
    def make(device):
        net, mons = net_for(device, RULES[rule](), DELAYS["per-synapse"])
        pops = net.populations
        net.connect(pops[0], pops[1], ns.FixedProbability(0.0), weight=1.0, name="empty",
                    plasticity=RULES[rule]())
        return net, mons
    for src, dst in (("cpu", "cuda:host"), ("cuda:host", "cpu")):
        ref, ref_mons = make(src)
        net, _ = make(src)
        for n in (ref, net):
            n.run(20.0)
            n.projections[0].plasticity.enabled = False
            n.run(15.0)
        net.save(tmp_path / "f.npz", monitors=True)
        net = ns.load(tmp_path / "f.npz", device=dst)
        assert not net.projections[0].plasticity.enabled
        assert net.projections[3].weights.size == 0
        for n in (ref, net):
            n.run(10.0)
            n.projections[0].plasticity.enabled = True
            n.run(25.0)
        for p, q in zip(net.projections, ref.projections):
            np.testing.assert_allclose(p.weights, q.weights, rtol=0, atol=1e-4, err_msg=p.name)
        if rule not in DEFERRED + LIBM:
            assert_same(dict(zip(ref_mons, net.monitors)), ref_mons)


# -- bad portable entries ---------------------------------------------------------------------------

def _entries(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(arrays.pop(MANIFEST).tobytes().decode()), arrays


def _rewrite(manifest, arrays, out):
    text = json.dumps(manifest).encode()
    np.savez(out, **arrays, **{MANIFEST: np.frombuffer(text, np.uint8)})
    return out


@pytest.fixture(scope="module")
def saved_files(tmp_path_factory):
    out = {}
    for rule in ("stdp-reduced-add", "stdp-all-add", "reward-nearest", "triplet-all"):
        net, _ = net_for("cpu", RULES[rule](), DELAYS["per-synapse"])
        net.run(30.0)
        path = tmp_path_factory.mktemp("p") / f"{rule}.npz"
        net.save(path)
        out[rule] = path
    return out


def _bad(changes, rule="stdp-reduced-add"):
    key = "state/plastic0/portable/"

    def case(files, tmp_path, match, device="cuda:host"):
        m, arrays = _entries(files[rule])
        for name, value in changes.items():
            if value is None:
                del arrays[key + name]
                del m["state"]["plastic0/portable/" + name]
            else:
                if key + name not in arrays:
                    m["state"]["plastic0/portable/" + name] = {"array": key + name}
                arrays[key + name] = value(arrays.get(key + name))
        out = _rewrite(m, arrays, tmp_path / "bad.npz")
        with pytest.raises(ns.CheckpointError, match=match) as info:
            ns.load(out, device=device)
        assert "bad.npz" in str(info.value) and "portable state" in str(info.value)
    return case


def _set(index, value):
    def change(a):
        a = a.copy()
        a[index] = value
        return a
    return change


BAD = {
    "dtype": (dict(w=lambda a: a.astype(np.float64)), r"'w' must have dtype float32"),
    "shape": (dict(w=lambda a: a[:-1]), r"'w' must have shape"),
    "bounds": (dict(w=_set(0, 7.5)), r"'w' must lie in \[w_min, w_max\] = \[0.0, 3.0\]"),
    "nan trace": (dict(**{"pre.x": _set((-1, 0), np.nan)}), r"'pre.x' holds non-finite"),
    "negative trace": (dict(**{"post.y": _set(0, -1.0)}), r"trace 'post.y' must be >= 0"),
    "trace rows": (dict(**{"pre.x": lambda a: a[1:]}), r"'pre.x' must have shape"),
    "spike step": (dict(**{"post.last": _set(0, 10 ** 6)}),
                   r"'post.last' must hold spike steps in \[0, 300\)"),
    "spike step row": (dict(**{"pre.last": _set((0, 0), 299)}),
                       r"'pre.last' must hold spike steps in \[0, 300\), at most its row's"),
    "spike pre": (dict(**{"spikes.pre": _set(0, 99)}),
                  r"'spikes.pre' must hold indices in \[0, 30\)"),
    "spikes unsorted": (dict(**{"spikes.step": lambda a: a[::-1].copy(),
                                "spikes.pre": lambda a: a[::-1].copy()}),
                        r"must list spikes in flight .* sorted by step and neuron"),
    "old spike": (dict(**{"spikes.step": _set(0, 3)}), r"must list spikes in flight"),
    "missing": (dict(**{"post.prev": None}), r"'post.prev' is missing"),
    "unknown": (dict(surprise=lambda a: np.zeros(3, np.float32)),
                r"unknown entries \['surprise'\] for the 'stdp' form"),
    "step": (dict(step=lambda a: np.array(5, np.int64)), r"'step' is 5, but the network is "
                                                          r"at step 300"),
    "form": (dict(form=lambda a: np.array("triplet")), r"'form' is 'triplet', but the "
                                                       r"projection's rule STDP has the form"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_portable_entries(saved_files, tmp_path, case):
    changes, match = BAD[case]
    _bad(changes)(saved_files, tmp_path, match)


def test_bad_portable_entries_of_other_forms(saved_files, tmp_path):
    _bad(dict(t1=_set(0, 10 ** 6)), "reward-nearest")(
        saved_files, tmp_path, r"'t1' must hold steps in \[-1, 300\)")
    _bad({"dopamine.step": lambda a: np.array(400, np.int64)}, "reward-nearest")(
        saved_files, tmp_path, r"'dopamine.step' must be in \[-1, 300\)")
    _bad({"pre.r2": lambda a: a.astype(np.float64)}, "triplet-all")(
        saved_files, tmp_path, r"'pre.r2' must have dtype float32")
    _bad({"spikes.step": lambda a: np.concatenate([a, a[-1:]]),
          "spikes.pre": lambda a: np.concatenate([a, a[-1:]])}, "triplet-all")(
        saved_files, tmp_path, r"sorted by step and neuron, once each")


def test_portable_entries_are_checked_on_the_same_backend_too(saved_files, tmp_path):
    _bad(dict(w=_set(0, -1.0)), "stdp-all-add")(
        saved_files, tmp_path, r"'w' must lie in", device="cpu")
