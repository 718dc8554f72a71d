"""Hypothesis strategies for fact sets, with the edge cases planted on purpose.

Every fact-set strategy here is a *recipe* written once against a small drawing interface
(:class:`Draws`) and run two ways:

- as a hypothesis strategy (``near_duplicate_keys(distance=1e-3)``), whose sizes and choices
  hypothesis draws, so shrinking works on them; arrays come from a numpy generator seeded
  by a drawn integer;
- as a plain seeded generator, :func:`draw_factset` ``(name, rng, **params)``, which draws
  the same choices from a ``numpy.random.Generator``: the same generator state gives the
  same fact set, on every run and every machine (the fuzzer relies on this; hypothesis's
  ``.example()`` is not deterministic).

:data:`STRATEGIES` maps each recipe's name to its strategy factory, in a fixed order.

=======================  ======================================================================
``near_duplicate_keys``  two keys at exactly ``distance`` apart (the closest pair), usually
                         mapped to different values
``duplicate_keys``       identical keys repeated, each copy mapped to the same value
``collinear_keys``       every key a multiple ``t·u`` of one direction (both signs)
``low_rank_keys``        keys in a subspace of rank ≤ ``max_rank`` < d
``zero_keys``            some keys exactly 0 (all mapped to one value)
``near_hull_values``     a used value at distance ``gap`` outside the hull of the others
                         (ρ → 0 but positive)
``inside_hull_values``   a used value exactly (dyadic weights) in the hull of the others:
                         infeasible
``clustered_values``     values in a few tight clusters of radius ``spread`` on the sphere
``spiked_values``        values from the spiked family (strength ``beta``)
``conditioned_values``   values from the conditioned family (condition number ``kappa``)
``antipodal_values``     values in ± pairs
``extreme_scales``       keys and values scaled by ``scale`` or ``1/scale`` (1e±30 default)
``low_dimension``        d = 1 or 2 (in d = 1 at most two values are vertices)
``many_to_one``          M ≤ ``max_values`` values shared by many keys
``single_fact``          F = 1
``single_value``         M = 1 (no competitor: storing is trivial)
``mixed``                :func:`fact_arrays` as a fact set: random families and scales with
                         random plants
=======================  ======================================================================

No recipe produces identical keys mapped to different values: that is malformed input
(:class:`~numerics.factset.FactSet` refuses it), not a hard instance.

Arguments are validated when the strategy is built, not when it is first drawn from: an
invalid one raises :class:`hypothesis.errors.InvalidArgument` naming the strategy, the
argument and its value, as hypothesis's own strategies do (``st.integers(5, 1)``). That is
the error type users of strategies expect, and hypothesis reports it inside ``@given`` as a
usage error instead of a falsifying example. The library's own functions (the fuzzer)
raise :class:`~theory.errors.InvalidInputError` as the rest of factmlp does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from numerics.embeddings.generators import FAMILIES, sample_embeddings
from numerics.factset import FactSet
from numerics.testing.drawing import (
    _BODIES,
    _PUBLIC,
    Draws,
    HypothesisDraws,
    RngDraws,
    _bounds,
    _check_sizes,
    _directions,
    _factset,
    _fail,
    _float,
    _int,
    _random_map,
    _recipe,
    _repair,
    _sphere,
    _strategy,
    draw_factset,
)

__all__ = [
    "SCALES",
    "Draws",
    "HypothesisDraws",
    "RngDraws",
    "STRATEGIES",
    "draw_factset",
    "embedding_matrices",
    "fact_arrays",
    "near_duplicate_keys",
    "duplicate_keys",
    "collinear_keys",
    "low_rank_keys",
    "zero_keys",
    "near_hull_values",
    "inside_hull_values",
    "clustered_values",
    "spiked_values",
    "conditioned_values",
    "antipodal_values",
    "extreme_scales",
    "low_dimension",
    "many_to_one",
    "single_fact",
    "single_value",
    "mixed",
]

#: Scales :func:`embedding_matrices` multiplies its matrices by.
SCALES = (1e-8, 1e-3, 1.0, 1e3, 1e8)


# --------------------------------------------------------------------------- matrices


def _embedding_matrix(d: Draws, *, rows: int, min_dim: int, max_dim: int, dim: int | None):
    dim = dim if dim is not None else d.integers(min_dim, max_dim)
    family = d.choice(FAMILIES)
    rng = d.rng()
    rank = d.integers(1, dim)
    x = sample_embeddings(
        family,
        rows,
        dim,
        rng,
        beta=d.choice([0.0, 4.0, 50.0]),
        kappa=d.choice([1.0, 10.0, 1e4]),
        rank=rank,
    )
    return x * d.choice(SCALES)


def _composite_named(name: str):
    """``st.composite`` under the public ``name``, so that the strategy prints as its call."""

    def decorate(function):
        function.__name__ = function.__qualname__ = name
        return st.composite(function)

    return decorate


@_composite_named("embedding_matrices")
def _embedding_matrices(draw, *, rows, min_dim=1, max_dim=8, dim=None):
    return _embedding_matrix(
        HypothesisDraws(draw), rows=rows, min_dim=min_dim, max_dim=max_dim, dim=dim
    )


def embedding_matrices(
    *, rows: int, min_dim: int = 1, max_dim: int = 8, dim: int | None = None
) -> SearchStrategy[np.ndarray]:
    """A (rows × d) float64 matrix from a random family
    (:data:`~numerics.embeddings.generators.FAMILIES`) at a random scale from :data:`SCALES`."""
    where = "embedding_matrices"
    _int(where, "rows", rows, 1)
    _bounds(where, "min_dim", min_dim, "max_dim", max_dim, 1)
    if dim is not None:
        _int(where, "dim", dim, 1)
    given = {"min_dim": min_dim, "max_dim": max_dim, "dim": dim}
    defaults = {"min_dim": 1, "max_dim": 8, "dim": None}
    return _embedding_matrices(rows=rows, **{k: v for k, v in given.items() if v != defaults[k]})


def _fact_arrays_body(
    d: Draws, *, min_facts, max_facts, min_values, max_values, min_dim, max_dim
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dim = d.integers(min_dim, max_dim)
    n_facts = d.integers(min_facts, max_facts)
    n_values = d.integers(min_values, max_values)
    keys = _embedding_matrix(d, rows=n_facts, min_dim=dim, max_dim=dim, dim=dim)
    values = _embedding_matrix(d, rows=n_values, min_dim=dim, max_dim=dim, dim=dim)
    rng = d.rng()
    fact_map = rng.integers(0, n_values, n_facts)
    if n_facts >= 2 and d.boolean():  # near-duplicate key, relative offset 1e-9
        keys[1] = keys[0] * (1 + 1e-9) + 1e-9 * np.abs(keys[0]).max() + 1e-300
    if n_values >= 2 and d.boolean():
        values[1] = values[0]
    if n_values >= 3 and d.boolean():
        values[2] = (values[0] + values[1]) / 2
    # Repair any exact key duplicate the edits or low rank produced: same key → same value.
    return keys, values, _repair(keys, fact_map)


_ARRAY_DEFAULTS = dict(min_facts=1, max_facts=12, min_values=1, max_values=8, min_dim=1, max_dim=8)


@_composite_named("fact_arrays")
def _fact_arrays(draw, *, min_facts=1, max_facts=12, min_values=1, max_values=8, min_dim=1, max_dim=8):  # fmt: skip
    return _fact_arrays_body(
        HypothesisDraws(draw),
        min_facts=min_facts,
        max_facts=max_facts,
        min_values=min_values,
        max_values=max_values,
        min_dim=min_dim,
        max_dim=max_dim,
    )


def _check_arrays(where: str, params: Mapping[str, Any]) -> None:
    _bounds(where, "min_facts", params["min_facts"], "max_facts", params["max_facts"], 1)
    _bounds(where, "min_values", params["min_values"], "max_values", params["max_values"], 1)
    _bounds(where, "min_dim", params["min_dim"], "max_dim", params["max_dim"], 1)


def fact_arrays(
    *,
    min_facts: int = 1,
    max_facts: int = 12,
    min_values: int = 1,
    max_values: int = 8,
    min_dim: int = 1,
    max_dim: int = 8,
) -> SearchStrategy[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Valid ``(keys, values, fact_map)`` arrays, possibly with edge cases planted:
    near-duplicate keys with different values, duplicated values, a value at the midpoint
    of two others. Never identical keys with different values (that is malformed)."""
    params = dict(
        min_facts=min_facts,
        max_facts=max_facts,
        min_values=min_values,
        max_values=max_values,
        min_dim=min_dim,
        max_dim=max_dim,
    )
    _check_arrays("fact_arrays", params)
    return _fact_arrays(**{k: v for k, v in params.items() if v != _ARRAY_DEFAULTS[k]})


# --------------------------------------------------------------------------- recipes

# near-duplicate keys -------------------------------------------------------------------


def _check_near_duplicate(where, p):
    _float(where, "distance", p["distance"], 1e-12, 0.1, open_low=False)
    if not isinstance(p["same_value"], (bool, np.bool_)):
        _fail(where, "same_value", p["same_value"], "a bool")
    _check_sizes(where, p, min_facts=2)


@_recipe(_check_near_duplicate)
def near_duplicate_keys(
    *,
    distance: float = 1e-6,
    same_value: bool = False,
    max_facts: int = 12,
    min_dim: int = 1,
    max_dim: int = 8,
) -> SearchStrategy[FactSet]:
    """Keys whose closest pair is at Euclidean distance ``distance`` ∈ [1e-12, 0.1] (up to
    rounding), all other pairs at least ``3·distance`` apart; the pair maps to different
    values unless ``same_value``. The fact set's meta names the pair (``pair``)."""
    return _strategy("near_duplicate_keys", locals())


def _near_duplicate_keys(d, *, distance, same_value, max_facts, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_facts = d.integers(2, max_facts)
    n_values = d.integers(2, max(2, n_facts))
    rng = d.rng()
    base = rng.standard_normal((n_facts - 1, dim))
    if base.shape[0] >= 2:
        gaps = np.linalg.norm(base[:, None] - base[None], axis=2)
        closest = gaps[np.triu_indices(base.shape[0], 1)].min()
        base *= max(1.0, 4 * distance / closest)  # every other pair ≥ 4·distance apart
    u = _sphere(rng, 1, dim)[0]
    twin = base[0] + distance * u
    keys = np.vstack([base, twin])
    values = _sphere(rng, n_values, dim) if dim >= 2 else rng.standard_normal((n_values, 1))
    fact_map = _random_map(rng, n_facts, n_values)
    a, b = 0, n_facts - 1
    if same_value:
        fact_map[b] = fact_map[a]
    elif fact_map[b] == fact_map[a]:
        fact_map[b] = (fact_map[a] + 1) % n_values
    return _factset(
        "near_duplicate_keys", keys, values, fact_map, pair=[a, b], distance=float(distance)
    )


_BODIES["near_duplicate_keys"] = _near_duplicate_keys


# duplicate keys --------------------------------------------------------------------------


@_recipe(lambda where, p: _check_sizes(where, p, min_facts=2, min_dim=1))
def duplicate_keys(
    *, max_facts: int = 12, min_dim: int = 2, max_dim: int = 8
) -> SearchStrategy[FactSet]:
    """Identical keys repeated (each copy mapped to the same value, as it must be)."""
    return _strategy("duplicate_keys", locals())


def _duplicate_keys(d, *, max_facts, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_facts = d.integers(2, max_facts)
    n_distinct = d.integers(1, n_facts - 1)
    n_values = d.integers(1, max(1, n_distinct))
    rng = d.rng()
    base = _directions(rng, n_distinct, dim)
    copy_of = np.concatenate(
        [np.arange(n_distinct), rng.integers(0, n_distinct, n_facts - n_distinct)]
    )
    copy_of = rng.permutation(copy_of)
    base_map = _random_map(rng, n_distinct, n_values)
    values = _sphere(rng, n_values, dim) if dim >= 2 else rng.standard_normal((n_values, 1))
    return _factset("duplicate_keys", base[copy_of], values, base_map[copy_of])


_BODIES["duplicate_keys"] = _duplicate_keys


# collinear and low-rank keys -----------------------------------------------------------


@_recipe(lambda where, p: _check_sizes(where, p, min_facts=1, min_dim=1))
def collinear_keys(
    *, max_facts: int = 12, min_dim: int = 2, max_dim: int = 8
) -> SearchStrategy[FactSet]:
    """Every key a distinct nonzero multiple ``t·u`` of one direction ``u`` (``t`` of both
    signs): keys on one ray or line mapped to different values, which no bias-free ReLU
    (ray) or bilinear (line) gated MLP can store."""
    return _strategy("collinear_keys", locals())


def _collinear_keys(d, *, max_facts, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_facts = d.integers(1, max_facts)
    n_values = d.integers(1, n_facts)
    rng = d.rng()
    u = _sphere(rng, 1, dim)[0]
    t = rng.permutation(np.arange(1, n_facts + 1) * 0.5) * rng.choice([-1.0, 1.0], n_facts)
    values = _sphere(rng, n_values, dim)
    return _factset("collinear_keys", np.outer(t, u), values, _random_map(rng, n_facts, n_values))


_BODIES["collinear_keys"] = _collinear_keys


def _check_low_rank(where, p):
    _int(where, "max_rank", p["max_rank"], 1)
    _check_sizes(where, p, min_dim=2)


@_recipe(_check_low_rank)
def low_rank_keys(
    *, max_rank: int = 2, max_facts: int = 12, min_dim: int = 2, max_dim: int = 8
) -> SearchStrategy[FactSet]:
    """Keys (Gaussian, unnormalised: distinct) in a random subspace of rank
    ``r ≤ min(max_rank, d − 1)``."""
    return _strategy("low_rank_keys", locals())


def _low_rank_keys(d, *, max_rank, max_facts, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    rank = d.integers(1, min(max_rank, dim - 1))
    n_facts = d.integers(1, max_facts)
    n_values = d.integers(1, n_facts)
    rng = d.rng()
    basis, _ = np.linalg.qr(rng.standard_normal((dim, rank)))
    keys = rng.standard_normal((n_facts, rank)) @ basis.T
    values = _sphere(rng, n_values, dim)
    return _factset(
        "low_rank_keys", keys, values, _random_map(rng, n_facts, n_values), rank=int(rank)
    )


_BODIES["low_rank_keys"] = _low_rank_keys


# zero keys -------------------------------------------------------------------------------


def _check_zero(where, p):
    _int(where, "max_zeros", p["max_zeros"], 1)
    _check_sizes(where, p, min_facts=1)


@_recipe(_check_zero)
def zero_keys(
    *, max_zeros: int = 2, max_facts: int = 12, min_dim: int = 1, max_dim: int = 8
) -> SearchStrategy[FactSet]:
    """Between 1 and ``max_zeros`` keys exactly 0 (one value for all of them); a bias-free
    gated MLP outputs 0 there, so only an MLP with biases stores them."""
    return _strategy("zero_keys", locals())


def _zero_keys(d, *, max_zeros, max_facts, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_facts = d.integers(1, max_facts)
    n_zero = d.integers(1, min(max_zeros, n_facts))
    n_values = d.integers(1, 2 if dim == 1 else n_facts)
    rng = d.rng()
    keys = _directions(rng, n_facts, dim)
    zero = rng.choice(n_facts, n_zero, replace=False)
    keys[zero] = 0.0
    values = _sphere(rng, n_values, dim) if dim >= 2 else np.array([[1.0], [-1.0]])[:n_values]
    fact_map = _random_map(rng, n_facts, n_values)
    return _factset("zero_keys", keys, values, fact_map, zero=sorted(int(i) for i in zero))


_BODIES["zero_keys"] = _zero_keys


# values at and inside the hull -----------------------------------------------------------


def _check_gap(where, p):
    _float(where, "gap", p["gap"], 0.0, 0.5)
    _check_sizes(where, p, min_dim=2)


@_recipe(_check_gap)
def near_hull_values(
    *,
    gap: float = 1e-6,
    max_facts: int = 12,
    max_values: int = 8,
    min_dim: int = 2,
    max_dim: int = 8,
) -> SearchStrategy[FactSet]:
    """Value 0 (used by a fact) at distance ``gap`` outside the convex hull of the others:
    on the outward normal ``u`` (meta ``normal``) through the midpoint of an exposed edge
    ``[v_1, v_2]`` of that hull, so ``<v_0, u> − max_{j≥1} <v_j, u> = gap`` and
    ``v_0 − gap·u`` lies in the hull. ρ is positive but small (→ 0 with ``gap``)."""
    return _strategy("near_hull_values", locals())


def _near_hull_values(d, *, gap, max_facts, max_values, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_values = d.integers(3, max(3, max_values))
    n_facts = d.integers(1, max_facts)
    rng = d.rng()
    frame, _ = np.linalg.qr(rng.standard_normal((dim, 2)))
    u, w = frame[:, 0], frame[:, 1]
    alpha = rng.uniform(0.3, 1.2)
    c = math.cos(alpha)
    others = _sphere(rng, n_values - 3, dim)
    along = others @ u
    flip = along > c - 0.05  # keep the face {<x, u> = c} the edge [v_1, v_2]
    others[flip] -= 2 * along[flip, None] * u
    edge = np.vstack([c * u + math.sin(alpha) * w, c * u - math.sin(alpha) * w])
    apex = (c + gap) * u
    values = np.vstack([apex, edge, others])
    fact_map = rng.integers(0, n_values, n_facts)
    fact_map[0] = 0
    return _factset(
        "near_hull_values", _directions(rng, n_facts, dim), values, fact_map,
        gap=float(gap), normal=u.tolist(),
    )  # fmt: skip


_BODIES["near_hull_values"] = _near_hull_values


@_recipe(lambda where, p: _check_sizes(where, p, min_dim=1))
def inside_hull_values(
    *, max_facts: int = 12, max_values: int = 8, min_dim: int = 1, max_dim: int = 8
) -> SearchStrategy[FactSet]:
    """Value 0 (used by a fact) exactly in the convex hull of values 1.. (weights 1/2, 1/2
    or 1/4, 1/4, 1/2 of values on a 1/8 grid: no rounding). No MLP stores such a set (meta
    ``weights`` gives the combination)."""
    return _strategy("inside_hull_values", locals())


def _inside_hull_values(d, *, max_facts, max_values, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_values = d.integers(3, max(3, max_values))
    n_facts = d.integers(1, max_facts)
    parts = d.choice([2, 3]) if n_values >= 4 else 2
    rng = d.rng()
    others = np.round(rng.standard_normal((n_values - 1, dim)) * 8) / 8
    weights = np.array([0.5, 0.5]) if parts == 2 else np.array([0.25, 0.25, 0.5])
    support = rng.choice(n_values - 1, parts, replace=False)
    inside = weights @ others[support]  # dyadic: exact in float64
    values = np.vstack([inside, others])
    fact_map = rng.integers(0, n_values, n_facts)
    fact_map[0] = 0
    return _factset(
        "inside_hull_values", _directions(rng, n_facts, dim), values, fact_map,
        weights={str(int(s) + 1): float(w) for s, w in zip(support, weights, strict=True)},
    )  # fmt: skip


_BODIES["inside_hull_values"] = _inside_hull_values


# value geometries ------------------------------------------------------------------------


def _check_spread(where, p):
    _float(where, "spread", p["spread"], 0.0, 1.0)
    _int(where, "max_clusters", p["max_clusters"], 1)
    _check_sizes(where, p, min_dim=2)


@_recipe(_check_spread)
def clustered_values(
    *,
    spread: float = 1e-3,
    max_clusters: int = 3,
    max_facts: int = 12,
    max_values: int = 8,
    min_dim: int = 2,
    max_dim: int = 8,
) -> SearchStrategy[FactSet]:
    """Values in at most ``max_clusters`` clusters of radius about ``spread`` on the unit
    sphere (every value a vertex of the hull, ρ of order spread²)."""
    return _strategy("clustered_values", locals())


def _clustered_values(d, *, spread, max_clusters, max_facts, max_values, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_values = d.integers(1, max_values)
    n_clusters = d.integers(1, min(max_clusters, n_values))
    n_facts = d.integers(1, max_facts)
    rng = d.rng()
    centers = _sphere(rng, n_clusters, dim)
    member = rng.integers(0, n_clusters, n_values)
    values = centers[member] + spread * rng.standard_normal((n_values, dim))
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    keys = _directions(rng, n_facts, dim)
    return _factset(
        "clustered_values", keys, values, _random_map(rng, n_facts, n_values),
        spread=float(spread),
    )  # fmt: skip


_BODIES["clustered_values"] = _clustered_values


def _family_values(name: str, d: Draws, family: str, max_facts, max_values, min_dim, max_dim, **kw):
    dim = d.integers(min_dim, max_dim)
    n_values = d.integers(1, max_values)
    n_facts = d.integers(1, max_facts)
    rng = d.rng()
    values = sample_embeddings(family, n_values, dim, rng, **kw)
    keys = _directions(rng, n_facts, dim)
    return _factset(name, keys, values, _random_map(rng, n_facts, n_values), **kw)


def _check_beta(where, p):
    _float(where, "beta", p["beta"], 0.0, 1e6, open_low=False)
    _check_sizes(where, p, min_dim=2)


@_recipe(_check_beta)
def spiked_values(
    *,
    beta: float = 50.0,
    max_facts: int = 12,
    max_values: int = 8,
    min_dim: int = 2,
    max_dim: int = 8,
) -> SearchStrategy[FactSet]:
    """Values from the ``spiked`` family (a shared direction of strength ``beta``)."""
    return _strategy("spiked_values", locals())


def _spiked_values(d, *, beta, **sizes):
    return _family_values("spiked_values", d, "spiked", beta=float(beta), **sizes)


_BODIES["spiked_values"] = _spiked_values


def _check_kappa(where, p):
    _float(where, "kappa", p["kappa"], 1.0, 1e12, open_low=False)
    _check_sizes(where, p, min_dim=2)


@_recipe(_check_kappa)
def conditioned_values(
    *,
    kappa: float = 1e4,
    max_facts: int = 12,
    max_values: int = 8,
    min_dim: int = 2,
    max_dim: int = 8,
) -> SearchStrategy[FactSet]:
    """Values from the ``conditioned`` family (condition number ``kappa``)."""
    return _strategy("conditioned_values", locals())


def _conditioned_values(d, *, kappa, **sizes):
    return _family_values("conditioned_values", d, "conditioned", kappa=float(kappa), **sizes)


_BODIES["conditioned_values"] = _conditioned_values


@_recipe(lambda where, p: _check_sizes(where, p, min_dim=1))
def antipodal_values(
    *, max_facts: int = 12, max_values: int = 8, min_dim: int = 1, max_dim: int = 8
) -> SearchStrategy[FactSet]:
    """Values in antipodal pairs ``±v`` (an even count ≥ 2; in d = 1 just ``±v``)."""
    return _strategy("antipodal_values", locals())


def _antipodal_values(d, *, max_facts, max_values, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    pairs = 1 if dim == 1 else d.integers(1, max(1, max_values // 2))
    n_facts = d.integers(1, max_facts)
    rng = d.rng()
    half = _sphere(rng, pairs, dim)
    values = np.empty((2 * pairs, dim))
    values[0::2], values[1::2] = half, -half
    keys = _directions(rng, n_facts, dim)
    return _factset("antipodal_values", keys, values, _random_map(rng, n_facts, 2 * pairs))


_BODIES["antipodal_values"] = _antipodal_values


# scales and sizes ------------------------------------------------------------------------


def _check_scale(where, p):
    _float(where, "scale", p["scale"], 1.0, 1e300, open_low=False)
    _check_sizes(where, p, min_dim=2)


@_recipe(_check_scale)
def extreme_scales(
    *,
    scale: float = 1e30,
    max_facts: int = 12,
    max_values: int = 8,
    min_dim: int = 2,
    max_dim: int = 8,
) -> SearchStrategy[FactSet]:
    """Spherical keys and values, each multiplied by ``scale``, ``1/scale`` or 1 (not both
    by 1); meta ``key_scale``, ``value_scale``."""
    return _strategy("extreme_scales", locals())


def _extreme_scales(d, *, scale, max_facts, max_values, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_values = d.integers(1, max_values)
    n_facts = d.integers(1, max_facts)
    options = [(scale, 1.0), (1.0 / scale, 1.0), (1.0, scale), (1.0, 1.0 / scale)]
    options += [(scale, scale), (1.0 / scale, 1.0 / scale), (scale, 1.0 / scale), (1.0 / scale, scale)]  # fmt: skip
    key_scale, value_scale = d.choice(options)
    rng = d.rng()
    keys = _sphere(rng, n_facts, dim) * key_scale
    values = _sphere(rng, n_values, dim) * value_scale
    return _factset(
        "extreme_scales", keys, values, _random_map(rng, n_facts, n_values),
        key_scale=float(key_scale), value_scale=float(value_scale),
    )  # fmt: skip


_BODIES["extreme_scales"] = _extreme_scales


@_recipe(lambda where, p: _check_sizes(where, p))
def low_dimension(*, max_facts: int = 12, max_values: int = 4) -> SearchStrategy[FactSet]:
    """d = 1 or 2 with Gaussian keys and values (in d = 1 only the two extreme values are
    vertices of the hull: a fact on a middle value is infeasible)."""
    return _strategy("low_dimension", locals())


def _low_dimension(d, *, max_facts, max_values):
    dim = d.integers(1, 2)
    n_values = d.integers(1, max_values)
    n_facts = d.integers(1, max_facts)
    rng = d.rng()
    keys = rng.standard_normal((n_facts, dim))
    values = rng.standard_normal((n_values, dim))
    return _factset("low_dimension", keys, values, _random_map(rng, n_facts, n_values))


_BODIES["low_dimension"] = _low_dimension


@_recipe(lambda where, p: _check_sizes(where, p, min_dim=2))
def many_to_one(
    *, max_facts: int = 12, max_values: int = 3, min_dim: int = 2, max_dim: int = 8
) -> SearchStrategy[FactSet]:
    """Many keys on few values: ``M ≤ max_values``, every value used, ``F ≥ M``."""
    return _strategy("many_to_one", locals())


def _many_to_one(d, *, max_facts, max_values, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_values = d.integers(1, min(max_values, max_facts))
    n_facts = d.integers(n_values, max_facts)
    rng = d.rng()
    keys = _directions(rng, n_facts, dim)
    values = _sphere(rng, n_values, dim)
    return _factset("many_to_one", keys, values, _random_map(rng, n_facts, n_values))


_BODIES["many_to_one"] = _many_to_one


@_recipe(lambda where, p: _check_sizes(where, p, min_dim=1))
def single_fact(
    *, max_values: int = 8, min_dim: int = 1, max_dim: int = 8
) -> SearchStrategy[FactSet]:
    """F = 1: one key, ``M`` values (M ≤ 2 in d = 1, where more could not all be vertices)."""
    return _strategy("single_fact", locals())


def _single_fact(d, *, max_values, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_values = d.integers(1, min(max_values, 2) if dim == 1 else max_values)
    rng = d.rng()
    keys = _directions(rng, 1, dim)
    values = _sphere(rng, n_values, dim)
    if dim == 1 and n_values == 2:
        values[1] = -values[0]
    return _factset("single_fact", keys, values, [int(rng.integers(0, n_values))])


_BODIES["single_fact"] = _single_fact


@_recipe(lambda where, p: _check_sizes(where, p, min_dim=1))
def single_value(
    *, max_facts: int = 12, min_dim: int = 1, max_dim: int = 8
) -> SearchStrategy[FactSet]:
    """M = 1: every key maps to the one value (no competitor, so any MLP stores it)."""
    return _strategy("single_value", locals())


def _single_value(d, *, max_facts, min_dim, max_dim):
    dim = d.integers(min_dim, max_dim)
    n_facts = d.integers(1, max_facts)
    rng = d.rng()
    keys = _directions(rng, n_facts, dim)
    values = _sphere(rng, 1, dim)
    return _factset("single_value", keys, values, np.zeros(n_facts, dtype=np.int64))


_BODIES["single_value"] = _single_value


@_recipe(lambda where, p: _check_arrays(where, p))
def mixed(
    *,
    min_facts: int = 1,
    max_facts: int = 12,
    min_values: int = 1,
    max_values: int = 8,
    min_dim: int = 1,
    max_dim: int = 8,
) -> SearchStrategy[FactSet]:
    """:func:`fact_arrays` as a :class:`~numerics.factset.FactSet`: keys and values from
    random families at random scales (:data:`SCALES`), with random plants (a near-duplicate
    key at relative offset 1e-9, a duplicated value, a midpoint value)."""
    return _strategy("mixed", locals())


def _mixed(d, **params):
    keys, values, fact_map = _fact_arrays_body(d, **params)
    return _factset("mixed", keys, values, fact_map)


_BODIES["mixed"] = _mixed


#: Name → strategy factory, in a fixed order (the fuzzer's round-robin order).
STRATEGIES: Mapping[str, Callable[..., SearchStrategy[FactSet]]] = MappingProxyType(dict(_PUBLIC))
