"""Run the ``factmlp`` CLI in-process for tests: exit code, stdout and stderr."""

from __future__ import annotations

from numerics.cli import main


def run(capsys, *argv):
    """``main(argv)`` with every argument turned into a string (paths included)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors exit as the installed script would
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
