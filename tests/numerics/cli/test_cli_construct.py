"""The ``factmlp construct`` and ``factmlp verify`` verbs: JSON contracts, exit codes, one-line
errors (conventions of test_cli.py: 0 success, 1 verify found failing facts, 2 malformed
input or a refused fact set, with one line on stderr and nothing on stdout under --json).

Expected failing keys are computed independently with a numpy forward pass of the MLP file
(:mod:`proofs_check.decoder_correctness`), not taken from the CLI.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from numerics.factset import FactSet
from proofs_check.decoder_correctness import numpy_forward, numpy_margins, read_mlp_file
from tests.cli_runner import run

CONSTRUCT_KEYS = {
    "recall",
    "params",
    "params_per_fact",
    "hidden",
    "code_dim",
    "min_margin",
    "float32_certified",
    "float32_certified_fraction",
    "float32_recall",
    "bf16_certified",
    "bf16_recall",
    "seconds",
}
VERIFY_KEYS = {"recall", "min_margin", "failed"}


@pytest.fixture
def factset_file(tmp_path, capsys):
    path = tmp_path / "fs.npz"
    code, out, _ = run(
        capsys,
        "factset",
        "--family",
        "spiked",
        "--facts",
        "30",
        "--dim",
        "6",
        "--seed",
        "2",
        "--out",
        path,
        "--json",
    )
    assert code == 0 and json.loads(out)["n_facts"] == 30
    return path


@pytest.fixture
def built(factset_file, tmp_path, capsys):
    mlp = tmp_path / "mlp.safetensors"
    code, out, err = run(capsys, "construct", factset_file, "--out", mlp, "--json")
    assert code == 0, err
    return mlp, json.loads(out)


def test_construct_json_contract(factset_file, built):
    mlp, result = built
    assert CONSTRUCT_KEYS <= set(result)
    fs = FactSet.load(factset_file)
    tensors, meta = read_mlp_file(mlp)
    h, d = tensors["gate_proj.weight"].shape
    assert result["recall"] == 1.0 and result["hidden"] == h and d == fs.dim
    assert result["params"] == sum(a.size for a in tensors.values())
    assert result["params_per_fact"] == pytest.approx(result["params"] / fs.n_facts)
    assert 1 <= result["code_dim"] <= fs.dim and str(result["code_dim"]) == meta["code_dim"]
    assert result["float32_certified"] == (meta["float32_certified"] == "true")
    assert result["bf16_certified"] == (meta["bf16_certified"] == "true")
    assert result["float32_recall"] == float(meta["float32_recall"])
    # The dense encoder certifies its own kernel: a positive bound, or a certified "no".
    if result["encoder"] == "dense":
        bound = result["kernel_eigenvalue_lower_bound"]
        assert result["kernel_certified"] == (bound is not None and bound > 0)
    else:
        assert result["kernel_certified"] is None
    assert isinstance(result["seconds"], float) and result["seconds"] >= 0
    margins = numpy_margins(
        numpy_forward(tensors, meta["activation"], fs.keys), fs.values, fs.fact_map
    )
    assert (margins > 0).all()
    assert result["min_margin"] == pytest.approx(margins.min(), rel=1e-9)


def test_construct_human_output(factset_file, tmp_path, capsys):
    code, out, _ = run(capsys, "construct", factset_file, "--out", tmp_path / "m.safetensors")
    assert code == 0 and "params_per_fact" in out and not out.lstrip().startswith("{")


def test_verify_json_exit_0(factset_file, built, capsys):
    mlp, constructed = built
    code, out, err = run(capsys, "verify", factset_file, "--mlp", mlp, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert VERIFY_KEYS <= set(result)
    assert result["recall"] == 1.0 and result["failed"] == []
    assert result["min_margin"] == pytest.approx(constructed["min_margin"], rel=1e-9)
    assert result["params"] == constructed["params"]


def test_verify_float32_agrees_with_the_construct_flag_and_a_numpy_cast(
    factset_file, built, capsys
):
    mlp, constructed = built
    code, out, _ = run(capsys, "verify", factset_file, "--mlp", mlp, "--dtype", "float32", "--json")
    result = json.loads(out)
    assert result["dtype"] == "float32"
    fs = FactSet.load(factset_file)
    tensors, meta = read_mlp_file(mlp)
    m32 = numpy_margins(
        numpy_forward(tensors, meta["activation"], fs.keys, np.float32),
        fs.values.astype(np.float32),
        fs.fact_map,
    )
    assert (result["recall"] == 1.0) == (constructed["float32_recall"] == 1.0)
    assert (result["recall"] == 1.0) == bool((m32 > 0).all())
    assert code == (0 if constructed["float32_recall"] == 1.0 else 1)
    if constructed["float32_certified"]:  # a certificate must never be contradicted
        assert (m32 > 0).all()


def test_tampered_mlp_fails_verify_with_the_failed_keys_listed(
    factset_file, built, tmp_path, capsys
):
    mlp, _ = built
    tensors, meta = read_mlp_file(mlp)
    tensors["down_proj.weight"] = -tensors["down_proj.weight"]  # every logit changes sign
    bad = tmp_path / "tampered.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    fs = FactSet.load(factset_file)
    expected = np.flatnonzero(
        ~(
            numpy_margins(
                numpy_forward(tensors, meta["activation"], fs.keys), fs.values, fs.fact_map
            )
            > 0
        )
    ).tolist()
    assert len(expected) == fs.n_facts  # the true value now has the smallest logit
    code, out, _ = run(capsys, "verify", factset_file, "--mlp", bad, "--json")
    assert code == 1
    result = json.loads(out)
    assert result["failed"] == expected and result["recall"] == 0.0 and result["min_margin"] < 0


def test_partly_tampered_mlp_lists_exactly_the_broken_keys(factset_file, built, tmp_path, capsys):
    """Zero the up rows of one group (one code coordinate): only some keys fail."""
    mlp, result = built
    tensors, meta = read_mlp_file(mlp)
    group = tensors["gate_proj.weight"].shape[0] // result["code_dim"]
    tensors["up_proj.weight"][:group] *= -3.0
    bad = tmp_path / "partial.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    fs = FactSet.load(factset_file)
    expected = np.flatnonzero(
        ~(
            numpy_margins(
                numpy_forward(tensors, meta["activation"], fs.keys), fs.values, fs.fact_map
            )
            > 0
        )
    ).tolist()
    assert 0 < len(expected) < fs.n_facts
    code, out, _ = run(capsys, "verify", factset_file, "--mlp", bad, "--json")
    assert code == 1 and json.loads(out)["failed"] == expected


def test_infeasible_set_is_refused_with_one_line_naming_values_and_keys(tmp_path, capsys):
    path = tmp_path / "mid.npz"
    # value 1 is the midpoint of values 0 and 2; keys 1 and 3 map to it
    FactSet(
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0]],
        [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]],
        [0, 1, 2, 1],
    ).save(path)
    out_file = tmp_path / "never.safetensors"
    code, out, err = run(capsys, "construct", path, "--out", out_file, "--json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "values [1]" in err and "keys [1, 3]" in err
    assert not out_file.exists()


def test_code_dim_above_d_exits_2(factset_file, tmp_path, capsys):
    code, out, err = run(
        capsys, "construct", factset_file, "--out", tmp_path / "m", "--code-dim", "7", "--json"
    )
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "code_dim must be at most d = 6, got 7" in err


def _bad_factset_files(tmp_path):
    np.savez(tmp_path / "partial.npz", keys=np.eye(2), values=np.eye(2))
    keys_nan = np.eye(3)
    keys_nan[1, 2] = np.nan
    np.savez(tmp_path / "nan.npz", keys=keys_nan, values=np.eye(3), fact_map=np.array([2, 0, 1]))
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file")
    return [
        ("missing array", tmp_path / "partial.npz", "missing array(s) ['fact_map']"),
        ("nan key", tmp_path / "nan.npz", "keys[1, 2] is nan"),
        ("not npz", tmp_path / "garbage.npz", "not a readable fact-set .npz file"),
        ("no file", tmp_path / "absent.npz", "no such file"),
    ]


@pytest.mark.parametrize("verb", ["construct", "verify"])
def test_malformed_factset_files_exit_2_with_one_line(verb, built, tmp_path, capsys):
    mlp, _ = built
    for name, path, message in _bad_factset_files(tmp_path):
        extra = ["--out", tmp_path / "x.safetensors"] if verb == "construct" else ["--mlp", mlp]
        code, out, err = run(capsys, verb, path, *extra, "--json")
        assert code == 2 and out == "", name
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, (name, err)


def _bad_mlp_files(tmp_path, mlp):
    tensors, meta = read_mlp_file(mlp)
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 5)
    no_down = {k: v for k, v in tensors.items() if k != "down_proj.weight"}
    save_file(no_down, str(tmp_path / "nodown.safetensors"), metadata=meta)
    save_file(
        tensors,
        str(tmp_path / "noact.safetensors"),
        metadata={k: v for k, v in meta.items() if k != "activation"},
    )
    wrong = dict(tensors, **{"up_proj.weight": tensors["up_proj.weight"][:, :-1].copy()})
    save_file(wrong, str(tmp_path / "shape.safetensors"), metadata=meta)
    return [
        ("not safetensors", tmp_path / "garbage.safetensors", "not a readable safetensors file"),
        ("missing tensor", tmp_path / "nodown.safetensors", "missing tensor 'down_proj.weight'"),
        ("no activation", tmp_path / "noact.safetensors", "no 'activation' entry"),
        ("bad shape", tmp_path / "shape.safetensors", "up_proj.weight has shape"),
        ("no file", tmp_path / "absent.safetensors", "does not exist"),
    ]


def test_malformed_mlp_files_exit_2_with_one_line(factset_file, built, tmp_path, capsys):
    mlp, _ = built
    for name, path, message in _bad_mlp_files(tmp_path, mlp):
        code, out, err = run(capsys, "verify", factset_file, "--mlp", path, "--json")
        assert code == 2 and out == "", name
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, (name, err)


def test_mlp_of_another_dimension_exits_2(built, tmp_path, capsys):
    mlp, _ = built
    other = tmp_path / "d5.npz"
    code, _, _ = run(capsys, "factset", "--facts", "10", "--dim", "5", "--out", other, "--json")
    assert code == 0
    code, out, err = run(capsys, "verify", other, "--mlp", mlp, "--json")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "dimension 6" in err and "dimension 5" in err


def test_construct_is_reproducible_through_the_cli(factset_file, built, tmp_path, capsys):
    mlp, _ = built
    again = tmp_path / "again.safetensors"
    assert run(capsys, "construct", factset_file, "--out", again, "--json")[0] == 0
    a, meta_a = read_mlp_file(mlp)
    b, meta_b = read_mlp_file(again)
    assert meta_a == meta_b and a.keys() == b.keys()
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


def test_construct_defaults_are_the_library_defaults():
    from numerics.cli import build_parser
    from numerics.cli.core import construction_config
    from numerics.construction import ConstructionConfig

    parse = build_parser().parse_args
    assert construction_config(parse(["construct", "f.npz", "--out", "m"])) == ConstructionConfig()
    given = construction_config(parse(["construct", "f.npz", "--out", "m", "--slack", "0.5"]))
    assert given == ConstructionConfig(slack=0.5)
