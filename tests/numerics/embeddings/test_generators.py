import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.embeddings.generators import FACT_MAPS, FAMILIES, FactSetSpec, make_factset
from theory.errors import InvalidInputError


@settings(max_examples=40, deadline=None)
@given(
    family=st.sampled_from(FAMILIES),
    n=st.integers(1, 40),
    d=st.integers(2, 12),
    seed=st.integers(0, 2**31),
    tied=st.booleans(),
)
def test_same_seed_same_arrays_and_promised_shapes(family, n, d, seed, tied):
    spec = FactSetSpec(family=family, n_facts=n, n_values=n, dim=d, seed=seed, tied=tied, rank=2)
    a, b = spec.build(), spec.build()
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.values, b.values)
    assert np.array_equal(a.fact_map, b.fact_map)
    assert a.keys.shape == (n, d) and a.values.shape == (n, d)
    assert sorted(a.fact_map.tolist()) == list(range(n))  # the default map is a bijection
    if family != "gaussian":
        np.testing.assert_allclose(np.linalg.norm(a.values, axis=1), 1.0, rtol=1e-12)
    assert np.array_equal(a.keys, a.values) == tied
    assert a.meta["generator"]["seed"] == seed


def test_different_seeds_differ():
    assert not np.array_equal(make_factset(seed=1).keys, make_factset(seed=2).keys)


@settings(max_examples=40, deadline=None)
@given(n_facts=st.integers(1, 60), n_values=st.integers(1, 60), seed=st.integers(0, 1000))
def test_random_map_uses_every_value_when_it_can(n_facts, n_values, seed):
    fs = make_factset(n_facts=n_facts, n_values=n_values, dim=3, seed=seed, fact_map="random")
    used = np.unique(fs.fact_map)
    if n_facts >= n_values:
        assert used.size == n_values
    assert fs.fact_map.min() >= 0 and fs.fact_map.max() < n_values


def test_lowrank_rows_span_exactly_the_requested_rank():
    fs = make_factset("lowrank", n_facts=64, dim=16, rank=3, seed=4)
    assert np.linalg.matrix_rank(fs.values, tol=1e-10) == 3
    assert np.linalg.matrix_rank(fs.keys, tol=1e-10) == 3


def test_spike_concentrates_energy_in_one_direction():
    def top_share(beta):
        v = make_factset("spiked", n_facts=400, dim=32, beta=beta, seed=5).values
        s = np.linalg.svd(v, compute_uv=False) ** 2
        return s[0] / s.sum()

    assert top_share(0.0) < 0.1 < 0.5 < top_share(20.0)


def test_condition_number_shapes_the_spectrum():
    def spread(kappa):
        v = make_factset("conditioned", n_facts=2000, dim=8, kappa=kappa, seed=6).values
        s = np.linalg.svd(v, compute_uv=False)
        return s[0] / s[-1]

    assert spread(1.0) < 1.3 and spread(100.0) > 10.0


INVALID = [
    (dict(family="cubic"), "family 'cubic' is unknown"),
    (dict(fact_map="injective"), "fact_map 'injective' is unknown"),
    (dict(n_facts=0, n_values=0), "n_facts must be an integer ≥ 1"),
    (dict(dim=2.5), "dim must be an integer ≥ 1"),
    (dict(n_values=3), "a bijection needs n_values = n_facts"),
    (dict(n_values=3, fact_map="random", tied=True), "tied keys = values needs n_values = n_facts"),
    (dict(seed=-1), "seed must be an integer ≥ 0"),
    (dict(beta=float("nan")), "beta must be finite"),
    (dict(kappa=0.5), "kappa must be finite and ≥ 1"),
    (dict(rank=99), r"rank must lie in \[1, dim = 32\]"),
]


@pytest.mark.parametrize("change, message", INVALID, ids=[m for _, m in INVALID])
def test_invalid_specs(change, message):
    with pytest.raises(InvalidInputError, match=message):
        FactSetSpec(**change)


def test_all_maps_listed_are_buildable():
    for kind in FACT_MAPS:
        assert make_factset(n_facts=5, dim=2, fact_map=kind).n_facts == 5


def test_one_dimensional_unit_rows_repeat_and_the_error_says_why():
    with pytest.raises(InvalidInputError, match="unit-norm rows in one dimension take only two"):
        make_factset("spherical", n_facts=30, dim=1, seed=0)
    assert make_factset("gaussian", n_facts=30, dim=1, seed=0).n_facts == 30
