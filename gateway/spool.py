"""The edge gateway's on-disk store-and-forward queue (SQLite): survives restarts, bounded.

When full, the oldest telemetry and status rows are evicted first; alert-bearing messages (events
and access) are never evicted. If only alert-bearing rows remain, a new telemetry or status
message is refused (counted) rather than pushing out an alarm.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ALERT_BEARING = frozenset({"event", "access"})


@dataclass(frozen=True, slots=True)
class Queued:
    seq: int
    device_id: str
    channel: str
    payload: dict[str, Any]


class Spool:
    def __init__(self, path: Path, max_rows: int = 100_000) -> None:
        self.max_rows = max_rows
        self.evicted = 0
        self.refused = 0
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " device_id TEXT NOT NULL, channel TEXT NOT NULL, payload TEXT NOT NULL,"
            " alert INTEGER NOT NULL)"
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM queue").fetchone()[0])

    def put(self, device_id: str, channel: str, payload: dict[str, Any]) -> bool:
        """Queue a message; False when refused because the spool is full of alert-bearing rows."""
        alert = channel in ALERT_BEARING
        if len(self) >= self.max_rows:
            victim = self._db.execute("SELECT seq FROM queue WHERE alert = 0 ORDER BY seq LIMIT 1").fetchone()
            if victim is not None:
                self._db.execute("DELETE FROM queue WHERE seq = ?", victim)
                self.evicted += 1
            elif not alert:
                self.refused += 1
                return False
        self._db.execute(
            "INSERT INTO queue (device_id, channel, payload, alert) VALUES (?, ?, ?, ?)",
            (device_id, channel, json.dumps(payload, ensure_ascii=False), int(alert)),
        )
        return True

    def peek(self, limit: int) -> list[Queued]:
        rows = self._db.execute("SELECT seq, device_id, channel, payload FROM queue ORDER BY seq LIMIT ?", (limit,))
        return [Queued(s, d, c, json.loads(p)) for s, d, c, p in rows]

    def remove_through(self, seq: int) -> None:
        self._db.execute("DELETE FROM queue WHERE seq <= ?", (seq,))

    def close(self) -> None:
        self._db.close()
