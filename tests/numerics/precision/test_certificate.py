"""numerics.precision.certify_recall: the circle set it must refuse, the cases it must never
certify (margin 0, no bound, overflow), monotonicity, chunking, and its fields."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
import torch

from numerics.construction.pipeline import construct
from numerics.embeddings.generators import make_factset
from numerics.factset import FactSet
from numerics.mlp import GatedMLP, GatedMLPWeights
from numerics.precision import PrecisionCertificate, certify_recall, logit_error_bounds
from numerics.precision.propagation import lipschitz_torch as _lipschitz
from numerics.strict_recall import recall
from theory.errors import InvalidInputError
from theory.rounding import FORMATS, lipschitz_on_interval

F64 = torch.float64


def _facts(keys, values, fact_map):
    return types.SimpleNamespace(
        keys=np.asarray(keys, float),
        values=np.asarray(values, float),
        fact_map=np.asarray(fact_map),
    )


def _linear_mlp(matrix, activation="identity"):
    """g(x) = matrix · x: the gate is σ(0·x + 1) = 1, the up projection is the matrix."""
    m = torch.as_tensor(matrix, dtype=F64)
    d = m.shape[1]
    return GatedMLPWeights(
        torch.zeros(d, d, dtype=F64),
        m,
        torch.eye(d, dtype=F64),
        activation=activation,
        gate_bias=torch.ones(d, dtype=F64),
    )


@pytest.fixture(scope="module")
def circle():
    """200 values equally spaced on the unit circle, 400 random unit keys, a random map."""
    rng = np.random.default_rng(0)
    angles = 2 * np.pi * np.arange(200) / 200
    values = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    keys = rng.standard_normal((400, 2))
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    factset = FactSet(keys, values, rng.integers(0, 200, 400))
    built = construct(factset)
    assert built.recall.accuracy == 1.0  # stored in float64
    return factset, built


def test_the_circle_set_is_mostly_refused_and_what_is_certified_decodes(circle):
    factset, built = circle
    cert = certify_recall(built.weights, factset, "float32")
    observed_recall = cert.observed_recall
    assert observed_recall < 0.9  # float32 genuinely breaks this MLP (0.67 measured)
    assert cert.certified_fraction < 0.5
    assert (cert.margins_observed[cert.certified] > 0).all()
    failing = np.flatnonzero(~(cert.margins_observed > 0))
    assert set(failing.tolist()) <= set(cert.uncertified)
    assert cert.bound_over_observed_min >= 1.0


@pytest.fixture(scope="module")
def stored():
    factset = make_factset("spherical", n_facts=64, dim=16, seed=0, tied=True)
    return factset, construct(factset)


def test_a_stored_spherical_set_is_certified_in_float32_and_the_bound_holds(stored):
    factset, built = stored
    cert = certify_recall(built.weights, factset, "float32")
    assert cert.certified_fraction > 0.9
    assert (cert.margins_observed[cert.certified] > 0).all()
    assert cert.bound_over_observed_min >= 1.0  # the bound covers this machine's float32
    assert cert.bound_over_observed >= cert.bound_over_observed_min
    # a key with ratio > 1 is certified (the per-competitor test can certify more)
    assert (cert.certified[cert.ratio > 1]).all()
    assert (cert.margin_lower <= cert.margins_float64).all()
    assert (cert.margin_error >= 0).all()


def test_bounds_grow_with_the_unit_roundoff(stored):
    factset, built = stored
    errors = [
        logit_error_bounds(built.weights, factset, FORMATS[name])[2]
        for name in ("float32", "float16", "bfloat16")  # u = 2^-24 < 2^-11 < 2^-8
    ]
    assert (errors[0] >= 0).all()
    assert (errors[0] <= errors[1]).all() and (errors[1] <= errors[2]).all()
    halved = dataclasses.replace(
        FORMATS["float32"], unit_roundoff=2.0**-25, input_roundoff=2.0**-25
    )
    assert (logit_error_bounds(built.weights, factset, halved)[2] <= errors[0]).all()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_a_margin_of_zero_is_never_certified(dtype):
    # keys 0, 1: g(k) = (1, 0) scores (1, 1) and (1, −1) equally: an exact tie.
    # key 2: its value has an exact duplicate (values 2 and 3).
    # key 3: g(k) = 0, every logit is 0.
    weights = _linear_mlp([[1.0, 0.0], [0.0, 0.0]])
    facts = _facts(
        [[1.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
        [[1.0, 1.0], [1.0, -1.0], [0.5, 0.25], [0.5, 0.25]],
        [0, 1, 2, 0],
    )
    cert = certify_recall(weights, facts, dtype, observe=False)
    assert not cert.certified.any()
    assert (cert.margin_lower <= 0).all()


def test_a_clear_margin_is_certified_in_every_format():
    weights = _linear_mlp(np.eye(2) * 3.0)
    facts = _facts(np.eye(2), np.eye(2), [0, 1])
    for dtype in ("float32", "bfloat16", "float16"):
        cert = certify_recall(weights, facts, dtype)
        assert cert.certified.all() and cert.worst_margin_over_bound > 10, dtype


def test_one_value_is_always_decoded():
    weights = _linear_mlp(np.eye(2))
    cert = certify_recall(weights, _facts(np.eye(2), [[1.0, 2.0]], [0, 0]), "float32")
    assert cert.certified.all() and np.isinf(cert.margin_lower).all()


def test_bfloat16_with_256_hidden_neurons_has_no_bound():
    gen = torch.Generator().manual_seed(0)
    h, d = 256, 4
    weights = GatedMLPWeights(
        torch.randn(h, d, generator=gen, dtype=F64),
        torch.randn(h, d, generator=gen, dtype=F64),
        torch.randn(d, h, generator=gen, dtype=F64),
        activation="silu",
    )
    facts = _facts(np.eye(4), np.eye(4), [0, 1, 2, 3])
    cert = certify_recall(weights, facts, "bfloat16")
    assert not cert.bounded and not cert.certified.any()  # 256 · 2^-8 = 1: γ_n undefined
    assert np.isinf(cert.margin_error).all()
    summary = cert.to_dict()
    assert summary["bounded"] is False and summary["certified_fraction"] == 0.0
    bounded = certify_recall(weights, facts, "float32", observe=False)
    assert bounded.bounded
    # Without a bound only the float64 margins are computed (one pass, no error terms): the
    # same reference margins as the bounded path's, and no lower bound.
    np.testing.assert_allclose(cert.margins_float64, bounded.margins_float64, rtol=1e-12)
    assert np.isneginf(cert.margin_lower).all() and (cert.ratio == 0).all()
    # A caller's float64 recall stands in for that pass (and is ignored where there is a
    # bound); the observation is the recall in the format.
    reference = recall(GatedMLP(weights), facts)
    given = certify_recall(weights, facts, "bfloat16", reference=reference)
    assert np.array_equal(given.margins_float64, reference.margins)
    assert not given.bounded and np.isinf(given.margin_error).all()
    assert np.array_equal(given.margins_observed, cert.margins_observed)
    assert given.observed.dtype == "bfloat16"
    shifted = dataclasses.replace(reference, margins=reference.margins + 1.0)
    ignored = certify_recall(weights, facts, "float32", observe=False, reference=shifted)
    assert np.array_equal(ignored.margins_float64, bounded.margins_float64)
    with pytest.raises(InvalidInputError, match="float64 recall"):
        certify_recall(weights, facts, "bfloat16", reference=given.observed)


def test_a_weight_beyond_float16_range_overflows():
    weights = _linear_mlp(np.eye(2) * 1e5)
    facts = _facts(np.eye(2), np.eye(2), [0, 1])
    cert = certify_recall(weights, facts, "float16")
    assert cert.overflow.all() and not cert.certified.any()
    assert cert.margins_observed is None and cert.to_dict()["observed_recall"] is None
    assert certify_recall(weights, facts, "float32", observe=False).certified.all()


def test_large_intermediates_overflow_in_float16():
    weights = _linear_mlp(np.eye(2) * 300.0)  # g(k) = 300 k, logits 300 · 300 > 65504
    facts = _facts(np.eye(2) * 300, np.eye(2) * 2, [0, 1])
    cert = certify_recall(weights, facts, "float16", observe=False)
    assert cert.overflow.all() and not cert.certified.any()


def test_chunking_does_not_change_the_certificate(stored):
    factset, built = stored
    a = certify_recall(built.weights, factset, "float32", observe=False)
    b = certify_recall(built.weights, factset, "float32", observe=False, key_chunk=7)
    assert np.array_equal(a.certified, b.certified)
    np.testing.assert_allclose(a.margin_error, b.margin_error, rtol=1e-12)
    np.testing.assert_allclose(a.margin_lower, b.margin_lower, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("activation", ["relu", "identity", "silu", "gelu"])
def test_the_torch_lipschitz_envelope_matches_theory(activation):
    upper = np.concatenate([np.linspace(-40, 5, 901), [-1e3, 0.0, -1.0, 1e3]])
    ours = _lipschitz(activation, torch.tensor(upper)).numpy()
    np.testing.assert_allclose(ours, lipschitz_on_interval(activation, upper), rtol=1e-12)


def test_the_certificate_is_a_frozen_record_with_its_summary(stored):
    factset, built = stored
    cert = certify_recall(built.weights, factset, "float32")
    assert isinstance(cert, PrecisionCertificate)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cert.dtype = "float16"
    with pytest.raises(ValueError):
        cert.certified[0] = False
    summary = cert.to_dict()
    for key in (
        "certified_fraction",
        "uncertified",
        "worst_margin_over_bound",
        "bound_over_observed",
        "model",
    ):
        assert key in summary
    assert summary["uncertified"] == list(cert.uncertified)
    assert "γ_n" in summary["model"] and "TF32" in summary["model"]
    assert summary["worst_margin_over_bound"] == pytest.approx(cert.ratio.min())


def test_bad_arguments_are_refused(stored):
    factset, built = stored
    with pytest.raises(InvalidInputError, match="cannot be certified"):
        certify_recall(built.weights, factset, "float64")
    with pytest.raises(InvalidInputError, match="dimension"):
        certify_recall(built.weights, make_factset("spherical", n_facts=8, dim=4, seed=0))
    with pytest.raises(InvalidInputError, match="GatedMLPWeights"):
        certify_recall(lambda x: x, factset)
    with pytest.raises(InvalidInputError, match="device"):
        certify_recall(built.weights, factset, device="no-such-device")
    with pytest.raises(InvalidInputError, match="attribute"):
        certify_recall(built.weights, object())
