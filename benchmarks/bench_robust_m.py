"""Benchmark: the two code-dimension rules of ``construct``, cost against noise robustness.

``python benchmarks/bench_robust_m.py [--quick] [--threads N]``

Tied spherical bijections, seed 0: d = 32 with F ∈ {128, 256, 512} and d = 64 with
F ∈ {512, 1024, 2048} (the seed-0 points of ``bench_construct_params`` at d ≤ 64; ``--quick``:
d = 16, F ∈ {32, 64}). Each set is built twice, with ``code_dim_rule="smallest"`` (today's
default: the smallest m whose ρ(W) clears the float32 estimate) and ``"robust"`` (also
ρ(W) ≥ c·ρ(V), c = 0.5); both then grow m until float32 recall is certified.

Per build: m, params/fact, ρ(W)/ρ(V), float32_certified, the build time, and the noise
radius of every key, r*(k) = max over r ∈ ``RADII_REL`` × mean key norm of
min(r, μ/L(k, r)) (:func:`theory.lipschitz.noise_radius` for each ball: μ the normalised
margin, :func:`numerics.usability.lipschitz.normalized_margins`; L the Lipschitz bound on
B(k, r), :func:`numerics.usability.lipschitz.spectral_bound`; each ball's radius holds on its
own, so their maximum does too), reported relative to the key norm (median and min over all
keys). r* is a rigorous radius for the float64 weights *in exact arithmetic*; μ and L are
evaluated in float64 without bounding their rounding, so the figures are checked, not
certified under an arithmetic model. The bound L is loose: beside it, the median largest
Jacobian norm found in B(k, 0.01·‖k‖) on ``EMPIRICAL_KEYS`` keys (a lower bound on the same
constant, :func:`numerics.usability.lipschitz.empirical_lipschitz`). Also the noisy recall (measured) at relative noise σ
∈ ``NOISE_LEVELS`` (the key plus Gaussian noise, renormalised to the key's norm, as the
Transformer's frozen RMSNorm does). The summary gives, per set, the robust/smallest ratios
of params (the cost) and of the median r* (the gain), and their medians over the sets.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _report import write_results  # noqa: E402

ROBUST_FRACTION = 0.5
#: Ball radii of the Lipschitz bound, relative to the mean key norm: a smaller ball has a
#: smaller L, but caps r* at r; the best of the three is kept per key.
RADII_REL = (0.1, 0.01, 0.001)
#: Keys (a seeded subset) on which the empirical Lipschitz constant is measured.
EMPIRICAL_KEYS = 64
#: Relative input-noise levels σ of the noisy recall.
NOISE_LEVELS = (0.05, 0.1)
NOISY_SAMPLES = 4
POINTS = ((32, 128), (32, 256), (32, 512), (64, 512), (64, 1024), (64, 2048))
QUICK_POINTS = ((16, 32), (16, 64))


def _noise_radius(weights, factset) -> dict:
    """Median and min over all keys of r*(k)/‖k‖ (module docstring), the median margin, the
    median bound L on the middle ball and the median empirical constant there."""
    import numpy as np

    from numerics.usability.lipschitz import (
        empirical_lipschitz,
        normalized_margins,
        spectral_bound,
    )
    from theory.lipschitz import noise_radius

    keys = np.asarray(factset.keys)
    norms = np.linalg.norm(keys, axis=1)
    mu = normalized_margins(weights, factset)
    radius = np.zeros(len(keys))
    bounds = {}
    for rel in RADII_REL:
        r = rel * float(norms.mean())
        bounds[rel] = spectral_bound(weights, keys, r)
        radius = np.maximum(radius, noise_radius(mu, bounds[rel], r))
    relative = radius / norms
    middle = RADII_REL[1]
    sub = np.random.default_rng(0).permutation(len(keys))[:EMPIRICAL_KEYS]
    jacobian_max, _ = empirical_lipschitz(
        weights, keys[sub], middle * float(norms.mean()), n_samples=8, seed=0
    )
    return {
        "radius_rel_median": float(np.median(relative)),
        "radius_rel_min": float(relative.min()),
        "margin_median": float(np.median(mu)),
        f"lipschitz_bound_median_r{middle:g}": float(np.median(bounds[middle])),
        f"lipschitz_empirical_median_r{middle:g}": float(np.median(jacobian_max)),
    }


def _row(factset, rule: str, rho_values: float) -> dict:
    """One build with ``rule``; ``rho_values`` is ρ(V) of the used values, computed once per
    set (the robust build computes it too, the smallest one does not)."""
    from numerics.construction.pipeline import ConstructionConfig, construct
    from numerics.usability.lipschitz import noisy_recall

    start = time.perf_counter()
    built = construct(
        factset, ConstructionConfig(code_dim_rule=rule, robust_fraction=ROBUST_FRACTION)
    )
    seconds = time.perf_counter() - start
    row = {
        "dim": factset.dim,
        "n_facts": factset.n_facts,
        "rule": built.code_dim_rule,
        "code_dim": built.code_dim,
        "code_dims_tried": str(built.code_dims_tried),
        "params": built.params,
        "params_per_fact": built.params / factset.n_facts,
        "rho_W": built.rho_projected,
        "rho_V": rho_values,
        "rho_W_over_rho_V": built.rho_projected / rho_values,
        "recall": built.recall.accuracy,
        "float32_certified": built.float32_certified,
        "float32_recall": built.float32.accuracy,
        "construct_seconds": seconds,
        **_noise_radius(built.weights, factset),
    }
    for sigma in NOISE_LEVELS:
        row[f"noisy_recall_{sigma:g}"] = noisy_recall(
            built.weights, factset, sigma, n_samples=NOISY_SAMPLES, seed=0
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="d = 16, F ∈ {32, 64}")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    import torch

    from numerics.embeddings.generators import make_factset
    from theory.rho import decodability

    torch.set_num_threads(args.threads)
    rows, ratios = [], {}
    for d, n_facts in QUICK_POINTS if args.quick else POINTS:
        fs = make_factset("spherical", n_facts=n_facts, dim=d, seed=0, tied=True)
        rho_values = decodability(fs.values, indices=fs.used_values).rho
        pair = {rule: _row(fs, rule, rho_values) for rule in ("smallest", "robust")}
        for row in pair.values():
            print(row, flush=True)
            rows.append(row)
        small, robust = pair["smallest"], pair["robust"]
        ratios[f"d={d} F={n_facts}"] = {
            "params": robust["params"] / small["params"],
            "radius_median": robust["radius_rel_median"] / small["radius_rel_median"],
            "radius_min": robust["radius_rel_min"] / small["radius_rel_min"],
        }
    robust_rows = [r for r in rows if r["rule"] == "robust"]
    summary = {
        "robust_fraction": ROBUST_FRACTION,
        "radii_rel_balls": list(RADII_REL),
        "all_recall_1_and_float32_certified": all(
            r["recall"] == 1.0 and r["float32_certified"] for r in rows
        ),
        "robust_target_met": all(r["rho_W_over_rho_V"] >= ROBUST_FRACTION for r in robust_rows),
        "robust_m_at_least_smallest": all(
            b["code_dim"] >= a["code_dim"] for a, b in zip(rows[::2], rows[1::2], strict=True)
        ),
        **{f"{k} params ratio (robust/smallest)": v["params"] for k, v in ratios.items()},
        **{f"{k} median radius ratio": v["radius_median"] for k, v in ratios.items()},
        **{f"{k} min radius ratio": v["radius_min"] for k, v in ratios.items()},
        "median params ratio": statistics.median(v["params"] for v in ratios.values()),
        "median radius_median ratio": statistics.median(
            v["radius_median"] for v in ratios.values()
        ),
        "median radius_min ratio": statistics.median(v["radius_min"] for v in ratios.values()),
    }
    for key, value in summary.items():
        print(f"{key}: {value}")
    write_results(
        "bench_robust_m" + ("_quick" if args.quick else ""),
        rows,
        summary=summary,
        title="construct: smallest-m rule against the robust rule ρ(W) ≥ c·ρ(V)",
        command="python benchmarks/bench_robust_m.py"
        + (" --quick" if args.quick else "")
        + (f" --threads {args.threads}" if args.threads != 1 else ""),
    )


if __name__ == "__main__":
    main()
