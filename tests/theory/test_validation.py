"""theory.validation.require_int: the shared integer check of every config."""

import numpy as np
import pytest

from theory.errors import InvalidInputError
from theory.validation import require_int


@pytest.mark.parametrize("value", [True, 1.0, "3", None, -1, 0])
def test_require_int_refuses_non_integers_and_values_below_the_minimum(value):
    with pytest.raises(InvalidInputError, match=r"^steps must be an integer ≥ 1, got "):
        require_int("steps", value, 1)


@pytest.mark.parametrize("value", [1, 7, np.int64(3)])
def test_require_int_returns_a_plain_int(value):
    out = require_int("steps", value, 1)
    assert out == int(value) and type(out) is int
