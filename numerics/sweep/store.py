"""The sweep database: one SQLite row per finished point, written the moment it finishes.

Table ``points`` (one row per point, primary key ``key`` = :attr:`Point.key`):

==================  ==========================================================================
``key``             canonical JSON of the point (its identity across runs)
``sweep``           the sweep's name
``method`` …        the point's parameters as columns: ``method``, ``method_options``
                    (JSON), ``family``,
                    ``family_label``, ``family_options`` (JSON), ``whiten``, ``dim``,
                    ``n_facts``, ``n_values``, ``seed``, ``fact_map``, ``tied``,
                    ``max_hidden``, ``rel_precision``, ``dtype``, ``device``
``status``          ``ok`` (a capacity result), ``skipped`` (the point cannot run here or
                    the fact set is infeasible; ``reason`` says why) or ``error``
``reason``          one line: why skipped, or the error (``error_type: message``)
``reached`` …       copies of result fields for queries: ``reached``, ``hidden``, ``params``,
                    ``params_per_fact``, ``bits_per_param``, ``recall``
``rho`` …           decodability of the used values of the fact set the method saw
                    (:func:`theory.rho.decodability`): ``rho`` (min), ``rho_median``,
                    ``rho_mean``, ``rho_seconds``
``min_bits`` …      the bits frontier of the MLP found (:mod:`numerics.precision.bits`, a
                    checked result): ``min_bits`` (b-bit integers with one float32 scale
                    per row), ``smallest_format``, ``total_bits`` (b·W + 32·rows) and
                    ``total_over_bound`` (over the counting bound); NULL where the set is
                    not stored (and in rows written before these columns existed)
``result``          the capacity result as JSON (``CapacityResult.to_dict()``), or null
``seconds``         wall time of the point on its worker (fact set, capacity, bits)
``started``,        UTC ISO timestamps on the worker
``finished``
``worker``          host:pid of the worker
``versions``        JSON: factmlp, python, torch, numpy, platform
==================  ==========================================================================

Table ``sweeps`` records each run (name, config JSON, start time). Rows are written by one
process (the client) with a commit per row, in WAL mode so that a reader (``factmlp plot``, a
notebook) can read while a sweep runs.

Columns added after the first schema (:data:`ADDED_COLUMNS`) may be missing from an older
database: opening it for writing adds them (``ALTER TABLE``; old rows get NULL), opening it
read-only leaves the file alone and reads them as None, so committed databases keep opening.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from theory.errors import InvalidInputError

__all__ = ["ADDED_COLUMNS", "POINT_COLUMNS", "STATUSES", "SweepStore"]

STATUSES = ("ok", "skipped", "error")

#: Column → SQLite type of table ``points`` (in order).
POINT_COLUMNS: Mapping[str, str] = {
    "key": "TEXT PRIMARY KEY",
    "sweep": "TEXT",
    "method": "TEXT",
    "method_options": "TEXT",
    "family": "TEXT",
    "family_label": "TEXT",
    "family_options": "TEXT",
    "whiten": "TEXT",
    "dim": "INTEGER",
    "n_facts": "INTEGER",
    "n_values": "INTEGER",
    "seed": "INTEGER",
    "fact_map": "TEXT",
    "tied": "INTEGER",
    "max_hidden": "INTEGER",
    "rel_precision": "REAL",
    "dtype": "TEXT",
    "device": "TEXT",
    "status": "TEXT NOT NULL",
    "reason": "TEXT",
    "reached": "INTEGER",
    "hidden": "INTEGER",
    "params": "INTEGER",
    "params_per_fact": "REAL",
    "bits_per_param": "REAL",
    "recall": "REAL",
    "rho": "REAL",
    "rho_median": "REAL",
    "rho_mean": "REAL",
    "rho_seconds": "REAL",
    "min_bits": "INTEGER",
    "smallest_format": "TEXT",
    "total_bits": "REAL",
    "total_over_bound": "REAL",
    "result": "TEXT",
    "seconds": "REAL",
    "started": "TEXT",
    "finished": "TEXT",
    "worker": "TEXT",
    "versions": "TEXT",
}
#: Columns of :data:`POINT_COLUMNS` that older databases may lack (module docstring).
ADDED_COLUMNS = ("min_bits", "smallest_format", "total_bits", "total_over_bound")
_JSON_COLUMNS = ("method_options", "family_options", "result", "versions")


class SweepStore:
    """A sweep database (module docstring); use as a context manager or call :meth:`close`.

    Parameters
    ----------
    path : str or Path
        The SQLite file (created with its tables if missing; the folder must exist).
    readonly : bool
        Open an existing database for reading only (plots, notebooks).

    Raises
    ------
    InvalidInputError
        If the file cannot be opened, is not a sweep database, or (readonly) does not exist.
    """

    def __init__(self, path, *, readonly: bool = False):
        self.path = Path(path)
        self._readonly = readonly
        if readonly and not self.path.is_file():
            raise InvalidInputError(f"sweep database {self.path}: no such file")
        try:
            if readonly:
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            else:
                self._db = sqlite3.connect(self.path)
                self._db.execute("PRAGMA journal_mode=WAL")
                columns = ", ".join(f"{k} {v}" for k, v in POINT_COLUMNS.items())
                self._db.execute(f"CREATE TABLE IF NOT EXISTS points ({columns})")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS sweeps (id INTEGER PRIMARY KEY, "
                    "name TEXT, config TEXT, started TEXT)"
                )
                self._db.commit()
            found = {row[1] for row in self._db.execute("PRAGMA table_info(points)")}
            if not found:
                raise InvalidInputError(
                    f"sweep database {self.path}: no 'points' table (not a factmlp sweep database)"
                )
            missing = sorted(set(POINT_COLUMNS) - found - set(ADDED_COLUMNS))
            if missing:
                raise InvalidInputError(
                    f"sweep database {self.path}: table 'points' lacks "
                    f"column(s) {missing} (written by another version?)"
                )
            self._absent = [c for c in ADDED_COLUMNS if c not in found]
            if not readonly and self._absent:
                for name in self._absent:
                    self._db.execute(f"ALTER TABLE points ADD COLUMN {name} {POINT_COLUMNS[name]}")
                self._db.commit()
                self._absent = []
        except sqlite3.DatabaseError as exc:
            raise InvalidInputError(f"sweep database {self.path}: cannot open ({exc})") from None

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close; a writer first leaves WAL mode, so the file stands alone (no -wal/-shm)."""
        if not self._readonly:
            try:
                self._db.execute("PRAGMA journal_mode=DELETE")
            except sqlite3.OperationalError:
                pass  # another connection still reads: it stays in WAL mode, which is fine
        self._db.close()

    def record_run(self, name: str, config: Mapping[str, Any]) -> None:
        """Note that a run of sweep ``name`` with ``config`` started now."""
        self._db.execute(
            "INSERT INTO sweeps (name, config, started) VALUES (?, ?, ?)",
            (name, json.dumps(config, sort_keys=True, default=str), _now()),
        )
        self._db.commit()

    def finished_keys(self, *, include_errors: bool = True) -> set[str]:
        """Keys of the points already in the database (``error`` rows unless excluded)."""
        query = "SELECT key FROM points" + ("" if include_errors else " WHERE status != 'error'")
        return {row[0] for row in self._db.execute(query)}

    def write(self, row: Mapping[str, Any]) -> None:
        """Insert or replace one point row and commit at once.

        Raises
        ------
        InvalidInputError
            For an unknown column, a missing ``key``/``status``, or an unknown status.
        """
        unknown = sorted(set(row) - set(POINT_COLUMNS))
        if unknown:
            raise InvalidInputError(f"sweep row has unknown column(s) {unknown}")
        if "key" not in row or row.get("status") not in STATUSES:
            raise InvalidInputError(
                f"sweep row needs a key and a status in {list(STATUSES)}, "
                f"got status {row.get('status')!r}"
            )
        values = {
            k: (json.dumps(v, sort_keys=True) if k in _JSON_COLUMNS and v is not None else v)
            for k, v in row.items()
        }
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._db.execute(
            f"INSERT OR REPLACE INTO points ({names}) VALUES ({marks})", tuple(values.values())
        )
        self._db.commit()
        # Copy the row from the -wal file into the database file now: a writer killed before
        # close() otherwise leaves its rows only in the -wal file, which git ignores (a
        # committed database lost every row that way).
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def rows(
        self, *, status: str | Iterable[str] | None = None, sweep: str | None = None
    ) -> list[dict[str, Any]]:
        """Every point row as a dict (JSON columns decoded), ordered by insertion."""
        clauses, args = [], []
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            clauses.append(f"status IN ({', '.join('?' for _ in wanted)})")
            args += wanted
        if sweep is not None:
            clauses.append("sweep = ?")
            args.append(sweep)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        cursor = self._db.execute(f"SELECT * FROM points{where} ORDER BY rowid", args)
        names = [c[0] for c in cursor.description]
        out = []
        for record in cursor:
            row = dict(zip(names, record, strict=True))
            row.update(dict.fromkeys(self._absent))  # a read-only older database
            for k in _JSON_COLUMNS:
                if row.get(k) is not None:
                    row[k] = json.loads(row[k])
            row["tied"] = bool(row["tied"]) if row["tied"] is not None else None
            row["reached"] = bool(row["reached"]) if row["reached"] is not None else None
            out.append(row)
        return out

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        found = dict(self._db.execute("SELECT status, COUNT(*) FROM points GROUP BY status"))
        return {s: int(found.get(s, 0)) for s in STATUSES}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
