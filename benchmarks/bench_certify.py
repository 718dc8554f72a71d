"""Benchmark of the precision certifier (:func:`numerics.precision.certify_recall`).

Usage: ``python benchmarks/bench_certify.py [--quick] [--threads N]``

1. The MLP ``factmlp demo`` builds: a tied spherical fact set with a random bijection,
   F = M = 1024, d = 64, seed 0, constructed with seed 0. For float32, bfloat16 and float16:
   the certified fraction, ``worst_margin_over_bound`` (min over keys of the exact-margin
   lower bound over the margin error bound), ``bound_over_observed`` (median over keys of
   bound / |margin in that dtype on this CPU − float64 margin|, with its minimum), the
   recall observed in that dtype, the keys certified only by the refined pair bound, and the
   time. Reference: an earlier estimate said a componentwise worst-case float32 bound
   misses 2 of the 1,024 keys (worst ratio 0.37).
2. Scale: F = M = 2^14, d = 128, a seeded random gated MLP (h = 256, SiLU; the one of
   ``bench_recall``): the time of the float32 certificate (bounds, then the observed
   evaluation). A random MLP stores nothing, so only the time is of interest there.

``--quick`` shrinks both (F = 256, d = 32; F = 2^11, d = 64) and writes
``bench_certify_quick``. Results: ``benchmarks/results/NAME.{json,md}``, with the machine and
the ``uptime`` load before and after (other work on the CPUs slows the timings).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
from _report import write_results  # the script's own folder is on sys.path
from bench_recall import build_problem

from numerics.construction.pipeline import ConstructionConfig, construct
from numerics.embeddings.generators import FactSetSpec
from numerics.precision import certify_recall

SIZES = {
    "full": {"demo": (1024, 64), "scale": (2**14, 2**14, 128, 256)},
    "quick": {"demo": (256, 32), "scale": (2**11, 2**11, 64, 128)},
}


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unavailable"


def _row(instance: str, cert, hidden: int) -> dict:
    return {
        "instance": instance,
        "dtype": cert.dtype,
        "F": cert.n_facts,
        "h": hidden,
        "certified_fraction": cert.certified_fraction,
        "uncertified": len(cert.uncertified),
        "worst_margin_over_bound": cert.worst_margin_over_bound,
        "refined": int(cert.refined.sum()),
        "worst_refined_ratio": cert.worst_refined_ratio,
        "bound_over_observed_median": cert.bound_over_observed,
        "bound_over_observed_min": cert.bound_over_observed_min,
        "observed_recall": cert.observed_recall,
        "bounded": cert.bounded,
        "seconds_bounds": cert.seconds,
        "seconds_observed": cert.observe_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    size = SIZES["quick" if args.quick else "full"]
    load_before = _uptime()

    n_facts, dim = size["demo"]
    spec = FactSetSpec(
        family="spherical",
        n_facts=n_facts,
        n_values=n_facts,
        dim=dim,
        seed=0,
        fact_map="bijection",
        tied=True,
    )
    factset = spec.build()
    built = construct(factset, ConstructionConfig(seed=0))
    rows, demo = [], {}
    for dtype in ("float32", "bfloat16", "float16"):
        cert = certify_recall(built.weights, factset, dtype)
        rows.append(_row(f"demo F={n_facts} d={dim}", cert, built.hidden))
        demo[dtype] = cert
        print(rows[-1], flush=True)

    n_facts_s, n_values_s, dim_s, hidden_s = size["scale"]
    facts_s, weights_s = build_problem(n_facts_s, n_values_s, dim_s, hidden_s)
    start = time.perf_counter()
    cert_s = certify_recall(weights_s, facts_s, "float32")
    total_s = time.perf_counter() - start
    rows.append(_row(f"random MLP F=M={n_facts_s} d={dim_s}", cert_s, hidden_s))
    print(rows[-1], flush=True)

    f32 = demo["float32"]
    summary = {
        "demo_float32_certified": f"{int(f32.certified.sum())} / {f32.n_facts}",
        "demo_float32_uncertified_keys": list(f32.uncertified),
        "demo_float32_worst_margin_over_bound": f32.worst_margin_over_bound,
        "demo_float32_refined_keys": [int(i) for i in np.flatnonzero(f32.refined)],
        "demo_float32_worst_refined_ratio": f32.worst_refined_ratio,
        "earlier_estimate": "2 of 1024 uncovered, worst margin / bound = 0.37",
        "demo_float32_bound_over_observed_median": f32.bound_over_observed,
        "demo_float32_bound_over_observed_min": f32.bound_over_observed_min,
        "demo_construct_float32_certified": built.float32_certified,
        "demo_construct_float32_recall": built.float32.accuracy,
        "demo_construct_bf16_recall": built.bf16.accuracy,
        "demo_bfloat16_bounded": demo["bfloat16"].bounded,
        "scale_seconds_bounds": cert_s.seconds,
        "scale_seconds_total": total_s,
        "uptime_before": load_before,
        "uptime_after": _uptime(),
        "model": f32.model,
    }
    name = "bench_certify_quick" if args.quick else "bench_certify"
    command = "python benchmarks/bench_certify.py" + (" --quick" if args.quick else "")
    if args.threads is not None:
        command += f" --threads {args.threads}"
    path = write_results(
        name, rows, summary=summary, command=command, title="Precision certificate"
    )
    print(path)


if __name__ == "__main__":
    sys.exit(main())
