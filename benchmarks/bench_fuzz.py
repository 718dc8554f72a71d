"""Benchmark: the fuzzer over every registered method — what each stores, refuses, fails.

``python benchmarks/bench_fuzz.py [--quick] [--examples N] [--budget S] [--seed s]``

:func:`numerics.testing.fuzz` with float32 recall (the independent numpy pass of the MLP
file), width rule ``max`` (each method's ``default_max_hidden``), seed 0, round-robin over
every recipe of :data:`numerics.testing.STRATEGIES`:

- ``encdec``: ``--examples`` (500) fact sets, no time budget; its failures (shrunk, with
  their reproducing scripts) are kept in ``benchmarks/results/bench_fuzz_failures/``;
- every other registered method: the same ``--examples`` with a time budget of ``--budget``
  seconds (60; ``gd``, which trains, 1.5×), failures written to a temporary folder.

Shrinking gets 2 s per failure (``--shrink-seconds``), cut at the method's deadline.
Results: one row per (method, recipe) with the counts (stored, certified in float32,
refused with an independent certificate, infeasible and not stored, failed), and a
recipes × methods table ``stored/refused/failed`` appended to the markdown.
``--quick``: 60 examples and 10 s per method (written as ``bench_fuzz_quick``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _report import RESULTS, write_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 examples, 10 s per method")
    parser.add_argument("--examples", type=int, default=None, help="per method (default 500)")
    parser.add_argument("--budget", type=float, default=None, help="seconds per method (60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shrink-seconds", type=float, default=2.0)
    parser.add_argument("--methods", nargs="*", help="default: every registered method")
    parser.add_argument("--name", default=None, help="results name (default by mode)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    from numerics.methods import METHODS
    from numerics.testing import STRATEGIES, fuzz

    examples = args.examples or (60 if args.quick else 500)
    budget = args.budget or (10.0 if args.quick else 60.0)
    name = args.name or ("bench_fuzz_quick" if args.quick else "bench_fuzz")
    methods = args.methods or list(METHODS)
    kept = RESULTS / f"{name}_failures"
    if kept.exists():
        shutil.rmtree(kept)
    scratch = Path(tempfile.mkdtemp(prefix="bench-fuzz-"))
    rows, totals = [], {}
    started = time.perf_counter()
    for method in methods:
        limit = None if method == "encdec" else budget * (1.5 if method == "gd" else 1.0)
        report = fuzz(
            method,
            examples=examples,
            seed=args.seed,
            dtype="float32",
            out_dir=kept if method == "encdec" else scratch / method,
            max_seconds=limit,
            shrink_seconds=args.shrink_seconds,
            progress=args.progress,
        )
        result = report.to_dict()
        totals[method] = {
            "examples_run": report.examples_run,
            "truncated": report.truncated,
            "seconds": round(report.seconds, 1),
            **result["totals"],
        }
        print(f"{method}: {totals[method]}", file=sys.stderr)
        for strategy, counts in result["strategies"].items():
            kinds: dict[str, int] = {}
            for failure in counts["failures"]:
                kinds[failure["kind"]] = kinds.get(failure["kind"], 0) + 1
            rows.append(
                {
                    "method": method,
                    "strategy": strategy,
                    "examples": counts["examples"],
                    "stored": counts["stored"],
                    "certified_f32": counts["certified_float32"],
                    "refused_cert": counts["refused_with_certificate"],
                    "infeasible": counts["infeasible_not_stored"],
                    "failed": counts["failed"],
                    "failure_kinds": ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())),
                }
            )
    shutil.rmtree(scratch, ignore_errors=True)
    command = "python benchmarks/bench_fuzz.py " + " ".join(sys.argv[1:])
    summary = {
        "examples_per_method": examples,
        "budget_seconds": budget,
        "seed": args.seed,
        "width": "max (default_max_hidden)",
        "dtype": "float32",
        "seconds": round(time.perf_counter() - started, 1),
        **{f"{m}_totals": t for m, t in totals.items()},
    }
    path = write_results(
        name,
        rows,
        summary=summary,
        command=command.strip(),
        title="Fuzzer: stored / refused with certificate / failed, per recipe and method",
    )
    _append_pivot(path.with_suffix(".md"), rows, methods, list(STRATEGIES), totals)
    print(path)


def _append_pivot(md: Path, rows, methods, strategies, totals) -> None:
    """Recipes × methods, each cell ``stored/refused/failed`` (refused = with certificate;
    infeasible sets that were built and not stored are counted with refused here)."""
    cell = {
        (r["method"], r["strategy"]): f"{r['stored']}/{r['refused_cert'] + r['infeasible']}/"
        f"{r['failed']}"
        for r in rows
    }
    lines = [
        "",
        "## stored / refused-with-certificate (or certified infeasible) / failed",
        "",
        "| strategy | " + " | ".join(methods) + " |",
        "|" + " --- |" * (len(methods) + 1),
    ]
    for strategy in strategies:
        lines.append(
            f"| {strategy} | " + " | ".join(cell.get((m, strategy), "") for m in methods) + " |"
        )
    lines.append(
        "| **examples run (s)** | "
        + " | ".join(
            f"{totals[m]['examples_run']} ({totals[m]['seconds']} s"
            + (", budget" if totals[m]["truncated"] else "")
            + ")"
            for m in methods
        )
        + " |"
    )
    with md.open("a") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
