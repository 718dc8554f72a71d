"""Choosing the code dimension m of the decoder: the smallest m whose projected used values
keep ρ(W) ≥ a target (the float32 rounding bound of the construction).

Each candidate m costs one exact min-norm-point solve per value checked
(:mod:`theory.rho`; from ``BATCHED_MIN_VALUES`` values on, batched solves with the same
certificates, :mod:`numerics.construction.separators_torch`, on the construction's device),
so the search is arranged to solve as few as possible:

* **Binary search on a screen**: at each m, the values most at risk first. A projected value
  near the centre of the others (small ``‖w_i − w̄‖``) is the one most likely to fall inside
  their hull, so the screen is the ``SCREEN_VALUES`` first values of the risk order: every
  value that fell short at an earlier m, then the smallest centred norms at this m. A pass
  stops at the first value below the target, so a failing m is usually rejected after a few
  solves. With nested projections a vertex stays a vertex as m grows, but ρ itself may dip
  (the differences are renormalised), so the search finds a boundary of the screen, which
  the confirmation below makes safe; it is the smallest m only where ρ(W_m) is monotone.
* **Confirmation on every used value** at the chosen m, in the same order; if one falls short
  m steps up. Solves are cached per m, so values screened at the final m are not solved again.
* **m = d with P = I** as the last resort: W = V, so the verdict there is exactly
  :mod:`theory.feasibility`'s (an infeasible set is refused naming values and keys).

A value the fast solver cannot certify at some m (a :class:`SolverError`: it is nearly
inside the hull of the others there) makes that m count as too small, never aborts.
"""

from __future__ import annotations

import math

import numpy as np

from numerics.construction.separators_torch import (
    BATCHED_MIN_VALUES,
    batched_decodability,
    build_decoder_batched,
)
from theory.decoder import Decoder, projection_matrix
from theory.errors import InfeasibleFactSetError, SolverError
from theory.rho import decodability
from theory.validation import preview_indices

__all__ = ["SCREEN_VALUES", "nested_projection", "choose_code_dim", "full_dimension_decoder"]

#: Values screened per candidate m (besides those that fell short before).
SCREEN_VALUES = 256


def nested_projection(values, used, kind: str, seed: int, code_dim: int) -> np.ndarray:
    """P_m for the search over m: Gaussian projections are the first m columns of one seeded
    d×d draw, so a larger m only adds coordinates (a vertex stays a vertex: a value decodable
    at m stays decodable at every larger m, though its ρ may dip)."""
    d = values.shape[1]
    if kind == "gaussian":
        full = projection_matrix(values, d, kind="gaussian", seed=seed)
        return full[:, :code_dim] * math.sqrt(d / code_dim)
    return projection_matrix(values, code_dim, kind=kind, used=used)


class _Search:
    """Cached per-m solves and the values that fell short, for :func:`choose_code_dim`."""

    def __init__(self, values, used, projection: str, seed: int, rho_target: float, device="cpu"):
        self.values, self.used, self.rho_target = values, used, rho_target
        self.device = device
        self.projection, self.seed = projection, seed
        self.short: list[int] = []
        self._solved: dict[int, tuple[np.ndarray, np.ndarray, dict[int, int]]] = {}

    def at(self, m: int):
        """(P_m, W_m, solved) with ``solved`` mapping value → row of its certificate."""
        if m not in self._solved:
            P = nested_projection(self.values, self.used, self.projection, self.seed, m)
            self._solved[m] = (P, self.values @ P, {})
        return self._solved[m]

    def risk_order(self, m: int, candidates: np.ndarray) -> np.ndarray:
        """``candidates`` with the earlier failures first, then by increasing centred norm."""
        _, W, _ = self.at(m)
        centred = np.linalg.norm(W[candidates] - W[self.used].mean(axis=0), axis=1)
        rest = candidates[np.argsort(centred, kind="stable")]
        pool = set(candidates.tolist())
        first = np.array([j for j in self.short if j in pool], dtype=np.int64)
        return np.concatenate([first, rest[~np.isin(rest, first)]])

    def passes(self, m: int, order: np.ndarray, progress: bool = False) -> bool:
        """Whether every value of ``order`` has ρ_j(W_m) ≥ target (solving only new ones)."""
        P, W, solved = self.at(m)
        if any(solved[j][0] < self.rho_target for j in order if j in solved):
            return False
        todo = np.array([j for j in order if j not in solved], dtype=np.int64)
        if todo.size == 0:
            return True
        options = {"indices": todo, "progress": progress, "stop_below": self.rho_target}
        try:
            if W.shape[0] < BATCHED_MIN_VALUES:
                result = decodability(W, **options)
            else:  # many values: batched solves, the same certificates (separators_torch)
                result = batched_decodability(W, device=self.device, **options)
        except SolverError:
            return False
        for cert in result.certificates:
            solved[cert.index] = (cert.rho, cert.u_star)
            if cert.rho < self.rho_target and cert.index not in self.short:
                self.short.append(cert.index)
        return len(result.certificates) == todo.size and result.rho >= self.rho_target

    def decoder(self, m: int) -> Decoder:
        P, _, solved = self.at(m)
        codes = np.zeros((self.values.shape[0], m))
        rho = np.full(self.values.shape[0], np.nan)
        for j in self.used:
            rho[j], codes[j] = solved[j]
        return Decoder(projection=P, codes=codes, rho_projected=rho, used=self.used)


def choose_code_dim(
    values,
    fact_map,
    *,
    projection: str = "gaussian",
    seed: int = 0,
    rho_target: float,
    progress: bool = False,
    device="cpu",
) -> Decoder:
    """The decoder with the smallest code dimension m whose projected used values have
    ρ(W) ≥ ``rho_target`` (module docstring); falls back to m = d with P = I. ``device``
    is where the solves run once there are ``BATCHED_MIN_VALUES`` values or more.

    Raises
    ------
    InfeasibleFactSetError
        A used value is undecodable even at m = d: no MLP stores the fact set.
    """
    values = np.asarray(values, dtype=np.float64)
    used = np.unique(fact_map)
    d = values.shape[1]
    search = _Search(values, used, projection, seed, rho_target, device)

    def screen(m: int) -> bool:
        return search.passes(m, search.risk_order(m, used)[:SCREEN_VALUES])

    largest = _largest_code_dim(values, used, projection)
    low, high = 1, largest  # binary search: a boundary of the screen
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if screen(mid) else (mid + 1, high)
    m = low
    while m < d and m <= largest:  # confirm on every used value; step up if one falls short
        if search.passes(m, search.risk_order(m, used), progress):
            return search.decoder(m)
        if m == largest:
            break
        m = min(largest, m + max(1, m // 8))
    return full_dimension_decoder(values, fact_map, progress, device)


def _largest_code_dim(values, used, projection: str) -> int:
    """The largest m the projection kind can build: d, or for ``whitened`` the number of
    non-degenerate principal directions of the used values (beyond it P = I takes over)."""
    d = values.shape[1]
    if projection != "whitened":
        return d
    if used.size < 2:
        return 0
    singular = np.linalg.svd(values[used] - values[used].mean(axis=0), compute_uv=False)
    return max(1, min(d, int(np.sum(singular > singular.max() * 1e-12))))


def full_dimension_decoder(values, fact_map, progress: bool = False, device="cpu") -> Decoder:
    """The decoder with P = I, refusing a fact set with an undecodable used value."""
    # P = I: W = V, so the verdict is exactly theory.feasibility's on the same values (a random
    # rotation keeps ρ in exact arithmetic, but values distinct only by rounding then get a
    # different verdict from the one `factmlp check` reports).
    identity = np.eye(values.shape[1])
    decoder = build_decoder_batched(values, fact_map, identity, device=device, progress=progress)
    used = decoder.used
    bad = used[~(decoder.rho_projected[used] > 0)]
    if bad.size:
        keys = np.flatnonzero(np.isin(fact_map, bad))
        raise InfeasibleFactSetError(
            f"infeasible fact set: values {preview_indices(bad)} lie in the convex hull of the "
            f"other values (ρ = 0), so keys {preview_indices(keys)} mapped to them cannot be "
            "decoded by any MLP",
            values=bad,
            keys=keys,
        )
    return decoder
