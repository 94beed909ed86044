"""Zigbee2MQTT and Tasmota messages as CareWatch messages (CONTRACT §2), through the mapping file.

Zigbee2MQTT (`{base_topic}/{friendly name}`, names may hold '/'), keys as its converters publish
them (zigbee-herdsman-converters, IAS zone converters): `smoke` → fire_alarm, `gas` → gas_alarm,
`carbon_monoxide` → co_alarm, `water_leak`, `tamper`, `battery_low`, `trouble`/`battery_defect` →
fault, `contact` → door_held_open (polarity per device), a fire exit's lock (`lock_state`, or
`state` LOCK/UNLOCK, where the mapping says `exit_lock`) → exit_locked, all conditions sent on change; `test`
→ self_test when it turns true; `action` → panic when the device's mapping says so;
`temperature`, `humidity`, `co2`, `pm25`, `battery`, `power` → readings.
`{name}/availability` (`online`/`offline`, or `{"state": "online"}` since 1.x's new format and in
2.x) → the device's status; `bridge/state` (both forms) offline → a `fault` on the gateway itself,
since every Zigbee device is then unreachable.

Tasmota (`FullTopic` with `%prefix%` and `%topic%`): `SENSOR` and `StatusSNS` (STATUS10, STATUS8
on older firmware) with each named sensor (AM2301, DS18B20-1, …) fanned out to the device mapped
to it, `TempUnit: "F"` converted to °C, `SwitchN` as a door contact; `LWT` (`Online`/`Offline`, the
broker's Last Will) and `STATE` (periodic, a sign of life) → the status of every device on that
topic.

A bad key loses that key only: `null` is "unknown", a wrong type, a non-finite or out-of-range
number is refused and named in `refused`, the rest goes on (a panic press survives a
`"battery": null` beside it). A message is refused whole (AdapterError with a short `reason`) only
when nothing in it is usable, when it is not JSON, or when it is larger or deeper than any device
sends; Unsupported marks topics that are not device output (commands, bridge logs, unmapped
devices). Condition state is remembered only for what was accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from contract.errors import ContractError
from gateway.mapping import TasmotaDevice, TasmotaSection, Z2MDevice, Z2MSection

Z2M_CONDITIONS: dict[str, str] = {
    "smoke": "fire_alarm",
    "gas": "gas_alarm",
    "carbon_monoxide": "co_alarm",
    "water_leak": "water_leak",
    "tamper": "tamper",
    "battery_low": "battery_low",
    "trouble": "fault",
    "battery_defect": "fault",
}
Z2M_READINGS: dict[str, str] = {
    "temperature": "temperature_c",
    "humidity": "humidity_pct",
    "co2": "co2_ppm",
    "battery": "battery_pct",
    "pm25": "pm25_ugm3",
    "power": "power_w",
}
TASMOTA_READINGS: dict[str, str] = {
    "Temperature": "temperature_c",
    "Humidity": "humidity_pct",
    "CarbonDioxide": "co2_ppm",
    "CO2": "co2_ppm",
    "PM2.5": "pm25_ugm3",
    "Power": "power_w",
}
# A Zigbee device behind a Tasmota Zigbee bridge, as its ZbReceived names attributes (Tasmota docs,
# Zigbee: "Supported values" and the attribute table; IAS zone alarms are 0/1 attributes of 0x0500).
# `Power` there is the on/off state, not watts: a plug's watts are `ActivePower`.
TASMOTA_ZIGBEE_READINGS: dict[str, str] = {
    "Temperature": "temperature_c",
    "Humidity": "humidity_pct",
    "CO2": "co2_ppm",
    "Battery": "battery_pct",
    "BatteryPercentage": "battery_pct",
    "ActivePower": "power_w",
}
TASMOTA_ZIGBEE_CONDITIONS: dict[str, str] = {
    "Fire": "fire_alarm",
    "Water": "water_leak",
    "CO": "co_alarm",
    "Contact": "door_held_open",  # the contact zone's alarm: 1 is open
}
TASMOTA_ZIGBEE_PANIC = ("Panic", "PersonalAlarm")
# What a real sensor can report; outside it is a broken sensor or a bad conversion, never a reading.
RANGES: dict[str, tuple[float, float]] = {
    "temperature_c": (-50.0, 150.0),
    "humidity_pct": (0.0, 100.0),
    "co2_ppm": (0.0, 50_000.0),
    "battery_pct": (0.0, 100.0),
    "pm25_ugm3": (0.0, 5_000.0),
    "power_w": (0.0, 100_000.0),
}
MAX_PAYLOAD = 64 * 1024  # a Zigbee2MQTT or Tasmota device message is a few hundred bytes


class AdapterError(ContractError):
    """A local message not forwarded; `reason` is a short code for the metrics' label."""

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__("adapter", message)
        self.reason = reason


class Unsupported(AdapterError):
    """Not device output CareWatch reads (a command, a bridge log, an unmapped device): counted apart."""


Out = list[tuple[str, str, dict[str, Any]]]  # (device_id, channel, payload without msg_id)


def _ts() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _object(raw: bytes, refused: list[str] | None = None) -> dict[str, Any]:
    data = _json(raw, refused if refused is not None else [])
    if not isinstance(data, dict):
        raise AdapterError("payload must be a JSON object", "not_object")
    return data


# An integer longer than this is no reading (a float overflows at 309 digits): parsed as infinity, so
# the key holding it is refused alone. Python's int() refuses more than 4,300 digits with a ValueError,
# which json.loads would raise for the whole message, losing the keys beside it.
MAX_DIGITS = 400


def _int(text: str) -> int | float:
    if len(text) <= MAX_DIGITS:
        return int(text)
    return -math.inf if text.startswith("-") else math.inf


_DECODER = json.JSONDecoder(parse_int=_int)
_WS = re.compile(r"[ \t\n\r]*")


def _json(raw: bytes, refused: list[str]) -> object:
    """The payload as JSON. A bad value costs its own key, not the message: an integer of thousands of
    digits reads as infinity (refused where a key is used), bytes that are not UTF-8 are replaced (and
    said in `refused`), a top-level value nested deeper than the parser goes is left out with its key."""
    if len(raw) > MAX_PAYLOAD:
        raise AdapterError(f"payload of {len(raw)} bytes is over the {MAX_PAYLOAD} limit", "size")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        refused.append("bytes that are not UTF-8 replaced")
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as err:
        raise AdapterError(f"not valid JSON: {err}", "json") from err
    except RecursionError:
        pass
    try:
        return _per_key(text, refused)
    except RecursionError:
        raise AdapterError("not a device payload: nested thousands deep", "size") from None
    except ValueError as err:
        raise AdapterError(f"not valid JSON: {err}", "json") from err


def _per_key(text: str, refused: list[str]) -> dict[str, Any]:
    """A top-level object read key by key, for when one value is nested deeper than the parser goes:
    that value is skipped (and named in `refused`), the others are read. ValueError when not JSON."""
    i = _WS.match(text, 0).end()  # type: ignore[union-attr]
    if text[i : i + 1] != "{":
        raise RecursionError
    out: dict[str, Any] = {}
    i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
    if text[i : i + 1] == "}":
        return out
    while True:
        key, i = _DECODER.raw_decode(text, i)
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        if not isinstance(key, str) or text[i : i + 1] != ":":
            raise ValueError(f"an object key and ':' expected at {i}")
        i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
        try:
            out[key], i = _DECODER.raw_decode(text, i)
        except RecursionError:
            i = _skip_value(text, i)
            refused.append(f"{key[:40]} is nested deeper than any device sends")
        i = _WS.match(text, i).end()  # type: ignore[union-attr]
        sep = text[i : i + 1]
        i = _WS.match(text, i + 1).end()  # type: ignore[union-attr]
        if sep == "}":
            if i != len(text):
                raise ValueError(f"extra data at {i}")
            return out
        if sep != ",":
            raise ValueError(f"',' or '}}' expected at {i}")


def _skip_value(text: str, i: int) -> int:
    """The end of the array or object starting at i, by its brackets (strings and escapes minded)."""
    depth, in_string, escaped = 0, False, False
    for j in range(i, len(text)):
        c = text[j]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError("unbalanced brackets")


def _online(raw: bytes, words: tuple[str, str]) -> bool:
    """An availability payload: the plain word (legacy) or `{"state": word}`; case as the vendor sends."""
    text = raw.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        data = _object(raw)
        text = str(data.get("state", ""))
    if text.lower() == words[0].lower():
        return True
    if text.lower() == words[1].lower():
        return False
    raise AdapterError(f"availability must be {words[0]!r} or {words[1]!r}, not {text[:40]!r}", "schema")


def _number(v: object) -> float | None:
    """A finite number, or None (bools, strings, NaN and infinities are not readings)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _reading(metric: str, key: str, v: object, refused: list[str]) -> float | None:
    f = _number(v)
    if f is None:
        refused.append(f"{key} must be a finite number")
        return None
    lo, hi = RANGES.get(metric, (-math.inf, math.inf))
    if not lo <= f <= hi:
        refused.append(f"{key} {f:g} is outside [{lo:g}, {hi:g}]")
        return None
    return f


def _finish(name: str, out: Out, refused: list[str]) -> Out:
    if not out and refused:
        raise AdapterError(f"{name}: " + "; ".join(refused), "no_usable_key")
    return out


class _Conditions:
    """Last accepted state of each (device, condition): only changes become events."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, str], bool] = {}

    def change(
        self, device: str, etype: str, active: bool, ts: str, out: Out, pending: dict[tuple[str, str], bool]
    ) -> None:
        if self.last.get((device, etype)) != active:
            pending[(device, etype)] = active
            out.append((device, "event", {"ts": ts, "type": etype, "state": "active" if active else "cleared"}))


def _lock_state(data: dict[str, Any], refused: list[str]) -> bool | None:
    """A Zigbee lock's state: `lock_state` (locked / unlocked / not_fully_locked) where it reports
    one, else `state` (LOCK / UNLOCK); None when neither is there. Not fully locked is not locked."""
    ls = data.get("lock_state")
    if ls is not None:
        if ls in {"locked", "unlocked", "not_fully_locked"}:
            return bool(ls == "locked")
        refused.append("lock_state must be locked, unlocked or not_fully_locked")
        return None
    st = data.get("state")
    if st in {"LOCK", "UNLOCK"}:
        return bool(st == "LOCK")
    if st is not None:
        refused.append("state of a lock must be LOCK or UNLOCK")
    return None


# Zigbee2MQTT's `output: attribute` publishes these as the plain text; the rest as JSON scalars.
Z2M_TEXT_KEYS = frozenset({"action", "state", "lock_state"})


def _attribute_texts(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """What Zigbee2MQTT's attribute output publishes for one JSON message, topic suffix → payload
    (controller.ts, iteratePayloadAttributeOutput): strings as they are, null as an empty payload,
    arrays comma-joined, objects one level down as `key-sub`, the rest as JSON."""
    out: dict[str, str] = {}
    for key, v in data.items():
        if isinstance(v, dict):
            out.update(_attribute_texts(v, f"{prefix}{key}-"))
        elif v is None:
            out[prefix + key] = ""
        elif isinstance(v, list):
            out[prefix + key] = ",".join(x if isinstance(x, str) else json.dumps(x) for x in v)
        else:
            out[prefix + key] = v if isinstance(v, str) else json.dumps(v)
    return out


def _attribute_value(key: str, text: str) -> object:
    """One attribute topic's payload as the value its JSON form would hold."""
    if text == "":
        return None  # Zigbee2MQTT publishes null as an empty payload
    if key in Z2M_TEXT_KEYS:
        return text
    try:
        v = _DECODER.decode(text)
    except (ValueError, RecursionError):
        return text  # a word: refused by the key's check if the key wants a number or a flag
    return text if isinstance(v, dict | list) else v


def _cleared(topic: str, raw: bytes) -> None:
    """An empty message is how a retained message is deleted (Zigbee2MQTT clears a renamed or removed
    device's topics so): no state to forward, and no fault of the device either."""
    if not raw.strip():
        raise Unsupported(f"{topic}: empty (a retained message cleared)", "cleared")


class Zigbee2Mqtt:
    def __init__(self, section: Z2MSection | dict[str, str], gateway_id: str = "gw-1") -> None:
        self.section = section if isinstance(section, Z2MSection) else Z2MSection.model_validate({"devices": section})
        self.base = self.section.base_topic
        self.devices: dict[str, Z2MDevice] = dict(self.section.devices)
        self.gateway_id = gateway_id
        self._cond = _Conditions()
        self._tested: dict[str, bool] = {}
        # Per device, what its last JSON message becomes in attribute output and has not come yet: with
        # `output: attribute_and_json` each attribute follows its JSON, and with `output: json` Home
        # Assistant's device trigger repeats `action` on `<name>/action` (homeassistant.ts); an attribute
        # that repeats its JSON is a copy. Without a JSON form (`output: attribute`) every one is read.
        self._copies: dict[str, dict[str, str]] = {}
        self.refused: list[str] = []  # keys refused in the last message (the rest went on)

    def handles(self, topic: str) -> bool:
        return topic.startswith(self.base + "/")

    def subscriptions(self) -> list[str]:
        return [f"{self.base}/#"]

    def convert_topic(self, topic: str, raw: bytes) -> Out:
        self.refused = []
        rest = topic[len(self.base) + 1 :]
        if rest == "bridge/state":
            _cleared(topic, raw)
            return self._bridge(raw)
        if rest.startswith("bridge/"):
            raise Unsupported(f"{topic}: Zigbee2MQTT's own {rest}", "bridge")
        if rest in self.devices:  # the JSON form; a name may hold '/', so the whole name first
            _cleared(topic, raw)
            return self.convert(rest, raw)
        head, _, last = rest.rpartition("/")
        if last in {"set", "get"} and head:
            raise Unsupported(f"{topic}: a command to a device", "command")
        if head in self.devices:
            if last == "availability":
                _cleared(topic, raw)
                online = _online(raw, ("online", "offline"))
                return [(self.devices[head].device, "status", {"ts": _ts(), "online": online})]
            return self.convert_attribute(head, last, raw)
        return self.convert(rest, raw)

    def _bridge(self, raw: bytes) -> Out:
        """The coordinator offline: no Zigbee device can be heard, a fault of the gateway itself."""
        up = _online(raw, ("online", "offline"))
        out: Out = []
        pending: dict[tuple[str, str], bool] = {}
        self._cond.change(self.gateway_id, "fault", not up, _ts(), out, pending)
        for _, _, p in out:
            p["detail"] = {"source": "zigbee2mqtt", "reason": "coordinator offline" if not up else "coordinator online"}
        self._cond.last.update(pending)
        return out

    def convert(self, name: str, raw: bytes) -> Out:
        """A device's JSON message (`{base}/{name}`)."""
        refused: list[str] = []
        self.refused = refused
        dev = self.devices.get(name)
        if dev is None:
            raise Unsupported(f"zigbee2mqtt device {name!r} is not in the mapping file", "unmapped")
        data = _object(raw, refused)
        self._copies[name] = _attribute_texts(data)
        return self._convert(name, dev, data, refused)

    def convert_attribute(self, name: str, key: str, raw: bytes) -> Out:
        """One attribute of a device (`{base}/{name}/{key}`, Zigbee2MQTT's `output: attribute`), read as
        the JSON form `{key: value}` would be; a copy of its JSON message is counted and not read twice."""
        refused: list[str] = []
        self.refused = refused
        dev = self.devices.get(name)
        if dev is None:
            raise Unsupported(f"zigbee2mqtt device {name!r} is not in the mapping file", "unmapped")
        if len(raw) > MAX_PAYLOAD:
            raise AdapterError(f"payload of {len(raw)} bytes is over the {MAX_PAYLOAD} limit", "size")
        text = raw.decode("utf-8", "replace")
        copies = self._copies.get(name, {})
        if key in copies and copies[key] == text:
            del copies[key]
            raise Unsupported(f"{name}/{key}: the attribute copy of its JSON message", "attribute_copy")
        return self._convert(name, dev, {key: _attribute_value(key, text)}, refused)

    def _convert(self, name: str, dev: Z2MDevice, data: dict[str, Any], refused: list[str]) -> Out:
        device, ts = dev.device, _ts()
        out: Out = []
        pending: dict[tuple[str, str], bool] = {}
        flags: dict[str, bool] = {}
        for key, etype in Z2M_CONDITIONS.items():
            v = data.get(key)
            if v is None:
                continue  # absent or null: unknown, and the last known state stands
            if not isinstance(v, bool):
                refused.append(f"{key} must be true or false")
                continue
            flags[etype] = flags.get(etype, False) or v  # trouble and battery_defect are both a fault
        contact = data.get("contact")
        if contact is not None:
            if isinstance(contact, bool):
                flags["door_held_open"] = contact == dev.contact_open
            else:
                refused.append("contact must be true or false")
        if dev.exit_lock:
            locked = _lock_state(data, refused)
            if locked is not None:
                flags["exit_locked"] = locked
        for etype, active in flags.items():
            self._cond.change(device, etype, active, ts, out, pending)
        test = data.get("test")
        if isinstance(test, bool) and test and not self._tested.get(device):
            out.append((device, "event", {"ts": ts, "type": "self_test"}))
        action = data.get("action")
        if isinstance(action, str) and action.lower() in {a.lower() for a in dev.panic_actions}:
            out.append((device, "event", {"ts": ts, "type": "panic"}))
        readings = {}
        for key, metric in Z2M_READINGS.items():
            if data.get(key) is not None and (f := _reading(metric, key, data[key], refused)) is not None:
                readings[metric] = f
        if readings:
            out.append((device, "telemetry", {"ts": ts, "readings": readings}))
        result = _finish(name, out, refused)
        self._cond.last.update(pending)  # remembered only once the message is accepted
        if isinstance(test, bool):
            self._tested[device] = test
        return result


def _zb_name(v: object) -> str | None:
    """A Zigbee device's name as the bridge or the file writes it: short addresses in any case."""
    if not isinstance(v, str) or not v:
        return None
    return v.lower() if v[:2].lower() == "0x" else v


class Tasmota:
    def __init__(self, section: TasmotaSection | dict[str, str]) -> None:
        self.section = (
            section if isinstance(section, TasmotaSection) else TasmotaSection.model_validate({"devices": section})
        )
        self._pattern = self.section.pattern()
        self._prefixes = self.section.prefixes
        self.by_topic: dict[str, list[TasmotaDevice]] = {}
        for d in self.section.devices:
            self.by_topic.setdefault(d.topic, []).append(d)
        self._cond = _Conditions()
        self.refused: list[str] = []

    def handles(self, topic: str) -> bool:
        m = self._pattern.match(topic)
        return m is not None and m["prefix"] in self._prefixes.values()

    def subscriptions(self) -> list[str]:
        return self.section.subscriptions()

    def convert_topic(self, topic: str, raw: bytes) -> Out:
        self.refused = []
        m = self._pattern.match(topic)
        if m is None:
            raise Unsupported(f"{topic}: not a Tasmota topic of this FullTopic", "topic")
        name, suffix, tele = m["topic"], m["suffix"], m["prefix"] == self._prefixes["tele"]
        if name not in self.by_topic:
            raise Unsupported(f"tasmota device {name!r} is not in the mapping file", "unmapped")
        if m["zb"] is not None:  # a bridge's per-device topic (SetOption89): only its SENSOR is read
            if not (tele and suffix == "SENSOR"):
                raise Unsupported(f"{topic}: Tasmota's {suffix} is not read", "topic")
            _cleared(topic, raw)
            return self.convert(name, raw)
        if tele and suffix == "SENSOR":
            _cleared(topic, raw)
            return self.convert(name, raw)
        if tele and suffix == "LWT":
            _cleared(topic, raw)
            online = _online(raw, ("Online", "Offline"))
            return [(d.device, "status", {"ts": _ts(), "online": online}) for d in self._devices(name)]
        if tele and suffix == "STATE":
            _cleared(topic, raw)
            _object(raw)
            return [(d.device, "status", {"ts": _ts(), "online": True}) for d in self._devices(name)]
        if m["prefix"] == self._prefixes["stat"] and suffix in {"STATUS10", "STATUS8"}:
            _cleared(topic, raw)
            sns = _object(raw, self.refused).get("StatusSNS")
            if not isinstance(sns, dict):
                raise AdapterError(f"{topic}: no StatusSNS object", "schema")
            return self._sensor(name, sns)
        raise Unsupported(f"{topic}: Tasmota's {suffix} is not read", "topic")

    def _devices(self, name: str) -> Iterable[TasmotaDevice]:
        """The devices a topic's LWT and STATE speak for: not the Zigbee devices behind a bridge, whose
        own silence the bridge's being alive says nothing about."""
        seen: set[str] = set()
        for d in self.by_topic[name]:
            if d.zigbee is None and d.device not in seen:
                seen.add(d.device)
                yield d

    def convert(self, topic_name: str, raw: bytes) -> Out:
        """A `SENSOR` payload of one Tasmota device."""
        self.refused = []
        if topic_name not in self.by_topic:
            raise Unsupported(f"tasmota device {topic_name!r} is not in the mapping file", "unmapped")
        return self._sensor(topic_name, _object(raw, self.refused))

    def _sensor(self, name: str, data: dict[str, Any]) -> Out:
        refused = self.refused
        if any(d.zigbee is not None for d in self.by_topic[name]):
            return self._zigbee(name, data)
        unit = data.get("TempUnit", "C")
        if unit not in {"C", "F"}:
            refused.append(f"TempUnit {str(unit)[:8]!r} is neither C nor F: temperatures left out")
        ts = _ts()
        out: Out = []
        pending: dict[tuple[str, str], bool] = {}
        usable = False
        for d in self.by_topic[name]:
            if d.switch is not None:
                v = data.get(d.switch)
                if v in {"ON", "OFF"}:
                    usable = True  # unchanged is nothing to send, but not a fault
                    self._cond.change(d.device, "door_held_open", v == d.open_when, ts, out, pending)
                elif v is not None:
                    refused.append(f"{d.switch} must be ON or OFF")
                continue
            if d.sensor is not None:
                found = data.get(d.sensor)
                if found is None:
                    continue  # that sensor is not in this message (Tasmota omits a sensor it cannot read)
                sensors = [found] if isinstance(found, dict) else []
                if not sensors:
                    refused.append(f"{d.sensor} must be an object")
            else:
                sensors = [v for v in data.values() if isinstance(v, dict)]
            readings = self._readings(d, sensors, unit, refused)
            if readings:
                out.append((d.device, "telemetry", {"ts": ts, "readings": readings}))
        if not out and not refused and not usable:
            raise AdapterError(f"{name}: no known sensor readings in the payload", "no_usable_key")
        result = _finish(name, out, refused)
        self._cond.last.update(pending)
        return result

    def _zigbee(self, name: str, data: dict[str, Any]) -> Out:
        """A Tasmota Zigbee bridge's `ZbReceived` (or, with SetOption100, the same without the wrapper):
        each Zigbee device in it, keyed by short address or (SetOption83) by name, to the device mapped
        to it. A device the file does not map is named in `refused`, or the message is `unmapped`."""
        refused = self.refused
        received = data.get("ZbReceived", data)
        if not isinstance(received, dict):
            raise AdapterError(f"{name}: ZbReceived must be an object", "schema")
        ts = _ts()
        out: Out = []
        pending: dict[tuple[str, str], bool] = {}
        found, unmapped = False, []
        for key, body in received.items():
            if not isinstance(body, dict):
                continue  # Time, or another top-level value beside the devices (SetOption100)
            d = self._zigbee_device(name, key, body)
            if d is None:
                unmapped.append(str(body.get("Name") or body.get("Device") or key)[:40])
                continue
            found = True
            self._zigbee_one(d, body, ts, out, pending, refused)
        if not found:
            if unmapped:
                raise Unsupported(
                    f"zigbee device {', '.join(unmapped)} behind {name!r} is not in the mapping file", "unmapped"
                )
            raise AdapterError(f"{name}: no Zigbee device in the payload", "no_usable_key")
        refused.extend(f"zigbee device {u} is not in the mapping file" for u in unmapped)
        result = _finish(name, out, refused)
        self._cond.last.update(pending)
        return result

    def _zigbee_device(self, name: str, key: str, body: dict[str, Any]) -> TasmotaDevice | None:
        names = {_zb_name(key), _zb_name(body.get("Device")), _zb_name(body.get("Name"))} - {None}
        return next((d for d in self.by_topic[name] if _zb_name(d.zigbee) in names), None)

    def _zigbee_one(
        self,
        d: TasmotaDevice,
        body: dict[str, Any],
        ts: str,
        out: Out,
        pending: dict[tuple[str, str], bool],
        refused: list[str],
    ) -> None:
        for key, etype in TASMOTA_ZIGBEE_CONDITIONS.items():
            v = body.get(key)
            if v is None:
                continue
            if v not in (0, 1) or isinstance(v, float):
                refused.append(f"{key} must be 0 or 1")
                continue
            self._cond.change(d.device, etype, bool(v), ts, out, pending)
        for key in TASMOTA_ZIGBEE_PANIC:
            v = body.get(key)
            if v is not None and (v not in (0, 1) or isinstance(v, float)):
                refused.append(f"{key} must be 0 or 1")
            elif v:
                out.append((d.device, "event", {"ts": ts, "type": "panic"}))
                break
        readings: dict[str, float] = {}
        for key, metric in TASMOTA_ZIGBEE_READINGS.items():
            v = body.get(key)
            if v is None or (f := _reading(metric, key, v, refused)) is None:
                continue
            readings[metric] = round(f * d.scale.get(metric, 1.0) + d.offset.get(metric, 0.0), 3)
        if readings:
            out.append((d.device, "telemetry", {"ts": ts, "readings": readings}))

    @staticmethod
    def _readings(
        d: TasmotaDevice, sensors: list[dict[str, Any]], unit: object, refused: list[str]
    ) -> dict[str, float]:
        readings: dict[str, float] = {}
        for sensor in sensors:
            for key, metric in TASMOTA_READINGS.items():
                v = sensor.get(key)
                if v is None:
                    continue
                if metric == "temperature_c":
                    if unit not in {"C", "F"}:
                        continue
                    f = _number(v)
                    if f is not None and unit == "F":
                        v = (f - 32.0) * 5.0 / 9.0
                if (f := _reading(metric, key, v, refused)) is None:
                    continue
                f = f * d.scale.get(metric, 1.0) + d.offset.get(metric, 0.0)
                readings[metric] = round(f, 3)
        return readings
