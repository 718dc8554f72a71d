"""Feasibility of a fact set: which facts no MLP can store, and which the architecture can't.

Value side (any MLP, any decoder of the form argmax_j <g(k), v_j>): a fact ``i`` whose
value ``v_{f(i)}`` has ρ = 0 lies in the convex hull of the other values, so
``<y, v_{f(i)}>`` never strictly exceeds every other logit for any output ``y``; the fact
set is then **infeasible**. Otherwise it is feasible (every used value is an exposed vertex
of conv(V), which is all the argmax needs) [derived; paper §2]. Infeasibility is claimed
only with exact convex weights as the certificate (:mod:`theory.hull_exact`); a used value
that is a vertex but has ρ_i ≤ ``UNDECODABLE_TOL`` is *decodable only with a margin below*
that tolerance: reported apart, as a warning, and not infeasible.

Key side (bias-free gated MLPs only; :mod:`theory.key_side`): zero keys, and keys on one ray
(ReLU gate) or line (identity gate) that map to different values. These depend on the MLP,
so they are reported as warnings and do not make the fact set infeasible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.errors import InfeasibleFactSetError
from theory.hull_exact import CONVEX_WEIGHTS, margin_phrase
from theory.key_side import collinear_conflicts, zero_keys
from theory.rho import UNDECODABLE_TOL, Decodability, decodability
from theory.validation import as_index_vector, as_matrix, preview_indices

__all__ = ["FeasibilityReport", "feasibility", "require_feasible", "infeasibility_error"]


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
        Used values with ρ_i = 0 (in the hull of the others, by exact convex weights).
    infeasible_facts : tuple[int, ...]
        Keys mapped to undecodable values: no MLP stores these facts.
    zero_keys : tuple[int, ...]
        Keys equal to 0: a bias-free gated MLP outputs 0 there (all logits tie).
    ray_conflicts, line_conflicts : tuple[tuple[int, ...], ...]
        Groups of keys on one ray (matters for a ReLU gate) or one line through the origin
        (identity gate) that map to different values.
    margin_below_tol_values : tuple[int, ...]
        Used values that are not in the hull of the others but have ρ_i ≤ ``UNDECODABLE_TOL``:
        decodable only with a margin below it (not infeasible).
    margin_below_tol_facts : tuple[int, ...]
        Keys mapped to those values.
    """

    rho: float
    decodability: Decodability
    undecodable_values: tuple[int, ...]
    infeasible_facts: tuple[int, ...]
    zero_keys: tuple[int, ...]
    ray_conflicts: tuple[tuple[int, ...], ...]
    line_conflicts: tuple[tuple[int, ...], ...]
    margin_below_tol_values: tuple[int, ...] = ()
    margin_below_tol_facts: tuple[int, ...] = ()

    @property
    def feasible(self) -> bool:
        """True iff no used value is in the hull of the others: some MLP stores the set
        (in exact arithmetic; see :meth:`value_side_warnings` for tiny margins)."""
        return not self.undecodable_values

    def value_side_warnings(self) -> list[str]:
        """One line if some used value is decodable only with a margin below the tolerance."""
        if not self.margin_below_tol_values:
            return []
        return [
            f"values {preview_indices(self.margin_below_tol_values)} are "
            f"{margin_phrase(UNDECODABLE_TOL)} (not in the convex hull of the other values, "
            f"so not infeasible): keys {preview_indices(self.margin_below_tol_facts)} mapped "
            "to them need a read-out that resolves a margin that small"
        ]

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

    Lifted by 5e-8 it is a vertex, decodable by ``y = (0, 1)``, with ρ_1 ≈ 5e-8:

    >>> values = [[-1.0, 0.0], [0.0, 5e-8], [1.0, 0.0]]
    >>> report = feasibility([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], values, [0, 1, 2])
    >>> report.feasible, report.undecodable_values, report.margin_below_tol_values
    (True, (), (1,))
    """
    keys = as_matrix("keys", keys)
    values = as_matrix("values", values, cols=keys.shape[1])
    fact_map = as_index_vector("fact_map", fact_map, length=keys.shape[0], upper=values.shape[0])
    used = np.unique(fact_map)
    dec = decodability(values, indices=used, method=method, progress=progress)
    undecodable = np.intersect1d(dec.undecodable, used)
    infeasible = np.flatnonzero(np.isin(fact_map, undecodable))
    tiny = np.intersect1d(dec.margin_below_tol, used)
    return FeasibilityReport(
        rho=float(np.min(dec.rho_per_value[used])),
        decodability=dec,
        undecodable_values=tuple(int(v) for v in undecodable),
        infeasible_facts=tuple(int(k) for k in infeasible),
        zero_keys=tuple(int(k) for k in zero_keys(keys)),
        ray_conflicts=tuple(collinear_conflicts(keys, fact_map)),
        line_conflicts=tuple(collinear_conflicts(keys, fact_map, both_signs=True)),
        margin_below_tol_values=tuple(int(v) for v in tiny),
        margin_below_tol_facts=tuple(int(k) for k in np.flatnonzero(np.isin(fact_map, tiny))),
    )


def require_feasible(report: FeasibilityReport) -> None:
    """Raise :class:`InfeasibleFactSetError` naming the values and keys if any fact is
    impossible for every MLP (for commands that need a feasible set); values decodable only
    with a margin below the tolerance do not raise.

    Examples
    --------
    >>> report = feasibility([[1.0], [2.0], [3.0]], [[0.0], [1.0], [2.0]], [0, 1, 2])
    >>> try:
    ...     require_feasible(report)
    ... except InfeasibleFactSetError as exc:
    ...     print(exc.values, exc.keys, str(exc).split("; ")[1].split(")")[0])
    (1,) (1,) certificate: exact convex weights, v1 = 1/2·v0 + 1/2·v2
    """
    if report.feasible:
        return
    raise infeasibility_error(
        report.decodability, report.undecodable_values, report.infeasible_facts
    )


def infeasibility_error(dec: Decodability, values, keys) -> InfeasibleFactSetError:
    """The refusal of a fact set whose used ``values`` are in the hull (certificates in
    ``dec``), naming the first certificate when it is short."""
    first = next(c.exact for c in dec.certificates if c.index == values[0])
    example = f", {first}" if len(str(first)) <= 80 else ""
    return InfeasibleFactSetError(
        f"infeasible fact set: values {preview_indices(values)} lie in the convex hull of the "
        f"other values (ρ = 0; certificate: {CONVEX_WEIGHTS}{example}), so keys "
        f"{preview_indices(keys)} mapped to them cannot be decoded by any MLP",
        values=values,
        keys=keys,
    )
