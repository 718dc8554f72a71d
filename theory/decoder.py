"""The decoder of the encoder–decoder construction: a projection to m dimensions and codes.

Project the values with ``P ∈ R^{d×m}``: ``w_j = Pᵀ v_j`` (``W = V P``). The code of value
``j`` is the optimal separator of the projected values, ``c_j = u*_j(W)`` (a unit vector in
``R^m``, from :mod:`theory.rho`). An MLP that outputs ``y = P c`` has logits

.. math::

    \\langle P c, v_j \\rangle = \\langle c, P^\\top v_j \\rangle = \\langle c, w_j \\rangle ,

so decoding is exactly decoding of the projected values. **Decoder correctness** (derived
here): if the encoder delivers ``c_{f(i)} + δ`` instead of ``c_{f(i)}``, then for every
``j ≠ f(i)``

.. math::

    \\langle c_{f(i)} + δ,\\, w_{f(i)} - w_j \\rangle
      \\;\\ge\\; (ρ_{f(i)}(W) - ‖δ‖)\\, ‖w_{f(i)} - w_j‖ ,

because ``<c_i, w_i − w_j> ≥ ρ_i(W)‖w_i − w_j‖`` (definition of ρ_i with the maximiser) and
``<δ, w_i − w_j> ≥ −‖δ‖ ‖w_i − w_j‖`` (Cauchy–Schwarz). Decoding is therefore correct
whenever the code error is below the projected decodability, ``‖δ‖ < ρ_{f(i)}(W)``: ρ of the
projected values is the code-error budget, relative to the unit code norm.

Projections (``kind``):

* ``gaussian``: i.i.d. ``N(0, 1/m)`` entries (Johnson–Lindenstrauss; paper §4).
* ``pca``: the top-``m`` principal directions of the centred used values (orthonormal).
* ``whitened``: the same directions scaled by the inverse singular values, so the projected
  used values have identity covariance.

References: arXiv 2512.00207, paper.md §4 (decoder = separators compressed by a random
projection: the paper's); the projected-separator variant and the inequality above are
derived here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theory.errors import InvalidInputError
from theory.rho import decodability
from theory.validation import as_index_vector, as_matrix

__all__ = [
    "PROJECTIONS",
    "Decoder",
    "projection_matrix",
    "build_decoder",
    "float_forward_error_bound",
    "UNIT_ROUNDOFF",
]

PROJECTIONS = ("gaussian", "pca", "whitened")

#: Unit roundoff u = 2^-p of the formats a constructed MLP may be cast to.
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "bfloat16": 2.0**-8}


def projection_matrix(
    values, code_dim: int, *, kind: str = "gaussian", seed: int = 0, used=None
) -> np.ndarray:
    """The projection ``P`` (d × m) of the decoder; ``used`` selects the values PCA sees.

    Examples
    --------
    >>> projection_matrix(np.eye(3), 2, kind="pca").shape
    (3, 2)
    """
    V = as_matrix("values", values)
    d = V.shape[1]
    if (
        isinstance(code_dim, bool)
        or not isinstance(code_dim, (int, np.integer))
        or not 1 <= code_dim <= d
    ):
        raise InvalidInputError(f"code_dim must be an integer in [1, d = {d}], got {code_dim!r}")
    if kind not in PROJECTIONS:
        raise InvalidInputError(
            f"projection {kind!r} is unknown; choose one of {list(PROJECTIONS)}"
        )
    if kind == "gaussian":
        return np.random.default_rng(seed).standard_normal((d, code_dim)) / math.sqrt(code_dim)
    rows = V if used is None else V[as_index_vector("used", used, upper=V.shape[0])]
    centred = rows - rows.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=True)
    directions = vt[:code_dim].T
    if kind == "pca":
        return directions
    scale = np.zeros(code_dim)
    scale[: singular.size] = singular[:code_dim]
    if np.any(scale[:code_dim] <= singular.max(initial=0.0) * 1e-12):
        raise InvalidInputError(
            f"whitened projection needs {code_dim} non-degenerate principal directions, but the "
            f"used values span only {int(np.sum(singular > singular.max() * 1e-12))}"
        )
    return directions / scale * math.sqrt(max(rows.shape[0] - 1, 1))


@dataclass(frozen=True)
class Decoder:
    """Projection, codes and the projected decodability.

    Attributes
    ----------
    projection : ndarray (d, m)
        ``P``; the MLP's down projection is ``P`` times the encoder's code map.
    codes : ndarray (M, m)
        ``c_j = u*_j(W)`` for used values (unit rows), zero rows for unused values.
    rho_projected : ndarray (M,)
        ``ρ_j(W)`` for used values, NaN for unused ones: the code-error budget of value j.
    used : ndarray of int
        The values the fact map uses.
    """

    projection: np.ndarray
    codes: np.ndarray
    rho_projected: np.ndarray
    used: np.ndarray

    @property
    def code_dim(self) -> int:
        return self.projection.shape[1]

    @property
    def rho(self) -> float:
        """ρ of the projected used values: min over used j of ρ_j(W)."""
        return float(np.min(self.rho_projected[self.used]))

    @property
    def decodable(self) -> bool:
        return self.rho > 0.0


def build_decoder(values, fact_map, projection: np.ndarray, *, progress: bool = False) -> Decoder:
    """Codes for the used values under ``projection``: the separators of ``W = V P``."""
    V = as_matrix("values", values)
    P = as_matrix("projection", projection)
    if P.shape[0] != V.shape[1]:
        raise InvalidInputError(
            f"projection has {P.shape[0]} rows but the values have dimension {V.shape[1]}"
        )
    used = np.unique(as_index_vector("fact_map", fact_map, upper=V.shape[0]))
    dec = decodability(V @ P, indices=used, progress=progress)
    codes = np.zeros((V.shape[0], P.shape[1]))
    codes[used] = dec.u_star[used]
    return Decoder(projection=P, codes=codes, rho_projected=dec.rho_per_value, used=used)


def float_forward_error_bound(amplification: float, length: int, dtype: str) -> float:
    """Relative error bound of a code computed in floating point.

    A code coordinate is a sum of ``length`` products; in a format with unit roundoff ``u``
    its computed value differs from the exact one by at most ``γ_n · Σ|terms|`` with
    ``γ_n = n u / (1 − n u)`` (Higham, *Accuracy and Stability of Numerical Algorithms*,
    §3.1). ``amplification = ‖Σ|terms|‖ / ‖c‖`` measures the cancellation in the built
    weights. The result bounds ``‖δ‖/‖c‖``; decoding survives when it is below ρ(W).

    Examples
    --------
    >>> round(float_forward_error_bound(1.0, 100, "float32") / (100 * 2**-24), 6)
    1.000006
    """
    if dtype not in UNIT_ROUNDOFF:
        raise InvalidInputError(f"dtype {dtype!r} is unknown; choose one of {list(UNIT_ROUNDOFF)}")
    nu = length * UNIT_ROUNDOFF[dtype]
    return math.inf if nu >= 1 else amplification * nu / (1 - nu)
