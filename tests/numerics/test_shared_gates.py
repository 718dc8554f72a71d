"""The forward pass over the neurons a shared ReLU gate switches on (numerics/shared_gates.py).

With small integers everywhere every sum is exact in float64, so the evaluation must equal
the dense formula bit for bit, whatever its order; elsewhere it must agree to rounding, and
fall back to the dense pass where a left-out product would not be an exact zero."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import shared_gates
from numerics.construction.pipeline import ConstructionConfig, construct
from numerics.embeddings.generators import make_factset
from numerics.mlp import GatedMLP, GatedMLPWeights
from numerics.shared_gates import SharedGateForward, evaluator
from numerics.strict_recall import recall

F64 = torch.float64


def shared_mlp(seed: int, *, rows: int = 6, groups: int = 9, biases: bool = True, integer=True):
    """A ReLU MLP with ``rows`` distinct gate rows, each shared by ``groups`` neurons
    (the rows interleaved as the sparse encoder lays them out)."""
    gen = torch.Generator().manual_seed(seed)
    dim = 5

    def draw(*shape):
        if integer:
            return torch.randint(-3, 4, shape, generator=gen).to(F64)
        return torch.randn(*shape, generator=gen, dtype=F64)

    h = rows * groups
    return GatedMLPWeights(
        draw(rows, dim).repeat(groups, 1),
        draw(h, dim),
        draw(dim, h),
        activation="relu",
        gate_bias=draw(rows).repeat(groups) - 2 if biases else None,
        up_bias=draw(h) if biases else None,
        down_bias=draw(dim) if biases else None,
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.booleans(), st.integers(1, 40))
def test_equals_the_dense_formula_exactly_on_integers(seed, biases, n):
    weights = shared_mlp(seed, biases=biases)
    x = torch.randint(-2, 3, (n, weights.dim), generator=torch.Generator().manual_seed(seed))
    x = x.to(F64)
    fast = evaluator(weights)
    assert isinstance(fast, SharedGateForward)
    dense = GatedMLP(weights)(x)
    assert torch.equal(fast(x), dense)
    assert torch.equal(fast(x.reshape(1, n, -1)), dense.reshape(1, n, -1))  # leading axes


def test_a_sparse_construction_recalls_the_same_in_float64_and_float32():
    factset = make_factset("spherical", n_facts=512, dim=16, seed=0, tied=True)
    weights = construct(factset, ConstructionConfig(encoder="sparse", certify=None)).weights
    fast = evaluator(weights)
    assert isinstance(fast, SharedGateForward)
    x = torch.tensor(factset.keys, dtype=F64)
    assert fast._groups.rows.shape[0] * 8 <= weights.hidden  # shared rows
    groups = fast._groups
    on = (torch.nn.functional.linear(x, groups.rows, groups.bias) > 0).double().mean()
    assert on < shared_gates.ON_FRACTION  # the shared path ran, not the fallback
    torch.testing.assert_close(fast(x), GatedMLP(weights)(x), rtol=1e-12, atol=1e-13)
    for dtype, tol in ((F64, 1e-12), (torch.float32, 1e-4)):
        cast = weights.to(dtype=dtype)
        a = recall(evaluator(cast), factset, dtype=dtype)
        b = recall(GatedMLP(cast), factset, dtype=dtype)
        assert a.failed == b.failed
        np.testing.assert_allclose(a.margins, b.margins, rtol=tol, atol=tol)


def test_an_overflowing_left_out_up_value_gives_the_dense_nan(monkeypatch):
    monkeypatch.setattr(shared_gates, "ON_FRACTION", 1.0)  # only the guard may fall back
    # Neuron rows whose gate is off for x but whose up value overflows float32: the dense
    # pass computes 0 · inf = NaN there; leaving them out would hide it.
    weights = shared_mlp(1, biases=False, integer=False).to(dtype=torch.float32)
    x = torch.ones(3, weights.dim, dtype=torch.float32)
    off = (torch.nn.functional.linear(x, weights.gate) <= 0).all(dim=0)
    assert off.any()
    up = weights.up.clone()
    up[off] = 3e38
    loud = GatedMLPWeights(weights.gate, up, weights.down, activation="relu")
    dense = GatedMLP(loud)(x)
    assert torch.isnan(dense).any()
    assert torch.equal(evaluator(loud)(x).isnan(), dense.isnan())


def test_a_nan_input_gives_the_dense_nan(monkeypatch):
    monkeypatch.setattr(shared_gates, "ON_FRACTION", 1.0)  # only the guard may fall back
    weights = shared_mlp(2)
    x = torch.zeros(2, weights.dim, dtype=F64)
    x[1, 3] = float("nan")
    assert torch.equal(evaluator(weights)(x).isnan(), GatedMLP(weights)(x).isnan())


def test_many_gates_on_take_the_dense_pass(monkeypatch):
    weights = shared_mlp(3, integer=False)
    x = torch.randn(50, weights.dim, generator=torch.Generator().manual_seed(3), dtype=F64)
    monkeypatch.setattr(shared_gates, "ON_FRACTION", 0.0)
    assert torch.equal(evaluator(weights)(x), GatedMLP(weights)(x))


def silu(weights: GatedMLPWeights) -> GatedMLPWeights:
    return GatedMLPWeights(weights.gate, weights.up, weights.down, activation="silu")


@pytest.mark.parametrize(
    "weights",
    [shared_mlp(4, groups=7), silu(shared_mlp(5))],  # 6 distinct rows of 42 > h / 8
    ids=["distinct-rows", "silu"],
)
def test_other_mlps_get_the_dense_module(weights):
    assert isinstance(evaluator(weights), GatedMLP)


def test_the_checks_are_the_dense_modules():
    fast = evaluator(shared_mlp(6))
    with pytest.raises(Exception, match="float32"):
        fast(torch.zeros(2, 5, dtype=torch.float32))
    with pytest.raises(Exception, match="last axis"):
        fast(torch.zeros(2, 4, dtype=F64))
