"""Re-checks of convex block certificates and Farkas certificates (theory.convex_certificates)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from theory.convex_certificates import (
    block_logits,
    block_objective_and_gradient,
    check_block_certificate,
    check_farkas_certificate,
    check_ridge_certificate,
    margin_constraint_rows,
)
from theory.errors import InvalidInputError


def _problem(seed=0, n=20, m=6, p=4, q=3):
    rng = np.random.default_rng(seed)
    S = rng.normal(size=(n, p))
    R = rng.normal(size=(n, q))
    U = rng.normal(size=(m, p))
    targets = rng.integers(0, m, size=n)
    return S, R, U, targets


def _solve(S, R, U, targets, lam, gamma, X0=None):
    p, q = U.shape[1], R.shape[1]

    def fun(x):
        value, grad, _ = block_objective_and_gradient(
            S, R, U, targets, x.reshape(p, q), lam=lam, gamma=gamma, X0=X0
        )
        return value, grad.ravel()

    res = minimize(
        fun,
        np.zeros(p * q),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-13, "ftol": 1e-16, "maxiter": 10000},
    )
    return res.x.reshape(p, q)


def test_gradient_matches_finite_differences():
    S, R, U, targets = _problem()
    X = np.random.default_rng(1).normal(size=(4, 3))
    _, grad, _ = block_objective_and_gradient(S, R, U, targets, X, lam=0.3, gamma=1.0)
    eps = 1e-6
    for a, b in [(0, 0), (2, 1), (3, 2)]:
        E = np.zeros_like(X)
        E[a, b] = eps
        up, _, _ = block_objective_and_gradient(S, R, U, targets, X + E, lam=0.3, gamma=1.0)
        dn, _, _ = block_objective_and_gradient(S, R, U, targets, X - E, lam=0.3, gamma=1.0)
        assert (up - dn) / (2 * eps) == pytest.approx(grad[a, b], rel=1e-5, abs=1e-6)


def test_logits_are_the_stated_bilinear_form():
    S, R, U, _ = _problem()
    X = np.random.default_rng(2).normal(size=(4, 3))
    z = block_logits(S, R, U, X)
    i, c = 5, 2
    assert z[i, c] == pytest.approx(sum(U[c, a] * S[i, a] * (X @ R[i])[a] for a in range(4)))


def test_solution_passes_and_corrupted_solution_fails():
    S, R, U, targets = _problem()
    X = _solve(S, R, U, targets, lam=0.1, gamma=1.0)
    ok = check_block_certificate(S, R, U, targets, X, lam=0.1, gamma=1.0, rtol=1e-8)
    assert ok["passed"], ok
    bad = X + 1e-2 * np.random.default_rng(3).normal(size=X.shape)
    ko = check_block_certificate(S, R, U, targets, bad, lam=0.1, gamma=1.0, rtol=1e-8)
    assert not ko["passed"] and ko["gap_bound"] > ok["gap_bound"]
    # The bound really bounds the suboptimality of the corrupted point.
    assert ko["objective"] - ok["objective"] <= ko["gap_bound"] + 1e-12


def test_prox_centre_and_unit_scale():
    S, R, U, targets = _problem(seed=4)
    X0 = np.ones((4, 3))
    X = _solve(None, R, U, targets, lam=0.5, gamma=1.0, X0=X0)
    assert check_block_certificate(None, R, U, targets, X, lam=0.5, gamma=1.0, X0=X0, rtol=1e-8)[
        "passed"
    ]
    assert not check_block_certificate(None, R, U, targets, X, lam=0.5, gamma=1.0, rtol=1e-8)[
        "passed"
    ]


def test_bad_arguments():
    S, R, U, targets = _problem()
    with pytest.raises(InvalidInputError):
        check_block_certificate(S, R, U, targets, np.zeros((3, 3)), lam=0.1, gamma=1.0)
    with pytest.raises(InvalidInputError):
        check_block_certificate(S, R, U, targets, np.zeros((4, 3)), lam=0.0, gamma=1.0)


def test_farkas_certificate_of_contradictory_margins():
    # Two facts whose margins are x and −x: x ≥ 1 and −x ≥ 1 cannot both hold.
    U = np.array([[1.0], [0.0]])
    R = np.ones((2, 1))
    targets = np.array([0, 1])
    pairs = np.array([[0, 1], [1, 0]])
    rows = margin_constraint_rows(None, R, U, targets, pairs)
    np.testing.assert_allclose(rows, [[1.0], [-1.0]])
    good = check_farkas_certificate(None, R, U, targets, pairs, [0.5, 0.5], gamma=1.0)
    assert good["passed"] and good["radius"] == float("inf")
    bad = check_farkas_certificate(None, R, U, targets, pairs, [1.0, 0.0], gamma=1.0)
    assert not bad["passed"]
    neg = check_farkas_certificate(None, R, U, targets, pairs, [0.5, -0.5], gamma=1.0)
    assert not neg["passed"]


def test_ridge_certificate():
    rng = np.random.default_rng(5)
    R, T = rng.normal(size=(30, 5)), rng.normal(size=(30, 3))
    lam = 0.2
    X = np.linalg.solve(R.T @ R + lam * np.eye(5), R.T @ T).T
    assert check_ridge_certificate(R, T, X, lam=lam, rtol=1e-10)["passed"]
    assert not check_ridge_certificate(R, T, X + 1e-3, lam=lam, rtol=1e-10)["passed"]
