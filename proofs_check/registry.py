"""The registry of machine checks.

A check is a function with no arguments that returns a :class:`Evidence`; it is registered
with :func:`check`, which records the claim it tests and the ``theory``/``numerics`` function
it exercises. A check fails by returning ``passed=False`` or by raising.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Evidence", "Check", "CheckOutcome", "check", "run_check"]


@dataclass(frozen=True)
class Evidence:
    """What a check saw: whether the claim held and the numbers that show it."""

    passed: bool
    details: str


@dataclass(frozen=True)
class Check:
    name: str
    claim: str
    exercises: str
    function: Callable[[], Evidence]


@dataclass(frozen=True)
class CheckOutcome:
    check: Check
    passed: bool
    details: str
    seconds: float


_REGISTRY: dict[str, Check] = {}


def check(name: str, *, claim: str, exercises: str):
    """Register the decorated function as the machine check ``name``."""

    def decorate(function: Callable[[], Evidence]) -> Callable[[], Evidence]:
        if name in _REGISTRY:
            raise ValueError(f"proofs_check: a check named {name!r} is already registered")
        _REGISTRY[name] = Check(name, claim, exercises, function)
        return function

    return decorate


def run_check(chk: Check) -> CheckOutcome:
    """Run one check; an exception counts as a failure and its last line is the evidence."""
    start = time.perf_counter()
    try:
        evidence = chk.function()
        if not isinstance(evidence, Evidence):
            raise TypeError(f"check returned {type(evidence).__name__}, not Evidence")
        passed, details = bool(evidence.passed), evidence.details
    except Exception as exc:  # a crashing check is a failed check, never a pass
        passed = False
        details = f"raised {type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=3)
    return CheckOutcome(chk, passed, details, time.perf_counter() - start)
