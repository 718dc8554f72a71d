"""Tests of numerics/mlp.py: weights, forward pass, file format and read-out folding.

The reference forward pass here is written with numpy/scipy only, reading the file with plain
``safetensors.numpy``: that is what an outside user of an MLP file does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
from scipy.special import erf

from numerics.mlp import (
    ACTIVATIONS,
    TENSOR_NAMES,
    GatedMLP,
    GatedMLPWeights,
    fold_readout,
    load_mlp,
    save_mlp,
)
from theory.errors import InvalidInputError

NAMES = ("relu", "silu", "gelu", "identity")
F64 = torch.float64


# --- independent numpy reference -----------------------------------------------------------


def numpy_activation(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "silu":
        return z / (1.0 + np.exp(-z))
    if name == "gelu":
        return 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))
    if name == "identity":
        return z
    raise AssertionError(name)


def numpy_forward(tensors: dict[str, np.ndarray], activation: str, x: np.ndarray) -> np.ndarray:
    """g(x) = down(act(gate x + b) * (up x + b)) + b from the file's tensors, numpy only."""
    gate = x @ tensors["gate_proj.weight"].T + tensors.get("gate_proj.bias", 0.0)
    up = x @ tensors["up_proj.weight"].T + tensors.get("up_proj.bias", 0.0)
    return numpy_activation(activation, gate) * up @ tensors["down_proj.weight"].T + tensors.get(
        "down_proj.bias", 0.0
    )


def random_weights(
    seed: int,
    hidden: int,
    dim: int,
    activation: str = "silu",
    *,
    biases: tuple[bool, bool, bool] = (False, False, False),
    dtype: torch.dtype = F64,
) -> GatedMLPWeights:
    gen = torch.Generator().manual_seed(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=gen, dtype=F64).to(dtype)

    return GatedMLPWeights(
        draw(hidden, dim),
        draw(hidden, dim),
        draw(dim, hidden) / np.sqrt(hidden),
        activation=activation,
        gate_bias=draw(hidden) if biases[0] else None,
        up_bias=draw(hidden) if biases[1] else None,
        down_bias=draw(dim) if biases[2] else None,
    )


weights_args = st.tuples(
    st.integers(0, 2**31 - 1),
    st.integers(1, 9),
    st.integers(1, 7),
    st.sampled_from(NAMES),
    st.tuples(st.booleans(), st.booleans(), st.booleans()),
)


# --- activations ---------------------------------------------------------------------------


def test_activations_table_has_the_four_names():
    assert sorted(ACTIVATIONS) == sorted(NAMES)
    assert "tanh" not in ACTIVATIONS
    assert ACTIVATIONS.get("tanh") is None


def test_unknown_activation_lists_allowed_names():
    with pytest.raises(InvalidInputError) as info:
        ACTIVATIONS["tanh"]
    message = str(info.value)
    assert "'tanh'" in message and all(name in message for name in NAMES)
    assert not message.startswith('"')  # printed as a sentence, not a KeyError repr


@pytest.mark.parametrize("name", NAMES)
def test_activation_matches_numpy_formula(name):
    z = np.linspace(-6.0, 6.0, 241)
    got = ACTIVATIONS[name](torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(got, numpy_activation(name, z), rtol=1e-13, atol=1e-15)


def test_gelu_is_the_erf_form_not_tanh():
    z = torch.linspace(-3, 3, 61, dtype=F64)
    tanh_form = torch.nn.functional.gelu(z, approximate="tanh")
    # The two forms differ by up to ~1e-3 here, far above float64 rounding.
    assert (ACTIVATIONS["gelu"](z) - tanh_form).abs().max() > 1e-5


# --- weights -------------------------------------------------------------------------------


@given(weights_args)
@settings(max_examples=30, deadline=None)
def test_n_params_counts_every_stored_scalar(args):
    seed, hidden, dim, activation, biases = args
    w = random_weights(seed, hidden, dim, activation, biases=biases)
    expected = 3 * hidden * dim + hidden * biases[0] + hidden * biases[1] + dim * biases[2]
    assert w.n_params == expected
    assert (w.hidden, w.dim) == (hidden, dim)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlp.safetensors"
        save_mlp(path, w)
        assert w.n_params == sum(a.size for a in load_file(path).values())


def test_weights_forward_matches_numpy_known_value():
    # h = 1, d = 2: g(x) = D relu(g·x) (a·x); x = (1, 2), g = (1, 1), a = (2, 0), D = (1, -1)ᵀ
    w = GatedMLPWeights(
        torch.tensor([[1.0, 1.0]], dtype=F64),
        torch.tensor([[2.0, 0.0]], dtype=F64),
        torch.tensor([[1.0], [-1.0]], dtype=F64),
        activation="relu",
    )
    out = w.forward(torch.tensor([[1.0, 2.0], [-1.0, -2.0]], dtype=F64))
    assert out.tolist() == [[6.0, -6.0], [0.0, 0.0]]  # relu(3)·2 = 6; relu(−3) = 0


def test_forward_accepts_extra_leading_axes():
    w = random_weights(0, 4, 3)
    x = torch.randn(2, 5, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(w.forward(x)[1], w.forward(x[1]), rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    "x, fragment",
    [
        (torch.zeros(2, 4, dtype=F64), "last axis must have d=3"),
        (torch.zeros(2, 3, dtype=torch.float32), "float32"),
        (np.zeros((2, 3)), "torch.Tensor"),
    ],
    ids=["wrong-dim", "wrong-dtype", "numpy-input"],
)
def test_forward_rejects_bad_input(x, fragment):
    w = random_weights(0, 4, 3)
    with pytest.raises(InvalidInputError, match=fragment):
        w.forward(x)
    with pytest.raises(InvalidInputError, match=fragment):
        GatedMLP(w)(x)


def _good(**changes):
    h, d = 4, 3
    kwargs = dict(
        gate=torch.ones(h, d, dtype=F64),
        up=torch.ones(h, d, dtype=F64),
        down=torch.ones(d, h, dtype=F64),
        activation="silu",
    )
    kwargs.update(changes)
    return kwargs


def _with_nan(shape, index):
    t = torch.ones(*shape, dtype=F64)
    t[index] = float("nan")
    return t


INVALID_WEIGHTS = [
    ("up-shape", _good(up=torch.ones(4, 5, dtype=F64)), r"up has shape \(4, 5\).*\(4, 3\)"),
    (
        "down-transposed",
        _good(down=torch.ones(4, 3, dtype=F64)),
        r"down has shape \(4, 3\).*\(3, 4\)",
    ),
    ("gate-1d", _good(gate=torch.ones(4, dtype=F64)), r"gate must be a non-empty h×d matrix"),
    ("gate-empty", _good(gate=torch.ones(0, 3, dtype=F64)), r"shape \(0, 3\)"),
    (
        "gate-bias-len",
        _good(gate_bias=torch.ones(3, dtype=F64)),
        r"gate_bias has shape \(3,\).*\(4,\)",
    ),
    (
        "down-bias-len",
        _good(down_bias=torch.ones(4, dtype=F64)),
        r"down_bias has shape \(4,\).*\(3,\)",
    ),
    ("nan-up", _good(up=_with_nan((4, 3), (2, 1))), r"up\[2, 1\] is nan"),
    (
        "inf-bias",
        _good(up_bias=torch.tensor([0.0, float("inf"), 0.0, 0.0], dtype=F64)),
        r"up_bias\[1\] is inf",
    ),
    ("unknown-activation", _good(activation="tanh"), r"'tanh' is unknown; allowed: gelu"),
    ("activation-not-str", _good(activation=None), r"activation must be a string"),
    ("mixed-dtype", _good(down=torch.ones(3, 4, dtype=torch.float32)), r"down is torch.float32"),
    (
        "integer-dtype",
        _good(gate=torch.ones(4, 3, dtype=torch.int64)),
        r"gate must be floating point",
    ),
    ("numpy-array", _good(up=np.ones((4, 3))), r"up must be a torch.Tensor"),
    ("missing-down", _good(down=None), r"down is required"),
]


@pytest.mark.parametrize(
    "kwargs, pattern", [c[1:] for c in INVALID_WEIGHTS], ids=[c[0] for c in INVALID_WEIGHTS]
)
def test_invalid_weights_raise(kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        GatedMLPWeights(**kwargs)


def test_activation_is_required_keyword():
    with pytest.raises(TypeError):
        GatedMLPWeights(
            torch.ones(2, 2, dtype=F64), torch.ones(2, 2, dtype=F64), torch.ones(2, 2, dtype=F64)
        )  # type: ignore[call-arg]


def test_weights_are_frozen():
    w = random_weights(0, 2, 2)
    with pytest.raises(AttributeError):
        w.activation = "relu"  # type: ignore[misc]


def test_to_changes_dtype_and_keeps_values():
    w = random_weights(3, 5, 4, "gelu", biases=(True, False, True))
    w32 = w.to(dtype=torch.float32)
    assert w32.dtype == torch.float32 and w32.up_bias is None
    assert torch.equal(w32.gate, w.gate.float()) and torch.equal(w32.down_bias, w.down_bias.float())
    back = w32.to(device="cpu", dtype=F64)
    assert back.device == torch.device("cpu") and back.dtype == F64
    with pytest.raises(InvalidInputError, match="floating"):
        w.to(dtype=torch.int32)


# --- module --------------------------------------------------------------------------------


def test_module_holds_buffers_not_parameters():
    w = random_weights(1, 6, 4, biases=(True, True, True))
    module = GatedMLP(w)
    assert list(module.parameters()) == []
    assert set(module.state_dict()) == set(TENSOR_NAMES)
    x = torch.randn(3, 4, dtype=F64, generator=torch.Generator().manual_seed(2))
    assert torch.equal(module(x), w.forward(x))
    module32 = module.to(torch.float32)
    assert module32.weights.dtype == torch.float32
    assert module32(x.float()).dtype == torch.float32


def test_module_rejects_non_weights():
    with pytest.raises(InvalidInputError, match="GatedMLPWeights"):
        GatedMLP({"gate": torch.ones(2, 2)})


# --- file format ---------------------------------------------------------------------------


@given(weights_args, st.sampled_from([torch.float32, F64]))
@settings(max_examples=30, deadline=None)
def test_save_load_round_trip_is_bit_exact(args, dtype):
    seed, hidden, dim, activation, biases = args
    w = random_weights(seed, hidden, dim, activation, biases=biases, dtype=dtype)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlp.safetensors"
        save_mlp(path, w, {"seed": seed, "construction": "random"})
        loaded, meta = load_mlp(path)
    assert loaded.activation == activation and loaded.dtype == dtype
    for name in TENSOR_NAMES:
        a, b = getattr(w, name), getattr(loaded, name)
        assert (a is None) == (b is None)
        if a is not None:
            # Bitwise: compare the raw bytes, so that -0.0 vs 0.0 would also be caught.
            assert a.numpy().tobytes() == b.numpy().tobytes()
    assert meta == {"seed": str(seed), "construction": "random", "activation": activation}


@given(weights_args, st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_file_loads_without_factmlp_and_numpy_forward_matches(args, x_seed):
    seed, hidden, dim, activation, biases = args
    w = random_weights(seed, hidden, dim, activation, biases=biases)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlp.safetensors"
        save_mlp(path, w)
        tensors = load_file(path)  # plain safetensors + numpy
        with safe_open(path, framework="numpy") as handle:
            meta = handle.metadata()
    expected_names = {TENSOR_NAMES[n] for n in TENSOR_NAMES if getattr(w, n) is not None}
    assert set(tensors) == expected_names
    assert tensors["gate_proj.weight"].shape == (hidden, dim)
    assert tensors["down_proj.weight"].shape == (dim, hidden)
    x = np.random.default_rng(x_seed).normal(size=(5, dim))
    ref = numpy_forward(tensors, meta["activation"], x)
    got = w.forward(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-11 * (1 + np.abs(ref).max()))


def test_load_converts_dtype_and_device():
    w = random_weights(5, 3, 2, "relu", biases=(True, True, True))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlp.safetensors"
        save_mlp(path, w)
        loaded, _ = load_mlp(path, device=torch.device("cpu"), dtype=torch.float32)
    assert loaded.dtype == torch.float32 and loaded.device.type == "cpu"
    assert torch.equal(loaded.up_bias, w.up_bias.float())


@pytest.mark.parametrize(
    "metadata, pattern",
    [
        ({"notes": None}, r"metadata\['notes'\] is a NoneType"),
        ({"sizes": [1, 2]}, r"metadata\['sizes'\] is a list"),
        ({3: "x"}, r"metadata key 3 must be a string"),
        ({"activation": "relu"}, r"contradicts the weights' activation 'silu'"),
        ("activation=silu", r"metadata must be a mapping"),
    ],
    ids=["none", "list", "int-key", "activation-conflict", "not-a-mapping"],
)
def test_save_rejects_bad_metadata(metadata, pattern, tmp_path):
    with pytest.raises(InvalidInputError, match=pattern):
        save_mlp(tmp_path / "m.safetensors", random_weights(0, 2, 2), metadata)


def test_save_converts_numbers_and_always_writes_activation(tmp_path):
    path = tmp_path / "m.safetensors"
    save_mlp(
        path,
        random_weights(0, 2, 2, "gelu"),
        {"seed": np.int64(4), "lr": 0.5, "whitened": True, "activation": "gelu"},
    )
    with safe_open(path, framework="numpy") as handle:
        meta = handle.metadata()
    assert meta == {"seed": "4", "lr": "0.5", "whitened": "True", "activation": "gelu"}
    assert all(isinstance(v, str) for v in meta.values())


def _file_tensors(h=3, d=2):
    rng = np.random.default_rng(0)
    return {
        "gate_proj.weight": rng.normal(size=(h, d)),
        "up_proj.weight": rng.normal(size=(h, d)),
        "down_proj.weight": rng.normal(size=(d, h)),
    }


def _without(name):
    t = _file_tensors()
    del t[name]
    return t


def _replace(name, value):
    t = _file_tensors()
    t[name] = value
    return t


def _nan_at(name, index):
    t = _file_tensors()
    t[name] = t[name].copy()
    t[name][index] = np.nan
    return t


INVALID_FILES = [
    (
        "missing-up",
        _without("up_proj.weight"),
        {"activation": "silu"},
        r"missing tensor 'up_proj.weight'",
    ),
    (
        "missing-down",
        _without("down_proj.weight"),
        {"activation": "silu"},
        r"missing tensor 'down_proj.weight'",
    ),
    (
        "down-wrong-shape",
        _replace("down_proj.weight", np.ones((3, 2))),
        {"activation": "silu"},
        r"down_proj.weight has shape \(3, 2\) but \(2, 3\)",
    ),
    (
        "bias-wrong-shape",
        {**_file_tensors(), "down_proj.bias": np.ones(3)},
        {"activation": "silu"},
        r"down_proj.bias has shape \(3,\) but \(2,\)",
    ),
    (
        "nan-gate",
        _nan_at("gate_proj.weight", (1, 0)),
        {"activation": "silu"},
        r"gate_proj.weight\[1, 0\] is nan",
    ),
    ("unknown-activation", _file_tensors(), {"activation": "swish"}, r"'swish' is unknown"),
    ("no-activation", _file_tensors(), {"seed": "1"}, r"no 'activation' entry"),
    (
        "extra-tensor",
        {**_file_tensors(), "mlp.gate_proj.weight": np.ones((3, 2))},
        {"activation": "silu"},
        r"unexpected tensor\(s\) \['mlp.gate_proj.weight'\]",
    ),
    (
        "integer-tensor",
        _replace("up_proj.weight", np.ones((3, 2), dtype=np.int64)),
        {"activation": "silu"},
        r"up_proj.weight must be floating point",
    ),
]


@pytest.mark.parametrize(
    "tensors, metadata, pattern", [c[1:] for c in INVALID_FILES], ids=[c[0] for c in INVALID_FILES]
)
def test_malformed_files_raise_naming_the_tensor(tensors, metadata, pattern, tmp_path):
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(InvalidInputError, match=pattern):
        load_mlp(path)


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"this is not a safetensors header")
    with pytest.raises(InvalidInputError, match="not a readable safetensors file"):
        load_mlp(path)
    with pytest.raises(FileNotFoundError):
        load_mlp(tmp_path / "absent.safetensors")


# --- read-out folding ----------------------------------------------------------------------


@given(weights_args, st.integers(0, 2**31 - 1), st.integers(1, 6))
@settings(max_examples=40, deadline=None)
def test_folding_gives_the_logits_of_transformed_values(args, seed, n_values):
    """<fold(g, L)(x), v_j> = <g(x), L v_j>: the folded MLP against V equals g against V Lᵀ."""
    w_seed, hidden, dim, activation, biases = args
    w = random_weights(w_seed, hidden, dim, activation, biases=biases)
    rng = np.random.default_rng(seed)
    lin = rng.normal(size=(dim, dim))
    values = rng.normal(size=(n_values, dim))
    x = rng.normal(size=(4, dim))
    folded = fold_readout(w, lin)
    got = folded.forward(torch.from_numpy(x)).numpy() @ values.T
    # Reference in numpy on the ORIGINAL weights against the transformed values V Lᵀ.
    with tempfile.TemporaryDirectory() as tmp:
        save_mlp(Path(tmp) / "w.safetensors", w)
        tensors = load_file(Path(tmp) / "w.safetensors")
    out = numpy_forward(tensors, activation, x)
    ref = out @ (values @ lin.T).T
    # Entrywise rounding scale: |<g, L v>| ≤ ‖g‖·‖L‖_F·‖v‖.
    scale = (
        np.linalg.norm(out, axis=1)[:, None]
        * np.linalg.norm(lin)
        * np.linalg.norm(values, axis=1)[None, :]
    )
    assert np.all(np.abs(got - ref) <= 1e-12 * scale + 1e-300)
    assert folded.n_params == w.n_params
    assert torch.equal(folded.gate, w.gate) and torch.equal(folded.up, w.up)


def test_fold_known_value_and_no_mutation():
    eye = torch.eye(2, dtype=F64)
    w = GatedMLPWeights(
        eye, eye, eye, activation="identity", down_bias=torch.tensor([1.0, 2.0], dtype=F64)
    )
    lin = np.array([[0.0, 1.0], [1.0, 0.0]])  # swap coordinates: Lᵀ = L
    folded = fold_readout(w, lin)
    assert folded.down.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert folded.down_bias.tolist() == [2.0, 1.0]
    assert torch.equal(w.down, eye) and w.down_bias.tolist() == [1.0, 2.0]
    identity = fold_readout(w, torch.eye(2, dtype=F64))
    assert torch.equal(identity.down, w.down) and torch.equal(identity.down_bias, w.down_bias)


@pytest.mark.parametrize(
    "transform, pattern",
    [
        (np.ones((2, 3)), r"transform has shape \(2, 3\) but \(3, 3\)"),
        (np.ones(3), r"transform has shape \(3,\)"),
        (np.array([[1.0, 0, 0], [0, np.inf, 0], [0, 0, 1]]), r"transform\[1, 1\] is inf"),
        (np.array([["a"] * 3] * 3), r"real numeric matrix"),
    ],
    ids=["not-square", "vector", "inf", "strings"],
)
def test_fold_rejects_bad_transform(transform, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        fold_readout(random_weights(0, 4, 3), transform)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_and_load_match_cpu(tmp_path):
    w = random_weights(7, 8, 5, "gelu", biases=(True, True, True))
    save_mlp(tmp_path / "m.safetensors", w.to(device="cuda"))
    loaded, _ = load_mlp(tmp_path / "m.safetensors", device="cuda")
    assert loaded.device.type == "cuda"
    x = torch.randn(4, 5, dtype=F64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded.forward(x.cuda()).cpu(), w.forward(x), rtol=1e-12, atol=1e-12)
    folded = fold_readout(loaded, np.eye(5))
    assert folded.device.type == "cuda"
