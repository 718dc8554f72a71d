"""Error-bound propagation through a gated MLP, vectorised in torch float64 (the machinery
behind :func:`numerics.precision.certify_recall`; the model is in :mod:`theory.rounding`).

For every intermediate ``q`` of ``g(x) = D(σ(Gx + b_G) ⊙ (Ax + b_A)) + b_D`` and every key,
:func:`forward_bounds` carries the float64 reference ``q̃``, ``E64_q ≥ |q̃ − q|`` and, for the
format, ``E_q ≥ |q̂ − q|`` computed from magnitude bounds only (see the certificate module's
docstring for the formulas); :func:`pair_errors` is the refined bound on the error of a
computed logit difference.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from numerics.mlp import ACTIVATIONS
from theory.rounding import (
    ACTIVATION_ERROR,
    ACTIVATION_INPUT_LIMIT,
    LIPSCHITZ,
    REFERENCE_FORMAT,
    SAFETY_FACTOR,
    SAFETY_TINY,
    FloatFormat,
    gamma,
)

__all__ = [
    "FORWARD_BLOCK",
    "upper",
    "LinearBounds",
    "PreparedMLP",
    "prepare",
    "lipschitz_torch",
    "layer_bounds",
    "RowBounds",
    "forward_bounds",
    "forward_rows",
    "forward_reference",
    "logit_coefficients",
    "ValueLayouts",
    "pair_errors",
]

_F64 = torch.float64
_INV_SQRT_2PI = 0.3989422804014327
#: Elements of the widest temporary of the forward pass (1 MiB of float64). Much larger
#: temporaries come from fresh pages at every allocation, which is slow on some machines;
#: much smaller ones leave a few keys per block at large widths (4 at h ≈ 3,900 with 2^15),
#: where per-call overhead dominated: 2^17 was 1.5–2.2× faster than 2^15 at h = 300 … 3,900,
#: d = 128 on this 2-core CPU (a one-off timing; the error bounds came out identical).
FORWARD_BLOCK = 2**17


def upper(t: torch.Tensor) -> torch.Tensor:
    """An upper bound: inflate a float64 bound for the rounding of its own computation."""
    return torch.nan_to_num(t * SAFETY_FACTOR + SAFETY_TINY, nan=float("inf"))


@dataclass(frozen=True)
class LinearBounds:
    """One linear map ``W y + b`` prepared for the bounds (float64, on the device)."""

    w: torch.Tensor  # out × n_in, signed
    wabs: torch.Tensor
    bias: torch.Tensor  # out (zeros where absent)
    babs: torch.Tensor
    has_bias: torch.Tensor  # out, 0/1
    length: torch.Tensor  # out: n_in + has_bias

    @classmethod
    def build(cls, w: torch.Tensor, b: torch.Tensor | None, has: torch.Tensor) -> LinearBounds:
        out, n_in = w.shape
        bias = torch.zeros(out, dtype=_F64, device=w.device) if b is None else b
        return cls(w, w.abs(), bias, bias.abs(), has, n_in + has)

    def gamma(self, u: float) -> torch.Tensor:
        n_in = self.w.shape[1]
        g0, g1 = gamma(n_in, u), gamma(n_in + 1, u)
        return torch.where(self.has_bias > 0, g1, g0).to(_F64)


@dataclass(frozen=True)
class PreparedMLP:
    up: LinearBounds  # gate and up projections stacked: rows [0, h) gate, [h, 2h) up
    down: LinearBounds
    activation: str
    hidden: int
    weights_overflow: bool


def prepare(weights, fmt: FloatFormat, device: torch.device) -> PreparedMLP:
    w = weights.to(device=device, dtype=_F64)
    h = w.hidden

    def flag(b, n):
        return torch.full((n,), 0.0 if b is None else 1.0, dtype=_F64, device=device)

    def bias_or_zero(b, n):
        return torch.zeros(n, dtype=_F64, device=device) if b is None else b

    stacked_bias = None
    if w.gate_bias is not None or w.up_bias is not None:
        stacked_bias = torch.cat([bias_or_zero(w.gate_bias, h), bias_or_zero(w.up_bias, h)])
    up = LinearBounds.build(
        torch.cat([w.gate, w.up]),
        stacked_bias,
        torch.cat([flag(w.gate_bias, h), flag(w.up_bias, h)]),
    )
    down = LinearBounds.build(w.down, w.down_bias, flag(w.down_bias, w.dim))
    largest = max(float(t.abs().max()) for t in w._parts().values() if t is not None)
    return PreparedMLP(up, down, w.activation, h, largest > fmt.max_finite)


def lipschitz_torch(activation: str, x_hi: torch.Tensor) -> torch.Tensor:
    """Torch twin of :func:`theory.rounding.lipschitz_on_interval` (sup |σ'| on t ≤ x_hi)."""
    cap = LIPSCHITZ[activation]
    if activation == "identity":
        return torch.ones_like(x_hi)
    if activation == "relu":
        return (x_hi > 0).to(_F64)
    if activation == "silu":
        t = x_hi.clamp(max=0.0)
        envelope = torch.exp(t) * (1.0 - t)
        tail = x_hi <= 0
    else:
        t = x_hi.clamp(max=-1.0)
        envelope = torch.exp(-0.5 * t * t) * (0.5 + t.abs() * _INV_SQRT_2PI)
        tail = x_hi <= -1
    envelope = envelope * SAFETY_FACTOR + SAFETY_TINY
    return torch.where(tail, envelope.clamp(max=cap), torch.full_like(x_hi, cap))


def layer_bounds(lin: LinearBounds, y, e64y, my, ey, fmt: FloatFormat):
    """Reference value, its float64 error, the format error and an overflow flag of
    ``W y + b``: ``y`` the float64 reference input with error ``e64y`` (None: exact),
    ``my ≥ |ŷ|`` and ``ey ≥ |ŷ − y|`` for the format's computed input."""
    ref = REFERENCE_FORMAT
    c = y.shape[0]
    z = y @ lin.w.T + lin.bias
    parts = [y.abs(), my, ey] + ([] if e64y is None else [e64y])
    prods = torch.cat(parts) @ lin.wabs.T
    s64, s, t = prods[:c], prods[c : 2 * c], prods[2 * c : 3 * c]
    g64 = lin.gamma(ref.unit_roundoff)
    e64 = g64 * (s64 + lin.babs) + 2 * lin.length * ref.smallest_normal * (1 + g64)
    if e64y is not None:
        e64 = e64 + prods[3 * c :]
    e64 = upper(e64)

    u_in, lam = fmt.input_roundoff, fmt.smallest_normal
    g = lin.gamma(fmt.unit_roundoff)
    s_m = my.sum(dim=1, keepdim=True)
    weight_err = u_in * s + lam * s_m  # ≥ |Ŵ − W| M_y
    bias_err = u_in * lin.babs + lam * lin.has_bias  # ≥ |b̂ − b|
    abs_sum = s + weight_err + lin.babs + bias_err  # ≥ Σ |ŵ_i ŷ_i| + |b̂|
    rounding = upper(g * abs_sum + weight_err + bias_err + 2 * lin.length * lam * (1 + g))
    t = upper(t)  # ≥ |W| E_y: the propagated input error
    e = upper(rounding + t)
    overflow = ((1 + g) * upper(abs_sum) >= fmt.max_finite).any(dim=1)
    return z, e64, e, overflow, rounding, t


@dataclass(frozen=True)
class RowBounds:
    """Per-key results of the forward bounds (one row per key)."""

    g: torch.Tensor  # g̃, the float64 reference output (c × d)
    e64g: torch.Tensor  # ≥ |g̃ − g|
    mg: torch.Tensor  # ≥ |ĝ|
    eg: torch.Tensor  # ≥ |ĝ − g| = rounding + t
    overflow: torch.Tensor  # (c,)
    ep: torch.Tensor  # ≥ |p̂ − p|, the hidden product's error (c × h)
    rounding: torch.Tensor  # the down layer's own part of E_g (rounding of D̂, b̂, the sum)
    t: torch.Tensor  # ≥ |D| E_p, the propagated part of E_g


def forward_bounds(prep: PreparedMLP, x: torch.Tensor, fmt: FloatFormat) -> RowBounds:
    """The forward bounds for the keys ``x`` (c×d, exact)."""
    ref = REFERENCE_FORMAT
    u, lam, u_in = fmt.unit_roundoff, fmt.smallest_normal, fmt.input_roundoff
    ax = x.abs()
    overflow = (ax > fmt.max_finite).any(dim=1)
    ex = upper(u_in * ax + lam)
    mx = upper(ax + ex)
    z, e64z, ez, of, _, _ = layer_bounds(prep.up, x, None, mx, ex, fmt)
    overflow |= of
    h = prep.hidden
    zg, za = z[:, :h], z[:, h:]
    e64g, e64a = e64z[:, :h], e64z[:, h:]
    eg, ea = ez[:, :h], ez[:, h:]

    act = prep.activation
    k, kx = ACTIVATION_ERROR[act]
    limit = ACTIVATION_INPUT_LIMIT * fmt.max_finite  # the activation claim holds below it
    overflow |= (upper(zg.abs() + e64g + eg) >= limit).any(dim=1)
    hid = ACTIVATIONS[act](zg)
    exact_act = k == 0 and kx == 0
    lip64 = lipschitz_torch(act, zg + e64g)
    e64h = lip64 * e64g
    if not exact_act:
        e64h = e64h + (k + kx) * ref.unit_roundoff * zg.abs() + ref.smallest_normal
    e64h = upper(e64h)
    ah = upper(hid.abs() + e64h)
    lip = lipschitz_torch(act, zg + upper(e64g + eg))
    eh = lip * eg
    if not exact_act:
        eh = eh + k * u * (ah + eh) + kx * u * upper(zg.abs() + e64g + eg) + lam
    eh = upper(eh)
    mh = upper(ah + eh)

    aa = upper(za.abs() + e64a)
    ma = upper(aa + ea)
    p = hid * za
    e64p = upper(
        ref.unit_roundoff * (hid * za).abs() + ref.smallest_normal + e64h * za.abs() + ah * e64a
    )
    ep = upper(u * mh * ma + lam + eh * ma + ah * ea)
    overflow |= ((1 + u) * upper(mh * ma) >= fmt.max_finite).any(dim=1)
    mp = upper(p.abs() + e64p + ep)

    g_out, e64_out, e_out, of, rounding, t = layer_bounds(prep.down, p, e64p, mp, ep, fmt)
    overflow |= of
    mg = upper(g_out.abs() + e64_out + e_out)
    return RowBounds(g_out, e64_out, mg, e_out, overflow, ep, rounding, t)


def logit_coefficients(g, e64g, mg, eg, dim: int, fmt: FloatFormat):
    """``α, β, α64, β64`` with ``E_j ≤ α·|v_j| + β`` (format) and ``E64_j ≤ α64·|v_j| + β64``."""
    ref = REFERENCE_FORMAT
    u_in, lam = fmt.input_roundoff, fmt.smallest_normal
    gd, gd64 = gamma(dim, fmt.unit_roundoff), gamma(dim, ref.unit_roundoff)
    alpha = upper((gd * (1 + u_in) + u_in) * mg + eg)
    beta = upper((gd + 1) * lam * mg.sum(dim=1) + 2 * dim * lam * (1 + gd))
    alpha64 = upper(gd64 * g.abs() + e64g)
    beta64 = 2 * dim * ref.smallest_normal * (1 + gd64) + SAFETY_TINY
    return alpha, beta, alpha64, beta64, gd


@dataclass(frozen=True)
class ValueLayouts:
    """The values on the device, in the layouts the logit stage needs."""

    rows: torch.Tensor  # M × d
    cols: torch.Tensor  # d × M (contiguous, for the matmuls)
    abs_cols: torch.Tensor  # |V|ᵀ
    fmt: FloatFormat

    @property
    def abs_rows(self) -> torch.Tensor:
        return self.abs_cols.T

    @property
    def col_max(self) -> torch.Tensor:  # max_j |v_j| per coordinate
        return self.abs_cols.amax(dim=1)


def forward_rows(prep: PreparedMLP, keys: np.ndarray, fmt: FloatFormat, device: torch.device):
    """:func:`forward_bounds` over ``keys`` in blocks of at most ``FORWARD_BLOCK`` elements."""
    rows = max(1, FORWARD_BLOCK // max(2 * prep.hidden, keys.shape[1]))
    parts = [
        forward_bounds(prep, torch.tensor(keys[i : i + rows], dtype=_F64, device=device), fmt)
        for i in range(0, keys.shape[0], rows)
    ]
    names = [f.name for f in fields(RowBounds)]
    return RowBounds(*(torch.cat([getattr(p, n) for p in parts]) for n in names))


def forward_reference(prep: PreparedMLP, keys: np.ndarray, device: torch.device) -> torch.Tensor:
    """The float64 reference ``g̃`` of :func:`forward_rows` (the same products, in the same
    blocks), without any bound: for a format whose model gives none."""
    h = prep.hidden
    rows = max(1, FORWARD_BLOCK // max(2 * h, keys.shape[1]))
    parts = []
    for i in range(0, keys.shape[0], rows):
        x = torch.tensor(keys[i : i + rows], dtype=_F64, device=device)
        z = x @ prep.up.w.T + prep.up.bias
        p = ACTIVATIONS[prep.activation](z[:, :h]) * z[:, h:]
        parts.append(p @ prep.down.w.T + prep.down.bias)
    return torch.cat(parts)


def pair_errors(
    prep: PreparedMLP, fwd: RowBounds, i, t, j, vals: ValueLayouts, beta, gd
) -> torch.Tensor:
    """≥ |(ℓ̂_t − ℓ̂_j) − (ℓ_t − ℓ_j)| for the pairs (key i, its value t, competitor j).

    The logit-wise bound charges the error of ĝ twice, through |v_t| and |v_j|. Here
    ``ĝ − g = ρ + (D̂ − D)p̂ + (b̂ − b) + D(p̂ − p)`` meets ``Δv = v_t − v_j`` only:
    ``|(ĝ − g)·Δv| ≤ R·|Δv| + E_p·|DᵀΔv|`` with ``R`` the down layer's own rounding terms, so
    the cancellation in ``D`` no longer multiplies the hidden error. The dot products'
    rounding and the values' rounding keep their logit-wise terms ``α'·(|v_t| + |v_j|) + 2β``.
    ``DᵀΔv`` is computed in float64 with the error term ``(γ64_d + 2u64) |Δv|·(|D| E_p)``.
    Evaluated in blocks of pairs.
    """
    fmt, ref = vals.fmt, REFERENCE_FORMAT
    dim = vals.rows.shape[1]
    u_in = fmt.input_roundoff
    coefficient = gd * (1 + u_in) + u_in
    extra = gamma(dim, ref.unit_roundoff) + 2 * ref.unit_roundoff
    block = max(1, FORWARD_BLOCK // max(prep.hidden, dim))
    out = torch.empty(i.numel(), dtype=_F64, device=i.device)
    down = prep.down.w  # d × h
    for s in range(0, i.numel(), block):
        ii, tt, jj = i[s : s + block], t[s : s + block], j[s : s + block]
        dv = vals.rows[tt] - vals.rows[jj]
        adv = dv.abs()
        hidden_part = ((dv @ down).abs() * fwd.ep[ii]).sum(dim=1)
        e = (
            coefficient * (fwd.mg[ii] * (vals.abs_rows[tt] + vals.abs_rows[jj])).sum(dim=1)
            + 2 * beta[ii]
            + (fwd.rounding[ii] * adv).sum(dim=1)
            + hidden_part
            + extra * (fwd.t[ii] * adv).sum(dim=1)
        )
        out[s : s + block] = upper(upper(e))
    return out
