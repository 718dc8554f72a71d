"""``hebbian_dd``, the data-dependent bilinear construction: determinism, recall where the
random-feature variants fail, the refits' score residual (recomputed here with numpy), the
normal equations of the last refit, the MLP file read back without factmlp, invalid calls.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from numerics.embeddings.generators import make_factset
from numerics.methods import METHODS, HebbianDDMethod, capacity, get_method
from numerics.methods.hebbian_dd import cg_rule
from numerics.mlp import GatedMLP
from numerics.strict_recall import recall
from theory.errors import InvalidInputError

D, F, H = 16, 64, 32  # raw hebbian never stores this set; hebbian_ridge needs h = 50


@pytest.fixture(scope="module")
def fs():
    return make_factset("spherical", n_facts=F, dim=D, seed=0, tied=True)


@pytest.fixture(scope="module")
def built(fs):
    return get_method("hebbian_dd").build(fs, H, seed=0)


def _recall(weights, factset, dtype=torch.float64):
    return recall(GatedMLP(weights.to(dtype=dtype)), factset, dtype=dtype)


def _score_residual(a0, a1, w0, fs) -> float:
    """Σ_i ‖V W₀ φ(k_i) − e_f(i)‖², with the F×M score matrix formed explicitly."""
    phi = (fs.keys @ a0.T) * (fs.keys @ a1.T)
    scores = phi @ w0.T @ fs.values.T
    return float(((scores - np.eye(fs.n_values)[fs.fact_map]) ** 2).sum())


def test_registry_lists_it():
    method = get_method("hebbian_dd")
    assert "hebbian_dd" in METHODS and isinstance(method, HebbianDDMethod)
    assert method.name == "hebbian_dd"


def test_same_seed_same_weights_other_seed_other_weights(fs):
    method = get_method("hebbian_dd")
    a, b, c = (method.build(fs, 24, seed=s) for s in (3, 3, 4))
    for field in ("gate", "up", "down"):
        assert torch.equal(getattr(a.weights, field), getattr(b.weights, field))
    assert not torch.equal(a.weights.gate, c.weights.gate)
    assert a.info == b.info


def test_layout_and_parameter_count(built):
    w = built.weights
    assert built.hidden == w.hidden == H and w.dim == D and w.activation == "identity"
    assert w.dtype == torch.float64 and w.device.type == "cpu"
    assert w.gate_bias is None and w.up_bias is None and w.down_bias is None
    assert built.params == 2 * H * D + D * H  # the same counting as hebbian
    assert built.info["form"] == "primal" and built.info["dtype"] == "float64"


def test_stores_every_fact_where_random_features_do_not(fs, built):
    assert _recall(built.weights, fs).accuracy == 1.0
    assert _recall(built.weights, fs, torch.float32).accuracy == 1.0
    raw = get_method("hebbian").build(fs, H, seed=0)
    ridge = get_method("hebbian_ridge").build(fs, H, seed=0)
    assert _recall(raw.weights, fs).accuracy < 1.0
    assert _recall(ridge.weights, fs).accuracy < 1.0  # same draw and read-out, random A₀, A₁


def test_refits_lower_the_score_residual(fs, built):
    # The initial draw is hebbian's (gate = A₀, up = A₁/√h at the same seed and width).
    start = get_method("hebbian").build(fs, H, seed=0).weights
    a0, a1 = start.gate.numpy(), start.up.numpy() * math.sqrt(H)
    targets = fs.values[fs.fact_map]
    w0 = targets.T @ ((fs.keys @ a0.T) * (fs.keys @ a1.T)) / F
    before = _score_residual(a0, a1, w0, fs)
    after = _score_residual(built.weights.gate.numpy(), built.weights.up.numpy(), w0, fs)
    r0, r1, r2 = built.info["score_residuals"]
    assert r0 == pytest.approx(before, rel=1e-9) and r2 == pytest.approx(after, rel=1e-9)
    assert r0 > 2 * r1 and r1 > r2  # each refit lowers it
    assert r2 >= F - D - 1e-6  # rank(V W₀ Φᵀ) ≤ d: no fit goes below F − d
    assert [f["refit"] for f in built.info["fits"]] == ["A1", "A0"]


def test_last_refit_solves_its_normal_equations(fs, built):
    # H(A₀) = B (module docstring, step 2) at the final A₀ with A₁ fixed, checked with numpy.
    start = get_method("hebbian").build(fs, H, seed=0).weights
    a0_init, a1_init = start.gate.numpy(), start.up.numpy() * math.sqrt(H)
    k, v = fs.keys, fs.values
    targets = v[fs.fact_map]
    w0 = targets.T @ ((k @ a0_init.T) * (k @ a1_init.T)) / F
    a0, a1 = built.weights.gate.numpy(), built.weights.up.numpy()
    fit = built.info["fits"][1]
    c = k @ a1.T
    y = (c * (k @ a0.T)) @ w0.T
    gradient = (c * ((y @ (v.T @ v)) @ w0)).T @ k + fit["lam"] * a0
    rhs = (c * (targets @ w0)).T @ k
    rel = np.linalg.norm(gradient - rhs) / np.linalg.norm(rhs)
    assert rel == pytest.approx(fit["rel_residual"], rel=1e-2, abs=1e-9)
    assert rel < 1e-5
    assert fit["iterations"] <= cg_rule(H, D)[1]


def test_stores_with_fewer_parameters_than_hebbian_ridge(fs):
    dd = capacity(fs, "hebbian_dd", seed=0)
    ridge = capacity(fs, "hebbian_ridge", seed=0)
    assert dd.reached and dd.verified and ridge.reached
    assert dd.params < ridge.params


def test_kernel_form_when_wider_than_the_fact_count(fs):
    wide = get_method("hebbian_dd").build(fs, F + 16, seed=1)
    assert wide.info["form"] == "kernel"
    assert _recall(wide.weights, fs).accuracy == 1.0


def test_rescaled_keys_give_the_same_mlp_up_to_scale(fs):
    # The relative ridges make the construction scale-covariant: keys × 3 → A₀, A₁ ÷ 3.
    from numerics.factset import FactSet

    scaled = FactSet(3.0 * fs.keys, fs.values, fs.fact_map)
    method = get_method("hebbian_dd")
    a, b = method.build(fs, 24, seed=0).weights, method.build(scaled, 24, seed=0).weights
    np.testing.assert_allclose(3.0 * b.gate.numpy(), a.gate.numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(3.0 * b.up.numpy(), a.up.numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b.down.numpy(), a.down.numpy(), rtol=1e-6, atol=1e-9)


def test_file_reads_back_with_plain_safetensors_and_numpy(fs, built, tmp_path):
    path = tmp_path / "hebbian_dd.safetensors"
    built.save(path)
    tensors = load_file(str(path))
    assert sorted(tensors) == ["down_proj.weight", "gate_proj.weight", "up_proj.weight"]
    assert sum(t.size for t in tensors.values()) == built.params
    x = fs.keys
    out = ((x @ tensors["gate_proj.weight"].T) * (x @ tensors["up_proj.weight"].T)) @ tensors[
        "down_proj.weight"
    ].T
    logits = out @ fs.values.T
    rows = np.arange(F)
    true = logits[rows, fs.fact_map]
    logits[rows, fs.fact_map] = -np.inf
    margins = true - logits.max(axis=1)
    reference = _recall(built.weights, fs)
    assert np.mean(margins > 0) == reference.accuracy == 1.0
    np.testing.assert_allclose(margins, reference.margins, rtol=1e-9, atol=1e-12)


def test_many_to_one_fact_map_builds():
    fs = make_factset("spherical", n_facts=48, n_values=12, dim=12, seed=1, fact_map="random")
    built = get_method("hebbian_dd").build(fs, 40, seed=0)
    assert built.weights.down.shape == (12, 40)
    r0, r1, r2 = built.info["score_residuals"]
    assert r0 > r1 > r2


INVALID_CONFIGS = [
    ("ridge zero", {"ridge": 0.0}, "ridge must be positive and finite, got 0.0"),
    ("fit_ridge nan", {"fit_ridge": float("nan")}, "fit_ridge must be positive and finite"),
    ("cg_rtol negative", {"cg_rtol": -1.0}, "cg_rtol must be positive and finite"),
    ("cg_max_iter zero", {"cg_max_iter": 0}, "cg_max_iter must be an integer ≥ 1, got 0"),
    ("cg_max_iter bool", {"cg_max_iter": True}, "cg_max_iter must be an integer ≥ 1, got True"),
]


@pytest.mark.parametrize(
    "name, change, message", INVALID_CONFIGS, ids=[c[0] for c in INVALID_CONFIGS]
)
def test_invalid_configs(name, change, message):
    with pytest.raises(InvalidInputError, match=message):
        HebbianDDMethod(**change)


INVALID_BUILDS = [
    ("hidden zero", {"hidden": 0}, "hidden must be an integer ≥ 1, got 0"),
    ("seed negative", {"seed": -1}, "seed must be an integer ≥ 0, got -1"),
    ("device", {"device": "nope"}, "device 'nope' is not an available"),
    ("factset arrays", {"factset": (np.eye(2), np.eye(2), [0, 1])}, "must be a FactSet"),
]


@pytest.mark.parametrize(
    "name, change, message", INVALID_BUILDS, ids=[c[0] for c in INVALID_BUILDS]
)
def test_invalid_builds(name, change, message, fs):
    args = {"factset": fs, "hidden": 8, "seed": 0, "device": "cpu", **change}
    with pytest.raises(InvalidInputError, match=message):
        get_method("hebbian_dd").build(args.pop("factset"), args.pop("hidden"), **args)


def test_cg_iteration_cap_is_recorded(fs):
    built = HebbianDDMethod(cg_max_iter=3).build(fs, H, seed=0)
    assert all(f["iterations"] == 3 and not f["converged"] for f in built.info["fits"])
    assert built.info["cg_max_iter"] == 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_build_matches_the_cpu(fs, built):
    gpu = get_method("hebbian_dd").build(fs, H, seed=0, device="cuda")
    assert gpu.weights.device.type == "cpu"
    torch.testing.assert_close(gpu.weights.down, built.weights.down, rtol=1e-6, atol=1e-9)
