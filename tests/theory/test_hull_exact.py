"""Tests of theory/hull_exact.py and of its use in theory.rho / theory.feasibility: a value is
called undecodable (infeasible) only with exact convex weights; a vertex whose ρ_i is below
UNDECODABLE_TOL is "decodable only with a margin below 1e-7".

Expected weights are derived by hand in the comments; every certificate is also re-checked
with :func:`verify_exact_certificate` (plain Fraction arithmetic) and, for separators, by
decoding with the direction in float64 and float32.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

import theory.hull_exact as hull_exact
from theory.errors import InfeasibleFactSetError, InvalidInputError
from theory.feasibility import feasibility, require_feasible
from theory.hull_exact import (
    CONVEX_WEIGHTS,
    SEPARATING_DIRECTION,
    HullCertificate,
    RationalValues,
    SeparatorCertificate,
    decide_hull,
    exact_hull_weights,
    margin_phrase,
    verify_exact_certificate,
)
from theory.rho import (
    METHODS,
    UNDECODABLE_TOL,
    decodability,
    value_decodability,
    verify_certificate,
)

THREE_POINTS = np.array([[-1.0, 0.0], [0.0, 5e-8], [1.0, 0.0]])
MIDPOINT = np.array([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
# A tetrahedron with the origin as a vertex; (1, 1, 2) = 1/3·v0 + 1/6·v1 + 1/6·v2 + 1/3·v3.
TETRAHEDRON = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 6.0, 0.0], [0.0, 0.0, 6.0]])
INSIDE_TETRAHEDRON = np.array([1.0, 1.0, 2.0])
TETRAHEDRON_WEIGHTS = (Fraction(1, 3), Fraction(1, 6), Fraction(1, 6), Fraction(1, 3))
KEYS_2D = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def _argmax_is_strict(values, direction, i, dtype) -> bool:
    logits = np.asarray(values, dtype=dtype) @ np.asarray(direction, dtype=dtype)
    others = np.delete(logits, i)
    return bool((logits[i] > others).all())


# ----------------------------------------------------------------------------- the set


@pytest.mark.parametrize("method", METHODS)
def test_strict_vertex_with_tiny_margin_is_not_infeasible(method):
    # v_1 = (0, 5e-8) is above the chord from (−1, 0) to (1, 0): a strict vertex.  Its two
    # unit differences are (±1, 5e-8)/‖·‖, so ρ_1 = 5e-8/√(1 + 2.5e-15) ≈ 5e-8 < 1e-7.
    cert = value_decodability(THREE_POINTS, 1, method=method)
    assert cert.status == "margin_below_tol" and not cert.undecodable
    assert cert.rho == pytest.approx(5e-8, rel=1e-6) and cert.lower <= cert.upper <= 1e-7
    assert isinstance(cert.exact, SeparatorCertificate) and cert.exact.kind == SEPARATING_DIRECTION
    verify_exact_certificate(THREE_POINTS, cert.exact)
    verify_certificate(THREE_POINTS, cert)
    np.testing.assert_allclose(cert.u_star, [0.0, 1.0], atol=1e-12)
    report = feasibility(KEYS_2D, THREE_POINTS, [0, 1, 2], method=method)
    assert report.feasible and report.undecodable_values == () and report.infeasible_facts == ()
    assert report.margin_below_tol_values == (1,) and report.margin_below_tol_facts == (1,)
    require_feasible(report)  # does not raise
    (warning,) = report.value_side_warnings()
    assert "decodable only with a margin below 1e-7" in warning and "keys [1]" in warning


def test_the_direction_zero_one_decodes_the_middle_value_in_float64_and_float32():
    assert _argmax_is_strict(THREE_POINTS, [0.0, 1.0], 1, np.float64)
    assert _argmax_is_strict(THREE_POINTS, [0.0, 1.0], 1, np.float32)
    cert = value_decodability(THREE_POINTS, 1)
    direction = [float(w) for w in cert.exact.direction]
    assert _argmax_is_strict(THREE_POINTS, direction, 1, np.float64)
    assert cert.exact.margin == Fraction(5e-8) * cert.exact.direction[1]


def test_decodability_lists_tiny_margins_apart_from_undecodable_values():
    result = decodability(THREE_POINTS)
    assert result.undecodable.tolist() == [] and result.margin_below_tol.tolist() == [1]
    assert result.rho == pytest.approx(5e-8, rel=1e-6)


# ----------------------------------------------------------------------------- in the hull


@pytest.mark.parametrize("method", METHODS)
def test_midpoint_is_infeasible_with_exact_half_weights(method):
    cert = value_decodability(MIDPOINT, 1, method=method)
    assert cert.undecodable and cert.rho == 0.0 and cert.status == "in_hull"
    assert cert.exact == HullCertificate(1, (0, 2), (Fraction(1, 2), Fraction(1, 2)))
    assert cert.exact.kind == CONVEX_WEIGHTS
    verify_certificate(MIDPOINT, cert)
    report = feasibility(KEYS_2D, MIDPOINT, [0, 1, 2], method=method)
    assert not report.feasible and report.undecodable_values == (1,)
    assert report.infeasible_facts == (1,) and report.margin_below_tol_values == ()
    with pytest.raises(InfeasibleFactSetError, match="exact convex weights") as info:
        require_feasible(report)
    assert info.value.values == (1,) and info.value.keys == (1,)
    assert "v1 = 1/2·v0 + 1/2·v2" in str(info.value)


def test_point_inside_a_tetrahedron_gets_its_rational_weights():
    values = np.vstack([TETRAHEDRON, INSIDE_TETRAHEDRON])
    cert = value_decodability(values, 4)
    assert cert.undecodable
    # The four vertices are affinely independent: the weights are unique.
    assert cert.exact == HullCertificate(4, (0, 1, 2, 3), TETRAHEDRON_WEIGHTS)
    verify_exact_certificate(values, cert.exact)
    np.testing.assert_allclose(cert.hull_weights, [1 / 3, 1 / 6, 1 / 6, 1 / 3], atol=1e-15)
    assert cert.hull_residual <= 1e-15


def test_point_inside_a_tetrahedron_with_more_points_has_a_valid_certificate():
    # With extra points the weights are no longer unique; any certificate must verify.
    rng = np.random.default_rng(0)
    extra = 6.0 * rng.standard_normal((20, 3))
    values = np.vstack([TETRAHEDRON, extra, INSIDE_TETRAHEDRON])
    cert = value_decodability(values, values.shape[0] - 1)
    assert cert.undecodable and isinstance(cert.exact, HullCertificate)
    verify_exact_certificate(values, cert.exact)
    verify_certificate(values, cert)


def test_d1_interior_values_get_exact_weights():
    # 0.5 = λ·3 + (1 − λ)·(−1) gives λ = 3/8; the two extremes are vertices with ρ = 1.
    values = np.array([[3.0], [-1.0], [0.5]])
    result = decodability(values)
    assert result.undecodable.tolist() == [2]
    assert result.certificates[2].exact == HullCertificate(
        2, (0, 1), (Fraction(3, 8), Fraction(5, 8))
    )
    np.testing.assert_array_equal(result.rho_per_value[:2], [1.0, 1.0])


def test_d1_weights_that_are_not_dyadic():
    # 1 = λ·(1 + 2^-52) + (1 − λ)·0 gives λ = 2^52/(2^52 + 1): exact only as a fraction.
    values = np.array([[0.0], [1.0], [1.0 + 2.0**-52]])
    cert = value_decodability(values, 1)
    assert cert.undecodable
    assert cert.exact.weights == (Fraction(1, 2**52 + 1), Fraction(2**52, 2**52 + 1))
    verify_exact_certificate(values, cert.exact)
    assert value_decodability(values, 2).rho == 1.0  # the largest value: a vertex


# ----------------------------------------------------------------------------- near the boundary

TRIANGLE = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


def test_just_inside_a_triangle_edge_is_in_the_hull():
    # (0, c) with c = 1e-12 (the float): λ = ((1 − c)/2, (1 − c)/2, c), exact in rationals.
    c = Fraction(1e-12)
    values = np.vstack([TRIANGLE, [0.0, 1e-12]])
    cert = value_decodability(values, 3)
    assert cert.undecodable and cert.status == "in_hull"
    assert cert.exact == HullCertificate(3, (0, 1, 2), ((1 - c) / 2, (1 - c) / 2, c))
    verify_exact_certificate(values, cert.exact)


def test_just_outside_a_triangle_edge_is_a_vertex_with_tiny_margin():
    values = np.vstack([TRIANGLE, [0.0, -1e-12]])
    cert = value_decodability(values, 3)
    assert not cert.undecodable and cert.status == "margin_below_tol"
    assert isinstance(cert.exact, SeparatorCertificate)
    verify_exact_certificate(values, cert.exact)
    # Hand value: the nearest unit differences are (±1, −1e-12)/‖·‖, so ρ_3 ≈ 1e-12.
    assert cert.rho == pytest.approx(1e-12, rel=1e-3) and cert.upper <= UNDECODABLE_TOL
    assert exact_hull_weights(values, 3, [[0, 1, 2]]) is None


@pytest.mark.parametrize("offset, inside", [(-1e-12, True), (1e-12, False)])
def test_near_a_tetrahedron_face_on_either_side(offset, inside):
    # The face x + y + z = 6 through (6,0,0), (0,6,0), (0,0,6); (2, 2, 2 + offset) as floats.
    point = np.array([2.0, 2.0, 2.0 + offset])
    assert (sum(Fraction(x) for x in point) < 6) == inside
    values = np.vstack([TETRAHEDRON, point])
    cert = value_decodability(values, 4)
    assert cert.undecodable == inside
    assert cert.status == ("in_hull" if inside else "margin_below_tol")
    assert isinstance(cert.exact, HullCertificate if inside else SeparatorCertificate)
    verify_exact_certificate(values, cert.exact)
    verify_certificate(values, cert)


def test_a_point_off_a_segment_by_rounding_is_not_called_infeasible():
    # a + (b − a)/3 in floats misses the segment [a, b] in R^3 by rounding (checked exactly
    # below): the old rule (dual bound ≤ 1e-7) called it undecodable; it is a vertex.
    a, b = np.array([0.1, 0.2, 0.3]), np.array([0.7, -0.3, 0.9])
    point = a + (b - a) / 3
    values = np.vstack([a, b, point])
    t = (Fraction(point[0]) - Fraction(a[0])) / (Fraction(b[0]) - Fraction(a[0]))
    on_line = [Fraction(x) + t * (Fraction(y) - Fraction(x)) for x, y in zip(a, b, strict=True)]
    assert on_line != [Fraction(x) for x in point]  # off the line through a and b
    cert = value_decodability(values, 2)
    assert cert.upper <= UNDECODABLE_TOL and not cert.undecodable
    assert cert.status == "margin_below_tol" and isinstance(cert.exact, SeparatorCertificate)
    verify_exact_certificate(values, cert.exact)


# ----------------------------------------------------------------------------- duplicates


@pytest.mark.parametrize("method", METHODS)
def test_duplicates_carry_the_exact_weight_one(method):
    values = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, -1.0]])
    result = decodability(values, method=method)
    assert result.undecodable.tolist() == [0, 2] and result.margin_below_tol.size == 0
    for index, partner in ((0, 2), (2, 0)):
        cert = result.certificates[index]
        assert cert.status == "duplicate"
        assert cert.exact == HullCertificate(index, (partner,), (Fraction(1),))
        verify_exact_certificate(values, cert.exact)
        verify_certificate(values, cert)


# ----------------------------------------------------------------------------- the search paths


def _instances():
    """Random sets with planted interior, boundary-by-rounding and duplicate values."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        dim = int(rng.integers(1, 5))
        values = rng.standard_normal((int(rng.integers(4, 12)), dim))
        planted = [
            rng.dirichlet(np.ones(3)) @ values[:3],  # in a triangle: boundary if dim ≥ 3
            0.5 * (values[0] + values[1]),
            values[2],
        ]
        yield seed, np.vstack([values, planted])


@pytest.mark.parametrize("seed, values", list(_instances()))
def test_every_path_reaches_the_same_exact_answer(seed, values):
    """The exact simplex alone, the full search and theory.rho agree value by value."""
    rational = RationalValues(values)
    for i in range(values.shape[0]):
        reference = hull_exact._exact_simplex(rational, i)
        assert reference is not None
        verify_exact_certificate(values, reference)
        searched = decide_hull(values, i)
        verify_exact_certificate(values, searched)
        assert type(searched) is type(reference), (seed, i)
        cert = value_decodability(values, i)
        if cert.exact is not None:
            assert type(cert.exact) is type(reference), (seed, i)
        else:  # ρ_i above tol: a vertex
            assert isinstance(reference, SeparatorCertificate)
        assert cert.undecodable == isinstance(reference, HullCertificate)


def test_affinely_dependent_support_uses_an_independent_part():
    # The support 0, 1, 2 lies on one line (dependent columns); 3 is the midpoint of 0 and 1.
    values = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.5, 0.5]])
    found = exact_hull_weights(values, 3, [[0, 1, 2]])
    assert found == HullCertificate(3, (0, 1), (Fraction(1, 2), Fraction(1, 2)))
    verify_exact_certificate(values, found)


def test_the_exact_lp_gives_up_beyond_its_work_budget(monkeypatch):
    assert isinstance(hull_exact._exact_simplex(RationalValues(MIDPOINT), 1), HullCertificate)
    monkeypatch.setattr(hull_exact, "_SIMPLEX_WORK", 0)
    assert hull_exact._exact_simplex(RationalValues(MIDPOINT), 1) is None


def test_extreme_magnitudes_are_exact():
    # Entries 2^-1070 (subnormal) and 2^1000 in one set: the integer form keeps them exact.
    tiny, big = 2.0**-1070, 2.0**1000
    values = np.array([[0.0, 0.0], [big, tiny], [2 * big, 2 * tiny], [big, 0.0]])
    assert isinstance(decide_hull(values, 1), HullCertificate)  # midpoint of 0 and 2
    assert isinstance(decide_hull(values, 3), SeparatorCertificate)  # off the line by tiny
    verify_exact_certificate(values, decide_hull(values, 3))


# ----------------------------------------------------------------------------- verification


def test_tampered_hull_certificates_are_rejected():
    good = HullCertificate(1, (0, 2), (Fraction(1, 2), Fraction(1, 2)))
    verify_exact_certificate(MIDPOINT, good)
    bad = [
        (dataclasses.replace(good, weights=(Fraction(1, 3), Fraction(2, 3))), "coordinate 0"),
        (dataclasses.replace(good, weights=(Fraction(3, 2), Fraction(-1, 2))), "not convex"),
        (dataclasses.replace(good, weights=(Fraction(1, 2), Fraction(1, 3))), "not convex"),
        (dataclasses.replace(good, support=(1, 2)), "bad support"),
        (dataclasses.replace(good, support=(0, 7)), "bad support"),
        (dataclasses.replace(good, weights=(0.5, 0.5)), "not convex"),
        (dataclasses.replace(good, index=5), "out of range"),
        (dataclasses.replace(good, support=(0,)), "do not match"),
    ]
    for cert, message in bad:
        with pytest.raises(InvalidInputError, match=message):
            verify_exact_certificate(MIDPOINT, cert)


def test_tampered_separators_are_rejected():
    good = decide_hull(THREE_POINTS, 1)
    verify_exact_certificate(THREE_POINTS, good)
    wrong_margin = dataclasses.replace(good, margin=good.margin * 2)
    with pytest.raises(InvalidInputError, match="margin is"):
        verify_exact_certificate(THREE_POINTS, wrong_margin)
    sideways = SeparatorCertificate(1, (Fraction(1), Fraction(0)), Fraction(1))
    with pytest.raises(InvalidInputError, match="does not separate"):
        verify_exact_certificate(THREE_POINTS, sideways)
    with pytest.raises(InvalidInputError, match="separating direction"):
        verify_exact_certificate(THREE_POINTS, SeparatorCertificate(1, (Fraction(1),), 1))


def test_verify_certificate_requires_the_exact_weights_of_an_undecodable_value():
    cert = value_decodability(MIDPOINT, 1)
    with pytest.raises(InvalidInputError, match="without exact convex weights"):
        verify_certificate(MIDPOINT, dataclasses.replace(cert, exact=None))
    wrong = HullCertificate(1, (0, 2), (Fraction(1, 4), Fraction(3, 4)))
    with pytest.raises(InvalidInputError, match="miss it"):
        verify_certificate(MIDPOINT, dataclasses.replace(cert, exact=wrong))
    other = HullCertificate(0, (1, 2), (Fraction(1, 2), Fraction(1, 2)))
    with pytest.raises(InvalidInputError, match="for value 0"):
        verify_certificate(MIDPOINT, dataclasses.replace(cert, exact=other))


def test_json_forms_are_exact_strings():
    values = np.vstack([TETRAHEDRON, INSIDE_TETRAHEDRON])
    assert value_decodability(values, 4).exact.to_json() == {
        "kind": "exact convex weights",
        "value": 4,
        "support": [0, 1, 2, 3],
        "weights": ["1/3", "1/6", "1/6", "1/3"],
    }
    separator = value_decodability(THREE_POINTS, 1).exact.to_json()
    assert separator["kind"] == "exact separating direction"
    assert separator["direction"] == ["0/1", "1/1"]
    assert Fraction(separator["margin"]) == Fraction(5e-8)


def test_margin_phrase():
    assert margin_phrase(UNDECODABLE_TOL) == "decodable only with a margin below 1e-7"
    assert margin_phrase(2.5e-12) == "decodable only with a margin below 2.5e-12"


def test_an_undecided_value_is_not_called_undecodable(monkeypatch):
    # Were every exact search to give up (budget), the value would stay "margin_below_tol"
    # with no certificate: never infeasible without exact convex weights.
    import theory.rho as rho_module

    monkeypatch.setattr(rho_module, "exact_hull_weights", lambda *args, **kwargs: None)
    monkeypatch.setattr(rho_module, "decide_hull", lambda *args, **kwargs: None)
    cert = value_decodability(MIDPOINT, 1)
    assert cert.status == "margin_below_tol" and cert.exact is None and not cert.undecodable
    assert cert.rho == 0.0 and cert.upper <= UNDECODABLE_TOL
    verify_certificate(MIDPOINT, cert)
    report = feasibility(KEYS_2D, MIDPOINT, [0, 1, 2])
    assert report.feasible and report.margin_below_tol_values == (1,)
