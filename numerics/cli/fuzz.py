"""The fuzzing verb of ``factmlp``: ``fuzz`` (edge-case fact sets through one method, each
failure shrunk and saved with a reproducing script). A thin layer over
:func:`numerics.testing.fuzz`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from numerics.cli.output import EXIT_FAILED, EXIT_OK, LazyChoices, emit, show_progress

__all__ = ["add_fuzz_verbs"]


def _method_names() -> tuple[str, ...]:
    from numerics.methods import METHODS

    return tuple(METHODS)


def _strategy_names() -> tuple[str, ...]:
    from numerics.testing.strategies import STRATEGIES

    return tuple(STRATEGIES)


def _dtype_names() -> tuple[str, ...]:
    from numerics.testing.fuzzer import FUZZ_DTYPES

    return FUZZ_DTYPES


def _render(result: dict) -> None:
    """A strategies × outcomes table, then one line per failure."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        title=f"factmlp fuzz {result['method']}: {result['examples_run']} of "
        f"{result['examples']} examples, seed {result['seed']}, {result['dtype']}, "
        f"width {result['width']}, {result['seconds']:.1f} s"
        + (" (time budget reached)" if result["truncated"] else "")
    )
    columns = (
        ("examples", "examples"),
        ("stored", "stored"),
        ("certified_float32", "certified f32"),
        ("refused_with_certificate", "refused (cert.)"),
        ("infeasible_not_stored", "infeasible"),
        ("failed", "failed"),
    )
    table.add_column("strategy")
    for _, title in columns:
        table.add_column(title, justify="right")
    for name, counts in result["strategies"].items():
        style = "red" if counts["failed"] else None
        table.add_row(name, *(str(counts[key]) for key, _ in columns), style=style)
    totals = result["totals"]
    table.add_row(
        "[bold]total[/]",
        str(result["examples_run"]),
        *(str(totals[key]) for key, _ in columns[1:]),
    )
    console.print(table)
    for counts in result["strategies"].values():
        for failure in counts["failures"]:
            console.print(
                f"[red]{failure['kind']}[/] {failure['strategy']} #{failure['example']} "
                f"({failure['original_n_facts']} → {failure['n_facts']} facts): "
                f"{failure['message']}\n  {failure['file']}  ·  sh {failure['script']}"
            )


def _cmd_fuzz(args) -> int:
    from numerics.testing.fuzzer import fuzz

    width = args.width
    if width not in ("max", "capacity"):
        from theory.errors import InvalidInputError

        try:
            width = int(width)
        except ValueError:
            raise InvalidInputError(
                f"--width must be 'max', 'capacity' or an integer, got {width!r}"
            ) from None
    report = fuzz(
        args.method,
        examples=args.examples,
        seed=args.seed,
        dtype=args.dtype,
        out_dir=args.out,
        max_seconds=args.max_seconds,
        progress=show_progress(args),
        strategies=args.strategy,
        width=width,
        shrink_seconds=args.shrink_seconds,
    )
    emit(report.to_dict(), as_json=args.json, render=_render)
    return EXIT_FAILED if report.failed else EXIT_OK


def add_fuzz_verbs(verb: Callable[[str, str, Callable], argparse.ArgumentParser]) -> None:
    """Register the fuzzing verb with the CLI's ``verb`` factory."""
    sub = verb(
        "fuzz",
        "build edge-case fact sets with a method and check recall with an independent numpy "
        "pass; failures are shrunk and saved with a reproducing script (exit 1 if any)",
        _cmd_fuzz,
    )
    sub.add_argument(
        "--method",
        required=True,
        choices=LazyChoices(_method_names),
        metavar="METHOD",
        help="a registered method: %(choices)s",
    )
    sub.add_argument("--examples", type=int, default=200, help="fact sets in all (default 200)")
    sub.add_argument("--seed", type=int, default=0, help="seed of draws and builds (default 0)")
    sub.add_argument(
        "--dtype",
        choices=LazyChoices(_dtype_names),
        metavar="DTYPE",
        default="float32",
        help="recall dtype: %(choices)s (default float32)",
    )
    sub.add_argument("--out", default="fuzz-out", help="folder for failures (default fuzz-out)")
    sub.add_argument("--max-seconds", type=float, help="stop drawing new examples after this")
    sub.add_argument(
        "--strategy",
        action="append",
        choices=LazyChoices(_strategy_names),
        metavar="NAME",
        help="only this recipe (repeatable; default all): %(choices)s",
    )
    sub.add_argument(
        "--width",
        default="max",
        help="'max' (the method's largest default width; default), 'capacity' (search) or N",
    )
    sub.add_argument(
        "--shrink-seconds", type=float, default=10.0, help="shrinking budget per failure"
    )
