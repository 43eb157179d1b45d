"""From a checked :class:`~neurosim.models.description.NeuronModel` to code for each backend.

- :func:`numpy_functions`: the NumPy step as the engine calls a model class's ``integrate``,
  ``threshold``, ``reset`` and ``clamp`` (vectorised over a group; ``reset`` and ``clamp`` over
  the spiking / refractory neurons only), and the host functions of the derived constants and
  default initial state (float64);
- :func:`cuda_source`: the neuron kernel, rendered from ``kernels/neuron_model.cu.j2`` and
  registered with :func:`neurosim.backends.kernel_source.register_source` under a name made
  from the model's name and the source's hash, so the CUDA engine loads it (CuPy or the host
  build) exactly as it loads ``kernels/neurons.cu``.

Both follow the step of the hand-written models (``kernels/neurons.cu``): update, synaptic
decay and arrivals, refractory hold, threshold, reset.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .codegen import CEmitter, PyEmitter

_ERRSTATE = 'with np.errstate(divide="ignore", over="ignore", invalid="ignore"):'
_CHANNEL_SUFFIX = {"excitatory": "e", "inhibitory": "i"}


def _loads(em: PyEmitter, d, reads: set, subset: bool) -> dict:
    """Emit the reads of constants and state; the name environment."""
    env = {}
    for name in d.constant_names:
        if name in reads:
            src = f"_sub(c[{name!r}], idx)" if subset else f"c[{name!r}]"
            em.emit(f"_c_{name} = {src}")
            env[name] = f"_c_{name}"
    for name in d.state_names:
        if name in reads:
            em.emit(f"_s_{name} = s[{name!r}][idx]" if subset else f"_s_{name} = s[{name!r}]")
            env[name] = f"_s_{name}"
    return env


def _writes(em: PyEmitter, d, block, env: dict, subset: bool) -> None:
    """Store what the block assigned. Values that are still another variable's state view are
    copied first: the stores must not see each other."""
    pending = []
    for name in d.user_state:
        if name in block.writes and env[name] != f"_s_{name}":
            value = env[name]
            if value.startswith("_s_"):
                copy = em.fresh(name)
                em.emit(f"{copy} = np.array({value}, copy=True)")
                value = copy
            pending.append((name, value))
    for name, value in pending:
        em.emit(f"s[{name!r}][idx] = {value}" if subset else f"s[{name!r}][...] = {value}")


def _statement_function(d, block, fname: str, subset: bool, double: bool = False):
    em = PyEmitter(d.name, float64=double)
    em.emit(_ERRSTATE, 1)
    em.emit("pass")
    if block is not None:
        env = _loads(em, d, block.reads, subset)
        em.stmts(block.body, env)
        _writes(em, d, block, env, subset)
    header = f"def {fname}(s, c, idx):"
    return em.compile(header, f"<neurosim model {d.name}: {fname}>")


def _integrate(d, double: bool = False):
    em = PyEmitter(d.name, float64=double)
    em.namespace["_zero"] = np.float64(0.0) if double else np.float32(0.0)
    block = d.update
    em.emit(_ERRSTATE, 1)
    em.emit("pass")
    env = _loads(em, d, block.reads - {"I_syn", "I_ext"}, subset=False)
    if "I_ext" in block.reads:
        em.emit("_I_ext = i_ext if i_ext is not None else _zero")
        env["I_ext"] = "_I_ext"
    if "I_syn" in block.reads:
        em.emit("_I_syn = " + " + ".join(f"s[{n!r}]" for n in d.synaptic_state))
        env["I_syn"] = "_I_syn"
    em.stmts(block.body, env)
    _writes(em, d, block, env, subset=False)
    if d.synapse_kind == "delta":
        em.emit("if inp is not None and active[0]:")
        em.emit("    s['v'] += inp[0]")
    else:
        for ch, (name, decay) in enumerate(zip(d.synaptic_state, d.decay_names)):
            em.emit(f"_x = s[{name!r}]")
            em.emit(f"_x *= c[{decay!r}]")
            em.emit(f"if inp is not None and active[{ch}]:")
            em.emit(f"    _x += inp[{ch}]")
    return em.compile("def integrate(s, inp, active, c, i_ext, tmp):",
                      f"<neurosim model {d.name}: integrate>")


def _threshold(d, double: bool = False):
    em = PyEmitter(d.name, float64=double)
    em.emit(_ERRSTATE, 1)
    env = _loads(em, d, d.threshold.reads, subset=False)
    em.emit(f"mask[...] = {em.expr(d.threshold.body[0], env)}")
    em.emit("return mask.nonzero()[0]", 1)
    return em.compile("def threshold(s, c, mask):", f"<neurosim model {d.name}: threshold>")


def _host_function(d, fname: str, blocks: dict, with_dt: bool):
    """float64 host function: ``blocks`` maps a result name to an expression block, evaluated
    in order over the parameters (each may read the results before it)."""
    em = PyEmitter(d.name, float64=True)
    em.emit('with np.errstate(all="ignore"):', 1)
    em.emit("out = {}")
    env = {}
    if with_dt:
        em.emit("_c_dt = np.float64(dt)")
        env["dt"] = "_c_dt"
    for name in d.parameters:
        em.emit(f"_c_{name} = np.asarray(p[{name!r}], np.float64)")
        env[name] = f"_c_{name}"
    for name, block in blocks.items():
        em.emit(f"_r_{name} = np.asarray({em.expr(block.body[0], env)}, np.float64)")
        em.emit(f"out[{name!r}] = _r_{name}")
        env[name] = f"_r_{name}"
    em.emit("return out", 1)
    args = "p, dt" if with_dt else "p"
    return em.compile(f"def {fname}({args}):", f"<neurosim model {d.name}: {fname}>")


def numpy_functions(d, double: bool = False) -> tuple[dict, dict]:
    """(functions, their Python sources) of description ``d``; ``double``: the step's literals
    float64, for the float64 state of ``Network(precision="double")``."""
    pairs = {
        "integrate": _integrate(d, double),
        "threshold": _threshold(d, double),
        "reset": _statement_function(d, d.reset, "reset", subset=True, double=double),
        "clamp": _statement_function(d, d.hold, "clamp", subset=True, double=double),
        "derived": _host_function(d, "derived", d.derived, with_dt=True),
        "initial": _host_function(d, "initial", d.initial, with_dt=False),
    }
    return ({k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()})


# -- CUDA ------------------------------------------------------------------------------------------

def _template():
    import jinja2
    from ..backends.kernel_source import kernels_dir
    text = (kernels_dir() / "neuron_model.cu.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(text)


def cuda_source(d) -> tuple[str, str, str]:
    """(kernel file name, kernel name, source) of description ``d``; the source is registered
    under the file name for the kernel loader."""
    from ..backends.kernel_source import register_source
    em = CEmitter(d.name)
    names = {n: f"c_{n}" for n in d.constant_names}
    names.update({n: f"s_{n}" for n in d.state_names})
    names.update(I_syn="ns_I_syn", I_ext="ns_I_ext")
    blocks = [b for b in (d.update, d.threshold, d.reset, d.hold) if b is not None]
    used = set().union(*(b.reads for b in blocks)) | set(d.decay_names)
    loads = [(n, k) for k, n in enumerate(d.constant_names) if n in used]
    if d.synapse_kind == "delta":
        synapses = ["if (flags & NS_IN0) s_v = s_v + ns_take(in, 0, n_neurons, i, drives);"]
    else:
        synapses = []
        for ch, (name, decay) in enumerate(zip(d.synaptic_state, d.decay_names)):
            synapses += [f"s_{name} = s_{name} * c_{decay};",
                         f"if (flags & NS_IN{ch}) s_{name} = s_{name} + "
                         f"ns_take(in, {ch}, n_neurons, i, drives);"]
    kernel = f"{d.name.lower()}_update"
    source = _template().render(
        kernel=kernel, model=repr(d.name), state=list(d.state_names),
        consts=list(d.constant_names), channels=bool(d.synaptic_channels), loads=loads,
        uses_i_ext="I_ext" in d.update.reads,
        i_syn=" + ".join(f"s_{n}" for n in d.synaptic_state) if "I_syn" in d.update.reads
        else "",
        update="\n".join(em.block(d.update, names, 2)),
        synapses=synapses, refractory=d.refractory is not None,
        hold="\n".join(em.block(d.hold, names, 4)) if d.hold is not None else "",
        threshold="(" + em.expr(d.threshold.body[0], names) + ")",
        reset="\n".join(em.block(d.reset, names, 3)) if d.reset is not None else "")
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"generated-{d.name}-{digest}.cu"
    register_source(filename, source)
    return filename, kernel, source
