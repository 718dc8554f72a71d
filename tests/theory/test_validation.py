"""theory.validation: the shared integer check of every config and the float → Fraction helper."""

import numbers
from fractions import Fraction

import numpy as np
import pytest

from theory.errors import InvalidInputError
from theory.validation import decimal_fraction, require_int


class _Seven:
    """A minimal integral type from outside the standard library (registered, not subclassed)."""

    def __index__(self) -> int:
        return 7

    def __int__(self) -> int:
        return 7

    def __repr__(self) -> str:
        return "Seven()"


numbers.Integral.register(_Seven)


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        1.0,
        2.0,
        2.5,
        "3",
        None,
        -1,
        0,
        np.int64(0),
        np.float64(3.0),
        np.bool_(True),
        Fraction(3, 1),
    ],
)
def test_require_int_refuses_non_integers_and_values_below_the_minimum(value):
    with pytest.raises(InvalidInputError, match=r"^steps must be an integer ≥ 1, got "):
        require_int("steps", value, 1)


@pytest.mark.parametrize(
    "value, shown",
    [
        (True, "True (bool)"),
        (2.0, "2.0 (float)"),
        (1.5, "1.5 (float)"),
        (-3, "-3"),
        (np.int64(-3), "-3"),
    ],
)
def test_require_int_names_the_argument_and_the_value(value, shown):
    with pytest.raises(InvalidInputError) as excinfo:
        require_int("n_gates", value, 0)
    assert str(excinfo.value) == f"n_gates must be an integer ≥ 0, got {shown}"


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(5), np.uint8(2), _Seven()])
def test_require_int_returns_a_plain_int(value):
    out = require_int("steps", value, 1)
    assert out == int(value) and type(out) is int


def test_require_int_minimum_defaults_to_zero():
    assert require_int("seed", 0) == 0
    with pytest.raises(InvalidInputError, match=r"^seed must be an integer ≥ 0, got -1$"):
        require_int("seed", -1)


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.1, Fraction(1, 10)),
        (0.7, Fraction(7, 10)),
        (np.float64(2.5), Fraction(5, 2)),
        (1e-20, Fraction(1, 10**20)),
        (3, Fraction(3)),
        (10**400, Fraction(10**400)),  # a Rational is taken exactly, never via float
        (Fraction(1, 3), Fraction(1, 3)),
        (np.int64(4), Fraction(4)),
    ],
)
def test_decimal_fraction_is_the_shortest_decimal_not_the_binary_value(value, expected):
    out = decimal_fraction(value)
    assert out == expected and type(out) is Fraction


def test_decimal_fraction_differs_from_the_exact_binary_value():
    assert decimal_fraction(0.1) != Fraction(0.1)
    assert float(decimal_fraction(0.1)) == 0.1
