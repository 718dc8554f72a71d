"""A rigorous lower bound on the smallest eigenvalue of the dense encoder's kernel.

The dense encoder (:mod:`numerics.construction.encoder_dense`) solves with the kernel

.. math::

    Q = (S S^\\top) ∘ (X X^\\top), \\qquad S = σ(Z G^\\top + b), \\qquad
    X = Z \\text{ or } [Z, 1] \\text{ (with a bias)},

Z (F × q) the whitened keys, G (r × q) the gate rows, b the gate bias. Given Z, G, b in
float64, *taken as exact reals*, :func:`kernel_eigenvalue_certificate` bounds λ_min of the
exact real Q from below, a posteriori, in three steps:

1. **The kernel in floats.** Q̃ is Q computed in float64 by numpy, its lower triangle
   mirrored so that it is exactly symmetric, with an entrywise bound ``|Q − Q̃| ≤ B`` (the
   arithmetic model below) that is symmetric too, so ``‖Q − Q̃‖₂ ≤ max_i Σ_j B_ij``.
2. **A shifted factorisation.** For a shift ``s > 0`` numpy's Cholesky factor L of
   ``Q̃ − sI`` (any real L would do) leaves the exact residual ``E = Q̃ − sI − LLᵀ``,
   symmetric; ``LLᵀ ⪰ 0`` for every real L, so ``λ_min(Q̃) ≥ s − ‖E‖₂`` and
   ``‖E‖₂ ≤ max_i Σ_j |E_ij|`` with ``|E_ij| ≤ |R̂_ij| + γ_{F+2}(|Q̃_ij| + sδ_ij +
   (|L||L|ᵀ)_ij) + 2(F+2)λ(1 + γ_{F+2})``: R̂ is the computed residual, each of its entries a
   sum of F + 2 terms (Q̃_ij, −s, the products −L_ik L_jk) in some order.
3. **Weyl:** ``λ_min(Q) ≥ s − ‖E‖₂ − ‖Q − Q̃‖₂``. Also ``λ_max(Q) ≤ max_i Σ_j |Q̃_ij| +
   ‖Q − Q̃‖₂``, so ``κ(Q)`` is bounded above.

The shift is half an estimate of λ_min(Q̃) (the caller's, or inverse iteration on a Cholesky
factor of Q̃), halved again when the factorisation fails or the bound is not positive, up to
:data:`SHIFT_ATTEMPTS` factorisations. A bound ≤ 0 certifies nothing; it is not a proof of
singularity.

**The arithmetic model** (:func:`kernel_arithmetic_model` states it in words; the constants
are :mod:`theory.rounding`'s, float64: u = 2^-53, λ = 2^-1022):

- every rounding is ``x(1 + δ) + η``, ``|δ| ≤ u``, ``|η| ≤ λ``; numpy's matmul (BLAS, no
  Strassen) computes each entry as a dot product of length n in some order, with or without
  FMA: error ``≤ γ_n Σ|x_i y_i| + 2nλ(1 + γ_n)`` (:func:`theory.rounding.dot_error_bound`);
- the activation, computed here by numpy (SiLU ``x / (1 + exp(−x))``; GELU
  ``x (1 + erf(x/√2)) / 2`` with the C library's ``erf``), is within ``k u |σ(x)| + k_x u |x|
  + λ`` of σ at its computed input, with ``(k, k_x)`` from
  :data:`theory.rounding.ACTIVATION_ERROR`: the same stated claim as the precision
  certifier's model, for these float64 kernels (tested against mpmath; the one measured
  part of the model), for inputs below ``Ω/2``; relu and identity are exact; the input error
  propagates through :func:`theory.rounding.lipschitz_on_interval`;
- the Hadamard product is one rounding per entry; bounds are computed in float64, each stage
  multiplied by :data:`~theory.rounding.SAFETY_FACTOR` and increased by
  :data:`~theory.rounding.SAFETY_TINY` (their rounding), and the final subtraction keeps a
  relative slack of :data:`~theory.rounding.COMPARISON_SLACK`.

**The bound B**, with ``a = |Ŝ|``, ``e ≥ |Ŝ − S|`` (entrywise), ``x = |X|``, ``τ_n =
2nλ(1 + γ_n)``: ``|Ĉ − C| ≤ γ_r a aᵀ + τ_r + e(a + e)ᵀ + a eᵀ`` for ``Ĉ = fl(ŜŜᵀ)``,
``|Ŵ − W| ≤ γ_{d'} x xᵀ + τ_{d'}`` for ``Ŵ = fl(XXᵀ)``, and the product's rounding, so

.. math::

    B = \\bigl((γ_r + u(1 + γ_r)) a a^\\top + (1 + u) τ_r + e(a + e)^\\top + a e^\\top\\bigr)
        ∘ \\bigl((1 + γ_{d'}) x x^\\top + τ_{d'}\\bigr)
        + (a + e)(a + e)^\\top ∘ \\bigl(γ_{d'} x x^\\top + τ_{d'}\\bigr) + λ .

Its row sums cost O(F r d'), no F × F array: each term is a Hadamard product of non-negative
low-rank matrices, and ``Σ_j (U₁V₁ᵀ)_ij (U₂V₂ᵀ)_ij = Σ_b (U₁ (V₁ᵀ V₂))_ib (U₂)_ib``.

**Cost:** the F × F kernel (O(F² (r + d'))), one Cholesky per attempt (F³/3 flops), the
lower triangle of LLᵀ (F³/3 flops, in blocks) and, without a caller's estimate, one more
Cholesky and a few triangular solves. Memory: about three F × F float64 arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theory.errors import InvalidInputError
from theory.rounding import (
    ACTIVATION_ERROR,
    ACTIVATION_INPUT_LIMIT,
    COMPARISON_SLACK,
    LIPSCHITZ,
    MAX_LENGTH,
    REFERENCE_FORMAT,
    SAFETY_FACTOR,
    SAFETY_TINY,
    dot_error_bound,
    gamma,
    lipschitz_on_interval,
)

__all__ = [
    "KernelEigenvalueCertificate",
    "kernel_eigenvalue_certificate",
    "kernel_activation",
    "kernel_arithmetic_model",
    "SHIFT_ATTEMPTS",
]

#: Factorisations tried, the shift halved after each failure.
SHIFT_ATTEMPTS = 4
#: Inverse-iteration steps of the λ_min estimate (an estimate only: it sets the shift).
_ESTIMATE_STEPS = 12
#: Rows per block of the residual and of the triangular solves.
_BLOCK = 512
#: Rows per block of :func:`_gram`.
_GRAM_ROWS = 2048


@dataclass(frozen=True)
class KernelEigenvalueCertificate:
    """A rigorous bound on the extreme eigenvalues of the exact kernel Q (module docstring).

    Attributes
    ----------
    lower_bound : float
        ``≤ λ_min(Q)`` under the arithmetic model; positive: Q is certified nonsingular
        (positive definite). ``-inf`` when no factorisation succeeded.
    upper_bound : float
        ``≥ λ_max(Q)``: the largest absolute row sum of Q̃ plus ``kernel_error``.
    shift : float
        s of the factorisation the bound comes from (NaN when none succeeded).
    residual_norm : float
        ``≥ ‖Q̃ − sI − LLᵀ‖₂`` (NaN when no factorisation succeeded).
    kernel_error : float
        ``≥ ‖Q − Q̃‖₂``, the float64 computation of the kernel.
    attempts : int
        Factorisations tried.
    shape : tuple[int, int, int, bool]
        (F, q, r, bias): keys, their dimension, gate rows, whether a bias is present.
    activation : str
    reason : str
        Why the bound is not positive ("" when it is).
    model : str
        The arithmetic model in words.
    """

    lower_bound: float
    upper_bound: float
    shift: float
    residual_norm: float
    kernel_error: float
    attempts: int
    shape: tuple[int, int, int, bool]
    activation: str
    reason: str
    model: str

    @property
    def certified(self) -> bool:
        """Whether the exact kernel is certified positive definite (``lower_bound > 0``)."""
        return self.lower_bound > 0

    @property
    def condition_upper_bound(self) -> float:
        """``upper_bound / lower_bound ≥ κ(Q)`` when certified, else ``inf``."""
        return self.upper_bound / self.lower_bound if self.certified else math.inf

    def __str__(self) -> str:
        f, q, r, bias = self.shape
        head = f"F={f}, q={q}, r={r}, bias={bias}, {self.activation}"
        if not self.certified:
            return f"{head}: not certified ({self.reason})"
        return (
            f"{head}: λ_min(Q) ≥ {self.lower_bound:.6g}, λ_max(Q) ≤ {self.upper_bound:.6g}, "
            f"κ(Q) ≤ {self.condition_upper_bound:.3g} (shift {self.shift:.3g}, "
            f"‖E‖ ≤ {self.residual_norm:.2g}, ‖Q − Q̃‖ ≤ {self.kernel_error:.2g})"
        )


def _upper(x):
    """A float64 bound computation's result, inflated to cover its own rounding."""
    return x * SAFETY_FACTOR + SAFETY_TINY


def kernel_activation(activation: str, x: np.ndarray) -> np.ndarray:
    """σ(x) in float64 as this module computes it (the kernels the activation claim covers).

    Examples
    --------
    >>> kernel_activation("silu", np.array([0.0, 1.0, -800.0])).tolist()
    [0.0, 0.7310585786300049, -0.0]
    """
    if activation == "silu":
        with np.errstate(over="ignore"):  # exp(−x) = inf below −709: x / inf = −0, as exact
            return x / (1.0 + np.exp(-x))
    if activation == "gelu":
        return x * (1.0 + _erf(x * (1.0 / math.sqrt(2.0)))) / 2.0
    if activation == "relu":
        return np.maximum(x, 0.0)
    if activation == "identity":
        return x.copy()
    raise InvalidInputError(
        f"activation {activation!r} is unknown; allowed: {', '.join(sorted(ACTIVATION_ERROR))}"
    )


#: The C library's erf, elementwise (numpy has none; theory may not use scipy).
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _finite_array(name: str, value, ndim: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != ndim:
        raise InvalidInputError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if not np.isfinite(array).all():
        index = tuple(int(j) for j in np.argwhere(~np.isfinite(array))[0])
        raise InvalidInputError(f"{name}[{index}] is not finite")
    return array


def _hadamard_row_sums(left, right) -> np.ndarray:
    """Row sums of ``(U₁V₁ᵀ) ∘ (U₂V₂ᵀ)`` for ``left = (U₁, V₁)``, ``right = (U₂, V₂)``."""
    (u1, v1), (u2, v2) = left, right
    return ((u1 @ (v1.T @ v2)) * u2).sum(axis=1)


def _kernel_and_error(keys, gate_rows, gate_bias, activation):
    """Q̃ (symmetric, float64), the row sums of B ≥ |Q − Q̃|, or a reason it cannot be bounded."""
    fmt = REFERENCE_FORMAT
    u, lam = fmt.unit_roundoff, fmt.smallest_normal
    n_keys, dim = keys.shape
    bias = gate_bias is not None
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
        pre = keys @ gate_rows.T + (gate_bias if bias else 0.0)
        pre_abs = np.abs(keys) @ np.abs(gate_rows).T + (np.abs(gate_bias) if bias else 0.0)
        pre_error = _upper(dot_error_bound(pre_abs, dim + int(bias), fmt))
        reach = _upper(np.abs(pre) + pre_error)
    if not np.all(reach < ACTIVATION_INPUT_LIMIT * fmt.max_finite):  # NaN fails too
        return None, None, "an activation input reaches Ω/2 (overflow)"
    S = kernel_activation(activation, pre)
    k, kx = ACTIVATION_ERROR[activation]
    # The interval's upper end, rounded up so that it holds the exact input too.
    lip = lipschitz_on_interval(activation, np.nextafter(pre + pre_error, np.inf))
    s_error = lip * pre_error
    if k or kx:
        # |σ̂ − σ(x̂)| ≤ k u |σ(x̂)| + k_x u |x̂| + λ, and |σ(x̂)| ≤ (|σ̂| + k_x u |x̂| + λ)/(1 − k u).
        exact_abs = (np.abs(S) + kx * u * np.abs(pre) + lam) / (1.0 - k * u)
        s_error = s_error + k * u * exact_abs + kx * u * np.abs(pre) + lam
    s_error = _upper(s_error)

    X = np.hstack([keys, np.ones((n_keys, 1))]) if bias else keys
    Q = _gram(S)
    Q *= _gram(X)
    for start, stop in _blocks(n_keys):  # mirror the lower triangle: exactly symmetric
        diagonal = Q[start:stop, start:stop]
        diagonal[...] = np.tril(diagonal) + np.tril(diagonal, -1).T  # + 0.0: exact
        Q[start:stop, stop:] = Q[stop:, start:stop].T

    a, e, x = np.abs(S), s_error, np.abs(X)
    ones = np.ones((n_keys, 1))
    rows, feats = gate_rows.shape[0], X.shape[1]
    g_s, g_x = gamma(rows, u), gamma(feats, u)
    t_s, t_x = float(dot_error_bound(0.0, rows, fmt)), float(dot_error_bound(0.0, feats, fmt))
    gram_error = (  # ≥ |Ĉ − C| + u|Ĉ|: the Gram matrix of S and the product's rounding
        np.hstack([(g_s + u * (1 + g_s)) * a, (1 + u) * t_s * ones, e, a]),
        np.hstack([a, ones, a + e, e]),
    )
    feature_abs = (np.hstack([(1 + g_x) * x, t_x * ones]), np.hstack([x, ones]))  # ≥ |Ŵ|
    feature_error = (np.hstack([g_x * x, t_x * ones]), np.hstack([x, ones]))  # ≥ |Ŵ − W|
    error_rows = _hadamard_row_sums(gram_error, feature_abs)
    error_rows += _hadamard_row_sums((a + e, a + e), feature_error)  # |C| ≤ (a + e)(a + e)ᵀ
    return Q, _upper(error_rows + n_keys * lam), ""


def _blocks(n: int) -> list[tuple[int, int]]:
    return [(start, min(start + _BLOCK, n)) for start in range(0, n, _BLOCK)]


def _gram(A: np.ndarray, rows: int = _GRAM_ROWS) -> np.ndarray:
    """``A Aᵀ`` as row blocks ``A[i:j] Aᵀ`` (general products). numpy sends ``A @ A.T`` to
    BLAS's syrk, and the multithreaded syrk of the OpenBLAS bundled with numpy 2.4 (0.3.31)
    segfaults at 16384 rows (checked on this machine: F = 2^14 construct crashed here). Each
    entry is still one dot product of length ``A.shape[1]``: the error model is unchanged."""
    out = np.empty((A.shape[0], A.shape[0]))
    for start in range(0, A.shape[0], rows):
        out[start : start + rows] = A[start : start + rows] @ A.T
    return out


def _cholesky(Q: np.ndarray, rows: int = _GRAM_ROWS) -> np.ndarray:
    """A lower Cholesky factor of Q by blocks of ``rows`` (right-looking: each diagonal block
    factored by numpy, the panel below it by a solve, every update a general product of
    distinct arrays), for the same OpenBLAS fault as :func:`_gram`: numpy's own
    ``cholesky`` crashes at 16384 rows. Raises ``LinAlgError`` when a diagonal block is not
    positive definite. The certificate does not rest on how L was computed: its residual
    ``Q − sI − LLᵀ`` is bounded afterwards for whatever L this returns."""
    n = Q.shape[0]
    L = np.zeros_like(Q)
    for k0 in range(0, n, rows):
        k1 = min(k0 + rows, n)
        done = L[k0:k1, :k0].copy()  # a copy: ``x @ x.T`` on one buffer would be syrk again
        L[k0:k1, k0:k1] = np.linalg.cholesky(Q[k0:k1, k0:k1] - L[k0:k1, :k0] @ done.T)
        if k1 < n:
            panel = Q[k1:, k0:k1] - L[k1:, :k0] @ done.T
            L[k1:, k0:k1] = np.linalg.solve(L[k0:k1, k0:k1], panel.T).T
    return L


def _smallest_eigenvalue_estimate(Q: np.ndarray) -> float:
    """λ_min(Q) estimated by inverse iteration on a Cholesky factor (an over-estimate that
    tends to λ_min); NaN when Q is not positive definite in float64."""
    try:
        factor = _cholesky(Q)
    except np.linalg.LinAlgError:
        return math.nan
    blocks = _blocks(Q.shape[0])
    inverses = [np.linalg.inv(factor[i0:i1, i0:i1]) for i0, i1 in blocks]
    v = np.random.default_rng(0).standard_normal(Q.shape[0])
    growth = 0.0
    for _ in range(_ESTIMATE_STEPS):
        y = np.empty_like(v)
        for (i0, i1), inverse in zip(blocks, inverses, strict=True):  # L y = v
            y[i0:i1] = inverse @ (v[i0:i1] - factor[i0:i1, :i0] @ y[:i0])
        w = np.empty_like(v)
        for (i0, i1), inverse in reversed(list(zip(blocks, inverses, strict=True))):  # Lᵀ w = y
            w[i0:i1] = inverse.T @ (y[i0:i1] - factor[i1:, i0:i1].T @ w[i1:])
        growth = float(np.linalg.norm(w))
        v = w / growth
    return 1.0 / growth if growth > 0 and math.isfinite(growth) else math.nan


def _residual_norm(Q: np.ndarray, shift: float) -> float | None:
    """A bound on ``‖Q − sI − LLᵀ‖₂`` for numpy's Cholesky factor L of ``Q − sI`` (None when
    the factorisation fails). Q is shifted in place and restored exactly (its diagonal is
    kept), so only the lower triangle of LLᵀ is formed, block by block."""
    n = Q.shape[0]
    diagonal = Q.diagonal().copy()
    Q.flat[:: n + 1] -= shift
    try:
        factor = _cholesky(Q)
    except np.linalg.LinAlgError:
        factor = None
    Q.flat[:: n + 1] = diagonal
    if factor is None:
        return None
    blocks = _blocks(n)
    residual_rows = np.zeros(n)  # Σ_j |R̂_ij| over the mirrored lower triangle
    abs_rows = np.zeros(n)  # Σ_j |Q_ij|
    column_sums = np.zeros(n)  # |L|ᵀ 1
    for i0, i1 in blocks:
        # The certified L is the lower triangle: zero whatever lies above it.
        factor[i0:i1, i0:i1] = np.tril(factor[i0:i1, i0:i1])
        factor[i0:i1, i1:] = 0.0
        column_sums += np.abs(factor[i0:i1]).sum(axis=0)
        abs_rows[i0:i1] = np.abs(Q[i0:i1]).sum(axis=1)
    for i0, i1 in blocks:
        for j0, j1 in blocks:
            if j0 > i0:
                break
            # Rows j < j1 of L vanish beyond column j1, so the first j1 columns suffice.
            block = Q[i0:i1, j0:j1] - factor[i0:i1, :j1] @ factor[j0:j1, :j1].T
            if j0 == i0:  # its lower triangle, the strict part mirrored to the rows above
                block.flat[:: block.shape[1] + 1] -= shift
                residual_rows[i0:i1] += np.abs(np.tril(block)).sum(axis=1)
                residual_rows[j0:j1] += np.abs(np.tril(block, -1)).sum(axis=0)
            else:
                block = np.abs(block)
                residual_rows[i0:i1] += block.sum(axis=1)
                residual_rows[j0:j1] += block.sum(axis=0)
    product_rows = np.concatenate([np.abs(factor[i0:i1]) @ column_sums for i0, i1 in blocks])
    fmt = REFERENCE_FORMAT
    length = n + 2  # Q_ij, −s and the n products −L_ik L_jk
    rounding = gamma(length, fmt.unit_roundoff) * (abs_rows + shift + product_rows)
    rows = _upper(residual_rows) + rounding + n * float(dot_error_bound(0.0, length, fmt))
    return float(_upper(rows).max())


def kernel_eigenvalue_certificate(
    keys,
    gate_rows,
    gate_bias=None,
    *,
    activation: str = "silu",
    smallest_estimate: float | None = None,
) -> KernelEigenvalueCertificate:
    """Rigorous bounds on the extreme eigenvalues of the exact kernel ``Q(Z, G, b)``.

    Parameters
    ----------
    keys : array_like (F, q)
        Z, float64, taken as exact reals (the encoder's whitened keys; q = 0 allowed).
    gate_rows : array_like (r, q)
        G, taken as exact.
    gate_bias : array_like (r,) or None
        b; as in the encoder, a gate bias comes with the constant feature: X = [Z, 1].
    activation : ``silu``, ``gelu``, ``relu`` or ``identity``
    smallest_estimate : float > 0 or None
        An estimate of λ_min(Q) (the caller's, e.g. from its own factorisation); the first
        factorisation shifts by half of it. None: estimated here (one more Cholesky
        factorisation and a few triangular solves).

    Raises
    ------
    InvalidInputError
        Non-finite entries, shapes that disagree, an unknown activation, an estimate that is
        not a positive finite number.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z, G = rng.standard_normal((6, 3)), rng.standard_normal((3, 3))
    >>> cert = kernel_eigenvalue_certificate(Z, G)
    >>> S = kernel_activation("silu", Z @ G.T)
    >>> smallest = np.linalg.eigvalsh((S @ S.T) * (Z @ Z.T))[0]
    >>> cert.certified, bool(smallest / 4 < cert.lower_bound < smallest)
    (True, True)
    >>> Z[5] = Z[0]  # a repeated key: Q is singular
    >>> kernel_eigenvalue_certificate(Z, G).certified
    False
    """
    Z = _finite_array("keys", keys, 2)
    G = _finite_array("gate_rows", gate_rows, 2)
    n_keys, dim = Z.shape
    if n_keys < 1 or G.shape[0] < 1 or G.shape[1] != dim:
        raise InvalidInputError(
            f"keys {Z.shape} and gate_rows {G.shape} must be (F, q) and (r, q), F, r ≥ 1"
        )
    b = None if gate_bias is None else _finite_array("gate_bias", gate_bias, 1)
    if b is not None and b.shape != (G.shape[0],):
        raise InvalidInputError(f"gate_bias {b.shape} must be ({G.shape[0]},)")
    if activation not in ACTIVATION_ERROR:
        raise InvalidInputError(
            f"activation {activation!r} is unknown; allowed: {', '.join(sorted(ACTIVATION_ERROR))}"
        )
    if smallest_estimate is not None and not (
        math.isfinite(smallest_estimate) and smallest_estimate > 0
    ):
        raise InvalidInputError(
            f"smallest_estimate must be a positive finite number, got {smallest_estimate!r}"
        )
    if n_keys + 2 > MAX_LENGTH:
        raise InvalidInputError(f"F = {n_keys} exceeds the {MAX_LENGTH - 2} the model covers")

    result = dict(
        shape=(n_keys, dim, G.shape[0], b is not None),
        activation=activation,
        model=kernel_arithmetic_model(activation),
    )
    Q, error_rows, reason = _kernel_and_error(Z, G, b, activation)
    if Q is None:
        return KernelEigenvalueCertificate(
            -math.inf, math.inf, math.nan, math.nan, math.inf, 0, reason=reason, **result
        )
    kernel_error = float(error_rows.max())
    upper = float(_upper(max(np.abs(Q[i0:i1]).sum(axis=1).max() for i0, i1 in _blocks(n_keys))))
    upper = float(_upper(upper + kernel_error))
    estimate = _smallest_eigenvalue_estimate(Q) if smallest_estimate is None else smallest_estimate
    if not estimate > 0:  # NaN: Q̃ is not positive definite in float64
        return KernelEigenvalueCertificate(
            -math.inf,
            upper,
            math.nan,
            math.nan,
            kernel_error,
            0,
            reason="the float64 kernel has no Cholesky factorisation",
            **result,
        )
    s = estimate / 2
    best = (-math.inf, math.nan, math.nan)
    attempts = 0
    while attempts < SHIFT_ATTEMPTS:
        attempts += 1
        residual = _residual_norm(Q, s)
        if residual is not None:
            total = residual + kernel_error
            lower = s - total - COMPARISON_SLACK * (s + total)
            if lower > best[0]:
                best = (lower, s, residual)
            if lower > 0:
                break
        s /= 2
    lower, s, residual = best
    if lower > 0:
        reason = ""
    elif math.isnan(s):
        reason = f"no shifted Cholesky factorisation succeeded in {attempts} attempts"
    else:
        reason = (
            f"the residual and rounding bounds ({residual + kernel_error:.3g}) exceed the shift"
        )
    return KernelEigenvalueCertificate(
        lower, upper, s, residual, kernel_error, attempts, reason=reason, **result
    )


def kernel_arithmetic_model(activation: str) -> str:
    """The arithmetic model of :func:`kernel_eigenvalue_certificate`, in words.

    Examples
    --------
    >>> "γ_n" in kernel_arithmetic_model("silu")
    True
    """
    if activation not in ACTIVATION_ERROR:
        raise InvalidInputError(
            f"activation {activation!r} is unknown; allowed: {', '.join(sorted(ACTIVATION_ERROR))}"
        )
    k, kx = ACTIVATION_ERROR[activation]
    act = (
        f"{activation} is exact in floating point"
        if k == 0 and kx == 0
        else f"{activation}, computed by numpy's float64 kernels (silu x/(1 + exp(−x)), gelu "
        f"x(1 + erf(x/√2))/2 with the C library's erf), is within {k:g}·u·|σ(x)| + "
        f"{kx:g}·u·|x| + λ of σ(x) at its computed input x for |x| < Ω/2 (the precision "
        "certifier's activation claim, tested against mpmath: the one measured part)"
    )
    return (
        "Keys Z, gate rows G and gate bias b (float64) are taken as exact reals; the exact "
        "kernel Q = (σ(ZGᵀ + b) σ(ZGᵀ + b)ᵀ) ∘ (XXᵀ) is bounded. float64: u = 2^-53, every "
        "rounding x(1+δ) + η with |δ| ≤ u, |η| ≤ λ = 2^-1022. Every matmul entry (numpy's "
        "BLAS, no Strassen) is a dot product of length n in some order, with or without FMA: "
        "error ≤ γ_n Σ|x_i y_i| + 2nλ(1 + γ_n), γ_n = nu/(1 − nu); each residual entry "
        "Q̃_ij − sδ_ij − Σ_k L_ik L_jk is such a sum of F + 2 terms. Activation: "
        f"{act}; its input error propagates through sup|σ'| on an interval holding the exact "
        f"and the computed input (≤ {LIPSCHITZ[activation]:g}). The Hadamard product is one "
        "rounding. Then λ_min(Q) ≥ s − ‖Q̃ − sI − LLᵀ‖₂ − ‖Q − Q̃‖₂ (LLᵀ ⪰ 0, Weyl), each norm "
        "bounded by the largest absolute row sum of an entrywise bound of a symmetric matrix. "
        "Bounds are computed in float64, each stage multiplied by 1 + 2^-20 and increased by "
        "2^-1000; the final subtraction keeps a relative slack of 2^-49."
    )
