"""The floating-point formats and devices a user may name (``--dtype``, ``--device``, sweep
configs), in one place.

Names are plain strings so that the CLI can offer them without importing torch;
:func:`torch_dtype` turns a name into the torch dtype when one is needed.
:func:`ieee_float32_matmuls` keeps float32 matmuls in IEEE float32 (TF32 off) where an
evaluation must follow :mod:`theory.rounding`'s model (recall, the certificate).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def ieee_float32_matmuls() -> Iterator[None]:
    """Inside the block float32 matmuls round as IEEE float32 (no TF32 on CUDA, no bfloat16
    or TF32 in oneDNN on the CPU), as :mod:`theory.rounding`'s model assumes; the caller's
    setting is restored after.

    torch ≥ 2.9 has a per-backend setting (``torch.backends.cuda.matmul.fp32_precision``,
    ``torch.backends.mkldnn.matmul.fp32_precision``), and once it is used, reading the legacy
    one (``torch.get_float32_matmul_precision``) raises; so the per-backend setting is
    saved and set where it exists, the legacy one only on older torch.
    """
    import torch

    # (older torch has no torch.backends.mkldnn.matmul: the legacy path then)
    backends = [torch.backends.cuda.matmul, getattr(torch.backends.mkldnn, "matmul", None)]
    if all(hasattr(b, "fp32_precision") for b in backends):
        previous = [b.fp32_precision for b in backends]
        try:
            for backend in backends:
                backend.fp32_precision = "ieee"
            yield
        finally:
            for backend, setting in zip(backends, previous, strict=True):
                backend.fp32_precision = setting
        return
    legacy = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(legacy)
