"""Rounding-error analysis of a gated MLP's decoding margins: the formats, γ_n, activation
error and Lipschitz constants, and the arithmetic model the precision certifier proves
bounds under (:mod:`numerics.precision.certificate` does the vectorised propagation).

The arithmetic model (what :func:`arithmetic_model` states in words):

- **Formats.** A format has unit roundoff ``u`` (float32 2^-24, bfloat16 2^-8, float16
  2^-11), smallest positive normal ``λ`` and largest finite number ``Ω``. Every rounding is
  ``fl(x) = x(1 + δ) + η`` with ``|δ| ≤ u``, ``|η| ≤ λ``: round to nearest in the normal
  range, and anything below ``λ`` in magnitude may be flushed to zero (AVX-512 BF16
  conversions and some GPU paths do), so gradual underflow is covered too.
- **Inputs.** Keys, values and weights, given in float64 and taken as exact reals, are
  rounded once with ``|δ| ≤ u_in``; ``u_in = u`` for float32 and ``(1 + u)(1 + 2^-24) − 1``
  for bfloat16 and float16, whose conversion from float64 may pass through float32 (torch's
  does). An entry above ``Ω`` overflows: refused.
- **Dot products** of length ``n`` (a bias counts as one more term) are computed in the
  format in any summation order, with or without FMA or a wider accumulator:
  ``|fl(xᵀy) − xᵀy| ≤ γ_n Σ|x_i y_i| + 2nλ(1 + γ_n)``, ``γ_n = nu / (1 − nu)`` (Higham,
  *Accuracy and Stability of Numerical Algorithms*, Lemma 3.1 and §3.1; the λ term: each of
  the ``2n − 1`` operations may add one η, amplified by at most ``(1 + u)^n ≤ 1 + γ_n``).
  When ``nu ≥ 1`` there is no bound (:func:`gamma` is ``inf``) and nothing is certified.
- **Activation.** At a computed input ``x̂`` the computed ``σ̂(x̂)`` satisfies
  ``|σ̂(x̂) − σ(x̂)| ≤ k u |σ(x̂)| + k_x u |x̂| + λ`` with ``(k, k_x)`` from
  :data:`ACTIVATION_ERROR` (relu and identity are exact). The ``k_x u |x̂|`` term covers the
  cancellation in ``1 + erf(x/√2)`` of GELU (torch's vectorised float32 erf was measured at
  up to about 5·u·|x| in absolute error) and the flush to zero of ``x·sigmoid(x)`` once
  ``exp(−x)`` overflows. This is a claim about the kernels, checked against mpmath by the
  tests, not a theorem, for inputs below ``Ω/2`` in magnitude (torch's GELU computes
  ``x(1 + erf(·))`` and overflows above): a larger activation input counts as an
  overflow. The input error propagates through ``sup |σ'|`` on an interval that
  holds both the exact and the computed input (:func:`lipschitz_on_interval`).
- **Elementwise product** ``σ(·) ⊙ (·)``: one rounding.
- **Overflow.** A key for which any intermediate magnitude bound reaches ``Ω`` is not
  certified.

The exact margin is bounded by the same propagation in float64 (``u = 2^-53``,
``λ = 2^-1022``, the same activation claim for torch's float64 kernels). The bounds are
computed in float64; every stage's bound is multiplied by :data:`SAFETY_FACTOR` and
increased by :data:`SAFETY_TINY`, which covers the float64 rounding (and underflow) of the
bound computation itself for lengths up to :data:`MAX_LENGTH`; the final comparisons keep a
relative slack of :data:`COMPARISON_SLACK` of their operands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from theory.errors import InvalidInputError

__all__ = [
    "FloatFormat",
    "FORMATS",
    "CERTIFIABLE_FORMATS",
    "REFERENCE_FORMAT",
    "float_format",
    "gamma",
    "dot_error_bound",
    "ACTIVATION_ERROR",
    "ACTIVATION_INPUT_LIMIT",
    "LIPSCHITZ",
    "lipschitz_on_interval",
    "SAFETY_FACTOR",
    "SAFETY_TINY",
    "COMPARISON_SLACK",
    "MAX_LENGTH",
    "arithmetic_model",
]

#: Relative inflation of every bound after each stage (covers the float64 rounding of the
#: bound computation: ≤ γ_{n+10} in float64, below 2^-20 for n ≤ MAX_LENGTH).
SAFETY_FACTOR = 1.0 + 2.0**-20
#: Absolute term added to every bound after each stage (covers float64 underflow there).
SAFETY_TINY = 2.0**-1000
#: Relative slack of the final float64 comparisons (a few roundings of their operands).
COMPARISON_SLACK = 2.0**-49
#: Longest dot product the safety factor covers.
MAX_LENGTH = 2**31


@dataclass(frozen=True)
class FloatFormat:
    """A floating-point format as the error model sees it.

    Attributes
    ----------
    name : str
    unit_roundoff : float
        ``u``: round to nearest gives ``|δ| ≤ u``.
    input_roundoff : float
        ``u_in``: the relative error of converting a float64 number (≥ ``u`` when the
        conversion may round twice, through float32).
    smallest_normal : float
        ``λ``: the absolute error allowed by underflow (flush to zero included).
    max_finite : float
        ``Ω``: the largest finite number; reaching it is an overflow.
    """

    name: str
    unit_roundoff: float
    input_roundoff: float
    smallest_normal: float
    max_finite: float


def _through_float32(u: float) -> float:
    return (1.0 + u) * (1.0 + 2.0**-24) - 1.0


#: The formats by name: the three that can be certified and the float64 reference.
FORMATS: dict[str, FloatFormat] = {
    "float32": FloatFormat("float32", 2.0**-24, 2.0**-24, 2.0**-126, (2 - 2.0**-23) * 2.0**127),
    "bfloat16": FloatFormat(
        "bfloat16", 2.0**-8, _through_float32(2.0**-8), 2.0**-126, (2 - 2.0**-7) * 2.0**127
    ),
    "float16": FloatFormat("float16", 2.0**-11, _through_float32(2.0**-11), 2.0**-14, 65504.0),
    "float64": FloatFormat(
        "float64", 2.0**-53, 2.0**-53, 2.0**-1022, float(np.finfo(np.float64).max)
    ),
}
#: Formats a key can be certified in (``factmlp certify --dtype``).
CERTIFIABLE_FORMATS = ("float32", "bfloat16", "float16")
#: The format of the "exact" reference computation.
REFERENCE_FORMAT = FORMATS["float64"]

#: ``(k, k_x)`` per activation: ``|σ̂(x) − σ(x)| ≤ k u |σ(x)| + k_x u |x| + λ`` (0, 0: exact).
ACTIVATION_ERROR: dict[str, tuple[float, float]] = {
    "relu": (0.0, 0.0),
    "identity": (0.0, 0.0),
    "silu": (4.0, 1.0 / 16.0),
    "gelu": (4.0, 8.0),
}

#: Activation inputs are claimed (and allowed) only below this fraction of ``Ω``.
ACTIVATION_INPUT_LIMIT = 0.5

#: Global Lipschitz constants (sup |σ'| rounded up: SiLU 1.09984 at x ≈ 2.3994, GELU
#: 1.12890 at x = √2).
LIPSCHITZ: dict[str, float] = {"relu": 1.0, "identity": 1.0, "silu": 1.0999, "gelu": 1.1290}

_INV_SQRT_2PI = 0.3989422804014327


def float_format(name: str) -> FloatFormat:
    """The :class:`FloatFormat` called ``name`` (a key of :data:`FORMATS`).

    Raises
    ------
    InvalidInputError
        For an unknown name.
    """
    if name not in FORMATS:
        raise InvalidInputError(f"format {name!r} is unknown; choose one of {', '.join(FORMATS)}")
    return FORMATS[name]


def gamma(n: int, u: float) -> float:
    """``γ_n = n u / (1 − n u)``, or ``inf`` when ``n u ≥ 1`` (no bound).

    Examples
    --------
    >>> gamma(0, 2.0**-24), gamma(256, 2.0**-8)
    (0.0, inf)
    >>> round(gamma(100, 2.0**-24) / (100 * 2.0**-24), 6)
    1.000006
    """
    if n < 0:
        raise InvalidInputError(f"n must be ≥ 0, got {n}")
    nu = n * u
    return math.inf if nu >= 1.0 else nu / (1.0 - nu)


def dot_error_bound(abs_sum, n: int, fmt: FloatFormat):
    """Bound on ``|fl(xᵀy) − xᵀy|`` for ``Σ|x_i y_i| = abs_sum`` (exact inputs), any order.

    ``γ_n · abs_sum + 2nλ(1 + γ_n)`` (the model above). Works on floats and numpy arrays.

    Examples
    --------
    >>> fmt = FORMATS["float32"]
    >>> bool(dot_error_bound(1.0, 10, fmt) > 10 * 2.0**-24)
    True
    """
    g = gamma(n, fmt.unit_roundoff)
    return g * np.asarray(abs_sum, dtype=np.float64) + 2 * n * fmt.smallest_normal * (1 + g)


def lipschitz_on_interval(activation: str, upper):
    """An upper bound on ``sup |σ'(t)|`` over ``t ≤ upper`` (so over any interval ending there).

    - relu: 0 where ``upper ≤ 0`` (σ is 0 on the whole interval), else 1; identity: 1.
    - silu: for ``upper ≤ 0``, ``|σ'(t)| = s(t)|1 + t(1 − s(t))| ≤ e^t (1 − t)`` (``s`` the
      sigmoid, ``s(t) ≤ e^t``), increasing in ``t < 0``: the bound is its value at ``upper``,
      capped by the global 1.0999.
    - gelu: for ``upper ≤ −1``, ``|Φ(t) + tφ(t)| ≤ e^{−t²/2}(1/2 + |t|/√(2π))`` (Chernoff:
      ``Φ(t) ≤ e^{−t²/2}/2`` for ``t ≤ 0``), increasing in ``t ≤ −1``; capped by 1.1290.

    The smooth envelopes are inflated by :data:`SAFETY_FACTOR` and :data:`SAFETY_TINY` for
    the rounding of ``exp``. Works on floats and numpy arrays.

    Examples
    --------
    >>> float(lipschitz_on_interval("relu", -0.5)), float(lipschitz_on_interval("silu", 3.0))
    (0.0, 1.0999)
    >>> bool(lipschitz_on_interval("silu", -10.0) < 1e-3)
    True
    """
    if activation not in LIPSCHITZ:
        raise InvalidInputError(
            f"activation {activation!r} is unknown; allowed: {', '.join(sorted(LIPSCHITZ))}"
        )
    x = np.asarray(upper, dtype=np.float64)
    cap = LIPSCHITZ[activation]
    if activation == "identity":
        return np.ones_like(x)
    if activation == "relu":
        return np.where(x > 0, 1.0, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        if activation == "silu":
            envelope = np.exp(np.minimum(x, 0.0)) * (1.0 - np.minimum(x, 0.0))
            tail = x <= 0
        else:
            t = np.minimum(x, -1.0)
            envelope = np.exp(-0.5 * t * t) * (0.5 + np.abs(t) * _INV_SQRT_2PI)
            tail = x <= -1
    envelope = envelope * SAFETY_FACTOR + SAFETY_TINY
    return np.where(tail, np.minimum(envelope, cap), cap)


def arithmetic_model(fmt_name: str, activation: str) -> str:
    """The arithmetic model, in words, for a certificate in ``fmt_name`` with ``activation``.

    Examples
    --------
    >>> "γ_n" in arithmetic_model("float32", "silu")
    True
    """
    fmt = float_format(fmt_name)
    if activation not in ACTIVATION_ERROR:
        raise InvalidInputError(
            f"activation {activation!r} is unknown; allowed: {', '.join(sorted(ACTIVATION_ERROR))}"
        )
    k, kx = ACTIVATION_ERROR[activation]
    exact = k == 0 and kx == 0
    act = (
        f"{activation} is exact in floating point"
        if exact
        else f"{activation} is computed within {k:g}·u·|σ(x)| + {kx:g}·u·|x| + λ of σ(x) at "
        "its computed input x for |x| < Ω/2 (a claim about torch's kernels, tested against "
        "mpmath; a larger input counts as an overflow)"
    )
    return (
        f"Format {fmt.name}: u = {fmt.unit_roundoff:.6g}, every rounding fl(x) = x(1+δ) + η "
        f"with |δ| ≤ u, |η| ≤ λ = {fmt.smallest_normal:.6g} (smallest normal: subnormals may "
        f"be flushed to zero), overflow at Ω = {fmt.max_finite:.6g} refused (key "
        "uncertified). Keys, values and weights (float64, taken as exact) are rounded once "
        f"with |δ| ≤ u_in = {fmt.input_roundoff:.9g} (the conversion may pass through "
        "float32). Every dot product of length n (Gx + b_G, Ax + b_A, D·h + b_D with the "
        "bias as one more term, and each logit <g, v_j>) is computed in the format in any "
        "summation order, with or without FMA or a wider accumulator: error ≤ γ_n Σ|x_i y_i| "
        "+ 2nλ(1 + γ_n), γ_n = nu/(1 − nu); if nu ≥ 1 there is no bound and no key is "
        "certified. A term that is exactly zero (a ReLU neuron whose computed gate input is "
        "provably negative: max(x, 0) = 0 and 0·a = 0 exactly) changes no partial sum (IEEE "
        "addition of zero is exact), so γ_n in the down projection counts only the terms "
        "that may be nonzero, per key; the 2nλ term keeps every term. "
        f"Activation: {act}; its input error propagates through sup|σ'| on an "
        f"interval holding the exact and the computed input (≤ {LIPSCHITZ[activation]:g}, "
        "smaller in the negative tail). The product σ(·) ⊙ (·) is one rounding. TF32 and "
        "other reduced-precision float32 matmul modes are off. The exact margin is bounded "
        "by the same propagation in float64 (u = 2^-53, λ = 2^-1022). Bounds are computed "
        "in float64, each stage multiplied by 1 + 2^-20 and increased by 2^-1000; final "
        "comparisons keep a relative slack of 2^-49. A key i is certified iff for every "
        "j ≠ f(i): lower bound of the exact <g(k_i), v_f(i)> − <g(k_i), v_j> > E_f(i) + "
        "E_j, the bounds on the two computed logits' errors, or > E_pair(i, j), a bound on "
        "the computed difference's error in which g's error enters only through "
        "v_f(i) − v_j (the refinement); margin_error = E_f(i) + max_j E_j bounds |margin in "
        "the format − exact margin|."
    )
