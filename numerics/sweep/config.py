"""Sweep configuration: a strict TOML/JSON file resolved into a grid of points.

A sweep is the grid ``methods × families (× their option lists) × dims × facts × seeds``. The
file (TOML, read with :mod:`tomllib`, or JSON) has these fields; any other field is refused:

==================  =========================================================================
``name``            id of the sweep (default: the file's stem)
``methods``         list of method names (:data:`numerics.methods.METHODS`)
``families``        list of tables: ``name`` (:data:`numerics.embeddings.families.EMBEDDING_FAMILIES`),
                    optional ``tied`` and ``fact_map`` overriding the top-level ones, and the
                    family's options; an option given as a list is swept (one variant each)
``dims``            list of embedding dimensions d
``facts``           list of F values, or a table ``{fractions = [...]}``: F = round(x·d²)
``seeds``           list of seeds (default ``[0]``)
``fact_map``        default ``bijection`` (``minilm_mlp`` defaults to ``paired``)
``tied``            keys = values (default false)
``values_fraction`` M = max(1, round(x·F)) for untied sets with a ``random`` map (default 1)
``max_hidden``      an integer, a table ``{method = H, default = H}``, or absent (the
                    capacity search's own default)
``method_options``  a table ``{method = {field = value}}`` of settings of a method's
                    configuration (fields of its dataclass, e.g. ``gd = {epochs = 4000,
                    lrs = [0.01]}``); lists become tuples
``rel_precision``   relative precision of the width search (default 0.05)
``dtype``           ``float32`` (default), ``float64`` or ``bfloat16``: the dtype recall is checked in
``device``          default ``cpu``
==================  =========================================================================

Each point is a :class:`Point`; its :attr:`Point.key` (canonical JSON of every field) is its
identity in the sweep database, so a point is recognised across runs and resumes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from numerics.dtypes import DTYPE_NAMES
from numerics.embeddings.families import EMBEDDING_FAMILIES
from theory.errors import InvalidInputError

__all__ = [
    "FamilyVariant",
    "Point",
    "SweepConfig",
    "configured_method",
    "load_sweep_config",
    "parse_sweep_config",
]

_TOP_FIELDS = (
    "name",
    "methods",
    "families",
    "dims",
    "facts",
    "seeds",
    "fact_map",
    "tied",
    "values_fraction",
    "max_hidden",
    "method_options",
    "rel_precision",
    "dtype",
    "device",
)
_FAMILY_FIELDS = ("name", "tied", "fact_map")


@dataclass(frozen=True)
class FamilyVariant:
    """One family with every option resolved (defaults filled in), plus its tie and map."""

    name: str
    options: tuple[tuple[str, Any], ...]
    tied: bool
    fact_map: str

    @property
    def label(self) -> str:
        """Short id for plots and tables: the name, tied or not, the family's defining
        parameters (beta, kappa, rank, layer) and every other option not at its default."""
        spec = EMBEDDING_FAMILIES[self.name].options
        changed = [f"{k}={v}" for k, v in self.options if spec[k].labelled or v != spec[k].default]
        tie = "tied" if self.tied else "untied"
        return f"{self.name}({', '.join([tie, *changed])})"


@dataclass(frozen=True)
class Point:
    """One grid point: a method on one fact set, with the capacity search's settings."""

    method: str
    method_options: tuple[tuple[str, Any], ...]
    family: str
    family_options: tuple[tuple[str, Any], ...]
    family_label: str
    dim: int
    n_facts: int
    n_values: int
    seed: int
    fact_map: str
    tied: bool
    max_hidden: int | None
    rel_precision: float
    dtype: str
    device: str

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["family_options"] = dict(self.family_options)
        out["method_options"] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in self.method_options
        }
        return out

    @property
    def key(self) -> str:
        """Canonical JSON of every field: the point's identity in the database."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def factset_key(self) -> str:
        """Canonical JSON of the fields that determine the fact set (shared across methods)."""
        d = self.as_dict()
        return json.dumps(
            {
                k: d[k]
                for k in (
                    "family",
                    "family_options",
                    "dim",
                    "n_facts",
                    "n_values",
                    "seed",
                    "fact_map",
                    "tied",
                )
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    def factset_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`numerics.embeddings.families.family_factset` for this point."""
        return {
            "family": self.family,
            "options": dict(self.family_options),
            "dim": self.dim,
            "n_facts": self.n_facts,
            "n_values": self.n_values,
            "seed": self.seed,
            "fact_map": self.fact_map,
            "tied": self.tied,
        }


@dataclass(frozen=True)
class SweepConfig:
    """A resolved sweep: the fields of the file (module table) and its grid :attr:`points`."""

    name: str
    methods: tuple[str, ...]
    families: tuple[FamilyVariant, ...]
    dims: tuple[int, ...]
    facts: tuple[int, ...] = ()
    fractions: tuple[float, ...] = ()
    seeds: tuple[int, ...] = (0,)
    values_fraction: float = 1.0
    max_hidden: tuple[tuple[str, int], ...] = ()
    method_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    rel_precision: float = 0.05
    dtype: str = "float32"
    device: str = "cpu"
    source: str = field(default="", compare=False)

    def n_facts_for(self, dim: int) -> tuple[int, ...]:
        if self.facts:
            return self.facts
        return tuple(sorted({max(1, round(x * dim * dim)) for x in self.fractions}))

    def max_hidden_for(self, method: str) -> int | None:
        table = dict(self.max_hidden)
        return table.get(method, table.get("default"))

    @property
    def points(self) -> tuple[Point, ...]:
        """Every point, in grid order: family, dim, F, seed, then method."""
        out = []
        for family, dim in product(self.families, self.dims):
            for n_facts, seed, method in product(self.n_facts_for(dim), self.seeds, self.methods):
                random_map = family.fact_map == "random" and not family.tied
                n_values = max(1, round(self.values_fraction * n_facts)) if random_map else n_facts
                out.append(
                    Point(
                        method=method,
                        method_options=dict(self.method_options).get(method, ()),
                        family=family.name,
                        family_options=family.options,
                        family_label=family.label,
                        dim=dim,
                        n_facts=n_facts,
                        n_values=n_values,
                        seed=seed,
                        fact_map=family.fact_map,
                        tied=family.tied,
                        max_hidden=self.max_hidden_for(method),
                        rel_precision=self.rel_precision,
                        dtype=self.dtype,
                        device=self.device,
                    )
                )
        return tuple(out)

    def describe(self) -> dict[str, Any]:
        """The resolved grid as JSON-ready data (what ``factmlp sweep --show`` prints)."""
        return {
            "name": self.name,
            "source": self.source,
            "methods": list(self.methods),
            "families": [
                {
                    "label": f.label,
                    "name": f.name,
                    "options": dict(f.options),
                    "tied": f.tied,
                    "fact_map": f.fact_map,
                }
                for f in self.families
            ],
            "dims": list(self.dims),
            "facts": {d: list(self.n_facts_for(d)) for d in self.dims},
            "seeds": list(self.seeds),
            "values_fraction": self.values_fraction,
            "max_hidden": {m: self.max_hidden_for(m) for m in self.methods},
            "method_options": {m: dict(o) for m, o in self.method_options},
            "rel_precision": self.rel_precision,
            "dtype": self.dtype,
            "device": self.device,
            "n_points": len(self.points),
        }


def _fail(where: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"sweep config {where}: {message}")


def _int_list(raw, name: str, where: str, *, low: int) -> tuple[int, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(where, f"{name} must be a non-empty list of integers, got {raw!r}")
    for i, x in enumerate(raw):
        if isinstance(x, bool) or not isinstance(x, int) or x < low:
            raise _fail(where, f"{name}[{i}] must be an integer ≥ {low}, got {x!r}")
    if len(set(raw)) != len(raw):
        raise _fail(where, f"{name} repeats an entry: {raw}")
    return tuple(raw)


def _names(raw, name: str, where: str, allowed) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        raise _fail(where, f"{name} must be a non-empty list of strings, got {raw!r}")
    for i, x in enumerate(raw):
        if x not in allowed:
            raise _fail(where, f"{name}[{i}] = {x!r} is unknown; choose from {sorted(allowed)}")
    if len(set(raw)) != len(raw):
        raise _fail(where, f"{name} repeats an entry: {raw}")
    return tuple(raw)


def _family_variants(
    raw, where: str, default_tied: bool, default_map: str | None
) -> list[FamilyVariant]:
    if not isinstance(raw, list) or not raw:
        raise _fail(where, f"families must be a non-empty list of tables, got {raw!r}")
    variants: list[FamilyVariant] = []
    for i, entry in enumerate(raw):
        here = f"{where}: families[{i}]"
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise InvalidInputError(f"sweep config {here} must be a table with a 'name'")
        name = entry["name"]
        if name not in EMBEDDING_FAMILIES:
            raise InvalidInputError(
                f"sweep config {here}: family {name!r} is unknown; "
                f"choose from {sorted(EMBEDDING_FAMILIES)}"
            )
        family = EMBEDDING_FAMILIES[name]
        unknown = sorted(set(entry) - set(_FAMILY_FIELDS) - set(family.options))
        if unknown:
            raise InvalidInputError(
                f"sweep config {here} ({name}): unknown field(s) {unknown}; allowed: "
                f"{sorted(set(_FAMILY_FIELDS) | set(family.options))}"
            )
        tied = entry.get("tied", default_tied if family.tieable else False)
        if not isinstance(tied, bool):
            raise InvalidInputError(
                f"sweep config {here}: tied must be true or false, got {tied!r}"
            )
        if tied and not family.tieable:
            raise InvalidInputError(f"sweep config {here}: family {name!r} cannot be tied")
        fact_map = entry.get("fact_map", family.default_fact_map or default_map or "bijection")
        if fact_map not in family.fact_maps:
            raise InvalidInputError(
                f"sweep config {here}: fact_map {fact_map!r} is not offered "
                f"by {name!r}; choose one of {list(family.fact_maps)}"
            )
        swept = {
            k: (v if isinstance(v, list) else [v]) for k, v in entry.items() if k in family.options
        }
        for k, values in swept.items():
            if not values:
                raise InvalidInputError(f"sweep config {here}: option {k!r} is an empty list")
        for combo in product(*swept.values()):
            try:
                resolved = family.resolve(dict(zip(swept, combo, strict=True)))
            except InvalidInputError as exc:
                raise InvalidInputError(f"sweep config {here}: {exc}") from None
            variants.append(FamilyVariant(name, tuple(sorted(resolved.items())), tied, fact_map))
    if len(set(variants)) != len(variants):
        raise _fail(where, "two family entries resolve to the same variant")
    return variants


def _method_options(raw, methods: tuple[str, ...], where: str) -> tuple:
    """Validate ``{method: {field: value}}`` by building each configured method once."""
    import dataclasses

    from numerics.methods import get_method

    if not isinstance(raw, Mapping):
        raise _fail(where, f"method_options must be a table of tables, got {raw!r}")
    out = []
    for method, options in sorted(raw.items()):
        if method not in methods:
            raise _fail(
                where,
                f"method_options names {method!r}, which is not a method of "
                f"this sweep ({sorted(methods)})",
            )
        if not isinstance(options, Mapping):
            raise _fail(where, f"method_options.{method} must be a table, got {options!r}")
        frozen = tuple(
            sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items())
        )
        base = get_method(method)
        if not dataclasses.is_dataclass(base):
            raise _fail(where, f"method {method!r} takes no options")
        allowed = {f.name for f in dataclasses.fields(base)} - {"name"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise _fail(
                where,
                f"method_options.{method}: unknown field(s) {unknown}; allowed: {sorted(allowed)}",
            )
        try:
            dataclasses.replace(base, **dict(frozen))
        except InvalidInputError as exc:
            raise _fail(where, f"method_options.{method}: {exc}") from None
        out.append((method, frozen))
    return tuple(out)


def configured_method(point: Point):
    """The method object a point runs: the registry's, with the point's options applied."""
    import dataclasses

    from numerics.methods import get_method

    base = get_method(point.method)
    return dataclasses.replace(base, **dict(point.method_options)) if point.method_options else base


def _number(raw, name: str, where: str, low: float, high: float) -> float:
    if (
        isinstance(raw, bool)
        or not isinstance(raw, (int, float))
        or not math.isfinite(raw)
        or not low < raw <= high
    ):
        raise _fail(where, f"{name} must be a number in ({low}, {high}], got {raw!r}")
    return float(raw)


def parse_sweep_config(data: Mapping[str, Any], *, source: str = "<dict>") -> SweepConfig:
    """Validate a parsed config mapping (module table) and resolve it.

    Raises
    ------
    InvalidInputError
        For an unknown field anywhere, a missing required field (``methods``, ``families``,
        ``dims``, ``facts``), or a value of the wrong type or range; the message names the
        field (and the list index).
    """
    from numerics.methods import METHODS

    if not isinstance(data, Mapping):
        raise _fail(source, f"must be a table, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_TOP_FIELDS))
    if unknown:
        raise _fail(source, f"unknown field(s) {unknown}; allowed: {sorted(_TOP_FIELDS)}")
    missing = [k for k in ("methods", "families", "dims", "facts") if k not in data]
    if missing:
        raise _fail(source, f"missing required field(s) {missing}")
    name = data.get("name", Path(source).stem if source != "<dict>" else "sweep")
    if not isinstance(name, str) or not name:
        raise _fail(source, f"name must be a non-empty string, got {name!r}")
    tied = data.get("tied", False)
    if not isinstance(tied, bool):
        raise _fail(source, f"tied must be true or false, got {tied!r}")
    fact_map = data.get("fact_map")
    if fact_map is not None and not isinstance(fact_map, str):
        raise _fail(source, f"fact_map must be a string, got {fact_map!r}")
    facts, fractions = (), ()
    raw_facts = data["facts"]
    if isinstance(raw_facts, Mapping):
        if set(raw_facts) != {"fractions"}:
            raise _fail(
                source,
                f"facts as a table takes exactly one field 'fractions', got {sorted(raw_facts)}",
            )
        raw = raw_facts["fractions"]
        if not isinstance(raw, list) or not raw:
            raise _fail(source, "facts.fractions must be a non-empty list of numbers")
        fractions = tuple(
            _number(x, f"facts.fractions[{i}]", source, 0.0, math.inf) for i, x in enumerate(raw)
        )
    else:
        facts = _int_list(raw_facts, "facts", source, low=1)
    max_hidden = data.get("max_hidden")
    methods = _names(data["methods"], "methods", source, METHODS)
    if max_hidden is None:
        hidden_table: tuple[tuple[str, int], ...] = ()
    elif isinstance(max_hidden, Mapping):
        bad = sorted(set(max_hidden) - set(methods) - {"default"})
        if bad:
            raise _fail(
                source,
                f"max_hidden names {bad}, which are not methods of this sweep "
                f"(allowed: {sorted(methods)} and 'default')",
            )
        for k, v in max_hidden.items():
            _int_list([v], f"max_hidden.{k}", source, low=1)
        hidden_table = tuple(sorted(max_hidden.items()))
    else:
        _int_list([max_hidden], "max_hidden", source, low=1)
        hidden_table = (("default", max_hidden),)
    method_options = _method_options(data.get("method_options", {}), methods, source)
    dtype = data.get("dtype", "float32")
    if dtype not in DTYPE_NAMES:
        raise _fail(source, f"dtype must be one of {list(DTYPE_NAMES)}, got {dtype!r}")
    device = data.get("device", "cpu")
    if not isinstance(device, str) or not device:
        raise _fail(source, f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    return SweepConfig(
        name=name,
        methods=methods,
        families=tuple(_family_variants(data["families"], source, tied, fact_map)),
        dims=_int_list(data["dims"], "dims", source, low=1),
        facts=facts,
        fractions=fractions,
        seeds=_int_list(data.get("seeds", [0]), "seeds", source, low=0),
        values_fraction=_number(
            data.get("values_fraction", 1.0), "values_fraction", source, 0.0, 1.0
        ),
        max_hidden=hidden_table,
        method_options=method_options,
        rel_precision=_number(data.get("rel_precision", 0.05), "rel_precision", source, 0.0, 1.0),
        dtype=dtype,
        device=device,
        source=source,
    )


def load_sweep_config(path) -> SweepConfig:
    """Read a ``.toml`` or ``.json`` sweep file and resolve it (:func:`parse_sweep_config`).

    Raises
    ------
    InvalidInputError
        If the file is missing, not valid TOML/JSON (the parser's message, with the line), has
        another suffix, or fails validation.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"sweep config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInputError(f"sweep config {path}: not valid TOML ({exc})") from None
    elif path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"sweep config {path}: not valid JSON ({exc})") from None
    else:
        raise InvalidInputError(f"sweep config {path}: the suffix must be .toml or .json")
    return parse_sweep_config(data, source=str(path))
