r"""Where the encoder's linear system fails: a null set for SiLU, a positive-probability set for ReLU.

The system
----------
The encoder of the construction (paper §4, global solve) has r shared gate rows
:math:`G_0 \in \mathbb{R}^{r\times d}` and, per code coordinate t, up rows
:math:`A_t \in \mathbb{R}^{r\times d}`. Key :math:`k_i` hits its code coordinate
:math:`c_t(k_i) = \sum_n \sigma(g_n\cdot k_i)(a_{t,n}\cdot k_i)` iff

.. math::

    \Phi\,\operatorname{vec}(A_t) = T_{:,t}, \qquad
    \Phi_i = \sigma(G_0 k_i) \otimes k_i \in \mathbb{R}^{rd}, \qquad
    \Phi_{i,\,nd+l} = \sigma(g_n\cdot k_i)\,k_{i,l},

(Φ is the row-wise Kronecker, "Khatri–Rao", product of :math:`S = \sigma(KG_0^\top)` and K;
``vec`` is row-major, entry (n, l) of :math:`A_t` at position n·d + l), and

.. math::

    \Phi\Phi^\top = (SS^\top) \circ (KK^\top).

**Failure condition** (derived here). The system is solvable for *every* target T iff Φ
(F × rd) has full row rank F, iff some F × F minor of Φ is nonzero, iff
:math:`\det(\Phi\Phi^\top) \ne 0`, because by Cauchy–Binet

.. math::

    \det(\Phi\Phi^\top) = \sum_{|J| = F} \det(\Phi_{:,J})^2 .

So the encoder fails for some target iff every maximal minor vanishes. It needs F ≤ rd.

**Measure zero for analytic gates** (derived here; the claim is the paper's). For SiLU,
:math:`\sigma(x) = x/(1 + e^{-x})` is real-analytic on ℝ (the denominator never vanishes),
and so is GELU, :math:`x\,\Phi_{\mathcal N}(x)`. Each entry of Φ, hence each minor
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

Some K fail for every :math:`G_0`: a zero key (zero row, any σ), two equal keys (equal rows).

**ReLU is different.** :math:`\max(x, 0)` is not analytic; Φ is only piecewise polynomial.
A key with every gate off (:math:`g_n\cdot k \le 0` for all n) has a zero row, so Φ is singular.
For a fixed nonzero key and i.i.d. Gaussian gate rows the :math:`g_n\cdot k` are i.i.d.
:math:`N(0, \|k\|^2)`, so this happens with probability exactly :math:`2^{-r}`
(:func:`all_gates_off_probability`): singular systems have positive probability
(at least :math:`2^{-r}`), measured by :func:`singular_fraction`.

**± pairs** (:func:`pm_gate_pairs`): gates :math:`\pm g_n`. For every key, exactly one gate
of each pair is on unless :math:`g_n\cdot k = 0`, so a key has exactly
:math:`r - \#\{n : g_n\cdot k = 0\}` active gates among 2r (r almost surely) and **no row is
zero** when :math:`G_0k \ne 0`. It does **not** make Φ full rank: for any σ with
:math:`\sigma(x) - \sigma(-x) = x` (ReLU, SiLU, GELU), a column operation within each pair
turns the pair's columns into :math:`[\sigma(g_n\cdot k)\,k,\ (g_n\cdot k)\,k]`, and the
second block is the identity-gate (bilinear) feature map, whose rank is at most
:math:`\beta(d, r)` (:func:`feature_rank_ceiling`), so

.. math::

    \operatorname{rank}\Phi_{\pm} \le rd + \beta(d, r) < 2rd \quad (r \ge 2),\qquad
    \beta(d, r) = \tfrac{d(d+1)}{2} - \tfrac{(d-r)_+ (d-r+1)_+}{2}.

(β: the features :math:`(G_0k)\otimes k = (G_0 \otimes I)(k\otimes k)` depend on k only
through the symmetric matrix :math:`kk^\top`, and :math:`B \mapsto G_0B` on symmetric B has
kernel :math:`\{NCN^\top\}`, N a basis of null(:math:`G_0`).) Within one activation pattern
the ReLU minors are polynomials, so a measure-zero claim for ReLU has to be stated per
pattern; the zero-row failure is removed, other rank deficiencies are not (measured).

Symbols and shapes: F keys (``n_facts``), d dimension (``dim``), r gate rows (``n_gates``),
K (F × d) keys, :math:`G_0` (r × d) gate rows, Φ (F × rd) features, σ the gate activation.

References
----------
arXiv 2512.00207 §4 ("fails only on a measure-zero set of inputs") is the paper's claim; the
failure condition, the analytic argument, the ReLU counterexample and the ± pair analysis
are derived here. B. Mityagin, "The zero set of a real analytic function",
arXiv:1512.07276 (2015); Math. Notes 107 (2020) 529–530. Cauchy–Binet: e.g. Horn & Johnson,
*Matrix Analysis*, 2nd ed. (2013), §0.8.7. Interval arithmetic: R. E. Moore, R. B. Kearfott,
M. J. Cloud, *Introduction to Interval Analysis*, SIAM (2009); mpmath's ``iv`` context
(outward-rounded +, −, ×, ÷, exp, sqrt, π).
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp
from mpmath import iv

from theory.errors import InvalidInputError
from theory.validation import as_matrix

__all__ = [
    "GATE_ACTIVATIONS",
    "RATIONAL_ACTIVATIONS",
    "MinorCertificate",
    "SingularFraction",
    "khatri_rao_features",
    "khatri_rao_kernel",
    "select_minor_columns",
    "certify_nonsingular_minor",
    "exact_khatri_rao_features",
    "exact_gram_determinant",
    "all_gates_off_probability",
    "expected_all_off_keys",
    "active_gate_counts",
    "pm_gate_pairs",
    "feature_rank_ceiling",
    "singular_fraction",
]

#: Gate activations σ these functions know: ``silu`` x/(1+e^{−x}), ``relu`` max(x, 0),
#: ``gelu`` x·Φ_N(x) = x/2·(1 + erf(x/√2)) (erf form), ``identity`` x (the bilinear gate).
GATE_ACTIVATIONS = ("silu", "relu", "gelu", "identity")

#: Activations that map rationals to rationals, so Φ is exact over ℚ.
RATIONAL_ACTIVATIONS = ("relu", "identity")

_MAX_ERF_TERMS = 100_000
# The erf series cancels terms of size e^{z²/2}; beyond this |z| the working precision it
# needs (≈ 0.72 z² extra bits) is impractical.
_GELU_MAX_ABS = 40


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _activation(value, allowed=GATE_ACTIVATIONS) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInputError(
            f"activation must be one of {', '.join(allowed)}, got {value!r}"
        )
    return value


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(
            f"{name} must be an integer ≥ 1, got {value!r} ({type(value).__name__})"
        )
    value = operator.index(value)
    if value < 1:
        raise InvalidInputError(f"{name} must be an integer ≥ 1, got {value}")
    return value


def _keys_and_gates(keys, gate_rows) -> tuple[np.ndarray, np.ndarray]:
    keys = as_matrix("keys", keys)
    gate_rows = as_matrix("gate_rows", gate_rows, cols=keys.shape[1])
    return keys, gate_rows


def _to_fraction(name: str, index: tuple[int, int], value) -> Fraction:
    where = f"{name}[{index[0]}, {index[1]}]"
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{where} is a bool ({value!r}); give a number")
    if isinstance(value, (numbers.Integral, np.integer)):
        return Fraction(int(value))
    if isinstance(value, Fraction):
        return value
    if isinstance(value, sp.Rational):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise InvalidInputError(f"{where} is {value!r} (entries must be finite)")
        return Fraction(float(value))  # the exact binary value of the float
    if isinstance(value, str):
        try:
            return Fraction(value)
        except (ValueError, ZeroDivisionError):
            raise InvalidInputError(
                f"{where} = {value!r} is not a rational literal like '3/7' or '-0.25'"
            ) from None
    raise InvalidInputError(
        f"{where} = {value!r} ({type(value).__name__}) is not an exact rational; "
        f"give ints, fractions.Fraction, sympy.Rational, strings like '3/7' or floats"
    )


def _rational_matrix(name: str, array, cols: int | None = None) -> list[list[Fraction]]:
    arr = np.asarray(array, dtype=object)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidInputError(
            f"{name} must be a non-empty 2-D array (rows × dim), got shape {arr.shape}"
        )
    if cols is not None and arr.shape[1] != cols:
        raise InvalidInputError(
            f"{name} has dimension {arr.shape[1]} but {cols} was expected (shape {arr.shape})"
        )
    return [[_to_fraction(name, (i, j), arr[i, j]) for j in range(arr.shape[1])]
            for i in range(arr.shape[0])]


def _rational_keys_and_gates(keys, gate_rows):
    k = _rational_matrix("keys", keys)
    g = _rational_matrix("gate_rows", gate_rows, cols=len(k[0]))
    return k, g


def _preactivations(k: list[list[Fraction]], g: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact z[i][n] = g_n · k_i."""
    return [[sum((gn[c] * ki[c] for c in range(len(ki))), Fraction(0)) for gn in g] for ki in k]


# ---------------------------------------------------------------------------------------------
# Float features (numpy)
# ---------------------------------------------------------------------------------------------


def _sigma_numpy(z: np.ndarray, activation: str) -> np.ndarray:
    if activation == "silu":
        return z * 0.5 * (1.0 + np.tanh(0.5 * z))  # x·sigmoid(x), without overflow
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "gelu":
        erf = np.frompyfunc(math.erf, 1, 1)
        return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)).astype(np.float64))
    return z.copy()


def khatri_rao_features(keys, gate_rows, activation: str = "silu") -> np.ndarray:
    r"""The encoder's system matrix Φ: row i is σ(G₀kᵢ) ⊗ kᵢ.

    .. math::

        \Phi_{i,\,nd+l} = \sigma(g_n\cdot k_i)\,k_{i,l}, \qquad
        \Phi \operatorname{vec}(A_t) = \Bigl(\sum_n \sigma(g_n\cdot k_i)(a_{t,n}\cdot k_i)\Bigr)_i

    with ``vec`` row-major (entry (n, l) of A_t at n·d + l), so the row is
    ``np.kron(σ(G₀ kᵢ), kᵢ)``.

    Parameters
    ----------
    keys : array_like, shape (F, d)
        Finite keys kᵢ.
    gate_rows : array_like, shape (r, d)
        Finite gate rows g_n (G₀).
    activation : str
        One of :data:`GATE_ACTIVATIONS`.

    Returns
    -------
    numpy.ndarray, shape (F, r·d), float64

    Raises
    ------
    InvalidInputError
        On a malformed or non-finite array, mismatched dimensions or an unknown activation.

    Examples
    --------
    >>> khatri_rao_features([[1.0, 2.0]], [[1.0, 0.0], [-1.0, 0.0]], "relu")
    array([[1., 2., 0., 0.]])
    >>> khatri_rao_features([[1.0, 2.0]], [[0.0, 1.0]], "identity")   # (g·k) k = 2·(1, 2)
    array([[2., 4.]])

    References
    ----------
    Background §4 (the system is linear in A); the Khatri–Rao form is derived here.
    """
    activation = _activation(activation)
    keys, gate_rows = _keys_and_gates(keys, gate_rows)
    s = _sigma_numpy(keys @ gate_rows.T, activation)
    return (s[:, :, None] * keys[:, None, :]).reshape(keys.shape[0], -1)


def khatri_rao_kernel(keys, gate_rows, activation: str = "silu") -> np.ndarray:
    r"""The kernel Q = ΦΦᵀ of the min-norm solve, as a Hadamard product.

    .. math::

        Q = \Phi\Phi^\top = (SS^\top)\circ(KK^\top), \qquad S = \sigma(KG_0^\top)

    since :math:`\langle s_i\otimes k_i, s_j\otimes k_j\rangle = \langle s_i, s_j\rangle
    \langle k_i, k_j\rangle`. The system is solvable for every target iff det Q ≠ 0.

    Parameters
    ----------
    keys : array_like, shape (F, d)
    gate_rows : array_like, shape (r, d)
    activation : str
        One of :data:`GATE_ACTIVATIONS`.

    Returns
    -------
    numpy.ndarray, shape (F, F)

    Raises
    ------
    InvalidInputError
        As :func:`khatri_rao_features`.

    Examples
    --------
    >>> khatri_rao_kernel([[1.0, 0.0], [0.0, 2.0]], [[1.0, 1.0]], "relu")   # diag(1·1, 4·4)
    array([[ 1.,  0.],
           [ 0., 16.]])

    References
    ----------
    Background §4 (Q = ΦΦᵀ); the Hadamard form is derived here.
    """
    activation = _activation(activation)
    keys, gate_rows = _keys_and_gates(keys, gate_rows)
    s = _sigma_numpy(keys @ gate_rows.T, activation)
    return (s @ s.T) * (keys @ keys.T)


def select_minor_columns(features) -> tuple[int, ...]:
    r"""F columns of Φ (F × n, F ≤ n) that are well conditioned together, by greedy pivoting.

    .. math::

        j_{t} = \arg\max_j \bigl\|(I - Q_{t-1}Q_{t-1}^\top)\,\Phi_{:,j}\bigr\|_2

    (pivoted Gram–Schmidt, :math:`Q_{t-1}` an orthonormal basis of the columns chosen so far).
    A heuristic choice for :func:`certify_nonsingular_minor`; the certificate does not rely
    on it.

    Parameters
    ----------
    features : array_like, shape (F, n)
        Finite, with F ≤ n.

    Returns
    -------
    tuple[int, ...]
        F distinct column indices, sorted.

    Raises
    ------
    InvalidInputError
        On a malformed array or F > n.

    Examples
    --------
    >>> select_minor_columns([[0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    (1, 2)

    References
    ----------
    Golub & Van Loan, *Matrix Computations*, 4th ed., §5.4.2 (QR with column pivoting).
    """
    phi = as_matrix("features", features)
    n_rows, n_cols = phi.shape
    if n_rows > n_cols:
        raise InvalidInputError(
            f"features has {n_rows} rows but only {n_cols} columns: no {n_rows}×{n_rows} minor"
        )
    residual = phi.copy()
    chosen: list[int] = []
    for _ in range(n_rows):
        norms = np.linalg.norm(residual, axis=0)
        norms[chosen] = -1.0
        j = int(np.argmax(norms))
        chosen.append(j)
        q = residual[:, j] / norms[j] if norms[j] > 0 else np.zeros(n_rows)
        residual -= np.outer(q, q @ residual)
    return tuple(sorted(chosen))


# ---------------------------------------------------------------------------------------------
# Rigorous certificate (interval arithmetic)
# ---------------------------------------------------------------------------------------------


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
        return (f"det Φ[:, {len(self.columns)} cols] ∈ [{mpmath.nstr(self.lower, 12)}, "
                f"{mpmath.nstr(self.upper, 12)}] ({self.activation}, {self.digits} digits, "
                f"{'excludes' if self.excludes_zero else 'contains'} 0)")


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


def certify_nonsingular_minor(keys, gate_rows, columns=None, *, activation: str = "silu",
                              digits: int = 30) -> MinorCertificate:
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
    if isinstance(digits, bool) or not isinstance(digits, numbers.Integral) or not (
            10 <= digits <= 10_000):
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
        phi_float = khatri_rao_features([[float(x) for x in row] for row in k],
                                        [[float(x) for x in row] for row in g], activation)
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
            rows = [[sig[i][j // dim] * _iv_fraction(k[i][j % dim]) for j in columns]
                    for i in range(n_facts)]
            det = _iv_det(rows)
    finally:
        iv.prec = old_prec
    lower, upper = _endpoints(det)
    return MinorCertificate(lower, upper, bool(lower > 0 or upper < 0), columns, activation,
                            int(digits), n_facts, n_columns, exact)


def _columns(columns, n_facts: int, n_columns: int) -> tuple[int, ...]:
    try:
        cols = [operator.index(c) for c in columns]
    except TypeError:
        raise InvalidInputError(f"columns must be a sequence of integers, got {columns!r}") from None
    if len(cols) != n_facts or len(set(cols)) != n_facts:
        raise InvalidInputError(
            f"columns must be {n_facts} distinct indices (one per key), got {columns!r}"
        )
    bad = [c for c in cols if not 0 <= c < n_columns]
    if bad:
        raise InvalidInputError(f"columns entry {bad[0]} is out of range [0, {n_columns})")
    return tuple(cols)


# ---------------------------------------------------------------------------------------------
# Exact rational features (ReLU, identity)
# ---------------------------------------------------------------------------------------------


def exact_khatri_rao_features(keys, gate_rows, activation: str = "relu") -> sp.Matrix:
    r"""Φ over the rationals, for gates that map ℚ to ℚ (``relu``, ``identity``).

    .. math::

        \Phi_{i,\,nd+l} = \sigma(g_n\cdot k_i)\,k_{i,l} \in \mathbb{Q}

    Parameters
    ----------
    keys : array_like, shape (F, d)
        Exact rationals (see :func:`certify_nonsingular_minor`).
    gate_rows : array_like, shape (r, d)
    activation : str
        One of :data:`RATIONAL_ACTIVATIONS`.

    Returns
    -------
    sympy.Matrix, shape (F, r·d), entries sympy.Rational

    Raises
    ------
    InvalidInputError
        On a non-rational entry, mismatched shapes, or an activation that is not rational
        (silu, gelu: use :func:`certify_nonsingular_minor`).

    Examples
    --------
    >>> exact_khatri_rao_features([[1, '1/2']], [[1, 0], [-1, 0]])
    Matrix([[1, 1/2, 0, 0]])

    References
    ----------
    Derived here.
    """
    activation = _activation(activation, RATIONAL_ACTIVATIONS)
    k, g = _rational_keys_and_gates(keys, gate_rows)
    z = _preactivations(k, g)
    dim = len(k[0])

    def entry(i: int, j: int):
        zin = z[i][j // dim]
        s = max(zin, Fraction(0)) if activation == "relu" else zin
        v = s * k[i][j % dim]
        return sp.Rational(v.numerator, v.denominator)

    return sp.Matrix(len(k), len(g) * dim, entry)


def exact_gram_determinant(keys, gate_rows, activation: str = "relu") -> sp.Rational:
    r"""det(ΦΦᵀ) exactly over ℚ (``relu``, ``identity``); zero iff the encoder fails.

    .. math::

        \det(\Phi\Phi^\top) = \sum_{|J| = F}\det(\Phi_{:,J})^2 \ge 0
        \quad(\text{Cauchy–Binet}); \qquad = 0 \iff \operatorname{rank}\Phi < F.

    Parameters
    ----------
    keys, gate_rows, activation
        As :func:`exact_khatri_rao_features`.

    Returns
    -------
    sympy.Rational

    Raises
    ------
    InvalidInputError
        As :func:`exact_khatri_rao_features`.

    Examples
    --------
    >>> exact_gram_determinant([[1, 0], [0, 1]], [[1, 1]])          # Φ = I₂
    1
    >>> exact_gram_determinant([[1, 0], [-1, -1]], [[1, 1]])        # key 2 has its gate off
    0

    References
    ----------
    Derived here.
    """
    phi = exact_khatri_rao_features(keys, gate_rows, activation)
    return (phi * phi.T).det(method="bareiss")


# ---------------------------------------------------------------------------------------------
# ReLU: all gates off, ± pairs, rank ceilings
# ---------------------------------------------------------------------------------------------


def all_gates_off_probability(n_gates: int) -> Fraction:
    r"""P(every ReLU gate is off at a fixed nonzero key) for i.i.d. Gaussian gate rows: 2^{−r}.

    .. math::

        P\bigl(g_n\cdot k \le 0\ \forall n \le r\bigr) = \prod_{n=1}^{r} P(g_n\cdot k \le 0)
        = 2^{-r}, \qquad g_n\cdot k \sim N(0, \|k\|^2)\ \text{i.i.d.}

    It holds for any i.i.d. rows whose law is symmetric (g ↦ −g) with P(g·k = 0) = 0. Then
    row k of Φ is zero, so P(Φ singular) ≥ 2^{−r} for every F ≥ 1.

    Parameters
    ----------
    n_gates : int
        r ≥ 1.

    Returns
    -------
    fractions.Fraction

    Raises
    ------
    InvalidInputError
        If r is not an integer ≥ 1.

    Examples
    --------
    >>> all_gates_off_probability(3)
    Fraction(1, 8)

    References
    ----------
    Background §4 (the zero-row failure); the probability is derived here.
    """
    return Fraction(1, 2 ** _positive_int("n_gates", n_gates))


def expected_all_off_keys(n_facts: int, n_gates: int) -> Fraction:
    r"""Expected number of keys with every ReLU gate off: F·2^{−r} (linearity of expectation).

    .. math::

        \mathbb{E}\,\#\{i : g_n\cdot k_i \le 0\ \forall n\} = F\,2^{-r}

    (for nonzero keys; the events for different keys are dependent through G₀, so this is
    not a probability of "some key").

    Parameters
    ----------
    n_facts, n_gates : int
        F, r ≥ 1.

    Returns
    -------
    fractions.Fraction

    Raises
    ------
    InvalidInputError
        On a non-positive or non-integer F or r.

    Examples
    --------
    >>> expected_all_off_keys(64, 4)
    Fraction(4, 1)

    References
    ----------
    Derived here.
    """
    return _positive_int("n_facts", n_facts) * all_gates_off_probability(n_gates)


def active_gate_counts(keys, gate_rows) -> np.ndarray:
    r"""Number of ReLU gates on at each key: #{n : g_n·kᵢ > 0}.

    .. math::

        a_i = \#\{n : g_n\cdot k_i > 0\}; \qquad a_i = 0 \iff \text{row } i \text{ of }
        \Phi_{\mathrm{ReLU}} \text{ is zero (for } k_i \ne 0)

    Parameters
    ----------
    keys : array_like, shape (F, d)
    gate_rows : array_like, shape (r, d)

    Returns
    -------
    numpy.ndarray, shape (F,), int64

    Raises
    ------
    InvalidInputError
        On malformed arrays.

    Examples
    --------
    >>> active_gate_counts([[1.0, 0.0], [-1.0, 0.0]], [[1.0, 0.0], [1.0, 1.0]])
    array([2, 0])
    >>> active_gate_counts([[1.0, 0.0], [-1.0, 0.0]], pm_gate_pairs([[1.0, 0.0], [1.0, 1.0]]))
    array([2, 2])

    References
    ----------
    Derived here.
    """
    keys, gate_rows = _keys_and_gates(keys, gate_rows)
    return (keys @ gate_rows.T > 0).sum(axis=1).astype(np.int64)


def pm_gate_pairs(gate_rows) -> np.ndarray:
    r"""The ± pair covering design: gate rows [G₀; −G₀] (2r × d).

    .. math::

        \{\pm g_n\}: \quad \#\{\text{active}\} = r - \#\{n : g_n\cdot k = 0\}
        \ \text{for every key } k

    Guarantees (ReLU): every key k with G₀k ≠ 0 has at least one active gate, hence no zero
    row; with no g_n·k = 0 exactly r of the 2r gates are on. Does **not** guarantee rank
    Φ = F: rank Φ ≤ rd + β(d, r) < 2rd for r ≥ 2 (:func:`feature_rank_ceiling`), and other
    rank deficiencies keep positive probability (module docstring).

    Parameters
    ----------
    gate_rows : array_like, shape (r, d)

    Returns
    -------
    numpy.ndarray, shape (2r, d)

    Raises
    ------
    InvalidInputError
        On a malformed array.

    Examples
    --------
    >>> pm_gate_pairs([[1.0, 2.0]])
    array([[ 1.,  2.],
           [-1., -2.]])

    References
    ----------
    Background §4 suggests ± pairs; the guarantees and the rank ceiling are derived here.
    """
    g = as_matrix("gate_rows", gate_rows)
    return np.vstack([g, -g])


def feature_rank_ceiling(dim: int, n_gates: int, activation: str = "silu", *,
                         pm_pairs: bool = False) -> int:
    r"""An upper bound on rank Φ that holds for every key set, by activation and design.

    .. math::

        \beta(d, r) = \tfrac{d(d+1)}{2} - \tfrac{(d-r)_+(d-r+1)_+}{2},\qquad
        \operatorname{rank}\Phi \le
        \begin{cases}
        \beta(d, r) & \sigma = \text{identity (with or without ± pairs)}\\
        rd & \sigma \in \{\text{silu, relu, gelu}\}\\
        rd + \beta(d, r) & \sigma \in \{\text{silu, relu, gelu}\},\ \pm\text{ pairs}
        \end{cases}

    Identity: :math:`(G_0k)\otimes k = \operatorname{vec}(G_0\,kk^\top)` depends on k through
    the symmetric kk^⊤ only, and :math:`B\mapsto G_0B` on symmetric B has kernel
    :math:`\{NCN^\top: C = C^\top\}` (N a basis of null G₀, dimension (d − r)₊), so its image
    has dimension β. ± pairs: σ(x) − σ(−x) = x for ReLU, SiLU and GELU, so each pair's
    columns are, up to an invertible column operation, σ(g·k)k and (g·k)k. The identity case
    shows the bilinear gate can never solve F = rd systems for r ≥ 2 (β < rd).

    Parameters
    ----------
    dim, n_gates : int
        d and r ≥ 1 (r base rows; the ± design has 2r gates).
    activation : str
        One of :data:`GATE_ACTIVATIONS`.
    pm_pairs : bool
        Gates [G₀; −G₀] instead of G₀.

    Returns
    -------
    int

    Raises
    ------
    InvalidInputError
        On invalid d, r, activation or ``pm_pairs``.

    Examples
    --------
    >>> feature_rank_ceiling(3, 2, "identity")          # 6 − 1 = 5 < r·d = 6
    5
    >>> feature_rank_ceiling(4, 3, "relu", pm_pairs=True)   # 12 + 9 < 24 columns
    21
    >>> feature_rank_ceiling(4, 3, "silu")
    12

    References
    ----------
    Derived here.
    """
    d = _positive_int("dim", dim)
    r = _positive_int("n_gates", n_gates)
    activation = _activation(activation)
    if not isinstance(pm_pairs, bool):
        raise InvalidInputError(f"pm_pairs must be True or False, got {pm_pairs!r}")
    low = max(d - r, 0)
    beta = d * (d + 1) // 2 - low * (low + 1) // 2
    if activation == "identity":
        return beta
    return r * d + beta if pm_pairs else r * d


# ---------------------------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SingularFraction:
    r"""How often Φ was rank deficient over random draws (:func:`singular_fraction`).

    Attributes
    ----------
    activation : str
    dim, n_gates, n_facts : int
        d, r (base gate rows) and F.
    n_columns : int
        Columns of Φ: r·d, or 2r·d with ± pairs.
    pm_pairs : bool
    trials, seed : int
    n_singular : int
        Draws with σ_min(Φ) ≤ tol (see ``tolerance``).
    n_zero_row_trials : int
        Draws where some row of Φ is exactly zero.
    n_all_off_keys : int
        (draw, key) pairs with every gate pre-activation ≤ 0; E = trials·F·2^{−r} for ReLU
        without ± pairs.
    min_sigma_ratio, median_sigma_ratio : float
        Min and median over draws of σ_min(Φ)/σ_max(Φ).
    tolerance : str
        The rank test used.
    """

    activation: str
    dim: int
    n_gates: int
    n_facts: int
    n_columns: int
    pm_pairs: bool
    trials: int
    seed: int
    n_singular: int
    n_zero_row_trials: int
    n_all_off_keys: int
    min_sigma_ratio: float
    median_sigma_ratio: float
    tolerance: str

    @property
    def fraction(self) -> float:
        """n_singular / trials."""
        return self.n_singular / self.trials

    def __str__(self) -> str:
        design = " ± pairs" if self.pm_pairs else ""
        return (f"{self.activation}{design}, d={self.dim}, r={self.n_gates}, F={self.n_facts}, "
                f"Φ {self.n_facts}×{self.n_columns}: {self.n_singular}/{self.trials} singular "
                f"(seed {self.seed}), {self.n_zero_row_trials} with a zero row, "
                f"min σ_min/σ_max {self.min_sigma_ratio:.3g}")


def singular_fraction(activation: str, dim: int, n_gates: int, n_facts: int, trials: int,
                      seed: int, *, pm_pairs: bool = False,
                      rtol: float | None = None) -> SingularFraction:
    r"""Monte-Carlo frequency of a rank-deficient Φ for random unit keys and Gaussian gates.

    .. math::

        k_i = x_i/\|x_i\|,\ x_i \sim N(0, I_d);\quad G_0 \sim N(0, 1)^{r\times d};\quad
        \text{singular} \iff \sigma_{\min}(\Phi) \le \tau\,\sigma_{\max}(\Phi),

    with τ = max(F, n_cols)·ε₆₄ (numpy.linalg.matrix_rank's default) unless ``rtol`` is
    given. Per draw the keys are drawn first, then G₀, from ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    activation : str
        One of :data:`GATE_ACTIVATIONS`.
    dim, n_gates, n_facts : int
        d, r, F ≥ 1 with F ≤ columns (r·d, or 2r·d with ± pairs).
    trials : int
        ≥ 1 draws.
    seed : int
        ≥ 0.
    pm_pairs : bool
        Use gates [G₀; −G₀].
    rtol : float, optional
        τ in (0, 1) instead of the default.

    Returns
    -------
    SingularFraction

    Raises
    ------
    InvalidInputError
        On an invalid argument, or F larger than the number of columns (then every draw is
        singular).

    Examples
    --------
    >>> sf = singular_fraction("relu", 3, 2, 6, 200, 0)
    >>> sf.n_singular > 0 and sf.n_zero_row_trials > 0
    True
    >>> singular_fraction("silu", 3, 2, 6, 200, 0).n_singular
    0

    References
    ----------
    Background §4 (1136/2000 ReLU vs 0/2000 SiLU draws singular at d = 32, a different
    layout); this experiment is ours.
    """
    activation = _activation(activation)
    dim = _positive_int("dim", dim)
    n_gates = _positive_int("n_gates", n_gates)
    n_facts = _positive_int("n_facts", n_facts)
    trials = _positive_int("trials", trials)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidInputError(f"seed must be an integer ≥ 0, got {seed!r}")
    if not isinstance(pm_pairs, bool):
        raise InvalidInputError(f"pm_pairs must be True or False, got {pm_pairs!r}")
    n_columns = (2 if pm_pairs else 1) * n_gates * dim
    if n_facts > n_columns:
        raise InvalidInputError(
            f"n_facts = {n_facts} exceeds the {n_columns} columns of Φ: every draw is singular"
        )
    if rtol is None:
        tau = max(n_facts, n_columns) * np.finfo(np.float64).eps
        tolerance = f"σ_min ≤ max(F, n_cols)·eps·σ_max = {tau:.3g}·σ_max (numpy matrix_rank default)"
    else:
        if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not (0 < rtol < 1):
            raise InvalidInputError(f"rtol must be a real number in (0, 1), got {rtol!r}")
        tau = float(rtol)
        tolerance = f"σ_min ≤ {tau:.3g}·σ_max"

    rng = np.random.default_rng(int(seed))
    n_singular = n_zero = n_off = 0
    ratios = np.empty(trials)
    for t in range(trials):
        x = rng.standard_normal((n_facts, dim))
        keys = x / np.linalg.norm(x, axis=1, keepdims=True)
        g0 = rng.standard_normal((n_gates, dim))
        n_off += int((keys @ g0.T <= 0).all(axis=1).sum())
        gates = np.vstack([g0, -g0]) if pm_pairs else g0
        phi = khatri_rao_features(keys, gates, activation)
        n_zero += bool((~phi.any(axis=1)).any())
        sv = np.linalg.svd(phi, compute_uv=False)
        ratios[t] = sv[-1] / sv[0] if sv[0] > 0 else 0.0
        n_singular += bool(sv[-1] <= tau * sv[0])
    return SingularFraction(activation, dim, n_gates, n_facts, n_columns, pm_pairs, trials,
                            int(seed), n_singular, n_zero, n_off, float(ratios.min()),
                            float(np.median(ratios)), tolerance)
