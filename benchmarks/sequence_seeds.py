"""Sequence learning over several seeds: recall per interval and epoch, the shuffled-order and
no-plasticity controls, mean and sd over seeds (``reports/sequence-learning.{json,md}``).

    python benchmarks/sequence_seeds.py [--seeds 0 1 2 3 4] [--device cpu] [--out reports]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from neurosim.tasks import SequenceParams, sequence_learning


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="reports")
    args = ap.parse_args(argv)
    p = SequenceParams()
    runs = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        r = sequence_learning(seed=seed, device=args.device, params=p)
        runs.append(r.to_dict())
        print(f"seed {seed}: recall {r.recall_after:.3f}, shuffled {r.shuffled_recall:.3f}, "
              f"control {r.control_recall:.3f}, {time.perf_counter() - t0:.1f} s", flush=True)
    table = []
    for k, interval in enumerate(p.intervals):
        per = [run["per_interval"][k] for run in runs]
        row = {"interval_ms": float(interval)}
        for key in ("recall_before", "recall_after", "shuffled_recall", "control_recall"):
            v = np.array([x[key] for x in per], float)
            row[key] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1
                        else 0.0}
        curves = np.array([x["curve"] for x in per], float)
        row["curve_mean"] = curves.mean(axis=0).tolist()
        row["curve_min"] = curves.min(axis=0).tolist()
        table.append(row)
    out = {"task": "sequence_learning", "device": args.device, "seeds": args.seeds,
           "params": runs[0]["params"], "per_interval": table,
           "wall_s": [run["wall_s"] for run in runs],
           "epoch_wall_s": [run["epoch_wall_s"] for run in runs], "runs": runs}
    d = Path(args.out)
    d.mkdir(parents=True, exist_ok=True)
    (d / "sequence-learning.json").write_text(json.dumps(out, indent=1))
    lines = [f"# Sequence learning over {len(args.seeds)} seeds ({args.device})", "",
             "Default `SequenceParams` (the same parameters at every interval); recall after "
             f"{p.n_epochs} epochs, mean ± sd over seeds {args.seeds}. Command: "
             "`python benchmarks/sequence_seeds.py`.", "",
             "| interval (ms) | before | after training | shuffled orders | no plasticity | "
             "lowest recall over seeds, epochs 1.." + str(p.n_epochs) + " |",
             "|---|---|---|---|---|---|"]
    for row in table:
        f = lambda key: f"{row[key]['mean']:.2f} ± {row[key]['sd']:.2f}"    # noqa: E731
        lines.append(f"| {row['interval_ms']:g} | {f('recall_before')} | {f('recall_after')} | "
                     f"{f('shuffled_recall')} | {f('control_recall')} | "
                     + ", ".join(f"{x:.2f}" for x in row["curve_min"]) + " |")
    lines += ["", f"Wall time per seed (4 intervals, with the control network): "
              + ", ".join(f"{w:.1f} s" for w in out["wall_s"]) + "."]
    (d / "sequence-learning.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
