"""Fact-set analyses behind ``factmlp check`` and ``factmlp rho``: JSON-ready summaries.

Both functions only assemble results from :mod:`theory` (ρ, feasibility, bounds); they
compute nothing of their own.
"""

from __future__ import annotations

import numpy as np

from numerics.factset import FactSet
from theory.bounds import bound_report
from theory.feasibility import feasibility
from theory.rho import decodability

__all__ = ["check_factset", "factset_rho"]


def check_factset(
    factset: FactSet, *, bits_per_param: float = 2.0, method: str = "mnp", progress: bool = False
) -> dict:
    """Validate-and-summarise: sizes, ρ over used values, feasibility, key-side warnings and
    the counting bound at ``bits_per_param`` bits per parameter."""
    report = feasibility(
        factset.keys, factset.values, factset.fact_map, method=method, progress=progress
    )
    bijective = (
        factset.n_values == factset.n_facts and np.unique(factset.fact_map).size == factset.n_facts
    )
    bound = bound_report(factset.n_facts, factset.n_values, bits_per_param, bijective=bijective)
    return {
        "n_facts": factset.n_facts,
        "n_values": factset.n_values,
        "dim": factset.dim,
        "used_values": int(factset.used_values.size),
        "rho": report.rho,
        "feasible": report.feasible,
        "undecodable_values": list(report.undecodable_values),
        "infeasible_facts": list(report.infeasible_facts),
        "zero_keys": list(report.zero_keys),
        "ray_conflicts": [list(g) for g in report.ray_conflicts],
        "line_conflicts": [list(g) for g in report.line_conflicts],
        "key_side_warnings": report.key_side_warnings(),
        "bound": bound.to_dict(),
    }


def factset_rho(factset: FactSet, *, method: str = "mnp", progress: bool = False) -> dict:
    """ρ_i for every value (by index), ρ over the used values, the undecodable values and the
    keys mapped to them (infeasible for every MLP)."""
    dec = decodability(factset.values, method=method, progress=progress)
    used = factset.used_values
    undecodable = np.asarray(dec.undecodable, dtype=np.int64)
    return {
        "rho": float(np.min(dec.rho_per_value[used])),
        "rho_all_values": float(np.min(dec.rho_per_value)),
        "rho_per_value": [float(r) for r in dec.rho_per_value],
        "max_gap": float(np.max(dec.gap)),
        "undecodable": [int(v) for v in undecodable],
        "infeasible_facts": [
            int(k) for k in np.flatnonzero(np.isin(factset.fact_map, undecodable))
        ],
        "method": method,
    }
