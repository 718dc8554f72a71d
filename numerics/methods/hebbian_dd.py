"""``hebbian_dd``: the follow-up paper's *data-dependent* bilinear construction.

Same features as ``hebbian`` (:mod:`numerics.methods.hebbian`), but ``A₀, A₁`` are refitted
to the fact set before the read-out is solved:

.. math::

    φ(x) = (A_0 x) ⊙ (A_1 x), \\qquad g(x) = W φ(x).

Symbols: keys ``K`` (F×d), candidate values ``V`` (M×d, every value of the fact set), the
value of each fact ``V_f`` (F×d, row ``i`` is ``v_{f(i)}``), ``G = VᵀV`` (d×d),
``Φ(A₀, A₁) = φ(K)`` (F×h), row ``φ_i``.

Steps (the follow-up's ``variant="data_dependent"``, labelled ``cf_coord_whitened`` in its
results; its ``construction.py`` / ``readout.py``):

1. **Draw.** ``A₀, A₁`` (h×d) i.i.d. ``N(0, 1)/k̄`` (``k̄`` the keys' RMS norm), the very
   draws of ``hebbian`` at the same seed and width (same generator, same order).
   ``Φ₀ = Φ(A₀, A₁)``, *without* the ``1/√h`` of ``hebbian`` (theirs: fitted features keep
   their native scale). Raw read-out ``W₀ = V_fᵀ Φ₀ / F`` (d×h), kept fixed for both refits.
2. **Refit A₁** with ``A₀`` fixed, then **A₀** with the new ``A₁`` fixed, each by ridge
   least squares of the read-out's *score* error: with ``y_i = W₀ φ_i`` (linear in the
   refitted matrix ``A``),

   .. math::

       J(A) = \\tfrac12 \\sum_i ‖V y_i − e_{f(i)}‖^2 + \\tfrac{λ_{fit}}{2} ‖A‖_F^2
            = \\tfrac12 \\sum_i \\big(y_iᵀ G y_i − 2 v_{f(i)}ᵀ y_i + 1\\big)
              + \\tfrac{λ_{fit}}{2} ‖A‖_F^2 ,

   i.e. the scores ``⟨v_j, W₀ φ(k_i)⟩`` of every candidate value should be one-hot at the
   fact's value. Equivalently ``y_i`` is fitted to the *whitened* target ``G⁻¹ v_{f(i)}`` in
   the ``G`` metric (``‖G^{1/2} y_i − G^{-1/2} v_{f(i)}‖²`` up to a constant) — hence the
   "whitened" in their label. It is not ``W₀ φ_i ≈ v_{f(i)}``. Since ``V y_i`` has rank
   ``≤ d``, ``Σ_i ‖V y_i − e_{f(i)}‖² ≥ F − d`` for a bijection: the refits cannot go below
   that. With ``C = K Pᵀ`` (F×h, ``P`` the fixed partner), ``Φ(A) = C ⊙ (K Aᵀ)`` and the
   normal equations ``H(A) = B`` are

   .. math::

       H(A) = \\big(C ⊙ (Φ(A) W₀ᵀ G W₀)\\big)ᵀ K + λ_{fit} A, \\qquad
       B = \\big(C ⊙ (V_f W₀)\\big)ᵀ K \\quad (h×d),

   solved by Jacobi-preconditioned conjugate gradients from ``A = 0``, preconditioner
   ``diag H = (W₀ᵀ G W₀)_{mm} · Σ_i C_{im}² K_{ij}² + λ_{fit}``; stop when
   ``‖B − H(A)‖_F ≤ rtol · ‖B‖_F`` or after ``min(max(2h, 128), 1024)`` iterations
   (theirs), ``rtol = 1e-10`` if ``hd ≤ 8192`` else ``1e-5`` (theirs). A CG run that stops on
   the iteration cap is kept (``info["fits"][k]["converged"]`` says so); a non-positive
   curvature raises :class:`~theory.errors.SolverError`.
3. **Ridge read-out** on the refitted features, as ``hebbian_ridge``:
   ``W = V_fᵀ Φ (ΦᵀΦ + λ I_h)⁻¹`` when ``h ≤ F`` (primal), ``W = V_fᵀ (ΦΦᵀ + λ I_F)⁻¹ Φ``
   when ``h > F`` (kernel form), ``λ = ridge · tr(ΦᵀΦ)/h``.

As a gated MLP: ``gate = A₀``, ``up = A₁``, ``down = W``, activation ``identity``;
``2hd + dh = 3hd`` parameters, no biases (as ``hebbian``). Everything is float64 and
deterministic in the seed. Cost: ``O(F·h)`` memory and ``O(iterations·F·h·d)`` time per refit.

Where this deviates from the follow-up's code (``ridge = 1e-6`` there, for all three uses):

- **λ relative, not absolute.** Theirs: ``λ_fit = 1e-6`` absolute in ``J``; read-out
  ``(ΦᵀΦ/F + 1e-6 I)`` (i.e. ``λ = F·1e-6``) when ``h ≤ F`` but ``(ΦΦᵀ + 1e-6 I)`` when
  ``h > F``. Ours: ``λ_fit = fit_ridge · mean(diag H|_{λ=0})`` and the read-out ``λ`` of
  ``hebbian_ridge`` (relative to ``tr(ΦᵀΦ)/h``), so that rescaling the keys rescales ``A₀,
  A₁`` exactly and the two read-out forms agree. Both are tiny at the defaults (1e-6); on
  tied spherical sets (d = 16–32) recall and ``J`` did not change between the two.
- **Precision.** Theirs solves the refit in float32 when ``hd > 8192``; ours always in
  float64 (their tolerance rule is kept).
- **Candidate values.** Theirs uses ``V_f`` in place of ``V`` (one row per fact); ours the
  M distinct candidate values that strict recall compares against. Identical for a
  bijection; for a many-to-one map theirs asks for a score 0 at other facts sharing the
  value.
- **Initial scale.** Theirs ``N(0, 1)``; ours ``N(0, 1)/k̄`` (identical for unit keys).

References: "MLPs are Hebbians" (arXiv 2607.10034), code github.com/HazyResearch/hebbian-mlps
``src/hebbian/methods/hebbian/{construction,readout}.py`` (read, not copied); paper.md §5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from numerics.factset import FactSet
from numerics.methods.base import BuildResult, check_build_args, method_config, resolve_device
from numerics.methods.hebbian import random_bilinear_draw, solve_spd
from numerics.mlp import GatedMLPWeights
from theory.errors import InvalidInputError, SolverError

__all__ = ["HebbianDDMethod", "score_residual", "cg_rule"]


def cg_rule(hidden: int, dim: int) -> tuple[float, int]:
    """The follow-up's CG stopping rule ``(rtol, max_iterations)`` for an h×d unknown."""
    rtol = 1e-10 if hidden * dim <= 8192 else 1e-5
    return rtol, min(max(2 * hidden, 128), 1024)


def score_residual(
    features: torch.Tensor, readout: torch.Tensor, values: torch.Tensor, targets: torch.Tensor
) -> float:
    """``Σ_i ‖V W φ_i − e_{f(i)}‖²`` without forming the M×F score matrix.

    ``features`` Φ (F×h), ``readout`` W (d×h), ``values`` V (M×d), ``targets`` V_f (F×d).
    """
    y = features @ readout.T  # F×d
    gram = values.T @ values
    return float((y @ gram * y).sum() - 2 * (y * targets).sum() + features.shape[0])


def _positive(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidInputError(f"hebbian_dd: {name} must be positive and finite, got {value!r}")


@dataclass(frozen=True)
class HebbianDDMethod:
    """The data-dependent bilinear construction (module docstring).

    Attributes
    ----------
    name : str
    ridge : float
        Read-out ridge, relative to ``tr(ΦᵀΦ)/h`` (as ``hebbian_ridge``).
    fit_ridge : float
        Refit ridge, relative to the mean diagonal of the refit's normal operator.
    cg_rtol : float or None
        CG relative tolerance; ``None``: the follow-up's rule (:func:`cg_rule`).
    cg_max_iter : int or None
        CG iteration cap; ``None``: the follow-up's rule (:func:`cg_rule`).
    """

    name: str = "hebbian_dd"
    ridge: float = 1e-6
    fit_ridge: float = 1e-6
    cg_rtol: float | None = None
    cg_max_iter: int | None = None

    def __post_init__(self) -> None:
        _positive("ridge", self.ridge)
        _positive("fit_ridge", self.fit_ridge)
        if self.cg_rtol is not None:
            _positive("cg_rtol", self.cg_rtol)
        if self.cg_max_iter is not None and (
            isinstance(self.cg_max_iter, bool)
            or not isinstance(self.cg_max_iter, int)
            or self.cg_max_iter < 1
        ):
            raise InvalidInputError(
                f"hebbian_dd: cg_max_iter must be an integer ≥ 1, got {self.cg_max_iter!r}"
            )

    def initial_hidden(self, factset: FactSet) -> int:
        # Measured (benchmarks/bench_hebbian_dd.py, tied spherical, seed 0): capacity
        # 0.34·F at d = 32, F = 512 and 0.21·F at d = 64, F = 2048.
        return max(8, factset.n_facts // 4)

    def default_max_hidden(self, factset: FactSet) -> int:
        # As hebbian_ridge: the ridge read-out interpolates at h ≥ F (when F ≤ d(d+1)/2).
        return max(64, 2 * factset.n_facts)

    def build(
        self, factset: FactSet, hidden: int, *, seed: int = 0, device: str = "cpu"
    ) -> BuildResult:
        """The data-dependent bilinear MLP at width ``hidden`` (float64).

        Raises
        ------
        InvalidInputError
            Bad arguments (factset, width, seed, device).
        SolverError
            A refit lost positive curvature, or the read-out system is not positive definite
            to working precision.
        """
        check_build_args(self.name, factset, hidden, seed)
        dev = resolve_device(device)
        d, h, n = factset.dim, int(hidden), factset.n_facts
        keys, a0, a1 = random_bilinear_draw(factset, h, seed, dev)
        values = torch.tensor(factset.values, dtype=torch.float64, device=dev)  # V (M×d)
        targets = values[torch.tensor(factset.fact_map, device=dev)]  # V_f (F×d)
        gram = values.T @ values  # G (d×d)

        def phi(b0: torch.Tensor, b1: torch.Tensor) -> torch.Tensor:
            return (keys @ b0.T) * (keys @ b1.T)  # F×h, unnormalised

        w0 = targets.T @ phi(a0, a1) / n  # raw read-out W₀ (d×h), fixed for both refits
        rtol, max_iter = cg_rule(h, d)
        rtol = rtol if self.cg_rtol is None else float(self.cg_rtol)
        max_iter = max_iter if self.cg_max_iter is None else int(self.cg_max_iter)
        residuals = [score_residual(phi(a0, a1), w0, values, targets)]
        fits = []
        for refit in ("A1", "A0"):
            partner = a0 if refit == "A1" else a1
            fitted, stats = _refit(
                keys @ partner.T, keys, w0, gram, targets, self.fit_ridge, rtol, max_iter
            )
            if refit == "A1":
                a1 = fitted
            else:
                a0 = fitted
            residuals.append(score_residual(phi(a0, a1), w0, values, targets))
            fits.append({"refit": refit, **stats})

        features = phi(a0, a1)
        if h <= n:
            form = "primal"
            normal = features.T @ features  # ΦᵀΦ (h×h)
            lam = self.ridge * float(torch.diagonal(normal).sum()) / h
            down = solve_spd(normal, lam, features.T @ targets, "ΦᵀΦ + λI").T
        else:
            form = "kernel"
            kernel = features @ features.T  # ΦΦᵀ (F×F)
            lam = self.ridge * float(torch.diagonal(kernel).sum()) / h
            down = solve_spd(kernel, lam, targets, "ΦΦᵀ + λI").T @ features
        if tuple(down.shape) != (d, h):  # internal invariant
            raise AssertionError(f"read-out shape {tuple(down.shape)} != {(d, h)}")
        weights = GatedMLPWeights(
            a0.cpu().contiguous(),
            a1.cpu().contiguous(),
            down.cpu().contiguous(),
            activation="identity",
        )
        info = {
            "requested_hidden": h,
            "seed": int(seed),
            "config": method_config(self),
            "form": form,
            "dtype": "float64",
            "ridge": self.ridge,
            "ridge_is": "relative to tr(ΦᵀΦ)/h",
            "lam": lam,
            "fit_ridge_is": "relative to mean diag of the refit's normal operator",
            "cg_rtol": rtol,
            "cg_max_iter": max_iter,
            "score_residuals": residuals,  # J·2 without ridge: initial, after A₁, after A₀
            "fits": fits,
        }
        return BuildResult(weights=weights, method=self.name, hidden=h, info=info)


def _refit(
    partner_proj: torch.Tensor,
    keys: torch.Tensor,
    readout: torch.Tensor,
    gram: torch.Tensor,
    targets: torch.Tensor,
    fit_ridge: float,
    rtol: float,
    max_iter: int,
) -> tuple[torch.Tensor, dict]:
    """Minimiser of J(A) (module docstring, step 2) by Jacobi-preconditioned CG from 0.

    ``partner_proj`` C = K Pᵀ (F×h), ``keys`` K (F×d), ``readout`` W₀ (d×h), ``gram`` G,
    ``targets`` V_f. Returns A (h×d) and JSON-safe statistics.
    """
    c = partner_proj
    rhs = (c * (targets @ readout)).T @ keys  # B (h×d)
    coupling = (readout * (gram @ readout)).sum(0)  # (W₀ᵀ G W₀)_mm (h)
    diagonal = coupling[:, None] * ((c * c).T @ (keys * keys))  # diag H at λ = 0
    lam = fit_ridge * float(diagonal.mean())
    stats = {"lam": lam, "iterations": 0, "rel_residual": 0.0, "converged": True}
    rhs_norm = float(torch.linalg.norm(rhs))
    solution = torch.zeros_like(rhs)
    if rhs_norm == 0.0 or lam == 0.0:
        return solution, stats

    def operator(a: torch.Tensor) -> torch.Tensor:
        decoded = (c * (keys @ a.T)) @ readout.T  # y_i = W₀ φ_i(A) (F×d)
        return (c * ((decoded @ gram) @ readout)).T @ keys + lam * a

    inverse_diag = 1.0 / (diagonal + lam)
    residual = rhs.clone()
    scaled = inverse_diag * residual
    direction = scaled.clone()
    rz = float((residual * scaled).sum())
    rel = 1.0
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        applied = operator(direction)
        curvature = float((direction * applied).sum())
        if not curvature > 0.0:
            raise SolverError(
                f"hebbian_dd refit: conjugate gradients lost positive curvature "
                f"({curvature:.3g}) at iteration {iterations}; increase fit_ridge"
            )
        step = rz / curvature
        solution = solution + step * direction
        residual = residual - step * applied
        rel = float(torch.linalg.norm(residual)) / rhs_norm
        if rel <= rtol:
            break
        scaled = inverse_diag * residual
        rz_next = float((residual * scaled).sum())
        direction = scaled + (rz_next / rz) * direction
        rz = rz_next
    stats.update(iterations=iterations, rel_residual=rel, converged=rel <= rtol)
    return solution, stats
