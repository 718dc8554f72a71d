"""Machine checks that ρ_i(V), as computed by :func:`theory.rho.decodability`, has
the invariances its definition implies.

Claims (ρ_i depends on V only through the unit differences ``a_ij = (v_i − v_j)/‖v_i − v_j‖``):

- ``rho-scale-invariance``: ρ_i(cV) = ρ_i(V) for c > 0 (c from 1e-12 to 1e12).
- ``rho-translation-invariance``: ρ_i(V + 1 tᵀ) = ρ_i(V).
- ``rho-orthogonal-invariance``: ρ_i(V Qᵀ) = ρ_i(V) and u*_i(V Qᵀ) = Q u*_i(V) for orthogonal
  Q; a random non-orthogonal map (a whitening-like change of metric) must move ρ by more than
  1e-3, as a control that the comparison can fail.
- ``rho-permutation-equivariance``: ρ(V[π])_k = ρ(V)_{π(k)}.

Instances: 3 seeds of 40 Gaussian values in d = 6 with a value inside the hull of five others
and an exact duplicate pair, so ρ = 0 values are covered.  Evidence: the max |Δρ| per
transformation; each check fails above 1e-9 (the min-norm-point gaps are ≤ 1e-12 on these
sets and a transformation's rounding is ≈ 1e-15 relative) or if the undecodable set changes.
"""

from __future__ import annotations

import numpy as np

from proofs_check.registry import Evidence, check
from theory.rho import decodability

_SEEDS = range(3)
_TOLERANCE = 1e-9
_CONTROL_MIN_CHANGE = 1e-3
_EXERCISES = "theory.rho.decodability"


def _instance(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((40, 6))
    values[38] = rng.dirichlet(np.ones(5)) @ values[:5]
    values[39] = values[7]
    return values


def _orthogonal(rng: np.random.Generator, dim: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def _compare(transform) -> Evidence:
    """Run ``transform(values, rng) -> (values', order)`` on each instance; compare ρ."""
    worst = 0.0
    failures: list[str] = []
    for seed in _SEEDS:
        values = _instance(seed)
        base = decodability(values)
        moved, order = transform(values, np.random.default_rng(1000 + seed))
        result = decodability(moved)
        worst = max(worst, float(np.max(np.abs(result.rho_per_value - base.rho_per_value[order]))))
        if not np.array_equal(np.sort(order[result.undecodable]), base.undecodable):
            failures.append(f"seed {seed}: undecodable set changed")
    if worst > _TOLERANCE:
        failures.append(f"max |Δρ| = {worst:.3g} exceeds {_TOLERANCE:g}")
    lines = [
        f"max |Δρ| = {worst:.3g} over {len(_SEEDS)} sets of 40 values (tolerance {_TOLERANCE:g})",
        *failures,
    ]
    return Evidence(passed=not failures, details="\n".join(lines))


@check("rho-scale-invariance", claim="ρ_i(cV) = ρ_i(V) for c > 0", exercises=_EXERCISES)
def check_scale() -> Evidence:
    def scale(values, rng):
        return values * 10.0 ** rng.uniform(-12, 12), np.arange(values.shape[0])

    return _compare(scale)


@check("rho-translation-invariance", claim="ρ_i(V + 1tᵀ) = ρ_i(V)", exercises=_EXERCISES)
def check_translation() -> Evidence:
    def translate(values, rng):
        return values + 10 * rng.standard_normal(values.shape[1]), np.arange(values.shape[0])

    return _compare(translate)


@check(
    "rho-orthogonal-invariance",
    claim="ρ_i(VQᵀ) = ρ_i(V), u*_i ↦ Q u*_i for orthogonal Q; a non-orthogonal map moves ρ",
    exercises=_EXERCISES,
)
def check_orthogonal() -> Evidence:
    def rotate(values, rng):
        return values @ _orthogonal(rng, values.shape[1]).T, np.arange(values.shape[0])

    evidence = _compare(rotate)
    worst_u, smallest_control = 0.0, np.inf
    for seed in _SEEDS:
        values = _instance(seed)
        rng = np.random.default_rng(2000 + seed)
        q = _orthogonal(rng, values.shape[1])
        base, turned = decodability(values), decodability(values @ q.T)
        decodable = base.rho_per_value > 0
        worst_u = max(
            worst_u, float(np.abs(turned.u_star[decodable] - base.u_star[decodable] @ q.T).max())
        )
        stretch = rng.standard_normal((values.shape[1], values.shape[1]))
        control = decodability(values @ stretch.T)
        smallest_control = min(
            smallest_control, float(np.max(np.abs(control.rho_per_value - base.rho_per_value)))
        )
    passed = evidence.passed and worst_u <= _TOLERANCE and smallest_control > _CONTROL_MIN_CHANGE
    details = (
        f"{evidence.details}\nmax |Q u*(V) − u*(VQᵀ)| = {worst_u:.3g} "
        f"(tolerance {_TOLERANCE:g})\n"
        f"control: a random non-orthogonal map moves max ρ_i by ≥ {smallest_control:.3g} "
        f"(must exceed {_CONTROL_MIN_CHANGE:g})"
    )
    return Evidence(passed=passed, details=details)


@check("rho-permutation-equivariance", claim="ρ(V[π])_k = ρ(V)_π(k)", exercises=_EXERCISES)
def check_permutation() -> Evidence:
    def permute(values, rng):
        order = rng.permutation(values.shape[0])
        return values[order], order

    return _compare(permute)
