"""theory.rounding: the formats' constants, γ_n, the dot-product bound against numpy float32
in random orders, the Lipschitz constants and tail envelopes against mpmath, the double
rounding of inputs, and the arithmetic model's text. numpy and mpmath only."""

from __future__ import annotations

import subprocess
import sys

import mpmath
import numpy as np
import pytest

from theory.errors import InvalidInputError
from theory.rounding import (
    ACTIVATION_ERROR,
    CERTIFIABLE_FORMATS,
    FORMATS,
    LIPSCHITZ,
    arithmetic_model,
    dot_error_bound,
    float_format,
    gamma,
    lipschitz_on_interval,
)

mpmath.mp.prec = 80


def test_format_constants_match_numpy():
    for name, np_type in (
        ("float32", np.float32),
        ("float16", np.float16),
        ("float64", np.float64),
    ):
        fmt, info = FORMATS[name], np.finfo(np_type)
        assert fmt.unit_roundoff == info.eps / 2
        assert fmt.smallest_normal == info.smallest_normal
        assert fmt.max_finite == info.max
    bf16 = FORMATS["bfloat16"]
    assert bf16.unit_roundoff == 2.0**-8 and bf16.smallest_normal == 2.0**-126
    assert bf16.max_finite == float.fromhex("0x1.fep127")
    for name in CERTIFIABLE_FORMATS:
        assert FORMATS[name].input_roundoff >= FORMATS[name].unit_roundoff
    assert FORMATS["float32"].input_roundoff == FORMATS["float32"].unit_roundoff


def _to_bfloat16(x32: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (round half to even on the upper 16 bits)."""
    bits = x32.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def test_input_roundoff_covers_rounding_through_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(200_000) * np.exp(rng.uniform(-20, 20, 200_000))
    bf = _to_bfloat16(x.astype(np.float32))
    assert (np.abs(bf - x) <= FORMATS["bfloat16"].input_roundoff * np.abs(x)).all()
    keep = (np.abs(x) > 1e-4) & (np.abs(x) < 6e4)  # float16's normal range
    f16 = x[keep].astype(np.float32).astype(np.float16).astype(np.float64)
    x = x[keep]
    assert (np.abs(f16 - x) <= FORMATS["float16"].input_roundoff * np.abs(x)).all()


def test_gamma():
    u = 2.0**-24
    assert gamma(0, u) == 0.0 and gamma(1, u) == u / (1 - u)
    assert gamma(2**24, u) == np.inf and gamma(255, 2.0**-8) < np.inf == gamma(256, 2.0**-8)
    values = [gamma(n, u) for n in (1, 10, 100, 1000)]
    assert values == sorted(values)
    assert gamma(100, 2 * u) > gamma(100, u)
    with pytest.raises(InvalidInputError):
        gamma(-1, u)


@pytest.mark.parametrize("order", ["forward", "reverse", "random", "pairwise"])
def test_dot_error_bound_holds_for_float32_sums(order):
    rng = np.random.default_rng(1)
    fmt = FORMATS["float32"]
    for n in (2, 7, 64, 300):
        x = rng.standard_normal((200, n)).astype(np.float32)
        y = rng.standard_normal((200, n)).astype(np.float32)
        exact = np.sum(x.astype(np.float64) * y.astype(np.float64), axis=1)  # error ≪ u32
        terms = x * y  # float32 products, one rounding each
        if order == "reverse":
            terms = terms[:, ::-1]
        elif order == "random":
            terms = rng.permuted(terms, axis=1)
        if order == "pairwise":
            while terms.shape[1] > 1:
                if terms.shape[1] % 2:
                    terms = np.concatenate([terms, np.zeros((200, 1), np.float32)], axis=1)
                terms = terms[:, 0::2] + terms[:, 1::2]
            computed = terms[:, 0]
        else:
            computed = np.zeros(200, np.float32)
            for i in range(n):
                computed = computed + terms[:, i]
        bound = dot_error_bound(np.sum(np.abs(x.astype(np.float64) * y), axis=1), n, fmt)
        assert (np.abs(computed.astype(np.float64) - exact) <= bound).all()


def _silu_prime(t):
    s = 1 / (1 + mpmath.exp(-t))
    return s * (1 + t * (1 - s))


def _gelu_prime(t):
    return mpmath.ncdf(t) + t * mpmath.npdf(t)


PRIMES = {
    "silu": _silu_prime,
    "gelu": _gelu_prime,
    "relu": lambda t: mpmath.mpf(1 if t > 0 else 0),
    "identity": lambda t: mpmath.mpf(1),
}


def test_global_lipschitz_constants_bound_the_derivatives_tightly():
    for name, start in (("silu", 2.4), ("gelu", 1.4)):
        prime = PRIMES[name]
        peak = mpmath.findroot(lambda t, p=prime: mpmath.diff(p, t), start)
        trough = mpmath.findroot(lambda t, p=prime: mpmath.diff(p, t), -start)
        top = max(abs(prime(peak)), abs(prime(trough)))
        assert top <= LIPSCHITZ[name] <= top + 1e-4, (name, top)
        grid = np.linspace(-30, 30, 1201)
        assert max(abs(prime(mpmath.mpf(t))) for t in grid) <= LIPSCHITZ[name]


@pytest.mark.parametrize("name", ["silu", "gelu", "relu", "identity"])
def test_the_tail_envelope_bounds_the_derivative_left_of_its_argument(name):
    prime = PRIMES[name]
    for upper in (-60.0, -30.0, -12.0, -5.0, -2.0, -1.0, -0.5, 0.0, 0.7, 3.0):
        bound = float(lipschitz_on_interval(name, upper))
        ts = upper - np.concatenate([np.geomspace(1e-9, 50, 60), [0.0]])
        worst = max(abs(prime(mpmath.mpf(t))) for t in ts)
        assert worst <= bound, (name, upper, worst, bound)
    assert float(lipschitz_on_interval(name, 5.0)) == LIPSCHITZ[name]


def test_the_tail_envelopes_are_small_in_the_tail():
    assert float(lipschitz_on_interval("silu", -20.0)) < 1e-7
    assert float(lipschitz_on_interval("gelu", -8.0)) < 1e-12
    assert float(lipschitz_on_interval("relu", -1e-300)) == 0.0
    assert lipschitz_on_interval("silu", np.array([-1.0, 1.0])).shape == (2,)
    with pytest.raises(InvalidInputError):
        lipschitz_on_interval("tanh", 0.0)


def test_the_model_text_states_every_assumption():
    text = arithmetic_model("bfloat16", "gelu")
    for phrase in (
        "u = 0.00390625",
        "γ_n",
        "any summation order",
        "TF32",
        "flushed to zero",
        "2^-53",
        "1 + 2^-20",
        "Ω/2",
    ):
        assert phrase in text, phrase
    assert "exact in floating point" in arithmetic_model("float32", "relu")
    assert set(ACTIVATION_ERROR) == set(LIPSCHITZ)
    with pytest.raises(InvalidInputError):
        float_format("int8")
    with pytest.raises(InvalidInputError):
        arithmetic_model("float32", "tanh")


def test_the_module_imports_no_torch():
    code = "import sys, theory.rounding; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
