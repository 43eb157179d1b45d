r"""Izhikevich (2003) neuron (``Izhikevich``).

Equations (v in mV, t in ms, I in pA taken with unit capacitance as in NEST's ``izhikevich``)::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I,     I = i_offset + I_ext
    du/dt = a (b v - u)
    if v >= v_peak:  v <- c,  u <- u + d

Integration: forward Euler at the simulation step ``dt`` for both variables (u from the old v),
then threshold and reset. Izhikevich's 2003 code instead takes two 0.5 ms half-steps for v at
1 ms resolution; forward Euler at 0.1 ms gives different spike counts for fast cells, so compare
like with like. Synaptic input is a jump of ``v`` by the weight in mV (delta synapses, as NEST's
``izhikevich``), added after the Euler update of the step in which it arrives and before the
threshold check; excitatory weights >= 0, inhibitory <= 0.
The spike is stamped with the end of the step. There is no refractory period.

Published parameter sets (Izhikevich 2003, Fig. 2) are available as ``Izhikevich.preset(name)``
for ``"RS"``, ``"IB"``, ``"CH"``, ``"FS"``, ``"LTS"``, ``"TC"``, ``"RZ"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import _validate as V
from .base import Model, f32

PRESETS = {
    "RS": dict(a=0.02, b=0.2, c=-65.0, d=8.0),
    "IB": dict(a=0.02, b=0.2, c=-55.0, d=4.0),
    "CH": dict(a=0.02, b=0.2, c=-50.0, d=2.0),
    "FS": dict(a=0.1, b=0.2, c=-65.0, d=2.0),
    "LTS": dict(a=0.02, b=0.25, c=-65.0, d=2.0),
    "TC": dict(a=0.02, b=0.25, c=-65.0, d=0.05),
    "RZ": dict(a=0.1, b=0.26, c=-65.0, d=2.0),
}


@dataclass(frozen=True, eq=False)
class Izhikevich(Model):
    """Izhikevich 2003 model: ``a`` (1/ms, the recovery rate of ``u``, > 0), ``b`` (1/ms),
    ``c`` (mV), ``d`` (mV/ms), ``v_peak`` (mV), ``i_offset`` (pA), ``v_init`` (mV, initial v;
    u starts at ``b * v_init``). A negative ``a`` (u growing away from ``b v``) is refused."""

    a: float = 0.02
    b: float = 0.2
    c: float = -65.0
    d: float = 8.0
    v_peak: float = 30.0
    i_offset: float = 0.0
    v_init: float = -65.0

    kind: ClassVar[str] = "izhikevich"
    kernel: ClassVar[str] = "izhikevich_update"
    state_vars: ClassVar[tuple[str, ...]] = ("v", "u")
    channels: ClassVar[tuple[str, ...]] = ("v",)
    receptors: ClassVar[dict[str, int]] = {"excitatory": 0, "inhibitory": 0}
    weight_sign: ClassVar[dict[str, int]] = {"excitatory": 1, "inhibitory": -1}
    weight_unit: ClassVar[str] = "mV"
    has_refractory: ClassVar[bool] = False
    positive_params: ClassVar[tuple[str, ...]] = ("a",)
    threshold_const: ClassVar[str] = "v_peak"

    @classmethod
    def preset(cls, name: str, **overrides) -> "Izhikevich":
        V.choice("Izhikevich.preset", "name", name, PRESETS)
        return cls(**{**PRESETS[name], **overrides})

    def _check(self):
        if np.any(np.asarray(self.c) >= np.asarray(self.v_peak)):
            raise ValueError(f"Izhikevich: c must be below v_peak, got c={self.c}, v_peak={self.v_peak}")

    @classmethod
    def constants(cls, p, dt):
        h = float(dt)
        return {"h": f32(h), "a": f32(p["a"]), "b": f32(p["b"]), "c": f32(p["c"]),
                "d": f32(p["d"]), "v_peak": f32(p["v_peak"]), "i_offset": f32(p["i_offset"])}

    @classmethod
    def initial_state(cls, p, n, options):
        v = np.broadcast_to(f32(p["v_init"]), (n,)).astype(np.float32)
        u = (np.asarray(p["b"], float) * np.asarray(p["v_init"], float))
        return {"v": v, "u": np.broadcast_to(f32(u), (n,)).astype(np.float32)}

    scratch: ClassVar[int] = 2

    @classmethod
    def integrate(cls, s, inp, active, c, i_ext, tmp):
        v, u = s["v"], s["u"]
        du, dv = tmp[0], tmp[1]
        np.multiply(v, c["b"], out=du)                  # du = a (b v - u), from the old v
        du -= u
        du *= c["a"]
        np.multiply(v, F32_004, out=dv)                 # dv = 0.04 v^2 + 5 v + 140 - u + I
        dv += F32_5
        dv *= v
        dv += F32_140
        dv -= u
        dv += c["i_offset"]
        if i_ext is not None:
            dv += i_ext
        dv *= c["h"]
        v += dv
        du *= c["h"]
        u += du
        if inp is not None and active[0]:
            v += inp[0]

    @classmethod
    def reset(cls, s, c, idx):
        s["v"][idx] = c["c"] if np.ndim(c["c"]) == 0 else c["c"][idx]
        s["u"][idx] += c["d"] if np.ndim(c["d"]) == 0 else c["d"][idx]


F32_004 = np.float32(0.04)
F32_5 = np.float32(5.0)
F32_140 = np.float32(140.0)
