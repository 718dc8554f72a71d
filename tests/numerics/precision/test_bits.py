"""numerics.precision.bits: row-scaled integer rounding, float formats, min_bits, the bound."""

import json

import numpy as np
import pytest
import torch

from numerics.factset import FactSet
from numerics.mlp import GatedMLPWeights, save_mlp
from numerics.precision.bits import FLOAT_FORMATS, bits_frontier, quantize_rows
from tests.cli_runner import run
from theory.bounds import bits_required
from theory.errors import InvalidInputError


def _lookup(margin_scale: float = 1.0, dim: int = 4, n: int = 4):
    """One ReLU neuron per basis key e_i: g(e_i) = margin_scale · e_i (keys = values = I)."""
    eye = torch.eye(n, dim, dtype=torch.float64)
    weights = GatedMLPWeights(
        eye.clone(), eye.clone(), eye.T.clone() * margin_scale, activation="relu"
    )
    factset = FactSet(np.eye(n, dim), np.eye(n, dim), np.arange(n))
    return weights, factset


@pytest.mark.parametrize("bits", [2, 3, 8, 16])
def test_quantize_rows_is_within_half_a_step_and_uses_the_levels(bits):
    rng = np.random.default_rng(bits)
    w = torch.from_numpy(rng.standard_normal((5, 7)))
    q = quantize_rows(w, bits)
    levels = 2 ** (bits - 1) - 1
    scale = w.abs().amax(dim=1, keepdim=True) / levels
    assert torch.all((q - w).abs() <= scale / 2 * (1 + 1e-6) + 1e-12)
    integers = q / scale.to(torch.float32).to(torch.float64)
    assert torch.allclose(integers, integers.round(), atol=1e-6)
    assert integers.abs().max() <= levels + 1e-9


def test_quantize_rows_keeps_zero_rows_and_vectors():
    assert torch.equal(quantize_rows(torch.zeros(2, 3, dtype=torch.float64), 4), torch.zeros(2, 3))
    v = torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)
    assert quantize_rows(v, 3).shape == v.shape


def test_a_lookup_table_is_stored_at_two_bits_and_counted_against_the_bound():
    weights, factset = _lookup()
    result = bits_frontier(weights, factset, int_bits=(2, 3, 4))
    assert result.min_bits == 2 and result.smallest_format == "float8_e4m3"
    assert result.bijective and result.bound_bits == pytest.approx(
        bits_required(4, 4, bijective=True)
    )
    assert result.total_bits == 2 * weights.n_params + 32 * (4 + 4 + 4)
    assert result.to_dict()["total_over_bound"] == pytest.approx(
        result.total_bits / result.bound_bits
    )


def test_min_bits_needs_every_wider_width_to_work():
    # Two keys whose margins differ only at the 2^-10 level: coarse rounding ties them.
    keys = np.array([[1.0, 0.0], [1.0, 2.0**-10]])
    values = np.array([[1.0, 0.0], [0.0, 1.0]])
    factset = FactSet(keys, values, np.array([0, 1]))
    # identity gate, up = rows that read key coordinates, down maps to value logits
    gate = torch.tensor([[0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    weights = GatedMLPWeights(
        gate,
        torch.tensor([[1.0, -(2.0**10)], [-1.0, 2.0**11]], dtype=torch.float64),
        torch.eye(2, dtype=torch.float64),
        activation="identity",
        gate_bias=torch.ones(2, dtype=torch.float64),
    )
    result = bits_frontier(weights, factset, int_bits=tuple(range(2, 25)))
    assert result.int_recall[24] == 1.0
    failing = [b for b, r in result.int_recall.items() if r < 1.0]
    assert failing and result.min_bits == max(failing) + 1
    assert all(result.int_recall[b] == 1.0 for b in range(result.min_bits, 25))


def test_an_overflowing_float_format_fails_instead_of_storing():
    weights, factset = _lookup(margin_scale=1e6)  # 1e6 > float8 e4m3's maximum (448)
    result = bits_frontier(weights, factset, int_bits=(8,))
    assert result.float_recall["float8_e4m3"] == 0.0
    assert result.float_recall["float32"] == 1.0
    assert set(result.float_recall) == set(FLOAT_FORMATS)


def test_bad_calls_raise():
    weights, factset = _lookup()
    with pytest.raises(InvalidInputError, match="formats"):
        bits_frontier(weights, factset, formats=("float7",))
    with pytest.raises(InvalidInputError, match="int_bits"):
        bits_frontier(weights, factset, int_bits=(1,))
    other = FactSet(np.eye(3), np.eye(3), np.arange(3))
    with pytest.raises(InvalidInputError, match="dimension"):
        bits_frontier(weights, other)


def test_cli_bits_json(tmp_path, capsys):
    weights, factset = _lookup()
    factset.save(tmp_path / "f.npz")
    save_mlp(tmp_path / "m.safetensors", weights)
    code, out, err = run(
        capsys, "bits", tmp_path / "f.npz", "--mlp", tmp_path / "m.safetensors", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["min_bits"] == 2 and result["bijective"] is True
    code, out, err = run(
        capsys, "bits", tmp_path / "missing.npz", "--mlp", tmp_path / "m.safetensors"
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
