"""Lipschitz bounds of a gated MLP on a ball, and the noise radius a decoding margin guarantees.

For ``g(x) = D(σ(u) ⊙ w) + b_D`` with ``u = Gx + b_G``, ``w = Ax + b_A`` the Jacobian is

.. math::

    J(x) = D\\,\\big[\\operatorname{diag}(σ'(u) ⊙ w)\\, G + \\operatorname{diag}(σ(u))\\, A\\big].

On the ball ``B(c, r) = {x : ‖x − c‖ ≤ r}`` every coordinate obeys
``|u_i| ≤ U_i = |u_i(c)| + ‖g_i‖ r`` and ``|w_i| ≤ W_i = |w_i(c)| + ‖a_i‖ r`` (g_i, a_i the
rows of G, A), so with ``s₁ = sup|σ'|`` and ``s₀ = sup_z |σ(z)/z|`` (:data:`ACTIVATION_BOUNDS`)

.. math::

    \\sup_{x ∈ B(c,r)} ‖J(x)‖_2 \\;\\le\\; L(c, r) = \\min\\Big(
      ‖D‖_2\\big(s_1 \\max_i W_i\\, ‖G‖_2 + s_0 \\max_i U_i\\, ‖A‖_2\\big),\\;
      \\big\\|\\, |D|\\,(\\operatorname{diag}(s_1 W)\\,|G| + \\operatorname{diag}(s_0 U)\\,|A|)\\big\\|_2 \\Big),

the first by submultiplicativity, the second because ``|J| ≤ |D| (diag(s₁W)|G| +
diag(s₀U)|A|)`` entrywise and the spectral norm is monotone on non-negative matrices
(Perron–Frobenius). ``B(c, r)`` is convex, so ``L(c, r)`` is a Lipschitz constant of ``g`` on
it: ``‖g(x) − g(y)‖ ≤ L(c, r) ‖x − y‖``. A gated MLP is quadratic at large ‖x‖, so no global
constant exists: the bound is local (a ball around a key, or ``c = 0`` and r the largest key
norm plus the noise).

**Noise radius** (margin against sensitivity, derived here): if ``g`` decodes key ``k``
to value ``f`` with margins ``m_j = <g(k), v_f − v_j>`` and is L-Lipschitz on ``B(k, r)``,
then for ``‖ε‖ ≤ r``, ``<g(k+ε), v_f − v_j> ≥ m_j − L‖ε‖‖v_f − v_j‖`` (Cauchy–Schwarz), so
decoding survives every perturbation with

.. math::

    ‖ε‖ < r^*(k) = \\min\\Big(r,\\; \\frac{μ}{L}\\Big), \\qquad
    μ = \\min_{j≠f} \\frac{m_j}{‖v_f − v_j‖} \\quad (\\text{the normalised margin}).

**What kind of evidence.** The derivation holds in exact arithmetic for the weights as
given (float64 numbers taken as reals). The functions here evaluate ``L`` (spectral norms by
LAPACK SVD) and the caller evaluates ``μ`` (a float64 forward pass) without bounding their
rounding, so a computed ``r*`` is *checked*, not certified; the float64 rounding is far below
the looseness of ``L`` (16–57× the largest Jacobian norm found near the keys in
``benchmarks/bench_robust_m.py``), but no bound on it is stated.

References: paper.md §6 (Lipschitz metrics predict usability; the attention output is a
noisy key k + ε); the bound, its constants and the noise radius are derived here.
"""

from __future__ import annotations

import math

import numpy as np

from theory.errors import InvalidInputError
from theory.validation import as_matrix

__all__ = ["ACTIVATION_BOUNDS", "activation_bounds", "gated_lipschitz_bound", "noise_radius"]

#: (s₁, s₀) = (sup_z |σ'(z)|, sup_z |σ(z)/z|) per activation. ReLU, identity: (1, 1).
#: GELU (erf form): σ'' = φ(z)(2 − z²) vanishes at z = ±√2, so s₁ = Φ(√2) + √2 φ(√2)
#: = 1.12890414…; SiLU: σ' = s(z)(1 + z(1 − s(z))) peaks at z ≈ 2.39936 with value
#: 1.09983932… (no closed form; stored rounded up, tests check it on a fine grid).
#: |σ(z)/z| is Φ(z) ≤ 1 (GELU), sigmoid(z) ≤ 1 (SiLU), ≤ 1 (ReLU).
ACTIVATION_BOUNDS = {
    "relu": (1.0, 1.0),
    "identity": (1.0, 1.0),
    "silu": (1.0998394, 1.0),
    "gelu": (
        0.5 * (1.0 + math.erf(1.0))
        + math.sqrt(2.0) * math.exp(-1.0) / math.sqrt(2.0 * math.pi)
        + 1e-12,
        1.0,
    ),
}


def activation_bounds(activation: str) -> tuple[float, float]:
    """``(s₁, s₀)`` of :data:`ACTIVATION_BOUNDS`.

    Raises
    ------
    InvalidInputError
        For an activation without stored constants.

    Examples
    --------
    >>> activation_bounds("relu")
    (1.0, 1.0)
    >>> round(activation_bounds("gelu")[0], 6)
    1.128904
    """
    if activation not in ACTIVATION_BOUNDS:
        raise InvalidInputError(
            f"activation {activation!r} has no Lipschitz constants; "
            f"known: {', '.join(ACTIVATION_BOUNDS)}"
        )
    return ACTIVATION_BOUNDS[activation]


def _vector(name: str, value, length: int) -> np.ndarray:
    if value is None:
        return np.zeros(length)
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (length,):
        raise InvalidInputError(f"{name} has shape {arr.shape} but ({length},) was expected")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(
            f"{name}[{int(np.flatnonzero(~np.isfinite(arr))[0])}] is not finite"
        )
    return arr


def gated_lipschitz_bound(
    gate, up, down, activation: str, centers, radius: float, *, gate_bias=None, up_bias=None
) -> np.ndarray:
    """``L(c, r)`` of the module docstring for every row ``c`` of ``centers``.

    Parameters
    ----------
    gate, up : array_like (h, d)
        G and A.
    down : array_like (d, h)
        D.
    activation : str
        A key of :data:`ACTIVATION_BOUNDS`.
    centers : array_like (n, d)
        Ball centres (e.g. the keys; a single zero row for a ball around the origin).
    radius : float
        r ≥ 0.
    gate_bias, up_bias : array_like (h,), optional

    Returns
    -------
    ndarray (n,)
        An upper bound on ``sup_{x ∈ B(c, r)} ‖J(x)‖₂`` for each centre.

    Raises
    ------
    InvalidInputError
        On a shape mismatch, a non-finite entry, r < 0 or an unknown activation.

    Examples
    --------
    >>> import numpy as np
    >>> I = np.eye(2)
    >>> # g(x) = x ⊙ x (identity gate): J = 2 diag(x), so sup over B(0, 1) is exactly 2
    >>> gated_lipschitz_bound(I, I, I, "identity", np.zeros((1, 2)), 1.0)
    array([2.])
    """
    s1, s0 = activation_bounds(activation)
    G = as_matrix("gate", gate)
    h, d = G.shape
    A = as_matrix("up", up, cols=d)
    D = as_matrix("down", down, cols=h)
    if A.shape[0] != h or D.shape[0] != d:
        raise InvalidInputError(
            f"up has shape {A.shape} and down {D.shape}; expected ({h}, {d}) "
            f"and ({d}, {h}) from gate {G.shape}"
        )
    C = as_matrix("centers", centers, cols=d)
    if not (
        isinstance(radius, (int, float, np.floating)) and math.isfinite(radius) and radius >= 0
    ):
        raise InvalidInputError(f"radius must be finite and ≥ 0, got {radius!r}")
    b_g, b_a = _vector("gate_bias", gate_bias, h), _vector("up_bias", up_bias, h)
    U = np.abs(C @ G.T + b_g) + np.linalg.norm(G, axis=1) * radius  # (n, h)
    W = np.abs(C @ A.T + b_a) + np.linalg.norm(A, axis=1) * radius
    norm_d, norm_g, norm_a = (np.linalg.norm(M, 2) for M in (D, G, A))
    product = norm_d * (s1 * W.max(axis=1) * norm_g + s0 * U.max(axis=1) * norm_a)
    absD, absG, absA = np.abs(D), np.abs(G), np.abs(A)
    entrywise = np.array(
        [
            np.linalg.norm(absD @ (s1 * w[:, None] * absG + s0 * u[:, None] * absA), 2)
            for u, w in zip(U, W, strict=True)
        ]
    )
    return np.minimum(product, entrywise)


def noise_radius(normalized_margin, lipschitz, radius: float) -> np.ndarray:
    """``r* = min(r, μ / L)`` elementwise (module docstring); 0 where μ ≤ 0 (not decoded).

    Examples
    --------
    >>> noise_radius([0.2, -0.1, 5.0], [2.0, 2.0, 2.0], 1.0)
    array([0.1, 0. , 1. ])
    """
    mu = np.asarray(normalized_margin, dtype=np.float64)
    L = np.asarray(lipschitz, dtype=np.float64)
    if mu.shape != L.shape:
        raise InvalidInputError(f"normalized_margin has shape {mu.shape} but lipschitz {L.shape}")
    if np.any(~(L >= 0)):
        raise InvalidInputError("lipschitz constants must be ≥ 0 (and not NaN)")
    if not (math.isfinite(radius) and radius >= 0):
        raise InvalidInputError(f"radius must be finite and ≥ 0, got {radius!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(L > 0, mu / np.where(L > 0, L, 1.0), np.inf)
    return np.where(mu > 0, np.minimum(radius, ratio), 0.0)
