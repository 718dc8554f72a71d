"""Every registered method, and the capacity search, on CUDA against the CPU: the same width
and recall (float64 and float32), and for the one-shot and solver methods the same weights
to rounding (skipped without CUDA; see :mod:`tests.device`)."""

from __future__ import annotations

import pytest
import torch

from numerics.embeddings.generators import make_factset
from numerics.methods import METHODS, GDMethod, get_method
from numerics.methods.capacity_search import capacity
from numerics.mlp import GatedMLP
from numerics.strict_recall import recall
from tests.device import DEVICE, needs_device

#: A width at which each method builds on SMALL (the widths of test_methods.py; the
#: one-shot methods need not store it there, their recall is compared all the same).
WIDTHS = {
    "encdec": 43,
    "gd": 8,
    "ntk": 64,
    "hebbian": 40,
    "hebbian_ridge": 20,
    "lookup": 40,
    "hebbian_dd": 24,
    "maxmargin": 8,
}
#: GD small enough for a test (as in test_methods.py); trained in float32, so its weights
#: differ between devices and only its recall is compared.
TINY_GD = GDMethod(lrs=(1e-2,), epochs=600, patience=200)


@pytest.fixture(scope="module")
def small():
    return make_factset("spherical", n_facts=32, dim=8, seed=0, tied=True)


def _method(name):
    return TINY_GD if name == "gd" else get_method(name)


def _recall(weights, factset, dtype):
    return recall(GatedMLP(weights.to(dtype=dtype)), factset, dtype=dtype).accuracy


def test_every_registered_method_has_a_cuda_case():
    assert set(WIDTHS) == set(METHODS)


@needs_device
@pytest.mark.parametrize("name", sorted(WIDTHS))
def test_cuda_build_matches_the_cpu(name, small):
    gpu = _method(name).build(small, WIDTHS[name], seed=0, device=DEVICE)
    cpu = _method(name).build(small, WIDTHS[name], seed=0, device="cpu")
    assert gpu.weights.device.type == "cpu"  # every method hands back CPU weights
    assert gpu.hidden == cpu.hidden and gpu.params == cpu.params
    for dtype in (torch.float64, torch.float32):
        assert _recall(gpu.weights, small, dtype) == _recall(cpu.weights, small, dtype)
    if name == "gd":
        return
    for part in ("gate", "up", "down", "gate_bias", "up_bias", "down_bias"):
        a, b = getattr(gpu.weights, part), getattr(cpu.weights, part)
        assert (a is None) == (b is None), part
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9, msg=part)


@needs_device
def test_cuda_capacity_matches_the_cpu(small):
    gpu = capacity(small, "hebbian_ridge", device=DEVICE)
    cpu = capacity(small, "hebbian_ridge", device="cpu")
    assert gpu.reached and gpu.verified
    assert (gpu.hidden, gpu.recall) == (cpu.hidden, cpu.recall)
    # the same widths tried (a failing width's recall may differ by a key whose margin
    # is at rounding level; whether it stores every fact may not, or the path would differ)
    assert [w for w, _ in gpu.trials] == [w for w, _ in cpu.trials]
