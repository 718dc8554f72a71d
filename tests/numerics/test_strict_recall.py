"""Tests of numerics/strict_recall.py against a brute-force numpy computation of every margin."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import numerics.strict_recall as recall_module
from numerics.mlp import GatedMLP, GatedMLPWeights
from numerics.strict_recall import LOGIT_BLOCK, RecallResult, default_chunks, recall
from theory.errors import InvalidInputError

F64 = torch.float64


def facts(keys, values, fact_map):
    return types.SimpleNamespace(
        keys=np.asarray(keys, dtype=float),
        values=np.asarray(values, dtype=float),
        fact_map=np.asarray(fact_map, dtype=np.int64),
    )


def brute_force_margins(
    outputs: np.ndarray, values: np.ndarray, fact_map: np.ndarray
) -> np.ndarray:
    """All F×M logits at once (numpy, float64); margin = true − max over the other columns."""
    logits = outputs @ values.T
    rows = np.arange(len(fact_map))
    true = logits[rows, fact_map]
    others = logits.copy()
    others[rows, fact_map] = -np.inf
    return true - others.max(axis=1)


def random_mlp(seed: int, hidden: int, dim: int, activation: str = "silu"):
    """A random gated MLP and its numpy twin (the brute force must not reuse our forward)."""
    rng = np.random.default_rng(seed)
    gate, up = rng.normal(size=(hidden, dim)), rng.normal(size=(hidden, dim))
    down = rng.normal(size=(dim, hidden))
    weights = GatedMLPWeights(
        torch.from_numpy(gate), torch.from_numpy(up), torch.from_numpy(down), activation=activation
    )

    def numpy_g(x):
        z = x @ gate.T
        act = z / (1 + np.exp(-z)) if activation == "silu" else np.maximum(z, 0)
        return (act * (x @ up.T)) @ down.T

    return weights, numpy_g


@st.composite
def recall_problems(draw):
    n_facts = draw(st.integers(1, 23))
    n_values = draw(st.integers(1, 19))
    dim = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    fact_map = rng.integers(0, n_values, size=n_facts)
    key_chunk = draw(st.integers(1, n_facts + 3))
    value_chunk = draw(st.one_of(st.none(), st.integers(1, n_values + 3)))
    return (
        rng.normal(size=(n_facts, dim)),
        rng.normal(size=(n_values, dim)),
        fact_map,
        seed,
        key_chunk,
        value_chunk,
    )


@given(recall_problems())
@settings(max_examples=80, deadline=None)
def test_chunked_recall_equals_brute_force(problem):
    keys, values, fact_map, seed, key_chunk, value_chunk = problem
    weights, numpy_g = random_mlp(seed, hidden=4, dim=keys.shape[1])
    result = recall(
        GatedMLP(weights),
        facts(keys, values, fact_map),
        key_chunk=key_chunk,
        value_chunk=value_chunk,
    )
    expected = brute_force_margins(numpy_g(keys), values, fact_map)
    if values.shape[0] == 1:
        assert np.all(result.margins == np.inf)
    else:
        outputs = numpy_g(keys)
        scale = np.linalg.norm(outputs, axis=1) * np.linalg.norm(values, axis=1).max()
        tol = 1e-11 * scale + 1e-300
        np.testing.assert_array_less(np.abs(result.margins - expected), tol + 1e-300)
        decided = np.abs(expected) > tol
        assert set(np.flatnonzero(decided & (expected <= 0))) <= set(result.failed)
        assert not set(np.flatnonzero(decided & (expected > 0))) & set(result.failed)
    assert list(result.failed) == sorted(result.failed)
    assert result.accuracy == pytest.approx(np.mean(result.margins > 0), abs=0)
    assert result.min_margin == result.margins.min()
    assert result.n_facts == keys.shape[0]


@pytest.mark.parametrize(
    "key_chunk, value_chunk", [(1, 1), (1, None), (None, 1), (3, 4), (7, 5), (20, 30), (None, None)]
)
def test_known_margins_for_many_chunkings(key_chunk, value_chunk):
    # g = identity, keys e_i (i < 5), values: e_0..e_4 scaled by 1..5, plus two extras.
    # Key i maps to value i: true logit i+1, best competitor value 5 (= 0.5 e_i) or 6 (= -e_i)
    # or another scaled e_j (logit 0): margin = (i + 1) − 0.5.
    dim = 5
    values = np.vstack([np.diag(np.arange(1.0, 6.0)), 0.5 * np.ones((1, dim)), -np.ones((1, dim))])
    result = recall(
        lambda x: x,
        facts(np.eye(dim), values, np.arange(dim)),
        key_chunk=key_chunk,
        value_chunk=value_chunk,
    )
    assert result.margins.tolist() == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert result.accuracy == 1.0 and result.failed == ()


def test_failures_are_listed_sorted():
    # Keys e_0..e_3, identity MLP: key i decodes to value i; the map sends 1 and 3 elsewhere.
    result = recall(lambda x: x, facts(np.eye(4), np.eye(4), [0, 2, 2, 0]))
    assert result.failed == (1, 3)
    assert result.margins.tolist() == [1.0, -1.0, 1.0, -1.0]
    assert result.accuracy == 0.5 and result.min_margin == -1.0


@pytest.mark.parametrize("key_chunk, value_chunk", [(1, 1), (2, 3), (None, None)])
def test_duplicate_value_is_an_exact_tie_and_fails(key_chunk, value_chunk):
    rng = np.random.default_rng(11)
    values = rng.normal(size=(6, 8))
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    values[4] = values[1]  # v_4 = v_1: key 1 (→ v_1) and key 4 (→ v_4) tie with each other
    # g = identity and keys = values: <v_i, v_i> = 1 beats every other unit vector.
    result = recall(
        lambda x: x,
        facts(values, values, np.arange(6)),
        key_chunk=key_chunk,
        value_chunk=value_chunk,
    )
    assert result.margins[1] == 0.0 and result.margins[4] == 0.0
    assert result.failed == (1, 4)
    assert np.all(result.margins[[0, 2, 3, 5]] > 0)


def test_duplicate_value_behind_a_better_competitor_keeps_negative_margin():
    # Key 0 maps to v_0 = v_1 = e_0, but v_2 = 2 e_0 wins: margin = 1 − 2 = −1, not 0.
    values = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    result = recall(lambda x: x, facts([[1.0, 0.0]], values, [0]), value_chunk=1)
    assert result.margins.tolist() == [-1.0]


def test_minus_zero_counts_as_a_duplicate():
    values = np.array([[1.0, 0.0], [1.0, -0.0], [0.0, 1.0]])
    result = recall(lambda x: x, facts([[1.0, 0.0]], values, [0]))
    assert result.margins.tolist() == [0.0]


def test_duplicate_groups_helper():
    distinct = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=F64)
    assert recall_module._duplicate_groups(distinct) is None
    # −0.0 and +0.0 are equal numbers with different bytes: one group.
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -0.0], [0.0, 1.0], [2.0, 0.0]], dtype=F64)
    groups = recall_module._duplicate_groups(values)
    assert groups[0] == groups[2] and groups[1] == groups[3]
    assert len({groups[0], groups[1], groups[4]}) == 3


def test_duplicate_groups_hash_collision_is_not_a_duplicate():
    # Craft two distinct float64 rows with the same 64-bit linear hash (the helper's fixed
    # multipliers m): adding m_1 to word 0 and subtracting m_0 from word 1 keeps Σ w_k m_k.
    dim = 4
    mult = np.random.default_rng(0).integers(0, 2**63, size=dim, dtype=np.uint64) * np.uint64(
        2
    ) + np.uint64(1)
    rng = np.random.default_rng(1)
    while True:
        row = rng.normal(size=dim)
        words = row.view(np.uint64).copy()
        with np.errstate(over="ignore"):  # unsigned wrap-around mod 2^64 is the point
            words[0] += mult[1]
            words[1] -= mult[0]
        twin = words.view(np.float64)
        if np.all(np.isfinite(twin)) and not np.array_equal(twin, row):
            break
    values = torch.from_numpy(np.vstack([row, twin, rng.normal(size=dim)]))
    assert recall_module._duplicate_groups(values) is None
    with_copy = torch.vstack([values, values[1:2]])  # now rows 1 and 3 are equal
    groups = recall_module._duplicate_groups(with_copy)
    assert groups[1] == groups[3] and groups[0] != groups[1]


def test_values_equal_only_in_float32_tie_in_float32():
    # v_1 differs from v_0 by 1e-12 (relative): distinct in float64, identical in float32.
    values = np.array([[1.0, 0.0], [1.0 + 1e-12, 0.0], [0.0, 1.0]])
    keys = [[1.0, 0.0]]
    in64 = recall(lambda x: x, facts(keys, values, [1]))
    in32 = recall(lambda x: x, facts(keys, values, [1]), dtype=torch.float32)
    assert in64.margins[0] > 0 and in64.failed == ()
    assert in32.margins[0] == 0.0 and in32.failed == (0,)


def test_zero_output_ties_everything():
    result = recall(lambda x: torch.zeros_like(x), facts(np.eye(3), np.eye(3), [0, 1, 2]))
    assert result.margins.tolist() == [0.0, 0.0, 0.0]
    assert result.accuracy == 0.0 and result.failed == (0, 1, 2)


def test_single_value_has_infinite_margin():
    result = recall(lambda x: -x, facts(np.ones((4, 3)), np.ones((1, 3)), [0, 0, 0, 0]))
    assert np.all(np.isposinf(result.margins))
    assert result.accuracy == 1.0 and result.min_margin == np.inf
    summary = result.to_dict()
    assert summary["min_margin"] == "inf"
    json.dumps(summary, allow_nan=False)


def test_non_finite_output_is_a_failure():
    def g(x):
        out = x.clone()
        out[0, 0] = float("nan")
        return out

    result = recall(g, facts(np.eye(2), np.eye(2), [0, 1]))
    assert result.failed == (0,) and np.isnan(result.margins[0]) and result.margins[1] == 1.0
    assert result.to_dict()["min_margin"] == "nan"
    json.dumps(result.to_dict(), allow_nan=False)


def test_to_dict_is_json_friendly():
    result = recall(lambda x: x, facts(np.eye(4), np.eye(4), [0, 2, 2, 0]))
    summary = result.to_dict()
    assert summary == {
        "accuracy": 0.5,
        "n_facts": 4,
        "n_failed": 2,
        "failed": [1, 3],
        "min_margin": -1.0,
        "dtype": "float64",
        "device": "cpu",
    }
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


def test_result_is_frozen_and_margins_read_only():
    result = recall(lambda x: x, facts(np.eye(2), np.eye(2), [0, 1]))
    assert isinstance(result, RecallResult)
    with pytest.raises(AttributeError):
        result.accuracy = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.margins[0] = 5.0


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")], ids=["str", "torch.device"])
def test_explicit_cpu_device(device):
    seen = []

    def g(x):
        seen.append((x.device.type, x.dtype))
        return 3 * x

    result = recall(g, facts(np.eye(3), np.eye(3), [0, 1, 2]), device=device, key_chunk=2)
    assert result.device == "cpu" and result.margins.tolist() == [3.0, 3.0, 3.0]
    assert seen == [("cpu", F64), ("cpu", F64)]  # called once per key chunk


def test_float32_path_matches_float64_to_float32_precision():
    rng = np.random.default_rng(5)
    keys, values = rng.normal(size=(40, 6)), rng.normal(size=(30, 6))
    fact_map = rng.integers(0, 30, size=40)
    weights, numpy_g = random_mlp(9, hidden=12, dim=6)
    fs = facts(keys, values, fact_map)
    r64 = recall(GatedMLP(weights), fs)
    r32 = recall(
        GatedMLP(weights.to(dtype=torch.float32)),
        fs,
        dtype=torch.float32,
        key_chunk=7,
        value_chunk=4,
    )
    assert r32.dtype == "float32" and r64.dtype == "float64"
    assert r32.margins.dtype == np.float64
    scale = np.abs(numpy_g(keys) @ values.T).max()
    np.testing.assert_allclose(r32.margins, r64.margins, rtol=0, atol=1e-4 * scale)
    # The float32 margins are float32 numbers (the computation really ran in float32).
    assert np.all(r32.margins.astype(np.float32).astype(np.float64) == r32.margins)


def test_streamed_values_match_resident_values(monkeypatch):
    rng = np.random.default_rng(2)
    keys, values = rng.normal(size=(17, 4)), rng.normal(size=(13, 4))
    fs = facts(keys, values, rng.integers(0, 13, size=17))
    resident = recall(lambda x: x * x, fs, key_chunk=5, value_chunk=3)
    monkeypatch.setattr(recall_module, "VALUE_CACHE_BYTES", 0)
    streamed = recall(lambda x: x * x, fs, key_chunk=5, value_chunk=3)
    assert np.array_equal(resident.margins, streamed.margins)


def test_progress_bar_keeps_stdout_clean(capsys):
    result = recall(lambda x: x, facts(np.eye(3), np.eye(3), [0, 1, 2]), key_chunk=1, progress=True)
    assert result.accuracy == 1.0
    assert capsys.readouterr().out == ""


@given(
    st.integers(1, 2**20),
    st.integers(1, 2**20),
    st.one_of(st.none(), st.integers(1, 2**21)),
    st.one_of(st.none(), st.integers(1, 2**21)),
)
@settings(max_examples=100, deadline=None)
def test_default_chunks_stay_within_the_logit_budget(n_facts, n_values, key_chunk, value_chunk):
    kc, vc = default_chunks(n_facts, n_values, key_chunk=key_chunk, value_chunk=value_chunk)
    assert 1 <= kc <= n_facts and 1 <= vc <= n_values
    if key_chunk is not None:
        assert kc == min(key_chunk, n_facts)
    if value_chunk is not None:
        assert vc == min(value_chunk, n_values)
    if key_chunk is None or value_chunk is None:
        # The chunk we choose keeps the block within budget, unless the caller's chunk alone
        # already exceeds it.
        assert kc * vc <= max(LOGIT_BLOCK, kc if value_chunk is None else vc)


def _bad(**changes):
    base = dict(keys=np.eye(3), values=np.eye(3), fact_map=np.array([0, 1, 2]))
    base.update(changes)
    return types.SimpleNamespace(**base)


INVALID_CALLS = [
    (
        "no-fact-map",
        lambda x: x,
        types.SimpleNamespace(keys=np.eye(2), values=np.eye(2)),
        {},
        r"factset has no attribute 'fact_map'",
    ),
    (
        "values-dim",
        lambda x: x,
        _bad(values=np.ones((3, 4))),
        {},
        r"factset.values has dimension 4 but 3",
    ),
    (
        "map-out-of-range",
        lambda x: x,
        _bad(fact_map=np.array([0, 3, 1])),
        {},
        r"factset.fact_map\[1\] = 3 is out of range \[0, 3\)",
    ),
    (
        "map-length",
        lambda x: x,
        _bad(fact_map=np.array([0, 1])),
        {},
        r"factset.fact_map has 2 entries but 3",
    ),
    (
        "nan-key",
        lambda x: x,
        _bad(keys=np.array([[0, 0, 0], [0, np.nan, 0], [0, 0, 0.0]])),
        {},
        r"factset.keys\[1, 1\] is nan",
    ),
    (
        "no-keys",
        lambda x: x,
        _bad(keys=np.zeros((0, 3))),
        {},
        r"factset.keys must have at least 1 row",
    ),
    (
        "key-chunk-zero",
        lambda x: x,
        _bad(),
        {"key_chunk": 0},
        r"key_chunk must be an integer ≥ 1, got 0",
    ),
    (
        "value-chunk-float",
        lambda x: x,
        _bad(),
        {"value_chunk": 2.5},
        r"value_chunk must be an integer ≥ 1, got 2.5",
    ),
    (
        "int-dtype",
        lambda x: x,
        _bad(),
        {"dtype": torch.int64},
        r"dtype must be a floating torch.dtype",
    ),
    (
        "bad-device",
        lambda x: x,
        _bad(),
        {"device": "gpu0"},
        r"device 'gpu0' is not an available torch device",
    ),
    ("not-callable", "identity", _bad(), {}, r"mlp must be callable"),
    ("returns-numpy", lambda x: x.numpy(), _bad(), {}, r"mlp returned a ndarray for keys 0..2"),
    (
        "returns-wrong-shape",
        lambda x: x[:, :2],
        _bad(),
        {},
        r"mlp returned shape \(3, 2\) .* expected \(3, 3\)",
    ),
    (
        "returns-float32",
        lambda x: x.float(),
        _bad(),
        {},
        r"mlp returned torch.float32 .* torch.float64 input",
    ),
]


@pytest.mark.parametrize(
    "mlp, factset, kwargs, pattern",
    [c[1:] for c in INVALID_CALLS],
    ids=[c[0] for c in INVALID_CALLS],
)
def test_invalid_calls_raise(mlp, factset, kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        recall(mlp, factset, **kwargs)


def test_float64_module_with_float32_recall_is_refused():
    weights, _ = random_mlp(0, 3, 3)
    with pytest.raises(InvalidInputError, match="float32"):
        recall(GatedMLP(weights), _bad(), dtype=torch.float32)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_unavailable_cuda_is_an_input_error():
    with pytest.raises(InvalidInputError, match="device 'cuda' is not an available torch device"):
        recall(lambda x: x, _bad(), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cache_bytes", [2**28, 0], ids=["resident", "streamed"])
def test_cuda_recall_matches_cpu(monkeypatch, cache_bytes):
    monkeypatch.setattr(recall_module, "VALUE_CACHE_BYTES", cache_bytes)
    monkeypatch.setattr(recall_module, "VALUE_CACHE_FREE_FRACTION", 0.0)
    rng = np.random.default_rng(3)
    keys, values = rng.normal(size=(50, 8)), rng.normal(size=(37, 8))
    values[5] = values[2]  # exercise the duplicate path on the device too
    fs = facts(keys, values, rng.integers(0, 37, size=50))
    weights, _ = random_mlp(4, hidden=16, dim=8)
    cpu = recall(GatedMLP(weights), fs, key_chunk=9, value_chunk=10)
    gpu = recall(
        GatedMLP(weights.to(device="cuda")), fs, key_chunk=9, value_chunk=10, device="cuda"
    )
    assert gpu.device == "cuda:0"  # "cuda" resolved, and the module's outputs accepted
    np.testing.assert_allclose(gpu.margins, cpu.margins, rtol=1e-9, atol=1e-9)
    assert gpu.failed == cpu.failed


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_keeps_values_resident_while_they_fit_in_free_memory(monkeypatch):
    monkeypatch.setattr(recall_module, "VALUE_CACHE_BYTES", 0)
    values = np.random.default_rng(0).normal(size=(64, 8))
    cuda = torch.device("cuda", torch.cuda.current_device())
    store = recall_module._ValueStore(values, cuda, torch.float64)
    assert store.resident is not None and store.resident.device == cuda
    monkeypatch.setattr(recall_module, "VALUE_CACHE_FREE_FRACTION", 0.0)
    assert recall_module._ValueStore(values, cuda, torch.float64).resident is None
