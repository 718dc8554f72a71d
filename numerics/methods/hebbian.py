"""``hebbian`` / ``hebbian_ridge``: the bilinear construction of the follow-up paper.

.. math::

    φ(x) = \\frac{(A_0 x) ⊙ (A_1 x)}{\\sqrt h}, \\qquad g(x) = W φ(x),

with ``A₀, A₁`` (h×d) i.i.d. ``N(0, 1)/k̄`` (``k̄`` the keys' RMS norm, so that for unit keys
the entries are standard normal; the rescaling is ours) and ``Φ = φ(K)`` (F×h). Read-outs
``W`` (d×h), with ``V_f`` (F×d) the value of each key:

- ``raw`` (Hebbian): ``W = V_fᵀ Φ / F``;
- ``ridge`` (whitened): ``W = V_fᵀ Φ (ΦᵀΦ + λ I_h)⁻¹`` (primal, used when h ≤ F) or
  equivalently ``W = V_fᵀ (ΦΦᵀ + λ I_F)⁻¹ Φ`` (kernel form, used when h > F), with
  ``λ = ridge · tr(ΦᵀΦ)/h``: **relative** to the mean eigenvalue of ΦᵀΦ (default
  ``ridge = 1e-6``), so the read-out does not depend on the scale of the keys.

As a gated MLP: ``gate = A₀``, ``up = A₁/√h``, ``down = W``, activation ``identity``;
``2hd + dh = 3hd`` parameters, no biases. φ is quadratic in x, so Φ has rank at most
``d(d+1)/2``: beyond that many facts more width cannot make the ridge read-out interpolate.
A bilinear MLP is even, ``g(−x) = g(x)``: keys ``k`` and ``−k`` always decode alike.

References: paper.md §5 ("MLPs are Hebbians", arXiv 2607.10034: φ, the raw and ridge read-outs,
λ = 1e-6). The scaling of A₀, A₁ and the relative λ are ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from numerics.factset import FactSet
from numerics.methods.base import BuildResult, check_build_args, method_config, resolve_device
from numerics.mlp import GatedMLPWeights
from theory.errors import InvalidInputError, SolverError

__all__ = ["HebbianMethod", "READOUTS"]

READOUTS = ("raw", "ridge")
_BLOCK_ENTRIES = 2**24  # entries of Φ computed at once (128 MiB in float64)


@dataclass(frozen=True)
class HebbianMethod:
    """The bilinear construction with a raw or ridge read-out (module docstring)."""

    name: str = "hebbian"
    readout: str = "raw"
    ridge: float = 1e-6

    def __post_init__(self) -> None:
        if self.readout not in READOUTS:
            raise InvalidInputError(
                f"hebbian: readout must be one of {list(READOUTS)}, got {self.readout!r}"
            )
        if not (
            isinstance(self.ridge, (int, float)) and math.isfinite(self.ridge) and self.ridge > 0
        ):
            raise InvalidInputError(
                f"hebbian: ridge must be positive and finite, got {self.ridge!r}"
            )

    def initial_hidden(self, factset: FactSet) -> int:
        return max(8, factset.n_facts // 2 if self.readout == "ridge" else 4 * factset.n_facts)

    def default_max_hidden(self, factset: FactSet) -> int:
        # ridge interpolates at h ≥ F (when F ≤ d(d+1)/2); raw saturates in its cross-talk.
        return max(64, 2 * factset.n_facts if self.readout == "ridge" else 64 * factset.n_facts)

    def build(
        self, factset: FactSet, hidden: int, *, seed: int = 0, device: str = "cpu"
    ) -> BuildResult:
        """The bilinear MLP at width ``hidden`` (float64).

        Raises
        ------
        SolverError
            The ridge system is not positive definite to working precision.
        """
        check_build_args(self.name, factset, hidden, seed)
        dev = resolve_device(device)
        h, n = int(hidden), factset.n_facts
        keys, a0, a1 = random_bilinear_draw(factset, h, seed, dev)
        targets = torch.tensor(factset.values, dtype=torch.float64, device=dev)[
            torch.tensor(factset.fact_map, device=dev)
        ]  # V_f (F×d)

        def phi(rows: slice, cols: slice = slice(None)) -> torch.Tensor:
            k = keys[rows]  # Φ[rows, cols]
            return (k @ a0[cols].T) * (k @ a1[cols].T) / math.sqrt(h)

        # Blocks of at most 2^24 entries of Φ: key blocks (raw, primal), neuron blocks (kernel).
        keys_per_block = max(1, _BLOCK_ENTRIES // h)
        key_blocks = [slice(s, s + keys_per_block) for s in range(0, n, keys_per_block)]
        form = "raw"
        if self.readout == "raw":
            down = sum(targets[b].T @ phi(b) for b in key_blocks) / n
        elif h <= n:
            form = "primal"
            gram = sum(phi(b).T @ phi(b) for b in key_blocks)  # ΦᵀΦ (h×h)
            rhs = sum(targets[b].T @ phi(b) for b in key_blocks)  # V_fᵀΦ (d×h)
            lam = self.ridge * float(torch.diagonal(gram).sum()) / h
            down = solve_spd(gram, lam, rhs.T, "ΦᵀΦ + λI").T
        else:
            form = "kernel"
            per_block = max(1, _BLOCK_ENTRIES // n)
            neuron_blocks = [slice(s, s + per_block) for s in range(0, h, per_block)]
            everyone = slice(None)
            gram = sum(phi(everyone, c) @ phi(everyone, c).T for c in neuron_blocks)  # ΦΦᵀ
            lam = self.ridge * float(torch.diagonal(gram).sum()) / h
            alpha = solve_spd(gram, lam, targets, "ΦΦᵀ + λI")  # (F×d)
            del gram
            down = torch.cat([alpha.T @ phi(everyone, c) for c in neuron_blocks], dim=1)
        weights = GatedMLPWeights(
            a0.cpu(), (a1 / math.sqrt(h)).cpu(), down.cpu().contiguous(), activation="identity"
        )
        info = {
            "requested_hidden": h,
            "seed": int(seed),
            "config": method_config(self),
            "readout": self.readout,
            "form": form,
            "dtype": "float64",
        }
        if self.readout == "ridge":
            info.update(ridge=self.ridge, ridge_is="relative to tr(ΦᵀΦ)/h", lam=lam)
        return BuildResult(weights=weights, method=self.name, hidden=h, info=info)


def random_bilinear_draw(factset, hidden: int, seed: int, device):
    """The keys (float64, on ``device``) and the random A₀, A₁ (h×d, N(0,1)/k̄ with k̄ the
    keys' RMS norm) of the bilinear features, drawn from one generator seeded with ``seed``:
    ``hebbian``, ``hebbian_ridge`` and ``hebbian_dd`` start from the same draw."""
    gen = torch.Generator().manual_seed(int(seed))
    keys = torch.tensor(factset.keys, dtype=torch.float64)
    key_rms = float(keys.pow(2).sum(1).mean().sqrt()) or 1.0
    shape = (int(hidden), factset.dim)
    a0 = (torch.randn(shape, generator=gen, dtype=torch.float64) / key_rms).to(device)
    a1 = (torch.randn(shape, generator=gen, dtype=torch.float64) / key_rms).to(device)
    return keys.to(device), a0, a1


def solve_spd(matrix: torch.Tensor, lam: float, rhs: torch.Tensor, label: str) -> torch.Tensor:
    """(matrix + λI)⁻¹ rhs by Cholesky (the ridge read-outs of ``hebbian_ridge`` and
    ``hebbian_dd``); ``label`` names the matrix in the error."""
    shifted = matrix + lam * torch.eye(matrix.shape[0], dtype=matrix.dtype, device=matrix.device)
    factor, info = torch.linalg.cholesky_ex(shifted)
    if int(info) != 0:
        raise SolverError(
            f"ridge read-out: {label} is not positive definite to working "
            f"precision (pivot {int(info)}); increase ridge"
        )
    return torch.cholesky_solve(rhs, factor)
