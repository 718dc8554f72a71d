"""Each package's public list: every name resolves to the object its submodule defines, no
private or stray name is exported, the entry points a researcher calls are there, and theory
never imports torch or numerics."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import numerics
import theory

PACKAGES = sorted(
    name
    for root in (theory, numerics)
    for name in [root.__name__]
    + [m.name for m in pkgutil.walk_packages(root.__path__, f"{root.__name__}.") if m.ispkg]
)

#: What a researcher calls, by the package it is reached from.
ENTRY_POINTS = {
    "theory": ["decodability", "value_decodability", "counting_bound", "require_feasible"],
    "numerics": [
        "FactSet",
        "construct",
        "recall",
        "capacity",
        "get_method",
        "METHODS",
        "run_transformer",
        "run_editing",
        "run_sweep",
        "load_mlp",
        "save_mlp",
    ],
    "numerics.construction": ["construct", "ConstructionConfig"],
    "numerics.methods": ["get_method", "METHODS", "capacity"],
    "numerics.transformer": ["run_transformer"],
    "numerics.editing": ["run_editing"],
    "numerics.cli": ["main"],
}


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_resolves_to_its_definition(name):
    package = importlib.import_module(name)
    assert isinstance(package.__all__, list) and len(set(package.__all__)) == len(package.__all__)
    lazy = getattr(getattr(package, "__getattr__", None), "exports", None)
    for public in package.__all__:
        obj = getattr(package, public)
        if lazy is not None:
            source = importlib.import_module(f"{name}.{lazy[public]}")
            assert public in getattr(source, "__all__", [public]), (name, public)
            assert obj is getattr(source, public)
    assert all(not n.startswith("_") for n in package.__all__)
    with pytest.raises(AttributeError):
        package.no_such_name  # noqa: B018


@pytest.mark.parametrize("name, names", sorted(ENTRY_POINTS.items()))
def test_entry_points_are_exported(name, names):
    package = importlib.import_module(name)
    missing = [n for n in names if n not in package.__all__]
    assert not missing, missing
    assert all(callable(getattr(package, n)) or n == "METHODS" for n in names)


def test_theory_exports_every_public_name_of_its_modules():
    exports = theory.__getattr__.exports
    declared = set()
    for module in set(exports.values()):
        declared |= set(importlib.import_module(f"theory.{module}").__all__)
    # a function named like its module (feasibility.feasibility) stays reachable there only
    assert set(theory.__all__) == declared - {"feasibility"}


def test_theory_imports_no_torch_and_no_numerics():
    code = (
        "import sys, theory; [getattr(theory, n) for n in theory.__all__]; "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('numerics')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_cli_parser_imports_no_torch():
    code = (
        "import sys; from numerics.cli import build_parser; build_parser(); "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
