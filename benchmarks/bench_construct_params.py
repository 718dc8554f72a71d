"""Benchmark: parameters per fact of ``factmlp construct`` at 100% recall (float32 evaluation).

``python benchmarks/bench_construct_params.py [--quick]``

Tied spherical keys = values with a random bijection; d ∈ {32, 64, 128},
F ∈ {d²/8, d²/4, d²/2}, seeds 0, 1, 2, default settings (code dimension chosen
automatically). A point counts only if recall is 1 in float64 *and* float32 recall is
**certified** for every key (:func:`numerics.precision.certify_recall`; the construction grows
m until it is). Before/after: the certified fraction at the first code dimension (today's
a-priori m, ``code_dims_tried[0]``) and the params/fact of the previous run of this script
(read from its committed JSON before it is overwritten) against the certified build's. Also,
for seed 0, the **searched minimum**: the smallest code dimension m whose construction is
still certified in float32 (binary search over m ≤ the default m).

Reported: params/fact per point; the least-squares slope of log W against log F (the paper
expects F log F growth, a slope of 1.0–1.25); d-independence as the ratio of searched-minimum
params/fact at the same F under two d (F = d²/2 at d and F = d'²/8 at d' = 2d); the target
≤ 100 params/fact at d = 64, F = 2048 (paper Figure 1: ≈ 90–180). Writes a plot next to the
results.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _report import RESULTS, write_results  # noqa: E402

TARGET_D64_F2048 = 100.0


def _build(factset, code_dim=None, seed=0):
    from numerics.construction.pipeline import ConstructionConfig, construct
    from theory.errors import FactMLPError

    try:
        return construct(factset, ConstructionConfig(code_dim=code_dim, seed=seed))
    except FactMLPError:  # a code dimension too small to decode: not a valid point
        return None


def _searched_minimum(factset, default_m: int) -> tuple[int, float]:
    low, high, best = 1, default_m, None
    while low < high:
        mid = (low + high) // 2
        built = _build(factset, code_dim=mid)
        if built is not None and built.recall.accuracy == 1.0 and built.float32_certified:
            high, best = mid, built
        else:
            low = mid + 1
    best = best if best is not None and best.code_dim == low else _build(factset, code_dim=low)
    return low, best.params / factset.n_facts


def _slope(xs, ys) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def _plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from theory.bounds import bound_report

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for d in sorted({r["dim"] for r in rows}):
        pts = sorted(
            (r["n_facts"], r["params_per_fact"]) for r in rows if r["dim"] == d and r["ok"]
        )
        ax.plot(*zip(*pts, strict=True), "o", alpha=0.6, label=f"construct, d = {d}")
        mins = sorted(
            (r["n_facts"], r["searched_min_params_per_fact"])
            for r in rows
            if r["dim"] == d and r.get("searched_min_params_per_fact")
        )
        if mins:
            ax.plot(*zip(*mins, strict=True), "k--", marker="x", alpha=0.7)
    fs = sorted({r["n_facts"] for r in rows})
    ax.plot(
        fs,
        [bound_report(f, f, 2.0, bijective=True).min_params / f for f in fs],
        "r:",
        label="counting bound, 2 bits/param",
    )
    ax.axhspan(90, 180, color="gray", alpha=0.15, label="paper Fig. 1 construction (≈90–180)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("F (facts)")
    ax.set_ylabel("parameters per fact at 100% recall (float32)")
    ax.set_title("encoder–decoder construction (x: searched minimum m)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="d ∈ {16, 32}, one seed")
    args = parser.parse_args()
    from numerics.embeddings.generators import make_factset

    name = "bench_construct_params" + ("_quick" if args.quick else "")
    previous = {}
    if (RESULTS / f"{name}.json").exists():  # the run before this one: "before" params/fact
        import json

        for r in json.loads((RESULTS / f"{name}.json").read_text())["rows"]:
            if r.get("params_per_fact"):
                previous[(r["dim"], r["n_facts"], r["seed"])] = r["params_per_fact"]
    dims = (16, 32) if args.quick else (32, 64, 128)
    seeds = (0,) if args.quick else (0, 1, 2)
    rows = []
    for d in dims:
        for n_facts in (d * d // 8, d * d // 4, d * d // 2):
            for seed in seeds:
                fs = make_factset("spherical", n_facts=n_facts, dim=d, seed=seed, tied=True)
                start = time.perf_counter()
                built = _build(fs, seed=seed)
                row = {
                    "dim": d,
                    "n_facts": n_facts,
                    "seed": seed,
                    "seconds": time.perf_counter() - start,
                }
                if built is None:
                    row.update(ok=False)
                else:
                    cert = built.float32_certificate
                    before = previous.get((d, n_facts, seed))
                    row.update(
                        ok=built.recall.accuracy == 1.0 and built.float32_certified,
                        recall=built.recall.accuracy,
                        float32_certified=built.float32_certified,
                        certified_fraction_before=built.code_dims_tried[0][1],
                        code_dims_tried=str(built.code_dims_tried),
                        bound_over_observed=cert.bound_over_observed,
                        worst_margin_over_bound=cert.worst_margin_over_bound,
                        float32_recall=built.float32.accuracy,
                        bf16_recall=built.bf16.accuracy,
                        code_dim=built.code_dim,
                        params_per_fact=built.params / n_facts,
                        params_per_fact_before=before,
                        after_over_before=None
                        if before is None
                        else built.params / n_facts / before,
                        rho_projected=built.rho_projected,
                    )
                    if seed == 0:
                        m, per_fact = _searched_minimum(fs, built.code_dim)
                        row.update(searched_min_code_dim=m, searched_min_params_per_fact=per_fact)
                rows.append(row)
                print(row, flush=True)

    ok = [r for r in rows if r["ok"]]
    slope_default = _slope(
        [math.log(r["n_facts"]) for r in ok],
        [math.log(r["params_per_fact"] * r["n_facts"]) for r in ok],
    )
    mins = [r for r in rows if r.get("searched_min_params_per_fact")]
    slope_min = _slope(
        [math.log(r["n_facts"]) for r in mins],
        [math.log(r["searched_min_params_per_fact"] * r["n_facts"]) for r in mins],
    )
    d_ratios = {}
    for r in mins:  # the same F under d and 2d
        twin = [s for s in mins if s["n_facts"] == r["n_facts"] and s["dim"] == 2 * r["dim"]]
        if twin:
            d_ratios[f"F={r['n_facts']}: d={twin[0]['dim']} / d={r['dim']}"] = (
                twin[0]["searched_min_params_per_fact"] / r["searched_min_params_per_fact"]
            )
    target_rows = [r for r in ok if r["dim"] == 64 and r["n_facts"] == 2048]
    summary = {
        "points_ok": f"{len(ok)}/{len(rows)}",
        "slope_log_W_vs_log_F_default": slope_default,
        "slope_log_W_vs_log_F_searched_min": slope_min,
        **{f"d_independence {k}": v for k, v in d_ratios.items()},
    }
    if target_rows:
        worst = max(r["params_per_fact"] for r in target_rows)
        summary.update(
            d64_F2048_worst_params_per_fact=worst,
            d64_F2048_target=TARGET_D64_F2048,
            d64_F2048_met=worst <= TARGET_D64_F2048,
        )
    ratios = [r["after_over_before"] for r in ok if r.get("after_over_before")]
    if ratios:
        summary.update(
            certified_before=sum(r.get("certified_fraction_before") == 1.0 for r in ok),
            max_after_over_before=max(ratios),
            within_10_percent=max(ratios) <= 1.10,
        )
    write_results(
        name,
        rows,
        summary=summary,
        title="Construction: parameters per fact",
        command="python benchmarks/bench_construct_params.py" + (" --quick" if args.quick else ""),
    )
    _plot(rows, RESULTS / f"{name}.png")


if __name__ == "__main__":
    main()
