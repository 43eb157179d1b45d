"""The README's example runs as written, and its quick start has exactly two commands."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(capsys):
    text = README.read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    block = block.replace('device="auto"', 'device="cpu"')
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    spikes, vm = namespace["spikes"], namespace["vm"]
    assert spikes.num_spikes > 0
    assert vm.values.shape == (1500, 3)
    assert namespace["net"].t == 1500.0


def test_readme_learning_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    namespace = {}
    exec(compile(blocks[1].replace("net.run(1000.0)", "net.run(200.0)"), "README.md", "exec"),
         namespace)
    w = namespace["w"]
    assert w.shape == (1000,) and w.min() >= 0.0 and w.max() <= 0.6


def test_quick_start_has_two_commands():
    text = README.read_text()
    quick = re.search(r"## Quick start\n\n```bash\n(.*?)```", text, re.S).group(1)
    commands = [line for line in quick.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "pytest" in commands[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pytest" in ci and "[test]" in ci


def test_readme_own_model_example_runs():
    """The "Your own model" example, as written (device="cpu")."""
    text = README.read_text()
    section = text[text.index("### Your own model"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    spikes, w = namespace["spikes"], namespace["w"]
    assert 5.0 < spikes.mean_rate() < 50.0 and w.values.shape == (500, 100)
    assert float(w.values[-1].mean()) > 0.0              # spikes raised the adaptation current
    assert type(namespace["cells"].model).__name__ == "my_adaptive_lif"


def test_readme_closed_loop_example_runs():
    """The closed-loop protocol of the Learning section, as written: a silent presentation is
    repeated brighter (more than the 3 x 500 + 200 ms of one presentation per image)."""
    text = README.read_text()
    section = text[text.index("### Closed-loop protocols"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    net, spikes = namespace["net"], namespace["spikes"]
    assert net.t > 3 * 500.0 + 200.0
    assert spikes.num_spikes >= 15
    theta, w = namespace["theta"], namespace["w"]
    assert theta.shape == (10,) and np.all(theta >= 0.0) and np.any(theta > 0.0)
    assert w.shape == (640,) and 0.0 <= w.min() and w.max() <= 1.0

def test_readme_own_rule_example_runs():
    """The "Your own plasticity rule" example, as written: the symmetric rule only ever
    strengthens (both orders of a pair potentiate), so no weight decreases."""
    text = README.read_text()
    section = text[text.index("### Your own plasticity rule"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert block.count("net.run(500.0)") == 1
    block = block.replace("net.run(500.0)", "w0 = syn.weights.copy(); net.run(500.0)")
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    syn, w, w0 = namespace["syn"], namespace["w"], namespace["w0"]
    assert w.shape == (200,) and w.max() <= 100.0
    assert (w >= w0).all() and (w > w0).sum() > 20
    assert type(syn.plasticity).__name__ == "DescribedRule"
    assert syn.plasticity.description.name == "symmetric_stdp"
