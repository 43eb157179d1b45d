#!/usr/bin/env python
"""Cost of each NumPy pass of a deferred-STDP arrival at the Brunel (2000) E->E sizes (issue 13).

    python benchmarks/stdp_passes.py

The passes of ``StdpDeferredNumpy._arrive`` (neurosim/plasticity/stdp.py) timed one by one on
random data of the full network's shape: 10^7 synapses in rows of ~1,000, 37 rows arriving per
step (37.5 Hz x 10,000 neurons x 0.1 ms). Each pass runs over 400 different sets of rows, so that
the rows are cold in memory as they are in the network (the arrays are larger than the cache);
the best of 3 repetitions of process CPU time per step is printed as a Markdown table, with the
static delivery of the same rows (gather targets and weights, ``np.add.at``) for comparison.
About 0.7 GB of memory. The script runs itself with glibc's mmap threshold fixed at 16 MB: with
this many large arrays alive, glibc would otherwise hand some of the 300 kB temporaries out as
fresh mappings and the table would time page faults that the network's run does not have (under
one minor fault per step there). See docs/stdp-cost.md.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

N_PRE, N_POST, DEGREE, ROWS_PER_STEP, STEPS, REPEATS = 10_000, 10_000, 1_000, 37, 400, 3


def main() -> int:
    rng = np.random.default_rng(0)
    ip = np.zeros(N_PRE + 1, np.int64)
    ip[1:] = np.cumsum(rng.poisson(DEGREE, N_PRE))
    n = int(ip[-1])
    post = rng.integers(0, N_POST, n).astype(np.int32)
    wa = (rng.random(n) * 0.1).astype(np.float32)
    Za = rng.random(n)
    v = rng.random(N_POST)
    ydep = (rng.random(N_POST) * 1e-4).astype(np.float32)
    ring = np.zeros((16, N_POST + N_POST // 4), np.float32)
    X, t0 = rng.random(N_PRE), rng.integers(0, 100, N_PRE)
    steps = []
    for _ in range(STEPS):
        J = np.sort(rng.choice(N_PRE, ROWS_PER_STEP, replace=False))
        rows = list(zip(ip[J].tolist(), ip[J + 1].tolist()))
        i = np.concatenate([post[x:y] for x, y in rows], dtype=np.intp)
        Zs = np.concatenate([Za[x:y] for x, y in rows])
        vi = v.take(i)
        g = np.repeat(0.001 * X[J], ip[J + 1] - ip[J])
        steps.append(dict(J=J, rows=rows, i=i, w=np.concatenate([wa[x:y] for x, y in rows]),
                          Zs=Zs, vi=vi, g=g, d=vi - Zs, lens=ip[J + 1] - ip[J]))
    for c in steps:                                     # touch once (allocator, pages)
        np.concatenate([post[x:y] for x, y in c["rows"]], dtype=np.intp)

    def gather_w_z(c):
        vi = c["vi"]
        w, Zs = np.empty(vi.size, wa.dtype), np.empty(vi.size)
        o = 0
        for x, y in c["rows"]:
            k = o + (y - x)
            w[o:k] = wa[x:y]
            Zs[o:k] = Za[x:y]
            Za[x:y] = vi[o:k]
            o = k

    def write_back(c):
        o, w = 0, c["w"]
        for x, y in c["rows"]:
            k = o + (y - x)
            wa[x:y] = w[o:k]
            o = k

    def static(c):
        cols = np.concatenate([post[x:y] for x, y in c["rows"]])
        w = np.concatenate([wa[x:y] for x, y in c["rows"]])
        np.add.at(ring[3], cols, w)

    f32 = np.float32
    passes = [
        ("row bounds", "-", lambda c: list(zip(ip[c["J"]].tolist(), ip[c["J"] + 1].tolist()))),
        ("gather targets (int32 rows -> intp)", "4 + 8",
         lambda c: np.concatenate([post[x:y] for x, y in c["rows"]], dtype=np.intp)),
        ("v.take", "8 + 8", lambda c: v.take(c["i"])),
        ("gather weights and Z, Z set to v_i (one loop by row)", "4 + 4, 8 + 8 + 8", gather_w_z),
        ("factor per row, repeated", "8",
         lambda c: np.repeat(0.001 * X[c["J"]] * np.exp(t0[c["J"]] * 0.005), c["lens"])),
        ("v_i - Z_s", "16 + 8", lambda c: np.subtract(c["vi"], c["Zs"])),
        ("x factor, rounded to float32", "16 + 4",
         lambda c: np.multiply(c["g"], c["d"], out=np.empty(c["g"].size, f32), casting="unsafe")),
        ("w +=, bound check", "12 + 4", lambda c: (c["w"] + c["w"]).max()),
        ("np.add.at into the ring", "12", lambda c: np.add.at(ring[3, :N_POST], c["i"], c["w"])),
        ("ydep.take, w - dep, bound check", "24 + 8",
         lambda c: (c["w"] - ydep.take(c["i"])).min()),
        ("write back weights by row", "4 + 4", write_back),
        ("X, t0 per row", "-",
         lambda c: (X.__setitem__(c["J"], X[c["J"]] * np.exp(t0[c["J"]] * -0.005) + 1.0),
                    t0.__setitem__(c["J"], 5))),
    ]
    print(f"{ROWS_PER_STEP} rows, {np.mean([c['i'].size for c in steps]):,.0f} synapses per "
          f"step; best of {REPEATS} over {STEPS} steps, process CPU time")
    print("| pass | us per step | bytes per synapse (read + write) |\n|---|---|---|")

    def timed(f):
        best = float("inf")
        for _ in range(REPEATS):
            c0 = time.process_time()
            for c in steps:
                f(c)
            best = min(best, (time.process_time() - c0) / STEPS * 1e6)
        return best

    total = 0.0
    for name, nbytes, f in passes:
        t = timed(f)
        total += t
        print(f"| {name} | {t:.0f} | {nbytes} |")
    print(f"| **plastic arrival, total** | **{total:.0f}** | |")
    print(f"| static delivery of the same rows | {timed(static):.0f} | 8 + 12 |")
    return 0


if __name__ == "__main__":
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(16 << 20),
                   MALLOC_TRIM_THRESHOLD_=str(256 << 20))
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    raise SystemExit(main())
