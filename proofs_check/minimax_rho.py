"""Machine check of the minimax identity behind ρ: primal cone program = min-norm point.

Claim
-----
- ``minimax-identity-rho``: for every value ``i`` of a set ``V``,

  ``max_{‖u‖≤1} min_{j≠i} <a_ij, u>  =  min_{μ ∈ Δ} ‖Σ_j μ_j a_ij‖``,
  ``a_ij = (v_i − v_j)/‖v_i − v_j‖``,

  both sides 0 exactly when ``v_i`` lies in the hull of the others.  The left side is solved
  here as its own second-order cone program (written out below, not through
  :mod:`theory.rho`); the right side is the dual bound of the min-norm-point
  certificate that :func:`theory.rho.value_decodability` returns, recomputed from the
  values by :func:`theory.rho.verify_certificate`.  The reference path
  (``method="cvxpy"``) must report the same ρ_i.  Instances: 5 seeds of 12–16 Gaussian values
  in d = 2..5, each with a value planted strictly inside the hull of five others and an exact
  duplicate pair (ρ = 0 through the duplicate convention, no cone program: the objective is
  0/0 there).

Evidence: max |primal − dual| and max |primal − ρ_cvxpy| over all values, the number of values
compared, of ρ = 0 values, of duplicates; fails above 1e-6 (Clarabel's default tolerances are
1e-8) or if a planted value is not reported undecodable.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from proofs_check.registry import Evidence, check
from theory.rho import value_decodability, verify_certificate

_SEEDS = range(5)
_TOLERANCE = 1e-6


def _instance(seed: int) -> tuple[np.ndarray, int, tuple[int, int]]:
    """Gaussian values with one value inside the hull and one duplicate pair."""
    rng = np.random.default_rng(seed)
    n_values, dim = int(rng.integers(12, 17)), int(rng.integers(2, 6))
    values = rng.standard_normal((n_values, dim))
    inside, duplicate = n_values - 2, n_values - 1
    values[inside] = rng.dirichlet(np.ones(5)) @ values[:5]
    values[duplicate] = values[3]
    return values, inside, (3, duplicate)


def _primal_value(values: np.ndarray, i: int) -> float:
    """``max t`` s.t. ``<a_ij, u> ≥ t`` for all ``j ≠ i``, ``‖u‖ ≤ 1`` (no duplicates of i)."""
    diffs = values[i] - np.delete(values, i, axis=0)
    directions = diffs / np.linalg.norm(diffs, axis=1, keepdims=True)
    u, t = cp.Variable(values.shape[1]), cp.Variable()
    problem = cp.Problem(cp.Maximize(t), [directions @ u >= t, cp.norm(u, 2) <= 1])
    problem.solve(solver=cp.CLARABEL)
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"primal cone program for value {i}: status {problem.status}")
    return float(t.value)


@check(
    "minimax-identity-rho",
    claim="max_{‖u‖≤1} min_j <a_ij,u> = min_{μ∈Δ} ‖Σ μ_j a_ij‖ (cone program = min-norm point)",
    exercises="theory.rho.value_decodability, theory.rho.verify_certificate",
)
def check_minimax_identity() -> Evidence:
    worst_dual = worst_reference = 0.0
    compared = zeros = duplicates = 0
    failures: list[str] = []
    for seed in _SEEDS:
        values, inside, pair = _instance(seed)
        for i in range(values.shape[0]):
            fast = value_decodability(values, i, method="mnp")
            if i in pair:
                duplicates += 1
                if not (fast.status == "duplicate" and fast.rho == 0.0):
                    failures.append(f"seed {seed}: duplicate value {i} got {fast!r}")
                continue
            primal = max(_primal_value(values, i), 0.0)  # u = 0 is feasible: ρ_i ≥ 0
            _, dual = verify_certificate(values, fast)
            reference = value_decodability(values, i, method="cvxpy").rho
            worst_dual = max(worst_dual, abs(primal - dual))
            worst_reference = max(worst_reference, abs(primal - reference))
            compared += 1
            zeros += fast.rho == 0.0
        if not value_decodability(values, inside).undecodable:
            failures.append(f"seed {seed}: the value planted inside the hull is not undecodable")
    if worst_dual > _TOLERANCE or worst_reference > _TOLERANCE:
        failures.append(f"a difference exceeds {_TOLERANCE:g}")
    details = [
        f"values compared: {compared} (ρ = 0: {zeros}); duplicates (no cone program): {duplicates}",
        f"max |primal − min-norm dual| = {worst_dual:.3g}",
        f"max |primal − ρ (cvxpy path)| = {worst_reference:.3g}",
        f"tolerance {_TOLERANCE:g} (Clarabel defaults: 1e-8)",
        *failures,
    ]
    return Evidence(passed=not failures, details="\n".join(details))
