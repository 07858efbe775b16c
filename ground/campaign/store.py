"""A campaign's SQLite database (standard library ``sqlite3``): one row per run.

Table ``runs``: the run's identity (scenario, dispersion and config paths, run index), its
seed, status (``ok``, ``config_error``, ``error``), the drawn values and fault kinds (JSON),
the command that reproduces it, the landing point off the planned one, then one column per
field of the flight summary (``app.summary.FlightSummary``, added as they first appear, so a
summary that grows a field grows a column; dicts and lists as JSON). Table ``files``: the
SHA-256 of every input file, so a campaign never resumes over changed inputs.

Each row is committed as it arrives: an interrupted campaign keeps every finished run.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hal.tomlschema import ConfigError

IDENTITY = ("scenario_path", "dispersion_path", "config_path", "run_index")
FIXED_COLUMNS = {
    "run_id": "INTEGER PRIMARY KEY",
    "scenario_path": "TEXT NOT NULL",
    "dispersion_path": "TEXT NOT NULL",
    "config_path": "TEXT NOT NULL",
    "run_index": "INTEGER NOT NULL",
    "seed": "INTEGER NOT NULL",
    "status": "TEXT NOT NULL",
    "error": "TEXT",
    "fault_kinds": "TEXT NOT NULL",  # JSON list, [] for a nominal run
    "draws": "TEXT NOT NULL",  # JSON object: key -> drawn value
    "reproduce": "TEXT NOT NULL",
    "landing_north_m": "REAL",  # final position off the planned landing point (truth)
    "landing_east_m": "REAL",
}
JSON_COLUMNS = {"fault_kinds", "draws"}
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class CampaignStore:
    """Open (creating if needed) a campaign database for writing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(path)
            self.conn.execute("PRAGMA journal_mode=WAL")
            cols = ", ".join(f"{n} {t}" for n, t in FIXED_COLUMNS.items())
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS runs ({cols}, "
                              f"UNIQUE ({', '.join(IDENTITY)}))")
            self.conn.execute("CREATE TABLE IF NOT EXISTS files "
                              "(path TEXT PRIMARY KEY, sha256 TEXT NOT NULL)")
            # the columns whose values are JSON text (read back as dicts and lists)
            self.conn.execute("CREATE TABLE IF NOT EXISTS json_columns "
                              "(name TEXT PRIMARY KEY)")
            self.conn.commit()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{path}: not a campaign database: {exc}") from None
        self._columns = _columns(self.conn)
        self._json = _json_columns(self.conn)

    def close(self) -> None:
        self.conn.close()

    def check_inputs(self, paths: Iterable[str]) -> None:
        """Record each input file's hash; refuse if one recorded before has changed."""
        for p in paths:
            digest = file_sha256(Path(p))
            old = self.conn.execute("SELECT sha256 FROM files WHERE path = ?", (p,)).fetchone()
            if old is None:
                self.conn.execute("INSERT INTO files VALUES (?, ?)", (p, digest))
            elif old[0] != digest:
                raise ConfigError(f"{self.path}: {p} changed since this campaign started; "
                                  "resume needs the same inputs (use another --db)")
        self.conn.commit()

    def done(self) -> set[tuple[str, str, str, int]]:
        """The identities of the runs already recorded (any status: draws are deterministic,
        so a run that failed would fail again)."""
        rows = self.conn.execute(f"SELECT {', '.join(IDENTITY)} FROM runs")
        return {(a, b, c, int(d)) for a, b, c, d in rows}

    def record(self, row: dict[str, Any]) -> None:
        values = {k: _sql_value(k, v) for k, v in row.items()}
        for name in values:
            if name not in self._columns:
                self._add_column(name)
            if _is_json(name, row[name]) and name not in self._json:
                self.conn.execute("INSERT OR IGNORE INTO json_columns VALUES (?)", (name,))
                self._json.add(name)
        names = list(values)
        self.conn.execute(
            f"INSERT OR REPLACE INTO runs ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))})", [values[n] for n in names])
        self.conn.commit()

    def _add_column(self, name: str) -> None:
        if _NAME.fullmatch(name) is None:
            raise ValueError(f"not a column name: {name!r}")
        # no declared type: a column first seen as NULL must keep later numbers numbers
        self.conn.execute(f"ALTER TABLE runs ADD COLUMN {name}")
        self._columns.add(name)


def _columns(conn: sqlite3.Connection) -> set[str]:
    return {r[1] for r in conn.execute("PRAGMA table_info(runs)")}


def _json_columns(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM json_columns")}


def _is_json(name: str, value: Any) -> bool:
    return name in JSON_COLUMNS or isinstance(value, dict | list | tuple)


def _sql_value(name: str, value: Any) -> Any:
    if _is_json(name, value):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # SQLite has no NaN; "not measured" reads back as None
    return value


def file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_runs(path: Path) -> list[dict[str, Any]]:
    """Every run of a campaign database, JSON columns decoded, in run-id order."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such campaign database")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY run_id")]
            json_names = _json_columns(conn) | JSON_COLUMNS
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path}: not a campaign database: {exc}") from None
    for r in rows:
        for name in json_names:
            if isinstance(r.get(name), str):
                r[name] = json.loads(r[name])
    return rows
