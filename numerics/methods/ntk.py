"""``ntk``: the one-shot gated superposition construction the paper compares with ("NTK").

.. math::

    G_{nj} \\sim N(0, 1)/\\bar k, \\quad D = \\tilde D / ‖\\tilde D_{:,n}‖,\\ \\tilde D_{jn} \\sim N(0, 1),
    \\quad Φ = \\frac{He_k(K G^\\top)}{\\sqrt{k!}}, \\quad C = V_{f} D, \\quad
    A = \\frac{(Φ ⊙ C)^\\top K}{h}, \\qquad g(x) = D(σ(Gx) ⊙ Ax),

with ``K`` (F×d) the keys, ``V_f`` (F×d) the value of each key, ``He_k`` the probabilists'
Hermite polynomial of degree ``k`` (default 1: ``Φ = KGᵀ``), ``h`` the width and
``k̄`` the keys' RMS norm (so that for unit keys ``G ~ N(0, 1)`` exactly and a gate
pre-activation is a standard normal; this rescaling is ours and does not change the
construction on spherical keys). Shapes: G, A (h×d), D (d×h); ``3hd`` parameters.

Why it works, and which σ: ``g(k_i) = Σ_n D_n σ(g_n·k_i) Σ_j Φ_jn (D_nᵀ v_f(j)) (k_j·k_i)/h``;
the ``j = i`` term averages over the random neurons to ``c_k(σ)·‖k_i‖²·v_f(i)/d`` with
``c_k(σ) = E[σ(z) He_k(z)]/√k!``, ``z ~ N(0,1)``, the degree-``k`` Hermite coefficient of σ;
the ``j ≠ i`` terms are cross-talk, which sets a capacity of order ``d²`` facts that no
width removes (the paper: fails beyond ≈ 0.2–0.5·d² facts). So σ must have a nonzero
degree-``k`` Hermite coefficient: ReLU (the default: ``c₁ = 1/2``) and SiLU work for
``k = 1``; the identity gate works only for ``k = 1``; ReLU has ``c_k = 0`` for odd
``k ≥ 3``. :class:`NTKMethod` computes ``c_k(σ)`` by quadrature and refuses a zero one.
Measured (tied spherical, seed 0, float32 recall): the ceiling in F does not depend on σ
(d = 32: stored at F = 224 = 0.22·d², not at F = 256 up to h = 16384, for relu, silu and
identity; paper: ≈ 0.23·d²), while below it σ sets the width needed: at d = 32, F = 128,
h = 1600 (relu), 907 (silu), 464 (identity); the energy of σ outside degree k only adds
noise. ReLU stays the default, the gate of the compared construction.

References: paper.md §5 (the construction as in the follow-up code; in the style of Nichani,
Lee & Bietti 2024, arXiv 2412.06538). The key rescaling and the σ analysis are derived here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy import integrate

from numerics.factset import FactSet
from numerics.methods.base import BuildResult, check_build_args, method_config, resolve_device
from numerics.mlp import ACTIVATIONS, GatedMLPWeights
from theory.errors import InvalidInputError

__all__ = ["NTKMethod", "hermite_coefficient"]

#: |c_k(σ)| below this counts as zero (the quadrature is accurate to ≈ 1e-12).
_ZERO_COEFFICIENT = 1e-8
_BLOCK_ENTRIES = 2**24  # keys × neurons per block when A is accumulated (128 MiB)
#: Widest default search width: the cross-talk floor is reached far below at every F tried.
_MAX_DEFAULT_HIDDEN = 2**17


def _hermite(x: torch.Tensor, degree: int) -> torch.Tensor:
    """He_k(x)/√k! by the recurrence He_{n+1} = x He_n − n He_{n−1}."""
    prev, cur = torch.ones_like(x), x
    if degree == 0:
        return prev
    for n in range(1, degree):
        prev, cur = cur, x * cur - n * prev
    return cur / math.sqrt(math.factorial(degree))


@lru_cache(maxsize=64)
def hermite_coefficient(activation: str, degree: int) -> float:
    """``c_k(σ) = E[σ(z) He_k(z)]/√k!`` for ``z ~ N(0, 1)`` (quadrature, split at 0).

    Examples
    --------
    >>> round(hermite_coefficient("relu", 1), 10), round(hermite_coefficient("identity", 1), 10)
    (0.5, 1.0)
    >>> abs(hermite_coefficient("relu", 3)) < 1e-10
    True
    """
    act = ACTIVATIONS[activation]
    norm = math.sqrt(math.factorial(degree))

    def integrand(z: float) -> float:
        t = torch.tensor([z], dtype=torch.float64)
        return float(act(t)[0] * _hermite(t, degree)[0]) * norm * math.exp(-z * z / 2)

    total = sum(
        integrate.quad(integrand, a, b, epsabs=1e-13, limit=200)[0]
        for a, b in ((-np.inf, 0.0), (0.0, np.inf))
    )
    return total / math.sqrt(2 * math.pi) / norm


@dataclass(frozen=True)
class NTKMethod:
    """The one-shot gated superposition construction (module docstring).

    Attributes
    ----------
    activation : σ (default ``relu``); must have a nonzero degree-``degree`` Hermite
        coefficient
    degree : k, the Hermite degree of Φ (default 1)
    """

    name: str = "ntk"
    activation: str = "relu"
    degree: int = 1

    def __post_init__(self) -> None:
        ACTIVATIONS[self.activation]
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 0:
            raise InvalidInputError(f"ntk: degree must be an integer ≥ 0, got {self.degree!r}")
        if abs(hermite_coefficient(self.activation, self.degree)) < _ZERO_COEFFICIENT:
            raise InvalidInputError(
                f"ntk: σ = {self.activation} has no degree-{self.degree} Hermite component "
                "(c_k(σ) = 0), so the construction carries no signal; use relu or silu with "
                "degree 1"
            )

    def initial_hidden(self, factset: FactSet) -> int:
        return max(8, 4 * factset.n_facts)

    def default_max_hidden(self, factset: FactSet) -> int:
        # Near its ceiling the width needed grows steeply (d = 16, F = 48: h = 2562 ≈ 53 F);
        # beyond it no width helps, so the search stops at 64 F (at most 2^17).
        return max(64, min(64 * factset.n_facts, _MAX_DEFAULT_HIDDEN))

    def build(
        self, factset: FactSet, hidden: int, *, seed: int = 0, device: str = "cpu"
    ) -> BuildResult:
        """The construction at width ``hidden`` (float64; memory ``O(hd + chunk·h)``)."""
        check_build_args(self.name, factset, hidden, seed)
        dev = resolve_device(device)
        gen = torch.Generator().manual_seed(int(seed))
        d, h = factset.dim, int(hidden)
        keys = torch.tensor(factset.keys, dtype=torch.float64)
        key_rms = float(keys.pow(2).sum(1).mean().sqrt()) or 1.0
        gate = torch.randn(h, d, generator=gen, dtype=torch.float64) / key_rms
        down = torch.randn(d, h, generator=gen, dtype=torch.float64)
        down = down / down.norm(dim=0, keepdim=True)
        gate, down, keys = gate.to(dev), down.to(dev), keys.to(dev)
        values = torch.tensor(factset.values, dtype=torch.float64, device=dev)
        fact_map = torch.tensor(factset.fact_map, device=dev)
        up = torch.zeros(h, d, dtype=torch.float64, device=dev)
        chunk = max(1, _BLOCK_ENTRIES // h)
        for start in range(0, factset.n_facts, chunk):
            k = keys[start : start + chunk]
            phi = _hermite(k @ gate.T, self.degree)  # (c, h)
            c = values[fact_map[start : start + chunk]] @ down  # (c, h)
            up += (phi * c).T @ k
        up /= h
        weights = GatedMLPWeights(gate.cpu(), up.cpu(), down.cpu(), activation=self.activation)
        info = {
            "requested_hidden": h,
            "seed": int(seed),
            "config": method_config(self),
            "activation": self.activation,
            "degree": self.degree,
            "hermite_coefficient": hermite_coefficient(self.activation, self.degree),
            "dtype": "float64",
        }
        return BuildResult(weights=weights, method=self.name, hidden=h, info=info)
