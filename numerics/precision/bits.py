"""The bits frontier: the smallest precision at which an MLP still stores every fact.

Two ways of storing the weights are tried, each with the forward pass computed in float64 on
the original (float64) keys, so that only the rounding of the *weights* is measured:

1. **b-bit integers with one scale per row** (b = 2 … 24). Every row ``w`` of ``gate`` and
   ``up`` (a hidden neuron), of ``down`` (an output coordinate) and every bias vector is
   stored as

   .. math::

       \\hat w = s \\cdot \\operatorname{round}(w / s), \\qquad
       s = \\operatorname{fl}_{32}\\Bigl(\\frac{\\max_k |w_k|}{2^{b-1} - 1}\\Bigr),

   integers in ``[-(2^{b-1} - 1), 2^{b-1} - 1]`` (b = 2 is ternary) and one float32 scale
   ``s`` per row, which counts 32 bits. Total weight bits ``= b·W + 32·(rows)``.
2. **Floating-point formats**: float32, bfloat16, float16, float8 e4m3 and e5m2 (torch's
   ``float8_e4m3fn`` / ``float8_e5m2``), a round-to-nearest cast of every weight; an entry
   beyond the format's largest finite value makes the format fail (no saturation).

``min_bits`` is the smallest b such that every b' ≥ b (up to 24) stores every fact: recall
is not monotone in b for every MLP, so one success is not enough. Recall is strict (a tie is
a failure). Total bits are compared with the counting bound of the fact set,
:func:`theory.bounds.bits_required` with :func:`theory.bounds.is_bijection` choosing
``log2 F!`` or ``F log2 M``: a ratio below 1 is impossible for a method that could store
every fact map of this shape at this precision.

This is a **checked** result (evaluated on these inputs, on this machine, in float64), not a
certificate: the forward pass itself is float64, whose own rounding is ~1e-16 relative.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from numerics.dtypes import resolve_device
from numerics.factset import FactSet
from numerics.mlp import TENSOR_NAMES, GatedMLP, GatedMLPWeights
from numerics.strict_recall import recall
from theory.bounds import bits_required, is_bijection
from theory.errors import InvalidInputError
from theory.validation import require_int

__all__ = ["FLOAT_FORMATS", "INT_BITS", "BitsFrontier", "quantize_rows", "bits_frontier"]

#: Floating-point formats tried, by name → (torch dtype name, bits per weight), widest first.
FLOAT_FORMATS = {
    "float32": ("float32", 32),
    "bfloat16": ("bfloat16", 16),
    "float16": ("float16", 16),
    "float8_e4m3": ("float8_e4m3fn", 8),
    "float8_e5m2": ("float8_e5m2", 8),
}
#: Integer widths tried, widest first.
INT_BITS = tuple(range(24, 1, -1))
#: Bits of each per-row scale (stored as float32).
SCALE_BITS = 32


def quantize_rows(tensor: torch.Tensor, bits: int) -> torch.Tensor:
    """``tensor`` rounded to ``bits``-bit integers with one float32 scale per row (module
    docstring); a vector is one row. Returns the dequantized float64 tensor.

    Examples
    --------
    >>> w = torch.tensor([[0.9, -0.3, 0.05]], dtype=torch.float64)
    >>> quantize_rows(w, 2)          # ternary: scale 0.9, levels {-1, 0, 1}
    tensor([[0.9000, -0.0000, 0.0000]], dtype=torch.float64)
    """
    bits = require_int("bits", bits, 2)
    rows = tensor.reshape(1, -1) if tensor.dim() == 1 else tensor
    rows = rows.to(torch.float64)
    levels = 2 ** (bits - 1) - 1
    peak = rows.abs().amax(dim=1, keepdim=True)
    scale = torch.where(peak > 0, peak / levels, torch.ones_like(peak))
    scale = scale.to(torch.float32).to(torch.float64)  # the stored scale is a float32
    q = torch.clamp(torch.round(rows / scale), -levels, levels)
    return (q * scale).reshape(tensor.shape)


def _cast(tensor: torch.Tensor, dtype_name: str) -> torch.Tensor:
    """Round-to-nearest cast to the format; an entry beyond its largest finite value is an
    overflow (returned as inf), whether or not torch's cast would saturate it (it does for
    float8 e4m3 on the CPU)."""
    dtype = getattr(torch, dtype_name)
    if tensor.abs().max() > torch.finfo(dtype).max:
        return torch.full_like(tensor, float("inf"))
    return tensor.to(dtype)


def _n_rows(weights: GatedMLPWeights) -> int:
    parts = [getattr(weights, name) for name in TENSOR_NAMES]
    return sum((t.shape[0] if t.dim() == 2 else 1) for t in parts if t is not None)


def _rebuilt(weights: GatedMLPWeights, transform) -> GatedMLPWeights | None:
    """The weights with ``transform`` applied to every tensor, or None if a rounded entry is
    not finite (the format overflowed)."""
    parts = {}
    for name in TENSOR_NAMES:
        t = getattr(weights, name)
        parts[name] = None if t is None else transform(t).to(torch.float64)
        if parts[name] is not None and not torch.isfinite(parts[name]).all():
            return None
    return GatedMLPWeights(
        parts.pop("gate"),
        parts.pop("up"),
        parts.pop("down"),
        activation=weights.activation,
        **parts,
    )


@dataclass(frozen=True)
class BitsFrontier:
    """Outcome of :func:`bits_frontier`.

    Attributes
    ----------
    int_recall : dict[int, float]
        Strict float64 recall with b-bit row-scaled integer weights, for every b tried.
    min_bits : int or None
        Smallest b such that every b' ≥ b stores every fact; None if 24 bits do not.
    float_recall : dict[str, float]
        Recall with the weights cast to each of :data:`FLOAT_FORMATS` (0 on overflow).
    smallest_format : str or None
        The format with the fewest bits that stores every fact (ties: the first listed).
    n_params, n_rows : int
        Stored scalars W, and rows (one scale each) of the integer scheme.
    total_bits : float or None
        ``min_bits·W + 32·rows``; None without ``min_bits``.
    format_bits : float or None
        ``bits(smallest_format)·W``.
    bound_bits : float
        The counting bound's bits of this fact set (log2 F! for bijections, F log2 M else).
    bijective : bool
        Whether the fact map is a bijection (the bound counts log2 F!).
    n_facts : int
        F, for the per-fact figures.
    """

    int_recall: dict[int, float]
    min_bits: int | None
    float_recall: dict[str, float]
    smallest_format: str | None
    n_params: int
    n_rows: int
    total_bits: float | None
    format_bits: float | None
    bound_bits: float
    bijective: bool
    n_facts: int
    evidence: str = field(default="checked: float64 forward pass with rounded weights")

    @property
    def total_over_bound(self) -> float | None:
        """Total weight bits of the integer scheme over the counting bound (≥ 1 is possible)."""
        return (
            None
            if self.total_bits is None or self.bound_bits == 0
            else (self.total_bits / self.bound_bits)
        )

    def to_dict(self) -> dict:
        return {
            "min_bits": self.min_bits,
            "total_bits": self.total_bits,
            "bound_bits": self.bound_bits,
            "total_over_bound": self.total_over_bound,
            "smallest_format": self.smallest_format,
            "format_bits": self.format_bits,
            "format_over_bound": None
            if self.format_bits is None or self.bound_bits == 0
            else self.format_bits / self.bound_bits,
            "bits_per_fact": None if self.total_bits is None else self.total_bits / self.n_facts,
            "bound_bits_per_fact": self.bound_bits / self.n_facts,
            "n_params": self.n_params,
            "n_rows": self.n_rows,
            "bijective": self.bijective,
            "int_recall": {str(b): r for b, r in self.int_recall.items()},
            "float_recall": dict(self.float_recall),
            "evidence": self.evidence,
        }


def bits_frontier(
    weights: GatedMLPWeights,
    factset: FactSet,
    *,
    int_bits: tuple[int, ...] = INT_BITS,
    formats: tuple[str, ...] = tuple(FLOAT_FORMATS),
    device: str | torch.device = "cpu",
) -> BitsFrontier:
    """The smallest precision at which ``weights`` still store ``factset`` (module docstring).

    Parameters
    ----------
    weights : GatedMLPWeights
    factset : FactSet
        Same dimension d as the weights.
    int_bits : widths b to try (each ≥ 2); ``min_bits`` needs every b from it up to the largest.
    formats : names from :data:`FLOAT_FORMATS`.
    device : where recall runs.

    Returns
    -------
    BitsFrontier

    Raises
    ------
    InvalidInputError
        On a dimension mismatch, an unknown format or a width below 2.
    """
    if not isinstance(weights, GatedMLPWeights):
        raise InvalidInputError(f"weights must be a GatedMLPWeights, got {type(weights).__name__}")
    if weights.dim != factset.dim:
        raise InvalidInputError(
            f"the MLP has dimension {weights.dim} but the fact set has dimension {factset.dim}"
        )
    unknown = [f for f in formats if f not in FLOAT_FORMATS]
    if unknown:
        raise InvalidInputError(f"formats {unknown} unknown; choose from {list(FLOAT_FORMATS)}")
    widths = sorted({require_int("int_bits", b, 2) for b in int_bits}, reverse=True)
    base = weights.to(device=resolve_device(device), dtype=torch.float64)

    def stored(w: GatedMLPWeights | None) -> float:
        if w is None:
            return 0.0
        return recall(GatedMLP(w), factset, device=device, dtype=torch.float64).accuracy

    int_recall = {b: stored(_rebuilt(base, lambda t, b=b: quantize_rows(t, b))) for b in widths}
    min_bits = None
    for b in widths:  # widest first: stop at the first width that fails
        if int_recall[b] < 1.0:
            break
        min_bits = b
    float_recall = {
        name: stored(_rebuilt(base, lambda t, n=name: _cast(t, FLOAT_FORMATS[n][0])))
        for name in formats
    }
    passing = [n for n in formats if float_recall[n] == 1.0]
    smallest = min(passing, key=lambda n: FLOAT_FORMATS[n][1]) if passing else None
    bijective = is_bijection(factset.fact_map, factset.n_values)
    n_rows = _n_rows(base)
    return BitsFrontier(
        int_recall=int_recall,
        min_bits=min_bits,
        float_recall=float_recall,
        smallest_format=smallest,
        n_params=base.n_params,
        n_rows=n_rows,
        total_bits=None if min_bits is None else min_bits * base.n_params + SCALE_BITS * n_rows,
        format_bits=None if smallest is None else FLOAT_FORMATS[smallest][1] * base.n_params,
        bound_bits=bits_required(factset.n_facts, factset.n_values, bijective=bijective),
        bijective=bijective,
        n_facts=factset.n_facts,
    )
