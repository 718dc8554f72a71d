"""What every verb of the ``factmlp`` CLI shares: exit codes, the one-line usage error,
JSON output (one object on stdout, nothing else), tables for people, and whether to draw
progress bars. Every verb module imports this one; it imports no verb module."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator

import numpy as np

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (and exit status 2)."""

    def error(self, message):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


class LazyChoices:
    """``choices=`` for argparse whose list is read only when needed (a membership test while
    parsing, or the help text): the method registry imports torch, which verbs such as
    ``bound`` never need. Give the argument a ``metavar``: argparse lists the choices of one
    without a metavar as soon as the argument is added."""

    def __init__(self, load: Callable[[], Iterable[str]]):
        self._load = load

    def __contains__(self, item) -> bool:
        return item in tuple(self._load())

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._load()))


def plain(obj):
    """Make ``obj`` JSON-safe: numpy scalars to Python, non-finite floats to null."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def emit(result: dict, *, as_json: bool, render: Callable[[dict], None] | None = None) -> None:
    """One JSON object on stdout with ``--json``; otherwise ``render`` (default: a table)."""
    if as_json:
        print(json.dumps(plain(result), allow_nan=False))
    else:
        (render or print_mapping)(result)


def print_mapping(result: dict, *, skip: tuple[str, ...] = ()) -> None:
    """A two-column table of ``result`` for people (long lists cut, floats to 6 digits)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    for key, value in result.items():
        if key in skip:
            continue
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, (list, tuple)) and len(value) > 12:
            value = f"{list(value[:12])} … ({len(value)} in all)"
        elif isinstance(value, dict):
            value = ", ".join(
                f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()
            )
        table.add_row(f"[bold]{key}[/]", str(value))
    Console().print(table)


def show_progress(args) -> bool:
    """Draw progress bars: only on a terminal, and never with ``--json``."""
    return sys.stderr.isatty() and not getattr(args, "json", False)
