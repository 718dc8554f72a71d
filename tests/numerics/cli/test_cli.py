"""The factmlp CLI: JSON contracts, exit codes, one-line errors, no tracebacks."""

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from numerics.cli import main
from numerics.factset import FactSet
from tests.cli_runner import run
from theory.bounds import min_params


@pytest.fixture
def tied_set(tmp_path, capsys):
    path = tmp_path / "fs.npz"
    assert (
        main(
            ["factset", "--facts", "40", "--dim", "6", "--tied", "--seed", "3", "--out", str(path)]
        )
        == 0
    )
    assert "n_facts" in capsys.readouterr().out  # the human-readable summary
    return path


def test_factset_then_rho_json(capsys, tied_set):
    code, out, err = run(capsys, "rho", str(tied_set), "--json")
    assert code == 0
    result = json.loads(out)
    fs = FactSet.load(tied_set)
    assert len(result["rho_per_value"]) == fs.n_values
    assert 0 < result["rho"] <= 1
    assert result["rho"] == pytest.approx(min(result["rho_per_value"]))
    assert result["undecodable"] == [] and result["infeasible_facts"] == []


def test_factset_is_reproducible_from_its_seed(capsys, tmp_path):
    for name in ("a.npz", "b.npz"):
        assert (
            main(
                [
                    "factset",
                    "--family",
                    "spiked",
                    "--facts",
                    "30",
                    "--values",
                    "7",
                    "--map",
                    "random",
                    "--dim",
                    "5",
                    "--seed",
                    "9",
                    "--out",
                    str(tmp_path / name),
                    "--json",
                ]
            )
            == 0
        )
    a, b = FactSet.load(tmp_path / "a.npz"), FactSet.load(tmp_path / "b.npz")
    assert np.array_equal(a.keys, b.keys) and np.array_equal(a.fact_map, b.fact_map)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["n_values"] == 7


def test_infeasible_set_is_reported_by_check_and_rho_with_exit_0(capsys, tmp_path):
    # value 1 is the midpoint of values 0 and 2: keys 1 and 3 map to it
    path = tmp_path / "mid.npz"
    FactSet(
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0]],
        [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]],
        [0, 1, 2, 1],
    ).save(path)
    code, out, _ = run(capsys, "check", str(path), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["feasible"] is False and report["rho"] == 0.0
    assert report["undecodable_values"] == [1] and report["infeasible_facts"] == [1, 3]
    code, out, _ = run(capsys, "rho", str(path), "--json")
    assert code == 0 and json.loads(out)["infeasible_facts"] == [1, 3]


def test_check_reports_key_side_warnings(capsys, tmp_path):
    path = tmp_path / "rays.npz"
    FactSet(
        [[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [-1.0, -2.0]],
        [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]],
        [0, 1, 2, 0],
    ).save(path)
    code, out, _ = run(capsys, "check", str(path), "--json")
    report = json.loads(out)
    assert code == 0 and report["feasible"] is True
    assert report["zero_keys"] == [0]
    assert report["ray_conflicts"] == [[1, 2]]
    assert report["line_conflicts"] == [[1, 2, 3]]
    assert len(report["key_side_warnings"]) == 3


def test_bound_json_matches_library(capsys):
    code, out, _ = run(
        capsys, "bound", "--facts", "1000", "--values", "50", "--bits", "2", "--json"
    )
    result = json.loads(out)
    assert code == 0
    assert result["bits_required"] == pytest.approx(1000 * math.log2(50))
    assert result["min_params"] == min_params(1000, 50, 2.0)
    code, out, _ = run(capsys, "bound", "--facts", "64", "--bits", "2", "--bijective", "--json")
    assert json.loads(out)["bits_required"] == pytest.approx(math.lgamma(65) / math.log(2))


def _bad_files(tmp_path):
    good = dict(keys=np.eye(3), values=np.eye(3), fact_map=np.array([2, 0, 1]))

    def save(name, **change):
        path = tmp_path / name
        np.savez(path, **{**good, **change})
        return path

    keys_nan = np.eye(3)
    keys_nan[1, 2] = np.nan
    return [
        ("nan key", save("nan.npz", keys=keys_nan), r"keys[1, 2] is nan"),
        ("inf value", save("inf.npz", values=np.diag([1.0, np.inf, 1.0])), r"values[1, 1] is inf"),
        (
            "map out of range",
            save("oor.npz", fact_map=np.array([0, 3, 1])),
            "fact_map[1] = 3 is out of range",
        ),
        ("dim mismatch", save("dim.npz", values=np.ones((3, 2))), "values has dimension 2 but 3"),
        (
            "duplicate keys",
            save("dup.npz", keys=np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 1.0]])),
            "keys[0] and keys[1] are identical",
        ),
        ("missing array", tmp_path / "partial.npz", "missing array(s) ['fact_map']"),
        ("no file", tmp_path / "absent.npz", "no such file"),
    ]


@pytest.mark.parametrize("verb", ["check", "rho"])
def test_malformed_input_exits_2_with_one_line(capsys, tmp_path, verb):
    np.savez(tmp_path / "partial.npz", keys=np.eye(2), values=np.eye(2))
    for name, path, message in _bad_files(tmp_path):
        code, out, err = run(capsys, verb, str(path), "--json")
        assert code == 2, name
        assert out == "", name
        assert err.count("\n") == 1 and message in err, (name, err)
        assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["factset", "--facts", "5", "--values", "4", "--dim", "3", "--out", "x.npz"],
            "a bijection needs",
        ),
        (["factset", "--facts", "5", "--dim", "0", "--out", "x.npz"], "dim must be an integer ≥ 1"),
        (["bound", "--facts", "0", "--bits", "2"], "n_facts"),
        (["bound", "--facts", "5", "--values", "4", "--bits", "2", "--bijective"], "n_values"),
        (["bound", "--facts", "5", "--bits", "nan"], "bits_per_param"),
    ],
)
def test_invalid_arguments_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv, "--json")
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


def test_usage_errors_are_one_line_with_status_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bound", "--facts", "ten", "--bits", "2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid int value" in err


@pytest.mark.skipif(shutil.which("factmlp") is None, reason="console script not installed")
def test_console_script_end_to_end(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, keys=np.array([[np.inf, 0.0]]), values=np.eye(2), fact_map=np.array([0]))
    proc = subprocess.run(["factmlp", "check", str(path), "--json"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().endswith("keys[0, 0] is inf (entries must be finite)")
    proc = subprocess.run(
        [sys.executable, "-m", "numerics.cli", "bound", "--facts", "8", "--bits", "1", "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["min_params"] == 24
