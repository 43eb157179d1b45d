"""The GitHub workflows (.github/workflows/*.yml) parse, have the keys GitHub needs, and every
``run:`` command refers to files, commands, extras and markers that exist in this repository.

PyYAML is not a dependency: a small reader for the YAML subset the workflows use lives here
(block mappings and sequences, flow lists, quoted and plain scalars, ``|`` block scalars,
comments). Each check runs with that reader, and with PyYAML too where it happens to be
installed; the two must agree.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from neurosim import cli

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


# ---------------------------------------------------------------------- minimal YAML reader
class MiniYAMLError(ValueError):
    pass


def _strip_comment(text: str) -> str:
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def _split_key(text: str) -> tuple[str, str] | None:
    """'key: value' -> ('key', 'value'); None when the text is not a mapping entry."""
    if text[:1] in "'\"":
        end = text.find(text[0], 1)
        if end > 0 and text[end + 1:end + 2] == ":" and text[end + 2:end + 3] in ("", " "):
            return text[1:end], text[end + 2:].strip()
        return None
    match = re.match(r"([^\s:#'\"\[\]{},][^:#]*?)\s*:(?:\s+(.*)|$)", text)
    return (match.group(1), (match.group(2) or "").strip()) if match else None


def _scalar(text: str, lineno: int):
    text = _strip_comment(text)
    if text[:1] in "'\"":
        if len(text) < 2 or text[-1] != text[0]:
            raise MiniYAMLError(f"line {lineno}: unterminated quoted scalar {text!r}")
        return text[1:-1].replace("''", "'") if text[0] == "'" else text[1:-1]
    if text.startswith("["):
        if not text.endswith("]"):
            raise MiniYAMLError(f"line {lineno}: unterminated flow sequence {text!r}")
        inner = text[1:-1].strip()
        return [_scalar(part.strip(), lineno) for part in inner.split(",")] if inner else []
    if text == "{}":
        return {}
    if text.startswith(("{", ">", "&", "*", "!")):
        raise MiniYAMLError(f"line {lineno}: {text[0]!r} is outside the supported YAML subset")
    if text in ("", "~", "null"):
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


class _Reader:
    def __init__(self, text: str):
        if "\t" in text:
            raise MiniYAMLError("tabs are not allowed for indentation")
        self.lines = text.splitlines()
        self.i = 0

    def peek(self) -> tuple[int, str] | None:
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            body = _strip_comment(raw.strip()) if raw.strip() else ""
            if body and body != "---":
                return len(raw) - len(raw.lstrip(" ")), body
            self.i += 1
        return None

    def node(self, indent: int):
        head = self.peek()
        if head is None:
            return None
        if head[1] == "-" or head[1].startswith("- "):
            return self.sequence(head[0])
        return self.mapping(head[0])

    def mapping(self, indent: int) -> dict:
        out: dict = {}
        while (head := self.peek()) is not None and head[0] >= indent:
            if head[0] > indent:
                raise MiniYAMLError(f"line {self.i + 1}: unexpected indentation")
            if head[1] == "-" or head[1].startswith("- "):
                break
            entry = _split_key(head[1])
            if entry is None:
                raise MiniYAMLError(f"line {self.i + 1}: expected 'key: value', got {head[1]!r}")
            key, rest = entry
            if key in out:
                raise MiniYAMLError(f"line {self.i + 1}: duplicate key {key!r}")
            self.i += 1
            out[key] = self.value(rest, indent)
        return out

    def value(self, rest: str, indent: int):
        if rest in ("|", "|-", "|+"):
            return self.block_scalar(indent, rest)
        if rest:
            return _scalar(rest, self.i)
        head = self.peek()
        if head is None or head[0] < indent:
            return None
        if head[0] == indent:
            is_item = head[1] == "-" or head[1].startswith("- ")
            return self.sequence(indent) if is_item else None
        return self.node(head[0])

    def sequence(self, indent: int) -> list:
        items = []
        while (head := self.peek()) is not None and head[0] == indent and (
                head[1] == "-" or head[1].startswith("- ")):
            body = head[1][1:].lstrip()
            if not body:
                self.i += 1
                nxt = self.peek()
                items.append(self.node(nxt[0]) if nxt and nxt[0] > indent else None)
            elif _split_key(body) is not None:
                column = indent + len(head[1]) - len(body)
                self.lines[self.i] = " " * column + body  # the item's first key, re-indented
                items.append(self.mapping(column))
            else:
                self.i += 1
                items.append(_scalar(body, self.i))
        return items

    def block_scalar(self, indent: int, indicator: str) -> str:
        lines = []
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            if raw.strip() and len(raw) - len(raw.lstrip(" ")) <= indent:
                break
            lines.append(raw)
            self.i += 1
        body = [line for line in lines if line.strip()]
        cut = min((len(line) - len(line.lstrip(" ")) for line in body), default=0)
        text = "\n".join(line[cut:] for line in lines).rstrip("\n")
        if indicator == "|-":
            return text
        return text + "\n" if text else ""


def parse_yaml_subset(text: str):
    reader = _Reader(text)
    head = reader.peek()
    result = reader.node(head[0]) if head else None
    if reader.peek() is not None:
        raise MiniYAMLError(f"line {reader.i + 1}: unexpected content {reader.peek()[1]!r}")
    return result


def _load_pyyaml(text: str):
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(text)


LOADERS = {"mini": parse_yaml_subset, "pyyaml": _load_pyyaml}


def _normalise(node):
    """PyYAML (YAML 1.1) reads the key `on` as True: map it back."""
    if isinstance(node, dict):
        return {("on" if k is True else k): _normalise(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_normalise(v) for v in node]
    return node


# ------------------------------------------------------------------------------- repository
def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def check_command(line: str, project: dict) -> list[str]:
    """Problems with one shell command of a `run:` step (empty when it is fine)."""
    words = shlex.split(line)
    if not words:
        return []
    problems = []
    prog, args = words[0], words[1:]
    if prog == "python" and args[:1] == ["-m"]:
        prog, args = args[1], args[2:]
    if prog.startswith("neurosim."):
        if importlib.util.find_spec(prog) is None:
            problems.append(f"{line!r}: module {prog!r} is not part of neurosim")
        return problems
    if prog == "bash":
        script = args[0] if args else ""
        if not (ROOT / script).is_file():
            problems.append(f"{line!r}: {script!r} is not a file in the repository")
    elif prog == "python":
        if not args or not (ROOT / args[0]).is_file():
            problems.append(f"{line!r}: the script is not a file in the repository")
    elif prog == "pip":
        extras_known = set(project["project"].get("optional-dependencies", {}))
        for word in args:
            match = re.fullmatch(r"\.\[([\w,-]+)\]", word)
            if match:
                unknown = set(match.group(1).split(",")) - extras_known
                if unknown:
                    problems.append(f"{line!r}: unknown extra(s) {sorted(unknown)}")
    elif prog == "pytest":
        markers = {m.split(":")[0].strip()
                   for m in project["tool"]["pytest"]["ini_options"].get("markers", [])}
        for flag, value in zip(args, args[1:]):
            if flag == "-m" and value not in markers:
                problems.append(f"{line!r}: marker {value!r} is not registered in pyproject")
    elif prog == "neurosim":
        script = project["project"].get("scripts", {}).get("neurosim")
        if script != "neurosim.cli:main":
            problems.append(f"{line!r}: pyproject has no `neurosim = \"neurosim.cli:main\"` script")
        try:
            cli.build_parser().parse_args(args)
        except SystemExit:
            problems.append(f"{line!r}: `neurosim` rejects these arguments")
    else:
        problems.append(f"{line!r}: unknown command {prog!r} (teach this test about it)")
    return problems


def _commands(script: str) -> list[str]:
    out = []
    for line in script.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.extend(part.strip() for part in re.split(r"&&|;", line) if part.strip())
    return out


STEP_KEYS = {"name", "id", "uses", "run", "with", "env", "if", "shell", "continue-on-error",
             "timeout-minutes", "working-directory"}
JOB_KEYS = {"name", "runs-on", "steps", "timeout-minutes", "env", "if", "needs", "strategy",
            "permissions", "concurrency", "defaults", "outputs", "services", "container",
            "continue-on-error", "environment"}
TOP_KEYS = {"name", "run-name", "on", "jobs", "env", "permissions", "concurrency", "defaults"}


def check_workflow(wf, project: dict) -> list[str]:
    problems = []
    if not isinstance(wf, dict):
        return [f"top level is {type(wf).__name__}, not a mapping"]
    wf = _normalise(wf)
    problems += [f"unknown top-level key {k!r}" for k in set(wf) - TOP_KEYS]
    problems += [f"missing top-level key {k!r}" for k in ("name", "on", "jobs") if k not in wf]
    if not isinstance(wf.get("on"), (dict, list, str)):
        problems.append("'on' must name at least one event")
    jobs = wf.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        return problems + ["'jobs' must be a non-empty mapping"]
    for job_id, job in jobs.items():
        where = f"jobs.{job_id}"
        if not isinstance(job, dict):
            problems.append(f"{where}: not a mapping")
            continue
        problems += [f"{where}: unknown key {k!r}" for k in set(job) - JOB_KEYS]
        if not isinstance(job.get("runs-on"), (str, list)) or not job.get("runs-on"):
            problems.append(f"{where}: missing 'runs-on'")
        steps = job.get("steps")
        if not isinstance(steps, list) or not steps:
            problems.append(f"{where}: missing 'steps'")
            continue
        for i, step in enumerate(steps):
            here = f"{where}.steps[{i}]"
            if not isinstance(step, dict):
                problems.append(f"{here}: not a mapping")
                continue
            problems += [f"{here}: unknown key {k!r}" for k in set(step) - STEP_KEYS]
            if ("uses" in step) == ("run" in step):
                problems.append(f"{here}: needs exactly one of 'uses' and 'run'")
            if "uses" in step and not re.fullmatch(r"[\w.-]+/[\w./-]+@[\w.-]+", str(step["uses"])):
                problems.append(f"{here}: 'uses' must be owner/action@version, got {step['uses']!r}")
            if "run" in step:
                for command in _commands(str(step["run"])):
                    problems += [f"{here}: {p}" for p in check_command(command, project)]
    return problems


def _load(name: str, loader: str):
    return _normalise(LOADERS[loader]((WORKFLOWS / name).read_text(encoding="utf-8")))


def _runs(wf) -> list[str]:
    return [c for job in wf["jobs"].values() for s in job["steps"] if "run" in s
            for c in _commands(s["run"])]


def _uses(wf) -> list[dict]:
    return [s for job in wf["jobs"].values() for s in job["steps"] if "uses" in s]


# ------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("name", ["gpu.yml", "cpu.yml"])
def test_workflow_is_valid(name, loader):
    assert check_workflow(_load(name, loader), _pyproject()) == []


@pytest.mark.parametrize("name", ["gpu.yml", "cpu.yml"])
def test_readers_agree(name):
    pytest.importorskip("yaml")
    assert _load(name, "mini") == _load(name, "pyyaml")


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_gpu_workflow_steps(loader):
    wf = _load("gpu.yml", loader)
    (job,) = wf["jobs"].values()
    assert {"self-hosted", "gpu"} <= set(job["runs-on"])
    uses = [s["uses"].split("@")[0] for s in _uses(wf)]
    assert uses[:2] == ["actions/checkout", "actions/setup-python"]
    assert "actions/upload-artifact" in uses
    runs = _runs(wf)
    assert 'python -m pip install -e ".[cuda12,test]"' in runs
    # the probe and NVRTC's compile check come before the GPU tests: on a runner that has only
    # the driver, a missing NVRTC or header fails there, named, not in the middle of the tests
    order = ["neurosim info", "python -m neurosim.backends.probe",
             "python -m neurosim.backends.nvrtc_check --route nvrtc", "python -m pytest -m gpu -v",
             "neurosim bench --device all --output reports/"]
    assert [runs.index(c) for c in order] == sorted(runs.index(c) for c in order)
    upload = next(s for s in _uses(wf) if s["uses"].startswith("actions/upload-artifact"))
    assert "reports/" in upload["with"]["path"].split()
    assert upload.get("if") == "always()"
    assert "pull_request" not in wf["on"]  # a self-hosted runner must not run fork code


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_cpu_workflow_steps(loader):
    wf = _load("cpu.yml", loader)
    (job,) = wf["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    runs = _runs(wf)
    assert runs.index("bash .ci/run") < runs.index(
        "neurosim bench --quick --device cpu --output reports/")
    upload = next(s for s in _uses(wf) if s["uses"].startswith("actions/upload-artifact"))
    assert "reports/" in upload["with"]["path"].split()


def test_python_version_satisfies_requires_python():
    floor = re.fullmatch(r">=\s*(\d+)\.(\d+)", _pyproject()["project"]["requires-python"])
    for name in ("gpu.yml", "cpu.yml"):
        setup = next(s for s in _uses(_load(name, "mini"))
                     if s["uses"].startswith("actions/setup-python"))
        major, minor = map(int, str(setup["with"]["python-version"]).split(".")[:2])
        assert (major, minor) >= (int(floor.group(1)), int(floor.group(2)))


# --------------------------------------------------------------- the checker catches errors
def test_checker_catches_broken_workflows():
    project = _pyproject()
    broken = parse_yaml_subset(
        "name: x\n"
        "on: push\n"
        "jobs:\n"
        "  a:\n"
        "    steps:\n"
        "      - run: bash .ci/missing\n"
        "      - run: neurosim bench --device gpu\n"
        "      - run: pip install -e \".[nosuchextra]\"\n"
        "      - run: pytest -m nosuchmarker\n"
        "      - run: python -m neurosim.backends.nosuchmodule\n"
        "      - uses: actions/checkout\n"
        "      - name: neither\n")
    problems = "\n".join(check_workflow(broken, project))
    for expected in ("missing 'runs-on'", "'.ci/missing' is not a file",
                     "`neurosim` rejects these arguments", "unknown extra(s) ['nosuchextra']",
                     "marker 'nosuchmarker' is not registered", "owner/action@version",
                     "module 'neurosim.backends.nosuchmodule' is not part of neurosim",
                     "needs exactly one of 'uses' and 'run'"):
        assert expected in problems
    assert "missing top-level key 'jobs'" in check_workflow({"name": "x", "on": "push"}, project)


def test_mini_reader_subset():
    text = ("# comment\n"
            "a: 1  # trailing comment\n"
            "b: 'it''s'\n"
            "c: [x, \"y z\"]\n"
            "d:\n"
            "- p\n"
            "- q: 1\n"
            "  r: true\n"
            "e: |\n"
            "  line one\n"
            "\n"
            "  line two\n"
            "f:\n"
            "g: \"#not a comment\"\n")
    assert parse_yaml_subset(text) == {"a": 1, "b": "it's", "c": ["x", "y z"],
                                       "d": ["p", {"q": 1, "r": True}],
                                       "e": "line one\n\nline two\n", "f": None,
                                       "g": "#not a comment"}
    for bad in ("a: 1\na: 2\n", "a:\n\tb: 1\n", "a: >\n  folded\n", "a: 1\n   b: 2\n"):
        with pytest.raises(MiniYAMLError):
            parse_yaml_subset(bad)
