"""Tests of proofs_check/decoder_correctness.py: the check passes on real constructions and
reports failure when the code outputs leave the budget ‖δ‖ < ρ (and only then).

Perturbations are built from the decoder's own geometry: for key i with value f = f(i) and the
active competitor j* (the one with <a_fj*, c_f> = ρ_f, a_fj = (w_f − w_j)/‖w_f − w_j‖),

* δ = −(1 + ε)·ρ_f·a_fj* leaves the budget and makes j* win (the inequality is tight);
* δ = −(1 − ε)·ρ_f·a_fj* stays inside it and must still pass;
* δ = +2·c_f (code scaled ×3) leaves the budget but decodes: the budget is sufficient, not
  necessary, and the check reports the budget violation without calling it a misdecoding.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import numerics.construction.pipeline
from numerics.construction.pipeline import ConstructionConfig, construct
from numerics.embeddings.generators import make_factset
from numerics.mlp import save_mlp
from proofs_check import registry
from proofs_check.checks import registered_checks
from proofs_check.decoder_correctness import (
    code_outputs,
    decoder_chain,
    read_mlp_file,
    recover_projection,
)
from proofs_check.registry import run_check
from theory.decoder import build_decoder


@pytest.fixture(scope="module")
def chain_inputs(tmp_path_factory):
    fs = make_factset("spherical", n_facts=24, dim=6, seed=1)
    built = construct(fs, ConstructionConfig(seed=1))
    path = tmp_path_factory.mktemp("chain") / "m.safetensors"
    save_mlp(path, built.weights, built.metadata())
    tensors, meta = read_mlp_file(path)
    group = built.encoder.group_size
    P = recover_projection(tensors, group)
    decoder = build_decoder(fs.values, fs.fact_map, P)
    outputs = code_outputs(tensors, meta["activation"], fs.keys, group)
    return outputs, decoder, fs.values @ P, fs.fact_map


def _active_direction(decoder, projected, value):
    others = np.delete(np.arange(len(projected)), value)
    a = projected[value] - projected[others]
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    k = int(np.argmin(a @ decoder.codes[value]))
    return a[k]


def _chain(outputs, decoder, projected, fact_map):
    return decoder_chain(outputs, decoder.codes, projected, decoder.rho_projected, fact_map)


def test_unperturbed_construction_passes(chain_inputs):
    report = _chain(*chain_inputs)
    assert report.passed and report.worst_ratio < 1e-6 and report.worst_slack >= -1e-12


@pytest.mark.parametrize("key", [0, 5, 17])
def test_code_error_beyond_rho_in_the_worst_direction_fails(chain_inputs, key):
    outputs, decoder, projected, fact_map = chain_inputs
    value = fact_map[key]
    rho = decoder.rho_projected[value]
    perturbed = outputs.copy()
    perturbed[key] = decoder.codes[value] - 1.01 * rho * _active_direction(
        decoder, projected, value
    )
    report = _chain(perturbed, decoder, projected, fact_map)
    assert not report.passed
    assert report.over_budget == (key,) and report.misdecoded == (key,)
    assert report.violations == ()  # the inequality itself still holds
    assert 1.0 < report.worst_ratio < 1.02


@pytest.mark.parametrize("key", [0, 5, 17])
def test_code_error_just_inside_rho_passes(chain_inputs, key):
    outputs, decoder, projected, fact_map = chain_inputs
    value = fact_map[key]
    rho = decoder.rho_projected[value]
    perturbed = outputs.copy()
    perturbed[key] = decoder.codes[value] - 0.99 * rho * _active_direction(
        decoder, projected, value
    )
    report = _chain(perturbed, decoder, projected, fact_map)
    assert report.passed and 0.98 < report.worst_ratio < 1.0


def test_a_large_error_along_the_code_is_over_budget_but_decodes(chain_inputs):
    outputs, decoder, projected, fact_map = chain_inputs
    perturbed = outputs.copy()
    perturbed[3] = 3 * decoder.codes[fact_map[3]]
    report = _chain(perturbed, decoder, projected, fact_map)
    assert not report.passed and report.over_budget == (3,) and report.misdecoded == ()


def test_a_wrong_rho_is_caught_by_the_inequality(chain_inputs):
    """Claiming a budget twice too large: the observed gaps fall below the claimed bound."""
    outputs, decoder, projected, fact_map = chain_inputs
    inflated = decoder.rho_projected * 2
    report = decoder_chain(outputs, decoder.codes, projected, inflated, fact_map)
    assert not report.passed and len(report.violations) == len(fact_map)


def test_recover_projection_refuses_a_down_projection_that_is_not_folded(chain_inputs, tmp_path):
    fs = make_factset("spherical", n_facts=12, dim=4, seed=0)
    built = construct(fs)
    save_mlp(tmp_path / "m.safetensors", built.weights, built.metadata())
    tensors, _ = read_mlp_file(tmp_path / "m.safetensors")
    group = built.encoder.group_size
    np.testing.assert_array_equal(
        recover_projection(tensors, group) @ np.ones(built.code_dim),
        tensors["down_proj.weight"][:, ::group].sum(axis=1),
    )
    tensors["down_proj.weight"][0, 1] += 1.0
    with pytest.raises(ValueError, match="differ within a group"):
        recover_projection(tensors, group)


def test_registered_check_passes():
    chk = next(c for c in registered_checks() if c.name == "decoder-correctness")
    outcome = run_check(chk)
    assert outcome.passed, outcome.details
    assert "worst ‖δ‖/ρ" in outcome.details and len(outcome.details.splitlines()) == 10


def test_registered_check_fails_on_a_broken_construction(monkeypatch):
    """Negate the up rows of the constructed MLP: every code is negated, so the check must
    report FAIL (it runs the real construct, here wrapped)."""
    real = numerics.construction.pipeline.construct

    def broken(factset, config, **kwargs):
        built = real(factset, config, **kwargs)
        weights = dataclasses.replace(built.weights, up=-built.weights.up)
        return dataclasses.replace(built, weights=weights)

    monkeypatch.setattr(numerics.construction.pipeline, "construct", broken)
    registered_checks()
    chk = registry._REGISTRY["decoder-correctness"]
    outcome = run_check(chk)
    assert not outcome.passed
    assert "FAILED" in outcome.details
