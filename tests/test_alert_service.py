"""The alert service against real Mosquitto and TimescaleDB: lifecycle, restart, concurrency, notifications."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import paho.mqtt.client as mqtt
import pytest
from aiohttp import web

from alerts.lifecycle import escalate
from alerts.service import AlertsConfig, AlertService
from contract.config import Channels
from contract.occurred import clock_text
from contract.registry import WEEKDAYS, OpeningHours, Registry
from contract.rules import Condition, Key, load_rules
from runtime.stack import free_port
from simulators.registry_gen import generate_registry
from storage.alerts import NOTIFY_CHANNEL, open_alert
from storage.notifications import add_subscription
from storage.registry import load_registry
from storage.users import create_user
from tests.conftest import Services, as_role
from tests.faultproxy import FaultProxy
from tests.helpers import Publisher, night_badge, payload, wait_for

REG = generate_registry(1, seed=5)
FAC = REG.facilities[0]


@contextlib.asynccontextmanager
async def running(
    service: AlertService, before_connected: Callable[[], Awaitable[None]] | None = None
) -> AsyncIterator[AlertService]:
    task = asyncio.create_task(service.run(), name="test-alerts")
    try:
        await asyncio.wait_for(service.ready.wait(), 15)
        if before_connected is not None:
            await before_connected()
        await wait_for(
            lambda: asyncio.sleep(0, result=bool(service.source and service.source.connected)), 10, "alerts connected"
        )
        await asyncio.sleep(0.3)
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, 20)


def make(services: Services, db_url: str, root: str, client: str = "a1", **kw: object) -> AlertService:
    cfg = AlertsConfig(
        database_url=as_role(db_url, "alerts"),
        mqtt_url=kw.pop("mqtt_url", services.mqtt_url),
        topic_root=root,
        client_id=f"alerts-{client}-{root.split('/', maxsplit=1)[0]}",
        tick_s=0.2,
        late_wait_s=0.5,  # the watermark's minute, shrunk as the rules' minutes are
        **kw,
    )  # type: ignore[arg-type]
    rules = load_rules(None)
    rules["guard_absent"] = replace(rules["guard_absent"], for_s=4)
    return AlertService(cfg, rules)


def now_ts() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def alerts(db: asyncpg.Connection, rule: str) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM alerts WHERE rule = $1 ORDER BY id", rule)


@pytest.fixture
async def registered(db: asyncpg.Connection) -> asyncpg.Connection:
    await load_registry(db, REG)
    return db


async def test_fire_alarm_opens_notifies_and_latches(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    db = registered
    hook_bodies: list[tuple[bytes, str]] = []

    async def hook(request: web.Request) -> web.Response:
        hook_bodies.append((await request.read(), request.headers.get("X-CareWatch-Signature", "")))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    notes: list[str] = []
    listener = await asyncpg.connect(db_url)
    await listener.add_listener(NOTIFY_CHANNEL, lambda *a: notes.append(a[3]))
    on_site: list[bytes] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda _c, _u, m: on_site.append(m.payload)
    sub.connect(*services.mqtt_host_port)
    sub.subscribe(f"{topic_root}/{FAC.id}/_alerts", qos=1)
    sub.loop_start()
    pub = Publisher(*services.mqtt_host_port)
    t = f"{topic_root}/{FAC.id}/smoke-nap1/event"
    try:
        svc = make(services, db_url, topic_root, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_secret="k3y")
        async with running(svc):
            pub.publish(t, payload({"msg_id": "e1", "ts": now_ts(), "type": "fire_alarm", "state": "active"}))
            await wait_for(lambda: _count(db, "fire_alarm", 1), 10, "the alert")
            pub.publish(t, payload({"msg_id": "e1", "ts": now_ts(), "type": "fire_alarm", "state": "active"}))  # copy
            pub.publish(t, payload({"msg_id": "e2", "ts": now_ts(), "type": "fire_alarm", "state": "active"}))
            await wait_for(lambda: _field(db, "fire_alarm", "count", 2), 10, "the re-trigger counted")
            pub.publish(t, payload({"msg_id": "e3", "ts": now_ts(), "type": "fire_alarm", "state": "cleared"}))
            await wait_for(lambda: _field(db, "fire_alarm", "status", "cleared"), 10, "cleared")
            await wait_for(lambda: asyncio.sleep(0, result=bool(hook_bodies and on_site)), 10, "notifications")
    finally:
        pub.close()
        sub.disconnect()
        sub.loop_stop()
        await listener.close()
        await runner.cleanup()
    [a] = await alerts(db, "fire_alarm")
    assert a["severity"] == "critical"
    assert a["device_id"] == "smoke-nap1"
    assert "火灾" in a["summary"]
    assert a["summary_en"]
    assert a["count"] == 2, "the duplicate e1 is not a re-trigger; e2 is"
    # latched: cleared but unacknowledged, so still open
    assert await db.fetchval("SELECT count(*) FROM alerts WHERE status = 'cleared' AND NOT acknowledged") == 1
    actions = [json.loads(n)["action"] for n in notes]
    assert actions[:3] == ["opened", "bumped", "cleared"]
    body, sig = hook_bodies[0]
    assert sig == "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert json.loads(body)["rule"] == "fire_alarm"
    assert json.loads(on_site[0])["facility_id"] == FAC.id


async def _count(db: asyncpg.Connection, rule: str, n: int) -> bool:
    return len(await alerts(db, rule)) >= n


async def _field(db: asyncpg.Connection, rule: str, col: str, value: object) -> bool:
    rows = await alerts(db, rule)
    return bool(rows) and rows[-1][col] == value


async def test_timer_survives_restart(services: Services, db_url: str, db: asyncpg.Connection, topic_root: str) -> None:
    """guard_absent with `for: 4s`: the guard leaves, the service restarts 2 s in, the alert fires on time."""
    always_open = OpeningHours(days=list(WEEKDAYS), open=time(0, 0), close=time(23, 59, 59))
    await load_registry(db, Registry(facilities=[FAC.model_copy(update={"opening_hours": always_open})]))
    pub = Publisher(*services.mqtt_host_port)
    door = f"{topic_root}/{FAC.id}/door-main/access"
    guard = next(s.id for s in FAC.staff if s.role.value == "guard")
    try:
        async with running(make(services, db_url, topic_root)):
            pub.publish(door, payload({"msg_id": "in", "ts": now_ts(), "type": "staff_in", "person_id": guard}))
            await asyncio.sleep(1)
            left = datetime.now(UTC)
            pub.publish(door, payload({"msg_id": "out", "ts": now_ts(), "type": "staff_out", "person_id": guard}))
            await wait_for(lambda: _timer(db, "guard_absent"), 5, "the timer saved")
        await asyncio.sleep(0.5)
        assert await alerts(db, "guard_absent") == []
        async with running(make(services, db_url, topic_root)):
            await wait_for(lambda: _count(db, "guard_absent", 1), 10, "the alert after the restart")
    finally:
        pub.close()
    [a] = await alerts(db, "guard_absent")
    assert timedelta(seconds=3.5) <= a["opened_at"] - left <= timedelta(seconds=7)
    # the credit evaluation's lapse: from when the guard left (the timer's start), not when the alert opened
    lapses = await db.fetch("SELECT started_at, ended_at FROM lapse_intervals WHERE rule = 'guard_absent'")
    [lapse] = lapses
    assert lapse["ended_at"] is None and abs((lapse["started_at"] - left).total_seconds()) < 1.5


async def _timer(db: asyncpg.Connection, rule: str) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM rule_timers WHERE rule = $1", rule))


async def test_two_workers_same_condition_one_alert(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    db = registered
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with running(make(services, db_url, topic_root, "w1")), running(make(services, db_url, topic_root, "w2")):
            pub.publish(
                f"{topic_root}/{FAC.id}/panic-gate/event", payload({"msg_id": "p1", "ts": now_ts(), "type": "panic"})
            )
            await wait_for(lambda: _field(db, "panic_button", "count", 2), 10, "both workers seen")
    finally:
        pub.close()
    rows = await alerts(db, "panic_button")
    assert len(rows) == 1, "the database keeps one active alert per key"


async def test_escalation_timeline_and_ack(db: asyncpg.Connection) -> None:
    await load_registry(db, REG)
    t0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    crit = await open_alert(db, FAC.id, Key("fire_alarm", "smoke-nap1"), Condition("critical", "火", "fire"), t0)
    major = await open_alert(db, FAC.id, Key("door_forced", "exit-1"), Condition("major", "门", "door"), t0)
    levels = []
    for secs in (59, 61, 179, 181, 299, 301, 900, 1800):
        changes = await escalate(db, t0 + timedelta(seconds=secs))
        levels.append(sorted((c.rule, c.escalation) for c in changes))
    assert levels == [
        [],
        [("fire_alarm", "township")],
        [],
        [("fire_alarm", "county")],
        [],
        [("door_forced", "township"), ("fire_alarm", "city")],
        [("door_forced", "county")],
        [("door_forced", "city")],
    ]
    history = await db.fetchval(
        "SELECT count(*) FROM alert_history WHERE alert_id = $1 AND action = 'escalated'", crit.alert_id
    )
    assert history == 3, "re-notified at each step"
    other = await open_alert(db, FAC.id, Key("door_forced", "exit-2"), Condition("major", "门", "door"), t0)
    await db.execute("UPDATE alerts SET acknowledged = true, acknowledged_at = now() WHERE id = $1", other.alert_id)
    assert await escalate(db, t0 + timedelta(hours=2)) == [], "acknowledgement stops escalation"
    assert major.action == "opened"


async def test_a_lapse_known_late_counts_from_when_it_began(db: asyncpg.Connection) -> None:
    """An exit door held open an hour ago while the gateway was offline, known now from its spool: its
    lapse minutes (the credit's) count from when it began, not from when it was known, so holding the
    gateway offline hides none of them. The alert's own deadlines still count from opened_at."""
    await load_registry(db, REG)
    t0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    began = t0 - timedelta(hours=1)
    held = Condition("major", "安全出口长时间未关（exit-1）", "fire exit held open", 300.0, at=began, cause="uplink")
    await open_alert(db, FAC.id, Key("exit_obstructed", "exit-1"), held, t0, since=t0)
    row = await db.fetchrow("SELECT opened_at, occurred_at, delay_cause FROM alerts WHERE rule = 'exit_obstructed'")
    assert (row["opened_at"], row["occurred_at"], row["delay_cause"]) == (t0, began + timedelta(seconds=300), "uplink")
    assert await db.fetchval("SELECT started_at FROM lapse_intervals WHERE rule = 'exit_obstructed'") == began


async def test_maintenance_window_mutes_device_health_only_but_records(db: asyncpg.Connection) -> None:
    await load_registry(db, REG)
    t0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    await db.execute(
        "INSERT INTO maintenance_windows (facility_id, device_id, starts_at, ends_at, reason, author, requested_by,"
        " status) VALUES ($1, 'smoke-nap1', $2, $3, '年度消防检测 / annual fire test', 'insp', 'insp', 'approved')",
        FAC.id,
        t0 - timedelta(minutes=5),
        t0 + timedelta(hours=1),
    )
    fault = Condition("major", "障", "fault")
    # a window silences only what the rules let it (alerts.lifecycle.may_mute): the device's health
    during = await open_alert(db, FAC.id, Key("device_fault", "smoke-nap1"), fault, t0, mutable=True)
    other = await open_alert(db, FAC.id, Key("device_fault", "smoke-nap2"), fault, t0, mutable=True)
    later = t0 + timedelta(hours=2)
    after = await open_alert(db, FAC.id, Key("low_battery", "smoke-nap1"), fault, later, mutable=True)
    fire = await open_alert(db, FAC.id, Key("fire_alarm", "smoke-nap1"), Condition("critical", "火", "fire"), t0)
    assert (during.muted, other.muted, after.muted, fire.muted) == (True, False, False, False)
    assert await db.fetchval("SELECT count(*) FROM alerts") == 4, "what fired is recorded either way"


async def test_restart_with_active_alert_neither_duplicates_nor_loses(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    """Across a restart the engine rebuilds its state from what ingest stored and from active alerts."""
    db = registered
    topic = f"{topic_root}/{FAC.id}/smoke-nap1/event"
    active = {"msg_id": "e1", "ts": now_ts(), "type": "fire_alarm", "state": "active"}
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with running(make(services, db_url, topic_root)):
            pub.publish(topic, payload(active))
            await wait_for(lambda: _count(db, "fire_alarm", 1), 10, "the alert")
        # what ingest stored meanwhile (it runs beside the engine in production)
        await db.execute(
            "INSERT INTO events (time, facility_id, device_id, msg_id, type, state, payload)"
            " VALUES ($3::text::timestamptz, $1, 'smoke-nap1', 'e1', 'fire_alarm', 'active', $2)",
            FAC.id,
            json.dumps(active),
            active["ts"],
        )
        async with running(make(services, db_url, topic_root)):
            await asyncio.sleep(1.5)  # several ticks: nothing may clear or reopen
            rows = await alerts(db, "fire_alarm")
            assert [(r["status"], r["count"]) for r in rows] == [("active", 1)]
            pub.publish(topic, payload({**active, "msg_id": "e2", "ts": now_ts(), "state": "cleared"}))
            await wait_for(lambda: _field(db, "fire_alarm", "status", "cleared"), 10, "cleared after the restart")
    finally:
        pub.close()
    assert len(await alerts(db, "fire_alarm")) == 1


async def test_registry_loaded_while_running_takes_effect(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    """A device and a facility added to the registry (as the web's registry load does) are watched
    without a restart; what the engine already knew of the facility is kept."""
    from contract.registry import Device, DeviceType

    db = registered
    other = generate_registry(2, seed=5).facilities[1]
    assert other.id != FAC.id
    grown = FAC.model_copy(update={"devices": [*FAC.devices, Device(id="smoke-new", type=DeviceType.SMOKE_DETECTOR)]})
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with running(make(services, db_url, topic_root, "reg")) as svc:
            assert svc.engine is not None
            before = svc.engine.runtimes[FAC.id]
            before.staff_on_site["s-0001"] = None  # something the engine learnt
            pub.publish(
                f"{topic_root}/{FAC.id}/smoke-new/event",
                payload({"msg_id": "n0", "ts": now_ts(), "type": "fire_alarm", "state": "active"}),
            )
            await asyncio.sleep(1.0)
            assert await alerts(db, "fire_alarm") == [], "not in the registry yet: not watched"
            await load_registry(db, Registry(facilities=[grown, other]))
            await wait_for(
                lambda: asyncio.sleep(0, result=other.id in svc.engine.runtimes),  # type: ignore[union-attr]
                10,
                "the new facility watched",
            )
            assert "smoke-new" in svc.engine.runtimes[FAC.id].devices
            assert svc.engine.runtimes[FAC.id].staff_on_site == {"s-0001": None}, "learnt state kept"
            for fac, dev in ((FAC.id, "smoke-new"), (other.id, "smoke-nap1")):
                pub.publish(
                    f"{topic_root}/{fac}/{dev}/event",
                    payload({"msg_id": "n1", "ts": now_ts(), "type": "fire_alarm", "state": "active"}),
                )
            await wait_for(lambda: _count(db, "fire_alarm", 2), 10, "alerts from both")
    finally:
        pub.close()
    assert {(a["facility_id"], a["device_id"]) for a in await alerts(db, "fire_alarm")} == {
        (FAC.id, "smoke-new"),
        (other.id, "smoke-nap1"),
    }


async def test_a_rule_failing_on_one_message_does_not_stop_the_service(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the engine raises on one device's message (standing in for a bug in a rule).
    That message is counted and logged; the next device's fire alarm still opens its alert."""
    db = registered
    pub = Publisher(*services.mqtt_host_port)
    svc = make(services, db_url, topic_root)
    try:
        async with running(svc):
            assert svc.engine is not None
            real = svc.engine.on_message

            def flaky(facility_id: str, device_id: str, *a: object) -> object:
                if device_id == "smoke-nap1":
                    raise RuntimeError("injected rule fault")
                return real(facility_id, device_id, *a)  # type: ignore[arg-type]

            monkeypatch.setattr(svc.engine, "on_message", flaky)
            event = {"msg_id": "e1", "ts": now_ts(), "type": "fire_alarm", "state": "active"}
            pub.publish(f"{topic_root}/{FAC.id}/smoke-nap1/event", payload(event))
            other = next(d.id for d in FAC.devices if d.id != "smoke-nap1" and d.type.value == "smoke_detector")
            pub.publish(f"{topic_root}/{FAC.id}/{other}/event", payload({**event, "msg_id": "e2"}))
            await wait_for(lambda: _count(db, "fire_alarm", 1), 10, "the second detector's alert")
            assert svc.metrics.evaluation_errors._value.get() == 1
    finally:
        pub.close()
    [alert] = await alerts(db, "fire_alarm")
    assert alert["device_id"] == other


async def test_an_engine_cut_off_from_its_input_takes_no_silence_for_the_devices(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    """The engine's own link to the broker pauses (a partition that heals: the connection stays
    open, nothing passes, nothing is lost), then drops and is refused for a while, as the devices go
    on reporting every second to the broker. The engine must not take its own deafness for their
    silence: none of them goes offline, during either outage or when what the broker queued arrives
    after it (CONTRACT §4, the engine's own clock). It says it is behind meanwhile. After that, a
    device that really falls silent still goes offline."""
    db = registered
    async with _reporting_behind_a_proxy(services, db_url, topic_root, "deaf", heartbeats=0.01) as (svc, proxy, on):
        await asyncio.sleep(3.0)
        proxy.pause()
        await asyncio.sleep(20.0)  # twice the silence that makes a device offline
        assert svc.health()[1]["input_behind_s"] >= 15, svc.health()
        assert await _offline_among(db, LIVE) == [], "its own paused link taken for the devices' silence"
        proxy.restore()
        await wait_for(lambda: asyncio.sleep(0, result=svc.input.behind_s(datetime.now(UTC)) < 3), 30, "caught up")
        proxy.cut()
        await asyncio.sleep(15.0)
        assert await _offline_among(db, LIVE) == [], "its own lost connection taken for the devices' silence"
        proxy.restore()
        await wait_for(lambda: asyncio.sleep(0, result=svc.input.behind_s(datetime.now(UTC)) < 3), 60, "caught up")
        await asyncio.sleep(3.0)  # the queued messages judged, and a few ticks
        assert await _offline_among(db, LIVE) == [], "the queued messages, judged late, taken for silence"
        await _then_one_really_falls_silent(db, on)


async def test_an_engine_started_while_the_broker_is_down_takes_no_silence_for_the_devices(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    """The alert service starts while the broker is down, and stays unable to reach it for longer than
    the silence that makes a device offline. Until its first connection it has heard nothing: that time
    is nobody's silence, as after a lost connection (CONTRACT §4). The devices come back a couple of
    seconds after it; none goes offline, and one that then really falls silent does."""
    db = registered
    await db.execute("UPDATE devices SET heartbeat_s = 5 WHERE facility_id = $1", FAC.id)  # offline after 15 s
    async with _reporting_behind_a_proxy(services, db_url, topic_root, "late", heartbeats=3, unreachable_s=20) as (
        svc,
        _proxy,
        on,
    ):
        await _the_devices_back_after_the_engine(db, svc, on, "the time before its first connection")


async def _the_devices_back_after_the_engine(
    db: asyncpg.Connection, svc: AlertService, on: _Reporting, gap: str
) -> None:
    """The broker is back: the engine reconnects and catches up, the devices report again a couple of
    seconds later (as real ones do). No device may have gone offline; then one really falls silent."""
    await wait_for(_caught_up(svc), 60, "the engine connected and caught up")
    await asyncio.sleep(2.0)
    assert await _offline_among(db, LIVE) == [], f"{gap} taken for the devices' silence"
    on.broker_up.set()
    await asyncio.sleep(3.0)
    assert await _offline_among(db, LIVE) == []
    await _then_one_really_falls_silent(db, on)


def _caught_up(svc: AlertService) -> Callable[[], Awaitable[bool]]:
    def check() -> Awaitable[bool]:
        src = svc.source
        ok = src is not None and src.connected and svc.input.behind_s(datetime.now(UTC)) < 3
        return asyncio.sleep(0, result=ok)

    return check


async def test_a_broker_outage_is_not_the_devices_silence(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    """The broker itself goes away for longer than the silence that makes a device offline: the engine's
    connection drops and the devices' reports are lost, for there is no broker to take them (nothing
    is queued). When it is back, the engine reconnects first and the devices some seconds later, as
    real ones do (Tasmota retries every 10 s, a paho client backs off). The time no one could hear is
    nobody's silence: no device goes offline then (CONTRACT §4, the engine's own clock). A device that
    then really falls silent still goes offline, its silence counted from before the outage plus after."""
    db = registered
    # the real rule's proportions, in seconds: offline after three missed heartbeats (here 15 s)
    await db.execute("UPDATE devices SET heartbeat_s = 5 WHERE facility_id = $1", FAC.id)
    async with _reporting_behind_a_proxy(services, db_url, topic_root, "outage", heartbeats=3) as (svc, proxy, on):
        await wait_for(_caught_up(svc), 30, "the engine caught up")
        await asyncio.sleep(3.0)
        on.broker_up.clear()  # no broker: what the devices send now is lost
        proxy.cut()
        await asyncio.sleep(20.0)
        proxy.restore()  # the broker is back; the engine reconnects
        await _the_devices_back_after_the_engine(db, svc, on, "the broker's outage")


async def test_a_restarted_service_keeps_the_slow_clocks_it_learnt(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A door controller's clock is 10 minutes slow. The service learns it (two late messages, each
    as late, over SKEW_SPAN_S: shrunk to 12 s here), saves it, and is restarted while the devices go
    on reporting every second; the restarted one takes 6 s of silence for offline (the first one 30 s,
    to learn the clock first). It starts from the saved clock: the controller's messages, the queued
    ones first, are signs of life at once, and it does not go offline in the 12 s it would otherwise
    take to learn the clock again, nor once the day's events it replays at its start (a door held open
    a while, ended) have counted as on time."""
    db = registered
    monkeypatch.setattr("alerts.state.SKEW_SPAN_S", 12.0)  # DeviceRt.lateness reads it
    slow = "exit-1"
    live = ["gw-1", "door-main", slow]
    assert {d.id for d in FAC.devices} >= set(live)

    def service(silence_s: float) -> AlertService:
        svc = make(services, db_url, topic_root, "clock")
        offline = svc.rules["device_offline"]
        thresholds = {**offline.thresholds, "heartbeats": 0.01, "min_silence_s": silence_s}
        svc.rules["device_offline"] = replace(offline, thresholds=thresholds)
        return svc

    pub = Publisher(*services.mqtt_host_port)

    async def report() -> None:
        n = 0
        while True:
            n += 1
            for dev in live:
                ts = datetime.now(UTC) - timedelta(minutes=10 if dev == slow else 0)
                body = {"msg_id": f"h{n}", "ts": ts.isoformat(), "readings": {"battery_pct": 90}}
                pub.publish(f"{topic_root}/{FAC.id}/{dev}/telemetry", payload(body))
            await asyncio.sleep(1.0)

    async def clock() -> float | None:
        return await db.fetchval("SELECT skew_s FROM device_clocks WHERE device_id = $1", slow)  # type: ignore[no-any-return]

    reporter = asyncio.create_task(report())
    try:
        async with running(service(30)):
            await wait_for(lambda: _true(clock()), 25, "the slow clock learnt and saved")
        assert 590 <= (await clock() or 0) <= 610
        held = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        await db.execute(  # as ingest stored it: the controller's own (slow) time
            "INSERT INTO events (time, facility_id, device_id, msg_id, type, state, payload)"
            " VALUES ($1::text::timestamptz, $2, $3, 'held', 'door_held_open', 'cleared', $4::jsonb)",
            held,
            FAC.id,
            slow,
            json.dumps({"msg_id": "held", "ts": held, "type": "door_held_open", "state": "cleared"}),
        )
        await asyncio.sleep(2.0)  # down: the broker queues what the devices send
        async with running(service(6)) as svc:
            await asyncio.sleep(14.0)  # past the 12 s a clock takes to learn, twice the silence of offline
            assert svc.engine is not None and svc.engine.runtimes[FAC.id].devices[slow].skew_s >= 590
        rows = await db.fetch("SELECT device_id FROM alerts WHERE rule = 'device_offline'")
        assert [r["device_id"] for r in rows if r["device_id"] in live] == []
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        pub.close()


async def test_a_restart_replays_the_days_badges_at_the_times_they_happened(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    """The door controller was set up in UTC wall time: its clock is 8 hours slow, and the engine had
    learnt and saved that (device_clocks). The night guard badged in at 00:05 local; ingest stored the
    scan under its own time, 16:05 the day before. A restarted engine replays the day's badges at the
    times they happened: the guard is on site (replayed at its stored time it was yesterday's badge,
    skipped, and the guard absent all night)."""
    db = registered
    now = datetime.now(UTC)
    real = night_badge(FAC.timezone, now)
    stored = real - timedelta(hours=8)
    guard = next(s.id for s in FAC.staff if s.role.value == "guard")
    await db.execute(
        "INSERT INTO device_clocks (facility_id, device_id, skew_s, since) VALUES ($1, 'door-main', 28800, $2)",
        FAC.id,
        now - timedelta(days=3),
    )
    body = {"msg_id": "night-in", "ts": stored.isoformat(), "type": "staff_in", "person_id": guard}
    await db.execute(
        "INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, payload)"
        " VALUES ($1, $2, 'door-main', 'night-in', 'staff_in', $3, $4::jsonb)",
        stored,
        FAC.id,
        guard,
        json.dumps(body),
    )
    async with running(make(services, db_url, topic_root, "replay")) as svc:
        assert svc.engine is not None
        rt = svc.engine.runtimes[FAC.id]
        assert guard in rt.staff_on_site, "the guard's badge-in replayed at 00:05, not yesterday's 16:05"
        assert rt.devices["door-main"].skew_s == 28800


async def _true(value: Awaitable[object]) -> bool:
    return bool(await value)


LIVE = ["gw-1", "door-main", "exit-1", "exit-2"]  # the gateway too: devices behind a dead one wait on its alert


@dataclass
class _Reporting:
    """Which devices send a reading every second, and whether there is a broker to take them."""

    devices: set[str] = field(default_factory=lambda: set(LIVE))
    broker_up: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.broker_up.set()

    async def run(self, pub: Publisher, topic_root: str) -> None:
        n = 0
        while True:
            await self.broker_up.wait()
            n += 1
            for dev in sorted(self.devices):
                body = {"msg_id": f"h{n}", "ts": now_ts(), "readings": {"battery_pct": 90}}
                pub.publish(f"{topic_root}/{FAC.id}/{dev}/telemetry", payload(body))
            await asyncio.sleep(1.0)


@contextlib.asynccontextmanager
async def _reporting_behind_a_proxy(
    services: Services, db_url: str, topic_root: str, client: str, *, heartbeats: float, unreachable_s: float = 0
) -> AsyncIterator[tuple[AlertService, FaultProxy, _Reporting]]:
    """An alert service reaching the broker through a FaultProxy, offline after `heartbeats` missed (and
    10 s), running while the LIVE devices report straight to the broker. `unreachable_s`: the service
    starts while the broker cannot be reached, for that long, and the devices' reports are lost
    meanwhile (the broker itself down)."""
    assert {d.id for d in FAC.devices} >= set(LIVE)
    proxy = await FaultProxy(*services.mqtt_host_port).start()
    svc = make(services, db_url, topic_root, client, mqtt_url=f"mqtt://127.0.0.1:{proxy.port}")
    offline = svc.rules["device_offline"]
    svc.rules["device_offline"] = replace(
        offline, thresholds={**offline.thresholds, "heartbeats": heartbeats, "min_silence_s": 10}
    )
    on = _Reporting()
    pub = Publisher(*services.mqtt_host_port)
    reporter = asyncio.create_task(on.run(pub, topic_root))

    async def broker_back() -> None:
        await asyncio.sleep(unreachable_s)
        proxy.restore()

    try:
        if unreachable_s:
            on.broker_up.clear()
            proxy.cut()
        async with running(svc, broker_back if unreachable_s else None):
            yield svc, proxy, on
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        pub.close()
        await proxy.stop()


async def _then_one_really_falls_silent(db: asyncpg.Connection, on: _Reporting) -> None:
    """After the outages, a device that really falls silent still goes offline, and only it."""
    on.devices.discard("exit-2")
    await wait_for(_silent_offline(db, "exit-2"), 30, "the really silent device offline")
    assert await _offline_among(db, LIVE) == ["exit-2"]


async def _offline_among(db: asyncpg.Connection, devices: list[str]) -> list[str]:
    rows = await db.fetch(
        "SELECT device_id FROM alerts WHERE rule = 'device_offline' AND device_id = ANY($1::text[])", devices
    )
    return sorted(r["device_id"] for r in rows)


def _silent_offline(db: asyncpg.Connection, device: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        row = await db.fetchrow(
            "SELECT 1 FROM alerts WHERE rule = 'device_offline' AND device_id = $1 AND status = 'active'", device
        )
        return row is not None

    return check


async def test_a_panic_replayed_from_the_spool_keeps_its_time_and_climbs_the_ladder_as_a_live_one(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    """The facility's uplink went down 61 minutes ago (ingest stored the gateway's Last Will; its offline
    alert is up). A panic was pressed 60 minutes ago; the gateway spooled it and sends it when its uplink is
    back. The alert says both times: it occurred at the press and was opened at the arrival, late because
    the gateway was offline, and the operator's message says so (CONTRACT §5, contract/occurred.py).

    It is not a way to dodge the ladder: held from its own time, the press's 15-minute hold had long ended,
    and the alert cleared at the next evaluation, which stopped its escalation (only active alerts climb):
    a facility that keeps its gateway offline and replays later would let no one above it hear of a panic.
    Held from when it was known, it climbs as a live one does, from `opened_at`."""
    db = registered
    now = datetime.now(UTC)
    down, press = now - timedelta(minutes=61), now - timedelta(minutes=60)
    await db.execute(
        "INSERT INTO device_state (facility_id, device_id, last_seen_at, online, status_at) VALUES ($1, 'gw-1', $2,"
        " false, $2)",
        FAC.id,
        down,
    )
    gw_off = Condition("major", "设备离线（gw-1）", "device offline (gw-1)")
    await open_alert(db, FAC.id, Key("device_offline", "gw-1"), gw_off, down + timedelta(minutes=2))
    op, _ = await create_user(db, "op-late", "operator", None, actor="test", facility=FAC.id)
    await add_subscription(db, op, "wecom", "op-late-key-01", None, None, "warning", None, "zh")
    base = f"{topic_root}/{FAC.id}/gw-1"
    pub = Publisher(*services.mqtt_host_port)
    svc = make(
        services,
        db_url,
        topic_root,
        "spool",
        escalation_s={"critical": (3.0, 6.0, 9.0), "default": (300.0, 900.0, 1800.0)},
        escalation_check_s=0.3,
        channels=Channels(wecom_url=f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send"),  # nobody: loopback only
        notify_attempts=1,
    )
    try:
        async with running(svc):
            pub.publish(f"{base}/status", payload({"ts": now_ts(), "online": True}))
            arrival = datetime.now(UTC)
            press_msg = {"msg_id": "gw-1-1", "ts": press.isoformat(), "type": "panic"}
            item = {"device_id": "panic-office", "channel": "event", "payload": press_msg}
            pub.publish(f"{base}/batch", payload({"msg_id": "b-1-1", "messages": [item]}))
            await wait_for(lambda: _count(db, "panic_button", 1), 10, "the panic's alert")
            [a] = await alerts(db, "panic_button")
            assert abs((a["occurred_at"] - press).total_seconds()) < 0.001, "occurred: when it was pressed"
            assert timedelta(0) <= a["opened_at"] - arrival < timedelta(seconds=5), "opened: when it arrived"
            assert a["delay_cause"] == "uplink"
            # a live panic's ladder (here 3, 6, 9 s), counted from when it was known
            await wait_for(lambda: _field(db, "panic_button", "escalation", "city"), 20, "the panic up to the city")
            [a] = await alerts(db, "panic_button")
            assert a["status"] == "active", "held for its 15 minutes from when it was known"
            assert a["escalated_at"] - a["opened_at"] >= timedelta(seconds=9), "escalated from opened_at"
            body = await db.fetchval(
                "SELECT body FROM notification_deliveries WHERE alert_id = $1 AND event = 'opened'", a["id"]
            )
    finally:
        pub.close()
    pressed = clock_text(press, FAC.timezone, a["opened_at"], "zh")
    known = f"{a['opened_at'].astimezone(ZoneInfo(FAC.timezone)):%H:%M}"
    assert f"{pressed} 按下（" in body and f"{known} 收到，网关离线期间）" in body, body


async def test_a_panic_alert_survives_a_restart_inside_its_hold(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    """Issue #42 item 1: a panic alert is held for its rule's `hold` from the press; the service restarts
    inside it and the alert stays active until the hold ends, as without the restart (the start's replay
    skips one-off events: the held alert comes back from rule_memory)."""
    db = registered
    hold = 20.0

    def service() -> AlertService:
        s = make(services, db_url, topic_root)
        s.rules["panic_button"] = replace(s.rules["panic_button"], hold_s=hold)
        return s

    pub = Publisher(*services.mqtt_host_port)
    topic = f"{topic_root}/{FAC.id}/panic-gate/event"
    try:
        async with running(service()):
            pressed = datetime.now(UTC)
            pub.publish(topic, payload({"msg_id": "p1", "ts": now_ts(), "type": "panic"}))
            await wait_for(lambda: _count(db, "panic_button", 1), 10, "the alert")
            await asyncio.sleep(0.5)  # a tick or two: its memory saved
        async with running(service()):
            back = datetime.now(UTC)
            await asyncio.sleep(1.5)  # several ticks after the start
            if datetime.now(UTC) < pressed + timedelta(seconds=hold - 1):  # (a slow machine may be past it)
                assert [r["status"] for r in await alerts(db, "panic_button")] == ["active"]
            await wait_for(lambda: _field(db, "panic_button", "status", "cleared"), 30, "cleared at the hold's end")
    finally:
        pub.close()
    [a] = await alerts(db, "panic_button")
    # cleared when its hold ended (or at the start, had the restart taken longer than the hold), never before
    assert pressed + timedelta(seconds=hold - 0.5) <= a["cleared_at"]
    assert a["cleared_at"] <= max(pressed + timedelta(seconds=hold), back) + timedelta(seconds=3)


async def test_the_tickers_sweep_tells_the_city_of_a_complaint_past_its_deadline_once(
    services: Services, db_url: str, registered: asyncpg.Connection, topic_root: str
) -> None:
    """督办 of a complaint (supervision.notices.sweep_overdue) runs in the alert service's ticker beside the
    orders' escalation, as its own role: a complaint unanswered past its deadline reaches the city's
    subscription once, however many sweeps pass; one not yet due reaches nobody."""
    db = registered
    now = datetime.now(UTC)
    city, _ = await create_user(db, "city-sweep", "inspector", None, actor="test")
    await add_subscription(db, city, "wecom", "city-sweep-key", None, None, "warning", None, "zh")
    for code, due in (("c", now - timedelta(days=1)), ("d", now + timedelta(days=1))):
        await db.execute(
            "INSERT INTO complaints (facility_id, code_sha256, what, happened_on, filed_at, due_at)"
            " VALUES ($1, $2, '午睡时无人看护', $3, $4, $5)",
            FAC.id,
            code * 64,
            (due - timedelta(days=16)).date(),
            due - timedelta(days=15),
            due,
        )

    async def told() -> int:
        n: int = await db.fetchval(
            "SELECT count(*) FROM notification_deliveries WHERE event LIKE 'notice:complaint_overdue:%'"
        )
        return n

    svc = make(services, db_url, topic_root, "sweep", escalation_check_s=0.2)
    async with running(svc):
        await wait_for(lambda: told_at_least(told, 1), 10, "the city told of the late complaint")
        await asyncio.sleep(1.0)  # five sweeps more
    assert await told() == 1
    assert await db.fetchval("SELECT count(*) FROM overdue_notices") == 1


async def told_at_least(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() >= n
