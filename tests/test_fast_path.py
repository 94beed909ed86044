"""The ingest fast path (contract.payloads.parse_fast) accepts exactly what the contract's models
accept for single-sample telemetry, with the same values, and never accepts a batch they refuse.

Property-based: hypothesis builds payloads near every boundary of the schema (lengths, time zones,
metric names, number types, the one-form rule, unknown fields, item shapes) and each is parsed both
ways.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contract.errors import ContractError
from contract.payloads import (
    Batch,
    BatchItem,
    Telemetry,
    TypedBatch,
    parse_fast,
    parse_item,
    parse_payload,
)
from contract.topics import Channel

MISSING = object()
# when the decoding tests' messages arrived: minutes after their fixed own times, so that the decoder's
# bounds hold on any day (issue #35)
ARRIVED = datetime(2026, 11, 28, 8, 5, tzinfo=UTC)

msg_ids = st.one_of(
    st.text(min_size=0, max_size=66),
    st.sampled_from(["m-1", "x" * 64, "x" * 65, ""]),
    st.integers(),
    st.none(),
)
timestamps = st.one_of(
    st.sampled_from(
        [
            "2026-11-28T08:00:00Z",
            "2026-11-28T08:00:00.123456Z",
            "2026-11-28T16:00:00+08:00",
            "2026-11-28T13:30:00+05:30",
            "2026-11-28T08:00:00",  # no offset: refused
            "2026-11-28",
            "yesterday",
            "",
            "0001-01-01T00:00:00Z",
        ]
    ),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.none(),
)
metric_names = st.one_of(
    st.sampled_from(["co2_ppm", "temperature_c", "rh", "Bad", "1abc", "a" * 64, "a" * 65, "", "co2-ppm"]),
    st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True),
)
values: st.SearchStrategy[object] = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
    st.sampled_from(["1.5", None, [], {}]),
)
readings: st.SearchStrategy[object] = st.one_of(
    st.dictionaries(metric_names, values, max_size=3), st.none(), st.just([])
)
samples: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.just([]),
    st.lists(st.fixed_dictionaries({"ts": timestamps, "readings": readings}), min_size=1, max_size=2),
)
extras = st.dictionaries(st.sampled_from(["unit", "seq", "note"]), st.integers(), max_size=2)


@st.composite
def telemetry(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, strategy in (("msg_id", msg_ids), ("ts", timestamps), ("readings", readings), ("samples", samples)):
        value = draw(st.one_of(st.just(MISSING), strategy))
        if value is not MISSING:
            body[key] = value
    body.update(draw(extras))
    return body


@st.composite
def items(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(["telemetry", "other", "junk"]))
    if kind == "junk":
        return draw(st.sampled_from([1, "x", None, [], {"device_id": "d-1"}]))
    device = draw(st.sampled_from(["smoke-1", "env-2", "BAD ID", ""]))
    if kind == "telemetry":
        return {"device_id": device, "channel": "telemetry", "payload": draw(telemetry())}
    channel = draw(st.sampled_from(["event", "status", "access", "batch", "nope"]))
    payload = draw(
        st.sampled_from(
            [
                {"msg_id": "e-1", "ts": "2026-11-28T08:00:00Z", "type": "fire_alarm", "state": "active"},
                {"online": True},
                {"msg_id": "a-1", "ts": "2026-11-28T08:00:00Z", "type": "staff_in", "person_id": "s-1"},
                {"msg_id": "e-2"},
                [],
            ]
        )
    )
    return {"device_id": device, "channel": channel, "payload": payload}


def raw(obj: object) -> bytes:
    return json.dumps(obj).encode()  # allow_nan: NaN/Infinity literals are tried too


def model_telemetry(body: bytes) -> Telemetry | None:
    try:
        t = parse_payload(Channel.TELEMETRY, body)
    except ContractError:
        return None
    assert isinstance(t, Telemetry)
    return t


def same_values(fast: Any, model: Telemetry) -> None:
    assert model.samples is None, "the fast path took a payload the model reads as the samples form"
    assert fast["msg_id"] == model.msg_id
    assert model.ts is not None
    assert fast["ts"] == model.ts and fast["ts"].utcoffset() == model.ts.utcoffset()
    assert fast["readings"] == model.readings
    assert all(type(v) is float and math.isfinite(v) for v in fast["readings"].values())


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(telemetry())
def test_fast_telemetry_accepts_exactly_what_the_model_accepts(body: dict[str, Any]) -> None:
    data = raw(body)
    fast = parse_fast(Channel.TELEMETRY, data)
    model = model_telemetry(data)
    if fast is not None:
        assert model is not None, f"fast path accepted what the model refuses: {body}"
        same_values(fast, model)
    elif model is not None:
        assert model.samples is not None, f"a single-sample telemetry missed the fast path: {body}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(msg_ids, st.just(MISSING)),
    st.one_of(st.lists(items(), min_size=0, max_size=4), st.just({}), st.none()),
)
def test_fast_batch_agrees_with_the_models_item_by_item(batch_id: object, messages: object) -> None:
    body: dict[str, Any] = {"messages": messages}
    if batch_id is not MISSING:
        body["msg_id"] = batch_id
    data = raw(body)
    fast = parse_fast(Channel.BATCH, data)
    try:
        model = parse_payload(Channel.BATCH, data)
    except ContractError:
        assert fast is None, f"fast path accepted a batch the models refuse: {body}"
        return
    assert fast is not None, f"a batch the models accept missed the fast path: {body}"
    assert isinstance(model, Batch | TypedBatch)
    assert fast["msg_id"] == model.msg_id
    fast_items = fast["messages"]  # type: ignore[typeddict-item]
    wanted: list[Any] = list(model.messages)
    assert len(fast_items) == len(wanted)
    for got, want in zip(fast_items, wanted, strict=True):
        if isinstance(got, BatchItem):
            assert got.device_id == want.device_id and got.channel == want.channel
            continue
        # a fast item: the model must see a valid single-sample telemetry with the same values
        assert want.device_id == got["device_id"] and want.channel == "telemetry"
        parsed = parse_item(want) if isinstance(want, BatchItem) else want.payload
        assert isinstance(parsed, Telemetry)
        same_values(got["payload"], parsed)


def test_fast_path_refuses_oversize_and_other_channels() -> None:
    body = {"msg_id": "m", "ts": "2026-11-28T08:00:00Z", "readings": {"co2_ppm": 1}, "pad": "x" * 70_000}
    assert parse_fast(Channel.TELEMETRY, raw(body)) is None
    assert parse_fast(Channel.EVENT, raw({"msg_id": "e"})) is None
    assert parse_fast(Channel.TELEMETRY, raw({**body, "pad": ""})) is not None


def test_decoding_dispatches_on_the_channel_not_on_field_names() -> None:
    """Unknown fields are kept: a telemetry payload may carry one named `messages`."""
    from ingest.decode import decode_batch
    from runtime.mqtt_source import Received

    body = {"msg_id": "m-1", "ts": "2026-11-28T08:00:00Z", "readings": {"co2_ppm": 1}, "messages": [1, 2]}
    d = decode_batch(
        [Received("r/cw/v1/fac-1/env-1/telemetry", raw(body), ARRIVED)],
        lambda _f, _d: True,
        "r/cw/v1",
        gateway=lambda _f, _d: False,
    )
    assert not d.dead, d.dead
    assert [row[3:5] for row in d.readings[("fac-1", "env-1", "m-1")]] == [("co2_ppm", 1.0)]


def test_a_failure_inside_decoding_dead_letters_that_message_only() -> None:
    """Not bad input but a fault of ours (here the registry lookup raises for one device): the
    message is kept as a dead letter with reason `internal`, the others are decoded."""

    from ingest.decode import decode_batch
    from runtime.mqtt_source import Received

    def known(_f: str, d: str) -> bool:
        if d == "env-bad":
            raise RuntimeError("registry cache broken")
        return True

    body = raw({"msg_id": "m-1", "ts": "2026-11-28T08:00:00Z", "readings": {"co2_ppm": 1}})
    msgs = [Received(f"r/cw/v1/fac-1/{d}/telemetry", body, ARRIVED) for d in ("env-1", "env-bad", "env-2")]
    d = decode_batch(msgs, known, "r/cw/v1", gateway=lambda _f, _d: False)
    assert set(d.readings) == {("fac-1", "env-1", "m-1"), ("fac-1", "env-2", "m-1")}
    assert d.dead_reasons == ["internal"]
    assert d.dead[0][1].endswith("/env-bad/telemetry") and d.dead[0][2] == body
    assert "registry cache broken" in str(d.dead[0][4])


@settings(max_examples=300, deadline=None)
@example(ahead_us=600_000_000, offset_h=8, in_batch=False)
@example(ahead_us=600_000_001, offset_h=8, in_batch=False)
@example(ahead_us=-86_400_000_000, offset_h=0, in_batch=True)
@example(ahead_us=-86_400_000_001, offset_h=-5, in_batch=True)
@given(
    ahead_us=st.one_of(
        st.integers(-86_400_000_000 - 2_000_000, -86_400_000_000 + 2_000_000),
        st.integers(600_000_000 - 2_000_000, 600_000_000 + 2_000_000),
        st.integers(-(10**12), 10**12),
    ),
    offset_h=st.sampled_from([0, 8, -5]),
    in_batch=st.booleans(),
)
def test_decoding_keeps_a_message_exactly_when_its_time_is_within_bounds(
    ahead_us: int, offset_h: int, in_batch: bool
) -> None:
    """Ingest checks a message's own time against a window computed once per time of receipt, not
    with TimeBounds.error per message: both must agree to the microsecond, whatever the offset the
    device writes its time in, on its own topic and inside a gateway batch."""
    from datetime import UTC, datetime, timedelta, timezone

    from contract.payloads import TimeBounds
    from ingest.decode import decode_batch
    from runtime.mqtt_source import Received

    bounds = TimeBounds(future_s=600, past_s=86400)
    arrived = datetime(2026, 11, 30, 12, 0, 0, 250_000, tzinfo=UTC)
    ts = (arrived + timedelta(microseconds=ahead_us)).astimezone(timezone(timedelta(hours=offset_h)))
    body = {"msg_id": "m-1", "ts": ts.isoformat(), "readings": {"co2_ppm": 1}}
    if in_batch:
        topic, payload = (
            "r/cw/v1/fac-1/gw-1/batch",
            {"msg_id": "b-1", "messages": [{"device_id": "env-1", "channel": "telemetry", "payload": body}]},
        )
    else:
        topic, payload = "r/cw/v1/fac-1/env-1/telemetry", body
    # the same time of receipt for a message before it, as for messages read together off the wire
    ok = {"msg_id": "m-0", "ts": arrived.isoformat(), "readings": {"co2_ppm": 1}}
    msgs = [Received("r/cw/v1/fac-1/env-1/telemetry", raw(ok), arrived), Received(topic, raw(payload), arrived)]
    d = decode_batch(msgs, lambda _f, _d: True, "r/cw/v1", gateway=lambda _f, d: d == "gw-1", bounds=bounds)
    expected = bounds.error(ts, arrived)
    assert (("fac-1", "env-1", "m-1") in d.readings) is (expected is None)
    assert d.dead_reasons == ([] if expected is None else ["time"])
    if expected is not None:
        assert d.dead[0][4].endswith(str(expected)), d.dead[0][4]
