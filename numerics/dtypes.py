"""The floating-point formats and devices a user may name (``--dtype``, ``--device``, sweep
configs), in one place.

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


def resolve_device(device):
    """``device`` as a ``torch.device`` that exists here ("cuda" becomes "cuda:0").

    Raises
    ------
    InvalidInputError
        Naming the device, when torch cannot place a tensor there.
    """
    import torch

    try:
        return torch.empty(0, device=device).device
    except (RuntimeError, TypeError, AssertionError) as exc:
        raise InvalidInputError(
            f"device {device!r} is not an available torch device ({exc})"
        ) from None
