"""The edge gateway: adapters on realistic payloads, the spool's eviction policy, and a 15 s uplink cut
with a restart in the middle: every message stored exactly once, in per-device order."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from pathlib import Path

import asyncpg
import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.payloads import BatchItem, Event, Telemetry, parse_item, parse_payload
from contract.topics import Channel
from gateway.adapters import AdapterError, Tasmota, Zigbee2Mqtt
from gateway.agent import AgentConfig, GatewayAgent
from gateway.spool import Spool
from storage.registry import load_registry
from tests.conftest import Services
from tests.helpers import FAC, Publisher, ago, iso_z, payload, registry_obj, wait_for
from tests.test_ingest import make_service, running


def as_contract(device: str, channel: str, body: dict[str, object]) -> object:
    return parse_item(BatchItem(device_id=device, channel=channel, payload={"msg_id": "x", **body}))  # type: ignore[arg-type]


def test_zigbee2mqtt_smoke_detector_and_sensor() -> None:
    z = Zigbee2Mqtt({"nap-smoke": "smoke-nap1", "class-th": "env-class1", "sos": "panic-gate"})
    first = z.convert("nap-smoke", b'{"smoke":false,"tamper":false,"battery":87,"linkquality":120}')
    assert [(d, c) for d, c, _ in first] == [
        ("smoke-nap1", "event"),
        ("smoke-nap1", "event"),
        ("smoke-nap1", "telemetry"),
    ]
    again = z.convert("nap-smoke", b'{"smoke":false,"tamper":false,"battery":87}')
    assert [c for _, c, _ in again] == ["telemetry"], "only changes become events"
    alarm = z.convert("nap-smoke", b'{"smoke":true,"tamper":false,"battery":86}')
    ev = as_contract(*alarm[0])
    assert isinstance(ev, Event)
    assert (ev.type.value, ev.state) == ("fire_alarm", "active")
    th = z.convert("class-th", b'{"temperature":22.4,"humidity":41,"battery":90,"voltage":2900}')
    t = as_contract(*th[0])
    assert isinstance(t, Telemetry)
    assert t.readings == {"temperature_c": 22.4, "humidity_pct": 41.0, "battery_pct": 90.0}
    sos = z.convert("sos", b'{"action":"emergency","battery":100}')
    assert as_contract(*sos[0]).type.value == "panic"  # type: ignore[union-attr]
    for bad, why in [
        (b"not json", "JSON"),
        (b"[1]", "object"),
        (b'{"smoke":"yes"}', "true or false"),
        (b'{"temperature":"hot"}', "number"),
    ]:
        with pytest.raises(AdapterError, match=why):
            z.convert("nap-smoke" if b"smoke" in bad else "class-th", bad)
    with pytest.raises(AdapterError, match="not in the mapping"):
        z.convert("unknown-thing", b"{}")


def test_tasmota_sensor() -> None:
    t = Tasmota({"kitchen-th": "env-kitchen"})
    [(dev, ch, body)] = t.convert(
        "kitchen-th", b'{"Time":"2026-11-28T08:00:00","AM2301":{"Temperature":24.1,"Humidity":55.0},"TempUnit":"C"}'
    )
    assert (dev, ch) == ("env-kitchen", "telemetry")
    assert body["readings"] == {"temperature_c": 24.1, "humidity_pct": 55.0}
    with pytest.raises(AdapterError, match="no known sensor"):
        t.convert("kitchen-th", b'{"Time":"2026-11-28T08:00:00"}')
    with pytest.raises(AdapterError, match="number"):
        t.convert("kitchen-th", b'{"AM2301":{"Temperature":"n/a"}}')


def test_spool_never_evicts_alarms(tmp_path: Path) -> None:
    s = Spool(tmp_path / "q.sqlite3", max_rows=3)
    assert s.put("d", "telemetry", {"n": 1})
    assert s.put("d", "event", {"n": 2})
    assert s.put("d", "telemetry", {"n": 3})
    assert s.put("d", "event", {"n": 4})  # full: the oldest telemetry goes
    assert s.put("d", "access", {"n": 5})  # full: the other telemetry goes
    assert not s.put("d", "status", {"n": 6}), "only alarms left: new telemetry/status is refused"
    assert s.put("d", "event", {"n": 7}), "an alarm is never refused"
    assert [q.payload["n"] for q in s.peek(10)] == [2, 4, 5, 7]
    assert (s.evicted, s.refused) == (2, 1)
    s.close()
    again = Spool(tmp_path / "q.sqlite3", max_rows=3)
    assert len(again) == 4, "survives a restart"
    again.close()


def start_agent(cfg: AgentConfig) -> tuple[GatewayAgent, threading.Thread]:
    agent = GatewayAgent(cfg)
    t = threading.Thread(target=agent.run, name="test-gateway-agent", daemon=True)
    t.start()
    return agent, t


@pytest.mark.slow
async def test_an_uplink_cut_with_a_restart_inside_loses_nothing(
    services: Services,
    db_url: str,
    db: asyncpg.Connection,
    topic_root: str,
    tmp_path: Path,
    fault_proxy_factory: object,
) -> None:
    devices = 10
    await load_registry(db, registry_obj(extra_devices=devices))  # the test facility has its gateway, gw-1
    host, port = services.mqtt_host_port
    proxy = await fault_proxy_factory(host, port)  # type: ignore[operator]
    local_root = f"local-{uuid.uuid4().hex[:8]}/cw/v1"
    cfg = AgentConfig(
        facility_id=FAC,
        upstream_url=f"mqtt://127.0.0.1:{proxy.port}",
        local_url=services.mqtt_url,
        root=topic_root,
        local_root=local_root,
        spool_path=tmp_path / "spool.sqlite3",
        mapping={
            "zigbee2mqtt": {"base_topic": f"{local_root}-z2m"},
            "tasmota": {"full_topic": f"{local_root}-tasmota/%prefix%/%topic%/"},
        },
    )
    seen: list[tuple[str, str]] = []  # (device, msg_id) in the order they arrived upstream
    watch = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watch.on_message = lambda _c, _u, m: seen.extend(
        (i["device_id"], i["payload"].get("msg_id", "")) for i in json.loads(m.payload)["messages"]
    )
    watch.connect(host, port)
    watch.subscribe(f"{topic_root}/{FAC}/gw-1/batch", qos=1)
    watch.loop_start()
    n, rate = 4000, 200.0  # 20 s of readings from ten devices, 15 s of them with the uplink down
    pub = Publisher(host, port)

    ts = iso_z(ago(minutes=5))  # by the clock the test runs on: readings are kept 7 days (issue #35)

    def devices_publish() -> None:
        t0 = time.monotonic()
        for i in range(n):
            ahead = i / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
            dev = f"env-{i % devices}"
            pub.publish(
                f"{local_root}/{FAC}/{dev}/telemetry",
                payload({"msg_id": f"m{i:05d}", "ts": ts, "readings": {"co2_ppm": i}}),
            )
        pub.flush()

    agent, thread = start_agent(cfg)
    try:
        await wait_for(lambda: asyncio.sleep(0, result=agent.upstream_connected.is_set()), 10, "agent up")
        pub.publish(f"{local_root}/{FAC}/env-0/telemetry", b'{"msg_id": "bad", "readings": 3}')  # malformed
        pub.publish(f"{local_root}-z2m/stranger", b'{"smoke": true}')  # not in the mapping file
        await wait_for(lambda: asyncio.sleep(0, result=_counted(agent) == (1, 1)), 10, "malformed, unmapped counted")
        async with running(make_service(services, db_url, topic_root)):
            stream = asyncio.create_task(asyncio.to_thread(devices_publish))
            await asyncio.sleep(3)
            proxy.cut()
            await asyncio.sleep(6)
            agent.stop()  # the gateway restarts during the outage
            await asyncio.to_thread(thread.join, 10)
            agent, thread = start_agent(cfg)
            await asyncio.sleep(9)
            queued_during = len(Spool(cfg.spool_path))
            proxy.restore()
            await stream
            try:
                await wait_for(lambda: _stored(db, n), 90, "every message stored after the outage")
            except AssertionError:
                got = await db.fetchval("SELECT count(*) FROM readings WHERE device_id LIKE 'env-%'")
                raise AssertionError(f"stored {got} of {n}; spool holds {len(Spool(cfg.spool_path))}") from None
    finally:
        agent.stop()
        await asyncio.to_thread(thread.join, 10)
        pub.close()
        watch.disconnect()
        watch.loop_stop()
    assert queued_during > 1000, "messages were spooled on disk while the uplink was down"
    row = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT msg_id) AS ids FROM readings WHERE device_id LIKE 'env-%'"
    )
    assert (row["n"], row["ids"]) == (n, n), "exactly once"
    for d in range(devices):
        ids = [m for dev, m in dict.fromkeys(seen) if dev == f"env-{d}"]
        assert ids == sorted(ids), f"env-{d} forwarded out of order"
        assert len(ids) == n // devices
    assert parse_payload(
        Channel.TELEMETRY, payload({"msg_id": "ok", "ts": iso_z(ago(minutes=1)), "readings": {"co2_ppm": 1}})
    )


def _counted(agent: GatewayAgent) -> tuple[float, float]:
    """(malformed, unsupported) local messages, every source and reason."""
    totals = []
    for name in ("carewatch_gateway_malformed", "carewatch_gateway_unsupported"):
        samples = [s for m in agent.registry.collect() if m.name == name for s in m.samples]
        totals.append(sum(s.value for s in samples if s.name.endswith("_total")))
    return totals[0], totals[1]


async def _stored(db: asyncpg.Connection, n: int) -> bool:
    # the devices' readings only: the gateway's own status says nothing of what was forwarded
    return int(await db.fetchval("SELECT count(*) FROM readings WHERE device_id LIKE 'env-%'")) >= n


# -- nothing kills it (issue #14, item 1) -------------------------------------------------------------------
def test_a_null_beside_a_panic_loses_the_null_not_the_panic() -> None:
    z = Zigbee2Mqtt({"sos": "panic-gate", "nap-smoke": "smoke-nap1"})
    out = z.convert("sos", b'{"action":"emergency","battery":null,"linkquality":null,"voltage":null}')
    assert [(d, c, p["type"]) for d, c, p in out] == [("panic-gate", "event", "panic")]
    out = z.convert("sos", b'{"action":"sos","battery":"low","temperature":1e999}')
    assert [c for _, c, _ in out] == ["event"], "the panic goes on without the bad keys"
    assert z.refused == ["temperature must be a finite number", "battery must be a finite number"]


def test_a_smoke_alarm_after_a_refused_message_still_fires() -> None:
    """The state of a condition is remembered only for a message that was accepted."""
    z = Zigbee2Mqtt({"nap-smoke": "smoke-nap1"})
    z.convert("nap-smoke", b'{"smoke":false,"battery":90}')
    with pytest.raises(AdapterError):
        z.convert("nap-smoke", b'{"smoke":"true"}')  # nothing usable: refused whole
    assert z.convert("nap-smoke", b'{"smoke":null,"battery":null,"tamper":null}') == []
    alarm = z.convert("nap-smoke", b'{"smoke":true,"battery":89}')
    assert [(c, p.get("state")) for _, c, p in alarm] == [("event", "active"), ("telemetry", None)]


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"]" * 100_000, b'{"temperature": ' + b"9" * 5000 + b"}", b'{"temperature": NaN}', b"x" * 70_000],
)
def test_hostile_payloads_are_refused_with_a_reason(raw: bytes) -> None:
    z = Zigbee2Mqtt({"th": "env-class1"})
    with pytest.raises(AdapterError):
        z.convert("th", raw)


def _agent(tmp_path: Path) -> GatewayAgent:
    """An agent that is never started: its callback is pure logic over its spool."""
    cfg = AgentConfig(
        facility_id=FAC,
        upstream_url="mqtt://127.0.0.1:9",
        local_url="mqtt://127.0.0.1:9",
        spool_path=tmp_path / "spool.db",
        mapping={"zigbee2mqtt": {"sos": "panic-gate", "th": "env-class1"}, "tasmota": {"plug": "env-hall"}},
    )
    return GatewayAgent(cfg)


def _msg(topic: str, raw: bytes) -> mqtt.MQTTMessage:
    m = mqtt.MQTTMessage(topic=topic.encode())
    m.payload = raw
    return m


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    topic=st.sampled_from(
        [
            "zigbee2mqtt/sos",
            "zigbee2mqtt/th",
            "zigbee2mqtt/th/availability",
            "zigbee2mqtt/bridge/state",
            "zigbee2mqtt/bridge/devices",
            "tele/plug/SENSOR",
            "tele/plug/LWT",
            "tele/plug/STATE",
            "stat/plug/STATUS10",
            f"cw/v1/{FAC}/smoke-nap1/event",
        ]
    ),
    raw=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
    ),
)
def test_no_local_message_escapes_the_callback(tmp_path: Path, topic: str, raw: bytes) -> None:
    """Arbitrary bytes and JSON on every local topic: the callback returns, and the next real panic
    is still forwarded (paho's network thread would have died with an exception)."""
    agent = _agent(tmp_path)
    try:
        agent._on_local_message(None, None, _msg(topic, raw))  # type: ignore[arg-type]
        before = len(agent.spool)
        agent._on_local_message(None, None, _msg("zigbee2mqtt/sos", b'{"action":"emergency","battery":null}'))  # type: ignore[arg-type]
        assert len(agent.spool) == before + 1
    finally:
        agent.spool.close()


def _sample(agent: GatewayAgent, name: str, labels: dict[str, str]) -> float:
    return agent.registry.get_sample_value(name, labels) or 0.0


# -- what installers really have (issue #42, deliverable 7) --------------------------------------------------
def test_an_empty_retained_availability_is_cleared_not_malformed(tmp_path: Path) -> None:
    """Deleting a retained availability (an empty retained message) says nothing of the device: no
    status is forwarded, and it is counted as `cleared`, not as a broken payload."""
    agent = _agent(tmp_path)
    try:
        for topic in ("zigbee2mqtt/th/availability", "zigbee2mqtt/bridge/state", "tele/plug/LWT"):
            agent._on_local_message(None, None, _msg(topic, b""))  # type: ignore[arg-type]
        assert len(agent.spool) == 0
        assert _counted(agent)[0] == 0, "nothing malformed"
        assert (
            _sample(agent, "carewatch_gateway_unsupported_total", {"source": "zigbee2mqtt", "reason": "cleared"}) == 2
        )
        assert _sample(agent, "carewatch_gateway_unsupported_total", {"source": "tasmota", "reason": "cleared"}) == 1
    finally:
        agent.spool.close()


HUGE = b"9" * 5000  # json.loads raises ValueError past 4,300 digits (Python's int limit)


@pytest.mark.parametrize(
    ("raw", "refused"),
    [
        (b'{"action":"emergency","voltage":' + HUGE + b',"battery":90}', []),  # a key the gateway ignores
        (b'{"action":"emergency","battery":-' + HUGE + b"}", ["battery must be a finite number"]),  # one it reads
        (b'{"action":"emergency","update":' + b"[" * 5000 + b"]" * 5000 + b"}", ["update is nested deeper"]),
        (b'{"action":"emergency","last_seen":"\xff\xfe"}', ["bytes that are not UTF-8 replaced"]),
    ],
)
def test_a_bad_value_in_a_key_not_needed_never_refuses_the_keys_that_are(
    tmp_path: Path, raw: bytes, refused: list[str]
) -> None:
    """Issue #42: a 5,000-digit number (or another bad value) beside a panic press used to refuse the
    whole message; now it costs its own key, counted in refused keys when it is a key the gateway reads."""
    agent = _agent(tmp_path)
    try:
        agent._on_local_message(None, None, _msg("zigbee2mqtt/sos", raw))  # type: ignore[arg-type]
        [row] = [q for q in agent.spool.peek(10) if q.channel == "event"]
        assert (row.device_id, row.payload["type"]) == ("panic-gate", "panic")
        assert _counted(agent) == (0, 0)
        assert [r[: len(w)] for r, w in zip(agent.z2m.refused, refused, strict=True)] == refused
        n = _sample(agent, "carewatch_gateway_refused_keys_total", {"source": "zigbee2mqtt"})
        assert n == len(refused)
    finally:
        agent.spool.close()


def test_a_huge_number_beside_a_tasmota_reading_costs_that_key_only() -> None:
    t = Tasmota({"kitchen-th": "env-kitchen"})
    raw = b'{"Time":"2026-11-30T08:00:00","AM2301":{"Temperature":24.1,"Humidity":' + HUGE + b'},"TempUnit":"C"}'
    [(dev, ch, body)] = t.convert("kitchen-th", raw)
    assert (dev, ch, body["readings"]) == ("env-kitchen", "telemetry", {"temperature_c": 24.1})
    assert t.refused == ["Humidity must be a finite number"]
