r"""Homeostasis rules described once, generated for NumPy and CUDA.

A :class:`HomeostasisModel` describes a per-neuron rule in the code language of neuron models
(:mod:`neurosim.models.language`): parameters, per-neuron ``state`` (initial value a number or
the name of a parameter, which may then be one value per neuron), ``derived`` constants (float64
expressions over the parameters, ``dt`` and, for rules with an interval, ``T``, the interval's
length in ms: ``round(interval / dt)`` steps), and up to three blocks:

- ``every_step``: every neuron, every step (after the step's neurons and projections);
- ``on_spike``: every neuron that spiked in the step (after ``every_step``);
- ``every_interval``: every neuron at the end of each interval (steps ``n`` with
  ``(n + 1) % k == 0``, ``k = max(1, round(interval / dt))``; ``interval`` names the parameter).

``threshold`` names the state variable that shifts the population's threshold:
``v_thresh = base + shift`` (the model's ``v_thresh``), rewritten after every step in which a
block that assigns it ran. With ``rule.enabled = False`` nothing runs (the state still acts).

From one description :func:`numpy_functions` makes one vectorised Python function per block
(the literals in the network's precision) and :func:`cuda_source` renders
``kernels/homeostasis_rule.cu.j2`` into the kernels ``<name>_step``, ``<name>_spike``,
``<name>_interval`` (every ``+ - * /`` rounded on its own, as for plasticity rules, so they
repeat NumPy's operations bit for bit where no ``exp`` is involved); the threshold's update is
``homeo_apply`` of ``kernels/plasticity.cu``. The runtimes are
:class:`~neurosim.plasticity.homeostasis.HomeostasisNumpy` and
:class:`~neurosim.plasticity.cuda_runtime.HomeostasisCuda`; the built-in
:class:`~neurosim.plasticity.homeostasis.AdaptiveThreshold` and
:class:`~neurosim.plasticity.homeostasis.IntrinsicPlasticity` are such descriptions.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .. import _validate as V
from ..models.language import (ModelDefinitionError, Scope, check_name, parse_block,
                               parse_expression)

KIND = "HomeostasisModel"
BLOCKS = ("every_step", "on_spike", "every_interval")
# kernel arguments and runtime keys of the machinery (a state variable may not take them)
_TAKEN = frozenset("""clk spk nspk lo size off k every_k learn thr base dt T enabled population
    kind n""".split())


class HomeostasisModel:
    """A per-neuron homeostasis rule described once (see the module docstring).

    ``name``: an identifier (it names the kernels); ``parameters``: name -> default number;
    ``state``: variable -> initial value (a number or a parameter's name); ``derived``: name
    -> expression; ``every_step``, ``on_spike``, ``every_interval``: code; ``interval``: the
    parameter holding the interval (ms), needed by ``every_interval``; ``threshold``: the state
    variable added to the population's ``v_thresh``. Errors
    (:class:`~neurosim.models.language.ModelDefinitionError`) name the rule, block, line and
    name at fault.
    """

    def __init__(self, name: str, *, parameters: dict, state: dict, derived: dict | None = None,
                 every_step: str = "", on_spike: str = "", every_interval: str = "",
                 interval: str | None = None, threshold: str | None = None):
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelDefinitionError(f"{KIND}: name must be an identifier, got {name!r}")
        check_name(name, "rule", name, KIND)
        self.name = name
        where = f"{KIND} {name!r}"
        for what, value in (("parameters", parameters), ("state", state),
                            ("derived", derived or {})):
            if not isinstance(value, dict):
                raise ModelDefinitionError(f"{where}: {what} must be a dict, got "
                                           f"{type(value).__name__}")
        seen: dict = {}

        def declare(what, n):
            check_name(name, what, n, KIND)
            if n in _TAKEN:
                raise ModelDefinitionError(f"{where}: {what} name {n!r} is reserved (the "
                                           f"runtimes use it); choose another")
            if n in seen:
                raise ModelDefinitionError(f"{where}: {n!r} is declared twice (as a {seen[n]} "
                                           f"and as a {what})")
            seen[n] = what

        self.parameters = {}
        for p, value in parameters.items():
            declare("parameter", p)
            try:
                self.parameters[p] = V.real(where, f"parameter {p}", value, float32=True,
                                            allow_inf=True)
            except (TypeError, ValueError) as exc:
                raise ModelDefinitionError(str(exc)) from None
        self.state = {}
        for s, value in state.items():
            declare("state variable", s)
            if isinstance(value, str):
                if value not in self.parameters:
                    raise ModelDefinitionError(f"{where}: the initial value of {s!r} names "
                                               f"{value!r}, which is not a parameter")
                self.state[s] = value
            else:
                try:
                    self.state[s] = V.real(where, f"initial value of {s}", value, float32=True)
                except (TypeError, ValueError) as exc:
                    raise ModelDefinitionError(str(exc)) from None
        if interval is not None and interval not in self.parameters:
            raise ModelDefinitionError(f"{where}: interval must name a parameter, got "
                                       f"{interval!r}")
        self.interval = interval
        if threshold is not None and threshold not in self.state:
            raise ModelDefinitionError(f"{where}: threshold must name a state variable, got "
                                       f"{threshold!r}")
        self.threshold = threshold
        consts = {p: "parameter" for p in self.parameters}
        consts["dt"] = "time step"
        if interval is not None:
            consts["T"] = "interval length (ms)"
        self.derived = {}
        for d, text in (derived or {}).items():
            declare("derived constant", d)
            self.derived[d] = parse_expression(name, f"derived[{d!r}]", text,
                                               Scope(dict(consts)), "float", KIND)
            consts[d] = "derived constant"
        kinds = dict(consts, **{s: "state variable" for s in self.state})
        writable = frozenset(self.state)
        self.blocks = {}
        for block, text in (("every_step", every_step), ("on_spike", on_spike),
                            ("every_interval", every_interval)):
            if text is None or (isinstance(text, str) and not text.strip()):
                continue
            self.blocks[block] = parse_block(name, block, text, Scope(kinds, writable, True),
                                             KIND)
        if not self.blocks:
            raise ModelDefinitionError(f"{where}: every_step, on_spike or every_interval must "
                                       f"hold code")
        if "every_interval" in self.blocks and interval is None:
            raise ModelDefinitionError(f"{where}: every_interval needs interval= (the "
                                       f"parameter holding the interval in ms)")
        self._numpy: dict = {}
        self._cuda = None

    @property
    def shift_every_step(self) -> bool:
        """Whether the threshold is rewritten every step (else at the end of each interval)."""
        return any(self.threshold in self.blocks[b].writes
                   for b in ("every_step", "on_spike") if b in self.blocks)

    def interval_steps(self, values: dict, dt: float) -> int:
        return max(1, int(round(values[self.interval] / dt))) if self.interval else 0

    def constants(self, values: dict, dt: float, dtype) -> dict:
        """The scalar parameters and the derived constants (float64 on the host, in the order
        declared), rounded once to ``dtype``."""
        from .description import _host_eval
        vals = {p: np.float64(v) for p, v in values.items() if np.ndim(v) == 0}
        vals["dt"] = np.float64(dt)
        if self.interval:
            vals["T"] = np.float64(self.interval_steps(values, dt) * dt)
        for d, block in self.derived.items():
            vals[d] = np.float64(_host_eval(block.body[0], vals))
        real = np.dtype(dtype).type
        return {k: real(v) for k, v in vals.items()}

    def numpy(self, double: bool = False) -> tuple[dict, dict]:
        """(functions, sources) per block, made once per precision."""
        if double not in self._numpy:
            self._numpy[double] = numpy_functions(self, double)
        return self._numpy[double]

    def cuda(self) -> tuple[str, dict, str]:
        """(kernel file, {block: kernel name}, source), made once."""
        if self._cuda is None:
            self._cuda = cuda_source(self)
        return self._cuda

    def __repr__(self):
        return f"HomeostasisModel({self.name!r})"


# -- NumPy -----------------------------------------------------------------------------------------

def _numpy_block(d, block, fname: str, double: bool):
    from ..models.codegen import PyEmitter
    em = PyEmitter(d.name, float64=double)
    em.emit('with np.errstate(divide="ignore", over="ignore", invalid="ignore"):', 1)
    env = {}
    for name in sorted(block.reads | block.writes):
        em.emit(f"_v_{name} = v[{name!r}]")
        env[name] = f"_v_{name}"
    em.stmts(block.body, env)
    em.emit("return {" + ", ".join(f"{n!r}: {env[n]}" for n in sorted(block.writes)) + "}")
    return em.compile(f"def {fname}(v):", f"<neurosim homeostasis {d.name}: {fname}>")


def numpy_functions(d, double: bool = False) -> tuple[dict, dict]:
    """One function per block: ``fn(v)`` takes the values the block reads (per-neuron arrays
    of the neurons it runs for, scalars for the constants) and returns what it assigns."""
    pairs = {b: _numpy_block(d, block, b, double) for b, block in d.blocks.items()}
    return {k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()}


# -- CUDA ------------------------------------------------------------------------------------------

def kernel_constants(d) -> list:
    """The constants the blocks read (kernel arguments ``p_<name>``), in declaration order."""
    used = set().union(*(b.reads for b in d.blocks.values()))
    names = [*d.parameters, *d.derived, "dt"] + (["T"] if d.interval else [])
    return [c for c in names if c in used]


def _event(d, block):
    from .generate import RoundedCEmitter
    if block is None:
        return None
    names = {c: f"p_{c}" for c in kernel_constants(d)}
    names.update({s: f"h_{s}" for s in d.state})
    used = block.reads | block.writes
    loads = [f"ns_real h_{s} = {s}[i];" for s in d.state if s in used]
    stores = [f"{s}[i] = h_{s};" for s in d.state if s in block.writes]
    code = "\n".join(RoundedCEmitter(d.name).block(block, names, 3))
    return {"loads": loads, "code": code, "stores": stores}


def cuda_source(d) -> tuple[str, dict, str]:
    """(kernel file name, {block: kernel name}, source) of description ``d``, registered with
    the kernel loader under the file name (the rule's name and the source's hash)."""
    import jinja2

    from ..backends.kernel_source import kernels_dir, register_source
    text = (kernels_dir() / "homeostasis_rule.cu.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    consts = kernel_constants(d)
    source = env.from_string(text).render(
        name=d.name, model=repr(d.name), state=list(d.state), consts=consts,
        every_step=_event(d, d.blocks.get("every_step")),
        on_spike=_event(d, d.blocks.get("on_spike")),
        every_interval=_event(d, d.blocks.get("every_interval")))
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    filename = f"generated-homeostasis-{d.name}-{digest}.cu"
    register_source(filename, source)
    kernels = {b: f"{d.name}_{b}" for b in BLOCKS if b in d.blocks}
    return filename, kernels, source
