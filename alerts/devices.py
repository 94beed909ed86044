"""Devices (CONTRACT §4): devices offline, cameras over child areas blind (watched around the clock:
设防 does not end at closing); devices behind a dead gateway are held back behind the gateway's one
alert. Also equipment the registry says is missing."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from contract.labels import label
from contract.registry import LIFE_SAFETY_TYPES, DeviceType
from contract.rules import SILENCE_RULES, Condition, Key, reconnect_grace_s

if TYPE_CHECKING:
    from alerts.facility import FacilityRuntime


def conditions(rt: FacilityRuntime, out: dict[Key, Condition], now: datetime) -> None:
    gw = rt.devices.get(rt.gateway) if rt.gateway else None
    gw_down = gw is not None and rt.silent(gw, now)
    for dev, d in rt.devices.items():
        if gw_down and dev != rt.gateway:
            # Behind a silent gateway: one alert on the gateway holds these back, and what they are now is
            # unknown: an alert they had stays as it is (a camera's blind spot cleared by its gateway's
            # Last Will, retained at the broker and read at a restart, was a false all-clear).
            rt.unknown.update(Key(rule, dev) for rule in SILENCE_RULES)
            continue
        silent = rt.silent(d, now)
        if d.type is DeviceType.CAMERA:
            if silent and d.child_area:
                out[Key("camera_blind_spot", dev)] = rt.cond(
                    "camera_blind_spot", f"儿童区域摄像头离线（{dev}）", f"camera over a child area offline ({dev})"
                )
            continue
        if not silent:
            continue
        severity = "major" if d.type in LIFE_SAFETY_TYPES | {DeviceType.GATEWAY} else "minor"
        # said offline (a Last Will) but not yet silent: an alert only if it does not reconnect in time
        grace = None if rt.missed(d, now) else reconnect_grace_s(rt.rules)
        out[Key("device_offline", dev)] = rt.cond(
            "device_offline", f"设备离线（{dev}）", f"device offline ({dev})", severity=severity, for_s=grace
        )


def equipment_conditions(rt: FacilityRuntime, out: dict[Key, Condition]) -> None:
    for missing in rt.facility.missing_equipment():
        out[Key("equipment_missing", subject=missing)] = rt.cond(
            "equipment_missing",
            f"缺少必备设备：{label('equipment', missing, 'zh')}",
            f"required equipment missing: {label('equipment', missing, 'en')}",
        )
