"""Benchmark: time and peak memory of ``construct`` (build + verify) against F, d = 128.

``python benchmarks/bench_construct_scale.py [--quick] [--stretch]``

Points (each in its own process, capped at 10 minutes and a 12 GB address space):
F = M = 2^10 … 2^14 with a random bijection (tied spherical keys = values), and F = 2^16
keys with M = 1024 values (spherical, random many-to-one map); ``--stretch`` adds F = M = 2^16.
Targets: each point built and verified within 10 minutes and 8 GB on the 2-core CPU. The
growth exponent is the least-squares slope of log(seconds) against log(F) over the bijection
points. Needs an otherwise idle machine for meaningful times.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _child import measure_child, peak_rss_mb  # noqa: E402

TIME_LIMIT_S = 600
TARGET_RSS_MB = 8000
MEMORY_CAP = 12 * 10**9


def child(n_facts: int, n_values: int, dim: int, seed: int) -> None:
    """Build and verify one point; print its record as JSON."""
    import time

    from numerics.construction.pipeline import construct
    from numerics.embeddings.generators import FactSetSpec

    bijection = n_facts == n_values
    spec = FactSetSpec(
        family="spherical",
        n_facts=n_facts,
        n_values=n_values,
        dim=dim,
        seed=seed,
        fact_map="bijection" if bijection else "random",
        tied=bijection,
    )
    factset = spec.build()
    start = time.perf_counter()
    built = construct(factset)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "n_facts": n_facts,
                "n_values": n_values,
                "dim": dim,
                "seed": seed,
                "seconds": seconds,
                "peak_rss_mb": peak_rss_mb(),
                "recall": built.recall.accuracy,
                "float32_certified": built.float32_certified,
                "float32_certified_fraction": built.float32_certificate.certified_fraction,
                "float32_recall": built.float32.accuracy,
                "params_per_fact": built.params / n_facts,
                "code_dim": built.code_dim,
                "code_dims_tried": [list(step) for step in built.code_dims_tried],
                "encoder": built.encoder.method,
                "kernel_condition": built.encoder.kernel_condition,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run (d = 32)")
    parser.add_argument("--stretch", action="store_true", help="also F = M = 2^16")
    parser.add_argument(
        "--name",
        help="result file stem in benchmarks/results (default: "
        "bench_construct_scale, + _stretch with --stretch, + _quick with --quick)",
    )
    parser.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    dim = 32 if args.quick else 128
    powers = range(8, 11) if args.quick else range(10, 15)
    points = [(2**p, 2**p) for p in powers]
    points.append((2**12, 256) if args.quick else (2**16, 1024))
    if args.stretch:
        points.append((2**16, 2**16))
    rows = []
    for n_facts, n_values in points:
        record = measure_child(
            [__file__, "--child", str(n_facts), str(n_values), str(dim), "0"],
            timeout=TIME_LIMIT_S,
            memory_cap_bytes=MEMORY_CAP,
        )
        record.setdefault("n_facts", n_facts)
        record.setdefault("n_values", n_values)
        record["within_targets"] = (
            record["status"] == "ok"
            and record.get("recall") == 1.0
            and record["wall_s"] <= TIME_LIMIT_S
            and record.get("peak_rss_mb", math.inf) <= TARGET_RSS_MB
        )
        rows.append(record)
        print(json.dumps(record), flush=True)

    fitted = [
        (math.log(r["n_facts"]), math.log(r["seconds"]))
        for r in rows
        if r["status"] == "ok" and r["n_facts"] == r["n_values"]
    ]
    slope = None
    if len(fitted) >= 2:
        mx = sum(x for x, _ in fitted) / len(fitted)
        my = sum(y for _, y in fitted) / len(fitted)
        slope = sum((x - mx) * (y - my) for x, y in fitted) / sum((x - mx) ** 2 for x, _ in fitted)
    from _report import write_results

    name = args.name or (
        "bench_construct_scale"
        + ("_stretch" if args.stretch else "")
        + ("_quick" if args.quick else "")
    )
    write_results(
        name,
        rows,
        command=" ".join(["python benchmarks/bench_construct_scale.py", *sys.argv[1:]]),
        title="Construction: time and peak memory against F",
        summary={
            "dim": dim,
            "time_limit_s": TIME_LIMIT_S,
            "target_rss_mb": TARGET_RSS_MB,
            "time_growth_exponent": slope,
            "all_within_targets": all(r["within_targets"] for r in rows),
        },
    )


if __name__ == "__main__":
    main()
