"""Tests of theory/decoder.py: projections, codes, the decoder inequality, float error bounds.

The decoder inequality (derived in the module docstring): with ``W = V P``, codes
``c_j = u*_j(W)`` and a code error δ,

    <c_i + δ, w_i − w_j> ≥ (ρ_i(W) − ‖δ‖)·‖w_i − w_j‖   for every j ≠ i,

so every δ with ‖δ‖ < ρ_i(W) decodes to i. The bound is tight: for an active competitor
j* (one with <a_ij*, c_i> = ρ_i, a_ij = (w_i − w_j)/‖w_i − w_j‖) the perturbation
δ = −(ρ_i + ε)·a_ij* gives <c_i + δ, a_ij*> = −ε < 0, so j* beats i. Both halves are tested.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numerics.testing.strategies import embedding_matrices
from theory.decoder import (
    PROJECTIONS,
    UNIT_ROUNDOFF,
    build_decoder,
    float_forward_error_bound,
    projection_matrix,
)
from theory.errors import InvalidInputError
from theory.rho import decodability, separation_margin


def random_values(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# --------------------------------------------------------------------------- projection_matrix


@pytest.mark.parametrize("kind", PROJECTIONS)
@pytest.mark.parametrize("code_dim", [1, 3, 6])
def test_projection_shapes(kind, code_dim):
    values = random_values(20, 6, 0)
    P = projection_matrix(values, code_dim, kind=kind)
    assert P.shape == (6, code_dim) and np.isfinite(P).all()


def test_gaussian_projection_is_seeded_and_scaled():
    values = random_values(5, 40, 1)
    a = projection_matrix(values, 30, seed=3)
    assert np.array_equal(a, projection_matrix(values, 30, seed=3))
    assert not np.array_equal(a, projection_matrix(values, 30, seed=4))
    # entries N(0, 1/m): the mean of m·P² over 1200 entries is 1 within a few standard errors
    assert abs(np.mean(30 * a**2) - 1) < 4 * math.sqrt(2 / a.size)


@pytest.mark.parametrize("code_dim", [1, 2, 5])
def test_pca_columns_are_orthonormal_and_capture_the_top_variance(code_dim):
    rng = np.random.default_rng(2)
    values = rng.standard_normal((40, 5)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5])
    P = projection_matrix(values, code_dim, kind="pca")
    np.testing.assert_allclose(P.T @ P, np.eye(code_dim), atol=1e-12)
    # independent: the captured variance is the sum of the top eigenvalues of the covariance
    eig = np.sort(np.linalg.eigvalsh(np.cov(values, rowvar=False)))[::-1]
    captured = np.trace(np.cov(values @ P, rowvar=False).reshape(code_dim, code_dim))
    assert captured == pytest.approx(eig[:code_dim].sum(), rel=1e-10)


def test_pca_sees_only_the_used_values():
    values = random_values(30, 4, 3)
    values[20:] *= np.array([100.0, 0, 0, 0])  # unused values stretched along e_0
    used = np.arange(20)
    P_used = projection_matrix(values, 2, kind="pca", used=used)
    np.testing.assert_allclose(
        np.abs(P_used), np.abs(projection_matrix(values[:20], 2, kind="pca")), atol=1e-12
    )


@pytest.mark.parametrize("code_dim", [1, 3, 4])
def test_whitened_projection_gives_identity_covariance_of_used_values(code_dim):
    rng = np.random.default_rng(4)
    values = rng.standard_normal((50, 4)) @ rng.standard_normal((4, 4)) + 3.0
    used = np.arange(0, 50, 2)
    P = projection_matrix(values, code_dim, kind="whitened", used=used)
    cov = np.cov(values[used] @ P, rowvar=False).reshape(code_dim, code_dim)
    np.testing.assert_allclose(cov, np.eye(code_dim), atol=1e-10)


@pytest.mark.parametrize(
    "values, code_dim, kwargs, pattern",
    [
        (np.eye(3), 0, {}, r"code_dim must be an integer in \[1, d = 3\], got 0"),
        (np.eye(3), 4, {}, r"code_dim must be an integer in \[1, d = 3\], got 4"),
        (np.eye(3), True, {}, r"got True"),
        (np.eye(3), 2.0, {}, r"got 2.0"),
        (np.eye(3), 2, {"kind": "random"}, r"projection 'random' is unknown"),
        (np.array([[1.0, np.nan]]), 1, {}, r"values\[0, 1\] is nan"),
        (np.ones(3), 1, {}, r"values must be a 2-D array"),
        (np.eye(3), 2, {"kind": "pca", "used": [0, 5]}, r"used\[1\] = 5 is out of range"),
        # three used values span 2 centred directions: a 3-dimensional whitening is impossible
        (np.eye(4), 3, {"kind": "whitened", "used": [0, 1, 2]}, r"span only 2"),
    ],
    ids=["zero", "above-d", "bool", "float", "kind", "nan", "1-d", "used-range", "whitened-rank"],
)
def test_projection_matrix_invalid_calls(values, code_dim, kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        projection_matrix(values, code_dim, **kwargs)


# --------------------------------------------------------------------------- build_decoder


@pytest.mark.parametrize("kind, code_dim", [("pca", 5), ("gaussian", 3)])
def test_codes_are_unit_separators_of_used_values_and_zero_for_unused(kind, code_dim):
    values = random_values(12, 5, 5)
    fact_map = np.array([0, 3, 3, 7, 1, 10, 0])
    used = np.unique(fact_map)
    P = projection_matrix(values, code_dim, kind=kind, seed=1)
    dec = build_decoder(values, fact_map, P)
    assert dec.code_dim == code_dim and np.array_equal(dec.used, used)
    assert dec.codes.shape == (12, code_dim)
    W = values @ P
    decodable = used[dec.rho_projected[used] > 0]
    np.testing.assert_allclose(np.linalg.norm(dec.codes[decodable], axis=1), 1.0, atol=1e-12)
    assert not dec.codes[np.setdiff1d(used, decodable)].any()
    unused = np.setdiff1d(np.arange(12), used)
    assert not dec.codes[unused].any()
    assert np.isnan(dec.rho_projected[unused]).all()
    for j in decodable:  # each code attains ρ_j(W) against ALL values, unused ones included
        assert separation_margin(W, int(j), dec.codes[j]) == pytest.approx(
            dec.rho_projected[j], abs=1e-12
        )
    assert dec.rho == pytest.approx(np.min(dec.rho_projected[used]))
    assert dec.decodable == (dec.rho > 0)
    if kind == "pca":  # a square orthonormal P is a rotation: ρ is kept, every value decodable
        assert decodable.size == used.size
        np.testing.assert_allclose(
            dec.rho_projected[used],
            decodability(values, indices=used).rho_per_value[used],
            atol=1e-9,
        )


def test_projection_that_hides_a_used_value_makes_the_decoder_undecodable():
    # along e_0 the values are 0, 1, 2: the middle one cannot be the argmax of any logit
    values = np.array([[0.0, 1.0], [1.0, -1.0], [2.0, 0.5]])
    dec = build_decoder(values, [0, 1, 2], np.array([[1.0], [0.0]]))
    assert dec.rho_projected[1] == 0.0 and not dec.decodable
    assert not dec.codes[1].any()
    full = build_decoder(values, [0, 1, 2], np.eye(2))
    assert full.decodable  # in 2-D all three are vertices


def test_build_decoder_shape_errors():
    with pytest.raises(
        InvalidInputError, match="projection has 2 rows but the values have dimension 3"
    ):
        build_decoder(np.eye(3), [0, 1], np.ones((2, 2)))
    with pytest.raises(InvalidInputError, match=r"fact_map\[1\] = 3 is out of range"):
        build_decoder(np.eye(3), [0, 3], np.eye(3))


def well_separated(values: np.ndarray, relative: float = 1e-6) -> bool:
    """No two distinct values closer than ``relative`` × the largest norm. The shared
    strategies also make values that differ only by rounding (a rank-1 family: ±u up to an
    ulp); ρ of such values is computed from rounding noise, so no claim is made about them."""
    dist = np.linalg.norm(values[:, None] - values[None], axis=2)
    return not ((dist > 0) & (dist < relative * np.abs(values).max())).any()


@given(embedding_matrices(rows=8, min_dim=2, max_dim=6), st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_codes_are_invariant_to_scaling_the_values(values, seed):
    assume(well_separated(values))
    fact_map = np.arange(8)
    P = projection_matrix(values, values.shape[1], kind="gaussian", seed=seed)
    a = build_decoder(values, fact_map, P)
    b = build_decoder(values * 1e3, fact_map, P)
    np.testing.assert_allclose(a.rho_projected, b.rho_projected, atol=1e-9)
    np.testing.assert_allclose(a.codes, b.codes, atol=1e-6)


# --------------------------------------------------------------------------- the inequality


@st.composite
def decoders(draw):
    """A decodable projected value set with its decoder, drawn from the shared strategy."""
    n_values = draw(st.integers(2, 10))
    values = draw(embedding_matrices(rows=n_values, min_dim=2, max_dim=6))
    assume(well_separated(values))
    dim = values.shape[1]
    code_dim = draw(st.integers(1, dim))
    kind = draw(st.sampled_from(["gaussian", "pca"]))
    P = projection_matrix(values, code_dim, kind=kind, seed=draw(st.integers(0, 99)))
    dec = build_decoder(values, np.arange(n_values), P)
    return values, dec


@given(decoders(), st.integers(0, 2**31 - 1))
@settings(max_examples=60, deadline=None)
def test_perturbations_below_rho_decode_correctly(drawn, seed):
    values, dec = drawn
    W = values @ dec.projection
    rng = np.random.default_rng(seed)
    for i in np.flatnonzero(dec.rho_projected > 1e-6):
        rho = dec.rho_projected[i]
        diffs = W[i] - np.delete(W, i, axis=0)
        norms = np.linalg.norm(diffs, axis=1)
        # random directions and the adversarial ones (−a_ij), all at ‖δ‖ = (1 − 1e-3)·ρ_i
        directions = rng.standard_normal((20, W.shape[1]))
        directions = np.vstack(
            [
                directions / np.linalg.norm(directions, axis=1, keepdims=True),
                -diffs / norms[:, None],
            ]
        )
        for delta in (1 - 1e-3) * rho * directions:
            y = dec.codes[i] + delta
            gaps = diffs @ y
            bound = (rho - np.linalg.norm(delta)) * norms
            assert (gaps >= bound - 1e-12 * norms * np.linalg.norm(y)).all()
            assert (gaps > 0).all()  # argmax is i, strictly
            # through the projection: logits against the original values are the same
            logits = (dec.projection @ y) @ values.T
            assert int(np.argmax(logits)) == i


@given(decoders())
@settings(max_examples=60, deadline=None)
def test_a_perturbation_just_above_rho_breaks_decoding(drawn):
    """δ = −(ρ_i + ε)·a_ij* for the active competitor j* = argmin_j <a_ij, c_i>: then
    <c_i + δ, a_ij*> = ρ_i − ρ_i − ε = −ε, so j* gets the larger logit. The budget ρ_i(W) is
    therefore exactly the largest safe code error (in the worst direction)."""
    values, dec = drawn
    W = values @ dec.projection
    for i in np.flatnonzero(dec.rho_projected > 1e-6):
        rho = dec.rho_projected[i]
        others = np.delete(np.arange(len(W)), i)
        diffs = W[i] - W[others]
        norms = np.linalg.norm(diffs, axis=1)
        a = diffs / norms[:, None]
        k = int(np.argmin(a @ dec.codes[i]))
        assert a[k] @ dec.codes[i] == pytest.approx(rho, abs=1e-9)  # the active constraint
        eps = 1e-3 * rho
        y = dec.codes[i] - (rho + eps) * a[k]
        assert np.linalg.norm(y - dec.codes[i]) == pytest.approx(rho + eps)
        assert W[others[k]] @ y > W[i] @ y  # j* now beats i
        # and the same size in the safe direction (along c_i) does not break it
        y_safe = dec.codes[i] + (rho + eps) * dec.codes[i]
        assert (diffs @ y_safe > 0).all()


def test_inequality_on_a_known_triangle():
    """Right isosceles triangle: ρ at the right-angle corner is cos(π/4)."""
    values = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    dec = build_decoder(values, [0, 1, 2], np.eye(2))
    assert dec.rho_projected[0] == pytest.approx(math.cos(math.pi / 4))
    np.testing.assert_allclose(dec.codes[0], [-math.sqrt(0.5), -math.sqrt(0.5)], atol=1e-9)
    # the worst δ: towards value 1 by (ρ + 1e-6): ties broken in favour of value 1
    y = dec.codes[0] - (dec.rho_projected[0] + 1e-6) * np.array([-1.0, 0.0])
    assert values[1] @ y > values[0] @ y


# --------------------------------------------------------------------------- float bounds


def test_float_forward_error_bound_formula_and_ordering():
    for dtype, u in UNIT_ROUNDOFF.items():
        n = 10
        assert float_forward_error_bound(2.0, n, dtype) == pytest.approx(2 * n * u / (1 - n * u))
    b64, b32, b16 = (
        float_forward_error_bound(1.0, 100, t) for t in ("float64", "float32", "bfloat16")
    )
    assert 0 < b64 < b32 < b16
    assert float_forward_error_bound(1.0, 2**8, "bfloat16") == math.inf  # n·u ≥ 1
    assert float_forward_error_bound(0.0, 10, "float32") == 0.0
    with pytest.raises(InvalidInputError, match="dtype 'float16' is unknown"):
        float_forward_error_bound(1.0, 10, "float16")


@given(st.floats(0.0, 1e6), st.floats(1.0, 1e3), st.integers(1, 10**6), st.integers(1, 10**6))
def test_float_forward_error_bound_is_linear_in_amplification_and_monotone_in_length(a, c, n1, n2):
    lo, hi = sorted((n1, n2))
    assert float_forward_error_bound(a, lo, "float32") <= float_forward_error_bound(
        a, hi, "float32"
    )
    assert float_forward_error_bound(a * c, lo, "float32") == pytest.approx(
        c * float_forward_error_bound(a, lo, "float32"), rel=1e-12
    )


@given(st.integers(1, 400), st.integers(0, 2**31 - 1), st.sampled_from([1.0, 1e-3, 1e3]))
@settings(max_examples=40, deadline=None)
def test_float_forward_error_bound_bounds_a_float32_dot_product(length, seed, scale):
    """A float32 inner product of ``length`` terms, summed left to right, is within the bound
    of its exact value (the reference is exact: float32 products fit in float64, and a sum of
    ≤ 400 of them in float64 errs by ≲ 400·2^-53, far below the float32 bound)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(length) * scale).astype(np.float32)
    y = rng.standard_normal(length).astype(np.float32)
    products = x * y  # rounded to float32
    computed = np.float32(0.0)
    for p in products:  # sequential float32 accumulation
        computed = np.float32(computed + p)
    exact = float(np.sum(x.astype(np.float64) * y.astype(np.float64)))
    magnitude = float(np.sum(np.abs(x.astype(np.float64) * y.astype(np.float64))))
    if exact == 0.0:
        return
    amplification = magnitude / abs(exact)
    bound = float_forward_error_bound(amplification, length, "float32")
    assert abs(float(computed) - exact) <= bound * abs(exact) * (1 + 1e-9) + 1e-300
