"""Writing one decoded batch in one transaction: rows once each, the status log, device state and activity."""

from __future__ import annotations

import json
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

import asyncpg

EPOCH = date(1970, 1, 1)
EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)


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
    """Rows of one batch, keyed by their message's identity (facility_id, device_id, msg_id)."""

    readings: dict[tuple[str, str, str], list[tuple[object, ...]]] = field(default_factory=dict)
    events: dict[tuple[str, str, str], tuple[object, ...]] = field(default_factory=dict)
    access: dict[tuple[str, str, str], tuple[object, ...]] = field(default_factory=dict)
    status: dict[tuple[str, str, str], tuple[object, ...]] = field(default_factory=dict)
    # every message of the batch once (a status message's id is its time): finds a repeat within it
    keys: set[tuple[str, str, str]] = field(default_factory=set)
    dead: list[tuple[object, ...]] = field(default_factory=list)  # (received_at, topic, raw, reason, detail, fac)
    dead_reasons: list[str] = field(default_factory=list)
    devices: dict[tuple[str, str], DeviceSeen] = field(default_factory=dict)
    duplicates_in_batch: int = 0
    times: list[datetime] = field(default_factory=list)  # each sample's own time, for the lag metric


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

# The slow path of a batch holding a copy of something stored before: row by row, ON CONFLICT on the
# table's unique index (migration 013), returning the messages that were new.
_INSERT_ONCE = {
    "readings": """
INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::text[])
ON CONFLICT DO NOTHING RETURNING facility_id, device_id, msg_id""",
    "events": """
INSERT INTO events (time, facility_id, device_id, msg_id, type, state, payload, received_at)
SELECT t, f, d, m, ty, st, p::jsonb, r
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::timestamptz[]) AS u(t, f, d, m, ty, st, p, r)
ON CONFLICT DO NOTHING RETURNING facility_id, device_id, msg_id""",
    "access_events": """
INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, guardian_id, payload, received_at)
SELECT t, f, d, m, ty, pe, g, p::jsonb, r
FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::timestamptz[]) AS u(t, f, d, m, ty, pe, g, p, r)
ON CONFLICT DO NOTHING RETURNING facility_id, device_id, msg_id""",
}

# Rows are sorted by key so that concurrent ingest workers lock device_state rows in one order.
_DEVICE_STATE = """
INSERT INTO device_state AS s (facility_id, device_id, last_seen_at, online, status_at, battery_pct, heartbeat_s,
                               firmware, logged_online, logged_battery, logged_heartbeat_s, logged_firmware)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bool[], $5::timestamptz[], $6::float8[],
                     $7::int[], $8::text[], $9::bool[], $10::float8[], $11::int[], $12::text[])
ON CONFLICT (facility_id, device_id) DO UPDATE SET
    last_seen_at = greatest(s.last_seen_at, EXCLUDED.last_seen_at),
    online = CASE WHEN EXCLUDED.last_seen_at >= s.last_seen_at THEN EXCLUDED.online ELSE s.online END,
    status_at = coalesce(EXCLUDED.status_at, s.status_at),
    battery_pct = coalesce(EXCLUDED.battery_pct, s.battery_pct),
    heartbeat_s = coalesce(EXCLUDED.heartbeat_s, s.heartbeat_s),
    firmware = coalesce(EXCLUDED.firmware, s.firmware),
    logged_online = coalesce(EXCLUDED.logged_online, s.logged_online),
    logged_battery = coalesce(EXCLUDED.logged_battery, s.logged_battery),
    logged_heartbeat_s = coalesce(EXCLUDED.logged_heartbeat_s, s.logged_heartbeat_s),
    logged_firmware = coalesce(EXCLUDED.logged_firmware, s.logged_firmware)
"""

# What each device last logged to device_status, locked: a second ingest worker holding a status of the
# same device waits here, then compares against what this one logged. Locked in key order, as the upsert
# after it goes (_DEVICE_STATE).
_LOGGED = """
SELECT facility_id, device_id, logged_online, logged_battery, logged_heartbeat_s, logged_firmware
FROM device_state WHERE (facility_id, device_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
ORDER BY facility_id, device_id FOR UPDATE
"""

_ACTIVITY = """
INSERT INTO device_activity AS a (facility_id, day, device_id, hours)
SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::int[])
ON CONFLICT (facility_id, day, device_id) DO UPDATE SET hours = a.hours | EXCLUDED.hours
WHERE a.hours | EXCLUDED.hours <> a.hours
"""

Logged = tuple[bool | None, float | None, int | None, str | None]  # online, battery %, heartbeat, firmware
BATTERY_STEP = 5.0  # percentage points


async def _insert_once(
    conn: asyncpg.Connection, table: str, cols: list[str], rows: dict[tuple[str, str, str], list[tuple[object, ...]]]
) -> tuple[int, int]:
    """Store the rows of messages not stored before; return how many messages and rows that was.

    Optimistic: one COPY inside a savepoint, the cheapest way in. Only a batch holding a copy of a
    message stored before (a redelivery) fails it on the unique index, and is then inserted with ON
    CONFLICT DO NOTHING; concurrent ingest workers holding the same message meet on the index too.
    """
    records = [r for rs in rows.values() for r in rs]
    if not records:
        return 0, 0
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(table, records=records, columns=cols)
    except asyncpg.UniqueViolationError:
        columns = [list(c) for c in zip(*records, strict=True)]
        if table != "readings":  # payload: text to the statement, cast to jsonb there
            columns = [c if i != cols.index("payload") else [_text(v) for v in c] for i, c in enumerate(columns)]
        new = {(r[0], r[1], r[2]) for r in await conn.fetch(_INSERT_ONCE[table], *columns)}
        return len(new), sum(len(rows[k]) for k in new)
    return len(rows), len(records)


def _text(v: object) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def status_changes(
    status: dict[tuple[str, str, str], tuple[object, ...]], logged: dict[tuple[str, str], Logged]
) -> tuple[list[tuple[object, ...]], dict[tuple[str, str], Logged]]:
    """The status rows worth a row of device_status (pure logic): a device's first status, then those
    that change what it last logged: online, heartbeat interval, firmware, or a battery BATTERY_STEP
    points away from the logged one (a battery's reading wanders with the temperature; a row for
    every wobble would be a heartbeat log again). A field a message leaves out keeps its logged
    value. Returns the rows and each device's new logged values."""
    rows: list[tuple[object, ...]] = []
    changed: dict[tuple[str, str], Logged] = {}
    for row in sorted(status.values(), key=lambda r: (str(r[1]), str(r[2]), r[0])):
        dev = (str(row[1]), str(row[2]))
        last = changed.get(dev) or logged.get(dev)
        battery = None if row[4] is None else float(row[4])  # type: ignore[arg-type]
        online, heartbeat, firmware = bool(row[3]), row[5], row[6]
        if last is not None:
            if battery is None or (last[1] is not None and abs(battery - last[1]) < BATTERY_STEP):
                battery = last[1]
            heartbeat = last[2] if heartbeat is None else heartbeat
            firmware = last[3] if firmware is None else firmware
        now: Logged = (online, battery, heartbeat, firmware)  # type: ignore[assignment]
        if now != last:
            rows.append(row)
            changed[dev] = now
    return rows, changed


def activity(d: Decoded) -> dict[tuple[str, str, int], int]:
    """(facility, device, day since the epoch, UTC) -> bits of the hours each was heard from in.

    A row's hour is its distance from the epoch written in the row's own tzinfo: a difference of
    two aware datetimes with the same tzinfo object is plain arithmetic (0.10 µs), where
    timestamp() on a validated time calls pydantic's utcoffset() (0.36 µs); both are exact."""
    out: dict[tuple[str, str, int], int] = {}
    epochs: dict[tzinfo | None, datetime] = {}
    for rows in (*d.readings.values(), d.events.values(), d.access.values(), d.status.values()):
        for r in rows:
            t: datetime = r[0]  # type: ignore[assignment]
            if (epoch := epochs.get(t.tzinfo)) is None:
                epoch = epochs[t.tzinfo] = EPOCH_UTC.astimezone(t.tzinfo)
            since = t - epoch
            h = since.days * 24 + since.seconds // 3600
            k = (str(r[1]), str(r[2]), h // 24)
            out[k] = out.get(k, 0) | 1 << (h % 24)
    return out


class ActivityCache:
    """The device-hours this process has written, so that a batch writes only new ones (a device is
    heard from ~60 times an hour; its hour's bit needs writing once). Keeps today and yesterday.

    One 24-bit mask per registered device and day, in an array indexed by the device's number in
    `index` (ingest's registry): 4 bytes a device, a day's array made whole when the day is first
    seen. A dict keyed by device grew ingest's RSS by ~20 MB over a province's first ten minutes as
    slow-heartbeat devices were first heard (bench province); this does not grow. A device not in
    the index (a registry change not yet reloaded) is always written: the upsert is idempotent."""

    def __init__(self, index: Mapping[tuple[str, str], int] | None = None) -> None:
        self._index: Mapping[tuple[str, str], int] = index or {}
        self._days: dict[int, array[int]] = {}

    def reindex(self, index: Mapping[tuple[str, str], int]) -> None:
        """A new registry numbering: what was remembered is forgotten (rewritten once, harmlessly)."""
        self._index = index
        self._days.clear()

    def new(self, act: dict[tuple[str, str, int], int]) -> dict[tuple[str, str, int], int]:
        out = {}
        for k, bits in act.items():
            i = self._index.get((k[0], k[1]))
            day = self._days.get(k[2])
            if i is None or day is None or bits & ~day[i]:
                out[k] = bits
        return out

    def remember(self, act: dict[tuple[str, str, int], int]) -> None:
        for k, bits in act.items():
            i = self._index.get((k[0], k[1]))
            if i is None:
                continue
            day = self._days.get(k[2])
            if day is None:
                day = self._days[k[2]] = array("I", bytes(4 * len(self._index)))
            day[i] |= bits
        if len(self._days) > 2:
            for old in sorted(self._days)[:-2]:
                del self._days[old]


@dataclass(frozen=True, slots=True)
class WriteResult:
    stored_messages: int
    stored_rows: int
    duplicates: int
    dead_letters: int


async def write_batch(conn: asyncpg.Connection, d: Decoded, cache: ActivityCache | None = None) -> WriteResult:
    """Store a batch exactly once. Raises asyncpg/OS errors on failure; the caller retries."""
    rows = stored = 0
    act = activity(d)
    if cache is not None:
        act = cache.new(act)
    async with conn.transaction():
        for table, cols, recs in (
            ("readings", READING_COLS, d.readings),
            ("events", EVENT_COLS, {k: [r] for k, r in d.events.items()}),
            ("access_events", ACCESS_COLS, {k: [r] for k, r in d.access.items()}),
        ):
            n_messages, n_rows = await _insert_once(conn, table, cols, recs)
            stored += n_messages
            rows += n_rows
        changed: dict[tuple[str, str], Logged] = {}
        if d.status:
            # every device of the batch locked here, in one order, not only those with a status: a worker that
            # locked its statuses' devices and then upserted the others waited on a second worker doing the
            # same the other way round ("deadlock detected", one batch refused and stored again in halves)
            devs = sorted({(str(r[1]), str(r[2])) for r in d.status.values()} | set(d.devices))
            logged = {
                (r[0], r[1]): (r[2], r[3], r[4], r[5])
                for r in await conn.fetch(_LOGGED, [f for f, _ in devs], [v for _, v in devs])
            }
            status_rows, changed = status_changes(d.status, logged)
            if status_rows:
                await conn.copy_records_to_table("device_status", records=status_rows, columns=STATUS_COLS)
                rows += len(status_rows)
            stored += len(d.status)  # a status is stored as the device's state, logged or not
        if d.dead:
            await conn.copy_records_to_table("dead_letters", records=d.dead, columns=DEAD_COLS)
        if d.devices:
            items = sorted(d.devices.items())
            none: Logged = (None, None, None, None)
            log = [changed.get(k, none) for k, _ in items]
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
                *([c[i] for c in log] for i in range(4)),
            )
        if act:
            keys = sorted(act)
            await conn.execute(
                _ACTIVITY,
                [k[0] for k in keys],
                [EPOCH + timedelta(days=k[2]) for k in keys],
                [k[1] for k in keys],
                [act[k] for k in keys],
            )
    if cache is not None:
        cache.remember(act)
    return WriteResult(
        stored_messages=stored,
        stored_rows=rows,
        duplicates=len(d.keys) - stored + d.duplicates_in_batch,
        dead_letters=len(d.dead),
    )


# -- reading back (the alert engine seeds its state from these at start) ------------------------------
def _of(facilities: list[str] | None, n: int) -> str:
    """The SQL condition for a list of facilities ($n), or none for all."""
    return "" if facilities is None else f" AND facility_id = ANY(${n}::text[])"


async def device_states(conn: asyncpg.Connection, facilities: list[str] | None = None) -> list[asyncpg.Record]:
    """Every device's last-seen time, online flag and battery, as ingest keeps them (of those facilities)."""
    args = [] if facilities is None else [facilities]
    return list(await conn.fetch(f"SELECT * FROM device_state WHERE true{_of(facilities, 1)}", *args))


async def events_since(
    conn: asyncpg.Connection, since: datetime, facilities: list[str] | None = None
) -> list[asyncpg.Record]:
    args = [] if facilities is None else [facilities]
    return list(
        await conn.fetch(f"SELECT * FROM events WHERE time > $1{_of(facilities, 2)} ORDER BY time", since, *args)
    )


async def access_since(
    conn: asyncpg.Connection, since: datetime, facilities: list[str] | None = None
) -> list[asyncpg.Record]:
    """Access events after `since` in time order, refusals left out (they change no one's presence)."""
    args = [] if facilities is None else [facilities]
    return list(
        await conn.fetch(
            f"SELECT * FROM access_events WHERE time > $1 AND type <> 'denied'{_of(facilities, 2)}"
            " ORDER BY time, arrival NULLS FIRST",
            since,
            *args,
        )
    )


async def latest_time(conn: asyncpg.Connection) -> datetime | None:
    """The latest own time of anything stored (a reading, an event, a scan), or None when nothing is:
    where an accelerated demo that ran ahead of the machine's clock left off (carewatch.demo)."""
    return await conn.fetchval(
        "SELECT greatest((SELECT max(time) FROM readings), (SELECT max(time) FROM events),"
        " (SELECT max(time) FROM access_events))"
    )
