"""``factmlp fuzz``: JSON contract, exit codes, the table, usage errors.

The verb is registered here on a parser built the way :func:`numerics.cli.app.build_parser`
builds its own, so that these tests do not depend on the verb being registered in
``app.py`` (the last test checks it there once it is)."""

from __future__ import annotations

import json
import sys

import pytest

from numerics.cli.fuzz import add_fuzz_verbs
from numerics.cli.output import EXIT_INVALID, Parser
from theory.errors import FactMLPError


def _main(argv: list[str]) -> int:
    """``numerics.cli.app.main`` with only the fuzz verb registered."""
    parser = Parser(prog="factmlp")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=Parser)

    def verb(name, help_text, handler):
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        sub.set_defaults(handler=handler)
        return sub

    add_fuzz_verbs(verb)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except FactMLPError as exc:
        print(f"factmlp {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_INVALID


def run(capsys, *argv):
    try:
        code = _main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_json_counts_and_exit_zero_when_nothing_fails(capsys, tmp_path):
    code, out, err = run(
        capsys, "fuzz", "--method", "lookup", "--examples", "4", "--strategy", "single_value",
        "--strategy", "inside_hull_values", "--out", tmp_path, "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["examples_run"] == 4 and result["totals"]["failed"] == 0
    assert set(result["strategies"]) == {"single_value", "inside_hull_values"}
    counts = result["strategies"]["inside_hull_values"]
    assert counts["infeasible_not_stored"] == 2 and counts["failures"] == []
    assert set(counts) >= {"stored", "refused_with_certificate", "failed", "certified_float32"}


def test_failures_exit_one_and_list_their_files(capsys, tmp_path):
    code, out, _ = run(
        capsys, "fuzz", "--method", "lookup", "--examples", "2", "--strategy", "zero_keys",
        "--out", tmp_path, "--seed", "0", "--json", "--shrink-seconds", "5",
    )  # fmt: skip
    assert code == 1
    result = json.loads(out)
    failures = result["strategies"]["zero_keys"]["failures"]
    assert result["totals"]["failed"] == len(failures) >= 1  # lookup: no up bias at 0
    for failure in failures:
        assert failure["file"].endswith(".npz") and failure["script"].endswith(".sh")
        assert (tmp_path / failure["file"].rsplit("/", 1)[-1]).exists()


def test_the_table_for_people(capsys, tmp_path):
    code, out, _ = run(
        capsys, "fuzz", "--method", "lookup", "--examples", "2", "--strategy", "zero_keys",
        "--out", tmp_path, "--shrink-seconds", "2",
    )  # fmt: skip
    assert code == 1
    assert "zero_keys" in out and "failed" in out and "reproduce.sh" in out.replace("\n", "")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--method", "nope"], "invalid choice"),
        (["--method", "lookup", "--dtype", "bfloat16"], "invalid choice"),
        (["--method", "lookup", "--strategy", "nope"], "invalid choice"),
        (["--method", "lookup", "--examples", "0"], "examples"),
        (["--method", "lookup", "--width", "wide"], "--width must be"),
    ],
)
def test_usage_errors_are_one_line_with_status_two(capsys, argv, message):
    code, out, err = run(capsys, "fuzz", *argv)
    assert code == EXIT_INVALID and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_registered_in_the_real_cli_once_app_py_adds_it(capsys, tmp_path):
    from numerics.cli import build_parser

    choices = build_parser()._subparsers._group_actions[0].choices
    if "fuzz" not in choices:
        pytest.skip("factmlp fuzz is not registered in numerics/cli/app.py yet")
    from tests.cli_runner import run as real_run

    code, out, _ = real_run(
        capsys, "fuzz", "--method", "lookup", "--examples", "1", "--strategy", "single_value",
        "--out", tmp_path, "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["totals"]["stored"] == 1
