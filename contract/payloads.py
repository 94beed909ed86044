"""Payload models for every MQTT channel of CONTRACT §2, and the one parser that uses them.

Unknown fields are kept (`extra="allow"`), never rejected. Every invalid payload raises
ContractError with a specific, human-readable reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
    with_config,
)
from typing_extensions import TypedDict

from contract.errors import ContractError
from contract.ids import NO_NUL, DeviceId, MetricName, MsgId, PersonId
from contract.retention import READINGS_KEPT_S
from contract.topics import Channel

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_SAMPLES = 1000

# A JSON number (int or float, finite); booleans and numeric strings are rejected.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Readings = Annotated[dict[MetricName, Number], Field(min_length=1)]

KNOWN_METRICS = frozenset(
    {
        "temperature_c",
        "humidity_pct",
        "co2_ppm",
        "pm25_ugm3",
        "co_ppm",
        "gas_lel_pct",
        "extinguisher_pressure_mpa",
        "water_pressure_mpa",
        "battery_pct",
        "signal_dbm",
        # a counting camera's adults in its view (CONTRACT §2; the registry's counts_adults)
        "adults_count",
    }
)


class EventType(StrEnum):
    FIRE_ALARM = "fire_alarm"
    GAS_ALARM = "gas_alarm"
    CO_ALARM = "co_alarm"
    PANIC = "panic"
    FAULT = "fault"
    TAMPER = "tamper"
    POWER_FAIL = "power_fail"
    DOOR_FORCED = "door_forced"
    DOOR_HELD_OPEN = "door_held_open"
    EXIT_LOCKED = "exit_locked"
    EXIT_BLOCKED = "exit_blocked"
    SELF_TEST = "self_test"
    WATER_LEAK = "water_leak"
    BATTERY_LOW = "battery_low"  # a device's own low-battery flag, when it reports no percentage


# Conditions carry `state`; one-off events do not (CONTRACT §2 event).
ONE_OFF_EVENTS = frozenset({EventType.PANIC, EventType.DOOR_FORCED, EventType.SELF_TEST})


class AccessType(StrEnum):
    STAFF_IN = "staff_in"
    STAFF_OUT = "staff_out"
    CHILD_IN = "child_in"
    CHILD_OUT = "child_out"
    VISITOR_IN = "visitor_in"
    VISITOR_OUT = "visitor_out"
    DENIED = "denied"
    PATROL = "patrol"


NUL_REFUSED = "text holds a NUL character (\\u0000), which cannot be stored"


# Validation context of JSON bytes that cannot hold a NUL: JSON writes one only as the escape \u0000
# (a raw NUL byte is not valid JSON inside a string, and is looked for too).
_NUL_FREE = "nul_free"


def _nul_context(raw: bytes) -> dict[str, bool] | None:
    return None if b"\\u0000" in raw or b"\x00" in raw else {_NUL_FREE: True}


def _nul_at(value: object, where: str) -> str | None:
    """Where a NUL character sits in a JSON value (keys included), or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            if "\x00" in str(k):
                return f"{where}.<key>"
            if (found := _nul_at(v, f"{where}.{k}")) is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if (found := _nul_at(v, f"{where}.{i}")) is not None:
                return found
    return None


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="after")
    def _no_nul(self, info: ValidationInfo) -> _Payload:
        """Free text (extra fields, `detail`, `credential`, `firmware`) may not hold a NUL character,
        which PostgreSQL cannot store; the typed fields' own patterns refuse it already. `parse_payload`
        skips the walk for JSON whose bytes hold no NUL at all (a fifth of the alert engine's and
        ingest's parse time, measured by cProfile on the truth bench)."""
        if info.context is not None and info.context.get(_NUL_FREE):
            return self
        free = {name: getattr(self, name, None) for name in ("credential", "firmware", "detail")}
        for name, value in (free | dict(self.model_extra or {})).items():
            if (found := name if "\x00" in name else _nul_at(value, name)) is not None:
                raise ValueError(f"{found}: {NUL_REFUSED}")
        return self


class Sample(_Payload):
    ts: AwareDatetime
    readings: Readings


class Telemetry(_Payload):
    """Either one sample (`ts` + `readings`) or `samples` (1 to 1,000)."""

    msg_id: MsgId
    ts: AwareDatetime | None = None
    readings: Readings | None = None
    samples: Annotated[list[Sample], Field(min_length=1, max_length=MAX_SAMPLES)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Telemetry:
        single = self.readings is not None
        if single and self.samples is not None:
            raise ValueError("give either readings (with ts) or samples, not both")
        if not single and self.samples is None:
            raise ValueError("telemetry needs readings (with ts) or samples")
        if single and self.ts is None:
            raise ValueError("readings need a ts")
        return self

    def iter_samples(self) -> list[tuple[datetime, dict[str, float]]]:
        if self.samples is not None:
            return [(s.ts, s.readings) for s in self.samples]
        assert self.ts is not None and self.readings is not None  # noqa: S101 - guaranteed by _one_form
        return [(self.ts, self.readings)]


class Event(_Payload):
    msg_id: MsgId
    ts: AwareDatetime
    type: EventType
    state: Literal["active", "cleared"] | None = None
    detail: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _state_fits_type(self) -> Event:
        if self.type in ONE_OFF_EVENTS and self.state is not None:
            raise ValueError(f"{self.type.value} is a one-off event and carries no state")
        if self.type not in ONE_OFF_EVENTS and self.state is None:
            raise ValueError(f"{self.type.value} is a condition: state must be 'active' or 'cleared'")
        return self


class Access(_Payload):
    msg_id: MsgId
    ts: AwareDatetime
    type: AccessType
    person_id: PersonId | None = None
    guardian_id: PersonId | None = None
    credential: Annotated[str, Field(min_length=1, max_length=128)] | None = None

    @model_validator(mode="after")
    def _fields_fit_type(self) -> Access:
        if self.type is AccessType.DENIED:
            if self.credential is None:
                raise ValueError("denied needs credential (what was presented)")
        elif self.person_id is None:
            raise ValueError(f"{self.type.value} needs person_id")
        # child_out without guardian_id is valid input: the unauthorized_pickup rule flags it.
        return self


class Status(_Payload):
    """Retained device status; `{"online": false}` alone is the Last Will (no ts)."""

    ts: AwareDatetime | None = None
    online: StrictBool
    battery_pct: Annotated[Number, Field(ge=0, le=100)] | None = None
    heartbeat_s: Annotated[StrictInt, Field(gt=0, le=86400)] | None = None
    firmware: Annotated[str, Field(max_length=64)] | None = None


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    device_id: DeviceId
    channel: Literal["telemetry", "event", "access", "status"]
    payload: dict[str, Any]


class Batch(_Payload):
    msg_id: MsgId
    messages: Annotated[list[BatchItem], Field(min_length=1)]


class _TelemetryItem(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    device_id: DeviceId
    channel: Literal["telemetry"]
    payload: Telemetry


class _EventItem(_TelemetryItem):
    channel: Literal["event"]  # type: ignore[assignment]
    payload: Event  # type: ignore[assignment]


class _AccessItem(_TelemetryItem):
    channel: Literal["access"]  # type: ignore[assignment]
    payload: Access  # type: ignore[assignment]


class _StatusItem(_TelemetryItem):
    channel: Literal["status"]  # type: ignore[assignment]
    payload: Status  # type: ignore[assignment]


TypedItem = Annotated[_TelemetryItem | _EventItem | _AccessItem | _StatusItem, Field(discriminator="channel")]


class TypedBatch(_Payload):
    """The fast path for a batch whose every item is valid: one validation pass, items typed.

    When any item is invalid, parse_payload falls back to Batch and items are validated one by
    one, so that only the bad ones are dead-lettered.
    """

    msg_id: MsgId
    messages: Annotated[list[TypedItem], Field(min_length=1)]


Payload = Telemetry | Event | Access | Status | Batch | TypedBatch


# -- The ingest fast path ------------------------------------------------------------------------
# Most of what a city sends is single-sample telemetry, often inside gateway batches. Validating it
# into plain dicts (TypedDicts) instead of two model instances per item costs less than half as much
# (measured 1.1 against 2.5 µs an item), with the very same field types as the models above. The
# structure stands in for Telemetry's `_one_form` check: `ts` and `readings` are required and
# `samples` may only be null. Anything else is not "fast": a batch item falls back to BatchItem and is
# validated by parse_item like any other; a message that fits neither is handed to parse_payload,
# which gives the reason. tests/test_fast_path.py checks that the fast path accepts exactly what the
# models accept, with the same values.


@with_config(ConfigDict(extra="allow"))
class FastTelemetry(TypedDict):
    msg_id: MsgId
    ts: AwareDatetime
    readings: Readings
    samples: NotRequired[None]


@with_config(ConfigDict(extra="allow"))
class FastTelemetryItem(TypedDict):
    device_id: DeviceId
    channel: Literal["telemetry"]
    payload: FastTelemetry


@with_config(ConfigDict(extra="allow"))
class FastBatch(TypedDict):
    msg_id: MsgId
    # a dict is a valid single-sample telemetry item; a BatchItem is anything else, validated later
    messages: Annotated[
        list[Annotated[FastTelemetryItem | BatchItem, Field(union_mode="left_to_right")]], Field(min_length=1)
    ]


_FAST_TELEMETRY = TypeAdapter(FastTelemetry)
_FAST_BATCH = TypeAdapter(FastBatch)


def fast_telemetry_json(p: FastTelemetry) -> dict[str, Any]:
    """A fast-path telemetry payload as JSON-ready data (as Telemetry.model_dump(mode="json") gives)."""
    return dict(_FAST_TELEMETRY.dump_python(p, mode="json"))


def parse_fast(channel: Channel, raw: bytes) -> FastTelemetry | FastBatch | None:
    """Single-sample telemetry or a batch envelope as dicts, or None: then call parse_payload, which
    validates with the models and gives the reason for a rejection."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        return None
    try:
        if channel is Channel.TELEMETRY:
            return _FAST_TELEMETRY.validate_json(raw)
        if channel is Channel.BATCH:
            return _FAST_BATCH.validate_json(raw)
    except ValidationError:
        return None
    return None


CHANNEL_MODELS: dict[Channel, type[_Payload]] = {
    Channel.TELEMETRY: Telemetry,
    Channel.EVENT: Event,
    Channel.ACCESS: Access,
    Channel.STATUS: Status,
    Channel.BATCH: Batch,
}


def describe_validation_error(err: ValidationError) -> str:
    """One line naming each failing field and why, e.g. `msg_id: Field required`."""
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"]) or "payload"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "string_pattern_mismatch" and (e.get("ctx") or {}).get("pattern") == NO_NUL:
            msg = NUL_REFUSED
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def parse_payload(channel: Channel, raw: bytes) -> Payload:
    """Validate raw bytes for a channel. Raises ContractError(field, reason) on any fault.

    field is one of `size`, `json`, `schema`.
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError("size", f"payload is {len(raw)} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit")
    model = CHANNEL_MODELS[channel]
    if channel is Channel.BATCH:
        try:
            return TypedBatch.model_validate_json(raw, context=_nul_context(raw))
        except ValidationError:
            pass  # the loose model below says what is wrong, item by item
    try:
        return model.model_validate_json(raw, context=_nul_context(raw))  # type: ignore[return-value]
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        if first["type"] in {"json_invalid", "json_type"}:
            raise ContractError("json", f"not valid JSON: {first['msg']}") from err
        if first["type"] == "model_type":
            raise ContractError("json", "payload must be a JSON object") from err
        raise ContractError("schema", f"{channel.value}: {describe_validation_error(err)}") from err


def parse_item(item: BatchItem) -> Payload:
    """Validate one inner message of a batch exactly as if published on its own topic."""
    channel = Channel(item.channel)
    model = CHANNEL_MODELS[channel]
    try:
        return model.model_validate(item.payload)  # type: ignore[return-value]
    except ValidationError as err:
        raise ContractError("schema", f"{channel.value}: {describe_validation_error(err)}") from err


@dataclass(frozen=True, slots=True)
class Unpacked:
    """One inner message of a batch: its position, device and channel, and either its validated
    payload or the ContractError that says why it is not valid (never both)."""

    index: int
    device_id: str
    channel: str
    payload: Payload | None
    error: ContractError | None
    raw: dict[str, Any]


def unpack_item(index: int, item: BatchItem) -> Unpacked:
    """One loose batch item, validated exactly as if published on its own topic."""
    try:
        return Unpacked(index, item.device_id, item.channel, parse_item(item), None, item.payload)
    except ContractError as err:
        return Unpacked(index, item.device_id, item.channel, None, err, item.payload)


def expand_batch(batch: Batch | TypedBatch) -> Iterator[Unpacked]:
    """The batch expansion of CONTRACT §2 (batch), the one every consumer uses: each inner message in
    order, as if it had been published on `{root}/{facility}/{item.device_id}/{item.channel}`. An
    invalid item is yielded with its error, so a consumer dead-letters or skips only that item."""
    if isinstance(batch, TypedBatch):
        for i, t in enumerate(batch.messages):
            yield Unpacked(i, t.device_id, t.channel, t.payload, None, t.payload.model_dump(mode="json"))
    else:
        for i, item in enumerate(batch.messages):
            yield unpack_item(i, item)


def batch_origin_error(device_id: str, from_gateway: bool) -> ContractError | None:
    """CONTRACT §2 batch: only a facility's gateway publishes batches. A batch on any other device's
    topic would let that device speak for every other device of the facility (a smoke detector
    publishing a panic press as the panic button), undoing the broker's per-device ACL."""
    if from_gateway:
        return None
    return ContractError("origin", f"batch on the topic of {device_id!r}, which is not the facility's gateway")


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """How far a message's own time may lie from its arrival (CONTRACT §2 Bad input, `time` and
    `expired`).

    `future_s`: a device clock ahead by more than this is wrong (a reading dated 2099 would stay the
    "latest" for ever, and its dedup key would never expire). `past_s`: a time older than this is a
    broken clock (year 0001), not late data. Between 14 days (how long ingest keeps dedup keys) and
    `past_s` a message is stored, but a second copy of it would be stored again. `readings_kept_s`:
    a telemetry sample older than the readings' retention (contract.retention) would be stored and
    dropped at the next maintenance; it is refused as `expired` instead (issue #35)."""

    future_s: float = 600.0
    past_s: float = 366 * 86400.0
    readings_kept_s: float = READINGS_KEPT_S

    def error(self, t: datetime, arrived: datetime, telemetry: bool = False) -> ContractError | None:
        ahead = (t - arrived).total_seconds()
        if ahead > self.future_s:
            return ContractError(
                "time", f"ts {t.isoformat()} is {ahead:.0f} s ahead of its arrival (limit {self.future_s:.0f} s)"
            )
        if -ahead > self.past_s:
            return ContractError(
                "time", f"ts {t.isoformat()} is {-ahead / 86400:.1f} days old (limit {self.past_s / 86400:.0f} days)"
            )
        if telemetry and -ahead > self.readings_kept_s:
            return ContractError(
                "expired",
                f"ts {t.isoformat()} is {-ahead / 86400:.1f} days old: readings are kept"
                f" {self.readings_kept_s / 86400:.0f} days, so it would be dropped at the next maintenance",
            )
        return None

    def window(self, arrived: datetime, telemetry: bool = False) -> tuple[datetime, datetime]:
        """The earliest and latest own time accepted for a message (a telemetry sample, with
        `telemetry`) that arrived at `arrived`: a time within it has no error (two comparisons, where
        `error` computes and compares a difference)."""
        past = min(self.past_s, self.readings_kept_s) if telemetry else self.past_s
        return arrived - timedelta(seconds=past), arrived + timedelta(seconds=self.future_s)

    def check(self, p: Payload | FastTelemetry, arrived: datetime) -> ContractError | None:
        """The first of a payload's own times (ts, or each sample's) out of bounds, as an error."""
        if isinstance(p, dict):
            return self.error(p["ts"], arrived, telemetry=True)
        telemetry = isinstance(p, Telemetry)
        if isinstance(p, Telemetry):
            times = [t for t, _ in p.iter_samples()]
        else:
            ts = getattr(p, "ts", None)
            times = [ts] if ts is not None else []
        for t in times:
            if (err := self.error(t, arrived, telemetry)) is not None:
                return err
        return None
