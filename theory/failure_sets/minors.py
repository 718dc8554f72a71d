r"""Φ and det(ΦΦᵀ) exactly over ℚ, for the gates that map rationals to rationals.

For ``relu`` and ``identity`` every entry :math:`\Phi_{i,\,nd+l} = \sigma(g_n\cdot k_i)\,k_{i,l}`
of the encoder's system matrix (:mod:`theory.failure_sets.features`) is rational at a rational
point (K, G₀), so the failure condition

.. math::

    \det(\Phi\Phi^\top) = \sum_{|J| = F} \det(\Phi_{:,J})^2 = 0 \iff \operatorname{rank}\Phi < F

(Cauchy–Binet) is decided exactly, with sympy's fraction-free (Bareiss) elimination. The
inputs are read as exact rationals: ints, ``fractions.Fraction``, ``sympy.Rational``, strings
like ``'3/7'``, or floats at their exact binary value.

References
----------
Derived here. Cauchy–Binet: e.g. Horn & Johnson, *Matrix Analysis*, 2nd ed. (2013), §0.8.7.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np
import sympy as sp

from theory.errors import InvalidInputError
from theory.failure_sets.features import RATIONAL_ACTIVATIONS, _activation

__all__ = ["exact_khatri_rao_features", "exact_gram_determinant"]


# ---------------------------------------------------------------------------------------------
# Exact rationals at the public boundary
# ---------------------------------------------------------------------------------------------


def _to_fraction(name: str, index: tuple[int, int], value) -> Fraction:
    where = f"{name}[{index[0]}, {index[1]}]"
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{where} is a bool ({value!r}); give a number")
    if isinstance(value, (numbers.Integral, np.integer)):
        return Fraction(int(value))
    if isinstance(value, Fraction):
        return value
    if isinstance(value, sp.Rational):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise InvalidInputError(f"{where} is {value!r} (entries must be finite)")
        return Fraction(float(value))  # the exact binary value of the float
    if isinstance(value, str):
        try:
            return Fraction(value)
        except (ValueError, ZeroDivisionError):
            raise InvalidInputError(
                f"{where} = {value!r} is not a rational literal like '3/7' or '-0.25'"
            ) from None
    raise InvalidInputError(
        f"{where} = {value!r} ({type(value).__name__}) is not an exact rational; "
        f"give ints, fractions.Fraction, sympy.Rational, strings like '3/7' or floats"
    )


def _rational_matrix(name: str, array, cols: int | None = None) -> list[list[Fraction]]:
    arr = np.asarray(array, dtype=object)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidInputError(
            f"{name} must be a non-empty 2-D array (rows × dim), got shape {arr.shape}"
        )
    if cols is not None and arr.shape[1] != cols:
        raise InvalidInputError(
            f"{name} has dimension {arr.shape[1]} but {cols} was expected (shape {arr.shape})"
        )
    return [
        [_to_fraction(name, (i, j), arr[i, j]) for j in range(arr.shape[1])]
        for i in range(arr.shape[0])
    ]


def _rational_keys_and_gates(keys, gate_rows):
    k = _rational_matrix("keys", keys)
    g = _rational_matrix("gate_rows", gate_rows, cols=len(k[0]))
    return k, g


def _preactivations(k: list[list[Fraction]], g: list[list[Fraction]]) -> list[list[Fraction]]:
    """Exact z[i][n] = g_n · k_i."""
    return [[sum((gn[c] * ki[c] for c in range(len(ki))), Fraction(0)) for gn in g] for ki in k]


# ---------------------------------------------------------------------------------------------
# Exact rational features (ReLU, identity)
# ---------------------------------------------------------------------------------------------


def exact_khatri_rao_features(keys, gate_rows, activation: str = "relu") -> sp.Matrix:
    r"""Φ over the rationals, for gates that map ℚ to ℚ (``relu``, ``identity``).

    .. math::

        \Phi_{i,\,nd+l} = \sigma(g_n\cdot k_i)\,k_{i,l} \in \mathbb{Q}

    Parameters
    ----------
    keys : array_like, shape (F, d)
        Exact rationals (see :func:`certify_nonsingular_minor`).
    gate_rows : array_like, shape (r, d)
    activation : str
        One of :data:`RATIONAL_ACTIVATIONS`.

    Returns
    -------
    sympy.Matrix, shape (F, r·d), entries sympy.Rational

    Raises
    ------
    InvalidInputError
        On a non-rational entry, mismatched shapes, or an activation that is not rational
        (silu, gelu: use :func:`certify_nonsingular_minor`).

    Examples
    --------
    >>> exact_khatri_rao_features([[1, '1/2']], [[1, 0], [-1, 0]])
    Matrix([[1, 1/2, 0, 0]])

    References
    ----------
    Derived here.
    """
    activation = _activation(activation, RATIONAL_ACTIVATIONS)
    k, g = _rational_keys_and_gates(keys, gate_rows)
    z = _preactivations(k, g)
    dim = len(k[0])

    def entry(i: int, j: int):
        zin = z[i][j // dim]
        s = max(zin, Fraction(0)) if activation == "relu" else zin
        v = s * k[i][j % dim]
        return sp.Rational(v.numerator, v.denominator)

    return sp.Matrix(len(k), len(g) * dim, entry)


def exact_gram_determinant(keys, gate_rows, activation: str = "relu") -> sp.Rational:
    r"""det(ΦΦᵀ) exactly over ℚ (``relu``, ``identity``); zero iff the encoder fails.

    .. math::

        \det(\Phi\Phi^\top) = \sum_{|J| = F}\det(\Phi_{:,J})^2 \ge 0
        \quad(\text{Cauchy–Binet}); \qquad = 0 \iff \operatorname{rank}\Phi < F.

    Parameters
    ----------
    keys, gate_rows, activation
        As :func:`exact_khatri_rao_features`.

    Returns
    -------
    sympy.Rational

    Raises
    ------
    InvalidInputError
        As :func:`exact_khatri_rao_features`.

    Examples
    --------
    >>> exact_gram_determinant([[1, 0], [0, 1]], [[1, 1]])          # Φ = I₂
    1
    >>> exact_gram_determinant([[1, 0], [-1, -1]], [[1, 1]])        # key 2 has its gate off
    0

    References
    ----------
    Derived here.
    """
    phi = exact_khatri_rao_features(keys, gate_rows, activation)
    return (phi * phi.T).det(method="bareiss")
