"""Every rule of CONTRACT §2, each with a valid and an invalid example and its specific reason."""

from __future__ import annotations

import json

import pytest

from contract.errors import ContractError
from contract.payloads import (
    MAX_PAYLOAD_BYTES,
    Access,
    Batch,
    BatchItem,
    Event,
    Status,
    Telemetry,
    TypedBatch,
    parse_item,
    parse_payload,
)
from contract.topics import Channel

TS = "2026-11-28T08:00:00.120Z"


def raw(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def rejects(channel: Channel, payload: bytes, field: str, *fragments: str) -> ContractError:
    with pytest.raises(ContractError) as info:
        parse_payload(channel, payload)
    assert info.value.field == field, str(info.value)
    for frag in fragments:
        assert frag in str(info.value), f"{frag!r} not in {info.value}"
    return info.value


def test_telemetry_single_sample_valid() -> None:
    m = parse_payload(
        Channel.TELEMETRY, raw({"msg_id": "m-1", "ts": TS, "readings": {"temperature_c": 22.5, "co2_ppm": 820}})
    )
    assert isinstance(m, Telemetry)
    [(ts, readings)] = m.iter_samples()
    assert readings == {"temperature_c": 22.5, "co2_ppm": 820.0}
    assert ts.utcoffset() is not None


def test_telemetry_samples_valid_and_limited() -> None:
    samples = [{"ts": "2026-11-28T08:00:00Z", "readings": {"rh": 41}}] * 1000
    m = parse_payload(Channel.TELEMETRY, raw({"msg_id": "m-2", "samples": samples}))
    assert isinstance(m, Telemetry)
    assert len(m.iter_samples()) == 1000
    rejects(
        Channel.TELEMETRY,
        raw({"msg_id": "m-3", "samples": [*samples, samples[0]]}),
        "schema",
        "samples",
        "at most 1000",
    )


def test_bad_json_is_rejected() -> None:
    rejects(Channel.TELEMETRY, b'{"msg_id": "m-1", "ts": ', "json", "not valid JSON")
    rejects(Channel.EVENT, b"\xff\xfe", "json")


def test_payload_must_be_an_object() -> None:
    rejects(Channel.TELEMETRY, b"[1, 2]", "json", "JSON object")


def test_missing_msg_id() -> None:
    rejects(Channel.TELEMETRY, raw({"ts": TS, "readings": {"co2_ppm": 1}}), "schema", "msg_id", "required")
    rejects(Channel.EVENT, raw({"ts": TS, "type": "panic"}), "schema", "msg_id")
    rejects(Channel.ACCESS, raw({"ts": TS, "type": "staff_in", "person_id": "s-1"}), "schema", "msg_id")


def test_msg_id_length() -> None:
    rejects(Channel.EVENT, raw({"msg_id": "x" * 65, "ts": TS, "type": "panic"}), "schema", "msg_id", "64")
    rejects(Channel.EVENT, raw({"msg_id": "", "ts": TS, "type": "panic"}), "schema", "msg_id")


def test_wrong_type() -> None:
    rejects(
        Channel.TELEMETRY,
        raw({"msg_id": "m", "ts": TS, "readings": {"co2_ppm": "820"}}),
        "schema",
        "readings.co2_ppm",
        "valid number",
    )
    rejects(
        Channel.TELEMETRY, raw({"msg_id": "m", "ts": TS, "readings": {"co2_ppm": True}}), "schema", "readings.co2_ppm"
    )
    rejects(Channel.STATUS, raw({"ts": TS, "online": "yes"}), "schema", "online")


def test_timestamp_needs_offset() -> None:
    rejects(
        Channel.TELEMETRY,
        raw({"msg_id": "m", "ts": "2026-11-28T08:00:00", "readings": {"co2_ppm": 1}}),
        "schema",
        "ts",
        "timezone",
    )


def test_metric_name_pattern() -> None:
    rejects(
        Channel.TELEMETRY,
        raw({"msg_id": "m", "ts": TS, "readings": {"Temp C": 1}}),
        "schema",
        "readings.Temp C",
        "pattern",
    )
    # unknown but well-formed metrics are kept
    m = parse_payload(Channel.TELEMETRY, raw({"msg_id": "m", "ts": TS, "readings": {"noise_db": 40}}))
    assert isinstance(m, Telemetry) and m.readings == {"noise_db": 40.0}


def test_telemetry_needs_one_form() -> None:
    rejects(Channel.TELEMETRY, raw({"msg_id": "m", "ts": TS}), "schema", "readings")
    rejects(Channel.TELEMETRY, raw({"msg_id": "m", "readings": {"co2_ppm": 1}}), "schema", "ts")


def test_oversize() -> None:
    big = raw({"msg_id": "m", "ts": TS, "readings": {"co2_ppm": 1}, "pad": "x" * MAX_PAYLOAD_BYTES})
    err = rejects(Channel.TELEMETRY, big, "size", "limit")
    assert str(len(big)) in str(err)


def test_unknown_fields_are_kept() -> None:
    m = parse_payload(Channel.EVENT, raw({"msg_id": "e", "ts": TS, "type": "panic", "vendor": {"x": 1}}))
    assert isinstance(m, Event)
    assert m.model_extra == {"vendor": {"x": 1}}


def test_nul_is_refused_wherever_the_json_hides_it() -> None:
    """PostgreSQL cannot store a NUL: refused in free text, extra fields, keys and batch items, while
    text that only looks like one (an escaped backslash before `u0000`) passes."""
    ev = {"msg_id": "e", "ts": TS, "type": "panic"}
    rejects(Channel.EVENT, raw(ev | {"detail": {"zone": "nap\u0000room"}}), "schema", "detail.zone", "NUL")
    rejects(Channel.EVENT, raw(ev | {"vendor": ["a", "b\u0000"]}), "schema", "vendor.1", "NUL")
    rejects(Channel.EVENT, raw(ev | {"vendor": {"k\u0000": 1}}), "schema", "vendor.<key>", "NUL")
    rejects(Channel.ACCESS, raw({"msg_id": "a", "ts": TS, "type": "denied", "credential": "c\u0000"}), "schema")
    item = {"device_id": "panic-1", "channel": "event", "payload": ev | {"note": "\u0000"}}
    b = parse_payload(Channel.BATCH, raw({"msg_id": "b", "messages": [item]}))
    assert isinstance(b, Batch) and not isinstance(b, TypedBatch), "the NUL item makes the batch loose"
    looks_like = parse_payload(Channel.EVENT, raw(ev | {"detail": {"path": "C:\\u0000"}}))
    assert isinstance(looks_like, Event) and looks_like.detail == {"path": "C:\\u0000"}


def test_event_types_and_state() -> None:
    e = parse_payload(
        Channel.EVENT,
        raw({"msg_id": "e-77", "ts": TS, "type": "fire_alarm", "state": "active", "detail": {"zone": "nap room 1"}}),
    )
    assert isinstance(e, Event) and e.state == "active"
    rejects(Channel.EVENT, raw({"msg_id": "e", "ts": TS, "type": "earthquake", "state": "active"}), "schema", "type")
    rejects(Channel.EVENT, raw({"msg_id": "e", "ts": TS, "type": "fire_alarm"}), "schema", "condition")
    rejects(Channel.EVENT, raw({"msg_id": "e", "ts": TS, "type": "panic", "state": "active"}), "schema", "one-off")
    rejects(Channel.EVENT, raw({"msg_id": "e", "ts": TS, "type": "gas_alarm", "state": "on"}), "schema", "state")


def test_access_types() -> None:
    a = parse_payload(
        Channel.ACCESS,
        raw({"msg_id": "a-9", "ts": TS, "type": "child_out", "person_id": "c-0107", "guardian_id": "g-0107a"}),
    )
    assert isinstance(a, Access) and a.guardian_id == "g-0107a"
    d = parse_payload(Channel.ACCESS, raw({"msg_id": "a", "ts": TS, "type": "denied", "credential": "card:99"}))
    assert isinstance(d, Access)
    rejects(Channel.ACCESS, raw({"msg_id": "a", "ts": TS, "type": "denied"}), "schema", "credential")
    rejects(Channel.ACCESS, raw({"msg_id": "a", "ts": TS, "type": "staff_in"}), "schema", "person_id")
    rejects(Channel.ACCESS, raw({"msg_id": "a", "ts": TS, "type": "teleport", "person_id": "s"}), "schema", "type")


def test_person_id_pattern() -> None:
    rejects(
        Channel.ACCESS,
        raw({"msg_id": "a", "ts": TS, "type": "staff_in", "person_id": "张三"}),
        "schema",
        "person_id",
        "pattern",
    )
    rejects(
        Channel.ACCESS, raw({"msg_id": "a", "ts": TS, "type": "staff_in", "person_id": "s" * 65}), "schema", "person_id"
    )


def test_status_and_last_will() -> None:
    s = parse_payload(
        Channel.STATUS, raw({"ts": TS, "online": True, "battery_pct": 87, "heartbeat_s": 60, "firmware": "1.4.2"})
    )
    assert isinstance(s, Status) and s.battery_pct == 87
    will = parse_payload(Channel.STATUS, raw({"online": False}))
    assert isinstance(will, Status) and will.online is False and will.ts is None
    rejects(Channel.STATUS, raw({"ts": TS}), "schema", "online")
    rejects(Channel.STATUS, raw({"ts": TS, "online": True, "battery_pct": 140}), "schema", "battery_pct")


def test_batch_envelope() -> None:
    inner = {"msg_id": "e-1", "ts": TS, "type": "fire_alarm", "state": "active"}
    b = parse_payload(
        Channel.BATCH,
        raw({"msg_id": "b-5", "messages": [{"device_id": "smoke-nap1", "channel": "event", "payload": inner}]}),
    )
    assert isinstance(b, TypedBatch)  # all items valid: one pass, items already typed
    assert isinstance(b.messages[0].payload, Event)
    # one bad item: the envelope still parses (loosely), so only that item is dead-lettered
    mixed = parse_payload(
        Channel.BATCH,
        raw(
            {
                "msg_id": "b-6",
                "messages": [
                    {"device_id": "smoke-nap1", "channel": "event", "payload": inner},
                    {"device_id": "smoke-nap1", "channel": "event", "payload": {**inner, "state": "on"}},
                ],
            }
        ),
    )
    assert isinstance(mixed, Batch)
    assert isinstance(parse_item(mixed.messages[0]), Event)
    with pytest.raises(ContractError, match="state"):
        parse_item(mixed.messages[1])
    rejects(Channel.BATCH, raw({"msg_id": "b", "messages": []}), "schema", "messages")
    rejects(
        Channel.BATCH,
        raw({"msg_id": "b", "messages": [{"device_id": "d", "channel": "batch", "payload": {}}]}),
        "schema",
        "channel",
    )
    rejects(
        Channel.BATCH,
        raw({"msg_id": "b", "messages": [{"device_id": "BAD ID", "channel": "event", "payload": inner}]}),
        "schema",
        "device_id",
    )


def test_batch_inner_message_validated_like_its_own_topic() -> None:
    bad = BatchItem(device_id="smoke-1", channel="event", payload={"msg_id": "e", "ts": TS, "type": "fire_alarm"})
    with pytest.raises(ContractError) as info:
        parse_item(bad)
    assert "condition" in str(info.value)


def test_time_bounds_at_their_limits() -> None:
    from datetime import UTC, datetime, timedelta

    from contract.payloads import TimeBounds

    b = TimeBounds(future_s=600, past_s=86400)
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert b.error(now + timedelta(seconds=600), now) is None
    assert b.error(now + timedelta(seconds=601), now) is not None
    assert b.error(now - timedelta(seconds=86400), now) is None
    err = b.error(now - timedelta(seconds=86401), now)
    assert err is not None and err.field == "time"
