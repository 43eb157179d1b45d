"""The README's PyNN, Neo and NIR snippets run as written (each skips without its package)."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _block(marker):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"expected one README snippet containing {marker!r}"
    return found[0]


def _run(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    return namespace


def test_readme_pynn_snippet(tmp_path, monkeypatch):
    pytest.importorskip("pyNN")
    ns_ = _run(_block("import neurosim.pynn as sim"), tmp_path, monkeypatch)
    seg = ns_["block"].segments[0]
    assert len(seg.spiketrains) == 10 and all(len(st) > 0 for st in seg.spiketrains)
    assert seg.filter(name="v")[0].shape == (1001, 10)


def test_readme_neo_snippet(tmp_path, monkeypatch):
    pytest.importorskip("neo")
    pytest.importorskip("nixio")
    ns_ = _run(_block("spikes.to_neo()"), tmp_path, monkeypatch)
    assert len(ns_["trains"]) == 100 and (tmp_path / "run.nix").exists()


def test_readme_nir_snippet(tmp_path, monkeypatch, capsys):
    pytest.importorskip("nir")
    ns_ = _run(_block("ns.nir.export"), tmp_path, monkeypatch)
    assert (tmp_path / "net.nir").exists()
    assert ns_["model"].outputs["out:out"].num_spikes > 0
