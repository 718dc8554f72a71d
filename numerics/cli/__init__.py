"""The ``factmlp`` command line (console script ``factmlp = numerics.cli:main``).

``main`` and the parser in :mod:`~numerics.cli.app`; exit codes, JSON and table output in
:mod:`~numerics.cli.output`; the core verbs in :mod:`~numerics.cli.core`; the Transformer and
editing verbs in :mod:`~numerics.cli.experiments`; ``factmlp demo`` in :mod:`~numerics.cli.demo`;
the ``check`` / ``rho`` summaries in :mod:`~numerics.cli.summaries`.
"""

from numerics.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
