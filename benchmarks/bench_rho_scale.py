"""Benchmark: ρ for every one of M = 2^16 values at d = 128, batched in torch, against today's
per-value solver timed on a subset of the same values in the same run.

Usage: ``python benchmarks/bench_rho_scale.py [--quick] [--values M] [--subset N] [--device D]
[--name S]``

Values: tied spherical (``make_factset`` with a bijection, seed 0), M = 2^16, d = 128
(``--quick``: M = 2^12; ``--values`` any other M). Measured: the time and peak memory of
:func:`numerics.construction.separators_torch.batched_decodability` on all M values, and of
:func:`theory.rho.decodability` (``method="mnp"``) on the first ``--subset`` values (default
64; all M would take hours), each per value; their ratio; on the subset, the largest
|Δρ_i| between the two against the sum of the two certificates' gaps (each brackets ρ_i, so
|Δρ_i| ≤ gap_a + gap_b must hold) and whether the brackets overlap; how many values fell back
to theory's solver; and every certificate of the subset re-checked from the values alone by
:func:`theory.rho.verify_certificate` (its bounds recomputed, ``lower > 0``).
The machine's load average goes into the results (other work may share the CPUs).
Results: ``benchmarks/results/NAME.{json,md}`` (``bench_rho_scale``, ``_quick``).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _report import write_results  # noqa: E402  (the script's own folder is on sys.path)

from numerics.construction.separators_torch import batched_decodability  # noqa: E402
from numerics.embeddings.generators import make_factset  # noqa: E402
from theory.rho import decodability, verify_certificate  # noqa: E402

DIM = 128


def _values(n_values: int) -> np.ndarray:
    factset = make_factset("spherical", n_facts=n_values, dim=DIM, seed=0, tied=True)
    return np.asarray(factset.values, dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="M = 2^12 instead of 2^16")
    parser.add_argument("--values", type=int, help="M (default 2^16, 2^12 with --quick)")
    parser.add_argument("--subset", type=int, default=64, help="values timed with theory's solver")
    parser.add_argument("--device", default="cpu", help="torch device of the batched solver")
    parser.add_argument("--name", help="result file stem (default bench_rho_scale[_quick])")
    args = parser.parse_args()

    n_values = args.values or (2**12 if args.quick else 2**16)
    values = _values(n_values)
    subset = np.arange(min(args.subset, n_values))
    load_before = [round(x, 2) for x in os.getloadavg()]

    start = time.perf_counter()
    ours = batched_decodability(values, device=args.device, progress=True)
    batched_s = time.perf_counter() - start
    load_middle = [round(x, 2) for x in os.getloadavg()]
    start = time.perf_counter()
    theirs = decodability(values, indices=subset, progress=True)
    theory_s = time.perf_counter() - start

    fallbacks = sum(c.method != "batched" for c in ours.certificates)
    paired = [(ours.certificates[i], theirs.certificates[k]) for k, i in enumerate(subset)]
    bracketed = all(a.lower <= b.upper + 1e-12 and b.lower <= a.upper + 1e-12 for a, b in paired)
    rechecks = [verify_certificate(values, a) for a, _ in paired]  # raises if malformed
    rechecked = max(
        max(abs(low - a.lower), abs(high - a.upper))
        for (a, _), (low, high) in zip(paired, rechecks, strict=True)
    )
    within_gaps = all(abs(a.rho - b.rho) <= a.gap + b.gap + 1e-15 for a, b in paired)
    per_value = {"batched": batched_s / n_values, "theory": theory_s / subset.size}
    rows = [
        {
            "solver": "batched (torch, all values)",
            "values": n_values,
            "dim": DIM,
            "device": args.device,
            "seconds": batched_s,
            "ms_per_value": 1e3 * per_value["batched"],
            "rho": ours.rho,
            "median_rho_i": float(np.median(ours.rho_per_value)),
            "fallbacks_to_theory": fallbacks,
            "max_gap": float(np.nanmax(ours.gap)),
            "load_before": load_before,
        },
        {
            "solver": f"theory mnp (first {subset.size} values)",
            "values": int(subset.size),
            "dim": DIM,
            "device": "cpu",
            "seconds": theory_s,
            "ms_per_value": 1e3 * per_value["theory"],
            "rho": theirs.rho,
            "median_rho_i": float(np.median(theirs.rho_per_value[subset])),
            "fallbacks_to_theory": 0,
            "max_gap": float(np.nanmax(theirs.gap)),
            "load_before": load_middle,
        },
    ]
    for row in rows:
        print(row, flush=True)
    write_results(
        args.name
        or (
            "bench_rho_scale"
            + ("_quick" if args.quick else "")
            + (f"_m{n_values}" if args.values else "")
        ),
        rows,
        command=" ".join(["python benchmarks/bench_rho_scale.py", *sys.argv[1:]]),
        title="ρ at scale: batched separators against the per-value solver",
        summary={
            "values": n_values,
            "dim": DIM,
            "batched_seconds_all_values": batched_s,
            "per_value_speedup": per_value["theory"] / per_value["batched"],
            "theory_all_values_estimate_s": per_value["theory"] * n_values,
            "subset_max_abs_rho_difference": float(
                np.max(np.abs(ours.rho_per_value[subset] - theirs.rho_per_value[subset]))
            ),
            "subset_certificates_bracket_the_same_rho": bracketed,
            "subset_rho_differences_within_gaps": within_gaps,
            "subset_recheck_max_bound_difference": rechecked,
            "subset_rechecked_lower_all_positive": all(low > 0 for low, _ in rechecks),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
        },
    )


if __name__ == "__main__":
    main()
