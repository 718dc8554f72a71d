"""theory.editing: ROME, MEMIT, AlphaEdit against their defining properties and direct solves."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.editing import (
    alphaedit_update,
    memit_update,
    null_space_projector,
    rome_sequential,
    rome_update,
    second_moment,
)
from theory.errors import InvalidInputError

seeds = st.integers(0, 2**32 - 1)


def _spd(rng, h):
    M = rng.normal(size=(h, 2 * h))
    return M @ M.T / (2 * h) + 0.1 * np.eye(h)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, d=st.integers(1, 5), h=st.integers(2, 7))
def test_rome_hits_the_target_and_leaves_c_orthogonal_directions(seed, d, h):
    rng = np.random.default_rng(seed)
    W, k, v, C = rng.normal(size=(d, h)), rng.normal(size=h), rng.normal(size=d), _spd(rng, h)
    new = rome_update(W, k, v, C)
    np.testing.assert_allclose(new @ k, v, atol=1e-9)
    u = rng.normal(size=h)
    c_inv_k = np.linalg.solve(C, k)
    u -= (u @ c_inv_k) / (c_inv_k @ c_inv_k) * c_inv_k  # uᵀ C⁻¹ k = 0
    np.testing.assert_allclose(new @ u, W @ u, atol=1e-9)
    assert np.linalg.matrix_rank(new - W) == 1
    np.testing.assert_allclose(rome_sequential(W, k[:, None], v[:, None], C), new, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(
    seed=seeds,
    d=st.integers(1, 4),
    h=st.integers(2, 6),
    n=st.integers(1, 5),
    lam=st.sampled_from([0.0, 0.1, 10.0]),
)
def test_memit_equals_the_stacked_least_squares_solution(seed, d, h, n, lam):
    rng = np.random.default_rng(seed)
    R, K, C = rng.normal(size=(d, n)), rng.normal(size=(h, n)), _spd(rng, h)
    delta = memit_update(R, K, C, lam)
    # min ‖Δ K − R‖² + λ tr(Δ C Δᵀ) = min ‖Δ [K, √λ C^{1/2}] − [R, 0]‖²
    w, U = np.linalg.eigh(C)
    root = U @ np.diag(np.sqrt(w)) @ U.T
    big_k = np.hstack([K, np.sqrt(lam) * root])
    big_r = np.hstack([R, np.zeros((d, h))])
    direct = np.linalg.lstsq(big_k.T, big_r.T, rcond=None)[0].T
    np.testing.assert_allclose(delta, direct, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(
    seed=seeds,
    d=st.integers(1, 4),
    h=st.integers(3, 8),
    n0=st.integers(1, 6),
    n=st.integers(1, 4),
    alpha=st.sampled_from([0.01, 1.0, 5.0]),
)
def test_alphaedit_matches_the_basis_form_and_keeps_preserved_keys(seed, d, h, n0, n, alpha):
    rng = np.random.default_rng(seed)
    K0 = rng.normal(size=(h, n0))
    R, K = rng.normal(size=(d, n)), rng.normal(size=(h, n))
    P, dim = null_space_projector(K0)
    assert dim == max(0, h - n0)
    delta = alphaedit_update(R, K, P, alpha)
    np.testing.assert_allclose(delta @ K0, 0.0, atol=1e-9)  # preserved outputs kept
    w, U = np.linalg.eigh(K0 @ K0.T)
    B = U[:, w <= 1e-8 * w.max()]
    X = R @ K.T @ B @ np.linalg.inv(B.T @ K @ K.T @ B + alpha * np.eye(B.shape[1]))
    np.testing.assert_allclose(delta, X @ B.T, atol=1e-8)


def test_alphaedit_with_an_empty_null_space_changes_nothing():
    rng = np.random.default_rng(0)
    K0 = rng.normal(size=(4, 9))  # h = 4 ≤ 9 keys
    P, dim = null_space_projector(K0)
    assert dim == 0 and not P.any()
    assert not alphaedit_update(rng.normal(size=(2, 3)), rng.normal(size=(4, 3)), P).any()


def test_projector_is_idempotent_and_annihilates_the_keys():
    rng = np.random.default_rng(1)
    K0 = rng.normal(size=(7, 3))
    P, dim = null_space_projector(K0)
    assert dim == 4
    np.testing.assert_allclose(P @ P, P, atol=1e-12)
    np.testing.assert_allclose(P @ K0, 0.0, atol=1e-12)
    np.testing.assert_allclose(second_moment(K0), K0 @ K0.T / 3)


@pytest.mark.parametrize(
    "call",
    [
        lambda: rome_update(np.eye(2), np.ones(3), np.ones(2), np.eye(3)),
        lambda: rome_update(np.eye(2), np.ones(2), np.ones(2), np.zeros((2, 2))),
        lambda: rome_update(np.eye(2), np.ones(2), np.ones(2), -np.eye(2)),
        lambda: rome_sequential(np.eye(2), np.ones((2, 1)), np.ones((2, 1)), -np.eye(2)),
        lambda: rome_sequential(np.eye(2), np.ones((2, 2)), np.ones((2, 1)), np.eye(2)),
        lambda: memit_update(np.ones((2, 3)), np.ones((4, 2)), np.eye(4), 1.0),
        lambda: memit_update(np.ones((2, 2)), np.ones((4, 2)), np.eye(4), -1.0),
        lambda: memit_update(np.ones((2, 2)), np.ones((4, 2)), np.eye(3), 1.0),
        lambda: alphaedit_update(np.ones((2, 2)), np.ones((4, 2)), np.eye(4), 0.0),
        lambda: alphaedit_update(np.ones((2, 2)), np.ones((4, 2)), np.eye(3), 1.0),
        lambda: null_space_projector(np.ones((3, 2)), rel_tol=1.5),
        lambda: null_space_projector(np.full((3, 2), np.inf)),
    ],
    ids=[
        "rome-shape",
        "rome-singular",
        "rome-negative",
        "seq-not-pd",
        "seq-shape",
        "memit-count",
        "memit-lam",
        "memit-C",
        "alpha-zero",
        "alpha-P",
        "tol",
        "inf",
    ],
)
def test_invalid_calls(call):
    with pytest.raises(InvalidInputError):
        call()
