"""Batched separators and ρ in torch: many values per solve, with :mod:`theory.rho`'s certificates.

:func:`theory.rho.decodability` solves one value at a time (Wolfe's min-norm point with a
working-set oracle, in numpy): exact, but each value costs a pass over all ``M − 1``
differences and a Python loop of Wolfe steps, so ``M`` values cost ``O(M² m)`` in Python and
dominate :func:`numerics.construction.pipeline.construct` at ``M = 2^16``.
:func:`batched_decodability` computes the same quantities for a batch of values at once, in
float64 torch on any device:

1. **Candidates.** For each value ``i`` the ``CANDIDATES`` competitors with the smallest
   margins along its centred direction ``w_i − w̄`` (a float32 Gram-form screen of all ``M``
   values: a heuristic first working set, as theory's is); their normalised differences
   ``a_ij`` are formed differences-first in float64, as theory does.
2. **Batched Wolfe** on the candidates: the same algorithm as :mod:`theory.min_norm_point`
   (major steps add the oracle's point to the corral, minor steps move to the corral's affine
   min-norm point and drop points whose weight turns negative), every step a tensor
   operation over the values still running, until the gap over the candidates is at most
   ``GAP_TARGET``. The corral is kept as an inverse Gram matrix updated by bordering and
   rank-one downdates (:class:`_Corrals`) instead of theory's QR factors: no factorisation
   per step, at the price of a pivot test accurate only to about ``√ε`` (a corral that
   nearly loses affine independence stalls, and goes to theory unless its gap passes).
3. **Cutting planes against all M.** The separator ``u = x/‖x‖`` is screened against every
   competitor by two matrix products (``<w_i, w_j>`` and ``<u, w_j>``) in chunks of values, so
   the ``M × M`` difference Gram matrix is never held. Each Gram-form margin gets a rigorous
   bound on its rounding (:mod:`theory.rounding`'s float64 model: ``γ_m`` dot products, the
   safety factor and comparison slack), which gives a lower bound ``lb_j`` on the exact margin
   ``<a_ij, u>``. The screen keeps the competitors whose bounds are at most the threshold
   ``lower + δ`` plus ``SHORTLIST_WINDOW``, and that cut as ``r``, below every other bound
   (where more than ``SHORTLIST`` would be kept, the ``SHORTLIST`` smallest and the next
   bound as ``r``; a cut is one comparison per competitor, a selection many). A
   shortlisted competitor whose
   differences-first margin, less ``δ`` (a bound on the rounding of that evaluation), is not
   above ``lower + δ`` (``lower`` the differences-first margin over the candidates) is a
   violation: at most ``ADD_PER_ROUND`` join the candidates and Wolfe resumes from its corral.
   In later rounds the separator moves, but a margin along a unit ``a_ij`` moves by at most
   ``‖u − u_screened‖``, so every competitor off the list keeps a margin of at least
   ``r − ‖u − u_screened‖``; only when that no longer clears ``lower + δ`` is the value
   screened again. A value with no violation and that bound clear is done. A full screen
   costs ``O(M m)`` per value, usually once or twice; Wolfe costs ``O(k m)`` per step on
   ``k`` candidates instead of theory's ``O(M m)`` passes.

Batches are independent: on the CPU each runs single-threaded (its operations are small)
and a wave of them runs one per torch thread (``torch.set_num_threads`` is process-wide: other
torch work in the process runs single-threaded meanwhile). The results do not depend on the
thread count, except that with ``stop_below`` the values reached (a whole wave) do.

**Certificates** are :class:`theory.rho.ValueDecodability` objects (``method = "batched"``,
status ``"optimal"``) that :func:`theory.rho.verify_certificate` re-checks from the values
alone: ``u_star`` unit, ``lower = min_j <a_ij, u*>`` evaluated differences-first in float64
(theory's definition, equal to ``verify_certificate``'s numpy recomputation up to that
evaluation's rounding; over all ``M − 1`` competitors because every competitor left out was
placed above ``lower + δ`` by the rigorous screen, so its float64 margin is above ``lower``
too), and convex weights on the corral whose point has norm ``upper``. They are accepted only
with ``lower > 0``, ``upper > tol`` and a gap within theory's min-norm-point acceptance
(``GAP_ACCEPT + GAP_FLOOR_ULPS·ε/upper``, the same constants). Every other value (a stall
above that gap, ``‖x‖ ≤ tol``, a duplicate competitor (a difference below ``_TINY_NORM``
after the rescaling), the step budget, the
round limit) falls back to :func:`theory.rho.decodability` for that value alone, which decides
hull membership exactly; so undecodable values carry theory's exact convex weights.

The weights and separators can differ from theory's in the last bits (another summation
order, another working set), and at a degenerate optimum another corral can be found; ρ_i
agrees within the two certificates' gaps. The construction uses this path from
``BATCHED_MIN_VALUES`` values on (:func:`decoder_decodability`, :func:`build_decoder_batched`)
and theory's below it, so small builds are unchanged bit for bit.
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from numerics.dtypes import resolve_device
from theory.decoder import Decoder, build_decoder
from theory.errors import InvalidInputError
from theory.progress import progress_bar
from theory.rho import UNDECODABLE_TOL, Decodability, ValueDecodability, decodability
from theory.rounding import (
    COMPARISON_SLACK,
    REFERENCE_FORMAT,
    SAFETY_FACTOR,
    SAFETY_TINY,
    dot_error_bound,
    gamma,
)
from theory.validation import as_index_vector, as_matrix

__all__ = [
    "BATCHED_MIN_VALUES",
    "batched_decodability",
    "decoder_decodability",
    "build_decoder_batched",
]

#: From this many values on, the construction's decoder solves are batched; below it they
#: stay theory's, so small builds (tests, notebooks, the paper's sizes) are unchanged bit for
#: bit, where the per-value solver takes seconds at most.
BATCHED_MIN_VALUES = 2**12
#: Wolfe's target gap, and the gaps accepted: theory.min_norm_point's and theory.rho's
#: constants for the min-norm-point path (a test keeps them equal).
GAP_TARGET = 1e-12
GAP_ACCEPT = 1e-9
GAP_FLOOR_ULPS = 8
#: A corral column [1; a] whose orthogonal part is shorter than this counts as affinely
#: dependent. theory.min_norm_point uses 1e-14 on its Gram–Schmidt pivots; this pivot comes
#: from an inverse Gram matrix, accurate to about √ε·cond, so the threshold is higher (such
#: a stall goes to theory unless its gap is accepted anyway).
DEPENDENT_PIVOT_GRAM = 1e-7
#: A refinement step of the affine weights above this (relative) recomputes Ginv from P.
_REFRESH_STEP = 1e-8
#: First candidates per value, and competitors added per cutting-plane round.
CANDIDATES = 256
ADD_PER_ROUND = 64
MAX_ROUNDS = 16
#: Competitors kept per value from a full screen, re-checked exactly in later rounds: those
#: within SHORTLIST_WINDOW of the threshold, unless more than SHORTLIST are (then that many).
#: Measured at M = 2^16, m = 31: 55–85 competitors within 0.05 of ρ_i, 200–360 within 0.1
#: (at d = 128 about 2,800 within 0.05: there the smallest are kept).
SHORTLIST = 512
SHORTLIST_WINDOW = 0.1
#: Entries of one screened block (values × M) and of one batch's candidate directions.
SCREEN_ENTRIES = 2**20
STATE_ENTRIES = 2**24
MAX_BATCH = 4096
#: Differences shorter than this (after the power-of-two rescaling) go to theory's solver,
#: which treats duplicates and underflow exactly.
_TINY_NORM = 1e-100

_RUNNING, _CONVERGED, _STALLED, _FALLBACK = 0, 1, 2, 3
_U = REFERENCE_FORMAT.unit_roundoff


def _dot_bound(n: int):
    """``(slope, offset)`` with ``dot_error_bound(s, n) = slope·s + offset`` (float64 model)."""
    offset = float(dot_error_bound(0.0, n, REFERENCE_FORMAT))
    return gamma(n, _U), offset


class _Corrals:
    """Wolfe's state for a batch of values: candidates, corrals, weights, status.

    Shapes: ``n`` values, ``K`` candidates, ``m`` dimensions and ``c`` corral slots, grown on
    demand up to ``m + 2`` (the largest corral, ``m + 1`` affinely independent points, plus
    one being tested). The slots of a corral are those with ``act`` set, anywhere in the
    row: a dropped point leaves a hole that the next one fills, so nothing is moved. A
    corral with points ``P`` (rows) is kept as ``Ginv = (1 1ᵀ + P Pᵀ)⁻¹`` on its slots (rows
    and columns of the other slots, and their rows of ``P``, are zero), positive definite
    exactly when the points are affinely independent; the affine min-norm point has weights
    ``α ∝ Ginv 1`` (theory.min_norm_point's ``_Corral``). Adding a point borders ``Ginv``
    (its Schur complement is the squared distance of ``[1; p]`` from the corral's span,
    computed as the norm of a residual, not as a cancelling difference), dropping one is the
    rank-one downdate of the inverse; both cost ``O(c²)`` per value and no factorisation.
    Every step is a few tensor operations over the whole batch, in place where it can be,
    with masks for the rows it concerns (rows that stop are set aside in :meth:`wolfe`).
    Each affine solve takes one step of refinement with the residual of
    ``[1; Pᵀ] z ≈ e₁`` (corrected semi-normal equations), and ``Ginv`` is recomputed from
    ``P`` where that step is large.
    """

    FIELDS = ("rows", "cand", "valid", "A", "slot", "act", "cnt", "Ginv", "P", "lam")
    FIELDS += ("status", "steps", "short", "short_ok", "rest", "seen")

    def __init__(self, W: torch.Tensor, rows: torch.Tensor, cand, valid):
        n, m = rows.numel(), W.shape[1]
        c = min(m + 2, 16)
        self.rows, self.W, self.limit = rows, W, m + 2
        self.cand = cand.new_zeros((n, 0))
        self.valid = valid.new_zeros((n, 0))
        self.A = W.new_zeros((n, 0, m))
        self.slot = torch.zeros((n, c), dtype=torch.long, device=W.device)
        self.act = torch.zeros((n, c), dtype=torch.bool, device=W.device)
        self.cnt = torch.zeros(n, dtype=torch.long, device=W.device)
        self.Ginv = W.new_zeros((n, c, c))
        self.P = W.new_zeros((n, c, m))
        self.lam = W.new_zeros((n, c))
        self.status = torch.full((n,), _RUNNING, dtype=torch.long, device=W.device)
        self.steps = torch.zeros(n, dtype=torch.long, device=W.device)
        # the screen's shortlist (module docstring, step 3): nearest competitors outside the
        # candidates, a lower bound on every other margin along ``seen``, and which are left
        self.short = torch.zeros((n, 0), dtype=torch.long, device=W.device)
        self.short_ok = torch.zeros((n, 0), dtype=torch.bool, device=W.device)
        self.rest = W.new_full((n,), -math.inf)
        self.seen = W.new_zeros((n, m))
        self.extend(torch.arange(n, device=W.device), cand, valid)
        every = torch.ones(n, dtype=torch.bool, device=W.device)
        self.append(every, torch.zeros(n, dtype=torch.long, device=W.device))  # lowest under u0
        self.lam[:, 0] = 1.0
        self.status[~self.valid[:, 0]] = _FALLBACK

    def take(self, keep: torch.Tensor) -> dict:
        """Keep the rows ``keep``; returns the others' fields (for :meth:`merge`)."""
        rest = {name: getattr(self, name)[~keep] for name in self.FIELDS}
        for name in self.FIELDS:
            setattr(self, name, getattr(self, name)[keep])
        return rest

    def merge(self, parked: list[dict]) -> None:
        """Append the rows set aside by :meth:`take` (slots padded to the largest capacity),
        one concatenation per field."""
        self._room(max(rest["slot"].shape[1] for rest in parked))
        width = self.slot.shape[1]
        parked = [
            dict(rest, **self._padded(rest, width - rest["slot"].shape[1])) for rest in parked
        ]
        for name in self.FIELDS:
            setattr(self, name, torch.cat([getattr(self, name)] + [rest[name] for rest in parked]))

    @staticmethod
    def _padded(fields: dict, grow: int) -> dict:
        """The slot fields of ``fields`` with ``grow`` empty slots more (zeros: no point)."""
        pad = torch.nn.functional.pad
        return {
            "slot": pad(fields["slot"], (0, grow)),
            "act": pad(fields["act"].to(torch.uint8), (0, grow)).bool(),
            "lam": pad(fields["lam"], (0, grow)),
            "Ginv": pad(fields["Ginv"], (0, grow, 0, grow)),
            "P": pad(fields["P"], (0, 0, 0, grow)),
        }

    def extend(self, rows, new, ok) -> None:
        """Add candidates ``new[t]`` (where ``ok``) to values ``rows``; a row with a zero or
        underflowing difference is sent to theory's solver."""
        n, width = self.cand.shape[0], new.shape[1]
        full_new = new.new_zeros((n, width))
        full_ok = ok.new_zeros((n, width))
        full_new[rows], full_ok[rows] = new, ok
        diffs = self.W[self.rows][:, None, :] - self.W[full_new]
        norms = torch.linalg.vector_norm(diffs, dim=2)
        tiny = full_ok & (norms < _TINY_NORM)
        self.status[tiny.any(dim=1)] = _FALLBACK
        norms = torch.where(full_ok & ~tiny, norms, torch.ones_like(norms))
        self.A = torch.cat([self.A, diffs / norms[:, :, None]], dim=1)
        self.cand = torch.cat([self.cand, full_new], dim=1)
        self.valid = torch.cat([self.valid, full_ok & ~tiny], dim=1)

    def _room(self, need: int) -> None:
        """Grow the corral slots to at least ``need`` (by 16, at most ``m + 2``): every
        per-step cost is ``O(c²)``, so ``c`` stays near the largest corral."""
        c = self.slot.shape[1]
        if need <= c:
            return
        grow = min(self.limit, max(need, c + 16)) - c
        for name, value in self._padded(vars(self), grow).items():
            setattr(self, name, value)

    def append(self, grow: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Add candidate ``k[t]`` to the corral of every row ``t`` with ``grow[t]``, in its
        first free slot; returns where it was independent enough to enter (theory's
        ``_Corral.add``)."""
        if not bool(grow.any()):
            return grow
        self._room(int(self.cnt[grow].max()) + 1)
        n = grow.numel()
        point = self.A[torch.arange(n, device=grow.device), k]
        act = self.act.to(point.dtype)
        border = act + (self.P @ point[:, :, None])[:, :, 0]  # Bᵀ[1; p]
        h = (self.Ginv @ border[:, :, None])[:, :, 0]
        # [1; p] − B h: its norm is the pivot (the distance of [1; p] from the corral's span)
        residual = point - (h[:, None, :] @ self.P)[:, 0]
        schur = (1 - h.sum(dim=1)) ** 2 + (residual * residual).sum(dim=1)
        ok = grow & (schur > DEPENDENT_PIVOT_GRAM**2) & (self.cnt < self.limit)
        h = torch.where(ok[:, None], h, torch.zeros_like(h))
        scaled = h / torch.where(ok, schur, torch.ones_like(schur))[:, None]
        self.Ginv.baddbmm_(scaled[:, :, None], h[:, None, :])  # zero rows where not ok
        rows = torch.nonzero(ok)[:, 0]
        at = (~self.act[rows]).to(torch.uint8).argmax(dim=1)  # the first free slot
        border = -scaled[rows]
        border[torch.arange(rows.numel(), device=rows.device), at] = 1 / schur[rows]
        self.Ginv[rows, at, :] = border
        self.Ginv[rows, :, at] = border
        self.P[rows, at] = point[rows]
        self.slot[rows, at] = k[rows]
        self.act[rows, at] = True
        self.lam[rows, at] = 0.0
        self.cnt[rows] += 1
        return ok

    def affine_weights(self, running: torch.Tensor) -> torch.Tensor:
        """The corral's affine min-norm point ``α ∝ (1 1ᵀ + P Pᵀ)⁻¹ 1`` (zero off its slots),
        refined once; ``running`` rows whose refinement step is large get ``Ginv``
        recomputed first."""
        alpha, step = _refined(self.Ginv, self.P, self.act)
        stale = torch.nonzero(running & (step > _REFRESH_STEP))[:, 0]
        if stale.numel():
            self.refactor(stale)
            alpha[stale] = _refined(self.Ginv[stale], self.P[stale], self.act[stale])[0]
        return alpha

    def refactor(self, rows) -> None:
        """``Ginv`` from ``P`` by a Cholesky factorisation (identity on free slots, then
        zero there); a corral that is not positive definite there goes to theory."""
        active = self.act[rows]
        P = self.P[rows]
        both = active[:, :, None] & active[:, None, :]
        gram = (P @ P.mT + 1).masked_fill(~both, 0.0) + torch.diag_embed((~active).to(P.dtype))
        factor, info = torch.linalg.cholesky_ex(gram)
        self.Ginv[rows] = torch.cholesky_inverse(factor).masked_fill(~both, 0.0)
        self.status[rows[info != 0]] = _FALLBACK

    def point(self) -> torch.Tensor:
        """``x = Σ λ_s p_s`` of every row."""
        return (self.lam[:, None, :] @ self.P)[:, 0]

    def bounds(self):
        """``(u, lower, upper)`` of every row: the separator ``x/‖x‖``, its differences-first
        margin over the candidates and ``‖x‖`` (the dual bound of the corral's weights)."""
        x = self.point()
        upper = torch.linalg.vector_norm(x, dim=1)
        u = x / upper[:, None]
        scores = (self.A @ u[:, :, None])[:, :, 0]
        lower = torch.where(self.valid, scores, torch.full_like(scores, math.inf)).min(dim=1)[0]
        return u, lower, upper

    def major(self, rows: torch.Tensor, tol: float, budget: int) -> None:
        """Wolfe's major step for the rows ``rows`` (a mask; their weights are the affine
        minimiser): the oracle over the candidates, then stop or add its point."""
        x = self.point()
        size = torch.linalg.vector_norm(x, dim=1)
        scores = (self.A @ x[:, :, None])[:, :, 0]
        scores = torch.where(self.valid, scores, torch.full_like(scores, math.inf))
        best_score, best = scores.min(dim=1)
        gap = size - best_score / size
        self.steps += rows
        in_hull = rows & (size <= tol)
        converged = rows & ~in_hull & (gap <= GAP_TARGET)
        spent = rows & ~in_hull & ~converged & (self.steps > budget)
        self.status[in_hull | spent] = _FALLBACK
        self.status[converged] = _CONVERGED
        grow = rows & ~in_hull & ~converged & ~spent
        held = ((self.slot == best[:, None]) & self.act).any(dim=1)
        self.status[grow & held] = _STALLED
        grow &= ~held
        entered = self.append(grow, best)
        self.status[grow & ~entered] = _STALLED

    def minor(self, rows: torch.Tensor, alpha: torch.Tensor) -> None:
        """Wolfe's minor step for the rows ``rows`` (a mask): towards ``alpha`` until the
        first weight is zero, drop it."""
        lam = self.lam
        falling = rows[:, None] & self.act & (alpha <= 0)
        # lam − alpha > 0 where alpha ≤ 0 < lam; the new point (lam = 0) may tie at alpha = 0
        step = lam / (lam - alpha).clamp_min(torch.finfo(lam.dtype).tiny)
        ratios = torch.where(falling, step, torch.full_like(lam, math.inf))
        theta, first = ratios.min(dim=1)
        theta = torch.where(rows, theta, torch.zeros_like(theta))  # other rows keep lam
        weights = theta[:, None] * alpha + (1 - theta[:, None]) * lam
        weights = torch.where(self.act, weights, torch.zeros_like(weights))
        index = torch.nonzero(rows)[:, 0]
        weights[index, first[index]] = 0.0
        self.drop(rows, self.act & (weights > 0), weights)

    def drop(self, rows, keep, weights) -> None:
        """Keep the slots ``keep`` of the rows ``rows`` (a mask), with ``weights``
        renormalised: one rank-one downdate of ``Ginv`` per dropped slot, which then holds
        zeros (a free slot)."""
        dropped = rows[:, None] & self.act & ~keep
        n = rows.numel()
        while bool(dropped.any()):
            has = dropped.any(dim=1)
            at = dropped.to(torch.uint8).argmax(dim=1)
            column = self.Ginv.gather(2, at[:, None, None].expand(n, self.Ginv.shape[1], 1))
            column = torch.where(has[:, None], column[:, :, 0], torch.zeros_like(column[:, :, 0]))
            pivot = column.gather(1, at[:, None])[:, 0]
            pivot = torch.where(has, pivot, torch.ones_like(pivot))
            self.Ginv.baddbmm_((column / pivot[:, None])[:, :, None], column[:, None, :], alpha=-1)
            index = torch.nonzero(has)[:, 0]
            at = at[index]
            self.Ginv[index, at, :] = 0.0
            self.Ginv[index, :, at] = 0.0
            self.P[index, at] = 0.0
            self.act[index, at] = False
            dropped[index, at] = False
        kept = torch.where(self.act, weights, torch.zeros_like(weights))
        kept = kept / kept.sum(dim=1, keepdim=True)
        self.lam = torch.where(rows[:, None], kept, self.lam)
        self.cnt = self.act.sum(dim=1)
        self.status[rows & (self.cnt == 0)] = _FALLBACK

    def wolfe(self, tol: float, budget: int) -> None:
        """Run the values with status running until each converges, stalls or falls back.
        Rows that stop are set aside while they are the majority (each step then works on
        a batch at least half running) and merged back at the end."""
        parked = []
        while True:
            running = self.status == _RUNNING
            count = int(running.sum())
            if count == 0:
                break
            if 2 * count < running.numel():
                parked.append(self.take(running))
                continue
            alpha = self.affine_weights(running)
            running &= self.status == _RUNNING  # a failed refactorisation stops a row
            positive = running & ((alpha > 0) | ~self.act).all(dim=1)
            minor = running & ~positive
            if bool(minor.any()):
                self.minor(minor, alpha)  # first: a major step may add slots
            self.lam = torch.where(positive[:, None] & self.act, alpha, self.lam)
            self.lam = torch.where(positive[:, None] & ~self.act, 0.0, self.lam)
            if bool(positive.any()):
                self.major(positive, tol, budget)
        if parked:
            self.merge(parked)


def _refined(Ginv, P, act):
    """The affine weights ``Ginv 1`` (normalised), refined by one step with the residual of
    ``[1; Pᵀ] z ≈ e₁``, and that step's size relative to ``z``."""
    active = act.to(P.dtype)
    z = (Ginv @ active[:, :, None])[:, :, 0]
    first = 1 - z.sum(dim=1)
    rest = -(z[:, None, :] @ P)[:, 0]
    back = active * first[:, None] + (P @ rest[:, :, None])[:, :, 0]
    step = (Ginv @ back[:, :, None])[:, :, 0]
    z = z + step
    size = torch.linalg.vector_norm(z, dim=1)
    return z / z.sum(dim=1, keepdim=True), torch.linalg.vector_norm(step, dim=1) / size


class _Screen:
    """Gram-form margins of directions against every value, in chunks of ``SCREEN_ENTRIES``,
    with a rigorous lower bound on each exact margin (module docstring, step 3).

    For value ``i``, direction ``u`` and competitor ``j`` (inputs taken as exact reals) one
    matrix product each gives ``L_ij ≤ <w_i − w_j, u>`` and ``H_ij ≥ ‖w_i − w_j‖²``, with
    the rounding bound folded into the product's terms:

    * ``H = [(1 + k)‖w_i‖² + t] + (1 + k)‖w_j‖² − 2<w_i, w_j> + 2k‖w_i‖‖w_j‖``, which is
      ``‖w_i − w_j‖² + k(‖w_i‖ + ‖w_j‖)² + t``;
    * ``L = [<w_i, u> − kν‖w_i‖ − t] − <w_j, u> − kν‖w_j‖`` with ``ν ≥ ‖u‖`` for the chunk.

    Every term is at most ``(1 + k)(‖w_i‖ + ‖w_j‖)²`` (resp. ``(1 + k)ν(‖w_i‖ + ‖w_j‖)``)
    in magnitude (Cauchy–Schwarz), the bracket is rounded once more before it enters, and
    each value passes through at most ``m + 5`` roundings, norms included; so with
    ``k = 3γ_{m+5}`` (the float64 model of :mod:`theory.rounding`, its safety factor, and
    ``t`` an allowance for underflow in every product) the added terms exceed the rounding
    of the computed sums. Then ``L/√H`` is a lower bound on the exact margin where
    ``L > 0``, up to the two roundings of the quotient, which the comparison's slack
    (:data:`theory.rounding.COMPARISON_SLACK`) covers; where ``L ≤ 0`` it only ranks the
    competitor (its margin may be ≤ 0: always a violation, as thresholds are positive).
    """

    def __init__(self, W: torch.Tensor):
        self.W = W
        self.sq = (W * W).sum(dim=1)
        self.norms = self.sq.sqrt()
        slope, offset = _dot_bound(W.shape[1] + 5)
        self.k = 3 * slope * SAFETY_FACTOR
        self.tiny = 8 * offset + SAFETY_TINY  # underflow in every product, with room
        ones = torch.ones_like(self.norms[:, None])
        self.right = torch.cat([W, self.norms[:, None], ones], dim=1)  # [w_j, ‖w_j‖, 1]
        self.right_u = torch.cat([W, ones], dim=1)  # [w_j, 1]
        self.chunk = max(1, SCREEN_ENTRIES // W.shape[0])

    def _blocks(self, rows):
        for start in range(0, rows.numel(), self.chunk):
            yield slice(start, start + self.chunk), rows[start : start + self.chunk]

    def candidates(self, rows, U, limit: int) -> torch.Tensor:
        """The ``limit`` competitors with the smallest Gram-form margins along ``U``, in
        float32: a heuristic first working set (the verification is what is rigorous)."""
        W32 = self.W.float()
        sq = self.sq.float()
        index = torch.zeros((rows.numel(), limit), dtype=torch.long, device=rows.device)
        for part, block in self._blocks(rows):
            Wb, Ub = W32[block], U[part].float()
            squared = torch.addmm(sq[None, :] + sq[block, None], Wb, W32.T, alpha=-2)
            along = torch.addmm((Wb * Ub).sum(dim=1, keepdim=True), Ub, W32.T, alpha=-1)
            margin = along.div_(squared.clamp_min_(1e-30).sqrt_())
            margin[torch.arange(block.numel(), device=block.device), block] = math.inf
            index[part] = torch.topk(margin, limit, dim=1, largest=False).indices
        return index

    def shortlist(self, rows, U, exclude, valid, length: int, cut):
        """Per row the competitors whose bounds ``L/√H`` along ``U`` are at most ``cut``
        (the value itself and ``exclude[valid]`` left out), or in a row with more than
        ``length`` of them, the ``length`` smallest; and a lower bound on
        the exact margin of every competitor not in the list: ``cut``, or the next bound,
        less its slack (−inf when it is not positive, since ``L/√H`` bounds only positive
        margins). Returns ``(index, listed, rest)``; ``listed`` is False on unused slots.
        A cut costs one comparison per competitor, a selection of the smallest many more."""
        length = min(length, self.W.shape[0] - 1)
        index = torch.zeros((rows.numel(), length), dtype=torch.long, device=rows.device)
        listed = torch.zeros((rows.numel(), length), dtype=torch.bool, device=rows.device)
        rest = self.W.new_full((rows.numel(),), math.inf)
        local = torch.arange(rows.numel(), device=rows.device)
        for part, block in self._blocks(rows):
            bound = self._lower_bounds(block, U[part])
            bound[local[: block.numel()], block] = math.inf
            skip = torch.where(valid[part], exclude[part], block[:, None])
            bound.scatter_(1, skip, math.inf)
            bound.nan_to_num_(nan=-math.inf, posinf=math.inf)  # a NaN proves nothing: list it
            below = bound <= cut[part, None]
            counts = below.sum(dim=1)
            fits = counts <= length
            below &= fits[:, None]  # a row whose list fits: the cut is its rest bound
            row, column = torch.nonzero(below, as_tuple=True)
            counts = torch.where(fits, counts, 0)
            slot = torch.arange(row.numel(), device=row.device) - (counts.cumsum(0) - counts)[row]
            index[part.start + row, slot] = column
            listed[part.start + row, slot] = True
            rest[part] = cut[part]
            over = torch.nonzero(~fits)[:, 0]
            if over.numel():  # the others: the smallest, and the next bound
                values, where = torch.topk(bound[over], length + 1, largest=False)
                index[part.start + over], listed[part.start + over] = (
                    where[:, :length],
                    values[:, :length] < math.inf,
                )
                rest[part.start + over] = values[:, length]
        return index, listed, torch.where(rest > 0, rest * (1 - COMPARISON_SLACK), -math.inf)

    def _lower_bounds(self, block, U) -> torch.Tensor:
        """``L/√H`` (class docstring) for the directions ``U`` of the values ``block``."""
        k, norms, sq, tiny = self.k, self.norms, self.sq, self.tiny
        nu = float(torch.linalg.vector_norm(U, dim=1).max()) * SAFETY_FACTOR
        Wb = self.W[block]
        own = (Wb * U).sum(dim=1) - k * nu * norms[block] - tiny
        left = torch.cat([-2 * Wb, 2 * k * norms[block, None], (1 + k) * sq[block, None] + tiny], 1)
        squared = torch.addmm((1 + k) * sq[None, :], left, self.right.T)
        low = torch.addmm(
            -k * nu * norms[None, :], torch.cat([-U, own[:, None]], 1), self.right_u.T
        )
        return low.div_(squared.sqrt_())  # H ≥ t > 0: no 0/0


@contextlib.contextmanager
def _single_threaded(device: torch.device):
    """One CPU thread inside: Wolfe's steps are many small tensor operations, where
    intra-op threads cost more than they gain, and on a loaded machine each operation waits
    for every thread to be scheduled (measured at load 4.5 on 2 cores: 12 ms per operation
    against 0.07–6 ms single-threaded, and 4.7 against 10.3 ms per value over a whole solve
    at M = 2^14, m = 31 when only Wolfe's loop ran single-threaded)."""
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _drift(u: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """An upper bound on ``‖u − seen‖``: how far any margin ``<a_ij, ·>`` (unit ``a_ij``) can
    move between the two directions (the norm's rounding is far inside the safety factor)."""
    return torch.linalg.vector_norm(u - seen, dim=1) * SAFETY_FACTOR + SAFETY_TINY


def _margin_rounding(dim: int) -> float:
    """Bound on the float64 rounding of one differences-first margin ``<a_ij, u>``: the
    difference (``u`` per entry), its norm (``γ_{m+1}``), the dot product (``γ_m``) and the
    quotient, each relative to ``‖u‖ ≤ 1 + ε``; ``γ_{2m+6}`` covers them with room."""
    return gamma(2 * dim + 6, _U) * SAFETY_FACTOR + SAFETY_TINY


class _BatchSolver:
    def __init__(self, W: torch.Tensor, tol: float):
        self.W, self.tol = W, tol
        self.screen = _Screen(W)
        self.budget = 50 * (W.shape[1] + 1) + 1000  # theory.min_norm_point's step budget
        self.delta = _margin_rounding(W.shape[1])

    def solve(self, rows: torch.Tensor) -> tuple[list[ValueDecodability], list[int]]:
        """Certificates for the values ``rows`` it certifies, and the values left to theory."""
        screen = self.screen
        centred = self.W[rows] - self.W.mean(dim=0)
        size = torch.linalg.vector_norm(centred, dim=1, keepdim=True)
        start = centred / torch.where(size > 0, size, torch.ones_like(size))
        cand = screen.candidates(rows, start, min(CANDIDATES, self.W.shape[0] - 1))
        state = _Corrals(self.W, rows, cand, torch.ones_like(cand, dtype=torch.bool))
        done: list[ValueDecodability] = []
        fallback: list[int] = []
        for _ in range(MAX_ROUNDS):
            state.wolfe(self.tol, self.budget)
            u, lower, upper = state.bounds()
            # theory decides the values it would not certify here either
            hopeless = (state.status == _FALLBACK) | ~(lower > 0) | ~(upper > self.tol)
            fallback += state.rows[hopeless].tolist()
            state.take(~hopeless)
            u, threshold = u[~hopeless], lower[~hopeless] + self.delta
            lower, upper = lower[~hopeless], upper[~hopeless]
            stale = ~(state.rest - _drift(u, state.seen) > threshold)
            if stale.any():
                stale = torch.nonzero(stale)[:, 0]
                self._rescreen(state, stale, u, threshold[stale] + SHORTLIST_WINDOW)
            margins = self._shortlist_margins(state, u)
            hit = ~(margins - self.delta > threshold[:, None]) & state.short_ok
            final = ~hit.any(dim=1) & (state.rest - _drift(u, state.seen) > threshold)
            done += self._certificates(state, final, u, lower, upper, fallback)
            stalled = ~final & (state.status == _STALLED)
            fallback += state.rows[stalled].tolist()
            resume = torch.nonzero(~final & ~stalled)[:, 0]
            # the most violated shortlisted competitors join the candidates
            width = min(ADD_PER_ROUND, margins.shape[1])
            ranked = torch.where(hit, margins, torch.full_like(margins, math.inf))
            order = torch.argsort(ranked[resume], dim=1, stable=True)[:, :width]
            added = hit[resume].gather(1, order)
            state.short_ok[resume[:, None], order] &= ~added
            state.status[resume] = _RUNNING
            state.extend(resume, state.short[resume].gather(1, order), added)
            keep = torch.zeros_like(final)
            keep[resume] = True
            state.take(keep)
            if state.rows.numel() == 0:
                break
        fallback += state.rows.tolist()
        return done, fallback

    def _rescreen(self, state, rows, u, cut) -> None:
        """A full screen of ``rows`` along ``u``: new shortlists and bounds on the rest."""
        short, listed, rest = self.screen.shortlist(
            state.rows[rows], u[rows], state.cand[rows], state.valid[rows], SHORTLIST, cut
        )
        if state.short.shape[1] != short.shape[1]:  # first screen of this batch
            state.short = short.new_zeros((state.short.shape[0], short.shape[1]))
            state.short_ok = state.short_ok.new_zeros(state.short.shape)
        state.short[rows], state.short_ok[rows] = short, listed
        state.rest[rows], state.seen[rows] = rest, u[rows]

    def _shortlist_margins(self, state, u) -> torch.Tensor:
        """Differences-first margins ``<a_ij, u>`` of the shortlisted competitors (+inf for
        those already candidates; −inf for a zero or underflowing difference)."""
        diffs = self.W[state.rows][:, None, :] - self.W[state.short]
        norms = torch.linalg.vector_norm(diffs, dim=2)
        margins = (diffs @ u[:, :, None])[:, :, 0] / norms
        margins = torch.where(norms < _TINY_NORM, -math.inf, margins)
        return torch.where(state.short_ok, margins, math.inf)

    def _certificates(self, state, final, u, lower, upper, fallback) -> list[ValueDecodability]:
        """Theory's certificates for the values ``final`` whose bounds pass its acceptance."""
        limit = GAP_ACCEPT + GAP_FLOOR_ULPS * np.finfo(float).eps / upper
        accepted = final & (upper - lower <= limit)
        fallback += state.rows[final & ~accepted].tolist()
        picked = torch.nonzero(accepted)[:, 0]
        if picked.numel() == 0:
            return []
        support = state.cand.gather(1, state.slot)[picked].cpu().numpy()
        weights = state.lam[picked].cpu().numpy()
        slots = state.act[picked].cpu().numpy()
        index = state.rows[picked].cpu().numpy()
        u_star = u[picked].cpu().numpy()
        low, high = lower[picked].cpu().numpy(), upper[picked].cpu().numpy()
        return [
            ValueDecodability(
                int(index[t]),
                min(float(low[t]), 1.0),
                u_star[t].copy(),
                float(low[t]),
                float(high[t]),
                float(high[t] - low[t]),
                support[t, slots[t]].astype(np.int64),
                weights[t, slots[t]],
                None,
                None,
                False,
                "batched",
                "optimal",
            )
            for t in range(picked.numel())
        ]


def batched_decodability(
    values,
    *,
    indices=None,
    tol: float = UNDECODABLE_TOL,
    progress: bool = False,
    stop_below: float | None = None,
    device="cpu",
) -> Decodability:
    """:func:`theory.rho.decodability`, batched in float64 torch on ``device`` (module
    docstring): the same :class:`theory.rho.Decodability`, with certificates of method
    ``"batched"`` and, for the values it leaves to theory, theory's own (``"mnp"``).

    ``stop_below`` stops after the first wave of batches (one per CPU thread) holding a value
    below it (batches grow from 32 values, so a failing screen stays cheap); the values not
    reached are NaN.

    Raises
    ------
    InvalidInputError
        As :func:`theory.rho.decodability`, and for an unavailable ``device``.
    SolverError
        From theory's solver, for a value that it cannot certify either.
    """
    V = as_matrix("values", values)
    n_values, dim = V.shape
    if indices is None:
        chosen = np.arange(n_values)
    else:
        requested = as_index_vector("indices", indices, upper=n_values)
        _, first = np.unique(requested, return_index=True)
        chosen = requested[np.sort(first)]  # repeats dropped, order kept, as in theory
    if (
        n_values == 1
        or chosen.size == 0
        or isinstance(tol, bool)
        or not isinstance(tol, (int, float))
        or not 0 < tol < 1
        or (stop_below is not None and not isinstance(stop_below, (int, float)))
    ):  # theory answers or refuses these in its own words
        return decodability(V, indices=chosen, tol=tol, stop_below=stop_below)
    if stop_below is not None and not math.isfinite(stop_below):
        raise InvalidInputError(f"stop_below must be a finite number, got {stop_below!r}")
    device = resolve_device(device)
    # A power of two brings max |V| into [1/2, 1), exactly (ρ and u* are scale-invariant).
    scale = 2.0 ** -float(np.frexp(np.abs(V).max())[1])
    W = torch.as_tensor(V * scale, dtype=torch.float64, device=device)
    solver = _BatchSolver(W, tol)
    full = min(MAX_BATCH, max(64, STATE_ENTRIES // ((CANDIDATES + 4 * ADD_PER_ROUND) * dim)))
    parts, start, size = [], 0, full if stop_below is None else 32
    while start < chosen.size:  # with stop_below, batches of 32, 64, … values
        parts.append(chosen[start : start + size])
        start, size = start + size, min(full, 2 * size)

    def solve(part: np.ndarray) -> list[ValueDecodability]:
        done, left = solver.solve(torch.as_tensor(part, device=device))
        if left:
            done += decodability(V, indices=left, tol=tol).certificates
        by_index = {cert.index: cert for cert in done}
        return [by_index[int(i)] for i in part]

    # Independent batches, a wave of one per CPU thread (a batch's own work is single-
    # threaded; OpenMP's thread count is per calling thread, so each worker sets its own);
    # results in batch order, the same as one at a time.
    workers = torch.get_num_threads() if device.type == "cpu" else 1
    pool = ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,))
    certificates: list[ValueDecodability] = []
    with progress_bar("decodability ρ_i (batched)", chosen.size, show=progress) as advance:
        with _single_threaded(device), pool:
            for wave in range(0, len(parts), workers):
                group = parts[wave : wave + workers]
                lowest = math.inf
                for part, done in zip(group, pool.map(solve, group), strict=True):
                    certificates += done
                    lowest = min([lowest] + [cert.rho for cert in done])
                    advance(part.size)
                if stop_below is not None and lowest < stop_below:
                    break
    return _collect(V.shape, certificates)


def _collect(shape, certificates) -> Decodability:
    rho = np.full(shape[0], np.nan)
    gap = np.full(shape[0], np.nan)
    u_star = np.zeros(shape)
    for cert in certificates:
        rho[cert.index], gap[cert.index], u_star[cert.index] = cert.rho, cert.gap, cert.u_star
    undecodable = np.sort(
        np.array([c.index for c in certificates if c.undecodable], dtype=np.int64)
    )
    return Decodability(rho, u_star, gap, undecodable, tuple(certificates), "batched")


def decoder_decodability(
    values, indices, *, device="cpu", progress: bool = False, stop_below=None
) -> Decodability:
    """The construction's decodability solves: :func:`batched_decodability` from
    ``BATCHED_MIN_VALUES`` values on, :func:`theory.rho.decodability` below."""
    if np.shape(values)[0] < BATCHED_MIN_VALUES:
        return decodability(values, indices=indices, progress=progress, stop_below=stop_below)
    return batched_decodability(
        values, indices=indices, progress=progress, stop_below=stop_below, device=device
    )


def build_decoder_batched(
    values, fact_map, projection, *, device="cpu", progress: bool = False
) -> Decoder:
    """:func:`theory.decoder.build_decoder` with the solves of :func:`decoder_decodability`:
    the same :class:`theory.decoder.Decoder` (codes are the separators of ``W = V P``)."""
    V = as_matrix("values", values)
    if V.shape[0] < BATCHED_MIN_VALUES:
        return build_decoder(V, fact_map, projection, progress=progress)
    P = as_matrix("projection", projection)
    if P.shape[0] != V.shape[1]:
        raise InvalidInputError(
            f"projection has {P.shape[0]} rows but the values have dimension {V.shape[1]}"
        )
    used = np.unique(as_index_vector("fact_map", fact_map, upper=V.shape[0]))
    dec = batched_decodability(V @ P, indices=used, progress=progress, device=device)
    codes = np.zeros((V.shape[0], P.shape[1]))
    codes[used] = dec.u_star[used]
    return Decoder(projection=P, codes=codes, rho_projected=dec.rho_per_value, used=used)
