"""Mapping common local device payloads to the contract (CONTRACT §2), through a mapping file.

Zigbee2MQTT (`zigbee2mqtt/<friendly name>`): `smoke`, `gas`, `carbon_monoxide`, `tamper` become
condition events on change; `action` of `emergency`/`sos`/`panic` a panic event; `battery`,
`temperature`, `humidity`, `co2`, `voltage`… readings. Tasmota (`tele/<topic>/SENSOR`): every
sensor object's `Temperature`, `Humidity`, `CarbonDioxide`/`CO2` readings. Malformed payloads
raise AdapterError (counted and reported by the agent, never forwarded).
"""

from __future__ import annotations

import json
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


def _object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdapterError(f"not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise AdapterError("payload must be a JSON object")
    return data


class Zigbee2Mqtt:
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping
        self._last: dict[tuple[str, str], bool] = {}

    def convert(self, name: str, raw: bytes) -> Out:
        device = self.mapping.get(name)
        if device is None:
            raise AdapterError(f"zigbee2mqtt device {name!r} is not in the mapping file")
        data = _object(raw)
        ts = _ts()
        out: Out = []
        for field_, etype in Z2M_CONDITIONS.items():
            if field_ in data:
                if not isinstance(data[field_], bool):
                    raise AdapterError(f"{name}: {field_} must be true or false")
                if self._last.get((device, field_)) != data[field_]:  # only changes become events
                    self._last[(device, field_)] = data[field_]
                    out.append(
                        (device, "event", {"ts": ts, "type": etype, "state": "active" if data[field_] else "cleared"})
                    )
        action = data.get("action")
        if isinstance(action, str) and action.lower() in PANIC_ACTIONS:
            out.append((device, "event", {"ts": ts, "type": "panic"}))
        readings = {}
        for field_, metric in Z2M_READINGS.items():
            if field_ in data and metric is not None:
                v = data[field_]
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise AdapterError(f"{name}: {field_} must be a number")
                readings[metric] = float(v)
        if readings:
            out.append((device, "telemetry", {"ts": ts, "readings": readings}))
        return out


class Tasmota:
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def convert(self, topic_name: str, raw: bytes) -> Out:
        device = self.mapping.get(topic_name)
        if device is None:
            raise AdapterError(f"tasmota device {topic_name!r} is not in the mapping file")
        data = _object(raw)
        readings = {}
        for sensor in data.values():
            if isinstance(sensor, dict):
                for key, metric in TASMOTA_READINGS.items():
                    v = sensor.get(key)
                    if v is not None:
                        if isinstance(v, bool) or not isinstance(v, int | float):
                            raise AdapterError(f"{topic_name}: {key} must be a number")
                        readings[metric] = float(v)
        if not readings:
            raise AdapterError(f"{topic_name}: no known sensor readings in SENSOR payload")
        return [(device, "telemetry", {"ts": _ts(), "readings": readings})]
