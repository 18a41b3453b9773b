"""The sweep's results database: one SQLite file (``DIR/sweep.db``, stdlib :mod:`sqlite3`).

Tables:

* ``results``: one row per finished task, keyed by ``(key, tools)``: the task's configuration digest
  (:mod:`.points`) and the digest of the versions of the tools its step uses (:mod:`.steps`). Columns
  ``step``, ``status`` (``ok`` / ``error``), ``result`` (JSON, deterministic), ``error`` (text),
  ``timing`` (JSON wall times: they vary from run to run and are kept out of every comparison),
  ``tools_json``. A row is committed as soon as its task finishes, so a killed sweep loses only the tasks
  that were running; a rerun finds every finished task here and runs only the others.
* ``points``: the current sweep's points (id, the point JSON, its task keys); ``skips``: the combinations
  not run and why; ``meta``: the sweep file (JSON) and its path. These are rewritten at the start of every
  sweep; ``results`` is a cache that only grows.

Only the process that runs the sweep writes; the workers return their records to it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .points import digest

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT NOT NULL, tools TEXT NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL,
    result TEXT, error TEXT, timing TEXT, tools_json TEXT NOT NULL,
    PRIMARY KEY (key, tools));
CREATE TABLE IF NOT EXISTS points (id TEXT PRIMARY KEY, ord INTEGER NOT NULL, point TEXT NOT NULL,
                                   tasks TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS skips (id TEXT PRIMARY KEY, ord INTEGER NOT NULL, what TEXT NOT NULL,
                                  reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def tools_digest(tools: dict) -> str:
    return digest(tools)[:16]


def _dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True)


class Store:
    """``Store(path)`` opens (and creates) the database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self.db.commit()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        self.db.close()

    # ----- plan ------------------------------------------------------------------------------------------
    def set_plan(self, spec: dict, points: list, skips: list, tasks_of: dict[str, list[str]]) -> None:
        """Replace the current sweep's points, skips and sweep file."""
        with self.db:
            self.db.execute("DELETE FROM points")
            self.db.execute("DELETE FROM skips")
            self.db.executemany("INSERT INTO points VALUES (?, ?, ?, ?)",
                                [(p.id, i, _dumps(p.to_dict()), _dumps(tasks_of[p.id])) for i, p in enumerate(points)])
            self.db.executemany("INSERT OR REPLACE INTO skips VALUES (?, ?, ?, ?)",
                                [(digest(s.to_dict())[:16], i, _dumps(s.what), s.reason) for i, s in enumerate(skips)])
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('spec', ?)", (_dumps(spec),))

    def spec(self) -> dict | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = 'spec'").fetchone()
        return json.loads(row[0]) if row else None

    def points(self) -> list[tuple[dict, list[str]]]:
        return [(json.loads(p), json.loads(t)) for p, t in
                self.db.execute("SELECT point, tasks FROM points ORDER BY ord")]

    def skips(self) -> list[tuple[dict, str]]:
        return [(json.loads(w), r) for w, r in self.db.execute("SELECT what, reason FROM skips ORDER BY ord")]

    # ----- results ---------------------------------------------------------------------------------------
    def done(self, key: str, tools: dict) -> str | None:
        """Status (``"ok"``/``"error"``) of the task with these tool versions, ``None`` if never finished."""
        row = self.db.execute("SELECT status FROM results WHERE key = ? AND tools = ?",
                              (key, tools_digest(tools))).fetchone()
        return row[0] if row else None

    def record(self, rec: dict) -> None:
        """Store one task record (:func:`macforge.gen.sweep.steps.execute`) and commit."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (rec["key"], tools_digest(rec["tools"]), rec["step"], rec["status"],
                             None if rec.get("result") is None else _dumps(rec["result"]), rec.get("error"),
                             _dumps(rec.get("timing") or {}), _dumps(rec["tools"])))

    def result(self, key: str) -> dict | None:
        """The newest record of task ``key`` (any tool versions): status, result, error, timing."""
        row = self.db.execute("SELECT status, result, error, timing, tools_json, step FROM results WHERE key = ? "
                              "ORDER BY rowid DESC LIMIT 1", (key,)).fetchone()
        if row is None:
            return None
        return {"status": row[0], "result": json.loads(row[1]) if row[1] else None, "error": row[2],
                "timing": json.loads(row[3] or "{}"), "tools": json.loads(row[4]), "step": row[5]}

    def snapshot(self) -> dict:
        """Everything deterministic in the database (all tables, without the timing column), in a
        canonical order: two runs of the same sweep with the same tools give equal snapshots."""
        return {
            "results": sorted(self.db.execute("SELECT key, tools, step, status, result, error, tools_json "
                                              "FROM results")),
            "points": list(self.db.execute("SELECT id, ord, point, tasks FROM points ORDER BY ord")),
            "skips": list(self.db.execute("SELECT id, ord, what, reason FROM skips ORDER BY ord")),
            "meta": sorted(self.db.execute("SELECT name, value FROM meta")),
        }
