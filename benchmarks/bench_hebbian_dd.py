"""Benchmark: capacity of the data-dependent Hebbian construction against its relatives.

``python benchmarks/bench_hebbian_dd.py [--quick] [--threads T] [--name NAME]``

Tied spherical keys = values, random bijection, seed 0, at d = 32, F = 512 and d = 64,
F = 2048 (``--quick``: d = 16, F = 64 only, written as ``bench_hebbian_dd_quick``). Per point
and method (``hebbian_dd``, ``hebbian_ridge``, ``encdec``, each in its registry default):
:func:`numerics.methods.capacity_search.capacity` with recall in float32 (5% bisection,
re-verified with seed 1), giving the width, params/fact and the search's wall time; the MLP
found is certified in float32 (``numerics.precision.certify_recall``) and its bits frontier
measured (``min_bits``, total weight bits over the counting bound).

GD is not retrained: its params/fact at the same fact sets (seed 0) is read from
``benchmarks/results/bench_methods_time_gd_search.json`` (full-batch Adam capacity search,
float32 recall), and the 3-seed mean from ``benchmarks/results/scaling.json`` is recorded next
to it. Reported: params/fact per method and its ratio to GD's.

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

METHODS = ("hebbian_dd", "hebbian_ridge", "encdec")
POINTS = ((32, 512), (64, 2048))
QUICK_POINTS = ((16, 64),)
GD_SEARCH = RESULTS / "bench_methods_time_gd_search.json"
SCALING = RESULTS / "scaling.json"


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"uptime unavailable ({exc})"


def _gd_reference(dim: int, n_facts: int, seed: int) -> dict:
    """GD's recorded params/fact at this point: seed-matched search and 3-seed sweep mean."""
    out: dict = {}
    if GD_SEARCH.exists():
        for row in json.loads(GD_SEARCH.read_text())["rows"]:
            if (row["dim"], row["n_facts"], row["seed"]) == (dim, n_facts, seed):
                out["gd_params_per_fact"] = row["gd_params_per_fact"]
                out["gd_hidden"] = row["gd_hidden"]
                out["gd_source"] = GD_SEARCH.name
    if SCALING.exists():
        for row in json.loads(SCALING.read_text())["cost_table"]:
            if (
                row["family"] == "spherical(tied)"
                and row["method"].startswith("gd")
                and (row["dim"], row["n_facts"]) == (dim, n_facts)
                and row["params_per_fact"] is not None
            ):
                out["gd_sweep_mean_params_per_fact"] = row["params_per_fact"]
                out["gd_sweep_seeds"] = row["reached"]
                out.setdefault("gd_params_per_fact", row["params_per_fact"])
                out.setdefault("gd_source", SCALING.name)
    return out


def _point(dim: int, n_facts: int, method: str, seed: int, progress: bool) -> dict:
    import torch

    from numerics.embeddings.generators import make_factset
    from numerics.methods.capacity_search import capacity

    fs = make_factset("spherical", n_facts=n_facts, dim=dim, seed=seed, tied=True)
    found = capacity(fs, method, seed=seed, dtype=torch.float32, progress=progress)
    row = {
        "dim": dim,
        "n_facts": n_facts,
        "seed": seed,
        "method": method,
        "reached": found.reached,
        "verified": found.verified,
        "hidden": found.hidden,
        "params": found.params,
        "params_per_fact": found.params_per_fact,
        "recall": found.recall,
        "seconds": found.seconds,
        "trials": str([list(t) for t in found.trials]),
        "verify_trials": str([list(t) for t in found.verify_trials]),
    }
    gd = _gd_reference(dim, n_facts, seed)
    row.update(gd_params_per_fact=gd.get("gd_params_per_fact"))
    if found.reached and gd.get("gd_params_per_fact"):
        row["ratio_to_gd"] = found.params_per_fact / gd["gd_params_per_fact"]
    if found.build is not None:
        row.update(precision_summary(found.build.weights, fs))
    if method == "hebbian_dd" and found.build is not None:
        info = found.build.info
        row["dd_score_residuals"] = str([round(r, 3) for r in info["score_residuals"]])
        row["dd_cg_iterations"] = str([f["iterations"] for f in info["fits"]])
        row["dd_cg_converged"] = all(f["converged"] for f in info["fits"])
    print({k: v for k, v in row.items() if "trials" not in k}, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 16, F = 64 only")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true", help="one line per trial")
    parser.add_argument("--name", default=None, help="results name (default by mode)")
    args = parser.parse_args()

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    name = args.name or ("bench_hebbian_dd_quick" if args.quick else "bench_hebbian_dd")
    points = QUICK_POINTS if args.quick else POINTS
    uptime_start, load_start = _uptime(), list(os.getloadavg())
    start = time.perf_counter()
    rows = [
        _point(dim, n_facts, method, args.seed, args.progress)
        for dim, n_facts in points
        for method in METHODS
    ]
    summary: dict = {
        "seed": args.seed,
        "recall_dtype": "float32",
        "threads": torch.get_num_threads(),
        "wall_seconds": time.perf_counter() - start,
        "uptime_start": uptime_start,
        "uptime_end": _uptime(),
        "loadavg_start": load_start,
        "loadavg_end": list(os.getloadavg()),
    }
    for dim, n_facts in points:
        gd = _gd_reference(dim, n_facts, args.seed)
        key = f"d{dim}_F{n_facts}"
        summary[f"{key}_gd_params_per_fact"] = gd.get("gd_params_per_fact")
        summary[f"{key}_gd_source"] = gd.get("gd_source")
        summary[f"{key}_gd_sweep_mean_params_per_fact"] = gd.get("gd_sweep_mean_params_per_fact")
        for row in rows:
            if (row["dim"], row["n_facts"]) == (dim, n_facts):
                summary[f"{key}_{row['method']}_params_per_fact"] = row["params_per_fact"]
                summary[f"{key}_{row['method']}_ratio_to_gd"] = row.get("ratio_to_gd")
    command = "python benchmarks/bench_hebbian_dd.py " + " ".join(sys.argv[1:])
    path = write_results(
        name,
        rows,
        summary=summary,
        command=command.strip(),
        title="Capacity of hebbian_dd (data-dependent Hebbian) vs hebbian_ridge, encdec, GD",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
