"""numerics.testing.strategies: each recipe draws what it promises, deterministically, and
prints as the call that builds it; bad arguments are refused at once, by name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from numerics.factset import FactSet
from numerics.testing import (
    STRATEGIES,
    draw_factset,
    embedding_matrices,
    fact_arrays,
    hull_weights,
    infeasibility_certificate,
    inside_hull_values,
    near_duplicate_keys,
    near_hull_values,
)
from theory.key_side import zero_keys as zero_key_indices

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pair_distances(x: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    return d[np.triu_indices(x.shape[0], 1)]


@FAST
@given(st.sampled_from([1e-9, 1e-6, 1e-3, 0.1]), st.data())
def test_near_duplicate_keys_closest_pair_is_at_the_requested_distance(distance, data):
    fs = data.draw(near_duplicate_keys(distance=distance))
    a, b = fs.meta["pair"]
    gap = np.linalg.norm(fs.keys[a] - fs.keys[b])
    scale = max(1.0, np.abs(fs.keys).max())
    assert abs(gap - distance) <= 1e-12 * scale + 1e-6 * distance
    assert _pair_distances(fs.keys).min() == pytest.approx(gap, rel=1e-6)
    others = np.delete(np.arange(fs.n_facts), b)
    if others.size >= 2:
        assert _pair_distances(fs.keys[others]).min() >= 3 * distance
    assert fs.fact_map[a] != fs.fact_map[b]


@FAST
@given(st.data())
def test_near_duplicate_keys_same_value(data):
    fs = data.draw(near_duplicate_keys(same_value=True, distance=1e-4))
    a, b = fs.meta["pair"]
    assert fs.fact_map[a] == fs.fact_map[b]


@FAST
@given(st.sampled_from([1e-6, 1e-3, 0.1]), st.data())
def test_near_hull_value_is_at_distance_gap_outside_the_hull(gap, data):
    fs = data.draw(near_hull_values(gap=gap))
    u = np.array(fs.meta["normal"])
    v = fs.values
    assert 0 in fs.used_values
    support_gap = v[0] @ u - (v[1:] @ u).max()
    assert support_gap == pytest.approx(gap, rel=1e-6, abs=1e-12)
    foot = np.vstack([v[0] - gap * u, v[1:]])  # v0 − gap·u is in the hull of the others
    assert hull_weights(foot, 0) is not None
    assert hull_weights(v, 0) is None or gap < 1e-8  # v0 itself is outside
    assert infeasibility_certificate(fs) is None or gap < 1e-8


@FAST
@given(inside_hull_values())
def test_inside_hull_value_is_in_the_hull_and_certified(fs):
    weights = hull_weights(fs.values, 0)
    assert weights is not None and weights[0] == 0 and weights.sum() == pytest.approx(1)
    planted = np.zeros(fs.n_values)
    for j, w in fs.meta["weights"].items():
        planted[int(j)] += w
    assert np.array_equal(planted @ fs.values, fs.values[0])  # exactly, not to rounding
    certificate = infeasibility_certificate(fs)
    assert certificate is not None and certificate["value"] in set(fs.used_values.tolist())


@FAST
@given(st.data())
def test_key_recipes_keep_their_promises(data):
    fs = data.draw(STRATEGIES["duplicate_keys"]())
    _, first, group = np.unique(fs.keys, axis=0, return_index=True, return_inverse=True)
    assert first.size < fs.n_facts  # some key repeats
    assert np.array_equal(fs.fact_map, fs.fact_map[first[group.reshape(-1)]])
    fs = data.draw(STRATEGIES["collinear_keys"]())
    assert np.linalg.matrix_rank(fs.keys) == 1 and np.abs(fs.keys).sum(axis=1).min() > 0
    fs = data.draw(STRATEGIES["low_rank_keys"](max_rank=2))
    assert np.linalg.matrix_rank(fs.keys) <= min(2, fs.dim - 1)
    fs = data.draw(STRATEGIES["zero_keys"](max_zeros=2))
    assert tuple(fs.meta["zero"]) == tuple(zero_key_indices(fs.keys))
    assert 1 <= len(fs.meta["zero"]) <= 2


@FAST
@given(st.data())
def test_value_and_size_recipes_keep_their_promises(data):
    fs = data.draw(STRATEGIES["antipodal_values"]())
    assert np.array_equal(fs.values[0::2], -fs.values[1::2])
    fs = data.draw(STRATEGIES["extreme_scales"](scale=1e30))
    assert {fs.meta["key_scale"], fs.meta["value_scale"]} <= {1e30, 1 / 1e30, 1.0}
    assert {fs.meta["key_scale"], fs.meta["value_scale"]} != {1.0}
    fs = data.draw(STRATEGIES["clustered_values"](spread=1e-3, max_clusters=1))
    assert _pair_distances(fs.values).max(initial=0) < 0.05  # one tight cluster
    assert data.draw(STRATEGIES["low_dimension"]()).dim in (1, 2)
    fs = data.draw(STRATEGIES["many_to_one"](max_values=3))
    assert fs.n_values <= 3 and fs.used_values.size == fs.n_values <= fs.n_facts
    assert data.draw(STRATEGIES["single_fact"]()).n_facts == 1
    assert data.draw(STRATEGIES["single_value"]()).n_values == 1


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_recipe_is_deterministic_valid_and_in_the_registry(name):
    for k in range(5):
        a = draw_factset(name, np.random.default_rng([7, k]))
        b = draw_factset(name, np.random.default_rng([7, k]))
        assert isinstance(a, FactSet) and a.meta["strategy"] == name
        for field in ("keys", "values", "fact_map"):
            assert np.array_equal(getattr(a, field), getattr(b, field))
    assert repr(STRATEGIES[name]()) == f"{name}()"


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_every_recipe_runs_under_hypothesis(data):
    for factory in STRATEGIES.values():
        assert isinstance(data.draw(factory()), FactSet)


def test_strategies_print_as_the_call_that_builds_them():
    assert repr(near_duplicate_keys(distance=1e-3)) == "near_duplicate_keys(distance=0.001)"
    assert repr(near_duplicate_keys(distance=1e-6)) == "near_duplicate_keys()"
    assert repr(fact_arrays(max_facts=5)) == "fact_arrays(max_facts=5)"
    assert repr(embedding_matrices(rows=3, max_dim=4)) == "embedding_matrices(rows=3, max_dim=4)"
    assert repr(STRATEGIES["zero_keys"](max_zeros=3)) == "zero_keys(max_zeros=3)"


@pytest.mark.parametrize(
    "build, pattern",
    [
        (lambda: near_duplicate_keys(distance=0.0), r"near_duplicate_keys: distance=0.0 "),
        (lambda: near_duplicate_keys(distance=float("nan")), r"distance=nan"),
        (lambda: near_duplicate_keys(max_facts=1), r"max_facts=1 .*integer ≥ 2"),
        (lambda: near_duplicate_keys(same_value="yes"), r"same_value='yes'"),
        (lambda: near_hull_values(gap=-1), r"near_hull_values: gap=-1 "),
        (lambda: near_hull_values(min_dim=1), r"min_dim=1 .*integer ≥ 2"),
        (lambda: STRATEGIES["low_rank_keys"](max_rank=0), r"max_rank=0"),
        (lambda: STRATEGIES["extreme_scales"](scale=0.5), r"scale=0.5"),
        (lambda: STRATEGIES["clustered_values"](spread=2.0), r"spread=2.0"),
        (lambda: STRATEGIES["mixed"](min_dim=5, max_dim=2), r"min_dim=5 exceeds max_dim=2"),
        (lambda: fact_arrays(min_facts=0), r"fact_arrays: min_facts=0 "),
        (lambda: embedding_matrices(rows=0), r"embedding_matrices: rows=0 "),
        (lambda: draw_factset("nope", np.random.default_rng(0)), r"name='nope'"),
        (lambda: draw_factset("zero_keys", 3), r"rng=3 "),
        (lambda: draw_factset("zero_keys", np.random.default_rng(0), bogus=1), r"'bogus'"),
        (lambda: draw_factset("zero_keys", np.random.default_rng(0), max_zeros=0), "max_zeros=0"),
    ],
)
def test_invalid_arguments_are_refused_eagerly_by_name(build, pattern):
    with pytest.raises(InvalidArgument, match=pattern):
        build()  # no draw: the strategy is refused when it is built
