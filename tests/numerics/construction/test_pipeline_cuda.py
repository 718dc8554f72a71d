"""The whole construction on CUDA against the CPU: ``construct`` with the dense and the
sparse encoder (same m, width, recall, certified keys; weights equal to rounding), the
float32 certificate computed on the device, and the CLI chain construct → certify → verify
with ``--device`` (skipped without CUDA; see :mod:`tests.device`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from numerics.construction.pipeline import ConstructionConfig, construct
from numerics.embeddings.generators import make_factset
from numerics.precision import certify_recall
from tests.cli_runner import run
from tests.device import DEVICE, needs_device

#: (encoder, F, d): the dense kernel solve and the sparse caps solved by CG.
POINTS = [("dense", 96, 16), ("sparse", 300, 16)]


@pytest.fixture(scope="module", params=POINTS, ids=[p[0] for p in POINTS])
def builds(request):
    encoder, n_facts, dim = request.param
    factset = make_factset("spherical", n_facts=n_facts, dim=dim, seed=0, tied=True)
    on = {
        device: construct(factset, ConstructionConfig(encoder=encoder, device=device))
        for device in (DEVICE, "cpu")
    }
    return factset, on[DEVICE], on["cpu"]


@needs_device
def test_cuda_construct_matches_the_cpu(builds):
    _, gpu, cpu = builds
    assert gpu.encoder.method == cpu.encoder.method
    assert gpu.weights.device.type == "cpu" and gpu.weights.dtype == torch.float64
    assert (gpu.code_dim, gpu.hidden, gpu.params) == (cpu.code_dim, cpu.hidden, cpu.params)
    assert gpu.recall.accuracy == cpu.recall.accuracy == 1.0
    assert gpu.float32.accuracy == cpu.float32.accuracy
    np.testing.assert_array_equal(
        gpu.float32_certificate.certified, cpu.float32_certificate.certified
    )
    for part in ("gate", "up", "down", "gate_bias", "up_bias"):
        a, b = getattr(gpu.weights, part), getattr(cpu.weights, part)
        assert (a is None) == (b is None), part
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9, msg=part)
    np.testing.assert_allclose(gpu.recall.margins, cpu.recall.margins, rtol=1e-6, atol=1e-9)


@needs_device
def test_cuda_certificate_of_the_cpu_weights_matches_the_cpu(builds):
    factset, _, cpu = builds
    on_device = certify_recall(cpu.weights, factset, "float32", device=DEVICE)
    on_cpu = certify_recall(cpu.weights, factset, "float32", device="cpu")
    assert on_device.device.startswith(DEVICE)
    np.testing.assert_array_equal(on_device.certified, on_cpu.certified)
    # the bounds are float64 sums in another order: equal to float64 rounding, not bitwise
    np.testing.assert_allclose(on_device.margin_lower, on_cpu.margin_lower, rtol=1e-9)
    np.testing.assert_allclose(on_device.margin_error, on_cpu.margin_error, rtol=1e-9)
    assert on_device.bound_over_observed_min >= 1.0  # this device's float32 is in the model


@needs_device
def test_cuda_cli_construct_certify_verify_chain(tmp_path, capsys):
    fs = tmp_path / "fs.npz"
    code, _, err = run(capsys, "factset", "--facts", 128, "--dim", 16, "--tied", "--out", fs)
    assert code == 0, err
    summary = {}
    for device in (DEVICE, "cpu"):
        mlp = tmp_path / f"{device}.safetensors"
        steps = {
            "construct": ["construct", fs, "--out", mlp],
            "certify": ["certify", fs, "--mlp", mlp],
            "verify": ["verify", fs, "--mlp", mlp, "--dtype", "float32"],
        }
        for step, argv in steps.items():
            code, out, err = run(capsys, *argv, "--device", device, "--json")
            assert code == 0, f"{step} on {device}: {err}"
            summary[device, step] = json.loads(out)
    for step, field in [
        ("construct", "code_dim"),
        ("construct", "params"),
        ("construct", "float32_certified_fraction"),
        ("certify", "certified_fraction"),
        ("verify", "recall"),
    ]:
        assert summary[DEVICE, step][field] == summary["cpu", step][field], (step, field)
    assert summary[DEVICE, "certify"]["device"].startswith(DEVICE)
    assert summary[DEVICE, "verify"]["recall"] == 1.0
