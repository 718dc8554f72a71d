"""Shared hypothesis strategies: fact sets, deliberately including edge cases.

Arrays are drawn from numpy generators seeded by hypothesis (so shrinking still works on
the seed and sizes) and then bent into awkward shapes: extreme scales, near-duplicate keys,
low-rank and spiked embeddings, d = 1, duplicate values, values inside the hull.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from numerics.embeddings.generators import FAMILIES, sample_embeddings

SCALES = (1e-8, 1e-3, 1.0, 1e3, 1e8)


def _check_bounds(name: str, low: int, high: int) -> None:
    if not (1 <= low <= high):
        raise ValueError(f"strategy argument {name}: need 1 <= min <= max, got {low}, {high}")


@st.composite
def embedding_matrices(
    draw, *, rows: int, min_dim: int = 1, max_dim: int = 8, dim: int | None = None
):
    """A (rows × d) float64 matrix from a random family at a random extreme scale."""
    d = dim if dim is not None else draw(st.integers(min_dim, max_dim))
    family = draw(st.sampled_from(FAMILIES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rank = draw(st.integers(1, d))
    x = sample_embeddings(
        family,
        rows,
        d,
        rng,
        beta=draw(st.sampled_from([0.0, 4.0, 50.0])),
        kappa=draw(st.sampled_from([1.0, 10.0, 1e4])),
        rank=rank,
    )
    return x * draw(st.sampled_from(SCALES))


@st.composite
def fact_arrays(
    draw,
    *,
    min_facts: int = 1,
    max_facts: int = 12,
    min_values: int = 1,
    max_values: int = 8,
    min_dim: int = 1,
    max_dim: int = 8,
):
    """Valid ``(keys, values, fact_map)`` arrays, possibly with edge cases planted:
    near-duplicate keys with different values, duplicated values, a value at the midpoint
    of two others. Never identical keys with different values (that is malformed)."""
    _check_bounds("facts", min_facts, max_facts)
    _check_bounds("values", min_values, max_values)
    _check_bounds("dim", min_dim, max_dim)
    d = draw(st.integers(min_dim, max_dim))
    n_facts = draw(st.integers(min_facts, max_facts))
    n_values = draw(st.integers(min_values, max_values))
    keys = draw(embedding_matrices(rows=n_facts, dim=d))
    values = draw(embedding_matrices(rows=n_values, dim=d))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    fact_map = rng.integers(0, n_values, n_facts)
    if n_facts >= 2 and draw(st.booleans()):  # near-duplicate key, relative offset 1e-9
        keys[1] = keys[0] * (1 + 1e-9) + 1e-9 * np.abs(keys[0]).max() + 1e-300
    if n_values >= 2 and draw(st.booleans()):
        values[1] = values[0]
    if n_values >= 3 and draw(st.booleans()):
        values[2] = (values[0] + values[1]) / 2
    # Repair any exact key duplicate the edits or low rank produced: same key → same value.
    _, first, group = np.unique(keys + 0.0, axis=0, return_index=True, return_inverse=True)
    fact_map = fact_map[first[group.reshape(-1)]]
    return keys, values, fact_map
