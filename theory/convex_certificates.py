"""Independent re-checks of the convex block solves of the ``maxmargin`` construction.

Every block solve of ``numerics.methods.maxmargin`` fixes all weights but one matrix ``X``
(p×q) and makes the logits linear in it:

.. math::

    z_{ic}(X) = \\sum_{a} U_{ca}\\, S_{ia}\\, (X r_i)_a \\qquad (i ≤ F,\\ c ≤ M),

with ``U`` (M×p) the values seen through the fixed read-out, ``S`` (F×p) a fixed per-fact
scale and ``r_i`` (q) the fixed input of fact ``i``. With ``m_{ij} = z_{i f(i)} − z_{ij}``
the block program is

.. math::

    J(X) = \\tfrac{λ}{2}\\lVert X − X_0\\rVert_F^2
           + \\sum_i \\sum_{j ≠ f(i)} \\max(0,\\ γ − m_{ij}(X))^2,

convex, differentiable and λ-strongly convex, so at any X

.. math::

    J(X) − J^* ≤ \\frac{\\lVert ∇J(X)\\rVert_F^2}{2λ}

(strong convexity: ``J^* ≥ J(X) − ‖∇J‖²/(2λ)``). :func:`check_block_certificate` recomputes
``J`` and ``∇J`` over **every** pair ``(i, j)`` (not the solver's working set of nearest
competitors) from the raw arrays, with this module's own numpy code, and passes the solution
when that bound is at most ``rtol · J(X)``.

For the margin LP ``m_{ij}(X) ≥ γ`` for all pairs of a set, a Farkas certificate is a
``y ≥ 0`` over those pairs with ``Σ y_{ij} ∇m_{ij} = 0`` and ``γ Σ y > 0``:
any feasible X would give ``0 = ⟨Σ y ∇m, X⟩ = Σ y m(X) ≥ γ Σ y > 0``. With the rounding
residual ``ρ = ‖Σ y ∇m‖_F`` the same argument proves that no X with
``‖X‖_F < γ Σy / ρ`` is feasible (all X when ρ = 0); :func:`check_farkas_certificate`
rebuilds the constraint matrix itself and reports that radius.

The warm start's ridge program ``J(X) = ½‖R Xᵀ − T‖²_F + λ/2‖X‖²_F`` (λ-strongly convex,
``∇J = (X Rᵀ − Tᵀ) R + λX``) is re-checked the same way by
:func:`check_ridge_certificate`.

numpy only (no torch, no factmlp numerics).
"""

from __future__ import annotations

import numpy as np

from theory.errors import InvalidInputError

__all__ = [
    "block_logits",
    "block_objective_and_gradient",
    "check_block_certificate",
    "margin_constraint_rows",
    "check_farkas_certificate",
    "check_ridge_certificate",
]

_CHUNK = 1024  # facts per block of the F×M logit matrix


def _arrays(S, R, U, targets, X):
    R = np.asarray(R, dtype=np.float64)
    U = np.asarray(U, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    targets = np.asarray(targets).astype(np.int64).reshape(-1)
    n, q = R.shape
    p = U.shape[1]
    S = np.ones((n, p)) if S is None else np.asarray(S, dtype=np.float64)
    if X.shape != (p, q) or S.shape != (n, p) or targets.shape != (n,):
        raise InvalidInputError(
            f"block shapes disagree: X {X.shape}, S {S.shape}, R {R.shape}, U {U.shape}, "
            f"targets {targets.shape} (need X p×q, S F×p, R F×q, U M×p, targets F)"
        )
    if targets.size and (targets.min() < 0 or targets.max() >= U.shape[0]):
        raise InvalidInputError("targets must index rows of U")
    return S, R, U, targets, X


def block_logits(S, R, U, X) -> np.ndarray:
    """``z`` (F×M): ``z_ic = Σ_a U_ca S_ia (X r_i)_a`` (``S=None`` means all ones)."""
    R = np.asarray(R, dtype=np.float64)
    feats = R @ np.asarray(X, dtype=np.float64).T
    if S is not None:
        feats = feats * np.asarray(S, dtype=np.float64)
    return feats @ np.asarray(U, dtype=np.float64).T


def block_objective_and_gradient(S, R, U, targets, X, *, lam, gamma, X0=None):
    """``(J(X), ∇J(X), n_active)`` of the block program (module docstring), over all pairs.

    ``n_active`` counts the pairs with ``m_ij < γ`` (those that enter J).
    """
    S, R, U, targets, X = _arrays(S, R, U, targets, X)
    X0 = np.zeros_like(X) if X0 is None else np.asarray(X0, dtype=np.float64)
    diff = X - X0
    value = 0.5 * lam * float(np.sum(diff * diff))
    grad = lam * diff
    n_active = 0
    for start in range(0, R.shape[0], _CHUNK):
        rows = slice(start, start + _CHUNK)
        s, r, t = S[rows], R[rows], targets[rows]
        feats = s * (r @ X.T)  # (n, p)
        z = feats @ U.T  # (n, M)
        own = z[np.arange(t.size), t]
        slack = gamma - (own[:, None] - z)  # γ − m_ij
        slack[np.arange(t.size), t] = 0.0  # j = f(i) is no competitor
        active = np.maximum(slack, 0.0)
        n_active += int(np.count_nonzero(active))
        value += float(np.sum(active * active))
        # d/dz_ij of Σ max(0, γ − z_if + z_ij)² is 2·active_ij (j ≠ f), −Σ_j 2·active_ij (f).
        dz = 2.0 * active
        dz[np.arange(t.size), t] = -dz.sum(axis=1)
        dfeats = (dz @ U) * s  # (n, p)
        grad += dfeats.T @ r
    return value, grad, n_active


def check_block_certificate(S, R, U, targets, X, *, lam, gamma, X0=None, rtol=1e-6) -> dict:
    """Re-check that ``X`` solves the block program to relative suboptimality ``rtol``.

    Returns a JSON-safe dict: ``objective`` J(X), ``grad_norm`` ‖∇J‖_F, ``gap_bound``
    ‖∇J‖²/(2λ) (an upper bound on J(X) − J*), ``rel_gap_bound`` (over J(X)),
    ``n_active`` pairs, ``passed`` (rel_gap_bound ≤ rtol) and ``rtol``.
    """
    if not (lam > 0):
        raise InvalidInputError(f"lam must be positive (strong convexity), got {lam!r}")
    value, grad, n_active = block_objective_and_gradient(
        S, R, U, targets, X, lam=lam, gamma=gamma, X0=X0
    )
    grad_norm = float(np.linalg.norm(grad))
    bound = grad_norm**2 / (2.0 * lam)
    rel = bound / max(value, np.finfo(float).tiny)
    return {
        "objective": value,
        "grad_norm": grad_norm,
        "gap_bound": bound,
        "rel_gap_bound": rel,
        "n_active": n_active,
        "rtol": float(rtol),
        "passed": bool(np.isfinite(rel) and rel <= rtol),
    }


def margin_constraint_rows(S, R, U, targets, pairs) -> np.ndarray:
    """Rows ``∇m_ij`` (flattened p·q) of the margin constraints ``m_ij(X) = ⟨row, vec X⟩``."""
    S, R, U, targets, _ = _arrays(
        S, R, U, targets, np.zeros((np.asarray(U).shape[1], np.asarray(R).shape[1]))
    )
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    i, j = pairs[:, 0], pairs[:, 1]
    left = S[i] * (U[targets[i]] - U[j])  # (n_pairs, p)
    return (left[:, :, None] * R[i][:, None, :]).reshape(pairs.shape[0], -1)


def check_farkas_certificate(S, R, U, targets, pairs, y, *, gamma, tol=1e-9) -> dict:
    """Re-check a Farkas certificate ``y`` against the margin LP over ``pairs``.

    Returns ``sum_y`` (Σ y), ``min_y``, ``residual`` ρ = ‖Σ y ∇m‖_F, ``radius`` γΣy/ρ
    (``inf`` when ρ = 0): no X with ‖X‖_F below it satisfies every margin constraint, and
    ``passed``: y ≥ −tol·max|y|, Σy > 0 and ρ ≤ tol·Σy·max‖∇m‖ (relative to the rows' scale).
    """
    rows = margin_constraint_rows(S, R, U, targets, pairs)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.shape[0] != rows.shape[0]:
        raise InvalidInputError(f"y has {y.shape[0]} entries for {rows.shape[0]} pairs")
    sum_y = float(y.sum())
    ymax = float(np.abs(y).max()) if y.size else 0.0
    y_pos = np.maximum(y, 0.0)  # the certificate uses the nonnegative part
    residual = float(np.linalg.norm(rows.T @ y_pos))
    row_scale = float(np.linalg.norm(rows, axis=1).max()) if rows.size else 0.0
    sum_pos = float(y_pos.sum())
    radius = float("inf") if residual == 0.0 else gamma * sum_pos / residual
    passed = bool(
        sum_pos > 0
        and gamma > 0
        and float(y.min(initial=0.0)) >= -tol * max(ymax, 1.0)
        and residual <= tol * sum_pos * max(row_scale, 1.0)
    )
    return {
        "sum_y": sum_y,
        "min_y": float(y.min()) if y.size else 0.0,
        "residual": residual,
        "radius": radius,
        "support": int(np.count_nonzero(y_pos > tol * max(ymax, 1.0))),
        "passed": passed,
    }


def check_ridge_certificate(R, T, X, *, lam, rtol=1e-6) -> dict:
    """Re-check that ``X`` (p×q) minimises ``½‖R Xᵀ − T‖² + λ/2‖X‖²`` (R F×q, T F×p) to
    relative suboptimality ``rtol``; same fields as :func:`check_block_certificate`."""
    R = np.asarray(R, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if not (lam > 0):
        raise InvalidInputError(f"lam must be positive (strong convexity), got {lam!r}")
    if X.shape != (T.shape[1], R.shape[1]) or R.shape[0] != T.shape[0]:
        raise InvalidInputError(f"ridge shapes disagree: R {R.shape}, T {T.shape}, X {X.shape}")
    resid = R @ X.T - T
    value = 0.5 * float(np.sum(resid * resid)) + 0.5 * lam * float(np.sum(X * X))
    grad = resid.T @ R + lam * X
    grad_norm = float(np.linalg.norm(grad))
    bound = grad_norm**2 / (2.0 * lam)
    rel = bound / max(value, np.finfo(float).tiny)
    return {
        "objective": value,
        "grad_norm": grad_norm,
        "gap_bound": bound,
        "rel_gap_bound": rel,
        "rtol": float(rtol),
        "passed": bool(np.isfinite(rel) and rel <= rtol),
    }
