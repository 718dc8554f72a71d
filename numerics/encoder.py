"""The encoder: gate rows fixed at random, the up projection solved so every key hits its code.

Layout (``h = m·r`` hidden neurons in ``m`` groups of ``r``): every group shares the same
random gate rows ``G0 ∈ R^{r×d}`` (and gate bias ``b``), group ``t`` has its own up rows
``A_t ∈ R^{r×d'}`` and feeds code coordinate ``t``:

.. math::

    c_t(k) = \\sum_{n=1}^{r} σ(g_n \\cdot k + b_n)\\,(a_{t,n} \\cdot x), \\qquad
    x = k \\text{ (or } [k; s] \\text{ with an up bias)} .

"Every key hits its code" is, per coordinate, the linear system ``Φ vec(A_t) = T[:, t]`` with
``Φ_i = σ(G0 k_i + b) ⊗ x_i`` (F × r d'). We take its min-norm solution through the kernel

.. math::

    Q = ΦΦ^\\top = (S S^\\top) ∘ (X X^\\top), \\quad S = σ(K G_0^\\top + b), \\qquad
    α = Q^{-1} T, \\quad A_t = S^\\top \\operatorname{diag}(α_{:,t})\\, X ,

solved by one Cholesky factorisation for all ``m`` right-hand sides, plus refinement steps
that re-solve with the factor against the residual of the *built* weights. ``Q`` is
nonsingular iff Φ has full row rank; with an analytic gate (SiLU) and ``r d' ≥ F`` that fails
only on a null set of keys and gates (``theory.failure_sets``). ``slack`` sets
``r = ⌈(1 + slack) F / d'⌉`` with ``d'`` the (numerical) rank of the features ``x_i`` (at most
``d`` + 1: keys in a q-dimensional subspace give Φ rank ≤ r·q); more slack, better
conditioning, more parameters. A ReLU gate
gets its rows in ± pairs so that every nonzero key has active gates (a key with every gate
off would be a zero row of Φ: singular with positive probability); its guarantee is then per
activation pattern, not the analytic measure-zero argument.

Identical keys share a row and a code, so they are solved once. Memory: one F×F kernel
(plus its factor), O(F² ) time for the products and O(F³/3) for the factorisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from numerics.mlp import ACTIVATIONS
from theory.errors import InvalidInputError, SolverError

__all__ = ["EncoderSolution", "solve_encoder"]

#: Refinement steps stop once the worst code error is this small relative to the code norm.
_REFINE_TARGET = 1e-12
_MAX_REFINEMENTS = 3


@dataclass(frozen=True)
class EncoderSolution:
    """Encoder weights and how well they solve the system.

    Attributes
    ----------
    gate_rows : Tensor (r, d)       shared gate rows G0
    gate_bias : Tensor (r,) | None  shared gate bias b
    up : Tensor (m, r, d)           up rows A_t of each group
    up_bias : Tensor (m, r) | None  the coefficient of the constant feature (up bias)
    kernel_condition : float        dense: estimate of κ(Q) = κ(Φ)² (power iterations);
                                    sparse: Lanczos estimate of κ(D⁻¹Q), D = diag(Q), the
                                    Jacobi-preconditioned kernel CG solved (from its steps)
    max_code_error : float          max_i ‖c(k_i) − T_i‖ of the built weights (float64)
    amplification : float           max_i ‖Σ|terms|‖ / ‖c(k_i)‖: cancellation in the sums
    refinements : int               refinement steps taken (dense; 0 for sparse)
    method : str                    ``dense`` (this module) or ``sparse``
                                    (:mod:`numerics.encoder_sparse`)
    cg_iterations : int             conjugate-gradient iterations (sparse; 0 for dense)
    """

    gate_rows: Tensor
    gate_bias: Tensor | None
    up: Tensor
    up_bias: Tensor | None
    kernel_condition: float
    max_code_error: float
    amplification: float
    refinements: int
    method: str
    cg_iterations: int

    @property
    def group_size(self) -> int:
        return self.gate_rows.shape[0]


def _features(keys: Tensor, key_scale: float, bias: bool) -> Tensor:
    if not bias:
        return keys
    # The constant feature carries the up bias; scaled like the keys for conditioning.
    return torch.cat([keys, keys.new_full((keys.shape[0], 1), key_scale)], dim=1)


def _codes(S: Tensor, X: Tensor, up: Tensor) -> tuple[Tensor, Tensor]:
    """Codes c (F×m) of the built weights and the sums of |terms| (for the amplification)."""
    codes = torch.empty(S.shape[0], up.shape[0], dtype=S.dtype, device=S.device)
    magnitude = torch.empty_like(codes)
    for t in range(up.shape[0]):
        inner = X @ up[t].T                            # (F, r): a_{t,n} · x_i
        codes[:, t] = (S * inner).sum(dim=1)
        magnitude[:, t] = (S.abs() * (X.abs() @ up[t].abs().T)).sum(dim=1)
    return codes, magnitude


def _condition_estimate(factor: Tensor, steps: int = 30) -> float:
    """κ(Q) from power iterations on Q = L Lᵀ and on Q⁻¹ (via the factor); a lower bound that
    is tight to a few digits after these steps."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    v = torch.randn(factor.shape[0], 1, generator=gen, dtype=factor.dtype).to(factor.device)
    w = v.clone()
    largest = smallest_inv = 0.0
    for _ in range(steps):
        v = factor @ (factor.T @ v)
        largest = float(v.norm())
        v = v / largest
        w = torch.cholesky_solve(w, factor)
        smallest_inv = float(w.norm())
        w = w / smallest_inv
    return largest * smallest_inv


def solve_encoder(keys, targets, *, activation: str = "silu", slack: float = 0.05,
                  bias: bool = False, generator: torch.Generator | None = None,
                  device: str | torch.device = "cpu") -> EncoderSolution:
    """Solve the encoder for ``keys`` (F×d) and their code ``targets`` (F×m), in float64.

    Parameters
    ----------
    keys, targets : array_like
        Targets of identical keys must be identical (they are for codes of a fact set).
    activation : gate nonlinearity, a name in ``numerics.mlp.ACTIVATIONS``
    slack : float ≥ 0, extra unknowns: ``r = ⌈(1 + slack) F_unique / d'⌉``, d' = rank of the features
    bias : add a gate bias and an up bias (needed to store facts at the zero key)
    generator : torch.Generator (CPU) for the gate draw; the same seed gives the same weights
    device : where the linear algebra runs

    Raises
    ------
    InvalidInputError
        Shapes disagree, identical keys with different targets, a zero key without ``bias``.
    SolverError
        The kernel is singular to working precision (a degenerate key set or a point of the
        null failure set), or the refined codes still miss their targets.
    """
    K = np.asarray(keys, dtype=np.float64)
    T = np.asarray(targets, dtype=np.float64)
    if K.ndim != 2 or T.ndim != 2 or K.shape[0] != T.shape[0]:
        raise InvalidInputError(f"keys {K.shape} and targets {T.shape} must be (F, d) and (F, m)")
    if not math.isfinite(slack) or slack < 0:
        raise InvalidInputError(f"slack must be finite and ≥ 0, got {slack!r}")
    unique, first, inverse = np.unique(K + 0.0, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if not np.array_equal(T, T[first][inverse]):
        raise InvalidInputError("identical keys have different targets")
    if not bias and not unique.any(axis=1).all():
        raise InvalidInputError("a zero key cannot hit a nonzero code without biases (g(0) = 0)")
    act = ACTIVATIONS[activation]
    generator = generator if generator is not None else torch.Generator().manual_seed(0)

    n_unique, dim = unique.shape
    key_scale = float(np.sqrt(np.mean(np.sum(unique**2, axis=1)))) or 1.0
    # d' is the rank of the features x_i, not their length: keys spanning q < d dimensions
    # give Φ rank ≤ r·(q + bias), so r must be sized by that rank or Q is singular.
    width = int(np.linalg.matrix_rank(_features(torch.as_tensor(unique), key_scale, bias).numpy()))
    group = max(1, math.ceil((1.0 + slack) * n_unique / max(width, 1)))
    # Gate pre-activations of order one whatever the scale of the keys.
    gate_rows = torch.randn(group, dim, generator=generator, dtype=torch.float64) / key_scale
    if activation == "relu":
        # ± pairs cover every key: of g·k and −g·k one is positive unless g·k = 0, so no key
        # meets an all-off gate (a zero row of Φ, which has positive probability otherwise).
        half = gate_rows[: (group + 1) // 2]
        gate_rows = torch.cat([half, -half])
        group = gate_rows.shape[0]
    gate_bias = torch.randn(group, generator=generator, dtype=torch.float64) if bias else None

    gate_rows, Kt = gate_rows.to(device), torch.as_tensor(unique, device=device)
    Tt = torch.as_tensor(T[first], device=device)
    pre = Kt @ gate_rows.T
    S = act(pre + gate_bias.to(device) if bias else pre)
    X = _features(Kt, key_scale, bias)

    Q = S @ S.T
    Q.mul_(X @ X.T)
    factor, info = torch.linalg.cholesky_ex(Q)
    del Q
    if int(info) != 0:
        raise SolverError(
            f"encoder kernel is not positive definite to working precision (pivot {int(info)} of "
            f"{n_unique}): the keys are degenerate for this gate draw; try another seed or more slack")

    def up_from(alpha: Tensor) -> Tensor:
        return torch.stack([S.T @ (alpha[:, t:t + 1] * X) for t in range(alpha.shape[1])])

    alpha = torch.cholesky_solve(Tt, factor)
    up = up_from(alpha)
    code_norm = Tt.norm(dim=1).clamp_min(torch.finfo(torch.float64).tiny)
    refinements = 0
    while True:
        codes, magnitude = _codes(S, X, up)
        error = (codes - Tt).norm(dim=1)
        if float((error / code_norm).max()) <= _REFINE_TARGET or refinements == _MAX_REFINEMENTS:
            break
        alpha = alpha + torch.cholesky_solve(Tt - codes, factor)
        up = up_from(alpha)
        refinements += 1

    up_bias = None
    if bias:
        up_bias = up[:, :, -1] * key_scale   # the constant feature is the key scale
        up = up[:, :, :-1].contiguous()
    return EncoderSolution(
        gate_rows=gate_rows, gate_bias=gate_bias.to(device) if bias else None, up=up,
        up_bias=up_bias, kernel_condition=_condition_estimate(factor),
        max_code_error=float(error.max()),
        amplification=float((magnitude.norm(dim=1) / code_norm).max()),
        refinements=refinements, method="dense", cg_iterations=0,
    )
