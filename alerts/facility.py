"""What the rules know about one facility, and the rule families that read it (CONTRACT §4).

No I/O here. `FacilityRuntime.apply()` folds one accepted message into the state; `conditions(now)`
asks each rule family — alarms, readings, devices, people — which alert conditions hold right now.
`alerts.tracker.Tracker` turns conditions into open/clear decisions after each rule's `for`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts import alarms, devices, people, readings
from contract.payloads import Access, Event, Payload, Status, Telemetry
from contract.registry import Child, ClassInfo, DeviceType, Facility, Staff, StaffRole
from contract.rules import Condition, Key, RuleConfig


@dataclass(slots=True)
class DeviceRt:
    type: DeviceType
    heartbeat_s: int
    child_area: bool
    last_seen: datetime
    online: bool = True
    battery: float | None = None
    readings: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class FacilityRuntime:
    """What the rules know about one facility."""

    facility: Facility
    rules: dict[str, RuleConfig]
    started: datetime
    tz: ZoneInfo = field(init=False)
    devices: dict[str, DeviceRt] = field(init=False)
    active_events: set[tuple[str, str]] = field(default_factory=set)  # (device, type)
    pulses: dict[Key, tuple[datetime, Condition]] = field(default_factory=dict)  # one-off alerts, until
    staff_on_site: dict[str, StaffRole | None] = field(default_factory=dict)
    children_present: dict[str, str] = field(default_factory=dict)  # child -> class
    last_patrol: datetime | None = None
    denied: dict[str, deque[datetime]] = field(default_factory=dict)
    latched_readings: set[tuple[str, str]] = field(default_factory=set)
    retriggered: list[Key] = field(default_factory=list)  # conditions that happened again while active
    staff: dict[str, Staff] = field(init=False)
    children: dict[str, Child] = field(init=False)
    classes: dict[str, ClassInfo] = field(init=False)
    gateway: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.facility.timezone)
        self.devices = {
            d.id: DeviceRt(d.type, d.heartbeat_s, d.covers_child_area, self.started) for d in self.facility.devices
        }
        self.staff = {s.id: s for s in self.facility.staff}
        self.children = {c.id: c for c in self.facility.children}
        self.classes = {c.id: c for c in self.facility.classes}
        self.gateway = next((d.id for d in self.facility.devices if d.type is DeviceType.GATEWAY), None)

    # -- time ------------------------------------------------------------------------------------
    def local(self, t: datetime) -> datetime:
        return t.astimezone(self.tz)

    def is_open(self, t: datetime) -> bool:
        return self.facility.opening_hours.is_open_at(self.local(t))

    def close_of(self, day: date) -> datetime | None:
        oh = self.facility.opening_hours
        if not oh.opens_on(day):
            return None
        return datetime.combine(day, oh.close, self.tz)

    # -- folding messages in -----------------------------------------------------------------------
    def apply(self, device_id: str, payload: Payload, at: datetime) -> None:
        d = self.devices.get(device_id)
        if d is None:
            return
        d.last_seen = max(d.last_seen, at)
        if isinstance(payload, Status):
            if device_id == self.gateway and payload.online and not d.online:
                # the uplink is back: give the devices behind it a fresh grace period to report
                for other in self.devices.values():
                    other.last_seen = max(other.last_seen, at)
            d.online = payload.online
            if payload.battery_pct is not None:
                d.battery = payload.battery_pct
            if payload.heartbeat_s:
                d.heartbeat_s = payload.heartbeat_s
            return
        d.online = True
        if isinstance(payload, Telemetry):
            for _ts, readings in payload.iter_samples():
                d.readings.update(readings)
            if "battery_pct" in d.readings:
                d.battery = d.readings["battery_pct"]
        elif isinstance(payload, Event):
            alarms.on_event(self, device_id, payload, at)
        elif isinstance(payload, Access):
            people.on_access(self, device_id, payload, at)

    def pulse(self, key: Key, at: datetime, zh: str, en: str) -> None:
        """A one-off event's alert: active for the rule's `hold`; again while active is a re-trigger."""
        cfg = self.rules[key.rule]
        if key in self.pulses and at < self.pulses[key][0]:
            self.retriggered.append(key)
        self.pulses[key] = (at + timedelta(seconds=cfg.hold_s), Condition(cfg.severity, zh, en))

    # -- conditions --------------------------------------------------------------------------------
    def conditions(self, now: datetime) -> dict[Key, Condition]:
        out: dict[Key, Condition] = {}
        for key, (until, cond) in list(self.pulses.items()):
            if now < until:
                out[key] = cond
            else:
                del self.pulses[key]
        alarms.conditions(self, out, now)
        readings.conditions(self, out)
        devices.conditions(self, out, now)
        people.conditions(self, out, now)
        devices.equipment_conditions(self, out)
        return out

    def cond(self, rule: str, zh: str, en: str, severity: str | None = None, for_s: float | None = None) -> Condition:
        cfg = self.rules[rule]
        return Condition(severity or cfg.severity, zh, en, cfg.for_s if for_s is None else for_s)

    def hyst(self, key: tuple[str, str], bad: bool, recovered: bool) -> bool:
        """A reading condition holds from `bad` until `recovered` (hysteresis against hovering)."""
        if bad:
            self.latched_readings.add(key)
        elif recovered:
            self.latched_readings.discard(key)
        return key in self.latched_readings
