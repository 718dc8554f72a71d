"""Embedding families for sweeps: the synthetic generators, real MiniLM embeddings, whitening.

A family turns ``(dim d, n_facts F, n_values M, seed, fact_map, tied)`` into a fact set. Every
family takes the option ``whiten`` (``none``, ``values``, ``keys``, ``both``;
:mod:`numerics.embeddings.whitening`), applied last.

=================  ===========================================================================
``spherical``,     :mod:`numerics.embeddings.generators` (one :class:`~numerics.embeddings.generators.FactSetSpec`);
``gaussian``,      options ``beta`` (spiked), ``kappa`` (conditioned), ``rank`` (lowrank).
``spiked``,
``conditioned``,
``lowrank``
``minilm_tokens``  Rows of the all-MiniLM-L6-v2 token table (special and unused tokens left
                   out; :func:`numerics.embeddings.minilm_tokens.minilm_token_embeddings`), ``F`` (tied) or
                   ``F + M`` (untied: keys and values are different tokens) distinct rows drawn
                   with the seed.
``minilm_mlp``     MLP inputs (keys) and outputs (values) of one MiniLM layer on docstrings of
                   Python's standard library (:func:`numerics.embeddings.minilm_mlp.minilm_mlp_activations`):
                   ``F`` distinct positions drawn with the seed. Fact map ``paired`` (the
                   default for this family: key t → the output at the same position, the
                   map the real MLP computes), ``bijection`` (a random permutation of the
                   drawn outputs) or ``random`` (``M`` outputs drawn separately). Never tied.
=================  ===========================================================================

Real embeddings live in 384 dimensions; option ``project`` maps them to ``d``: ``pca`` (default;
onto the top-``d`` principal directions of the whole pool, computed once, without centring
the rows, so the spectrum of the real embeddings is kept), ``random`` (a Gaussian ``384×d``
matrix drawn with the seed, scaled by ``1/√d``) or ``none`` (needs ``d = 384``). Option
``normalise`` (default false) puts every row on the unit sphere after projecting. Keys and
values of ``minilm_mlp`` get their own PCA basis.

The same family, options and seed give the same fact set, bit for bit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics.embeddings.generators import FACT_MAPS, FactSetSpec, _fact_map
from numerics.embeddings.whitening import WHITEN_MODES, whiten_factset
from numerics.factset import FactSet
from theory.errors import InvalidInputError

__all__ = ["EMBEDDING_FAMILIES", "FamilyOption", "EmbeddingFamily", "family_factset"]

_MINILM_WIDTH = 384


@dataclass(frozen=True)
class FamilyOption:
    """One option of a family: its type, default, allowed choices and a range check."""

    kind: type
    default: Any
    help: str
    choices: tuple | None = None
    check: Callable[[Any], bool] | None = None
    requirement: str = ""
    labelled: bool = False  # always named in labels (a family's defining parameter)

    def validate(self, family: str, name: str, value: Any) -> Any:
        """Return ``value`` normalised (ints accepted for floats), or raise naming the option."""
        where = f"family {family!r}: option {name!r}"
        if value is None and self.default is None:
            return None
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.kind is not bool and isinstance(value, bool) or not isinstance(value, self.kind):
            raise InvalidInputError(f"{where} must be {self.kind.__name__}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise InvalidInputError(f"{where} is {value!r}; choose one of {list(self.choices)}")
        if self.check is not None and not self.check(value):
            raise InvalidInputError(f"{where} must be {self.requirement}, got {value!r}")
        return value


@dataclass(frozen=True)
class EmbeddingFamily:
    """A named family: its options and the function that draws a fact set from it."""

    name: str
    description: str
    options: Mapping[str, FamilyOption]
    draw: Callable[..., FactSet]
    fact_maps: tuple[str, ...] = FACT_MAPS
    default_fact_map: str | None = None
    tieable: bool = True

    def resolve(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """All options with defaults filled in, validated; unknown names are refused."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise InvalidInputError(
                f"family {self.name!r}: unknown option(s) {unknown}; "
                f"allowed: {sorted(self.options)}"
            )
        return {
            name: spec.validate(self.name, name, options.get(name, spec.default))
            for name, spec in sorted(self.options.items())
        }


_WHITEN = FamilyOption(str, "none", "whiten keys and/or values", choices=WHITEN_MODES)
_PROJECT = FamilyOption(str, "pca", "map the 384-dim rows to d", choices=("pca", "random", "none"))
_NORMALISE = FamilyOption(bool, False, "unit-normalise every row after projecting")


def _positive(x) -> bool:
    return np.isfinite(x) and x >= 0


def _draw_synthetic(
    family: str, options, *, dim, n_facts, n_values, seed, fact_map, tied
) -> FactSet:
    extra = {k: v for k, v in options.items() if k in ("beta", "kappa", "rank")}
    return FactSetSpec(
        family=family,
        n_facts=n_facts,
        n_values=n_values,
        dim=dim,
        seed=seed,
        fact_map=fact_map,
        tied=tied,
        **extra,
    ).build()


@functools.lru_cache(maxsize=8)
def _token_pool() -> np.ndarray:
    from numerics.embeddings.minilm_tokens import minilm_token_embeddings

    table, _ = minilm_token_embeddings()
    return table.astype(np.float64)


@functools.lru_cache(maxsize=8)
def _mlp_pool(layer: int, texts: int, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    from numerics.embeddings.minilm_mlp import minilm_mlp_activations

    acts = minilm_mlp_activations(layer, max_texts=texts, max_length=max_length)
    return acts.inputs.astype(np.float64), acts.outputs.astype(np.float64)


_PCA_CACHE: dict[tuple, np.ndarray] = {}


def _pca_basis(pool: np.ndarray, tag: tuple, dim: int) -> np.ndarray:
    """Top-``dim`` principal directions (384×dim) of ``pool``'s covariance, cached per pool."""
    if tag not in _PCA_CACHE:
        centred = pool - pool.mean(axis=0)
        eigenvalues, vectors = np.linalg.eigh(centred.T @ centred / pool.shape[0])
        vectors = vectors[:, ::-1]
        # eigh fixes each direction only up to sign: make the largest entry positive.
        signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
        _PCA_CACHE[tag] = vectors * signs
    return _PCA_CACHE[tag][:, :dim]


def _project(
    rows: np.ndarray, pool: np.ndarray, tag: tuple, options, dim: int, rng: np.random.Generator
) -> np.ndarray:
    mode = options["project"]
    if mode == "none":
        if dim != _MINILM_WIDTH:
            raise InvalidInputError(
                f"project = 'none' keeps the {_MINILM_WIDTH} MiniLM dimensions, "
                f"but dim = {dim}; use project = 'pca' or 'random'"
            )
        out = rows
    elif dim > _MINILM_WIDTH:
        raise InvalidInputError(f"dim = {dim} exceeds the {_MINILM_WIDTH} MiniLM dimensions")
    elif mode == "pca":
        out = rows @ _pca_basis(pool, tag, dim)
    else:
        out = rows @ (rng.standard_normal((_MINILM_WIDTH, dim)) / np.sqrt(dim))
    if options["normalise"]:
        out = out / np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _draw_rows(pool_size: int, count: int, rng: np.random.Generator, what: str) -> np.ndarray:
    if count > pool_size:
        raise InvalidInputError(f"{what} holds {pool_size} distinct rows but {count} are needed")
    return rng.choice(pool_size, size=count, replace=False)


def _streams(seed: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]


def _draw_tokens(_family, options, *, dim, n_facts, n_values, seed, fact_map, tied) -> FactSet:
    pool = _token_pool()
    row_rng, proj_rng, map_rng = _streams(seed)
    rows = _draw_rows(
        pool.shape[0], n_facts if tied else n_facts + n_values, row_rng, "the MiniLM token table"
    )
    projected = _project(pool[rows], pool, ("tokens",), options, dim, proj_rng)
    values = projected[:n_values] if tied else projected[n_facts:]
    keys = values.copy() if tied else projected[:n_facts]
    meta = {
        "family": "minilm_tokens",
        "options": dict(options),
        "seed": seed,
        "tied": tied,
        "fact_map": fact_map,
        "rows": len(rows),
    }
    return FactSet(keys, values, _fact_map(fact_map, n_facts, n_values, map_rng), meta=meta)


def _draw_mlp(_family, options, *, dim, n_facts, n_values, seed, fact_map, tied) -> FactSet:
    inputs, outputs = _mlp_pool(options["layer"], options["texts"], options["max_length"])
    row_rng, proj_rng, map_rng = _streams(seed)
    what = f"the layer-{options['layer']} MLP activation pool ({options['texts']} docstrings)"
    tag = (options["layer"], options["texts"], options["max_length"])
    if fact_map == "paired":
        if n_values != n_facts:
            raise InvalidInputError(
                f"fact_map 'paired' needs n_values = n_facts, got "
                f"n_values = {n_values}, n_facts = {n_facts}"
            )
        rows = _draw_rows(inputs.shape[0], n_facts, row_rng, what)
        key_rows, value_rows, mapping = rows, rows, np.arange(n_facts)
    else:
        key_rows = _draw_rows(inputs.shape[0], n_facts, row_rng, what)
        value_rows = (
            key_rows[map_rng.permutation(n_facts)]
            if fact_map == "bijection"
            else _draw_rows(outputs.shape[0], n_values, row_rng, what)
        )
        mapping = (
            np.arange(n_facts)
            if fact_map == "bijection"
            else _fact_map("random", n_facts, n_values, map_rng)
        )
    keys = _project(inputs[key_rows], inputs, ("mlp_in", *tag), options, dim, proj_rng)
    values = _project(outputs[value_rows], outputs, ("mlp_out", *tag), options, dim, proj_rng)
    meta = {"family": "minilm_mlp", "options": dict(options), "seed": seed, "fact_map": fact_map}
    return FactSet(keys, values, mapping, meta=meta)


def _synthetic(name: str, description: str, **extra: FamilyOption) -> EmbeddingFamily:
    return EmbeddingFamily(name, description, {"whiten": _WHITEN, **extra}, _draw_synthetic)


#: Every family a sweep can name, by name.
EMBEDDING_FAMILIES: Mapping[str, EmbeddingFamily] = {
    family.name: family
    for family in (
        _synthetic("spherical", "uniform on the unit sphere"),
        _synthetic("gaussian", "N(0, I/d)"),
        _synthetic(
            "spiked",
            "rank-1 spike of strength beta, renormalised",
            beta=FamilyOption(
                float,
                4.0,
                "spike strength",
                check=_positive,
                requirement="finite and ≥ 0",
                labelled=True,
            ),
        ),
        _synthetic(
            "conditioned",
            "condition number kappa, renormalised",
            kappa=FamilyOption(
                float,
                10.0,
                "condition number",
                check=lambda k: np.isfinite(k) and k >= 1,
                requirement="finite and ≥ 1",
                labelled=True,
            ),
        ),
        _synthetic(
            "lowrank",
            "unit rows in a random rank-r subspace",
            rank=FamilyOption(
                int,
                None,
                "subspace dimension (default d // 4)",
                check=lambda r: r >= 1,
                requirement="≥ 1",
                labelled=True,
            ),
        ),
        EmbeddingFamily(
            "minilm_tokens",
            "all-MiniLM-L6-v2 token embeddings",
            {"whiten": _WHITEN, "project": _PROJECT, "normalise": _NORMALISE},
            _draw_tokens,
        ),
        EmbeddingFamily(
            "minilm_mlp",
            "all-MiniLM-L6-v2 MLP inputs → outputs on stdlib docstrings",
            {
                "whiten": _WHITEN,
                "project": _PROJECT,
                "normalise": _NORMALISE,
                "layer": FamilyOption(
                    int,
                    2,
                    "layer 0..5",
                    check=lambda x: 0 <= x <= 5,
                    requirement="in [0, 5]",
                    labelled=True,
                ),
                "texts": FamilyOption(
                    int,
                    600,
                    "docstrings fed to the model",
                    check=lambda x: x >= 1,
                    requirement="≥ 1",
                ),
                "max_length": FamilyOption(
                    int,
                    64,
                    "tokens per docstring",
                    check=lambda x: 3 <= x <= 512,
                    requirement="in [3, 512]",
                ),
            },
            _draw_mlp,
            fact_maps=("paired", "bijection", "random"),
            default_fact_map="paired",
            tieable=False,
        ),
    )
}


def family_factset(
    family: str,
    options: Mapping[str, Any] | None = None,
    *,
    dim: int,
    n_facts: int,
    n_values: int | None = None,
    seed: int = 0,
    fact_map: str | None = None,
    tied: bool = False,
) -> FactSet:
    """Draw a fact set from ``family`` (module table), then apply its ``whiten`` option.

    Parameters
    ----------
    family : str
        A key of :data:`EMBEDDING_FAMILIES`.
    options : mapping, optional
        The family's options (defaults filled in; unknown names refused).
    dim, n_facts, n_values : int
        d, F and M (``n_values`` defaults to F).
    seed : int
    fact_map : str, optional
        One of the family's fact maps (default: the family's own default, else ``bijection``).
    tied : bool
        Keys = values (needs M = F; not for ``minilm_mlp``).

    Returns
    -------
    FactSet
        ``meta["family"]`` and ``meta["family_options"]`` record what was drawn.

    Raises
    ------
    InvalidInputError
        For an unknown family or option, a bad option value, a fact map the family does not
        offer, a pool too small for F (+ M) rows, or a dimension the family cannot give.
    MissingDependencyError
        For a MiniLM family without the weights package (or ``tokenizers``).

    Examples
    --------
    >>> fs = family_factset("spiked", {"beta": 8}, dim=6, n_facts=10, seed=1, tied=True)
    >>> fs.n_facts, fs.dim, fs.meta["family_options"]
    (10, 6, {'beta': 8.0, 'whiten': 'none'})
    """
    if family not in EMBEDDING_FAMILIES:
        raise InvalidInputError(
            f"family {family!r} is unknown; choose one of {sorted(EMBEDDING_FAMILIES)}"
        )
    spec = EMBEDDING_FAMILIES[family]
    resolved = spec.resolve(dict(options or {}))
    fact_map = fact_map or spec.default_fact_map or "bijection"
    if fact_map not in spec.fact_maps:
        raise InvalidInputError(
            f"family {family!r}: fact_map {fact_map!r} is not offered; "
            f"choose one of {list(spec.fact_maps)}"
        )
    if tied and not spec.tieable:
        raise InvalidInputError(
            f"family {family!r} has keys and values of different kinds; "
            "it cannot be tied (set tied = false)"
        )
    n_values = n_facts if n_values is None else n_values
    for name, number in (("dim", dim), ("n_facts", n_facts), ("n_values", n_values)):
        if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or number < 1:
            raise InvalidInputError(f"{name} must be an integer ≥ 1, got {number!r}")
    if tied and n_values != n_facts:
        raise InvalidInputError(
            f"tied keys = values needs n_values = n_facts, got "
            f"n_values = {n_values}, n_facts = {n_facts}"
        )
    drawn = spec.draw(
        family,
        resolved,
        dim=int(dim),
        n_facts=int(n_facts),
        n_values=int(n_values),
        seed=seed,
        fact_map=fact_map,
        tied=bool(tied),
    )
    whitened = whiten_factset(drawn, resolved["whiten"]).factset
    meta = {**whitened.meta, "family": family, "family_options": resolved}
    return FactSet(whitened.keys, whitened.values, whitened.fact_map, meta=meta)
