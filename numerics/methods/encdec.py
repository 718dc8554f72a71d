"""``encdec``: our encoder–decoder construction (:func:`numerics.construction.pipeline.construct`) at a
given hidden width.

The construction's MLP has ``h = m·r`` neurons: ``m`` code coordinates (the decoder's code
dimension) times ``r`` shared gate rows per coordinate (the encoder's group size), with
``r = ⌈(1 + slack)·F'/d'⌉`` for ``F'`` distinct keys whose features have rank ``d'`` (the
key rank, plus one when a zero key forces biases). Solvability needs ``r·d' ≥ F'``, and
conditioning wants some slack, so a width ``hidden`` maps to the construction as

.. math::

    r_{min} = ⌈(1 + s_{min}) F'/d'⌉, \\qquad m = \\min(d, ⌊hidden / r_{min}⌋), \\qquad
    r = ⌊hidden / m⌋, \\qquad slack = \\max(0, (r - ½)\\,d'/F' - 1),

with ``s_min`` = :data:`MIN_SLACK` (the construction's default slack): the code dimension
takes what the minimum group size allows, and the width left over goes to the group size
as extra slack (``r ≥ r_min``; the slack is chosen so that the construction's own rounding
gives exactly ``r``). The MLP has ``m·r ≤ hidden`` neurons and ``3·m·r·d`` parameters (plus
biases when a key is zero). Near-duplicate keys (:mod:`numerics.construction.near_duplicates`)
leave the dense solve for one gadget neuron each: ``F'`` counts the keys the dense solve
gets, and ``build`` maps ``hidden`` minus the gadget neurons as above (the MLP then has gate
and up biases). A width below ``r_min`` raises
:class:`~numerics.methods.base.WidthTooSmallError`, and so does a code dimension too small
for the projected values to stay decodable; either counts as "not reached" in the capacity
search. The gate is SiLU and the projection Gaussian (the construction's defaults).

References: paper §4 (encoder–decoder construction); the width mapping is ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from numerics.construction.near_duplicates import dense_rows, find_clusters, gadget_neurons
from numerics.construction.pipeline import ConstructionConfig, construct
from numerics.factset import FactSet
from numerics.methods.base import (
    BuildResult,
    WidthTooSmallError,
    check_build_args,
    distinct_keys,
    method_config,
    resolve_device,
)
from theory.errors import InvalidInputError

__all__ = ["EncDecMethod", "MIN_SLACK", "encdec_layout"]

#: The smallest encoder slack a width is mapped to (the construction's default).
MIN_SLACK = ConstructionConfig().slack


def _split(factset: FactSet) -> tuple[np.ndarray, bool, int]:
    """The distinct keys the dense solve gets, whether biases are needed, and the gadget
    neurons of the near-duplicate keys left out, as the construction finds them."""
    first, _ = distinct_keys(factset)
    keys = factset.keys[first]
    # the construction finds the clusters by codes; distinct used values have distinct codes
    clusters = find_clusters(keys, factset.values[factset.fact_map[first]])
    bias = not keys.any(axis=1).all()
    return keys[dense_rows(keys, clusters)], bias, sum(len(c.members) for c in clusters)


def _key_geometry(factset: FactSet) -> tuple[int, int, bool]:
    """(F' distinct keys of the dense solve, d' their feature rank, bias) exactly as the
    encoder sizes its groups."""
    keys, bias, _ = _split(factset)
    if bias:
        scale = float(np.sqrt(np.mean(np.sum(keys**2, axis=1)))) or 1.0
        keys = np.hstack([keys, np.full((keys.shape[0], 1), scale)])
    return int(keys.shape[0]), max(1, int(np.linalg.matrix_rank(keys))), bias


def _group(slack: float, n_keys: int, rank: int) -> int:
    return max(1, math.ceil((1.0 + slack) * n_keys / rank))  # the encoder's own formula


def encdec_layout(factset: FactSet, hidden: int) -> dict:
    """The construction a width maps to: ``code_dim`` m, ``group_size`` r, ``slack``
    (module docstring), with ``min_group`` r_min.

    Raises
    ------
    WidthTooSmallError
        ``hidden < r_min``: not even one code coordinate fits.
    """
    n_keys, rank, _ = _key_geometry(factset)
    r_min = _group(MIN_SLACK, n_keys, rank)
    m = min(factset.dim, hidden // r_min)
    if m < 1:
        raise WidthTooSmallError(
            f"encdec needs hidden ≥ r_min = {r_min} (⌈(1 + {MIN_SLACK})·{n_keys}/{rank}⌉ gate "
            f"rows for {n_keys} distinct keys of rank {rank}), got {hidden}"
        )
    r = hidden // m
    slack = max(0.0, (r - 0.5) * rank / n_keys - 1.0)
    while _group(slack, n_keys, rank) > r:  # rounding safety; r ≥ r_min holds
        slack = max(0.0, slack - 0.25 * rank / n_keys)
    return {
        "code_dim": m,
        "group_size": _group(slack, n_keys, rank),
        "slack": slack,
        "min_group": r_min,
    }


@dataclass(frozen=True)
class EncDecMethod:
    """Our construction at a hidden width (module docstring)."""

    name: str = "encdec"

    def initial_hidden(self, factset: FactSet) -> int:
        # m ≈ 2·log2 M is the order the construction picks on spherical sets
        # (m = 16 at d = 32, F = M = 512).
        n_keys, rank, _ = _key_geometry(factset)
        m = min(factset.dim, max(1, math.ceil(2 * math.log2(max(2, factset.used_values.size)))))
        return m * _group(MIN_SLACK, n_keys, rank) + _split(factset)[2]

    def default_max_hidden(self, factset: FactSet) -> int:
        # Every code coordinate (m = d, the identity projection keeps ρ) and slack 1.
        n_keys, rank, _ = _key_geometry(factset)
        return factset.dim * _group(1.0, n_keys, rank) + _split(factset)[2]

    def build(
        self, factset: FactSet, hidden: int, *, seed: int = 0, device: str = "cpu"
    ) -> BuildResult:
        """The construction at the layout :func:`encdec_layout` gives for ``hidden``.

        Raises
        ------
        WidthTooSmallError
            ``hidden`` below ``r_min``, or the code dimension it allows leaves a projected
            value undecodable.
        InfeasibleFactSetError
            A used value has ρ = 0 (no width helps).
        SolverError
            The encoder system is singular for this gate draw.
        """
        check_build_args(self.name, factset, hidden, seed)
        device = str(resolve_device(device))
        gadgets = _split(factset)[2]
        if hidden <= gadgets:
            raise WidthTooSmallError(
                f"encdec needs more than {gadgets} neurons (one per near-duplicate key), got "
                f"{hidden}"
            )
        layout = encdec_layout(factset, int(hidden) - gadgets)  # the dense part's width
        config = ConstructionConfig(
            code_dim=layout["code_dim"], slack=layout["slack"], seed=int(seed), device=device
        )
        try:
            built = construct(factset, config)
        except InvalidInputError as exc:
            # Arguments are valid by construction here, so this is the code dimension being
            # too small for the projected values (the construction's only remaining refusal).
            raise WidthTooSmallError(
                f"encdec at hidden = {hidden} (code_dim = {layout['code_dim']}): {exc}"
            ) from None
        if built.hidden > hidden:
            raise WidthTooSmallError(
                f"encdec built {built.hidden} neurons for hidden = {hidden} (layout {layout})"
            )
        info = {
            "requested_hidden": int(hidden),
            "seed": int(seed),
            "config": method_config(self),
            **layout,
            "gadget_neurons": gadget_neurons(built.encoder),
            "recall_float64": built.recall.accuracy,
            **built.precision_summary(),
            "rho_projected": built.rho_projected,
            "construct_seconds": built.seconds,
            "dtype": "float64",
            "activation": config.activation,
            "projection": config.projection,
        }
        return BuildResult(weights=built.weights, method=self.name, hidden=built.hidden, info=info)
