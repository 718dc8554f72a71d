"""``lookup``: one neuron per distinct key, switched on only at its key by a gate threshold.

Neuron ``n`` belongs to the distinct key ``k_n`` and its value's separator ``u*`` (the
optimal decoding direction of :func:`theory.rho.decodability`):

.. math::

    g(x) = \\sum_n u^*_{f(n)}\\; \\mathrm{ReLU}(w_n \\cdot x - τ_n)\\,
           \\frac{k_n \\cdot x}{‖k_n‖^2\\, s_n}, \\qquad s_n = w_n \\cdot k_n - τ_n > 0 .

The gate row is ``w_n = k_n/‖k_n‖`` and the threshold ``τ_n`` the midpoint between
``w_n·k_n`` and ``max_{j≠n} w_n·k_j``, so the gate is on at ``k_n`` and off at every other
key; then ``g(k_n) = u*_{f(n)}`` exactly, and its decoding margin against value ``j`` is
``<u*, v_f − v_j> ≥ ρ_f ‖v_f − v_j‖ > 0`` for every feasible fact set. When some other key
scores at least as high along ``k_n/‖k_n‖`` (keys of unequal norm), the gate row is the
optimal separator of ``k_n`` from the other keys instead (decodability of the *keys*), which
isolates ``k_n`` whenever it is an exposed vertex of the key set; a key inside the hull of
the others cannot be isolated by one threshold, its neuron then fires elsewhere too and
recall says whether the set is still stored. A zero key cannot be stored (no up bias).

Width: exactly one neuron per distinct key, ``h = F_distinct``; a larger requested width
builds the same MLP (the extra neurons would be zero), a smaller one raises
:class:`~numerics.methods.base.WidthTooSmallError`. Parameters ``3hd + h`` (the gate
bias): ``3Fd + F`` for distinct keys.

References: the lookup-table view of an MLP (Geva et al., "Transformer Feed-Forward Layers
Are Key-Value Memories", EMNLP 2021); paper.md §5. The gated form with a threshold and the
separator read-out are derived here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from numerics.factset import FactSet
from numerics.methods.base import (
    BuildResult,
    WidthTooSmallError,
    check_build_args,
    distinct_keys,
    method_config,
    resolve_device,
)
from numerics.mlp import GatedMLPWeights
from theory.rho import decodability

__all__ = ["LookupMethod"]


_BLOCK = 2048  # gate rows scored against every key at once (block × F scores)


def _own_and_rival(
    rows: np.ndarray, keys: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each n in ``index``: w_n·k_n and max_{j≠n} w_n·k_j (−inf with one key), blocked."""
    own = np.empty(index.size)
    rival = np.empty(index.size)
    for start in range(0, index.size, _BLOCK):
        block = index[start : start + _BLOCK]
        scores = rows[block] @ keys.T
        at = np.arange(block.size)
        own[start : start + block.size] = scores[at, block]
        scores[at, block] = -np.inf
        rival[start : start + block.size] = scores.max(axis=1)
    return own, rival


def _gate_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Gate rows, thresholds τ, gate values s_n = w_n·k_n − τ_n at the own key, and the
    number of keys that needed a separator row."""
    norms = np.linalg.norm(keys, axis=1)
    rows = keys / np.where(norms > 0, norms, 1.0)[:, None]
    everyone = np.arange(keys.shape[0])
    own, rival = _own_and_rival(rows, keys, everyone)
    weak = np.flatnonzero(~(own > rival) & np.isfinite(rival))
    if weak.size:
        # Separate k_n from the other keys along its optimal separator instead.
        sep = decodability(keys, indices=weak).u_star[weak]
        ok = weak[np.linalg.norm(sep, axis=1) > 0]
        rows[ok] = sep[np.linalg.norm(sep, axis=1) > 0]
        own[ok], rival[ok] = _own_and_rival(rows, keys, ok)
    finite = np.isfinite(rival)
    # Midpoint threshold; a lone key (no rival) is thresholded at half its score.
    tau = np.where(finite, (own + np.where(finite, rival, 0.0)) / 2, own / 2)
    return rows, tau, own - tau, int(weak.size)


@dataclass(frozen=True)
class LookupMethod:
    """One thresholded ReLU neuron per distinct key (module docstring)."""

    name: str = "lookup"

    def initial_hidden(self, factset: FactSet) -> int:
        return int(distinct_keys(factset)[0].size)

    def default_max_hidden(self, factset: FactSet) -> int:
        return int(distinct_keys(factset)[0].size)

    def build(
        self, factset: FactSet, hidden: int, *, seed: int = 0, device: str = "cpu"
    ) -> BuildResult:
        """The lookup MLP (deterministic: ``seed`` is accepted and unused).

        Raises
        ------
        WidthTooSmallError
            ``hidden`` is below the number of distinct keys.
        """
        check_build_args(self.name, factset, hidden, seed)
        resolve_device(device)
        first, _ = distinct_keys(factset)
        n = first.size
        if hidden < n:
            raise WidthTooSmallError(
                f"lookup needs one neuron per distinct key: hidden must be ≥ {n}, got {hidden}"
            )
        keys = factset.keys[first]
        targets = factset.fact_map[first]
        used = np.unique(targets)
        u_star = decodability(factset.values, indices=used).u_star
        rows, tau, s, separated = _gate_rows(keys)
        norms2 = np.sum(keys**2, axis=1)
        scale = np.where(
            (norms2 > 0) & (s > 0),
            1.0 / np.where(norms2 > 0, norms2, 1.0) / np.where(s > 0, s, 1.0),
            0.0,
        )
        as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)  # noqa: E731
        weights = GatedMLPWeights(
            gate=as_t(rows),
            up=as_t(keys * scale[:, None]),
            down=as_t(u_star[targets].T),
            activation="relu",
            gate_bias=as_t(-tau),
        )
        info = {
            "requested_hidden": int(hidden),
            "seed": int(seed),
            "config": method_config(self),
            "distinct_keys": int(n),
            "separator_gates": separated,
            "dtype": "float64",
        }
        return BuildResult(weights=weights, method=self.name, hidden=weights.hidden, info=info)
