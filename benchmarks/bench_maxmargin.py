"""Benchmark: capacity of ``maxmargin`` (certified convex margin solves) against GD.

``python benchmarks/bench_maxmargin.py [--points 32x512,64x2048] [--widths W,...] [--gd-search]
[--stall-after R] [--name NAME]``

(``--widths``: one build per width and point instead of the capacity search;
``--stall-after 30``: maxmargin's stall rule off, to check what it costs.)

Tied spherical keys = values, random bijection, seed 0
(``make_factset("spherical", n_facts=F, dim=d, seed=0, tied=True)``). Per point:
:func:`numerics.methods.capacity_search.capacity` with ``maxmargin`` in its registry default
(float32 recall, 5% bisection, re-verified with seed 1): width, params/fact, wall time of the
search, the recall at every width tried, and the block solves of the returned build.

GD's params/fact and capacity-search wall time at the same fact sets are read from
``benchmarks/results/bench_methods_time_gd_search.json`` (recorded at load ≈ 9). With
``--gd-search`` GD's capacity search also runs in this run, first, with the same thread count
and GD's settings of that file (``GDMethod(patience=1000)``, float32 recall, seed 0): the
``*_same_run`` columns, the ratio that load affects on both sides. Targets (issue 11):
params per fact ≤ 3× GD's (stretch 2×), search time ≤ 1/10 of GD's.
The returned build is also certified in float32 (`numerics.precision.certify_recall`) and its
bits frontier measured (`min_bits`, total weight bits over the counting bound).

``uptime`` and ``os.getloadavg()`` at start and end are recorded: other work shares the CPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _report import RESULTS, precision_summary, write_results  # noqa: E402

GD_SEARCH = RESULTS / "bench_methods_time_gd_search.json"


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"uptime unavailable ({exc})"


def _gd_rows() -> dict:
    rows = json.loads(GD_SEARCH.read_text())["rows"]
    return {(r["dim"], r["n_facts"]): r for r in rows}


def _method(stall_after: int | None):
    """``maxmargin`` in its registry default, or with its stall rule moved to ``stall_after``
    (``rounds``: off), to check what the rule costs."""
    import dataclasses

    from numerics.methods import get_method

    method = get_method("maxmargin")
    return method if stall_after is None else dataclasses.replace(method, stall_after=stall_after)


def run_point(
    dim: int, n_facts: int, gd: dict, gd_search: bool = False, stall_after: int | None = None
) -> dict:
    from numerics.embeddings import make_factset
    from numerics.methods import GDMethod, capacity

    fs = make_factset("spherical", n_facts=n_facts, dim=dim, seed=0, tied=True)
    same_run = {}
    if gd_search:
        t0 = time.perf_counter()
        found = capacity(fs, GDMethod(patience=1000), seed=0, progress=True)
        same_run = {
            "gd_hidden_same_run": found.hidden,
            "gd_params_per_fact_same_run": found.params_per_fact,
            "gd_search_seconds_same_run": time.perf_counter() - t0,
        }
    load = list(os.getloadavg())
    t0 = time.perf_counter()
    result = capacity(fs, _method(stall_after), progress=True)
    wall = time.perf_counter() - t0
    row = {
        "dim": dim,
        "n_facts": n_facts,
        "reached": result.reached,
        "verified": result.verified,
        "hidden": result.hidden,
        "params_per_fact": result.params_per_fact,
        "search_seconds": wall,
        "trials": json.dumps([[h, round(r, 4)] for h, r in result.trials]),
        "verify_trials": json.dumps([[h, round(r, 4)] for h, r in result.verify_trials]),
        "loadavg_before": round(load[0], 2),
    }
    if result.build is not None:
        info = result.build.info
        row["rounds_run"] = info["rounds_run"]
        row["certificates_passed"] = info["certificates_passed"]
        row["build_seconds"] = info["seconds"]
        row.update(precision_summary(result.build.weights, fs))
        row["solves"] = json.dumps(
            [
                [
                    s["round"],
                    s["block"],
                    round(s.get("recall_float32", -1), 4),
                    s.get("newton_steps"),
                    round(s["seconds"], 2),
                    f"{s['certificate']['rel_gap_bound']:.2g}",
                ]
                for s in info["solves"]
            ]
        )
    ref = gd.get((dim, n_facts))
    if ref is not None:
        row["gd_params_per_fact"] = ref["gd_params_per_fact"]
        row["gd_search_seconds"] = ref["gd_search_seconds"]
        if result.params_per_fact is not None:
            row["ratio_params_to_gd"] = result.params_per_fact / ref["gd_params_per_fact"]
        row["ratio_time_to_gd"] = wall / ref["gd_search_seconds"]
    if same_run:
        row.update(same_run)
        row["ratio_time_to_gd_same_run"] = wall / same_run["gd_search_seconds_same_run"]
        if result.params_per_fact is not None and same_run["gd_params_per_fact_same_run"]:
            row["ratio_params_to_gd_same_run"] = (
                result.params_per_fact / same_run["gd_params_per_fact_same_run"]
            )
    return row


def run_width(
    dim: int, n_facts: int, hidden: int, gd: dict, stall_after: int | None = None
) -> dict:
    """One build at a fixed width (seed 0), its float32 recall and, when every fact is
    stored, its float32 certificate and bits frontier: the part of a capacity search that fits
    a short session."""
    import torch

    from numerics.embeddings import make_factset
    from numerics.mlp import GatedMLP
    from numerics.strict_recall import recall

    fs = make_factset("spherical", n_facts=n_facts, dim=dim, seed=0, tied=True)
    load = list(os.getloadavg())
    t0 = time.perf_counter()
    built = _method(stall_after).build(fs, hidden, seed=0)
    wall = time.perf_counter() - t0
    mlp = GatedMLP(built.weights.to(dtype=torch.float32))
    acc = recall(mlp, fs, dtype=torch.float32).accuracy
    info = built.info
    row = {
        "dim": dim,
        "n_facts": n_facts,
        "mode": "single width",
        "hidden": built.hidden,
        "recall_float32": acc,
        "params_per_fact": built.params / n_facts,
        "build_seconds": wall,
        "rounds_run": info["rounds_run"],
        "certificates_passed": info["certificates_passed"],
        "stopped": info["stopped"],
        "stall_after": info["config"]["stall_after"],
        "recall_by_round": json.dumps([round(r, 4) for r in info["recall_by_round"]]),
        "loadavg_before": round(load[0], 2),
        "solves": json.dumps(
            [
                [
                    s["round"],
                    s["block"],
                    round(s.get("recall_float32", -1), 4),
                    s.get("newton_steps"),
                    s.get("active_pairs"),
                    round(s["seconds"], 2),
                    f"{s['certificate']['rel_gap_bound']:.2g}",
                ]
                for s in info["solves"]
            ]
        ),
    }
    if acc == 1.0:
        row.update(precision_summary(built.weights, fs))
    ref = gd.get((dim, n_facts))
    if ref is not None:
        row["gd_params_per_fact"] = ref["gd_params_per_fact"]
        row["gd_search_seconds"] = ref["gd_search_seconds"]
        row["ratio_params_to_gd"] = row["params_per_fact"] / ref["gd_params_per_fact"]
    return row


def _write(name: str, rows: list, uptime_start: str, load_start: list, threads: int) -> Path:
    summary = {
        "uptime_start": uptime_start,
        "uptime_end": _uptime(),
        "loadavg_start": load_start,
        "loadavg_end": list(os.getloadavg()),
        "target_params_ratio": 3.0,
        "stretch_params_ratio": 2.0,
        "target_time_ratio": 0.1,
        "threads": threads,
    }
    for row in (r for r in rows if "reached" in r):
        tag = f"d{row['dim']}_F{row['n_facts']}"
        ratio = row.get("ratio_params_to_gd")
        summary[f"{tag}_params_ratio_met"] = bool(
            row["reached"] and ratio is not None and ratio <= 3
        )
        summary[f"{tag}_stretch_met"] = bool(row["reached"] and ratio is not None and ratio <= 2)
        summary[f"{tag}_time_ratio_met"] = bool(row.get("ratio_time_to_gd", 1) <= 0.1)
        if "ratio_time_to_gd_same_run" in row:
            summary[f"{tag}_time_ratio_same_run_met"] = row["ratio_time_to_gd_same_run"] <= 0.1
    command = "python benchmarks/bench_maxmargin.py " + " ".join(sys.argv[1:])
    return write_results(
        name,
        rows,
        summary=summary,
        command=command.strip(),
        title="maxmargin: capacity from certified convex margin solves vs GD",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", default="32x512", help="comma-separated dxF points")
    parser.add_argument("--name", default="bench_maxmargin")
    parser.add_argument(
        "--widths",
        default=None,
        help="comma-separated widths: single builds at each point instead of a capacity search",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (GD's: 1)")
    parser.add_argument(
        "--gd-search", action="store_true", help="also run GD's capacity search in this run"
    )
    parser.add_argument(
        "--stall-after",
        type=int,
        default=None,
        help="maxmargin's stall rule from this round (default: the registry's; 30: off)",
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    points = [tuple(int(v) for v in p.split("x")) for p in args.points.split(",")]
    gd = _gd_rows()
    uptime_start, load_start = _uptime(), list(os.getloadavg())
    rows = []
    for dim, n_facts in points:
        if args.widths:
            for hidden in (int(w) for w in args.widths.split(",")):
                rows.append(run_width(dim, n_facts, hidden, gd, args.stall_after))
                print(json.dumps(rows[-1]), flush=True)
                _write(args.name, rows, uptime_start, load_start, args.threads)
        else:
            rows.append(run_point(dim, n_facts, gd, args.gd_search, args.stall_after))
            print(json.dumps(rows[-1]), flush=True)
    path = _write(args.name, rows, uptime_start, load_start, args.threads)
    print(path)


if __name__ == "__main__":
    main()
