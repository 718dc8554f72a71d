"""The ``factmlp sweep`` and ``factmlp plot`` verbs: JSON contracts, --show, errors, the script."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.cli_runner import run

pytest.importorskip("distributed", reason='Dask sweeps need: pip install "dask[distributed]"')

CONFIG = """
name = "cli"
methods = ["lookup"]
dims = [6]
facts = [10, 20]
seeds = [0, 1]
tied = true

[[families]]
name = "spherical"
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "cli.toml"
    path.write_text(CONFIG)
    return path


def test_show_prints_the_resolved_grid_and_runs_nothing(capsys, config, tmp_path):
    code, out, _ = run(capsys, "sweep", config, "--show", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["n_points"] == 4 and shown["facts"] == {"6": [10, 20]}
    assert not (tmp_path / "cli.sqlite").exists()


def test_sweep_then_resume_then_plot(capsys, config, tmp_path):
    db = tmp_path / "out.sqlite"
    code, out, _ = run(
        capsys, "sweep", config, "--db", db, "--serial", "--max-points", "1", "--json"
    )
    first = json.loads(out)
    assert code == 0 and first["points"] == {
        "total": 4,
        "done": 1,
        "ok": 1,
        "skipped": 0,
        "failed": 0,
        "remaining": 3,
    }
    code, out, _ = run(capsys, "sweep", config, "--db", db, "--workers", "1", "--json")
    second = json.loads(out)
    assert code == 0 and second["already_done"] == 1 and second["ran"] == 3
    assert second["points"]["done"] == 4 and second["db"] == str(db)
    code, out, _ = run(capsys, "plot", db, "--out", tmp_path / "plots", "--json")
    plotted = json.loads(out)
    assert code == 0 and len(plotted["plots"]) == 2  # one family, and cost against ρ
    fit = next(f for f in plotted["fits"] if f["dim"] == "all")
    assert fit["slope_params"] == pytest.approx(1.0)  # lookup: W = (3d + 1)·F
    code, out, _ = run(capsys, "plot", db, "--out", tmp_path / "plots")
    assert code == 0 and "slope" in out and "lookup" in out


def test_default_db_sits_next_to_the_config(capsys, config, tmp_path):
    code, out, _ = run(capsys, "sweep", config, "--serial", "--json")
    assert code == 0 and json.loads(out)["db"] == str(tmp_path / "cli.sqlite")
    assert (tmp_path / "cli.sqlite").is_file()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["sweep", "missing.toml"], "no such file"),
        (["plot", "missing.sqlite"], "no such file"),
        (["sweep", "{config}", "--workers", "0"], "workers"),
    ],
    ids=["no config", "no db", "zero workers"],
)
def test_errors_are_one_line_exit_2(capsys, config, argv, match):
    code, out, err = run(capsys, *[a.format(config=config) for a in argv])
    assert code == 2 and out == "" and match in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unknown_field_names_the_field(capsys, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.replace("seeds", "seedz"))
    code, _, err = run(capsys, "sweep", path, "--show")
    assert code == 2 and "seedz" in err


def test_installed_script_runs_a_sweep(config, tmp_path):
    script = shutil.which("factmlp") or pytest.skip("the factmlp script is not on PATH")
    proc = subprocess.run(
        [script, "sweep", str(config), "--db", str(tmp_path / "s.sqlite"), "--serial", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["points"]["ok"] == 4
