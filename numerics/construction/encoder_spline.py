"""The spline encoder: a fallback that reaches every code for any distinct keys.

Project the keys on one direction ``u``, ``t_i = u·k_i`` (distinct for distinct keys unless
``u`` is orthogonal to a difference: a null event for a random ``u``), sort them,
``t_(1) < … < t_(F)``, and interpolate each code coordinate linearly between consecutive
projections. In the gated layout every group shares ``F`` ReLU gates with gate row ``u`` and
knots ``b_1 < t_(1)``, ``b_j = t_(j−1)`` (j ≥ 2); group ``t`` has up rows 0 and up biases
``w_{t,j}``:

.. math::

    c_t(k) = \\sum_{j=1}^{F} \\operatorname{ReLU}(u\\cdot k - b_j)\\, w_{t,j}, \\qquad
    w_{t,1} = s_{t,1},\\quad w_{t,j} = s_{t,j} - s_{t,j-1},

with ``s_{t,1} = T_(1),t / (t_(1) − b_1)`` and ``s_{t,j} = (T_(j),t − T_(j−1),t) /
(t_(j) − t_(j−1))`` the slopes of the interpolant: at ``t_(i)`` the sum telescopes to
``T_(i),t`` exactly (derived here). There is no linear system to solve, so there is nothing
to be ill-conditioned: the price is ``F`` gates, shared by every code coordinate (the
pipeline folds the ``m`` groups into ``F`` neurons, one per knot: about ``d/m`` times the
dense encoder's ``m·F/d``), and cancellation of order ``F · spread / gap`` in the
sums, which the code check below measures. :mod:`numerics.construction.pipeline` uses it only when the
dense encoder fails, which happens for many facts per dimension (measured: 50 keys on a
circle, d = 2, failed at every slack up to 4).

The direction is the one, among the keys' top principal direction and ``CANDIDATES`` random
ones, with the largest smallest gap between sorted projections relative to their spread.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from numerics.construction.encoder_dense import CODE_TOLERANCE, EncoderSolution, _codes
from numerics.mlp import ACTIVATIONS
from theory.errors import InvalidInputError, SolverError

__all__ = ["solve_encoder_spline", "CANDIDATES"]

#: Random directions tried besides the top principal direction.
CANDIDATES = 16


def _direction(keys: np.ndarray, generator: torch.Generator) -> tuple[np.ndarray, float]:
    """The candidate direction with the largest min gap / spread of the sorted projections."""
    centred = keys - keys.mean(axis=0)
    candidates = [np.linalg.svd(centred, full_matrices=False)[2][0]] if len(keys) > 1 else []
    random = torch.randn(
        CANDIDATES, keys.shape[1], generator=generator, dtype=torch.float64
    ).numpy()
    candidates += list(random / np.linalg.norm(random, axis=1, keepdims=True))
    best, best_score = candidates[0], -1.0
    for u in candidates:
        t = np.sort(keys @ u)
        spread = t[-1] - t[0]
        score = 1.0 if len(t) == 1 else (float(np.diff(t).min() / spread) if spread > 0 else 0.0)
        if score > best_score:
            best, best_score = u, score
    return best, best_score


def solve_encoder_spline(
    keys,
    targets,
    *,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    tolerance: float = CODE_TOLERANCE,
) -> EncoderSolution:
    """Piecewise-linear interpolation of the codes along one direction (module docstring).

    Parameters
    ----------
    keys, targets : array_like
        F×d keys and F×m codes; identical keys must have identical targets.
    generator : torch.Generator (CPU) for the candidate directions (same seed, same weights)
    device : where the returned tensors live
    tolerance : the largest relative code error of the built weights accepted

    Returns
    -------
    EncoderSolution
        ``method = "spline"``, ReLU gates (``gate_rows`` F × d, all equal to ``u``),
        ``gate_bias = −b``, zero ``up`` rows and ``up_bias = w`` (m × F);
        ``kernel_condition`` is spread / min gap of the projections (the worst slope
        amplification), NaN for one key.

    Raises
    ------
    InvalidInputError
        Shapes disagree, a non-finite entry, identical keys with different targets.
    SolverError
        Every candidate direction maps two distinct keys to one projection, or the built
        weights miss a code by more than ``tolerance`` (cancellation).

    Examples
    --------
    >>> keys = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.5, 0.5]])
    >>> sol = solve_encoder_spline(keys, np.eye(4)[:, :2])
    >>> sol.method, sol.group_size, sol.max_code_error < 1e-12
    ('spline', 4, True)
    """
    K = np.asarray(keys, dtype=np.float64)
    T = np.asarray(targets, dtype=np.float64)
    if K.ndim != 2 or T.ndim != 2 or K.shape[0] != T.shape[0] or K.shape[0] == 0:
        raise InvalidInputError(
            f"keys {K.shape} and targets {T.shape} must be (F, d) and (F, m), F ≥ 1"
        )
    if not (np.isfinite(K).all() and np.isfinite(T).all()):
        raise InvalidInputError("keys and targets must be finite")
    unique, first, inverse = np.unique(K + 0.0, axis=0, return_index=True, return_inverse=True)
    if not np.array_equal(T, T[first][inverse.reshape(-1)]):
        raise InvalidInputError("identical keys have different targets")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    codes_needed = T[first]

    u, score = _direction(unique, generator)
    if score <= 0:
        raise SolverError(
            "spline encoder: every candidate direction projects two distinct keys to one point"
        )
    t = unique @ u
    order = np.argsort(t)
    ts, cs = t[order], codes_needed[order]  # sorted projections, codes
    gaps = np.diff(ts)
    first_gap = gaps.min() if gaps.size else max(abs(ts[0]), 1.0)
    knots = np.concatenate([[ts[0] - first_gap], ts[:-1]])  # b_1 < t_(1), b_j = t_(j−1)
    slopes = np.diff(np.vstack([np.zeros((1, cs.shape[1])), cs]), axis=0) / (ts - knots)[:, None]
    weights = np.diff(np.vstack([np.zeros((1, cs.shape[1])), slopes]), axis=0)  # (F, m)

    n_knots, dim, m = len(knots), unique.shape[1], cs.shape[1]
    gate = torch.as_tensor(np.tile(u, (n_knots, 1)), device=device)
    gate_bias = torch.as_tensor(-knots, device=device)
    up = torch.zeros((m, n_knots, dim), dtype=torch.float64, device=device)
    up_bias = torch.as_tensor(weights.T.copy(), device=device)
    Kt, Tt = torch.as_tensor(unique, device=device), torch.as_tensor(codes_needed, device=device)
    codes, magnitude = _codes(Kt, gate, gate_bias, up, up_bias, ACTIVATIONS["relu"])
    target_norm = Tt.norm(dim=1)
    reference = target_norm.clamp_min(float(target_norm.square().mean().sqrt()))
    reference = reference.clamp_min(torch.finfo(torch.float64).tiny)
    error = (codes - Tt).norm(dim=1)
    worst = float((error / reference).max())
    if worst > tolerance:
        raise SolverError(
            f"spline encoder: the built weights miss a code by {worst:.2e} "
            f"(relative) > {tolerance:.1e}: cancellation over {n_knots} knots"
        )
    spread = ts[-1] - ts[0]
    return EncoderSolution(
        gate_rows=gate,
        gate_bias=gate_bias,
        up=up,
        up_bias=up_bias,
        kernel_condition=float(spread / gaps.min()) if gaps.size else math.nan,
        max_code_error=float(error.max()),
        amplification=float(
            (magnitude.norm(dim=1) / target_norm.clamp_min(torch.finfo(torch.float64).tiny)).max()
        ),
        refinements=0,
        method="spline",
        cg_iterations=0,
        key_rank=int(np.linalg.matrix_rank(unique)) if len(unique) > 1 else int(unique.any()),
        regularisation=0.0,
        kernel_eigenvalue_lower_bound=math.nan,  # no kernel: nothing is solved
    )
