"""``factmlp certify``: one JSON object with the certificate's fields, exit 0 when every key
is certified and 1 otherwise, and malformed input refused with exit 2 and one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from numerics.factset import FactSet
from numerics.mlp import GatedMLPWeights, save_mlp
from tests.cli_runner import run

FIELDS = {
    "certified_fraction",
    "uncertified",
    "worst_margin_over_bound",
    "bound_over_observed",
    "model",
    "dtype",
    "bounded",
}


@pytest.fixture
def files(tmp_path, capsys):
    fs_path = tmp_path / "fs.npz"
    code, _, err = run(
        capsys, "factset", "--facts", "24", "--dim", "8", "--seed", "1", "--tied", "--out", fs_path
    )
    assert code == 0, err
    mlp = tmp_path / "mlp.safetensors"
    code, _, err = run(capsys, "construct", fs_path, "--out", mlp, "--json")
    assert code == 0, err
    return fs_path, mlp


def test_certify_json_contract(files, capsys):
    fs_path, mlp = files
    code, out, err = run(capsys, "certify", fs_path, "--mlp", mlp, "--json")
    result = json.loads(out)
    assert FIELDS <= set(result) and result["dtype"] == "float32"
    assert code == (0 if result["certified_fraction"] == 1.0 else 1), err
    assert len(result["uncertified"]) == round((1 - result["certified_fraction"]) * 24)
    assert out.count("\n") == 1  # one object, nothing else on stdout


def test_certify_bfloat16_and_float16(files, capsys):
    fs_path, mlp = files
    for dtype in ("bfloat16", "float16"):
        code, out, _ = run(capsys, "certify", fs_path, "--mlp", mlp, "--dtype", dtype, "--json")
        result = json.loads(out)
        assert result["dtype"] == dtype and code in (0, 1)
        assert (code == 0) == (result["certified_fraction"] == 1.0)


def test_certify_exit_0_and_human_output(tmp_path, capsys):
    fs_path = tmp_path / "eye.npz"
    FactSet(np.eye(3), np.eye(3), [0, 1, 2]).save(fs_path)
    eye = torch.eye(3, dtype=torch.float64)
    mlp = tmp_path / "eye.safetensors"
    save_mlp(mlp, GatedMLPWeights(0 * eye, 2 * eye, eye, activation="relu", gate_bias=eye[0] + 1))
    code, out, _ = run(capsys, "certify", fs_path, "--mlp", mlp, "--json")
    assert code == 0 and json.loads(out)["certified_fraction"] == 1.0
    code, out, _ = run(capsys, "certify", fs_path, "--mlp", mlp)
    assert code == 0 and "certified_fraction" in out and not out.lstrip().startswith("{")


def test_malformed_input_exits_2_with_one_line(files, tmp_path, capsys):
    fs_path, mlp = files
    other = tmp_path / "other.npz"
    FactSet(np.eye(3), np.eye(3), [0, 1, 2]).save(other)
    (tmp_path / "garbage.safetensors").write_bytes(b"not safetensors")
    cases = [
        (["certify", fs_path, "--mlp", tmp_path / "absent.safetensors"], "does not exist"),
        (["certify", fs_path, "--mlp", tmp_path / "garbage.safetensors"], "safetensors"),
        (["certify", tmp_path / "absent.npz", "--mlp", mlp], "no such file"),
        (["certify", other, "--mlp", mlp], "dimension"),
        (["certify", fs_path, "--mlp", mlp, "--dtype", "int8"], "invalid choice"),
        (["certify", fs_path, "--mlp", mlp, "--device", "nowhere"], "device"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv, "--json")
        assert code == 2 and out == "", argv
        assert err.count("\n") == 1 and "Traceback" not in err and message in err, err
