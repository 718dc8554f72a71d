"""The forward bounds' compaction: ReLU neurons off for every key of a block are left out.

Their products are exact zeros, so leaving them out may only drop the λ-level terms the
full evaluation gives them; the bounds must stay sound (checked against simulated
evaluations) and the certificate unchanged."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
import torch

from numerics.construction.pipeline import ConstructionConfig, construct
from numerics.embeddings.generators import make_factset
from numerics.mlp import GatedMLPWeights
from numerics.precision import certify_recall, logit_error_bounds, propagation
from tests.numerics.precision.test_certificate_soundness import check_pairs_sound, check_sound
from theory.rounding import FORMATS

FLOAT32 = FORMATS["float32"]


def cap_problem(seed: int, *, rows: int = 8, on_rows: int = 3, groups: int = 3):
    """A ReLU MLP laid out as the sparse encoder's: ``rows`` distinct gate rows, each shared
    by ``groups`` neurons, the down columns one per group; the gate rows from ``on_rows``
    on are off for every key, the first ones each on for a few keys only."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    dim, n_facts, n_values = 4, 24, 6
    keys = rng.standard_normal((n_facts, dim))
    gate = torch.randn(rows, dim, generator=gen, dtype=torch.float64)
    scores = keys @ gate.numpy().T
    reach = 1.5 * float(np.abs(scores).max())
    # threshold between the 4th and 5th highest score: 4 keys in each cap
    top = -np.sort(-scores, axis=0)
    bias = torch.tensor(-(top[3] + top[4]) / 2, dtype=torch.float64)
    bias[on_rows:] = -reach
    down = 0.5 * torch.randn(dim, groups, generator=gen, dtype=torch.float64)
    weights = GatedMLPWeights(
        gate.repeat(groups, 1),
        torch.randn(rows * groups, dim, generator=gen, dtype=torch.float64),
        down.repeat_interleave(rows, dim=1),
        activation="relu",
        gate_bias=bias.repeat(groups),
        down_bias=torch.randn(dim, generator=gen, dtype=torch.float64),
    )
    facts = types.SimpleNamespace(
        keys=keys, values=rng.standard_normal((n_values, dim)), fact_map=rng.integers(0, 6, 24)
    )
    return weights, facts


def evaluated(weights, facts) -> torch.Tensor | None:
    """The neurons the compacted forward bounds evaluate for all of ``facts``' keys."""
    prep = propagation.prepare(weights, FLOAT32, torch.device("cpu"))
    x = torch.tensor(facts.keys, dtype=torch.float64)
    gate = x @ prep.gate.w.T + prep.gate.bias
    ex = propagation.upper(FLOAT32.input_roundoff * x.abs() + FLOAT32.smallest_normal)
    mx = propagation.upper(x.abs() + ex)
    # the gate error is far below these caps' gaps: the sign of the reference decides
    return propagation._neurons_to_evaluate(prep, gate > 0, mx, FLOAT32)


@pytest.mark.parametrize("pairs", [False, True])
def test_neurons_off_for_every_key_are_left_out_and_the_bounds_stay(pairs):
    weights, facts = cap_problem(3)
    neurons = evaluated(weights, facts)
    assert neurons is not None and neurons.numel() == 3 * 3  # 3 gate rows on, 3 groups
    compact = logit_error_bounds(weights, facts, FLOAT32, pairs=pairs)
    full = logit_error_bounds(weights, facts, FLOAT32, pairs=pairs, compact=False)
    for a, b in zip(compact[:3], full[:3], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-30)
    # only the left-out neurons' λ-level terms go (up to float64 evaluation order)
    assert (compact[2] <= full[2] * (1 + 1e-12) + 1e-300).all()
    assert np.array_equal(compact[3], full[3])


def test_the_compacted_bounds_hold_under_simulated_evaluations():
    weights, facts = cap_problem(5)
    assert evaluated(weights, facts) is not None
    check_sound(weights, facts, "float32", 5)
    assert check_pairs_sound(weights, facts, "float32", 5) > 0.001


def test_a_left_out_up_row_that_may_overflow_keeps_every_neuron():
    """A neuron off for every key whose up output overflows float32 (0 · inf is NaN): the
    bound over all up rows sees it, every neuron is evaluated, and every key overflows."""
    weights, facts = cap_problem(3)
    up = weights.up.clone()
    up[-1] = 1e37  # row of a neuron whose gate row is off for every key
    loud = dataclasses.replace(weights, up=up, gate_bias=100 * weights.gate_bias)
    facts.keys = facts.keys * 100  # the same caps; â = 1e39 in that row
    assert evaluated(loud, facts) is None
    compact = logit_error_bounds(loud, facts, FLOAT32)
    full = logit_error_bounds(loud, facts, FLOAT32, compact=False)
    assert compact[3].all() and np.array_equal(compact[3], full[3])


def test_many_neurons_on_evaluates_every_one():
    weights, facts = cap_problem(3, on_rows=8)
    assert evaluated(weights, facts) is None


@pytest.fixture(scope="module")
def sparse_built():
    factset = make_factset("spherical", n_facts=512, dim=16, seed=0, tied=True)
    built = construct(factset, ConstructionConfig(encoder="sparse", certify=None))
    return built.weights, factset


def test_a_sparse_construction_is_certified_the_same_in_small_blocks(sparse_built, monkeypatch):
    weights, factset = sparse_built
    prep = propagation.prepare(weights, FLOAT32, torch.device("cpu"))
    default = propagation.FORWARD_BLOCK // (2 * weights.hidden)
    rows = propagation._compact_rows(prep, factset.keys, default, torch.device("cpu"))
    assert rows < default  # its caps are few per key: compacted blocks
    compact = certify_recall(weights, factset, "float32", observe=False)
    monkeypatch.setattr(propagation, "COMPACT_FRACTION", 0.0)  # every neuron, full blocks
    full = certify_recall(weights, factset, "float32", observe=False)
    assert np.array_equal(compact.certified, full.certified)
    for name in ("margins_float64", "margin_lower", "margin_error"):
        np.testing.assert_allclose(getattr(compact, name), getattr(full, name), rtol=1e-10)
