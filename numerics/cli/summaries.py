"""Fact-set analyses behind ``factmlp check`` and ``factmlp rho``: JSON-ready summaries.

Both functions only assemble results from :mod:`theory` (ρ, feasibility, bounds); they
compute nothing of their own. Values in the hull of the others (undecodable, infeasible) come
with their exact convex weights; values that are vertices with ρ_i below
``theory.rho.UNDECODABLE_TOL`` are listed apart, as *decodable only with a margin below* it,
with their exact separating direction when one was found. Certificates are listed for the
first ``CERTIFICATES_SHOWN`` values of each kind (fractions as ``"p/q"`` strings).
"""

from __future__ import annotations

import numpy as np

from numerics.factset import FactSet
from theory.bounds import bound_report
from theory.feasibility import feasibility
from theory.hull_exact import margin_phrase
from theory.rho import UNDECODABLE_TOL, Decodability, decodability
from theory.validation import preview_indices

__all__ = ["check_factset", "factset_rho"]

#: Exact certificates listed per kind (each has up to d + 1 fractions).
CERTIFICATES_SHOWN = 8


def _certificates(dec: Decodability, indices) -> list[dict]:
    """The JSON form of the exact certificates of the first ``indices``."""
    chosen = set(int(i) for i in list(indices)[:CERTIFICATES_SHOWN])
    found = sorted((c.index, c.exact) for c in dec.certificates if c.index in chosen)
    return [exact.to_json() for _, exact in found if exact is not None]


def check_factset(
    factset: FactSet, *, bits_per_param: float = 2.0, method: str = "mnp", progress: bool = False
) -> dict:
    """Validate-and-summarise: sizes, ρ over used values, feasibility, key-side warnings,
    values decodable only with a margin below the tolerance, and the counting bound at
    ``bits_per_param`` bits per parameter."""
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
        "hull_certificates": _certificates(report.decodability, report.undecodable_values),
        "margin_below_tol_values": list(report.margin_below_tol_values),
        "margin_below_tol_facts": list(report.margin_below_tol_facts),
        "margin_below_tol_certificates": _certificates(
            report.decodability, report.margin_below_tol_values
        ),
        "value_side_warnings": report.value_side_warnings(),
        "zero_keys": list(report.zero_keys),
        "ray_conflicts": [list(g) for g in report.ray_conflicts],
        "line_conflicts": [list(g) for g in report.line_conflicts],
        "key_side_warnings": report.key_side_warnings(),
        "bound": bound.to_dict(),
    }


def factset_rho(factset: FactSet, *, method: str = "mnp", progress: bool = False) -> dict:
    """ρ_i for every value (by index), ρ over the used values, the undecodable values and the
    keys mapped to them (infeasible for every MLP), and apart from them the values decodable
    only with a margin below the tolerance and their keys."""
    dec = decodability(factset.values, method=method, progress=progress)
    used = factset.used_values
    undecodable = np.asarray(dec.undecodable, dtype=np.int64)
    tiny = dec.margin_below_tol
    tiny_facts = np.flatnonzero(np.isin(factset.fact_map, tiny))
    note = (
        f"values {preview_indices(tiny)} are {margin_phrase(UNDECODABLE_TOL)} "
        "(not in the convex hull of the other values: not infeasible)"
        if tiny.size
        else ""
    )
    return {
        "rho": float(np.min(dec.rho_per_value[used])),
        "rho_all_values": float(np.min(dec.rho_per_value)),
        "rho_per_value": [float(r) for r in dec.rho_per_value],
        "max_gap": float(np.max(dec.gap)),
        "undecodable": [int(v) for v in undecodable],
        "infeasible_facts": [
            int(k) for k in np.flatnonzero(np.isin(factset.fact_map, undecodable))
        ],
        "hull_certificates": _certificates(dec, undecodable),
        "margin_below_tol": [int(v) for v in tiny],
        "margin_below_tol_facts": [int(k) for k in tiny_facts],
        "margin_below_tol_certificates": _certificates(dec, tiny),
        "margin_below_tol_note": note,
        "method": method,
    }
