"""The ``factmlp`` command line: ``factmlp VERB … [--json]``.

A thin layer: each verb parses its arguments and calls one library function. With ``--json``,
stdout is one JSON object and nothing else. Malformed input exits with status 2 and one line
on stderr naming what is wrong and where; no traceback. Verbs live in
:mod:`numerics.cli.core` and :mod:`numerics.cli.experiments`; what they share in
:mod:`numerics.cli.output`.
"""

from __future__ import annotations

import argparse
import sys

from numerics.cli.output import EXIT_INVALID, Parser
from theory.errors import FactMLPError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``factmlp`` parser with every verb registered."""
    from numerics.cli.core import add_core_verbs
    from numerics.cli.experiments import add_experiment_verbs
    from numerics.cli.fuzz import add_fuzz_verbs
    from numerics.cli.precision import add_precision_verbs

    parser = Parser(
        prog="factmlp",
        description="Fact-storing MLPs: fact sets, decodability, bounds and constructions "
        "(arXiv 2512.00207).",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=Parser)

    def verb(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        sub.set_defaults(handler=handler)
        return sub

    add_core_verbs(verb)
    add_experiment_verbs(verb)
    add_precision_verbs(verb)
    add_fuzz_verbs(verb)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``factmlp`` on ``argv`` (default ``sys.argv[1:]``); the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except FactMLPError as exc:
        print(f"factmlp {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:  # unwritable output path and the like: one line, no traceback
        print(f"factmlp {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
