"""Key-side obstructions: keys that a bias-free gated MLP cannot separate, whatever its size.

For ``g(x) = D(σ(Gx) ⊙ Ax)`` without biases (derived here, paper §4 "key-side feasibility"):

* **zero key**: ``g(0) = D(σ(0) ⊙ 0) = 0``, so every logit is 0, a tie; no fact can be
  stored at the zero key, for any activation.
* **ray** (ReLU gate): ``σ(t·Gk) ⊙ (t·Ak) = t²·(σ(Gk) ⊙ Ak)`` for ``t > 0``, so
  ``g(t·k) = t²·g(k)``: keys on one open ray decode to the same value.
* **line** (identity gate, the bilinear/Hebbian form): ``g(t·k) = t²·g(k)`` for every
  ``t ≠ 0``, so keys ``k`` and ``−k`` decode alike too.

SiLU and GELU gates are not homogeneous, so only the zero key obstructs them. These are
properties of the architecture, not of the fact set, so they are reported (not refused).
"""

from __future__ import annotations

import numpy as np

from theory.validation import as_index_vector, as_matrix

__all__ = ["DIRECTION_TOL", "zero_keys", "collinear_conflicts"]

#: Two unit directions closer than this (max-norm) count as the same ray. Generous compared
#: with float64 rounding (≈1e-16) so that computed multiples ``t * k`` are always caught.
DIRECTION_TOL = 1e-9


def zero_keys(keys) -> np.ndarray:
    """Indices of keys whose entries are all zero (they cannot hold a fact without biases)."""
    keys = as_matrix("keys", keys)
    return np.flatnonzero(~keys.any(axis=1))


def collinear_conflicts(
    keys, fact_map, *, both_signs: bool = False, tol: float = DIRECTION_TOL
) -> list[tuple[int, ...]]:
    """Groups of non-zero keys on one ray (``both_signs=False``) or one line through the
    origin (``both_signs=True``) whose facts name more than one value.

    Keys ``k_a``, ``k_b`` share a ray when ``k_a/‖k_a‖ = k_b/‖k_b‖`` (within ``tol`` in the
    max-norm), and a line when ``k_a/‖k_a‖ = ±k_b/‖k_b‖``.

    Returns
    -------
    list of tuples of key indices, one tuple per conflicting group, sorted.

    Notes
    -----
    Runs in O(F log F) for keys in general position: directions are sorted by their
    (absolute) projection on one fixed random direction, and only keys whose projections
    lie within ``tol`` are compared in full.

    Examples
    --------
    >>> collinear_conflicts([[1.0, 1.0], [2.0, 2.0], [0.0, 1.0]], [0, 1, 0])
    [(0, 1)]
    >>> collinear_conflicts([[1.0, 1.0], [-1.0, -1.0]], [0, 1])
    []
    >>> collinear_conflicts([[1.0, 1.0], [-1.0, -1.0]], [0, 1], both_signs=True)
    [(0, 1)]
    """
    keys = as_matrix("keys", keys)
    fact_map = as_index_vector(
        "fact_map", fact_map, length=keys.shape[0], upper=np.iinfo(np.int64).max
    )
    nonzero = np.flatnonzero(keys.any(axis=1))
    if nonzero.size < 2:
        return []
    directions = keys[nonzero] / np.linalg.norm(keys[nonzero], axis=1, keepdims=True)
    probe = np.random.default_rng(0).standard_normal(keys.shape[1])
    probe /= np.linalg.norm(probe)
    score = directions @ probe
    if both_signs:
        score = np.abs(score)
    order = np.argsort(score, kind="stable")
    score = score[order]

    # Union-find over candidate pairs inside each run of near-equal scores.
    parent = np.arange(nonzero.size)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    # |score| differences are bounded by the max-norm distance times ‖probe‖₁ ≤ √d.
    window = tol * np.sqrt(keys.shape[1])
    breaks = np.flatnonzero(np.diff(score) > window) + 1
    for run in np.split(np.arange(nonzero.size), breaks):
        if run.size < 2:
            continue
        members = order[run]
        block = directions[members]
        for offset, a in enumerate(members[:-1]):
            rest = members[offset + 1 :]
            gap = np.abs(block[offset + 1 :] - directions[a]).max(axis=1)
            if both_signs:
                gap = np.minimum(gap, np.abs(block[offset + 1 :] + directions[a]).max(axis=1))
            for b in rest[gap <= tol]:
                parent[find(int(b))] = find(int(a))

    groups: dict[int, list[int]] = {}
    for local in range(nonzero.size):
        groups.setdefault(find(local), []).append(int(nonzero[local]))
    conflicts = [
        tuple(sorted(g)) for g in groups.values() if len(g) > 1 and np.unique(fact_map[g]).size > 1
    ]
    return sorted(conflicts)
