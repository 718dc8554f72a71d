"""Near-duplicate keys: the dense encoder on one key per cluster, one gadget neuron per other key.

**Why.** Two keys δ apart with different codes give two rows of the dense system Φ
(:mod:`numerics.construction.encoder_dense`) that differ by O(δ), so κ(Q) grows as 1/δ²
(measured on 512 unit keys, d = 32, one pair moved: 1.9e7 at distance 4.6e-3, 1.9e9 at
4.6e-4, 1.9e11 at 4.6e-5, and the solve misses its codes at 4.6e-6); the construction then
fell back to the whole-set spline (m·F neurons then, 7168 at F = 512). Here the cluster costs
one neuron per extra key. Only the dense encoder is split (``auto`` up to 2^13 keys).

**Detection** (:func:`find_clusters`). Two distinct keys are *near* when
``‖k_i − k_j‖ < NEAR_DISTANCE·s``, ``s`` the keys' spread (RMS distance from their mean). Not
in the dense encoder's whitened coordinates: whitening stretches the weak directions, so a
pair δ apart along one of them (F ≤ d keys) looks far there, and the dense solve succeeds in
float64 with weights so large along that direction that no key is certified in float32
(measured on the fuzzer's near-duplicate sets). A cluster is a connected component of the near
graph that contains a near pair with different codes; its first key (lowest index) is the
representative ``r``, the others are its members. Near keys with one code are a consistent
system, which the dense solve's regularisation already handles: they are left alone (no
cluster, nothing changes). A set without near pairs is not touched at all.

**The gadget** (derived here). Cluster ``C`` with representative ``r``, members ``m_1..m_n``,
every other distinct key in ``O``. Its ``n`` neurons share one gate and read one coordinate
each:

.. math::

    \\mathrm{pre}(x) = s\\,(w·x − θ), \\qquad \\mathrm{up}_i(x) = x_{c_i} − (k_r)_{c_i}, \\qquad
    c(x) = c_{dense}(x) + \\sum_i σ(\\mathrm{pre}(x))\\, \\mathrm{up}_i(x)\\, E_i .

* ``w`` separates the cluster from ``O``: the separator ``u*`` of the cluster's centroid against
  ``O`` (:func:`theory.rho.decodability`; it exists iff the centroid is a vertex of the hull).
  With ``gap = min_C w·k − max_O w·k > 0``, ``s = (1 + ON_RATIO)·T/gap`` and ``θ = max_O w·k
  + T/s``: ``pre ≤ −T`` on ``O`` and ``pre ≥ ON_RATIO·T`` on ``C``.
* ``up_i`` is exactly zero at ``r``, so the gadget leaves the representative's code alone.
* ``E`` (n×m, in code space) solves ``H E = R`` with ``H_{li} = σ(pre(k_{m_l}))·up_i(k_{m_l})``
  and ``R_l = T_{m_l} − c_dense(k_{m_l})``, computed after the dense solve: every member then hits
  its code, whatever the dense map does between ``r`` and the members (O(Lipschitz·δ)).
* On ``O`` the gate is off: ``|σ(−t)| ≤ t e^{−t}`` for SiLU (GELU smaller, ReLU exactly 0), so
  ``T ≥ GATE_MIN`` grows until that leak, times the largest ``Σ_i |up_i(k)|·‖E_i‖`` over ``O``,
  is below ``LEAK`` of the RMS code norm. The codes of the combined encoder are then computed
  at **every** key and checked against the tolerance, as the dense solve checks its own: a miss
  is a :class:`SolverError` (the pipeline then runs the whole-set path as before), never a
  silently wrong MLP.

**Float32.** The up's rounding error is about ``γ_{d+1}(|x_c| + |(k_r)_c|)`` against the signal
``|(k_m − k_r)_c|``, so each neuron reads the coordinate with the largest
``|δ_c| / (2|(k_r)_c| + |δ_c|)`` (for ``n > 1``: a pivoted QR of the differences weighted that
way picks ``n`` coordinates). The certificate (:func:`numerics.precision.certify_recall`) then
judges the whole MLP; :func:`float32_shortfall` names the cluster keys it leaves uncertified
and estimates the distance float32 would need.

**Limits** (each a SolverError, so the whole-set path runs): a cluster whose centroid lies in
the convex hull of the other keys (no hyperplane separates it, e.g. an interior pair in d = 1);
more members than dimensions, or members whose differences from ``r`` are nearly dependent
(a collinear triple); an activation that does not vanish for very negative inputs (identity).

**Parameters.** ``n`` neurons per cluster, ``3d`` each, and the MLP carries gate and up biases
(zero for the dense neurons): ``2h`` more in all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import scipy.linalg
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from numerics.construction.encoder_dense import EncoderSolution, _codes
from numerics.factset import FactSet
from numerics.mlp import ACTIVATIONS, GatedMLPWeights
from numerics.precision.certificate import PrecisionCertificate
from theory.errors import SolverError
from theory.rho import decodability

__all__ = [
    "NEAR_DISTANCE",
    "LOCAL_ACTIVATIONS",
    "Cluster",
    "GadgetSolution",
    "find_clusters",
    "dense_rows",
    "add_gadgets",
    "append_gadgets",
    "gadget_neurons",
    "float32_shortfall",
]

#: Keys closer than this times their spread are near (module docstring). Measured on 512 unit
#: keys in d = 32 with one pair moved (spread ≈ 1): the dense solve alone certifies every key
#: in float32 at distance 4.6e-3, 97.8% at 4.6e-4, 10.7% at 4.6e-5, and misses its codes at
#: 4.6e-6; with the gadget every key is certified from 4.6e-2 down to 4.6e-6.
NEAR_DISTANCE = 1e-4
#: Activations that vanish for very negative inputs, so a gadget can be switched off.
LOCAL_ACTIVATIONS = ("relu", "silu", "gelu")
#: Smallest gate pre-activation magnitude T on the cluster (+T) and on the other keys (−T).
GATE_MIN = 40.0
#: Gate pre-activation on the cluster over its magnitude at the nearest other key: the
#: certificate's SiLU error grows with |pre| at the far keys, against σ on the cluster, so a
#: threshold near the other keys helps them (measured on the 512-key case with one pair
#: 4.6e-8 apart: 95.1% of the keys certified with the midpoint, 99.2% with 16).
ON_RATIO = 16.0
#: Largest leak of a gadget at an other key, relative to the RMS code norm (below float64
#: rounding of the codes).
LEAK = 2.0**-60
#: Largest condition number of a cluster's member-by-coordinate difference matrix.
MAX_MEMBER_CONDITION = 1e10
#: Rows of the keys compared at once when looking for near pairs.
_CHUNK = 256


@dataclass(frozen=True)
class Cluster:
    """Near-duplicate keys: ``keys`` (indices of first occurrences, the representative first)
    and ``distance``, the smallest distance between two of them with different codes."""

    keys: tuple[int, ...]
    distance: float

    @property
    def representative(self) -> int:
        return self.keys[0]

    @property
    def members(self) -> tuple[int, ...]:
        return self.keys[1:]


@dataclass(frozen=True, kw_only=True)
class GadgetSolution(EncoderSolution):
    """A dense solution for one key per cluster plus the clusters' gadget neurons.

    The inherited fields describe the dense part, except ``max_code_error`` and
    ``amplification``, which are those of the combined encoder at every key. Gadget neuron
    ``i`` computes ``σ(gadget_gate[i]·x + gadget_gate_bias[i]) (gadget_up[i]·x +
    gadget_up_bias[i])`` and adds it times ``gadget_codes[i]`` (m) to the code.
    """

    gadget_gate: Tensor
    gadget_gate_bias: Tensor
    gadget_up: Tensor
    gadget_up_bias: Tensor
    gadget_codes: Tensor
    clusters: tuple[Cluster, ...]


def gadget_neurons(enc: EncoderSolution) -> int:
    """Hidden neurons the near-duplicate gadgets add (0 for a solution without them)."""
    return enc.gadget_gate.shape[0] if isinstance(enc, GadgetSolution) else 0


def _near_pairs(z: np.ndarray, radius: float) -> np.ndarray:
    """Pairs (i < j) of rows of ``z`` closer than ``radius``, shape (P, 2) (chunked: O(F·chunk)
    memory)."""
    squared = np.einsum("ij,ij->i", z, z)
    found = []
    for start in range(0, len(z), _CHUNK):
        block = z[start : start + _CHUNK]
        gram = squared[start : start + len(block), None] + squared[None, :] - 2 * block @ z.T
        # the expansion loses about eps·(‖z_i‖² + ‖z_j‖²); widen, then test exactly below
        slack = 1e-12 * (squared[start : start + len(block), None] + squared[None, :])
        i, j = np.nonzero(gram < (2 * radius) ** 2 + slack)
        i = i + start
        keep = j > i
        found.append(np.stack([i[keep], j[keep]], axis=1))
    pairs = np.concatenate(found)
    return pairs[np.linalg.norm(z[pairs[:, 0]] - z[pairs[:, 1]], axis=1) < radius]


def find_clusters(keys, targets, distance: float = NEAR_DISTANCE) -> tuple[Cluster, ...]:
    """Clusters of near-duplicate keys with different targets (module docstring), in key order.

    ``keys`` (F×d) and ``targets`` (F×m) as passed to the encoder; identical keys count once.
    """
    K, T = np.asarray(keys, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    unique, first = np.unique(K + 0.0, axis=0, return_index=True)
    centred = unique - unique.mean(axis=0)
    spread = float(np.sqrt(np.mean(np.sum(centred**2, axis=1))))
    if not spread > 0:  # one distinct key
        return ()
    pairs = _near_pairs(centred, distance * spread)
    codes = T[first]
    differs = np.any(codes[pairs[:, 0]] != codes[pairs[:, 1]], axis=1)
    if not differs.any():
        return ()
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(unique),) * 2)
    label = connected_components(graph, directed=False)[1]
    clusters = []
    for component in np.unique(label[pairs[differs, 0]]):
        inside = differs & (label[pairs[:, 0]] == component)
        gaps = np.linalg.norm(unique[pairs[inside, 0]] - unique[pairs[inside, 1]], axis=1)
        indices = tuple(sorted(int(i) for i in first[label == component]))
        clusters.append(Cluster(keys=indices, distance=float(gaps.min())))
    return tuple(sorted(clusters, key=lambda c: c.representative))


def dense_rows(keys, clusters: tuple[Cluster, ...]) -> np.ndarray:
    """Rows of ``keys`` left to the dense solve: all but the clusters' members (and their
    copies: identical keys share a row of the solve)."""
    _, inverse = np.unique(np.asarray(keys, dtype=np.float64) + 0.0, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    members = [i for cluster in clusters for i in cluster.members]
    return ~np.isin(inverse, inverse[members])


def _reference(targets: np.ndarray) -> np.ndarray:
    """Per-key scale of the code error: max(‖T_i‖, RMS ‖T‖), as in the dense solve."""
    norm = np.linalg.norm(targets, axis=1)
    return np.maximum(norm, max(float(np.sqrt(np.mean(norm**2))), np.finfo(np.float64).tiny))


def _coordinates(differences: np.ndarray, representative: np.ndarray) -> np.ndarray:
    """The coordinates the members' ups read: largest |δ_c| / (2|(k_r)_c| + |δ_c|), independent
    for several members (pivoted QR of the weighted differences)."""
    scale = 2 * np.abs(representative) + np.abs(differences).max(axis=0)
    weighted = np.divide(differences, scale, out=np.zeros_like(differences), where=scale > 0)
    return scipy.linalg.qr(weighted, mode="r", pivoting=True)[1][: len(differences)]


def _cluster_gadget(cluster, keys, others, residual, act, ref_norm):
    """Gate row and bias, up rows and biases and code rows of one cluster's neurons."""
    inside = keys[list(cluster.keys)]
    rep, members = inside[0], inside[1:]
    n, dim = members.shape
    if n > dim:
        raise SolverError(f"near-duplicate keys {list(cluster.keys)}: more members than d = {dim}")
    differences = members - rep
    columns = _coordinates(differences, rep)
    ups = differences[:, columns]  # up_i at member l: exactly x_c − (k_r)_c
    if not np.linalg.cond(ups) < MAX_MEMBER_CONDITION:
        raise SolverError(
            f"near-duplicate keys {list(cluster.keys)}: their differences from key "
            f"{cluster.representative} are nearly dependent (e.g. collinear)"
        )
    up = np.zeros((n, dim))
    up[np.arange(n), columns] = 1.0
    up_bias = -rep[columns]
    codes_unit = np.linalg.solve(ups, residual)  # E·σ(T): the code rows before the gate
    if len(others):
        dec = decodability(np.vstack([inside.mean(axis=0), others]), indices=[0])
        w = dec.u_star[0]
        gap = float((inside @ w).min() - (others @ w).max())
        if not gap > 0:
            raise SolverError(
                f"near-duplicate keys {list(cluster.keys)}: no hyperplane separates them from "
                "the other keys (they lie inside their convex hull)"
            )
        off_up = np.abs(others[:, columns] + up_bias)  # |up_i| at the other keys
        # |σ(pre)| ≤ T e^{−T} off the cluster and σ ≥ T on it, so the leak is ≤ e^{−T}·this
        leak = float((off_up @ np.linalg.norm(codes_unit, axis=1)).max())
        T = max(GATE_MIN, math.log(leak / (LEAK * ref_norm))) if leak > 0 else GATE_MIN
        slope = (1 + ON_RATIO) * T / gap  # pre = −T at the nearest other key, ON_RATIO·T on C
        threshold = (others @ w).max() + T / slope
        gate, gate_bias = slope * w, -slope * threshold
    else:  # the cluster is every key: the gate is simply on
        T = GATE_MIN
        gate, gate_bias = np.zeros(dim), T
    on = act(torch.as_tensor(members @ gate + gate_bias)).numpy()
    code_rows = np.linalg.solve(on[:, None] * ups, residual)
    return np.tile(gate, (n, 1)), np.full(n, gate_bias), up, up_bias, code_rows


def _gadget_codes(keys: Tensor, gate, gate_bias, up, up_bias, code_rows, act):
    """Codes the gadget neurons add at ``keys`` and their sums of |terms|."""
    on = act(keys @ gate.T + gate_bias)
    magnitude = (on.abs() * (keys.abs() @ up.abs().T + up_bias.abs())) @ code_rows.abs()
    return (on * (keys @ up.T + up_bias)) @ code_rows, magnitude


def add_gadgets(
    dense: EncoderSolution,
    keys,
    targets,
    clusters: tuple[Cluster, ...],
    *,
    activation: str,
    tolerance: float,
) -> GadgetSolution:
    """Extend ``dense`` (solved without the clusters' members) by the gadget neurons of
    ``clusters`` so that every key of ``keys`` (F×d) hits its code in ``targets`` (F×m).

    Raises
    ------
    SolverError
        A limit of the module docstring, or the combined codes miss a target by more than
        ``tolerance`` (relative to max(‖T_i‖, RMS ‖T‖)).
    """
    if activation not in LOCAL_ACTIVATIONS:
        raise SolverError(f"a {activation} gate does not vanish off a cluster: no gadget")
    act = ACTIVATIONS[activation]
    K, T = np.asarray(keys, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    unique, first = np.unique(K + 0.0, axis=0, return_index=True)
    device = dense.up.device
    dense_part = (dense.gate_rows, dense.gate_bias, dense.up, dense.up_bias, act)
    wanted = T[first]
    ref_norm = max(float(np.sqrt(np.mean(np.linalg.norm(wanted, axis=1) ** 2))), 1e-300)
    parts = []
    with torch.no_grad():
        for cluster in clusters:
            members = list(cluster.members)
            at_members = _codes(torch.as_tensor(K[members], device=device), *dense_part)[0]
            residual = T[members] - at_members.cpu().numpy()
            others = unique[~np.isin(first, cluster.keys)]
            parts.append(_cluster_gadget(cluster, K, others, residual, act, ref_norm))
        gadget = [
            torch.as_tensor(np.concatenate([p[i] for p in parts]), device=device) for i in range(5)
        ]
        U = torch.as_tensor(unique, device=device)
        codes, magnitude = _codes(U, *dense_part)
        extra, extra_magnitude = _gadget_codes(U, *gadget, act)
    codes, magnitude = (codes + extra).cpu().numpy(), (magnitude + extra_magnitude).cpu().numpy()
    error = np.linalg.norm(codes - wanted, axis=1)
    worst = float((error / _reference(wanted)).max())
    if not worst <= tolerance:  # NaN fails too
        raise SolverError(
            f"near-duplicate gadgets: the combined codes miss a target by {worst:.2e} "
            f"(relative) > {tolerance:.1e}"
        )
    amplification = np.linalg.norm(magnitude, axis=1) / np.maximum(
        np.linalg.norm(wanted, axis=1), np.finfo(np.float64).tiny
    )
    base = {f.name: getattr(dense, f.name) for f in fields(EncoderSolution)}
    base.update(max_code_error=float(error.max()), amplification=float(amplification.max()))
    gate, gate_bias, up, up_bias, code_rows = gadget
    return GadgetSolution(
        **base,
        gadget_gate=gate,
        gadget_gate_bias=gate_bias,
        gadget_up=up,
        gadget_up_bias=up_bias,
        gadget_codes=code_rows,
        clusters=tuple(clusters),
    )


def append_gadgets(
    weights: GatedMLPWeights, enc: EncoderSolution, projection: Tensor
) -> GatedMLPWeights:
    """``weights`` (the folded dense part) with ``enc``'s gadget neurons appended: extra rows
    of gate and up, extra columns ``P E_i`` of down; unchanged without gadgets."""
    if not isinstance(enc, GadgetSolution):
        return weights

    def with_zeros(bias: Tensor | None) -> Tensor:
        return weights.gate.new_zeros(weights.hidden) if bias is None else bias

    return GatedMLPWeights(
        gate=torch.cat([weights.gate, enc.gadget_gate]),
        up=torch.cat([weights.up, enc.gadget_up]),
        down=torch.cat([weights.down, projection @ enc.gadget_codes.T], dim=1),
        activation=weights.activation,
        gate_bias=torch.cat([with_zeros(weights.gate_bias), enc.gadget_gate_bias]),
        up_bias=torch.cat([with_zeros(weights.up_bias), enc.gadget_up_bias]),
        down_bias=weights.down_bias,
    )


def float32_shortfall(
    enc: EncoderSolution, certificate: PrecisionCertificate, factset: FactSet
) -> list[dict]:
    """The keys the float32 certificate leaves uncertified because of a near duplicate, with
    the distance float32 would need.

    One entry per cause: ``cause`` ``"keys"`` (a cluster of ``enc``: its uncertified keys) or
    ``"values"`` (uncertified keys whose value has another value closer than
    ``NEAR_DISTANCE`` × the RMS value norm: ``between`` names the two values); ``distance``
    (between the keys, or the values), ``margin_over_bound`` (the smallest logit-wise
    ``certificate.ratio`` among those keys) and ``distance_needed`` = distance / that ratio.
    The last is an **estimate** of the distance at which the logit-wise test alone would
    certify them: it assumes the error bound scales as 1/distance (a gadget reads a
    difference of that size) or the margin as the distance (two values); measured on the
    512-key case, the estimates from pairs 4.6e-7 and 4.6e-8 apart agree (4.7e-6), and the
    refined pair test certified the pair at 4.6e-6. Other uncertified keys are not listed.
    """
    missed = ~certificate.certified
    report = []
    for cluster in enc.clusters if isinstance(enc, GadgetSolution) else ():
        keys = [i for i in cluster.keys if missed[i]]
        if keys:
            report.append(_shortfall("keys", keys, cluster.distance, certificate))
            missed[keys] = False
    values = factset.values
    scale = float(np.sqrt(np.mean(np.sum(values**2, axis=1))))
    for v in np.unique(factset.fact_map[missed]):
        gaps = np.linalg.norm(values - values[v], axis=1)
        gaps[v] = np.inf
        nearest = int(np.argmin(gaps))
        if gaps[nearest] < NEAR_DISTANCE * scale:
            keys = np.flatnonzero(missed & (factset.fact_map == v)).tolist()
            entry = _shortfall("values", keys, float(gaps[nearest]), certificate)
            report.append({**entry, "between": [int(v), nearest]})
    return report


def _shortfall(cause: str, keys: list[int], distance: float, certificate) -> dict:
    worst = float(certificate.ratio[keys].min())
    needed = distance / worst if worst > 0 else math.inf
    return {
        "cause": cause,
        "keys": keys,
        "distance": distance,
        "margin_over_bound": worst,
        "distance_needed": needed,
    }
