"""Strict recall of a fact set by any MLP, chunked so that no F×M logit matrix ever exists.

An MLP ``g`` stores fact ``i`` iff its decoding margin is positive (paper §1):

    margin_i = <g(k_i), v_f(i)> − max_{j ≠ f(i)} <g(k_i), v_j>   (> 0 required; a tie fails)

:func:`recall` computes every margin block by block (keys × values) on a chosen device and
dtype, and returns a :class:`RecallResult`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from numerics.dtypes import ieee_float32_matmuls
from theory.errors import InvalidInputError
from theory.progress import progress_bar
from theory.validation import as_index_vector, as_matrix, require_int

__all__ = ["RecallResult", "recall", "default_chunks"]

#: Logits per (key chunk × value chunk) block of the default chunking: 8 MiB in float32, 16 MiB
#: in float64. Measured (``benchmarks/bench_recall.py --sweep``, 2-core AVX-512 CPU, F = M =
#: 2^15, d = 128, h = 256): float32 took 0.95–1.0 s with blocks of 2^20–2^22 logits and
#: 2.0–2.2 s with 2^24; float64 took 1.9–2.5 s with 2^20–2^21 and 4.1–4.4 s with 2^22–2^24.
#: A block is written by the matmul and read back by the max, which is cheaper while it is
#: small (presumably a cache effect; not measured directly).
LOGIT_BLOCK = 2**21
#: Largest default value chunk; the key chunk is then ``LOGIT_BLOCK // value_chunk``.
MAX_VALUE_CHUNK = 2048
#: Largest default key chunk: ``mlp`` is called on this many keys at once, and its hidden
#: activations (key_chunk × h) must fit in memory for any h a user may bring.
MAX_KEY_CHUNK = 4096
#: Values are copied to the device once when they take at most this many bytes there, or on
#: a CUDA device at most ``VALUE_CACHE_FREE_FRACTION`` of its free memory; beyond that each
#: value block is copied again for every key chunk (bounded device memory).
VALUE_CACHE_BYTES = 2**28
VALUE_CACHE_FREE_FRACTION = 0.25


@dataclass(frozen=True, eq=False)
class RecallResult:
    """Strict recall of a fact set: every margin, the failures and their summary.

    Attributes
    ----------
    accuracy : float
        Fraction of keys with margin > 0 (NaN margins count as failures).
    margins : numpy.ndarray
        (F,) float64, read-only: ``<g(k_i), v_f(i)> − max_{j≠f(i)} <g(k_i), v_j>``, computed in
        ``dtype``; +inf when M = 1 (no competitor).
    failed : tuple[int, ...]
        Sorted indices of the keys whose margin is not > 0.
    min_margin : float
        ``min_i margin_i`` (NaN if some margin is NaN).
    n_facts : int
        F.
    dtype : str
        The compute dtype, e.g. ``"float64"``.
    device : str
        The device the blocks ran on, e.g. ``"cpu"``.
    """

    accuracy: float
    margins: np.ndarray
    failed: tuple[int, ...]
    min_margin: float
    n_facts: int
    dtype: str
    device: str

    @property
    def n_failed(self) -> int:
        return len(self.failed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: no arrays, ``failed`` as a list, and a non-finite
        ``min_margin`` written as the string ``"inf"``, ``"-inf"`` or ``"nan"`` (strict JSON
        has no infinities)."""
        return {
            "accuracy": float(self.accuracy),
            "n_facts": int(self.n_facts),
            "n_failed": self.n_failed,
            "failed": list(self.failed),
            "min_margin": _json_float(self.min_margin),
            "dtype": self.dtype,
            "device": self.device,
        }

    def __repr__(self) -> str:
        return (
            f"RecallResult(accuracy={self.accuracy:.6g}, n_facts={self.n_facts}, "
            f"n_failed={self.n_failed}, min_margin={self.min_margin:.6g}, "
            f"dtype={self.dtype!r}, device={self.device!r})"
        )


def _json_float(value: float) -> float | str:
    return float(value) if math.isfinite(value) else str(value)


def default_chunks(
    n_facts: int, n_values: int, *, key_chunk: int | None = None, value_chunk: int | None = None
) -> tuple[int, int]:
    """The (key_chunk, value_chunk) that :func:`recall` uses, filling in those left ``None``.

    value_chunk = min(M, 2048) and key_chunk = min(F, 4096, max(1, 2^21 // value_chunk)), so a
    block holds at most ``LOGIT_BLOCK`` = 2^21 logits (8 MiB in float32). A chunk given by the
    caller is kept (clipped to F or M) and the other one is sized from it to stay within
    2^21 logits (value_chunk = min(M, max(1, 2^21 // key_chunk)) when only key_chunk is given).

    Examples
    --------
    >>> default_chunks(2**15, 2**15)
    (1024, 2048)
    >>> default_chunks(10, 3)
    (10, 3)
    >>> default_chunks(2**15, 2**15, key_chunk=64)
    (64, 32768)
    """
    if key_chunk is not None:
        key_chunk = min(require_int("key_chunk", key_chunk, 1), n_facts)
    if value_chunk is not None:
        value_chunk = min(require_int("value_chunk", value_chunk, 1), n_values)
    if value_chunk is None:
        if key_chunk is None:
            value_chunk = min(n_values, MAX_VALUE_CHUNK)
        else:
            value_chunk = min(n_values, max(1, LOGIT_BLOCK // key_chunk))
    if key_chunk is None:
        key_chunk = min(n_facts, MAX_KEY_CHUNK, max(1, LOGIT_BLOCK // value_chunk))
    return key_chunk, value_chunk


def _duplicate_groups(values: Tensor) -> np.ndarray | None:
    """Group ids (M,) of bitwise-identical value rows, or ``None`` if all rows are distinct.

    ``values`` is already in the compute dtype, so rows that only collide after rounding (two
    float64 values equal in float32) are duplicates too. Adding 0.0 first turns −0.0 into
    +0.0, so equal vectors have equal bytes (entries are finite).
    """
    raw = (values + 0.0).contiguous().view(torch.uint8).numpy()
    n_rows, n_bytes = raw.shape
    # Pre-filter with a 64-bit linear hash of each row's bytes (sum of words times fixed odd
    # constants, wrapping mod 2^64): rows with a unique hash are distinct, and only the rest
    # are compared exactly. Sorting full rows instead took ~0.13 s at M = 2^15, d = 128.
    pad = (-n_bytes) % 8
    words = np.pad(raw, ((0, 0), (0, pad))) if pad else raw
    words = np.ascontiguousarray(words).view(np.uint64)
    multipliers = np.random.default_rng(0).integers(
        0, 2**63, size=words.shape[1], dtype=np.uint64
    ) * np.uint64(2) + np.uint64(1)
    hashes = (words * multipliers).sum(axis=1, dtype=np.uint64)
    _, hash_inverse, hash_counts = np.unique(hashes, return_inverse=True, return_counts=True)
    candidates = np.flatnonzero(hash_counts[hash_inverse.reshape(-1)] > 1)
    if candidates.size == 0:
        return None
    rows = np.ascontiguousarray(raw[candidates]).view(np.dtype((np.void, n_bytes))).ravel()
    _, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
    if counts.max() == 1:
        return None  # only hash collisions, no equal rows
    groups = np.arange(n_rows, dtype=np.int64)
    groups[candidates] = n_rows + inverse.reshape(-1)  # ids ≥ M cannot clash with singletons
    return groups


class _ValueStore:
    """The values in the compute dtype, served to ``device`` block by block."""

    def __init__(self, values: np.ndarray, device: torch.device, dtype: torch.dtype):
        # A view when dtype is float64 (read-only arrays, e.g. a FactSet's, are copied first:
        # torch cannot view them safely).
        self.host = torch.from_numpy(np.require(values, requirements="W")).to(dtype)
        self.device = device
        nbytes = self.host.numel() * self.host.element_size()
        limit = VALUE_CACHE_BYTES
        if device.type == "cuda":
            # Streaming copies all M values again for every key chunk: at F = M = 2^20,
            # d = 256 in float64, 2 TB of host-to-device copies per recall.
            free = torch.cuda.mem_get_info(device)[0]
            limit = max(limit, int(VALUE_CACHE_FREE_FRACTION * free))
        # On the CPU both branches hand out views of ``host``; the rule matters on a GPU.
        if nbytes <= limit:
            self.resident: Tensor | None = self.host.to(device)
        else:
            self.resident = None

    def block(self, start: int, stop: int) -> Tensor:
        if self.resident is not None:
            return self.resident[start:stop]
        return self.host[start:stop].to(self.device, non_blocking=False)

    def rows(self, index_host: Tensor, index_device: Tensor) -> Tensor:
        if self.resident is not None:
            return self.resident[index_device]
        return self.host[index_host].to(self.device)


def _check_output(
    out: Any, n: int, d: int, dtype: torch.dtype, device: torch.device, start: int
) -> Tensor:
    if not isinstance(out, Tensor):
        raise InvalidInputError(
            f"mlp returned a {type(out).__name__} for keys {start}..{start + n - 1}; "
            "it must return a torch.Tensor"
        )
    if tuple(out.shape) != (n, d):
        raise InvalidInputError(
            f"mlp returned shape {tuple(out.shape)} for keys {start}..{start + n - 1} "
            f"(input shape ({n}, {d})); expected ({n}, {d})"
        )
    if out.dtype != dtype or out.device != device:
        raise InvalidInputError(
            f"mlp returned {out.dtype} on {out.device} for {dtype} input on {device}; "
            "convert the mlp to the recall dtype/device (e.g. GatedMLP(weights.to(...)))"
        )
    return out


def recall(
    mlp: Callable[[Tensor], Tensor],
    factset: Any,
    *,
    key_chunk: int | None = None,
    value_chunk: int | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    progress: bool = False,
) -> RecallResult:
    """Strict recall of ``factset`` by ``mlp``: every decoding margin, chunked.

    .. math::

        margin_i = <g(k_i), v_f(i)> − max_{j ≠ f(i)} <g(k_i), v_j>,
        accuracy = #{i : margin_i > 0} / F.

    Symbols: keys K (F×d), values V (M×d), fact map f : [F] → [M], g = ``mlp``. A tie
    (margin 0) is a failure; with M = 1 there is no competitor and the margin is +inf.

    For each key chunk, ``mlp`` runs once on the chunk (on ``device``, in ``dtype``); the true
    logit is the row-wise dot product <g(k_i), v_f(i)>, and the competitor maximum is a running
    max over value blocks of ``g(K_chunk) V_blockᵀ`` with the true column set to −inf. Memory
    on the device is O(key_chunk·value_chunk + key_chunk·d) beyond the values (kept there once
    when they take ≤ 256 MiB, streamed block by block otherwise).

    Exact ties: values that are bitwise identical in ``dtype`` are detected first; for a key
    whose value has such a duplicate, every copy is masked like the true column and the margin
    is min(margin over the other values, 0), i.e. exactly 0 when the copies are the best
    competitors. A zero output g(k_i) = 0 gives all logits exactly 0, hence margin 0. Any other
    mathematical tie is decided by rounding: |margin| below about d·eps·‖g(k_i)‖·max‖v_j‖ is not
    significant in ``dtype``.

    Parameters
    ----------
    mlp : callable
        Maps a tensor (n×d) on ``device`` in ``dtype`` to a tensor (n×d) of the same dtype and
        device: a :class:`~numerics.mlp.GatedMLP` (converted beforehand), a lambda, ...
        It is called without gradient tracking.
    factset : object
        With ``.keys`` (F×d), ``.values`` (M×d) and ``.fact_map`` (F ints in [0, M)), e.g. a
        ``FactSet``; arrays are validated (finite, consistent shapes) and read as float64.
    key_chunk, value_chunk : int, optional
        Block sizes; ``None`` picks them from :func:`default_chunks` (≤ 2^21 logits a block).
    device : str or torch.device
        Where the mlp and the blocks run; keys are copied there chunk by chunk.
    dtype : torch.dtype
        Floating compute dtype of keys, values, outputs and logits (margins are returned as
        float64 numbers of that precision); float32 matmuls run in IEEE float32, TF32 off
        (:func:`numerics.dtypes.ieee_float32_matmuls`).
    progress : bool
        Show a rich progress bar on stderr (stdout stays clean for JSON output).

    Returns
    -------
    RecallResult

    Raises
    ------
    InvalidInputError
        If the fact set is malformed (missing attribute, non-finite entry, dimension mismatch,
        fact map out of range), an argument is invalid, or ``mlp`` returns something other than
        an (n×d) tensor of ``dtype`` on ``device``.

    Examples
    --------
    >>> import types, numpy as np, torch
    >>> eye = np.eye(3)
    >>> facts = types.SimpleNamespace(keys=eye, values=eye, fact_map=np.array([0, 1, 2]))
    >>> result = recall(lambda x: 2 * x, facts)       # <2e_i, e_i> − <2e_i, e_j> = 2
    >>> result.accuracy, result.margins.tolist()
    (1.0, [2.0, 2.0, 2.0])
    >>> swapped = types.SimpleNamespace(keys=eye, values=eye, fact_map=np.array([1, 0, 2]))
    >>> recall(lambda x: x, swapped).failed            # e_0 decodes to v_0, not v_1
    (0, 1)
    >>> twins = types.SimpleNamespace(keys=eye[:1], values=np.ones((2, 3)), fact_map=np.array([0]))
    >>> recall(lambda x: x, twins).margins.tolist()    # v_1 = v_0: an exact tie fails
    [0.0]

    References
    ----------
    Paper §1 (storage = strict argmax decoding with dot products).
    """
    if not callable(mlp):
        raise InvalidInputError(f"mlp must be callable, got {type(mlp).__name__}")
    for attribute in ("keys", "values", "fact_map"):
        if not hasattr(factset, attribute):
            raise InvalidInputError(
                f"factset has no attribute {attribute!r} (expected .keys, .values, .fact_map)"
            )
    keys = as_matrix("factset.keys", factset.keys)
    n_facts, dim = keys.shape
    values = as_matrix("factset.values", factset.values, cols=dim)
    n_values = values.shape[0]
    fact_map = as_index_vector("factset.fact_map", factset.fact_map, length=n_facts, upper=n_values)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise InvalidInputError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    try:
        # Resolve through a tensor: "cuda" becomes "cuda:0", which is what outputs report.
        device = torch.empty(0, device=device).device
    except (RuntimeError, TypeError, AssertionError) as exc:
        raise InvalidInputError(
            f"device {device!r} is not an available torch device ({exc})"
        ) from None
    key_chunk, value_chunk = default_chunks(
        n_facts, n_values, key_chunk=key_chunk, value_chunk=value_chunk
    )

    store = _ValueStore(values, device, dtype)
    groups_np = _duplicate_groups(store.host)
    fact_map_host = torch.from_numpy(fact_map)
    fact_map_dev = fact_map_host.to(device)
    if groups_np is not None:
        groups = torch.from_numpy(groups_np).to(device)
        has_copy = torch.from_numpy(np.bincount(groups_np)[groups_np] > 1).to(device)
    margins = np.empty(n_facts, dtype=np.float64)
    neg_inf = float("-inf")

    # IEEE float32 matmuls (no TF32): float32 recall is then the evaluation that
    # numerics.precision.certify_recall's arithmetic model covers.
    with (
        torch.no_grad(),
        ieee_float32_matmuls(),
        progress_bar("recall", n_facts, show=progress) as advance,
    ):
        for start in range(0, n_facts, key_chunk):
            stop = min(start + key_chunk, n_facts)
            # A copy of the chunk: the keys may be read-only (a FactSet's), which torch
            # cannot view safely.
            x = torch.tensor(keys[start:stop], dtype=dtype, device=device)
            out = _check_output(mlp(x), stop - start, dim, dtype, device, start)
            target = fact_map_dev[start:stop]
            true_logit = (out * store.rows(fact_map_host[start:stop], target)).sum(dim=1)
            best = torch.full((stop - start,), neg_inf, dtype=dtype, device=device)
            if groups_np is not None:
                target_group = groups[target]
            for v_start in range(0, n_values, value_chunk):
                v_stop = min(v_start + value_chunk, n_values)
                logits = out @ store.block(v_start, v_stop).T
                if groups_np is None:
                    # Mask only the true column: (row r, column f(r) − v_start) when f(r) is
                    # in this block; the competitor max then never sees the true logit.
                    rows = torch.nonzero((target >= v_start) & (target < v_stop)).squeeze(1)
                    logits[rows, target[rows] - v_start] = neg_inf
                else:
                    # Mask every copy of the true value (its whole duplicate group), so that
                    # rounding differences between the row-wise dot and the matmul cannot turn
                    # an exact tie into a spurious win; the tie is restored below.
                    same = groups[v_start:v_stop].unsqueeze(0) == target_group.unsqueeze(1)
                    logits.masked_fill_(same, neg_inf)
                torch.maximum(best, logits.amax(dim=1), out=best)
            margin = true_logit - best
            if groups_np is not None:
                margin = torch.where(has_copy[target], margin.clamp(max=0.0), margin)
            margins[start:stop] = margin.to(device="cpu", dtype=torch.float64).numpy()
            advance(stop - start)

    margins.setflags(write=False)
    failed = np.flatnonzero(~(margins > 0))
    return RecallResult(
        accuracy=(n_facts - failed.size) / n_facts,
        margins=margins,
        failed=tuple(failed.tolist()),
        min_margin=float(np.min(margins)),
        n_facts=int(n_facts),
        dtype=str(dtype).removeprefix("torch."),
        device=str(device),
    )
