"""Tests of numerics/construction/pipeline.py: the encoder–decoder construction stores every feasible fact set.

The requirement under test (issue): *for every feasible fact set with ρ_used ≥ 1e-3 and keys
with different values at least 1e-6 apart, the default construction reaches recall 1.0 in
float64; infeasible fact sets are refused with the values and keys named.* Success is
required: a refusal (any exception) on an input inside that promise is a failed test.

Recall is never taken from the construction's own report. Each MLP is written with
``save_mlp`` + ``Construction.metadata()``, read back with plain ``safetensors.numpy``, and run
through a numpy-only forward pass (:mod:`proofs_check.decoder_correctness`, no torch); every
margin ``<g(k_i), v_f(i)> − max_{j≠f(i)} <g(k_i), v_j>`` must be strictly positive.

What "outside the promise" means here (the only inputs the property test filters out,
with ``hypothesis.assume``):

* ρ_used < 1e-3, computed with :func:`theory.feasibility.feasibility` (i.e. theory.rho);
* two keys whose value *vectors* differ lie closer than 1e-6 × (largest key norm);
* a used value has a different value closer than 1e-6 × (largest value norm). The issue states
  the separation clause for keys only; we extend it to values because ρ is scale-free in the
  differences, so for values distinct only by rounding (the shared strategies produce them:
  unit rows of a rank-1 family are ±u up to one ulp) theory.rho computes ρ_i from
  rounding noise (we measured ρ_i = 0.39 in one frame and 0 after a rotation), and no float64
  read-out can separate such values. Reported to the issue as a gap in the promise.

Infeasible generated sets (some used value with ρ = 0) are never filtered: they must raise
:class:`InfeasibleFactSetError` naming exactly the undecodable used values and their keys.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, assume, event, given, note, settings
from hypothesis import strategies as st
from scipy.optimize import nnls

from numerics.construction.pipeline import (
    Construction,
    ConstructionConfig,
    cast_recall,
    construct,
)
from numerics.embeddings.generators import (
    FACT_MAPS,
    FAMILIES,
    FactSetSpec,
    make_factset,
    sample_embeddings,
)
from numerics.factset import FactSet
from numerics.mlp import save_mlp
from numerics.testing.strategies import SCALES, fact_arrays
from proofs_check.decoder_correctness import (
    numpy_forward,
    numpy_margins,
    read_mlp_file,
)
from theory.errors import InfeasibleFactSetError, InvalidInputError, SolverError
from theory.feasibility import feasibility
from theory.param_count import construction_params, encoder_gate_rows

PROMISE_RHO = 1e-3
PROMISE_SEPARATION = 1e-6
MAX_FACTS = 150


# --------------------------------------------------------------------------- helpers


def save_and_read(built: Construction, path: Path):
    save_mlp(path, built.weights, built.metadata())
    return read_mlp_file(path)


def file_margins(path: Path, keys, values, fact_map, dtype=np.float64) -> np.ndarray:
    """Margins of the MLP stored in ``path``, numpy only (the file's own activation)."""
    tensors, meta = read_mlp_file(path)
    outputs = numpy_forward(tensors, meta["activation"], keys, dtype)
    return numpy_margins(outputs, np.asarray(values, dtype=dtype), np.asarray(fact_map))


def key_separation(keys: np.ndarray, values: np.ndarray, fact_map: np.ndarray) -> float:
    """min ‖k_a − k_b‖ / max‖k‖ over keys whose value vectors differ (inf if none)."""
    scale = np.linalg.norm(keys, axis=1).max()
    mapped = values[fact_map]
    differ = (mapped[:, None, :] != mapped[None, :, :]).any(axis=2)
    if not differ.any() or scale == 0:
        return math.inf
    dist = np.linalg.norm(keys[:, None, :] - keys[None, :, :], axis=2)
    return float(dist[differ].min() / scale)


def value_separation(values: np.ndarray, fact_map: np.ndarray) -> float:
    """min ‖v_i − v_j‖ / max‖v‖ over used i and every j with v_j ≠ v_i (inf if none)."""
    scale = np.linalg.norm(values, axis=1).max()
    used = np.unique(fact_map)
    dist = np.linalg.norm(values[used][:, None, :] - values[None, :, :], axis=2)
    positive = dist[dist > 0]
    if positive.size == 0 or scale == 0:
        return math.inf
    return float(positive.min() / scale)


def hull_residual(values: np.ndarray, i: int) -> float:
    """Independent hull test (NNLS, not theory.rho): min over λ ≥ 0 with Σλ = 1
    (enforced by a heavily weighted row) of ‖Σ_j λ_j v_j − v_i‖ / spread."""
    others = np.delete(values, i, axis=0)
    spread = max(np.linalg.norm(others - values[i], axis=1).max(), np.finfo(float).tiny)
    weight = 1e6
    a = np.vstack([(others - values[i]).T / spread, weight * np.ones(others.shape[0])])
    b = np.concatenate([np.zeros(values.shape[1]), [weight]])
    lam, _ = nnls(a, b)
    return float(np.linalg.norm((others - values[i]).T @ lam) / spread)


@st.composite
def family_factsets(draw):
    """A generated fact set of any family, tied or untied, bijection or random map, at an
    extreme scale, sometimes with a zero key planted (the construction must then use biases)."""
    family = draw(st.sampled_from(FAMILIES))
    dim = draw(st.integers(2, 12))
    n_facts = draw(st.integers(1, MAX_FACTS))
    tied = draw(st.booleans())
    fact_map = draw(st.sampled_from(FACT_MAPS))
    n_values = n_facts if tied or fact_map == "bijection" else draw(st.integers(1, MAX_FACTS))
    # rank ≥ 2: unit rows of a rank-1 family are ±u only, a malformed (duplicate-key) set
    rank = draw(st.integers(2, dim)) if family == "lowrank" else None
    spec = FactSetSpec(
        family=family,
        n_facts=n_facts,
        n_values=n_values,
        dim=dim,
        seed=draw(st.integers(0, 2**31 - 1)),
        fact_map=fact_map,
        tied=tied,
        beta=draw(st.sampled_from([0.0, 4.0, 50.0])),
        kappa=draw(st.sampled_from([1.0, 10.0, 1e4])),
        rank=rank,
    )
    fs = spec.build()
    scale = draw(st.sampled_from(SCALES))
    keys, values = fs.keys * scale, fs.values * (scale if tied else draw(st.sampled_from(SCALES)))
    if draw(st.booleans()):
        keys[draw(st.integers(0, n_facts - 1))] = 0.0
    note(f"spec={spec}, scale={scale}")
    return keys, values, fs.fact_map.copy()


fact_sets = st.one_of(
    family_factsets(),
    fact_arrays(
        min_facts=1, max_facts=MAX_FACTS, min_values=1, max_values=MAX_FACTS, min_dim=2, max_dim=12
    ),
)


def check_construction_contract(keys, values, fact_map, tmp_path: Path) -> None:
    """The requirement on one fact set: refuse exactly the infeasible, store the promised."""
    report = feasibility(keys, values, fact_map)
    factset = FactSet(keys, values, fact_map)
    value_sep = value_separation(values, fact_map)
    note(
        f"F={factset.n_facts}, M={factset.n_values}, d={factset.dim}, ρ_used={report.rho:.3g}, "
        f"undecodable={report.undecodable_values}, value separation={value_sep:.2g}"
    )
    # Outside the promise (see the module docstring): values distinct only by rounding.
    assume(value_sep >= PROMISE_SEPARATION)
    if not report.feasible:
        event("infeasible")
        with pytest.raises(InfeasibleFactSetError) as info:
            construct(factset)
        assert info.value.values == report.undecodable_values
        assert info.value.keys == report.infeasible_facts
        assert info.value.keys == tuple(np.flatnonzero(np.isin(fact_map, info.value.values)))
        for i in info.value.values:  # independent: each named value is in the others' hull
            assert hull_residual(values, i) <= 1e-6, i
        message = str(info.value)
        assert str(list(info.value.values[:8]))[1:-1] in message
        return
    separation = key_separation(keys, values, fact_map)
    note(f"key separation={separation:.2g}")
    # Outside the promise: ρ_used < 1e-3, or keys with different values closer than 1e-6.
    assume(report.rho >= PROMISE_RHO and separation >= PROMISE_SEPARATION)
    event("promised")
    built = construct(factset)  # any exception here is a failed test
    path = tmp_path / "mlp.safetensors"
    save_and_read(built, path)
    margins = file_margins(path, keys, values, fact_map)
    failed = np.flatnonzero(~(margins > 0))
    note(
        f"failed keys {failed.tolist()}, min margin {margins.min():.3g}, "
        f"kernel condition {built.encoder.kernel_condition:.2g}, "
        f"code error {built.encoder.max_code_error:.2g}, ρ(W)={built.rho_projected:.3g}"
    )
    assert failed.size == 0


# --------------------------------------------------------------------------- the requirement

# Shrinking is off (each example is a construction: shrinking a failure would cost minutes);
# a failure prints its note()s and a @reproduce_failure blob instead.
_NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


@given(fact_sets)
@settings(
    max_examples=200,
    deadline=None,
    phases=_NO_SHRINK,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_every_promised_fact_set_is_stored_and_every_infeasible_one_refused(
    tmp_path_factory, arrays
):
    check_construction_contract(*arrays, tmp_path_factory.mktemp("mlp"))


@pytest.mark.slow
@given(fact_sets)
@settings(
    max_examples=3000,
    deadline=None,
    phases=_NO_SHRINK,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_every_promised_fact_set_is_stored_many_examples(tmp_path_factory, arrays):
    check_construction_contract(*arrays, tmp_path_factory.mktemp("mlp"))


# Deterministic instances of the same requirement, one per family / map / tying, so that a
# failure names the shape at once. ρ_used of each is ≥ 1e-3 (asserted: they are in the promise).
FAMILY_CASES = [
    pytest.param(dict(family=family, n_facts=n, dim=d, **extra), id=f"{family}-{n}x{d}-{tag}")
    for family, n, d in (
        ("spherical", 40, 8),
        ("gaussian", 12, 6),
        ("spiked", 40, 8),
        ("conditioned", 30, 6),
        ("lowrank", 30, 8),
    )
    for tag, extra in (
        ("bijection", {}),
        ("tied", {"tied": True}),
        ("random-map", {"fact_map": "random", "n_values": 12}),
    )
]


@pytest.mark.parametrize("spec", FAMILY_CASES)
def test_generic_family_sets_reach_recall_one(spec, tmp_path):
    if spec["family"] == "lowrank":
        spec = {**spec, "rank": 4}
    fs = make_factset(seed=5, **spec)
    report = feasibility(fs.keys, fs.values, fs.fact_map)
    if not report.feasible:  # gaussian values: some fall inside the hull; must be refused
        with pytest.raises(InfeasibleFactSetError) as info:
            construct(fs)
        assert info.value.values == report.undecodable_values
        return
    assert report.rho >= PROMISE_RHO
    assert key_separation(fs.keys, fs.values, fs.fact_map) >= PROMISE_SEPARATION
    built = construct(fs)
    path = tmp_path / "m.safetensors"
    save_and_read(built, path)
    assert (file_margins(path, fs.keys, fs.values, fs.fact_map) > 0).all()


def test_lowrank_keys_are_stored(tmp_path):
    """Keys spanning q < d dimensions: Φ has rank ≤ r·q, so the encoder must size r by q.
    Regression: with r = ⌈1.05 F/d⌉ this raised SolverError (kernel not positive definite)."""
    fs = make_factset("lowrank", n_facts=12, dim=8, rank=2, seed=0)
    assert np.linalg.matrix_rank(fs.keys) == 2
    assert feasibility(fs.keys, fs.values, fs.fact_map).rho >= PROMISE_RHO
    built = construct(fs)
    path = tmp_path / "m.safetensors"
    save_and_read(built, path)
    assert (file_margins(path, fs.keys, fs.values, fs.fact_map) > 0).all()


def test_zero_key_is_stored_with_biases(tmp_path):
    fs = make_factset("spherical", n_facts=20, dim=6, seed=2)
    keys = fs.keys.copy()
    keys[7] = 0.0
    built = construct(FactSet(keys, fs.values, fs.fact_map))
    path = tmp_path / "m.safetensors"
    tensors, _ = save_and_read(built, path)
    assert "gate_proj.bias" in tensors and "up_proj.bias" in tensors  # g(0) = 0 otherwise
    assert (file_margins(path, keys, fs.values, fs.fact_map) > 0).all()


@pytest.mark.parametrize("dim, n_facts, seed", [(6, 20, 0), (6, 20, 1), (8, 12, 3), (4, 6, 0)])
def test_near_duplicate_keys_with_the_same_value_are_stored(dim, n_facts, seed, tmp_path):
    """Inside the promise: only keys with *different* values need to be 1e-6 apart.
    Keys 1e-9 apart with one value are one fact twice; a continuous MLP stores both."""
    fs = make_factset("spherical", n_facts=n_facts, dim=dim, seed=seed)
    keys, fact_map = fs.keys.copy(), fs.fact_map.copy()
    keys[1] = keys[0] * (1 + 1e-9)
    fact_map[1] = fact_map[0]
    factset = FactSet(keys, fs.values, fact_map)
    assert feasibility(keys, fs.values, fact_map).rho >= PROMISE_RHO
    assert key_separation(keys, fs.values, fact_map) >= PROMISE_SEPARATION
    built = construct(factset)
    path = tmp_path / "m.safetensors"
    save_and_read(built, path)
    assert (file_margins(path, keys, fs.values, fact_map) > 0).all()


@pytest.mark.parametrize("n_facts", [16, 30])
def test_low_dimensional_generic_sets_are_stored(n_facts, tmp_path):
    """d = 2, spherical keys and values, a random bijection: ρ_used ≈ 0.02 ≥ 1e-3 and keys
    well separated, so inside the promise."""
    fs = make_factset("spherical", n_facts=n_facts, dim=2, seed=0)
    assert feasibility(fs.keys, fs.values, fs.fact_map).rho >= PROMISE_RHO
    assert key_separation(fs.keys, fs.values, fs.fact_map) >= 1e-3
    built = construct(fs)
    path = tmp_path / "m.safetensors"
    save_and_read(built, path)
    assert (file_margins(path, fs.keys, fs.values, fs.fact_map) > 0).all()


def test_single_value_set_is_stored(tmp_path):
    """M = 1: every output decodes to the only value (margin +inf), so nothing can fail;
    near-duplicate keys (same value) must not make the construction refuse."""
    rng = np.random.default_rng(3)
    keys = rng.standard_normal((6, 5))
    keys[1] = keys[0] * (1 + 1e-9)
    fs = FactSet(keys, rng.standard_normal((1, 5)), np.zeros(6, dtype=int))
    built = construct(fs)
    assert built.recall.accuracy == 1.0


# --------------------------------------------------------------------------- infeasible sets


def test_midpoint_value_is_refused_naming_values_and_keys():
    values = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    keys = np.random.default_rng(0).standard_normal((6, 3))
    fact_map = np.array([0, 2, 1, 3, 2, 0])
    with pytest.raises(InfeasibleFactSetError) as info:
        construct(FactSet(keys, values, fact_map))
    assert info.value.values == (2,) and info.value.keys == (1, 4)
    message = str(info.value)
    assert "[2]" in message and "[1, 4]" in message and "\n" not in message


def test_unused_undecodable_value_does_not_make_a_set_infeasible(tmp_path):
    """Value 2 is the midpoint of 0 and 1 but no key maps to it: the set is feasible."""
    values = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    keys = np.random.default_rng(1).standard_normal((5, 3))
    fact_map = np.array([0, 1, 3, 1, 0])
    built = construct(FactSet(keys, values, fact_map))
    path = tmp_path / "m.safetensors"
    save_and_read(built, path)
    assert (file_margins(path, keys, values, fact_map) > 0).all()


def test_infeasible_set_is_refused_even_with_a_fixed_code_dim():
    values = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 1.0]])
    fs = FactSet(np.random.default_rng(2).standard_normal((4, 2)), values, [0, 1, 2, 3])
    with pytest.raises(InfeasibleFactSetError) as info:
        construct(fs, ConstructionConfig(code_dim=1))
    assert info.value.values == (1,) and info.value.keys == (1,)


# --------------------------------------------------------------------------- reproducibility


def _stored(built: Construction, path: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    tensors, meta = save_and_read(built, path)
    return {name: a.tobytes() for name, a in tensors.items()}, meta


def test_same_seed_gives_bit_identical_weights_and_files(tmp_path):
    """Bit-identical tensors (in memory and in the file) and equal metadata. The files are
    not compared byte for byte: safetensors writes the metadata map in hash order, which
    differs from call to call (measured), so equal files can differ in their header."""
    fs = make_factset("spiked", n_facts=30, dim=6, seed=1)
    a = construct(fs, ConstructionConfig(seed=7))
    b = construct(fs, ConstructionConfig(seed=7))
    for name in ("gate", "up", "down", "gate_bias", "up_bias", "down_bias"):
        ta, tb = getattr(a.weights, name), getattr(b.weights, name)
        assert (ta is None) == (tb is None), name
        if ta is not None:
            assert ta.numpy().tobytes() == tb.numpy().tobytes(), name
    assert _stored(a, tmp_path / "a") == _stored(b, tmp_path / "b")


def test_different_seeds_give_different_weights():
    fs = make_factset("spiked", n_facts=30, dim=6, seed=1)
    a = construct(fs, ConstructionConfig(seed=7))
    b = construct(fs, ConstructionConfig(seed=8))
    same_shape = a.weights.gate.shape == b.weights.gate.shape
    assert not (same_shape and torch.equal(a.weights.gate, b.weights.gate))
    assert not (same_shape and torch.equal(a.weights.up, b.weights.up))
    assert a.recall.accuracy == b.recall.accuracy == 1.0


# --------------------------------------------------------------------------- configuration


def test_fixed_code_dim_too_small_is_refused_naming_the_values():
    """m = 1 with a PCA projection: only the two extreme projected values stay decodable, so
    every other used value must be named (computed here from an independent SVD)."""
    fs = make_factset("spherical", n_facts=6, dim=4, seed=3)
    centred = fs.values - fs.values.mean(axis=0)
    direction = np.linalg.svd(centred)[2][0]
    w = fs.values @ direction
    expected = [j for j in range(6) if w[j] not in (w.max(), w.min())]
    with pytest.raises(InvalidInputError) as info:
        construct(fs, ConstructionConfig(code_dim=1, projection="pca"))
    message = str(info.value)
    assert "code_dim = 1 is too small" in message and str(expected) in message


def test_code_dim_above_d_is_refused():
    fs = make_factset("spherical", n_facts=6, dim=4, seed=3)
    with pytest.raises(InvalidInputError, match=r"code_dim must be at most d = 4, got 5"):
        construct(fs, ConstructionConfig(code_dim=5))


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"code_dim": 0}, "code_dim must be a positive integer"),
        ({"code_dim": True}, "code_dim must be a positive integer"),
        ({"projection": "random"}, "projection 'random' is unknown"),
        ({"activation": "tanh"}, "activation 'tanh' is unknown"),
        ({"slack": -0.1}, "slack must be finite"),
        ({"slack": float("nan")}, "slack must be finite"),
        ({"seed": -1}, "seed must be an integer"),
        ({"seed": 1.5}, "seed must be an integer"),
    ],
    ids=[
        "code_dim-0",
        "code_dim-bool",
        "projection",
        "activation",
        "slack-neg",
        "slack-nan",
        "seed-neg",
        "seed-float",
    ],
)
def test_invalid_configs_are_refused(kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        ConstructionConfig(**kwargs)


def test_fixed_code_dim_and_projections_store_the_set(tmp_path):
    fs = make_factset("conditioned", n_facts=24, dim=6, seed=4)
    for projection in ("gaussian", "pca", "whitened"):
        built = construct(fs, ConstructionConfig(code_dim=6, projection=projection))
        assert built.code_dim == 6
        path = tmp_path / f"{projection}.safetensors"
        save_and_read(built, path)
        assert (file_margins(path, fs.keys, fs.values, fs.fact_map) > 0).all(), projection


# --------------------------------------------------------------------------- metadata and casts


def _bf16(x) -> np.ndarray:
    """Round to bfloat16 (nearest even), returned as float32 (numpy has no bfloat16)."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return bits.astype(np.uint32).view(np.float32)


def _bf16_margins(tensors, activation, keys, values, fact_map) -> np.ndarray:
    """A numpy emulation of a bfloat16 forward pass: every operand and every op result rounded
    to bfloat16 (products and sums of one op in float32, as CPU kernels do)."""
    r = _bf16
    t = {name: r(a) for name, a in tensors.items()}
    x = r(keys)
    gate = r(x @ t["gate_proj.weight"].T)
    up = r(x @ t["up_proj.weight"].T)
    if "gate_proj.bias" in t:
        gate = r(gate + t["gate_proj.bias"])
    if "up_proj.bias" in t:
        up = r(up + t["up_proj.bias"])
    act = r(_activation_only(activation, gate))
    out = r(r(act * up) @ t["down_proj.weight"].T)
    return numpy_margins(out, r(values), fact_map)


def _activation_only(name: str, z: np.ndarray) -> np.ndarray:
    from proofs_check.decoder_correctness import _activation

    return _activation(name, z).astype(np.float32)


def _collapsing_set() -> FactSet:
    """Values 0 and 1 differ by 1e-9 (relative): distinct in float64, identical once cast to
    float32 or bfloat16 (value 0 is exactly representable in float32)."""
    fs = make_factset("spherical", n_facts=10, dim=6, seed=4)
    values = fs.values.astype(np.float32).astype(np.float64)
    u = np.random.default_rng(0).standard_normal(6)
    values[1] = values[0] + 1e-9 * u / np.linalg.norm(u)
    return FactSet(fs.keys, values, fs.fact_map)


@pytest.mark.parametrize("which", ["generic", "collapsing"])
def test_metadata_cast_flags_agree_with_an_independent_cast_check(which, tmp_path):
    fs = (
        make_factset("spherical", n_facts=12, dim=6, seed=3)
        if which == "generic"
        else _collapsing_set()
    )
    built = construct(fs, ConstructionConfig(seed=1))
    path = tmp_path / "m.safetensors"
    tensors, meta = save_and_read(built, path)
    assert meta["activation"] == "silu" == json.loads(meta["config"])["activation"]
    assert meta["code_dim"] == str(built.code_dim)
    assert meta["float32_certified"] in ("true", "false")
    assert meta["bf16_certified"] in ("true", "false")
    m64 = file_margins(path, fs.keys, fs.values, fs.fact_map)
    assert (m64 > 0).all()
    m32 = file_margins(path, fs.keys, fs.values, fs.fact_map, np.float32)
    m16 = _bf16_margins(tensors, meta["activation"], fs.keys, fs.values, fs.fact_map)
    if which == "collapsing":
        assert (fs.values[0].astype(np.float32) == fs.values[1].astype(np.float32)).all()
        assert m32.min() <= 0 and m16.min() <= 0  # a tie: identical values after the cast
        assert meta["float32_certified"] == "false" and meta["bf16_certified"] == "false"
        assert float(meta["float32_recall"]) < 1 and float(meta["bf16_recall"]) < 1
    else:
        # The verdicts are clear here (margins far from rounding), so they must agree.
        assert m32.min() > 0.5 * m64.min() and m16.min() > 0.1 * m64.min()
        assert float(meta["float32_recall"]) == 1.0 and float(meta["bf16_recall"]) == 1.0
        assert meta["float32_certified"] == "true"  # margins far above rounding
    assert float(meta["min_margin_float64"]) == pytest.approx(m64.min(), rel=1e-9)


def test_the_cast_recalls_are_the_certificates_observations():
    """construct reports the float32 and bfloat16 recall its certificates observed, the same
    evaluation as a cast of the weights; with h ≥ 256 the bfloat16 model gives no bound and
    the certificate carries the float64 recall's margins."""
    fs = make_factset("spherical", n_facts=512, dim=16, seed=0, tied=True)
    built = construct(fs, ConstructionConfig(seed=0))
    assert built.hidden >= 256 and not built.bf16_certificate.bounded
    for result, dtype in ((built.float32, torch.float32), (built.bf16, torch.bfloat16)):
        cast = cast_recall(built.weights, fs, dtype)
        assert result.dtype == cast.dtype and np.array_equal(result.margins, cast.margins)
    assert built.float32 is built.float32_certificate.observed
    assert np.array_equal(built.bf16_certificate.margins_float64, built.recall.margins)


# --------------------------------------------------------------------------- parameter count


def _construction_params_from_theory(built: Construction, fs: FactSet) -> int:
    """theory.param_count.construction_params for this construction's sizes."""
    return construction_params(
        fs.n_facts,
        fs.dim,
        built.code_dim,
        built.config.slack,
        biases=built.weights.gate_bias is not None,
        activation=built.config.activation,
        key_rank=built.encoder.key_rank,
    )


@pytest.mark.parametrize(
    "family, n_facts, dim, slack, zero_key",
    [
        ("spherical", 30, 6, 0.05, False),
        ("spiked", 50, 5, 0.1, False),  # (1 + 0.1)·50/5 = 11 exactly: a float ceiling gives 12
        ("spherical", 30, 6, 0.05, True),  # a zero key: gate and up biases
    ],
    ids=["default", "slack-0.1", "biases"],
)
def test_param_count_equals_the_scalars_stored_in_the_file(
    family, n_facts, dim, slack, zero_key, tmp_path
):
    fs = make_factset(family, n_facts=n_facts, dim=dim, seed=6)
    if zero_key:
        keys = fs.keys.copy()
        keys[0] = 0.0
        fs = FactSet(keys, fs.values, fs.fact_map)
    built = construct(fs, ConstructionConfig(slack=slack))
    tensors, _ = save_and_read(built, tmp_path / "m.safetensors")
    stored = sum(int(np.prod(a.shape)) for a in tensors.values())
    h, d = tensors["gate_proj.weight"].shape
    assert built.params == stored == built.summary(fs.n_facts, fs.n_values)["params"]
    assert stored == 3 * h * d + (2 * h if zero_key else 0)  # gate and up biases, no down bias
    assert built.hidden == h == built.code_dim * built.encoder.group_size
    # the encoder has at least as many unknowns per code coordinate as distinct keys
    assert built.encoder.group_size * (d + zero_key) >= fs.n_facts
    assert built.encoder.group_size == encoder_gate_rows(fs.n_facts, d + zero_key, slack)
    assert _construction_params_from_theory(built, fs) == stored


# --------------------------------------------------------------------------- other gates

SMALL_GENERIC = [("spherical", 24, 6), ("spiked", 30, 6), ("conditioned", 20, 5)]


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("family, n_facts, dim", SMALL_GENERIC)
def test_relu_and_gelu_gates_store_small_generic_sets(activation, family, n_facts, dim, tmp_path):
    fs = make_factset(family, n_facts=n_facts, dim=dim, seed=2)
    built = construct(fs, ConstructionConfig(activation=activation))
    path = tmp_path / "m.safetensors"
    tensors, meta = save_and_read(built, path)
    assert meta["activation"] == activation
    assert (file_margins(path, fs.keys, fs.values, fs.fact_map) > 0).all()
    if activation == "relu":
        # ± gate pairs: every nonzero key has an active gate in every group
        active = (fs.keys @ tensors["gate_proj.weight"].T > 0).reshape(n_facts, built.code_dim, -1)
        assert active.any(axis=2).all()


@pytest.mark.parametrize("n_facts", [60, 100])
def test_relu_gate_stores_many_facts_per_dimension(n_facts, tmp_path):
    """ReLU ± pairs: relu(z) − relu(−z) = z, so each pair carries a bilinear feature
    (g·k)·x, and bilinear features of p pairs obey p(p−1)/2 linear relations. The encoder
    must size the group with that in mind (F = 100, d = 8: rank 91 < 100 with 7 pairs)."""
    fs = make_factset("spherical", n_facts=n_facts, dim=8, seed=0)
    built = construct(fs, ConstructionConfig(activation="relu"))
    path = tmp_path / "m.safetensors"
    save_and_read(built, path)
    assert (file_margins(path, fs.keys, fs.values, fs.fact_map) > 0).all()


def _identity_rank_bound(n_facts: int, dim: int, slack: float = 0.05) -> int:
    """rank Φ for an identity gate without biases: a code coordinate is Σ_n (g_n·k)(a_n·k) =
    kᵀ sym(G0ᵀA) k, a quadratic form. The forms sym(G0ᵀA) (A ∈ R^{r×d}) span
    r·d − r(r−1)/2 dimensions (A = C G0 with C antisymmetric gives an antisymmetric G0ᵀA),
    capped by d(d+1)/2, the dimension of all quadratic forms."""
    r = math.ceil((1 + slack) * n_facts / dim)
    return min(dim * (dim + 1) // 2, r * dim - r * (r - 1) // 2)


@pytest.mark.parametrize("n_facts, dim", [(8, 4), (6, 3), (15, 6)])
def test_identity_gate_stores_sets_within_the_quadratic_form_rank(n_facts, dim, tmp_path):
    fs = make_factset("spherical", n_facts=n_facts, dim=dim, seed=1)
    assert n_facts <= _identity_rank_bound(n_facts, dim)
    built = construct(fs, ConstructionConfig(activation="identity"))
    path = tmp_path / "m.safetensors"
    save_and_read(built, path)
    assert (file_margins(path, fs.keys, fs.values, fs.fact_map) > 0).all()


@pytest.mark.parametrize("n_facts, dim", [(14, 4), (25, 6), (19, 6)])
def test_identity_gate_beyond_the_quadratic_form_rank_refuses_or_stores(n_facts, dim, tmp_path):
    """F above the rank bound: the encoder system Φ vec(A) = T has no exact solution for
    generic targets (each code coordinate is a quadratic form of the key), so SolverError is
    the correct answer; an MLP that happens to decode every fact would also be acceptable.
    Returning an MLP that fails to decode, with no error, is not (the encoder documents a
    SolverError when the refined codes miss their targets). (19, 6): 19 ≤ d(d+1)/2 = 21 but
    r = 4 gives rank ≤ 4·6 − 6 = 18."""
    fs = make_factset("spherical", n_facts=n_facts, dim=dim, seed=1)
    assert n_facts > _identity_rank_bound(n_facts, dim)
    try:
        built = construct(fs, ConstructionConfig(activation="identity"))
    except SolverError:
        return
    path = tmp_path / "m.safetensors"
    save_and_read(built, path)
    margins = file_margins(path, fs.keys, fs.values, fs.fact_map)
    assert (margins > 0).all(), (
        f"identity gate, F={n_facts}, d={dim}: returned an MLP with recall "
        f"{np.mean(margins > 0):.3f} and no error (code error {built.encoder.max_code_error:.2g})"
    )


def test_construction_summary_fields(tmp_path):
    fs = make_factset("spherical", n_facts=20, dim=5, seed=0)
    built = construct(fs)
    summary = built.summary(fs.n_facts, fs.n_values)
    assert summary["recall"] == 1.0 and summary["code_dim"] == built.code_dim <= fs.dim
    assert summary["params_per_fact"] == pytest.approx(built.params / fs.n_facts)
    assert summary["hidden"] == built.hidden and summary["seconds"] >= 0
    assert 0 < summary["rho_projected"] <= 1
    assert json.dumps(summary)  # JSON-ready
    assert dataclasses.asdict(built.config) == json.loads(built.metadata()["config"])


@pytest.mark.parametrize("seed", range(6))
def test_refusal_names_the_same_values_as_theory_feasibility(seed):
    """Values of a rank-1 family are ±u up to an ulp, so ρ_i is decided by rounding noise:
    the construction's refusal must still name exactly the values that theory.feasibility
    (what `factmlp check` reports) names. Regression: the full-dimension fallback used a
    random rotation, which re-rolls that noise and named a different set."""
    values = sample_embeddings("lowrank", 8, 3, np.random.default_rng(seed), rank=1) * 1e-8
    keys = np.random.default_rng(100 + seed).standard_normal((8, 3))
    report = feasibility(keys, values, np.arange(8))
    assert not report.feasible
    with pytest.raises(InfeasibleFactSetError) as info:
        construct(FactSet(keys, values, np.arange(8)))
    assert info.value.values == report.undecodable_values
    assert info.value.keys == report.infeasible_facts


# --------------------------------------------------------------------------- encoder choice


def test_many_facts_per_dimension_fall_back_to_the_spline_encoder(tmp_path):
    """50 tied keys on a circle (d = 2): the dense solve fails at every attempt (measured),
    so ``auto`` falls back to the spline encoder; the file must still decode every fact."""
    fs = make_factset("spherical", n_facts=50, dim=2, seed=28)
    built = construct(fs)
    assert built.encoder.method == "spline"
    assert built.encoder_attempts == 4
    assert built.summary(fs.n_facts, fs.n_values)["encoder"] == "spline"
    path = tmp_path / "m.safetensors"
    _, meta = save_and_read(built, path)
    assert meta["activation"] == "relu" and meta["encoder"] == "spline"
    assert (file_margins(path, fs.keys, fs.values, fs.fact_map) > 0).all()


@pytest.mark.parametrize("encoder", ["dense", "sparse", "spline"])
def test_every_encoder_stores_a_generic_set(encoder, tmp_path):
    fs = make_factset("spherical", n_facts=200, dim=16, seed=3)
    built = construct(fs, ConstructionConfig(encoder=encoder))
    assert built.encoder.method == encoder
    path = tmp_path / "m.safetensors"
    save_and_read(built, path)
    assert (file_margins(path, fs.keys, fs.values, fs.fact_map) > 0).all()


@pytest.mark.parametrize("n_facts, expected", [(200, "dense"), (201, "sparse")])
def test_auto_encoder_goes_sparse_above_the_dense_limit(n_facts, expected, monkeypatch):
    # The limit counts distinct keys: at it the kernel is solved densely, one key beyond it
    # the sparse encoder takes over (the real limit, 2^13, is too slow to build here).
    import numerics.construction.pipeline as module

    monkeypatch.setattr(module, "DENSE_MAX_KEYS", 200)
    fs = make_factset("spherical", n_facts=n_facts, dim=16, seed=3)
    built = construct(fs)
    assert built.encoder.method == expected
    assert built.recall.accuracy == 1.0


def test_unknown_encoder_is_refused():
    with pytest.raises(InvalidInputError, match="encoder 'qr' is unknown"):
        ConstructionConfig(encoder="qr")


def test_code_dim_search_treats_an_uncertified_rho_as_too_small(monkeypatch):
    # The fast ρ solver can fail to certify a value that is nearly in the hull at a small m
    # (seen at F = 8192, d = 128): the search must step past such an m, not abort.
    import numerics.construction.code_dim as module

    real = module.decodability
    refused = []

    def flaky(W, **kwargs):
        if W.shape[1] < 10:
            refused.append(W.shape[1])
            raise SolverError("value 0: mnp certified neither a margin nor a hull point")
        return real(W, **kwargs)

    monkeypatch.setattr(module, "decodability", flaky)
    fs = make_factset("spherical", n_facts=64, dim=16, seed=0, tied=True)
    built = construct(fs, ConstructionConfig(seed=0))
    assert refused, "the search never tried a small code dimension"
    assert built.code_dim >= 10 and built.recall.accuracy == 1.0


def test_one_code_dim_below_the_chosen_one_misses_the_target():
    from numerics.construction.code_dim import nested_projection
    from numerics.construction.pipeline import _rho_target
    from theory.decoder import build_decoder

    fs = make_factset("spherical", n_facts=128, dim=16, seed=3, tied=True)
    cfg = ConstructionConfig(seed=3)
    built = construct(fs, cfg)
    values, used = np.asarray(fs.values), np.unique(fs.fact_map)
    target = _rho_target(fs.n_facts, fs.dim, cfg.slack)
    smaller = build_decoder(
        values, fs.fact_map, nested_projection(values, used, "gaussian", 3, built.code_dim - 1)
    )
    assert built.rho_projected >= target > smaller.rho
