"""The forward pass of a ReLU gated MLP whose neurons share gate rows, over the neurons on.

The sparse encoder's MLP (:mod:`numerics.construction.encoder_sparse`) has h = m·N neurons but
N distinct gate rows (each repeated for the m code coordinates), and each key switches on a
few of them. A ReLU neuron whose gate is at most 0 contributes relu(z)·(a·x + b) = 0 exactly
while its up value is finite, so

    g(x) = Σ_{neurons j on for x} relu(z_j(x)) (a_j·x + b_j) d_j + b_D

is the same function as the dense formula of :mod:`numerics.mlp`, evaluated in the same
dtype with another order of summation (a valid evaluation under the any-order model of
:mod:`numerics.precision`). :func:`evaluator` returns that evaluation where it applies and
the dense :class:`~numerics.mlp.GatedMLP` elsewhere; recall, verification and the
certificates' observations call it. At F = M = 2^16, d = 128 (m = 41 copies of each gate
row, a few rows on per key) it takes the place of the dense float64 recall and float32
observation (87 s of a 556 s build in a profile); the stretch benchmark's build took 428 s
with it against 554 s without, the same day (``bench_construct_scale.py --stretch``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from numerics.mlp import GatedMLP, GatedMLPWeights, _check_input

__all__ = ["SharedGateForward", "evaluator", "distinct_gate_rows", "SHARED_FRACTION", "ON_FRACTION"]

#: The shared evaluation is used when the distinct (gate row, gate bias) pairs are at most
#: this fraction of h: it loops over them in Python, once per call.
SHARED_FRACTION = 1 / 8
#: Beyond this fraction of (key, distinct gate row) pairs on, a call takes the dense forward
#: (a few large matmuls beat many small ones).
ON_FRACTION = 1 / 4


@dataclass(frozen=True)
class _Groups:
    """The neurons reordered so that those sharing a gate row are contiguous."""

    rows: Tensor  # N × d distinct gate rows
    bias: Tensor | None  # N gate biases
    up: Tensor  # h × d up rows, grouped
    up_bias: Tensor | None  # h
    down_rows: Tensor  # h × d down columns as rows, grouped
    sizes: list[int]  # neurons per group
    starts: list[int]  # first neuron of each group
    up_abs_max: float  # max_j ‖a_j‖₁, max_j |b_j|: the guard against an up overflow
    up_bias_abs_max: float


class SharedGateForward:
    """``g(x)`` over the neurons whose shared ReLU gate is on (module docstring); callable
    like :class:`~numerics.mlp.GatedMLP` (same checks; the same output up to rounding).
    Build it with :func:`evaluator`."""

    def __init__(self, weights: GatedMLPWeights, groups: _Groups):
        self.weights = weights
        self._groups = groups
        self._dense = GatedMLP(weights)

    def __call__(self, x: Tensor) -> Tensor:
        w = self.weights
        _check_input(x, w.dim, w.dtype, w.device)
        flat = x.reshape(-1, w.dim)
        if not self._exact_zeros(flat):
            return self._dense(x)
        g = self._groups
        z = F.linear(flat, g.rows, g.bias)
        on = z > 0
        if on.sum() > ON_FRACTION * on.numel():
            return self._dense(x)
        out = torch.zeros_like(flat)
        group, key = torch.nonzero(on.T, as_tuple=True)  # ordered by group
        counts = torch.bincount(group, minlength=on.shape[1]).tolist()
        live = [r for r, c in enumerate(counts) if c]
        for r, keys in zip(live, torch.split(key, [counts[r] for r in live]), strict=True):
            lo, hi = g.starts[r], g.starts[r] + g.sizes[r]
            up = F.linear(flat[keys], g.up[lo:hi], None if g.up_bias is None else g.up_bias[lo:hi])
            hidden = z[keys, r].unsqueeze(1) * up  # z > 0 here: relu(z) = z
            out.index_add_(0, keys, hidden @ g.down_rows[lo:hi])
        if w.down_bias is not None:
            out += w.down_bias
        return out.reshape(x.shape)

    def _exact_zeros(self, x: Tensor) -> bool:
        """Whether every left-out product is an exact zero: no up value can overflow. In any
        order of summation each partial sum of a·x + b is at most
        (Σ|a_i x_i| + |b|)·(1 + u)^(d+2) in magnitude. A NaN or infinite ``x`` makes the bound NaN or infinite: the dense pass
        (whose NaN gates a shared one would read as off)."""
        if x.shape[0] == 0:
            return False
        info = torch.finfo(x.dtype)
        unit = info.eps / 2
        worst = self._groups.up_abs_max * float(x.abs().max()) + self._groups.up_bias_abs_max
        return worst * math.exp((x.shape[1] + 2) * unit) * (1 + 1e-9) < info.max

    def __repr__(self) -> str:
        return (
            f"SharedGateForward(h={self.weights.hidden}, gate_rows={self._groups.rows.shape[0]}, "
            f"dtype={self.weights.dtype})"
        )


def evaluator(weights: GatedMLPWeights) -> SharedGateForward | GatedMLP:
    """The evaluation of ``weights`` for recall: :class:`SharedGateForward` for a ReLU MLP
    on the CPU whose distinct gate rows are at most ``SHARED_FRACTION`` of h, else
    ``GatedMLP(weights)``. CPU only: on CUDA ``index_add_`` sums with atomics (another
    rounding each run), and dense matmuls are fast there."""
    if weights.activation != "relu" or weights.device.type != "cpu":
        return GatedMLP(weights)
    groups = _groups(weights)
    return GatedMLP(weights) if groups is None else SharedGateForward(weights, groups)


def distinct_gate_rows(gate: Tensor, bias: Tensor | None):
    """``(rows, bias, gate_of)``: the distinct rows of ``[gate | bias]`` and each neuron's
    row among them; ``gate_of`` is None (and the rows are ``gate``) when all are distinct."""
    both = gate if bias is None else torch.cat([gate, bias[:, None]], dim=1)
    distinct, inverse = torch.unique(both, dim=0, return_inverse=True)
    if distinct.shape[0] == gate.shape[0]:
        return gate, bias, None
    rows = distinct if bias is None else distinct[:, :-1]
    return rows, None if bias is None else distinct[:, -1], inverse


def _groups(weights: GatedMLPWeights) -> _Groups | None:
    rows, bias, gate_of = distinct_gate_rows(weights.gate, weights.gate_bias)
    if gate_of is None or rows.shape[0] > SHARED_FRACTION * weights.hidden:
        return None
    order = torch.argsort(gate_of, stable=True)
    sizes = torch.bincount(gate_of, minlength=rows.shape[0])
    starts = torch.cumsum(sizes, 0) - sizes
    up, up_bias = weights.up[order], weights.up_bias
    return _Groups(
        rows=rows.contiguous(),
        bias=None if bias is None else bias.contiguous(),
        up=up.contiguous(),
        up_bias=None if up_bias is None else up_bias[order].contiguous(),
        down_rows=weights.down.T[order].contiguous(),
        sizes=sizes.tolist(),
        starts=starts.tolist(),
        # In float64, rounded up by _exact_zeros' factor: a float32 sum could round down.
        up_abs_max=float(up.to(torch.float64).abs().sum(dim=1).max()),
        up_bias_abs_max=0.0 if up_bias is None else float(up_bias.abs().max()),
    )
