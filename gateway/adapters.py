"""Mapping common local device payloads to the contract (CONTRACT §2), through a mapping file.

Zigbee2MQTT (`zigbee2mqtt/<friendly name>`): `smoke`, `gas`, `carbon_monoxide`, `tamper` become
condition events on change; `action` of `emergency`/`sos`/`panic` a panic event; `battery`,
`temperature`, `humidity`, `co2`, `voltage`… readings. Tasmota (`tele/<topic>/SENSOR`): every
sensor object's `Temperature`, `Humidity`, `CarbonDioxide`/`CO2` readings.

A bad key loses that key only (issue #14): `null` means "unknown", a value of the wrong type or a
non-finite number is refused and named in `refused`, and the rest of the message goes on — a panic
press must survive a `"battery": null` beside it. A message is refused whole (AdapterError, counted
by the agent) only when nothing in it is usable, when it is not a JSON object, or when it is larger
or deeper than any real device sends. Condition state is remembered only for what was accepted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contract.errors import ContractError

Z2M_CONDITIONS = {"smoke": "fire_alarm", "gas": "gas_alarm", "carbon_monoxide": "co_alarm", "tamper": "tamper"}
Z2M_READINGS = {
    "temperature": "temperature_c",
    "humidity": "humidity_pct",
    "co2": "co2_ppm",
    "battery": "battery_pct",
    "linkquality": None,
    "pm25": "pm25_ugm3",
}
PANIC_ACTIONS = {"emergency", "sos", "panic"}
TASMOTA_READINGS = {
    "Temperature": "temperature_c",
    "Humidity": "humidity_pct",
    "CarbonDioxide": "co2_ppm",
    "CO2": "co2_ppm",
    "PM2.5": "pm25_ugm3",
}


class AdapterError(ContractError):
    def __init__(self, message: str) -> None:
        super().__init__("adapter", message)


@dataclass
class Mapping:
    """`{zigbee2mqtt: {friendly name: device_id}, tasmota: {topic: device_id}}` from the mapping file."""

    zigbee2mqtt: dict[str, str] = field(default_factory=dict)
    tasmota: dict[str, str] = field(default_factory=dict)


Out = list[tuple[str, str, dict[str, Any]]]  # (device_id, channel, payload without msg_id)


def _ts() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


MAX_PAYLOAD = 64 * 1024  # a Zigbee2MQTT or Tasmota device message is a few hundred bytes


def _object(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_PAYLOAD:
        raise AdapterError(f"payload of {len(raw)} bytes is over the {MAX_PAYLOAD} limit")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdapterError(f"not valid JSON: {err}") from err
    except (RecursionError, ValueError) as err:  # nested thousands deep; an integer of thousands of digits
        raise AdapterError(f"not a device payload: {type(err).__name__}") from None
    if not isinstance(data, dict):
        raise AdapterError("payload must be a JSON object")
    return data


def _number(v: object) -> float | None:
    """A finite number, or None (bools, strings, NaN and infinities are not readings)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _finish(name: str, out: Out, refused: list[str]) -> Out:
    if not out and refused:
        raise AdapterError(f"{name}: " + "; ".join(refused))
    return out


class Zigbee2Mqtt:
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping
        self._last: dict[tuple[str, str], bool] = {}
        self.refused: list[str] = []  # keys refused in the last message (the rest went on)

    def convert(self, name: str, raw: bytes) -> Out:
        self.refused = refused = []
        device = self.mapping.get(name)
        if device is None:
            raise AdapterError(f"zigbee2mqtt device {name!r} is not in the mapping file")
        data = _object(raw)
        ts = _ts()
        out: Out = []
        changes: dict[tuple[str, str], bool] = {}
        for field_, etype in Z2M_CONDITIONS.items():
            v = data.get(field_)
            if v is None:
                continue  # absent or null: unknown, and the last known state stands
            if not isinstance(v, bool):
                refused.append(f"{field_} must be true or false")
                continue
            if self._last.get((device, field_)) != v:  # only changes become events
                changes[(device, field_)] = v
                out.append((device, "event", {"ts": ts, "type": etype, "state": "active" if v else "cleared"}))
        action = data.get("action")
        if isinstance(action, str) and action.lower() in PANIC_ACTIONS:
            out.append((device, "event", {"ts": ts, "type": "panic"}))
        readings = {}
        for field_, metric in Z2M_READINGS.items():
            if metric is None or data.get(field_) is None:
                continue
            f = _number(data[field_])
            if f is None:
                refused.append(f"{field_} must be a finite number")
                continue
            readings[metric] = f
        if readings:
            out.append((device, "telemetry", {"ts": ts, "readings": readings}))
        result = _finish(name, out, refused)
        self._last.update(changes)  # remembered only once the message is accepted
        return result


class Tasmota:
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping
        self.refused: list[str] = []

    def convert(self, topic_name: str, raw: bytes) -> Out:
        self.refused = refused = []
        device = self.mapping.get(topic_name)
        if device is None:
            raise AdapterError(f"tasmota device {topic_name!r} is not in the mapping file")
        data = _object(raw)
        readings = {}
        for sensor in data.values():
            if isinstance(sensor, dict):
                for key, metric in TASMOTA_READINGS.items():
                    v = sensor.get(key)
                    if v is None:
                        continue
                    f = _number(v)
                    if f is None:
                        refused.append(f"{key} must be a finite number")
                        continue
                    readings[metric] = f
        if not readings:
            raise AdapterError(f"{topic_name}: " + ("; ".join(refused) or "no known sensor readings in SENSOR payload"))
        return [(device, "telemetry", {"ts": _ts(), "readings": readings})]
