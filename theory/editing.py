"""Closed-form weight edits of a linear layer ``W`` (d×h) acting on keys ``k ∈ R^h``:
ROME, MEMIT and AlphaEdit (numpy, float64).

Symbols: ``K_a`` (h×n) the keys of the edited facts, ``R`` (d×n) the desired output changes
(``R = V* − W K_a``), ``K_0`` (h×n₀) preserved keys, ``C = K_0 K_0ᵀ/n₀`` their uncentred
second moment.

- **ROME** (one edit, rank one): the smallest change in the C⁻¹-metric with ``W' k = v*``,

  .. math:: W' = W + \\frac{(v^* - W k)\\,(C^{-1}k)^\\top}{k^\\top C^{-1} k};

  so ``W'k = v*`` exactly and ``W'u = Wu`` for every ``u`` with ``uᵀC⁻¹k = 0``.
- **MEMIT** (batch): ``Δ = R K_aᵀ (λ C + K_a K_aᵀ)⁻¹``, the minimiser of
  ``‖Δ K_a − R‖²_F + λ tr(Δ C Δᵀ)`` (normal equations ``Δ(λC + K_aK_aᵀ) = R K_aᵀ``).
- **AlphaEdit** (batch, null-space constrained): with ``P`` the orthogonal projector onto the
  null space of ``K_0 K_0ᵀ``, ``Δ = R K_aᵀ P (K_a K_aᵀ P + α I)⁻¹``: the minimiser of
  ``‖Δ K_a − R‖² + α‖Δ‖²`` over updates of the form ``Δ = X Bᵀ`` (B an orthonormal basis
  of the null space, P = B Bᵀ), so ``Δ K_0 = 0``: **preserved keys keep their outputs**.
  (Push-through identity: ``X = R K_aᵀ B (Bᵀ K_a K_aᵀ B + α I)⁻¹`` and
  ``X Bᵀ = R K_aᵀ P (K_a K_aᵀ P + α I)⁻¹``.) When h ≤ rank(K_0) the null space is empty,
  P = 0, and AlphaEdit changes nothing.

The MEMIT system is solved by least squares (the minimum-norm solution where
λC + K_aK_aᵀ is singular); AlphaEdit's is always invertible (α > 0). References: Meng et al. 2022 (ROME, arXiv 2202.05262;
MEMIT, arXiv 2210.07229); Fang et al. 2024 (AlphaEdit, arXiv 2410.02355); paper.md §7.
"""

from __future__ import annotations

import numpy as np

from theory.errors import InvalidInputError
from theory.validation import as_matrix

__all__ = [
    "second_moment",
    "rome_update",
    "rome_sequential",
    "memit_update",
    "null_space_projector",
    "alphaedit_update",
]


def _vec(name: str, value, length: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (length,) or not np.all(np.isfinite(arr)):
        raise InvalidInputError(
            f"{name} must be a finite vector of length {length}, got shape {arr.shape}"
        )
    return arr


def second_moment(keys) -> np.ndarray:
    """``C = K_0 K_0ᵀ / n₀`` for keys given as the COLUMNS of ``keys`` (h×n₀)."""
    K0 = as_matrix("keys", keys)
    return K0 @ K0.T / K0.shape[1]


def rome_update(W, k, v_star, C) -> np.ndarray:
    """``W'`` of the ROME formula (module docstring).

    Raises
    ------
    InvalidInputError
        On shape mismatches, or if ``kᵀC⁻¹k ≤ 0`` (C not positive definite along k).

    Examples
    --------
    >>> import numpy as np
    >>> W = np.zeros((2, 3)); k = np.array([1.0, 0.0, 0.0]); v = np.array([2.0, -1.0])
    >>> new = rome_update(W, k, v, np.eye(3))
    >>> new @ k, new @ np.array([0.0, 1.0, 1.0])
    (array([ 2., -1.]), array([0., 0.]))
    """
    W = as_matrix("W", W)
    d, h = W.shape
    k, v_star = _vec("k", k, h), _vec("v_star", v_star, d)
    C = as_matrix("C", C, cols=h)
    if C.shape[0] != h:
        raise InvalidInputError(f"C has shape {C.shape}, expected ({h}, {h})")
    try:
        c_inv_k = np.linalg.solve(C, k)
    except np.linalg.LinAlgError:
        raise InvalidInputError("C is singular (add a ridge)") from None
    denom = float(k @ c_inv_k)
    if not denom > 0:
        raise InvalidInputError(
            f"kᵀC⁻¹k = {denom} is not positive: C is not positive definite along k"
        )
    return W + np.outer(v_star - W @ k, c_inv_k) / denom


def rome_sequential(W, keys, targets, C) -> np.ndarray:
    """ROME edits applied one after another: for each column ``k_i`` of ``keys`` (h×n) and
    ``v*_i`` of ``targets`` (d×n), ``W ← W + (v*_i − W k_i)(C⁻¹k_i)ᵀ/(k_iᵀC⁻¹k_i)``.

    C is factorised once (Cholesky; it must be symmetric positive definite), so n edits
    cost one factorisation and n rank-one updates. With n = 1 this is :func:`rome_update`.

    Raises
    ------
    InvalidInputError
        On shape mismatches or a C that is not positive definite.
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    W = as_matrix("W", W).copy()
    d, h = W.shape
    K = as_matrix("keys", keys)
    V = as_matrix("targets", targets)
    if K.shape[0] != h or V.shape != (d, K.shape[1]):
        raise InvalidInputError(
            f"keys {K.shape} and targets {V.shape} do not fit W {W.shape}: "
            f"expected ({h}, n) and ({d}, n)"
        )
    C = as_matrix("C", C, cols=h)
    try:
        factor = cho_factor(C)
    except LinAlgError:
        raise InvalidInputError("C is not positive definite (add a ridge)") from None
    c_inv_k = cho_solve(factor, K)  # (h, n)
    for i in range(K.shape[1]):
        k, u = K[:, i], c_inv_k[:, i]
        W += np.outer(V[:, i] - W @ k, u) / float(k @ u)
    return W


def _keys_and_targets(R, K) -> tuple[np.ndarray, np.ndarray]:
    R = as_matrix("R", R)
    K = as_matrix("K_a", K)
    if R.shape[1] != K.shape[1]:
        raise InvalidInputError(
            f"R has {R.shape[1]} columns but K_a has {K.shape[1]}: one per edit"
        )
    return R, K


def memit_update(R, K, C, lam: float) -> np.ndarray:
    """``Δ = R K_aᵀ (λC + K_aK_aᵀ)⁻¹`` (d×h; module docstring), λ ≥ 0.

    Examples
    --------
    >>> import numpy as np
    >>> K = np.eye(3)[:, :2]; R = np.array([[1.0, 2.0]])
    >>> memit_update(R, K, np.eye(3), 0.0)      # λ = 0: Δ K_a = R exactly
    array([[1., 2., 0.]])
    """
    R, K = _keys_and_targets(R, K)
    h = K.shape[0]
    C = as_matrix("C", C, cols=h)
    if C.shape[0] != h:
        raise InvalidInputError(f"C has shape {C.shape}, expected ({h}, {h})")
    if not (np.isfinite(lam) and lam >= 0):
        raise InvalidInputError(f"lam must be finite and ≥ 0, got {lam!r}")
    A = lam * C + K @ K.T  # symmetric: Δ A = R Kᵀ ⇔ A Δᵀ = K Rᵀ
    return np.linalg.lstsq(A, K @ R.T, rcond=None)[0].T


def null_space_projector(keys, rel_tol: float = 1e-8) -> tuple[np.ndarray, int]:
    """``(P, dim)``: the projector onto the span of the eigenvectors of ``K_0K_0ᵀ`` whose
    eigenvalues are ≤ ``rel_tol·λ_max`` (the numerical null space), and its dimension.

    ``keys`` are the columns of an h×n₀ matrix. With h ≤ rank(K_0) the null space is
    empty (dim 0, P = 0).

    Examples
    --------
    >>> import numpy as np
    >>> P, dim = null_space_projector(np.array([[1.0], [0.0]]))
    >>> dim, P
    (1, array([[0., 0.],
           [0., 1.]]))
    """
    K0 = as_matrix("keys", keys)
    if not 0 <= rel_tol < 1:
        raise InvalidInputError(f"rel_tol must lie in [0, 1), got {rel_tol!r}")
    eigenvalues, vectors = np.linalg.eigh(K0 @ K0.T)
    top = max(float(eigenvalues.max()), 0.0)
    null = vectors[:, eigenvalues <= rel_tol * top] if top > 0 else vectors
    P = null @ null.T
    return P, int(null.shape[1])


def alphaedit_update(R, K, P, alpha: float = 1.0) -> np.ndarray:
    """``Δ = R K_aᵀ P (K_aK_aᵀP + αI)⁻¹`` (d×h; module docstring), α > 0.

    Examples
    --------
    >>> import numpy as np
    >>> P = np.diag([1.0, 0.0]); K = np.array([[1.0], [1.0]]); R = np.array([[2.0]])
    >>> alphaedit_update(R, K, P, alpha=1.0).round(12) + 0.0   # only the null-space coordinate moves
    array([[1., 0.]])
    """
    R, K = _keys_and_targets(R, K)
    h = K.shape[0]
    P = as_matrix("P", P, cols=h)
    if P.shape[0] != h:
        raise InvalidInputError(f"P has shape {P.shape}, expected ({h}, {h})")
    if not (np.isfinite(alpha) and alpha > 0):
        raise InvalidInputError(f"alpha must be finite and > 0, got {alpha!r}")
    # M = K Kᵀ P + αI is invertible for α > 0: K Kᵀ P has the eigenvalues of
    # P K Kᵀ P (similar up to the kernel), all ≥ 0. Δ M = R Kᵀ P ⇔ Mᵀ Δᵀ = (R Kᵀ P)ᵀ.
    M = K @ K.T @ P + alpha * np.eye(h)
    return np.linalg.solve(M.T, (R @ K.T @ P).T).T
