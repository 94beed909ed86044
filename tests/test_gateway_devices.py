"""Real Zigbee2MQTT and Tasmota payloads (docs/gateway-samples.yaml, each with its source) through the
gateway: as adapters, through the mapping file, and end to end from a local Mosquitto into the
upstream one and the database (issue #14)."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from click.testing import CliRunner

from carewatch.cli import main
from contract.payloads import BatchItem, Event, Status, Telemetry, parse_item
from contract.registry import Registry, parse_registry
from gateway.adapters import AdapterError, Tasmota, Unsupported, Zigbee2Mqtt
from gateway.agent import AgentConfig, GatewayAgent
from gateway.mapping import MappingError, TasmotaDevice, load_mapping
from storage.registry import load_registry
from tests.conftest import Services
from tests.helpers import Publisher, wait_for
from tests.test_ingest import make_service, running
from tests.test_registry import FACILITY

DOCS = Path(__file__).resolve().parent.parent / "docs"
SAMPLES = yaml.safe_load((DOCS / "gateway-samples.yaml").read_text(encoding="utf-8"))
MAPPING = DOCS / "gateway-mapping.example.yaml"
FAC = FACILITY["id"]
EXTRA = {
    "gas-kitchen": "gas_detector",
    "co-boiler": "co_detector",
    "leak-washroom": "env_sensor",
    "exit-1": "exit_door",
    "exit-2": "exit_door",
    "exit-1-lock": "exit_door",
    "env-hall": "env_sensor",
    "plug-kitchen": "env_sensor",
    "env-kitchen": "env_sensor",
    "fridge-milk": "env_sensor",
    "freezer": "env_sensor",
    "env-hall-f": "env_sensor",
    "env-class-co2": "env_sensor",
    "env-nap2": "env_sensor",
    "env-kitchen-zb": "env_sensor",
    "smoke-nap2": "smoke_detector",
    "leak-kitchen": "env_sensor",
    "panic-2": "panic_button",
}

# sample -> what each becomes, in order (conditions are sent on change, so the order matters):
# events as "type:state", statuses as online, telemetry as its readings.
Z2M_EXPECTED: list[tuple[str, list[tuple[str, str, object]]]] = [
    # `output: attribute`: one topic per key, read as the JSON form would be (before any JSON of the
    # button, so that none of them is a copy of one)
    ("sos_attribute_action", [("panic-1", "event", "panic")]),
    ("sos_attribute_battery", [("panic-1", "telemetry", {"battery_pct": 100.0})]),
    ("sos_attribute_null_voltage", []),
    (
        "smoke_on",
        [
            ("smoke-nap1", "event", "fire_alarm:active"),
            ("smoke-nap1", "event", "tamper:cleared"),
            ("smoke-nap1", "event", "battery_low:cleared"),
            ("smoke-nap1", "event", "fault:cleared"),
            ("smoke-nap1", "telemetry", {"battery_pct": 100.0}),
        ],
    ),
    ("smoke_nulls", []),  # null is "unknown": the alarm stands, nothing new to say
    ("smoke_off", [("smoke-nap1", "event", "fire_alarm:cleared"), ("smoke-nap1", "telemetry", {"battery_pct": 100.0})]),
    ("smoke_self_test", [("smoke-nap1", "event", "self_test"), ("smoke-nap1", "telemetry", {"battery_pct": 99.0})]),
    (
        "gas_on",
        [
            ("gas-kitchen", "event", "gas_alarm:active"),
            ("gas-kitchen", "event", "tamper:cleared"),
            ("gas-kitchen", "event", "battery_low:cleared"),
        ],
    ),
    (
        "co_on",
        [
            ("co-boiler", "event", "co_alarm:active"),
            ("co-boiler", "event", "tamper:cleared"),
            ("co-boiler", "event", "battery_low:cleared"),
            ("co-boiler", "telemetry", {"battery_pct": 85.0}),
        ],
    ),
    (
        "water_leak_on",
        [
            ("leak-washroom", "event", "water_leak:active"),
            ("leak-washroom", "event", "tamper:cleared"),
            ("leak-washroom", "event", "battery_low:active"),
            ("leak-washroom", "telemetry", {"battery_pct": 12.0}),
        ],
    ),
    ("sos_press", [("panic-1", "event", "panic"), ("panic-1", "telemetry", {"battery_pct": 100.0})]),
    ("sos_press_null_battery", [("panic-1", "event", "panic")]),
    (
        "exit_open",
        [
            ("exit-1", "event", "tamper:cleared"),
            ("exit-1", "event", "battery_low:cleared"),
            ("exit-1", "event", "door_held_open:active"),
            ("exit-1", "telemetry", {"battery_pct": 91.0}),
        ],
    ),
    ("exit_closed", [("exit-1", "event", "door_held_open:cleared"), ("exit-1", "telemetry", {"battery_pct": 91.0})]),
    (
        "exit_lock_locked",
        [("exit-1-lock", "event", "exit_locked:active"), ("exit-1-lock", "telemetry", {"battery_pct": 80.0})],
    ),
    (
        "exit_lock_unlocked",
        [("exit-1-lock", "event", "exit_locked:cleared"), ("exit-1-lock", "telemetry", {"battery_pct": 80.0})],
    ),
    ("climate", [("env-hall", "telemetry", {"temperature_c": 27.34, "humidity_pct": 44.72})]),
    ("plug", [("plug-kitchen", "telemetry", {"power_w": 12.5})]),
    ("availability_legacy_offline", [("smoke-nap1", "status", False)]),
    ("availability_json_online", [("smoke-nap1", "status", True)]),
    ("bridge_offline_legacy", [("gw-1", "event", "fault:active")]),
    ("bridge_online_json", [("gw-1", "event", "fault:cleared")]),
]
TASMOTA_EXPECTED: list[tuple[str, list[tuple[str, str, object]]]] = [
    ("am2301", [("env-kitchen", "telemetry", {"temperature_c": 24.1, "humidity_pct": 55.0})]),
    # three sensors on one pin, two of them mapped: each to its own device, the third left alone
    (
        "three_ds18b20",
        [("fridge-milk", "telemetry", {"temperature_c": 4.2}), ("freezer", "telemetry", {"temperature_c": -18.5})],
    ),
    ("fahrenheit", [("env-hall-f", "telemetry", {"temperature_c": 22.0})]),
    ("scd30", [("env-class-co2", "telemetry", {"co2_ppm": 1210.0, "temperature_c": 23.1, "humidity_pct": 38.2})]),
    ("switch_open", [("exit-2", "event", "door_held_open:active")]),
    ("lwt_offline", [("env-kitchen", "status", False)]),
    ("lwt_online", [("env-kitchen", "status", True)]),
    ("state", [("env-kitchen", "status", True)]),
    ("status10", [("env-kitchen", "telemetry", {"temperature_c": 24.3, "humidity_pct": 54.0})]),
    # Zigbee devices behind a Tasmota Zigbee bridge, by short address or name
    ("zb_snzb02", [("env-nap2", "telemetry", {"temperature_c": 26.27})]),
    (
        "zb_name_key",
        [("env-kitchen-zb", "telemetry", {"temperature_c": 21.01, "humidity_pct": 53.68, "battery_pct": 98.0})],
    ),
    (
        "zb_device_topic",
        [("env-kitchen-zb", "telemetry", {"temperature_c": 21.4, "humidity_pct": 52.1, "battery_pct": 97.0})],
    ),
    ("zb_fire", [("smoke-nap2", "event", "fire_alarm:active")]),
    ("zb_fire_over", [("smoke-nap2", "event", "fire_alarm:cleared")]),
    ("zb_water", [("leak-kitchen", "event", "water_leak:active")]),
    ("zb_sos", [("panic-2", "event", "panic")]),
]
# Empty messages (a retained message deleted): nothing to forward, counted as `cleared`, never malformed.
CLEARED = [("zigbee2mqtt", "availability_cleared"), ("zigbee2mqtt", "bridge_state_cleared"), ("tasmota", "lwt_cleared")]


def summary(device: str, channel: str, body: dict[str, Any]) -> tuple[str, str, object]:
    """The contract's own reading of one output (it must validate), reduced to what the tables say."""
    p = parse_item(BatchItem(device_id=device, channel=channel, payload={"msg_id": "x", **body}))  # type: ignore[arg-type]
    if isinstance(p, Event):
        return device, channel, p.type.value + (f":{p.state}" if p.state else "")
    if isinstance(p, Status):
        return device, channel, p.online
    assert isinstance(p, Telemetry)
    return device, channel, p.readings


def z2m_topic(sample: dict[str, str], base: str = "zigbee2mqtt") -> str:
    return f"{base}/{sample['topic']}"


def test_every_zigbee2mqtt_sample_becomes_the_right_message() -> None:
    mapping = load_mapping(MAPPING)
    z = Zigbee2Mqtt(mapping.zigbee2mqtt, "gw-1")
    for name, expected in Z2M_EXPECTED:
        s = SAMPLES["zigbee2mqtt"][name]
        got = [summary(*o) for o in z.convert_topic(z2m_topic(s), s["payload"].encode())]
        assert got == expected, name
    assert z.refused == []


def test_every_tasmota_sample_becomes_the_right_message() -> None:
    t = Tasmota(load_mapping(MAPPING).tasmota)
    for name, expected in TASMOTA_EXPECTED:
        s = SAMPLES["tasmota"][name]
        assert t.handles(s["topic"]), name
        got = [summary(*o) for o in t.convert_topic(s["topic"], s["payload"].encode())]
        assert got == expected, name
    with pytest.raises(Unsupported, match="RESULT"):
        t.convert_topic(SAMPLES["tasmota"]["result"]["topic"], SAMPLES["tasmota"]["result"]["payload"].encode())


def test_a_custom_fulltopic_and_base_topic_are_read() -> None:
    """Installers change both: `sonoff/%prefix%/%topic%/` style FullTopics and a per-site base topic."""
    t = Tasmota(load_mapping(MAPPING).tasmota.model_copy(update={"full_topic": "site7/%topic%/%prefix%/"}))
    [(dev, ch, body)] = t.convert_topic(
        "site7/kitchen-th/tele/SENSOR", SAMPLES["tasmota"]["am2301"]["payload"].encode()
    )
    assert (dev, ch, body["readings"]["temperature_c"]) == ("env-kitchen", "telemetry", 24.1)
    assert not t.handles("tele/kitchen-th/SENSOR")
    section = load_mapping(MAPPING).zigbee2mqtt.model_copy(update={"base_topic": "z2m/site7"})
    z = Zigbee2Mqtt(section, "gw-1")
    assert z.handles("z2m/site7/午睡室/烟感") and not z.handles("zigbee2mqtt/午睡室/烟感")
    assert z.subscriptions() == ["z2m/site7/#"]


def test_out_of_range_and_odd_values_lose_that_key_only() -> None:
    z = Zigbee2Mqtt(load_mapping(MAPPING).zigbee2mqtt, "gw-1")
    out = z.convert("hall-th", b'{"temperature": 600, "humidity": 44.0}')
    assert [summary(*o) for o in out] == [("env-hall", "telemetry", {"humidity_pct": 44.0})]
    assert z.refused == ["temperature 600 is outside [-50, 150]"]
    t = Tasmota(load_mapping(MAPPING).tasmota)
    out = t.convert("kitchen-th", b'{"AM2301": {"Temperature": 21.0, "Humidity": 40}, "TempUnit": "K"}')
    assert [summary(*o) for o in out] == [("env-kitchen", "telemetry", {"humidity_pct": 40.0})]
    assert t.refused == ["TempUnit 'K' is neither C nor F: temperatures left out"]


def test_zigbee2mqtt_attribute_output_is_read_as_its_json_form() -> None:
    """`output: attribute` (issue #42): `<name>/action` in plain text is a panic press like
    `{"action": "emergency"}`, and every other key reads as in the JSON form, its checks included."""
    z = Zigbee2Mqtt(load_mapping(MAPPING).zigbee2mqtt, "gw-1")
    for name in ("smoke_attribute_on", "smoke_attribute_tamper"):
        s = SAMPLES["zigbee2mqtt"][name]
        [out] = z.convert_topic(z2m_topic(s), s["payload"].encode())
        assert (
            summary(*out)
            == {
                "smoke_attribute_on": ("smoke-nap1", "event", "fire_alarm:active"),
                "smoke_attribute_tamper": ("smoke-nap1", "event", "tamper:cleared"),
            }[name]
        )
    assert z.convert_topic("zigbee2mqtt/午睡室/烟感/smoke", b"true") == [], "unchanged: nothing new to say"
    [press] = z.convert_topic("zigbee2mqtt/大门SOS/action", b"sos")
    assert summary(*press) == ("panic-1", "event", "panic")
    assert z.convert_topic("zigbee2mqtt/大门SOS/action", b"single") == [], "not one of this button's panic actions"
    out = z.convert_topic("zigbee2mqtt/hall-th/temperature", b"21.5")
    assert [summary(*o) for o in out] == [("env-hall", "telemetry", {"temperature_c": 21.5})]
    with pytest.raises(AdapterError, match="smoke must be true or false"):
        z.convert_topic("zigbee2mqtt/午睡室/烟感/smoke", b"yes")
    with pytest.raises(Unsupported, match="not in the mapping") as err:
        z.convert_topic("zigbee2mqtt/new-pairing/action", b"emergency")
    assert err.value.reason == "unmapped"


def test_attribute_copies_of_a_json_message_are_not_read_twice() -> None:
    """`output: attribute_and_json` publishes the JSON and then each key again; with `output: json`
    Home Assistant's device trigger repeats `action` on `<name>/action`. One press is one panic; a
    press that comes only as an attribute is still read."""
    z = Zigbee2Mqtt(load_mapping(MAPPING).zigbee2mqtt, "gw-1")
    s = SAMPLES["zigbee2mqtt"]["sos_press"]
    out = z.convert_topic(z2m_topic(s), s["payload"].encode())
    assert [summary(*o) for o in out] == [
        ("panic-1", "event", "panic"),
        ("panic-1", "telemetry", {"battery_pct": 100.0}),
    ]
    for key, text in json.loads(s["payload"]).items():
        with pytest.raises(Unsupported) as err:
            z.convert_topic(f"zigbee2mqtt/大门SOS/{key}", str(text).encode())
        assert err.value.reason == "attribute_copy"
    [again] = z.convert_topic("zigbee2mqtt/大门SOS/action", b"emergency")  # no JSON before it: a press
    assert summary(*again) == ("panic-1", "event", "panic")
    z.convert_topic(z2m_topic(s), s["payload"].encode())
    [other] = z.convert_topic("zigbee2mqtt/大门SOS/battery", b"99")  # not what the JSON said: read
    assert summary(*other) == ("panic-1", "telemetry", {"battery_pct": 99.0})


def test_tasmota_zigbee_bridge_devices_by_address_or_name() -> None:
    """A Tasmota Zigbee bridge's ZbReceived: the device found by its key, `Device` or `Name` (short
    addresses in any case); an unmapped device is counted, never guessed; `Power` is not watts; a bad
    alarm value costs that key; the bridge's LWT and STATE speak for the bridge only."""
    section = load_mapping(MAPPING).tasmota
    t = Tasmota(section)
    with pytest.raises(Unsupported, match="motion_sensor") as err:
        t.convert_topic("tele/zbbridge/SENSOR", SAMPLES["tasmota"]["zb_motion"]["payload"].encode())
    assert err.value.reason == "unmapped"
    raw = (
        b'{"ZbReceived":{"0x7E14":{"Device":"0x7E14","Water":"wet","Battery":55,"LinkQuality":9},'
        b'"0x9999":{"Temperature":3}}}'
    )
    out = t.convert_topic("tele/zbbridge/SENSOR", raw)
    assert [summary(*o) for o in out] == [("leak-kitchen", "telemetry", {"battery_pct": 55.0})]
    assert t.refused == ["Water must be 0 or 1", "zigbee device 0x9999 is not in the mapping file"]
    # SetOption100: the same without the ZbReceived wrapper
    out = t.convert_topic("tele/zbbridge/SENSOR", b'{"0x2916":{"Device":"0x2916","Humidity":47.73}}')
    assert [summary(*o) for o in out] == [("env-nap2", "telemetry", {"humidity_pct": 47.73})]
    assert t.convert_topic("tele/zbbridge/LWT", b"Offline") == []
    assert t.convert_topic("tele/zbbridge/STATE", SAMPLES["tasmota"]["state"]["payload"].encode()) == []
    plug = section.model_copy(update={"devices": [TasmotaDevice(topic="zbbridge", zigbee="SHP15", device="plug-1")]})
    with_plug = Tasmota(plug)
    out = with_plug.convert_topic("tele/zbbridge/SENSOR", SAMPLES["tasmota"]["zb_plug_power"]["payload"].encode())
    assert [summary(*o) for o in out] == [("plug-1", "telemetry", {"power_w": 0.0})]
    with pytest.raises(ValueError, match="no sensor or switch"):
        TasmotaDevice(topic="zbbridge", zigbee="0x1", sensor="AM2301", device="x-1")


def test_empty_retained_messages_are_cleared() -> None:
    z = Zigbee2Mqtt(load_mapping(MAPPING).zigbee2mqtt, "gw-1")
    t = Tasmota(load_mapping(MAPPING).tasmota)
    for source, name in CLEARED:
        s = SAMPLES[source][name]
        adapter, topic = (z, z2m_topic(s)) if source == "zigbee2mqtt" else (t, s["topic"])
        with pytest.raises(Unsupported) as err:
            adapter.convert_topic(topic, s["payload"].encode())
        assert err.value.reason == "cleared", name


def test_a_mapping_file_error_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text(
        "facility: xz-140902-0001\n"
        "zigbee2mqtt:\n"
        "  devices:\n"
        "    nap-smoke: smoke-nap1\n"
        "    sos:\n"
        "      device: Panic Button\n"  # line 6: not a device id
        "tasmota:\n"
        "  devices:\n"
        "    - {topic: kitchen/th, device: env-kitchen}\n"  # line 9: a topic of two levels
        "    - {topic: hall, device: smoke-nap1}\n",
        encoding="utf-8",
    )
    with pytest.raises(MappingError) as err:
        load_mapping(bad)
    text = str(err.value)
    assert f"{bad}:6: zigbee2mqtt.devices.sos.device" in text
    assert f"{bad}:9: tasmota.devices.0.topic" in text
    bad.write_text("zigbee2mqtt:\n  devices: {a: smoke-nap1, b: smoke-nap1}\n", encoding="utf-8")
    with pytest.raises(MappingError, match="mapped twice"):
        load_mapping(bad)
    bad.write_text("zigbee2mqtt: [\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"m.yaml:2: not valid YAML"):
        load_mapping(bad)


def test_gateway_check_reports_errors_and_passes_a_good_file(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["gateway", "check", str(MAPPING)])
    assert ok.exit_code == 0, ok.output
    assert "9 zigbee2mqtt and 11 tasmota devices" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasmota:\n  full_topic: '%topic%/'\n", encoding="utf-8")
    res = runner.invoke(main, ["gateway", "check", str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:2: tasmota.full_topic" in res.output


def registry() -> Registry:
    fac = copy.deepcopy(FACILITY)
    fac["devices"] += [{"id": d, "type": t, "location": "test"} for d, t in EXTRA.items()]
    return parse_registry({"facilities": [fac]})


def agent_config(services: Services, topic_root: str, spool: Path, prefix: str) -> AgentConfig:
    m = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    m["zigbee2mqtt"]["base_topic"] = f"{prefix}/zigbee2mqtt"
    m["tasmota"]["full_topic"] = f"{prefix}/%prefix%/%topic%/"
    return AgentConfig(
        facility_id=FAC,
        upstream_url=services.mqtt_url,
        local_url=services.mqtt_url,
        root=topic_root,
        local_root=f"{prefix}/cw/v1",
        spool_path=spool,
        mapping=m,
    )


def start(cfg: AgentConfig) -> tuple[GatewayAgent, threading.Thread]:
    agent = GatewayAgent(cfg)
    t = threading.Thread(target=agent.run, name="test-gateway-devices", daemon=True)
    t.start()
    return agent, t


async def test_samples_go_end_to_end_into_the_database(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str, tmp_path: Path
) -> None:
    """Every sample, published in the tables' order on a real local broker, becomes exactly the rows
    the tables say upstream (through a real ingest into the database); what is not device output is
    counted with its reason; nothing is dead-lettered."""
    await load_registry(db, registry())
    prefix = f"site-{uuid.uuid4().hex[:8]}"
    cfg = agent_config(services, topic_root, tmp_path / "spool.sqlite3", prefix)
    pub = Publisher(*services.mqtt_host_port)
    expected = [o for _, outs in Z2M_EXPECTED + TASMOTA_EXPECTED for o in outs]
    want_events = sorted(f"{d} {x}" for d, ch, x in expected if ch == "event")
    # device_status logs a device's first status and then its changes (migration 013)
    want_status = sorted(_changes([(d, x) for d, ch, x in expected if ch == "status"]))
    want_readings = sorted(f"{d} {m} {v}" for d, ch, x in expected if ch == "telemetry" for m, v in x.items())  # type: ignore[attr-defined]
    agent, thread = start(cfg)
    try:
        await wait_for(lambda: asyncio.sleep(0, result=agent.upstream_connected.is_set()), 10, "agent up")
        await asyncio.sleep(0.5)  # its local subscriptions
        async with running(make_service(services, db_url, topic_root)):
            for name, _ in Z2M_EXPECTED:
                s = SAMPLES["zigbee2mqtt"][name]
                pub.publish(f"{prefix}/zigbee2mqtt/{s['topic']}", s["payload"].encode())
            for name, _ in TASMOTA_EXPECTED:
                s = SAMPLES["tasmota"][name]
                pub.publish(f"{prefix}/{s['topic']}", s["payload"].encode())
            s = SAMPLES["tasmota"]["result"]
            pub.publish(f"{prefix}/{s['topic']}", s["payload"].encode())
            for source, name in CLEARED:
                s = SAMPLES[source][name]
                topic = f"{prefix}/zigbee2mqtt/{s['topic']}" if source == "zigbee2mqtt" else f"{prefix}/{s['topic']}"
                pub.publish(topic, s["payload"].encode())
            pub.publish(f"{prefix}/zigbee2mqtt/bridge/logging", b'{"level":"info","message":"x"}')
            pub.publish(f"{prefix}/zigbee2mqtt/new-pairing", b'{"smoke":true}')
            pub.flush()

            async def landed() -> bool:
                n = await db.fetchval("SELECT count(*) FROM events")
                r = await db.fetchval("SELECT count(*) FROM readings")
                return bool(n >= len(want_events) and r >= len(want_readings))

            await wait_for(landed, 30, "every sample stored")
            await asyncio.sleep(1.0)  # anything more would be a fault
    finally:
        agent.stop()
        await asyncio.to_thread(thread.join, 10)
        pub.close()
    events = await db.fetch("SELECT device_id, type, state FROM events")
    got_events = sorted(f"{r['device_id']} {r['type']}" + (f":{r['state']}" if r["state"] else "") for r in events)
    assert got_events == want_events
    statuses = await db.fetch("SELECT device_id, online FROM device_status WHERE device_id <> 'gw-1' ORDER BY time")
    assert sorted(_changes([(r["device_id"], r["online"]) for r in statuses])) == want_status
    readings = await db.fetch("SELECT device_id, metric, value FROM readings")
    assert sorted(f"{r['device_id']} {r['metric']} {r['value']}" for r in readings) == want_readings
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0
    unsupported = {
        (s.labels["source"], s.labels["reason"])
        for m in agent.registry.collect()
        if m.name == "carewatch_gateway_unsupported"
        for s in m.samples
        if s.name.endswith("_total") and s.value
    }
    assert unsupported == {
        ("tasmota", "topic"),
        ("tasmota", "cleared"),
        ("zigbee2mqtt", "bridge"),
        ("zigbee2mqtt", "unmapped"),
        ("zigbee2mqtt", "cleared"),
    }
    malformed = [m for m in agent.registry.collect() if m.name == "carewatch_gateway_malformed"]
    assert not [s for m in malformed for s in m.samples if s.value], "nothing above is malformed"


CRASH_INPUTS = [
    b"[" * 100_000 + b"]" * 100_000,  # nested deeper than any parser's stack
    b'{"smoke": ' + b"9" * 5000 + b"}",  # an integer of thousands of digits
    b'{"smoke": true, "battery": NaN}',
    b"\xff\xfe not utf-8",
    b"x" * 70_000,
]


async def test_after_each_crash_input_a_real_smoke_alarm_is_forwarded_also_after_a_restart(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str, tmp_path: Path
) -> None:
    """Issue #14's poison messages: after each, the next real smoke alarm reaches the database within
    a few seconds (2 s for the gateway's part; ingest and the database add their own); the poison is
    acknowledged, so a restarted gateway does not choke on it again."""
    await load_registry(db, registry())
    prefix = f"site-{uuid.uuid4().hex[:8]}"
    cfg = agent_config(services, topic_root, tmp_path / "spool.sqlite3", prefix)
    smoke = f"{prefix}/zigbee2mqtt/午睡室/烟感"
    pub = Publisher(*services.mqtt_host_port)
    agent, thread = start(cfg)
    try:
        async with running(make_service(services, db_url, topic_root)):
            await wait_for(lambda: asyncio.sleep(0, result=agent.upstream_connected.is_set()), 10, "agent up")
            await asyncio.sleep(0.5)
            for round_ in range(2):
                for i, poison in enumerate(CRASH_INPUTS):
                    pub.publish(smoke, poison)
                    state = json.dumps({"smoke": (i + round_) % 2 == 0, "battery": 90}).encode()
                    pub.publish(smoke, state)
                    pub.flush()
                    want = "active" if (i + round_) % 2 == 0 else "cleared"
                    t0 = time.monotonic()

                    async def arrived(want: str = want) -> bool:
                        last = await db.fetchval(
                            "SELECT state FROM events WHERE device_id = 'smoke-nap1' AND type = 'fire_alarm'"
                            " ORDER BY received_at DESC LIMIT 1"
                        )
                        return bool(last == want)

                    await wait_for(arrived, 10, f"smoke {want} after poison {i} (round {round_})")
                    assert time.monotonic() - t0 < 10
                if round_ == 0:  # the gateway restarts: its persistent local session must not replay poison
                    agent.stop()
                    await asyncio.to_thread(thread.join, 10)
                    agent, thread = start(cfg)
                    up = agent.upstream_connected
                    await wait_for(lambda up=up: asyncio.sleep(0, result=up.is_set()), 10, "agent up")  # type: ignore[misc]
                    await asyncio.sleep(0.5)
    finally:
        agent.stop()
        await asyncio.to_thread(thread.join, 10)
        pub.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the bug, on purpose
async def test_a_dead_network_loop_is_restarted_by_the_watchdog(
    services: Services, db_url: str, db: asyncpg.Connection, topic_root: str, tmp_path: Path
) -> None:
    """An exception that escapes a callback ends paho's network thread (a library bug, or code of ours
    that forgot the catch-all): the agent would look up and forward nothing ever again."""
    await load_registry(db, registry())
    prefix = f"site-{uuid.uuid4().hex[:8]}"
    cfg = agent_config(services, topic_root, tmp_path / "spool.sqlite3", prefix)
    pub = Publisher(*services.mqtt_host_port)
    agent, thread = start(cfg)
    real = agent._local.on_message
    blown = threading.Event()

    def explode(*_a: object) -> None:
        blown.set()
        agent._local.on_message = real
        raise RuntimeError("a bug in a callback")

    try:
        async with running(make_service(services, db_url, topic_root)):
            await wait_for(lambda: asyncio.sleep(0, result=agent.upstream_connected.is_set()), 10, "agent up")
            await asyncio.sleep(0.5)
            agent._local.on_message = explode
            pub.publish(f"{prefix}/zigbee2mqtt/hall-th", b'{"temperature": 20.0}')
            pub.flush()
            await wait_for(lambda: asyncio.sleep(0, result=blown.is_set()), 10, "the loop hit the bug")
            pub.publish(f"{prefix}/zigbee2mqtt/午睡室/烟感", b'{"smoke": true}')
            pub.flush()

            async def fired() -> bool:
                return bool(
                    await db.fetchval("SELECT count(*) FROM events WHERE type = 'fire_alarm' AND state = 'active'")
                )

            await wait_for(fired, 15, "the smoke alarm after the loop was restarted")
    finally:
        agent.stop()
        await asyncio.to_thread(thread.join, 10)
        pub.close()
    restarts = agent.registry.get_sample_value("carewatch_gateway_loop_restarts_total", {"side": "local"})
    assert restarts == 1


def test_gateway_check_lists_local_devices_the_file_does_not_map(services: Services, tmp_path: Path) -> None:
    """What the local broker knows (Zigbee2MQTT's retained device list, Tasmota's retained LWT and
    discovery records) against the file: a detector paired but not mapped is one nobody hears."""
    prefix = f"site-{uuid.uuid4().hex[:8]}"
    m = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    m["zigbee2mqtt"]["base_topic"] = f"{prefix}/zigbee2mqtt"
    m["tasmota"]["full_topic"] = f"{prefix}/%prefix%/%topic%/"
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(m, allow_unicode=True), encoding="utf-8")
    bridge_devices = [
        {"friendly_name": "Coordinator", "type": "Coordinator", "ieee_address": "0x00124b0000000000"},
        {"friendly_name": "午睡室/烟感", "type": "EndDevice", "ieee_address": "0x00158d0001000001"},
        {"friendly_name": "0x00158d0001abcdef", "type": "EndDevice", "ieee_address": "0x00158d0001abcdef"},
    ]
    pub = Publisher(*services.mqtt_host_port)
    retained = [
        (f"{prefix}/zigbee2mqtt/bridge/devices", json.dumps(bridge_devices).encode()),
        (f"{prefix}/tele/kitchen-th/LWT", b"Online"),
        (f"{prefix}/tele/boiler-plug/LWT", b"Online"),
    ]
    try:
        for topic, body in retained:
            pub.client.publish(topic, body, qos=1, retain=True).wait_for_publish(10)
        res = CliRunner().invoke(main, ["gateway", "check", str(path), "--local", services.mqtt_url, "--listen", "1.5"])
    finally:
        for topic, _ in retained:  # retained messages outlive the test: clear them
            pub.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
        pub.close()
    assert res.exit_code == 0, res.output
    assert "not mapped: zigbee2mqtt 0x00158d0001abcdef" in res.output
    assert "not mapped: tasmota boiler-plug" in res.output
    assert "烟感" not in res.output and "kitchen-th" not in res.output and "Coordinator" not in res.output


def _changes(seq: list[tuple[str, object]]) -> list[str]:
    """Each device's online flag where it changes (its first one included), as `device flag`."""
    last: dict[str, object] = {}
    out = []
    for dev, online in seq:
        if last.get(dev, object()) != online:
            out.append(f"{dev} {online}")
        last[dev] = online
    return out
