"""Rotary position embedding (RoPE): rotate query/key coordinate pairs by position-dependent
angles, so that attention scores depend on positions only through their difference.

For a vector ``x ∈ R^d`` (d even) at position ``p``, pair coordinate ``i`` with ``i + d/2``
(the "rotate half" layout) and rotate each pair by the angle ``p·θ_i``:

.. math::

    θ_i = b^{-2i/d},\\qquad
    R_p x = \\big(x_{:d/2} \\cos(pθ) - x_{d/2:} \\sin(pθ),\\;
                 x_{:d/2} \\sin(pθ) + x_{d/2:} \\cos(pθ)\\big),

with base ``b`` (10000 by default). Each ``R_p`` is orthogonal and ``R_pᵀ R_q = R_{q−p}``,
hence the **relative-position property**

.. math::

    \\langle R_p q, R_{p'} k \\rangle = \\langle q, R_{p'-p} k \\rangle ,

which tests check. References: Su et al. 2021, *RoFormer* (arXiv 2104.09864); paper.md §6
(RoPE in the one-layer model of the follow-up).
"""

from __future__ import annotations

import torch
from torch import Tensor

from theory.errors import InvalidInputError

__all__ = ["rope_angles", "apply_rope", "DEFAULT_ROPE_BASE"]

#: The usual RoPE base b.
DEFAULT_ROPE_BASE = 10000.0


def rope_angles(positions: Tensor, dim: int, base: float = DEFAULT_ROPE_BASE) -> Tensor:
    """The angles ``p·θ_i`` (shape ``positions.shape + (d/2,)``) for even ``dim``.

    Raises
    ------
    InvalidInputError
        If ``dim`` is not a positive even integer or ``base`` is not > 1.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2 or dim % 2:
        raise InvalidInputError(f"RoPE needs an even dimension ≥ 2, got {dim!r}")
    if not base > 1.0:
        raise InvalidInputError(f"RoPE base must be > 1, got {base!r}")
    half = dim // 2
    inv_freq = base ** (-torch.arange(half, dtype=torch.float64, device=positions.device) / half)
    angles = positions.to(torch.float64).unsqueeze(-1) * inv_freq
    return angles


def apply_rope(x: Tensor, positions: Tensor, base: float = DEFAULT_ROPE_BASE) -> Tensor:
    """``R_p x`` on the last axis of ``x`` (module formula), in ``x``'s dtype.

    Parameters
    ----------
    x : Tensor, shape (..., T, d)
        Queries or keys; d even.
    positions : Tensor, shape (T,)
        Integer (or real) positions of the T rows.

    Examples
    --------
    >>> import torch
    >>> q, k = torch.randn(1, 8, dtype=torch.float64), torch.randn(1, 8, dtype=torch.float64)
    >>> a = apply_rope(q, torch.tensor([3])) @ apply_rope(k, torch.tensor([7])).T
    >>> b = q @ apply_rope(k, torch.tensor([4])).T
    >>> bool(torch.allclose(a, b))
    True
    """
    if x.ndim < 2 or positions.shape != x.shape[-2:-1]:
        raise InvalidInputError(
            f"positions has shape {tuple(positions.shape)} but x has shape "
            f"{tuple(x.shape)}; one position per row of the last-but-one axis"
        )
    angles = rope_angles(positions, int(x.shape[-1]), base)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
