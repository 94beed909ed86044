"""Writing one decoded batch in one transaction: dedup keys, COPY, dead letters, device state."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg


@dataclass(slots=True)
class DeviceSeen:
    last_seen_at: datetime
    online: bool = True
    status_at: datetime | None = None
    battery_pct: float | None = None
    heartbeat_s: int | None = None
    firmware: str | None = None


@dataclass(slots=True)
class Decoded:
    """Rows of one batch, keyed by their dedup key (facility_id, device_id, msg_id)."""

    readings: dict[tuple[str, str, str], list[tuple[object, ...]]] = field(default_factory=dict)
    events: dict[tuple[str, str, str], tuple[object, ...]] = field(default_factory=dict)
    access: dict[tuple[str, str, str], tuple[object, ...]] = field(default_factory=dict)
    status: dict[tuple[str, str, str], tuple[object, ...]] = field(default_factory=dict)
    # every message's msg_seen key (dedup_key); also finds a repeat within the batch
    keys: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    dead: list[tuple[object, ...]] = field(default_factory=list)  # (received_at, topic, raw, reason, detail, fac)
    dead_reasons: list[str] = field(default_factory=list)
    devices: dict[tuple[str, str], DeviceSeen] = field(default_factory=dict)
    duplicates_in_batch: int = 0
    times: list[datetime] = field(default_factory=list)  # each sample's own time, for the lag metric


def key_prefix(at: datetime) -> bytes:
    """The first 4 bytes of a msg_seen key: the hour since the epoch, big-endian, so that keys sort by
    hour (retention deletes a key range) and new claims land at the index's right-hand edge."""
    return max(0, int(at.timestamp()) // 3600).to_bytes(4, "big")


def dedup_key(facility_id: str, device_id: str, msg_id: str, at: datetime) -> bytes:
    """The 16-byte key of msg_seen for one message: the hour of the message's own time, then a
    96-bit BLAKE2b digest of the triple (facility and device ids cannot contain NUL, so the
    joined form is unambiguous). A redelivered copy has the same time, so the same key."""
    return key_prefix(at) + hashlib.blake2b(f"{facility_id}\0{device_id}\0{msg_id}".encode(), digest_size=12).digest()


READING_COLS = ["time", "facility_id", "device_id", "metric", "value", "msg_id"]
EVENT_COLS = ["time", "facility_id", "device_id", "msg_id", "type", "state", "payload", "received_at"]
ACCESS_COLS = [
    "time",
    "facility_id",
    "device_id",
    "msg_id",
    "type",
    "person_id",
    "guardian_id",
    "payload",
    "received_at",
]
STATUS_COLS = ["time", "facility_id", "device_id", "online", "battery_pct", "heartbeat_s", "firmware", "payload"]
DEAD_COLS = ["received_at", "topic", "payload", "reason", "detail", "facility_id"]

_CLAIM = """
INSERT INTO msg_seen (key) SELECT unnest($1::bytea[])
ON CONFLICT DO NOTHING
RETURNING key
"""


# Rows are sorted by key so that concurrent ingest workers lock device_state rows in one order.
_DEVICE_STATE = """
INSERT INTO device_state AS s (facility_id, device_id, last_seen_at, online, status_at, battery_pct, heartbeat_s,
                               firmware)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bool[], $5::timestamptz[], $6::float8[],
                     $7::int[], $8::text[])
ON CONFLICT (facility_id, device_id) DO UPDATE SET
    last_seen_at = greatest(s.last_seen_at, EXCLUDED.last_seen_at),
    online = CASE WHEN EXCLUDED.last_seen_at >= s.last_seen_at THEN EXCLUDED.online ELSE s.online END,
    status_at = coalesce(EXCLUDED.status_at, s.status_at),
    battery_pct = coalesce(EXCLUDED.battery_pct, s.battery_pct),
    heartbeat_s = coalesce(EXCLUDED.heartbeat_s, s.heartbeat_s),
    firmware = coalesce(EXCLUDED.firmware, s.firmware)
"""


async def _claim(conn: asyncpg.Connection, d: Decoded) -> frozenset[tuple[str, str, str]]:
    """Record the batch's keys in msg_seen; return the messages not stored before.

    Optimistic: a plain COPY of the keys (inside a savepoint) costs less than INSERT ... ON CONFLICT
    DO NOTHING RETURNING (no speculative insertion, no rows sent back): measured 1.9 against 3.8 µs
    a key on an empty table, 4.1 against 4.6 µs with 5 M keys held, after a checkpoint (bench dedup).
    Only a batch holding a message seen before (a redelivery) fails the COPY on the primary key, and
    is then claimed key by key with ON CONFLICT. The keys go in sorted so that concurrent ingest
    workers take the index's locks in one order.
    """
    if not d.keys:
        return frozenset()
    by_digest = {digest: k for k, digest in d.keys.items()}
    digests = sorted(by_digest)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("msg_seen", records=[(k,) for k in digests], columns=["key"])
    except asyncpg.UniqueViolationError:
        claimed = await conn.fetch(_CLAIM, digests)
        return frozenset(by_digest[r[0]] for r in claimed)
    return frozenset(by_digest.values())


@dataclass(frozen=True, slots=True)
class WriteResult:
    stored_messages: int
    stored_rows: int
    duplicates: int
    dead_letters: int
    new_keys: frozenset[tuple[str, str, str]]


async def write_batch(conn: asyncpg.Connection, d: Decoded) -> WriteResult:
    """Store a batch exactly once. Raises asyncpg/OS errors on failure; the caller retries."""
    rows = 0
    async with conn.transaction():
        new = await _claim(conn, d)
        if len(new) == len(d.keys):  # the usual case: no membership test per row
            readings = [row for rs in d.readings.values() for row in rs]
        else:
            readings = [row for k, rs in d.readings.items() if k in new for row in rs]
        for table, cols, recs in (
            ("readings", READING_COLS, readings),
            ("events", EVENT_COLS, [r for k, r in d.events.items() if k in new]),
            ("access_events", ACCESS_COLS, [r for k, r in d.access.items() if k in new]),
            ("device_status", STATUS_COLS, [r for k, r in d.status.items() if k in new]),
            ("dead_letters", DEAD_COLS, d.dead),
        ):
            if recs:
                await conn.copy_records_to_table(table, records=recs, columns=cols)
                if table != "dead_letters":
                    rows += len(recs)
        if d.devices:
            items = sorted(d.devices.items())
            await conn.execute(
                _DEVICE_STATE,
                [k[0] for k, _ in items],
                [k[1] for k, _ in items],
                [v.last_seen_at for _, v in items],
                [v.online for _, v in items],
                [v.status_at for _, v in items],
                [v.battery_pct for _, v in items],
                [v.heartbeat_s for _, v in items],
                [v.firmware for _, v in items],
            )
    return WriteResult(
        stored_messages=len(new),
        stored_rows=rows,
        duplicates=len(d.keys) - len(new) + d.duplicates_in_batch,
        dead_letters=len(d.dead),
        new_keys=new,
    )


# -- reading back (the alert engine seeds its state from these at start) ------------------------------
async def device_states(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every device's last-seen time, online flag and battery, as ingest keeps them."""
    return list(await conn.fetch("SELECT * FROM device_state"))


async def events_since(conn: asyncpg.Connection, since: datetime) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM events WHERE time > $1 ORDER BY time", since))


async def access_since(conn: asyncpg.Connection, since: datetime) -> list[asyncpg.Record]:
    """Access events after `since` in time order, refusals left out (they change no one's presence)."""
    return list(
        await conn.fetch(
            "SELECT * FROM access_events WHERE time > $1 AND type <> 'denied' ORDER BY time, arrival NULLS FIRST",
            since,
        )
    )
