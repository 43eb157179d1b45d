"""Cost of the pattern-learning task's closed loop against one rate table for the same images.

The task (:mod:`neurosim.tasks.pattern`) shows each image with its own ``run`` calls
(``Presenter``: set_rates, run, set_rates(0), run, state and trace reset). The alternative with
no per-image host work is one rate table (``net.set_rates(..., times=...)``) for all images and
one ``run``; it cannot re-show a silent image brighter or reset state between images. Same
network (learning on), same images and durations; the two are timed alternately, ``--repeats``
times each, and the medians printed (wall seconds, CPU backend).

    python benchmarks/pattern_protocol_cost.py [--images 200] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from neurosim.tasks import digits
from neurosim.tasks.pattern import PatternParams, Presenter, build, image_rates


def closed_loop(p, images) -> float:
    net, inp, exc, ff, mon = build(p, 1, "cpu")
    net.build()
    show = Presenter(p, net, inp, exc, mon)
    t0 = time.perf_counter()
    show.counts(images)
    return time.perf_counter() - t0


def rate_table(p, images) -> float:
    net, inp, exc, ff, mon = build(p, 1, "cpu")
    net.build()
    period = p.t_present + p.t_rest
    rows, times = [], []
    for k, x in enumerate(images):
        rows += [image_rates(p, x), np.zeros(64)]
        times += [k * period, k * period + p.t_present]
    t0 = time.perf_counter()
    net.set_rates(inp, np.array(rows), times=np.array(times))
    net.run(len(images) * period)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    p = PatternParams(min_spikes=0, seeds=1)          # one showing per image in both
    images = digits.load_digits()[0][:a.images]
    loop, table = [], []
    for _ in range(a.repeats):
        loop.append(closed_loop(p, images))
        table.append(rate_table(p, images))
    ml, mt = statistics.median(loop), statistics.median(table)
    print(f"{a.images} images x {p.t_present + p.t_rest:g} ms, {p.n_neurons} neurons, learning on")
    print(f"closed loop (per-image runs + resets): {ml:.2f} s   runs {[round(x, 2) for x in loop]}")
    print(f"one rate table, one run:               {mt:.2f} s   runs {[round(x, 2) for x in table]}")
    print(f"closed loop / rate table: {ml / mt:.2f}")


if __name__ == "__main__":
    main()
