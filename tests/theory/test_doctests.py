"""Every docstring example in the ``theory`` package runs and gives the documented output."""

import doctest
import importlib
import pkgutil

import pytest

import theory


def _theory_modules() -> list[str]:
    names = [theory.__name__]
    for info in pkgutil.walk_packages(theory.__path__, prefix=f"{theory.__name__}."):
        names.append(info.name)
    return sorted(names)


MODULES = _theory_modules()


def test_the_walk_finds_the_subpackages():
    assert "theory.failure_sets" in MODULES and "theory.failure_sets.interval" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest(s) failed in {name}"


def test_there_are_doctests():
    finder = doctest.DocTestFinder()
    total = sum(
        len(test.examples)
        for name in MODULES
        for test in finder.find(importlib.import_module(name))
    )
    assert total > 0
