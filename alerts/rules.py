"""Every rule of CONTRACT §4 as pure logic: facility state + message or tick → conditions.

No I/O here. `FacilityRuntime.apply()` folds one accepted message into the state;
`conditions(now)` says which alert conditions hold right now (with hysteresis for readings);
`Tracker` turns that into open/clear decisions after each rule's `for` duration.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from contract.payloads import Access, Event, Payload, Status, Telemetry
from contract.registry import (
    LIFE_SAFETY_TYPES,
    Child,
    ClassInfo,
    DeviceType,
    Facility,
    Staff,
    StaffRole,
    required_guards,
)
from contract.rules import Condition, Key, RuleConfig

CONDITION_EVENTS = {
    "fire_alarm",
    "gas_alarm",
    "co_alarm",
    "fault",
    "tamper",
    "power_fail",
    "door_held_open",
    "exit_locked",
    "exit_blocked",
}
EVENT_RULE = {
    "fire_alarm": "fire_alarm",
    "gas_alarm": "gas_alarm",
    "co_alarm": "gas_alarm",
    "fault": "device_fault",
    "tamper": "device_fault",
    "power_fail": "device_fault",
}
CAREGIVER_ROLES = {StaffRole.CAREGIVER}


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

    def _close_of(self, day: date) -> datetime | None:
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
            self._event(device_id, payload, at)
        elif isinstance(payload, Access):
            self._access(device_id, payload, at)

    def _pulse(self, key: Key, at: datetime, zh: str, en: str) -> None:
        cfg = self.rules[key.rule]
        if key in self.pulses and at < self.pulses[key][0]:
            self.retriggered.append(key)
        self.pulses[key] = (at + timedelta(seconds=cfg.hold_s), Condition(cfg.severity, zh, en))

    def _event(self, dev: str, e: Event, at: datetime) -> None:
        t = e.type.value
        if t in CONDITION_EVENTS:
            if e.state == "active":
                if (dev, t) in self.active_events and t in EVENT_RULE:
                    self.retriggered.append(Key(EVENT_RULE[t], dev))
                self.active_events.add((dev, t))
            else:
                self.active_events.discard((dev, t))
        elif t == "panic":
            self._pulse(Key("panic_button", dev), at, f"一键报警被按下（{dev}）", f"panic button pressed ({dev})")
        elif t == "door_forced":
            self._pulse(Key("door_forced", dev), at, f"门被强行打开（{dev}）", f"door forced open ({dev})")

    def _access(self, dev: str, a: Access, at: datetime) -> None:
        t, person = a.type.value, a.person_id
        if t == "staff_in" and person:
            staff = self.staff.get(person)
            self.staff_on_site[person] = staff.role if staff else None
            if not self.is_open(at) and not (staff and staff.role is StaffRole.GUARD):
                self._pulse(
                    Key("after_hours_entry", subject=person),
                    at,
                    f"非开放时间人员进入（{person}）",
                    f"entry outside opening hours ({person})",
                )
        elif t == "staff_out" and person:
            self.staff_on_site.pop(person, None)
        elif t == "visitor_in" and person and not self.is_open(at):
            self._pulse(
                Key("after_hours_entry", subject=person),
                at,
                f"非开放时间访客进入（{person}）",
                f"visitor entry outside opening hours ({person})",
            )
        elif t == "child_in" and person:
            child = self.children.get(person)
            if child is not None:
                self.children_present[person] = child.class_
        elif t == "child_out" and person:
            self.children_present.pop(person, None)
            child = self.children.get(person)
            if child is None or a.guardian_id is None or a.guardian_id not in child.guardians:
                who = a.guardian_id or "无登记 / none"
                self._pulse(
                    Key("unauthorized_pickup", subject=person),
                    at,
                    f"幼儿 {person} 被非监护人接走（{who}）",
                    f"child {person} released to a non-guardian ({who})",
                )
        elif t == "patrol":
            self.last_patrol = at
        elif t == "denied":
            cfg = self.rules["repeated_access_denied"]
            q = self.denied.setdefault(dev, deque())
            q.append(at)
            while q and (at - q[0]).total_seconds() > cfg.thresholds["window_s"]:
                q.popleft()
            if len(q) >= cfg.thresholds["count"]:
                self._pulse(
                    Key("repeated_access_denied", dev),
                    at,
                    f"门禁多次拒绝（{dev}，{len(q)} 次）",
                    f"repeated access denied at {dev} ({len(q)} times)",
                )

    # -- conditions --------------------------------------------------------------------------------
    def conditions(self, now: datetime) -> dict[Key, Condition]:
        out: dict[Key, Condition] = {}
        for key, (until, cond) in list(self.pulses.items()):
            if now < until:
                out[key] = cond
            else:
                del self.pulses[key]
        self._event_conditions(out, now)
        self._reading_conditions(out)
        self._device_conditions(out, now)
        self._people_conditions(out, now)
        for missing in self.facility.missing_equipment():
            out[Key("equipment_missing", subject=missing)] = self._c(
                "equipment_missing", f"缺少必备设备：{missing}", f"required equipment missing: {missing}"
            )
        return out

    def _c(self, rule: str, zh: str, en: str, severity: str | None = None, for_s: float | None = None) -> Condition:
        cfg = self.rules[rule]
        return Condition(severity or cfg.severity, zh, en, cfg.for_s if for_s is None else for_s)

    def _event_conditions(self, out: dict[Key, Condition], now: datetime) -> None:
        open_now = self.is_open(now)
        for dev, t in self.active_events:
            if t == "fire_alarm":
                out[Key("fire_alarm", dev)] = self._c("fire_alarm", f"火灾报警（{dev}）", f"fire alarm ({dev})")
            elif t in {"gas_alarm", "co_alarm"}:
                out[Key("gas_alarm", dev)] = self._c(
                    "gas_alarm", f"燃气/一氧化碳报警（{dev}）", f"gas/CO alarm ({dev})"
                )
            elif t in {"fault", "tamper", "power_fail"}:
                out[Key("device_fault", dev)] = self._c(
                    "device_fault", f"设备故障：{t}（{dev}）", f"device {t} ({dev})"
                )
            elif t in {"exit_locked", "exit_blocked"} and open_now:
                out[Key("exit_obstructed", dev)] = self._c(
                    "exit_obstructed",
                    f"开放时间安全出口受阻（{dev}）",
                    f"fire exit obstructed during opening hours ({dev})",
                )
            elif t == "door_held_open" and self.devices.get(dev) and self.devices[dev].type is DeviceType.EXIT_DOOR:
                held = self.rules["exit_obstructed"].thresholds["held_open_s"]
                out[Key("exit_obstructed", dev)] = self._c(
                    "exit_obstructed", f"安全出口长时间未关（{dev}）", f"fire exit held open ({dev})", for_s=held
                )

    def _hyst(self, key: tuple[str, str], bad: bool, recovered: bool) -> bool:
        """A reading condition holds from `bad` until `recovered` (hysteresis against hovering)."""
        if bad:
            self.latched_readings.add(key)
        elif recovered:
            self.latched_readings.discard(key)
        return key in self.latched_readings

    def _reading_conditions(self, out: dict[Key, Condition]) -> None:
        gas = self.rules["gas_alarm"].thresholds
        ext = self.rules["extinguisher_pressure"].thresholds
        env = self.rules["environment_out_of_range"].thresholds
        batt = self.rules["low_battery"].thresholds["battery_pct"]
        for dev, d in self.devices.items():
            r = d.readings
            lel, co = r.get("gas_lel_pct"), r.get("co_ppm")
            if lel is not None or co is not None:
                bad = (lel or 0) >= gas["gas_lel_pct"] or (co or 0) >= gas["co_ppm"]
                ok = (lel or 0) < gas["gas_lel_pct"] * 0.8 and (co or 0) < gas["co_ppm"] * 0.8
                if self._hyst(("gas_alarm", dev), bad, ok):
                    out[Key("gas_alarm", dev)] = self._c(
                        "gas_alarm", f"可燃气体/一氧化碳超标（{dev}）", f"gas or CO above the alarm level ({dev})"
                    )
            p = r.get("extinguisher_pressure_mpa")
            if p is not None:
                lo, hi = ext["min_mpa"], ext["max_mpa"]
                if self._hyst(("extinguisher_pressure", dev), not lo <= p <= hi, lo + 0.02 <= p <= hi - 0.02):
                    out[Key("extinguisher_pressure", dev)] = self._c(
                        "extinguisher_pressure",
                        f"灭火器压力异常 {p:.2f} MPa（{dev}）",
                        f"extinguisher pressure {p:.2f} MPa outside the green band ({dev})",
                    )
            low = d.battery is not None and (d.battery < batt or ("low_battery", dev) in self.latched_readings)
            if (
                low
                and d.battery is not None
                and self._hyst(("low_battery", dev), d.battery < batt, d.battery >= batt + 5)
            ):
                out[Key("low_battery", dev)] = self._c(
                    "low_battery", f"电量低 {d.battery:.0f}%（{dev}）", f"battery low {d.battery:.0f}% ({dev})"
                )
            if d.type is DeviceType.ENV_SENSOR and d.child_area and r:
                co2, tc, rh = r.get("co2_ppm"), r.get("temperature_c"), r.get("humidity_pct")
                bad = (
                    (co2 is not None and co2 > env["co2_ppm"])
                    or (tc is not None and not env["temp_min"] <= tc <= env["temp_max"])
                    or (rh is not None and not env["rh_min"] <= rh <= env["rh_max"])
                )
                ok = (
                    (co2 is None or co2 <= env["co2_ppm"] - 50)
                    and (tc is None or env["temp_min"] + 0.5 <= tc <= env["temp_max"] - 0.5)
                    and (rh is None or env["rh_min"] + 2 <= rh <= env["rh_max"] - 2)
                )
                if self._hyst(("environment_out_of_range", dev), bad, ok):
                    out[Key("environment_out_of_range", dev)] = self._c(
                        "environment_out_of_range",
                        f"室内环境超标（{dev}）",
                        f"indoor environment out of range ({dev}): CO2 {co2}, {tc} °C, {rh} %RH",
                    )

    def _device_conditions(self, out: dict[Key, Condition], now: datetime) -> None:
        beats = self.rules["device_offline"].thresholds["heartbeats"]
        gw = self.devices.get(self.gateway) if self.gateway else None
        gw_down = gw is not None and self._silent(gw, now, beats)
        open_now = self.is_open(now)
        for dev, d in self.devices.items():
            silent = self._silent(d, now, beats)
            if d.type is DeviceType.CAMERA:
                if silent and d.child_area and open_now and not (gw_down and dev != self.gateway):
                    out[Key("camera_blind_spot", dev)] = self._c(
                        "camera_blind_spot", f"儿童区域摄像头离线（{dev}）", f"camera over a child area offline ({dev})"
                    )
                continue
            if not silent or (gw_down and dev != self.gateway):
                continue  # behind a dead gateway: one alert on the gateway holds these back
            severity = "major" if d.type in LIFE_SAFETY_TYPES | {DeviceType.GATEWAY} else "minor"
            out[Key("device_offline", dev)] = self._c(
                "device_offline", f"设备离线（{dev}）", f"device offline ({dev})", severity=severity
            )

    @staticmethod
    def _silent(d: DeviceRt, now: datetime, beats: float) -> bool:
        return not d.online or (now - d.last_seen).total_seconds() > beats * d.heartbeat_s

    def _people_conditions(self, out: dict[Key, Condition], now: datetime) -> None:
        today = self.local(now).date()
        for person, _role in self.staff_on_site.items():
            s = self.staff.get(person)
            if s is not None and s.banned:
                out[Key("banned_staff_on_site", subject=person)] = self._c(
                    "banned_staff_on_site",
                    f"从业禁止人员在园（{person}）",
                    f"person under a lifetime ban on site ({person})",
                )
                continue
            why = None
            if s is None:
                why = ("未登记人员", "not in the registry")
            elif s.health_cert_expires is not None and s.health_cert_expires < today:
                why = ("健康证过期", "health certificate expired")
            elif s.role is StaffRole.GUARD and not s.licensed:
                why = ("保安无证", "guard not licensed")
            elif s.role is StaffRole.CAREGIVER and not s.qualified:
                why = ("保育人员无资质", "caregiver not qualified")
            if why:
                out[Key("unqualified_staff_on_site", subject=person)] = self._c(
                    "unqualified_staff_on_site", f"{why[0]}（{person}）", f"{why[1]} ({person})"
                )
        per_class: dict[str, int] = {}
        for cls in self.children_present.values():
            per_class[cls] = per_class.get(cls, 0) + 1
        for cls, n in per_class.items():
            info = self.classes.get(cls)
            if info is not None and n > info.capacity:
                out[Key("class_over_capacity", subject=cls)] = self._c(
                    "class_over_capacity",
                    f"班级超额：{cls} {n}/{info.capacity}",
                    f"class {cls} over capacity {n}/{info.capacity}",
                )
        if self.is_open(now):
            self._staffing(out, now, per_class)
        close = self._close_of(today)
        grace = self.rules["child_not_collected"].thresholds["after_close_min"]
        if close is not None and now >= close + timedelta(minutes=grace):
            for child in self.children_present:
                out[Key("child_not_collected", subject=child)] = self._c(
                    "child_not_collected",
                    f"闭园后幼儿未被接走（{child}）",
                    f"child not collected after closing ({child})",
                )

    def _staffing(self, out: dict[Key, Condition], now: datetime, per_class: dict[str, int]) -> None:
        guards = sum(1 for r in self.staff_on_site.values() if r is StaffRole.GUARD)
        need_guards = required_guards(len(self.facility.children))
        if guards < need_guards:
            out[Key("guard_absent")] = self._c(
                "guard_absent", f"保安在岗 {guards}/{need_guards}", f"guards on site {guards} of {need_guards} required"
            )
        ratio = self.rules["ratio_breach"].thresholds
        need = sum(
            math.ceil(n / ratio[self.classes[c].age_group.value]) for c, n in per_class.items() if c in self.classes
        )
        carers = sum(1 for r in self.staff_on_site.values() if r in CAREGIVER_ROLES)
        if carers < need:
            out[Key("ratio_breach")] = self._c(
                "ratio_breach",
                f"保育人员 {carers}/{need}，师幼比不达标",
                f"caregivers on site {carers} of {need} required",
            )
        interval = self.rules["patrol_missed"].thresholds["interval_s"]
        opened = datetime.combine(self.local(now).date(), self.facility.opening_hours.open, self.tz)
        since = max(t for t in (self.last_patrol, opened, self.started) if t is not None)
        if (now - since).total_seconds() > interval:
            out[Key("patrol_missed")] = self._c("patrol_missed", "超过两小时未巡更", "no patrol scan for over 2 h")


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # "open" | "clear" | "bump" (re-triggered while active: count + 1)
    key: Key
    condition: Condition | None
    at: datetime


class Tracker:
    """Turns conditions into decisions after each condition's `for` duration.

    `pending` (key → since) is the timer state; the service persists it so that a window
    half-elapsed before a restart fires on time after it.
    """

    def __init__(self, pending: dict[Key, datetime] | None = None, firing: set[Key] | None = None) -> None:
        self.pending: dict[Key, datetime] = dict(pending or {})
        self.firing: set[Key] = set(firing or ())

    def step(self, conds: dict[Key, Condition], now: datetime, retriggered: list[Key] | None = None) -> list[Decision]:
        out = [Decision("bump", k, conds.get(k), now) for k in dict.fromkeys(retriggered or ()) if k in self.firing]
        for key, cond in conds.items():
            if key in self.firing:
                continue
            since = self.pending.setdefault(key, now)
            if (now - since).total_seconds() >= cond.for_s:
                self.firing.add(key)
                del self.pending[key]
                out.append(Decision("open", key, cond, now))
        for key in [k for k in self.pending if k not in conds]:
            del self.pending[key]  # the condition ended before its window: nothing fires
        for key in [k for k in self.firing if k not in conds]:
            self.firing.discard(key)
            out.append(Decision("clear", key, None, now))
        return out
