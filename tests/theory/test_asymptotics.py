"""theory.asymptotics.asymptotic_regime: the regime in which the optimality limit is taken."""

import math

import pytest
import sympy as sp

from theory.asymptotics import asymptotic_regime
from theory.errors import InvalidInputError


@pytest.mark.parametrize("exponent", [4, 10, 20, 64])
def test_code_dimension_is_the_ceiling_and_packing_holds_for_C_one(exponent):
    point = asymptotic_regime(2**exponent, 1, sp.Rational(1, 2))
    assert point.code_dim == math.ceil(4 * exponent * math.log(2)) == point.dim
    assert point.holds and exponent * math.log(2) <= point.dim * math.log(3)


def test_packing_fails_when_the_dimension_grows_too_slowly():
    # C = 1/100, ρ = 1: d = ⌈ln F / 100⌉ = 1 at F = 2^20, and 2^20 > (1 + 1)^1.
    point = asymptotic_regime(2**20, sp.Rational(1, 100), 1)
    assert point.dim == 1 and not point.packing_ok and not point.holds


@pytest.mark.parametrize("args", [(1, 1, 0.5), (8, 0, 0.5), (8, 1, 0), (8, 1, 1.5), (2.5, 1, 0.5)])
def test_invalid_arguments_raise(args):
    with pytest.raises(InvalidInputError):
        asymptotic_regime(*args)
