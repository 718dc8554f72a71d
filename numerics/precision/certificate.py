"""Precision certificates: which facts provably decode when a gated MLP runs in float32,
bfloat16 or float16, on any machine that follows the arithmetic model.

A cast-and-check (``float32_recall`` of a construction) only says that recall stayed 1 after casting,
on this machine's kernels. :func:`certify_recall` proves more: for every key ``i`` it bounds

.. math::

    margin_i = <g(k_i), v_{f(i)}> − max_{j ≠ f(i)} <g(k_i), v_j>,
    g(x) = D(σ(Gx + b_G) ⊙ (Ax + b_A)) + b_D,

from below in exact arithmetic (the float64 weights and embeddings taken as exact reals),
and bounds the error of every logit computed in the format. Key ``i`` is **certified** iff,
for every competitor ``j ≠ f(i)``,

.. math::

    \\underline{<g(k_i), v_{f(i)} − v_j>} > E_{i, f(i)} + E_{i, j},

where ``E_{i,j}`` bounds ``|computed <g(k_i), v_j> − exact|``, **or** (the refinement, for
the competitors where that fails) the lower bound exceeds ``E^pair_{i,j}``, a bound on the
error of the computed difference itself in which the error of ``g`` enters only through
``v_{f(i)} − v_j`` and the hidden error only through ``Dᵀ(v_{f(i)} − v_j)``
(:func:`~numerics.precision.propagation.pair_errors`). The computed argmax is then ``f(i)`` under every evaluation the
model allows (any summation order, FMA or not, wider accumulators, flush to zero or gradual
underflow). ``margin_error = E_{i,f(i)} + max_j E_{i,j}`` bounds ``|margin computed in the
format − exact margin|``; ``worst_margin_over_bound`` is ``min_i margin_lower_i /
margin_error_i``.

Arithmetic model (:mod:`theory.rounding` has the details and the constants; the
certificate's ``model`` field states it in words): inputs, values and weights rounded to
the format once (``|δ| ≤ u``, u = 2^-24 float32, 2^-8 bfloat16, 2^-11 float16, plus an
absolute ``η ≤ λ``, the smallest normal, for underflow); each dot product of length ``n``
(bias = one more term) in the format in any order with error ``≤ γ_n Σ|x_i y_i| +
2nλ(1 + γ_n)``, ``γ_n = nu/(1 − nu)`` (no bound when ``nu ≥ 1``: nothing certified), where
in the down projection's ``γ_n`` only the terms that may be nonzero count (a ReLU neuron
whose computed gate input is provably negative gives an exact zero, and adding zero is
exact in IEEE arithmetic; the sparse encoder's keys each turn on a few caps); the
activation within ``k u |σ(x)| + k_x u |x| + λ`` of σ at its computed input (silu k = 4,
k_x = 1/16; gelu k = 4, k_x = 8; relu and identity exact), with the input error propagated
through ``sup |σ'|`` on an interval around the reference (1.0999 silu, 1.1290 gelu, 1
relu/identity globally; smaller tails, 0 for relu when the interval is negative); the
product ``σ ⊙ a`` one rounding; overflow anywhere (an activation input of ``Ω/2`` or more
counts): key uncertified; TF32 off.

Propagation (:mod:`numerics.precision.propagation`): componentwise absolute bounds, per
key, vectorised in torch float64 over key chunks on ``device``. For every intermediate ``q`` the float64 reference ``q̃`` (the forward
pass in float64) comes with ``E64_q ≥ |q̃ − q|`` (the same model with u = 2^-53), hence
``A_q = |q̃| + E64_q ≥ |q|``, and the format pass carries ``E_q ≥ |q̂ − q|`` using only
``A`` and ``E`` (never the values this machine happens to compute). For a layer
``q = W y + b`` of length ``n``:

.. math::

    E_q = γ_n (|Ŵ| M_y + |b̂|) + |Ŵ − W| M_y + |W| E_y + |b̂ − b| + 2nλ(1 + γ_n),
    \\quad M_y = A_y + E_y;

for the activation ``E_h = L E_z + k u (A_h + L E_z) + k_x u (A_z + E_z) + λ``; for the
product ``E_p = u M_h M_a + λ + E_h M_a + A_h E_a``; for the logits ``E_j = α·|v_j| + β``
with ``α = (γ_d (1 + u_in) + u_in) M_g + E_g``. Every stage's bound is multiplied by
``1 + 2^-20`` and increased by ``2^-1000`` (float64 rounding of the bound arithmetic), the
final comparisons keep a relative slack of ``2^-49``. The competitors' float64 errors are
bounded by ``α64 · max_j |v_j|`` (one bound for all j; it is ~1e-16 relative).

Cost: two F×M×d float64 matmuls (reference logits and ``α |V|ᵀ``) plus about five
float64 passes through each layer, and O(d·h) per refined (key, competitor) pair, only for
keys whose exact margin is provably positive (at most ``refine_pairs`` pairs); memory
O(chunk · max(h, M)). Bitwise-equal gate rows (with their biases) are evaluated once, and
bitwise-equal down columns are summed per group in the nonnegative products and the pair
bounds (:class:`~numerics.precision.propagation.PreparedMLP`): the construction repeats
each of its N gate rows m times and each code direction r times, so its gate side costs N
columns instead of h = m·N, its down layer's four nonnegative products become sums over
m columns (one per code direction), and a refined pair costs O(d·m) instead of O(d·h).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from numerics.dtypes import resolve_device
from numerics.mlp import GatedMLPWeights
from numerics.precision.propagation import (
    ValueLayouts,
    forward_bounds,
    forward_reference,
    forward_rows,
    logit_coefficients,
    pair_errors,
    prepare,
    upper,
)
from numerics.shared_gates import evaluator
from numerics.strict_recall import RecallResult, recall
from theory.errors import InvalidInputError
from theory.rounding import (
    CERTIFIABLE_FORMATS,
    COMPARISON_SLACK,
    MAX_LENGTH,
    SAFETY_FACTOR,
    FloatFormat,
    arithmetic_model,
    float_format,
    gamma,
)
from theory.validation import as_index_vector, as_matrix, require_int

__all__ = ["PrecisionCertificate", "certify_recall", "logit_error_bounds"]

_F64 = torch.float64
#: Elements of each of the two float64 logit buffers (key chunk × M); 16× more on CUDA,
#: where each chunk's fixed cost (kernel launches, host synchronisations) would otherwise
#: dominate: at M = 2^20 the CPU block is 8 keys, 131,072 chunks (1 GiB per buffer there).
_LOGIT_BLOCK = 2**23
_LOGIT_BLOCK_CUDA = 2**27
#: Default budget of (key, competitor) pairs for the refined difference bound.
REFINE_PAIRS = 2**20


@dataclass(frozen=True, eq=False)
class PrecisionCertificate:
    """Per-key precision certificate of a gated MLP and a fact set (see the module docstring).

    Attributes
    ----------
    dtype, activation, device : str
        The certified format, the MLP's σ, where the bounds were computed.
    bounded : bool
        False when ``n u ≥ 1`` for some dot-product length ``n`` (e.g. bfloat16 with
        h ≥ 256): the model gives no bound and no key is certified; only the float64
        margins are computed then (``margin_lower`` −inf, ``margin_error`` inf).
    certified : ndarray of bool, shape (F,)
        Key ``i`` decodes to ``f(i)`` under every evaluation the model allows.
    margin_lower : ndarray, shape (F,)
        Rigorous lower bound of the exact margin (``inf`` when M = 1).
    margin_error : ndarray, shape (F,)
        Rigorous upper bound of ``|margin computed in dtype − exact margin|``
        (``E_f(i) + max_j E_j``; ``inf`` when there is no bound).
    ratio : ndarray, shape (F,)
        ``margin_lower / margin_error`` (0 where a bound overflowed or does not exist); a key
        with ratio > 1 is certified, and the per-competitor tests can certify more.
    refined : ndarray of bool, shape (F,)
        Certified only by the refined pair bound (the logit-wise test failed).
    refined_ratio : ndarray, shape (F,)
        For keys that went through the refinement: ``min_j lower(<g, v_f(i) − v_j>) /
        E_pair(i, j)`` over the competitors the logit-wise test failed (> 1: certified;
        for a key whose hardest competitor already fails, that competitor's ratio); NaN for
        the others.
    refine_skipped : int
        Keys that could have been refined but did not fit in ``refine_pairs``.
    overflow : ndarray of bool, shape (F,)
        Some intermediate magnitude bound reached the format's largest finite number
        (all False when not ``bounded``).
    margins_float64 : ndarray, shape (F,)
        The float64 margins of the reference pass.
    observed : RecallResult or None
        Recall computed in ``dtype`` with torch on ``device`` (:func:`~numerics.recall`,
        TF32 off, the MLP evaluated by :func:`numerics.shared_gates.evaluator`), when
        observed (``None`` also when a weight or value overflows the format);
        ``margins_observed`` are its margins.
    model : str
        The arithmetic model, in words.
    seconds, observe_seconds : float
        Time of the bounds and of the observed evaluation.
    """

    dtype: str
    activation: str
    device: str
    bounded: bool
    certified: np.ndarray
    margin_lower: np.ndarray
    margin_error: np.ndarray
    ratio: np.ndarray
    refined: np.ndarray
    refined_ratio: np.ndarray
    refine_skipped: int
    overflow: np.ndarray
    margins_float64: np.ndarray
    observed: RecallResult | None
    model: str
    seconds: float
    observe_seconds: float

    @property
    def n_facts(self) -> int:
        return int(self.certified.size)

    @property
    def margins_observed(self) -> np.ndarray | None:
        return None if self.observed is None else self.observed.margins

    @property
    def certified_fraction(self) -> float:
        return float(self.certified.mean())

    @property
    def uncertified(self) -> tuple[int, ...]:
        """Indices of the keys not certified."""
        return tuple(np.flatnonzero(~self.certified).tolist())

    @property
    def worst_margin_over_bound(self) -> float:
        """``min_i margin_lower_i / margin_error_i`` (above 1: every key certified)."""
        return float(self.ratio.min())

    @property
    def worst_refined_ratio(self) -> float | None:
        """The smallest ``refined_ratio`` (None when no key went through the refinement)."""
        tried = self.refined_ratio[~np.isnan(self.refined_ratio)]
        return float(tried.min()) if tried.size else None

    def _bound_over_observed(self) -> np.ndarray:
        if self.margins_observed is None:
            return np.empty(0)
        observed = np.abs(self.margins_observed - self.margins_float64)
        keep = np.isfinite(observed) & (observed > 0) & np.isfinite(self.margin_error)
        return self.margin_error[keep] / observed[keep]

    @property
    def bound_over_observed(self) -> float | None:
        """Median over keys with a nonzero observed error of ``margin_error_i / |margin in
        dtype on this machine − float64 margin|`` (``None`` when not observed or no key had
        an error)."""
        ratios = self._bound_over_observed()
        return float(np.median(ratios)) if ratios.size else None

    @property
    def bound_over_observed_min(self) -> float | None:
        """The smallest such ratio (below 1 would contradict the bound, up to the float64
        reference error)."""
        ratios = self._bound_over_observed()
        return float(ratios.min()) if ratios.size else None

    @property
    def bound_over_worst_observed(self) -> float | None:
        """``max_i margin_error_i / max_i |observed error_i|`` (None when not observed)."""
        ratios = self._bound_over_observed()
        if not ratios.size:
            return None
        observed = np.abs(self.margins_observed - self.margins_float64)
        finite = np.isfinite(observed) & np.isfinite(self.margin_error)
        return float(self.margin_error[finite].max() / observed[finite].max())

    @property
    def observed_recall(self) -> float | None:
        """Recall in ``dtype`` on this machine (``None`` when not observed)."""
        if self.margins_observed is None:
            return None
        return float(np.mean(self.margins_observed > 0))

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary (``factmlp certify --json``)."""
        return {
            "dtype": self.dtype,
            "activation": self.activation,
            "device": self.device,
            "n_facts": self.n_facts,
            "certified_fraction": self.certified_fraction,
            "n_certified": int(self.certified.sum()),
            "uncertified": list(self.uncertified),
            "worst_margin_over_bound": self.worst_margin_over_bound,
            "n_refined": int(self.refined.sum()),
            "worst_refined_ratio": self.worst_refined_ratio,
            "refine_skipped": self.refine_skipped,
            "bound_over_observed": self.bound_over_observed,
            "bound_over_observed_statistic": "median over keys with a nonzero observed error",
            "bound_over_observed_min": self.bound_over_observed_min,
            "bound_over_worst_observed": self.bound_over_worst_observed,
            "bounded": self.bounded,
            "observed_recall": self.observed_recall,
            "overflow_keys": int(self.overflow.sum()),
            "min_margin_float64": float(self.margins_float64.min()),
            "seconds": self.seconds,
            "observe_seconds": self.observe_seconds,
            "model": self.model,
        }


def _inputs(weights, factset):
    if not isinstance(weights, GatedMLPWeights):
        raise InvalidInputError(f"weights must be a GatedMLPWeights, got {type(weights).__name__}")
    for attribute in ("keys", "values", "fact_map"):
        if not hasattr(factset, attribute):
            raise InvalidInputError(
                f"factset has no attribute {attribute!r} (expected .keys, .values, .fact_map)"
            )
    keys = as_matrix("factset.keys", factset.keys)
    values = as_matrix("factset.values", factset.values, cols=keys.shape[1])
    fact_map = as_index_vector(
        "factset.fact_map", factset.fact_map, length=keys.shape[0], upper=values.shape[0]
    )
    if weights.dim != keys.shape[1]:
        raise InvalidInputError(
            f"the MLP has dimension {weights.dim} but the fact set has dimension {keys.shape[1]}"
        )
    return keys, values, fact_map


def certify_recall(
    weights,
    factset,
    dtype: str = "float32",
    *,
    device: str | torch.device = "cpu",
    observe: bool = True,
    key_chunk: int | None = None,
    refine_pairs: int = REFINE_PAIRS,
    reference: RecallResult | None = None,
) -> PrecisionCertificate:
    """Certify, key by key, that ``weights`` decodes ``factset`` when evaluated in ``dtype``.

    Parameters
    ----------
    weights : GatedMLPWeights
        Any dtype; its entries are taken as exact reals (converted to float64 exactly).
    factset : object
        With ``.keys`` (F×d), ``.values`` (M×d), ``.fact_map`` (F), e.g. a ``FactSet``; read
        as float64 and taken as exact.
    dtype : str
        ``float32``, ``bfloat16`` or ``float16`` (:data:`theory.rounding.CERTIFIABLE_FORMATS`).
    device : str or torch.device
        Where the float64 bounds (and the observed evaluation) run.
    observe : bool
        Also evaluate recall in ``dtype`` with torch on ``device`` (TF32 off) and compare
        its margins with the bounds (``bound_over_observed``).
    key_chunk : int, optional
        Keys per block (default: about 2^23 / max(M, d, h), 2^27 / max(M, d, h) on CUDA).
    refine_pairs : int
        At most this many (key, competitor) pairs, among those the logit-wise test fails
        for keys with a positive margin lower bound, get the refined pair bound
        (:func:`~numerics.precision.propagation.pair_errors`, O(h·d) each); 0 turns the
        refinement off. A key whose pairs do not fit in what is left is not refined
        (counted in ``refine_skipped``).
    reference : RecallResult, optional
        The float64 recall of these weights on this fact set (:func:`~numerics.recall`),
        when the caller has it: where the model gives no bound, its margins are the
        certificate's ``margins_float64`` (all it has to report besides the observation)
        instead of a pass of its own. Ignored where there is a bound (the bounds come with
        their own reference pass).

    Returns
    -------
    PrecisionCertificate

    Raises
    ------
    InvalidInputError
        For an unknown dtype, a malformed fact set, a dimension mismatch, or a device that
        is not available.

    Examples
    --------
    >>> import types, numpy as np, torch
    >>> from numerics.mlp import GatedMLPWeights
    >>> eye = torch.eye(2, dtype=torch.float64)
    >>> w = GatedMLPWeights(eye, eye, eye, activation="identity", gate_bias=torch.ones(2, dtype=torch.float64))
    >>> facts = types.SimpleNamespace(keys=np.eye(2), values=np.eye(2), fact_map=np.array([0, 1]))
    >>> cert = certify_recall(w, facts, "float32", observe=False)   # g(e_i) = 2 e_i
    >>> cert.certified_fraction, bool(cert.worst_margin_over_bound > 1e5)
    (1.0, True)
    """
    if dtype not in CERTIFIABLE_FORMATS:
        raise InvalidInputError(
            f"dtype {dtype!r} cannot be certified; choose one of {', '.join(CERTIFIABLE_FORMATS)}"
        )
    return _certify(
        weights, factset, float_format(dtype), device, observe, key_chunk, refine_pairs, reference
    )


def _certify(
    weights, factset, fmt: FloatFormat, device, observe, key_chunk, refine_pairs, reference=None
):
    keys, values, fact_map = _inputs(weights, factset)
    device = resolve_device(device)
    n_facts, dim = keys.shape
    n_values = values.shape[0]
    if key_chunk is not None:
        require_int("key_chunk", key_chunk, 1)
    require_int("refine_pairs", refine_pairs, 0)
    if max(dim, weights.hidden) + 1 > MAX_LENGTH:
        raise InvalidInputError(f"dot products longer than {MAX_LENGTH} are not supported")
    start_time = time.perf_counter()
    prep = prepare(weights, fmt, device)
    longest = max(
        dim + int(weights.gate_bias is not None or weights.up_bias is not None),
        prep.hidden + int(weights.down_bias is not None),
    )
    bounded = gamma(longest, fmt.unit_roundoff) < float("inf")
    block = _LOGIT_BLOCK_CUDA if device.type == "cuda" else _LOGIT_BLOCK
    chunk = key_chunk or max(1, min(n_facts, block // max(n_values, dim, prep.hidden)))
    vals_t = torch.tensor(values.T, dtype=_F64, device=device)  # d × M, contiguous
    values_overflow = float(vals_t.abs().max()) > fmt.max_finite
    shared = ValueLayouts(vals_t.T.contiguous(), vals_t, vals_t.abs(), fmt)
    fmap = torch.tensor(fact_map, device=device)
    names = ("margin_lower", "margin_error", "ratio", "margins_float64", "refined_ratio")
    out = {name: np.full(n_facts, np.nan) for name in names}
    flags = {name: np.zeros(n_facts, dtype=bool) for name in ("certified", "refined", "overflow")}
    budget = [refine_pairs if bounded else 0]
    given = reference is not None and not bounded  # the float64 margins, nothing to bound
    if given:
        if reference.dtype != "float64" or reference.n_facts != n_facts:
            raise InvalidInputError(
                f"reference must be the float64 recall of these {n_facts} keys, got "
                f"{reference.dtype} recall of {reference.n_facts}"
            )
        out["margins_float64"][:] = reference.margins
    with torch.no_grad():
        logit_buf = torch.empty(chunk, n_values, dtype=_F64, device=device)
        err_buf = torch.empty(chunk, n_values, dtype=_F64, device=device)
        for start in range(0, 0 if given else n_facts, chunk):
            stop = min(start + chunk, n_facts)
            if not bounded:  # no bound to compute: the float64 margins only (one F×M pass)
                result = _margins_chunk(
                    prep, keys[start:stop], fmap[start:stop], shared, logit_buf[: stop - start]
                )
                out["margins_float64"][start:stop] = result
                continue
            result = _certify_chunk(
                prep,
                keys[start:stop],
                fmap[start:stop],
                shared,
                logit_buf[: stop - start],
                err_buf[: stop - start],
                budget,
                prep.weights_overflow or values_overflow,
            )
            for name, array in result.items():
                (out if name in out else flags)[name][start:stop] = array
    seconds = time.perf_counter() - start_time
    if not bounded:  # some n·u ≥ 1: no bound at all, whatever the magnitudes
        flags["certified"][:] = flags["refined"][:] = flags["overflow"][:] = False
        out["ratio"][:] = 0.0
        out["margin_error"][:] = np.inf
        out["margin_lower"][:] = -np.inf
    candidates = (~flags["certified"] | flags["refined"]) & (out["margin_lower"] > 0)
    skipped = int((candidates & np.isnan(out["refined_ratio"]) & ~flags["overflow"]).sum())

    observed, observe_seconds = None, 0.0
    # A weight or value beyond the format's range cannot even be cast: nothing to observe.
    if observe and not (prep.weights_overflow or values_overflow):
        start_time = time.perf_counter()
        observed = _observe(weights, factset, fmt.name, device)
        observe_seconds = time.perf_counter() - start_time
    for array in (*out.values(), *flags.values()):
        array.setflags(write=False)
    return PrecisionCertificate(
        dtype=fmt.name,
        activation=weights.activation,
        device=str(device),
        bounded=bounded,
        model=arithmetic_model(fmt.name, weights.activation)
        if fmt.name in CERTIFIABLE_FORMATS
        else f"custom format {fmt}",
        seconds=seconds,
        observe_seconds=observe_seconds,
        observed=observed,
        refine_skipped=skipped if bounded else 0,
        **out,
        **flags,
    )


def _margins_chunk(prep, keys, target, vals: ValueLayouts, logits) -> np.ndarray:
    """The float64 reference margins of one key chunk, as :func:`_certify_chunk` computes
    them, without its error bounds (for a format whose model gives none at this length)."""
    rows = torch.arange(keys.shape[0], device=target.device)
    torch.matmul(forward_reference(prep, keys, target.device), vals.cols, out=logits)
    true_logit = logits[rows, target].clone()
    logits[rows, target] = -float("inf")
    return (true_logit - logits.amax(dim=1)).cpu().numpy()


def _certify_chunk(prep, keys, target, vals: ValueLayouts, logits, err, budget, overflowing):
    """Bounds of one key chunk; ``logits`` and ``err`` are (c × M) buffers to overwrite,
    ``budget`` a one-element list: the competitor pairs the refinement may still examine."""
    fmt = vals.fmt
    c, dim = keys.shape
    rows = torch.arange(c, device=target.device)
    fwd = forward_rows(prep, keys, fmt, target.device)
    alpha, beta, alpha64, beta64, gd = logit_coefficients(fwd.g, fwd.e64g, fwd.mg, fwd.eg, dim, fmt)
    lam, u_in = fmt.smallest_normal, fmt.input_roundoff
    vmax = vals.col_max
    abs_sum = upper((1 + u_in) * (fwd.mg @ vmax) + lam * fwd.mg.sum(dim=1))  # ≥ Σ|ĝ_i||v̂_ji|
    overflow = fwd.overflow | ((1 + gd) * abs_sum >= fmt.max_finite) | overflowing
    torch.matmul(fwd.g, vals.cols, out=logits)  # float64 reference logits
    torch.matmul(alpha, vals.abs_cols, out=err)  # E_j − β, up to the matmul's rounding
    true_logit = logits[rows, target]
    e_true = upper(err[rows, target] * SAFETY_FACTOR + beta)
    e64_true = upper((alpha64 * vals.abs_rows[target]).sum(dim=1) + beta64)
    e64_other = upper(alpha64 @ vmax + beta64)  # ≥ E64_j for every j
    logits[rows, target] = -float("inf")
    err[rows, target] = 0.0
    best = logits.amax(dim=1)
    e_other = upper(err.amax(dim=1) * SAFETY_FACTOR + beta)  # ≥ max_{j ≠ f(i)} E_j
    # s_j = ℓ̃_j + E_j − β in place; the true column stays −inf.
    worst = err.mul_(SAFETY_FACTOR).add_(logits).amax(dim=1) + beta
    magnitude = upper(fwd.g.abs() @ vmax)  # ≥ |ℓ̃_j| for every j, up to float64 rounding
    slack = COMPARISON_SLACK * (
        true_logit.abs() + magnitude + e_true + e_other + e64_true + e64_other
    )
    floor = true_logit - e64_true - e64_other - slack  # ≤ exact ℓ_t − (ℓ_j − ℓ̃_j + E64_j)
    certified = (floor - e_true > worst) & ~overflow  # every j: floor − ℓ̃_j > E_t + E_j
    margin_lower = floor - best
    margin_error = upper(e_true + e_other)
    ratio = torch.nan_to_num(margin_lower / margin_error, nan=0.0)
    ratio = torch.where(overflow, torch.zeros_like(ratio), ratio)

    candidates = torch.nonzero(~certified & ~overflow & (margin_lower > 0)).squeeze(1)
    threshold = floor - e_true - beta  # competitor j fails the logit-wise test iff s_j ≥ it

    def pair_ratio(i, j):
        e_pair = pair_errors(prep, fwd, i, target[i], j, vals, beta, gd)
        return (floor[i] - logits[i, j] - COMPARISON_SLACK * e_pair) / e_pair

    refined_ratio, refined = _refine(candidates, err, threshold, pair_ratio, budget, c)
    return {
        "margin_lower": margin_lower.cpu().numpy(),
        "margin_error": margin_error.cpu().numpy(),
        "ratio": ratio.cpu().numpy(),
        "margins_float64": (true_logit - best).cpu().numpy(),
        "refined_ratio": refined_ratio.cpu().numpy(),
        "certified": (certified | refined).cpu().numpy(),
        "refined": refined.cpu().numpy(),
        "overflow": overflow.cpu().numpy(),
    }


def _refine(candidates, s, threshold, pair_ratio, budget, c):
    """The refined pair test for the ``candidates`` rows (their margin lower bound is > 0 but
    the logit-wise test failed): ``s[r, j] = ℓ̃_j + E_j − β`` (−inf at the true value),
    ``pair_ratio(i, j)`` the refined ratio of pairs (> 1: pair certified). Each key's hardest
    competitor (largest ``s``) goes first, so a hopeless key costs one pair; the others'
    remaining failing competitors follow while ``budget[0]`` pairs last. Returns the per-key
    refined ratio (min over the pairs examined; NaN where none) and the refined keys."""
    device = s.device
    ratio = torch.full((c,), float("nan"), dtype=_F64, device=device)
    refined = torch.zeros(c, dtype=torch.bool, device=device)
    candidates = candidates[: max(budget[0], 0)]
    if not candidates.numel():
        return ratio, refined
    rows = s[candidates]
    failing = rows >= threshold[candidates].unsqueeze(1)
    hardest = rows.argmax(dim=1)
    budget[0] -= candidates.numel()
    first = pair_ratio(candidates, hardest)
    ratio[candidates] = first
    alive = first > 1
    candidates, hardest, failing = candidates[alive], hardest[alive], failing[alive]
    failing[torch.arange(candidates.numel(), device=device), hardest] = False
    counts = failing.sum(dim=1)
    fits = torch.cumsum(counts, 0) <= budget[0]
    ratio[candidates[~fits]] = float("nan")  # not examined in full: not refined
    candidates, failing = candidates[fits], failing[fits]
    budget[0] -= int(counts[fits].sum())
    worst = torch.full((c,), float("inf"), dtype=_F64, device=device)
    worst[candidates] = ratio[candidates]
    which, j = torch.nonzero(failing, as_tuple=True)
    if j.numel():
        i = candidates[which]
        worst.scatter_reduce_(0, i, pair_ratio(i, j), reduce="amin")
    ratio[candidates] = worst[candidates]
    refined[candidates] = worst[candidates] > 1
    return ratio, refined


def _observe(weights, factset, dtype_name: str, device: torch.device) -> RecallResult:
    """Recall in ``dtype_name`` with torch on ``device``, TF32 off (a sparse encoder's MLP
    evaluated over the neurons on: :mod:`numerics.shared_gates`)."""
    dtype = getattr(torch, dtype_name)
    mlp = evaluator(weights.to(device=device, dtype=dtype))
    return recall(mlp, factset, device=device, dtype=dtype)  # TF32 off: recall sees to it


def logit_error_bounds(
    weights, factset, fmt: FloatFormat, *, device="cpu", pairs=False, group=True, compact=True
):
    """Dense bounds for small problems (F×M matrices): ``(logits64, E64, E, overflow)``.

    ``logits64[i, j]`` is the float64 reference <g(k_i), v_j>, ``E64[i, j] ≥ |logits64 −
    exact|``, ``E[i, j] ≥ |computed in fmt − exact|`` (every j, the true one included).
    With ``pairs=True``, ``E[i, j]`` is instead the refined bound on the error of the
    difference ``<g(k_i), v_f(i) − v_j>`` (``E[i, f(i)] = 0``). ``group=False``: every gate
    row and down column evaluated as given (:func:`~numerics.precision.propagation.prepare`);
    ``compact=False``: every ReLU neuron evaluated, even those off for every key
    (:func:`~numerics.precision.propagation.forward_bounds`).
    """
    keys, values, fact_map = _inputs(weights, factset)
    device = resolve_device(device)
    prep = prepare(weights, fmt, device, group)
    vals_t = torch.tensor(values.T, dtype=_F64, device=device)
    vals = ValueLayouts(vals_t.T.contiguous(), vals_t, vals_t.abs(), fmt)
    with torch.no_grad():
        fwd = forward_bounds(prep, torch.tensor(keys, dtype=_F64, device=device), fmt, compact)
        alpha, beta, alpha64, beta64, gd = logit_coefficients(
            fwd.g, fwd.e64g, fwd.mg, fwd.eg, keys.shape[1], fmt
        )
        logits = fwd.g @ vals.cols
        e = upper(alpha @ vals.abs_cols + beta.unsqueeze(1))
        e64 = upper(alpha64 @ vals.abs_cols + beta64)
        if pairs:
            n_facts, n_values = logits.shape
            i = torch.arange(n_facts, device=device).repeat_interleave(n_values)
            j = torch.arange(n_values, device=device).repeat(n_facts)
            t = torch.tensor(fact_map, device=device)[i]
            e = pair_errors(prep, fwd, i, t, j, vals, beta, gd).reshape(n_facts, n_values)
            e[torch.arange(n_facts), torch.tensor(fact_map)] = 0.0
    return logits.cpu().numpy(), e64.cpu().numpy(), e.cpu().numpy(), fwd.overflow.cpu().numpy()
