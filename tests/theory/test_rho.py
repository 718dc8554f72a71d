"""Tests of theory/rho.py: ρ_i(V), u*_i and their certificates.

Known values are derived by hand in the comments; properties run on hypothesis-drawn value
sets with planted edge cases (duplicates, a value inside the hull, d = 1, extreme scales).
"""

from __future__ import annotations

import dataclasses
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import theory.min_norm_point as min_norm_point_module
import theory.rho as decodability_module
from numerics.testing.strategies import embedding_matrices
from theory.errors import InvalidInputError, SolverError
from theory.hull_exact import (
    SEPARATING_DIRECTION,
    HullCertificate,
    SeparatorCertificate,
    verify_exact_certificate,
)
from theory.rho import (
    METHODS,
    UNDECODABLE_TOL,
    decodability,
    separation_margin,
    value_decodability,
    verify_certificate,
)

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# cvxpy solves one cone program per value (about 10 ms each).
CVXPY_PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def value_sets(draw, *, min_values: int = 2, max_values: int = 9, max_dim: int = 6):
    """(M × d) values from a random family and scale, sometimes with planted edge cases:
    a duplicate of value 0, or a value inside the hull of three others (random convex
    weights, so the hull point is generic)."""
    n_values = draw(st.integers(min_values, max_values))
    values = draw(embedding_matrices(rows=n_values, min_dim=1, max_dim=max_dim))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    plant = draw(st.sampled_from(["none", "duplicate", "inside"]))
    if plant == "duplicate" and n_values >= 2:
        values[-1] = values[0]
    if plant == "inside" and n_values >= 4:
        values[-1] = rng.dirichlet(np.ones(3)) @ values[:3]
    return values


def _random_orthogonal(dim: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


# ----------------------------------------------------------------------------- known values


def test_two_distinct_values_have_rho_one():
    values = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    result = decodability(values)
    np.testing.assert_allclose(result.rho_per_value, [1.0, 1.0], atol=1e-12)
    direction = (values[0] - values[1]) / np.linalg.norm(values[0] - values[1])
    np.testing.assert_allclose(result.u_star, [direction, -direction], atol=1e-12)


def test_midpoint_has_rho_zero_with_half_half_hull_weights():
    values = np.array([[0.0, 0.0], [2.0, 4.0], [1.0, 2.0]])
    cert = value_decodability(values, 2)
    assert cert.rho == 0.0 and cert.undecodable and cert.status == "in_hull"
    order = np.argsort(cert.support)
    assert cert.support[order].tolist() == [0, 1]
    np.testing.assert_allclose(cert.hull_weights[order], [0.5, 0.5], atol=1e-12)
    assert cert.hull_residual <= 1e-12
    np.testing.assert_array_equal(cert.u_star, 0.0)


@pytest.mark.parametrize("n_values", [2, 3, 5, 9])
def test_regular_simplex(n_values):
    # M vertices of a regular simplex centred at 0 with circumradius R: <v_i, v_j> = −R²/(M−1),
    # so the edge is L = R √(2M/(M−1)).  By symmetry the centroid c of the a_ij is
    # Σ_j (v_i − v_j)/((M−1)L) = M v_i/((M−1)L) (using Σ_j v_j = −v_i), and <a_ij, c> is the
    # same for every j, so c is the nearest point of the hull: ρ = ‖c‖ = √(M/(2(M−1))).
    # Vertices: the standard basis of R^M, centred and rotated into R^(M−1).
    basis = np.eye(n_values) - 1.0 / n_values
    _, _, vt = np.linalg.svd(basis)
    vertices = basis @ vt[: n_values - 1].T
    expected = math.sqrt(n_values / (2 * (n_values - 1)))
    for method in METHODS:
        result = decodability(vertices, method=method)
        np.testing.assert_allclose(result.rho_per_value, expected, atol=1e-7)
        # u*_i points from the centroid through v_i.
        unit = vertices / np.linalg.norm(vertices, axis=1, keepdims=True)
        np.testing.assert_allclose(result.u_star, unit, atol=1e-6)


@pytest.mark.parametrize("dim", [2, 4, 7])
def test_orthonormal_basis_is_a_regular_simplex(dim):
    # e_1..e_d are the vertices of a regular simplex with M = d (centre 1/d, which ρ ignores):
    # ρ = √(d/(2(d−1))) by the simplex derivation above.
    result = decodability(np.eye(dim))
    np.testing.assert_allclose(result.rho_per_value, math.sqrt(dim / (2 * (dim - 1))), atol=1e-12)


@pytest.mark.parametrize("dim", [2, 3, 6])
def test_cross_polytope(dim):
    # ±e_k: for e_1 the differences are (e_1 ± e_k)/√2 (k ≠ 1) and e_1.  c = e_1/√2 is the
    # mean of (e_1 + e_2)/√2 and (e_1 − e_2)/√2 and <a, c> ≥ ‖c‖² = 1/2 for all of them
    # (1/2 for the pairs, 1/√2 for e_1), so ρ = 1/√2.
    values = np.vstack([np.eye(dim), -np.eye(dim)])
    np.testing.assert_allclose(decodability(values).rho_per_value, 1 / math.sqrt(2), atol=1e-12)


@pytest.mark.parametrize("n_values", [3, 4, 7, 12, 50])
def test_regular_polygon(n_values):
    # A corner of a regular M-gon has interior angle θ = π − 2π/M; its two unit edge directions
    # (pointing at it) are θ apart, the chord between them is at distance cos(θ/2) = sin(π/M)
    # and the other differences lie beyond that chord.
    angles = 2 * np.pi * np.arange(n_values) / n_values
    values = np.column_stack([np.cos(angles), np.sin(angles)])
    np.testing.assert_allclose(
        decodability(values).rho_per_value, np.sin(np.pi / n_values), atol=1e-12
    )


@pytest.mark.parametrize("method", METHODS)
def test_tol_only_triggers_the_exact_hull_test(method):
    # Every corner of a regular 12-gon has ρ = sin(π/12) ≈ 0.259 (see above).  A tolerance
    # above it sends all of them to the exact hull test, which finds each a vertex: none is
    # undecodable, all are "decodable only with a margin below tol" with an exact separator
    # and ρ_i still reported; a tolerance below it leaves them plain decodable.
    angles = 2 * np.pi * np.arange(12) / 12
    values = np.column_stack([np.cos(angles), np.sin(angles)])
    high = decodability(values, method=method, tol=0.3)
    assert high.undecodable.size == 0 and high.margin_below_tol.tolist() == list(range(12))
    np.testing.assert_allclose(high.rho_per_value, np.sin(np.pi / 12), atol=1e-7)
    for cert in high.certificates:
        assert cert.status == "margin_below_tol" and cert.exact.kind == SEPARATING_DIRECTION
        verify_exact_certificate(values, cert.exact)
    low = decodability(values, method=method, tol=0.2)
    assert low.undecodable.size == 0 and low.margin_below_tol.size == 0


def test_points_on_a_line():
    # In d = 1 only the two extremes are vertices (ρ = 1: the one direction away from all
    # others); every interior point is a convex combination of them (ρ = 0).
    values = np.array([[3.0], [-1.0], [0.5], [2.0], [-0.25]])
    result = decodability(values)
    np.testing.assert_array_equal(result.rho_per_value, [1.0, 1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(result.undecodable, [2, 3, 4])
    np.testing.assert_array_equal(result.u_star[:2], [[1.0], [-1.0]])


def test_single_value_convention():
    cert = value_decodability([[1.0, -2.0]], 0)
    assert (cert.rho, cert.lower, cert.upper, cert.gap) == (1.0, 1.0, 1.0, 0.0)
    assert cert.status == "no_competitor" and not cert.undecodable
    np.testing.assert_array_equal(cert.u_star, [0.0, 0.0])
    assert verify_certificate([[1.0, -2.0]], cert) == (1.0, 1.0)


@pytest.mark.parametrize("method", METHODS)
def test_duplicates_get_zero_with_the_partner_as_certificate(method):
    values = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, -1.0]])
    result = decodability(values, method=method)
    np.testing.assert_array_equal(result.undecodable, [0, 2])
    for index, partner in ((0, 2), (2, 0)):
        cert = result.certificates[index]
        assert cert.rho == 0.0 and cert.status == "duplicate"
        assert cert.support.tolist() == [partner] and cert.weights.tolist() == [1.0]
        assert cert.hull_weights.tolist() == [1.0] and cert.hull_residual == 0.0
        assert verify_certificate(values, cert) == (0.0, 0.0)
    assert result.rho_per_value[1] > 0 and result.rho_per_value[3] > 0


def test_tight_cluster_keeps_its_own_decodability():
    # ρ is scale-free: a cluster 1e-9 wide far from the other values has exposed vertices
    # whose ρ_i is set by the cluster's own shape, not by the global spread.  Square corners
    # at (10 ± ε, ±ε) with the rest near 0: the outer corners see the other corner of their
    # side at 90° and the far points at ≈ 45°, so ρ stays of order 1.
    eps = 1e-9
    cluster = 10 + eps * np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    values = np.vstack([cluster, [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    result = decodability(values)
    assert result.rho_per_value[0] > 0.3 and result.rho_per_value[1] > 0.3
    assert 0 not in result.undecodable


# ----------------------------------------------------------------------------- certificates


def _check_certificate(values, cert, *, gap_limit):
    assert 0.0 <= cert.rho <= 1.0
    lower, upper = verify_certificate(values, cert)
    assert lower == pytest.approx(cert.lower, abs=1e-12)
    assert upper == pytest.approx(cert.upper, abs=1e-12)
    assert cert.lower <= cert.upper + 1e-12
    if cert.undecodable:
        assert cert.rho == 0.0 and cert.upper <= UNDECODABLE_TOL
        assert isinstance(cert.exact, HullCertificate) and cert.exact.index == cert.index
        verify_exact_certificate(values, cert.exact)  # v_i = Σ λ v_j in rationals
        np.testing.assert_array_equal(cert.u_star, 0.0)
        combination = cert.hull_weights @ values[cert.support]
        scale = np.linalg.norm(values[cert.index] - values, axis=1).max()
        residual = np.linalg.norm(values[cert.index] - combination)
        # v_i − Σ λ_j v_j cancels down from the size of the entries, not of the differences.
        rounding = 1e-14 * np.abs(values).max()
        assert cert.hull_weights.min() >= 0 and cert.hull_weights.sum() == pytest.approx(1)
        assert residual <= UNDECODABLE_TOL * scale + rounding
        assert residual == pytest.approx(cert.hull_residual, rel=1e-6, abs=rounding)
    elif cert.status == "margin_below_tol":
        # Not in the hull (an exact separator, unless the exact search gave up), ρ_i ≤ tol;
        # the bounds of the min-norm point run to the end, with no gap promised.
        assert cert.upper <= UNDECODABLE_TOL and cert.lower <= cert.upper + 1e-12
        assert 0.0 <= cert.rho == cert.lower
        if cert.exact is not None:
            assert isinstance(cert.exact, SeparatorCertificate)
            verify_exact_certificate(values, cert.exact)
        if cert.rho > 0:
            assert np.linalg.norm(cert.u_star) == pytest.approx(1.0, abs=1e-12)
    elif cert.status != "no_competitor":
        assert cert.gap <= gap_limit
        assert cert.rho == min(cert.lower, 1.0)
        assert np.linalg.norm(cert.u_star) == pytest.approx(1.0, abs=1e-12)
        assert separation_margin(values, cert.index, cert.u_star) == pytest.approx(
            cert.rho, abs=1e-12
        )


@PROPERTY
@given(values=value_sets())
def test_mnp_certificates_verify_independently(values):
    for cert in decodability(values).certificates:
        _check_certificate(values, cert, gap_limit=1e-9)


@CVXPY_PROPERTY
@given(values=value_sets(max_values=7, max_dim=4))
def test_cvxpy_certificates_verify_independently(values):
    for cert in decodability(values, method="cvxpy").certificates:
        _check_certificate(values, cert, gap_limit=1e-6)


@CVXPY_PROPERTY
@given(values=value_sets(max_values=8, max_dim=4))
def test_mnp_agrees_with_cvxpy(values):
    from hypothesis import reject

    fast = decodability(values, method="mnp")
    try:
        reference = decodability(values, method="cvxpy")
    except SolverError:  # Clarabel's 'optimal_inaccurate' (seen at entries ~1e8): no reference
        reject()
    np.testing.assert_allclose(fast.rho_per_value, reference.rho_per_value, atol=1e-6)
    np.testing.assert_array_equal(fast.undecodable, reference.undecodable)


@pytest.mark.parametrize("seed", range(4))
def test_mnp_agrees_with_cvxpy_with_planted_zeros(seed):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((14, 4))
    values[12] = rng.dirichlet(np.ones(5)) @ values[:5]  # strictly inside the hull
    values[13] = values[7]  # a duplicate pair
    fast = decodability(values)
    reference = decodability(values, method="cvxpy")
    np.testing.assert_allclose(fast.rho_per_value, reference.rho_per_value, atol=1e-6)
    assert {7, 12, 13} <= set(fast.undecodable.tolist())
    np.testing.assert_array_equal(fast.undecodable, reference.undecodable)


@pytest.mark.parametrize("seed", range(3))
def test_working_set_gives_the_full_oracle_answer(seed, monkeypatch):
    # Shrinking the working set to 3 candidates forces several rounds of the global check.
    values = np.random.default_rng(seed).standard_normal((40, 5))
    full = decodability(values)
    monkeypatch.setattr(min_norm_point_module, "_WORKING_SET", 3)
    rounds = decodability(values)
    np.testing.assert_allclose(rounds.rho_per_value, full.rho_per_value, atol=1e-12)
    np.testing.assert_array_equal(rounds.undecodable, full.undecodable)
    assert np.nanmax(rounds.gap[rounds.rho_per_value > 0]) <= 1e-9


@PROPERTY
@given(values=value_sets(min_values=2), seed=st.integers(0, 2**32 - 1))
def test_a_value_inside_the_hull_is_undecodable(values, seed):
    # The combination must lie in the hull exactly, not up to rounding (a flat hull plus a
    # rounding error can give any ρ, since ρ is scale-free).  Values on a grid of 2^-10
    # and weights in multiples of 2^-8 make every product and sum exact in float64.
    grid = np.round(values / np.abs(values).max() * 2**10) / 2**10
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(2**8, rng.dirichlet(np.ones(grid.shape[0])))
    inside = np.vstack([grid, (counts / 2**8) @ grid])
    assert np.array_equal(inside[-1] * 2**18, np.round(inside[-1] * 2**18))
    cert = value_decodability(inside, inside.shape[0] - 1)
    assert cert.rho == 0.0 and cert.undecodable
    _check_certificate(inside, cert, gap_limit=1e-9)


# ----------------------------------------------------------------------------- invariances


def _no_near_duplicates(values) -> bool:
    """False when two values differ, but by less than 1e-6 of the largest entry.

    Rounding in a rotation or a shift is relative to the entries, so the direction of such a
    difference is noise afterwards (a shift can even merge the two), and so is their ρ;
    exact duplicates stay exact and are kept.
    """
    gaps = np.linalg.norm(values[:, None, :] - values[None, :, :], axis=2)
    return not ((gaps > 0) & (gaps < 1e-6 * np.abs(values).max())).any()


def _assert_same_rho(first, second):
    np.testing.assert_allclose(first.rho_per_value, second.rho_per_value, atol=1e-8)


@PROPERTY
@given(values=value_sets(), exponent=st.floats(-200, 200), shift=st.integers(0, 2**32 - 1))
def test_invariant_under_scaling_and_translation(values, exponent, shift):
    assume(_no_near_duplicates(values))
    base = decodability(values)
    _assert_same_rho(base, decodability(values * 10.0**exponent))
    offset = np.random.default_rng(shift).standard_normal(values.shape[1])
    offset *= np.abs(values).max()  # a shift on the scale of the values
    _assert_same_rho(base, decodability(values + offset))


@PROPERTY
@given(values=value_sets(), seed=st.integers(0, 2**32 - 1))
def test_invariant_under_orthogonal_maps(values, seed):
    assume(_no_near_duplicates(values))
    rotation = _random_orthogonal(values.shape[1], seed)
    base = decodability(values)
    turned = decodability(values @ rotation.T)
    _assert_same_rho(base, turned)
    # u* is compared where the gap is certified: below tol (status "margin_below_tol") the
    # separator of a near-flat vertex is rounding-sensitive, and may be 0.
    below = np.union1d(base.margin_below_tol, turned.margin_below_tol)
    decodable = (base.rho_per_value > 0) & ~np.isin(np.arange(values.shape[0]), below)
    np.testing.assert_allclose(
        turned.u_star[decodable], base.u_star[decodable] @ rotation.T, atol=1e-6
    )


@PROPERTY
@given(values=value_sets(), seed=st.integers(0, 2**32 - 1))
def test_rho_moves_with_a_permutation(values, seed):
    order = np.random.default_rng(seed).permutation(values.shape[0])
    base = decodability(values)
    permuted = decodability(values[order])
    np.testing.assert_allclose(permuted.rho_per_value, base.rho_per_value[order], atol=1e-9)
    np.testing.assert_array_equal(np.sort(order[permuted.undecodable]), base.undecodable)


# ----------------------------------------------------------------------------- result objects


def test_indices_select_values_and_leave_nan_elsewhere():
    values = np.random.default_rng(5).standard_normal((6, 3))
    result = decodability(values, indices=[4, 1, 4])
    assert result.indices.tolist() == [1, 4]
    assert np.isnan(result.rho_per_value[[0, 2, 3, 5]]).all()
    assert np.isnan(result.gap[[0, 2, 3, 5]]).all()
    np.testing.assert_array_equal(result.u_star[[0, 2, 3, 5]], 0.0)
    assert result.rho == min(result.rho_per_value[1], result.rho_per_value[4])
    full = decodability(values)
    np.testing.assert_array_equal(result.rho_per_value[[1, 4]], full.rho_per_value[[1, 4]])


def test_results_are_frozen():
    result = decodability(np.eye(3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.method = "cvxpy"
    with pytest.raises(ValueError):
        result.rho_per_value[0] = 0.5
    with pytest.raises(ValueError):
        result.certificates[0].u_star[0] = 0.5


def test_progress_bar_goes_to_stderr(capsys):
    decodability(np.eye(4), progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "decodability ρ_i" in captured.err and "4/4" in captured.err


def test_memory_is_linear_in_the_number_of_values():
    # M = 2^15, d = 128: an M × M Gram matrix would need 8 GiB; one value's differences need
    # M·d·8 B = 32 MiB.  Allow a few such arrays, no more.
    rng = np.random.default_rng(11)
    values = rng.standard_normal((2**15, 128))
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    tracemalloc.start()
    try:
        result = decodability(values, indices=[0, 1])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * values.nbytes
    assert (result.rho_per_value[[0, 1]] > 0.3).all()
    assert np.nanmax(result.gap) <= 1e-9


def test_tampered_certificates_are_rejected():
    values = np.random.default_rng(2).standard_normal((5, 3))
    cert = value_decodability(values, 0)
    bad_weights = dataclasses.replace(cert, weights=cert.weights * 2)
    with pytest.raises(InvalidInputError, match="convex"):
        verify_certificate(values, bad_weights)
    with_self = dataclasses.replace(cert, support=np.zeros_like(cert.support))
    with pytest.raises(InvalidInputError, match="the value itself"):
        verify_certificate(values, with_self)
    too_long = dataclasses.replace(cert, u_star=2 * cert.u_star)
    with pytest.raises(InvalidInputError, match="norm"):
        verify_certificate(values, too_long)


# ----------------------------------------------------------------------------- invalid calls

V = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def _with(index, number):
    values = V.copy()
    values[index] = number
    return values


INVALID = [
    ("nan", lambda: decodability(_with((1, 0), np.nan)), r"values\[1, 0\] is nan"),
    ("inf", lambda: value_decodability(_with((2, 1), np.inf), 0), r"values\[2, 1\] is inf"),
    ("1-D values", lambda: decodability(np.ones(3)), r"values must be a 2-D array"),
    ("no values", lambda: decodability(np.ones((0, 2))), r"values must have at least 1 row"),
    ("strings", lambda: decodability([["a", "b"]]), r"values must be numeric"),
    ("index too big", lambda: value_decodability(V, 3), r"i = 3 is out of range \[0, 3\)"),
    ("negative index", lambda: value_decodability(V, -1), r"i = -1 is out of range"),
    ("float index", lambda: value_decodability(V, 1.5), r"i must be an integer index"),
    ("unknown method", lambda: decodability(V, method="admm"), r"method must be one of"),
    ("tol zero", lambda: decodability(V, tol=0.0), r"tol must be a number in \(0, 1\)"),
    ("tol nan", lambda: decodability(V, tol=float("nan")), r"tol must be a number"),
    (
        "indices out of range",
        lambda: decodability(V, indices=[0, 5]),
        r"indices\[1\] = 5 is out of range \[0, 3\)",
    ),
    ("empty indices", lambda: decodability(V, indices=[]), r"indices must name at least one"),
    (
        "u wrong length",
        lambda: separation_margin(V, 0, [1.0, 0.0, 0.0]),
        r"u must be a vector of length 2",
    ),
    ("u nan", lambda: separation_margin(V, 0, [np.nan, 0.0]), r"u\[0, 0\] is nan"),
]


@pytest.mark.parametrize(
    "call, message", [(c, m) for _, c, m in INVALID], ids=[name for name, _, _ in INVALID]
)
def test_invalid_calls_raise(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


def test_public_names():
    module = decodability_module
    assert all(hasattr(module, name) for name in module.__all__)
    defined_here = {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__
    }
    assert defined_here <= set(module.__all__)


def test_stop_below_stops_at_the_first_value_under_the_threshold_in_the_given_order():
    # Value 3 lies inside the triangle (ρ = 0); asked first, it ends the pass at once.
    values = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.25, 0.25]])
    early = decodability(values, indices=[3, 0, 1, 2], stop_below=1e-3)
    assert early.indices.tolist() == [3]
    assert np.isnan(early.rho_per_value[:3]).all() and early.rho == 0.0
    late = decodability(values, indices=[0, 1, 2, 3], stop_below=1e-3)
    np.testing.assert_allclose(late.rho_per_value, decodability(values).rho_per_value)
    # A threshold no value falls under computes everything, as without it.
    assert decodability(values, stop_below=-1.0).indices.tolist() == [0, 1, 2, 3]
