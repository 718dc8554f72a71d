"""Tests of numerics/sweep/config.py: strict sweep files resolved into grids of points."""

from __future__ import annotations

import json

import pytest

from numerics.methods import METHODS
from numerics.sweep.config import load_sweep_config, parse_sweep_config
from theory.errors import InvalidInputError

BASE = {
    "methods": ["lookup", "encdec"],
    "families": [{"name": "spherical"}],
    "dims": [8, 16],
    "facts": {"fractions": [0.25, 0.5]},
    "seeds": [0, 1],
    "tied": True,
}

TOML = """
name = "demo"
methods = ["lookup", "encdec"]
dims = [8, 16]
facts = { fractions = [0.25, 0.5] }
seeds = [0, 1]
tied = true
max_hidden = { lookup = 500, default = 300 }

[[families]]
name = "spiked"
beta = [2.0, 8.0]
whiten = "values"

[[families]]
name = "spherical"
tied = false
"""


def test_grid_size_order_and_fractions():
    config = parse_sweep_config(BASE)
    points = config.points
    assert len(points) == 2 * 2 * 2 * 2  # dims × fractions × seeds × methods
    assert config.n_facts_for(8) == (16, 32) and config.n_facts_for(16) == (64, 128)
    assert [p.method for p in points[:2]] == ["lookup", "encdec"]
    assert {p.n_facts for p in points if p.dim == 16} == {64, 128}
    assert all(p.tied and p.n_values == p.n_facts for p in points)
    assert len({p.key for p in points}) == len(points)
    # methods share a fact set; seeds do not
    assert len({p.factset_key for p in points}) == len(points) // 2


def test_toml_file_expands_option_lists_and_per_family_overrides(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text(TOML)
    config = load_sweep_config(path)
    labels = [f.label for f in config.families]
    assert labels == [
        "spiked(tied, beta=2.0, whiten=values)",
        "spiked(tied, beta=8.0, whiten=values)",
        "spherical(untied)",
    ]
    assert config.max_hidden_for("lookup") == 500 and config.max_hidden_for("encdec") == 300
    assert len(config.points) == 3 * 2 * 2 * 2 * 2
    shown = config.describe()
    assert shown["n_points"] == len(config.points) and shown["facts"][16] == [64, 128]
    json.dumps(shown)  # JSON-ready


def test_json_and_toml_give_the_same_points(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({**BASE, "name": "a"}))
    (tmp_path / "a.toml").write_text(
        'name = "a"\nmethods = ["lookup", "encdec"]\ndims = [8, 16]\n'
        "facts = { fractions = [0.25, 0.5] }\nseeds = [0, 1]\ntied = true\n"
        '[[families]]\nname = "spherical"\n'
    )
    assert (
        load_sweep_config(tmp_path / "a.json").points
        == load_sweep_config(tmp_path / "a.toml").points
    )


def test_keys_are_stable_and_change_with_every_parameter():
    a = parse_sweep_config(BASE).points[0]
    assert a.key == parse_sweep_config(dict(BASE)).points[0].key
    other = parse_sweep_config({**BASE, "rel_precision": 0.1}).points[0]
    assert other.key != a.key and other.factset_key == a.factset_key


def test_minilm_mlp_defaults_to_the_paired_map_untied():
    config = parse_sweep_config({**BASE, "families": [{"name": "minilm_mlp", "layer": [1, 3]}]})
    assert [f.fact_map for f in config.families] == ["paired", "paired"]
    assert not any(f.tied for f in config.families)


def test_random_map_uses_values_fraction():
    config = parse_sweep_config(
        {**BASE, "tied": False, "fact_map": "random", "values_fraction": 0.25, "facts": [40]}
    )
    assert {p.n_values for p in config.points} == {10}


@pytest.mark.skipif("gd" not in METHODS, reason="the gd method is not registered yet")
def test_method_options_configure_the_method_and_enter_the_key():
    from numerics.sweep.config import configured_method

    grid = {**BASE, "methods": ["lookup", "gd"]}
    config = parse_sweep_config({**grid, "method_options": {"gd": {"epochs": 30, "lrs": [0.1]}}})
    gd = next(p for p in config.points if p.method == "gd")
    lookup = next(p for p in config.points if p.method == "lookup")
    assert (configured_method(gd).epochs, configured_method(gd).lrs) == (30, (0.1,))
    assert configured_method(lookup) is METHODS["lookup"]  # the registry's own object
    plain = next(p for p in parse_sweep_config(grid).points if p.method == "gd")
    assert plain.key != gd.key and plain.factset_key == gd.factset_key
    assert config.describe()["method_options"] == {"gd": {"epochs": 30, "lrs": (0.1,)}}
    with pytest.raises(InvalidInputError, match="epochs"):
        parse_sweep_config({**grid, "method_options": {"gd": {"epochs": 0}}})


def _with(**changes):
    return {**BASE, **changes}


INVALID = [
    ("unknown top field", _with(dimz=[3]), r"unknown field\(s\) \['dimz'\]"),
    ("missing dims", {k: v for k, v in BASE.items() if k != "dims"}, "missing required"),
    ("unknown method", _with(methods=["magic"]), r"methods\[0\] = 'magic' is unknown"),
    ("repeated method", _with(methods=["lookup", "lookup"]), "repeats"),
    ("unknown family", _with(families=[{"name": "cubic"}]), "family 'cubic' is unknown"),
    ("unknown option", _with(families=[{"name": "spiked", "kapa": 2}]), r"families\[0\].*kapa"),
    ("bad option value", _with(families=[{"name": "spiked", "beta": -1}]), "beta"),
    ("empty option list", _with(families=[{"name": "spiked", "beta": []}]), "empty list"),
    ("family without name", _with(families=[{"beta": 2}]), "with a 'name'"),
    ("tied mlp", _with(families=[{"name": "minilm_mlp", "tied": True}]), "cannot be tied"),
    (
        "map not offered",
        _with(families=[{"name": "spherical", "fact_map": "paired"}]),
        "not offered",
    ),
    ("dims not ints", _with(dims=[8.5]), r"dims\[0\]"),
    ("dims empty", _with(dims=[]), "non-empty"),
    ("negative seed", _with(seeds=[-1]), r"seeds\[0\]"),
    ("facts table field", _with(facts={"fraction": [0.5]}), "fractions"),
    ("fraction zero", _with(facts={"fractions": [0.0]}), r"facts.fractions\[0\]"),
    ("max_hidden method", _with(max_hidden={"gd": 10}), "not methods of this sweep"),
    ("max_hidden zero", _with(max_hidden=0), "max_hidden"),
    ("dtype", _with(dtype="float16"), "dtype"),
    ("method_options method", _with(method_options={"gd": {"epochs": 3}}), "not a method of"),
    ("method_options field", _with(method_options={"encdec": {"colour": 1}}), "unknown field"),
    ("method_options table", _with(method_options={"encdec": 3}), "must be a table"),
    ("rel_precision", _with(rel_precision=2.0), "rel_precision"),
    ("tied not bool", _with(tied="yes"), "tied"),
    (
        "duplicate variant",
        _with(families=[{"name": "spherical"}, {"name": "spherical"}]),
        "same variant",
    ),
]


@pytest.mark.parametrize(
    "data, match", [(d, m) for _, d, m in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_configs(data, match):
    with pytest.raises(InvalidInputError, match=match):
        parse_sweep_config(data)


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("bad.toml", "methods = [", "not valid TOML"),
        ("bad.json", "{", "not valid JSON"),
        ("bad.yaml", "a: 1", "suffix"),
    ],
    ids=["toml", "json", "suffix"],
)
def test_unreadable_files(tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(InvalidInputError, match=match):
        load_sweep_config(tmp_path / name)


def test_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        load_sweep_config(tmp_path / "none.toml")
