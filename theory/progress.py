"""One progress bar for every long loop of the project (theory and numerics alike).

It lives in ``theory`` because ``theory`` never imports ``numerics``, while both need it. The
bar is drawn by rich on stderr, so that stdout stays clean for machine-readable output; when
``show`` is false the same code runs with a no-op, and rich is not imported at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["progress_bar"]


class Advance(Protocol):
    """What :func:`progress_bar` yields: ``advance(n=1, **fields)`` moves the bar by ``n``
    steps; ``completed=`` sets it instead; other keywords update the bar's text fields."""

    def __call__(self, n: int = 1, *, completed: int | None = None, **fields) -> None: ...


def _noop(n: int = 1, *, completed: int | None = None, **fields) -> None:
    return None


@contextmanager
def progress_bar(
    label: str,
    total: int | None,
    *,
    show: bool,
    detail: str = "{task.completed}/{task.total}",
    **fields,
) -> Iterator[Advance]:
    """A context giving an :class:`Advance` callable: a rich bar on stderr when ``show``.

    Parameters
    ----------
    label : the text before the bar.
    total : the number of steps (``None`` for an open-ended count).
    show : draw the bar; otherwise the callable does nothing.
    detail : a rich format string after the bar; it may name ``task.fields[...]`` given as
        keyword arguments here (their initial values) and to the callable.

    A context, not a generator, so that a loop that stops early closes the bar at once.

    Examples
    --------
    >>> with progress_bar("work", 3, show=False) as advance:
    ...     for _ in range(3):
    ...         advance()
    """
    if not show:
        yield _noop
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        TextColumn(detail),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=total, **fields)

        def advance(n: int = 1, *, completed: int | None = None, **update) -> None:
            if completed is None:
                bar.update(task, advance=n, **update)
            else:
                bar.update(task, completed=completed, **update)

        yield advance
