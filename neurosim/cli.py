"""The ``neurosim`` command: ``info``, ``report`` and ``bench``.

Exit codes: 0 ok, 1 a measurement failed, 2 a usage error (bad arguments, unreadable or invalid
results, a device that is not usable, the benchmark suite missing).

``neurosim bench`` calls ``neurosim.bench.run_suite(quick=bool, device=str, sizes=list[int] |
None, peers=bool) -> dict`` (plus ``microcircuit_scale``/``microcircuit_k_scale`` when
``--microcircuit-scale`` is given, ``reference_scale`` with ``--reference-scale``, and
``checkpoint=callable`` with ``--checkpoint FILE``), which returns one results dict of schema 1
(``neurosim.report.render.validate_results``); ``device`` is "cpu", "cuda", "auto" or "all"
(every usable device). The CLI validates the dict, saves it as
``<results-dir>/<created>-<host hash>.json`` and renders the report from it and the earlier runs
of the same machine.

``neurosim bench --peers`` runs instead the side-by-side comparison of the CPU simulators
(``neurosim.bench.peers_table.run_table``: neurosim on NumPy and ``cpu:native``, ANNarchy,
NEST and Brian2 on the standard cases, ``--repeats`` interleaved rounds, ``--threads`` thread
counts), saves its runs as ``<results-dir>/cpu-peers-<created>.json`` and writes the table to
``<output>/cpu-peers.md``. A peer that is not installed is reported as such, not as a failure.

Only the standard library is imported here at module import; system probing, Jinja2 and the
benchmark suite are imported by the subcommand that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEFAULT_RESULTS_DIR = Path("benchmarks") / "results"
DEFAULT_OUTPUT = Path("reports")
DEVICES = ("cpu", "cuda", "auto", "all")


class UsageError(Exception):
    """A problem with what the user asked for: reported with exit code 2."""


def _sizes(text: str) -> list[int]:
    """'100,1000,1e5' -> [100, 1000, 100000]."""
    sizes = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--sizes expects comma-separated neuron counts such as 100,1000,1e5; "
                f"got {part!r}") from None
        if value != int(value) or value < 1:
            raise argparse.ArgumentTypeError(f"--sizes: a size must be a positive integer, "
                                             f"got {part!r}")
        sizes.append(int(value))
    return sizes


def _microcircuit_scale(text: str) -> tuple[float, float]:
    """'0.5' -> (0.5, 0.5); '0.5,1' -> (0.5, 1.0): scale (neurons) and k_scale (in-degrees)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"--microcircuit-scale expects S or S,K with numbers in (0, 1] (S: fraction of the "
            f"neurons, K: of the in-degrees, K = S if left out), got {text!r}")
    return values[0], values[-1]


def _fraction(text: str) -> float:
    """'0.05' -> 0.05, a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``neurosim report`` (shared with benchmarks/generate_report.py)."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", type=Path, metavar="RESULTS.json",
                        help="one results file; earlier runs of the same machine are read from "
                             "its folder")
    source.add_argument("--results-dir", type=Path, metavar="DIR",
                        help="report the newest run in DIR, with the earlier runs of the same "
                             f"machine as history (default: {DEFAULT_RESULTS_DIR})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="DIR",
                        help=f"where BENCHMARKS.md, benchmarks.html and figures/ go "
                             f"(default: {DEFAULT_OUTPUT})")
    parser.add_argument("--no-history", action="store_true",
                        help="ignore earlier runs (no History section, no regression check)")
    parser.add_argument("--distributed-scaling", type=Path, metavar="JSON",
                        help="the distributed scaling measurement for the Distributed Scaling "
                             "section (default: distributed-scaling.json in the output folder, "
                             "if there is one)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _thread_counts(text: str) -> tuple[int, ...]:
    """'1,2' -> (1, 2): distinct integers >= 1."""
    try:
        values = tuple(int(p) for p in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"--threads expects distinct integers >= 1 such as "
                                         f"1,2; got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurosim", description="neurosim: system check, benchmarks and benchmark report.",
        epilog="Exit codes: 0 ok, 1 measurement failure, 2 usage error.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="print the system and which backends are usable",
                          description="Print this machine's system information (CPU, memory, "
                                      "GPUs, package versions), which backends are usable, and "
                                      "the CUDA probe step by step (CuPy, GPU, NVRTC, CUDA "
                                      "headers, a tiny kernel compiled and launched) with the "
                                      "command that fixes a failed step.")
    info.add_argument("--json", action="store_true", help="print one JSON object instead")

    report = sub.add_parser("report", help="render the benchmark report from results JSON",
                            description="Render BENCHMARKS.md and benchmarks.html (with inline "
                                        "SVG plots) from a results file.")
    add_report_arguments(report)

    bench = sub.add_parser("bench", help="run the benchmark suite, save results, write report",
                           description="Run the benchmark suite (neurosim.bench.run_suite), save "
                                       "the results JSON and render the report.")
    bench.add_argument("--quick", action="store_true",
                       help="short simulations and fewer sizes (a smoke run; noisier figures)")
    bench.add_argument("--device", choices=DEVICES, default="auto",
                       help="cpu: NumPy only; cuda: CUDA only (an error without a usable GPU); "
                            "auto: as device='auto' picks per network; all: every usable device "
                            "(default: auto)")
    bench.add_argument("--sizes", type=_sizes, metavar="N,N,...",
                       help="throughput network sizes, e.g. 100,1000,10000 (default: the suite's)")
    bench.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="DIR",
                       help=f"where the report goes (default: {DEFAULT_OUTPUT})")
    bench.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, metavar="DIR",
                       help=f"where the results JSON is saved (default: {DEFAULT_RESULTS_DIR})")
    bench.add_argument("--microcircuit-scale", type=_microcircuit_scale, metavar="S[,K]",
                       help="the Potjans-Diesmann microcircuit at S of its neurons and K of its "
                            "in-degrees (K = S if left out; NEST's scaling with DC "
                            "compensation); default: 1 (full scale), 0.1 with --quick")
    bench.add_argument("--reference-scale", type=_fraction, metavar="S",
                       help="COBA and Brunel 2000 at S of their neurons, S in (0, 1] (default 1: "
                            "the published sizes)")
    bench.add_argument("--no-report", action="store_true", help="save results, skip the report")
    bench.add_argument("--no-step-costs", action="store_true",
                       help="skip counting launches and bytes per CUDA step on the host build "
                            "(machine-independent counts; they need g++, not a GPU)")
    bench.add_argument("--checkpoint", type=Path, metavar="FILE",
                       help="rewrite FILE with the results so far before and after every case "
                            "(with a 'progress' entry), so a run cut off by a time limit leaves "
                            "what it measured")
    bench.add_argument("--peers", action="store_true",
                       help="instead of the suite, compare neurosim (NumPy, cpu:native) with "
                            "ANNarchy, NEST and Brian2 on the standard cases, side by side: "
                            "writes <output>/cpu-peers.md and <results-dir>/cpu-peers-*.json")
    bench.add_argument("--repeats", type=_positive_int, default=None, metavar="N",
                       help="with --peers: interleaved rounds, median reported (default 3, "
                            "1 with --quick)")
    bench.add_argument("--threads", type=_thread_counts, default=(1, 2), metavar="K,K,...",
                       help="with --peers: thread counts of the simulators that have threads "
                            "(default 1,2)")
    bench.add_argument("--timeout", type=_positive_float, default=1800.0, metavar="S",
                       help="with --peers: seconds one run (build and simulation) may take "
                            "before it is stopped and reported as timed out (default 1800)")
    return parser


# -------------------------------------------------------------------------------------- info
def usable_backends() -> dict[str, str]:
    """``neurosim.backends.available()`` where it exists, else NumPy only."""
    try:
        from neurosim import backends
    except ImportError as exc:
        logging.getLogger(__name__).info("neurosim.backends not importable: %s", exc)
        return {"numpy": "usable"}
    available = getattr(backends, "available", None)
    return dict(available()) if callable(available) else {"numpy": "usable"}


def cuda_probe():
    """The CUDA probe's result (:func:`neurosim.backends.probe.probe`, cached per process)."""
    from neurosim.backends.probe import probe
    return probe()


def run_info(args: argparse.Namespace) -> int:
    from neurosim import sysinfo

    info, backends, result = sysinfo.collect(), usable_backends(), cuda_probe()
    if args.json:
        print(json.dumps({"system": info, "backends": backends, "cuda_probe": result.to_dict()},
                         indent=2))
        return EXIT_OK
    print(sysinfo.format_text(info))
    print("Backends:")
    for name, state in backends.items():
        print(f"  {name}: {state}")
    print("CUDA probe (what device='cuda' needs, step by step):")
    for line in result.format().splitlines():
        print(f"  {line}")
    return EXIT_OK


# ------------------------------------------------------------------------------------ report
def _pick_run(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    from neurosim.report import render

    if args.input is not None:
        if not args.input.is_file():
            raise UsageError(f"--input {args.input}: no such file")
        results = render.load_results(args.input)
        history_dir = args.input.parent
    else:
        history_dir = args.results_dir or DEFAULT_RESULTS_DIR
        if not history_dir.is_dir():
            raise UsageError(f"results folder {history_dir} does not exist: run `neurosim bench` "
                             "first, or pass --input RESULTS.json")
        runs = []
        for path in sorted(history_dir.glob("*.json")):
            try:
                runs.append(render.load_results(path))
            except ValueError as exc:
                logging.getLogger(__name__).warning("skipping %s", exc)
        if not runs:
            raise UsageError(f"no valid results file in {history_dir}: run `neurosim bench` "
                             "first, or pass --input RESULTS.json")
        results = max(runs, key=lambda r: render.parse_time(r["created"]))
    if args.no_history:
        return results, []
    return results, render.load_history(history_dir, results["system"],
                                        exclude_run_id=results["run_id"])


def run_report(args: argparse.Namespace) -> int:
    """Render the report as asked by ``args`` (see ``add_report_arguments``)."""
    from neurosim.report import render

    try:
        results, history = _pick_run(args)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    try:
        written = render.render_report(results, args.output, history,
                                       distributed=args.distributed_scaling)
    except (OSError, ValueError) as exc:
        if args.distributed_scaling is None and not isinstance(exc, ValueError):
            raise
        raise UsageError(str(exc)) from exc
    print(f"report of run {results['run_id']} ({len(render.earlier_runs(results, history))} "
          f"earlier run(s) of this machine as history):")
    for path in written.values():
        print(f"  {path}")
    return EXIT_OK


# ------------------------------------------------------------------------------------- bench
def run_bench(args: argparse.Namespace) -> int:
    if args.peers:
        return run_peers_table(args)
    for option, default in (("repeats", None), ("threads", (1, 2)), ("timeout", 1800.0)):
        if getattr(args, option) != default:
            raise UsageError(f"--{option} applies to `neurosim bench --peers` only")
    try:
        bench = importlib.import_module("neurosim.bench")
    except ModuleNotFoundError as exc:
        if exc.name != "neurosim.bench":
            raise
        raise UsageError("the benchmark suite (neurosim.bench) is not part of this installation "
                         "yet; `neurosim report --input RESULTS.json` renders existing results")
    run_suite = getattr(bench, "run_suite", None)
    if not callable(run_suite):
        raise UsageError("neurosim.bench has no run_suite(); this installation cannot run the "
                         "benchmark suite")
    if args.device == "cuda":
        state = usable_backends().get("cuda", "unknown to neurosim.backends.available()")
        if state != "usable":
            raise UsageError(f"--device cuda: the cuda backend is not usable here ({state}); "
                             "`neurosim info` shows every step of the check, or use --device cpu")
    from neurosim.report import render

    try:
        extra = {}
        if args.microcircuit_scale is not None:
            extra = dict(zip(("microcircuit_scale", "microcircuit_k_scale"),
                             args.microcircuit_scale))
        if args.reference_scale is not None:
            extra["reference_scale"] = args.reference_scale
        if args.no_step_costs:
            extra["step_costs"] = False
        if args.checkpoint is not None:
            extra["checkpoint"] = lambda partial: _write_json(args.checkpoint, partial)
        results = run_suite(quick=args.quick, device=args.device, sizes=args.sizes,
                            peers=args.peers, **extra)
    except Exception as exc:
        if type(exc).__name__ == "DeviceUnavailableError" or isinstance(exc, (ValueError,
                                                                              TypeError)):
            raise UsageError(str(exc)) from exc     # bad sizes/device: the caller's input
        logging.getLogger(__name__).debug("benchmark suite failed", exc_info=True)
        print(f"neurosim: benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        render.validate_results(results)
    except ValueError as exc:
        print(f"neurosim: the benchmark suite returned invalid results: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    path = render.save_results(results, args.results_dir)
    print(f"results: {path}")
    if not args.no_report:
        history = render.load_history(args.results_dir, results["system"],
                                      exclude_run_id=results["run_id"])
        for written in render.render_report(results, args.output, history).values():
            print(f"  {written}")
    return EXIT_OK


def run_peers_table(args: argparse.Namespace) -> int:
    """``neurosim bench --peers``: the CPU simulators side by side (see the module docstring)."""
    if args.device not in ("auto", "cpu"):
        raise UsageError(f"--device {args.device}: `neurosim bench --peers` compares CPU "
                         "simulators (neurosim on NumPy and cpu:native); leave --device out")
    for option in ("sizes", "microcircuit_scale", "reference_scale", "checkpoint"):
        if getattr(args, option) is not None:
            raise UsageError(f"--{option.replace('_', '-')} applies to the suite, not to "
                             "`neurosim bench --peers`")
    from neurosim.bench import peers_table
    repeats = args.repeats or (1 if args.quick else 3)
    stamp = None

    def checkpoint(partial: dict) -> None:
        _write_json(args.results_dir / f"cpu-peers-{stamp_of(partial)}.json", partial)

    def stamp_of(results: dict) -> str:
        nonlocal stamp
        stamp = stamp or results["created"].replace("-", "").replace(":", "").split("+")[0] + "Z"
        return stamp

    try:
        results = peers_table.run_table(repeats=repeats, threads=args.threads,
                                        timeout_s=args.timeout, checkpoint=checkpoint)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except RuntimeError as exc:          # no checkout with the case scripts
        print(f"neurosim: bench --peers failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    path = args.results_dir / f"cpu-peers-{stamp_of(results)}.json"
    _write_json(path, results)
    print(f"results: {path}")
    if not args.no_report:
        table = args.output / "cpu-peers.md"
        table.parent.mkdir(parents=True, exist_ok=True)
        table.write_text(peers_table.render(results), encoding="utf-8")
        print(f"  {table}")
    return EXIT_OK


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` as JSON, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float) + "\n", encoding="utf-8")
    tmp.replace(path)


COMMANDS = {"info": run_info, "report": run_report, "bench": run_bench}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argparse error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"neurosim {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
