"""numerics.dtypes.ieee_float32_matmuls: float32 matmuls in IEEE float32 inside, whatever the
caller set (TF32 on CUDA, bfloat16 in oneDNN), the caller's setting back after; and recall
and the certificate's observed pass run under it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from numerics.construction.pipeline import construct
from numerics.dtypes import ieee_float32_matmuls
from numerics.embeddings.generators import make_factset
from numerics.factset import FactSet
from numerics.mlp import GatedMLP, GatedMLPWeights
from numerics.precision import certify_recall
from numerics.strict_recall import recall

NEW_API = hasattr(torch.backends.cuda.matmul, "fp32_precision")
BACKENDS = (torch.backends.cuda.matmul, torch.backends.mkldnn.matmul) if NEW_API else ()


def _settings():
    return [b.fp32_precision for b in BACKENDS]


@pytest.fixture
def user_reduced_precision():
    """A caller who asked for TF32 on CUDA and bfloat16 in oneDNN with the per-backend API
    (after which torch refuses to read the legacy setting); put back after the test."""
    if not NEW_API:
        pytest.skip("this torch has no per-backend fp32_precision")
    before = _settings()
    BACKENDS[0].fp32_precision, BACKENDS[1].fp32_precision = "tf32", "bf16"
    yield ["tf32", "bf16"]
    for backend, setting in zip(BACKENDS, before, strict=True):
        backend.fp32_precision = setting


def test_ieee_inside_and_the_callers_setting_back_after(user_reduced_precision):
    with ieee_float32_matmuls():
        assert _settings() == ["ieee", "ieee"]
    assert _settings() == user_reduced_precision
    with pytest.raises(ValueError, match="boom"), ieee_float32_matmuls():
        raise ValueError("boom")
    assert _settings() == user_reduced_precision  # restored on an exception too


def test_the_legacy_setting_is_restored_on_a_default_torch():
    if NEW_API:  # only the legacy path can be read back here without mixing the APIs
        pytest.skip("this torch has the per-backend API (tested above)")
    torch.set_float32_matmul_precision("high")
    try:
        with ieee_float32_matmuls():
            assert torch.get_float32_matmul_precision() == "highest"
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision("highest")


def _model(seed=0, n=96, d=48, h=64):
    """A random fact set and a random SiLU MLP (float64), large enough that bfloat16 matmuls
    would change the float32 margins."""
    rng = np.random.default_rng(seed)
    facts = FactSet(rng.standard_normal((n, d)), rng.standard_normal((n, d)), rng.permutation(n))
    w = [torch.as_tensor(rng.standard_normal(s)) for s in ((h, d), (h, d), (d, h))]
    return facts, GatedMLPWeights(*w, activation="silu")


@pytest.fixture(scope="module")
def stored():
    factset = make_factset("spherical", n_facts=64, dim=16, seed=0, tied=True)
    return factset, construct(factset)


def test_float32_recall_ignores_a_callers_reduced_precision(user_reduced_precision):
    facts, weights = _model()
    mlp = GatedMLP(weights.to(dtype=torch.float32))
    seen = []

    def probe(x):
        seen.append(_settings())
        return mlp(x)

    reduced = recall(probe, facts, dtype=torch.float32)
    assert seen and all(s == ["ieee", "ieee"] for s in seen)
    assert _settings() == user_reduced_precision
    BACKENDS[1].fp32_precision = "ieee"
    ieee = recall(mlp, facts, dtype=torch.float32)
    # bitwise the IEEE margins: on a CPU with bfloat16 matmuls (oneDNN, AMX) the caller's
    # setting alone moves them by ~3e-3 of the largest margin
    np.testing.assert_array_equal(reduced.margins, ieee.margins)


def test_certify_observes_in_ieee_float32_under_a_callers_setting(stored, user_reduced_precision):
    factset, built = stored
    # the legacy matmul-precision read this replaced raised here (the APIs were mixed)
    cert = certify_recall(built.weights, factset, "float32")
    assert cert.certified_fraction == 1.0
    assert cert.bound_over_observed_min >= 1.0  # the observed float32 pass is in the model
    assert _settings() == user_reduced_precision
