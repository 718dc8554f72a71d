"""The dense encoder: gate rows fixed at random, the up projection solved so every key hits its code.

Layout (``h = m·r`` hidden neurons in ``m`` groups of ``r``): every group shares the same
random gate rows ``G0 ∈ R^{r×d}`` (and gate bias ``b``), group ``t`` has its own up rows
``A_t`` and feeds code coordinate ``t``:

.. math::

    c_t(k) = \\sum_{n=1}^{r} σ(g_n \\cdot k + b_n)\\,(a_{t,n} \\cdot k + b'_{t,n}) .

**Whitened coordinates.** The solve runs on whitened keys ``z = Bᵀk ∈ R^q`` with
``B = V_q Σ_q^{-1} \\sqrt{F}`` from the SVD ``K = U Σ Vᵀ`` of the distinct keys, ``q`` their
numerical rank (singular values above ``RANK_TOL·σ_max``), so that ``(1/F) Σ_i z_i z_iᵀ = I``.
Gate rows are drawn in these coordinates (``N(0, s²/q)``, :func:`gate_scale` s) and
both gate and up rows are folded back, ``G = G_z Bᵀ``, ``A = A_z Bᵀ``: the returned MLP acts on
the original keys. Whitening is what keeps the kernel below well-conditioned for anisotropic
keys (a prescribed condition number κ(K) = 10⁴ enters the kernel as κ² ≈ 10⁸ otherwise, and
its Cholesky factorisation fails), and it sizes the group by the rank of the keys, not by d.

**The system.** Per code coordinate, "every key hits its code" is ``Φ vec(A_t) = T[:, t]``
with ``Φ_i = σ(G_z z_i + b) ⊗ x_i`` (F × r d'), ``x_i = z_i`` or ``[z_i; 1]`` with biases,
``d' = q + [bias]``. We take its min-norm solution through the kernel

.. math::

    Q = ΦΦ^\\top = (S S^\\top) ∘ (X X^\\top), \\quad S = σ(Z G_z^\\top + b), \\qquad
    α = Q^{-1} T, \\quad A_t = S^\\top \\operatorname{diag}(α_{:,t})\\, X ,

solved by one Cholesky factorisation for all ``m`` right-hand sides. If the factorisation
fails (near-duplicate keys with one code make ``Q`` numerically singular, though the system
is consistent), ``Q + δI`` is factored instead with the smallest ``δ`` in
``REGULARISATION_STEPS`` (relative to the mean diagonal) that succeeds. Refinement steps
then re-solve with the factor against the residual of the *built* weights, and the codes of
the returned weights are checked: a miss above ``tolerance`` is a :class:`SolverError`,
never a silently wrong MLP.

**Group size** ``r`` (:func:`theory.param_count.encoder_gate_rows`): enough unknowns for the
rank of Φ, ``(1 + slack)·F`` of them: ``r·d'`` for an analytic gate (SiLU, GELU); ReLU gets its
rows in ± pairs, so that every nonzero key has active gates (a key with every gate off would
be a zero row of Φ: singular with positive probability), and relu(z) − relu(−z) = z makes the
pairs' features obey p(p−1)/2 linear relations; the identity gate spans quadratic forms only.
With an analytic gate, ``Q`` is nonsingular except on a null set of keys and gates
(``theory.failure_sets``); the ReLU guarantee is per activation pattern. Every solve also
records ``kernel_eigenvalue_lower_bound``, a rigorous lower bound on λ_min of the exact
kernel at the point it drew (its float64 whitened keys and gate rows taken as exact reals;
:func:`theory.kernel_certificate.kernel_eigenvalue_certificate`): positive, it certifies
that this point, hence this shape, is nonsingular.

Identical keys share a row and a code, so they are solved once. Memory: one F×F kernel and
its factor; O(F²(r + d)) time for the products and O(F³/3) for the factorisation, and twice
that for the certificate (one more factorisation and the lower triangle of LLᵀ, in numpy on
the CPU, with about three F×F arrays in place of the factor).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from numerics.mlp import ACTIVATIONS
from theory.errors import InvalidInputError, SolverError
from theory.kernel_certificate import kernel_eigenvalue_certificate
from theory.param_count import encoder_gate_rows

__all__ = [
    "EncoderSolution",
    "solve_encoder",
    "CODE_TOLERANCE",
    "RANK_TOL",
    "whitening_basis",
    "gate_scale",
    "draw_gates",
]

#: Singular values of the keys below RANK_TOL·σ_max are treated as zero (the keys' rank q).
RANK_TOL = 1e-10
#: Default ``tolerance``: the built weights must reproduce every code to this error relative
#: to max(‖T_i‖, RMS ‖T‖).
CODE_TOLERANCE = 1e-8
#: Refinement stops once the worst relative code error is this small.
_REFINE_TARGET = 1e-13
_MAX_REFINEMENTS = 8
#: δ / mean(diag Q) tried in turn when plain Cholesky fails.
REGULARISATION_STEPS = (1e-14, 1e-12, 1e-10)


@dataclass(frozen=True)
class EncoderSolution:
    """Encoder weights (in the original key coordinates) and how well they solve the system.

    Attributes
    ----------
    gate_rows : Tensor (r, d)       shared gate rows G0
    gate_bias : Tensor (r,) | None  shared gate bias b
    up : Tensor (m, r, d)           up rows A_t of each group
    up_bias : Tensor (m, r) | None  the coefficient of the constant feature (up bias)
    kernel_condition : float        dense: estimate of κ(Q) (power iterations on the factor);
                                    sparse: Lanczos estimate of κ(D⁻¹Q), D = diag(Q), the
                                    Jacobi-preconditioned kernel CG solved (from its steps)
    max_code_error : float          max_i ‖c(k_i) − T_i‖ of the built weights (float64)
    amplification : float           max_i ‖Σ|terms|‖ / ‖c(k_i)‖: cancellation in the sums
    refinements : int               refinement steps taken (dense; 0 for sparse)
    method : str                    ``dense`` (this module) or ``sparse``
                                    (:mod:`numerics.construction.encoder_sparse`)
    cg_iterations : int             conjugate-gradient iterations (sparse; 0 for dense)
    key_rank : int                  q, the numerical rank of the distinct keys
    regularisation : float          δ / mean(diag Q) added before factoring (0 if none)
    kernel_eigenvalue_lower_bound : float
                                    dense: a rigorous lower bound on λ_min of the exact kernel
                                    Q at the drawn point (> 0: certified nonsingular; ≤ 0 or
                                    −inf: not certified); NaN for sparse and spline
    """

    gate_rows: Tensor
    gate_bias: Tensor | None
    up: Tensor
    up_bias: Tensor | None
    kernel_condition: float
    max_code_error: float
    amplification: float
    refinements: int
    method: str
    cg_iterations: int
    key_rank: int
    regularisation: float
    kernel_eigenvalue_lower_bound: float

    @property
    def group_size(self) -> int:
        return self.gate_rows.shape[0]


def whitening_basis(keys: np.ndarray) -> np.ndarray:
    """``B`` (d × q) with ``z = Bᵀk`` whitened: ``(1/F) Σ z zᵀ = I_q`` over the rows of ``keys``.

    ``q`` is the numerical rank (singular values above ``RANK_TOL·σ_max``); all-zero keys give
    q = 0 (an empty basis).

    Examples
    --------
    >>> K = np.diag([1.0, 1e-4, 0.0])
    >>> B = whitening_basis(K)
    >>> B.shape, np.allclose((K @ B).T @ (K @ B) / 3, np.eye(2))
    ((3, 2), True)
    """
    _, singular, vt = np.linalg.svd(keys, full_matrices=False)
    if singular.size == 0 or singular[0] == 0:
        return np.zeros((keys.shape[1], 0))
    q = int(np.sum(singular > RANK_TOL * singular[0]))
    return vt[:q].T / singular[:q] * math.sqrt(keys.shape[0])


def gate_scale(rows: int, rank: int) -> float:
    """Standard deviation of the gate pre-activations on whitened keys: ``2·√max(1, r/q)``.

    With many gate rows per key dimension (r/q ≫ 1) SiLU features of order-one
    pre-activations are nearly polynomial, hence nearly dependent: κ(Q) measured 1e303 at
    F = 145, q = 3, r = 51 with scale 1, 4e11 with scale 8 (as SiLU approaches a ReLU,
    its kinks separate the features). At r/q < 1 scale 2 helps a little (κ 9.9e4 → 6.4e4 at
    F = 2048, q = 64). Measured here; the rule is empirical.
    """
    return 2.0 * math.sqrt(max(1.0, rows / max(rank, 1)))


def _features(z: Tensor, bias: bool) -> Tensor:
    if not bias:
        return z
    # The constant feature carries the up bias; whitened coordinates have unit scale too.
    return torch.cat([z, z.new_ones((z.shape[0], 1))], dim=1)


def _codes(
    keys: Tensor, gate: Tensor, gate_bias: Tensor | None, up: Tensor, up_bias: Tensor | None, act
) -> tuple[Tensor, Tensor]:
    """Codes c (F×m) of the returned weights, from the original keys, and the sums of |terms|
    (for the amplification): the forward pass of the weights, not the solver's record."""
    pre = keys @ gate.T
    S = act(pre + gate_bias if gate_bias is not None else pre)
    codes = torch.empty(keys.shape[0], up.shape[0], dtype=keys.dtype, device=keys.device)
    magnitude = torch.empty_like(codes)
    for t in range(up.shape[0]):
        inner = keys @ up[t].T  # (F, r): a_{t,n} · k_i
        absolute = keys.abs() @ up[t].abs().T
        if up_bias is not None:
            inner = inner + up_bias[t]
            absolute = absolute + up_bias[t].abs()
        codes[:, t] = (S * inner).sum(dim=1)
        magnitude[:, t] = (S.abs() * absolute).sum(dim=1)
    return codes, magnitude


def _extreme_eigenvalues(factor: Tensor, steps: int = 12) -> tuple[float, float]:
    """λ_max and λ_min of the factored matrix L Lᵀ from power iterations on it and on its
    inverse (via the factor); their ratio is a lower bound on κ, within a factor of a few of
    the true κ after these steps (the power method converges at the rate of the eigenvalue
    gaps)."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    v = torch.randn(factor.shape[0], 1, generator=gen, dtype=factor.dtype).to(factor.device)
    w = v.clone()
    largest = smallest_inv = 0.0
    for _ in range(steps):
        v = factor @ (factor.T @ v)
        largest = float(v.norm())
        v = v / largest
        w = torch.cholesky_solve(w, factor)
        smallest_inv = float(w.norm())
        w = w / smallest_inv
    return largest, 1.0 / smallest_inv


def draw_gates(
    n_keys: int,
    rank: int,
    *,
    activation: str,
    slack: float,
    bias: bool,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor | None]:
    """The gate draw of :func:`solve_encoder`, in whitened coordinates: rows ``G_z`` (r × q,
    float64, CPU), r = :func:`theory.param_count.encoder_gate_rows`, and the gate bias (r,)
    with ``bias`` (else None); the same generator state gives the same draw."""
    group = encoder_gate_rows(n_keys, rank + int(bias), slack, activation)
    gate_z = torch.randn(group, max(rank, 1), generator=generator, dtype=torch.float64)
    gate_z = gate_z[:, :rank] * (gate_scale(group, rank) / math.sqrt(max(rank, 1)))
    if activation == "relu":
        # ± pairs cover every key: of g·z + b and −(g·z + b) one is positive unless it is 0.
        gate_z = torch.cat([gate_z[: group // 2], -gate_z[: group // 2]])
    gate_bias_z = (
        torch.randn(group, generator=generator, dtype=torch.float64) * gate_scale(group, rank)
        if bias
        else None
    )
    if activation == "relu" and bias:
        gate_bias_z = torch.cat([gate_bias_z[: group // 2], -gate_bias_z[: group // 2]])
    return gate_z, gate_bias_z


#: The last certified point's digest and bound: ``construct`` solves the same keys with the
#: same gate draw at every code dimension it tries, and the kernel does not depend on the codes.
_last_kernel_bound: dict[bytes, float] = {}


def _kernel_lower_bound(
    Z: Tensor, gate_z: Tensor, gate_bias: Tensor | None, activation: str, smallest: float
) -> float:
    """The certified lower bound on λ_min of the exact kernel at the point drawn (Z and G_z as
    computed, taken as exact reals), the first shift half the factor's estimate ``smallest``
    (of Q + δI when regularised, so possibly too large: the certificate then halves it);
    cached for the last point."""
    arrays = [a.cpu().numpy() for a in (Z, gate_z) + (() if gate_bias is None else (gate_bias,))]
    digest = hashlib.sha256(activation.encode())
    for array in arrays:
        digest.update(repr(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    key = digest.digest()
    if key not in _last_kernel_bound:
        certificate = kernel_eigenvalue_certificate(
            *arrays[:2],
            arrays[2] if gate_bias is not None else None,
            activation=activation,
            smallest_estimate=smallest if smallest > 0 and math.isfinite(smallest) else None,
        )
        _last_kernel_bound.clear()
        _last_kernel_bound[key] = certificate.lower_bound
    return _last_kernel_bound[key]


def _factor(Q: Tensor) -> tuple[Tensor, float]:
    """Cholesky factor of Q, or of Q + δI with the smallest δ of REGULARISATION_STEPS that
    succeeds (δ relative to the mean diagonal). Overwrites Q."""
    factor, info = torch.linalg.cholesky_ex(Q)
    if int(info) == 0:
        return factor, 0.0
    scale = float(Q.diagonal().mean())
    added = 0.0
    for relative in REGULARISATION_STEPS:
        Q.diagonal().add_((relative - added) * scale)
        added = relative
        factor, info = torch.linalg.cholesky_ex(Q)
        if int(info) == 0:
            return factor, relative
    raise SolverError(
        f"encoder kernel is not positive definite to working precision even with δ = "
        f"{added:g}·mean(diag Q) (pivot {int(info)} of {Q.shape[0]}): the keys are degenerate "
        "for this gate draw; try another seed or more slack"
    )


def validate_system(keys, targets, slack: float) -> tuple[np.ndarray, np.ndarray]:
    """Keys (F×d) and targets (F×m) as float64, finite, shapes agreeing; slack finite ≥ 0."""
    K = np.asarray(keys, dtype=np.float64)
    T = np.asarray(targets, dtype=np.float64)
    if K.ndim != 2 or T.ndim != 2 or K.shape[0] != T.shape[0] or K.shape[0] == 0:
        raise InvalidInputError(
            f"keys {K.shape} and targets {T.shape} must be (F, d) and (F, m), F ≥ 1"
        )
    for name, array in (("keys", K), ("targets", T)):
        if not np.isfinite(array).all():
            index = tuple(int(j) for j in np.argwhere(~np.isfinite(array))[0])
            raise InvalidInputError(f"{name}[{index}] is not finite")
    if not (math.isfinite(slack) and slack >= 0):
        raise InvalidInputError(f"slack must be finite and ≥ 0, got {slack!r}")
    return K, T


def solve_encoder(
    keys,
    targets,
    *,
    activation: str = "silu",
    slack: float = 0.05,
    bias: bool = False,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    tolerance: float = CODE_TOLERANCE,
) -> EncoderSolution:
    """Solve the encoder for ``keys`` (F×d) and their code ``targets`` (F×m), in float64.

    Parameters
    ----------
    keys, targets : array_like
        Targets of identical keys must be identical (they are for codes of a fact set).
    activation : gate nonlinearity, a name in ``numerics.mlp.ACTIVATIONS``
    slack : float ≥ 0, extra unknowns (see :func:`theory.param_count.encoder_gate_rows`)
    bias : add a gate bias and an up bias (needed to store facts at the zero key)
    generator : torch.Generator (CPU) for the gate draw; the same seed gives the same weights
    device : where the linear algebra runs
    tolerance : the largest relative code error accepted (see ``CODE_TOLERANCE``)

    Raises
    ------
    InvalidInputError
        Shapes disagree, a non-finite entry, identical keys with different targets, a zero
        key without ``bias``, a tolerance outside (0, 1).
    SolverError
        The activation cannot reach this many generic targets (identity gate beyond the
        quadratic forms), the kernel is singular even after regularisation, or the codes of
        the built weights miss their targets by more than ``tolerance``.
    """
    K, T = validate_system(keys, targets, slack)
    if not 0 < tolerance < 1:
        raise InvalidInputError(f"tolerance must lie in (0, 1), got {tolerance!r}")
    act = ACTIVATIONS[activation]
    unique, first, inverse = np.unique(K + 0.0, axis=0, return_index=True, return_inverse=True)
    if not np.array_equal(T, T[first][inverse.reshape(-1)]):
        raise InvalidInputError("identical keys have different targets")
    if not bias and not unique.any(axis=1).all():
        raise InvalidInputError("a zero key cannot hit a nonzero code without biases (g(0) = 0)")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)

    n_unique, dim = unique.shape
    basis = whitening_basis(unique)
    rank = basis.shape[1]
    gate_z, gate_bias_z = draw_gates(
        n_unique, rank, activation=activation, slack=slack, bias=bias, generator=generator
    )

    B = torch.as_tensor(basis, device=device)
    Kt = torch.as_tensor(unique, device=device)
    Tt = torch.as_tensor(T[first], device=device)
    gate_z = gate_z.to(device)
    gate_bias = None if gate_bias_z is None else gate_bias_z.to(device)
    Z = Kt @ B
    pre = Z @ gate_z.T
    S = act(pre + gate_bias if bias else pre)
    X = _features(Z, bias)

    Q = S @ S.T
    Q.mul_(X @ X.T)
    factor, regularisation = _factor(Q)
    del Q
    largest, smallest = _extreme_eigenvalues(factor)

    gate = gate_z @ B.T  # folded: G = G_z Bᵀ

    def weights_from(alpha: Tensor) -> tuple[Tensor, Tensor | None]:
        up_z = torch.stack([S.T @ (alpha[:, t : t + 1] * X) for t in range(alpha.shape[1])])
        up = up_z[:, :, :rank] @ B.T  # folded: A = A_z Bᵀ
        return up.contiguous(), (up_z[:, :, rank] if bias else None)

    alpha = torch.cholesky_solve(Tt, factor)
    up, up_bias = weights_from(alpha)
    target_norm = Tt.norm(dim=1)
    reference = target_norm.clamp_min(float(target_norm.square().mean().sqrt()))
    reference = reference.clamp_min(torch.finfo(torch.float64).tiny)
    refinements = 0
    previous, best = math.inf, None
    while True:
        codes, magnitude = _codes(Kt, gate, gate_bias, up, up_bias, act)
        error = (codes - Tt).norm(dim=1)
        worst = float((error / reference).max())
        if best is None or worst < best[0]:
            best = (worst, up, up_bias, error, magnitude)
        # Stop at the target, at the cap, or once a step no longer halves the error: the
        # remainder is then the rounding floor of the forward pass, which no step removes.
        # The best iterate is kept (a step at the floor can make the error slightly worse).
        if worst <= _REFINE_TARGET or refinements == _MAX_REFINEMENTS or worst > previous / 2:
            break
        previous = worst
        alpha = alpha + torch.cholesky_solve(Tt - codes, factor)
        up, up_bias = weights_from(alpha)
        refinements += 1
    worst, up, up_bias, error, magnitude = best
    if not worst <= tolerance:  # NaN fails too
        raise SolverError(
            f"encoder: the built weights miss a code by {worst:.2e} (relative) > "
            f"{tolerance:.1e} after {refinements} refinements (kernel regularised by "
            f"δ = {regularisation:g}·mean diag): the system has no exact solution for this gate "
            "draw; try another seed or more slack"
        )
    del factor  # the certificate's numpy arrays take its place in memory
    kernel_bound = _kernel_lower_bound(Z, gate_z, gate_bias, activation, smallest)
    return EncoderSolution(
        gate_rows=gate,
        gate_bias=gate_bias,
        up=up,
        up_bias=up_bias,
        kernel_condition=largest / smallest,
        max_code_error=float(error.max()),
        amplification=float(
            (magnitude.norm(dim=1) / target_norm.clamp_min(torch.finfo(torch.float64).tiny)).max()
        ),
        refinements=refinements,
        method="dense",
        cg_iterations=0,
        key_rank=rank,
        regularisation=regularisation,
        kernel_eigenvalue_lower_bound=kernel_bound,
    )
