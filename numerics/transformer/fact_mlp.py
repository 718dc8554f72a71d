"""The fact MLP a Transformer reads: built by our construction or by a registered method.

``method="construct"`` (default) runs :func:`numerics.construction.pipeline.construct` with its own
choice of code dimension (or a given ``code_dim`` / ``projection`` / ``slack``: the
compression knobs of the capacity–usability study; the width is ``h = m·r`` with
``r = ⌈(1 + slack)F/d⌉`` gate rows per code coordinate). Any name of :data:`numerics.methods.METHODS` (``encdec``,
``gd``, ``ntk``, ``hebbian``, ``hebbian_ridge``, ``lookup``) builds at ``hidden`` neurons, or,
without ``hidden``, at the method's capacity (:func:`numerics.methods.capacity_search.capacity`: the smallest
width storing every fact in float32).

``whiten`` (``values``, ``keys`` or ``both``; any method) builds the MLP for the whitened fact
set (:func:`numerics.embeddings.whitening.whiten_factset`) and folds the maps back into it
(:func:`numerics.embeddings.whitening.unwhiten_mlp`): one MLP for the original embeddings, of the same
size, whose logits against the original values are those of the whitened build.

Whatever built it, ``mlp_recall`` is strict recall in float64 over the fact set given, which
for the Transformer is the full vocabulary (every token a candidate value).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from numerics.factset import FactSet
from numerics.mlp import GatedMLP, GatedMLPWeights
from numerics.strict_recall import RecallResult, recall
from theory.bounds import bits_per_param
from theory.errors import InvalidInputError, SolverError

__all__ = ["FactMLP", "build_fact_mlp", "fact_mlp_methods", "DEFAULT_METHOD"]

DEFAULT_METHOD = "construct"


def fact_mlp_methods() -> tuple[str, ...]:
    """``construct`` and every registered method name."""
    from numerics.methods import METHODS

    return (DEFAULT_METHOD, *METHODS)


@dataclass(frozen=True)
class FactMLP:
    """A built fact MLP, its recall over the fact set, and how it was built."""

    weights: GatedMLPWeights
    method: str
    mlp_recall: RecallResult
    info: dict = field(default_factory=dict)

    @property
    def hidden(self) -> int:
        return self.weights.hidden

    @property
    def params(self) -> int:
        return self.weights.n_params

    def summary(self, factset: FactSet) -> dict:
        return {
            "method": self.method,
            "hidden": self.hidden,
            "params": self.params,
            "params_per_fact": self.params / factset.n_facts,
            "bits_per_param": bits_per_param(factset.n_facts, factset.n_values, self.params),
            "mlp_recall": self.mlp_recall.accuracy,
            "mlp_min_margin": self.mlp_recall.min_margin,
        }


def build_fact_mlp(
    factset: FactSet,
    method: str = DEFAULT_METHOD,
    *,
    hidden: int | None = None,
    code_dim: int | None = None,
    projection: str = "gaussian",
    slack: float | None = None,
    whiten: str = "none",
    seed: int = 0,
    device: str = "cpu",
) -> FactMLP:
    """Build the fact MLP for ``factset`` (module docstring).

    Raises
    ------
    InvalidInputError
        An unknown method, ``code_dim``/``projection`` given for a method other than
        ``construct``, or a bad width.
    InfeasibleFactSetError
        A used value has ρ = 0.
    SolverError
        A registered method stores no fact set up to its largest width.
    """
    if not isinstance(factset, FactSet):
        raise InvalidInputError(f"factset must be a FactSet, got {type(factset).__name__}")
    if whiten != "none":
        from numerics.embeddings.whitening import unwhiten_mlp, whiten_factset

        white = whiten_factset(factset, whiten)
        inner = build_fact_mlp(
            white.factset,
            method,
            hidden=hidden,
            code_dim=code_dim,
            projection=projection,
            slack=slack,
            seed=seed,
            device=device,
        )
        weights = unwhiten_mlp(inner.weights, key_map=white.key_map, value_map=white.value_map)
        return FactMLP(
            weights, method, recall(GatedMLP(weights), factset), {**inner.info, "whiten": whiten}
        )
    if method == DEFAULT_METHOD:
        from numerics.construction.pipeline import ConstructionConfig, construct

        if hidden is not None:
            raise InvalidInputError(
                "hidden is chosen by the construction; give code_dim instead, "
                "or use method='encdec' for a width"
            )
        options = {} if slack is None else {"slack": slack}
        built = construct(
            factset,
            ConstructionConfig(
                code_dim=code_dim, projection=projection, seed=seed, device=device, **options
            ),
        )
        info = {
            "code_dim": built.code_dim,
            "projection": projection,
            "slack": built.config.slack,
            "group_size": built.encoder.group_size,
            "rho_projected": built.rho_projected,
            "float32_certified": built.float32_certified,
            "float32_recall": built.float32.accuracy,
            "seed": seed,
        }
        return FactMLP(built.weights, method, built.recall, info)
    if method not in fact_mlp_methods():
        raise InvalidInputError(
            f"method {method!r} is unknown; choose one of {', '.join(fact_mlp_methods())}"
        )
    if code_dim is not None or projection != "gaussian" or slack is not None:
        raise InvalidInputError(
            f"code_dim, projection and slack apply to method "
            f"{DEFAULT_METHOD!r} only, not {method!r}"
        )
    from numerics.methods import get_method

    if hidden is None:
        from numerics.methods.capacity_search import capacity

        found = capacity(factset, method, seed=seed, device=device)
        if not found.reached or found.build is None:
            raise SolverError(
                f"method {method!r} stores the fact set at no width up to "
                f"{found.max_hidden} (best recall {found.recall:.4f})"
            )
        result = found.build
        info = {**dict(result.info), "capacity_seconds": found.seconds}
    else:
        result = get_method(method).build(factset, hidden, seed=seed, device=device)
        info = dict(result.info)
    weights = result.weights.to(dtype=torch.float64)
    return FactMLP(weights, method, recall(GatedMLP(weights), factset), info)
