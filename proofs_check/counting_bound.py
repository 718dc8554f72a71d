"""Machine checks of the counting bound in ``theory.bounds``.

Claims
------
- ``counting-bound-derivation``: the W bound that :func:`theory.bounds.counting_bound` derives
  with sympy is W ≥ F·log2(M)/b (the difference simplifies to 0), and (for bijections)
  W ≥ log2(F!)/b; at random rational points (F, M, b, W), including points exactly on the
  boundary, the derived solution is true exactly when the premise 2^{bW} ≥ M^F (or ≥ F!) is,
  the premise being decided with Python integers (2^p ≥ X^q for bW = p/q).
- ``counting-bound-exact-integers``: :func:`theory.bounds.min_params` equals the smallest
  integer W with 2^{bW} ≥ M^F (or ≥ F!) computed with Python integers, for all F, M ≤ 12 and
  bijections F ≤ 40, at integer, dyadic and decimal b; :func:`theory.bounds.bits_required`
  agrees with ``math.log2`` of the exact integer count.

Evidence: the number of cases, boundary cases and the first mismatch.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import sympy as sp

from proofs_check.registry import Evidence, check
from theory.bounds import bits_required, counting_bound, min_params

_SEED = 20251201
_N_RANDOM_POINTS = 300
# b values: integers, dyadic (exact in binary) and decimal (read as the decimal they print as).
_B_VALUES = (1, 2, 3, 5, 8, 0.5, 0.25, 1.5, 2.75, 3.625, 0.1, 0.3, 0.7, 3.6)


def _premise_holds(log2_budget: Fraction, count: int) -> bool:
    """2^(bW) ≥ count, exactly: with bW = p/q (p ≥ 0), that is 2^p ≥ count^q."""
    p, q = log2_budget.numerator, log2_budget.denominator
    return (1 << p) >= count**q


def _smallest_w(count: int, b: Fraction) -> int:
    """Smallest integer W ≥ 0 with 2^(bW) ≥ count, by integers only.

    With b = p/q: 2^(pW/q) ≥ count ⇔ 2^(pW) ≥ count^q ⇔ pW ≥ e, where e is the least
    integer with 2^e ≥ count^q, i.e. e = (count^q − 1).bit_length()."""
    p, q = b.numerator, b.denominator
    e = (count**q - 1).bit_length()
    return -(-e // p)


def _truth(relation: sp.Rel, at: dict) -> bool:
    """Truth of ``relation`` at the point ``at``: by the sign of the difference of its sides
    at 60 digits, or, where that is too small to tell, exactly (it must simplify to 0: a
    point on the boundary)."""
    diff = relation.lhs.subs(at) - relation.rhs.subs(at)
    value = diff.evalf(60)
    if abs(value) > sp.Float("1e-40"):
        return bool(relation.func(value, 0))
    if sp.simplify(sp.expand_log(diff, force=True)) != 0:
        raise ArithmeticError(f"cannot decide {relation} at {at}: difference {value}")
    return bool(relation.func(0, 0))


def _as_decimal_fraction(b) -> Fraction:
    return Fraction(b) if isinstance(b, int) else Fraction(repr(float(b)))


@check(
    "counting-bound-derivation",
    claim="sympy's solution of 2^{bW} ≥ M^F (resp. ≥ F!) for W is W ≥ F·log2(M)/b (resp. log2(F!)/b)",
    exercises="theory.bounds.counting_bound",
)
def check_derivation() -> Evidence:
    lines: list[str] = []
    failures: list[str] = []
    rng = random.Random(_SEED)
    n_points = n_boundary = n_disagree = 0

    for bijective in (False, True):
        cb = counting_bound(bijective=bijective)
        F, M, b, W = cb.F, cb.M, cb.b, cb.W
        closed_form = sp.log(sp.factorial(F), 2) / b if bijective else F * sp.log(M, 2) / b
        diff = sp.simplify(cb.w_min - closed_form)
        lines.append(
            f"{'bijective' if bijective else 'arbitrary'}: derived {cb.solution}; "
            f"w_min − {closed_form} simplifies to {diff}"
        )
        if diff != 0:
            failures.append(f"w_min − closed form = {diff}")
        if not (isinstance(cb.solution, sp.GreaterThan) and cb.solution.lhs == W):
            failures.append(f"solution {cb.solution} is not of the form W ≥ …")

        for _ in range(_N_RANDOM_POINTS):
            f_val = rng.randint(1, 30)
            m_val = f_val if bijective else rng.choice([1, 2, 3, 4, 7, 8, 10, 16, 31, 64])
            b_val = Fraction(rng.randint(1, 40), rng.choice([1, 2, 4, 5, 10]))
            count = math.factorial(f_val) if bijective else m_val**f_val
            w_star = float(cb.w_min.subs({F: f_val, M: m_val, b: sp.Rational(b_val)}))
            # W exactly on the boundary when w_min is rational (count a power of two), else
            # just either side of it and at random.
            exact_boundary = count & (count - 1) == 0
            if exact_boundary:
                w_val = Fraction(count.bit_length() - 1) / b_val
                n_boundary += 1
            else:
                # Small denominators keep count^q in the exact premise test small.
                w_val = rng.choice(
                    [
                        Fraction(math.floor(w_star * 1000), 1000),  # just below the boundary
                        Fraction(math.ceil(w_star * 1000), 1000),  # just above it
                        Fraction(rng.randint(0, 7 * math.ceil(2 * w_star + 1)), 7),
                    ]
                )
            at = {F: f_val, M: m_val, b: sp.Rational(b_val), W: sp.Rational(w_val)}
            truth = _premise_holds(b_val * w_val, count)
            derived = _truth(cb.solution, at)
            logged = _truth(cb.log_premise, at)
            n_points += 1
            if not (truth == derived == logged):
                n_disagree += 1
                failures.append(
                    f"F={f_val}, M={m_val}, b={b_val}, W={w_val}: premise {truth}, "
                    f"log form {logged}, derived solution {derived}"
                )

    lines.append(
        f"{n_points} random rational points (seed {_SEED}), {n_boundary} exactly on "
        f"the boundary: derived solution, log form and premise (decided with integers) "
        f"agree at {n_points - n_disagree}/{n_points}"
    )
    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))


@check(
    "counting-bound-exact-integers",
    claim="min_params = least integer W with 2^{bW} ≥ M^F (or ≥ F!), by Python integers",
    exercises="theory.bounds.min_params, theory.bounds.bits_required",
)
def check_exact_integers() -> Evidence:
    failures: list[str] = []
    n_cases = n_mismatch = 0
    worst_bits_error = 0.0

    cases = [(f, m, False) for f in range(1, 13) for m in range(1, 13)]
    cases += [(f, f, True) for f in range(1, 41)]
    for f_val, m_val, bijective in cases:
        count = math.factorial(f_val) if bijective else m_val**f_val
        bits = bits_required(f_val, m_val, bijective=bijective)
        reference = math.log2(count)  # log2 of the exact integer
        worst_bits_error = max(worst_bits_error, abs(bits - reference) / max(1.0, reference))
        if not math.isclose(bits, reference, rel_tol=1e-12, abs_tol=1e-12):
            failures.append(
                f"bits_required({f_val}, {m_val}, bijective={bijective}) = {bits!r}, "
                f"log2 of the count = {reference!r}"
            )
        for b in _B_VALUES:
            expected = _smallest_w(count, _as_decimal_fraction(b))
            got = min_params(f_val, m_val, b, bijective=bijective)
            n_cases += 1
            if got != expected:
                n_mismatch += 1
                failures.append(
                    f"min_params({f_val}, {m_val}, {b}, bijective={bijective}) = "
                    f"{got}, exact {expected}"
                )

    lines = [
        f"{n_cases} (F, M, b) cases: F, M ≤ 12 arbitrary maps and bijections F ≤ 40, "
        f"b ∈ {list(_B_VALUES)}",
        f"min_params = least integer W with 2^(bW) ≥ count (Python ints) in "
        f"{n_cases - n_mismatch}/{n_cases}",
        f"bits_required vs math.log2(exact count): worst relative error {worst_bits_error:.2e}",
    ]
    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))
