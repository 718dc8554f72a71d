"""Least-squares scaling fits of a sweep's stored results: cost against F, and against ρ.

**Cost against F** (per method and family, per d and pooled over d):

.. math::

    \\log W = a + b \\log F \\qquad (\\text{and } \\log(W/F) = a' + (b-1) \\log F),

fitted by ordinary least squares over the points that reached 100% recall; ``b`` is the
scaling exponent (the paper expects ``W ∝ F log F``: ``b`` a little above 1 over
F = 2^7..2^14).

**Cost against ρ** (per method, over every family): the paper's bound is
``W = O(F log M / ρ²)``, so the model

.. math::

    \\log W = a + b \\log F + c \\log ρ

is fitted and compared with the F-only model ``log W = a + b log F``: ``c`` is ρ's exponent
(−2 if the bound is tight) and ``r2_gain`` the share of the variance ρ explains beyond F.
Both ``rho`` (min over the used values) and ``rho_median`` are tried.

Everything here reads rows (dicts as returned by :meth:`SweepStore.rows`); nothing is run.
Methods are grouped by :func:`method_label` (the name plus any ``method_options``), so rows
of one method under two configurations are never merged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from theory.errors import InvalidInputError

__all__ = [
    "LinearFit",
    "least_squares",
    "method_label",
    "reached_rows",
    "scaling_fits",
    "rho_fits",
    "cost_table",
    "method_ratios",
    "reach_ceilings",
]


@dataclass(frozen=True)
class LinearFit:
    """``y ≈ X β`` by least squares: coefficients (intercept first), R² and the point count."""

    coefficients: tuple[float, ...]
    r2: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def least_squares(columns: Sequence[Sequence[float]], y: Sequence[float]) -> LinearFit:
    """Fit ``y = β₀ + Σ_k β_k x_k`` (``columns`` = the ``x_k``) by ordinary least squares.

    Raises
    ------
    InvalidInputError
        If there are fewer points than coefficients, lengths differ, or a column is constant
        (the fit would not be determined).

    Examples
    --------
    >>> fit = least_squares([[0.0, 1.0, 2.0]], [1.0, 3.0, 5.0])
    >>> [round(c, 12) for c in fit.coefficients], round(fit.r2, 12), fit.n
    ([1.0, 2.0], 1.0, 3)
    """
    y = np.asarray(y, dtype=np.float64)
    cols = [np.asarray(c, dtype=np.float64) for c in columns]
    if any(c.shape != y.shape for c in cols) or y.ndim != 1:
        raise InvalidInputError("least_squares: every column must have one entry per point")
    x = np.column_stack([np.ones_like(y)] + cols)
    if y.size < x.shape[1]:
        raise InvalidInputError(
            f"least_squares: {y.size} point(s) cannot fix {x.shape[1]} coefficients"
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InvalidInputError("least_squares: every value must be finite")
    for k in range(1, x.shape[1]):
        if np.ptp(x[:, k]) == 0:
            raise InvalidInputError(f"least_squares: column {k - 1} is constant")
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ beta
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((residual**2).sum()) / total if total > 0 else 1.0
    return LinearFit(tuple(float(b) for b in beta), r2, int(y.size))


def method_label(row: Mapping[str, Any]) -> str:
    """``method`` alone, or with its options: ``gd(epochs=4000, lrs=0.01)``.

    >>> method_label({"method": "gd", "method_options": {"lrs": [0.01, 0.003], "epochs": 4000}})
    'gd(epochs=4000, lrs=0.01/0.003)'
    """
    options = row.get("method_options") or {}
    if not options:
        return str(row["method"])
    shown = [
        f"{k}={'/'.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
        for k, v in sorted(options.items())
    ]
    return f"{row['method']}({', '.join(shown)})"


def reached_rows(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows with status ``ok`` that reached 100% recall (positive params)."""
    return [
        r
        for r in rows
        if r.get("status") == "ok" and r.get("reached") and (r.get("params") or 0) > 0
    ]


def _fit_or_none(columns, y) -> LinearFit | None:
    try:
        return least_squares(columns, y)
    except InvalidInputError:
        return None  # too few distinct F (or ρ) in this group: no slope to report


def scaling_fits(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Slopes of log W and log(W/F) against log F per (family, method, d) and per (family,
    method) pooled over d (``dim = "all"``); groups with fewer than two distinct F are left out.

    Returns
    -------
    list of dict
        ``family``, ``method``, ``dim``, ``n``, ``slope_params`` (b), ``slope_params_per_fact``
        (b − 1 by construction of the fit), ``r2``, ``f_range`` and the mean params/fact.
    """
    groups: dict[tuple, list] = defaultdict(list)
    for r in reached_rows(rows):
        groups[(r["family_label"], method_label(r), r["dim"])].append(r)
        groups[(r["family_label"], method_label(r), "all")].append(r)
    out = []
    for (family, method, dim), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        log_f = np.log([m["n_facts"] for m in members])
        log_w = np.log([m["params"] for m in members])
        fit = _fit_or_none([log_f], log_w)
        if fit is None:
            continue
        per_fact = _fit_or_none([log_f], log_w - log_f)
        out.append(
            {
                "family": family,
                "method": method,
                "dim": dim,
                "n": fit.n,
                "slope_params": fit.coefficients[1],
                "slope_params_per_fact": per_fact.coefficients[1],
                "r2": fit.r2,
                "f_range": [
                    int(min(m["n_facts"] for m in members)),
                    int(max(m["n_facts"] for m in members)),
                ],
                "mean_params_per_fact": float(np.mean([m["params_per_fact"] for m in members])),
            }
        )
    return out


def rho_fits(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per method and ρ statistic: ``log W = a + b log F + c log ρ`` against the F-only fit.

    Returns
    -------
    list of dict
        ``method``, ``rho_stat`` (``rho`` or ``rho_median``), ``n``, ``families``,
        ``exponent_facts`` (b), ``exponent_rho`` (c), ``r2`` (with ρ), ``r2_facts_only``,
        ``r2_gain``; methods whose points have fewer than two distinct F or ρ are left out.
    """
    by_method: dict[str, list] = defaultdict(list)
    for r in reached_rows(rows):
        by_method[method_label(r)].append(r)
    out = []
    for method, members in sorted(by_method.items()):
        for stat in ("rho", "rho_median"):
            usable = [m for m in members if (m.get(stat) or 0) > 0]
            if len(usable) < 4:
                continue
            log_f = np.log([m["n_facts"] for m in usable])
            log_w = np.log([m["params"] for m in usable])
            log_rho = np.log([m[stat] for m in usable])
            full, base = _fit_or_none([log_f, log_rho], log_w), _fit_or_none([log_f], log_w)
            if full is None or base is None:
                continue
            out.append(
                {
                    "method": method,
                    "rho_stat": stat,
                    "n": full.n,
                    "families": sorted({m["family_label"] for m in usable}),
                    "exponent_facts": full.coefficients[1],
                    "exponent_rho": full.coefficients[2],
                    "r2": full.r2,
                    "r2_facts_only": base.r2,
                    "r2_gain": full.r2 - base.r2,
                }
            )
    return out


def _grouped(rows, fields) -> dict[tuple, list]:
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        groups[tuple(r[f] for f in fields)].append(r)
    return dict(sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])))


def cost_table(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One line per (family, method, d, F) over the seeds: how many ran, reached, were skipped,
    the mean / min / max params per fact and bits per parameter of the reached ones, and the
    range of their ``min_bits`` with the mean total bits over the counting bound (None where
    no reached row has them: rows written before the bits columns existed)."""
    out = []
    labelled = [{**r, "method_label": method_label(r)} for r in rows]
    fields = ("family_label", "method_label", "dim", "n_facts")
    for (family, method, dim, n_facts), members in _grouped(labelled, fields).items():
        done = [m for m in members if m["status"] == "ok"]
        hit = reached_rows(members)
        ppf = [m["params_per_fact"] for m in hit]
        bits = [m for m in hit if m.get("min_bits") is not None]
        line = {
            "family": family,
            "method": method,
            "dim": dim,
            "n_facts": n_facts,
            "fraction_of_d2": n_facts / dim**2,
            "seeds": len(members),
            "ran": len(done),
            "reached": len(hit),
            "skipped": sum(m["status"] == "skipped" for m in members),
            "errors": sum(m["status"] == "error" for m in members),
            "params_per_fact": float(np.mean(ppf)) if ppf else None,
            "params_per_fact_min": float(np.min(ppf)) if ppf else None,
            "params_per_fact_max": float(np.max(ppf)) if ppf else None,
            "bits_per_param": float(np.mean([m["bits_per_param"] for m in hit])) if hit else None,
            "min_bits_min": min((m["min_bits"] for m in bits), default=None),
            "min_bits_max": max((m["min_bits"] for m in bits), default=None),
            "total_over_bound": float(np.mean([m["total_over_bound"] for m in bits]))
            if bits
            else None,
            "best_recall": max(
                (m["recall"] for m in done if m["recall"] is not None), default=None
            ),
            "rho": float(np.mean([m["rho"] for m in members if m.get("rho") is not None]))
            if any(m.get("rho") is not None for m in members)
            else None,
        }
        reasons = sorted({m["reason"] for m in members if m["status"] != "ok" and m.get("reason")})
        if reasons:
            line["reason"] = reasons[0]
        out.append(line)
    return out


def method_ratios(
    rows: Iterable[Mapping[str, Any]], numerator: str, denominator: str
) -> list[dict[str, Any]]:
    """Params of ``numerator`` over params of ``denominator`` (method labels,
    :func:`method_label`) on the same fact set (same family, d, F and seed; both reached),
    summarised per (family, d, F): mean, min, max."""
    hit = reached_rows(rows)
    by_point = {
        (r["family_label"], r["dim"], r["n_facts"], r["seed"], method_label(r)): r for r in hit
    }
    pairs: dict[tuple, list] = defaultdict(list)
    for (family, dim, n_facts, seed, method), r in by_point.items():
        other = by_point.get((family, dim, n_facts, seed, denominator))
        if method == numerator and other is not None:
            pairs[(family, dim, n_facts)].append(r["params"] / other["params"])
    return [
        {
            "family": family,
            "dim": dim,
            "n_facts": n_facts,
            "numerator": numerator,
            "denominator": denominator,
            "seeds": len(ratios),
            "ratio": float(np.mean(ratios)),
            "ratio_min": float(np.min(ratios)),
            "ratio_max": float(np.max(ratios)),
        }
        for (family, dim, n_facts), ratios in sorted(pairs.items(), key=lambda kv: str(kv[0]))
    ]


def reach_ceilings(rows: Iterable[Mapping[str, Any]], method: str) -> list[dict[str, Any]]:
    """Where ``method`` (a label, :func:`method_label`) stops reaching 100% recall, per
    (family, d): the largest F at which
    every seed reached (``last_reached``) and the smallest F at which some seed that ran did
    not (``first_failed``), also as fractions of d²; ``None`` where the sweep saw no such F."""
    mine = [r for r in rows if method_label(r) == method and r["status"] == "ok"]
    out = []
    for (family, dim), members in _grouped(mine, ("family_label", "dim")).items():
        by_f = _grouped(members, ("n_facts",))
        all_reached = [f for (f,), ms in by_f.items() if all(m["reached"] for m in ms)]
        some_failed = [f for (f,), ms in by_f.items() if not all(m["reached"] for m in ms)]
        last = max(
            (f for f in all_reached if not some_failed or f < min(some_failed)), default=None
        )
        first = min(some_failed, default=None)
        out.append(
            {
                "family": family,
                "method": method,
                "dim": dim,
                "last_reached": last,
                "first_failed": first,
                "last_reached_fraction": last / dim**2 if last else None,
                "first_failed_fraction": first / dim**2 if first else None,
                "tried": sorted(f for (f,) in by_f),
            }
        )
    return out
