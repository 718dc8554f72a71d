"""Input checks at the public boundary of ``theory`` and ``numerics``.

Each function normalises its argument (to float64 or int64 numpy arrays) and raises
:class:`~theory.errors.InvalidInputError` whose one-line message names the argument and the
first offending index.
"""

from __future__ import annotations

import numbers
import operator
from fractions import Fraction

import numpy as np

from theory.errors import InvalidInputError

__all__ = [
    "require_bool",
    "as_matrix",
    "as_index_vector",
    "preview_indices",
    "require_int",
    "decimal_fraction",
]


def preview_indices(indices, limit: int = 8) -> str:
    """Format a list of indices for a one-line message: ``[3, 9, 12, … (+40 more)]``."""
    indices = [int(i) for i in indices]
    head = ", ".join(str(i) for i in indices[:limit])
    more = f", … (+{len(indices) - limit} more)" if len(indices) > limit else ""
    return f"[{head}{more}]"


def as_matrix(name: str, array, *, cols: int | None = None, min_rows: int = 1) -> np.ndarray:
    """Return ``array`` as a finite float64 matrix of shape (n, cols).

    Raises
    ------
    InvalidInputError
        If it is not 2-D, has fewer than ``min_rows`` rows, the wrong number of columns,
        a non-numeric dtype, or a NaN/inf entry (the message names the first one).
    """
    arr = np.asarray(array)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise InvalidInputError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise InvalidInputError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} must be a 2-D array (rows × dim), got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise InvalidInputError(
            f"{name} must have at least {min_rows} row(s), got shape {arr.shape}"
        )
    if arr.shape[1] < 1:
        raise InvalidInputError(f"{name} must have at least 1 column, got shape {arr.shape}")
    if cols is not None and arr.shape[1] != cols:
        raise InvalidInputError(
            f"{name} has dimension {arr.shape[1]} but {cols} was expected (shape {arr.shape})"
        )
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise InvalidInputError(f"{name}[{row}, {col}] is {arr[row, col]} (entries must be finite)")
    return arr


def as_index_vector(name: str, array, *, length: int | None = None, upper: int) -> np.ndarray:
    """Return ``array`` as an int64 vector with entries in ``[0, upper)``.

    Floats are accepted only when every entry is integral (``2.0``, not ``2.5``).
    """
    arr = np.asarray(array)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise InvalidInputError(f"{name} has {arr.shape[0]} entries but {length} were expected")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        if not np.issubdtype(arr.dtype, np.floating):
            raise InvalidInputError(f"{name} must hold integers, got dtype {arr.dtype}")
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(f"{name}[{i}] = {arr[i]} is not an integer index")
    arr = arr.astype(np.int64)
    out = (arr < 0) | (arr >= upper)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise InvalidInputError(f"{name}[{i}] = {arr[i]} is out of range [0, {upper})")
    return arr


def require_int(name: str, value, minimum: int = 0) -> int:
    """``value`` as a plain ``int`` if it is an integer ≥ ``minimum``, else InvalidInputError.

    Any :class:`numbers.Integral` counts (``int``, numpy integers, ``sympy.Integer``, …);
    a bool does not, nor does a float, even an integral one such as ``2.0``.

    Examples
    --------
    >>> require_int("steps", np.int64(3), 1)
    3
    >>> require_int("steps", 2.0, 1)
    Traceback (most recent call last):
    ...
    theory.errors.InvalidInputError: steps must be an integer ≥ 1, got 2.0 (float)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(
            f"{name} must be an integer ≥ {minimum}, got {value!r} ({type(value).__name__})"
        )
    value = operator.index(value)
    if value < minimum:
        raise InvalidInputError(f"{name} must be an integer ≥ {minimum}, got {value}")
    return value


def decimal_fraction(value) -> Fraction:
    """The Fraction of the shortest decimal repr of a float, i.e. what the user typed.

    ``Fraction(x)`` would give the exact binary value of the float instead (``0.1`` is
    3602879701896397/36028797018963968). Rationals (``int``, ``Fraction``, …) are taken
    exactly; any other real is converted with ``float`` first. The caller checks that it is
    finite (``float.__repr__`` of inf or NaN is no rational literal: ValueError).

    Examples
    --------
    >>> decimal_fraction(0.1), decimal_fraction(3), decimal_fraction(Fraction(1, 3))
    (Fraction(1, 10), Fraction(3, 1), Fraction(1, 3))
    """
    if isinstance(value, numbers.Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    return Fraction(float.__repr__(float(value)))


def require_bool(name: str, value) -> bool:
    """``value`` if it is a bool (``True``/``False``, not 0/1 or numpy bools).

    Raises
    ------
    InvalidInputError
        Naming the argument and its value.

    Examples
    --------
    >>> require_bool("bijective", True)
    True
    """
    if not isinstance(value, bool):
        raise InvalidInputError(f"{name} must be True or False, got {value!r}")
    return value
