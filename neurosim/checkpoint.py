r"""Checkpoints: ``net.save(path)`` and ``ns.load(path, device=...)``.

A checkpoint holds everything needed to continue a simulation exactly: the network's structure
(populations with their model and parameters, projections as realised arrays, inputs,
plasticity and homeostasis rules, monitors), every state variable, refractory counters, the
delay ring (spikes in flight), the plasticity state (weights, traces, pending arrivals,
adaptive thresholds, rate estimates) and the step count, from which the position of every
random stream follows. ``run(a); save; load; run(b)`` gives the spikes of ``run(a + b)``.

File format (version 1)
-----------------------
One NumPy ``.npz`` file (a zip archive of ``.npy`` arrays), written with ``allow_pickle=False``
and read with ``allow_pickle=False``:

- ``__manifest__``: a uint8 array holding UTF-8 JSON: ``{"format": "neurosim-checkpoint",
  "version": 1, ...}`` with the network (``dt``, ``seed``, ``steps_done``, the Philox key and
  draws per step), ``populations`` (name, size, model class name, parameters, options),
  ``projections`` (pre/post population indices, receptor, name, delay class, plasticity rule
  and its parameters, and the names of its arrays), ``poisson_inputs``, ``currents``,
  ``homeostasis``, ``monitors`` (kind, population, indices, variable, ``every``, ``bin_size``,
  ``t_start``, and whether their recordings are stored), ``engine`` (the backend that wrote
  the state), ``state`` (the names of the state arrays) and ``stimulus`` (optional, absent from
  older files: the inputs as changed since the build, :mod:`neurosim.engine.stimulus` —
  ``rates<p>/{steps,rates}`` per PoissonSource population, ``drive<k>/{steps,rates}`` per
  Poisson input, ``spikes<p>/{steps,indices}`` the spike-source schedules still to come,
  ``current<p>/amplitude`` the added currents). Numbers that JSON cannot hold
  (inf, nan) are written ``{"float": "inf"}``; an array is ``{"array": "<entry>"}``.
- every other entry is a plain numeric (or fixed-width unicode) array named in the manifest:
  ``projection<k>/{sources,targets,weights,delays}`` (int32, int32, float32, float64 ms; every
  float32 array of the network's state, weights and monitors is float64 in a file of a
  ``precision="double"`` network, whose manifest records ``"precision"``),
  parameter arrays, ``state/...`` (see :mod:`neurosim.engine.state`: ``group<g>/<var>``,
  ``group<g>/ref_left``, ``ring``, ``plastic<k>/...``, ``plastic<k>/portable/...``),
  ``monitor<k>/...`` recordings.

Why npz: NumPy is already a dependency (HDF5 would add h5py and a C library); the format is a
zip of ``.npy`` files that any language can read; and with ``allow_pickle=False`` it cannot
carry code. Loading a file from someone else never runs code: no pickle anywhere, model and
rule classes come from a fixed list (plus classes the caller passes as ``models=``), and every
value is validated like user input — format name and version, known keys, dtypes, shapes,
index ranges, parameters through the same constructors as user code — before it is used; a
problem raises :class:`~neurosim.errors.CheckpointError` naming the file and the entry.

Precision: a checkpoint loads in the precision it was written in (``network.precision`` in the
manifest; files without it are single precision). There is no conversion on load: to continue
in another precision, build the network anew with ``Network(precision=...)``.

Loading on the other backend: a network saved on ``"cpu"`` loads on ``"cuda:host"``/``"cuda"``
and back, with neuron state, refractory counters, delay ring, inputs, homeostasis and plastic
projections. Each plastic projection's state is stored twice: in its runtime's own form
(``plastic<k>/kind`` and the runtime's arrays, which a runtime of the same kind loads, so that
saving and continuing on one backend is exact) and in a portable form
(``plastic<k>/portable/...``: weights with every deferred update settled, presynaptic traces
over the window of steps the delays still read, postsynaptic traces, last spike steps for
``"nearest_reduced"``, the presynaptic spikes in flight with their emission steps, eligibility
and dopamine; see :mod:`neurosim.engine.portable`), from which a runtime of another kind starts.
How exact the continuation is depends on the runtimes on the two sides:

- the event-by-event NumPy runtimes and the CUDA runtimes compute the same float32 operations
  (pair STDP but additive ``"all"``/``"nearest"``, i.e. multiplicative STDP and additive
  ``"nearest_reduced"``, and ``TripletSTDP``): the state crosses bit for bit and the spikes are
  those of the uninterrupted run where the neuron models are bit-identical too (``LIF`` with
  delta synapses; see ``tests/test_cuda_backend.py``);
- ``RewardSTDP``: the state crosses bit for bit; its exponentials (NumPy's float32 ``exp``,
  the C library's ``expf``) may differ in the last bit, so the weights then drift apart by
  float32 roundings (about 1e-7 after 0.5 s in the tests, the same spikes there);
- additive ``"all"``/``"nearest"`` STDP runs on the CPU as a lazy runtime (float64 settling,
  :class:`~neurosim.plasticity.stdp.StdpDeferredNumpy`): its portable weights and traces are
  within float32 rounding of the event-by-event ones (weights within 2e-6, traces 2e-5
  relative), and a continuation on the other backend is statistically equal (weights within
  1e-5 after 0.5 s in the tests).

Loading the portable form and writing it again gives the same arrays exactly, on every runtime.

A network distributed over MPI ranks writes the same format: ``net.save`` (a collective call)
gathers every rank's share into the whole network's state, whose plastic projections hold their
portable form only (``plastic<k>/kind`` is ``"distributed"``), and rank 0 writes the file;
``load(path, comm=..., distributed=...)`` continues any checkpoint on any number of ranks, each
keeping its share (:mod:`neurosim.distributed.checkpoint`).
A file without the portable form (written before it existed) loads its plastic projections
only on the runtime kind that wrote them. Projections are rebuilt from their realised arrays
with host connectivity, whatever ``connectivity`` the network had.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib

import numpy as np

from .errors import CheckpointError

FORMAT = "neurosim-checkpoint"
VERSION = 1
MANIFEST = "__manifest__"
_NUMERIC_KINDS = "biuf"


class Writer:
    """Collects the arrays of a checkpoint and encodes manifest values."""

    def __init__(self):
        self.arrays: dict = {}

    def array(self, name: str, a) -> dict:
        a = np.asarray(a)
        if a.dtype.kind not in _NUMERIC_KINDS + "U":
            raise TypeError(f"save(): {name!r} has dtype {a.dtype}, not a plain array")
        self.arrays[name] = a if a.flags.c_contiguous else np.ascontiguousarray(a)
        return {"array": name}

    def value(self, name: str, x):
        """A JSON value for a number, string, bool or None; an array entry for arrays."""
        if isinstance(x, np.ndarray):
            return self.array(name, x)
        if isinstance(x, (bool, np.bool_)) or x is None or isinstance(x, str):
            return x if not isinstance(x, np.bool_) else bool(x)
        if isinstance(x, (int, np.integer)):
            return int(x)
        x = float(x)
        return x if math.isfinite(x) else {"float": repr(x)}

    def write(self, path, manifest: dict) -> None:
        """Write atomically: a temporary file beside ``path``, then renamed over it."""
        text = json.dumps(manifest, allow_nan=False, sort_keys=True).encode("utf-8")
        arrays = dict(self.arrays)
        arrays[MANIFEST] = np.frombuffer(text, np.uint8)
        tmp = f"{os.fspath(path)}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


class Reader:
    """A checkpoint opened for reading: the manifest checked, entries read on demand."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.used = {MANIFEST}
        try:
            self.npz = np.load(self.path, allow_pickle=False)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise self.error(f"is not a neurosim checkpoint: it cannot be read as a NumPy "
                             f".npz archive ({type(exc).__name__}: {exc})") from None
        if not isinstance(self.npz, np.lib.npyio.NpzFile):
            raise self.error("is not a neurosim checkpoint: it holds one .npy array, not an "
                             ".npz archive")
        self.names = set(self.npz.files)
        if MANIFEST not in self.names:
            some = ", ".join(sorted(self.names)[:5]) or "none"
            raise self.error(f"is not a neurosim checkpoint: it has no {MANIFEST!r} entry "
                             f"(entries: {some})")
        raw = self._read(MANIFEST)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise self.error(f"is not a neurosim checkpoint: {MANIFEST!r} must be a 1-D uint8 "
                             f"array, got {raw.dtype} {raw.shape}")
        try:
            m = json.loads(raw.tobytes().decode("utf-8"), parse_constant=self._no_constant)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self.error(f"has a {MANIFEST!r} that is not UTF-8 JSON ({exc})") from None
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            got = m.get("format") if isinstance(m, dict) else type(m).__name__
            raise self.error(f"is not a neurosim checkpoint: format {got!r}, expected {FORMAT!r}")
        v = m.get("version")
        if not isinstance(v, int) or isinstance(v, bool):
            raise self.error(f"has format version {v!r}; expected an integer")
        if v != VERSION:
            age = "an older" if v < VERSION else "a newer"
            hint = ("" if v < VERSION else "; upgrade neurosim to read it")
            raise self.error(f"was written in {age} checkpoint format (version {v}); this "
                             f"neurosim reads version {VERSION}{hint}")
        self.manifest = m

    def _no_constant(self, name):
        raise self.error(f"has a {MANIFEST!r} with the non-JSON constant {name}")

    def error(self, what: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {self.path!r} {what}")

    def _read(self, name: str) -> np.ndarray:
        try:
            return self.npz[name]
        except ValueError as exc:
            if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                raise self.error(f"entry {name!r} holds Python objects (a pickled object "
                                 f"array); checkpoints hold plain arrays only, so it is not "
                                 f"loaded") from None
            raise self.error(f"entry {name!r} cannot be read ({exc}); the file is damaged or "
                             f"truncated") from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
            raise self.error(f"entry {name!r} cannot be read ({type(exc).__name__}: {exc}); "
                             f"the file is damaged or truncated") from None

    # -- typed access ----------------------------------------------------------------------------
    def array(self, ref, what: str, dtype=None, shape=None, ndim=None) -> np.ndarray:
        """The array that manifest value ``ref`` (``{"array": name}``) names, checked."""
        if not (isinstance(ref, dict) and set(ref) == {"array"} and isinstance(ref["array"], str)):
            raise self.error(f"{what}: expected an array reference {{'array': name}}, got "
                             f"{ref!r}")
        name = ref["array"]
        if name not in self.names or name == MANIFEST:
            raise self.error(f"{what}: entry {name!r} is missing")
        a = self._read(name)
        self.used.add(name)
        if a.dtype.kind not in _NUMERIC_KINDS + "U":
            raise self.error(f"entry {name!r} ({what}) has dtype {a.dtype}; expected numbers")
        if dtype is not None and a.dtype != np.dtype(dtype):
            raise self.error(f"entry {name!r} ({what}) has dtype {a.dtype}; expected "
                             f"{np.dtype(dtype)}")
        if shape is not None and a.shape != tuple(shape):
            raise self.error(f"entry {name!r} ({what}) has shape {a.shape}; expected "
                             f"{tuple(shape)}")
        if ndim is not None and a.ndim != ndim:
            raise self.error(f"entry {name!r} ({what}) has shape {a.shape}; expected "
                             f"{ndim} dimension(s)")
        return a

    def value(self, x, what: str):
        """A decoded manifest value: number, string, bool, None or a float64/int array."""
        if isinstance(x, dict):
            if set(x) == {"float"} and x["float"] in ("inf", "-inf", "nan"):
                return float(x["float"])
            a = self.array(x, what)
            if a.dtype.kind not in "biuf":
                raise self.error(f"{what}: expected numbers, got dtype {a.dtype}")
            return a
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise self.error(f"{what}: unexpected value {x!r}")

    def get(self, d: dict, key: str, what: str, types, optional=False):
        """``d[key]`` of one of ``types`` (bool is not an int here)."""
        if not isinstance(d, dict):
            raise self.error(f"{what}: expected an object, got {type(d).__name__}")
        if key not in d:
            if optional:
                return None
            raise self.error(f"{what}: {key!r} is missing")
        v = d[key]
        ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in _tuple(types))
        if not ok:
            names = "/".join(t.__name__ for t in _tuple(types))
            raise self.error(f"{what}: {key!r} must be {names}, got {v!r}")
        return v

    def keys(self, d: dict, what: str, allowed) -> None:
        """Refuse keys that this format version does not define."""
        if not isinstance(d, dict):
            raise self.error(f"{what}: expected an object, got {type(d).__name__}")
        extra = sorted(set(d) - set(allowed))
        if extra:
            raise self.error(f"{what}: unknown key(s) {extra}; expected only {sorted(allowed)}")

    def check_all_used(self) -> None:
        extra = sorted(self.names - self.used)
        if extra:
            raise self.error(f"has entries the manifest does not name: {extra[:5]}")

    def close(self) -> None:
        self.npz.close()


def _tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def save(net, path, monitors: bool = False) -> None:
    """Write ``net`` (built now if it is not yet) to ``path`` (see module docstring)."""
    from ._describe import describe
    if not isinstance(monitors, bool):
        raise TypeError(f"save(): monitors must be True or False, got {monitors!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"save(): path must be a str or os.PathLike, got {type(path).__name__}")
    w = Writer()
    manifest = describe(net, w, monitors)
    manifest.update(format=FORMAT, version=VERSION)
    comm = getattr(net, "comm", None)
    if comm is None:
        w.write(path, manifest)
        return
    # distributed: every rank gathered the whole state (describe); rank 0 writes, and an
    # error there (a bad directory, a full disk) is raised on every rank
    from .distributed.exchange import agree
    error = None
    if comm.Get_rank() == 0:
        try:
            w.write(path, manifest)
        except Exception as exc:
            error = exc
    agree(comm, error)


def load(path, device: str = "auto", models=(), comm=None, distributed: bool | None = None):
    """The network saved in ``path``, built on ``device`` and ready to ``run()`` on.

    ``models``: neuron models and plasticity rules of your own that the file may name
    (``ns.NeuronModel`` descriptions or model classes, ``ns.PlasticityModel`` descriptions; the
    built-in models and rules are always known; nothing else is ever imported or called by name
    from a file).

    ``comm`` / ``distributed``: as for :class:`~neurosim.Network` (under ``mpirun -n R`` the
    network is spread over the ``R`` ranks, whatever number of ranks or processes wrote the
    file; every rank reads the file, and an error opening it on any rank is raised on every
    rank). See :mod:`neurosim.distributed.checkpoint`.
    """
    from ._describe import model_classes, rebuild
    from .distributed import resolve
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load(): path must be a str or os.PathLike, got {type(path).__name__}")
    classes = tuple(model_classes(models))
    world = resolve(comm, distributed, "load()")
    reader, error = None, None
    try:
        reader = Reader(path)
    except Exception as exc:
        if world is None:
            raise
        error = exc
    if world is not None:
        from .distributed.exchange import agree
        try:
            agree(world, error)
        except BaseException:
            if reader is not None:
                reader.close()
            raise
    try:
        return rebuild(reader, device, classes, world)
    finally:
        reader.close()
