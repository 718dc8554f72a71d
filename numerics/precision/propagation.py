"""Error-bound propagation through a gated MLP, vectorised in torch float64 (the machinery
behind :func:`numerics.precision.certify_recall`; the model is in :mod:`theory.rounding`).

For every intermediate ``q`` of ``g(x) = D(σ(Gx + b_G) ⊙ (Ax + b_A)) + b_D`` and every key,
:func:`forward_bounds` carries the float64 reference ``q̃``, ``E64_q ≥ |q̃ − q|`` and, for the
format, ``E_q ≥ |q̂ − q|`` computed from magnitude bounds only (see the certificate module's
docstring for the formulas); :func:`pair_errors` is the refined bound on the error of a
computed logit difference.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cached_property

import numpy as np
import torch

from numerics.mlp import ACTIVATIONS
from numerics.shared_gates import distinct_gate_rows
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
    "ColumnGroups",
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
#: Elements of the widest temporary of the forward pass (8 MiB of float64). Much larger
#: temporaries come from fresh pages at every allocation (glibc maps blocks above its
#: threshold, at most 32 MiB, afresh), which is slow; much smaller ones leave a few keys per
#: block at large widths, where each matmul rereads all the weights for them. One-off
#: timings of the forward bounds on this 2-core CPU, d = 128, random MLPs (same bounds):
#: 2^20 was 1.1× as fast as 2^17 at h = 300 and 3,900, 1.6× at h = 16,000; at h = 32,759
#: (the construction at F = M = 2^16) the float32 certificate of 1,024 keys took 3.2 s
#: against 7.6 s with 2^17 and 3.9 s with 2^22.
FORWARD_BLOCK = 2**20
#: For ReLU, the forward bounds of a block of keys evaluate only the neurons that may be on
#: for one of its keys when they are at most this fraction of the layer (a gather of their
#: weights replaces the full products; :func:`forward_bounds`).
COMPACT_FRACTION = 0.5
#: Keys whose gate pattern sets the block size of the compaction (:func:`_compact_rows`).
SAMPLE_KEYS = 256


def upper(t: torch.Tensor) -> torch.Tensor:
    """An upper bound: inflate a float64 bound for the rounding of its own computation."""
    return torch.nan_to_num(t * SAFETY_FACTOR + SAFETY_TINY, nan=float("inf"))


@dataclass(frozen=True)
class ColumnGroups:
    """The groups of bitwise-equal columns of a matrix: ``of[k]`` is column ``k``'s group.

    Sums over the groups are what the bounds need (:class:`LinearBounds`). Columns often
    come in runs (the construction's down projection repeats code direction ``t`` in
    columns ``t·r … t·r + r − 1``, then appends gadget columns): the longest prefix of runs
    of one length ``r`` is summed by a reshape (``run_of``: each run's group), the rest by a
    scatter, which is far slower per column."""

    of: torch.Tensor  # n_in
    count: int
    w: torch.Tensor  # out × count: one column per group, signed
    wabs: torch.Tensor
    run: int  # r (1: no runs)
    prefix: int  # columns in the runs of length r
    run_of: torch.Tensor  # prefix / r: the group of each run

    @classmethod
    def find(cls, w: torch.Tensor) -> ColumnGroups | None:
        """The groups of ``w``'s columns, or None if they are all distinct."""
        distinct, of = torch.unique(w, dim=1, return_inverse=True)
        if distinct.shape[1] == w.shape[1]:
            return None
        return cls._of(of, distinct, distinct.abs())

    @classmethod
    def _of(cls, of: torch.Tensor, w: torch.Tensor, wabs: torch.Tensor) -> ColumnGroups:
        if of.numel() == 0:
            return cls(of, w.shape[1], w, wabs, 1, 0, of)
        starts = torch.ones_like(of, dtype=torch.bool)
        starts[1:] = of[1:] != of[:-1]
        lengths = torch.diff(torch.nonzero(starts)[:, 0], append=of.new_tensor([of.numel()]))
        run = int(lengths[0])
        runs = int(torch.cumprod(lengths == run, 0).sum())  # the prefix of runs of length r
        prefix = runs * run
        return cls(of, w.shape[1], w, wabs, run, prefix, of[:prefix:run])

    def subset(self, columns: torch.Tensor) -> ColumnGroups:
        """The groups of the columns ``columns`` (increasing) of the same matrix."""
        return self._of(self.of[columns], self.w, self.wabs)

    def sums(self, a: torch.Tensor) -> torch.Tensor:
        """``Σ_{k ∈ g} a[:, k]`` for every group ``g`` (rows × count)."""
        rows, p = a.shape[0], self.prefix
        out = a.new_zeros((rows, self.count))
        out.index_add_(1, self.run_of, a[:, :p].reshape(rows, -1, self.run).sum(dim=2))
        return out.index_add_(1, self.of[p:], a[:, p:])


@dataclass(frozen=True)
class LinearBounds:
    """One linear map ``W y + b`` prepared for the bounds (float64, on the device).

    ``columns``: where ``W`` has bitwise-equal columns (the construction's down projection
    repeats each code direction ``r`` times), their groups, with one column of ``W`` per
    group: the nonnegative products ``|W| a`` of the bounds are then computed as
    ``Σ_g |W_g| (Σ_{k∈g} a_k)``, the same real number (distributivity; the float64 rounding
    of either form is below ``γ_{n+1}`` relative, far inside :func:`upper`'s factor). None
    where the columns are distinct."""

    w: torch.Tensor  # out × n_in, signed (a subset of the inputs: see ``input_subset``)
    bias: torch.Tensor  # out (zeros where absent)
    babs: torch.Tensor
    has_bias: torch.Tensor  # out, 0/1
    length: torch.Tensor  # out: n_in + has_bias
    n_in: int  # the layer's inputs, all of them
    columns: ColumnGroups | None = None

    @classmethod
    def build(
        cls, w: torch.Tensor, b: torch.Tensor | None, has: torch.Tensor, group: bool = False
    ) -> LinearBounds:
        out, n_in = w.shape
        bias = torch.zeros(out, dtype=_F64, device=w.device) if b is None else b
        columns = ColumnGroups.find(w) if group else None
        return cls(w, bias, bias.abs(), has, n_in + has, n_in, columns)

    # Derived once per layer, when first needed (a subset needs few of them).
    @cached_property
    def wabs(self) -> torch.Tensor:
        return self.w.abs()

    @cached_property
    def column_max(self) -> torch.Tensor:
        """``max_o |w_oi|`` per input (zeros for a layer without outputs)."""
        return self.wabs.amax(dim=0) if self.w.shape[0] else self.w.new_zeros(self.w.shape[1])

    @cached_property
    def _inputs_major(self) -> torch.Tensor:
        return self.w.T.contiguous()  # n_in × out: a subset of inputs is a gather of rows

    def output_subset(self, rows: torch.Tensor) -> LinearBounds:
        """The outputs ``rows`` alone: their bounds are those of the whole layer's rows."""
        return replace(
            self,
            w=self.w.index_select(0, rows),
            bias=self.bias[rows],
            babs=self.babs[rows],
            has_bias=self.has_bias[rows],
            length=self.length[rows],
        )

    def input_subset(self, columns: torch.Tensor) -> LinearBounds:
        """The layer restricted to the inputs ``columns`` (increasing), for inputs that are
        exact zeros elsewhere: they add nothing to a sum and no rounding, so the products
        and the relative terms are the whole layer's; ``length`` and ``n_in`` keep every
        input for the absolute terms."""
        columns_groups = None if self.columns is None else self.columns.subset(columns)
        w = self._inputs_major.index_select(0, columns).T
        return replace(self, w=w, columns=columns_groups)

    def abs_product(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """``[a_1; a_2; …] |W|ᵀ`` for nonnegative ``a_k`` (rows × n_in each), grouped where
        columns repeat (summed per group before they are stacked)."""
        if self.columns is None:
            return torch.cat(parts) @ self.wabs.T
        return torch.cat([self.columns.sums(a) for a in parts]) @ self.columns.wabs.T

    def gamma(self, u: float, live: torch.Tensor | None = None) -> torch.Tensor:
        """``γ_n`` of every output (out,), ``n`` = inputs + bias; with ``live`` (rows,),
        the inputs that may be nonzero in each row, ``γ`` of ``live + bias`` (rows × out)."""
        # theory.rounding.gamma's formula, in float64 throughout
        nu = (self.n_in if live is None else live[:, None]) + self.has_bias
        nu = nu * u
        return torch.where(nu < 1, nu / (1 - nu), torch.full_like(nu, float("inf")))


@dataclass(frozen=True)
class PreparedMLP:
    """The weights as the bounds use them. Gate rows (with their biases) that are bitwise
    equal give equal gate values, bounds and activations in every evaluation the model
    allows, so the gate side is computed once per distinct row: ``gate`` holds the
    ``n_gate`` distinct gate rows and ``gate_of[n]`` is the distinct row of neuron ``n``
    (None when every gate row is distinct: they are the gate rows in order). The down
    projection's equal columns are grouped (:class:`LinearBounds`).
    """

    gate: LinearBounds  # the distinct gate rows
    up: LinearBounds  # the h up rows
    down: LinearBounds
    activation: str
    hidden: int
    weights_overflow: bool
    n_gate: int
    gate_of: torch.Tensor | None
    gate_shares: torch.Tensor  # n_gate: the neurons sharing each distinct gate row

    def gate_side(self, t: torch.Tensor, neurons: torch.Tensor | None = None) -> torch.Tensor:
        """A per-distinct-gate-row quantity (rows × n_gate) for every neuron (rows × h), or
        for ``neurons`` only."""
        rows = self.gate_of
        if neurons is not None:
            rows = neurons if rows is None else rows[neurons]
        return t if rows is None else t.index_select(1, rows)

    def neurons(self, on: torch.Tensor) -> torch.Tensor:
        """Per row, the neurons whose distinct gate row is marked in ``on`` (rows × n_gate)."""
        return on.to(_F64) @ self.gate_shares


def prepare(weights, fmt: FloatFormat, device: torch.device, group: bool = True) -> PreparedMLP:
    """``weights`` for the bounds; ``group=False`` treats every gate row and down column as
    distinct (the same bounds up to float64 rounding: the tests' reference)."""
    w = weights.to(device=device, dtype=_F64)
    h = w.hidden
    if group:
        gate, gate_bias, gate_of = distinct_gate_rows(w.gate, w.gate_bias)
    else:
        gate, gate_bias, gate_of = w.gate, w.gate_bias, None
    n_gate = gate.shape[0]
    shares = (
        torch.ones(n_gate, dtype=_F64, device=device)
        if gate_of is None
        else torch.bincount(gate_of, minlength=n_gate).to(_F64)
    )

    def flag(b, n):
        return torch.full((n,), 0.0 if b is None else 1.0, dtype=_F64, device=device)

    gate_layer = LinearBounds.build(gate, gate_bias, flag(gate_bias, n_gate))
    up = LinearBounds.build(w.up, w.up_bias, flag(w.up_bias, h))
    down = LinearBounds.build(w.down, w.down_bias, flag(w.down_bias, w.dim), group=group)
    largest = max(float(t.abs().max()) for t in w._parts().values() if t is not None)
    overflow = largest > fmt.max_finite
    return PreparedMLP(gate_layer, up, down, w.activation, h, overflow, n_gate, gate_of, shares)


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


def layer_bounds(lin: LinearBounds, y, e64y, my, ey, fmt: FloatFormat, live=None, live64=None):
    """Reference value, its float64 error, the format error and an overflow flag of
    ``W y + b``: ``y`` the float64 reference input with error ``e64y`` (None: exact),
    ``my ≥ |ŷ|`` and ``ey ≥ |ŷ − y|`` for the format's computed input. ``live`` /
    ``live64`` (rows,): how many inputs of each row may be nonzero in the format's /
    the reference evaluation (None: all). An input that is exactly zero adds nothing to a
    sum and no rounding (IEEE: 0·w = ±0 and a + 0 = a exactly, in any order, with FMA or a
    wider accumulator), so the relative term takes ``γ`` of the live inputs; the absolute
    term ``2nλ(1 + γ)`` keeps every input (a flushed subnormal partial sum)."""
    ref = REFERENCE_FORMAT
    c = y.shape[0]
    z = y @ lin.w.T + lin.bias
    parts = [y.abs(), my, ey] + ([] if e64y is None else [e64y])
    prods = lin.abs_product(parts)
    s64, s, t = prods[:c], prods[c : 2 * c], prods[2 * c : 3 * c]
    g64, g64_all = lin.gamma(ref.unit_roundoff, live64), lin.gamma(ref.unit_roundoff)
    e64 = g64 * (s64 + lin.babs) + 2 * lin.length * ref.smallest_normal * (1 + g64_all)
    if e64y is not None:
        e64 = e64 + prods[3 * c :]
    e64 = upper(e64)

    u_in, lam = fmt.input_roundoff, fmt.smallest_normal
    g, g_all = lin.gamma(fmt.unit_roundoff, live), lin.gamma(fmt.unit_roundoff)
    s_m = my.sum(dim=1, keepdim=True)
    weight_err = u_in * s + lam * s_m  # ≥ |Ŵ − W| M_y
    bias_err = u_in * lin.babs + lam * lin.has_bias  # ≥ |b̂ − b|
    abs_sum = s + weight_err + lin.babs + bias_err  # ≥ Σ |ŵ_i ŷ_i| + |b̂|
    rounding = upper(g * abs_sum + weight_err + bias_err + 2 * lin.length * lam * (1 + g_all))
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
    # ≥ |p̂ − p|, the hidden product's error, summed per group of equal down columns
    # (c × groups), or per neuron (c × h) where the down columns are all distinct
    ep_down: torch.Tensor
    rounding: torch.Tensor  # the down layer's own part of E_g (rounding of D̂, b̂, the sum)
    t: torch.Tensor  # ≥ |D| E_p, the propagated part of E_g


def forward_bounds(prep: PreparedMLP, x: torch.Tensor, fmt: FloatFormat, compact=True) -> RowBounds:
    """The forward bounds for the keys ``x`` (c×d, exact). ``compact``: for ReLU, evaluate the
    up and down layers for the neurons that may be on for some key of ``x`` only, when that
    pays (:func:`_neurons_to_evaluate`); the others are exact zeros for every key of ``x``
    (hidden error 0 in ``ep_down``). False: every neuron, as the tests' reference."""
    ref = REFERENCE_FORMAT
    u, lam, u_in = fmt.unit_roundoff, fmt.smallest_normal, fmt.input_roundoff
    ax = x.abs()
    overflow = (ax > fmt.max_finite).any(dim=1)
    ex = upper(u_in * ax + lam)
    mx = upper(ax + ex)
    # the gate side runs once per distinct gate row
    zg, e64g, eg, of, _, _ = layer_bounds(prep.gate, x, None, mx, ex, fmt)
    overflow |= of

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
    live = live64 = neurons = None
    if act == "relu":
        # A gate whose computed input is provably negative gives σ̂ = 0 and p̂ = 0 exactly
        # (max(ẑ, 0) rounds nothing), so its neuron's terms in the down layer are exact zeros
        # (layer_bounds): per key, count the neurons that may be on (fl(a + b) < 0 only if
        # a + b < 0, so the test is safe), in the format and in the reference.
        on = ~(zg + upper(e64g + eg) < 0)
        live = prep.neurons(on)
        live64 = prep.neurons(hid != 0)
        if compact:
            neurons = _neurons_to_evaluate(prep, on, mx, fmt)
    hid, e64h, ah, eh, mh = (prep.gate_side(t, neurons) for t in (hid, e64h, ah, eh, mh))

    up = prep.up if neurons is None else prep.up.output_subset(neurons)
    za, e64a, ea, of, _, _ = layer_bounds(up, x, None, mx, ex, fmt)
    overflow |= of
    aa = upper(za.abs() + e64a)
    ma = upper(aa + ea)
    p = hid * za
    e64p = upper(
        ref.unit_roundoff * (hid * za).abs() + ref.smallest_normal + e64h * za.abs() + ah * e64a
    )
    ep = upper(u * mh * ma + lam + eh * ma + ah * ea)
    overflow |= ((1 + u) * upper(mh * ma) >= fmt.max_finite).any(dim=1)
    mp = upper(p.abs() + e64p + ep)

    down = prep.down if neurons is None else prep.down.input_subset(neurons)
    g_out, e64_out, e_out, of, rounding, t = layer_bounds(down, p, e64p, mp, ep, fmt, live, live64)
    overflow |= of
    mg = upper(g_out.abs() + e64_out + e_out)
    if down.columns is not None:
        ep = down.columns.sums(ep)
    elif neurons is not None:  # the neurons left out are exact zeros: no hidden error
        ep = ep.new_zeros((ep.shape[0], prep.hidden)).index_copy_(1, neurons, ep)
    return RowBounds(g_out, e64_out, mg, e_out, overflow, ep, rounding, t)


def _neurons_to_evaluate(prep: PreparedMLP, on: torch.Tensor, mx, fmt) -> torch.Tensor | None:
    """The neurons (increasing) whose gate row may be on for some key of the block (``on``:
    rows × n_gate), when they are at most ``COMPACT_FRACTION`` of the layer and no up
    output of a neuron left out can overflow; else None (evaluate every neuron).

    A neuron left out is off for every key of the block in the format, the reference and
    exact arithmetic, so its product is an exact zero (0·â = 0 for finite â) and it adds
    nothing to the down layer. Its up output is not computed, so its overflow (â = ±inf
    would make 0·â NaN) is excluded by a bound over all up rows instead: ``Σ_i |a_ni| m_i
    ≤ Σ_i (max_n |a_ni|) m_i``, with the rounding terms of :func:`layer_bounds`."""
    rows_on = on.any(dim=0)
    neurons = torch.nonzero(prep.gate_side(rows_on[None])[0]).squeeze(1)
    if neurons.numel() > COMPACT_FRACTION * prep.hidden:
        return None
    up, u_in, lam = prep.up, fmt.input_roundoff, fmt.smallest_normal
    products = mx @ up.column_max
    abs_sum = upper(
        (1 + u_in) * products
        + lam * mx.sum(dim=1)
        + (1 + u_in) * up.babs.max()
        + lam * up.has_bias.max()
    )
    gamma_all = float(up.gamma(fmt.unit_roundoff).max())
    if bool(((1 + gamma_all) * upper(abs_sum) >= fmt.max_finite).any()):
        return None
    return neurons


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
    """:func:`forward_bounds` over ``keys`` in blocks of at most ``FORWARD_BLOCK`` elements
    (fewer keys where the ReLU neurons a block may turn on are few: :func:`_compact_rows`)."""
    rows = max(1, FORWARD_BLOCK // max(2 * prep.hidden, keys.shape[1]))
    if prep.activation == "relu" and keys.shape[0] > 1:
        rows = _compact_rows(prep, keys, rows, device)
    parts = [
        forward_bounds(prep, torch.tensor(keys[i : i + rows], dtype=_F64, device=device), fmt)
        for i in range(0, keys.shape[0], rows)
    ]
    names = [f.name for f in fields(RowBounds)]
    return RowBounds(*(torch.cat([getattr(p, n) for p in parts]) for n in names))


def _compact_rows(prep: PreparedMLP, keys: np.ndarray, rows: int, device) -> int:
    """Keys per block for :func:`forward_bounds`' compaction: the most (a power of 2, at
    most ``rows``) for which the neurons on for some key of a block are expected to be at
    most half of ``COMPACT_FRACTION`` of the layer, from the fraction ``f`` of (key, gate
    row) pairs on among the first keys (``1 − (1 − f)^c`` of the rows on for c keys drawn
    independently); ``rows`` where even one key turns on too many. A choice of block size
    only: the bounds do not depend on it."""
    sample = torch.tensor(keys[:SAMPLE_KEYS], dtype=_F64, device=device)
    f = float((sample @ prep.gate.w.T + prep.gate.bias > 0).to(_F64).mean())
    goal = COMPACT_FRACTION / 2
    if f > goal:
        return rows
    c = 1
    while 2 * c <= rows and 1 - (1 - f) ** (2 * c) <= goal:
        c *= 2
    return c


def forward_reference(prep: PreparedMLP, keys: np.ndarray, device: torch.device) -> torch.Tensor:
    """The float64 reference ``g̃`` of :func:`forward_rows` (the same products, in the same
    blocks), without any bound: for a format whose model gives none."""
    h = prep.hidden
    rows = max(1, FORWARD_BLOCK // max(2 * h, keys.shape[1]))
    parts = []
    for i in range(0, keys.shape[0], rows):
        x = torch.tensor(keys[i : i + rows], dtype=_F64, device=device)
        z = x @ prep.gate.w.T + prep.gate.bias
        p = prep.gate_side(ACTIVATIONS[prep.activation](z)) * (x @ prep.up.w.T + prep.up.bias)
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
    lin = prep.down
    # Equal columns of D give equal entries of DᵀΔv: Σ_k |DᵀΔv|_k E_p,k is summed per group
    # of equal columns (LinearBounds), O(d·groups) per pair instead of O(d·h).
    down, ep = (lin.w if lin.columns is None else lin.columns.w), fwd.ep_down
    block = max(1, FORWARD_BLOCK // max(down.shape[1], dim))
    out = torch.empty(i.numel(), dtype=_F64, device=i.device)
    for s in range(0, i.numel(), block):
        ii, tt, jj = i[s : s + block], t[s : s + block], j[s : s + block]
        dv = vals.rows[tt] - vals.rows[jj]
        adv = dv.abs()
        hidden_part = ((dv @ down).abs() * ep[ii]).sum(dim=1)
        e = (
            coefficient * (fwd.mg[ii] * (vals.abs_rows[tt] + vals.abs_rows[jj])).sum(dim=1)
            + 2 * beta[ii]
            + (fwd.rounding[ii] * adv).sum(dim=1)
            + hidden_part
            + extra * (fwd.t[ii] * adv).sum(dim=1)
        )
        out[s : s + block] = upper(upper(e))
    return out
