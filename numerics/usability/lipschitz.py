"""Usability metrics of a fact MLP: Lipschitz constants around the keys, normalised decoding
margins, the noise radius they guarantee (checked: evaluated in float64), and recall under input noise ``k + ε``.

Inside a Transformer the MLP never sees a key exactly: the attention output is a noisy key
``k + ε`` (paper.md §6). What decides whether the MLP still decodes it is its margin
relative to its sensitivity. This module measures both sides:

- :func:`spectral_bound`: ``L(k, r)``, a guaranteed upper bound on the Lipschitz constant of
  ``g`` on the ball ``B(k, r)`` (:func:`theory.lipschitz.gated_lipschitz_bound`);
- :func:`empirical_lipschitz`: the largest Jacobian norm ``‖J(x)‖₂`` found at ``k`` and at
  random points of ``B(k, r)``, and the largest difference quotient
  ``‖g(k+ε) − g(k)‖/‖ε‖`` over random ``‖ε‖ = r``: lower bounds on the same constant;
- :func:`normalized_margins`: ``μ_i = min_{j≠f(i)} <g(k_i), v_f(i) − v_j>/‖v_f(i) − v_j‖``,
  and :func:`theory.lipschitz.noise_radius` ``r* = min(r, μ/L)``;
- :func:`noisy_recall`: recall of ``g(N(k + ε))`` with ``ε ~ N(0, σ²‖k‖²/d · I)`` (relative
  noise level σ) and ``N`` the rescaling to ``k``'s norm that the Transformer's frozen
  pre-MLP RMSNorm applies (``renormalize=True``).

:func:`usability_report` bundles them. Everything runs in float64 on ``device``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from numerics.factset import FactSet
from numerics.mlp import ACTIVATIONS, GatedMLPWeights
from theory.errors import InvalidInputError
from theory.lipschitz import gated_lipschitz_bound, noise_radius
from theory.validation import require_int

__all__ = [
    "jacobians",
    "spectral_bound",
    "empirical_lipschitz",
    "normalized_margins",
    "noisy_recall",
    "UsabilityReport",
    "usability_report",
]


def _weights(weights: GatedMLPWeights, device) -> GatedMLPWeights:
    if not isinstance(weights, GatedMLPWeights):
        raise InvalidInputError(f"weights must be a GatedMLPWeights, got {type(weights).__name__}")
    return weights.to(device=device, dtype=torch.float64)


def _points(name: str, points, dim: int, device) -> torch.Tensor:
    # np.array copies: the points may be read-only (a FactSet's keys), which torch cannot view.
    x = torch.as_tensor(
        np.array(points, dtype=np.float64) if not isinstance(points, torch.Tensor) else points,
        dtype=torch.float64,
        device=device,
    )
    if x.ndim != 2 or x.shape[1] != dim:
        raise InvalidInputError(f"{name} has shape {tuple(x.shape)} but (n, {dim}) was expected")
    if not bool(torch.isfinite(x).all()):
        raise InvalidInputError(f"{name} has a non-finite entry")
    return x


def _radius(radius) -> float:
    if not (isinstance(radius, (int, float, np.floating)) and np.isfinite(radius) and radius >= 0):
        raise InvalidInputError(f"radius must be finite and ≥ 0, got {radius!r}")
    return float(radius)


def jacobians(weights: GatedMLPWeights, points, *, device="cpu", chunk: int = 64) -> torch.Tensor:
    """Spectral norms ``‖J(x)‖₂`` at each row of ``points`` (n, d) → (n,), with
    ``J(x) = D[diag(σ'(u) ⊙ w) G + diag(σ(u)) A]`` formed explicitly (σ' by autograd)."""
    w = _weights(weights, device)
    x = _points("points", points, w.dim, device)
    act = ACTIVATIONS[w.activation]
    norms = []
    for start in range(0, x.shape[0], chunk):
        xb = x[start : start + chunk]
        u = (xb @ w.gate.T + (0 if w.gate_bias is None else w.gate_bias)).requires_grad_(True)
        s = act(u)
        (ds,) = torch.autograd.grad(s.sum(), u)
        with torch.no_grad():
            wv = xb @ w.up.T + (0 if w.up_bias is None else w.up_bias)
            inner = (ds * wv).unsqueeze(-1) * w.gate + s.detach().unsqueeze(-1) * w.up  # (n, h, d)
            J = torch.einsum("dh,nhe->nde", w.down, inner)
            norms.append(torch.linalg.matrix_norm(J, ord=2))
    return torch.cat(norms)


def spectral_bound(weights: GatedMLPWeights, centers, radius: float) -> np.ndarray:
    """``L(c, r)`` for each row of ``centers`` (:func:`theory.lipschitz.gated_lipschitz_bound`)."""
    w = _weights(weights, "cpu")

    def to_np(t):
        return None if t is None else t.numpy()

    return gated_lipschitz_bound(
        w.gate.numpy(),
        w.up.numpy(),
        w.down.numpy(),
        w.activation,
        np.asarray(centers, dtype=np.float64),
        _radius(radius),
        gate_bias=to_np(w.gate_bias),
        up_bias=to_np(w.up_bias),
    )


def _ball_samples(
    centers: torch.Tensor,
    radius: float,
    n_samples: int,
    generator: torch.Generator,
    *,
    surface: bool,
) -> torch.Tensor:
    n, d = centers.shape
    direction = torch.randn(n, n_samples, d, generator=generator, dtype=torch.float64)
    direction = direction / direction.norm(dim=-1, keepdim=True)
    length = (
        radius
        if surface
        else radius
        * torch.rand(n, n_samples, 1, generator=generator, dtype=torch.float64) ** (1.0 / d)
    )
    return centers.cpu().unsqueeze(1) + length * direction


def empirical_lipschitz(
    weights: GatedMLPWeights,
    centers,
    radius: float,
    *,
    n_samples: int = 16,
    seed: int = 0,
    device="cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds on the Lipschitz constant of ``g`` on ``B(c, r)`` for each centre.

    Returns ``(jacobian_max, quotient_max)`` (both (n,)): the largest ``‖J(x)‖₂`` over
    ``x = c`` and ``n_samples`` uniform points of the ball, and the largest
    ``‖g(c+ε) − g(c)‖/‖ε‖`` over ``n_samples`` uniform ε with ``‖ε‖ = r`` (0 when r = 0).
    Both are ≤ :func:`spectral_bound` on the same ball (a test checks it).
    """
    w = _weights(weights, device)
    c = _points("centers", centers, w.dim, device)
    r = _radius(radius)
    require_int("n_samples", n_samples, 1)
    generator = torch.Generator().manual_seed(int(seed))
    inside = _ball_samples(c, r, n_samples, generator, surface=False).to(device)
    pts = torch.cat([c.unsqueeze(1), inside], dim=1).reshape(-1, w.dim)
    jac = jacobians(w, pts, device=device).reshape(c.shape[0], -1).amax(dim=1)
    if r == 0:
        return jac.cpu().numpy(), np.zeros(c.shape[0])
    surface = _ball_samples(c, r, n_samples, generator, surface=True).to(device)
    with torch.no_grad():
        diff = w.forward(surface.reshape(-1, w.dim)).reshape(c.shape[0], n_samples, -1) - w.forward(
            c
        ).unsqueeze(1)
    quotient = (diff.norm(dim=-1) / r).amax(dim=1)
    return jac.cpu().numpy(), quotient.cpu().numpy()


def normalized_margins(
    weights: GatedMLPWeights, factset: FactSet, *, device="cpu", value_chunk: int = 2048
) -> np.ndarray:
    """``μ_i = min_{j ≠ f(i)} <g(k_i), v_f(i) − v_j> / ‖v_f(i) − v_j‖`` for every key (F,).

    Copies of the true value (``v_j = v_f(i)``) give a tie, so μ_i = 0 there.
    """
    w = _weights(weights, device)
    if not isinstance(factset, FactSet) or factset.dim != w.dim:
        raise InvalidInputError("factset must be a FactSet of the MLP's dimension")
    K = torch.from_numpy(np.array(factset.keys)).to(device)
    V = torch.from_numpy(np.array(factset.values)).to(device)
    f = torch.from_numpy(np.array(factset.fact_map)).to(device)
    with torch.no_grad():
        y = w.forward(K)
        true_v = V[f]
        true_logit = (y * true_v).sum(dim=1, keepdim=True)
        best = torch.full((K.shape[0],), float("inf"), dtype=torch.float64, device=device)
        for start in range(0, V.shape[0], value_chunk):
            Vb = V[start : start + value_chunk]
            gap = true_logit - y @ Vb.T  # (F, chunk)
            dist = torch.cdist(true_v, Vb)
            ratio = torch.where(
                dist > 0,
                gap / torch.where(dist > 0, dist, 1.0),
                torch.where(gap > 0, torch.inf, 0.0),
            )
            mine = torch.arange(start, start + Vb.shape[0], device=device).unsqueeze(
                0
            ) == f.unsqueeze(1)
            ratio = ratio.masked_fill(mine, float("inf"))
            best = torch.minimum(best, ratio.amin(dim=1))
    return best.cpu().numpy()


def noisy_recall(
    weights: GatedMLPWeights,
    factset: FactSet,
    noise: float,
    *,
    n_samples: int = 4,
    seed: int = 0,
    renormalize: bool = True,
    device="cpu",
) -> float:
    """Recall of ``g(N(k + ε))`` averaged over ``n_samples`` draws per key (module docstring).

    ``noise`` σ ≥ 0 is relative: ``E‖ε‖² = σ²‖k‖²``. A tie counts as a failure.
    """
    if not (isinstance(noise, (int, float, np.floating)) and np.isfinite(noise) and noise >= 0):
        raise InvalidInputError(f"noise must be finite and ≥ 0, got {noise!r}")
    w = _weights(weights, device)
    K = torch.from_numpy(np.array(factset.keys)).to(device)
    V = torch.from_numpy(np.array(factset.values)).to(device)
    f = torch.from_numpy(np.array(factset.fact_map)).to(device)
    generator = torch.Generator().manual_seed(int(seed))
    norms = K.norm(dim=1, keepdim=True)
    hits = 0
    with torch.no_grad():
        for _ in range(int(n_samples)):
            eps = torch.randn(K.shape, generator=generator, dtype=torch.float64).to(device)
            x = K + float(noise) * norms * eps / np.sqrt(K.shape[1])
            if renormalize:
                x = x * norms / x.norm(dim=1, keepdim=True).clamp_min(1e-300)
            logits = w.forward(x) @ V.T
            true = logits.gather(1, f.unsqueeze(1)).squeeze(1)
            logits.scatter_(1, f.unsqueeze(1), float("-inf"))
            hits += int((true > logits.amax(dim=1)).sum())
    return hits / (int(n_samples) * K.shape[0])


@dataclass(frozen=True)
class UsabilityReport:
    """Usability metrics of one MLP on one fact set (medians over keys unless named).

    radius : r, the ball radius (absolute; ``radius_rel`` × mean key norm)
    spectral_bound : median and max over keys of L(k, r)
    jacobian_at_keys : median ‖J(k)‖₂
    empirical_lipschitz : median and max over keys of the largest ‖J(x)‖₂ found in B(k, r)
    quotient_lipschitz : median of the largest difference quotient at ‖ε‖ = r
    normalized_margin : median and min of μ_i
    margin_over_lipschitz : median and 10% quantile of μ_i / max(empirical L_i) (a radius)
    noise_radius : median of min(r, μ_i / L(k_i, r)) relative to the key norm
    noisy_recall : {σ: recall} at the relative noise levels measured
    """

    radius: float
    radius_rel: float
    spectral_bound_median: float
    spectral_bound_max: float
    jacobian_at_keys_median: float
    empirical_lipschitz_median: float
    empirical_lipschitz_max: float
    quotient_lipschitz_median: float
    normalized_margin_median: float
    normalized_margin_min: float
    margin_over_lipschitz_median: float
    margin_over_lipschitz_q10: float
    noise_radius_rel_median: float
    noisy_recall: dict

    def to_dict(self) -> dict:
        out = asdict(self)
        out["noisy_recall"] = {str(k): v for k, v in self.noisy_recall.items()}
        return out


def usability_report(
    weights: GatedMLPWeights,
    factset: FactSet,
    *,
    radius_rel: float = 0.1,
    noise_levels=(0.05, 0.1, 0.2, 0.3),
    n_samples: int = 8,
    seed: int = 0,
    max_keys: int | None = 512,
    device="cpu",
) -> UsabilityReport:
    """All metrics of the module docstring; Lipschitz estimates on at most ``max_keys``
    keys (a seeded subset), margins and noisy recall on every key.

    ``radius_rel`` sets r = radius_rel × mean key norm; the noise levels are relative too.
    """
    keys = np.asarray(factset.keys)
    mean_norm = float(np.linalg.norm(keys, axis=1).mean())
    r = float(radius_rel) * mean_norm
    rng = np.random.default_rng(seed)
    sub = (
        np.arange(keys.shape[0])
        if max_keys is None or keys.shape[0] <= max_keys
        else np.sort(rng.choice(keys.shape[0], max_keys, replace=False))
    )
    centers = keys[sub]
    bound = spectral_bound(weights, centers, r)
    jac_max, quotient = empirical_lipschitz(
        weights, centers, r, n_samples=n_samples, seed=seed, device=device
    )
    at_keys = jacobians(weights, centers, device=device).cpu().numpy()
    mu = normalized_margins(weights, factset, device=device)
    ratio = mu[sub] / np.maximum(jac_max, 1e-300)
    cert = noise_radius(mu[sub], bound, r) / np.linalg.norm(centers, axis=1)
    noisy = {
        float(s): noisy_recall(
            weights, factset, float(s), n_samples=max(1, n_samples // 2), seed=seed, device=device
        )
        for s in noise_levels
    }
    return UsabilityReport(
        radius=r,
        radius_rel=float(radius_rel),
        spectral_bound_median=float(np.median(bound)),
        spectral_bound_max=float(bound.max()),
        jacobian_at_keys_median=float(np.median(at_keys)),
        empirical_lipschitz_median=float(np.median(jac_max)),
        empirical_lipschitz_max=float(jac_max.max()),
        quotient_lipschitz_median=float(np.median(quotient)),
        normalized_margin_median=float(np.median(mu)),
        normalized_margin_min=float(mu.min()),
        margin_over_lipschitz_median=float(np.median(ratio)),
        margin_over_lipschitz_q10=float(np.quantile(ratio, 0.1)),
        noise_radius_rel_median=float(np.median(cert)),
        noisy_recall=noisy,
    )
