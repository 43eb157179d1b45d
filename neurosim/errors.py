"""Exceptions raised by neurosim.

Every error names the argument, the value and what was expected (docs/architecture.md, "Conventions").
"""

from __future__ import annotations


class NeurosimError(Exception):
    """Base class of neurosim's own errors."""


class DeviceUnavailableError(NeurosimError, RuntimeError):
    """An explicitly requested device cannot be used here."""


class SimulationError(NeurosimError, RuntimeError):
    """The simulation state became invalid (NaN or infinite) during a run.

    Attributes ``population``, ``variable`` and ``t_ms`` say where and when; everything the
    monitors recorded up to the failing step is still readable.
    """

    def __init__(self, message: str, *, population: str, variable: str, t_ms: float):
        super().__init__(message)
        self.population = population
        self.variable = variable
        self.t_ms = t_ms


class DeviceMemoryError(NeurosimError, MemoryError):
    """A network does not fit in the free memory of the GPU (estimated before building, or an
    allocation that failed while building; what was allocated is released first)."""


class HostMemoryError(NeurosimError, MemoryError):
    """A network would not fit in the host's available memory (raised before building it).

    Attributes ``needed`` and ``available`` (bytes) and ``parts`` (the estimate by part).
    """

    def __init__(self, message: str, *, needed: int = 0, available: int = 0,
                 parts: dict | None = None):
        super().__init__(message)
        self.needed, self.available, self.parts = needed, available, dict(parts or {})


class CheckpointError(NeurosimError, ValueError):
    """A checkpoint file cannot be read: not one, damaged, of another format version, or
    holding something a checkpoint must not (the message names the file and the entry)."""
