"""Machine checks of the construction's parameter count (``theory.param_count``).

Claims
------
- ``param-count-exact``: at a grid of (F, d, m, s), with and without biases, the sympy
  formula of :func:`theory.param_count.global_param_formula` evaluated exactly equals
  :func:`theory.param_count.construction_params` and an independent count: the sizes of the
  zero arrays G (h×d), A (h×d), D (d×h) (+ gate and up biases) with h = m·r, r the least
  integer with r·d' ≥ (1+s)F found by counting up (d' = d, or d + 1 with biases). The ceiling-free bounds sandwich it
  (lower ≤ W < upper), and the bucketed hook agrees the same way.
- ``param-count-vs-counting-bound``: with m = ⌈C ln M/ρ²⌉, M = F and the dimension growing as
  d(F) = m (the regime of :func:`theory.asymptotics.asymptotic_regime`: m ≤ d and the packing
  limit M ≤ (1 + 1/ρ)^d hold at every F checked, by interval arithmetic; at a fixed d they
  fail as F grows), the ratio of W to the counting bound F·log2(M)/b (and to log2(F!)/b)
  tends to 3(1+s)·C·b·ln 2/ρ², a constant in F: the sympy limits of the lower and upper
  sandwich bounds agree with it, and the exact ratio evaluated at F = 2^10 … 2^200
  approaches it.

Evidence: the number of grid points, the first mismatch, the limit and the numeric ratios.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp

from proofs_check.registry import Evidence, check
from theory.asymptotics import asymptotic_regime, compare_with_counting_bound
from theory.param_count import (
    bucketed_construction_params,
    bucketed_param_formula,
    construction_params,
    global_param_formula,
)

_F_VALUES = (1, 2, 7, 64, 100, 2048, 10_000)
_D_VALUES = (1, 3, 32, 64)
_M_VALUES = (1, 5, 16)
_SLACKS = (0, Fraction(1, 10), 0.1, 0.25, Fraction(1, 3), 1)


def _independent_count(f: int, d: int, m: int, slack, biases: bool) -> int:
    """Count the stored scalars of zero arrays with the construction's shapes. r is found
    by counting up from 1 until r·d ≥ (1+s)F (exact rationals, no ceiling function)."""
    s = Fraction(slack) if not isinstance(slack, float) else Fraction(repr(slack))
    need = (1 + s) * f
    width = d + 1 if biases else d  # the up bias is the coefficient of a constant feature
    r = 1
    while r * width < need:
        r += 1
    h = m * r
    arrays = [np.zeros((h, d)), np.zeros((h, d)), np.zeros((d, h))]
    if biases:
        arrays += [np.zeros(h), np.zeros(h)]  # gate and up biases; no down bias
    return sum(a.size for a in arrays)


def _exact(x) -> sp.Rational:
    if isinstance(x, float):
        x = Fraction(repr(x))
    x = Fraction(x)
    return sp.Rational(x.numerator, x.denominator)


@check(
    "param-count-exact",
    claim="W = 3·d·m·⌈(1+s)F/d'⌉ (+2h with biases, d' = d + 1): sympy formula = construction_params = count of the "
    "weight arrays, at a grid of (F, d, m, s)",
    exercises="theory.param_count.global_param_formula, theory.param_count.construction_params, "
    "theory.param_count.bucketed_param_formula",
)
def check_exact_count() -> Evidence:
    failures: list[str] = []
    n_points = 0
    for biases in (False, True):
        pc = global_param_formula(biases=biases)
        for f, d, m, s in itertools.product(_F_VALUES, _D_VALUES, _M_VALUES, _SLACKS):
            at = {pc.F: f, pc.d: d, pc.m: m, pc.slack: _exact(s)}
            symbolic = pc.params.subs(at)
            numeric = construction_params(f, d, m, s, biases=biases)
            independent = _independent_count(f, d, m, s, biases)
            lower, upper = pc.lower.subs(at), pc.upper.subs(at)
            n_points += 1
            if not (symbolic == numeric == independent):
                failures.append(
                    f"F={f}, d={d}, m={m}, s={s}, biases={biases}: formula "
                    f"{symbolic}, construction_params {numeric}, arrays {independent}"
                )
            if not (lower <= symbolic < upper):
                failures.append(f"F={f}, d={d}, m={m}, s={s}: {lower} ≤ {symbolic} < {upper} fails")

    # The bucketed hook: B buckets of S keys count like B global designs of S keys.
    pb = bucketed_param_formula()
    n_bucket = 0
    for b, size, d, m, s in itertools.product((1, 4, 32), (8, 64, 100), (3, 64), (1, 16), (0, 0.1)):
        at = {pb.B: b, pb.S: size, pb.d: d, pb.m: m, pb.slack: _exact(s)}
        symbolic = pb.params.subs(at)
        numeric = bucketed_construction_params(b, size, d, m, s)
        independent = b * _independent_count(size, d, m, s, False)
        n_bucket += 1
        if not (symbolic == numeric == independent):
            failures.append(
                f"bucketed B={b}, S={size}, d={d}, m={m}, s={s}: formula {symbolic}, "
                f"function {numeric}, arrays {independent}"
            )

    # The ceiling is applied to the exact rational: a float ceil would give 12 here.
    edge = construction_params(10, 1, 1, 0.1)
    float_ceil = 3 * math.ceil((1 + 0.1) * 10 / 1)
    lines = [
        f"{n_points} global points (F ∈ {list(_F_VALUES)}, d ∈ {list(_D_VALUES)}, "
        f"m ∈ {list(_M_VALUES)}, s ∈ {[str(x) for x in _SLACKS]}, biases ∈ {{False, True}}): "
        f"formula = construction_params = array count and lower ≤ W < upper at "
        f"{n_points - sum(not x.startswith('bucketed') for x in failures)}/{n_points}",
        f"{n_bucket} bucketed points: formula = function = B × array count at "
        f"{n_bucket - sum(x.startswith('bucketed') for x in failures)}/{n_bucket}",
        f"exact ceiling: construction_params(10, 1, 1, 0.1) = {edge} (a float ceil gives "
        f"{float_ceil})",
    ]
    if edge != 33:
        failures.append(f"construction_params(10, 1, 1, 0.1) = {edge}, expected 3·11 = 33")
    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))


_NUMERIC_POINT = {"C": 1, "rho": sp.Rational(1, 2), "b": 2, "s": sp.Rational(1, 10)}
_EXPONENTS = (10, 20, 40, 80, 200)


@check(
    "param-count-vs-counting-bound",
    claim="with m = ⌈C ln M/ρ²⌉, M = F, d(F) = m (so m ≤ d and M ≤ (1 + 1/ρ)^d): "
    "W / (F log2 M / b) → 3(1+s)·C·b·ln 2/ρ² as F → ∞ (also against log2(F!)/b): a constant in F",
    exercises="theory.asymptotics.compare_with_counting_bound, "
    "theory.asymptotics.asymptotic_regime",
)
def check_limit() -> Evidence:
    lines: list[str] = []
    failures: list[str] = []
    for bijective in (False, True):
        cmp = compare_with_counting_bound(bijective=bijective)
        tag = "bijective log2(F!)/b" if bijective else "F log2(M)/b"
        expected = 3 * (1 + cmp.slack) * cmp.C * cmp.b * sp.log(2) / cmp.rho**2  # retyped
        lines.append(
            f"{tag}: lim W/bound = {cmp.limit}; sandwich limits {cmp.lower_limit} "
            f"and {cmp.upper_limit}; sympy on the ceilings: {cmp.direct_limit}"
        )
        for name, value in (
            ("limit", cmp.limit),
            ("lower_limit", cmp.lower_limit),
            ("upper_limit", cmp.upper_limit),
            ("expected", cmp.expected),
        ):
            if sp.simplify(value - expected) != 0:
                failures.append(f"{tag}: {name} = {value} ≠ 3(1+s)·C·b·ln 2/ρ²")
        if cmp.direct_limit is not None and sp.simplify(cmp.direct_limit - expected) != 0:
            failures.append(f"{tag}: sympy's limit with ceilings {cmp.direct_limit} ≠ expected")
        if cmp.F in cmp.limit.free_symbols:
            failures.append(f"{tag}: the limit depends on F")

        # The exact ratio at growing F approaches the limit.
        subs = {
            cmp.C: _NUMERIC_POINT["C"],
            cmp.rho: _NUMERIC_POINT["rho"],
            cmp.b: _NUMERIC_POINT["b"],
            cmp.slack: _NUMERIC_POINT["s"],
        }
        target = float(expected.subs(subs))
        errors = []
        # ln F! becomes a placeholder L, given mpmath's loggamma(F + 1) numerically: sympy
        # evaluates factorial(2^40) (and loggamma of an integer) eagerly and never returns.
        log_factorial = sp.Symbol("L")

        def at(expr, e, subs=subs, cmp=cmp, log_factorial=log_factorial):
            expr = expr.subs(subs).replace(
                lambda node: isinstance(node, sp.log) and isinstance(node.args[0], sp.factorial),
                lambda node: log_factorial,
            )
            ln_fact = sp.Float(mpmath.loggamma(mpmath.mpf(2) ** e + 1), 50)
            return float(expr.subs({cmp.F: sp.Integer(2) ** e, log_factorial: ln_fact}).evalf(50))

        # The ceilings make the ratio oscillate (m = ⌈C ln F/ρ²⌉ jumps), so convergence is
        # shown by a sandwich retyped here: 3(1+s)·m₀·F ≤ W < 3(m₀ + 1)((1+s)F + d) with
        # m₀ = C ln F/ρ²; the exact ratio must lie between the two, and their gap must
        # shrink to 0. In the regime d(F) = m < m₀ + 1.
        m_real = cmp.C * sp.log(cmp.F) / cmp.rho**2
        lower = 3 * (1 + cmp.slack) * m_real * cmp.F / cmp.bound
        upper = 3 * (m_real + 1) * ((1 + cmp.slack) * cmp.F + m_real + 1) / cmp.bound
        gaps = []
        with mpmath.workdps(50):
            dims = []
            for e in _EXPONENTS:
                point = asymptotic_regime(2**e, _NUMERIC_POINT["C"], _NUMERIC_POINT["rho"])
                dims.append(point.dim)
                if not point.holds:
                    failures.append(f"{tag}: at F = 2^{e} the regime fails: {point}")
                ratio, lo, hi = (at(x, e) for x in (cmp.ratio, lower, upper))
                if not lo <= ratio < hi:
                    failures.append(
                        f"{tag}: at F = 2^{e} the ratio {ratio} is outside [{lo}, {hi})"
                    )
                errors.append(abs(ratio / target - 1))
                gaps.append((hi - lo) / target)
        lines.append(
            f"    at C=1, ρ=1/2, b=2, s=1/10, d(F) = m = {dims} (m ≤ d, packing holds): "
            f"limit {target:.6g}; "
            f"|ratio/limit − 1| at F = 2^{list(_EXPONENTS)}: "
            + ", ".join(f"{x:.3g}" for x in errors)
            + "; sandwich gap / limit: "
            + ", ".join(f"{x:.3g}" for x in gaps)
        )
        if not (
            all(a > b for a, b in itertools.pairwise(gaps))
            and gaps[-1] < 0.02
            and errors[-1] < 0.02
        ):
            failures.append(
                f"{tag}: the sandwich does not close on the limit: gaps {gaps}, errors {errors}"
            )
    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))
