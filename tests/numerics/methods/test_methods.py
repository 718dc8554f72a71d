"""The methods registry and each method: valid MLPs of the requested width, parameter counts
that match the file, seeds, recall where a method must store the set, failures where it
must not, and a table of invalid calls.

Recall is checked with :func:`numerics.strict_recall.recall`; parameter counts are read back from
the safetensors file with plain numpy (:func:`proofs_check.decoder_correctness.read_mlp_file`).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.embeddings.generators import make_factset
from numerics.factset import FactSet
from numerics.methods import (
    METHODS,
    BuildResult,
    EncDecMethod,
    GDMethod,
    HebbianMethod,
    LookupMethod,
    Method,
    NeedsAcceleratorError,
    NTKMethod,
    WidthTooSmallError,
    get_method,
)
from numerics.methods.encdec import MIN_SLACK, encdec_layout
from numerics.methods.ntk import hermite_coefficient
from numerics.mlp import GatedMLP
from numerics.strict_recall import recall
from proofs_check.decoder_correctness import read_mlp_file
from theory.errors import InvalidInputError

#: GD small enough for unit tests (d = 8, F = 32 reaches 100% at h = 8 in ≈ 100 epochs).
TINY_GD = GDMethod(lrs=(1e-2,), epochs=600, patience=200)


def _method(name: str) -> Method:
    return TINY_GD if name == "gd" else get_method(name)


def _recall(built: BuildResult, factset: FactSet, dtype=torch.float64) -> float:
    mlp = GatedMLP(built.weights.to(dtype=dtype))
    return recall(mlp, factset, dtype=dtype).accuracy


@pytest.fixture(scope="module")
def small():
    return make_factset("spherical", n_facts=32, dim=8, seed=0, tied=True)


def _expected_params(name: str, h: int, d: int) -> int:
    return {"gd": 3 * h * d + 2 * h + d, "lookup": 3 * h * d + h}.get(name, 3 * h * d)


# (method, requested width) on the small set: encdec needs ≥ r_min = ⌈1.05·32/8⌉ = 5 per
# code coordinate (43 → m = d = 8 coordinates of r = 5: 40 neurons; m = d keeps every value
# decodable for any seed), lookup one neuron per key.
WIDTHS = [
    ("encdec", 43),
    ("gd", 8),
    ("ntk", 64),
    ("hebbian", 40),
    ("hebbian_ridge", 20),
    ("lookup", 40),
]


def test_registry_names():
    assert set(METHODS) == {
        "encdec",
        "gd",
        "ntk",
        "hebbian",
        "hebbian_ridge",
        "hebbian_dd",
        "lookup",
        "maxmargin",
    }
    for name, method in METHODS.items():
        assert method.name == name and isinstance(method, Method)
        assert get_method(name) is method


def test_unknown_method_lists_names():
    with pytest.raises(InvalidInputError, match="unknown; choose one of encdec, gd, ntk"):
        get_method("adam")


@pytest.mark.parametrize("name, hidden", WIDTHS, ids=[w[0] for w in WIDTHS])
def test_build_writes_a_valid_mlp(name, hidden, small, tmp_path):
    method = _method(name)
    built = method.build(small, hidden, seed=0)
    assert built.method == name and built.hidden == built.weights.hidden <= hidden
    if name not in ("encdec", "lookup"):  # the quantised layouts may use fewer
        assert built.hidden == hidden
    assert built.weights.device.type == "cpu"
    assert built.weights.dtype == (torch.float32 if name == "gd" else torch.float64)
    assert built.info["dtype"] == str(built.weights.dtype).removeprefix("torch.")
    assert built.params == _expected_params(name, built.hidden, small.dim)
    path = tmp_path / f"{name}.safetensors"
    built.save(path)
    tensors, meta = read_mlp_file(path)
    assert sum(a.size for a in tensors.values()) == built.params
    assert tensors["gate_proj.weight"].shape == (built.hidden, small.dim)
    assert meta["activation"] == built.weights.activation
    assert meta["method"] == meta["construction"] == name
    assert json.loads(meta["info"]) == json.loads(json.dumps(dict(built.info)))
    config = json.loads(meta["config"])
    assert config == json.loads(json.dumps(dataclasses.asdict(method))) and config["name"] == name


@pytest.mark.parametrize(
    "name, hidden",
    [w for w in WIDTHS if w[0] != "lookup"],
    ids=[w[0] for w in WIDTHS if w[0] != "lookup"],
)
def test_same_seed_same_weights_other_seed_other_weights(name, hidden, small):
    method = _method(name)
    a, b, c = (method.build(small, hidden, seed=s) for s in (3, 3, 4))
    for field in ("gate", "up", "down"):
        assert torch.equal(getattr(a.weights, field), getattr(b.weights, field))
    assert not torch.equal(a.weights.gate, c.weights.gate)


def test_lookup_stores_every_fact_with_one_neuron_per_distinct_key():
    # Keys on an ellipsoid (convex position, unequal norms, so some keys are outscored along
    # their own direction and need a separator gate) and repeated keys: 24 facts, 18 keys.
    base = make_factset("spherical", n_facts=18, n_values=6, dim=5, seed=1, fact_map="random")
    ellipsoid = base.keys * np.array([3.0, 1.0, 1.0, 0.5, 0.2])
    keys = np.vstack([ellipsoid, ellipsoid[:6]])
    fs = FactSet(keys, base.values, np.concatenate([base.fact_map, base.fact_map[:6]]))
    built = LookupMethod().build(fs, 30, seed=0)
    assert built.hidden == 18 and built.params == 3 * 18 * 5 + 18
    assert built.info["separator_gates"] >= 1
    assert _recall(built, fs) == 1.0 and _recall(built, fs, torch.float32) == 1.0
    with pytest.raises(WidthTooSmallError, match="hidden must be ≥ 18, got 17"):
        LookupMethod().build(fs, 17, seed=0)


def test_lookup_separator_gate_for_a_key_outshone_along_its_own_direction():
    # k_1 outscores k_0 along k_0/‖k_0‖ (1.2 > 1), yet k_0 is a vertex of the key set.
    keys = np.array([[1.0, 0.0], [1.2, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    values = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    fs = FactSet(keys, values, [1, 2, 3, 0])
    built = LookupMethod().build(fs, 4, seed=0)
    assert built.info["separator_gates"] == 1
    assert _recall(built, fs) == 1.0
    out = built.weights.forward(torch.tensor(keys))
    np.testing.assert_allclose(out.numpy(), values[[1, 2, 3, 0]], atol=1e-12)  # g(k_n) = u*


def test_lookup_cannot_isolate_a_key_inside_the_hull_of_the_others():
    keys = np.array([[1.0, 0.0], [1.5, 1.0], [1.5, -1.0], [-1.0, 0.0]])  # k_0 is inside
    fs = FactSet(keys, np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]), [0, 1, 2, 3])
    assert _recall(LookupMethod().build(fs, 4, seed=0), fs) < 1.0


def test_encdec_stores_at_its_widths_and_refuses_below_r_min(small):
    method = EncDecMethod()
    built = method.build(small, method.default_max_hidden(small), seed=0)
    assert _recall(built, small) == 1.0 and _recall(built, small, torch.float32) == 1.0
    assert built.info["code_dim"] == small.dim
    with pytest.raises(WidthTooSmallError, match="r_min = 5"):
        method.build(small, 4, seed=0)


@settings(max_examples=200, deadline=None)
@given(
    n_keys=st.integers(1, 5000),
    rank=st.integers(1, 128),
    hidden=st.integers(1, 20000),
    dim=st.integers(1, 128),
)
def test_encdec_layout_fits_the_width(n_keys, rank, hidden, dim):
    # The layout depends on F', d' and d only; a stand-in factset supplies them.
    class _Geometry:
        pass

    import numerics.methods.encdec as encdec

    original = encdec._key_geometry
    encdec._key_geometry = lambda fs: (n_keys, rank, False)
    try:
        fake = _Geometry()
        fake.dim = dim
        r_min = math.ceil((1 + MIN_SLACK) * n_keys / rank)
        if hidden < r_min:
            with pytest.raises(WidthTooSmallError):
                encdec_layout(fake, hidden)
            return
        layout = encdec_layout(fake, hidden)
    finally:
        encdec._key_geometry = original
    m, r = layout["code_dim"], layout["group_size"]
    assert 1 <= m <= dim and m * r <= hidden
    assert r == max(1, math.ceil((1 + layout["slack"]) * n_keys / rank))  # the encoder's r
    assert layout["slack"] >= 0 and r * rank >= n_keys  # solvable
    # the width left over after m·r_min goes to the group (at most m − 1 + m neurons idle)
    assert hidden - m * r < 2 * m or m == dim


def test_hebbian_ridge_beats_raw():
    fs = make_factset("spherical", n_facts=100, dim=16, seed=2, tied=True)
    raw = HebbianMethod(readout="raw").build(fs, 100, seed=0)
    ridge = HebbianMethod(name="hebbian_ridge", readout="ridge").build(fs, 100, seed=0)
    assert torch.equal(raw.weights.gate, ridge.weights.gate)  # same features
    raw_recall, ridge_recall = _recall(raw, fs), _recall(ridge, fs)
    assert raw_recall < 1.0 and ridge_recall == 1.0


def test_hebbian_ridge_primal_equals_kernel_form():
    fs = make_factset("spherical", n_facts=40, dim=6, seed=3, tied=True)
    method = get_method("hebbian_ridge")
    built = method.build(fs, 30, seed=1)  # h ≤ F: primal form
    assert built.info["form"] == "primal"
    A0 = built.weights.gate.numpy()
    A1 = built.weights.up.numpy()  # A₁/√h: φ = (A₀x)⊙(A₁x)/√h
    phi = (fs.keys @ A0.T) * (fs.keys @ A1.T)
    lam = built.info["lam"]
    kernel = fs.values[fs.fact_map].T @ np.linalg.solve(phi @ phi.T + lam * np.eye(40), phi)
    np.testing.assert_allclose(built.weights.down.numpy(), kernel, rtol=1e-6, atol=1e-9)
    wide = method.build(fs, 60, seed=1)
    assert wide.info["form"] == "kernel"


def test_ntk_stores_few_facts_and_fails_beyond_its_capacity():
    few = make_factset("spherical", n_facts=8, dim=16, seed=0, tied=True)
    many = make_factset("spherical", n_facts=256, dim=16, seed=0, tied=True)  # F = d²
    assert _recall(NTKMethod().build(few, 2048, seed=0), few) == 1.0
    assert _recall(NTKMethod().build(many, 2048, seed=0), many) < 0.9


def test_hermite_coefficients_known_values():
    assert hermite_coefficient("relu", 1) == pytest.approx(0.5, abs=1e-10)
    assert hermite_coefficient("relu", 2) == pytest.approx(1 / (2 * math.sqrt(math.pi)), abs=1e-10)
    assert hermite_coefficient("identity", 1) == pytest.approx(1.0, abs=1e-10)
    assert abs(hermite_coefficient("relu", 3)) < 1e-10
    assert abs(hermite_coefficient("identity", 2)) < 1e-10


def test_gd_reaches_full_recall_on_a_tiny_set(small):
    built = TINY_GD.build(small, 8, seed=0)
    assert built.info["reached"] and built.info["runs"][0]["stop"] == "stored"
    assert _recall(built, small, torch.float32) == 1.0
    assert built.info["epochs"] < TINY_GD.epochs


def test_gd_fastest_trains_every_lr_and_keeps_the_fewest_epochs(small):
    built = dataclasses.replace(TINY_GD, lrs=(1e-2, 3e-3), select="fastest").build(small, 8, seed=0)
    runs = built.info["runs"]
    assert [r["lr"] for r in runs] == [1e-2, 3e-3]
    best = min((r for r in runs if r["reached"]), key=lambda r: r["epochs"])
    assert built.info["lr"] == best["lr"] and built.info["epochs"] == best["epochs"]


def test_gd_without_success_keeps_the_best_weights(small):
    built = dataclasses.replace(TINY_GD, epochs=30, patience=None).build(small, 2, seed=0)
    run = built.info["runs"][0]
    assert not built.info["reached"] and run["stop"] == "epochs"
    assert _recall(built, small, torch.float32) == pytest.approx(run["stored"] / small.n_facts)


def test_gd_refuses_large_points_on_a_cpu():
    wide = FactSet(np.eye(65)[:2], np.eye(65)[:2], [0, 1])
    with pytest.raises(NeedsAcceleratorError, match=r"d = 65, F = 2 .*d ≤ 64, F ≤ 4096.*cuda"):
        GDMethod().build(wide, 4, seed=0)
    many = make_factset("spherical", n_facts=4097, n_values=2, dim=4, seed=0, fact_map="random")
    with pytest.raises(NeedsAcceleratorError, match="F = 4097"):
        GDMethod().build(many, 4, seed=0)
    GDMethod(allow_large_cpu=True).check_device(many, torch.device("cpu"))  # no error


def _rows(n: int = 4):
    return FactSet(np.eye(n), np.eye(n), np.arange(n))


INVALID_BUILDS = [
    ("hidden zero", "lookup", {"hidden": 0}, "hidden must be an integer ≥ 1, got 0"),
    ("hidden float", "ntk", {"hidden": 2.5}, "hidden must be an integer ≥ 1, got 2.5"),
    ("hidden bool", "hebbian", {"hidden": True}, "hidden must be an integer ≥ 1, got True"),
    ("seed negative", "ntk", {"seed": -1}, "seed must be an integer ≥ 0, got -1"),
    ("seed float", "encdec", {"seed": 1.0}, "seed must be an integer ≥ 0, got 1.0"),
    ("device", "hebbian_ridge", {"device": "nope"}, "device 'nope' is not an available"),
    (
        "factset arrays",
        "lookup",
        {"factset": (np.eye(2), np.eye(2), [0, 1])},
        "factset must be a FactSet, got tuple",
    ),
    ("lookup too narrow", "lookup", {"hidden": 3}, "hidden must be ≥ 4, got 3"),
    ("encdec too narrow", "encdec", {"hidden": 1}, "encdec needs hidden ≥ r_min = 2"),
]


@pytest.mark.parametrize(
    "name, method, change, message", INVALID_BUILDS, ids=[c[0] for c in INVALID_BUILDS]
)
def test_invalid_builds(name, method, change, message):
    args = {"factset": _rows(), "hidden": 8, "seed": 0, "device": "cpu", **change}
    with pytest.raises(InvalidInputError, match=message):
        get_method(method).build(args.pop("factset"), args.pop("hidden"), **args)


INVALID_CONFIGS = [
    ("gd no lrs", lambda: GDMethod(lrs=()), "lrs must be positive"),
    ("gd negative lr", lambda: GDMethod(lrs=(1e-2, -1.0)), "lrs must be positive"),
    ("gd epochs", lambda: GDMethod(epochs=0), "epochs must be an integer ≥ 1, got 0"),
    ("gd patience", lambda: GDMethod(patience=0), "patience must be an integer ≥ 1, got 0"),
    ("gd threads", lambda: GDMethod(threads=0), "threads must be an integer ≥ 1, got 0"),
    ("gd scale", lambda: GDMethod(logit_scale=0.0), "logit_scale must be positive"),
    ("gd select", lambda: GDMethod(select="best"), "select must be one of"),
    ("gd activation", lambda: GDMethod(activation="tanh"), "activation 'tanh' is unknown"),
    ("ntk degree", lambda: NTKMethod(degree=-1), "degree must be an integer ≥ 0"),
    (
        "ntk identity k=2",
        lambda: NTKMethod(activation="identity", degree=2),
        "no degree-2 Hermite component",
    ),
    ("ntk relu k=3", lambda: NTKMethod(activation="relu", degree=3), "no degree-3 Hermite"),
    ("hebbian readout", lambda: HebbianMethod(readout="ols"), "readout must be one of"),
    ("hebbian ridge", lambda: HebbianMethod(readout="ridge", ridge=0.0), "ridge must be positive"),
]


@pytest.mark.parametrize(
    "name, make, message", INVALID_CONFIGS, ids=[c[0] for c in INVALID_CONFIGS]
)
def test_invalid_configs(name, make, message):
    with pytest.raises(InvalidInputError, match=message):
        make()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name, hidden", WIDTHS, ids=[w[0] for w in WIDTHS])
def test_builds_on_cuda_store_like_on_the_cpu(name, hidden, small):
    built = _method(name).build(small, hidden, seed=0, device="cuda")
    assert built.weights.device.type == "cpu" and built.hidden <= hidden
    if name != "gd":  # one-shot constructions: the same draw, the same weights to rounding
        cpu = _method(name).build(small, hidden, seed=0)
        torch.testing.assert_close(built.weights.down, cpu.weights.down, rtol=1e-6, atol=1e-9)
