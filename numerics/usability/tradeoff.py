"""The capacity–usability tradeoff: how compactly an MLP stores facts against how well a
Transformer can use it, and which MLP metric predicts the latter.

For each :class:`TradeoffPoint` (a fact-MLP recipe on the key–query task of
:mod:`numerics.transformer.task`) :func:`measure_point` records

- **capacity**: parameters, parameters per fact and bits per parameter
  (:func:`theory.bounds.bits_per_param`, the bits of the fact set over the parameters);
- **usability metrics** of the MLP alone (:func:`numerics.usability.lipschitz.usability_report`):
  spectral bound and empirical Lipschitz constant around the keys, normalised margin,
  margin over Lipschitz constant, noise radius, recall under relative noise σ;
- **usability**: recall of the one-layer Transformer trained with a fixed budget
  (:func:`numerics.transformer.run_transformer`), the steps it took, and its validation
  accuracy at the first evaluation (step 250 by default: how fast it learned).

:func:`predictor_fits` then reports, for each metric, the Spearman rank correlation with
Transformer recall and the R² of a least-squares logistic fit
``recall ≈ 1/(1 + exp(−(a + b·x)))`` on x = the metric (log10 of it for the positive,
scale-like ones). References: paper.md §6 (compression raises storage per parameter and
lowers usability; Lipschitz metrics predict usability).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from numerics.transformer.experiment import TransformerRunConfig, run_transformer
from numerics.transformer.fact_mlp import build_fact_mlp
from numerics.transformer.task import make_task
from numerics.transformer.train import TrainConfig
from numerics.usability.lipschitz import usability_report
from theory.bounds import bits_per_param
from theory.errors import InvalidInputError

__all__ = ["TradeoffPoint", "DEFAULT_POINTS", "PREDICTORS", "measure_point", "predictor_fits"]


@dataclass(frozen=True)
class TradeoffPoint:
    """One fact-MLP recipe: embedding family, method and its compression knobs."""

    label: str
    family: str = "spherical"
    method: str = "construct"
    code_dim: int | None = None
    slack: float | None = None
    whiten: str = "none"
    hidden: int | None = None


#: The points of ``benchmarks/bench_tradeoff.py``: our construction from most compressed
#: (the smallest safe code dimension m, slack 0.05) to least (m = d, more encoder slack), the
#: follow-up's Hebbian constructions (``hebbian_ridge``; ``hebbian_dd``, data-dependent), the
#: certified max-margin construction and a GD-trained MLP at their capacities, and value
#: whitening on anisotropic (``conditioned``, κ = 10) embeddings.
DEFAULT_POINTS = (
    TradeoffPoint("construct m=auto"),
    TradeoffPoint("construct m=32", code_dim=32),
    TradeoffPoint("construct m=64", code_dim=64),
    TradeoffPoint("construct slack=1", slack=1.0),
    TradeoffPoint("construct slack=3", slack=3.0),
    TradeoffPoint("construct m=64 slack=3", code_dim=64, slack=3.0),
    TradeoffPoint("hebbian_ridge capacity", method="hebbian_ridge"),
    TradeoffPoint("hebbian_dd capacity", method="hebbian_dd"),
    TradeoffPoint("maxmargin capacity", method="maxmargin"),
    TradeoffPoint("gd capacity", method="gd"),
    TradeoffPoint("conditioned construct", family="conditioned"),
    TradeoffPoint("conditioned construct whitened", family="conditioned", whiten="values"),
    TradeoffPoint("conditioned construct slack=3", family="conditioned", slack=3.0),
    TradeoffPoint(
        "conditioned construct whitened slack=3", family="conditioned", whiten="values", slack=3.0
    ),
)

#: Metrics tried as predictors of Transformer recall: (row key, take log10, expected sign).
PREDICTORS = (
    ("noisy_recall_0.05", False, +1),
    ("noisy_recall_0.1", False, +1),
    ("noisy_recall_0.2", False, +1),
    ("margin_over_lipschitz_median", True, +1),
    ("noise_radius_rel_median", True, +1),
    ("normalized_margin_median", True, +1),
    ("empirical_lipschitz_median", True, -1),
    ("spectral_bound_median", True, -1),
    ("bits_per_param", True, -1),
)


def measure_point(
    point: TradeoffPoint,
    *,
    n_facts: int = 256,
    seed: int = 0,
    train: TrainConfig | None = None,
    device: str = "cpu",
    noise_levels=(0.05, 0.1, 0.2, 0.3),
) -> dict:
    """Capacity, usability metrics and Transformer recall of one point (module docstring);
    ``train`` defaults to ``TrainConfig(max_steps=1500)``."""
    train = TrainConfig(max_steps=1500) if train is None else train
    if not isinstance(point, TradeoffPoint):
        raise InvalidInputError(f"point must be a TradeoffPoint, got {type(point).__name__}")
    start = time.perf_counter()
    task = make_task(n_facts, family=point.family, seed=seed)
    factset = task.factset()
    options = {
        k: v for k, v in (("code_dim", point.code_dim), ("slack", point.slack)) if v is not None
    }
    fact_mlp = build_fact_mlp(
        factset,
        point.method,
        hidden=point.hidden,
        whiten=point.whiten,
        seed=seed,
        device=device,
        **options,
    )
    report = usability_report(
        fact_mlp.weights, factset, noise_levels=noise_levels, seed=seed, device=device
    )
    run = run_transformer(
        TransformerRunConfig(
            n_facts=n_facts, family=point.family, seed=seed, train=train, device=device
        ),
        fact_mlp=fact_mlp,
    )
    metrics = report.to_dict()
    noisy = metrics.pop("noisy_recall")
    row = {
        **asdict(point),
        "n_facts": n_facts,
        "seed": seed,
        "hidden_built": fact_mlp.hidden,
        "params": fact_mlp.params,
        "params_per_fact": fact_mlp.params / n_facts,
        "bits_per_param": bits_per_param(n_facts, factset.n_values, fact_mlp.params),
        "mlp_recall": fact_mlp.mlp_recall.accuracy,
        **metrics,
        **{f"noisy_recall_{k}": v for k, v in noisy.items()},
        "transformer_recall": run.evaluation.recall,
        "steps": run.training.steps,
        "first_eval_step": run.training.history[0][0],
        "first_eval_accuracy": run.training.history[0][2],
        "reached_target": run.training.reached_target,
        "attention_on_key": run.evaluation.attention_on_key,
        "train_seconds": run.training.seconds,
        "seconds": time.perf_counter() - start,
    }
    if "code_dim" in fact_mlp.info:
        row["code_dim_built"] = fact_mlp.info["code_dim"]
    return row


def _logistic_r2(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares logistic fit of y on x, best of several starts (slopes of both signs,
    midpoint at the median of x): (R², a, b)."""
    from scipy.optimize import least_squares

    def residual(theta):
        return 1.0 / (1.0 + np.exp(-np.clip(theta[0] + theta[1] * x, -500, 500))) - y

    scale = float(np.std(x)) or 1.0
    best = None
    for slope in (-10.0, -3.0, -1.0, 1.0, 3.0, 10.0):
        b0 = slope / scale
        fit = least_squares(residual, x0=[-b0 * float(np.median(x)), b0])
        if best is None or fit.cost < best.cost:
            best = fit
    ss_res = float(np.sum(best.fun**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2)) or math.inf
    return 1.0 - ss_res / ss_tot, float(best.x[0]), float(best.x[1])


def predictor_fits(
    rows: list[dict], *, target: str = "transformer_recall", predictors=PREDICTORS
) -> list[dict]:
    """For each predictor present in every row: Spearman ρ with ``target``, whether its sign
    is the expected one, and the logistic fit (a, b, R²); sorted by R² (best first).

    Raises
    ------
    InvalidInputError
        Fewer than 3 rows (no correlation to speak of).
    """
    from scipy.stats import spearmanr

    if len(rows) < 3:
        raise InvalidInputError(f"need at least 3 rows to fit a predictor, got {len(rows)}")
    y = np.array([r[target] for r in rows], dtype=float)
    fits = []
    for key, use_log, sign in predictors:
        if not all(key in r and r[key] is not None for r in rows):
            continue
        x = np.array([r[key] for r in rows], dtype=float)
        if use_log:
            x = np.log10(np.maximum(x, 1e-300))
        rho = float(spearmanr(x, y).statistic) if np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
        r2, a, b = _logistic_r2(x, y)
        fits.append(
            {
                "metric": key,
                "log10": use_log,
                "spearman": rho,
                "expected_sign": sign,
                "sign_as_expected": bool(np.sign(rho) == sign),
                "logistic_r2": r2,
                "a": a,
                "b": b,
                "n": len(rows),
            }
        )
    return sorted(fits, key=lambda f: -f["logistic_r2"])
