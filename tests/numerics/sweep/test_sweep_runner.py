"""Tests of numerics/sweep/runner.py: cluster = serial, resume, and every outcome is a row."""

from __future__ import annotations

import pytest
import torch

from numerics.embeddings.families import family_factset
from numerics.methods import METHODS
from numerics.mlp import TENSOR_NAMES, GatedMLP, GatedMLPWeights
from numerics.precision.bits import quantize_rows
from numerics.strict_recall import recall
from numerics.sweep.config import configured_method, parse_sweep_config
from numerics.sweep.runner import evaluate_point, point_rho, run_sweep
from numerics.sweep.store import SweepStore
from theory.errors import InvalidInputError
from theory.rho import decodability

pytest.importorskip("distributed", reason='Dask sweeps need: pip install "dask[distributed]"')

GRID = {
    "methods": ["lookup", "encdec"],
    "dims": [6],
    "facts": [12, 24],
    "seeds": [0, 1],
    "tied": True,
    "families": [{"name": "spherical"}, {"name": "spiked", "beta": 6.0}],
}
#: Fields that legitimately differ between two runs of one point (timing, where it ran).
TIMING = {"seconds", "started", "finished", "worker", "rho_seconds", "result"}


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not k.endswith("seconds")}
    return value


def _comparable(row):
    out = {k: v for k, v in row.items() if k not in TIMING}
    out["result"] = _untimed(row["result"])
    return out


def _rows(path):
    with SweepStore(path, readonly=True) as store:
        return {r["key"]: r for r in store.rows()}


@pytest.fixture(scope="module")
def serial_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("serial") / "serial.sqlite"
    summary = run_sweep(parse_sweep_config(GRID), path, serial=True)
    assert (summary.total, summary.ran, summary.ok) == (16, 16, 16)
    return path


def test_local_cluster_gives_the_serial_rows(serial_db, tmp_path):
    summary = run_sweep(
        parse_sweep_config(GRID), tmp_path / "cluster.sqlite", workers=2, processes=False
    )
    assert summary.scheduler == "LocalCluster" and summary.ok == 16 and summary.failed == 0
    serial, cluster = _rows(serial_db), _rows(tmp_path / "cluster.sqlite")
    assert serial.keys() == cluster.keys()
    for key in serial:
        assert _comparable(cluster[key]) == _comparable(serial[key])


def test_rows_hold_the_point_the_result_and_rho(serial_db):
    rows = list(_rows(serial_db).values())
    lookup = [r for r in rows if r["method"] == "lookup"]
    assert all(r["params_per_fact"] == 3 * 6 + 1 and r["hidden"] == r["n_facts"] for r in lookup)
    row = next(r for r in rows if r["family"] == "spiked" and r["n_facts"] == 24)
    fs = family_factset("spiked", {"beta": 6.0}, dim=6, n_facts=24, seed=row["seed"], tied=True)
    assert row["rho"] == pytest.approx(decodability(fs.values).rho)
    assert row["result"]["params"] == row["params"] and row["recall"] == 1.0
    assert row["whiten"] == "none" and row["family_label"] == "spiked(tied, beta=6.0)"
    assert set(row["versions"]) >= {"factmlp", "python", "torch", "numpy"}


def _recall_at_bits(weights: GatedMLPWeights, factset, bits: int) -> float:
    """Float64 recall with every tensor rounded to ``bits``-bit integers, one scale per row."""
    parts = {
        name: None
        if getattr(weights, name) is None
        else quantize_rows(getattr(weights, name), bits)
        for name in TENSOR_NAMES
    }
    rounded = GatedMLPWeights(
        parts.pop("gate"),
        parts.pop("up"),
        parts.pop("down"),
        activation=weights.activation,
        **parts,
    )
    return recall(GatedMLP(rounded), factset, dtype=torch.float64).accuracy


def test_stored_points_record_a_min_bits_that_is_minimal(serial_db):
    """Rebuild each stored point's MLP (same method, width and seed) and round it
    independently of the bits frontier: it stores the set at min_bits, not at min_bits − 1."""
    rows = [r for r in _rows(serial_db).values() if r["reached"]]
    assert len(rows) == 16
    assert {r["method"] for r in rows if r["min_bits"] > 2} == {"lookup", "encdec"}
    point_of = {p.key: p for p in parse_sweep_config(GRID).points}
    for row in rows:
        point = point_of[row["key"]]
        fs = family_factset(**point.factset_kwargs())
        built = configured_method(point).build(
            fs, row["result"]["searched_hidden"], seed=row["seed"]
        )
        assert built.params == row["params"]  # the MLP the search returned
        weights = built.weights.to(dtype=torch.float64)
        assert isinstance(row["min_bits"], int)
        assert _recall_at_bits(weights, fs, row["min_bits"]) == 1.0
        if row["min_bits"] > 2:
            assert _recall_at_bits(weights, fs, row["min_bits"] - 1) < 1.0
        assert row["result"]["bits"]["min_bits"] == row["min_bits"]
        assert row["total_over_bound"] > 0 and row["smallest_format"] is not None


def test_a_set_that_is_not_stored_has_no_min_bits(tmp_path):
    grid = {**GRID, "methods": ["ntk"], "facts": [24], "seeds": [0], "max_hidden": 2}
    grid["families"] = [{"name": "spherical"}]
    (point,) = parse_sweep_config(grid).points
    row = evaluate_point(point, None, "small")
    assert row["status"] == "ok" and row["reached"] == 0
    assert row["min_bits"] is None and row["total_bits"] is None
    assert row["result"]["bits"] is None


def test_a_failing_bits_frontier_keeps_the_capacity_result(monkeypatch):
    import numerics.precision.bits as bits

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(bits, "bits_frontier", broken)
    point = parse_sweep_config({**GRID, "facts": [12], "seeds": [0]}).points[0]
    row = evaluate_point(point, None, "t")
    assert row["status"] == "ok" and row["reached"] == 1 and row["hidden"] == 12
    assert row["min_bits"] is None and "out of memory" in row["result"]["bits"]["error"]


def test_interrupted_sweep_resumes_with_only_the_rest(serial_db, tmp_path, monkeypatch):
    """Stop a serial run after 5 rows (as ^C would), then finish it on a local cluster: the
    5 stored rows stay untouched and only the other 11 run."""
    path = tmp_path / "resume.sqlite"
    calls = {"n": 0}
    original = SweepStore.write

    def write_then_stop(self, row):
        original(self, row)
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(SweepStore, "write", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(parse_sweep_config(GRID), path, serial=True)
    monkeypatch.setattr(SweepStore, "write", original)
    before = _rows(path)
    assert len(before) == 5
    summary = run_sweep(parse_sweep_config(GRID), path, workers=1, processes=False)
    assert (summary.already_done, summary.ran, summary.ok, summary.remaining) == (5, 11, 16, 0)
    after = _rows(path)
    for key, row in before.items():
        assert after[key] == row  # not redone: same timestamps and worker
    serial = _rows(serial_db)
    assert {k: _comparable(r) for k, r in after.items()} == {
        k: _comparable(r) for k, r in serial.items()
    }
    again = run_sweep(parse_sweep_config(GRID), path, serial=True)
    assert again.ran == 0 and again.already_done == 16


def test_max_points_runs_the_cheapest_first(tmp_path):
    summary = run_sweep(
        parse_sweep_config(GRID), tmp_path / "part.sqlite", serial=True, max_points=4
    )
    assert summary.ran == 4 and summary.remaining == 12
    rows = _rows(tmp_path / "part.sqlite").values()
    assert all(r["n_facts"] == 12 for r in rows)  # the smaller F goes first


def test_infeasible_and_malformed_points_become_skipped_and_error_rows(tmp_path):
    grid = {
        "methods": ["lookup"],
        "dims": [2],
        "facts": [40],
        "seeds": [0],
        "families": [{"name": "gaussian"}, {"name": "lowrank", "rank": 5}],
    }
    summary = run_sweep(parse_sweep_config(grid), tmp_path / "bad.sqlite", serial=True)
    assert (summary.ok, summary.skipped, summary.failed) == (0, 1, 1)
    rows = {r["family"]: r for r in _rows(tmp_path / "bad.sqlite").values()}
    assert rows["gaussian"]["status"] == "skipped" and "convex hull" in rows["gaussian"]["reason"]
    assert rows["gaussian"]["rho"] == 0.0
    assert rows["lowrank"]["status"] == "error" and "rank" in rows["lowrank"]["reason"]
    assert "Traceback" in rows["lowrank"]["result"]["traceback"]
    assert rows["lowrank"]["rho"] is None
    retried = run_sweep(
        parse_sweep_config(grid), tmp_path / "bad.sqlite", serial=True, retry_errors=True
    )
    assert retried.ran == 1  # only the error row


@pytest.mark.skipif("gd" not in METHODS, reason="the gd method is not registered yet")
def test_gd_beyond_the_cpu_limits_is_skipped_with_the_reason(tmp_path):
    grid = {
        "methods": ["gd"],
        "dims": [128],
        "facts": [16],
        "tied": True,
        "families": [{"name": "spherical"}],
    }
    point = parse_sweep_config(grid).points[0]
    row = evaluate_point(point, point_rho(point), "gd")
    assert row["status"] == "skipped" and row["reason"].startswith("needs an accelerator")


def test_evaluate_point_sets_the_thread_count():
    point = parse_sweep_config({**GRID, "facts": [12], "seeds": [0]}).points[0]
    torch.set_num_threads(2)
    evaluate_point(point, None, "t", threads=1)
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"threads": 0}, "threads"),
        ({"workers": 0}, "workers"),
        ({"max_points": 0}, "max_points"),
        ({"serial": True, "scheduler": "tcp://x:1"}, "exclude"),
    ],
    ids=["threads", "workers", "max_points", "serial and scheduler"],
)
def test_invalid_calls(tmp_path, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        run_sweep(parse_sweep_config(GRID), tmp_path / "x.sqlite", **kwargs)


def test_unreachable_scheduler_is_one_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="cannot reach the Dask scheduler"):
        run_sweep(
            parse_sweep_config({**GRID, "facts": [12]}),
            tmp_path / "x.sqlite",
            scheduler="tcp://127.0.0.1:9",
            connect_timeout=1.0,
        )
