"""The writer on a real TimescaleDB: the optimistic key COPY, its fallback, and concurrent writers."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import asyncpg
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.decode import decode_batch
from runtime.mqtt_source import Received
from storage.messages import Decoded, write_batch
from storage.registry import load_registry
from tests.helpers import FAC, payload, registry_obj

ROOT = "w/cw/v1"
TS = "2026-11-28T08:00:00Z"
# Received after every time these tests stamp (within the bounds and the readings' retention): the decoder
# judges a message's own time against its arrival, so these storage tests hold together on any day
# (issue #35); they never run retention, which reads the clock.
ARRIVED = datetime(2026, 11, 29, 8, 5, tzinfo=UTC)


def reading(n: int, device: str = "env-0") -> Received:
    body = payload({"msg_id": f"m-{n}", "ts": TS, "readings": {"co2_ppm": 400 + n}})
    return Received(f"{ROOT}/{FAC}/{device}/telemetry", body, ARRIVED)


def gateway_batch(ns: list[int], batch_id: str) -> Received:
    items = [
        {
            "device_id": f"env-{n % 3}",
            "channel": "telemetry",
            "payload": {"msg_id": f"m-{n}", "ts": TS, "readings": {"co2_ppm": 400 + n}},
        }
        for n in ns
    ]
    return Received(f"{ROOT}/{FAC}/gw-1/batch", payload({"msg_id": batch_id, "messages": items}), ARRIVED)


def decode(messages: list[Received]) -> Decoded:
    return decode_batch(messages, lambda _f, _d: True, ROOT, gateway=lambda _f, d: d == "gw-1")


async def stored_ids(db: asyncpg.Connection) -> list[str]:
    return [r[0] for r in await db.fetch("SELECT msg_id FROM readings ORDER BY msg_id")]


async def test_a_batch_repeating_stored_messages_stores_only_the_new_ones(db: asyncpg.Connection) -> None:
    await load_registry(db, registry_obj(extra_devices=3))
    first = await write_batch(db, decode([reading(1), reading(2)]))
    assert (first.stored_messages, first.duplicates) == (2, 0)
    # m-2 again among new ones: the plain COPY fails on the unique index inside its savepoint, and
    # the batch is inserted row by row with ON CONFLICT instead, in the same transaction
    second = await write_batch(db, decode([reading(3), reading(2), reading(4)]))
    assert (second.stored_messages, second.stored_rows, second.duplicates) == (2, 2, 1)
    assert await stored_ids(db) == ["m-1", "m-2", "m-3", "m-4"]
    last_seen = await db.fetchval("SELECT last_seen_at FROM device_state WHERE device_id = 'env-0'")
    assert last_seen is not None, "device state written after the fallback too"
    # nothing new at all
    third = await write_batch(db, decode([reading(1), reading(4)]))
    assert (third.stored_messages, third.stored_rows, third.duplicates) == (0, 0, 2)
    assert await stored_ids(db) == ["m-1", "m-2", "m-3", "m-4"]


async def test_concurrent_writers_with_overlapping_batches_store_each_message_once(
    db: asyncpg.Connection, db_url: str
) -> None:
    """Several transactions at once, each batch sharing messages with others (a redelivery racing
    its original): every message stored once, no deadlock, the counts add up."""
    await load_registry(db, registry_obj(extra_devices=3))
    rng = random.Random(20261129)
    batches = [decode([gateway_batch(sorted(rng.sample(range(400), 60)), f"b-{i}")]) for i in range(24)]
    distinct = {k for d in batches for k in d.keys}
    total = sum(len(d.keys) for d in batches)
    assert total > len(distinct) + 200, "the batches overlap heavily"
    conns = [await asyncpg.connect(db_url) for _ in range(4)]
    try:
        queue: asyncio.Queue[Decoded] = asyncio.Queue()
        for d in batches:
            queue.put_nowait(d)
        results = []

        async def worker(conn: asyncpg.Connection) -> None:
            while not queue.empty():
                results.append(await write_batch(conn, queue.get_nowait()))

        await asyncio.wait_for(asyncio.gather(*(worker(c) for c in conns)), 60)
    finally:
        for c in conns:
            await c.close()
    assert sum(r.stored_messages for r in results) == len(distinct)
    assert sum(r.duplicates for r in results) == total - len(distinct)
    assert await db.fetchval("SELECT count(*) FROM readings") == len(distinct)
    assert await db.fetchval("SELECT count(DISTINCT msg_id) FROM readings") == len(distinct)


async def test_a_battery_reported_as_a_reading_is_the_devices_battery(db: asyncpg.Connection) -> None:
    """Found with the real gateway in the demo: Zigbee devices send `battery` as a reading, and the
    facility page's battery column stayed empty, though the alert engine used it."""
    await load_registry(db, registry_obj(extra_devices=2))
    single = payload({"msg_id": "b-1", "ts": TS, "readings": {"battery_pct": 37.0, "co2_ppm": 500}})
    samples = payload(
        {
            "msg_id": "b-2",
            "samples": [{"ts": TS, "readings": {"battery_pct": 40.0}}, {"ts": TS, "readings": {"battery_pct": 39.0}}],
        }
    )
    now = ARRIVED
    await write_batch(
        db,
        decode(
            [
                Received(f"{ROOT}/{FAC}/env-0/telemetry", single, now),
                Received(f"{ROOT}/{FAC}/env-1/telemetry", samples, now),
            ]
        ),
    )
    got = dict(await db.fetch("SELECT device_id, battery_pct FROM device_state WHERE device_id LIKE 'env-%'"))
    assert got == {"env-0": 37.0, "env-1": 39.0}


def status(device: str, ts: str, **fields: object) -> Received:
    return Received(f"{ROOT}/{FAC}/{device}/status", payload({"ts": ts, **fields}), ARRIVED)


async def test_heartbeats_are_state_and_only_changes_are_logged(db: asyncpg.Connection) -> None:
    """A device heard every minute for an hour: one device_status row for its first status, then one
    per change of what it says of itself (offline, back, firmware, battery 5 points down), none for a
    heartbeat repeating it or a battery wobbling, whichever batch each arrives in; its state follows
    every heartbeat."""
    await load_registry(db, registry_obj(extra_devices=2))

    def battery(m: int) -> float:
        return 87.4 if m < 30 else 86.6 if m < 35 else 87.1 if m < 45 else 82.3

    hb = [
        status("env-0", f"2026-11-28T08:{m:02d}:00Z", online=True, battery_pct=battery(m), heartbeat_s=60)
        for m in range(60)
    ]
    hb[20] = status("env-0", "2026-11-28T08:20:00Z", online=False)  # went offline (a Last Will says no more)
    hb[40] = status("env-0", "2026-11-28T08:40:00Z", online=True, battery_pct=87.1, heartbeat_s=60, firmware="2.1")
    for part in (hb[:7], hb[7:25], hb[25:26], hb[26:]):  # batches of every size
        await write_batch(db, decode(part))
    logged = await db.fetch("SELECT time, online, battery_pct, firmware FROM device_status ORDER BY time")
    assert [(r["time"].minute, r["online"]) for r in logged] == [
        (0, True),
        (20, False),
        (21, True),
        (40, True),
        (45, True),
    ]
    assert [r["battery_pct"] for r in logged][-2:] == [87.1, 82.3] and logged[-2]["firmware"] == "2.1"
    state = await db.fetchrow("SELECT * FROM device_state WHERE device_id = 'env-0'")
    assert state["status_at"].minute == 59 and state["battery_pct"] == 82.3, "the state is the last heartbeat's"
    # a second device's copy of the same heartbeat: its own first row; a redelivered batch: nothing
    await write_batch(db, decode([status("env-1", "2026-11-28T08:00:00Z", online=True), *hb[50:]]))
    assert await db.fetchval("SELECT count(*) FROM device_status") == len(logged) + 1


async def test_device_hours_are_one_bit_per_hour_heard(db: asyncpg.Connection) -> None:
    """Whatever a device sends marks its UTC hour in device_activity (the credit evaluation's
    device-hours), across midnight, from a reading, an event, an access event or a heartbeat alike."""
    from storage.messages import ActivityCache

    reg = registry_obj(extra_devices=2)
    await load_registry(db, reg)
    cache = ActivityCache({(FAC, d.id): i for i, d in enumerate(reg.facilities[0].devices)})
    await write_batch(db, decode([status("env-0", "2026-11-28T23:59:00Z", online=True)]), cache)
    msgs = [
        Received(
            f"{ROOT}/{FAC}/env-0/telemetry",
            payload({"msg_id": "t1", "ts": "2026-11-29T00:00:30Z", "readings": {"co2_ppm": 500}}),
            ARRIVED,
        ),
        Received(
            f"{ROOT}/{FAC}/env-1/event",
            payload({"msg_id": "e1", "ts": "2026-11-29T03:10:00+08:00", "type": "tamper", "state": "active"}),
            ARRIVED,
        ),
    ]
    await write_batch(db, decode(msgs), cache)
    await write_batch(db, decode([status("env-0", "2026-11-28T23:10:00Z", online=True)]), cache)  # nothing new
    got = {(r["device_id"], str(r["day"])): r["hours"] for r in await db.fetch("SELECT * FROM device_activity")}
    assert got == {("env-0", "2026-11-28"): 1 << 23, ("env-0", "2026-11-29"): 1 << 0, ("env-1", "2026-11-28"): 1 << 19}


def test_the_device_hours_cache_passes_only_new_bits_and_does_not_grow() -> None:
    """Pure logic: a device-hour written once is not written again; another hour, another day, a
    device outside the index (a registry change not reloaded yet) are; two days kept; the memory is
    one array per day, its size fixed by the registry, however many devices have been heard."""
    from storage.messages import ActivityCache

    index = {("f", f"d{i}"): i for i in range(1000)}
    cache = ActivityCache(index)
    day = 20_000
    first = {("f", "d1", day): 1 << 8, ("f", "d2", day): 1 << 8}
    assert cache.new(first) == first, "nothing remembered yet"
    cache.remember(first)
    sizes = [len(a) for a in cache._days.values()]
    again = {("f", "d1", day): 1 << 8, ("f", "d2", day): 1 << 8 | 1 << 9, ("f", "d3", day): 1 << 8}
    assert cache.new(again) == {("f", "d2", day): 1 << 8 | 1 << 9, ("f", "d3", day): 1 << 8}
    stranger = {("f", "new-1", day): 1 << 8}
    cache.remember(stranger)
    assert cache.new(stranger) == stranger, "not in the index: always written (the upsert is idempotent)"
    cache.remember({(f, d, day): 1 << 10 for f, d in index})
    assert [len(a) for a in cache._days.values()] == sizes == [1000], "one fixed array a day"
    assert cache.new({("f", "d999", day): 1 << 10}) == {}
    for later in (day + 1, day + 2):
        cache.remember({("f", "d1", later): 1})
    assert sorted(cache._days) == [day + 1, day + 2], "today and yesterday kept"
    assert cache.new({("f", "d1", day): 1 << 8}) == {("f", "d1", day): 1 << 8}, "a forgotten day is written again"
    cache.reindex({("f", "d1"): 0})
    assert cache.new({("f", "d1", day + 2): 1}) == {("f", "d1", day + 2): 1}, "a new numbering forgets"


async def test_a_devices_last_seen_is_updated_in_place(db: asyncpg.Connection) -> None:
    """Every batch updates the device_state row of each device in it: with room left on its page
    (migration 016), PostgreSQL updates the row there without writing its key again (a HOT update).
    On full pages nearly every such update moved the row and rewrote the index (this test: 0 of 300)."""
    await load_registry(db, registry_obj(extra_devices=300))
    devices = [f"env-{i}" for i in range(300)]
    await write_batch(db, decode([reading(1, d) for d in devices]))  # the rows, inserted
    async with db.transaction():
        await write_batch(db, decode([reading(2, d) for d in devices]))
        updated, hot = await db.fetchrow(
            "SELECT pg_stat_get_xact_tuples_updated(c), pg_stat_get_xact_tuples_hot_updated(c)"
            " FROM CAST('device_state' AS regclass) AS c"
        )
    assert (updated, hot) == (300, 300)


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.integers(0, 4_000_000_000),
    micro=st.integers(0, 999_999),
    offset_min=st.sampled_from([0, 480, -300, 345, 0]),
    written=st.sampled_from(["Z", "+00:00", "offset"]),
)
def test_a_rows_device_hour_is_its_utc_hour_whatever_the_offset_it_came_in(
    seconds: int, micro: int, offset_min: int, written: str
) -> None:
    """Pure logic: activity() reckons a row's hour from the epoch in the row's own tzinfo (cheaper
    than timestamp() on pydantic's); the hour must be the UTC one, as timestamp() gives it, for times
    validated from JSON in any offset and for datetime's own time zones."""
    from datetime import timedelta, timezone

    from contract.payloads import parse_fast
    from contract.topics import Channel
    from storage.messages import activity

    t = datetime.fromtimestamp(seconds, UTC).replace(microsecond=micro)
    tz = UTC if written != "offset" else timezone(timedelta(minutes=offset_min))
    text = t.astimezone(tz).isoformat().replace("+00:00", "Z" if written == "Z" else "+00:00")
    fast = parse_fast(Channel.TELEMETRY, payload({"msg_id": "m", "ts": text, "readings": {"x": 1}}))
    assert fast is not None
    for ts in (fast["ts"], t.astimezone(tz)):  # pydantic's tzinfo, and datetime's
        d = Decoded()
        d.readings[(FAC, "env-0", "m")] = [(ts, FAC, "env-0", "x", 1.0, "m")]
        hour = seconds // 3600
        assert activity(d) == {(FAC, "env-0", hour // 24): 1 << (hour % 24)}


async def _waiting_on_a_lock(db: asyncpg.Connection, conn: asyncpg.Connection) -> None:
    pid = conn.get_server_pid()
    for _ in range(200):
        if await db.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"backend {pid} never waited on a lock")


async def test_two_writers_holding_statuses_of_different_devices_do_not_deadlock(
    db: asyncpg.Connection, db_url: str
) -> None:
    """Two ingest workers (a shared subscription) each take a batch: A holds env-1's status and readings of
    env-0 and env-2, B env-2's status and a reading of env-0. A writer locked its statuses' devices first, then
    upserted every device of its batch in order: A held env-1 and waited for env-2, B held env-2 and waited
    for env-0, which A held. PostgreSQL broke the tie by refusing one batch ("deadlock detected", seen in the
    demo under load, the batch then stored in halves); now each locks all its devices in one order first."""
    await load_registry(db, registry_obj(extra_devices=3))
    await write_batch(db, decode([reading(0, "env-0"), reading(1, "env-1"), reading(2, "env-2")]))
    a = decode([status("env-1", TS, online=True, battery_pct=80), reading(10, "env-0"), reading(11, "env-2")])
    b = decode([status("env-2", TS, online=True, battery_pct=70), reading(20, "env-0")])
    blocker, conn_a, conn_b = [await asyncpg.connect(db_url) for _ in range(3)]
    try:
        # a third transaction holds env-0 so that both writers are inside their transactions, A first
        hold = blocker.transaction()
        await hold.start()
        await blocker.execute("SELECT 1 FROM device_state WHERE device_id = 'env-0' FOR UPDATE")
        first = asyncio.create_task(write_batch(conn_a, a))
        await _waiting_on_a_lock(db, conn_a)
        second = asyncio.create_task(write_batch(conn_b, b))
        await _waiting_on_a_lock(db, conn_b)
        await hold.commit()
        done = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 30)
    finally:
        for c in (blocker, conn_a, conn_b):
            await c.close()
    assert [type(r).__name__ for r in done] == ["WriteResult", "WriteResult"], done
    batteries = dict(await db.fetch("SELECT device_id, battery_pct FROM device_state WHERE device_id LIKE 'env-%'"))
    assert (batteries["env-1"], batteries["env-2"]) == (80, 70)
