"""theory.lipschitz: activation constants, the local spectral bound, the noise radius."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, ndtr

from theory.errors import InvalidInputError
from theory.lipschitz import (
    ACTIVATION_BOUNDS,
    activation_bounds,
    gated_lipschitz_bound,
    noise_radius,
)

GRID = np.linspace(-12, 12, 2_000_001)
DERIVATIVES = {
    "silu": lambda z: expit(z) * (1 + z * (1 - expit(z))),
    "gelu": lambda z: ndtr(z) + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi),
    "relu": lambda z: (z > 0).astype(float),
    "identity": lambda z: np.ones_like(z),
}
RATIOS = {
    "silu": expit,
    "gelu": ndtr,
    "relu": lambda z: (z > 0).astype(float),
    "identity": np.ones_like,
}


@pytest.mark.parametrize("name", sorted(ACTIVATION_BOUNDS))
def test_slope_bound_holds_on_a_fine_grid_and_is_tight(name):
    s1, s0 = activation_bounds(name)
    slope = np.abs(DERIVATIVES[name](GRID)).max()
    assert slope <= s1 and s1 - slope < 1e-6
    assert np.abs(RATIOS[name](GRID)).max() <= s0


def _mlp(rng, h, d, bias):
    G, A, D = rng.normal(size=(h, d)), rng.normal(size=(h, d)), rng.normal(size=(d, h))
    b = (rng.normal(size=h), rng.normal(size=h)) if bias else (None, None)
    return G, A, D, b


def _jacobian(G, A, D, bg, ba, x, name):
    u = G @ x + (0 if bg is None else bg)
    w = A @ x + (0 if ba is None else ba)
    sigma = {
        "silu": lambda z: z * expit(z),
        "gelu": lambda z: z * ndtr(z),
        "relu": lambda z: np.maximum(z, 0),
        "identity": lambda z: z,
    }[name]
    return D @ (np.diag(DERIVATIVES[name](u) * w) @ G + np.diag(sigma(u)) @ A)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    h=st.integers(1, 12),
    d=st.integers(1, 6),
    name=st.sampled_from(sorted(ACTIVATION_BOUNDS)),
    bias=st.booleans(),
    radius=st.sampled_from([0.0, 0.01, 0.5, 3.0]),
)
def test_bound_dominates_the_jacobian_anywhere_in_the_ball(seed, h, d, name, bias, radius):
    rng = np.random.default_rng(seed)
    G, A, D, (bg, ba) = _mlp(rng, h, d, bias)
    centers = rng.normal(size=(3, d))
    bound = gated_lipschitz_bound(G, A, D, name, centers, radius, gate_bias=bg, up_bias=ba)
    for c, L in zip(centers, bound, strict=True):
        for _ in range(20):
            step = rng.normal(size=d)
            x = c + radius * rng.uniform() * step / np.linalg.norm(step)
            assert np.linalg.norm(_jacobian(G, A, D, bg, ba, x, name), 2) <= L * (1 + 1e-9) + 1e-12


def test_known_value_square_map():
    eye = np.eye(3)
    # g(x) = x ⊙ x: J = 2 diag(x); on B(c, r) the sup is 2(max|c_i| + r)
    c = np.array([[0.5, -2.0, 1.0]])
    assert gated_lipschitz_bound(eye, eye, eye, "identity", c, 0.25)[0] == pytest.approx(2 * 2.25)


def test_noise_radius_cases():
    assert noise_radius([0.2, -0.1, 5.0, 0.3], [2.0, 2.0, 2.0, 0.0], 1.0).tolist() == [
        0.1,
        0.0,
        1.0,
        1.0,
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda: activation_bounds("tanh"),
        lambda: gated_lipschitz_bound(
            np.eye(2), np.eye(3), np.eye(2), "relu", np.zeros((1, 2)), 1.0
        ),
        lambda: gated_lipschitz_bound(
            np.eye(2), np.eye(2), np.eye(2), "relu", np.zeros((1, 3)), 1.0
        ),
        lambda: gated_lipschitz_bound(
            np.eye(2), np.eye(2), np.eye(2), "relu", np.zeros((1, 2)), -1.0
        ),
        lambda: gated_lipschitz_bound(
            np.eye(2), np.eye(2), np.eye(2), "relu", np.zeros((1, 2)), 1.0, gate_bias=np.ones(3)
        ),
        lambda: gated_lipschitz_bound(
            np.full((2, 2), np.nan), np.eye(2), np.eye(2), "relu", np.zeros((1, 2)), 1.0
        ),
        lambda: noise_radius([1.0], [1.0, 2.0], 1.0),
        lambda: noise_radius([1.0], [-1.0], 1.0),
        lambda: noise_radius([1.0], [1.0], math.inf),
    ],
    ids=[
        "activation",
        "up-shape",
        "center-dim",
        "radius",
        "bias-shape",
        "nan",
        "cert-shape",
        "cert-negative-L",
        "cert-radius",
    ],
)
def test_invalid_calls(call):
    with pytest.raises(InvalidInputError):
        call()
