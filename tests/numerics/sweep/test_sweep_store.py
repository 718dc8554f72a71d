"""Tests of numerics/sweep/store.py: one SQLite row per point, read back as written."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from numerics.sweep.store import ADDED_COLUMNS, POINT_COLUMNS, SweepStore
from theory.errors import InvalidInputError

COMMITTED = Path(__file__).resolve().parents[3] / "benchmarks/results/scaling_tied_spherical.sqlite"


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


def test_a_written_row_is_in_the_database_file_itself(tmp_path):
    """Without its -wal file (git ignores it), the file of a still-open writer holds the row."""
    writer = SweepStore(tmp_path / "s.sqlite")
    writer.write(_row("a"))
    (tmp_path / "alone").mkdir()
    shutil.copy(tmp_path / "s.sqlite", tmp_path / "alone" / "s.sqlite")
    with SweepStore(tmp_path / "alone" / "s.sqlite", readonly=True) as reader:
        assert reader.finished_keys() == {"a"}
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


def _old_database(path):
    """A database with the schema before :data:`ADDED_COLUMNS` existed, holding one row."""
    old = {k: v for k, v in POINT_COLUMNS.items() if k not in ADDED_COLUMNS}
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE points ({', '.join(f'{k} {v}' for k, v in old.items())})")
        db.execute("CREATE TABLE sweeps (id INTEGER PRIMARY KEY, name TEXT, config TEXT)")
        db.execute(
            "INSERT INTO points (key, status, tied, reached, hidden) VALUES ('old', 'ok', 1, 1, 8)"
        )
    db.close()
    return path


def _columns(path):
    with sqlite3.connect(path) as db:
        found = [row[1] for row in db.execute("PRAGMA table_info(points)")]
    db.close()
    return found


def test_an_older_database_reads_read_only_without_being_changed(tmp_path):
    path = _old_database(tmp_path / "old.sqlite")
    before = path.read_bytes()
    with SweepStore(path, readonly=True) as store:
        (row,) = store.rows()
    assert row["key"] == "old" and row["hidden"] == 8
    assert set(row) == set(POINT_COLUMNS)
    assert all(row[c] is None for c in ADDED_COLUMNS)
    assert path.read_bytes() == before
    assert not set(ADDED_COLUMNS) & set(_columns(path))


def test_opening_an_older_database_for_writing_adds_the_columns(tmp_path):
    path = _old_database(tmp_path / "old.sqlite")
    with SweepStore(path) as store:
        store.write(_row("new", min_bits=5, smallest_format="float8_e4m3", total_over_bound=2.5))
    assert set(_columns(path)) == set(POINT_COLUMNS)
    with SweepStore(path, readonly=True) as store:
        rows = {r["key"]: r for r in store.rows()}
    assert rows["old"]["min_bits"] is None and rows["old"]["hidden"] == 8
    assert rows["new"]["min_bits"] == 5 and rows["new"]["smallest_format"] == "float8_e4m3"
    assert rows["new"]["total_over_bound"] == 2.5


@pytest.mark.skipif(not COMMITTED.is_file(), reason="the committed sweep database is absent")
def test_the_committed_sweep_database_keeps_opening(tmp_path):
    with SweepStore(COMMITTED, readonly=True) as store:
        committed = store.rows()
    # It holds rows from before the bits columns existed (and, since, rows with them).
    assert committed and any(r["min_bits"] is None for r in committed)
    copy = tmp_path / "copy.sqlite"
    shutil.copy(COMMITTED, copy)
    with SweepStore(copy) as store:  # a resumed sweep would write into it
        migrated = store.rows()
    assert [r["key"] for r in migrated] == [r["key"] for r in committed]
    assert migrated == committed
