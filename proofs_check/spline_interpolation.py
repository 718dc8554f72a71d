"""Machine check of the spline encoder's interpolation identity (``numerics.construction.encoder_spline``).

Claim
-----
- ``spline-interpolation``: with sorted projections ``t_1 < … < t_F``, knots ``b_1 < t_1``
  and ``b_j = t_{j−1}`` (j ≥ 2), slopes ``s_1 = c_1/(t_1 − b_1)``,
  ``s_j = (c_j − c_{j−1})/(t_j − t_{j−1})`` and weights ``w_j = s_j − s_{j−1}`` (s_0 = 0),

  ``Σ_j ReLU(t_i − b_j) · w_j = c_i``  for every i,

  so the spline encoder hits every code exactly in exact arithmetic, with no linear system
  (derived here). Checked symbolically (sympy, F = 1 … 6 with symbolic t, c: ReLU(t_i − b_j)
  is t_i − b_j for j ≤ i and 0 for j > i by the ordering), then numerically on the library:
  :func:`numerics.construction.encoder_spline.solve_encoder_spline` on random keys, its weights read back
  and summed in exact rationals (``fractions.Fraction`` of the float64 weights), which must
  reproduce the float64 targets to the rounding of the weights alone.

Evidence: the sizes proved, and per numeric case the worst exact-sum error relative to the
code norm.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp
import torch

from proofs_check.registry import Evidence, check

_SYMBOLIC_SIZES = range(1, 7)
_NUMERIC_CASES = ((40, 3, 0), (120, 2, 1), (60, 8, 2))


def _symbolic_identity(n: int) -> bool:
    t = sp.symbols(f"t1:{n + 1}")
    c = sp.symbols(f"c1:{n + 1}")
    gap = sp.Symbol("g", positive=True)
    knots = [t[0] - gap] + list(t[:-1])
    slopes = [c[0] / (t[0] - knots[0])] + [
        (c[j] - c[j - 1]) / (t[j] - t[j - 1]) for j in range(1, n)
    ]
    weights = [slopes[0]] + [slopes[j] - slopes[j - 1] for j in range(1, n)]
    # By the ordering t_1 < … < t_n, ReLU(t_i − b_j) = t_i − b_j for j ≤ i and 0 otherwise.
    return all(
        sp.simplify(sum((t[i] - knots[j]) * weights[j] for j in range(i + 1)) - c[i]) == 0
        for i in range(n)
    )


def _exact_error(n_facts: int, dim: int, seed: int) -> float:
    from numerics.construction.encoder_spline import solve_encoder_spline

    rng = np.random.default_rng(seed)
    keys, targets = rng.standard_normal((n_facts, dim)), rng.standard_normal((n_facts, 2))
    sol = solve_encoder_spline(keys, targets, generator=torch.Generator().manual_seed(seed))
    u = sol.gate_rows.numpy()[0]
    bias = [Fraction(float(b)) for b in sol.gate_bias.numpy()]
    weights = sol.up_bias.numpy()
    worst = 0.0
    for i in range(n_facts):
        projection = sum(
            Fraction(float(x)) * Fraction(float(y)) for x, y in zip(keys[i], u, strict=True)
        )
        active = [(projection + b) for b in bias]
        for t in range(targets.shape[1]):
            exact = sum(
                a * Fraction(float(w)) for a, w in zip(active, weights[t], strict=True) if a > 0
            )
            worst = max(worst, abs(float(exact) - targets[i, t]) / np.linalg.norm(targets[i]))
    return worst


@check(
    "spline-interpolation",
    claim="Σ_j ReLU(t_i − b_j)(s_j − s_{j−1}) = c_i for knots b_1 < t_1, b_j = t_{j−1}: the "
    "spline encoder hits every code with no linear system",
    exercises="numerics.construction.encoder_spline.solve_encoder_spline",
)
def check_spline() -> Evidence:
    proved = [n for n in _SYMBOLIC_SIZES if _symbolic_identity(n)]
    lines = [f"symbolic identity holds for F = {proved} (of {list(_SYMBOLIC_SIZES)})"]
    errors = []
    for n_facts, dim, seed in _NUMERIC_CASES:
        err = _exact_error(n_facts, dim, seed)
        errors.append(err)
        lines.append(
            f"    F={n_facts}, d={dim}, seed {seed}: exact sum of the stored float64 "
            f"weights misses the codes by ≤ {err:.2e} (relative)"
        )
    passed = proved == list(_SYMBOLIC_SIZES) and max(errors) < 1e-8
    return Evidence(passed=passed, details="\n".join(lines))
