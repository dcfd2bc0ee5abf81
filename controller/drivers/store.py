"""SQLite persistence: every resource is one JSON document keyed by (kind, id).

Each mutation is committed before the API answers, so a controller killed with ``kill -9``
restarts with exactly what clients were told.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"""
_PUT = "INSERT OR REPLACE INTO objects(kind, id, body) VALUES (?, ?, ?)"


class Store:
    def __init__(self, path: Path | str):
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All puts/deletes inside commit together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def put(self, kind: str, obj_id: str, body: dict[str, Any]) -> None:
        self._db.execute(_PUT, (kind, obj_id, json.dumps(body, sort_keys=True)))

    def put_many(self, kind: str, bodies: dict[str, dict[str, Any]]) -> None:
        """``put`` of each (id, body), in one statement (100k customer routes at once)."""
        self._db.executemany(
            _PUT, ((kind, i, json.dumps(b, sort_keys=True)) for i, b in bodies.items()))

    def delete(self, kind: str, obj_id: str) -> None:
        self._db.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, obj_id))

    def all(self, kind: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT body FROM objects WHERE kind = ?", (kind,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def get(self, kind: str, obj_id: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT body FROM objects WHERE kind = ? AND id = ?", (kind, obj_id)).fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        self._db.close()
