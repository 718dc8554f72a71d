"""The floating-point formats a user may name (``--dtype``, sweep configs), in one place.

Names are plain strings so that the CLI can offer them without importing torch;
:func:`torch_dtype` turns a name into the torch dtype when one is needed.
"""

from __future__ import annotations

from theory.errors import InvalidInputError

#: Formats in which recall can be evaluated, widest first.
DTYPE_NAMES = ("float64", "float32", "bfloat16")


def torch_dtype(name: str):
    """The torch dtype called ``name`` (one of :data:`DTYPE_NAMES`).

    Raises
    ------
    InvalidInputError
        For a name not in :data:`DTYPE_NAMES`.
    """
    if name not in DTYPE_NAMES:
        raise InvalidInputError(
            f"dtype {name!r} is unknown; choose one of {', '.join(DTYPE_NAMES)}"
        )
    import torch

    return getattr(torch, name)
