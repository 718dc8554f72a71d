"""Tests of numerics/construction/encoder_spline.py: linear interpolation of the codes along one direction.

The codes are recomputed here with numpy from the documented layout (ReLU gates, zero up
rows, up biases), never taken from the solver's report.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.construction.encoder_spline import solve_encoder_spline
from theory.errors import InvalidInputError


def codes_of(sol, keys: np.ndarray) -> np.ndarray:
    gate = np.maximum(keys @ sol.gate_rows.numpy().T + sol.gate_bias.numpy(), 0.0)  # (F, r)
    inner = np.einsum("fd,trd->ftr", keys, sol.up.numpy()) + sol.up_bias.numpy()[None]
    return np.einsum("fr,ftr->ft", gate, inner)


@given(
    st.integers(1, 60),
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(0, 2**31 - 1),
    st.sampled_from([1e-6, 1.0, 1e6]),
)
@settings(max_examples=40, deadline=None)
def test_every_code_is_hit_for_distinct_keys(n_facts, dim, n_codes, seed, scale):
    rng = np.random.default_rng(seed)
    keys = rng.standard_normal((n_facts, dim)) * scale
    targets = rng.standard_normal((n_facts, n_codes))
    sol = solve_encoder_spline(keys, targets, generator=torch.Generator().manual_seed(seed))
    error = np.linalg.norm(codes_of(sol, keys) - targets, axis=1)
    assert error.max() <= 1e-8 * np.linalg.norm(targets, axis=1).max()
    assert sol.group_size == n_facts and sol.method == "spline"


def test_keys_on_a_circle_with_tiny_gaps_are_hit():
    """The case that defeats the dense solve: 50 keys on a circle in d = 2."""
    angles = np.sort(np.random.default_rng(0).uniform(0, 2 * np.pi, 50))
    keys = np.column_stack([np.cos(angles), np.sin(angles)])
    targets = np.random.default_rng(1).standard_normal((50, 3))
    sol = solve_encoder_spline(keys, targets)
    assert np.abs(codes_of(sol, keys) - targets).max() <= 1e-8


def test_identical_keys_share_a_knot_and_conflicting_targets_are_refused():
    keys = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0]])
    targets = np.array([[1.0], [1.0], [2.0]])
    sol = solve_encoder_spline(keys, targets)
    assert sol.group_size == 2
    with pytest.raises(InvalidInputError, match="identical keys have different targets"):
        solve_encoder_spline(keys, np.array([[1.0], [3.0], [2.0]]))


def test_same_seed_same_weights():
    rng = np.random.default_rng(2)
    keys, targets = rng.standard_normal((20, 4)), rng.standard_normal((20, 2))
    a = solve_encoder_spline(keys, targets, generator=torch.Generator().manual_seed(5))
    b = solve_encoder_spline(keys, targets, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.gate_rows, b.gate_rows) and torch.equal(a.up_bias, b.up_bias)


@pytest.mark.parametrize(
    "keys, targets, pattern",
    [
        (np.ones((3, 2, 1)), np.ones((3, 1)), r"must be \(F, d\) and \(F, m\)"),
        (np.ones((3, 2)), np.ones((2, 1)), r"must be \(F, d\) and \(F, m\)"),
        (np.full((2, 2), np.nan), np.ones((2, 1)), "finite"),
    ],
    ids=["keys-3d", "rows-differ", "nan"],
)
def test_invalid_calls(keys, targets, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        solve_encoder_spline(keys, targets)


def test_no_kernel_eigenvalue_bound_is_claimed():
    """Only the dense encoder factors a kernel it can certify; this one records NaN."""
    keys = np.random.default_rng(3).standard_normal((64, 8))
    sol = solve_encoder_spline(keys, np.ones((64, 2)))
    assert np.isnan(sol.kernel_eigenvalue_lower_bound)
