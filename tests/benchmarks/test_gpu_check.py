"""``benchmarks/gpu_check.sh`` and ``benchmarks/bench_gpu_scale.py``: one line and exit 0
without CUDA; in the CPU mode the same stages at tiny sizes, every result file written and
every point stored and certified; a point past its time limit recorded as such while the next
one still runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
BENCH = ROOT / "benchmarks" / "bench_gpu_scale.py"
#: One fast test of the CUDA selection (-k cuda), run on the CPU in the CPU mode.
FAST_CUDA_TEST = "tests/numerics/methods/test_methods_cuda.py::test_cuda_capacity_matches_the_cpu"


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPU_CHECK_")}
    return {**env, "PYTHON": sys.executable, **extra}


def _run(args, env, timeout=240):
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_script_is_executable():
    assert os.access(SCRIPT, os.X_OK)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA exit")
def test_without_cuda_one_line_and_exit_0(tmp_path):
    out = tmp_path / "gpu"
    done = _run([str(SCRIPT), str(out)], _env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["gpu_check: no CUDA device; nothing run"]
    assert not out.exists()  # nothing run, nothing written


def test_cpu_mode_runs_every_stage_and_writes_the_results(tmp_path):
    out = tmp_path / "gpu"
    env = _env(
        GPU_CHECK_DEVICE="cpu",
        GPU_CHECK_SIZES="128,256",
        GPU_CHECK_DIM="16",
        GPU_CHECK_TESTS=FAST_CUDA_TEST,
    )
    done = _run(["bash", str(SCRIPT), str(out)], env)
    assert done.returncode == 0, (done.stdout, (out / "gpu_check.txt").read_text())
    assert "every stage passed" in done.stdout.splitlines()[-1]
    stages = (out / "gpu_check.txt").read_text().splitlines()[1:]
    assert [s.split()[0] for s in stages] == ["versions", "cuda_tests", "bench_gpu_scale"]
    assert all(" rc=0 " in s for s in stages)
    assert "torch " + torch.__version__ in (out / "versions.txt").read_text()
    suite = ET.parse(out / "cuda_tests.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) == 1 and int(suite.get("skipped")) == 0
    assert int(suite.get("failures")) == int(suite.get("errors")) == 0
    result = json.loads((out / "bench_gpu_scale.json").read_text())
    rows = result["rows"]
    assert [(r["n_facts"], r["dim"], r["device"]) for r in rows] == [
        (128, 16, "cpu"),
        (256, 16, "cpu"),
    ]
    for row in rows:
        assert row["status"] == "ok" and row["recall"] == 1.0
        assert row["float32_certified_fraction"] == 1.0
        assert row["peak_gpu_allocated_mb"] is None and row["peak_rss_mb"] > 0
        assert 0 < row["seconds"] < row["wall_s"] <= row["time_limit_s"]
    assert result["summary"]["all_recall_1"] and result["summary"]["all_float32_certified"]
    assert (out / "bench_gpu_scale.md").read_text().count("| ok |") == 2
    progress = [json.loads(line) for line in (out / "bench_gpu_scale_progress.jsonl").open()]
    assert [p["stage"] for p in progress if p["n_facts"] == 256][-1] == "done"


def test_a_point_past_its_limit_is_recorded_and_the_next_one_runs(tmp_path):
    done = _run(
        [sys.executable, str(BENCH), "--device", "cpu", "--sizes", "64,64", "--dim", "8",
         "--time-limit", "0.5,120", "--outdir", str(tmp_path), "--name", "t"],
        _env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "t.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["timeout", "ok"]
    assert rows[0]["time_limit_s"] == 0.5 and "recall" not in rows[0]
    assert rows[1]["recall"] == 1.0
