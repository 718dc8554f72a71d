"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists its public names and the submodule each comes from; a name is imported on
first use, so that importing a package (or the CLI) does not import torch, cvxpy or sympy
for parts it never touches. The one rule that follows: a function may not share its
submodule's name (Python binds the submodule to that package attribute on import), so such
modules are named for their concept instead (``rho.py`` holds ``decodability``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package`` re-exporting ``exports``.

    ``exports`` maps each public name to the submodule, relative to ``package``, that
    defines it.

    Examples
    --------
    >>> all_, getattr_, dir_ = lazy_exports("theory", {"require_int": "validation"})
    >>> all_
    ['require_int']
    >>> getattr_("require_int").__name__
    'require_int'
    """
    clashes = sorted(name for name, module in exports.items() if module.split(".")[-1] == name)
    if clashes:
        raise ValueError(f"{package}: {clashes} share their submodule's name; rename the module")
    names = sorted(exports)

    def __getattr__(name: str):
        if name in exports:
            return getattr(import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return names

    __getattr__.exports = dict(exports)  # where each name comes from, for tests and tools

    return names, __getattr__, __dir__
