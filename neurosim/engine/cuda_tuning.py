"""Tunable sizes and flags of the CUDA engine (:mod:`neurosim.engine.cuda_engine`), in one place.

The engine's modules read them through this module at run time (``cuda_tuning.GRAPH_STEPS``), so a
test may change one with ``monkeypatch.setattr(cuda_tuning, "GRAPH_STEPS", 2)``.
"""

import numpy as np


I32, U32, I64, U64, F32 = np.int32, np.uint32, np.int64, np.uint64, np.float32
BLOCK = 256                     # threads per block
NO_BAD = np.iinfo(np.int64).max
RECORD_BUDGET = 64 << 20        # bytes: per-chunk recording arrays; most of the spike buffer
REC_START = 1 << 16             # recorded-spike buffer entries beyond one step's worst case, at first
MAX_CHUNK = 100_000             # steps between host interactions, at most
GRAPH_STEPS = 64                # steps per captured CUDA graph (even: two clock parities)
HOST_SPIKE_BLOCK = 64           # host build: threads of the per-spike kernels (one block)
HOST_LANES = 1                  # host build: threads per spike in plastic rows (tests vary it)
HOST_PROPAGATE_THREADS = None   # host build: propagation threads (None: 1, or 64 when shuffled)
HOST_STOP_AT_HALT = True        # host build: stop launching at a halted clock (False: as a graph)
WORK_BITS = 36                  # kernels/step.cuh: NS_WORK_BITS

# flags of the neuron kernels (kernels/neuron.cuh)
NS_IN0, NS_IN1, NS_EXT, NS_REF, NS_REF_PER_NEURON, NS_DELTA = 1, 2, 4, 8, 16, 32
