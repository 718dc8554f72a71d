"""Exact hull membership of one value, in rational arithmetic: a certificate either way.

Every float is an exact rational (``Fraction(x) == x``), so whether a value lies in the convex
hull of the others has an exact answer, and each answer has a finite rational certificate
(Farkas' lemma for the linear system below):

.. math::

    v_i ∈ \\operatorname{conv}\\{v_j\\}_{j ≠ i}
    \\iff ∃\\, λ ≥ 0:\\ \\sum_{j ≠ i} λ_j = 1,\\ \\sum_{j ≠ i} λ_j v_j = v_i
    \\iff \\nexists\\, w:\\ \\langle w, v_i - v_j \\rangle > 0 \\ \\ ∀ j ≠ i .

The convex weights ``λ`` (:class:`HullCertificate`, "exact convex weights") prove ρ_i = 0;
a direction ``w`` with its exact margin ``min_j <w, v_i − v_j> > 0``
(:class:`SeparatorCertificate`, "exact separating direction") proves that ``v_i`` is a strict
vertex, so ρ_i > 0 and ``argmax_j <w, v_j> = i``, however small the margin.  The normalised
differences of :mod:`theory.rho` are not used here: their square roots are irrational.

:func:`decide_hull` looks for one of the two.  Floats only *propose* candidates; every answer
is checked in exact arithmetic (integers: ``V`` times one power of two, :class:`RationalValues`):

1. supports proposed by the caller (the min-norm point's corral, at most ``d + 1`` points):
   the equalities restricted to the support are solved exactly by fraction-free
   Gauss–Jordan elimination (an affinely dependent support gives the basic solution on the
   independent columns met first), and accepted only if every weight is ≥ 0;
2. directions proposed by the caller (the min-norm point's separator ``u*``);
3. HiGHS (:func:`scipy.optimize.linprog`, dual simplex) on the float LP
   ``min ‖r‖₁`` s.t. ``Σ_j μ_j (v_j − v_i)/‖v_j − v_i‖ + r = 0``, ``Σ_j μ_j = 1``, ``μ ≥ 0``:
   its support (as in 1) and the dual ``y`` of the first ``d`` rows, which separates
   ``v_i`` when the optimum is positive (as in 2);
4. an exact LP, ``min ‖Σ_j λ_j (v_j − v_i)‖₁ + |1 − Σ_j λ_j|`` (suitably weighted) over
   ``λ ≥ 0``, by the simplex method in integer arithmetic (Bland's rule against cycling, so
   it terminates) with exact column generation from the candidates above, which decides:
   optimum 0 gives ``λ``, a positive optimum gives ``w`` from the dual.  It has a work budget
   (``_SIMPLEX_WORK`` tableau updates, a fraction of a second); beyond it the answer is
   ``None``, undecided (met by values off a flat hull by rounding only, in d ≳ 16).

:func:`verify_exact_certificate` re-checks a certificate from the values alone in
:class:`fractions.Fraction` arithmetic and shares no code with the search.

References: Farkas' lemma (e.g. Schrijver, *Theory of Linear and Integer Programming*,
§7.3); fraction-free (integer-preserving) pivoting: Edmonds (1967), Bareiss (1968); Bland's
rule: Bland (1977).  The search order is derived here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from theory.errors import InvalidInputError
from theory.validation import as_matrix

__all__ = [
    "CONVEX_WEIGHTS",
    "SEPARATING_DIRECTION",
    "HullCertificate",
    "SeparatorCertificate",
    "RationalValues",
    "decide_hull",
    "exact_hull_weights",
    "verify_exact_certificate",
    "margin_phrase",
]

CONVEX_WEIGHTS = "exact convex weights"
"""The kind of :class:`HullCertificate`, as named in messages and JSON."""
SEPARATING_DIRECTION = "exact separating direction"
"""The kind of :class:`SeparatorCertificate`, as named in messages and JSON."""

# Work budget of the exact LP, in tableau entries updated (summed over its pivots; each is a
# Python-integer update of about 10 µs at d = 16–32, so about 0.2 s).  Measured: a rounded
# midpoint of a hull edge (the hard case for the float candidates) takes at most about 1e4
# updates at d ≤ 8, 2e3–4e4 at d = 16 and 5e5–1e6 at d = 32; a set of rank 4 in R^32, where every
# inner point is off the flat by rounding only, would take 1 s per value.
_SIMPLEX_WORK = 20_000
# HiGHS weights at or below this fraction of the largest are left out of a proposed support.
_LP_WEIGHT_FLOOR = 1e-12


def _ratio(q: Fraction) -> str:
    return f"{q.numerator}/{q.denominator}"


@dataclass(frozen=True)
class HullCertificate:
    """Exact convex weights: ``v_index = Σ_k weights[k] · v_{support[k]}``, weights > 0,
    ``Σ weights = 1`` (all in rationals), so ``v_index`` is in the hull of the others.

    Examples
    --------
    >>> cert = HullCertificate(1, (0, 2), (Fraction(1, 2), Fraction(1, 2)))
    >>> str(cert), cert.to_json()["weights"]
    ('v1 = 1/2·v0 + 1/2·v2', ['1/2', '1/2'])
    """

    index: int
    support: tuple[int, ...]
    weights: tuple[Fraction, ...]
    kind = CONVEX_WEIGHTS

    def __str__(self) -> str:
        terms = " + ".join(f"{w}·v{j}" for j, w in zip(self.support, self.weights, strict=True))
        return f"v{self.index} = {terms}"

    def to_json(self) -> dict:
        """JSON-ready form; weights as ``"p/q"`` strings (exact)."""
        return {
            "kind": self.kind,
            "value": self.index,
            "support": list(self.support),
            "weights": [_ratio(w) for w in self.weights],
        }


@dataclass(frozen=True)
class SeparatorCertificate:
    """An exact separating direction: ``margin = min_{j ≠ index} <direction, v_index − v_j>``
    is > 0 (rationals), so ``v_index`` is a strict vertex and ``direction`` decodes it."""

    index: int
    direction: tuple[Fraction, ...]
    margin: Fraction
    kind = SEPARATING_DIRECTION

    def to_json(self) -> dict:
        """JSON-ready form; direction and margin as ``"p/q"`` strings (exact)."""
        return {
            "kind": self.kind,
            "value": self.index,
            "direction": [_ratio(w) for w in self.direction],
            "margin": _ratio(self.margin),
        }


class RationalValues:
    """The values ``V`` (M × d, float64) and, built on first use, the same values as Python
    integers: ``V = ints · 2^exponent`` exactly (``exponent`` the lowest bit set in ``V``).
    One instance serves every value of a :func:`theory.rho.decodability` call."""

    def __init__(self, values):
        self.values = as_matrix("values", values)
        self._ints: np.ndarray | None = None
        self.exponent = 0

    @property
    def ints(self) -> np.ndarray:
        if self._ints is None:
            mantissa, exponent = np.frexp(self.values)
            mantissa = (mantissa * 2.0**53).astype(np.int64)  # exact: 53-bit significands
            exponent = exponent.astype(np.int64) - 53
            nonzero = mantissa != 0
            lowest = int(exponent[nonzero].min()) if nonzero.any() else 0
            shift = np.where(nonzero, exponent - lowest, 0)
            self._ints = mantissa.astype(object) << shift.astype(object)
            self.exponent = lowest
        return self._ints

    def system(self, i: int, columns, one: int = 1) -> np.ndarray:
        """``[v_j − v_i; one]`` for ``j`` in ``columns``, divided by ``2^exponent`` in the
        first ``d`` rows: an integer matrix ((d + 1) × k)."""
        columns = np.asarray(columns, dtype=np.int64)
        top = (self.ints[columns] - self.ints[i]).T
        ones = np.full((1, columns.size), one, dtype=object)
        return np.vstack([top, ones])


# ----------------------------------------------------------------------------- search


def decide_hull(
    values, i: int, *, supports=(), separators=(), directions=None
) -> HullCertificate | SeparatorCertificate | None:
    """Decide ``v_i ∈ conv{v_j : j ≠ i}`` exactly; the certificate of the answer.

    .. math::

        v_i ∈ \\operatorname{conv}\\{v_j\\}_{j≠i} \\iff
        \\min_{λ ∈ Δ} \\Big\\| \\sum_j λ_j (v_j − v_i) \\Big\\|_1 = 0 ,

    decided by the steps of the module docstring, every candidate checked exactly.

    Parameters
    ----------
    values : array_like (M, d) or RationalValues
    i : int
        The value, ``0 ≤ i < M``.
    supports : iterable of array_like of int
        Candidate supports (indices ``j ≠ i``), most promising column first.
    separators : iterable of array_like (d,)
        Candidate separating directions (floats).
    directions : ndarray (M, d), optional
        ``(v_i − v_j)/‖v_i − v_j‖`` as rows (any positive scaling per row will do), to spare
        recomputing them for the float LP.

    Returns
    -------
    HullCertificate, SeparatorCertificate or None
        ``None`` only when steps 1–3 fail and the exact LP grows too large, or ``M = 1``.

    Raises
    ------
    InvalidInputError
        Malformed ``values`` (non-finite, not 2-D).

    Examples
    --------
    >>> print(decide_hull([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]], 1))
    v1 = 1/2·v0 + 1/2·v2
    >>> decide_hull([[-1.0, 0.0], [0.0, 5e-8], [1.0, 0.0]], 1).kind
    'exact separating direction'
    """
    rational = values if isinstance(values, RationalValues) else RationalValues(values)
    if rational.values.shape[0] < 2:
        return None  # no other value: nothing to be in the hull of, nothing to separate from
    supports = [np.asarray(s, dtype=np.int64) for s in supports]
    for support in supports:
        found = exact_hull_weights(rational, i, [support])
        if found is not None:
            return found
    for direction in separators:
        direction = np.asarray(direction, dtype=float)
        peak = np.abs(direction).max(initial=0.0)
        found = _separator(rational, i, direction / peak) if peak > 0 else None
        if found is not None:
            return found
    support, direction = _highs_candidates(rational, i, directions)
    found = exact_hull_weights(rational, i, [support]) if support is not None else None
    if found is None and direction is not None:
        found = _separator(rational, i, direction)
    if found is not None:
        return found
    start = [j for candidate in (*supports, support) if candidate is not None for j in candidate]
    return _exact_simplex(rational, i, start)


def exact_hull_weights(values, i: int, supports) -> HullCertificate | None:
    """Exact convex weights for ``v_i`` on one of ``supports``, or None.

    For each support ``S`` (in order) the system ``Σ_{j∈S} λ_j [v_j − v_i; 1] = e_{d+1}`` is
    solved by fraction-free Gauss–Jordan elimination; the first solution with every
    ``λ_j ≥ 0`` is returned (zero weights dropped, support sorted).

    Examples
    --------
    >>> V = [[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 6.0, 0.0], [0.0, 0.0, 6.0], [1.0, 1.0, 2.0]]
    >>> print(exact_hull_weights(V, 4, [[1, 2, 3, 0]]))
    v4 = 1/3·v0 + 1/6·v1 + 1/6·v2 + 1/3·v3
    >>> exact_hull_weights(V, 4, [[1, 2, 3]]) is None
    True
    """
    rational = values if isinstance(values, RationalValues) else RationalValues(values)
    for support in supports:
        support = [int(j) for j in dict.fromkeys(np.asarray(support, dtype=np.int64).tolist())]
        support = [j for j in support if j != i]
        if not support:
            continue
        weights = _solve_on_support(rational.system(i, support))
        if weights is not None:
            kept = sorted((j, w) for j, w in zip(support, weights, strict=True) if w != 0)
            return HullCertificate(i, tuple(j for j, _ in kept), tuple(w for _, w in kept))
    return None


def _pivot(table: np.ndarray, row: int, col: int, previous: int) -> int:
    """Fraction-free pivot on ``table[row, col]`` (Edmonds/Bareiss): every entry stays an
    integer (a minor of the original matrix); ``table / pivot`` is the pivoted tableau."""
    pivot = table[row, col]
    pivot_row = table[row].copy()
    table[:] = (table * pivot - np.outer(table[:, col], pivot_row)) // previous
    table[row] = pivot_row
    return pivot


def _solve_on_support(system: np.ndarray) -> list[Fraction] | None:
    """Nonnegative solution of ``system · λ = e_last`` (Gauss–Jordan on the columns in order;
    a column dependent on earlier ones gets λ = 0), or None if inconsistent or negative."""
    rows, cols = system.shape
    rhs = np.zeros((rows, 1), dtype=np.int64).astype(object)
    rhs[-1, 0] = 1
    table = np.hstack([system, rhs])
    previous, free, placed = 1, list(range(rows)), {}
    for col in range(cols):
        row = next((r for r in free if table[r, col] != 0), None)
        if row is None:
            continue
        previous = _pivot(table, row, col, previous)
        free.remove(row)
        placed[col] = row
    if any(table[r, -1] != 0 for r in free):
        return None
    weights = [
        Fraction(table[placed[c], -1], previous) if c in placed else Fraction(0)
        for c in range(cols)
    ]
    return weights if min(weights) >= 0 else None


def _separator(rational: RationalValues, i: int, direction) -> SeparatorCertificate | None:
    """``direction`` (floats or Fractions, coordinates of the values) as an exact separator of
    ``v_i``, or None if some ``<direction, v_i − v_j>`` is ≤ 0."""
    direction = [Fraction(w) for w in np.asarray(direction, dtype=object).tolist()]
    if len(direction) != rational.values.shape[1]:
        return None
    ints = rational.ints
    common = math.lcm(*(w.denominator for w in direction))
    coeffs = np.array([w.numerator * (common // w.denominator) for w in direction], dtype=object)
    others = np.arange(ints.shape[0]) != i
    margins = (ints[i] - ints[others]) @ coeffs  # common · margin / 2^exponent, in integers
    if margins.size == 0 or not all(m > 0 for m in margins):
        return None
    margin = Fraction(min(margins), common) * Fraction(2) ** rational.exponent
    return SeparatorCertificate(i, tuple(direction), margin)


def _highs_candidates(rational: RationalValues, i: int, directions):
    """(support, separator) proposed by HiGHS on the float LP of the module docstring; None
    for what it does not give."""
    from scipy.optimize import linprog

    V = rational.values
    n_values, dim = V.shape
    others = np.flatnonzero(np.arange(n_values) != i)
    if directions is None:
        diffs = V[i] - V
        peak = np.abs(diffs).max(axis=1, keepdims=True)
        directions = diffs / np.where(peak > 0, peak, 1.0)
    columns = -np.asarray(directions, dtype=float)[others].T
    n = others.size
    a_eq = np.block(
        [[columns, np.eye(dim), -np.eye(dim)], [np.ones((1, n)), np.zeros((1, 2 * dim))]]
    )
    b_eq = np.zeros(dim + 1)
    b_eq[-1] = 1.0
    cost = np.concatenate([np.zeros(n), np.ones(2 * dim)])
    result = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs-ds")
    if result.status != 0:
        return None, None
    weights = result.x[:n]
    keep = weights > _LP_WEIGHT_FLOOR * weights.max()
    order = np.argsort(-weights[keep], kind="stable")
    support = others[keep][order]
    separator = np.asarray(result.eqlin.marginals[:dim], dtype=float)
    return support, separator if np.isfinite(separator).all() and separator.any() else None


def _exact_simplex(rational: RationalValues, i: int, start=()):
    """Decide exactly by an LP over ``λ``, solved with exact column generation.

    The LP: ``min Σ (a⁺ + a⁻)`` s.t. ``A λ + a⁺ − a⁻ = b``, all variables ≥ 0, with
    ``A = [v_j − v_i; s]`` and ``b = s e_{d+1}`` in integers (``s`` a power of two about the
    spread of the differences, so that the ones row weighs like the others).  Its optimum is
    0 iff ``v_i`` is in the hull.  Its dual is ``max s y_d`` s.t. ``<y_{:d}, v_j − v_i> +
    s y_d ≤ 0`` for all ``j`` and ``|y_r| ≤ 1``, so a dual solution with ``y_d > 0`` makes
    ``y_{:d}`` a separator.  The columns ``λ_j`` enter the tableau as they are priced in
    (``start`` first, then those with a negative exact reduced cost under the current duals,
    most negative first), and the simplex continues from its basis (:class:`_PhaseOne`):
    an optimum 0 is the full LP's; a positive optimum whose duals price every column ≥ 0 is
    the full LP's too.  None once the pivots have updated ``_SIMPLEX_WORK`` entries."""
    others = np.flatnonzero(np.arange(rational.values.shape[0]) != i)
    if others.size == 0:
        return None
    diffs = rational.ints[others] - rational.ints[i]  # (n, d) integers: v_j − v_i
    # s = 2^⌊log2 max |v_j − v_i|⌋ in the integer units (from floats: any power of two works).
    spread = math.frexp(float(np.abs(rational.values[others] - rational.values[i]).max()))[1]
    one = 1 << max(spread - 1 - rational.exponent, 0)
    rows = diffs.shape[1] + 1
    position = {int(j): k for k, j in enumerate(others)}
    entering = list(dict.fromkeys(position[int(j)] for j in start if int(j) in position))
    entering = entering or list(range(min(others.size, rows)))
    lp = _PhaseOne(np.array([0] * (rows - 1) + [one], dtype=object))
    while True:
        columns = np.vstack([diffs[entering].T, np.full((1, len(entering)), one, dtype=object)])
        lp.add(columns, entering)
        if not lp.solve(_SIMPLEX_WORK):
            return None
        weights = lp.weights()
        if weights is not None:
            kept = sorted((int(others[k]), w) for k, w in weights.items() if w != 0)
            return HullCertificate(i, tuple(j for j, _ in kept), tuple(w for _, w in kept))
        duals = lp.scaled_duals()  # D · y, integers
        reduced = -(diffs @ duals[:-1] + one * duals[-1])  # D · reduced cost of every λ_j
        negative = sorted(
            (k for k in range(reduced.size) if reduced[k] < 0), key=reduced.__getitem__
        )
        if not negative:
            largest = max(abs(y) for y in duals[:-1])  # > 0: y_d > 0 needs some y_r ≠ 0
            found = _separator(rational, i, [Fraction(y, largest) for y in duals[:-1]])
            assert found is not None, "exact LP: the dual does not separate"
            return found
        entering = [int(k) for k in negative[:rows]]


class _PhaseOne:
    """Exact phase-1 simplex tableau for ``A λ + a⁺ − a⁻ = b`` (``b ≥ 0``), cost 1 on the
    artificials, to which columns of ``A`` are added as they are priced in.

    Fraction-free (Edmonds): the table holds ``D · B⁻¹ [a⁺ | a⁻ | A | b]`` in integers, with
    its last row the reduced costs (times ``D``), ``D > 0`` the last pivot.  Its ``a⁺`` block
    is ``D · B⁻¹``, so an added column is ``(D · B⁻¹) A_j``, and ``D · y = D − `` (the reduced
    costs of ``a⁺``).  Pivots: the most negative reduced cost, switching to Bland's rule
    (smallest index) after ``rows`` degenerate pivots in a row, which rules out cycling.
    """

    def __init__(self, b: np.ndarray):
        rows = b.size
        eye = np.eye(rows, dtype=np.int64).astype(object)
        top = np.hstack([eye, -eye, b.reshape(-1, 1)])
        costs = np.array([0] * rows + [2] * rows + [-sum(b)], dtype=object)
        self.table = np.vstack([top, costs])
        self.rows, self.denominator, self.work = rows, 1, 0
        self.basis = list(range(rows))  # column indices into the table
        self.names: list[int] = []  # the λ index of each added column, in order

    def add(self, columns: np.ndarray, names) -> None:
        inverse = self.table[: self.rows, : self.rows]  # D · B⁻¹
        body = inverse @ columns
        scaled_y = self.denominator - self.table[self.rows, : self.rows]
        costs = -(scaled_y @ columns)
        block = np.vstack([body, costs.reshape(1, -1)])
        self.table = np.hstack([self.table[:, :-1], block, self.table[:, -1:]])
        self.names += list(names)

    def solve(self, budget: int) -> bool:
        """Pivot to optimality; False once ``self.work`` (entries updated) passes ``budget``."""
        rows, table = self.rows, self.table
        degenerate = 0
        while table[rows, -1] != 0:
            if self.work > budget:
                return False
            costs = table[rows, :-1]
            if degenerate < rows:  # Dantzig: the most negative reduced cost
                entering = min(range(costs.size), key=costs.__getitem__)
                entering = entering if costs[entering] < 0 else None
            else:  # Bland: the first negative one
                entering = next((c for c, x in enumerate(costs) if x < 0), None)
            if entering is None:
                return True
            candidates = [r for r in range(rows) if table[r, entering] > 0]
            best = min(
                candidates,
                key=lambda r: (Fraction(table[r, -1], table[r, entering]), self.basis[r]),
            )
            degenerate = degenerate + 1 if table[best, -1] == 0 else 0
            self.denominator = _pivot(table, best, entering, self.denominator)
            self.basis[best] = entering
            self.work += table.size
        return True

    def weights(self) -> dict[int, Fraction] | None:
        """``{λ index: weight}`` of the basic added columns at optimum 0, else None."""
        if self.table[self.rows, -1] != 0:
            return None
        first = 2 * self.rows
        return {
            self.names[c - first]: Fraction(self.table[r, -1], self.denominator)
            for r, c in enumerate(self.basis)
            if c >= first
        }

    def scaled_duals(self) -> np.ndarray:
        return self.denominator - self.table[self.rows, : self.rows]


# ----------------------------------------------------------------------------- verification


def verify_exact_certificate(values, cert: HullCertificate | SeparatorCertificate) -> None:
    """Re-check an exact certificate from the values alone, in :class:`Fraction` arithmetic.

    .. math::

        \\text{hull:}\\quad λ_k > 0,\\ \\sum_k λ_k = 1,\\ \\sum_k λ_k v_{s_k} = v_i ;
        \\qquad
        \\text{separator:}\\quad \\min_{j ≠ i} \\langle w, v_i - v_j \\rangle = \\text{margin} > 0 .

    Parameters
    ----------
    values : array_like (M, d)
    cert : HullCertificate or SeparatorCertificate

    Raises
    ------
    InvalidInputError
        The certificate does not hold (the message says which condition fails).

    Examples
    --------
    >>> V = [[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]]
    >>> verify_exact_certificate(V, HullCertificate(1, (0, 2), (Fraction(1, 2), Fraction(1, 2))))
    >>> verify_exact_certificate(V, HullCertificate(1, (0, 2), (Fraction(1, 3), Fraction(2, 3))))
    Traceback (most recent call last):
    ...
    theory.errors.InvalidInputError: exact convex weights of value 1 miss it in coordinate 0
    """
    V = as_matrix("values", values)
    n_values, dim = V.shape
    i = cert.index
    if not (isinstance(i, int) and 0 <= i < n_values):
        raise InvalidInputError(f"certificate index {i!r} is out of range [0, {n_values})")
    exact = [[Fraction(float(x)) for x in row] for row in V.tolist()]
    if isinstance(cert, HullCertificate):
        support, weights = cert.support, cert.weights
        if not support or len(weights) != len(support) or len(set(support)) != len(support):
            raise InvalidInputError("exact convex weights: support and weights do not match")
        if any(not (isinstance(j, int) and 0 <= j < n_values) or j == i for j in support):
            raise InvalidInputError(f"exact convex weights of value {i}: bad support {support}")
        if any(not isinstance(w, Fraction) or w <= 0 for w in weights) or sum(weights) != 1:
            raise InvalidInputError(f"exact convex weights of value {i} are not convex weights")
        for r in range(dim):
            if sum(w * exact[j][r] for j, w in zip(support, weights, strict=True)) != exact[i][r]:
                raise InvalidInputError(
                    f"exact convex weights of value {i} miss it in coordinate {r}"
                )
        return
    if not isinstance(cert, SeparatorCertificate):
        raise InvalidInputError(f"not an exact certificate: {type(cert).__name__}")
    w = cert.direction
    if len(w) != dim or not all(isinstance(x, Fraction) for x in w):
        raise InvalidInputError(f"separating direction of value {i} must be {dim} Fractions")
    margins = [
        sum(wr * (exact[i][r] - exact[j][r]) for r, wr in enumerate(w))
        for j in range(n_values)
        if j != i
    ]
    if not margins or min(margins) <= 0:
        raise InvalidInputError(f"direction does not separate value {i} from the others")
    if min(margins) != cert.margin:
        raise InvalidInputError(f"separating direction of value {i}: margin is {min(margins)}")


def margin_phrase(tol: float) -> str:
    """The words for a value whose ρ_i is below ``tol`` but that is not in the hull.

    >>> margin_phrase(1e-7)
    'decodable only with a margin below 1e-7'
    """
    text = f"{tol:g}".replace("e-0", "e-").replace("e+0", "e+")
    return f"decodable only with a margin below {text}"
