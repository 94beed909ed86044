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


def _object(raw: bytes) -> dict[str, Any]:
    data = _json(raw)
    if not isinstance(data, dict):
        raise AdapterError("payload must be a JSON object", "not_object")
    return data


def _json(raw: bytes) -> object:
    if len(raw) > MAX_PAYLOAD:
        raise AdapterError(f"payload of {len(raw)} bytes is over the {MAX_PAYLOAD} limit", "size")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdapterError(f"not valid JSON: {err}", "json") from err
    except (RecursionError, ValueError) as err:  # nested thousands deep; an integer of thousands of digits
        raise AdapterError(f"not a device payload: {type(err).__name__}", "size") from None


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


class Zigbee2Mqtt:
    def __init__(self, section: Z2MSection | dict[str, str], gateway_id: str = "gw-1") -> None:
        self.section = section if isinstance(section, Z2MSection) else Z2MSection.model_validate({"devices": section})
        self.base = self.section.base_topic
        self.devices: dict[str, Z2MDevice] = dict(self.section.devices)
        self.gateway_id = gateway_id
        self._cond = _Conditions()
        self._tested: dict[str, bool] = {}
        self.refused: list[str] = []  # keys refused in the last message (the rest went on)

    def handles(self, topic: str) -> bool:
        return topic.startswith(self.base + "/")

    def subscriptions(self) -> list[str]:
        return [f"{self.base}/#"]

    def convert_topic(self, topic: str, raw: bytes) -> Out:
        self.refused = []
        rest = topic[len(self.base) + 1 :]
        if rest == "bridge/state":
            return self._bridge(raw)
        if rest.startswith("bridge/"):
            raise Unsupported(f"{topic}: Zigbee2MQTT's own {rest}", "bridge")
        head, _, last = rest.rpartition("/")
        if last == "availability" and head in self.devices:
            return [(self.devices[head].device, "status", {"ts": _ts(), "online": _online(raw, ("online", "offline"))})]
        if last in {"set", "get"} and head:
            raise Unsupported(f"{topic}: a command to a device", "command")
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
        self.refused = refused = []
        dev = self.devices.get(name)
        if dev is None:
            raise Unsupported(f"zigbee2mqtt device {name!r} is not in the mapping file", "unmapped")
        data = _object(raw)
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
        name, suffix = m["topic"], m["suffix"]
        if name not in self.by_topic:
            raise Unsupported(f"tasmota device {name!r} is not in the mapping file", "unmapped")
        if m["prefix"] == self._prefixes["tele"] and suffix == "SENSOR":
            return self.convert(name, raw)
        if m["prefix"] == self._prefixes["tele"] and suffix == "LWT":
            online = _online(raw, ("Online", "Offline"))
            return [(d.device, "status", {"ts": _ts(), "online": online}) for d in self._devices(name)]
        if m["prefix"] == self._prefixes["tele"] and suffix == "STATE":
            _object(raw)
            return [(d.device, "status", {"ts": _ts(), "online": True}) for d in self._devices(name)]
        if m["prefix"] == self._prefixes["stat"] and suffix in {"STATUS10", "STATUS8"}:
            sns = _object(raw).get("StatusSNS")
            if not isinstance(sns, dict):
                raise AdapterError(f"{topic}: no StatusSNS object", "schema")
            return self._sensor(name, sns)
        raise Unsupported(f"{topic}: Tasmota's {suffix} is not read", "topic")

    def _devices(self, name: str) -> Iterable[TasmotaDevice]:
        seen: set[str] = set()
        for d in self.by_topic[name]:
            if d.device not in seen:
                seen.add(d.device)
                yield d

    def convert(self, topic_name: str, raw: bytes) -> Out:
        """A `SENSOR` payload of one Tasmota device."""
        self.refused = []
        if topic_name not in self.by_topic:
            raise Unsupported(f"tasmota device {topic_name!r} is not in the mapping file", "unmapped")
        return self._sensor(topic_name, _object(raw))

    def _sensor(self, name: str, data: dict[str, Any]) -> Out:
        refused = self.refused
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
