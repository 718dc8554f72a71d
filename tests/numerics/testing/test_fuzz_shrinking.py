"""numerics.testing.shrinking: delta debugging finds the planted failure exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.embeddings.generators import make_factset
from numerics.testing import check_factset, shrink, subset_factset
from tests.numerics.testing.fakes import PlantedMethod


def _rows(small, big) -> list[int]:
    """Indices in ``big.keys`` of the rows of ``small.keys``."""
    return sorted(int(np.flatnonzero((big.keys == k).all(axis=1))[0]) for k in small.keys)


def test_a_failure_planted_on_keys_3_and_7_shrinks_to_exactly_those_keys():
    original = make_factset("spherical", n_facts=12, dim=8, seed=0)
    method = PlantedMethod(planted=(original.keys[3], original.keys[7]))
    assert check_factset(method, original).status == "failed"
    assert check_factset("lookup", original).status == "stored"  # lookup alone is fine

    def fails(candidate):
        return check_factset(method, candidate, certify=False).status == "failed"

    small, steps = shrink(original, fails, max_seconds=60, max_steps=500)
    assert _rows(small, original) == [3, 7]
    # every value but the two the planted facts use is dropped (they tie at g ≡ 0 anyway)
    kept = original.values[original.fact_map[[3, 7]]]
    assert small.n_values == 2 and {tuple(v) for v in small.values} == {tuple(v) for v in kept}
    assert fails(small) and 0 < steps < 500


@settings(max_examples=25, deadline=None)
@given(
    st.integers(2, 24).flatmap(
        lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1), min_size=1, max_size=4))
    )
)
def test_shrink_returns_exactly_the_planted_set_of_any_size(case):
    n, planted = case
    rng = np.random.default_rng(n)
    from numerics.factset import FactSet

    original = FactSet(rng.standard_normal((n, 3)), np.eye(3), rng.integers(0, 3, n))
    marks = {tuple(original.keys[i]) for i in planted}

    def fails(candidate):
        return marks <= {tuple(k) for k in candidate.keys}

    small, _ = shrink(original, fails, max_seconds=30, max_steps=10_000)
    assert _rows(small, original) == sorted(planted)


def test_shrink_stops_at_its_budget_and_keeps_the_best_so_far():
    original = make_factset("spherical", n_facts=32, dim=4, seed=1)
    calls = []

    def fails(candidate):
        calls.append(candidate.n_facts)
        return True  # everything fails: ddmin halves as far as it may

    small, steps = shrink(original, fails, max_steps=3)
    assert steps == 3 == len(calls) and small.n_facts < original.n_facts
    untouched, steps = shrink(original, fails, max_steps=0)
    assert untouched is original and steps == 0


def test_subset_factset_reindexes_values_and_refuses_dropping_a_used_one():
    fs = make_factset("spherical", n_facts=6, n_values=4, dim=3, seed=2, fact_map="random")
    facts = np.flatnonzero(fs.fact_map == fs.fact_map[0])
    sub = subset_factset(fs, facts, [int(fs.fact_map[0])])
    assert sub.n_values == 1 and (sub.fact_map == 0).all()
    assert np.array_equal(sub.values[0], fs.values[fs.fact_map[0]])
    other = int((fs.fact_map[0] + 1) % 4)
    with pytest.raises(AssertionError):
        subset_factset(fs, [0], [other])
