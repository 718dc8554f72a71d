"""``factmlp construct --code-dim-rule {smallest,robust} [--robust-fraction C]``: the options
reach :class:`~numerics.construction.ConstructionConfig`, the JSON reports the rule and ρ(V),
and bad combinations exit 2 with one line on stderr (conventions of test_cli.py)."""

from __future__ import annotations

import json

import pytest

from numerics.factset import FactSet
from tests.cli_runner import run
from theory.rho import decodability, verify_certificate


@pytest.fixture
def factset_file(tmp_path, capsys):
    path = tmp_path / "fs.npz"
    code, _, _ = run(
        capsys,
        *("factset", "--family", "spherical", "--facts", "40", "--dim", "10", "--tied"),
        *("--seed", "0", "--out", path, "--json"),
    )
    assert code == 0
    return path


def test_rule_options_reach_the_config():
    from numerics.cli import build_parser
    from numerics.cli.core import construction_config
    from numerics.construction import ConstructionConfig

    parse = build_parser().parse_args
    base = ["construct", "f.npz", "--out", "m"]
    assert construction_config(parse(base + ["--code-dim-rule", "robust"])) == (
        ConstructionConfig(code_dim_rule="robust")
    )
    both = parse(base + ["--code-dim-rule", "robust", "--robust-fraction", "0.25"])
    assert construction_config(both) == ConstructionConfig(
        code_dim_rule="robust", robust_fraction=0.25
    )
    assert construction_config(parse(base)).code_dim_rule == ConstructionConfig().code_dim_rule


def test_robust_construct_json_reports_the_rule_and_rho_values(factset_file, tmp_path, capsys):
    code, out, _ = run(
        capsys,
        *("construct", factset_file, "--out", tmp_path / "m.safetensors"),
        *("--code-dim-rule", "robust", "--robust-fraction", "0.5", "--json"),
    )
    assert code == 0
    result = json.loads(out)
    fs = FactSet.load(factset_file)
    bounds = [
        verify_certificate(fs.values, cert)
        for cert in decodability(fs.values, indices=fs.used_values).certificates
    ]  # lower ≤ ρ_i ≤ upper per value, recomputed from the vectors: min of each brackets ρ(V)
    assert result["code_dim_rule"] == "robust" and result["recall"] == 1.0
    assert min(b[0] for b in bounds) <= result["rho_values"] <= min(b[1] for b in bounds)
    assert result["rho_projected"] >= 0.5 * result["rho_values"]


def test_default_construct_json_reports_the_smallest_rule(factset_file, tmp_path, capsys):
    code, out, _ = run(
        capsys, "construct", factset_file, "--out", tmp_path / "m.safetensors", "--json"
    )
    assert code == 0
    result = json.loads(out)
    assert result["code_dim_rule"] == "smallest" and result["rho_values"] is None


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--code-dim-rule", "robust", "--code-dim", "4"], "code_dim_rule 'robust' chooses m"),
        (["--code-dim-rule", "robust", "--robust-fraction", "2"], "robust_fraction"),
        (["--code-dim-rule", "largest"], "--code-dim-rule"),
    ],
    ids=["with-code-dim", "fraction", "unknown-rule"],
)
def test_bad_rule_options_exit_2_with_one_line(factset_file, tmp_path, capsys, extra, words):
    out_file = tmp_path / "m.safetensors"
    code, out, err = run(capsys, "construct", factset_file, "--out", out_file, "--json", *extra)
    assert code == 2 and out == "" and words in err
    assert not out_file.exists()
