"""Checkpoints: run(a) -> save -> load -> run(b) equals run(a + b), spike for spike and state for
state, on each backend and across backends where the arithmetic is the same; every kind of bad
file is a clear CheckpointError naming the file and what is wrong, and never runs code."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import neurosim as ns
from neurosim.checkpoint import MANIFEST
from state_nets import assert_same, coba, lif_delta, plastic

DT = 0.1


def rules_net(device: str, seed: int = 11):
    """Reward-modulated and triplet STDP, intrinsic plasticity, total-form synaptic scaling,
    spike sources and per-neuron currents."""
    net = ns.Network(dt=DT, device=device, seed=seed)
    src = net.add_population(20, ns.PoissonSource(rate=40.0), name="src")
    times = [np.arange(1.0 + i * 0.3, 200.0, 7.0 + i) for i in range(6)]
    sched = net.add_population(6, ns.SpikeSource(times), name="sched")
    a = net.add_population(12, ns.LIF(tau_m=20.0, v_rest=0.0, v_reset=0.0, v_thresh=10.0,
                                      tau_refrac=1.0, synapse="delta"), name="a")
    b = net.add_population(8, ns.LIF(tau_m=15.0, v_rest=0.0, v_reset=0.0, v_thresh=8.0,
                                     tau_refrac=1.5, synapse="delta"), name="b")
    reward = ns.RewardSTDP(A_plus=0.05, A_minus=0.06, tau_c=50.0, tau_d=20.0, w_max=3.0)
    net.connect(src, a, ns.FixedProbability(0.6), weight=ns.Uniform(0.5, 2.0), delay=1.0,
                plasticity=reward, name="reward")
    net.connect(sched, b, ns.AllToAll(), weight=1.5, delay=ns.Uniform(0.2, 1.2), name="tri",
                plasticity=ns.TripletSTDP(A2_plus=0.01, A3_plus=0.02, A2_minus=0.015,
                                          A3_minus=0.0, w_max=3.0))
    net.connect(a, b, ns.FixedProbability(0.5), weight=1.0, delay=0.5, name="ab")
    net.add_homeostasis(a, ns.IntrinsicPlasticity(target_rate=10.0, interval=2.0, eta=2.0))
    net.add_homeostasis(b, ns.SynapticScaling(target_total=6.0, interval=5.0,
                                              projections=[net.projections[2]]))
    net.inject(a, ns.DCCurrent(np.linspace(0.0, 2.0, 12), start=5.0))
    mons = dict(a=net.record_spikes(a), b=net.record_spikes(b),
                v=net.record_state(b, "v", every=2), rate=net.record_rate(a, 2.0))
    return net, mons


def _final(net):
    state = {(p.name, v): net.get_state(p, v) for p in net.populations for v in p.state_names}
    return state, {pr.name: pr.weights for pr in net.projections}


def _assert_final_equal(net, ref):
    (s1, w1), (s2, w2) = _final(net), _final(ref)
    for k in s2:
        np.testing.assert_array_equal(s1[k], s2[k], err_msg=str(k))
    for k in w2:
        np.testing.assert_array_equal(w1[k], w2[k], err_msg=k)


def _roundtrip(build, dev_save, dev_load, a, b, tmp_path, between=None):
    ref, ref_mons = build(dev_save)
    ref.run(a)
    if between:
        between(ref)
    ref.run(b)
    net, mons = build(dev_save)
    net.run(a)
    if between:
        between(net)
    path = tmp_path / "net.ckpt"
    net.save(path, monitors=True)
    loaded = ns.load(path, device=dev_load)
    assert loaded.t == pytest.approx(a)
    loaded.run(b)
    assert_same(dict(zip(ref_mons, loaded.monitors)), ref_mons)
    _assert_final_equal(loaded, ref)
    net.run(b)                                   # saving does not perturb the saved network
    assert_same(mons, ref_mons)
    return loaded


@pytest.mark.parametrize("build", [lif_delta, coba, plastic], ids=["lif_delta", "coba", "plastic"])
def test_save_load_continue_equals_uninterrupted(device, build, tmp_path):
    loaded = _roundtrip(build, device, device, 60.0, 90.0, tmp_path)
    assert loaded.backend == ("numpy" if device == "cpu" else device)


def test_rules_and_reward_round_trip(device, tmp_path):
    def reward(net):
        net.projections[0].plasticity.deliver_reward(0.5)
    _roundtrip(rules_net, device, device, 73.4, 80.0, tmp_path, between=reward)


@pytest.mark.parametrize("pair", [("cpu", "cuda:host"), ("cuda:host", "cpu")],
                         ids=["cpu-to-host", "host-to-cpu"])
def test_loads_on_the_other_backend(pair, tmp_path):
    pytest.importorskip("neurosim.engine.cuda_engine")
    from neurosim.backends import host_build_status
    if not host_build_status()[0]:
        pytest.skip("cuda:host unavailable")
    _roundtrip(lif_delta, pair[0], pair[1], 50.0, 70.0, tmp_path)


def test_plastic_state_without_portable_form_is_a_clear_error(tmp_path):
    """A file without the portable plastic state (as written before it existed) loads only on
    the runtime that wrote it (tests/test_checkpoint_portable.py: files that have it)."""
    from neurosim.backends import host_build_status
    if not host_build_status()[0]:
        pytest.skip("cuda:host unavailable")
    net, _ = plastic("cpu")
    net.run(10.0)
    net.save(tmp_path / "p.npz")
    m, arrays = _entries(tmp_path / "p.npz")
    m["state"] = {k: v for k, v in m["state"].items() if "/portable/" not in k}
    arrays = {k: v for k, v in arrays.items() if "/portable/" not in k}
    old = _rewrite(tmp_path / "p.npz", m, arrays, tmp_path / "old.npz")
    ns.load(old, device="cpu").run(1.0)
    with pytest.raises(ns.CheckpointError, match=r"old\.npz.*StdpDeferredNumpy runtime but "
                                                 r"this network runs StdpCuda, and no portable "
                                                 r"state.*device it was saved"):
        ns.load(old, device="cuda:host")


def test_without_monitors_recordings_restart_at_the_checkpoint(tmp_path):
    ref, ref_mons = lif_delta("cpu")
    ref.run(100.0)
    net, _ = lif_delta("cpu")
    net.run(40.0)
    net.save(tmp_path / "n.npz")
    loaded = ns.load(tmp_path / "n.npz", device="cpu")
    spikes, v = loaded.monitors
    assert spikes.num_spikes == 0 and spikes.t_start == pytest.approx(40.0)
    loaded.run(60.0)
    keep = ref_mons["spikes"].steps >= 400
    np.testing.assert_array_equal(spikes.steps, ref_mons["spikes"].steps[keep])
    np.testing.assert_array_equal(spikes.indices, ref_mons["spikes"].indices[keep])
    np.testing.assert_array_equal(v.values, ref_mons["v"].values[400:])


def test_unbuilt_network_and_monitor_added_mid_run(tmp_path):
    net, _ = lif_delta("cpu")
    net.save(tmp_path / "fresh.npz")                # builds it
    ref, _ = lif_delta("cpu")
    ref.run(20.0)
    late_ref = ref.record_state(ref.populations[0], "v", indices=[3], every=7)
    ref.run(30.0)
    loaded = ns.load(tmp_path / "fresh.npz", device="cpu")
    loaded.run(20.0)
    late = loaded.record_state(loaded.populations[0], "v", indices=[3], every=7)
    loaded.save(tmp_path / "late.npz", monitors=True)
    again = ns.load(tmp_path / "late.npz", device="cpu")
    again.run(30.0)
    np.testing.assert_array_equal(again.monitors[-1].values, late_ref.values)
    np.testing.assert_array_equal(again.monitors[-1].times, late_ref.times)
    assert late.t_start == pytest.approx(20.0)


# -- bad files ----------------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    net, _ = plastic("cpu")
    net.run(20.0)
    path = tmp_path / "good.npz"
    net.save(path, monitors=True)
    return path


def _entries(path):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    manifest = json.loads(arrays.pop(MANIFEST).tobytes().decode())
    return manifest, arrays


def _rewrite(path, manifest, arrays, out):
    text = json.dumps(manifest).encode()
    np.savez(out, **arrays, **{MANIFEST: np.frombuffer(text, np.uint8)})
    return out


def _load_error(path, match):
    with pytest.raises(ns.CheckpointError, match=match) as info:
        ns.load(path, device="cpu")
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize("version, words", [(0, "an older checkpoint format .version 0."),
                                            (2, "a newer checkpoint format .version 2.*upgrade")])
def test_other_format_version(saved, tmp_path, version, words):
    m, arrays = _entries(saved)
    m["version"] = version
    _load_error(_rewrite(saved, m, arrays, tmp_path / "v.npz"), words)


def test_truncated_file(saved, tmp_path):
    data = saved.read_bytes()
    for cut in (len(data) // 2, len(data) - 100, 60):
        out = tmp_path / f"cut{cut}.npz"
        out.write_bytes(data[:cut])
        _load_error(out, "cannot be read|damaged or truncated")


def test_files_of_another_kind(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    _load_error(text, "not a neurosim checkpoint: it cannot be read as a NumPy .npz")
    other = tmp_path / "data.npz"
    np.savez(other, x=np.arange(3), y=np.ones(2))
    _load_error(other, r"not a neurosim checkpoint: it has no '__manifest__' entry "
                       r"\(entries: x, y\)")
    single = tmp_path / "one.npy"
    np.save(single, np.arange(3))
    _load_error(single, "one .npy array")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{MANIFEST: np.frombuffer(b'{"format": "other"}', np.uint8)})
    _load_error(wrong, "format 'other', expected 'neurosim-checkpoint'")


_UNPICKLED = []


def _mark_unpickled():
    _UNPICKLED.append(True)
    return 0


class _Payload:
    def __reduce__(self):
        return (_mark_unpickled, ())


def test_pickled_object_array_is_refused_unread(saved, tmp_path):
    m, arrays = _entries(saved)
    payload = np.array([_Payload(), 1], dtype=object)
    out = tmp_path / "evil.npz"
    arrays["projection0/weights"] = payload          # an entry the manifest names
    np.savez(out, **arrays, **{MANIFEST: np.frombuffer(json.dumps(m).encode(), np.uint8)},
             allow_pickle=True)
    _load_error(out, r"entry 'projection0/weights' holds Python objects .a pickled object array")
    assert not _UNPICKLED
    pickle.loads(pickle.dumps(_Payload()))            # the payload does run when unpickled
    assert _UNPICKLED


def test_entries_are_validated(saved, tmp_path):
    m, arrays = _entries(saved)
    g = next(k.split("/")[1] for k in arrays if k.endswith("/v") and k.startswith("state/"))
    bad = dict(arrays)
    bad[f"state/{g}/v"] = arrays[f"state/{g}/v"].astype(np.float64)
    _load_error(_rewrite(saved, m, bad, tmp_path / "a.npz"),
                rf"'{g}/v' must have dtype float32, got float64")
    bad = dict(arrays)
    bad[f"state/{g}/v"] = arrays[f"state/{g}/v"][:-1]
    _load_error(_rewrite(saved, m, bad, tmp_path / "b.npz"), rf"'{g}/v' must have shape")
    bad = dict(arrays)
    ref = arrays[f"state/{g}/ref_left"].copy()
    ref[0] = 10 ** 6
    bad[f"state/{g}/ref_left"] = ref
    _load_error(_rewrite(saved, m, bad, tmp_path / "c.npz"), rf"'{g}/ref_left' must lie in")
    bad = dict(arrays)
    pend = arrays["state/plastic0/pending.values"].copy()
    if pend.size:
        pend[0] = -1
        bad["state/plastic0/pending.values"] = pend
        _load_error(_rewrite(saved, m, bad, tmp_path / "d.npz"),
                    r"'pending.values' must hold indices in \[0, ")
    bad = dict(arrays)
    bad["projection0/sources"] = arrays["projection0/sources"].astype(np.int64)
    _load_error(_rewrite(saved, m, bad, tmp_path / "e.npz"),
                r"'projection0/sources' .projections\[0\].sources. has dtype int64; expected int32")
    for name in ("group99/v", "plastic0/surprise"):
        mk = json.loads(json.dumps(m))
        mk["state"][name] = {"array": "state/" + name}
        bad = dict(arrays, **{"state/" + name: np.zeros(3, np.float32)})
        _load_error(_rewrite(saved, mk, bad, tmp_path / "u.npz"),
                    rf"unknown (state entry '{name}'|entries \['surprise'\])")
    bad = dict(arrays)
    bad["extra"] = np.zeros(3)
    _load_error(_rewrite(saved, m, bad, tmp_path / "f.npz"), r"does not name: \['extra'\]")


def test_manifest_is_validated(saved, tmp_path):
    m, arrays = _entries(saved)
    cases = [
        (lambda d: d.update(surprise=1), r"manifest: unknown key\(s\) \['surprise'\]"),
        (lambda d: d["populations"][0].update(model="os.system"),
         r"populations\[0\]: unknown neuron model 'os.system'"),
        (lambda d: d["populations"][1]["params"].update(tau_m=-5.0),
         r"populations\[1\]: .*tau_m"),
        (lambda d: d["rules"][0].update(rule="Eval"), r"rules\[0\]: unknown rule 'Eval'"),
        (lambda d: d["projections"][0].update(pre=7), r"projections\[0\]: pre population index 7"),
        (lambda d: d["network"].update(steps_done=-3), r"'steps_done' must be >= 0"),
        (lambda d: d["network"].update(seed=d["network"]["seed"] + 1), r"random streams"),
        (lambda d: d["monitors"][0].update(kind="video"), r"unknown monitor kind 'video'"),
    ]
    for k, (change, match) in enumerate(cases):
        mk = json.loads(json.dumps(m))
        change(mk)
        _load_error(_rewrite(saved, mk, arrays, tmp_path / f"m{k}.npz"), match)
    out = tmp_path / "nan.npz"
    text = json.dumps(m).replace('"dt": 0.1', '"dt": NaN').encode()
    np.savez(out, **arrays, **{MANIFEST: np.frombuffer(text, np.uint8)})
    _load_error(out, "non-JSON constant NaN")


def test_save_arguments():
    net, _ = lif_delta("cpu")
    with pytest.raises(TypeError, match="monitors must be True or False, got 'yes'"):
        net.save("x.npz", monitors="yes")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        net.save(3)
    with pytest.raises(FileNotFoundError):
        ns.load("/nonexistent/dir/x.npz")


ADLIF = ns.NeuronModel(
    "ckpt_adlif",
    parameters={"tau_m": 20.0, "cm": 250.0, "v_rest": -70.0, "v_reset": -65.0,
                "v_thresh": -50.0, "tau_refrac": 2.0, "a": 0.5, "b": 20.0, "tau_w": 100.0,
                "tau_syn_E": 5.0, "tau_syn_I": 5.0},
    state={"v": "v_rest", "w": 0.0},
    update="""
        v += dt * ((v_rest - v) / tau_m + (I_syn + I_ext - w) / cm)
        w += dt * (a * (v - v_rest) - w) / tau_w
    """,
    threshold="v >= v_thresh", reset="v = v_reset; w += b",
    synapses={"excitatory": "current", "inhibitory": "current"},
    refractory="tau_refrac", hold="v = v_reset")


def _described(device):
    net = ns.Network(dt=0.1, device=device, seed=7)
    drive = net.add_population(40, ns.PoissonSource(rate=60.0), name="drive")
    cells = net.add_population(30, ADLIF(tau_w=150.0), name="cells",
                               initial={"v": ns.Uniform(-70.0, -55.0)})
    izh = net.add_population(20, ns.Izhikevich.preset("RS"), name="izh")
    net.connect(drive, cells, ns.FixedProbability(0.3), weight=60.0, delay=1.0)
    net.connect(cells, izh, ns.FixedProbability(0.3), weight=8.0, delay=2.0)
    mons = [net.record_spikes(cells), net.record_spikes(izh)]
    return net, mons


@pytest.mark.parametrize("device", ["cpu", "cuda:host"])
def test_described_models_save_and_continue(tmp_path, device):
    """Populations of ns.NeuronModel descriptions (a user's and a built-in one) continue from
    a checkpoint exactly; the user's description is passed to load() as models=."""
    ref, ref_mons = _described(device)
    ref.run(300.0)
    net, _ = _described(device)
    net.run(120.0)
    path = tmp_path / "described.npz"
    net.save(path)
    with pytest.raises(ns.CheckpointError, match="ckpt_adlif"):
        ns.load(path, device=device)
    loaded = ns.load(path, device=device, models=[ADLIF])
    mons = [loaded.record_spikes(p) for p in loaded.populations[1:]]
    loaded.run(180.0)
    for m, r in zip(mons, ref_mons):
        t_ref = np.asarray(r.times)
        keep = t_ref > 120.0 + 1e-9
        np.testing.assert_array_equal(np.asarray(m.times), t_ref[keep])
        np.testing.assert_array_equal(np.asarray(m.indices), np.asarray(r.indices)[keep])
    assert sum(m.num_spikes for m in mons) > 0


def test_load_models_must_be_models(tmp_path):
    missing = tmp_path / "none.npz"                 # never opened: the argument comes first
    with pytest.raises(TypeError, match="models must be ns.NeuronModel descriptions"):
        ns.load(missing, models=["not a model"])
    with pytest.raises(TypeError, match="models must be a list"):
        ns.load(missing, models=ADLIF(tau_w=1.0))
