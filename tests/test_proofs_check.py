"""Tests of the proofs_check machinery (registry, runner, CLI) and of the bounds checks.

Temporary checks are registered into a copy of the registry that the ``scratch_registry``
fixture swaps in and restores, so no test leaves a check behind.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import pytest
import sympy as sp

import proofs_check.counting_bound as counting_bound_checks
import proofs_check.stirling as stirling_checks
from proofs_check import registry
from proofs_check.__main__ import main
from proofs_check.checks import registered_checks
from proofs_check.registry import Evidence, check, run_check

OUR_CHECKS = (
    "stirling-robbins-ln-factorial",
    "stirling-log2-width",
    "counting-bound-derivation",
    "counting-bound-exact-integers",
)


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registry copy for temporary checks; the real one is restored afterwards."""
    registered_checks()  # import every check module first, so they register in the real one
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    return registry._REGISTRY


# ---------------------------------------------------------------------------------------------
# The machinery
# ---------------------------------------------------------------------------------------------


def test_list_via_subprocess_names_every_check():
    result = subprocess.run(
        [sys.executable, "-m", "proofs_check", "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = {line.split(":", 1)[0] for line in result.stdout.splitlines() if line.strip()}
    assert set(OUR_CHECKS) <= listed
    assert listed == {c.name for c in registered_checks()}


def test_list_shows_claim_and_exercised_function(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "counting-bound-derivation:" in out and "theory.bounds.counting_bound" in out


def test_failing_check_is_reported_fail_and_exits_1(scratch_registry, capsys):
    @check("tmp-failing", claim="1 = 2", exercises="nothing")
    def _failing():
        return Evidence(passed=False, details="1 ≠ 2 (as expected)")

    assert main(["tmp-failing"]) == 1
    out = capsys.readouterr().out
    assert "FAIL tmp-failing" in out and "1 ≠ 2 (as expected)" in out
    assert "0 passed, 1 failed" in out


def test_passing_check_exits_0(scratch_registry, capsys):
    @check("tmp-passing", claim="1 = 1", exercises="nothing")
    def _passing():
        return Evidence(passed=True, details="fine")

    assert main(["tmp-passing"]) == 0
    assert "PASS tmp-passing" in capsys.readouterr().out


def test_one_failure_among_passes_still_exits_1(scratch_registry, capsys):
    check("tmp-ok", claim="ok", exercises="-")(lambda: Evidence(True, "ok"))
    check("tmp-bad", claim="bad", exercises="-")(lambda: Evidence(False, "bad"))
    assert main(["tmp-ok", "tmp-bad"]) == 1
    assert "1 passed, 1 failed" in capsys.readouterr().out


def test_raising_check_is_a_fail_not_a_crash(scratch_registry, capsys):
    @check("tmp-raising", claim="does not crash the runner", exercises="nothing")
    def _raising():
        raise RuntimeError("boom")

    outcome = run_check(registry._REGISTRY["tmp-raising"])
    assert not outcome.passed and "RuntimeError: boom" in outcome.details
    assert main(["tmp-raising"]) == 1
    out = capsys.readouterr().out
    assert "FAIL tmp-raising" in out and "boom" in out


def test_check_returning_a_bare_bool_fails(scratch_registry):
    check("tmp-bool", claim="returns True, not Evidence", exercises="-")(lambda: True)
    outcome = run_check(registry._REGISTRY["tmp-bool"])
    assert not outcome.passed and "not Evidence" in outcome.details


def test_duplicate_name_is_refused(scratch_registry):
    with pytest.raises(ValueError, match="already registered"):
        check(OUR_CHECKS[0], claim="again", exercises="-")(lambda: Evidence(True, ""))


def test_unknown_check_name_exits_2(capsys):
    assert main(["no-such-check"]) == 2
    assert "no-such-check" in capsys.readouterr().err


def test_scratch_registry_was_restored():
    names = {c.name for c in registered_checks()}
    assert set(OUR_CHECKS) <= names
    assert not any(name.startswith("tmp-") for name in names)


# ---------------------------------------------------------------------------------------------
# The bounds checks: they pass, and they can fail
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OUR_CHECKS)
def test_bounds_check_passes(name, capsys):
    assert main([name]) == 0, capsys.readouterr().out
    assert f"PASS {name}" in capsys.readouterr().out


def test_stirling_checks_fail_on_swapped_remainder_bounds(monkeypatch, capsys):
    # Swap 1/(12n+1) and 1/(12n): ln n! is then outside the bounds and the width is negative.
    real = stirling_checks.stirling_bounds()
    n = real.n
    base = real.ln_lower - 1 / (12 * n + 1)
    ln_lower, ln_upper = base + 1 / (12 * n), base + 1 / (12 * n + 1)
    broken = dataclasses.replace(
        real,
        ln_lower=ln_lower,
        ln_upper=ln_upper,
        log2_lower=ln_lower / sp.log(2),
        log2_upper=ln_upper / sp.log(2),
        log2_width=sp.simplify((ln_upper - ln_lower) / sp.log(2)),
    )
    monkeypatch.setattr(stirling_checks, "stirling_bounds", lambda: broken)
    assert main(["stirling-robbins-ln-factorial", "stirling-log2-width"]) == 1
    out = capsys.readouterr().out
    assert "FAIL stirling-robbins-ln-factorial" in out and "FAIL stirling-log2-width" in out
    assert "failure(s); first:" in out and "raised" not in out  # failed on the claim


def test_width_check_fails_on_a_width_that_does_not_shrink(monkeypatch):
    # An upper bound loosened by a constant: still a valid bound, but the width stays ~0.1.
    real = stirling_checks.stirling_bounds()
    loose = dataclasses.replace(
        real,
        log2_upper=real.log2_upper + sp.Rational(1, 10),
        log2_width=real.log2_width + sp.Rational(1, 10),
    )
    monkeypatch.setattr(stirling_checks, "stirling_bounds", lambda: loose)
    chk = next(c for c in registered_checks() if c.name == "stirling-log2-width")
    outcome = run_check(chk)
    assert not outcome.passed and "lim F·width = oo, not 0" in outcome.details


@pytest.mark.parametrize("mutation", ["strict", "factor-two"])
def test_derivation_check_fails_on_a_wrong_solution(monkeypatch, mutation):
    real = counting_bound_checks.counting_bound

    def wrong(*, bijective=False):
        cb = real(bijective=bijective)
        if mutation == "strict":  # W > w_min: wrong exactly on the boundary
            return dataclasses.replace(cb, solution=sp.StrictGreaterThan(cb.W, cb.w_min))
        w_min = 2 * cb.w_min
        return dataclasses.replace(cb, solution=sp.Ge(cb.W, w_min), w_min=w_min)

    monkeypatch.setattr(counting_bound_checks, "counting_bound", wrong)
    chk = next(c for c in registered_checks() if c.name == "counting-bound-derivation")
    outcome = run_check(chk)
    assert not outcome.passed and "raised" not in outcome.details
    agree = int(outcome.details.split("agree at ")[1].split("/")[0])
    assert agree < 600  # some random points (the boundary ones, at least) disagree


def test_exact_integer_check_fails_on_a_bare_float_ceil(monkeypatch):
    # Without the near-integer guard, 21 bits / 0.7 rounds up to 31 instead of 30.
    from theory.bounds import bits_required

    def naive_min_params(n_facts, n_values, b, *, bijective=False):
        return math.ceil(bits_required(n_facts, n_values, bijective=bijective) / b)

    monkeypatch.setattr(counting_bound_checks, "min_params", naive_min_params)
    chk = next(c for c in registered_checks() if c.name == "counting-bound-exact-integers")
    outcome = run_check(chk)
    assert not outcome.passed and "raised" not in outcome.details
    assert "min_params(7, 8, 0.7, bijective=False) = 31, exact 30" in outcome.details
