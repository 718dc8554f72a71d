"""The method registry: every way of storing facts, by name, in its default configuration."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from numerics.methods.base import Method
from numerics.methods.encdec import EncDecMethod
from numerics.methods.gd import GDMethod
from numerics.methods.hebbian import HebbianMethod
from numerics.methods.hebbian_dd import HebbianDDMethod
from numerics.methods.lookup import LookupMethod
from numerics.methods.maxmargin import MaxMarginMethod
from numerics.methods.ntk import NTKMethod
from theory.errors import InvalidInputError

__all__ = ["METHODS", "get_method"]


class _Registry(Mapping):
    """Read-only name → method table."""

    def __init__(self, methods: list[Method]):
        self._methods = {m.name: m for m in methods}

    def __getitem__(self, name: str) -> Method:
        return self._methods[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._methods)

    def __len__(self) -> int:
        return len(self._methods)

    def __repr__(self) -> str:
        return f"METHODS({', '.join(self._methods)})"


#: The default configuration of each method, by registry name.
METHODS: Mapping[str, Method] = _Registry(
    [
        EncDecMethod(),
        GDMethod(),
        NTKMethod(),
        HebbianMethod(name="hebbian", readout="raw"),
        HebbianMethod(name="hebbian_ridge", readout="ridge"),
        LookupMethod(),
        HebbianDDMethod(),
        MaxMarginMethod(),
    ]
)


def get_method(name: str) -> Method:
    """The registered method called ``name``.

    Raises
    ------
    InvalidInputError
        For an unknown name; the message lists the registered names.
    """
    if not isinstance(name, str) or name not in METHODS:
        raise InvalidInputError(f"method {name!r} is unknown; choose one of {', '.join(METHODS)}")
    return METHODS[name]
