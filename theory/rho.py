"""Decodability ρ of the value embeddings and the optimal separators u*: the one home for ρ.

A value ``v_i`` can be the argmax of a dot-product read-out ``argmax_j <y, v_j>`` only if some
output direction ``y`` prefers it to every other value.  How well it can be preferred, on a
scale-free footing, is its decodability

.. math::

    ρ_i(V) = \\max_{‖u‖_2 ≤ 1} \\; \\min_{j ≠ i} \\; \\langle a_{ij}, u \\rangle,
    \\qquad a_{ij} = \\frac{v_i - v_j}{‖v_i - v_j‖_2},
    \\qquad ρ(V) = \\min_i ρ_i(V),

and the maximiser ``u*_i`` is the optimal separator of value ``i``.  By minimax duality
(Sion; the objective is bilinear in ``u`` and in convex weights ``μ`` on the ``a_ij``)

.. math::

    ρ_i(V) = \\min_{μ ∈ Δ} \\Big\\| \\sum_{j ≠ i} μ_j a_{ij} \\Big\\|_2 ,
    \\qquad u^*_i = x^* / ‖x^*‖ \\text{ with } x^* = \\sum_j μ^*_j a_{ij} \\text{ when } ρ_i > 0,

the distance from the origin to the convex hull of the normalised differences.  Every convex
weight vector ``μ`` gives the *upper* bound ``‖Σ μ_j a_ij‖ ≥ ρ_i``, every unit ``u`` the
*lower* bound ``min_j <a_ij, u> ≤ ρ_i``; a certificate carries both and their gap.

``ρ_i = 0`` iff ``v_i`` lies in the convex hull of the other values (for a finite set every
vertex of the hull is exposed): with ``c = Σ_j μ_j / ‖v_i − v_j‖`` and
``λ_j = μ_j / (c ‖v_i − v_j‖)`` one has ``Σ_j μ_j a_ij = c (v_i − Σ_j λ_j v_j)``, so the dual
weights convert into hull weights ``λ`` and a residual ``‖v_i − Σ λ_j v_j‖``.  A small
residual does not prove membership, so when the dual bound falls below the tolerance the
question is decided exactly, in rationals (:mod:`theory.hull_exact`): a value is declared
undecodable only with exact convex weights ``λ`` as its certificate; otherwise it is
*decodable only with a margin below the tolerance* (status ``"margin_below_tol"``), usually
with an exact separating direction as the proof.

Symbols and shapes: ``V`` holds ``M`` values of dimension ``d`` (``M × d``); ``ρ`` (rho) is the
decodability, ``u*`` (u_star) the separator (``d``), ``μ`` the certificate weights on the
normalised differences, ``λ`` the hull weights on the other values.

The definition (:func:`separation_margin`, :func:`verify_certificate`) is kept apart from the
two solvers chosen with ``method=``:

* ``"cvxpy"``: the reference, one second-order cone program per value
  (maximise ``t`` s.t. ``A u ≥ t·1``, ``‖u‖ ≤ 1``) solved by cvxpy with Clarabel's defaults;
  the certificate weights are the duals of the linear constraints.
* ``"mnp"``: Wolfe's min-norm-point algorithm on the dual, exact up to rounding, with a
  linear-minimisation oracle over the ``M − 1`` differences (matrix-vector products over a
  working set, certified by a pass over all of them; memory ``O(M d)`` per value, no
  ``M × M`` Gram matrix); the solver lives in :mod:`theory.min_norm_point`.

References: arXiv 2512.00207, §2 of ``paper.md``: the definition of ρ_i and ρ is the paper's
(exact formula from the authors' follow-up code); the dual form, the hull criterion, the
conventions for duplicates and for ``M = 1`` and both algorithms are derived here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from theory.errors import InvalidInputError, SolverError
from theory.hull_exact import (
    HullCertificate,
    RationalValues,
    SeparatorCertificate,
    decide_hull,
    exact_hull_weights,
    verify_exact_certificate,
)
from theory.min_norm_point import _Solution, _solve_mnp
from theory.progress import progress_bar
from theory.validation import as_index_vector, as_matrix

__all__ = [
    "UNDECODABLE_TOL",
    "METHODS",
    "ValueDecodability",
    "Decodability",
    "separation_margin",
    "value_decodability",
    "decodability",
    "verify_certificate",
]

UNDECODABLE_TOL = 1e-7
"""Dual bound at or below which hull membership is decided exactly.

When a certificate proves ``ρ_i ≤ ‖Σ_j μ_j a_ij‖ ≤ tol``, the hull weights satisfy
``‖v_i − Σ_j λ_j v_j‖ ≤ tol · max_j ‖v_i − v_j‖`` (because
``c = Σ_j μ_j/‖v_i − v_j‖ ≥ 1/max_j ‖v_i − v_j‖``): the value lies within ``tol`` of the hull
of the others, relative to their spread around it, which is not membership.  The value is
then declared undecodable (ρ_i = 0) only if exact convex weights exist
(:func:`theory.hull_exact.decide_hull`); otherwise its status is ``"margin_below_tol"``: it
is a vertex, decodable, but only with a normalised margin ρ_i ≤ tol.  The threshold is stated
on the dual bound rather than on the relative residual because only the former is a statement
about ρ_i: a tight cluster far from the other values has exposed vertices with ρ_i of order
0.1 whose hull residual is below ``1e-8`` of the spread (measured: 50 points within ``1e-6``
of each other beside 50 standard normal points in d = 8).

Why ``1e-7``:

* it sits above the accuracy of both solvers.  The min-norm-point path reaches a point within
  about ``1e-15`` of the origin when ``v_i`` is in the hull, but the reference path solves
  with Clarabel's default tolerances (``1e-8`` on gap and feasibility) and its dual weights
  leave ``‖Σ μ_j a_ij‖`` up to about ``5e-9`` on in-hull instances (measured on random
  12 × 3 sets), so ``1e-8`` would let the reference path miss hull points;
* it is the resolution of float32 (unit roundoff ``2^-23 ≈ 1.19e-7``): a normalised margin
  this small is below the rounding of a float32 read-out, so such a value is reported apart
  from the decodable ones (a float32 model realises such a margin only in special cases).
"""

METHODS = ("mnp", "cvxpy")
"""The solver paths of :func:`value_decodability`: min-norm point (fast) and cvxpy (reference)."""

# The min-norm-point path aims at a gap of 1e-12 but rounding can stall it at about
# ε_mach/ρ_i (theory.min_norm_point).  Its gaps up to _GAP_ACCEPT + _GAP_FLOOR_ULPS · ε_mach /
# upper are returned with the certificate that states them; worse ones raise.
_GAP_ACCEPT = 1e-9
_GAP_FLOOR_ULPS = 8
# Clarabel's default tolerances are 1e-8; its certificates are accepted up to this gap.
_CVXPY_GAP_ACCEPT = 1e-6
# Interior-point duals are never exactly zero; weights below this fraction of the largest are
# dropped from the certificate (this moves the upper bound by at most M · 1e-12).
_CVXPY_WEIGHT_FLOOR = 1e-12
# Differences whose plain 2-norm falls below this are renormalised to avoid underflow.
_TINY_NORM = 1e-150


@dataclass(frozen=True, eq=False)
class ValueDecodability:
    """Decodability ρ_i of one value with its certificate.

    ``lower = min_{j≠i} <a_ij, u_star> ≤ ρ_i ≤ upper = ‖Σ_k weights[k] a_{i,support[k]}‖``.

    Attributes
    ----------
    index : int
        The value ``i``.
    rho : float
        ``ρ_i`` in ``[0, 1]``: ``lower`` when decodable, ``0.0`` when undecodable, ``1.0`` when
        ``M = 1``.
    u_star : ndarray, shape (d,)
        The separator, unit norm when decodable, zero otherwise (and for a margin below the
        tolerance that no float direction shows: then ``lower = 0``).
    lower, upper, gap : float
        Primal bound, dual bound and ``gap = upper − lower``.
    support : ndarray of int, shape (k,)
        Indices ``j`` (into the values) of the certificate's normalised differences.
    weights : ndarray, shape (k,)
        Convex weights ``μ`` on ``a_{i,support}``.
    hull_weights : ndarray, shape (k,) or None
        When undecodable: ``exact.weights`` as floats, on ``v_support``.
    hull_residual : float or None
        When undecodable: ``‖v_i − Σ λ_k v_{support[k]}‖`` in floats (exactly 0 in rationals).
    undecodable : bool
        Whether ``v_i`` is in the hull of the others, proved by ``exact``.
    method : str
        ``"mnp"`` or ``"cvxpy"``.
    status : str
        ``"optimal"`` (bounds certified within the gap), ``"in_hull"`` (exact convex
        weights), ``"duplicate"`` (an identical value exists), ``"margin_below_tol"`` (``upper
        ≤ tol`` but not in the hull: bounds from the min-norm point run to the end, gap not
        enforced) or ``"no_competitor"`` (``M = 1``).
    exact : HullCertificate, SeparatorCertificate or None
        The exact certificate (:mod:`theory.hull_exact`) when ``upper ≤ tol``: convex weights
        when undecodable, else a separating direction (None if the exact search gave up).
    """

    index: int
    rho: float
    u_star: np.ndarray
    lower: float
    upper: float
    gap: float
    support: np.ndarray
    weights: np.ndarray
    hull_weights: np.ndarray | None
    hull_residual: float | None
    undecodable: bool
    method: str
    status: str
    exact: HullCertificate | SeparatorCertificate | None = None

    def __post_init__(self):
        for name in ("u_star", "support", "weights", "hull_weights"):
            array = getattr(self, name)
            if array is not None:
                array.flags.writeable = False

    def __repr__(self) -> str:
        return (
            f"ValueDecodability(index={self.index}, rho={self.rho:.6g}, gap={self.gap:.2g}, "
            f"undecodable={self.undecodable}, support={self.support.size} points, "
            f"method={self.method!r}, status={self.status!r})"
        )


@dataclass(frozen=True, eq=False)
class Decodability:
    """Decodability of a set of values: per-value ρ_i, separators and certificates.

    Attributes
    ----------
    rho_per_value : ndarray, shape (M,)
        ``ρ_i`` for the computed values, NaN for the others.
    u_star : ndarray, shape (M, d)
        Separators; zero rows for undecodable values and for values not computed.
    gap : ndarray, shape (M,)
        Certificate gaps ``upper − lower``, NaN for values not computed.
    undecodable : ndarray of int
        Sorted indices of the computed values in the hull of the others (exact convex
        weights); values decodable only with a margin below the tolerance are in
        :attr:`margin_below_tol`.
    certificates : tuple of ValueDecodability
        One per computed value, in the order computed (``indices`` as given).
    method : str
        The solver path used.
    """

    rho_per_value: np.ndarray
    u_star: np.ndarray
    gap: np.ndarray
    undecodable: np.ndarray
    certificates: tuple[ValueDecodability, ...]
    method: str

    def __post_init__(self):
        for name in ("rho_per_value", "u_star", "gap", "undecodable"):
            getattr(self, name).flags.writeable = False

    @property
    def indices(self) -> np.ndarray:
        """Indices of the computed values, increasing."""
        return np.sort(np.array([c.index for c in self.certificates], dtype=np.int64))

    @property
    def rho(self) -> float:
        """``ρ(V) = min_i ρ_i`` over the computed values."""
        return float(np.nanmin(self.rho_per_value))

    @property
    def margin_below_tol(self) -> np.ndarray:
        """Sorted indices of the computed values that are not in the hull of the others but
        have ``ρ_i ≤ tol``: decodable only with a margin below the tolerance."""
        found = [c.index for c in self.certificates if c.status == "margin_below_tol"]
        return np.sort(np.array(found, dtype=np.int64))

    def __repr__(self) -> str:
        return (
            f"Decodability(rho={self.rho:.6g}, computed={len(self.certificates)} of "
            f"{self.rho_per_value.size}, undecodable={self.undecodable.size}, "
            f"method={self.method!r})"
        )


# ----------------------------------------------------------------------------- definition


def _difference_norms(diffs: np.ndarray) -> np.ndarray:
    """Row 2-norms of ``diffs``, exact zero only for zero rows (tiny rows rescaled first)."""
    norms = np.linalg.norm(diffs, axis=1)
    tiny = norms < _TINY_NORM
    if tiny.any():
        peak = np.abs(diffs[tiny]).max(axis=1)
        safe = np.where(peak > 0, peak, 1.0)
        norms[tiny] = peak * np.linalg.norm(diffs[tiny] / safe[:, None], axis=1)
    return norms


def separation_margin(values, i: int, u) -> float:
    """Margin of direction ``u`` for value ``i``: the inner objective in the definition of ρ_i.

    .. math::

        m_i(u) = \\min_{j ≠ i} \\frac{\\langle v_i - v_j, u \\rangle}{‖v_i - v_j‖_2},

    where a value identical to ``v_i`` contributes 0 (its difference has no direction).  For
    ``‖u‖ ≤ 1`` this is a lower bound on ρ_i, attained by ``u = u*_i``.

    Parameters
    ----------
    values : array_like, shape (M, d)
    i : int
        The value, ``0 ≤ i < M``.
    u : array_like, shape (d,)
        A direction (not normalised here).

    Returns
    -------
    float
        ``m_i(u)``; ``inf`` when ``M = 1`` (no competitor).

    Raises
    ------
    InvalidInputError
        Non-finite or mis-shaped ``values`` or ``u``, ``i`` out of range.

    Examples
    --------
    >>> separation_margin([[0.0, 0.0], [1.0, 0.0]], 1, [1.0, 0.0])
    1.0
    >>> separation_margin([[0.0], [1.0], [2.0]], 1, [1.0])
    -1.0

    References
    ----------
    arXiv 2512.00207 (paper.md §2): the paper's objective; the duplicate convention is ours.
    """
    V = as_matrix("values", values)
    i = _check_value_index(i, V.shape[0])
    u = _as_direction(u, V.shape[1])
    others = np.arange(V.shape[0]) != i
    if not others.any():
        return float("inf")
    diffs = V[i] - V[others]
    norms = _difference_norms(diffs)
    projections = diffs @ u
    safe = np.where(norms > 0, norms, 1.0)
    return float(np.min(np.where(norms > 0, projections / safe, 0.0)))


def verify_certificate(values, cert: ValueDecodability) -> tuple[float, float]:
    """Recompute both bounds of a certificate from the values alone, without the solver.

    .. math::

        \\text{lower} = \\min_{j ≠ i} \\langle a_{ij}, u^* \\rangle ,\\qquad
        \\text{upper} = \\Big\\| \\sum_k μ_k \\, a_{i, s_k} \\Big\\|_2 ,

    with ``a_ij = (v_i − v_j)/‖v_i − v_j‖`` (taken as 0 for an identical value),
    ``s = cert.support`` and ``μ = cert.weights``; ``lower ≤ ρ_i ≤ upper`` holds whenever
    ``‖u*‖ ≤ 1`` and ``μ`` are convex weights, which is checked too.  The exact certificate
    ``cert.exact``, which an undecodable value must have, is re-checked in rationals
    (:func:`theory.hull_exact.verify_exact_certificate`).

    Parameters
    ----------
    values : array_like, shape (M, d)
        The values the certificate was computed for.
    cert : ValueDecodability

    Returns
    -------
    (lower, upper) : tuple of float
        ``(1.0, 1.0)`` for ``M = 1`` by the convention ρ = 1.

    Raises
    ------
    InvalidInputError
        If ``u_star`` is longer than 1, the weights are not convex, the support holds ``i``
        or an index out of range, or the exact certificate is missing or does not hold.

    Examples
    --------
    >>> V = [[0.0, 0.0], [2.0, 0.0]]
    >>> verify_certificate(V, value_decodability(V, 0))
    (1.0, 1.0)

    References
    ----------
    Weak duality for the definition in arXiv 2512.00207 (paper.md §2); derived here.
    """
    V = as_matrix("values", values)
    i = _check_value_index(cert.index, V.shape[0], name="cert.index")
    if V.shape[0] == 1:
        return 1.0, 1.0
    u = np.asarray(cert.u_star, dtype=float)
    if np.linalg.norm(u) > 1 + 1e-12:
        raise InvalidInputError(f"cert.u_star has norm {np.linalg.norm(u)} > 1")
    support = as_index_vector("cert.support", cert.support, upper=V.shape[0])
    weights = np.asarray(cert.weights, dtype=float)
    if support.size == 0 or weights.shape != support.shape:
        raise InvalidInputError(
            f"cert.weights has shape {weights.shape} but cert.support has {support.size} entries"
        )
    if (support == i).any():
        raise InvalidInputError(f"cert.support holds the value itself (index {i})")
    if (weights < 0).any() or abs(weights.sum() - 1) > 1e-9:
        raise InvalidInputError(f"cert.weights are not convex weights (sum {weights.sum()})")
    if cert.undecodable and not isinstance(cert.exact, HullCertificate):
        raise InvalidInputError(f"value {i} is called undecodable without exact convex weights")
    if cert.exact is not None:
        if cert.exact.index != i:
            raise InvalidInputError(f"cert.exact is for value {cert.exact.index}, not {i}")
        verify_exact_certificate(V, cert.exact)
    lower = separation_margin(V, i, u)
    diffs = V[i] - V[support]
    norms = _difference_norms(diffs)
    safe = np.where(norms > 0, norms, 1.0)
    point = (weights / safe * (norms > 0)) @ diffs
    return lower, float(np.linalg.norm(point))


# ----------------------------------------------------------------------------- public API


def value_decodability(
    values, i: int, *, method: str = "mnp", tol: float = UNDECODABLE_TOL
) -> ValueDecodability:
    """Decodability ρ_i of value ``i``, its separator u*_i and a certificate.

    .. math::

        ρ_i(V) = \\max_{‖u‖ ≤ 1} \\min_{j ≠ i} \\langle a_{ij}, u \\rangle
               = \\operatorname{dist}\\big(0, \\operatorname{conv}\\{a_{ij}\\}_{j ≠ i}\\big),
        \\qquad a_{ij} = \\frac{v_i - v_j}{‖v_i - v_j‖}.

    Conventions: ``M = 1`` gives ρ = 1 (no competitor; ρ_i ≤ 1 holds otherwise) and
    ``u* = 0``; a value with an identical partner gets ρ = 0 with weight 1 on the partner
    (lowest index); when a certificate proves ``ρ_i ≤ tol``, membership in the hull is
    decided exactly (:mod:`theory.hull_exact`): with exact convex weights the value is
    undecodable, ρ = 0, ``u* = 0``; without, its status is ``"margin_below_tol"``.

    Parameters
    ----------
    values : array_like, shape (M, d)
        The values ``V``, finite, ``M ≥ 1``.
    i : int
        The value, ``0 ≤ i < M``.
    method : {"mnp", "cvxpy"}
        Min-norm point (fast, exact up to rounding: gap ≤ 1e-12 on well-conditioned sets,
        at most 1e-9 accepted) or the cvxpy + Clarabel reference (gap about 1e-8, at most
        1e-6 accepted).
    tol : float
        Bound on ρ_i below which hull membership is decided exactly, in ``(0, 1)``; see
        :data:`UNDECODABLE_TOL`.

    Returns
    -------
    ValueDecodability

    Raises
    ------
    InvalidInputError
        Non-finite or mis-shaped ``values``, ``i`` out of range, unknown ``method``, ``tol``
        outside ``(0, 1)``.
    SolverError
        The solver did not certify its answer (status not optimal, or a gap above tolerance).

    Examples
    --------
    >>> value_decodability([[0.0, 0.0], [3.0, 4.0]], 0).rho
    1.0
    >>> cert = value_decodability([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], 1)
    >>> cert.rho, cert.undecodable, cert.support.tolist(), cert.hull_weights.round(12).tolist()
    (0.0, True, [0, 2], [0.5, 0.5])
    >>> print(cert.exact)
    v1 = 1/2·v0 + 1/2·v2
    >>> tiny = value_decodability([[-1.0, 0.0], [0.0, 5e-8], [1.0, 0.0]], 1)
    >>> tiny.status, tiny.undecodable, tiny.u_star.tolist(), tiny.exact.kind
    ('margin_below_tol', False, [0.0, 1.0], 'exact separating direction')

    References
    ----------
    arXiv 2512.00207 (paper.md §2): definition is the paper's; duality, conventions and the
    undecodability rule are derived here.
    """
    V = as_matrix("values", values)
    i = _check_value_index(i, V.shape[0])
    _check_method(method)
    _check_tol(tol)
    return _value_decodability(_rescaled(V), i, method, tol, RationalValues(V))


def decodability(
    values,
    *,
    indices=None,
    method: str = "mnp",
    tol: float = UNDECODABLE_TOL,
    progress: bool = False,
    stop_below: float | None = None,
) -> Decodability:
    """Decodability of every value (or of ``indices``) and ρ(V) = min_i ρ_i(V).

    .. math::

        ρ(V) = \\min_i \\max_{‖u‖ ≤ 1} \\min_{j ≠ i}
               \\frac{\\langle v_i - v_j, u \\rangle}{‖v_i - v_j‖}.

    Each value is solved independently by :func:`value_decodability`; memory is ``O(M d)``.

    Parameters
    ----------
    values : array_like, shape (M, d)
    indices : array_like of int, optional
        Values to compute, in this order (default: all); repeated indices are computed once.
    method, tol
        As in :func:`value_decodability`.
    progress : bool
        Show a progress bar on stderr (stdout stays clean for machine-readable output).
    stop_below : float, optional
        Stop after the first value with ``ρ_i < stop_below``; values not reached are NaN.
        A screen ("is ρ at least this?") then costs little when it fails, most of all when
        the values likely to fail come first in ``indices``.

    Returns
    -------
    Decodability
        ``rho`` is the minimum over the computed values.

    Raises
    ------
    InvalidInputError, SolverError
        As in :func:`value_decodability`; also for an empty ``indices``.

    Examples
    --------
    A right isosceles triangle with a point inside: a corner with angle θ has ρ = cos(θ/2)
    (the nearest point of the chord between its two unit edge directions), so cos(π/4) and
    cos(π/8) twice; the inner point has ρ = 0.

    >>> result = decodability([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.25, 0.25]])
    >>> result.undecodable.tolist(), result.rho
    ([3], 0.0)
    >>> result.rho_per_value[:3].round(6).tolist()
    [0.707107, 0.92388, 0.92388]

    References
    ----------
    arXiv 2512.00207 (paper.md §2).
    """
    V = as_matrix("values", values)
    n_values = V.shape[0]
    if indices is None:
        chosen = np.arange(n_values)
    else:
        requested = as_index_vector("indices", indices, upper=n_values)
        _, first = np.unique(requested, return_index=True)
        chosen = requested[np.sort(first)]  # repeats dropped, order kept
        if chosen.size == 0:
            raise InvalidInputError("indices must name at least one value, got none")
    _check_method(method)
    _check_tol(tol)
    if stop_below is not None and not (
        isinstance(stop_below, (int, float)) and math.isfinite(stop_below)
    ):
        raise InvalidInputError(f"stop_below must be a finite number, got {stop_below!r}")
    scaled = _rescaled(V)
    rational = RationalValues(V)  # integers built only if some ρ_i falls below tol
    certificates = []
    with progress_bar("decodability ρ_i", len(chosen), show=progress) as advance:
        for i in chosen:
            certificates.append(_value_decodability(scaled, int(i), method, tol, rational))
            advance()
            if stop_below is not None and certificates[-1].rho < stop_below:
                break
    return _collect(V.shape, tuple(certificates), method)


# ----------------------------------------------------------------------------- validation


def _check_value_index(i, n_values: int, name: str = "i") -> int:
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise InvalidInputError(f"{name} must be an integer index, got {i!r}")
    if not 0 <= i < n_values:
        raise InvalidInputError(f"{name} = {i} is out of range [0, {n_values})")
    return int(i)


def _as_direction(u, dim: int) -> np.ndarray:
    arr = np.asarray(u)
    if arr.ndim != 1 or arr.shape[0] != dim:
        raise InvalidInputError(f"u must be a vector of length {dim}, got shape {arr.shape}")
    return as_matrix("u", arr[None, :])[0]


def _check_method(method) -> None:
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {METHODS}, got {method!r}")


def _check_tol(tol) -> None:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise InvalidInputError(f"tol must be a number in (0, 1), got {tol!r}")


def _collect(shape, certificates, method: str) -> Decodability:
    n_values, dim = shape
    rho = np.full(n_values, np.nan)
    gap = np.full(n_values, np.nan)
    u_star = np.zeros((n_values, dim))
    for cert in certificates:
        rho[cert.index] = cert.rho
        gap[cert.index] = cert.gap
        u_star[cert.index] = cert.u_star
    undecodable = np.sort(
        np.array([c.index for c in certificates if c.undecodable], dtype=np.int64)
    )
    return Decodability(rho, u_star, gap, undecodable, certificates, method)


# ----------------------------------------------------------------------------- per value


def _rescaled(V: np.ndarray) -> np.ndarray:
    """``V · unit`` with ``unit`` the power of two that brings ``max |V|`` into [½, 1).

    ρ and u* are invariant under positive scaling; a power of two scales exactly and keeps
    every difference below 2 in absolute value (no overflow in the norms).
    """
    return V * 2.0 ** -float(np.frexp(np.abs(V).max())[1])


def _value_decodability(
    scaled: np.ndarray, i: int, method: str, tol: float, rational: RationalValues
) -> ValueDecodability:
    n_values, dim = scaled.shape
    if n_values == 1:
        return _no_competitor(dim, method)
    directions, norms = _normalised_differences(scaled, i)
    V = rational.values
    partners = [j for j in np.flatnonzero(norms == 0) if j != i and (V[j] == V[i]).all()]
    if partners:
        return _duplicate(i, int(partners[0]), dim, method)
    if method == "mnp":
        solution = _solve_mnp(directions, i, tol)
    else:
        solution = _solve_cvxpy(directions, i)
    point = solution.weights @ directions[solution.support]
    if float(np.linalg.norm(point)) <= tol:
        return _below_tol(i, directions, norms, solution, method, rational)
    return _certificate(i, directions, norms, solution, method)


def _normalised_differences(scaled: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
    """``a_ij`` as rows (row ``i`` and duplicate rows are zero) and the norms ``‖v_i − v_j‖``.

    The difference is taken before any product, so close pairs keep their relative accuracy.
    """
    directions = scaled[i] - scaled
    norms = _difference_norms(directions)
    directions /= np.where(norms > 0, norms, 1.0)[:, None]
    return directions, norms


def _certificate(i, directions, norms, solution, method) -> ValueDecodability:
    """Bounds and separator from a solver's :class:`_Solution` whose dual bound is above tol."""
    support, weights, direction, status = solution
    upper = float(np.linalg.norm(weights @ directions[support]))
    u_star = direction / np.linalg.norm(direction)
    scores = directions @ u_star
    scores[norms == 0] = np.inf  # the value itself
    lower = float(scores.min())
    gap = upper - lower
    if method == "mnp":
        limit = _GAP_ACCEPT + _GAP_FLOOR_ULPS * np.finfo(float).eps / upper
    else:
        limit = _CVXPY_GAP_ACCEPT
    if not (gap <= limit and lower > 0):
        raise SolverError(
            f"value {i}: {method} certified neither a margin nor a hull point "
            f"(lower {lower:.3g}, upper {upper:.3g}, gap {gap:.3g} > {limit:g}); "
            f"try method='{'cvxpy' if method == 'mnp' else 'mnp'}'"
        )
    # ρ_i ≤ 1 always (‖a_ij‖ = ‖u‖ = 1); a lower bound above 1 is rounding.
    return ValueDecodability(
        i,
        min(lower, 1.0),
        u_star,
        lower,
        upper,
        gap,
        support,
        weights,
        None,
        None,
        False,
        method,
        status,
    )


def _below_tol(i, directions, norms, solution, method, rational) -> ValueDecodability:
    """``ρ_i ≤ tol`` is certified: decide ``v_i ∈ conv`` exactly (:mod:`theory.hull_exact`),
    first on the solver's support, then after running the min-norm point to the end (its
    corral and separator are the next candidates, for either method).  In the hull: ρ = 0
    with the exact weights (``μ_j ∝ λ_j ‖v_i − v_j‖`` on the same support).  Otherwise:
    ``"margin_below_tol"`` with the bounds of the final solution, gap not enforced, and the
    better of its separator and the exact one (or ``u* = 0``, margin 0, if neither has a
    positive margin in floats)."""
    order = np.argsort(-solution.weights, kind="stable")
    found = exact_hull_weights(rational, i, [solution.support[order]])
    if found is None:
        try:
            solution = _solve_mnp(directions, i, 0.0)
        except SolverError:
            pass  # the first solution's bounds stand
        found = decide_hull(
            rational,
            i,
            supports=[solution.support],
            separators=[solution.direction],
            directions=directions,
        )
    dim = directions.shape[1]
    if isinstance(found, HullCertificate):
        support = np.array(found.support, dtype=np.int64)
        hull = np.array([float(w) for w in found.weights])
        weights = hull * norms[support] / (hull * norms[support]).sum()
        upper = float(np.linalg.norm(weights @ directions[support]))
        residual = rational.values[i] - hull @ rational.values[support]
        peak = float(np.abs(residual).max())  # scaled first: no overflow in the norm
        residual = peak * float(np.linalg.norm(residual / peak)) if peak > 0 else 0.0
        head = (i, 0.0, np.zeros(dim), 0.0, upper, upper, support, weights, hull, residual)
        return ValueDecodability(*head, True, method, "in_hull", found)
    support, weights, direction, _ = solution
    upper = float(np.linalg.norm(weights @ directions[support]))
    # u = 0 has margin 0; a unit direction replaces it only with a positive float margin.
    lower, u_star = 0.0, np.zeros(dim)
    proposals = [direction] + ([np.array(found.direction, dtype=float)] if found else [])
    for u in proposals:
        if np.linalg.norm(u) > 0:
            u = u / np.linalg.norm(u)
            scores = directions @ u
            scores[norms == 0] = np.inf  # the value itself
            if scores.min() > lower:
                lower, u_star = float(scores.min()), u
    head = (i, min(lower, 1.0), u_star, lower, upper, upper - lower, support, weights)
    return ValueDecodability(*head, None, None, False, method, "margin_below_tol", found)


def _no_competitor(dim: int, method: str) -> ValueDecodability:
    empty = np.zeros(0)
    return ValueDecodability(
        0,
        1.0,
        np.zeros(dim),
        1.0,
        1.0,
        0.0,
        np.zeros(0, dtype=np.int64),
        empty,
        None,
        None,
        False,
        method,
        "no_competitor",
    )


def _duplicate(i: int, partner: int, dim: int, method: str) -> ValueDecodability:
    one = np.ones(1)
    return ValueDecodability(
        i,
        0.0,
        np.zeros(dim),
        0.0,
        0.0,
        0.0,
        np.array([partner]),
        one,
        one.copy(),
        0.0,
        True,
        method,
        "duplicate",
        HullCertificate(i, (partner,), (Fraction(1),)),
    )


# ----------------------------------------------------------------------------- solvers


def _solve_cvxpy(directions: np.ndarray, i: int):
    """Reference path: ``max t`` s.t. ``a_ij·u ≥ t`` (j ≠ i), ``‖u‖ ≤ 1``, cvxpy + Clarabel.

    The duals ``μ`` of the linear constraints satisfy ``Σ μ_j = 1`` (stationarity in ``t``)
    and ``Σ μ_j a_ij ∥ u*`` (stationarity in ``u``): they are the dual certificate.
    """
    import cvxpy as cp

    others = np.flatnonzero(np.arange(directions.shape[0]) != i)
    u = cp.Variable(directions.shape[1])
    t = cp.Variable()
    margins = directions[others] @ u >= t
    problem = cp.Problem(cp.Maximize(t), [margins, cp.norm(u, 2) <= 1])
    try:
        problem.solve(solver=cp.CLARABEL)
    except cp.error.SolverError as exc:
        raise SolverError(f"value {i}: cvxpy/Clarabel failed ({exc}); try method='mnp'") from exc
    if problem.status != cp.OPTIMAL:
        raise SolverError(
            f"value {i}: cvxpy/Clarabel returned status {problem.status!r}, not optimal; "
            "try method='mnp'"
        )
    duals = np.clip(np.asarray(margins.dual_value, dtype=float), 0.0, None)
    keep = duals > _CVXPY_WEIGHT_FLOOR * duals.max()
    return _Solution(others[keep], duals[keep] / duals[keep].sum(), u.value, "optimal")
