"""Benchmark/experiment: the capacity–usability tradeoff of fact MLPs inside a Transformer.

``python benchmarks/bench_tradeoff.py [--quick] [--facts 256] [--max-steps 1500] [--threads 1]``

For each recipe of :data:`numerics.usability.tradeoff.DEFAULT_POINTS` (our construction from most to
least compressed, Hebbian-ridge, data-dependent Hebbian (hebbian_dd), maxmargin and
GD-trained MLPs at their capacities, value whitening on anisotropic embeddings) on the
key–query task with F facts: capacity (bits per parameter),
the MLP's usability metrics (Lipschitz bound and estimates, margins, noisy recall) and the
recall of the one-layer Transformer trained on it (same budget for all: early stop at 99.5%,
at most ``--max-steps`` steps). Then: how well each metric predicts Transformer recall
(Spearman ρ, logistic R²).

Each finished point is appended to ``results/bench_tradeoff_F{F}_points.jsonl`` (``_quick``
for ``--quick``) at once and skipped on a rerun (resume after an interruption); delete the
file to start over. Writes ``bench_tradeoff_F{F}.json/.md`` and three PNG plots.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from _report import RESULTS, write_results  # noqa: E402

_TABLE = (
    "label",
    "hidden_built",
    "params_per_fact",
    "bits_per_param",
    "mlp_recall",
    "spectral_bound_median",
    "empirical_lipschitz_median",
    "normalized_margin_median",
    "margin_over_lipschitz_median",
    "noise_radius_rel_median",
    "noisy_recall_0.1",
    "noisy_recall_0.2",
    "transformer_recall",
    "first_eval_accuracy",
    "steps",
    "seconds",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="F = 64, 4 points, 300 steps")
    parser.add_argument("--facts", type=int, default=256)
    parser.add_argument("--max-steps", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip", default="", help="comma-separated labels to leave out")
    args = parser.parse_args()
    import torch

    from numerics.transformer import TrainConfig
    from numerics.usability.plots import plot_noise_curves, plot_predictors, plot_tradeoff
    from numerics.usability.tradeoff import (
        DEFAULT_POINTS,
        TradeoffPoint,
        measure_point,
        predictor_fits,
    )

    torch.set_num_threads(args.threads)
    points = DEFAULT_POINTS
    n_facts, max_steps = args.facts, args.max_steps
    name = "bench_tradeoff" + ("_quick" if args.quick else f"_F{n_facts}")
    if args.quick:
        n_facts, max_steps = 64, 300
        points = (
            TradeoffPoint("construct m=auto"),
            TradeoffPoint("construct slack=3", slack=3.0),
            TradeoffPoint("construct m=64 slack=3", code_dim=64, slack=3.0),
            TradeoffPoint("hebbian_ridge capacity", method="hebbian_ridge"),
        )
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    store = RESULTS / f"{name}_points.jsonl"
    RESULTS.mkdir(parents=True, exist_ok=True)
    done = {}
    if store.exists():
        for line in store.read_text().splitlines():
            row = json.loads(line)
            if row["n_facts"] == n_facts:
                done[row["label"]] = row
    load_start = os.getloadavg()
    rows = []
    for point in points:
        if point.label in skip:
            continue
        if point.label in done:
            rows.append(done[point.label])
            continue
        row = measure_point(point, n_facts=n_facts, train=TrainConfig(max_steps=max_steps))
        row["load_1min"] = os.getloadavg()[0]
        with store.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        rows.append(row)
        print({k: row[k] for k in _TABLE}, flush=True)
    fits = predictor_fits(rows)
    spherical_rows = [r for r in rows if r["family"] == "spherical"]
    spherical_fits = predictor_fits(spherical_rows) if len(spherical_rows) >= 3 else []
    spherical = [r for r in spherical_rows if r["method"] == "construct"]
    summary = {
        "n_facts": n_facts,
        "max_steps": max_steps,
        "points": len(rows),
        "best_predictor (all points)": fits[0]["metric"],
        **{
            f"fit {f['metric']} (all {f['n']})": f"Spearman {f['spearman']:.3f}, logistic R² {f['logistic_r2']:.3f}"
            for f in fits
        },
        **{
            f"fit {f['metric']} (spherical {f['n']})": f"Spearman {f['spearman']:.3f}, logistic R² {f['logistic_r2']:.3f}"
            for f in spherical_fits
        },
        "construct_spearman_bits_vs_transformer_recall": _spearman(
            [r["bits_per_param"] for r in spherical], [r["transformer_recall"] for r in spherical]
        ),
        "torch_threads": args.threads,
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
    }
    write_results(
        name,
        [{k: r.get(k) for k in _TABLE} for r in rows],
        summary=summary,
        title="Capacity–usability tradeoff",
        command=" ".join(["python benchmarks/bench_tradeoff.py", *sys.argv[1:]]),
    )
    payload = json.loads((RESULTS / f"{name}.json").read_text())
    payload.update(full_rows=rows, fits=fits, spherical_fits=spherical_fits)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    plot_tradeoff(rows, RESULTS / f"{name}.png")
    plot_predictors(rows, fits, RESULTS / f"{name}_predictors.png")
    if spherical_fits:
        plot_predictors(
            spherical_rows, spherical_fits, RESULTS / f"{name}_predictors_spherical.png"
        )
    plot_noise_curves(rows, RESULTS / f"{name}_noise.png")


def _spearman(x, y) -> float | None:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic) if len(x) >= 3 else None


if __name__ == "__main__":
    main()
