r"""A rigorous certificate (mpmath interval arithmetic) that a maximal minor of Φ is nonzero.

**Measure zero for analytic gates** (derived here; the claim is the paper's). For SiLU,
:math:`\sigma(x) = x/(1 + e^{-x})` is real-analytic on ℝ (the denominator never vanishes),
and so is GELU, :math:`x\,\Phi_{\mathcal N}(x)`. Each entry of Φ
(:mod:`theory.failure_sets.features`), hence each minor
:math:`p_J(K, G_0) = \det\Phi_{:,J}`, is then a real-analytic function on
:math:`\mathbb{R}^{Fd}\times\mathbb{R}^{rd}`. A real-analytic function on a connected domain that is
not identically zero vanishes only on a Lebesgue-null set (Mityagin). So it suffices to exhibit
**one** point where one maximal minor is nonzero; :func:`certify_nonsingular_minor` does so
rigorously with interval arithmetic (exp is not rational, so an exact rational determinant is
not available). Consequences:

- the failure set {(K, G_0) : rank Φ < F} is null in :math:`\mathbb{R}^{Fd + rd}`;
- by Fubini, for almost every K the bad :math:`G_0` form a null set, so a Gaussian
  :math:`G_0` works with probability 1;
- for one **given** K, the bad :math:`G_0` are null iff :math:`G_0 \mapsto p_J(K, G_0)` is not
  identically zero for some J: a certificate at (K, G_0) proves exactly this for that K
  (and, symmetrically, for that :math:`G_0`, almost every K works). Keys on the unit sphere
  are covered the same way (a product of spheres times :math:`\mathbb{R}^{rd}` is a connected
  analytic manifold for d ≥ 2) by certifying at rational points of the sphere.

ReLU is not analytic, and there the failure set has positive probability
(:mod:`theory.failure_sets.relu`).

References
----------
arXiv 2512.00207 §4 ("fails only on a measure-zero set of inputs") is the paper's claim; the
analytic argument and the certificate are derived here. B. Mityagin, "The zero set of a real
analytic function", arXiv:1512.07276 (2015); Math. Notes 107 (2020) 529–530. Interval
arithmetic: R. E. Moore, R. B. Kearfott, M. J. Cloud, *Introduction to Interval Analysis*,
SIAM (2009); mpmath's ``iv`` context (outward-rounded +, −, ×, ÷, exp, sqrt, π).
"""

from __future__ import annotations

import numbers
import operator
from dataclasses import dataclass
from fractions import Fraction

import mpmath
from mpmath import iv

from theory.errors import InvalidInputError
from theory.failure_sets.features import (
    RATIONAL_ACTIVATIONS,
    _activation,
    khatri_rao_features,
    select_minor_columns,
)
from theory.failure_sets.minors import (
    _preactivations,
    _rational_keys_and_gates,
    exact_khatri_rao_features,
)

__all__ = ["MinorCertificate", "certify_nonsingular_minor"]

_MAX_ERF_TERMS = 100_000
# The erf series cancels terms of size e^{z²/2}; beyond this |z| the working precision it
# needs (≈ 0.72 z² extra bits) is impractical.
_GELU_MAX_ABS = 40


@dataclass(frozen=True)
class MinorCertificate:
    r"""An interval that provably contains det Φ[:, columns] at the given rational point.

    Attributes
    ----------
    lower, upper : mpmath.mpf
        Exact binary endpoints of the enclosure (possibly ∓inf when elimination met a pivot
        interval containing 0 before the last step).
    excludes_zero : bool
        ``lower > 0 or upper < 0``: then the minor is nonzero, rank Φ = F at this point, and
        (for silu/gelu) the failure set is Lebesgue-null (module docstring).
    columns : tuple[int, ...]
        The F columns of Φ (indices n·d + l) whose minor is enclosed.
    activation : str
    digits : int
        Decimal working precision of the interval arithmetic.
    n_facts, n_columns : int
        F and r·d (the shape of Φ).
    exact : fractions.Fraction | None
        The minor itself, for the rational activations (relu, identity); None otherwise.
    """

    lower: mpmath.mpf
    upper: mpmath.mpf
    excludes_zero: bool
    columns: tuple[int, ...]
    activation: str
    digits: int
    n_facts: int
    n_columns: int
    exact: Fraction | None = None

    @property
    def sign(self) -> int:
        """+1 or −1 when the sign of the minor is certified, 0 when the interval holds 0."""
        if self.lower > 0:
            return 1
        if self.upper < 0:
            return -1
        return 0

    def contains(self, value) -> bool:
        """Whether ``value`` (a real number) lies in [lower, upper]."""
        return bool(self.lower <= mpmath.mpf(value) <= self.upper)

    def __str__(self) -> str:
        return (
            f"det Φ[:, {len(self.columns)} cols] ∈ [{mpmath.nstr(self.lower, 12)}, "
            f"{mpmath.nstr(self.upper, 12)}] ({self.activation}, {self.digits} digits, "
            f"{'excludes' if self.excludes_zero else 'contains'} 0)"
        )


def _iv_fraction(q: Fraction):
    return iv.mpf(q.numerator) / iv.mpf(q.denominator)


def _endpoints(x) -> tuple[mpmath.mpf, mpmath.mpf]:
    """The exact endpoints of an interval (``mpmath.mpf(x.a)`` would round them to mp.prec)."""
    lo, hi = x._mpi_
    return mpmath.mp.make_mpf(lo), mpmath.mp.make_mpf(hi)


def _iv_erf(x):
    r"""Enclosure of erf(x) for an interval x, by the alternating Maclaurin series.

    erf(x) = 2/√π Σ_{n≥0} c_n, c_n = (−1)^n x^{2n+1}/(n!(2n+1)). For n + 1 > x² the ratio
    |c_{n+1}/c_n| = x²(2n+1)/((n+1)(2n+3)) < 1 and decreases in n, so after summing c_0 …
    c_{N−1} with N ≥ x² the tail is enclosed by [−|c_N|, |c_N|] (alternating series)."""
    x2 = x * x
    x2_upper = _endpoints(x2)[1]
    term = x  # (−1)^n x^{2n+1} / n!
    total = x
    n = 0
    eps = mpmath.mpf(2) ** (-iv.prec - 10)
    while True:
        n += 1
        term = -term * x2 / n
        c_n = term / (2 * n + 1)
        bound = max(abs(e) for e in _endpoints(c_n))  # exact: abs of an mpf is exact
        if n >= x2_upper and bound < eps:
            total = total + iv.mpf([-bound, bound])
            break
        total = total + c_n
        assert n <= _MAX_ERF_TERMS, "erf series did not converge (|x| is bounded above)"
    return 2 / iv.sqrt(iv.pi) * total


def _iv_sigma(z: Fraction, activation: str):
    if activation == "relu":
        return _iv_fraction(max(z, Fraction(0)))
    if activation == "identity":
        return _iv_fraction(z)
    x = _iv_fraction(z)
    if activation == "silu":
        return x / (1 + iv.exp(-x))
    # gelu: x/2·(1 + erf(x/√2)); the series cancels terms of size ~ e^{x²/2}: add those bits
    if abs(z) > _GELU_MAX_ABS:
        raise InvalidInputError(
            f"gelu certificate needs pre-activations |g·k| ≤ {_GELU_MAX_ABS}, got {float(z):.6g}"
        )
    old = iv.prec
    iv.prec = old + int(float(z) ** 2) + 20
    try:
        value = x / 2 * (1 + _iv_erf(_iv_fraction(z) / iv.sqrt(2)))
    finally:
        iv.prec = old
    return value


def _iv_det(rows):
    """Enclosure of det(rows) by Gaussian elimination with partial pivoting on midpoints.

    Every operation is an outward-rounded interval operation, so the exact elimination of
    the exact matrix (same pivot order) stays inside the intervals; its pivots are nonzero
    where their intervals exclude 0, and det = sign · Π pivots."""
    a = [list(row) for row in rows]
    n = len(a)
    det = iv.mpf(1)
    for k in range(n):
        p = max(range(k, n), key=lambda i: abs(_endpoints(a[i][k].mid)[0]))
        if p != k:
            a[k], a[p] = a[p], a[k]
            det = -det
        pivot = a[k][k]
        det = det * pivot
        if k == n - 1:
            break
        lo, hi = _endpoints(pivot)
        if lo <= 0 <= hi:  # cannot divide: the enclosure is the whole line
            return iv.mpf(["-inf", "inf"])
        for i in range(k + 1, n):
            factor = a[i][k] / pivot
            a[i] = [a[i][j] - factor * a[k][j] if j > k else a[i][j] for j in range(n)]
    return det


def certify_nonsingular_minor(
    keys, gate_rows, columns=None, *, activation: str = "silu", digits: int = 30
) -> MinorCertificate:
    r"""Rigorous enclosure of a maximal minor of Φ at an exact rational point.

    .. math::

        \det \Phi_{:,J} \in [\ell, u], \qquad \Phi_{i,\,nd+l} = \sigma(g_n\cdot k_i)\,k_{i,l},
        \quad |J| = F,

    computed with mpmath's outward-rounded interval arithmetic: the pre-activations
    :math:`g_n\cdot k_i` are exact rationals, SiLU is enclosed as x/(1 + iv.exp(−x)), GELU by
    the alternating erf series with a rigorous tail, and the determinant by interval
    Gaussian elimination. For ReLU and identity the minor is computed exactly over ℚ
    (sympy, Bareiss) and only its final rounding is enclosed (``exact`` holds it). If ℓ > 0 or u < 0 the minor is nonzero, so
    Φ has full row rank at this point and (SiLU, GELU) the analytic minor is not identically
    zero: the encoder fails only on a Lebesgue-null set of (K, G₀) (module docstring).

    Parameters
    ----------
    keys : array_like, shape (F, d)
        Exact rationals: ints, ``Fraction``, ``sympy.Rational``, strings like ``'3/7'``, or
        floats (taken at their exact binary value).
    gate_rows : array_like, shape (r, d)
        Same conventions; F ≤ r·d.
    columns : sequence of int, optional
        The F distinct columns J of Φ (indices n·d + l); default
        :func:`select_minor_columns` of the float Φ.
    activation : str
        One of :data:`GATE_ACTIVATIONS` (default ``"silu"``).
    digits : int
        Decimal working precision, 10 ≤ digits ≤ 10000 (the enclosure is rigorous at every
        precision; more digits make it tighter).

    Returns
    -------
    MinorCertificate

    Raises
    ------
    InvalidInputError
        If an entry is not an exact rational (or a non-finite float), shapes mismatch,
        F > r·d, ``columns`` is not F distinct indices in [0, r·d), or ``digits`` is out of
        range.

    Notes
    -----
    Temporarily sets mpmath's global ``iv.prec`` (restored on return); not thread-safe.

    Examples
    --------
    >>> cert = certify_nonsingular_minor([[1, 0], [0, 1]], [[1, 1]])   # Φ = σ(1)·I₂
    >>> cert.excludes_zero, cert.sign
    (True, 1)
    >>> with mpmath.workdps(50):                        # det = σ(1)² = (1 + 1/e)^(−2)
    ...     cert.contains((1 / (1 + mpmath.exp(-1))) ** 2)
    True
    >>> certify_nonsingular_minor([[1, 2], [1, 2]], [[1, 0]], [0, 1]).excludes_zero  # equal keys
    False

    References
    ----------
    The measure-zero claim is the paper's (arXiv 2512.00207 §4); the certificate is derived
    here. Moore, Kearfott & Cloud (2009) for interval Gaussian elimination.
    """
    activation = _activation(activation)
    if (
        isinstance(digits, bool)
        or not isinstance(digits, numbers.Integral)
        or not (10 <= digits <= 10_000)
    ):
        raise InvalidInputError(f"digits must be an integer in [10, 10000], got {digits!r}")
    k, g = _rational_keys_and_gates(keys, gate_rows)
    n_facts, dim, n_gates = len(k), len(k[0]), len(g)
    n_columns = n_gates * dim
    if n_facts > n_columns:
        raise InvalidInputError(
            f"keys has {n_facts} rows but Φ has only r·d = {n_gates}·{dim} = {n_columns} "
            f"columns: rank Φ < F for every point, there is no F×F minor"
        )
    z = _preactivations(k, g)
    if columns is None:
        phi_float = khatri_rao_features(
            [[float(x) for x in row] for row in k],
            [[float(x) for x in row] for row in g],
            activation,
        )
        columns = select_minor_columns(phi_float)
    columns = _columns(columns, n_facts, n_columns)

    old_prec = iv.prec
    iv.dps = int(digits)
    try:
        if activation in RATIONAL_ACTIVATIONS:  # exact over ℚ, then enclosed
            phi = exact_khatri_rao_features(k, g, activation)
            exact = phi.extract(list(range(n_facts)), list(columns)).det(method="bareiss")
            exact = Fraction(int(exact.p), int(exact.q))
            det = _iv_fraction(exact)
        else:
            exact = None
            sig = [[_iv_sigma(zin, activation) for zin in row] for row in z]
            rows = [
                [sig[i][j // dim] * _iv_fraction(k[i][j % dim]) for j in columns]
                for i in range(n_facts)
            ]
            det = _iv_det(rows)
    finally:
        iv.prec = old_prec
    lower, upper = _endpoints(det)
    return MinorCertificate(
        lower,
        upper,
        bool(lower > 0 or upper < 0),
        columns,
        activation,
        int(digits),
        n_facts,
        n_columns,
        exact,
    )


def _columns(columns, n_facts: int, n_columns: int) -> tuple[int, ...]:
    try:
        cols = [operator.index(c) for c in columns]
    except TypeError:
        raise InvalidInputError(
            f"columns must be a sequence of integers, got {columns!r}"
        ) from None
    if len(cols) != n_facts or len(set(cols)) != n_facts:
        raise InvalidInputError(
            f"columns must be {n_facts} distinct indices (one per key), got {columns!r}"
        )
    bad = [c for c in cols if not 0 <= c < n_columns]
    if bad:
        raise InvalidInputError(f"columns entry {bad[0]} is out of range [0, {n_columns})")
    return tuple(cols)
