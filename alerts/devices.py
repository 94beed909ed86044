"""Devices (CONTRACT §4): devices offline, cameras over child areas blind (watched around the clock:
设防 does not end at closing); devices behind a dead gateway are held back behind the gateway's one
alert. Also equipment the registry says is missing."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from contract.labels import label
from contract.names import ref
from contract.registry import LIFE_SAFETY_TYPES, DeviceType
from contract.rules import SILENCE_RULES, Condition, Key, reconnect_grace_s

if TYPE_CHECKING:
    from alerts.view import FacilityView, Judging


def conditions(rt: Judging, out: dict[Key, Condition], now: datetime) -> None:
    gw = rt.devices.get(rt.gateway) if rt.gateway else None
    gw_down = gw is not None and rt.silent(gw, now)
    for dev, d in rt.devices.items():
        if gw_down and dev != rt.gateway:
            # Behind a silent gateway: one alert on the gateway holds these back, and what they are now is
            # unknown: an alert they had stays as it is (a camera's blind spot cleared by its gateway's
            # Last Will, retained at the broker and read at a restart, was a false all-clear).
            rt.unknown_now(Key(rule, dev) for rule in SILENCE_RULES)
            continue
        missed = rt.missed(d, now)
        silent = not d.online or missed  # rt.silent, without asking `missed` twice
        # Said offline and back, again and again (contract.rules OFFLINE_WINDOW_S): the said-offline time
        # of the last minutes spends the grace, and a device that has spent it over several returns is not
        # back until it has stayed so for the grace: offline 19 s, online 1 s, repeated, is an outage, not
        # a run of blips. One return ends an outage at once, as it always did.
        grace = reconnect_grace_s(rt.rules)
        before = d.offline_before_s(now)
        unsteady = not silent and len(d.said_offline) > 1 and before >= grace and d.back_within(now, grace)
        if d.type is DeviceType.CAMERA:
            if (silent or unsteady) and d.child_area:
                cfg = rt.rules["camera_blind_spot"]
                out[Key("camera_blind_spot", dev)] = rt.cond(
                    "camera_blind_spot",
                    f"儿童区域摄像头离线（{ref('device', dev)}）",
                    f"camera over a child area offline ({ref('device', dev)})",
                    for_s=cfg.for_s if missed else max(0.0, cfg.for_s - before),
                )
            continue
        if not (silent or unsteady):
            continue
        severity = "major" if d.type in LIFE_SAFETY_TYPES | {DeviceType.GATEWAY} else "minor"
        # said offline (a Last Will) but not yet silent: an alert only if it does not reconnect in time
        out[Key("device_offline", dev)] = rt.cond(
            "device_offline",
            f"设备离线（{ref('device', dev)}）",
            f"device offline ({ref('device', dev)})",
            severity=severity,
            for_s=None if missed else max(0.0, grace - before),
        )


def equipment_conditions(rt: FacilityView, out: dict[Key, Condition]) -> None:
    for missing in rt.missing_equipment:
        out[Key("equipment_missing", subject=missing)] = rt.cond(
            "equipment_missing",
            f"缺少必备设备：{label('equipment', missing, 'zh')}",
            f"required equipment missing: {label('equipment', missing, 'en')}",
        )
