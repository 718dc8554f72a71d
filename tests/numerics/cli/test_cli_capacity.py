"""``factmlp capacity``: the JSON contract, the MLP it writes, exit codes and one-line errors
(0 for a result, reached or not; 2 for malformed input, an infeasible set, a refused point)."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from numerics.factset import FactSet
from proofs_check.decoder_correctness import read_mlp_file
from tests.cli_runner import run

KEYS = {
    "method",
    "reached",
    "hidden",
    "params",
    "params_per_fact",
    "recall",
    "seconds",
    "bits_per_param",
    "trials",
}


@pytest.fixture
def factset_file(tmp_path, capsys):
    path = tmp_path / "fs.npz"
    code, _, _ = run(
        capsys,
        "factset",
        "--facts",
        "24",
        "--dim",
        "6",
        "--tied",
        "--seed",
        "1",
        "--out",
        path,
        "--json",
    )
    assert code == 0
    return path


def test_capacity_json_contract_and_mlp_file(factset_file, tmp_path, capsys):
    mlp = tmp_path / "lookup.safetensors"
    code, out, err = run(
        capsys, "capacity", factset_file, "--method", "lookup", "--out", mlp, "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert KEYS <= set(result)
    assert result["reached"] is True and result["recall"] == 1.0 and result["hidden"] == 24
    tensors, meta = read_mlp_file(mlp)
    assert sum(a.size for a in tensors.values()) == result["params"] == 3 * 24 * 6 + 24
    assert result["params_per_fact"] == pytest.approx(result["params"] / 24)
    assert meta["method"] == "lookup" and meta["activation"] == "relu"
    code, out, _ = run(capsys, "verify", factset_file, "--mlp", mlp, "--dtype", "float32", "--json")
    assert code == 0 and json.loads(out)["recall"] == 1.0


def test_capacity_not_reached_is_a_result(factset_file, tmp_path, capsys):
    code, out, _ = run(
        capsys, "capacity", factset_file, "--method", "lookup", "--max-hidden", "10", "--json"
    )
    result = json.loads(out)
    assert code == 0 and result["reached"] is False and result["hidden"] is None
    code, out, err = run(
        capsys,
        "capacity",
        factset_file,
        "--method",
        "lookup",
        "--max-hidden",
        "10",
        "--out",
        tmp_path / "x.safetensors",
        "--json",
    )
    assert code == 2 and out == "" and "nothing written" in err and len(err.splitlines()) == 1


def _bad_file(tmp_path, kind: str):
    path = tmp_path / f"{kind}.npz"
    keys, values, fact_map = np.eye(3), np.eye(3), np.arange(3)
    if kind == "nan":
        keys = keys.copy()
        keys[1, 2] = np.nan
        np.savez(path, keys=keys, values=values, fact_map=fact_map)
    elif kind == "infeasible":
        values = np.array([[0.0, 0, 0], [2.0, 0, 0], [1.0, 0, 0]])  # v_2 is a midpoint
        FactSet(keys, values, [0, 1, 2]).save(path)
    elif kind == "wide":
        FactSet(np.eye(65)[:3], np.eye(65)[:3], [0, 1, 2]).save(path)
    return path


ERRORS = [
    ("nan key", "nan", ["--method", "lookup"], r"keys\[1, 2\] is nan"),
    ("infeasible", "infeasible", ["--method", "lookup"], r"infeasible fact set: values \[2\]"),
    (
        "unknown method",
        "infeasible",
        ["--method", "sgd"],
        r"invalid choice: 'sgd' \(choose from 'encdec'",
    ),
    ("gd too large", "wide", ["--method", "gd"], "d = 65, F = 3 is too slow on a CPU"),
    ("override elsewhere", "wide", ["--method", "ntk", "--allow-large-cpu"], "applies to gd only"),
    ("bad max hidden", "wide", ["--method", "ntk", "--max-hidden", "0"], "max_hidden must be"),
]


@pytest.mark.parametrize("name, kind, extra, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_capacity_errors_exit_2_with_one_line(name, kind, extra, message, tmp_path, capsys):
    import re

    code, out, err = run(capsys, "capacity", _bad_file(tmp_path, kind), *extra, "--json")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err


@pytest.mark.skipif(shutil.which("factmlp") is None, reason="console script not installed")
def test_installed_script(factset_file):
    proc = subprocess.run(
        [
            "factmlp",
            "capacity",
            str(factset_file),
            "--method",
            "lookup",
            "--dtype",
            "float64",
            "--seed",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["method"] == "lookup" and result["reached"] is True
    assert result["dtype"] == "float64" and result["seed"] == 3
    assert result["params"] == 3 * 24 * 6 + 24
