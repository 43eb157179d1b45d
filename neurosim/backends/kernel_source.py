"""Find, read and inline the CUDA kernel sources in ``kernels/``.

The ``.cu``/``.cuh``/``.h`` files live in the top-level ``kernels/`` folder of
the repository; an installed wheel ships them as the package
``neurosim.kernels`` (``pyproject.toml`` maps that package to ``kernels/``).
:func:`kernels_dir` finds them either way.

:func:`load_source` returns one self-contained source string, ready for
``cupy.RawModule(code=...)`` or the host build:

* every ``#include "name"`` of a local header is replaced by the header's text,
  recursively, so the source CuPy hashes for its compile cache changes whenever
  a header does, and NVRTC (which has no include path here) needs nothing else.
  Like ``#pragma once``, each header is inlined at its first ``#include`` only;
  ``#include <...>`` lines are left alone (only ``compat_host.h``, which NVRTC
  never sees, has them);
* ``#line N "path"`` directives before and after every inlined piece make
  compiler messages point at the real file and line.

:func:`kernel_names` parses the kernel signatures
(``extern "C" __global__ void name(type arg, ...)`` or ``NS_GLOBAL void ...``)
for the host launcher's argument checks.

Example::

    from neurosim.backends.cupy_options import RAWMODULE_OPTIONS
    from neurosim.backends.kernel_source import load_source, kernel_names
    code = load_source("random.cu")
    module = cupy.RawModule(code=code, options=RAWMODULE_OPTIONS)
    [name for name, _ in kernel_names(code)]   # ['philox_raw_fill', ...]
"""

from __future__ import annotations

import importlib.resources
import os
import re
from pathlib import Path

__all__ = [
    "KernelSourceError",
    "kernels_dir",
    "kernel_path",
    "list_kernel_files",
    "load_source",
    "inline_includes",
    "kernel_names",
    "strip_comments",
    "register_source",
]

_INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[^\n]*$')
_KERNEL_RE = re.compile(
    r'(?:extern\s*"C"\s*__global__|NS_GLOBAL|extern\s*"C"\s*__ns_kernel_marker__)'
    r"\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+"
    r"(?:__launch_bounds__\s*\([^)]*\)\s*)?"
    r"([A-Za-z_]\w*)\s*\(([^)]*)\)",
)
_ARG_NAME_RE = re.compile(r"^(.*?)([A-Za-z_]\w*)\s*$", re.S)
# words that end a type, never an argument name
_TYPE_WORDS = frozenset(
    "int long short char float double bool unsigned signed void const volatile "
    "__restrict__ __restrict".split()
)


class KernelSourceError(Exception):
    """A kernel file is missing, an include cannot be resolved, or a kernel
    signature cannot be parsed."""


def _checkout_kernels_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "kernels"


def kernels_dir() -> Path:
    """The folder holding the kernel sources.

    The installed package ``neurosim.kernels`` when it is importable (a wheel,
    or an editable install that maps it), else ``<repository>/kernels`` next to
    this source checkout. Raises :class:`KernelSourceError` if neither exists.
    """
    try:
        root = importlib.resources.files("neurosim.kernels")
        probe = root.joinpath("common.cuh")
        if probe.is_file():
            return Path(os.fspath(probe)).parent
    except (ModuleNotFoundError, TypeError, NotImplementedError):
        pass
    checkout = _checkout_kernels_dir()
    if (checkout / "common.cuh").is_file():
        return checkout
    raise KernelSourceError(
        "cannot find the neurosim kernel sources: neither the package "
        f"'neurosim.kernels' nor the checkout folder {checkout} holds common.cuh"
    )


def kernel_path(name: str | os.PathLike) -> Path:
    """Absolute path of a kernel file: ``name`` relative to :func:`kernels_dir`,
    or an existing path as is (for tests with temporary kernel files)."""
    path = Path(name)
    if not path.is_absolute():
        candidate = kernels_dir() / path
        path = candidate if candidate.is_file() or not path.is_file() else path
    path = path.resolve()
    if not path.is_file():
        raise KernelSourceError(
            f"kernel source {str(name)!r} not found (looked in {kernels_dir()})"
        )
    return path


def list_kernel_files() -> list[Path]:
    """Every ``*.cu`` file of :func:`kernels_dir`, sorted by name."""
    return sorted(kernels_dir().glob("*.cu"))


def _line_directive(line: int, display: str) -> str:
    escaped = display.replace("\\", "\\\\").replace('"', '\\"')
    return f'#line {line} "{escaped}"'


def _inline_text(text: str, display: str, folder: Path, seen: set[Path],
                 stack: list[Path], out: list[str]) -> None:
    """Append ``text`` to ``out`` with its local includes inlined; ``display``
    names it in ``#line`` directives, ``folder`` is where its includes are
    looked up first."""
    out.append(_line_directive(1, display))
    for number, line in enumerate(text.splitlines(), start=1):
        match = _INCLUDE_RE.match(line)
        if match is None:
            out.append(line)
            continue
        target = _resolve_include(match.group(1), folder, display)
        if target in stack:
            chain = " -> ".join(p.name for p in [*stack, target])
            raise KernelSourceError(f"{display}:{number}: include cycle {chain}")
        if target in seen:
            out.append(f"/* {match.group(1)}: already inlined above */")
            continue
        seen.add(target)
        stack.append(target)
        _inline_text(target.read_text(encoding="utf-8"), str(target), target.parent,
                     seen, stack, out)
        stack.pop()
        out.append(_line_directive(number + 1, display))


def _resolve_include(name: str, folder: Path, including: str) -> Path:
    for base in (folder, kernels_dir()):
        candidate = (base / name).resolve()
        if candidate.is_file():
            return candidate
    raise KernelSourceError(
        f'{including}: #include "{name}" not found next to it or in {kernels_dir()}'
    )


_GENERATED: dict[str, str] = {}


def register_source(name: str, code: str) -> None:
    """Make generated kernel source ``code`` (a neuron model's kernel, rendered from a template
    of :func:`kernels_dir`) loadable as ``load_source(name)``. Names should be content
    addressed (they key the loaders' caches): registering another source under a taken name is
    an error."""
    if _GENERATED.get(name, code) != code:
        raise KernelSourceError(f"generated kernel source {name!r} is already registered with "
                                f"other code")
    _GENERATED[name] = code


def load_source(name: str | os.PathLike) -> str:
    """The source of kernel file ``name`` with its local headers inlined.

    ``name`` is a file name in :func:`kernels_dir` (``"random.cu"``), a path, or the name of a
    generated source (:func:`register_source`).
    The result starts with ``#line 1 "<absolute path>"`` and restores the line
    numbering after each inlined header, so compiler errors name real files.
    """
    if str(name) in _GENERATED:
        out: list[str] = []
        _inline_text(_GENERATED[str(name)], str(name), kernels_dir(), set(), [], out)
        return "\n".join(out) + "\n"
    path = kernel_path(name)
    out: list[str] = []
    _inline_text(path.read_text(encoding="utf-8"), str(path), path.parent, {path}, [path], out)
    return "\n".join(out) + "\n"


def inline_includes(code: str, name: str = "<code>") -> str:
    """A source string with its local ``#include "..."`` inlined as
    :func:`load_source` does (looked up in :func:`kernels_dir`), its own lines
    named ``name`` in the ``#line`` directives. Code without local includes
    (such as :func:`load_source` output) comes back unchanged."""
    if not any(_INCLUDE_RE.match(line) for line in code.splitlines()):
        return code
    out: list[str] = []
    _inline_text(code, name, kernels_dir(), set(), [], out)
    return "\n".join(out) + "\n"


def strip_comments(source: str) -> str:
    """``source`` without ``//`` and ``/* */`` comments (string literals kept,
    newlines kept so line numbers stay valid)."""
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"', re.S)

    def replace(match: re.Match) -> str:
        text = match.group(0)
        if text.startswith('"'):
            return text
        return "\n" * text.count("\n") if text.startswith("/*") else ""

    return pattern.sub(replace, source)


def _split_arg(arg: str, index: int) -> tuple[str, str]:
    arg = " ".join(arg.split())
    match = _ARG_NAME_RE.match(arg)
    ctype = match.group(1).strip() if match else ""
    if not ctype or match.group(2) in _TYPE_WORDS or ctype.endswith("::"):
        # no argument name (`int`, `float*`): keep the whole text as the type
        return arg, f"arg{index}"
    return ctype, match.group(2)


def kernel_names(source: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Parse the kernel signatures of ``source``.

    Returns ``[(kernel_name, [(ctype, argname), ...]), ...]`` in source order,
    e.g. ``("philox_raw_fill", [("ns_u64 * __restrict__", "out"),
    ("ns_u64", "key0"), ...])``. ``ctype`` keeps qualifiers and the ``*`` as
    written (whitespace normalised); an unnamed argument is called ``argN``.
    Recognises ``extern "C" __global__ void`` and ``NS_GLOBAL void``; kernels
    inside ``#if`` blocks are all listed (the host build preprocesses first).
    Template kernels are not supported: they need C++ name mangling.
    """
    kernels = []
    for match in _KERNEL_RE.finditer(strip_comments(source)):
        name, arglist = match.group(1), match.group(2).strip()
        if arglist in ("", "void"):
            args = []
        else:
            args = [
                _split_arg(arg, i) for i, arg in enumerate(arglist.split(","))
            ]
        kernels.append((name, args))
    return kernels
