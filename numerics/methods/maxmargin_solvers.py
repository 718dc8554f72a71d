"""The convex block solves behind ``maxmargin``: squared-hinge margin programs with cutting
planes, and the margin LP whose dual gives a Farkas certificate.

A block fixes every weight but one matrix ``X`` (p×q) so that the outputs are linear in it,

.. math::

    y_i(X) = W\\,(s_i ⊙ X r_i) \\in \\mathbb R^d, \\qquad z_{ij} = ⟨v_j, y_i⟩,
    \\qquad m_{ij} = z_{i f(i)} − z_{ij},

(``W`` d×p the fixed read-out, ``s_i`` a fixed scale, ``r_i`` the fixed input) and minimises

.. math::

    J(X) = \\tfrac{λ}{2}\\lVert X − X_0\\rVert_F^2 + \\sum_{i,\\, j≠f(i)} \\max(0, γ − m_{ij})^2

(convex, λ-strongly convex, C¹). The solver works on a set of pairs: the ``competitors``
nearest values of each fact under the current X (cutting planes), solved by L-BFGS (strong
Wolfe line search) until the **restricted** gradient bound ``‖∇J‖²/(2λ) ≤ rtol·J``; then every
pair of the full program is scanned, the violated ones (``m_ij < γ``) outside the set are
added, and it repeats until none is left. A pair outside the set with ``m_ij ≥ γ`` adds
nothing to J or ∇J, so the last restricted solution meets the same bound for the full
program; :func:`theory.convex_certificates.check_block_certificate` re-checks that with its own
code.

The LP (:func:`margin_lp`) asks for ``m_ij(X) ≥ γ`` on a set of pairs; it is solved in its
Farkas form with scipy's HiGHS: ``{y ≥ 0, Σ y_ij ∇m_ij = 0, Σ y = 1}`` is
feasible exactly when the margin system is infeasible (Farkas), and then ``y`` is the
certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from theory.errors import SolverError

__all__ = ["BlockProblem", "solve_block", "margin_lp"]

_PAIR_CHUNK = 2**22  # logits scanned at once when looking for violated pairs


@dataclass
class BlockProblem:
    """One block: ``y_i = W (s_i ⊙ X r_i)``; ``S`` None means s_i = 1 (see module docstring)."""

    S: Tensor | None  # (F, p)
    R: Tensor  # (F, q)
    W: Tensor  # (d, p)
    values: Tensor  # (M, d)
    targets: Tensor  # (F,) long
    lam: float
    gamma: float
    X0: Tensor | None = None  # prox centre (zeros when None)

    def outputs(self, X: Tensor, rows: Tensor | slice = slice(None)) -> Tensor:
        feats = self.R[rows] @ X.T
        if self.S is not None:
            feats = feats * self.S[rows]
        return feats @ self.W.T

    def violated_pairs(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Every pair (i, j ≠ f(i)) with m_ij < γ, scanned in blocks."""
        n, m = self.R.shape[0], self.values.shape[0]
        step = max(1, _PAIR_CHUNK // max(m, 1))
        out_i, out_j = [], []
        for start in range(0, n, step):
            rows = torch.arange(start, min(n, start + step), device=self.R.device)
            z = self.outputs(X, rows) @ self.values.T
            own = z.gather(1, self.targets[rows, None])
            bad = (own - z) < self.gamma
            bad[torch.arange(rows.numel(), device=z.device), self.targets[rows]] = False
            ii, jj = torch.nonzero(bad, as_tuple=True)
            out_i.append(rows[ii])
            out_j.append(jj)
        return torch.cat(out_i), torch.cat(out_j)

    def nearest_pairs(self, X: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """For each fact its ``k`` competitors with the largest logit under X."""
        n, m = self.R.shape[0], self.values.shape[0]
        k = min(k, m - 1)
        step = max(1, _PAIR_CHUNK // max(m, 1))
        out_i, out_j = [], []
        for start in range(0, n, step):
            rows = torch.arange(start, min(n, start + step), device=self.R.device)
            z = self.outputs(X, rows) @ self.values.T
            z[torch.arange(rows.numel(), device=z.device), self.targets[rows]] = -torch.inf
            jj = torch.topk(z, k, dim=1).indices
            out_i.append(rows[:, None].expand(-1, k).reshape(-1))
            out_j.append(jj.reshape(-1))
        return torch.cat(out_i), torch.cat(out_j)

    def objective(self, X: Tensor, pi: Tensor, pj: Tensor) -> Tensor:
        """J restricted to the pairs (pi, pj)."""
        y = self.outputs(X)
        diff = X if self.X0 is None else X - self.X0
        m = (y[pi] * (self.values[self.targets[pi]] - self.values[pj])).sum(1)
        return 0.5 * self.lam * diff.pow(2).sum() + torch.relu(self.gamma - m).pow(2).sum()


def _preconditioner(problem: BlockProblem) -> tuple[Tensor, Tensor]:
    """A fixed change of variables ``X = L Y P`` that makes the block's Hessian nearer to
    isotropic: ``P = (RᵀR/F + εI)^{-1/2}`` (q×q) on the right, ``L`` diagonal with the
    inverse root-mean-square of each row's scale ``s·‖W col‖`` on the left. The program is
    unchanged (only the coordinates L-BFGS walks in)."""
    n = problem.R.shape[0]
    gram = problem.R.T @ problem.R / n
    eps = 1e-2 * float(torch.diagonal(gram).mean()) + 1e-300
    evals, evecs = torch.linalg.eigh(gram)
    right = (evecs * (evals.clamp_min(0) + eps).rsqrt()) @ evecs.T
    col = problem.W.norm(dim=0)
    if problem.S is not None:
        col = col * problem.S.pow(2).mean(0).sqrt()
    left = 1.0 / (col + 1e-6 * float(col.mean()) + 1e-300)
    return left, right


def _lbfgs(problem: BlockProblem, X: Tensor, pi: Tensor, pj: Tensor, rtol: float, max_iter: int):
    """L-BFGS (preconditioned) on the restricted program until ‖∇_X J‖²/(2λ) ≤ rtol·J."""
    left, right = _preconditioner(problem)
    right_inv = torch.linalg.pinv(right, hermitian=True)
    y = ((X / left[:, None]) @ right_inv).clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [y],
        lr=1.0,
        max_iter=50,
        history_size=30,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        value = problem.objective((left[:, None] * y) @ right, pi, pj)
        value.backward()
        return value

    def status():
        x = ((left[:, None] * y.detach()) @ right).requires_grad_(True)
        value = problem.objective(x, pi, pj)
        (grad,) = torch.autograd.grad(value, x)
        gnorm = float(grad.norm())
        value = float(value.detach())
        ok = gnorm**2 / (2 * problem.lam) <= rtol * max(value, 1e-300)
        return x.detach(), value, gnorm, ok

    iters = 0
    while True:
        x, value, gnorm, ok = status()
        if ok or iters >= max_iter or not np.isfinite(gnorm):
            return x, value, gnorm, iters, ok
        opt.step(closure)
        new_iters = int(opt.state[opt._params[0]].get("n_iter", iters + 50))
        if new_iters == iters:  # no progress possible (line search stalled at rounding level)
            x, value, gnorm, ok = status()
            return x, value, gnorm, iters, ok
        iters = new_iters


def solve_block(
    problem: BlockProblem,
    X: Tensor,
    *,
    competitors: int,
    rtol: float,
    max_iter: int,
    max_passes: int = 20,
) -> tuple[Tensor, dict]:
    """The block program's solution (module docstring) and a log of the solve.

    Raises
    ------
    SolverError
        The cutting planes did not close within ``max_passes`` or L-BFGS did not reach the
        stated bound within ``max_iter`` iterations.
    """
    pi, pj = problem.nearest_pairs(X, competitors)
    n_pairs = problem.values.shape[0]
    total_iters = 0
    for passes in range(1, max_passes + 1):
        X, value, gnorm, iters, ok = _lbfgs(problem, X, pi, pj, rtol, max_iter)
        total_iters += iters
        if not ok:
            raise SolverError(
                f"maxmargin: L-BFGS stopped at ‖∇J‖ = {gnorm:.3g} (J = {value:.6g}) after "
                f"{iters} iterations without reaching ‖∇J‖²/(2λ) ≤ {rtol}·J"
            )
        vi, vj = problem.violated_pairs(X)
        key_set = pi * n_pairs + pj
        new = ~torch.isin(vi * n_pairs + vj, key_set)
        n_new = int(new.sum())
        if n_new == 0:
            return X, {
                "objective": value,
                "grad_norm": gnorm,
                "lbfgs_iters": total_iters,
                "cut_passes": passes,
                "working_pairs": int(pi.numel()),
                "violated_pairs": int(vi.numel()),
            }
        pi, pj = torch.cat([pi, vi[new]]), torch.cat([pj, vj[new]])
    raise SolverError(f"maxmargin: cutting planes still adding pairs after {max_passes} passes")


def margin_lp(rows: np.ndarray, gamma: float) -> dict:
    """Is ``{x : rows @ x ≥ γ}`` feasible? Returns ``{"feasible": bool, "x" | "y": ...}``.

    Solves the Farkas alternative ``y ≥ 0, rowsᵀy = 0, Σy = 1`` with HiGHS: feasible means
    the margin system is infeasible and ``y`` is its certificate; infeasible means the margin
    system is feasible, and its solution is returned from the primal LP
    ``min 0 s.t. rows x ≥ γ``.
    """
    from scipy.optimize import linprog

    n, k = rows.shape
    a_eq = np.vstack([rows.T, np.ones((1, n))])
    b_eq = np.concatenate([np.zeros(k), [1.0]])
    dual = linprog(np.zeros(n), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if dual.status == 0:
        return {"feasible": False, "y": dual.x, "status": dual.message}
    if dual.status != 2:
        raise SolverError(f"maxmargin LP (Farkas form): HiGHS status {dual.status}: {dual.message}")
    primal = linprog(
        np.zeros(k), A_ub=-rows, b_ub=-gamma * np.ones(n), bounds=(None, None), method="highs"
    )
    if primal.status != 0:
        raise SolverError(f"maxmargin LP (primal): HiGHS status {primal.status}: {primal.message}")
    return {"feasible": True, "x": primal.x, "status": primal.message}
