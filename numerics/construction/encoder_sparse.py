"""The sparse encoder: threshold-ReLU "cap" gates, each on for a few keys, solved by CG.

Same layout as the dense encoder (:mod:`numerics.construction.encoder_dense`): ``h = m·N`` hidden neurons in
``m`` groups that share ``N`` gate rows; neuron ``(t, n)`` has gate row ``g_n``, gate bias
``−τ_n``, up row ``a_{t,n}`` and down column ``P[:, t]``. Code coordinate ``t`` is

.. math::

    c_t(k) = \\sum_{n=1}^{N} \\operatorname{ReLU}(g_n \\cdot k - τ_n)\\,(a_{t,n} \\cdot k).

**Caps.** Each gate is on for a *cap* of the keys: ``I_n = {i : g_n·k_i > τ_n}``. The
threshold ``τ_n`` puts ``q'_n ∈ [q, q + ⌊q/8⌋]`` keys in the cap, at the largest gap between
consecutive sorted scores ``g_n·k`` in that range (``τ_n`` is the gap's midpoint), which
keeps the smallest active gate value ``s_{in} = g_n·k_i − τ_n`` away from zero.
``N₀ = ⌈(1 + slack) F / d'⌉`` rows (``d'`` the rank of the keys) get random unit directions
(scaled by the keys' RMS norm so that scores are of order one) and ``q = round(p F / N₀)``,
so a key is in ``p`` caps on average. A key left in no cap gets a cap of its own, centred
on it (``g ∝ k_i``), with ``q`` raised to the key's rank in that direction if needed: for
keys of equal norm the key itself scores highest, so ``q`` is enough.

**Solve.** Per code coordinate ``t`` the keys must satisfy ``Φ vec(A_t) = T[:, t]`` with
``Φ`` sparse (F × N d): row ``i`` holds ``s_{in} k_i`` in block ``n`` for ``n`` with
``i ∈ I_n``. We take the min-norm solution through the kernel

.. math::

    Q = ΦΦ^\\top, \\quad Q_{ij} = (k_i \\cdot k_j) \\sum_n s_{in} s_{jn}, \\qquad
    Q α = T, \\qquad a_{t,n} = \\sum_{i \\in I_n} s_{in} α_{it}\\, k_i ,

solving ``Qα = T`` by conjugate gradients preconditioned with ``D = diag(Q)``
(``Q_{ii} = ‖k_i‖² Σ_n s_{in}²``), all ``m`` columns at once, with ``Q`` applied as
``Φ(Φᵀ·)``: a batched product over the gathered keys ``K[I_n]`` (N × q'_max × d) and a
scatter-add. Memory ``O(N q'_max d) ≈ O(p F d)`` (no F×F matrix), time ``O(p F d m)`` per
iteration. ``Q`` is nonsingular iff Φ has full row rank, which needs
every key in some cap (no zero row) and enough unknowns (``N d' ≥ F``); neither condition is
guaranteed for every key set, so the CG residual and the codes of the built weights are
checked and a failure is an error, never a silently wrong MLP.

References: the shared-gate layout and the kernel solve follow paper §4 (arXiv 2512.00207);
the sparse caps and this solver are derived here.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from numerics.construction.encoder_dense import CODE_TOLERANCE, EncoderSolution, validate_system
from theory.errors import InvalidInputError, SolverError
from theory.validation import require_int

__all__ = ["solve_encoder_sparse"]

#: A cap of its own for a key may hold at most this many times ``q + ⌊q/8⌋`` keys: every
#: cap is padded to the largest one in the gathered N × q'_max × d tensor.
MAX_CAP_GROWTH = 2
#: Scores computed at once when the caps are chosen (rows × keys), and keys per block when
#: the codes of the built weights are checked.
_SCORE_BLOCK = 2**22
_CHECK_KEYS = 256


class _Caps:
    """The caps ``I_n`` with their gate values ``s_{in}``, padded to a common width, and the
    operators ``Φ`` and ``Φᵀ`` of the module docstring."""

    def __init__(self, keys: Tensor, index: list[Tensor], gate: list[Tensor]):
        width = max(len(i) for i in index)
        n_keys, rows = keys.shape[0], len(index)
        self.index = keys.new_zeros((rows, width), dtype=torch.long)
        self.gate = keys.new_zeros((rows, width))  # padding: key 0 with s = 0
        for n, (i, s) in enumerate(zip(index, gate, strict=True)):
            self.index[n, : len(i)] = i
            self.gate[n, : len(s)] = s
        self.keys = keys[self.index]  # (N, q'_max, d)
        self.n_keys = n_keys
        self._buffers: dict[str, Tensor] = {}
        diag = keys.new_zeros(n_keys).index_add_(
            0, self.index.reshape(-1), self.gate.reshape(-1) ** 2
        )
        self.diagonal = diag * (keys**2).sum(dim=1)  # Q_ii = ‖k_i‖² Σ_n s_in²

    def _buffer(self, name: str, shape: tuple[int, ...]) -> Tensor:
        """A work tensor kept across CG iterations: with the N × q'_max × m temporaries
        allocated afresh every iteration, the resident size grew through the solve (1.6 to
        8.6 GB at F = M = 2^16, d = 128; 2.0 GB with the buffers)."""
        buffers = self._buffers
        if name not in buffers or buffers[name].shape != shape:
            buffers[name] = self.keys.new_empty(shape)
        return buffers[name]

    def adjoint(self, alpha: Tensor) -> Tensor:
        """Φᵀα: block n is ``A_n = Σ_{i∈I_n} s_in k_i α_iᵀ`` (N × d × m) for α (F × m).
        The result is a work tensor, overwritten by the next call."""
        rows, width = self.index.shape
        m = alpha.shape[1]
        gathered = self._buffer("gathered", (rows * width, m))
        torch.index_select(alpha, 0, self.index.reshape(-1), out=gathered)
        gathered = gathered.view(rows, width, m).mul_(self.gate[:, :, None])
        out = self._buffer("blocks", (rows, self.keys.shape[2], m))
        return torch.bmm(self.keys.transpose(1, 2), gathered, out=out)

    def apply(self, blocks: Tensor) -> Tensor:
        """Φ vec(A): row i is ``Σ_{n: i∈I_n} s_in A_nᵀ k_i`` (F × m) for A (N × d × m).
        The result is a work tensor, overwritten by the next call."""
        rows, width = self.index.shape
        m = blocks.shape[2]
        terms = torch.bmm(self.keys, blocks, out=self._buffer("terms", (rows, width, m)))
        terms.mul_(self.gate[:, :, None])
        out = self._buffer("out", (self.n_keys, m)).zero_()
        return out.index_add_(0, self.index.reshape(-1), terms.reshape(-1, m))


def _threshold(scores: Tensor, low: int, window: int) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """Caps from the scores ``z_{n,i} = g_n·k_i`` (rows × F).

    Row n keeps its ``c_n`` highest-scoring keys, ``c_n ∈ [low, low + window]`` chosen where
    the gap ``z_(c) − z_(c+1)`` between consecutive sorted scores is largest, and
    ``τ_n = (z_(c) + z_(c+1)) / 2``. Ranks past the last key score one unit below the lowest
    score, so a window that reaches them puts every key in the cap.

    Returns τ (rows,), and per row the cap's key indices and gate values ``z − τ > 0``.
    """
    n_keys = scores.shape[1]
    need = low + window + 1
    top, index = torch.topk(scores, min(need, n_keys), dim=1)  # sorted, descending
    if need > n_keys:
        floor = top[:, -1:] - 1.0
        top = torch.cat([top, floor.expand(-1, need - n_keys)], dim=1)
    gaps = top[:, low - 1 : -1] - top[:, low:]  # gap below ranks low … low+window
    count = low + torch.argmax(gaps, dim=1)
    rows = torch.arange(scores.shape[0], device=scores.device)
    tau = 0.5 * (top[rows, count - 1] + top[rows, count])
    caps = [index[n, :c] for n, c in enumerate(count.tolist())]
    gate = [top[n, :c] - tau[n] for n, c in enumerate(count.tolist())]
    return tau, caps, gate


def _choose_caps(
    keys: Tensor, directions: Tensor, q: int, window: int, original: np.ndarray
) -> tuple[Tensor, Tensor, list[Tensor], list[Tensor]]:
    """Random caps for the gate rows ``directions`` (N₀ × d, all of one norm), then a cap
    centred on each key that is still in none (a row of the same norm along the key).
    ``original[i]`` is the caller's index of distinct key i (for messages).
    Returns gate rows (N × d), τ (N,), and per row its keys and gate values."""
    n_keys = keys.shape[0]
    taus, caps, gates = [], [], []
    per_block = max(1, _SCORE_BLOCK // n_keys)
    for start in range(0, directions.shape[0], per_block):
        tau, cap, gate = _threshold(directions[start : start + per_block] @ keys.T, q, window)
        taus.append(tau)
        caps += cap
        gates += gate
    covered = torch.zeros(n_keys, dtype=torch.bool, device=keys.device)
    for cap in caps:
        covered[cap] = True
    rows, row_norm = [directions], directions[0].norm()
    limit = MAX_CAP_GROWTH * (q + window)
    while not bool(covered.all()):
        i = int(torch.nonzero(~covered)[0])
        row = keys[i] * (row_norm / keys[i].norm())
        scores = row @ keys.T
        rank = int((scores >= scores[i]).sum())  # keys scoring at least k_i's
        if rank > limit:
            raise InvalidInputError(
                f"keys[{int(original[i])}] lies deep inside the other keys: any cap "
                f"containing it holds ≥ {rank} keys, over the limit {limit}; the sparse encoder "
                "needs keys near the boundary of their convex hull (e.g. keys of equal norm); "
                "use the dense encoder"
            )
        tau, cap, gate = _threshold(scores[None], max(q, rank), window)
        assert bool((cap[0] == i).any()), "a key's own cap must contain it"
        rows.append(row[None])
        taus.append(tau)
        caps += cap
        gates += gate
        covered[cap[0]] = True
    return torch.cat(rows), torch.cat(taus), caps, gates


def _conjugate_gradients(
    caps: _Caps, rhs: Tensor, tol: float, max_iterations: int
) -> tuple[Tensor, int, float]:
    """Jacobi-preconditioned CG on ``Qα = T``, every column with its own step sizes.

    Stops when ``max_t ‖r_t‖ / ‖T_t‖ < tol`` (the recurrence residual). Returns α, the
    iterations and the Lanczos estimate of ``κ(D⁻¹Q)``: the extreme
    eigenvalues of the tridiagonal matrix ``T_k`` with ``(T_k)_{jj} = 1/a_j + b_{j−1}/a_{j−1}``
    and ``(T_k)_{j,j+1} = √b_j / a_j`` built from the CG steps ``a_j`` and ``b_j`` (Saad,
    *Iterative Methods for Sparse Linear Systems*, 2nd ed., §6.7.3), largest over the columns;
    NaN when no step was taken (every target zero).

    Raises
    ------
    SolverError
        The tolerance is not reached in ``max_iterations`` steps, or CG breaks down.
    """

    def q_times(x: Tensor) -> Tensor:
        return caps.apply(caps.adjoint(x))

    # Every F × m iterate is updated in place: fresh temporaries of that size each iteration
    # (21 MB at F = 2^16, m = 41) let the resident size grow through the solve, by the
    # allocator's fragmentation, from 2.2 to 7.8 GB at F = M = 2^16, d = 128.
    inv_diag = (1.0 / caps.diagonal)[:, None]
    rhs_norm = rhs.norm(dim=0).clamp_min(torch.finfo(rhs.dtype).tiny)
    alpha = torch.zeros_like(rhs)
    residual = rhs.clone()
    z = inv_diag * residual
    direction = z.clone()
    product = torch.empty_like(rhs)
    rz = torch.mul(residual, z, out=product).sum(dim=0)
    steps, betas = [], []
    relative = float((residual.norm(dim=0) / rhs_norm).max())
    while relative >= tol:
        if len(steps) == max_iterations:
            raise SolverError(
                f"sparse encoder: CG reached relative residual {relative:.2e} > tol = {tol:.0e} "
                f"after {max_iterations} iterations; raise max_iterations, or add slack or "
                "active_per_key (a better-conditioned kernel), or use the dense encoder"
            )
        qp = q_times(direction)
        curvature = torch.mul(direction, qp, out=product).sum(dim=0)
        if not bool(torch.isfinite(curvature).all()) or bool((curvature < 0).any()):
            raise SolverError(
                f"sparse encoder: CG broke down at iteration {len(steps) + 1} "
                "(a non-finite or negative curvature pᵀQp)"
            )
        step = torch.where(curvature > 0, rz / curvature, torch.zeros_like(rz))
        alpha.addcmul_(direction, step)
        residual.addcmul_(qp, step, value=-1)
        torch.mul(inv_diag, residual, out=z)
        rz_next = torch.mul(residual, z, out=product).sum(dim=0)
        beta = torch.where(rz > 0, rz_next / rz, torch.zeros_like(rz))
        rz = rz_next
        direction.mul_(beta).add_(z)
        steps.append(step)
        betas.append(beta)
        relative = float((residual.norm(dim=0) / rhs_norm).max())
    return alpha, len(steps), _lanczos_condition(steps, betas, rhs.norm(dim=0) > 0)


def _lanczos_condition(steps: list[Tensor], betas: list[Tensor], active: Tensor) -> float:
    """κ estimate from the CG coefficients (see :func:`_conjugate_gradients`)."""
    if not steps or not bool(active.any()):
        return math.nan
    a = torch.stack(steps).cpu().numpy()[:, active.cpu().numpy()]  # (k, columns)
    b = torch.stack(betas).cpu().numpy()[:, active.cpu().numpy()]
    worst = 1.0
    for t in range(a.shape[1]):
        if not (a[:, t] > 0).all():
            continue  # a column solved exactly before the last step; its later steps are void
        diagonal = 1.0 / a[:, t]
        diagonal[1:] += b[:-1, t] / a[:-1, t]
        eig = scipy.linalg.eigvalsh_tridiagonal(diagonal, np.sqrt(b[:-1, t]) / a[:-1, t])
        worst = max(worst, eig[-1] / eig[0])
    return float(worst)


def _built_codes(
    keys: Tensor, gate_rows: Tensor, gate_bias: Tensor, up: Tensor
) -> tuple[Tensor, Tensor]:
    """Codes ``c(k_i)`` (F × m) of the returned weights and ``Σ|terms|`` per coordinate.

    The gate ``ReLU(G k + b)`` is evaluated on all N rows; the sums run over the rows it
    leaves on (the others contribute exactly 0), so this is the weights' forward pass, not
    the solver's record of the caps.
    """
    by_row = up.permute(1, 0, 2).contiguous()  # (N, m, d)
    codes = keys.new_zeros((keys.shape[0], up.shape[0]))
    magnitude = torch.zeros_like(codes)
    for start in range(0, keys.shape[0], _CHECK_KEYS):
        block = keys[start : start + _CHECK_KEYS]
        gate = torch.relu(block @ gate_rows.T + gate_bias)
        key, row = torch.nonzero(gate, as_tuple=True)
        s = gate[key, row][:, None]
        a, k = by_row[row], block[key][:, :, None]
        codes[start : start + _CHECK_KEYS].index_add_(0, key, s * torch.bmm(a, k)[:, :, 0])
        magnitude[start : start + _CHECK_KEYS].index_add_(
            0, key, s * torch.bmm(a.abs(), k.abs())[:, :, 0]
        )
    return codes, magnitude


def solve_encoder_sparse(
    keys,
    targets,
    *,
    slack: float = 0.1,
    active_per_key: float = 4.0,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    tol: float | None = None,
    max_iterations: int = 2000,
    tolerance: float = CODE_TOLERANCE,
) -> EncoderSolution:
    """Solve the encoder for ``keys`` (F×d) and ``targets`` (F×m) with sparse ReLU caps, in
    float64 (see the module docstring for the construction and its formulas).

    Parameters
    ----------
    keys, targets : array_like
        Targets of identical keys must be identical; identical keys are solved once. No key
        may be zero.
    slack : float ≥ 0
        ``N₀ = ⌈(1 + slack) F_unique / d'⌉`` random caps, ``d'`` the rank of the keys (the
        same meaning as the dense encoder's ``slack``; coverage caps come on top).
    active_per_key : float > 0
        ``p``, the mean number of random caps a key is in: ``q = round(p F_unique / N₀)``.
    generator : torch.Generator (CPU) for the gate directions; the same seed gives
        bit-identical weights on the CPU
    device : where the linear algebra runs
    tol : CG stops at ``max_t ‖(T − Qα)_t‖ / ‖T_t‖ < tol``; default
        ``tolerance / (8 √F_unique)``: then every key's residual is at most
        ``tolerance / 8`` relative to RMS_j ‖T_j‖ (``‖r_i‖ ≤ ‖R‖_F < tol ‖T‖_F``), which
        leaves room for the drift of the recurrence and the rounding of the built weights
    max_iterations : CG iterations allowed
    tolerance : the largest relative code error of the built weights accepted (per key,
        relative to max(‖T_i‖, RMS_j ‖T_j‖))

    Returns
    -------
    EncoderSolution
        ``method = "sparse"``; ``gate_rows`` (N × d), ``gate_bias = −τ`` (N,), ``up``
        (m, N, d), ``up_bias = None``; ``kernel_condition`` is the Lanczos estimate of
        ``κ(D⁻¹Q)``, ``cg_iterations`` the CG steps; ``refinements = 0``.

    Raises
    ------
    InvalidInputError
        Shapes disagree, a non-finite entry, identical keys with different targets, a zero
        key, a key deep inside the others (no small cap holds it), or an argument out of range.
        A zero key is refused because ``a·0 = 0``: with no up bias its code is 0, and the
        caps' thresholds assume every key has a direction (use the dense encoder with biases).
    SolverError
        CG does not reach ``tol`` in ``max_iterations`` (a singular or badly conditioned
        kernel), or the built weights miss a code by more than ``tolerance`` (relative).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> keys = rng.standard_normal((300, 16))
    >>> keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    >>> sol = solve_encoder_sparse(keys, rng.standard_normal((300, 3)))
    >>> sol.method, sol.up_bias is None, sol.max_code_error < 1e-8
    ('sparse', True, True)
    """
    K, T = validate_system(keys, targets, slack)
    if not (math.isfinite(active_per_key) and active_per_key > 0):
        raise InvalidInputError(f"active_per_key must be finite and > 0, got {active_per_key!r}")
    if tol is not None and not (0 < tol < 1):
        raise InvalidInputError(f"tol must lie in (0, 1), got {tol!r}")
    if not (0 < tolerance < 1):
        raise InvalidInputError(f"tolerance must lie in (0, 1), got {tolerance!r}")
    require_int("max_iterations", max_iterations, 1)
    zero = np.flatnonzero(~K.any(axis=1))
    if zero.size:
        raise InvalidInputError(
            f"keys[{zero[0]}] is zero: the sparse encoder has no up bias, so "
            "its code would be 0; use the dense encoder with biases"
        )
    unique, first, inverse = np.unique(K + 0.0, axis=0, return_index=True, return_inverse=True)
    if not np.array_equal(T, T[first][inverse.reshape(-1)]):
        raise InvalidInputError("identical keys have different targets")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)

    n_unique, dim = unique.shape
    if tol is None:
        tol = tolerance / (8 * math.sqrt(n_unique))
    key_scale = float(np.sqrt(np.mean(np.sum(unique**2, axis=1))))
    rank = int(np.linalg.matrix_rank(unique))
    n_random = math.ceil((1.0 + slack) * n_unique / rank)
    q = min(n_unique, max(1, round(active_per_key * n_unique / n_random)))
    directions = torch.randn(n_random, dim, generator=generator, dtype=torch.float64)
    directions /= directions.norm(dim=1, keepdim=True) * key_scale  # scores of order one

    Kt = torch.as_tensor(unique, device=device)
    Tt = torch.as_tensor(T[first], device=device)
    gate_rows, tau, index, gate = _choose_caps(Kt, directions.to(device), q, q // 8, first)
    caps = _Caps(Kt, index, gate)
    alpha, iterations, condition = _conjugate_gradients(caps, Tt, tol, max_iterations)
    up = caps.adjoint(alpha).permute(2, 0, 1).contiguous()  # (m, N, d)
    del caps

    gate_bias = -tau
    codes, magnitude = _built_codes(Kt, gate_rows, gate_bias, up)
    target_norm = Tt.norm(dim=1)
    error = (codes - Tt).norm(dim=1)
    reference = target_norm.clamp_min(float(target_norm.square().mean().sqrt()))
    worst = int(torch.argmax(error / reference.clamp_min(torch.finfo(torch.float64).tiny)))
    if float(error[worst]) > tolerance * float(reference[worst]):
        raise SolverError(
            f"sparse encoder: the built weights miss the code of unique key {worst} by "
            f"{float(error[worst] / reference[worst]):.2e} (relative) > {tolerance:.1e} "
            f"after {iterations} CG iterations; lower tol or use the dense encoder"
        )
    return EncoderSolution(
        gate_rows=gate_rows,
        gate_bias=gate_bias,
        up=up,
        up_bias=None,
        kernel_condition=condition,
        max_code_error=float(error.max()),
        amplification=float(
            (magnitude.norm(dim=1) / target_norm.clamp_min(torch.finfo(torch.float64).tiny)).max()
        ),
        refinements=0,
        method="sparse",
        cg_iterations=iterations,
        key_rank=rank,
        regularisation=0.0,
        kernel_eigenvalue_lower_bound=math.nan,  # no dense kernel (CG on a sparse one)
    )
