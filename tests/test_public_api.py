"""Each package's ``__all__`` is exactly the union of its submodules' ``__all__`` (so the
public list cannot drift), every name resolves, and theory never imports torch/numerics."""

import importlib
import subprocess
import sys

import pytest

import numerics
import theory


@pytest.mark.parametrize("package", [theory, numerics], ids=["theory", "numerics"])
def test_all_matches_submodules(package):
    modules = set(package._EXPORTS.values())
    declared = set()
    for module in modules:
        declared |= set(importlib.import_module(f"{package.__name__}.{module}").__all__)
    # a function named like a submodule stays reachable through that submodule only
    assert set(package.__all__) == declared - modules
    for name in package.__all__:
        assert getattr(package, name) is getattr(
            importlib.import_module(f"{package.__name__}.{package._EXPORTS[name]}"), name)
    with pytest.raises(AttributeError):
        package.no_such_name  # noqa: B018


def test_theory_imports_no_torch_and_no_numerics():
    code = ("import sys, theory; [getattr(theory, n) for n in theory.__all__]; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('numerics')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
