"""Benchmark of decodability ρ: min-norm point against the cvxpy reference, on real values.

Usage: ``python benchmarks/bench_rho.py [--quick] [--seed S]``

1. MiniLM token embeddings (M = 512 tokens drawn with ``--seed`` among the non-special ones,
   d = 384): ρ_i for every value with ``method="cvxpy"`` (one cone program per value) and with
   ``method="mnp"`` on the same matrix in the same run; speed ratio (target ≥ 20×) and
   max |Δρ_i|.
2. Random unit values, M = 2048, d = 64 (seeded): time of ``method="mnp"``, ρ(V) and the median
   ρ_i, against the reference in paper.md §2 (≈ 0.57 and ≈ 0.59, a single measured draw).

``--quick`` shrinks both to a smoke run (M = 64 tokens; M = 256, d = 64 random) and writes
``bench_rho_quick`` instead of ``bench_rho``.  Results: ``benchmarks/results/NAME.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _report import write_results  # the script's own folder is on sys.path

from numerics.embeddings.minilm_tokens import minilm_token_embeddings, sample_rows
from theory.rho import decodability

SPEEDUP_TARGET = 20.0
REFERENCE_RHO, REFERENCE_MEDIAN = 0.57, 0.59


def _timed(values: np.ndarray, method: str):
    start = time.perf_counter()
    result = decodability(values, method=method, progress=True)
    return result, time.perf_counter() - start


def _row(instance: str, values: np.ndarray, method: str, result, seconds: float) -> dict:
    decodable = result.rho_per_value > 0
    return {
        "instance": instance,
        "M": values.shape[0],
        "d": values.shape[1],
        "method": method,
        "seconds": seconds,
        "ms_per_value": 1e3 * seconds / values.shape[0],
        "rho": result.rho,
        "median_rho_i": float(np.median(result.rho_per_value)),
        "undecodable": int(result.undecodable.size),
        "max_gap_decodable": float(np.max(result.gap[decodable], initial=0.0)),
    }


def _minilm(n_values: int, seed: int) -> tuple[list[dict], dict]:
    table, _ = minilm_token_embeddings()
    values = table[sample_rows(table.shape[0], n_values, seed)].astype(np.float64)
    instance = f"MiniLM tokens (seed {seed})"
    reference, reference_s = _timed(values, "cvxpy")
    fast, fast_s = _timed(values, "mnp")
    rows = [
        _row(instance, values, "cvxpy", reference, reference_s),
        _row(instance, values, "mnp", fast, fast_s),
    ]
    ratio = reference_s / fast_s
    summary = {
        "minilm_M": n_values,
        "minilm_cvxpy_seconds": reference_s,
        "minilm_mnp_seconds": fast_s,
        "minilm_speedup": ratio,
        "minilm_speedup_target": SPEEDUP_TARGET,
        "minilm_speedup_met": bool(ratio >= SPEEDUP_TARGET),
        "minilm_max_abs_delta_rho": float(
            np.max(np.abs(fast.rho_per_value - reference.rho_per_value))
        ),
        "minilm_same_undecodable": bool(np.array_equal(fast.undecodable, reference.undecodable)),
    }
    return rows, summary


def _random_unit(n_values: int, dim: int, seed: int) -> tuple[list[dict], dict]:
    values = np.random.default_rng(seed).standard_normal((n_values, dim))
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    result, seconds = _timed(values, "mnp")
    row = _row(f"random unit (seed {seed})", values, "mnp", result, seconds)
    summary = {
        "random_rho": row["rho"],
        "random_median_rho_i": row["median_rho_i"],
        "random_reference_rho_M2048_d64": REFERENCE_RHO,
        "random_reference_median_M2048_d64": REFERENCE_MEDIAN,
        "random_mnp_seconds": seconds,
    }
    return [row], summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/bench_rho.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--seed", type=int, default=0, help="seed of both instances")
    args = parser.parse_args(argv)
    minilm_m, random_m, random_d = (64, 256, 64) if args.quick else (512, 2048, 64)

    rows, summary = _minilm(minilm_m, args.seed)
    random_rows, random_summary = _random_unit(random_m, random_d, args.seed)
    command = (
        "python benchmarks/bench_rho.py"
        + (" --quick" if args.quick else "")
        + (f" --seed {args.seed}" if args.seed else "")
    )
    path = write_results(
        "bench_rho_quick" if args.quick else "bench_rho",
        rows + random_rows,
        summary={**summary, **random_summary},
        command=command,
        title="Decodability ρ: min-norm point vs cvxpy reference",
    )
    for key, value in {**summary, **random_summary}.items():
        print(f"{key}: {value:.6g}" if isinstance(value, float) else f"{key}: {value}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
