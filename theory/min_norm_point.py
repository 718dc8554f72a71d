r"""The min-norm point of a convex hull of unit vectors (Wolfe 1976), the fast path of ρ.

The problem
-----------
Given vectors :math:`a_j \in \mathbb{R}^d` (rows of ``directions``; row ``i`` is left out),

.. math::

    \min_{μ ∈ Δ} \Big\| \sum_{j ≠ i} μ_j a_j \Big\|_2 ,
    \qquad Δ = \{μ ≥ 0,\ \textstyle\sum_j μ_j = 1\},

the distance from the origin to :math:`\operatorname{conv}\{a_j\}_{j ≠ i}`. For the normalised
differences :math:`a_j = a_{ij}` of :mod:`theory.rho` its value is ρ_i (by duality).
:func:`_solve_mnp` runs Wolfe's algorithm (major steps: a linear-minimisation oracle adds the
point ``argmin_j <a_j, x>`` to the *corral*; minor steps: move to the corral's affine
min-norm point, dropping points whose weight would turn negative) with the corral kept as a
thin QR factorisation, and an oracle over a working set that is checked against all the
points before the answer is returned.

It returns a :class:`_Solution`: the corral (``support``, indices ``j``), its convex weights
``μ`` and the point ``x = Σ μ_j a_j`` (``direction``; ``u = x/‖x‖`` is the primal
separator), with status ``"in_hull"`` when ``‖x‖ ≤ tol`` and ``"optimal"`` otherwise. The
caller (:func:`theory.rho.value_decodability`) turns it into a certificate and
checks its gap ``‖x‖ − min_j <a_j, x>/‖x‖``; after an ``"in_hull"`` stop it decides
membership exactly (:mod:`theory.hull_exact`, the corral as the first candidate support)
and, when ``v_i`` is not in the hull, runs the solver again with ``tol = 0`` (to the end) for
the bounds.

The rows are meant to be unit vectors (the tolerances below are absolute). Only numpy and
scipy's BLAS; memory ``O(M d)``, no ``M × M`` Gram matrix.

References
----------
P. Wolfe, "Finding the nearest point in a polytope", Math. Programming 11 (1976) 128–149.
The working-set oracle and the QR-factored corral are derived here.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from theory.errors import SolverError

__all__: list[str] = []

# Wolfe stops once upper − lower ≤ _GAP_TARGET (the points are unit vectors, so this gap is
# relative to their scale).  Rounding can stall it earlier: an error of one ulp in x moves
# u* = x/‖x‖ by about ε_mach/ρ_i, so when the support is nearly affinely dependent the floor
# is about ε_mach/ρ_i (measured: gap 1.5e-9 at ρ_i = 1.4e-7 for values spread over
# 6 decades); the caller decides which gaps it accepts.
_GAP_TARGET = 1e-12
# Candidates the min-norm-point oracle scans between full passes over all M − 1 differences.
_WORKING_SET = 512
# A corral column [1; a_j] whose component orthogonal to the others is shorter than this (its
# full length is √2) is affinely dependent in rounding.  The oracle only picks such a point
# when the gap is about that small: for a point q within δ of the corral's affine hull,
# <q − x, x> ≥ −δ‖x‖, so its gap ‖x‖ − <q, x>/‖x‖ is at most δ.
_DEPENDENT_PIVOT = 1e-14


class _Solution(NamedTuple):
    """What a solver of ρ_i returns (this one and the cvxpy path of :mod:`theory.rho`):
    convex weights on ``a_{i,support}`` and a primal direction."""

    support: np.ndarray
    weights: np.ndarray
    direction: np.ndarray
    status: str


def _solve_mnp(directions: np.ndarray, i: int, tol: float) -> _Solution:
    """Wolfe's min-norm-point algorithm on ``conv{a_ij : j ≠ i}``, over a growing working set.

    Wolfe's major step asks a linear-minimisation oracle for ``j = argmin_j <a_ij, x>``; the
    point ``x = Σ μ_j a_ij`` is optimal once the duality gap of ``u = x/‖x‖``,
    ``‖x‖ − <a_ij, x>/‖x‖``, is at most ``_GAP_TARGET``.  The oracle first runs over a working
    set of ``_WORKING_SET`` candidates (those lowest along the mean difference); when Wolfe has
    converged there, one product with all ``M − 1`` differences either certifies the gap
    globally or brings the most violating points into the working set, and Wolfe resumes from
    its corral.  The answer is the same as with the full oracle at every step, at a cost of a
    few ``O(M d)`` products per value instead of one per step.  The loop also stops when
    ``‖x‖ ≤ tol``: ``v_i`` is then in the hull up to ``tol``, which the caller settles
    exactly (see :data:`theory.rho.UNDECODABLE_TOL`); ``tol = 0`` never stops there before
    ``x = 0``.

    Reference: P. Wolfe, "Finding the nearest point in a polytope", Math. Programming 11
    (1976) 128–149.
    """
    scores = directions @ directions.mean(axis=0)
    scores[i] = np.inf
    work = _lowest(scores, _WORKING_SET)
    state = _WolfeState(_Corral(directions, int(work[np.argmin(scores[work])])))
    budget = 50 * (directions.shape[1] + 1) + 1000
    while True:
        status = _wolfe_steps(directions[work], work, state, tol, budget)
        if status == "budget":
            raise SolverError(
                f"value {i}: min-norm point did not converge in {budget} steps; try method='cvxpy'"
            )
        if status == "in_hull" or work.size == directions.shape[0] - 1:
            break
        scores = directions @ state.point
        scores[i] = np.inf
        size = float(np.linalg.norm(state.point))
        if size - scores.min() / size <= _GAP_TARGET or status == "stalled":
            break
        scores[work] = np.inf
        work = np.concatenate([work, _lowest(scores, _WORKING_SET)])
    return _Solution(
        state.corral.members(),
        state.weights,
        state.point,
        "in_hull" if status == "in_hull" else "optimal",
    )


def _lowest(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` smallest finite scores (all finite ones if fewer)."""
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size <= count:
        return finite
    return finite[np.argpartition(scores[finite], count)[:count]]


class _WolfeState:
    """Corral, its convex weights and the current point ``x``, carried across working sets."""

    def __init__(self, corral: _Corral):
        self.corral = corral
        self.weights = np.ones(1)
        self.point = corral.points[0].copy()
        self.steps = 0


def _wolfe_steps(
    rows: np.ndarray, work: np.ndarray, state: _WolfeState, tol: float, budget: int
) -> str:
    """Run Wolfe's major steps with the oracle over ``rows = directions[work]``.

    Returns ``"converged"`` (gap ≤ ``_GAP_TARGET`` over the working set), ``"in_hull"``
    (``‖x‖ ≤ tol``), ``"stalled"`` (the oracle's point is already in the corral or
    affinely dependent on it in rounding; :mod:`theory.rho` accepts gaps up to its
    ``_GAP_ACCEPT``) or
    ``"budget"`` (``budget`` steps in all, counted across working sets).
    """
    while state.steps < budget:
        state.steps += 1
        size = float(np.linalg.norm(state.point))
        if size <= tol:
            return "in_hull"
        scores = rows @ state.point
        best = int(np.argmin(scores))
        if size - scores[best] / size <= _GAP_TARGET:
            return "converged"
        j = int(work[best])
        if state.corral.holds(j) or not state.corral.add(j):
            return "stalled"
        state.weights = _minor_steps(state.corral, np.append(state.weights, 0.0))
        state.point = state.weights @ state.corral.points
    return "budget"


def _minor_steps(corral: _Corral, weights: np.ndarray) -> np.ndarray:
    """Move the convex weights towards the corral's affine min-norm point (Wolfe's minor cycle).

    If the affine minimiser ``α`` is not strictly positive, step from ``weights`` towards
    ``α`` until the first weight hits zero, drop it, and repeat.
    """
    while True:
        alpha = corral.affine_weights()
        if alpha.min() > 0:
            return alpha
        falling = alpha <= 0
        ratios = np.full(alpha.shape, np.inf)
        ratios[falling] = weights[falling] / (weights[falling] - alpha[falling])
        first = int(np.argmin(ratios))
        weights = ratios[first] * alpha + (1 - ratios[first]) * weights
        weights[first] = 0.0
        keep = weights > 0
        corral.keep(keep)
        weights = weights[keep] / weights[keep].sum()


class _Corral:
    """Wolfe's corral: affinely independent points ``p_1..p_k`` (rows of ``points``).

    The affine min-norm point ``Σ_s α_s p_s`` (``Σ α_s = 1``) has ``α ∝ G⁻¹ 1`` with
    ``G = 1 1ᵀ + P Pᵀ = BᵀB`` and ``B = [1ᵀ; Pᵀ]`` (``(d + 1) × k``): adding ``(Σ α)² = 1`` to
    ``‖Pᵀ α‖²`` changes nothing on the affine constraint and makes ``G`` positive definite
    exactly when the points are affinely independent.  The corral keeps a thin QR
    factorisation ``B = Q R`` and solves the least-squares form ``α̃ = R⁻¹ Qᵀ e₁ = G⁻¹ 1``,
    whose accuracy degrades like cond(B) rather than cond(G) = cond(B)²; a new column is
    orthogonalised by classical Gram–Schmidt applied twice ("twice is enough"), so its pivot
    (the distance of ``[1; q]`` from the span of the corral's columns) is a computed norm,
    not a cancelling difference.  Adding a point costs ``O(k d)``.  Dropping points keeps
    the factors of the columns before the first dropped one (Gram–Schmidt is sequential, so
    they are unchanged) and re-adds only the later ones.  The factors live in buffers of the
    largest possible corral (d + 1 affinely independent points in R^d), so nothing is
    reallocated per step.
    """

    def __init__(self, directions: np.ndarray, first: int):
        n_points, dim = directions.shape
        capacity = min(n_points, dim + 1) + 1
        self._directions = directions
        self._member = np.zeros(n_points, dtype=bool)
        self._Q = np.zeros((dim + 1, capacity))
        self._R = np.zeros((capacity, capacity))
        self._points = np.zeros((capacity, dim))
        self._index: list[int] = []
        self._append_first(first)

    @property
    def points(self) -> np.ndarray:
        return self._points[: len(self._index)]

    def members(self) -> np.ndarray:
        return np.array(self._index, dtype=np.int64)

    def holds(self, j: int) -> bool:
        return bool(self._member[j])

    def add(self, j: int) -> bool:
        """Append ``a_j``; False (corral unchanged) if it is affinely dependent in rounding."""
        k = len(self._index)
        if k == self._R.shape[0]:
            return False
        Q = self._Q[:, :k]
        column = np.empty(Q.shape[0])
        column[0] = 1.0
        column[1:] = self._directions[j]
        projection = Q.T @ column
        column -= Q @ projection
        again = Q.T @ column
        column -= Q @ again
        pivot = float(np.linalg.norm(column))
        if pivot <= _DEPENDENT_PIVOT:
            return False
        self._R[:k, k] = projection + again
        self._R[k, k] = pivot
        self._Q[:, k] = column / pivot
        self._points[k] = self._directions[j]
        self._index.append(j)
        self._member[j] = True
        return True

    def keep(self, mask: np.ndarray) -> None:
        """Drop the points where ``mask`` is False and refactor the columns after them."""
        first_dropped = int(np.argmin(mask))
        later = [
            j
            for j, kept in zip(
                self._index[first_dropped + 1 :], mask[first_dropped + 1 :], strict=True
            )
            if kept
        ]
        for j in self._index[first_dropped:]:
            self._member[j] = False
        del self._index[first_dropped:]
        if not self._index:
            self._append_first(later.pop(0))
        for j in later:
            # Dropping columns only lengthens the later pivots (a projection onto a smaller
            # span leaves more), so points that entered before re-enter now.
            added = self.add(j)
            assert added, f"corral point {j} became dependent on rebuild"

    def affine_weights(self) -> np.ndarray:
        k = len(self._index)
        raw = _solve_upper(self._R[:k, :k], self._Q[0, :k])
        return raw / raw.sum()

    def _append_first(self, j: int) -> None:
        column = np.concatenate(([1.0], self._directions[j]))
        norm = float(np.linalg.norm(column))
        self._Q[:, 0] = column / norm
        self._R[0, 0] = norm
        self._points[0] = self._directions[j]
        self._index.append(j)
        self._member[j] = True


def _solve_upper(R: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``R z = b`` for upper-triangular ``R`` with BLAS ``dtrsv``.

    Called on every Wolfe step: the BLAS routine skips the argument checks of
    ``scipy.linalg.solve_triangular``, which cost more than the solve at these sizes.
    ``R.T`` of a C-ordered ``R`` is the Fortran-ordered lower factor ``Rᵀ``, solved transposed.
    """
    from scipy.linalg.blas import dtrsv

    lower = np.ascontiguousarray(R).T
    return dtrsv(lower, np.array(b, dtype=float), lower=1, trans=1)
