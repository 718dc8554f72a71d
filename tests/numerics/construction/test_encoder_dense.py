"""Tests of numerics/construction/encoder_dense.py: the up projection is solved so that every key hits its code.

The codes of the returned weights are recomputed here with numpy from the layout the module
documents (h = m·r hidden neurons; group t shares the gate rows G0 and bias b and feeds code
coordinate t):

    c_t(k) = Σ_n σ(g_n·k + b_n) (a_{t,n}·k + b'_{t,n}),

never from the solver's own report.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.construction.encoder_dense import (
    EncoderSolution,
    draw_gates,
    solve_encoder,
    whitening_basis,
)
from proofs_check.decoder_correctness import _activation
from theory.errors import InvalidInputError, SolverError
from theory.param_count import encoder_gate_rows


def codes_of(sol: EncoderSolution, keys: np.ndarray, activation: str = "silu") -> np.ndarray:
    """c(k) (F×m) from the solution's tensors, numpy only."""
    gate = keys @ sol.gate_rows.numpy().T
    if sol.gate_bias is not None:
        gate = gate + sol.gate_bias.numpy()
    s = _activation(activation, gate)  # (F, r)
    inner = np.einsum("fd,trd->ftr", keys, sol.up.numpy())  # (F, m, r)
    if sol.up_bias is not None:
        inner = inner + sol.up_bias.numpy()[None]
    return np.einsum("fr,ftr->ft", s, inner)


def relative_error(sol: EncoderSolution, keys, targets, activation="silu") -> float:
    got = codes_of(sol, keys, activation)
    return float(np.max(np.linalg.norm(got - targets, axis=1) / np.linalg.norm(targets, axis=1)))


def generic(n_facts: int, dim: int, n_codes: int, seed: int):
    rng = np.random.default_rng(seed)
    keys = rng.standard_normal((n_facts, dim))
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    return keys, rng.standard_normal((n_facts, n_codes))


# --------------------------------------------------------------------------- hitting the codes


@st.composite
def generic_problems(draw):
    """Generic unit keys with F ≤ 4d (the conditioning of Q grows fast with F/d at small d;
    that regime is exercised through construct in test_construct.py), arbitrary targets."""
    dim = draw(st.integers(3, 10))
    n_facts = draw(st.integers(1, 4 * dim))
    keys, targets = generic(n_facts, dim, draw(st.integers(1, 5)), draw(st.integers(0, 2**31 - 1)))
    return keys * draw(st.sampled_from([1e-6, 1.0, 1e6])), targets


@given(generic_problems(), st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_arbitrary_targets_are_hit_on_generic_keys(problem, seed):
    keys, targets = problem
    sol = solve_encoder(keys, targets, generator=torch.Generator().manual_seed(seed))
    error = np.linalg.norm(codes_of(sol, keys) - targets, axis=1)
    assert error.max() <= 1e-10 * np.linalg.norm(targets, axis=1).max()
    # the reported error is that of the built weights (up to the rounding of this recomputation)
    assert sol.max_code_error <= error.max() + 1e-11 * np.linalg.norm(targets, axis=1).max()
    assert error.max() <= sol.max_code_error + 1e-11 * np.linalg.norm(targets, axis=1).max()


@pytest.mark.parametrize("activation", ["silu", "gelu", "relu"])
def test_other_gates_hit_targets(activation):
    keys, targets = generic(30, 6, 3, 11)
    sol = solve_encoder(keys, targets, activation=activation)
    assert relative_error(sol, keys, targets, activation) <= 1e-10


def test_relu_gate_rows_come_in_plus_minus_pairs():
    keys, targets = generic(30, 6, 2, 4)
    sol = solve_encoder(keys, targets, activation="relu")
    rows = sol.gate_rows.numpy()
    half = rows.shape[0] // 2
    assert rows.shape[0] % 2 == 0 and np.array_equal(rows[half:], -rows[:half])
    assert ((keys @ rows.T) > 0).any(axis=1).all()  # every key meets an active gate


def test_zero_key_with_bias_reaches_its_code():
    keys, targets = generic(12, 5, 3, 2)
    keys[4] = 0.0
    sol = solve_encoder(keys, targets, bias=True)
    assert sol.gate_bias is not None and sol.up_bias is not None
    got = codes_of(sol, keys)
    assert np.linalg.norm(got[4] - targets[4]) <= 1e-10 * np.linalg.norm(targets[4])
    assert relative_error(sol, keys, targets) <= 1e-10


def test_identical_keys_with_identical_targets_are_solved_once_and_both_hit():
    keys, targets = generic(10, 5, 2, 3)
    keys[7], targets[7] = keys[2], targets[2]
    keys[8] = -0.0 * keys[8] + keys[5]  # a -0.0 entry must not split identical keys
    targets[8] = targets[5]
    sol = solve_encoder(keys, targets)
    assert relative_error(sol, keys, targets) <= 1e-10
    # 8 distinct keys: r = ⌈1.05·8/5⌉ = 2 (sized by the distinct keys, not by F = 10)
    assert sol.group_size == math.ceil(1.05 * 8 / 5)


def test_keys_in_a_subspace_size_the_group_by_their_rank():
    """Keys spanning q = 3 of d = 8 dimensions: Φ_i = σ(G0 k_i) ⊗ k_i has rank ≤ r·q, so the
    group needs r·q ≥ F (regression: r = ⌈1.05·12/8⌉ = 2 gave rank ≤ 6 < 12, a singular kernel)."""
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((8, 3)))[0]
    keys = rng.standard_normal((12, 3)) @ basis.T
    targets = rng.standard_normal((12, 3))
    sol = solve_encoder(keys, targets)
    assert sol.group_size * 3 >= 12
    assert relative_error(sol, keys, targets) <= 1e-10


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda k, t: (k[:, :, None], t), r"must be \(F, d\) and \(F, m\)"),
        (lambda k, t: (k, t[:-1]), r"must be \(F, d\) and \(F, m\)"),
        (lambda k, t: (k, t[:, 0]), r"must be \(F, d\) and \(F, m\)"),
        (lambda k, t: (k[:0], t[:0]), r"F ≥ 1"),
        (
            lambda k, t: (np.where(np.arange(k.size).reshape(k.shape) == 4, np.nan, k), t),
            r"keys\[\(1, 1\)\] is not finite",
        ),
        (lambda k, t: (k, np.full_like(t, np.inf)), r"targets\[\(0, 0\)\] is not finite"),
    ],
    ids=["keys-3d", "rows-differ", "targets-1d", "empty", "nan-key", "inf-target"],
)
def test_shape_errors(make, pattern):
    keys, targets = make(*generic(6, 3, 2, 0))
    with pytest.raises(InvalidInputError, match=pattern):
        solve_encoder(keys, targets)


def test_identical_keys_with_different_targets_are_refused():
    keys, targets = generic(6, 3, 2, 0)
    keys[3] = keys[1]
    with pytest.raises(InvalidInputError, match="identical keys have different targets"):
        solve_encoder(keys, targets)


def test_zero_key_without_bias_is_refused():
    keys, targets = generic(6, 3, 2, 0)
    keys[2] = 0.0
    with pytest.raises(InvalidInputError, match=r"zero key .* without biases"):
        solve_encoder(keys, targets)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"slack": -1.0}, InvalidInputError, "slack must be finite"),
        ({"slack": float("inf")}, InvalidInputError, "slack must be finite"),
        ({"activation": "tanh"}, InvalidInputError, "activation 'tanh' is unknown"),
    ],
    ids=["slack-negative", "slack-inf", "activation"],
)
def test_invalid_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        solve_encoder(*generic(6, 3, 2, 0), **kwargs)


def test_identity_gate_beyond_the_quadratic_forms_is_a_solver_error():
    """Identity gate, no bias: every code coordinate is a quadratic form kᵀSk (a d(d+1)/2 = 6
    dimensional space for d = 3), so 20 generic keys cannot all hit generic targets."""
    keys, targets = generic(20, 3, 2, 1)
    with pytest.raises(SolverError, match=r"at most d'\(d'\+1\)/2 = 6 generic facts"):
        solve_encoder(keys, targets, activation="identity")


def test_identity_gate_within_the_forms_but_beyond_the_rows_checks_its_codes():
    """F = 6 = d(d+1)/2 for d = 3: reachable only with r = d rows (the group is sized so);
    either every code is hit or a SolverError is raised, never a silently wrong solution."""
    keys, targets = generic(6, 3, 2, 1)
    try:
        sol = solve_encoder(keys, targets, activation="identity", slack=0.0)
    except SolverError:
        return
    assert sol.group_size == 3
    assert relative_error(sol, keys, targets, "identity") <= 1e-8


# --------------------------------------------------------------------------- the solution object


@pytest.mark.parametrize("bias", [False, True])
def test_shapes_and_device(bias):
    n_facts, dim, n_codes = 25, 6, 4
    keys, targets = generic(n_facts, dim, n_codes, 5)
    sol = solve_encoder(keys, targets, bias=bias, device="cpu")
    r = sol.group_size
    assert r * (dim + bias) >= n_facts  # unknowns ≥ equations per coordinate
    assert r == math.ceil(1.05 * n_facts / (dim + bias))  # and no more than the slack asks
    assert tuple(sol.gate_rows.shape) == (r, dim)
    assert tuple(sol.up.shape) == (n_codes, r, dim)
    if bias:
        assert tuple(sol.gate_bias.shape) == (r,) and tuple(sol.up_bias.shape) == (n_codes, r)
    else:
        assert sol.gate_bias is None and sol.up_bias is None
    tensors = [sol.gate_rows, sol.up] + ([sol.gate_bias, sol.up_bias] if bias else [])
    assert all(t.device.type == "cpu" and t.dtype == torch.float64 for t in tensors)
    assert sol.kernel_condition >= 1.0
    assert sol.amplification >= 1.0 - 1e-12  # Σ|terms| ≥ |Σ terms|
    assert 0 <= sol.refinements <= 8


def test_more_slack_gives_more_rows_and_a_better_conditioned_kernel():
    keys, targets = generic(40, 5, 2, 8)
    tight = solve_encoder(keys, targets, slack=0.0)
    loose = solve_encoder(keys, targets, slack=1.0)
    assert loose.group_size == 2 * tight.group_size == 16
    assert loose.kernel_condition < tight.kernel_condition


def test_same_seed_same_weights_different_seed_different_gates():
    keys, targets = generic(20, 5, 3, 9)
    a = solve_encoder(keys, targets, generator=torch.Generator().manual_seed(3))
    b = solve_encoder(keys, targets, generator=torch.Generator().manual_seed(3))
    c = solve_encoder(keys, targets, generator=torch.Generator().manual_seed(4))
    assert a.gate_rows.numpy().tobytes() == b.gate_rows.numpy().tobytes()
    assert a.up.numpy().tobytes() == b.up.numpy().tobytes()
    assert not torch.equal(a.gate_rows, c.gate_rows)
    assert relative_error(c, keys, targets) <= 1e-10


def test_kernel_condition_estimate_is_close_to_the_true_condition_number():
    """κ(Q), Q = ΦΦᵀ in whitened coordinates: Φ_i = σ(G0 k_i) ⊗ z_i, z = Bᵀk."""
    keys, targets = generic(15, 4, 1, 12)
    sol = solve_encoder(keys, targets)
    s = _activation("silu", keys @ sol.gate_rows.numpy().T)
    z = keys @ whitening_basis(keys)
    phi = (s[:, :, None] * z[:, None, :]).reshape(len(keys), -1)
    true = np.linalg.cond(phi @ phi.T)
    assert true / 10 <= sol.kernel_condition <= true * (1 + 1e-6)


# --------------------------------------------------------------------------- hard key sets


def test_ill_conditioned_keys_are_whitened_and_hit():
    """κ(K) = 1e4: without whitening the kernel's condition is ≈ κ² larger and its Cholesky
    factorisation fails (regression: conditioned family, F = 149, d = 7)."""
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.standard_normal((7, 7)))
    keys = rng.standard_normal((120, 7)) @ np.diag(np.logspace(0, -4, 7)) @ q.T * 1e3
    targets = rng.standard_normal((120, 4))
    sol = solve_encoder(keys, targets, bias=True)
    assert sol.key_rank == 7
    assert relative_error(sol, keys, targets) <= 1e-8


def test_near_duplicate_keys_with_one_target_are_hit():
    """Keys 1e-9 apart with the same target make Q numerically singular; the system is still
    consistent, so the regularised factor plus refinement must hit every code."""
    keys, targets = generic(20, 6, 3, 0)
    keys[1] = keys[0] * (1 + 1e-9)
    targets[1] = targets[0]
    sol = solve_encoder(keys, targets)
    assert relative_error(sol, keys, targets) <= 1e-8


def test_whitening_basis_whitens_the_keys_and_finds_their_rank():
    rng = np.random.default_rng(1)
    keys = rng.standard_normal((50, 3)) @ rng.standard_normal((3, 9))  # rank 3 in R^9
    basis = whitening_basis(keys)
    z = keys @ basis
    assert basis.shape == (9, 3)
    np.testing.assert_allclose(z.T @ z / 50, np.eye(3), atol=1e-10)


@pytest.mark.parametrize("activation", ["silu", "relu"])
def test_group_size_is_the_theory_count(activation):
    keys, targets = generic(100, 8, 2, 0)
    sol = solve_encoder(keys, targets, activation=activation)
    assert sol.group_size == encoder_gate_rows(100, 8, 0.05, activation)
    assert relative_error(sol, keys, targets, activation) <= 1e-8


@pytest.mark.parametrize("activation,slack", [("gelu", 0.0), ("silu", 0.0), ("silu", 0.05)])
def test_refinement_never_returns_weights_worse_than_the_direct_solve(
    monkeypatch, activation, slack
):
    # At the rounding floor a refinement step can make the error slightly worse; the solver
    # keeps its best iterate, so its error is at most that of the unrefined solve.
    import numerics.construction.encoder_dense as module

    rng = np.random.default_rng(0)
    K, T = rng.standard_normal((400, 6)), rng.standard_normal((400, 3))
    refined = solve_encoder(K, T, activation=activation, slack=slack, tolerance=1e-4)
    monkeypatch.setattr(module, "_MAX_REFINEMENTS", 0)
    direct = solve_encoder(K, T, activation=activation, slack=slack, tolerance=1e-4)
    assert direct.refinements == 0
    assert refined.max_code_error <= direct.max_code_error


# --------------------------------------------------------------------------- kernel certificate


def _drawn_kernel_spectrum(keys: np.ndarray, seed: int, activation: str = "silu"):
    """λ_min, λ_max of the float kernel at the encoder's point, recomputed with numpy from
    the whitening and the gate draw it documents; and the whitened gate rows G_z."""
    unique = np.unique(keys + 0.0, axis=0)
    basis = whitening_basis(unique)
    gate_z, _ = draw_gates(
        len(unique),
        basis.shape[1],
        activation=activation,
        slack=0.05,
        bias=False,
        generator=torch.Generator().manual_seed(seed),
    )
    Z = unique @ basis
    S = _activation(activation, Z @ gate_z.numpy().T)
    eigenvalues = np.linalg.eigvalsh((S @ S.T) * (Z @ Z.T))
    return eigenvalues[0], eigenvalues[-1], gate_z.numpy() @ basis.T


def test_the_kernel_eigenvalue_bound_is_positive_and_below_the_kernel_spectrum():
    keys, targets = generic(80, 6, 3, 0)
    sol = solve_encoder(keys, targets, generator=torch.Generator().manual_seed(3))
    smallest, largest, gate = _drawn_kernel_spectrum(keys, 3)
    np.testing.assert_allclose(sol.gate_rows.numpy(), gate, rtol=1e-12)  # the same draw
    bound = sol.kernel_eigenvalue_lower_bound
    # Z differs from the encoder's (torch) Z by rounding: eigenvalues move by ~u·λ_max
    assert smallest / 10 <= bound <= smallest + 1e-12 * largest


def test_a_nearly_singular_kernel_is_not_certified():
    """Two keys 1e-9 apart with one code: λ_min(Q) ~ 1e-18·λ_max, below float64's reach; the
    solve regularises and the bound must not claim more than that."""
    keys, targets = generic(20, 6, 3, 0)
    keys[1] = keys[0] * (1 + 1e-9)
    targets[1] = targets[0]
    sol = solve_encoder(keys, targets)
    _, largest, _ = _drawn_kernel_spectrum(keys, 0)
    assert not sol.kernel_eigenvalue_lower_bound > 1e-12 * largest


def test_the_certificate_is_computed_once_per_point(monkeypatch):
    import numerics.construction.encoder_dense as module

    calls = []
    real = module.kernel_eigenvalue_certificate
    monkeypatch.setattr(
        module, "kernel_eigenvalue_certificate", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    module._last_kernel_bound.clear()
    keys, targets = generic(60, 5, 2, 1)
    first = solve_encoder(keys, targets)
    again = solve_encoder(keys, 2 * targets)  # other codes, same keys and draw: cached
    assert (
        len(calls) == 1
        and again.kernel_eigenvalue_lower_bound == first.kernel_eigenvalue_lower_bound
    )
    solve_encoder(keys, targets, generator=torch.Generator().manual_seed(1))  # another draw
    assert len(calls) == 2
