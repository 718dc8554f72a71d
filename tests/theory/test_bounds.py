"""Tests of theory/bounds.py: the counting bound, Stirling–Robbins bounds and their numbers.

Expected values come from exact integer arithmetic (2^(bW) ≥ M^F decided with Python ints),
``math.log2`` of exact integer counts, and mpmath at 50+ digits; never from bounds.py itself.
"""

from __future__ import annotations

import doctest
import json
import math
from fractions import Fraction

import mpmath
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

import theory.bounds as bounds
from theory.bounds import (
    REFERENCE_RATES,
    BoundReport,
    bits_per_param,
    bits_required,
    bound_report,
    counting_bound,
    facts_per_param_ceiling,
    log2_factorial_bounds,
    min_params,
    min_params_at_reference_rates,
    stirling_bounds,
)
from theory.errors import InvalidInputError

# ---------------------------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------------------------


def exact_min_w(count: int, b: Fraction) -> int:
    """Least integer W ≥ 0 with 2^(bW) ≥ count, b = p/q: 2^(pW) ≥ count^q ⇔ pW ≥ e, where e is
    the least integer with 2^e ≥ count^q."""
    e = (count**b.denominator - 1).bit_length()
    return -(-e // b.numerator)


def decimal(b) -> Fraction:
    return Fraction(b) if isinstance(b, int) else Fraction(repr(float(b)))


def mp_log2_factorial(n: int):
    return mpmath.loggamma(mpmath.mpf(n) + 1) / mpmath.log(2)


# b values with small exact denominators, so count^q stays small
small_b = st.one_of(
    st.integers(1, 16),
    st.sampled_from([0.1, 0.25, 0.3, 0.5, 0.7, 1.5, 2.75, 3.6, 3.625, 7.9]),
)


# ---------------------------------------------------------------------------------------------
# Known values
# ---------------------------------------------------------------------------------------------


def test_known_values_powers_of_two():
    # 16^4 = 2^16 maps: 16 bits; at 2 bits/param exactly 8 parameters (2^16 ≥ 2^16).
    assert bits_required(4, 16) == 16.0
    assert min_params(4, 16, 2) == 8
    assert min_params(4, 16, 2.5) == math.ceil(Fraction(16) / Fraction(5, 2))  # 6.4 → 7
    assert min_params(1, 2, 1) == 1


def test_single_map_needs_no_parameters():
    # M = 1 (or one bijection on one fact): one map, 0 bits.
    assert bits_required(9, 1) == 0.0
    assert min_params(9, 1, 3) == 0
    assert bits_required(1, 1, bijective=True) == 0.0
    assert min_params(1, 1, 0.5, bijective=True) == 0
    assert facts_per_param_ceiling(9, 1, 2.0) == math.inf


def test_bijection_two_facts_is_one_bit_exactly():
    assert bits_required(2, 2, bijective=True) == 1.0
    assert min_params(2, 2, 1, bijective=True) == 1
    assert min_params(2, 2, 0.5, bijective=True) == 2


def test_float_rounding_does_not_push_an_integer_ratio_up():
    # 7 facts over 8 values carry 21 bits; 21 / 0.7 is 30 exactly, but 30.000000000000004
    # in floats, so a bare ceil would say 31.
    assert math.ceil(21 / 0.7) == 31
    assert min_params(7, 8, 0.7) == 30
    assert exact_min_w(8**7, decimal(0.7)) == 30


@pytest.mark.parametrize("bijective", [False, True])
def test_near_integer_irrational_ratio_decided_at_high_precision(bijective):
    # b = log2(count) rounded to a float: the ratio bits/b is within an ulp of 1, and which
    # side of 1 it lies on is decided by mpmath at 50 digits (b read as its decimal repr).
    n_facts, n_values, count = (3, 3, 6) if bijective else (1, 3, 3)
    with mpmath.workdps(50):
        true_bits = mpmath.log(count) / mpmath.log(2)
        for b in (
            math.log2(count),
            math.nextafter(math.log2(count), math.inf),
            math.nextafter(math.log2(count), -math.inf),
        ):
            b_exact = mpmath.mpf(repr(b))
            expected = 1 if b_exact >= true_bits else 2
            assert min_params(n_facts, n_values, b, bijective=bijective) == expected


@settings(max_examples=150, deadline=None)
@given(n_facts=st.integers(1, 25), n_values=st.integers(1, 40), b=small_b)
def test_min_params_equals_exact_integer_answer(n_facts, n_values, b):
    count = n_values**n_facts
    assert min_params(n_facts, n_values, b) == exact_min_w(count, decimal(b))


@settings(max_examples=100, deadline=None)
@given(n_facts=st.integers(1, 60), b=small_b)
def test_min_params_bijective_equals_exact_integer_answer(n_facts, b):
    count = math.factorial(n_facts)
    assert min_params(n_facts, n_facts, b, bijective=True) == exact_min_w(count, decimal(b))


@settings(max_examples=100, deadline=None)
@given(n_facts=st.integers(1, 200), n_values=st.integers(1, 10**6))
def test_bits_required_matches_log2_of_exact_count(n_facts, n_values):
    expected = math.log2(n_values**n_facts)  # log2 of the exact integer M^F
    assert math.isclose(bits_required(n_facts, n_values), expected, rel_tol=1e-13, abs_tol=1e-13)


@settings(max_examples=60, deadline=None)
@given(n_facts=st.one_of(st.integers(1, 3000), st.integers(3000, 10**12)))
def test_bits_required_bijective_is_correctly_rounded(n_facts):
    with mpmath.workdps(40):
        expected = float(mp_log2_factorial(n_facts))
    # correctly rounded: the float nearest the 40-digit value
    assert bits_required(n_facts, n_facts, bijective=True) == expected


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@given(n_facts=st.integers(1, 10**6), n_values=st.integers(1, 10**6), b=small_b)
def test_monotone_in_n_facts(n_facts, n_values, b):
    assert bits_required(n_facts + 1, n_values) >= bits_required(n_facts, n_values)
    assert min_params(n_facts + 1, n_values, b) >= min_params(n_facts, n_values, b)
    if n_values >= 2:
        assert bits_required(n_facts + 1, n_values) > bits_required(n_facts, n_values)


@given(n_facts=st.integers(1, 10**6), n_values=st.integers(1, 10**6), b=small_b)
def test_monotone_in_n_values(n_facts, n_values, b):
    assert bits_required(n_facts, n_values + 1) > bits_required(n_facts, n_values)
    assert min_params(n_facts, n_values + 1, b) >= min_params(n_facts, n_values, b)


@settings(deadline=None)
@given(n_facts=st.integers(1, 5000), b=small_b)
def test_bijective_monotone_in_n_facts(n_facts, b):
    assert bits_required(n_facts + 1, n_facts + 1, bijective=True) > bits_required(
        n_facts, n_facts, bijective=True
    )
    assert min_params(n_facts + 1, n_facts + 1, b, bijective=True) >= min_params(
        n_facts, n_facts, b, bijective=True
    )


@given(
    n_facts=st.integers(1, 10**5),
    n_values=st.integers(1, 10**5),
    b1=st.floats(1e-3, 64, allow_nan=False),
    b2=st.floats(1e-3, 64, allow_nan=False),
    bijective=st.booleans(),
)
def test_min_params_decreasing_in_bits_per_param(n_facts, n_values, b1, b2, bijective):
    if bijective:
        n_values = n_facts
    lo, hi = sorted((b1, b2))
    assert min_params(n_facts, n_values, lo, bijective=bijective) >= min_params(
        n_facts, n_values, hi, bijective=bijective
    )


@settings(deadline=None)
@given(
    n_facts=st.integers(1, 10**6),
    n_values=st.integers(1, 10**6),
    b=st.floats(1e-2, 64, allow_nan=False),
    bijective=st.booleans(),
)
def test_min_params_is_the_least_sufficient_count(n_facts, n_values, b, bijective):
    # W·b ≥ bits and (W − 1)·b < bits, checked at 50 digits with b read as its decimal.
    if bijective:
        n_values = n_facts
    w = min_params(n_facts, n_values, b, bijective=bijective)
    with mpmath.workdps(50):
        bits = (
            mp_log2_factorial(n_facts)
            if bijective
            else n_facts * mpmath.log(n_values) / mpmath.log(2)
        )
        b_exact = mpmath.mpf(repr(b))
        assert w * b_exact >= bits - mpmath.mpf(10) ** -40
        assert w == 0 or (w - 1) * b_exact < bits


@given(n_facts=st.integers(1, 10**7))
def test_bijective_bits_at_most_f_log2_f(n_facts):
    bits = bits_required(n_facts, n_facts, bijective=True)
    assert 0.0 <= bits <= n_facts * math.log2(n_facts)
    assert bits <= bits_required(n_facts, n_facts)  # bijections are a subset of all maps


@settings(max_examples=80, deadline=None)
@given(n_facts=st.integers(1, 2000))
@example(n_facts=1524)  # lgamma's float of log2 F! overshot the upper bound here
def test_stirling_floats_bracket_exact_log2_factorial(n_facts):
    lower, upper = log2_factorial_bounds(n_facts)
    with mpmath.workdps(60):
        exact = mpmath.log(mpmath.mpf(math.factorial(n_facts))) / mpmath.log(2)
        assert mpmath.mpf(lower) < exact < mpmath.mpf(upper)
    # The float of log2 F! lies between them too, even where log2 F! is within an ulp of
    # the upper bound (F ≳ 700: the gap is ≈ 1/(360 F³ ln 2)).
    assert lower <= bits_required(n_facts, n_facts, bijective=True) <= upper


@settings(max_examples=40, deadline=None)
@given(n_facts=st.integers(2000, 10**15))
def test_stirling_floats_bracket_log2_factorial_for_large_f(n_facts):
    lower, upper = log2_factorial_bounds(n_facts)
    with mpmath.workdps(80):
        exact = mp_log2_factorial(n_facts)
        assert mpmath.mpf(lower) < exact < mpmath.mpf(upper)


def test_stirling_floats_are_tight():
    # Width 1/(12F(12F+1) ln 2) ≈ 1e-6 bits at F = 100: the floats must not be loose.
    lower, upper = log2_factorial_bounds(100)
    assert 0 < upper - lower < 2e-6


@settings(deadline=None)
@given(
    n_facts=st.integers(1, 10**6),
    n_values=st.integers(2, 10**6),
    b=st.floats(1e-2, 64, allow_nan=False),
    bijective=st.booleans(),
)
def test_efficiency_at_min_params_never_beats_b(n_facts, n_values, b, bijective):
    if bijective:
        n_values = n_facts
    w = min_params(n_facts, n_values, b, bijective=bijective)
    if w >= 1:
        assert bits_per_param(n_facts, n_values, w, bijective=bijective) <= b * (1 + 1e-12)
    if w >= 2:
        assert bits_per_param(n_facts, n_values, w - 1, bijective=bijective) > b * (1 - 1e-12)


@given(
    n_facts=st.integers(1, 10**6),
    n_values=st.integers(2, 10**6),
    b=st.floats(1e-2, 64, allow_nan=False),
)
def test_facts_per_param_ceiling_is_b_over_log2_m(n_facts, n_values, b):
    # For arbitrary maps the ceiling does not depend on F.
    got = facts_per_param_ceiling(n_facts, n_values, b)
    assert math.isclose(got, b / math.log2(n_values), rel_tol=1e-12)


@given(n_facts=st.integers(1, 10**6), n_values=st.integers(1, 10**6), bijective=st.booleans())
def test_reference_rates(n_facts, n_values, bijective):
    if bijective:
        n_values = n_facts
    table = min_params_at_reference_rates(n_facts, n_values, bijective=bijective)
    assert list(table) == [rate.key for rate in REFERENCE_RATES]
    for rate in REFERENCE_RATES:
        assert table[rate.key] == min_params(
            n_facts, n_values, rate.bits_per_param, bijective=bijective
        )
    # the denser rate never needs more parameters
    assert table["morris-2025"] <= table["allen-zhu-li-2024"]


def test_reference_rate_values_are_the_cited_ones():
    rates = {rate.key: rate.bits_per_param for rate in REFERENCE_RATES}
    assert rates == {"allen-zhu-li-2024": 2.0, "morris-2025": 3.6}
    assert all("arXiv" in rate.source for rate in REFERENCE_RATES)


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


@given(
    n_facts=st.integers(1, 10**5),
    n_values=st.integers(1, 10**5),
    b=st.floats(1e-2, 64, allow_nan=False),
    bijective=st.booleans(),
)
@settings(deadline=None, max_examples=50)
def test_bound_report_agrees_with_functions_and_is_json(n_facts, n_values, b, bijective):
    if bijective:
        n_values = n_facts
    report = bound_report(n_facts, n_values, b, bijective=bijective)
    assert isinstance(report, BoundReport)
    data = report.to_dict()
    json.dumps(data, allow_nan=False)  # strict JSON: no inf/nan
    assert data["bits_required"] == bits_required(n_facts, n_values, bijective=bijective)
    assert data["min_params"] == min_params(n_facts, n_values, b, bijective=bijective)
    assert data["reference_min_params"] == min_params_at_reference_rates(
        n_facts, n_values, bijective=bijective
    )
    if bijective:
        assert data["stirling_lower"] <= data["bits_required"] <= data["stirling_upper"]
    else:
        assert data["stirling_lower"] is None and data["stirling_upper"] is None


def test_bound_report_is_frozen_and_reports_inf_ceiling_as_none():
    report = bound_report(3, 1, 2)
    with pytest.raises(AttributeError):
        report.min_params = 5  # type: ignore[misc]
    assert report.facts_per_param_ceiling == math.inf
    assert report.to_dict()["facts_per_param_ceiling"] is None


# ---------------------------------------------------------------------------------------------
# Symbolic objects
# ---------------------------------------------------------------------------------------------


def test_counting_bound_solution_form():
    cb = counting_bound()
    assert cb.solution.lhs == cb.W and isinstance(cb.solution, sp.GreaterThan)
    assert sp.simplify(cb.w_min - cb.F * sp.log(cb.M, 2) / cb.b) == 0
    # 16^4 = 2^16 at b = 2: exactly 8
    assert sp.simplify(cb.w_min.subs({cb.F: 4, cb.M: 16, cb.b: 2})) == 8
    assert cb.premise == sp.Ge(2 ** (cb.b * cb.W), cb.M**cb.F)


def test_counting_bound_bijective():
    cb = counting_bound(bijective=True)
    assert cb.premise.rhs == sp.factorial(cb.F)
    assert sp.simplify(cb.w_min.subs({cb.F: 4, cb.b: 1}) - sp.log(24, 2)) == 0


def test_stirling_width_is_robbins_gap():
    # 1/(12n) − 1/(12n+1) = 1/(12n(12n+1)), over ln 2.
    sb = stirling_bounds()
    n = sb.n
    assert sp.simplify(sb.log2_width - 1 / (12 * n * (12 * n + 1) * sp.log(2))) == 0
    assert sp.simplify(sb.log2_upper - sb.log2_lower - sb.log2_width) == 0


# ---------------------------------------------------------------------------------------------
# Invalid calls
# ---------------------------------------------------------------------------------------------

INVALID_CALLS = [
    pytest.param(lambda: bits_required(0, 5), "n_facts", "0", id="F=0"),
    pytest.param(lambda: bits_required(-3, 5), "n_facts", "-3", id="F<0"),
    pytest.param(lambda: bits_required(5, 0), "n_values", "0", id="M=0"),
    pytest.param(lambda: bits_required(2.5, 3), "n_facts", "2.5", id="F-non-integer"),
    pytest.param(lambda: bits_required(2.0, 3), "n_facts", "2.0", id="F-float"),
    pytest.param(lambda: bits_required(True, 3), "n_facts", "True", id="F-bool"),
    pytest.param(lambda: bits_required("4", 3), "n_facts", "'4'", id="F-string"),
    pytest.param(lambda: bits_required(3, 4, bijective=True), "n_values", "4", id="bijective-M!=F"),
    pytest.param(
        lambda: bits_required(3, 3, bijective="yes"), "bijective", "yes", id="bijective-str"
    ),
    pytest.param(lambda: min_params(5, 5, 0), "bits_per_param", "0", id="b=0"),
    pytest.param(lambda: min_params(5, 5, -1.5), "bits_per_param", "-1.5", id="b<0"),
    pytest.param(lambda: min_params(5, 5, math.nan), "bits_per_param", "nan", id="b=nan"),
    pytest.param(lambda: min_params(5, 5, math.inf), "bits_per_param", "inf", id="b=inf"),
    pytest.param(lambda: min_params(5, 5, "2"), "bits_per_param", "'2'", id="b-string"),
    pytest.param(
        lambda: min_params(5, 5, 10**400), "bits_per_param", "1000", id="b-overflows-float"
    ),
    pytest.param(lambda: min_params(0, 5, 2), "n_facts", "0", id="min_params-F=0"),
    pytest.param(
        lambda: min_params(4, 5, 2, bijective=True), "n_values", "5", id="min_params-bijective-M!=F"
    ),
    pytest.param(lambda: bits_per_param(5, 5, 0), "n_params", "0", id="W=0"),
    pytest.param(lambda: bits_per_param(5, 5, 1.5), "n_params", "1.5", id="W-non-integer"),
    pytest.param(
        lambda: facts_per_param_ceiling(5, 5, 0.0), "bits_per_param", "0.0", id="ceiling-b=0"
    ),
    pytest.param(lambda: min_params_at_reference_rates(5, 0), "n_values", "0", id="rates-M=0"),
    pytest.param(lambda: log2_factorial_bounds(0), "n_facts", "0", id="stirling-F=0"),
    pytest.param(lambda: bound_report(5, 5, math.nan), "bits_per_param", "nan", id="report-b=nan"),
    pytest.param(
        lambda: bound_report(5, 6, 2, bijective=True), "n_values", "6", id="report-bijective-M!=F"
    ),
    pytest.param(
        lambda: counting_bound(bijective=1), "bijective", "1", id="counting-bijective-int"
    ),
]


@pytest.mark.parametrize(("call", "argument", "value"), INVALID_CALLS)
def test_invalid_calls_raise_naming_the_argument(call, argument, value):
    with pytest.raises(InvalidInputError) as info:
        call()
    message = str(info.value)
    assert argument in message and value in message
    assert "\n" not in message


# ---------------------------------------------------------------------------------------------
# Module hygiene
# ---------------------------------------------------------------------------------------------


def test_all_lists_exactly_the_public_names():
    defined_here = {
        name
        for name, obj in vars(bounds).items()
        if not name.startswith("_") and getattr(obj, "__module__", None) == "theory.bounds"
    }
    assert set(bounds.__all__) == defined_here | {"REFERENCE_RATES"}


def test_docstring_examples():
    result = doctest.testmod(bounds, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10 and result.failed == 0


def test_theory_does_not_import_torch_or_numerics():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(bounds))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"torch", "numerics", "mpmath"}
