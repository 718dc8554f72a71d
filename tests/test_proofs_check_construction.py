"""The construction's machine checks pass, and fail when the code they check is wrong."""

from __future__ import annotations

import dataclasses

import pytest

import proofs_check.param_count as param_count_checks
import proofs_check.spline_interpolation as spline_checks
from proofs_check.checks import registered_checks
from proofs_check.registry import run_check


def _run(name: str):
    (chk,) = [c for c in registered_checks() if c.name == name]
    return run_check(chk)


@pytest.mark.parametrize(
    "name", ["param-count-exact", "param-count-vs-counting-bound", "spline-interpolation"]
)
def test_construction_checks_pass(name):
    outcome = _run(name)
    assert outcome.passed, outcome.details


def test_param_count_check_fails_on_an_off_by_one_count(monkeypatch):
    real = param_count_checks.construction_params
    monkeypatch.setattr(
        param_count_checks,
        "construction_params",
        lambda *a, **k: real(*a, **k) + (1 if a[0] == 2048 else 0),
    )
    outcome = _run("param-count-exact")
    assert not outcome.passed and "failure" in outcome.details


def test_spline_check_fails_when_the_weights_are_perturbed(monkeypatch):
    import numerics.construction.encoder_spline as module

    real = module.solve_encoder_spline

    def perturbed(*args, **kwargs):
        sol = real(*args, **kwargs)
        return dataclasses.replace(sol, up_bias=sol.up_bias * (1 + 1e-6))

    monkeypatch.setattr(module, "solve_encoder_spline", perturbed)
    assert not _run("spline-interpolation").passed


def test_spline_check_fails_on_a_wrong_identity(monkeypatch):
    monkeypatch.setattr(spline_checks, "_symbolic_identity", lambda n: n != 4)
    outcome = _run("spline-interpolation")
    assert not outcome.passed and "[1, 2, 3, 5, 6]" in outcome.details


def test_limit_check_fails_outside_its_regime(monkeypatch):
    real = param_count_checks.asymptotic_regime

    def no_packing(*args):
        return dataclasses.replace(real(*args), packing_ok=False)

    monkeypatch.setattr(param_count_checks, "asymptotic_regime", no_packing)
    outcome = _run("param-count-vs-counting-bound")
    assert not outcome.passed and "regime fails" in outcome.details
