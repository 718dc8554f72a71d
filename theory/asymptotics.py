r"""The construction's parameter count against the counting bound as F → ∞, and the regime
in which that limit exists.

With the decoder's code dimension :math:`m = \lceil C \ln M / \rho^2\rceil` and the count
of :mod:`theory.param_count`, :math:`W \sim 3(1+s)mF`, so against the counting bound
:math:`W_{\min} = F\log_2 M / b` of :func:`theory.bounds.counting_bound`

.. math::

    \lim_{F\to\infty} \frac{W}{F\log_2 M / b}\Big|_{M = F}
    = \frac{3(1+s)\,C\,b\,\ln 2}{\rho^2},

a constant in F: within a constant factor of the bound when ρ = Θ(1) and b = O(1) (see
:mod:`theory.bounds` for the precision assumption).

**The regime in which this limit is meant** (:func:`asymptotic_regime`). F → ∞ at a fixed d
cannot keep ρ fixed: the code dimension m = ⌈C ln M/ρ²⌉ outgrows d (the decoder projects to
m ≤ d coordinates) and M outgrows the packing limit M ≤ (1 + 1/ρ)^d (separators are 2ρ
apart). The limit is therefore taken with M = F and the dimension growing as
d(F) = ⌈C ln F/ρ²⌉ = m, the smallest d with m ≤ d; then ln M ≤ d ln(1 + 1/ρ) holds for every
F whenever C·ln(1 + 1/ρ) ≥ ρ² (for instance C ≥ 1/ln 2 and any ρ ≤ 1), so both conditions
hold all along the way. Since d(F) = O(ln F), the additive 3md term stays o(F ln F) and the
limit is unchanged; :func:`compare_with_counting_bound` computes it in this regime.

References
----------
arXiv 2512.00207 (optimality "for some embeddings"); background §3–4, §9 (packing limit).
Derived here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from theory.bounds import counting_bound
from theory.errors import InvalidInputError
from theory.param_count import global_param_formula
from theory.validation import decimal_fraction, require_bool, require_int

__all__ = ["BoundComparison", "compare_with_counting_bound", "RegimePoint", "asymptotic_regime"]


@dataclass(frozen=True)
class BoundComparison:
    r"""The construction's parameter count against the counting bound, as sympy limits.

    Attributes
    ----------
    params : sympy.Expr
        W with m = ⌈C ln M/ρ²⌉, M = F and d = m substituted (the regime of
        :func:`asymptotic_regime`): 3m·m·⌈(1+s)F/m⌉.
    bound : sympy.Expr
        The counting bound's W_min at M = F: F ln F/(b ln 2), or ln F!/(b ln 2) when
        bijective (from :func:`theory.bounds.counting_bound`, not retyped).
    ratio : sympy.Expr
        params / bound.
    limit : sympy.Expr
        lim ratio as F → ∞, by the squeeze theorem: the common value of ``lower_limit`` and
        ``upper_limit`` (``sympy.nan`` if they differ, which would be a bug).
    lower_limit, upper_limit : sympy.Expr
        ``sympy.limit`` of the ceiling-free lower bound 3(1+s)(C ln F/ρ²)F and upper bound
        3(C ln F/ρ² + 1)((1+s)F + C ln F/ρ² + 1) on W (d = d(F) < C ln F/ρ² + 1), over the
        bound. These do not rely on sympy's handling of ceilings.
    direct_limit : sympy.Expr | None
        ``sympy.limit(ratio, F, oo)`` on the expression with ceilings, or None where sympy
        raises NotImplementedError (it does for the bijective bound, whose ln F! meets the
        AccumBounds sympy substitutes for a ceiling).
    expected : sympy.Expr
        3(1+s)·C·b·ln 2/ρ², the closed form derived in the module docstring.
    F, d, slack, C, rho, b : sympy.Symbol
    bijective : bool
    """

    params: sp.Expr
    bound: sp.Expr
    ratio: sp.Expr
    limit: sp.Expr
    lower_limit: sp.Expr
    upper_limit: sp.Expr
    direct_limit: sp.Expr | None
    expected: sp.Expr
    F: sp.Symbol
    d: sp.Symbol
    slack: sp.Symbol
    C: sp.Symbol
    rho: sp.Symbol
    b: sp.Symbol
    bijective: bool


def compare_with_counting_bound(*, bijective: bool = False) -> BoundComparison:
    r"""Limit of the construction's W over the counting bound as F → ∞ (M = F), by sympy, in
    the regime d = d(F) = ⌈C ln F/ρ²⌉ (module docstring: fixed d is not a regime that exists).

    .. math::

        W = 3d\Bigl\lceil \frac{C\ln M}{\rho^2}\Bigr\rceil\Bigl\lceil\frac{(1+s)F}{d}\Bigr\rceil,
        \qquad
        \lim_{F\to\infty} \frac{W}{F\log_2 M/b}\Big|_{M=F,\ d=d(F)} = \frac{3(1+s)\,C\,b\ln 2}{\rho^2}.

    For bijections the bound is :math:`\log_2 F!/b \sim F\log_2 F/b` and the limit is the
    same. Symbols: C the projection constant of the decoder (m = ⌈C ln M/ρ²⌉), ρ the
    decodability, b bits per parameter, s slack, d the dimension, substituted by d(F) in
    ``params`` and in the upper sandwich bound (by its upper bound C ln F/ρ² + 1).

    Parameters
    ----------
    bijective : bool
        Compare with the bijection bound log2(F!)/b instead of F log2(M)/b.

    Returns
    -------
    BoundComparison

    Raises
    ------
    InvalidInputError
        If ``bijective`` is not a bool.

    Examples
    --------
    >>> cmp = compare_with_counting_bound()
    >>> sp.simplify(cmp.limit - cmp.expected)
    0
    >>> cmp.expected                            # sympy distributes the 3 into (1 + s)
    C*b*(3*s + 3)*log(2)/rho**2

    References
    ----------
    arXiv 2512.00207 (optimality "for some embeddings"); background §3–4. The form of m is
    the paper's (m ≈ C log M/ρ²); the limit is derived here.
    """
    return _compare(require_bool("bijective", bijective))


@functools.lru_cache(maxsize=2)
def _compare(bijective: bool) -> BoundComparison:
    cb = counting_bound(bijective=bijective)
    pc = global_param_formula()
    F, d, slack = pc.F, pc.d, pc.slack
    C, rho = sp.symbols("C rho", positive=True)
    b = cb.b
    # Same symbol for F in both formulas (same name and assumptions), checked rather than assumed.
    assert cb.F == F, (cb.F, F)
    bound = cb.w_min.subs(cb.M, F)
    m_exact = sp.ceiling(C * sp.log(F) / rho**2)
    m_real = C * sp.log(F) / rho**2
    # The regime: d(F) = m(F) = ⌈C ln F/ρ²⌉ (the smallest d with m ≤ d).
    params = pc.params.subs({pc.m: m_exact, d: m_exact})
    ratio = params / bound
    # m_real ≤ m_exact < m_real + 1 and (1+s)F/d ≤ r < (1+s)F/d + 1 sandwich W; d(F) < m_real + 1.
    lower = 3 * (1 + slack) * m_real * F
    upper = 3 * (m_real + 1) * ((1 + slack) * F + m_real + 1)
    lower_limit = sp.limit(lower / bound, F, sp.oo)
    upper_limit = sp.limit(upper / bound, F, sp.oo)
    squeezed = lower_limit if sp.simplify(lower_limit - upper_limit) == 0 else sp.nan
    try:
        direct = sp.limit(ratio, F, sp.oo)
    except NotImplementedError:
        direct = None
    return BoundComparison(
        params=params,
        bound=bound,
        ratio=ratio,
        limit=squeezed,
        lower_limit=lower_limit,
        upper_limit=upper_limit,
        direct_limit=direct,
        expected=3 * (1 + slack) * C * b * sp.log(2) / rho**2,
        F=F,
        d=d,
        slack=slack,
        C=C,
        rho=rho,
        b=b,
        bijective=bijective,
    )


@dataclass(frozen=True)
class RegimePoint:
    """One F of the asymptotic regime: the code dimension m, the dimension d(F) = m, and
    whether both conditions hold (decided with mpmath interval arithmetic, so a True is a
    proof for these numbers)."""

    n_facts: int
    code_dim: int
    dim: int
    code_fits: bool
    packing_ok: bool

    @property
    def holds(self) -> bool:
        return self.code_fits and self.packing_ok


def asymptotic_regime(n_facts: int, C, rho) -> RegimePoint:
    r"""The regime of :func:`compare_with_counting_bound` at one F (M = F): m = ⌈C ln F/ρ²⌉,
    d = m, and the two conditions m ≤ d and ln M ≤ d·ln(1 + 1/ρ) (the packing limit
    M ≤ (1 + 1/ρ)^d), decided rigorously.

    Parameters
    ----------
    n_facts : int
        F = M ≥ 2.
    C, rho : rational or float
        C > 0, 0 < ρ ≤ 1 (floats are read as the decimals they print as).

    Returns
    -------
    RegimePoint

    Raises
    ------
    InvalidInputError
        If F < 2, C ≤ 0 or ρ outside (0, 1], or the ceiling cannot be decided.

    Examples
    --------
    >>> point = asymptotic_regime(2**20, 1, sp.Rational(1, 2))   # m = ⌈4 ln 2^20⌉ = 56
    >>> (point.code_dim, point.dim, point.holds)
    (56, 56, True)
    """
    import mpmath

    n_facts = require_int("n_facts", n_facts, 2)
    c, r = (decimal_fraction(x) if isinstance(x, float) else sp.Rational(x) for x in (C, rho))
    if not c > 0 or not 0 < r <= 1:
        raise InvalidInputError(f"need C > 0 and 0 < rho ≤ 1, got C = {C!r}, rho = {rho!r}")
    c, r = sp.Rational(c), sp.Rational(r)
    with mpmath.workdps(60):
        iv = mpmath.iv
        real_m = iv.mpf([c.p, c.p]) / c.q * iv.log(n_facts) * r.q**2 / r.p**2
        low, high = int(mpmath.floor(real_m.a)), int(mpmath.floor(real_m.b))
        if low != high or real_m.a == low:  # ceiling undecided (an integer inside the interval)
            raise InvalidInputError(f"cannot decide ⌈C ln F/ρ²⌉ at F = {n_facts}")
        m = low + 1
        packing = iv.log(n_facts) <= m * iv.log(1 + iv.mpf(r.q) / r.p)
    return RegimePoint(n_facts, m, m, True, packing is True)
