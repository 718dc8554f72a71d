"""Tests of numerics/embeddings/whitening.py: the whitening map, whitened fact sets, and the fold back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.embeddings.generators import make_factset
from numerics.embeddings.whitening import WHITEN_MODES, unwhiten_mlp, whiten_factset, whitening_map
from numerics.factset import FactSet
from numerics.mlp import GatedMLPWeights
from theory.errors import InvalidInputError


def _anisotropic(rng, n, d):
    return rng.standard_normal((n, d)) @ np.diag(np.geomspace(10.0, 0.1, d)) + 3.0


@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 6), center=st.booleans())
@settings(max_examples=40, deadline=None)
def test_whitened_rows_have_identity_second_moment(seed, d, center):
    rng = np.random.default_rng(seed)
    x = _anisotropic(rng, 5 * d + 10, d)
    lin = whitening_map(x, center=center)
    np.testing.assert_allclose(lin, lin.T, atol=1e-12)
    y = x @ lin.T
    if center:
        y = y - y.mean(axis=0)
    np.testing.assert_allclose(y.T @ y / y.shape[0], np.eye(d), atol=1e-8)


def test_known_map_of_a_diagonal_second_moment():
    x = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 0.5], [0.0, -0.5]])
    np.testing.assert_allclose(whitening_map(x, center=False), np.diag([0.5**0.5, 8**0.5]))
    # centring removes the mean: translating every row leaves the covariance map unchanged
    np.testing.assert_allclose(whitening_map(x + 7.0, center=True), whitening_map(x, center=True))


def test_rank_deficient_rows_get_a_finite_invertible_map():
    x = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0], [-1.0, -1.0, 0.0]])  # rank 1
    lin = whitening_map(x, center=False)
    assert np.isfinite(lin).all() and np.linalg.matrix_rank(lin) == 3
    y = x @ lin.T  # whitened along the rows' span: one unit eigenvalue, the rest zero
    np.testing.assert_allclose(np.linalg.eigvalsh(y.T @ y / 3), [0.0, 0.0, 1.0], atol=1e-9)


@pytest.mark.parametrize("mode", WHITEN_MODES)
def test_whiten_factset_sides(mode):
    fs = make_factset("conditioned", n_facts=40, dim=5, seed=2, kappa=50.0, tied=True)
    out = whiten_factset(fs, mode)
    assert out.mode == mode and out.factset.meta["whiten"] == mode
    keys_changed = not np.array_equal(out.factset.keys, fs.keys)
    values_changed = not np.array_equal(out.factset.values, fs.values)
    assert keys_changed == (mode in ("keys", "both")) == (out.key_map is not None)
    assert values_changed == (mode in ("values", "both")) == (out.value_map is not None)
    np.testing.assert_array_equal(out.factset.fact_map, fs.fact_map)


def _random_mlp(rng, h, d, biases):
    t = lambda *shape: torch.from_numpy(rng.standard_normal(shape))  # noqa: E731
    return GatedMLPWeights(
        t(h, d),
        t(h, d),
        t(d, h),
        activation="silu",
        gate_bias=t(h) if biases else None,
        up_bias=t(h) if biases else None,
        down_bias=t(d) if biases else None,
    )


@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(WHITEN_MODES), biases=st.booleans())
@settings(max_examples=30, deadline=None)
def test_unwhitened_mlp_has_the_logits_of_the_whitened_one(seed, mode, biases):
    """<g(k), v_j> on the original set equals <g'(L_k k), L_v v_j> on the whitened set."""
    rng = np.random.default_rng(seed)
    fs = FactSet(_anisotropic(rng, 12, 4), _anisotropic(rng, 7, 4), rng.integers(0, 7, 12))
    white = whiten_factset(fs, mode)
    g_white = _random_mlp(rng, 9, 4, biases)
    g = unwhiten_mlp(g_white, key_map=white.key_map, value_map=white.value_map)
    assert g.n_params == g_white.n_params
    original = g.forward(torch.tensor(fs.keys)).numpy() @ fs.values.T
    whitened = g_white.forward(torch.tensor(white.factset.keys)).numpy() @ white.factset.values.T
    np.testing.assert_allclose(original, whitened, rtol=1e-9, atol=1e-9 * np.abs(whitened).max())


def test_a_lookup_mlp_for_whitened_values_stores_the_original_set():
    from numerics.methods.capacity_search import capacity
    from numerics.mlp import GatedMLP
    from numerics.strict_recall import recall

    fs = make_factset("spiked", n_facts=24, dim=6, seed=4, beta=8.0, tied=True)
    white = whiten_factset(fs, "both")
    built = capacity(white.factset, "lookup", dtype=torch.float64).build
    folded = unwhiten_mlp(built.weights, key_map=white.key_map, value_map=white.value_map)
    assert recall(GatedMLP(folded), fs, dtype=torch.float64).accuracy == 1.0


INVALID = [
    ("rows nan", lambda: whitening_map([[np.nan, 1.0]], center=False), r"rows\[0, 0\] is nan"),
    ("rows 1-D", lambda: whitening_map([1.0, 2.0], center=False), "2-D"),
    ("floor 0", lambda: whitening_map([[1.0]], center=False, floor=0.0), "floor"),
    ("all equal", lambda: whitening_map([[1.0, 2.0], [1.0, 2.0]], center=True), "all equal"),
    ("all zero", lambda: whitening_map([[0.0, 0.0]], center=False), "all zero"),
    ("mode", lambda: whiten_factset(make_factset(n_facts=4, dim=2), "rows"), "whiten mode"),
    ("not a factset", lambda: whiten_factset(np.eye(2), "keys"), "FactSet"),
    (
        "key map shape",
        lambda: unwhiten_mlp(_random_mlp(np.random.default_rng(0), 3, 2, False), key_map=np.eye(3)),
        "dimension 3 but 2",
    ),
    (
        "value map shape",
        lambda: unwhiten_mlp(
            _random_mlp(np.random.default_rng(0), 3, 2, False), value_map=np.eye(3)
        ),
        r"shape \(3, 3\)",
    ),
]


@pytest.mark.parametrize(
    "call, match", [(c, m) for _, c, m in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_calls(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()
