"""Drawing fact sets two ways from one recipe: through hypothesis or from a seeded generator.

A recipe is a function ``body(draws, **params) -> FactSet`` written against :class:`Draws`
(bounded integers, choices, booleans, a numpy generator). :class:`HypothesisDraws` feeds it
hypothesis's ``draw`` (so hypothesis shrinks the sizes and choices);
:class:`RngDraws` feeds it a ``numpy.random.Generator`` (deterministic: the same state
gives the same fact set). The recipes themselves and their registry are in
:mod:`numerics.testing.strategies`; this module holds the machinery, argument checks
(raising :class:`hypothesis.errors.InvalidArgument` that names the argument and value) and
:func:`draw_factset`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from numerics.factset import FactSet

__all__ = ["Draws", "HypothesisDraws", "RngDraws", "draw_factset"]

# --------------------------------------------------------------------------- drawing


class Draws(Protocol):
    """What a recipe draws from: bounded integers, choices, booleans and a numpy generator."""

    def integers(self, low: int, high: int) -> int:
        """An integer in ``[low, high]`` (both included)."""
        ...

    def choice(self, options: Sequence[Any]) -> Any: ...

    def boolean(self) -> bool: ...

    def rng(self) -> np.random.Generator:
        """A fresh numpy generator for the arrays."""
        ...


class HypothesisDraws:
    """:class:`Draws` through hypothesis's ``draw`` (so that hypothesis can shrink)."""

    def __init__(self, draw):
        self._draw = draw

    def integers(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def choice(self, options: Sequence[Any]) -> Any:
        return self._draw(st.sampled_from(options))

    def boolean(self) -> bool:
        return self._draw(st.booleans())

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self._draw(st.integers(0, 2**32 - 1)))


class RngDraws:
    """:class:`Draws` from a seeded ``numpy.random.Generator`` (deterministic)."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng

    def integers(self, low: int, high: int) -> int:
        return int(self._rng.integers(low, high + 1))

    def choice(self, options: Sequence[Any]) -> Any:
        return options[int(self._rng.integers(0, len(options)))]

    def boolean(self) -> bool:
        return bool(self._rng.integers(0, 2))

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(int(self._rng.integers(0, 2**32)))


# --------------------------------------------------------------------------- validation


def _fail(where: str, name: str, value: Any, need: str) -> None:
    raise InvalidArgument(f"{where}: {name}={value!r} is invalid; {name} must be {need}")


def _int(where: str, name: str, value: Any, low: int, high: int | None = None) -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        need = f"an integer ≥ {low}" if high is None else f"an integer in [{low}, {high}]"
        _fail(where, name, value, need)


def _float(where: str, name: str, value: Any, low: float, high: float, *, open_low=True) -> None:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if ok:
        value_f = float(value)
        ok = math.isfinite(value_f) and value_f <= high
        ok = ok and (value_f > low if open_low else value_f >= low)
    if not ok:
        bracket = "(" if open_low else "["
        _fail(where, name, value, f"a finite number in {bracket}{low:g}, {high:g}]")


def _bounds(where: str, low_name: str, low: Any, high_name: str, high: Any, floor: int) -> None:
    _int(where, low_name, low, floor)
    _int(where, high_name, high, floor)
    if low > high:
        raise InvalidArgument(
            f"{where}: {low_name}={low!r} exceeds {high_name}={high!r}; need "
            f"{floor} <= {low_name} <= {high_name}"
        )


# --------------------------------------------------------------------------- shared pieces


def _directions(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """``n`` distinct rows: unit vectors for d ≥ 2, nonzero Gaussian scalars for d = 1."""
    x = rng.standard_normal((n, dim))
    if dim == 1:
        return x
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _sphere(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _repair(keys: np.ndarray, fact_map: np.ndarray) -> np.ndarray:
    """Map every exact copy of a key to the value of its first occurrence."""
    _, first, group = np.unique(keys + 0.0, axis=0, return_index=True, return_inverse=True)
    return fact_map[first[group.reshape(-1)]]


def _random_map(rng: np.random.Generator, n_facts: int, n_values: int) -> np.ndarray:
    """A fact map that uses every value when ``n_facts ≥ n_values``."""
    if n_facts >= n_values:
        fact_map = np.concatenate(
            [np.arange(n_values), rng.integers(0, n_values, n_facts - n_values)]
        )
        return rng.permutation(fact_map)
    return rng.integers(0, n_values, n_facts)


def _factset(name: str, keys, values, fact_map, **meta) -> FactSet:
    fact_map = _repair(np.asarray(keys, dtype=float), np.asarray(fact_map, dtype=np.int64))
    return FactSet(keys, values, fact_map, meta={"strategy": name, **meta})


# --------------------------------------------------------------------------- recipes

_BODIES: dict[str, Callable[..., FactSet]] = {}
_CHECKS: dict[str, Callable[[str, Mapping[str, Any]], None]] = {}
_PUBLIC: dict[str, Callable[..., SearchStrategy[FactSet]]] = {}
_COMPOSITES: dict[str, Callable[..., SearchStrategy[FactSet]]] = {}


def _check_sizes(where: str, params: Mapping[str, Any], min_facts=1, min_dim=1) -> None:
    if "max_facts" in params:
        _int(where, "max_facts", params["max_facts"], min_facts)
    if "max_values" in params:
        _int(where, "max_values", params["max_values"], 1)
    if "min_dim" in params:
        _bounds(where, "min_dim", params["min_dim"], "max_dim", params["max_dim"], min_dim)
    elif "max_dim" in params:
        _int(where, "max_dim", params["max_dim"], min_dim)


def _recipe(check: Callable[[str, Mapping[str, Any]], None]):
    """Register a public strategy factory whose body is ``_<name>(draws, **params)``."""

    def register(public: Callable[..., SearchStrategy[FactSet]]):
        name = public.__name__
        signature = inspect.signature(public)

        def strategy(draw, **params):
            return _BODIES[name](HypothesisDraws(draw), **params)

        strategy.__name__ = strategy.__qualname__ = name
        strategy.__doc__ = public.__doc__
        draw_param = inspect.Parameter("draw", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        strategy.__signature__ = signature.replace(
            parameters=[draw_param, *signature.parameters.values()]
        )
        _COMPOSITES[name] = st.composite(strategy)
        _CHECKS[name] = check
        _PUBLIC[name] = public
        return public

    return register


def _params(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` bound to the public signature of ``name`` (defaults filled), validated."""
    signature = inspect.signature(_PUBLIC[name])
    try:
        bound = signature.bind(**given)
    except TypeError as exc:
        raise InvalidArgument(f"{name}: {exc}") from None
    bound.apply_defaults()
    params = dict(bound.arguments)
    _CHECKS[name](name, params)
    return params


def _strategy(name: str, params: Mapping[str, Any]) -> SearchStrategy[FactSet]:
    """The validated strategy; only non-default arguments are passed, so its repr is the
    shortest call that builds it."""
    _CHECKS[name](name, params)
    defaults = {k: p.default for k, p in inspect.signature(_PUBLIC[name]).parameters.items()}
    given = {k: v for k, v in params.items() if not _same(v, defaults[k])}
    return _COMPOSITES[name](**given)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def draw_factset(name: str, rng: np.random.Generator, **params) -> FactSet:
    """The fact set recipe ``name`` draws from ``rng`` (deterministic for a given state).

    Parameters are those of the strategy factory ``STRATEGIES[name]``.

    Raises
    ------
    InvalidArgument
        For an unknown name or an invalid parameter (named, with its value).

    Examples
    --------
    >>> a = draw_factset("single_fact", np.random.default_rng(3))
    >>> b = draw_factset("single_fact", np.random.default_rng(3))
    >>> a.n_facts, bool(np.array_equal(a.keys, b.keys) and np.array_equal(a.values, b.values))
    (1, True)
    """
    if name not in _BODIES:
        raise InvalidArgument(
            f"draw_factset: name={name!r} is invalid; name must be one of {', '.join(_BODIES)}"
        )
    if not isinstance(rng, np.random.Generator):
        raise InvalidArgument(
            f"draw_factset: rng={rng!r} is invalid; rng must be a numpy.random.Generator"
        )
    return _BODIES[name](RngDraws(rng), **_params(name, params))
