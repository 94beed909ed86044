"""Turning received MQTT messages into rows (pure logic, no I/O).

Every message becomes either rows for the time-series tables or a dead letter with a reason;
nothing is dropped. Deduplication against history happens in the writer; duplicates within one
batch are removed here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from gateway.errors import ContractError
from gateway.payloads import Access, Batch, Event, Payload, Status, Telemetry, TypedBatch, parse_item, parse_payload
from gateway.topics import Channel, parse_topic


@dataclass(frozen=True, slots=True)
class Received:
    """One MQTT message as it came off the wire."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    generation: int = 0  # which broker connection delivered it (acks go only to the same one)


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
    times: dict[tuple[str, str, str], datetime] = field(default_factory=dict)  # each message's own time
    dead: list[tuple[object, ...]] = field(default_factory=list)  # (received_at, topic, raw, reason, detail, fac)
    dead_reasons: list[str] = field(default_factory=list)
    devices: dict[tuple[str, str], DeviceSeen] = field(default_factory=dict)
    duplicates_in_batch: int = 0
    lags: list[float] = field(default_factory=list)

    def message_keys(self) -> set[tuple[str, str, str]]:
        return set(self.readings) | set(self.events) | set(self.access) | set(self.status)


KnownDevice = Callable[[str, str], bool]


def _json(p: Payload) -> str:
    return json.dumps(p.model_dump(mode="json", exclude_none=True), ensure_ascii=False, separators=(",", ":"))


def decode_batch(messages: Iterable[Received], known: KnownDevice, root: str) -> Decoded:
    out = Decoded()
    for m in messages:
        try:
            topic = parse_topic(m.topic, root)
        except ContractError as err:
            out.dead.append((m.received_at, m.topic, m.payload, err.field, str(err), None))
            out.dead_reasons.append(err.field)
            continue
        fac, dev = topic.facility_id, topic.device_id
        if not known(fac, dev):
            reason = "unknown_device" if known(fac, "") else "unknown_facility"
            what = f"device {dev!r} of facility {fac!r}" if reason == "unknown_device" else f"facility {fac!r}"
            out.dead.append((m.received_at, m.topic, m.payload, reason, f"{what} is not in the registry", fac))
            out.dead_reasons.append(reason)
            continue
        try:
            payload = parse_payload(topic.channel, m.payload)
        except ContractError as err:
            out.dead.append((m.received_at, m.topic, m.payload, err.field, str(err), fac))
            out.dead_reasons.append(err.field)
            continue
        if isinstance(payload, TypedBatch):
            _add_typed_batch(out, m, fac, dev, payload, known)
        elif isinstance(payload, Batch):
            _add_batch(out, m, fac, dev, payload, known)
        else:
            _add(out, m, fac, dev, topic.channel, payload)
    return out


def _add_typed_batch(out: Decoded, m: Received, fac: str, gw: str, batch: TypedBatch, known: KnownDevice) -> None:
    _seen(out, fac, gw, m.received_at)
    for i, item in enumerate(batch.messages):
        if known(fac, item.device_id):
            _add(out, m, fac, item.device_id, Channel(item.channel), item.payload)
        else:
            _dead_unknown_item(out, m, fac, i, item.device_id, item.channel, item.payload.model_dump(mode="json"))


def _dead_unknown_item(
    out: Decoded, m: Received, fac: str, i: int, dev: str, channel: str, payload: dict[str, object]
) -> None:
    out.dead.append(
        (
            m.received_at,
            f"{m.topic}#{i}:{dev}/{channel}",
            json.dumps(payload).encode(),
            "unknown_device",
            f"batch item {i}: device {dev!r} of facility {fac!r} is not in the registry",
            fac,
        )
    )
    out.dead_reasons.append("unknown_device")


def _add_batch(out: Decoded, m: Received, fac: str, gw: str, batch: Batch, known: KnownDevice) -> None:
    _seen(out, fac, gw, m.received_at)
    for i, item in enumerate(batch.messages):
        inner_topic = f"{m.topic}#{i}:{item.device_id}/{item.channel}"
        if not known(fac, item.device_id):
            _dead_unknown_item(out, m, fac, i, item.device_id, item.channel, item.payload)
            continue
        try:
            payload = parse_item(item)
        except ContractError as err:
            out.dead.append(
                (
                    m.received_at,
                    inner_topic,
                    json.dumps(item.payload).encode(),
                    err.field,
                    f"batch item {i}: {err}",
                    fac,
                )
            )
            out.dead_reasons.append(err.field)
            continue
        _add(out, m, fac, item.device_id, Channel(item.channel), payload)


def _seen(out: Decoded, fac: str, dev: str, at: datetime, online: bool = True) -> DeviceSeen:
    d = out.devices.get((fac, dev))
    if d is None:
        d = out.devices[(fac, dev)] = DeviceSeen(last_seen_at=at, online=online)
    else:
        d.last_seen_at = max(d.last_seen_at, at)
        d.online = online
    return d


def _add(out: Decoded, m: Received, fac: str, dev: str, channel: Channel, p: Payload) -> None:
    at = m.received_at
    if isinstance(p, Status):
        ts = p.ts or at
        key = (fac, dev, f"status:{ts.isoformat()}")
        if key in out.status:
            out.duplicates_in_batch += 1
            return
        out.status[key] = (ts, fac, dev, p.online, p.battery_pct, p.heartbeat_s, p.firmware, _json(p))
        out.times[key] = ts
        d = _seen(out, fac, dev, at, p.online)
        d.status_at, d.battery_pct, d.heartbeat_s, d.firmware = ts, p.battery_pct, p.heartbeat_s, p.firmware
        return
    assert isinstance(p, Telemetry | Event | Access)  # noqa: S101 - Batch handled by the caller
    key = (fac, dev, p.msg_id)
    if key in out.readings or key in out.events or key in out.access:
        out.duplicates_in_batch += 1
        return
    _seen(out, fac, dev, at)
    if isinstance(p, Telemetry):
        rows: list[tuple[object, ...]] = []
        samples = p.iter_samples()
        for ts, readings in samples:
            rows.extend((ts, fac, dev, metric, value, p.msg_id) for metric, value in readings.items())
            out.lags.append((at - ts).total_seconds())
        out.readings[key] = rows
        out.times[key] = samples[0][0]
    elif isinstance(p, Event):
        out.events[key] = (p.ts, fac, dev, p.msg_id, p.type.value, p.state, _json(p), at)
        out.times[key] = p.ts
        out.lags.append((at - p.ts).total_seconds())
    else:
        out.access[key] = (p.ts, fac, dev, p.msg_id, p.type.value, p.person_id, p.guardian_id, _json(p), at)
        out.times[key] = p.ts
        out.lags.append((at - p.ts).total_seconds())
