"""The measure-zero-shapes machine check: it passes at small shapes, fails at a singular
point, and covers bench_construct_params' shapes (d = 128 unless told to skip them)."""

from __future__ import annotations

import proofs_check.measure_zero_shapes as module
from proofs_check.checks import registered_checks
from proofs_check.registry import run_check


def _run():
    (chk,) = [c for c in registered_checks() if c.name == "measure-zero-shapes"]
    return run_check(chk)


def test_the_shapes_are_those_of_bench_construct_params(monkeypatch):
    monkeypatch.delenv(module.SKIP_LARGE_VARIABLE, raising=False)
    default = module.shapes()
    monkeypatch.setenv(module.SKIP_LARGE_VARIABLE, "1")
    small = module.shapes()
    expected = [(d * d // k, d) for d in (32, 64, 128) for k in (8, 4, 2)]
    assert default == expected and small == expected[:6]
    assert (1024, 64) in small  # the demo's shape
    assert module.shapes(large=True) == default


def test_the_check_passes_at_small_shapes(monkeypatch):
    monkeypatch.delenv(module.SKIP_LARGE_VARIABLE, raising=False)
    monkeypatch.setattr(module, "DIMS", (8, 12))
    outcome = _run()
    assert outcome.passed, outcome.details
    assert outcome.details.count("λ_min(Q) ≥") == 6
    assert "control, a repeated key (exactly singular)" in outcome.details


def test_the_check_fails_when_its_point_is_singular(monkeypatch):
    monkeypatch.delenv(module.SKIP_LARGE_VARIABLE, raising=False)
    monkeypatch.setattr(module, "DIMS", (8,))
    real = module.shape_point

    def singular(n_facts, dim):
        Z, G = real(n_facts, dim)
        Z[-1] = Z[0]  # a repeated key: det Q = 0 exactly
        return Z, G

    monkeypatch.setattr(module, "shape_point", singular)
    outcome = _run()
    assert not outcome.passed and "failure" in outcome.details
