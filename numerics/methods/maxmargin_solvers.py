"""The convex block solves behind ``maxmargin``: squared-hinge margin programs over every
pair, solved by a semismooth Newton method with conjugate gradients, and the margin LP whose
dual gives a Farkas certificate.

A block fixes every weight but one matrix ``X`` (p×q) so that the outputs are linear in it,

.. math::

    y_i(X) = W\\,(s_i ⊙ X r_i) \\in \\mathbb R^d, \\qquad z_{ij} = ⟨v_j, y_i⟩,
    \\qquad m_{ij} = z_{i f(i)} − z_{ij},

(``W`` d×p the fixed read-out, ``s_i`` a fixed scale, ``r_i`` the fixed input) and minimises

.. math::

    J(X) = \\tfrac{λ}{2}\\lVert X − X_0\\rVert_F^2 + \\sum_{i,\\, j≠f(i)} \\max(0, γ − m_{ij})^2

(convex, λ-strongly convex, C¹ with a piecewise-constant generalised Hessian). With
``U = V W`` (M×p) the logits of all pairs are one product ``z = (S ⊙ R Xᵀ) Uᵀ``, so J, ∇J and
Hessian–vector products over **every** pair cost a few matrix products (taken in row
chunks, so the F×M logits are never held at once): no working set, nothing to add later.

**Newton–CG.** At X the pairs with ``m_ij < γ`` are active; the generalised Hessian
``H = λI + 2 Σ_active ∇m_ij ∇m_ijᵀ`` is applied matrix-free, and ``H p = −∇J`` is solved by
conjugate gradients (forcing term ``min(½, √(‖∇J‖/‖∇J₀‖))``) in the coordinates of a fixed
diagonal-times-whitening change of variables (:func:`_preconditioner`); a backtracking
Armijo line search on J follows. Semismooth Newton converges locally superlinearly on such
piecewise quadratics (Qi & Sun 1993); the iteration stops at the bound the re-check uses,
``‖∇J‖²/(2λ) ≤ rtol·J`` (strong convexity: ``J − J* ≤ ‖∇J‖²/(2λ)``), computed over every pair,
and :func:`theory.convex_certificates.check_block_certificate` re-checks it with its own code.

The LP (:func:`margin_lp`) asks for ``m_ij(X) ≥ γ`` on a set of pairs; it is solved in its
Farkas form with scipy's HiGHS: ``{y ≥ 0, Σ y_ij ∇m_ij = 0, Σ y = 1}`` is
feasible exactly when the margin system is infeasible (Farkas), and then ``y`` is the
certificate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from theory.errors import SolverError

__all__ = ["BlockProblem", "solve_block", "margin_lp"]

_LOGIT_CHUNK = 2**22  # logits held at once (rows per chunk = this // M)
_CG_MAX = 200  # conjugate-gradient steps per Newton step
_ARMIJO = 1e-4  # sufficient decrease of the line search
_BACKTRACKS = 40  # halvings of the step before giving up
#: Below this fraction of all F·M pairs active, Hessian products run over the active pairs.
_SPARSE_FRACTION = 0.25


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

    def __post_init__(self) -> None:
        self.U = self.values @ self.W  # (M, p): values seen through the read-out
        n, m = self.R.shape[0], self.U.shape[0]
        step = max(1, _LOGIT_CHUNK // max(m, 1))
        self._chunks = [slice(a, min(n, a + step)) for a in range(0, n, step)]

    def _features(self, X: Tensor, rows: slice) -> Tensor:
        feats = self.R[rows] @ X.T
        return feats if self.S is None else feats * self.S[rows]

    def _back(self, dz: Tensor, rows: slice) -> Tensor:
        """``∂/∂X`` of ``Σ dz ⊙ z`` over ``rows``: the adjoint of X ↦ z."""
        dfeats = dz @ self.U
        if self.S is not None:
            dfeats = dfeats * self.S[rows]
        return dfeats.T @ self.R[rows]

    def _slack(self, X: Tensor, rows: slice) -> tuple[Tensor, Tensor]:
        """``max(0, γ − m_ij)`` (0 at j = f(i)) and the row index range."""
        z = self._features(X, rows) @ self.U.T
        idx = torch.arange(z.shape[0], device=z.device)
        t = self.targets[rows]
        slack = (self.gamma - z.gather(1, t[:, None]) + z).clamp_min_(0.0)
        slack[idx, t] = 0.0
        return slack, idx

    def objective(self, X: Tensor) -> float:
        diff = X if self.X0 is None else X - self.X0
        value = 0.5 * self.lam * float(diff.pow(2).sum())
        for rows in self._chunks:
            value += float(self._slack(X, rows)[0].pow(2).sum())
        return value

    def gradient(self, X: Tensor) -> tuple[float, Tensor, _ActiveSet]:
        """``J``, ``∇J`` and the active pairs (``m_ij < γ``) that the Hessian uses."""
        diff = X if self.X0 is None else X - self.X0
        value = 0.5 * self.lam * float(diff.pow(2).sum())
        grad = self.lam * diff
        masks = []
        for rows in self._chunks:
            slack, idx = self._slack(X, rows)
            value += float(slack.pow(2).sum())
            masks.append(slack > 0)
            # d/dz_ij of Σ max(0, γ − z_if + z_ij)² is 2·slack_ij (j ≠ f), −Σ_j of it (f).
            dz = 2.0 * slack
            dz[idx, self.targets[rows]] = -dz.sum(dim=1)
            grad = grad + self._back(dz, rows)
        return value, grad, self._active_set(masks)

    def _active_set(self, masks: list[Tensor]) -> _ActiveSet:
        count = sum(int(a.sum()) for a in masks)
        if count > _SPARSE_FRACTION * self.R.shape[0] * self.U.shape[0]:
            return _ActiveSet(count, masks, None, None)
        found = [torch.nonzero(a, as_tuple=True) for a in masks]
        pi = torch.cat([i + rows.start for (i, _), rows in zip(found, self._chunks, strict=True)])
        pj = torch.cat([j for _, j in found])
        return _ActiveSet(count, None, pi, self.U[self.targets[pi]] - self.U[pj])

    def hessian_product(self, P: Tensor, active: _ActiveSet) -> Tensor:
        """``(λI + 2 Σ_active ∇m ∇mᵀ) P``: over the list of active pairs when they are few
        (late rounds: a few thousand of F·M), through the dense logits otherwise."""
        out = self.lam * P
        if active.masks is None:
            feats = self._features(P, slice(None))
            dm = (active.du * feats[active.rows]).sum(dim=1)  # ∇m_ij · P
            dfeats = torch.zeros_like(feats).index_add_(
                0, active.rows, (2.0 * dm)[:, None] * active.du
            )
            if self.S is not None:
                dfeats = dfeats * self.S
            return out + dfeats.T @ self.R
        for rows, mask in zip(self._chunks, active.masks, strict=True):
            dz = self._features(P, rows) @ self.U.T
            idx = torch.arange(dz.shape[0], device=dz.device)
            t = self.targets[rows]
            dm = (dz.gather(1, t[:, None]) - dz) * mask  # ∇m_ij · P on active pairs
            coef = -2.0 * dm  # ∂/∂z_ij of Σ dm_ij² is −2 dm_ij (j ≠ f), +2 Σ_j dm_ij (f)
            coef[idx, t] = 2.0 * dm.sum(dim=1)
            out = out + self._back(coef, rows)
        return out


@dataclass(frozen=True)
class _ActiveSet:
    """The pairs with ``m_ij < γ`` at one X: per-chunk masks (many pairs) or, when they are
    few, the list of their facts ``rows`` with ``du = U_f(i) − U_j`` per pair."""

    count: int
    masks: list[Tensor] | None
    rows: Tensor | None
    du: Tensor | None


def _preconditioner(problem: BlockProblem) -> tuple[Tensor, Tensor]:
    """A fixed change of variables ``X = L Y P`` that makes the block's Hessian nearer to
    isotropic: ``P = (RᵀR/F + εI)^{-1/2}`` (q×q) on the right, ``L`` diagonal with the
    inverse root-mean-square of each row's scale ``s·‖U col‖`` on the left. CG runs in Y;
    the program is unchanged."""
    n = problem.R.shape[0]
    gram = problem.R.T @ problem.R / n
    eps = 1e-2 * float(torch.diagonal(gram).mean()) + 1e-300
    evals, evecs = torch.linalg.eigh(gram)
    right = (evecs * (evals.clamp_min(0) + eps).rsqrt()) @ evecs.T
    col = problem.U.norm(dim=0)
    if problem.S is not None:
        col = col * problem.S.pow(2).mean(0).sqrt()
    left = 1.0 / (col + 1e-6 * float(col.mean()) + 1e-300)
    return left, right


def _newton_direction(problem, grad, active, left, right, forcing: float) -> tuple[Tensor, int]:
    """CG on ``(TᵀHT) y = −Tᵀ∇J`` with ``T: Y ↦ L Y P``; returns ``T y`` and the steps."""

    def to_x(Y: Tensor) -> Tensor:
        return (left[:, None] * Y) @ right

    def adjoint(G: Tensor) -> Tensor:
        return left[:, None] * (G @ right)

    b = -adjoint(grad)
    y = torch.zeros_like(b)
    r = b.clone()
    d = r.clone()
    rr = float(r.pow(2).sum())
    stop = (forcing**2) * rr
    steps = 0
    while steps < _CG_MAX and rr > stop:
        hd = adjoint(problem.hessian_product(to_x(d), active))
        curvature = float((d * hd).sum())
        if not curvature > 0:  # H is positive definite; rounding only
            break
        alpha = rr / curvature
        y = y + alpha * d
        r = r - alpha * hd
        rr_new = float(r.pow(2).sum())
        d = r + (rr_new / rr) * d
        rr = rr_new
        steps += 1
    return to_x(y), steps


def solve_block(
    problem: BlockProblem, X: Tensor, *, rtol: float, max_iter: int
) -> tuple[Tensor, dict]:
    """The block program's solution (module docstring) and a log of the solve.

    Raises
    ------
    SolverError
        Newton did not reach ``‖∇J‖²/(2λ) ≤ rtol·J`` within ``max_iter`` steps, or the line
        search found no decrease (rounding level).
    """
    left, right = _preconditioner(problem)
    value, grad, active = problem.gradient(X)
    first = float(grad.norm())
    newton = cg_steps = 0
    while True:
        gnorm = float(grad.norm())
        if gnorm**2 / (2 * problem.lam) <= rtol * max(value, 1e-300):
            return X, {
                "objective": value,
                "grad_norm": gnorm,
                "newton_steps": newton,
                "cg_steps": cg_steps,
                "active_pairs": active.count,
            }
        if newton >= max_iter or not math.isfinite(gnorm):
            raise SolverError(
                f"maxmargin: Newton stopped at ‖∇J‖ = {gnorm:.3g} (J = {value:.6g}) after "
                f"{newton} steps without reaching ‖∇J‖²/(2λ) ≤ {rtol}·J"
            )
        forcing = min(0.5, math.sqrt(gnorm / max(first, 1e-300)))
        step, used = _newton_direction(problem, grad, active, left, right, forcing)
        cg_steps += used
        slope = float((grad * step).sum())
        if not slope < 0:  # CG returns a descent direction unless rounding dominates
            step, slope = -grad, -(gnorm**2)
        t = 1.0
        for _ in range(_BACKTRACKS):
            trial = X + t * step
            trial_value = problem.objective(trial)
            if trial_value <= value + _ARMIJO * t * slope:
                break
            t *= 0.5
        else:
            raise SolverError(
                f"maxmargin: the line search found no decrease at J = {value:.6g}, "
                f"‖∇J‖ = {gnorm:.3g} (rounding level) after {newton} Newton steps"
            )
        X = trial
        value, grad, active = problem.gradient(X)
        newton += 1


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
