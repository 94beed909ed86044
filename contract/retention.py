"""How long each time-series table keeps its rows: policy, in one place (docs/storage.md says why).

Retention judges a row by its own time (the time the thing happened), not by when it arrived. So a
message already older than its table's retention when it arrives (a gateway's spool replayed after a
long outage, a device clock weeks slow) would be accepted, acknowledged, stored and then dropped at
the next maintenance without anyone being told (issue #35). Such a message is refused at the door
instead, dead-lettered with the reason `expired` (CONTRACT §2 Bad input), where its raw bytes are kept
and counted like any other refusal.
"""

from __future__ import annotations

# table -> how long its rows are kept, as a PostgreSQL interval ("N days")
RETENTION: dict[str, str] = {
    "readings": "7 days",  # full rate; the hourly rollup keeps 800 days
    "events": "400 days",
    "access_events": "400 days",
    "device_status": "400 days",  # a log of changes only (migration 013), not every heartbeat
}
ROLLUP_RETENTION = "800 days"  # readings_hourly


def kept(table: str) -> str | None:
    """A time-series table's retention as an interval, the rollup's included; None: kept for good."""
    return {**RETENTION, "readings_hourly": ROLLUP_RETENTION}.get(table)


def retention_days(table: str) -> int | None:
    """How many days a time-series table keeps (the rollup included); None: kept for good."""
    keep = kept(table)
    return int(keep.split()[0]) if keep else None


READINGS_KEPT_S = float(retention_days("readings") or 0) * 86400.0
