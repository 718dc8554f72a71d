"""Tests of numerics/sweep/store.py: one SQLite row per point, read back as written."""

from __future__ import annotations

import sqlite3

import pytest

from numerics.sweep.store import POINT_COLUMNS, SweepStore
from theory.errors import InvalidInputError


def _row(key="a", status="ok", **extra):
    return {
        "key": key,
        "sweep": "s",
        "method": "lookup",
        "dim": 4,
        "n_facts": 8,
        "tied": 1,
        "status": status,
        "family_options": {"whiten": "none"},
        "result": {"hidden": 8, "trials": [[8, 1.0]]},
        "reached": 1,
        **extra,
    }


def test_rows_round_trip_with_json_columns(tmp_path):
    with SweepStore(tmp_path / "s.sqlite") as store:
        store.write(_row("a"))
        store.write(
            _row("b", status="skipped", reason="needs an accelerator", result=None, reached=None)
        )
        rows = store.rows()
        assert [r["key"] for r in rows] == ["a", "b"]
        assert rows[0]["result"] == {"hidden": 8, "trials": [[8, 1.0]]}
        assert rows[0]["family_options"] == {"whiten": "none"}
        assert rows[0]["tied"] is True and rows[0]["reached"] is True
        assert rows[1]["result"] is None and rows[1]["reached"] is None
        assert set(rows[0]) == set(POINT_COLUMNS)
        assert [r["key"] for r in store.rows(status="skipped")] == ["b"]
        assert store.counts() == {"ok": 1, "skipped": 1, "error": 0}


def test_each_write_is_committed_and_visible_to_another_reader(tmp_path):
    path = tmp_path / "s.sqlite"
    writer = SweepStore(path)
    writer.write(_row("a"))
    with SweepStore(path, readonly=True) as reader:
        assert reader.finished_keys() == {"a"}
    writer.write(_row("a", status="error", reason="boom"))  # a rerun replaces the row
    with SweepStore(path, readonly=True) as reader:
        assert [r["status"] for r in reader.rows()] == ["error"]
        assert reader.finished_keys(include_errors=False) == set()
    writer.close()


def test_record_run_keeps_the_config(tmp_path):
    path = tmp_path / "s.sqlite"
    with SweepStore(path) as store:
        store.record_run("demo", {"dims": [8]})
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name, config FROM sweeps").fetchall() == [
            ("demo", '{"dims": [8]}')
        ]


@pytest.mark.parametrize(
    "row, match",
    [
        (_row(colour="red"), "unknown column"),
        ({"status": "ok"}, "needs a key"),
        (_row(status="done"), "status"),
    ],
    ids=["column", "no key", "status"],
)
def test_invalid_rows(tmp_path, row, match):
    with SweepStore(tmp_path / "s.sqlite") as store, pytest.raises(InvalidInputError, match=match):
        store.write(row)


def test_invalid_databases(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        SweepStore(tmp_path / "none.sqlite", readonly=True)
    (tmp_path / "text.sqlite").write_text("not a database at all, just some text" * 50)
    with pytest.raises(InvalidInputError, match="cannot open"):
        SweepStore(tmp_path / "text.sqlite")
    with sqlite3.connect(tmp_path / "other.sqlite") as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(InvalidInputError, match="no 'points' table"):
        SweepStore(tmp_path / "other.sqlite", readonly=True)
    with sqlite3.connect(tmp_path / "old.sqlite") as db:
        db.execute("CREATE TABLE points (key TEXT, status TEXT)")
    with pytest.raises(InvalidInputError, match="lacks column"):
        SweepStore(tmp_path / "old.sqlite")
