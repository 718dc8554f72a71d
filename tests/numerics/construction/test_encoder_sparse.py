"""Tests of numerics/construction/encoder_sparse.py: threshold-ReLU caps, the kernel solved by CG.

Codes are recomputed with numpy from the documented layout (ReLU(g_n·k − τ_n)(a_{t,n}·k)),
never taken from the solver's report.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.construction.encoder_sparse import solve_encoder_sparse
from theory.errors import InvalidInputError, SolverError


def unit_keys(n_facts: int, dim: int, seed: int) -> np.ndarray:
    keys = np.random.default_rng(seed).standard_normal((n_facts, dim))
    return keys / np.linalg.norm(keys, axis=1, keepdims=True)


def codes_of(sol, keys: np.ndarray) -> np.ndarray:
    gate = np.maximum(keys @ sol.gate_rows.numpy().T + sol.gate_bias.numpy(), 0.0)  # (F, N)
    inner = np.einsum("fd,tnd->ftn", keys, sol.up.numpy())
    return np.einsum("fn,ftn->ft", gate, inner)


@given(
    st.integers(8, 40),
    st.integers(40, 400),
    st.integers(1, 4),
    st.integers(0, 2**31 - 1),
    st.sampled_from([1e-3, 1.0, 1e3]),
)
@settings(max_examples=20, deadline=None)
def test_codes_are_hit_on_unit_keys(dim, n_facts, n_codes, seed, scale):
    keys = unit_keys(n_facts, dim, seed) * scale
    targets = np.random.default_rng(seed + 1).standard_normal((n_facts, n_codes))
    sol = solve_encoder_sparse(keys, targets, generator=torch.Generator().manual_seed(seed))
    error = np.linalg.norm(codes_of(sol, keys) - targets, axis=1)
    assert error.max() <= 1e-7 * np.linalg.norm(targets, axis=1).max()
    assert sol.method == "sparse" and sol.up_bias is None


@pytest.mark.parametrize("tolerance", [1e-6, 1e-10])
def test_the_default_cg_stop_meets_the_code_tolerance(tolerance):
    """The default CG stop is derived from ``tolerance``: every code within it (numpy
    recomputation, relative to max(‖T_i‖, RMS ‖T‖)); a loose tolerance takes fewer
    iterations than the old fixed stop (1e-11)."""
    keys = unit_keys(800, 12, 6)
    targets = np.random.default_rng(7).standard_normal((800, 3))
    sol = solve_encoder_sparse(keys, targets, tolerance=tolerance)
    norms = np.linalg.norm(targets, axis=1)
    reference = np.maximum(norms, np.sqrt(np.mean(norms**2)))
    error = np.linalg.norm(codes_of(sol, keys) - targets, axis=1) / reference
    assert error.max() <= tolerance
    if tolerance >= 1e-6:
        fixed = solve_encoder_sparse(keys, targets, tolerance=tolerance, tol=1e-11)
        assert fixed.cg_iterations > sol.cg_iterations


def test_every_key_is_in_a_cap_and_caps_are_small():
    keys = unit_keys(600, 16, 0)
    sol = solve_encoder_sparse(keys, np.ones((600, 2)), active_per_key=4.0)
    active = (keys @ sol.gate_rows.numpy().T + sol.gate_bias.numpy()) > 0
    assert active.any(axis=1).all()  # no zero row of Φ
    n_random = math.ceil(1.1 * 600 / 16)
    q = round(4.0 * 600 / n_random)
    assert active[:, :n_random].sum(axis=0).max() <= q + q // 8
    assert 3.0 <= active[:, :n_random].sum(axis=1).mean() <= 5.0  # ≈ p caps per key


def test_same_seed_same_weights():
    keys = unit_keys(200, 12, 1)
    targets = np.random.default_rng(2).standard_normal((200, 3))
    a = solve_encoder_sparse(keys, targets, generator=torch.Generator().manual_seed(7))
    b = solve_encoder_sparse(keys, targets, generator=torch.Generator().manual_seed(7))
    assert a.gate_rows.numpy().tobytes() == b.gate_rows.numpy().tobytes()
    assert a.up.numpy().tobytes() == b.up.numpy().tobytes()


def test_a_key_deep_inside_the_others_is_refused():
    """A key at the centre of a shell is in no small cap (every halfspace holding it holds
    about half the shell): the sparse encoder refuses, naming the key."""
    keys = np.vstack([unit_keys(400, 6, 3), np.zeros((1, 6)) + 1e-3])
    with pytest.raises(InvalidInputError, match=r"keys\[400\].*deep inside"):
        solve_encoder_sparse(keys, np.ones((401, 1)))


def test_too_few_iterations_is_a_solver_error():
    keys = unit_keys(300, 10, 4)
    targets = np.random.default_rng(5).standard_normal((300, 2))
    with pytest.raises(SolverError, match="CG reached relative residual"):
        solve_encoder_sparse(keys, targets, max_iterations=2)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"slack": -0.1}, "slack must be finite"),
        ({"active_per_key": 0.0}, "active_per_key must be finite and > 0"),
        ({"tol": 0.0}, r"tol must lie in \(0, 1\)"),
        ({"tolerance": 1.5}, r"tolerance must lie in \(0, 1\)"),
        ({"max_iterations": 0}, "max_iterations must be an integer ≥ 1"),
    ],
    ids=["slack", "active", "tol", "tolerance", "iterations"],
)
def test_invalid_arguments(kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        solve_encoder_sparse(unit_keys(30, 4, 0), np.ones((30, 1)), **kwargs)


@pytest.mark.parametrize(
    "keys, pattern",
    [
        (np.zeros((3, 2)), r"keys\[0\] is zero"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), r"keys\[\(0, 1\)\] is not finite"),
    ],
    ids=["zero-key", "inf"],
)
def test_invalid_keys(keys, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        solve_encoder_sparse(keys, np.ones((len(keys), 1)))


def test_no_kernel_eigenvalue_bound_is_claimed():
    """Only the dense encoder factors a kernel it can certify; this one records NaN."""
    keys = np.random.default_rng(3).standard_normal((64, 8))
    sol = solve_encoder_sparse(keys, np.ones((64, 2)))
    assert np.isnan(sol.kernel_eigenvalue_lower_bound)
