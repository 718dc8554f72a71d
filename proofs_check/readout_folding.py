"""Check: folding a linear map of the value embeddings into the read-out keeps every logit.

Claim (exact algebra, paper §4 "whitening", derived here): for values transformed as
``v'_j = L v_j`` (rows: ``V' = V Lᵀ``),

    <g(x), L v_j> = <Lᵀ g(x), v_j>,

so :func:`numerics.mlp.fold_readout` (``down ← Lᵀ·down``, ``down_bias ← Lᵀ·down_bias``) scored
against the original V gives the logits of the unfolded MLP scored against V'. The check runs
our code in float64 on a random gated MLP with all three biases, for two maps: a random
well-conditioned L (singular values in [0.5, 2]) and the whitening L = Σ^{-1/2} of random
anisotropic values (per-direction scales spanning 10^-1.5..10^1.5). Evidence: the max relative
difference max|Δ| / max|logit| for each; it passes when both are ≤ 1e-10.
"""

from __future__ import annotations

import numpy as np
import torch

from numerics.mlp import GatedMLPWeights, fold_readout
from proofs_check.registry import Evidence, check

TOLERANCE = 1e-10


def _random_mlp(gen: torch.Generator, hidden: int, dim: int) -> GatedMLPWeights:
    def draw(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    return GatedMLPWeights(
        draw(hidden, dim) / dim**0.5,
        draw(hidden, dim) / dim**0.5,
        draw(dim, hidden) / hidden**0.5,
        activation="silu",
        gate_bias=draw(hidden),
        up_bias=draw(hidden),
        down_bias=draw(dim),
    )


def _orthogonal(rng: np.random.Generator, dim: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))  # sign fix: Haar-distributed


def _max_relative_difference(
    weights: GatedMLPWeights, lin: np.ndarray, values: np.ndarray, x: torch.Tensor
) -> float:
    folded_logits = fold_readout(weights, lin).forward(x).numpy() @ values.T
    original_logits = weights.forward(x).numpy() @ (values @ lin.T).T
    return float(np.abs(folded_logits - original_logits).max() / np.abs(original_logits).max())


@check(
    "readout_folding",
    claim="folding a linear map of the embeddings into the read-out gives identical logits "
    "in our code (<Lᵀg(x), v_j> = <g(x), L v_j>)",
    exercises="numerics.mlp.fold_readout",
)
def readout_folding() -> Evidence:
    dim, hidden, n_values, n_keys = 48, 96, 300, 200
    rng = np.random.default_rng(20251130)
    weights = _random_mlp(torch.Generator().manual_seed(20251130), hidden, dim)
    x = torch.from_numpy(rng.normal(size=(n_keys, dim)))

    # A random well-conditioned map: U diag(s) Wᵀ with s in [0.5, 2] (condition number ≤ 4).
    s = rng.uniform(0.5, 2.0, size=dim)
    well_conditioned = _orthogonal(rng, dim) * s @ _orthogonal(rng, dim).T
    values = rng.normal(size=(n_values, dim))
    diff_general = _max_relative_difference(weights, well_conditioned, values, x)

    # Whitening of anisotropic values: V = Z diag(scales) Rᵀ, Σ = cov(V), L = Σ^{-1/2}.
    scales = 10.0 ** rng.uniform(-1.5, 1.5, size=dim)
    aniso = rng.normal(size=(n_values, dim)) * scales @ _orthogonal(rng, dim).T
    eigval, eigvec = np.linalg.eigh(np.cov(aniso, rowvar=False))
    whitening = eigvec @ np.diag(eigval**-0.5) @ eigvec.T
    whitened = aniso @ whitening.T
    # Sanity of the setup itself: the whitened values have identity covariance.
    whiteness = float(np.abs(np.cov(whitened, rowvar=False) - np.eye(dim)).max())
    diff_whitening = _max_relative_difference(weights, whitening, aniso, x)

    passed = diff_general <= TOLERANCE and diff_whitening <= TOLERANCE and whiteness < 1e-8
    details = (
        f"d={dim}, h={hidden}, M={n_values}, {n_keys} inputs, SiLU, all biases, float64\n"
        f"random L (cond {s.max() / s.min():.2f}): max rel. logit difference {diff_general:.2e}\n"
        f"whitening L = Σ^-1/2 (cond {np.sqrt(eigval.max() / eigval.min()):.1f}, "
        f"|cov(VLᵀ) − I|max = {whiteness:.1e}): max rel. logit difference {diff_whitening:.2e}\n"
        f"tolerance {TOLERANCE:.0e}"
    )
    return Evidence(passed=passed, details=details)
