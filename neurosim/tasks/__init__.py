"""The three learning tasks: each builds a network, trains it, scores it and returns a record.

- :func:`pattern_learning` — unsupervised learning of handwritten digits (shipped with the
  package, :mod:`neurosim.tasks.digits`) by a Diehl & Cook (2015)-style network;
- :func:`sequence_learning` — a recurrent network with drawn delays learns and replays orders of
  assemblies at intervals of 10-60 ms;
- :func:`homeostatic_adaptation` — a recurrent network returns to its target rate after steps
  of its input rate.

Each takes ``seed``, ``device`` and a frozen parameter record (``PatternParams``...), states its
parameters in its module docstring, and returns a dataclass with ``to_dict()`` (plain JSON
values: the parameters, the scores, the curves and the wall time) for the benchmark report.
"""

from . import digits
from .homeostasis import HomeostasisParams, HomeostasisResult, homeostatic_adaptation
from .pattern import PatternParams, PatternResult, pattern_learning
from .sequence import SequenceParams, SequenceResult, sequence_learning

TASKS = {"pattern_learning": pattern_learning, "sequence_learning": sequence_learning,
         "homeostatic_adaptation": homeostatic_adaptation}

__all__ = ["pattern_learning", "PatternParams", "PatternResult",
           "sequence_learning", "SequenceParams", "SequenceResult",
           "homeostatic_adaptation", "HomeostasisParams", "HomeostasisResult", "TASKS", "digits"]
