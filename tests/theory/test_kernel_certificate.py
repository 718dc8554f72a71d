"""Tests of theory/kernel_certificate.py: a rigorous lower bound on λ_min of the exact kernel.

The reference is the exact kernel of the float inputs evaluated by mpmath at 60 digits and its
eigenvalues by mpmath's symmetric eigensolver (small F), or numpy's eigvalsh with a rounding
allowance (larger F): never the certificate's own factorisation. Singular points on purpose
(a repeated key, more keys than features) and a factor that is wrong on purpose must be
refused; well-conditioned points must get a bound within a factor of the true λ_min."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import theory.kernel_certificate as kc
from theory.errors import InvalidInputError
from theory.kernel_certificate import kernel_activation, kernel_eigenvalue_certificate
from theory.rounding import ACTIVATION_ERROR, ACTIVATION_INPUT_LIMIT, FORMATS


def _point(n_keys: int, dim: int, rows: int, seed: int, bias: bool = False, scale: float = 1.5):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n_keys, dim))
    G = rng.standard_normal((rows, dim)) * scale / math.sqrt(dim)
    return Z, G, (rng.standard_normal(rows) if bias else None)


def _mp_activation(name: str, x):
    if name == "silu":
        return x / (1 + mpmath.exp(-x))
    if name == "gelu":
        return x * (1 + mpmath.erf(x / mpmath.sqrt(2))) / 2
    if name == "relu":
        return max(x, mpmath.mpf(0))
    return x


def _exact_eigenvalues(Z, G, b, activation: str) -> list:
    """Eigenvalues of the exact kernel at the float inputs, 60 digits, independent code."""
    with mpmath.workdps(60):
        n, dim = Z.shape
        feats = [[mpmath.mpf(float(v)) for v in row] for row in Z]
        if b is not None:
            feats = [row + [mpmath.mpf(1)] for row in feats]
        S = []
        for i in range(n):
            pre = [
                mpmath.fsum(
                    mpmath.mpf(float(Z[i, c])) * mpmath.mpf(float(g[c])) for c in range(dim)
                )
                + (mpmath.mpf(float(b[k])) if b is not None else 0)
                for k, g in enumerate(G)
            ]
            S.append([_mp_activation(activation, p) for p in pre])
        Q = mpmath.matrix(n, n)
        for i in range(n):
            for j in range(n):
                Q[i, j] = mpmath.fsum(x * y for x, y in zip(S[i], S[j], strict=True)) * (
                    mpmath.fsum(x * y for x, y in zip(feats[i], feats[j], strict=True))
                )
        return sorted(mpmath.eigsy(Q, eigvals_only=True))


# ------------------------------------------------------------------ the activation claim


def _claim_inputs() -> np.ndarray:
    info = np.finfo(np.float64)
    rng = np.random.default_rng(0)
    xs = np.concatenate(
        [
            [0.0, info.tiny, info.tiny / 2, 1.0],
            np.logspace(-300, 307, 120),
            rng.normal(size=100) * 3,
            rng.uniform(-20, 20, 100),
            rng.uniform(-760, -700, 40),  # exp(−x) overflows below about −709.8
            rng.uniform(-12, -2, 100),  # GELU: 1 + erf(x/√2) cancels
        ]
    )
    xs = np.concatenate([xs, -xs])
    return xs[np.abs(xs) < ACTIVATION_INPUT_LIMIT * FORMATS["float64"].max_finite]


@pytest.mark.parametrize("name", ["silu", "gelu"])
def test_numpy_activation_is_within_the_stated_claim(name):
    """The claim the certificate rests on, for the numpy kernels it uses, against mpmath."""
    x = _claim_inputs()
    computed = kernel_activation(name, x)
    u, lam = FORMATS["float64"].unit_roundoff, FORMATS["float64"].smallest_normal
    k, kx = ACTIVATION_ERROR[name]
    worst = 0.0
    with mpmath.workprec(120):
        for xi, yi in zip(x.tolist(), computed.tolist(), strict=True):
            exact = _mp_activation(name, mpmath.mpf(xi))
            allowed = k * u * abs(exact) + kx * u * abs(xi) + lam
            worst = max(worst, float(abs(mpmath.mpf(yi) - exact) / allowed))
    assert worst <= 1.0, f"{name}: error reaches {worst:.3g} of the claim"


# ------------------------------------------------------------------ soundness


@pytest.mark.parametrize(
    "activation, bias, rows, seed",
    [
        ("silu", False, 4, 0),
        ("silu", True, 4, 1),
        ("gelu", False, 4, 2),
        ("gelu", True, 4, 3),
        ("relu", True, 6, 4),  # with 4 rows this draw has a key with every gate off: det = 0
    ],
)
def test_bounds_enclose_the_exact_spectrum(activation, bias, rows, seed):
    Z, G, b = _point(8, 3, rows, seed, bias)
    cert = kernel_eigenvalue_certificate(Z, G, b, activation=activation)
    eigenvalues = _exact_eigenvalues(Z, G, b, activation)
    smallest, largest = float(eigenvalues[0]), float(eigenvalues[-1])
    assert cert.certified, cert
    assert cert.lower_bound <= smallest and largest <= cert.upper_bound
    assert cert.lower_bound >= smallest / 4  # not vacuous
    assert cert.condition_upper_bound >= largest / smallest


def test_near_duplicate_keys_keep_the_bound_below_a_tiny_eigenvalue():
    """Two keys 1e-6 apart: λ_min is ~1e-12 of λ_max, where rounding matters most."""
    Z, G, _ = _point(6, 3, 3, 5)
    Z[5] = Z[0] + 1e-6 * np.array([1.0, -2.0, 0.5])
    cert = kernel_eigenvalue_certificate(Z, G)
    smallest = float(_exact_eigenvalues(Z, G, None, "silu")[0])
    assert smallest > 0
    assert cert.lower_bound <= smallest


@pytest.mark.parametrize("activation", ["silu", "identity"])
def test_a_repeated_key_is_refused(activation):
    Z, G, _ = _point(6, 3, 3, 6)
    Z[4] = Z[1]
    for estimate in (None, 1e-3, 1.0):  # the caller's estimate must not matter
        cert = kernel_eigenvalue_certificate(
            Z, G, activation=activation, smallest_estimate=estimate
        )
        assert not cert.certified and cert.reason, cert


def test_more_keys_than_features_is_refused():
    """r q = 6 < F = 9: rank Φ < F, det Q = 0 exactly."""
    Z, G, _ = _point(9, 2, 3, 7)
    cert = kernel_eigenvalue_certificate(Z, G)
    assert not cert.certified


def test_a_wrong_factor_is_caught_by_the_residual(monkeypatch):
    """A 'Cholesky factor' of Q̃ − sI + cI (pretending Q̃ is more positive than it is): the
    residual is then ≈ cI ≥ s, so nothing may be certified; the true factor certifies."""
    Z, G, _ = _point(40, 4, 12, 8)
    honest = kernel_eigenvalue_certificate(Z, G)
    assert honest.certified
    real = np.linalg.cholesky
    lift = 3 * honest.upper_bound  # more than any shift tried

    def lying(a):
        return real(a + lift * np.eye(a.shape[0]))

    monkeypatch.setattr(kc.np.linalg, "cholesky", lying)
    cert = kernel_eigenvalue_certificate(Z, G, smallest_estimate=2 * honest.lower_bound)
    assert not cert.certified and "exceed" in cert.reason, cert


def test_well_conditioned_points_get_a_bound_within_a_factor_of_lambda_min():
    Z, G, _ = _point(200, 16, 16, 9)
    cert = kernel_eigenvalue_certificate(Z, G)
    S = kernel_activation("silu", Z @ G.T)
    eigenvalues = np.linalg.eigvalsh((S @ S.T) * (Z @ Z.T))
    # eigvalsh errs by a small multiple of u‖Q‖; the kernel's float error by kernel_error
    allowance = cert.kernel_error + 1e-13 * eigenvalues[-1]
    assert eigenvalues[0] / 4 <= cert.lower_bound <= eigenvalues[0] + allowance
    assert eigenvalues[-1] <= cert.upper_bound + allowance
    assert cert.residual_norm < 1e-6 * cert.lower_bound


def test_a_too_large_estimate_is_halved_until_it_factors():
    Z, G, _ = _point(30, 4, 10, 10)
    honest = kernel_eigenvalue_certificate(Z, G)
    cert = kernel_eigenvalue_certificate(Z, G, smallest_estimate=6 * honest.lower_bound)
    assert cert.certified and cert.attempts > 1
    assert cert.shift < 2 * honest.lower_bound  # only a shift below λ_min factors
    hopeless = kernel_eigenvalue_certificate(Z, G, smallest_estimate=100 * honest.upper_bound)
    assert not hopeless.certified and hopeless.attempts == kc.SHIFT_ATTEMPTS
    assert "no shifted Cholesky" in hopeless.reason


def test_the_float_kernel_is_exactly_symmetric_across_blocks(monkeypatch):
    monkeypatch.setattr(kc, "_BLOCK", 7)  # several blocks and a ragged last one
    Z, G, _ = _point(30, 4, 10, 11)
    Q, rows, reason = kc._kernel_and_error(Z, G, None, "silu")
    assert not reason and np.array_equal(Q, Q.T)
    S = kernel_activation("silu", Z @ G.T)
    assert np.abs(Q - (S @ S.T) * (Z @ Z.T)).max() <= rows.max()
    blocked = kernel_eigenvalue_certificate(Z, G)
    monkeypatch.setattr(kc, "_BLOCK", 512)
    single = kernel_eigenvalue_certificate(Z, G)
    assert blocked.certified and math.isclose(blocked.lower_bound, single.lower_bound, rel_tol=1e-6)


def test_a_zero_rank_key_with_a_bias_is_certified_from_the_bias_alone():
    """F = 1, q = 0 (the encoder's all-zero key with biases): Q = Σ_n σ(b_n)²."""
    b = np.array([0.5, -1.0, 2.0])
    cert = kernel_eigenvalue_certificate(np.zeros((1, 0)), np.zeros((3, 0)), b)
    exact = sum(float(_mp_activation("silu", mpmath.mpf(x))) ** 2 for x in b)
    assert cert.certified and cert.lower_bound <= exact <= cert.upper_bound


def test_an_overflowing_activation_input_is_refused():
    Z, G, _ = _point(4, 2, 3, 12)
    cert = kernel_eigenvalue_certificate(Z * 1e200, G * 1e200)  # products overflow to inf
    assert not cert.certified and "overflow" in cert.reason


def test_same_input_same_certificate():
    Z, G, b = _point(20, 3, 8, 13, bias=True)
    assert kernel_eigenvalue_certificate(Z, G, b) == kernel_eigenvalue_certificate(Z, G, b)


@pytest.mark.parametrize(
    "args, kwargs, pattern",
    [
        ((np.ones((3, 2)), np.ones((2, 3))), {}, "must be"),
        ((np.ones(3), np.ones((2, 3))), {}, "2-D"),
        ((np.array([[np.nan, 1.0]]), np.ones((2, 2))), {}, r"keys\[\(0, 0\)\]"),
        ((np.ones((3, 2)), np.ones((2, 2)), np.ones(3)), {}, "gate_bias"),
        ((np.ones((3, 2)), np.ones((2, 2))), {"activation": "tanh"}, "unknown"),
        ((np.ones((3, 2)), np.ones((2, 2))), {"smallest_estimate": -1.0}, "positive"),
        ((np.ones((3, 2)), np.ones((2, 2))), {"smallest_estimate": math.inf}, "positive"),
    ],
)
def test_invalid_inputs(args, kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        kernel_eigenvalue_certificate(*args, **kwargs)


def test_blocked_gram_and_cholesky_match_numpy_and_refuse_an_indefinite_matrix():
    # Blocked so that numpy never calls the syrk/potrf that crash at 16384 rows; here at
    # block sizes that do not divide n, against numpy's own on a small matrix.
    rng = np.random.default_rng(4)
    A = rng.normal(size=(301, 340))
    np.testing.assert_allclose(kc._gram(A, rows=64), A @ A.T, rtol=1e-13, atol=1e-10)
    Q = A @ A.T + np.eye(301)
    L = kc._cholesky(Q, rows=64)
    assert np.all(np.triu(L, 1) == 0.0)
    np.testing.assert_allclose(L, np.linalg.cholesky(Q), rtol=1e-10, atol=1e-10)
    Q[200, 200] = -1.0  # indefinite: a later diagonal block fails
    with pytest.raises(np.linalg.LinAlgError):
        kc._cholesky(Q, rows=64)
