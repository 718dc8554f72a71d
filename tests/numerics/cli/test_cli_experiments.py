"""The ``transformer`` and ``edit`` verbs: JSON contract, exit 2 on bad input, the installed
script."""

import json
import shutil
import subprocess

import pytest
import torch

from numerics.cli import main
from numerics.transformer.train import TrainConfig
from tests.cli_runner import run

TINY_TRANSFORMER = [
    "transformer",
    "--facts",
    "8",
    "--junk",
    "2",
    "--dim",
    "16",
    "--method",
    "hebbian_ridge",
    "--batch",
    "32",
    "--max-steps",
    "10",
    "--eval-per-fact",
    "2",
]
TINY_EDIT = [
    "edit",
    "--facts",
    "24",
    "--steps",
    "30",
    "--methods",
    "swap,rome",
    "--mlp-method",
    "hebbian_ridge",
]


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_transformer_json_contract(capsys):
    code, out, err = run(capsys, *TINY_TRANSFORMER, "--json")
    assert code == 0
    result = json.loads(out)
    for key in ("recall", "mlp_recall", "train_seconds", "steps"):
        assert key in result
    assert result["steps"] == 10 and result["mlp_recall"] == 1.0 and 0 <= result["recall"] <= 1
    assert result["torch_threads"] == 1


def test_edit_json_contract(capsys):
    pytest.importorskip("pycountry")
    code, out, err = run(capsys, *TINY_EDIT, "--json")
    assert code == 0
    result = json.loads(out)
    methods = [r["method"] for r in result["results"]]
    assert methods == ["none", "swap", "rome"]
    for row in result["results"]:
        assert set(row) >= {
            "method",
            "efficacy",
            "paraphrase",
            "specificity",
            "score",
            "nonfact_ppl_ratio",
        }
    assert result["n_edited"] == 12


def test_human_readable_edit_table(capsys):
    pytest.importorskip("pycountry")
    code, out, _ = run(
        capsys, *TINY_EDIT[:-4], "--methods", "swap", "--mlp-method", "hebbian_ridge"
    )
    assert code == 0 and "swap" in out and "efficacy" in out


def test_cli_defaults_are_the_library_defaults():
    from numerics.cli import build_parser
    from numerics.cli.experiments import editing_config, transformer_config
    from numerics.editing import EditingConfig
    from numerics.transformer import TransformerRunConfig

    parse = build_parser().parse_args
    assert transformer_config(parse(["transformer", "--facts", "4"])) == TransformerRunConfig(
        n_facts=4
    )
    assert editing_config(parse(["edit"])) == EditingConfig()
    given = transformer_config(parse(["transformer", "--facts", "4", "--lr", "0.5", "--seed", "3"]))
    assert given.train == TrainConfig(lr=0.5, seed=3) and given.seed == 3


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["transformer", "--facts", "0"], "n_facts"),
        (["transformer", "--facts", "8", "--dim", "7"], "dim"),
        (["transformer", "--facts", "8", "--method", "nope"], "method"),
        (["transformer", "--facts", "8", "--lr", "-1"], "lr"),
        (["transformer", "--facts", "8", "--threads", "0"], "threads"),
        (["transformer", "--facts", "8", "--method", "ntk", "--code-dim", "3"], "code_dim"),
        (["edit", "--fraction", "1.5"], "fraction"),
        (["edit", "--methods", "rome,bogus"], "bogus"),
        (["edit", "--facts", "1"], "n_facts"),
        (["edit", "--steps", "0"], "steps"),
        (["transformer"], "--facts"),
    ],
    ids=[
        "facts",
        "odd-dim",
        "method",
        "lr",
        "threads",
        "code-dim",
        "fraction",
        "methods",
        "edit-facts",
        "steps",
        "missing",
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    if argv[0] == "edit":
        pytest.importorskip("pycountry")
    try:
        code = main(argv + ["--json"])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


def test_installed_script_runs_the_transformer_verb():
    script = shutil.which("factmlp")
    if script is None:
        pytest.skip("the factmlp console script is not installed")
    proc = subprocess.run(
        [script, *TINY_TRANSFORMER, "--json"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) >= {"recall", "mlp_recall", "train_seconds", "steps"}
    bad = subprocess.run(
        [script, "edit", "--fraction", "0", "--json"], capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "fraction" in bad.stderr and "Traceback" not in bad.stderr
