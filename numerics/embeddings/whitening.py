"""Whitening of keys and values: the linear map, the whitened fact set, and the way back.

Whitening replaces embeddings by ``x' = L x`` (rows: ``X' = X Lᵀ``) with

.. math::

    L = C^{-1/2} = U \\, \\mathrm{diag}\\big(\\max(λ_k, ε λ_{max})^{-1/2}\\big) \\, Uᵀ,
    \\qquad C = U \\, \\mathrm{diag}(λ) \\, Uᵀ,

the symmetric (ZCA) inverse square root of the rows' second-moment matrix ``C``; eigenvalues
below ``ε·λ_max`` are floored there, so rank-deficient rows get a finite map. ``C`` is

- the **covariance** ``(X − x̄)ᵀ(X − x̄)/n`` for **values**: ρ depends only on differences of
  values (paper §2), so the mean carries nothing there, and the map is applied to the values
  themselves (no translation: ``V' = V Lᵀ``);
- the **uncentred second moment** ``XᵀX/n`` for **keys**: a bias-free MLP sees a key as it is,
  and only a linear map can be undone inside the MLP, so no mean is removed.

Both maps fold back into one standard gated MLP of the same size (derived here, exact
algebra): an MLP ``g'`` storing the whitened fact set ``(K L_kᵀ, V L_vᵀ, f)`` gives

.. math::

    g(x) = L_vᵀ \\, g'(L_k x) = (L_vᵀ D)\\big(σ(G L_k x + b_G) ⊙ (A L_k x + b_A)\\big) + L_vᵀ b_D,

whose logits against the ORIGINAL values equal those of ``g'`` against the whitened ones:
``<g(k_i), v_j> = <g'(L_k k_i), L_v v_j>``. So the cost of storing the whitened set is a cost
of storing the original set. :func:`unwhiten_mlp` builds ``g`` (the value side through
:func:`numerics.mlp.fold_readout`).

References
----------
Paper §4 and the summary's note that whitening raises capacity; the choice of the second
moment per side and the fold of ``L_k`` into gate and up are derived here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from numerics.factset import FactSet
from numerics.mlp import GatedMLPWeights, fold_readout
from theory.errors import InvalidInputError
from theory.validation import as_matrix

__all__ = ["WHITEN_MODES", "WhitenedFactSet", "whitening_map", "whiten_factset", "unwhiten_mlp"]

#: Which side of a fact set :func:`whiten_factset` whitens.
WHITEN_MODES = ("none", "values", "keys", "both")

#: Default relative eigenvalue floor ε of :func:`whitening_map`.
EIGENVALUE_FLOOR = 1e-10


def whitening_map(rows, *, center: bool, floor: float = EIGENVALUE_FLOOR) -> np.ndarray:
    """The symmetric whitening map ``L = C^{-1/2}`` of ``rows`` (module formula).

    Parameters
    ----------
    rows : array_like, shape (n, d)
        The embeddings, one per row (n ≥ 1, finite).
    center : bool
        ``True``: ``C`` is the covariance (values); ``False``: the uncentred second moment
        ``XᵀX/n`` (keys).
    floor : float
        Relative eigenvalue floor ε in (0, 1): eigenvalues below ``ε·λ_max`` count as
        ``ε·λ_max``.

    Returns
    -------
    ndarray, shape (d, d), float64
        Symmetric ``L``; ``rows @ L.T`` (= ``rows @ L``) has second moment I on the span of
        the rows whose eigenvalues are above the floor.

    Raises
    ------
    InvalidInputError
        If ``rows`` is malformed, ``floor`` is outside (0, 1), or ``C = 0`` (all rows equal
        when centred, all zero otherwise): there is nothing to whiten.

    Examples
    --------
    >>> x = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 0.5], [0.0, -0.5]])
    >>> whitening_map(x, center=False).round(6).tolist()   # C = diag(2, 1/8)
    [[0.707107, 0.0], [0.0, 2.828427]]
    """
    x = as_matrix("rows", rows)
    if not (isinstance(floor, (int, float)) and 0 < floor < 1):
        raise InvalidInputError(f"floor must lie in (0, 1), got {floor!r}")
    if center:
        x = x - x.mean(axis=0)
    second = x.T @ x / x.shape[0]
    eigenvalues, vectors = np.linalg.eigh((second + second.T) / 2)
    top = float(eigenvalues[-1])
    if not top > 0:
        what = "the rows are all equal" if center else "the rows are all zero"
        raise InvalidInputError(f"cannot whiten: {what} (second-moment matrix is 0)")
    scale = 1.0 / np.sqrt(np.maximum(eigenvalues, floor * top))
    return (vectors * scale) @ vectors.T


@dataclass(frozen=True, eq=False)
class WhitenedFactSet:
    """A fact set with whitened keys and/or values, and the maps that undo it.

    Attributes
    ----------
    factset : FactSet
        ``(K L_kᵀ, V L_vᵀ, f)``; ``meta`` records the mode.
    key_map, value_map : ndarray (d, d) or None
        ``L_k`` and ``L_v``; ``None`` for a side left as it is.
    mode : str
        One of :data:`WHITEN_MODES`.
    """

    factset: FactSet
    key_map: np.ndarray | None
    value_map: np.ndarray | None
    mode: str


def whiten_factset(factset: FactSet, mode: str) -> WhitenedFactSet:
    """Whiten the keys (second moment) and/or the values (covariance) of ``factset``.

    With tied keys = values and ``mode = "both"`` the two sides still get their own map (the
    centred and uncentred moments differ), so the result is no longer tied.

    Parameters
    ----------
    factset : FactSet
    mode : str
        ``none``, ``values``, ``keys`` or ``both``.

    Returns
    -------
    WhitenedFactSet

    Raises
    ------
    InvalidInputError
        For an unknown mode, a side that cannot be whitened (:func:`whitening_map`), or a
        whitened set that is malformed (two keys that become identical with different values
        cannot happen for an invertible map; the floor keeps the map invertible).
    """
    if not isinstance(factset, FactSet):
        raise InvalidInputError(f"factset must be a FactSet, got {type(factset).__name__}")
    if mode not in WHITEN_MODES:
        raise InvalidInputError(
            f"whiten mode {mode!r} is unknown; choose one of {list(WHITEN_MODES)}"
        )
    key_map = whitening_map(factset.keys, center=False) if mode in ("keys", "both") else None
    value_map = whitening_map(factset.values, center=True) if mode in ("values", "both") else None
    keys = factset.keys if key_map is None else factset.keys @ key_map.T
    values = factset.values if value_map is None else factset.values @ value_map.T
    meta = {**factset.meta, "whiten": mode}
    return WhitenedFactSet(
        FactSet(keys, values, factset.fact_map, meta=meta), key_map, value_map, mode
    )


def unwhiten_mlp(weights: GatedMLPWeights, *, key_map=None, value_map=None) -> GatedMLPWeights:
    """The MLP for the original fact set from one built for the whitened set (module formula).

    ``gate ← gate·L_k``, ``up ← up·L_k`` (biases unchanged), then ``down ← L_vᵀ·down`` and
    ``down_bias ← L_vᵀ·down_bias`` by :func:`numerics.mlp.fold_readout`. The parameter count
    is unchanged.

    Parameters
    ----------
    weights : GatedMLPWeights
        The MLP that stores the whitened fact set.
    key_map, value_map : array_like (d, d) or None
        ``L_k`` and ``L_v`` from :class:`WhitenedFactSet` (``None``: that side unchanged).

    Returns
    -------
    GatedMLPWeights

    Raises
    ------
    InvalidInputError
        If a map is not a finite d×d matrix.
    """
    if not isinstance(weights, GatedMLPWeights):
        raise InvalidInputError(f"weights must be a GatedMLPWeights, got {type(weights).__name__}")
    if key_map is not None:
        lk = torch.as_tensor(
            as_matrix("key_map", key_map, cols=weights.dim),
            dtype=weights.dtype,
            device=weights.device,
        )
        if lk.shape[0] != weights.dim:
            raise InvalidInputError(
                f"key_map has shape {tuple(lk.shape)} but ({weights.dim}, {weights.dim}) was expected"
            )
        weights = GatedMLPWeights(
            weights.gate @ lk,
            weights.up @ lk,
            weights.down,
            activation=weights.activation,
            gate_bias=weights.gate_bias,
            up_bias=weights.up_bias,
            down_bias=weights.down_bias,
        )
    if value_map is not None:
        weights = fold_readout(weights, as_matrix("value_map", value_map))
    return weights
