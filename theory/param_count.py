r"""Parameter count of the encoder–decoder construction, exact and asymptotic.

The construction (paper §4; the layout is the project's "global solve") is one gated MLP
:math:`g(x) = D(\sigma(Gx) \odot (Ax))` with :math:`G, A \in \mathbb{R}^{h\times d}`,
:math:`D \in \mathbb{R}^{d\times h}`. The hidden units come in m groups, one per code
coordinate; each group has the same r shared gate rows :math:`G_0 \in \mathbb{R}^{r\times d}`,
its own up rows :math:`A_t \in \mathbb{R}^{r\times d}` and down columns all equal to
:math:`P_{:,t}`. The linear system of group t has F equations (one per key) and r·d unknowns
(the entries of :math:`A_t`), so it is solvable for every target only if :math:`rd \ge F`;
the construction takes

.. math::

    r = \Bigl\lceil \frac{(1+s)F}{d} \Bigr\rceil, \qquad h = m\,r, \qquad
    W = \underbrace{hd}_{G} + \underbrace{hd}_{A} + \underbrace{dh}_{D} = 3\,m\,d\,r
    \quad (+\,2h \text{ with gate and up biases, and then } d \to d + 1 \text{ in } r).

Symbols: F facts (keys), M values, d embedding dimension, m code dimension, s ≥ 0 the slack,
r shared gate rows, h hidden width, W parameters (every stored scalar). Bucketed hook: B
buckets of S keys, each with its own group of :math:`r_b = \lceil (1+s)S/d\rceil` shared gate
rows per code coordinate, so :math:`h = B\,m\,r_b`.

Asymptotics (derived here)
--------------------------
From :math:`(1+s)F/d \le r < (1+s)F/d + 1`:

.. math::

    3(1+s)\,m\,F \;\le\; W \;<\; 3(1+s)\,m\,F + 3md,

so :math:`W \sim 3(1+s)mF` as F → ∞ (d and m fixed), **independent of d** to leading
order. With the decoder's code dimension :math:`m = \lceil C \ln M / \rho^2\rceil`
(:math:`\rho` the decodability of the values, C the projection constant) this is
:math:`W = \Theta(F\log M/\rho^2)`, and against the counting bound
:math:`W_{\min} = F\log_2 M / b` of :func:`theory.bounds.counting_bound`

.. math::

    \lim_{F\to\infty} \frac{W}{F\log_2 M / b}\Big|_{M = F}
    = \frac{3(1+s)\,C\,b\,\ln 2}{\rho^2},

a constant in F (:mod:`theory.asymptotics` takes this limit, in the regime where it exists).


Bucketing costs an additive :math:`< 3md` per bucket, i.e. up to :math:`3md/S` per fact; it
keeps the leading term only if the bucket size S grows faster than d (with S ≤ d every
bucket has :math:`r_b \ge 1` and the per-fact cost is at least 3md/S ≥ 3m).

References
----------
arXiv 2512.00207 §4 (background ``paper.md`` §4): the construction and the claim
"O(F log M) parameters, independent of d" are the paper's; the group layout, the slack, the
exact count with the ceiling, the sandwich and the limit are derived here.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from theory.errors import InvalidInputError, SolverError
from theory.failure_sets import GATE_ACTIVATIONS, feature_rank_ceiling
from theory.validation import decimal_fraction, require_bool, require_int

__all__ = [
    "ParamCountFormula",
    "global_param_formula",
    "bucketed_param_formula",
    "shared_gate_rows",
    "encoder_gate_rows",
    "hidden_width",
    "construction_params",
    "bucketed_construction_params",
    "params_per_fact",
]


# ---------------------------------------------------------------------------------------------
# Validation at the public boundary
# ---------------------------------------------------------------------------------------------


def _slack(value) -> Fraction:
    """The slack as the exact rational the user means, so the ceiling is applied exactly
    (:func:`~theory.validation.decimal_fraction`: the float 0.1 is 1/10)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(
            f"slack must be a finite real number ≥ 0, got {value!r} ({type(value).__name__})"
        )
    if not isinstance(value, numbers.Rational) and not math.isfinite(float(value)):
        raise InvalidInputError(f"slack must be a finite real number ≥ 0, got {value!r}")
    exact = decimal_fraction(value)
    if exact < 0:
        raise InvalidInputError(
            f"slack must be ≥ 0 (r·d ≥ F is needed for every target to be reachable), got {value!r}"
        )
    return exact


def _ceil_fraction(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


# ---------------------------------------------------------------------------------------------
# Symbolic formulas (sympy)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamCountFormula:
    r"""The parameter count of one design as sympy expressions.

    Attributes
    ----------
    design : str
        ``"global"`` (one group of r shared gate rows per code coordinate, all F keys in one
        system) or ``"bucketed"`` (B buckets of S keys, r_b rows per bucket and coordinate).
    biases : bool
        Whether the gate and up biases (h + h scalars) are counted.
    gate_rows : sympy.Expr
        r = ⌈(1+s)F/d⌉ (global) or r_b = ⌈(1+s)S/d⌉ (bucketed, per bucket).
    hidden : sympy.Expr
        h = m·r (global) or h = B·m·r_b (bucketed).
    params : sympy.Expr
        W = 3hd, plus 2h with biases (the gate and up biases; the construction has no down
        bias).
    leading : sympy.Expr
        The leading-order term 3(1+s)·m·F (global) or 3(1+s)·m·B·S (bucketed).
    lower, upper : sympy.Expr
        Ceiling-free bounds with lower ≤ params < upper, from x ≤ ⌈x⌉ < x + 1.
    F, d, m, slack : sympy.Symbol
        Facts, dimension, code dimension (positive integers) and slack (nonnegative).
    B, S : sympy.Symbol | None
        Buckets and bucket size (bucketed design only).
    """

    design: str
    biases: bool
    gate_rows: sp.Expr
    hidden: sp.Expr
    params: sp.Expr
    leading: sp.Expr
    lower: sp.Expr
    upper: sp.Expr
    F: sp.Symbol
    d: sp.Symbol
    m: sp.Symbol
    slack: sp.Symbol
    B: sp.Symbol | None = None
    S: sp.Symbol | None = None


def _symbols():
    F, d, m, B, S = sp.symbols("F d m B S", positive=True, integer=True)
    slack = sp.Symbol("s", nonnegative=True)
    return F, d, m, slack, B, S


def global_param_formula(*, biases: bool = False) -> ParamCountFormula:
    r"""The parameter count of the global design as a sympy formula in F, d, m and s.

    .. math::

        r = \Bigl\lceil \frac{(1+s)F}{d} \Bigr\rceil,\quad h = m r,\quad
        W = 3hd \;(+\,2h),\qquad
        3(1+s)mF \le W < 3(1+s)mF + 3md \;(\text{no biases}).

    Symbols: F facts, d dimension, m code dimension, s slack, r shared gate rows, h hidden
    width, W parameters.

    Parameters
    ----------
    biases : bool
        Count the gate and up biases b_G, b_A (h each); the up bias is the coefficient of a
        constant feature, so the ceiling divides by d + 1.

    Returns
    -------
    ParamCountFormula

    Raises
    ------
    InvalidInputError
        If ``biases`` is not a bool.

    Examples
    --------
    >>> pc = global_param_formula()
    >>> pc.params
    3*d*m*ceiling(F*(s + 1)/d)
    >>> pc.params.subs({pc.F: 2048, pc.d: 64, pc.m: 16, pc.slack: 0})   # 3·(16·32)·64
    98304
    >>> pc.leading                              # 3(1 + s)·m·F
    3*F*m*(s + 1)

    References
    ----------
    arXiv 2512.00207 §4 (3hd parameters of a gated MLP); the group layout and the ceiling are
    derived here.
    """
    return _global_formula(require_bool("biases", biases))


@functools.lru_cache(maxsize=2)
def _global_formula(biases: bool) -> ParamCountFormula:
    F, d, m, slack, _, _ = _symbols()
    width = d + 1 if biases else d  # d' = d + 1: the up bias is a constant feature
    r = sp.ceiling((1 + slack) * F / width)
    h = m * r
    params = 3 * h * d + (2 * h if biases else 0)
    leading = (1 + slack) * m * F * ((3 * d + 2) / (d + 1) if biases else 3)
    r_lo, r_hi = (1 + slack) * F / width, (1 + slack) * F / width + 1
    lower = 3 * m * r_lo * d + (2 * m * r_lo if biases else 0)
    upper = 3 * m * r_hi * d + (2 * m * r_hi if biases else 0)
    return ParamCountFormula(
        "global", biases, r, h, params, leading, sp.expand(lower), sp.expand(upper), F, d, m, slack
    )


def bucketed_param_formula(*, biases: bool = False) -> ParamCountFormula:
    r"""Hook for a bucketed design: B buckets of S keys, r_b shared gate rows per bucket.

    .. math::

        r_b = \Bigl\lceil \frac{(1+s)S}{d} \Bigr\rceil,\quad h = B\,m\,r_b,\quad
        W = 3hd \;(+\,2h),\qquad
        3(1+s)mBS \le W < 3(1+s)mBS + 3Bmd \;(\text{no biases}).

    With B·S = F the leading term equals the global design's 3(1+s)mF, but the rounding
    overhead is up to 3md per *bucket* (3md·F/S in all) instead of 3md once. Only the count
    is stated here; whether a bucket's group can be solved on its own (gates that are off
    outside the bucket) is the construction's business.

    Parameters
    ----------
    biases : bool
        Count the gate and up biases (2h); r then divides by d + 1.

    Returns
    -------
    ParamCountFormula
        ``design == "bucketed"``, with the symbols ``B`` and ``S`` set.

    Raises
    ------
    InvalidInputError
        If ``biases`` is not a bool.

    Examples
    --------
    >>> pc = bucketed_param_formula()
    >>> pc.params
    3*B*d*m*ceiling(S*(s + 1)/d)
    >>> pc.params.subs({pc.B: 32, pc.S: 64, pc.d: 64, pc.m: 16, pc.slack: 0})  # = global, F = 2048
    98304

    References
    ----------
    arXiv 2512.00207 §4 (buckets and gadgets, per the summaries); the count is derived here.
    """
    return _bucketed_formula(require_bool("biases", biases))


@functools.lru_cache(maxsize=2)
def _bucketed_formula(biases: bool) -> ParamCountFormula:
    F, d, m, slack, B, S = _symbols()
    width = d + 1 if biases else d
    r = sp.ceiling((1 + slack) * S / width)
    h = B * m * r
    params = 3 * h * d + (2 * h if biases else 0)
    leading = (1 + slack) * m * B * S * ((3 * d + 2) / (d + 1) if biases else 3)
    r_lo, r_hi = (1 + slack) * S / width, (1 + slack) * S / width + 1
    lower = 3 * B * m * r_lo * d + (2 * B * m * r_lo if biases else 0)
    upper = 3 * B * m * r_hi * d + (2 * B * m * r_hi if biases else 0)
    return ParamCountFormula(
        "bucketed",
        biases,
        r,
        h,
        params,
        leading,
        sp.expand(lower),
        sp.expand(upper),
        F,
        d,
        m,
        slack,
        B,
        S,
    )


# ---------------------------------------------------------------------------------------------
# Numbers (exact integer arithmetic)
# ---------------------------------------------------------------------------------------------


def shared_gate_rows(n_facts: int, dim: int, slack=0) -> int:
    r"""Shared gate rows per code coordinate: :math:`r = \lceil (1+s)F/d \rceil`, exactly.

    .. math::

        r = \Bigl\lceil \frac{(1+s)F}{d} \Bigr\rceil \quad(\text{so } rd \ge (1+s)F \ge F)

    The slack is read as the exact rational it prints as (0.1 is 1/10), so
    (1 + 0.1)·10/1 = 11 gives r = 11, not the 12 a float ceiling of 11.000000000000002 gives.

    Parameters
    ----------
    n_facts : int
        F ≥ 1.
    dim : int
        d ≥ 1.
    slack : real
        s ≥ 0, finite.

    Returns
    -------
    int

    Raises
    ------
    InvalidInputError
        If F or d is not an integer ≥ 1, or s is not a finite real ≥ 0.

    Examples
    --------
    >>> shared_gate_rows(2048, 64)
    32
    >>> shared_gate_rows(10, 1, 0.1)
    11
    >>> shared_gate_rows(2048, 64, 0.1)        # ⌈35.2⌉
    36

    References
    ----------
    Derived here (the global-solve layout of background §4).
    """
    n_facts = require_int("n_facts", n_facts, 1)
    dim = require_int("dim", dim, 1)
    return _ceil_fraction((1 + _slack(slack)) * n_facts / dim)


def encoder_gate_rows(n_facts: int, feature_dim: int, slack=0, activation: str = "silu") -> int:
    r"""Shared gate rows r per code coordinate: the fewest whose features have rank ≥ (1+s)F.

    Code coordinate t is :math:`c_t(x) = \sum_n σ(g_n\cdot x)(a_{t,n}\cdot x)` on features
    x of dimension d' (the rank of the keys, + 1 with an up bias); the system for the
    :math:`a_{t,n}` has F equations and needs rank(Φ) ≥ F, with the slack asking for
    (1+s)F:

    .. math::

        \text{silu, gelu:}\quad \operatorname{rank} = r d' \;\Rightarrow\;
            r = \Bigl\lceil \frac{(1+s)F}{d'} \Bigr\rceil ;

        \text{relu (} r = 2p \text{ rows in ± pairs):}\quad
            \operatorname{rank} = p d' + \min\bigl(p d' - \tbinom{p}{2},\, \tbinom{d'+1}{2}\bigr) ;

        \text{identity:}\quad \operatorname{rank} = \min\bigl(r d' - \tbinom{r}{2},\,
            \tbinom{d'+1}{2}\bigr).

    The ranks are :func:`theory.failure_sets.feature_rank_ceiling` (relu(z) − relu(−z) = z
    makes each ± pair carry a bilinear feature, and bilinear features span at most
    β(d', p) = pd' − p(p−1)/2 ≤ d'(d'+1)/2 dimensions); they are upper bounds for every key
    set and attained by generic keys. Analytic non-polynomial gates (SiLU, GELU) without ±
    pairs have no such relations.

    Parameters
    ----------
    n_facts : int
        F ≥ 1 distinct keys.
    feature_dim : int
        d' ≥ 1.
    slack : real
        s ≥ 0, read exactly (see :func:`shared_gate_rows`).
    activation : str
        ``silu``, ``gelu``, ``relu`` or ``identity``.

    Returns
    -------
    int
        r (even for ``relu``).

    Raises
    ------
    InvalidInputError
        On an invalid argument.
    SolverError
        ``identity`` with F > d'(d'+1)/2: no number of rows reaches F generic targets.

    Examples
    --------
    >>> encoder_gate_rows(2048, 64, 0.05)
    34
    >>> encoder_gate_rows(100, 8, 0.05, "relu")     # p = 9 pairs: 72 + 36 = 108 ≥ 105
    18
    >>> encoder_gate_rows(15, 6, 0.05, "identity")  # 4·6 − 6 = 18 ≥ 15.75
    4

    References
    ----------
    Derived here (the encoder layout of background §4).
    """
    n_facts = require_int("n_facts", n_facts, 1)
    feature_dim = require_int("feature_dim", feature_dim, 1)
    if activation not in GATE_ACTIVATIONS:
        raise InvalidInputError(
            f"activation {activation!r} is unknown; choose one of {list(GATE_ACTIVATIONS)}"
        )
    need = (1 + _slack(slack)) * n_facts
    if activation in ("silu", "gelu"):
        return _ceil_fraction(need / feature_dim)
    if activation == "identity":
        cap = feature_rank_ceiling(feature_dim, feature_dim, "identity")
        if n_facts > cap:
            raise SolverError(
                f"identity gate: a code coordinate is a quadratic form of the {feature_dim} "
                f"features, so at most d'(d'+1)/2 = {cap} generic facts can be stored, not "
                f"{n_facts}; use an analytic gate (silu)"
            )
        rows = 1
        while rows < feature_dim and feature_rank_ceiling(feature_dim, rows, "identity") < need:
            rows += 1
        return rows
    pairs = 1  # relu, in ± pairs
    while feature_rank_ceiling(feature_dim, pairs, "relu", pm_pairs=True) < need:
        pairs += 1
    return 2 * pairs


def hidden_width(n_facts: int, dim: int, code_dim: int, slack=0) -> int:
    r"""Hidden width of the global design: :math:`h = m \lceil (1+s)F/d \rceil`.

    Parameters
    ----------
    n_facts, dim, code_dim : int
        F, d, m ≥ 1.
    slack : real
        s ≥ 0.

    Returns
    -------
    int

    Raises
    ------
    InvalidInputError
        On a non-positive or non-integer F, d, m, or an invalid slack.

    Examples
    --------
    >>> hidden_width(2048, 64, 16)
    512

    References
    ----------
    Derived here.
    """
    code_dim = require_int("code_dim", code_dim, 1)
    return code_dim * shared_gate_rows(n_facts, dim, slack)


def construction_params(
    n_facts: int,
    dim: int,
    code_dim: int,
    slack=0,
    biases: bool = False,
    *,
    activation: str = "silu",
    key_rank: int | None = None,
) -> int:
    r"""Parameters of the global design, every stored scalar, with the ceiling applied exactly.

    .. math::

        W = 3\,h\,d \;(+\,2h \text{ with biases}),\qquad h = m\,r,\qquad
        r = \text{encoder\_gate\_rows}(F, d', s, σ),\quad d' = q + [\text{biases}]

    Gate G and up A are h×d, down D is d×h (the decoder's projection P is folded into D);
    q is the rank of the keys (d for generic keys). For SiLU and full-rank keys,
    :math:`r = \lceil (1+s)F/d' \rceil`, the formula of :func:`global_param_formula`.

    Parameters
    ----------
    n_facts : int
        F ≥ 1 distinct keys.
    dim : int
        d ≥ 1.
    code_dim : int
        m ≥ 1.
    slack : real
        s ≥ 0 (read exactly, see :func:`shared_gate_rows`).
    biases : bool
        Add the gate and up biases (h each); the up bias is a constant feature.
    activation : str
        The gate (see :func:`encoder_gate_rows`).
    key_rank : int, optional
        q, the rank of the keys (default d).

    Returns
    -------
    int

    Raises
    ------
    InvalidInputError
        On an invalid F, d, m, slack, ``biases`` or rank.

    Examples
    --------
    >>> construction_params(2048, 64, 16)              # 3 · 512 · 64
    98304
    >>> construction_params(2048, 64, 16, 0.1)         # h = 16 · 36 = 576
    110592
    >>> construction_params(2048, 64, 16, biases=True) # r = ⌈2048/65⌉ = 32: + 512 + 512
    99328

    References
    ----------
    arXiv 2512.00207 §4 (3hd parameters); the layout and count are derived here.
    """
    biases = require_bool("biases", biases)
    d = require_int("dim", dim, 1)
    code_dim = require_int("code_dim", code_dim, 1)
    rank = d if key_rank is None else require_int("key_rank", key_rank, 1)
    if rank > d:
        raise InvalidInputError(f"key_rank must be at most dim = {d}, got {rank}")
    h = code_dim * encoder_gate_rows(n_facts, rank + int(biases), slack, activation)
    return 3 * h * d + (2 * h if biases else 0)


def bucketed_construction_params(
    n_buckets: int, bucket_size: int, dim: int, code_dim: int, slack=0, biases: bool = False
) -> int:
    r"""Parameters of the bucketed design (the hook of :func:`bucketed_param_formula`).

    .. math::

        W = 3\,h\,d \;(+\,2h),\qquad h = B\,m\Bigl\lceil \frac{(1+s)S}{d'} \Bigr\rceil,\quad d' = d + [\text{biases}]

    Parameters
    ----------
    n_buckets : int
        B ≥ 1.
    bucket_size : int
        S ≥ 1 keys per bucket (B·S ≥ F covers every key).
    dim, code_dim : int
        d, m ≥ 1.
    slack : real
        s ≥ 0.
    biases : bool

    Returns
    -------
    int

    Raises
    ------
    InvalidInputError
        On an invalid argument.

    Examples
    --------
    >>> bucketed_construction_params(32, 64, 64, 16)   # = construction_params(2048, 64, 16)
    98304
    >>> bucketed_construction_params(256, 8, 64, 16)   # S < d: r_b = 1, 8× the global count
    786432

    References
    ----------
    Derived here.
    """
    n_buckets = require_int("n_buckets", n_buckets, 1)
    biases = require_bool("biases", biases)
    d = require_int("dim", dim, 1)
    code_dim = require_int("code_dim", code_dim, 1)
    h = n_buckets * code_dim * shared_gate_rows(bucket_size, d + int(biases), slack)
    return 3 * h * d + (2 * h if biases else 0)


def params_per_fact(n_facts: int, dim: int, code_dim: int, slack=0, biases: bool = False) -> float:
    r"""Parameters per fact of the global design: :math:`W / F` (→ 3(1+s)m as F → ∞).

    .. math::

        \frac{W}{F} = \frac{3\,d\,m}{F}\Bigl\lceil \frac{(1+s)F}{d} \Bigr\rceil
        \in \Bigl[3(1+s)m,\; 3(1+s)m + \frac{3md}{F}\Bigr)

    Parameters
    ----------
    n_facts, dim, code_dim : int
        F, d, m ≥ 1.
    slack : real
        s ≥ 0.
    biases : bool

    Returns
    -------
    float

    Raises
    ------
    InvalidInputError
        On an invalid argument.

    Examples
    --------
    >>> params_per_fact(2048, 64, 16)          # 3 · 16
    48.0
    >>> params_per_fact(2048, 64, 16, 0.1)     # 110592 / 2048
    54.0

    References
    ----------
    Derived here.
    """
    total = construction_params(n_facts, dim, code_dim, slack, biases)
    return total / n_facts
