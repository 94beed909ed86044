"""Issue #35: a message older than its table's retention is refused at the door (`expired`), counted
and kept in the dead letters, never stored and then dropped at the next maintenance; the hourly
rollup keeps an hour's samples after retention has dropped their raw rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from contract.payloads import TimeBounds, parse_payload
from contract.retention import READINGS_KEPT_S, retention_days
from contract.topics import Channel
from ingest.decode import decode_batch
from runtime.mqtt_source import Received
from storage.migrate import detect_features
from storage.registry import load_registry
from storage.retention import hour_start, maintain, refresh_rollup
from tests.conftest import Services
from tests.helpers import FAC, Publisher, iso_z, payload, registry_obj, wait_for
from tests.test_ingest import make_service, running

pytestmark = pytest.mark.clock  # run again a year ahead by scripts/test (issue #35)

DAY = timedelta(days=1)
COLS = ["time", "facility_id", "device_id", "metric", "value", "msg_id"]


def test_the_bounds_refuse_a_sample_older_than_the_readings_retention_and_nothing_else() -> None:
    """Pure logic: a sample a minute inside the readings' 7 days passes; a minute past them is
    `expired` with its age and the retention in the reason; an event of the same age is kept (events
    are kept 400 days). The fast path's window and the full check agree on each."""
    assert READINGS_KEPT_S == retention_days("readings") * 86400 == 7 * 86400  # type: ignore[operator]
    now = datetime(2030, 1, 1, 12, tzinfo=UTC)  # any date: the bounds judge against the arrival
    bounds = TimeBounds()
    inside, past = now - 7 * DAY + timedelta(minutes=1), now - 7 * DAY - timedelta(minutes=1)
    tele = {
        t: parse_payload(Channel.TELEMETRY, payload({"msg_id": "m", "ts": iso_z(t), "readings": {"rh": 40}}))
        for t in (inside, past)
    }
    assert bounds.check(tele[inside], now) is None
    err = bounds.check(tele[past], now)
    assert err is not None and err.field == "expired" and "7.0 days old" in str(err) and "kept 7 days" in str(err)
    event = parse_payload(Channel.EVENT, payload({"msg_id": "e", "ts": iso_z(past), "type": "panic"}))
    assert bounds.check(event, now) is None, "an event is kept 400 days"
    earliest, _ = bounds.window(now, telemetry=True)
    assert earliest == now - 7 * DAY and bounds.window(now)[0] == now - timedelta(days=366)

    # the decoder (fast path for plain telemetry, the full parse for samples) says the same
    def msg(i: int, body: dict[str, object]) -> Received:
        return Received(f"cw/v1/f/d{i}/telemetry", payload(body), now)

    msgs = [
        msg(0, {"msg_id": "a", "ts": iso_z(inside), "readings": {"rh": 1}}),
        msg(1, {"msg_id": "b", "ts": iso_z(past), "readings": {"rh": 1}}),
        msg(
            2,
            {
                "msg_id": "c",
                "samples": [{"ts": iso_z(inside), "readings": {"rh": 1}}, {"ts": iso_z(past), "readings": {"rh": 2}}],
            },
        ),
    ]
    out = decode_batch(msgs, lambda _f, _d: True, "cw/v1", gateway=lambda _f, _d: False)
    assert sorted(out.dead_reasons) == ["expired", "expired"]
    assert {d[1] for d in out.dead} == {"cw/v1/f/d1/telemetry", "cw/v1/f/d2/telemetry"}


async def test_an_expired_reading_is_dead_lettered_and_counted_and_a_fresh_one_kept_through_maintenance(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str
) -> None:
    """Through the real ingest service and its maintenance: a reading 8 days old (a gateway's spool
    replayed after a long outage) is refused with `expired`, its raw bytes in the dead letters, and
    the metric counts it; one 6 days old is stored and, after the maintenance, both still in
    `readings` and in its hour's rollup; an 8-day-old item in a gateway batch is refused alone."""
    features = await detect_features(db)
    await load_registry(db, registry_obj())
    t = f"{topic_root}/{FAC}"
    now = datetime.now(UTC)
    old, kept = now - 8 * DAY, now - 6 * DAY
    expired = payload({"msg_id": "old", "ts": iso_z(old), "readings": {"co2_ppm": 800}})
    batch = {
        "msg_id": "b1",
        "messages": [
            {
                "device_id": "smoke-nap1",
                "channel": "telemetry",
                "payload": {"msg_id": "b-old", "ts": iso_z(old), "readings": {"co2_ppm": 801}},
            },
            {
                "device_id": "smoke-nap1",
                "channel": "telemetry",
                "payload": {"msg_id": "b-new", "ts": iso_z(now), "readings": {"co2_ppm": 802}},
            },
        ],
    }
    service = make_service(services, db_url, topic_root)
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with running(service):
            pub.publish(f"{t}/smoke-nap1/telemetry", expired)
            pub.publish(
                f"{t}/smoke-nap1/telemetry", payload({"msg_id": "six", "ts": iso_z(kept), "readings": {"co2_ppm": 600}})
            )
            pub.publish(f"{t}/gw-1/batch", payload(batch))
            pub.publish(f"{t}/smoke-nap1/event", payload({"msg_id": "ev", "ts": iso_z(old), "type": "panic"}))
            pub.flush()

            async def settled() -> bool:
                n = await db.fetchval("SELECT (SELECT count(*) FROM readings) + (SELECT count(*) FROM dead_letters)")
                return bool(n >= 4)

            await wait_for(settled, 20, "every message stored or dead-lettered")
            assert service.metrics.dead.labels(reason="expired")._value.get() == 2
    finally:
        pub.close()
    dead = {r["topic"]: r for r in await db.fetch("SELECT topic, reason, payload, detail FROM dead_letters")}
    assert {r["reason"] for r in dead.values()} == {"expired"} and len(dead) == 2
    assert bytes(dead[f"{t}/smoke-nap1/telemetry"]["payload"]) == expired, "the raw bytes are kept"
    assert any(k.startswith(f"{t}/gw-1/batch#0:") for k in dead), "the batch item alone"
    assert await db.fetchval("SELECT count(*) FROM events WHERE msg_id = 'ev'") == 1, "events are kept 400 days"
    if features.community:
        pytest.skip("the Timescale-License edition keeps the rollup by policies")
    await maintain(db, features, datetime.now(UTC))
    ids = {r["msg_id"] for r in await db.fetch("SELECT msg_id FROM readings")}
    assert ids == {"six", "b-new"}, "nothing accepted is dropped by the maintenance that follows"
    rollup = await db.fetchval("SELECT n FROM readings_hourly WHERE bucket = $1", hour_start(kept))
    assert rollup == 1


async def test_the_rollup_keeps_an_hours_samples_after_retention_drops_their_raw_rows(db: asyncpg.Connection) -> None:
    """An hour 9 days old, stored while it was fresh and not yet aggregated (ingest was down): one
    maintenance round aggregates it before retention drops its chunk. A sample of that hour written
    later (any path that bypassed the door) never recomputes the hour from fewer raw rows."""
    features = await detect_features(db)
    if features.community:
        pytest.skip("the Timescale-License edition keeps the rollup by continuous aggregate")
    now = datetime.now(UTC)
    hour = hour_start(now - 9 * DAY)
    rows = [(hour + timedelta(minutes=10 * i), "f1", "d", "co2_ppm", 400.0 + i, f"m{i}") for i in range(6)]
    await db.copy_records_to_table("readings", records=rows, columns=COLS)
    await maintain(db, features, now)
    assert await db.fetchval("SELECT count(*) FROM readings") == 0, "the 9-day-old chunk is gone"
    got = await db.fetchrow("SELECT n, min, max FROM readings_hourly WHERE bucket = $1", hour)
    assert got is not None, "the hour was aggregated before its chunk was dropped"
    assert tuple(got) == (6, 400.0, 405.0)
    late = [(hour + timedelta(minutes=5), "f1", "d", "co2_ppm", 1.0, "late")]
    await db.copy_records_to_table("readings", records=late, columns=COLS)
    await refresh_rollup(db, features, now, {"f1": hour})
    got = await db.fetchrow("SELECT n, min, max FROM readings_hourly WHERE bucket = $1", hour)
    assert tuple(got) == (6, 400.0, 405.0), "one late raw row must not replace the hour's six"
