r"""Information-theoretic lower bounds on the parameters a fact-storing MLP needs.

The counting argument
---------------------
There are :math:`M^F` fact maps :math:`f : [F] \to [M]`. Fix an architecture and a decoding
rule (for factmlp: :math:`\operatorname{argmax}_j \langle g(k_i), v_j\rangle`), and let the MLP
have :math:`W` parameters, each stored with :math:`b` bits. There are at most :math:`2^{bW}`
parameter settings, hence at most :math:`2^{bW}` distinct key-to-value functions, and two
different fact maps need two different functions. So a family that can store *every* map
needs

.. math::

    2^{bW} \ge M^F \iff W \ge \frac{F \log_2 M}{b}.

For bijections (:math:`M = F`) there are :math:`F!` maps and the bound is
:math:`W \ge \log_2(F!)/b`, where by Stirling–Robbins

.. math::

    \ln n! = n\ln n - n + \tfrac12 \ln(2\pi n) + r_n, \qquad
    \frac{1}{12n+1} < r_n < \frac{1}{12n} \quad (n \ge 1),

so :math:`\log_2(F!) = F\log_2 F - F\log_2 e + O(\log F)`.

Symbols: F facts (keys), M values, b bits per parameter, W parameters.

When "optimal" holds (the precision assumption)
-----------------------------------------------
- The bound counts distinct functions, so it holds for **any** architecture and **any**
  decoding rule; nothing about gated MLPs, ρ or the embeddings enters. Keys and values are
  fixed; the bound is about storing every fact map (worst case over f), not one given map.
- A construction with :math:`W = O(F\log M)` parameters is optimal up to a constant **only
  if** :math:`b = O(1)` bits per parameter. If the parameters carry
  :math:`b = \Theta(\log F)` bits (e.g. the precision a construction needs grows with F),
  the bound only gives :math:`W = \Omega(F\log M/\log F)` and a :math:`\log F` factor is left
  between bound and construction. With real (infinite-precision) parameters there is no
  counting bound at all: one real number can encode every fact.

References
----------
Counting bound and the bijection count: arXiv 2512.00207 claims its construction is optimal
and our background §3 states the bound; the explicit form and the precision discussion are
derived here. Stirling bounds: H. Robbins, "A Remark on Stirling's Formula", Amer. Math.
Monthly 62(1):26–29 (1955), doi:10.2307/2308012. Reference storage rates: Allen-Zhu & Li,
"Physics of Language Models: Part 3.3, Knowledge Capacity Scaling Laws", arXiv 2404.05405
(2024), ≈ 2 bits/parameter; Morris et al., "How much do language models memorize?",
arXiv 2505.24832 (2025), ≈ 3.6 bits/parameter.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp

from theory.errors import InvalidInputError
from theory.validation import as_index_vector, decimal_fraction, require_bool, require_int

__all__ = [
    "is_bijection",
    "CountingBound",
    "StirlingBounds",
    "ReferenceRate",
    "BoundReport",
    "REFERENCE_RATES",
    "counting_bound",
    "stirling_bounds",
    "log2_factorial_bounds",
    "bits_required",
    "min_params",
    "bits_per_param",
    "facts_per_param_ceiling",
    "min_params_at_reference_rates",
    "bound_report",
]

# A float ratio closer than this (relative) to an integer is decided exactly / at high
# precision instead of by math.ceil, so float rounding cannot push an integer ratio up by one.
_NEAR_INTEGER_RTOL = 1e-9
_HIGH_PRECISION_DIGITS = 60


# ---------------------------------------------------------------------------------------------
# Validation at the public boundary
# ---------------------------------------------------------------------------------------------


def _positive_real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(
            f"{name} must be a finite real number > 0, got {value!r} ({type(value).__name__})"
        )
    try:
        as_float = float(value)
    except OverflowError:  # a huge int or Fraction
        as_float = math.inf
    if not math.isfinite(as_float) or as_float <= 0:
        raise InvalidInputError(f"{name} must be a finite real number > 0, got {value!r}")
    return as_float


def _fact_set(n_facts, n_values, bijective) -> tuple[int, int, bool]:
    n_facts = require_int("n_facts", n_facts, 1)
    n_values = require_int("n_values", n_values, 1)
    bijective = require_bool("bijective", bijective)
    if bijective and n_values != n_facts:
        raise InvalidInputError(
            f"n_values = {n_values} must equal n_facts = {n_facts} when bijective=True"
        )
    return n_facts, n_values, bijective


# ---------------------------------------------------------------------------------------------
# Symbolic derivations (sympy)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountingBound:
    r"""The counting bound as sympy objects, derived step by step by sympy.

    Attributes
    ----------
    premise : sympy.Rel
        :math:`2^{bW} \ge M^F` (or :math:`2^{bW} \ge F!` for bijections): the parameter
        settings must outnumber the fact maps.
    log_premise : sympy.Rel
        The premise after taking natural logs of both (positive) sides and expanding:
        :math:`bW\ln 2 \ge F\ln M` (or :math:`\ge \ln F!`).
    solution : sympy.Rel
        ``sympy.solve(log_premise, W)``: :math:`W \ge F\ln M/(b\ln 2)`.
    w_min : sympy.Expr
        The right-hand side of ``solution``.
    F, M, b, W : sympy.Symbol
        The symbols (F a positive integer; M, b, W positive). ``M`` is unused when bijective.
    bijective : bool
    """

    premise: sp.Rel
    log_premise: sp.Rel
    solution: sp.Rel
    w_min: sp.Expr
    F: sp.Symbol
    M: sp.Symbol
    b: sp.Symbol
    W: sp.Symbol
    bijective: bool


def counting_bound(*, bijective: bool = False) -> CountingBound:
    r"""Derive :math:`W \ge F\log_2 M / b` from :math:`2^{bW} \ge M^F` with sympy.

    .. math::

        2^{bW} \ge M^F \iff bW\ln 2 \ge F\ln M \iff W \ge \frac{F \ln M}{b \ln 2}
        = \frac{F\log_2 M}{b};
        \qquad \text{bijective: } 2^{bW} \ge F! \iff W \ge \frac{\log_2 F!}{b}.

    Symbols: F facts, M values, b bits per parameter, W parameters. The first equivalence
    holds because ln is strictly increasing and both sides are positive; the second because
    :math:`b\ln 2 > 0`. Sympy does both steps (``expand_log`` and ``solve``); nothing in the
    result is typed in by hand, so ``proofs_check`` can check it against the closed form.

    Valid under the precision assumption: each parameter carries b bits, with b = O(1) for
    the bound to be tight against an O(F log M) construction (see the module docstring).
    The bound counts distinct functions, so it holds for any architecture and decoding rule.

    Parameters
    ----------
    bijective : bool
        Count the F! bijections (M = F) instead of the M^F arbitrary maps.

    Returns
    -------
    CountingBound

    Raises
    ------
    InvalidInputError
        If ``bijective`` is not a bool.

    Examples
    --------
    >>> cb = counting_bound()
    >>> cb.premise
    2**(W*b) >= M**F
    >>> cb.solution
    W >= F*log(M)/(b*log(2))
    >>> counting_bound(bijective=True).w_min
    log(factorial(F))/(b*log(2))

    References
    ----------
    arXiv 2512.00207 (optimality claim); background §3. The derivation is ours.
    """
    return _derive_counting_bound(require_bool("bijective", bijective))


@functools.lru_cache(maxsize=2)
def _derive_counting_bound(bijective: bool) -> CountingBound:
    F = sp.Symbol("F", positive=True, integer=True)
    M, b, W = sp.symbols("M b W", positive=True)
    n_maps = sp.factorial(F) if bijective else M**F
    premise = sp.Ge(2 ** (b * W), n_maps)
    # Taking logs is an equivalence only because both sides are positive.
    assert premise.lhs.is_positive and premise.rhs.is_positive
    log_premise = sp.Ge(sp.expand_log(sp.log(premise.lhs)), sp.expand_log(sp.log(premise.rhs)))
    solution = sp.solve(log_premise, W)
    assert isinstance(solution, sp.GreaterThan) and solution.lhs == W, solution
    return CountingBound(
        premise=premise,
        log_premise=log_premise,
        solution=solution,
        w_min=solution.rhs,
        F=F,
        M=M,
        b=b,
        W=W,
        bijective=bijective,
    )


@dataclass(frozen=True)
class StirlingBounds:
    r"""Robbins' two-sided Stirling bounds on :math:`\ln n!` and :math:`\log_2 n!`, in sympy.

    Attributes
    ----------
    n : sympy.Symbol
        A positive integer symbol.
    ln_lower, ln_upper : sympy.Expr
        :math:`n\ln n - n + \tfrac12\ln(2\pi n) + \tfrac{1}{12n+1}` and the same with
        :math:`\tfrac{1}{12n}`: strict bounds on :math:`\ln n!` for every :math:`n \ge 1`.
    log2_lower, log2_upper : sympy.Expr
        The same divided by :math:`\ln 2`: bounds on :math:`\log_2 n!`.
    log2_width : sympy.Expr
        ``log2_upper - log2_lower``, simplified: :math:`1/(12n(12n+1)\ln 2)`, i.e. the
        bounds pin :math:`\log_2 n!` to within :math:`O(1/n^2)` bits.
    """

    n: sp.Symbol
    ln_lower: sp.Expr
    ln_upper: sp.Expr
    log2_lower: sp.Expr
    log2_upper: sp.Expr
    log2_width: sp.Expr


@functools.lru_cache(maxsize=1)
def stirling_bounds() -> StirlingBounds:
    r"""Robbins' Stirling bounds on :math:`\ln n!` and :math:`\log_2 n!` as sympy expressions.

    .. math::

        n\ln n - n + \tfrac12\ln(2\pi n) + \frac{1}{12n+1}
        \;<\; \ln n! \;<\;
        n\ln n - n + \tfrac12\ln(2\pi n) + \frac{1}{12n}, \qquad n \ge 1.

    Dividing by :math:`\ln 2` bounds the bits :math:`\log_2 F!` a bijection carries.

    Returns
    -------
    StirlingBounds

    Examples
    --------
    >>> sb = stirling_bounds()
    >>> sb.log2_width
    1/(12*n*(12*n + 1)*log(2))
    >>> float(sb.ln_lower.subs(sb.n, 1)) < 0.0 < float(sb.ln_upper.subs(sb.n, 1))  # ln 1! = 0
    True

    References
    ----------
    H. Robbins, Amer. Math. Monthly 62(1):26–29 (1955), doi:10.2307/2308012 (the paper's
    statement); its use for log2(F!) in the bijection bound is derived here.
    """
    n = sp.Symbol("n", positive=True, integer=True)
    stirling = n * sp.log(n) - n + sp.log(2 * sp.pi * n) / 2
    ln_lower = stirling + 1 / (12 * n + 1)
    ln_upper = stirling + 1 / (12 * n)
    log2_lower = ln_lower / sp.log(2)
    log2_upper = ln_upper / sp.log(2)
    log2_width = sp.factor(sp.simplify(log2_upper - log2_lower))
    return StirlingBounds(n, ln_lower, ln_upper, log2_lower, log2_upper, log2_width)


def log2_factorial_bounds(n_facts: int) -> tuple[float, float]:
    r"""Robbins' bounds on :math:`\log_2(F!)` as floats, rounded outward.

    .. math::

        \frac{F\ln F - F + \tfrac12\ln(2\pi F) + \frac{1}{12F+1}}{\ln 2}
        < \log_2 F! <
        \frac{F\ln F - F + \tfrac12\ln(2\pi F) + \frac{1}{12F}}{\ln 2}

    The expressions of :func:`stirling_bounds` are evaluated at 40 significant digits and
    then rounded one ulp outward, so the returned floats are valid bounds even where their
    width (≈ 0.0048/F² bits) is below a float's resolution.

    Parameters
    ----------
    n_facts : int
        F ≥ 1.

    Returns
    -------
    (lower, upper) : tuple[float, float]

    Raises
    ------
    InvalidInputError
        If ``n_facts`` is not an integer ≥ 1.

    Examples
    --------
    >>> lo, hi = log2_factorial_bounds(10)          # log2(10!) = log2(3628800) ≈ 21.791
    >>> lo < math.log2(3628800) < hi and hi - lo < 1e-3
    True

    References
    ----------
    Robbins (1955); derived here for log2.
    """
    n_facts = require_int("n_facts", n_facts, 1)
    sb = stirling_bounds()
    at = {sb.n: sp.Integer(n_facts)}
    lower = float(sb.log2_lower.evalf(40, subs=at))
    upper = float(sb.log2_upper.evalf(40, subs=at))
    return math.nextafter(lower, -math.inf), math.nextafter(upper, math.inf)


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def bits_required(n_facts: int, n_values: int, *, bijective: bool = False) -> float:
    r"""Bits of information in the choice of a fact map: :math:`F\log_2 M`, or :math:`\log_2 F!`.

    .. math::

        \text{bits} = \log_2 \#\{\text{fact maps}\} =
        \begin{cases} F \log_2 M & \text{arbitrary } f:[F]\to[M] \\
                      \log_2(F!) & \text{bijections } (M = F) \end{cases}

    :math:`\log_2 F!` is exact, not the Stirling approximation: ``lgamma(F + 1) / ln 2``
    evaluated at 60 significant digits and rounded once to the nearest float (so it always
    lies between the floats of :func:`log2_factorial_bounds`).

    Parameters
    ----------
    n_facts : int
        F ≥ 1.
    n_values : int
        M ≥ 1; must equal F when ``bijective``.
    bijective : bool
        Count bijections only.

    Returns
    -------
    float

    Raises
    ------
    InvalidInputError
        If F or M is not an integer ≥ 1, or ``bijective`` and M ≠ F.

    Examples
    --------
    >>> bits_required(4, 16)                      # 16^4 = 2^16 maps
    16.0
    >>> bits_required(3, 3, bijective=True) == math.log2(6)
    True
    >>> bits_required(5, 1)                       # a single map carries no information
    0.0

    References
    ----------
    Background §3 (the paper's framing); derived here.
    """
    n_facts, n_values, bijective = _fact_set(n_facts, n_values, bijective)
    if not bijective:
        return n_facts * math.log2(n_values)
    return float(_log2_factorial_high_precision(n_facts))


def _log2_factorial_high_precision(n_facts: int) -> sp.Float:
    """log2(F!) = lgamma(F + 1)/ln 2 at 60 significant digits (exact for F ≤ 2).

    Rounding this to a float gives the float nearest log2(F!), so it lies between the
    outward-rounded Robbins bounds even where they are within an ulp of it (F ≳ 700);
    ``math.lgamma`` is off by a few ulp there."""
    if n_facts <= 2:
        return sp.Float(n_facts - 1)  # log2(1!) = 0, log2(2!) = 1
    digits = _HIGH_PRECISION_DIGITS + len(str(n_facts))
    return (sp.loggamma(sp.Float(n_facts + 1, digits)) / sp.log(2)).evalf(digits)


def _bits_exceed(n_facts: int, n_values: int, bijective: bool, budget: Fraction) -> bool:
    """Whether bits_required > budget, decided exactly when the bits are rational (M a power
    of two, or F ≤ 2 for bijections) and at 60 significant digits otherwise (then the bits
    are irrational, so they never equal the rational budget)."""
    if bijective and n_facts <= 2:
        return Fraction(n_facts - 1) > budget  # log2(1!) = 0, log2(2!) = 1
    if not bijective and n_values & (n_values - 1) == 0:
        return Fraction(n_facts * (n_values.bit_length() - 1)) > budget
    if bijective:
        bits = _log2_factorial_high_precision(n_facts)
    else:
        bits = (sp.Integer(n_facts) * sp.log(sp.Integer(n_values)) / sp.log(2)).evalf(
            _HIGH_PRECISION_DIGITS
        )
    return bool(bits > sp.Rational(budget.numerator, budget.denominator))


def min_params(
    n_facts: int, n_values: int, bits_per_param: float, *, bijective: bool = False
) -> int:
    r"""Fewest parameters of b bits each that can store every fact map: :math:`\lceil \text{bits}/b \rceil`.

    .. math::

        W_{\min} = \min\{W \in \mathbb{Z}_{\ge 0} : 2^{bW} \ge M^F\}
                 = \left\lceil \frac{F\log_2 M}{b} \right\rceil
        \qquad (\text{bijective: } 2^{bW} \ge F!).

    Valid for any architecture and decoding rule; "optimal" for a construction with
    :math:`W = O(F\log M)` requires b = O(1) (see the module docstring). When the float
    ratio is within 1e-9 of an integer k, whether bits ≤ k·b is decided exactly (b read as
    the decimal it prints as: 0.7 is 7/10), so an exact integer ratio is not pushed up to
    k + 1 by rounding.

    Parameters
    ----------
    n_facts : int
        F ≥ 1.
    n_values : int
        M ≥ 1; must equal F when ``bijective``.
    bits_per_param : float
        b > 0, finite.
    bijective : bool
        Count bijections only.

    Returns
    -------
    int

    Raises
    ------
    InvalidInputError
        If F or M is not an integer ≥ 1, b is not a finite positive number, or
        ``bijective`` and M ≠ F.

    Examples
    --------
    >>> min_params(4, 16, 2)                      # 2^(2W) ≥ 16^4 = 2^16  ⇔  W ≥ 8
    8
    >>> min_params(7, 8, 0.7)                     # 21 / 0.7 = 30 (float: 30.000000000000004)
    30
    >>> min_params(3, 3, 1, bijective=True)       # 2^W ≥ 3! = 6  ⇔  W ≥ 3
    3

    References
    ----------
    Background §3; derived here.
    """
    n_facts, n_values, bijective = _fact_set(n_facts, n_values, bijective)
    b = _positive_real("bits_per_param", bits_per_param)
    ratio = bits_required(n_facts, n_values, bijective=bijective) / b
    nearest = round(ratio)
    if abs(ratio - nearest) > _NEAR_INTEGER_RTOL * max(1.0, ratio):
        return math.ceil(ratio)
    budget = nearest * decimal_fraction(bits_per_param)
    return nearest + 1 if _bits_exceed(n_facts, n_values, bijective, budget) else nearest


def is_bijection(fact_map, n_values: int) -> bool:
    r"""Whether ``fact_map`` is a bijection [F] → [M]: the case counted by :math:`\log_2 F!`.

    The one rule every bits figure of the project uses to choose between the two counts of
    :func:`bits_required`: a map that is a bijection carries ``log2 F!`` bits, any other
    ``F log2 M``.

    Parameters
    ----------
    fact_map : array_like of int, shape (F,)
        Values in [0, M).
    n_values : int
        M ≥ 1.

    Returns
    -------
    bool

    Raises
    ------
    InvalidInputError
        If M is not an integer ≥ 1 or ``fact_map`` is not a vector of indices in [0, M).

    Examples
    --------
    >>> is_bijection([2, 0, 1], 3), is_bijection([0, 0, 1], 3), is_bijection([1, 0], 3)
    (True, False, False)
    """
    n_values = require_int("n_values", n_values, 1)
    fact_map = as_index_vector("fact_map", fact_map, upper=n_values)
    return fact_map.size == n_values and np.unique(fact_map).size == n_values


def bits_per_param(n_facts: int, n_values: int, n_params: int, *, bijective: bool = False) -> float:
    r"""Storage efficiency of an MLP that stores a fact set: bits the fact set carries per parameter.

    .. math::

        \text{bits/param} = \frac{F\log_2 M}{W} \quad \Bigl(\text{bijective: }
        \frac{\log_2 F!}{W}\Bigr)

    Under the counting bound this cannot exceed the bits b each parameter is stored with.
    Compare with trained language models: ≈ 2 (Allen-Zhu & Li 2024), ≈ 3.6 (Morris et al.
    2025); see :data:`REFERENCE_RATES`.

    Parameters
    ----------
    n_facts, n_values : int
        F ≥ 1, M ≥ 1 (M = F when ``bijective``).
    n_params : int
        W ≥ 1, the parameters the MLP uses.
    bijective : bool

    Returns
    -------
    float

    Raises
    ------
    InvalidInputError
        On an invalid F, M or W, or ``bijective`` with M ≠ F.

    Examples
    --------
    >>> bits_per_param(1024, 1024, 5120)          # 10 240 bits over 5 120 parameters
    2.0

    References
    ----------
    Background §3 (definition); derived here.
    """
    n_facts, n_values, bijective = _fact_set(n_facts, n_values, bijective)
    n_params = require_int("n_params", n_params, 1)
    return bits_required(n_facts, n_values, bijective=bijective) / n_params


def facts_per_param_ceiling(
    n_facts: int, n_values: int, bits_per_param: float, *, bijective: bool = False
) -> float:
    r"""Most facts per parameter the counting bound allows at b bits per parameter.

    .. math::

        \frac{F}{W} \le \frac{F\,b}{\text{bits}} = \frac{b}{\log_2 M}
        \quad \Bigl(\text{bijective: } \frac{F\,b}{\log_2 F!} \approx
        \frac{b}{\log_2 F - \log_2 e}\Bigr)

    Real-valued (W is not rounded to an integer); ``math.inf`` when the fact set carries no
    bits (M = 1, or a bijection with F = 1).

    Parameters
    ----------
    n_facts, n_values : int
        F ≥ 1, M ≥ 1 (M = F when ``bijective``).
    bits_per_param : float
        b > 0, finite.
    bijective : bool

    Returns
    -------
    float

    Raises
    ------
    InvalidInputError
        On invalid F, M, b, or ``bijective`` with M ≠ F.

    Examples
    --------
    >>> facts_per_param_ceiling(100, 1024, 2.0)   # 2 bits / 10 bits per fact
    0.2

    References
    ----------
    Background §3; derived here.
    """
    n_facts, n_values, bijective = _fact_set(n_facts, n_values, bijective)
    b = _positive_real("bits_per_param", bits_per_param)
    bits = bits_required(n_facts, n_values, bijective=bijective)
    return math.inf if bits == 0 else n_facts * b / bits


@dataclass(frozen=True)
class ReferenceRate:
    """A storage rate measured for trained language models, in bits per parameter."""

    key: str
    bits_per_param: float
    source: str


REFERENCE_RATES: tuple[ReferenceRate, ...] = (
    ReferenceRate(
        "allen-zhu-li-2024",
        2.0,
        "Allen-Zhu & Li 2024, Physics of Language Models Part 3.3 (arXiv 2404.05405): "
        "≈ 2 bits of factual knowledge per parameter",
    ),
    ReferenceRate(
        "morris-2025",
        3.6,
        "Morris et al. 2025, How much do language models memorize? (arXiv 2505.24832): "
        "≈ 3.6 bits per parameter for GPT-style models",
    ),
)
"""Reference storage rates, to set next to the counting bound's ceiling."""


def min_params_at_reference_rates(
    n_facts: int, n_values: int, *, bijective: bool = False
) -> dict[str, int]:
    r"""The counting bound's :math:`W_{\min}` at each rate in :data:`REFERENCE_RATES`.

    .. math::

        W_{\min}(r) = \lceil \text{bits} / r \rceil, \qquad r \in \{2, 3.6\}

    i.e. the parameters a model storing facts as efficiently as a trained language model
    would need.

    Parameters
    ----------
    n_facts, n_values : int
        F ≥ 1, M ≥ 1 (M = F when ``bijective``).
    bijective : bool

    Returns
    -------
    dict[str, int]
        ``{rate.key: min_params(F, M, rate.bits_per_param)}``.

    Raises
    ------
    InvalidInputError
        On invalid F or M, or ``bijective`` with M ≠ F.

    Examples
    --------
    >>> min_params_at_reference_rates(10, 2**18)  # 180 bits: 180/2 and ceil(180/3.6) = 50
    {'allen-zhu-li-2024': 90, 'morris-2025': 50}

    References
    ----------
    Allen-Zhu & Li (2024); Morris et al. (2025); the comparison is ours.
    """
    n_facts, n_values, bijective = _fact_set(n_facts, n_values, bijective)
    return {
        rate.key: min_params(n_facts, n_values, rate.bits_per_param, bijective=bijective)
        for rate in REFERENCE_RATES
    }


@dataclass(frozen=True)
class BoundReport:
    """The counting bound for one fact-set size, as the CLI ``factmlp bound`` prints it.

    Attributes
    ----------
    n_facts, n_values : int
        F and M.
    bits_per_param : float
        b, the bits each parameter is assumed to carry.
    bijective : bool
    bits_required : float
        :func:`bits_required`.
    min_params : int
        :func:`min_params` at b.
    facts_per_param_ceiling : float
        :func:`facts_per_param_ceiling` at b (``math.inf`` when bits_required = 0).
    reference_min_params : tuple[tuple[str, int], ...]
        :func:`min_params_at_reference_rates`, as (key, W) pairs.
    stirling_lower, stirling_upper : float | None
        :func:`log2_factorial_bounds` when bijective, else None.
    """

    n_facts: int
    n_values: int
    bits_per_param: float
    bijective: bool
    bits_required: float
    min_params: int
    facts_per_param_ceiling: float
    reference_min_params: tuple[tuple[str, int], ...]
    stirling_lower: float | None = None
    stirling_upper: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict (``json.dumps`` needs no ``default=``); an infinite ceiling is None."""
        ceiling = self.facts_per_param_ceiling
        return {
            "n_facts": self.n_facts,
            "n_values": self.n_values,
            "bits_per_param": self.bits_per_param,
            "bijective": self.bijective,
            "bits_required": self.bits_required,
            "min_params": self.min_params,
            "facts_per_param_ceiling": ceiling if math.isfinite(ceiling) else None,
            "reference_min_params": dict(self.reference_min_params),
            "stirling_lower": self.stirling_lower,
            "stirling_upper": self.stirling_upper,
        }


def bound_report(
    n_facts: int, n_values: int, bits_per_param: float, *, bijective: bool = False
) -> BoundReport:
    r"""Everything the counting bound says about F facts over M values at b bits per parameter.

    .. math::

        W \ge W_{\min} = \left\lceil \frac{\text{bits}}{b} \right\rceil, \qquad
        \text{bits} = F\log_2 M \;\;(\text{bijective: } \log_2 F!)

    Valid for any architecture and decoding rule, assuming b bits per parameter; optimality
    of an O(F log M) construction needs b = O(1) (module docstring).

    Parameters
    ----------
    n_facts, n_values : int
        F ≥ 1, M ≥ 1 (M = F when ``bijective``).
    bits_per_param : float
        b > 0, finite.
    bijective : bool

    Returns
    -------
    BoundReport

    Raises
    ------
    InvalidInputError
        On invalid F, M, b, or ``bijective`` with M ≠ F.

    Examples
    --------
    >>> r = bound_report(4, 16, 2)
    >>> r.to_dict()["bits_required"], r.to_dict()["min_params"]
    (16.0, 8)

    References
    ----------
    Background §3; derived here.
    """
    n_facts, n_values, bijective = _fact_set(n_facts, n_values, bijective)
    b = _positive_real("bits_per_param", bits_per_param)
    lower = upper = None
    if bijective:
        lower, upper = log2_factorial_bounds(n_facts)
    return BoundReport(
        n_facts=n_facts,
        n_values=n_values,
        bits_per_param=b,
        bijective=bijective,
        bits_required=bits_required(n_facts, n_values, bijective=bijective),
        min_params=min_params(n_facts, n_values, bits_per_param, bijective=bijective),
        facts_per_param_ceiling=facts_per_param_ceiling(
            n_facts, n_values, bits_per_param, bijective=bijective
        ),
        reference_min_params=tuple(
            min_params_at_reference_rates(n_facts, n_values, bijective=bijective).items()
        ),
        stirling_lower=lower,
        stirling_upper=upper,
    )
