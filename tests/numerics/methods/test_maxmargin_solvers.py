"""The Newton–CG block solver of ``maxmargin``: its derivatives and its stopping bound."""

from __future__ import annotations

import pytest
import torch

from numerics.methods import maxmargin_solvers as solvers
from numerics.methods.maxmargin_solvers import BlockProblem, solve_block
from theory.convex_certificates import block_objective_and_gradient, check_block_certificate

F64 = torch.float64


def _problem(seed: int, n=40, m=30, d=6, p=5, q=7, with_scale=True, prox=False):
    gen = torch.Generator().manual_seed(seed)
    S = torch.rand(n, p, generator=gen, dtype=F64) if with_scale else None
    R = torch.randn(n, q, generator=gen, dtype=F64)
    W = torch.randn(d, p, generator=gen, dtype=F64)
    values = torch.randn(m, d, generator=gen, dtype=F64)
    targets = torch.randint(0, m, (n,), generator=gen)
    X0 = torch.randn(p, q, generator=gen, dtype=F64) if prox else None
    problem = BlockProblem(S, R, W, values, targets, lam=0.3, gamma=1.0, X0=X0)
    return problem, torch.randn(p, q, generator=gen, dtype=F64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_and_gradient_match_the_independent_numpy_code(seed):
    problem, X = _problem(seed, prox=seed == 2, with_scale=seed != 1)
    value, grad, active = problem.gradient(X)
    ref_value, ref_grad, ref_active = block_objective_and_gradient(
        None if problem.S is None else problem.S.numpy(),
        problem.R.numpy(),
        problem.U.numpy(),
        problem.targets.numpy(),
        X.numpy(),
        lam=problem.lam,
        gamma=problem.gamma,
        X0=None if problem.X0 is None else problem.X0.numpy(),
    )
    assert value == pytest.approx(ref_value, rel=1e-12)
    assert torch.allclose(grad, torch.as_tensor(ref_grad), rtol=1e-10, atol=1e-10)
    assert active.count == ref_active


@pytest.mark.parametrize("sparse", [True, False])
def test_hessian_product_is_the_derivative_of_the_gradient(sparse, monkeypatch):
    # Both paths (active-pair list, dense logits) against central differences of ∇J: J is
    # piecewise quadratic, so a step too small to change the active set gives H·P exactly.
    monkeypatch.setattr(solvers, "_SPARSE_FRACTION", 1.0 if sparse else 0.0)
    problem, X = _problem(3)
    _, _, active = problem.gradient(X)
    assert (active.masks is None) == sparse
    P = torch.randn(X.shape, generator=torch.Generator().manual_seed(9), dtype=F64)
    eps = 1e-7
    _, g_plus, a_plus = problem.gradient(X + eps * P)
    _, g_minus, a_minus = problem.gradient(X - eps * P)
    assert a_plus.count == a_minus.count == active.count  # no kink crossed
    numeric = (g_plus - g_minus) / (2 * eps)
    assert torch.allclose(problem.hessian_product(P, active), numeric, rtol=1e-5, atol=1e-6)


def test_solution_passes_the_independent_recheck_and_a_tighter_tolerance_is_better():
    problem, X = _problem(4, n=80, m=60)
    args = (
        problem.S.numpy(),
        problem.R.numpy(),
        problem.U.numpy(),
        problem.targets.numpy(),
    )
    loose, log = solve_block(problem, X, rtol=1e-2, max_iter=100)
    tight, _ = solve_block(problem, X, rtol=1e-9, max_iter=100)
    for sol, rtol in ((loose, 1e-2), (tight, 1e-9)):
        cert = check_block_certificate(*args, sol.numpy(), lam=problem.lam, gamma=1.0, rtol=rtol)
        assert cert["passed"], cert
    assert log["newton_steps"] >= 1
    # The loose solution is within its stated gap of the (nearly exact) tight one.
    j_loose = problem.objective(loose)
    j_tight = problem.objective(tight)
    assert j_tight <= j_loose <= j_tight + 1e-2 * j_loose * 1.0001


def test_an_iteration_cap_that_is_too_small_raises():
    problem, X = _problem(5, n=80, m=60)
    from theory.errors import SolverError

    with pytest.raises(SolverError, match="Newton stopped"):
        solve_block(problem, X, rtol=1e-12, max_iter=1)
