"""Delta debugging of a failing fact set: a smaller set that fails the same way.

:func:`shrink` runs Zeller's ddmin over the facts (drop chunks, then complements, refining
to single facts), then removes, one at a time, each value no kept fact uses (competitors
can matter, so every removal is re-checked), within a budget of checks and seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from numerics.factset import FactSet
from theory.errors import InvalidInputError

__all__ = ["shrink", "subset_factset"]

# --------------------------------------------------------------------------- shrinking


def subset_factset(factset: FactSet, facts: Sequence[int], values: Sequence[int] | None = None):
    """The fact set restricted to the facts ``facts`` (in that order) and the values
    ``values`` (default all; every value a kept fact uses must be kept), re-indexed."""
    facts = np.asarray(facts, dtype=np.int64)
    values = np.arange(factset.n_values) if values is None else np.asarray(values, dtype=np.int64)
    position = np.full(factset.n_values, -1, dtype=np.int64)
    position[values] = np.arange(values.size)
    fact_map = position[factset.fact_map[facts]]
    assert (fact_map >= 0).all(), "a kept fact uses a dropped value"
    return FactSet(factset.keys[facts], factset.values[values], fact_map, meta=dict(factset.meta))


class _Budget:
    def __init__(self, seconds: float, steps: int):
        self.deadline = time.perf_counter() + seconds
        self.steps_left = steps
        self.steps = 0

    def spent(self) -> bool:
        return self.steps_left <= 0 or time.perf_counter() >= self.deadline

    def charge(self) -> None:
        self.steps_left -= 1
        self.steps += 1


def _ddmin(items: list[int], fails: Callable[[list[int]], bool], budget: _Budget) -> list[int]:
    """Zeller's ddmin: a 1-minimal failing subset of ``items`` (within the budget)."""
    n = 2
    while len(items) >= 2 and not budget.spent():
        size = math.ceil(len(items) / n)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        reduced = False
        for chunk in chunks:  # a single chunk that fails on its own
            if budget.spent():
                return items
            if fails(chunk):
                items, n, reduced = chunk, 2, True
                break
        if not reduced and len(chunks) > 2:
            for index in range(len(chunks)):  # a complement that still fails
                if budget.spent():
                    return items
                rest = [x for j, c in enumerate(chunks) if j != index for x in c]
                if fails(rest):
                    items, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    return items


def shrink(
    factset: FactSet,
    fails: Callable[[FactSet], bool],
    *,
    max_seconds: float = 10.0,
    max_steps: int = 200,
) -> tuple[FactSet, int]:
    """A smaller fact set on which ``fails`` still holds, and the number of checks spent.

    Delta debugging over the facts (ddmin), then greedy removal of each value no kept fact
    uses (the competitors can matter, so each removal is checked). ``fails`` is called on
    candidate fact sets only (never on ``factset`` itself, assumed failing); the search
    stops after ``max_steps`` calls or ``max_seconds``, returning the smallest failing set
    found. Results are cached per (facts, values) subset.
    """
    budget = _Budget(max_seconds, max_steps)
    cache: dict[tuple[tuple[int, ...], tuple[int, ...]], bool] = {}
    all_values = tuple(range(factset.n_values))

    def check(facts: Sequence[int], values: Sequence[int] = all_values) -> bool:
        key = (tuple(facts), tuple(values))
        if key not in cache:
            budget.charge()
            try:
                cache[key] = bool(fails(subset_factset(factset, facts, values)))
            except InvalidInputError:
                cache[key] = False
        return cache[key]

    facts = _ddmin(list(range(factset.n_facts)), lambda c: check(c), budget)
    values = list(all_values)
    used = set(factset.fact_map[facts].tolist())
    for j in reversed(all_values):
        if budget.spent():
            break
        if j in used:
            continue
        candidate = [v for v in values if v != j]
        if check(facts, candidate):
            values = candidate
    if len(facts) == factset.n_facts and len(values) == factset.n_values:
        return factset, budget.steps
    return subset_factset(factset, facts, values), budget.steps
