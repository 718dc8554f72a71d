"""Fact-storing methods behind one interface (:class:`Method`), and their registry.

=================  =========================================================================
``encdec``         ours: the encoder–decoder construction (paper §4) at a given width
``gd``             a gated MLP trained by full-batch Adam on cross-entropy (paper §5)
``ntk``            the one-shot gated "NTK" superposition construction (paper §5)
``hebbian``        the bilinear ``(A₀x) ⊙ (A₁x)/√h`` construction, raw Hebbian read-out
``hebbian_ridge``  the same features with the ridge-whitened read-out
``lookup``         one thresholded neuron per distinct key
=================  =========================================================================

Every method builds a gated MLP at a requested hidden width and seed
(:meth:`Method.build` → :class:`BuildResult`); :func:`numerics.capacity.capacity` searches
the smallest width that stores a fact set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from numerics.methods.base import BuildResult, Method, NeedsAcceleratorError, WidthTooSmallError
from numerics.methods.encdec import EncDecMethod
from numerics.methods.gd import GDMethod
from numerics.methods.hebbian import HebbianMethod
from numerics.methods.lookup import LookupMethod
from numerics.methods.ntk import NTKMethod
from theory.errors import InvalidInputError

__all__ = [
    "BuildResult",
    "Method",
    "WidthTooSmallError",
    "NeedsAcceleratorError",
    "METHODS",
    "get_method",
    "EncDecMethod",
    "GDMethod",
    "NTKMethod",
    "HebbianMethod",
    "LookupMethod",
]


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
METHODS: Mapping[str, Method] = _Registry([
    EncDecMethod(),
    GDMethod(),
    NTKMethod(),
    HebbianMethod(name="hebbian", readout="raw"),
    HebbianMethod(name="hebbian_ridge", readout="ridge"),
    LookupMethod(),
])


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
