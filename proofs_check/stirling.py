"""Machine checks of the Stirling–Robbins bounds that ``theory.bounds`` returns.

Claims
------
- ``stirling-robbins-ln-factorial``: for n = 1..2000 the sympy expressions of
  :func:`theory.bounds.stirling_bounds` satisfy ln_lower(n) < ln n! < ln_upper(n), evaluated at
  50 digits against ln of the exact integer n!; the log2 forms are the ln forms over ln 2;
  spot values n = 10^4..10^15 hold against mpmath's loggamma; and the floats of
  :func:`theory.bounds.log2_factorial_bounds` bracket log2 n! (n ≤ 300 and the spot values).
- ``stirling-log2-width``: the width upper − lower of the log2(F!) bounds is positive and
  shrinks at least like 1/F: F·width decreases strictly on F = 1..2000 and tends to 0, and in
  fact F²·width → 1/(144 ln 2) (the width is Θ(1/F²)).

Evidence: the worst (smallest) slack on each side and where it occurs; widths at sample F.
"""

from __future__ import annotations

import mpmath
import sympy as sp

from proofs_check.registry import Evidence, check
from theory.bounds import log2_factorial_bounds, stirling_bounds

_N_MAX = 2000
_DIGITS = 50
_FLOAT_HELPER_N_MAX = 300
_SPOT_EXPONENTS = range(4, 16)


def _mp_functions():
    """Our sympy expressions as mpmath functions (evaluated, never retyped)."""
    sb = stirling_bounds()
    names = ("ln_lower", "ln_upper", "log2_lower", "log2_upper")
    return {name: sp.lambdify(sb.n, getattr(sb, name), modules="mpmath") for name in names}


@check(
    "stirling-robbins-ln-factorial",
    claim="Robbins: n ln n − n + ½ ln(2πn) + 1/(12n+1) < ln n! < … + 1/(12n), n = 1..2000 and spot n ≤ 1e15",
    exercises="theory.bounds.stirling_bounds, theory.bounds.log2_factorial_bounds",
)
def check_robbins_bounds() -> Evidence:
    fns = _mp_functions()
    sb = stirling_bounds()
    lines: list[str] = []
    failures: list[str] = []

    # The log2 forms must be exactly the ln forms divided by ln 2.
    for side in ("lower", "upper"):
        diff = sp.simplify(getattr(sb, f"log2_{side}") * sp.log(2) - getattr(sb, f"ln_{side}"))
        if diff != 0:
            failures.append(f"log2_{side}·ln 2 − ln_{side} simplifies to {diff}, not 0")

    worst_low = worst_high = (mpmath.inf, 0)  # (slack / width, n): relative slack
    worst_low_abs = worst_high_abs = (mpmath.inf, 0)
    with mpmath.workdps(_DIGITS):
        ln2 = mpmath.log(2)
        factorial = 1
        for n in range(1, _N_MAX + 1):
            factorial *= n
            exact = mpmath.log(mpmath.mpf(factorial))  # independent of our expressions
            x = mpmath.mpf(n)
            lo, hi = fns["ln_lower"](x), fns["ln_upper"](x)
            width = hi - lo
            low_slack, high_slack = exact - lo, hi - exact
            if not (low_slack > 0 and high_slack > 0):
                failures.append(
                    f"n={n}: ln n! − lower = {mpmath.nstr(low_slack, 5)}, "
                    f"upper − ln n! = {mpmath.nstr(high_slack, 5)}"
                )
            worst_low = min(worst_low, (low_slack / width, n))
            worst_high = min(worst_high, (high_slack / width, n))
            worst_low_abs = min(worst_low_abs, (low_slack, n))
            worst_high_abs = min(worst_high_abs, (high_slack, n))
            log2_exact = exact / ln2
            if not fns["log2_lower"](x) < log2_exact < fns["log2_upper"](x):
                failures.append(f"n={n}: log2 bounds do not bracket log2 n!")
            if n <= _FLOAT_HELPER_N_MAX:
                f_lo, f_hi = log2_factorial_bounds(n)
                if not (f_lo < log2_exact < f_hi):
                    failures.append(
                        f"n={n}: log2_factorial_bounds {f_lo!r}, {f_hi!r} miss "
                        f"log2 n! = {mpmath.nstr(log2_exact, 20)}"
                    )

    lines.append(f"n = 1..{_N_MAX} at {_DIGITS} digits against ln of the exact integer n!:")
    lines.append(
        f"  worst lower slack ln n! − lower = {mpmath.nstr(worst_low_abs[0], 6)} "
        f"(n = {worst_low_abs[1]}); relative to the width: "
        f"{mpmath.nstr(worst_low[0], 6)} (n = {worst_low[1]})"
    )
    lines.append(
        f"  worst upper slack upper − ln n! = {mpmath.nstr(worst_high_abs[0], 6)} "
        f"(n = {worst_high_abs[1]}); relative to the width: "
        f"{mpmath.nstr(worst_high[0], 6)} (n = {worst_high[1]})"
    )
    float_misses = sum("log2_factorial_bounds" in x for x in failures)
    lines.append(
        f"  log2_factorial_bounds floats miss log2 n! for {float_misses} of "
        f"n = 1..{_FLOAT_HELPER_N_MAX}"
    )

    # Large n: ln n! from mpmath's loggamma; enough digits to resolve a width ~ 1/(144 n²)
    # next to ln n! ~ n ln n.
    spot_worst = (mpmath.inf, 0)
    spot_float_misses = 0
    with mpmath.workdps(90):
        ln2 = mpmath.log(2)
        for k in _SPOT_EXPONENTS:
            n = 10**k
            x = mpmath.mpf(n)
            exact = mpmath.loggamma(x + 1)
            lo, hi = fns["ln_lower"](x), fns["ln_upper"](x)
            rel = min(exact - lo, hi - exact) / (hi - lo)
            if not rel > 0:
                failures.append(
                    f"n=1e{k}: bounds miss ln n! (relative slack {mpmath.nstr(rel, 5)})"
                )
            spot_worst = min(spot_worst, (rel, n))
            f_lo, f_hi = log2_factorial_bounds(n)
            if not (f_lo < exact / ln2 < f_hi):
                spot_float_misses += 1
                failures.append(f"n=1e{k}: log2_factorial_bounds {f_lo!r}, {f_hi!r} miss log2 n!")
    lines.append(
        f"spot n = 1e{_SPOT_EXPONENTS[0]}..1e{_SPOT_EXPONENTS[-1]} against mpmath.loggamma "
        f"at 90 digits: worst relative slack {mpmath.nstr(spot_worst[0], 6)} "
        f"(n = {spot_worst[1]:.0e}); float helper misses log2 n! at "
        f"{spot_float_misses} of them"
    )

    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))


@check(
    "stirling-log2-width",
    claim="the Robbins bounds on log2(F!) have width shrinking at least like 1/F (exactly Θ(1/F²))",
    exercises="theory.bounds.stirling_bounds",
)
def check_width_shrinks() -> Evidence:
    sb = stirling_bounds()
    n = sb.n
    width = sb.log2_upper - sb.log2_lower
    lines: list[str] = []
    failures: list[str] = []

    if sp.simplify(width - sb.log2_width) != 0:
        failures.append(f"log2_width {sb.log2_width} ≠ log2_upper − log2_lower")
    lim_1 = sp.limit(n * width, n, sp.oo)
    lim_2 = sp.limit(n**2 * width, n, sp.oo)
    lines.append(
        f"symbolic: width = {sb.log2_width}; lim F·width = {lim_1}; "
        f"lim F²·width = {lim_2} ≈ {float(lim_2):.6g}"
    )
    if lim_1 != 0:
        failures.append(f"lim F·width = {lim_1}, not 0")
    if not (lim_2.is_positive and lim_2.is_finite):
        failures.append(f"lim F²·width = {lim_2} is not a positive constant")

    fn = sp.lambdify(n, width, modules="mpmath")
    samples = {}
    with mpmath.workdps(_DIGITS):
        previous = previous_scaled = mpmath.inf
        max_scaled_sq = mpmath.mpf(0)
        for f in range(1, _N_MAX + 1):
            w = fn(mpmath.mpf(f))
            if not w > 0:
                failures.append(f"F={f}: width {mpmath.nstr(w, 5)} is not positive")
            if not (w < previous and f * w < previous_scaled):
                failures.append(f"F={f}: width or F·width did not decrease")
            previous, previous_scaled = w, f * w
            max_scaled_sq = max(max_scaled_sq, f * f * w)
            if f in (1, 10, 100, 1000, _N_MAX):
                samples[f] = w
    n_numeric = sum(x.startswith("F=") for x in failures)
    lines.append(
        f"numeric F = 1..{_N_MAX} (50 digits): width ≤ 0 or width/F·width not "
        f"decreasing at {n_numeric} F; max F²·width = {mpmath.nstr(max_scaled_sq, 6)}"
    )
    lines.append(
        "width (bits): " + ", ".join(f"F={f}: {mpmath.nstr(w, 4)}" for f, w in samples.items())
    )
    with mpmath.workdps(_DIGITS):
        limit_value = sp.lambdify((), lim_2, modules="mpmath")()
    if not max_scaled_sq <= limit_value:
        failures.append("F²·width exceeds its limit somewhere (expected increasing to it)")

    if failures:
        lines.append(f"{len(failures)} failure(s); first: {failures[0]}")
    return Evidence(passed=not failures, details="\n".join(lines))
