"""Feasibility of a fact set: which facts no MLP can store, and which the architecture can't.

Value side (any MLP, any decoder of the form argmax_j <g(k), v_j>): a fact ``i`` whose
value ``v_{f(i)}`` has ρ = 0 lies in the convex hull of the other values, so
``<y, v_{f(i)}>`` never strictly exceeds every other logit for any output ``y``; the fact
set is then **infeasible**. Otherwise it is feasible (every used value is an exposed vertex
of conv(V), which is all the argmax needs) [derived; paper §2].

Key side (bias-free gated MLPs only; :mod:`theory.key_side`): zero keys, and keys on one ray
(ReLU gate) or line (identity gate) that map to different values. These depend on the MLP,
so they are reported as warnings and do not make the fact set infeasible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.errors import InfeasibleFactSetError
from theory.key_side import collinear_conflicts, zero_keys
from theory.rho import Decodability, decodability
from theory.validation import as_index_vector, as_matrix, preview_indices

__all__ = ["FeasibilityReport", "feasibility", "require_feasible"]


@dataclass(frozen=True)
class FeasibilityReport:
    """Value-side feasibility (ρ over the used values) and key-side warnings.

    Attributes
    ----------
    rho : float
        ρ of the fact set: min of ρ_i over the values the map uses.
    decodability : Decodability
        Per-value ρ_i and certificates, computed for the used values only.
    undecodable_values : tuple[int, ...]
        Used values with ρ_i = 0 (certified to lie in the hull of the others).
    infeasible_facts : tuple[int, ...]
        Keys mapped to undecodable values: no MLP stores these facts.
    zero_keys : tuple[int, ...]
        Keys equal to 0: a bias-free gated MLP outputs 0 there (all logits tie).
    ray_conflicts, line_conflicts : tuple[tuple[int, ...], ...]
        Groups of keys on one ray (matters for a ReLU gate) or one line through the origin
        (identity gate) that map to different values.
    """

    rho: float
    decodability: Decodability
    undecodable_values: tuple[int, ...]
    infeasible_facts: tuple[int, ...]
    zero_keys: tuple[int, ...]
    ray_conflicts: tuple[tuple[int, ...], ...]
    line_conflicts: tuple[tuple[int, ...], ...]

    @property
    def feasible(self) -> bool:
        """True iff every used value is decodable (ρ_i > 0): some MLP stores the set."""
        return not self.undecodable_values

    def key_side_warnings(self) -> list[str]:
        """One line per key-side obstruction, naming the keys."""
        warnings = []
        if self.zero_keys:
            warnings.append(
                f"zero keys {preview_indices(self.zero_keys)} cannot hold a fact "
                "in a bias-free gated MLP (g(0) = 0: all logits tie)"
            )
        if self.ray_conflicts:
            warnings.append(
                f"{len(self.ray_conflicts)} group(s) of keys on one ray map to "
                f"different values, first {list(self.ray_conflicts[0])}: "
                "a bias-free ReLU-gated MLP cannot store them"
            )
        if self.line_conflicts:
            warnings.append(
                f"{len(self.line_conflicts)} group(s) of keys on one line map to "
                f"different values, first {list(self.line_conflicts[0])}: "
                "a bias-free identity-gated (bilinear) MLP cannot store them"
            )
        return warnings


def feasibility(
    keys, values, fact_map, *, method: str = "mnp", progress: bool = False
) -> FeasibilityReport:
    """Report which facts of ``(K, V, f)`` are impossible, and why.

    Parameters
    ----------
    keys : (F, d) array;  values : (M, d) array;  fact_map : (F,) integers in [0, M)
    method : solver for ρ, passed to :func:`theory.rho.decodability`
    progress : show a progress bar (stderr) while ρ is computed

    Examples
    --------
    The middle value is the midpoint of the other two, so the key mapped to it is infeasible:

    >>> report = feasibility([[1.0], [2.0], [3.0]], [[0.0], [1.0], [2.0]], [0, 1, 2])
    >>> report.feasible, report.undecodable_values, report.infeasible_facts
    (False, (1,), (1,))
    """
    keys = as_matrix("keys", keys)
    values = as_matrix("values", values, cols=keys.shape[1])
    fact_map = as_index_vector("fact_map", fact_map, length=keys.shape[0], upper=values.shape[0])
    used = np.unique(fact_map)
    dec = decodability(values, indices=used, method=method, progress=progress)
    undecodable = np.intersect1d(dec.undecodable, used)
    infeasible = np.flatnonzero(np.isin(fact_map, undecodable))
    return FeasibilityReport(
        rho=float(np.min(dec.rho_per_value[used])),
        decodability=dec,
        undecodable_values=tuple(int(v) for v in undecodable),
        infeasible_facts=tuple(int(k) for k in infeasible),
        zero_keys=tuple(int(k) for k in zero_keys(keys)),
        ray_conflicts=tuple(collinear_conflicts(keys, fact_map)),
        line_conflicts=tuple(collinear_conflicts(keys, fact_map, both_signs=True)),
    )


def require_feasible(report: FeasibilityReport) -> None:
    """Raise :class:`InfeasibleFactSetError` naming the values and keys if any fact is
    impossible for every MLP (for commands that need a feasible set)."""
    if report.feasible:
        return
    raise InfeasibleFactSetError(
        f"infeasible fact set: values {preview_indices(report.undecodable_values)} lie in the "
        f"convex hull of the other values (ρ = 0), so keys "
        f"{preview_indices(report.infeasible_facts)} mapped to them cannot be decoded by any MLP",
        values=report.undecodable_values,
        keys=report.infeasible_facts,
    )
