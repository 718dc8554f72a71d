"""The activation claim of the arithmetic model, against mpmath: torch's silu and gelu, in
float32, bfloat16, float16 and float64 on this machine, stay within
``k u |σ(x)| + k_x u |x| + λ`` of the exact value at every tested input below ``Ω/2``
(extremes included: zeros, subnormals, the smallest normal, just below ``Ω/2``, the region
where ``exp(−x)`` overflows, GELU's cancelling tail); relu and identity are exact. Above
``Ω/2`` torch's vectorised GELU returns inf at ``Ω`` (measured), so the certifier counts
such an input as an overflow."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from numerics.mlp import ACTIVATIONS
from theory.rounding import ACTIVATION_ERROR, ACTIVATION_INPUT_LIMIT, FORMATS

mpmath.mp.prec = 80


def _inputs(fmt: str) -> torch.Tensor:
    info = torch.finfo(getattr(torch, fmt))
    rng = np.random.default_rng(0)
    special = [0.0, info.tiny, info.tiny * 0.5, info.smallest_normal * 2**-3, info.max, 1.0]
    top = float(np.log10(info.max)) - 0.01
    bottom = float(np.log10(info.smallest_normal * info.eps))
    xs = np.concatenate(
        [
            special,
            np.logspace(bottom, top, 120),
            rng.normal(size=100) * 3,
            rng.uniform(-20, 20, 100),
            rng.uniform(-110, -80, 40),  # exp(−x) overflows in float32 below about −88.7
            rng.uniform(-12, -2, 100),  # GELU: 1 + erf(x/√2) cancels
            np.linspace(-4, 4, 100),
        ]
    )
    xs = np.concatenate([xs, -xs])
    x = torch.tensor(xs, dtype=torch.float64).to(getattr(torch, fmt))
    limit = ACTIVATION_INPUT_LIMIT * FORMATS[fmt].max_finite
    below = torch.tensor(np.nextafter(limit, 0.0), dtype=torch.float64).to(x.dtype)
    x = torch.cat([x, below.reshape(1), -below.reshape(1)])
    return x[torch.isfinite(x) & (x.double().abs() < limit)]


def _exact(name: str, x: float):
    x = mpmath.mpf(x)
    if name == "silu":
        return x / (1 + mpmath.exp(-x))
    return x * (1 + mpmath.erf(x / mpmath.sqrt(2))) / 2


@pytest.mark.parametrize("fmt", ["float32", "bfloat16", "float16", "float64"])
@pytest.mark.parametrize("name", ["silu", "gelu"])
def test_activation_error_is_within_the_claim(name, fmt):
    worst = _worst_ratio(name, _inputs(fmt), fmt)
    assert worst <= 1.0, f"{name} in {fmt}: error reaches {worst:.3g} of the claimed bound"


def _worst_ratio(name: str, x: torch.Tensor, fmt: str) -> float:
    computed = ACTIVATIONS[name](x).double().numpy()
    u, lam = FORMATS[fmt].unit_roundoff, FORMATS[fmt].smallest_normal
    k, kx = ACTIVATION_ERROR[name]
    worst = 0.0
    for xi, yi in zip(x.double().numpy().tolist(), computed.tolist(), strict=True):
        exact = _exact(name, xi)
        allowed = k * u * abs(exact) + kx * u * abs(xi) + lam
        worst = max(worst, float(abs(mpmath.mpf(yi) - exact) / allowed))
    return worst


@pytest.mark.parametrize("name", ["silu", "gelu"])
def test_the_float32_claim_is_not_vacuous(name):
    """On a dense grid the measured float32 error reaches a sizeable part of the claim."""
    assert _worst_ratio(name, torch.linspace(-8, 8, 1601, dtype=torch.float32), "float32") > 0.1


@pytest.mark.parametrize("fmt", ["float32", "bfloat16", "float16"])
def test_relu_and_identity_are_exact(fmt):
    x = _inputs(fmt)
    assert torch.equal(ACTIVATIONS["relu"](x), torch.where(x > 0, x, torch.zeros_like(x)))
    assert torch.equal(ACTIVATIONS["identity"](x), x)
    assert ACTIVATION_ERROR["relu"] == ACTIVATION_ERROR["identity"] == (0.0, 0.0)


def test_gelu_is_the_exact_erf_form():
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    assert torch.allclose(ACTIVATIONS["gelu"](x), F.gelu(x, approximate="none"))
