"""The rule catalogue's defaults (CONTRACT §4) and the per-deployment overrides file.

Overrides (`CAREWATCH_RULES=path`, YAML): `{rule_id: {for: 10s, severity: major, threshold: ..., hold: 1m}}`.
`threshold` is a number for rules with one threshold, or a mapping of named thresholds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from contract.errors import DomainError
from contract.registry import DeviceType


class Severity(StrEnum):
    """Alert severities, most severe first (CONTRACT §4)."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"

    @property
    def rank(self) -> int:
        """0 for critical … 3 for warning: the one order every list and count uses."""
        return _RANK[self]


_RANK = {s: i for i, s in enumerate(Severity)}
SEVERITIES = tuple(s.value for s in Severity)
# Critical and major alerts latch until acknowledged; minor and warning ones close when they clear.
LATCHING = frozenset({Severity.CRITICAL, Severity.MAJOR})
# A latched alert, cleared and not yet acknowledged, is the same incident when its condition comes back within
# this long of clearing (a detector flapping, a panic button pressed again): it reopens, count + 1. Later it is
# a new alert beside the old one, which still waits for its acknowledgement: a fire alarm this morning, with
# children on site, must not read as last night's alarm in the closed building reopened (the demo, 2026-12-07).
REOPEN_WITHIN = timedelta(hours=1)


class RuleId(StrEnum):
    """The 29 rules of the catalogue (CONTRACT §4). A StrEnum, so a plain string looks them up too."""

    FIRE_ALARM = "fire_alarm"
    GAS_ALARM = "gas_alarm"
    PANIC_BUTTON = "panic_button"
    UNAUTHORIZED_PICKUP = "unauthorized_pickup"
    BANNED_STAFF_ON_SITE = "banned_staff_on_site"
    UNQUALIFIED_STAFF_ON_SITE = "unqualified_staff_on_site"
    GUARD_ABSENT = "guard_absent"
    RATIO_BREACH = "ratio_breach"
    CLASS_OVER_CAPACITY = "class_over_capacity"
    CHILD_NOT_COLLECTED = "child_not_collected"
    DEVICE_OFFLINE = "device_offline"
    CAMERA_BLIND_SPOT = "camera_blind_spot"
    DEVICE_FAULT = "device_fault"
    LOW_BATTERY = "low_battery"
    EXTINGUISHER_PRESSURE = "extinguisher_pressure"
    EXIT_OBSTRUCTED = "exit_obstructed"
    DOOR_FORCED = "door_forced"
    REPEATED_ACCESS_DENIED = "repeated_access_denied"
    AFTER_HOURS_ENTRY = "after_hours_entry"
    PATROL_MISSED = "patrol_missed"
    ENVIRONMENT_OUT_OF_RANGE = "environment_out_of_range"
    EQUIPMENT_MISSING = "equipment_missing"
    # Data quality, for the operator: what the people rules cannot see
    ATTENDANCE_MISSING = "attendance_missing"
    BADGE_OUT_MISSING = "badge_out_missing"
    # A child badge the registry does not know (issue #39 item 3), for the operator to register or explain
    UNKNOWN_CHILD_ON_SITE = "unknown_child_on_site"
    # The register of people across the city (issue #39 item 2)
    DOUBLE_SHIFT = "double_shift"
    CERTIFICATE_EXPIRING = "certificate_expiring"
    HEALTH_STAFF_MISSING = "health_staff_missing"
    # 责令停业整改 (issue #40 item 1): children on site while the facility is ordered to suspend operation
    CHILDREN_DURING_SUSPENSION = "children_during_suspension"


STAFFING_RULES = frozenset({RuleId.GUARD_ABSENT, RuleId.RATIO_BREACH})
# Data quality, for the operator to put right: they stay at the facility's level, never climbing the ladder
# (a newcomer's demo: 24 "badge-out missing" at midnight, each up to the township minutes later). Inspectors
# still see them in every list and count; what they hint at is judged by the people rules themselves.
FOR_THE_OPERATOR = frozenset({RuleId.ATTENDANCE_MISSING, RuleId.BADGE_OUT_MISSING})
# The rules a device's silence raises: a restart or a gap in hearing keeps an alert of these once raised.
SILENCE_RULES = (RuleId.DEVICE_OFFLINE.value, RuleId.CAMERA_BLIND_SPOT.value)
# Event time (CONTRACT §4). A live facility's data counts as complete up to now − LATE_WAIT_S: a
# gateway flushes its batch every 10 s and device clocks skew by seconds, so a minute covers both.
LATE_WAIT_S = 60.0
# A message whose own time is within CLOCK_SKEW_S of its arrival is a sign of life *now* (a device
# clock a minute off must not look offline); an older one (a replayed spool) counts at its own time.
CLOCK_SKEW_S = 120.0
# How far before a day a start's replay, and the web's view of the day, look for rows of a device whose
# clock is slow (a door set up in UTC wall time stored this morning's badges under yesterday): a day at
# most, so that a clock wrong by months does not read months of every facility's rows.
REPLAY_SKEW_MAX_S = 86400.0
# A device clock that is simply wrong (no NTP, an RTC drifting minutes a year) makes every message
# look late by about the same amount, message after message, as they arrive; a replayed spool arrives
# in a burst. SKEW_STEADY_N or more late messages in a row, each as late as the first of them within
# SKEW_TOL_S (a gateway's batch holds messages up to its 10 s flush), arriving over SKEW_SPAN_S at
# least, are the device's clock: signs of life now, as if on time (tests/test_alert_rules.py: a device
# 6 minutes slow; a spool replayed in a burst still counts at its own times). Two, not three: a smoke
# detector sends a status every 2 minutes and is offline after 6 without one; heard last by ingest
# before the engine started, it went offline before its third (bench province: 70 such detectors
# when the engine started from a database holding the morning). The span, not the count, is what
# tells a clock from a burst.
SKEW_STEADY_N = 2
SKEW_TOL_S = 15.0
SKEW_SPAN_S = 30.0
# On a clock running N times real time (the accelerated demo: `carewatch demo --speed`), a message's real
# transit jitter (the simulator's send, the broker, the engine's read: tenths of a second on a loaded
# machine) is N times as many of that clock's seconds: at 90x, 0.2 s of it is 18 s, past SKEW_TOL_S, and
# a slow clock's run of late messages kept breaking (CI: six smoke detectors with clocks 9 to 19 minutes
# slow taken offline in the demo's first 10 minutes). The tolerance grows by TRANSIT_JITTER_S real
# seconds per unit of speed above one; at real time it is SKEW_TOL_S exactly.
TRANSIT_JITTER_S = 1.0


def skew_tolerance_s(speed: float) -> float:
    """SKEW_TOL_S on a clock running `speed` times real time (alerts.service passes the clock's speed)."""
    return SKEW_TOL_S + TRANSIT_JITTER_S * max(0.0, speed - 1.0)


# The engine's own input (CONTRACT §4, "The engine's own clock"): each alert worker sends itself a
# probe through the broker every tick; one that came back with no backlog queued for the worker
# (alerts.engine.InputClock: a broker may send it ahead of a backlog) means every message the broker
# had before it was sent has been judged too. Silence, arrival times and the
# watermark are judged at no later than the newest such probe's sending + INPUT_SLACK_S: an engine
# minutes behind its input (a stalled host, a backlog after a restart, a lost broker connection) must
# not take the evidence still queued for it for the devices' silence. A caught-up engine's probes come
# back within a tick (1 s), so the slack never holds it back.
INPUT_SLACK_S = 5.0


class RulesConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RuleConfig:
    severity: Severity
    for_s: float = 0.0
    thresholds: dict[str, float] = field(default_factory=dict)
    hold_s: float = 900.0  # how long a one-off event's alert stays active before it clears


def _r(severity: str, for_s: float = 0, **thresholds: float) -> RuleConfig:
    return RuleConfig(Severity(severity), for_s, dict(thresholds))


DEFAULTS: dict[str, RuleConfig] = {
    # Sources: docs/contract.md §4; each standard is named beside the figure it sets.
    "fire_alarm": _r("critical"),  # to the monitoring centre within 10 s: GB 26875.1-2011
    # gas_lel_pct: combustible-gas detectors (GB 15322 series) alarm at no more than 25 % LEL; 10 % is
    # a common low set point. co_ppm 50: the lowest level at which CO alarms must sound (EN 50291).
    # Project defaults inside those limits: override per deployment.
    "gas_alarm": _r("critical", gas_lel_pct=10, co_ppm=50),
    "panic_button": _r("critical"),
    "unauthorized_pickup": _r("critical"),
    "banned_staff_on_site": _r("critical"),
    "unqualified_staff_on_site": _r("major"),
    "guard_absent": _r("major", 600),  # guard numbers: GB/T 29315-2022
    # carer ratios by age group: 托育机构设置标准(试行) (2019)
    # count_window_s: a counting camera's adults are judged as the upper median of its samples over this
    # window (CONTRACT §4 ratio_breach), so an occlusion of seconds or one sample off by one changes nothing
    "ratio_breach": _r("major", 600, infant=3, toddler=5, older=7, mixed=5, count_window_s=180),
    # class sizes: 托育机构设置标准（试行）(2019), contract.registry.CLASS_CAPACITY; a class over them is a
    # breach of the standard the facility was approved under, not a detail (issue #39 item 4: was minor)
    "class_over_capacity": _r("major"),
    # after_close_min: project default, the grace parents get after closing (the simulator's late
    # pick-ups stay inside it); a facility's own rule may be shorter.
    "child_not_collected": _r("major", after_close_min=30),
    # major for life-safety types, minor otherwise. How long a device type's silence may last before
    # it is offline is the type's (DEVICE_SILENCE below: heartbeats, a floor of min_silence_s, a
    # ceiling); after `heartbeats` heartbeats of silence (and min_silence_s) it is shown "silent" to the
    # operator without an alert (issue #42). Silence alone needs five minutes, so that a fast device
    # losing a few heartbeats in a row (1 in 500 lost, independently) does not page anyone; measured
    # with `carewatch bench truth` (issue #13). A Last Will or an offline status reports once the device
    # has not come back within reconnect_grace_s: a will fires on every dropped connection, and a Wi-Fi
    # blip, a broker restart or the platform's own restart is followed by a reconnection within seconds
    # (seen: every demo gateway reported offline, then online one second later, after the demo was
    # restarted; the simulator's gateways stay away about 20 s when the demo restarts). The grace is
    # counted over flapping (OFFLINE_WINDOW_S below): said-offline time adds up across quick returns.
    "device_offline": _r("major", heartbeats=3, min_silence_s=300, reconnect_grace_s=60),
    "camera_blind_spot": _r("major", 120, heartbeats=3),  # video over child areas: 托育机构管理规范(试行)
    "device_fault": _r("major"),
    "low_battery": _r("warning", battery_pct=20),  # project default: weeks of life left on typical cells
    "extinguisher_pressure": _r("major", min_mpa=1.0, max_mpa=1.4),  # the green band of dry-powder gauges
    "exit_obstructed": _r("major", held_open_s=300),  # project default: 5 min, longer than any passage
    "door_forced": _r("major"),
    "repeated_access_denied": _r("minor", count=3, window_s=300),  # project default: 3 refusals in 5 min
    # staff_margin_min: staff arriving for an early shift or leaving after the last pick-up; 60 min unless
    # the facility's shift plan says otherwise (issue #13). Visitors and unknown persons have no margin.
    "after_hours_entry": _r("minor", staff_margin_min=60),
    # interval_s: no scan for 2 h while open; per_day: >= 5 patrols of the key areas a day, every
    # checkpoint at least once (GB/T 29315-2022 中小学、幼儿园安全技术防范系统要求), judged at closing.
    "patrol_missed": _r("warning", interval_s=7200, per_day=5),
    # CO2 <= 1000 ppm and the comfort ranges: GB/T 18883 (indoor air quality)
    "environment_out_of_range": _r("warning", 900, co2_ppm=1000, temp_min=18, temp_max=28, rh_min=30, rh_max=70),
    "equipment_missing": _r("major"),
    # No child scanned in or out by after_open_min after opening on an open day: the ratio is then
    # judged on enrolment, and the operator is told the attendance data is missing.
    "attendance_missing": _r("minor", after_open_min=90),
    # A badge-in with no badge-out at the facility's local day end (00:00): never occupancy tomorrow.
    "badge_out_missing": _r("warning"),
    # A child_in by an id not in the registry, while that child is on site (mirrors a staff badge the
    # registry does not know, which is `unqualified_staff_on_site`): minor, for the facility's operator to
    # register the child or explain the badge; nobody may be judged to collect such a child either.
    "unknown_child_on_site": _r("minor"),
    # The same person of the register badged in at two facilities at once (挂证: a qualified person lent
    # on paper to several facilities, or double shifts). Opens at the county (OPENS_AT): the facility
    # that profits from it is not the one to hear of it first.
    "double_shift": _r("major"),
    # 停业整改期间有幼儿在园: children badged in while a 责令停业整改 (storage/suspensions.py) is in force. A
    # suspension is no closure: the day is judged as open, and this says the order is being defied. Opens at
    # the county (OPENS_AT), as the facility is the one that would keep it quiet.
    "children_during_suspension": _r("major"),
    # A health certificate, a qualification, the annual health check or the annual health-care training
    # (每年组织一次从业人员的卫生保健培训和健康体检) running out within `days`; on expiry the person on site
    # is `unqualified_staff_on_site`.
    "certificate_expiring": _r("warning", days=30),
    # 保健人员: 托育机构设置标准（试行）(2019) requires 卫生保健 staff without a figure; the figure, one
    # per 150 children enrolled and at least one, is 托儿所幼儿园卫生保健管理办法 (2010) 第十条 (contract.people
    # HEALTH_STAFF_PER_CHILDREN).
    "health_staff_missing": _r("major"),
}


# 归口部门 (issue #40 item 6): the department each rule belongs to, with the reason (docs/contract.md §4 "Rule
# departments" is this table). The codes are contract/inspection.py DEPARTMENTS'; 卫健 (health) leads and acts on
# every alert whatever its department; an alert of a rule of another department may be ordered on by that
# department too (supervision/departments.py). 市场监管 (food) owns no rule: no sensor watches the kitchen's food
# (留样, 索证索票, 餐具消毒 are items of its checklist, not alerts).
@dataclass(frozen=True, slots=True)
class RuleDepartment:
    department: str
    why_zh: str
    why_en: str


def _d(department: str, why_zh: str, why_en: str) -> RuleDepartment:
    return RuleDepartment(department, why_zh, why_en)


_FIRE = (
    "《中华人民共和国消防法》：消防安全由消防救援机构监督检查",
    "Fire Protection Law: fire safety is the fire and rescue service's to inspect",
)
_TECH = (
    "技防、人防、物防：GB/T 29315-2022，由公安机关监督指导",
    "guarding and technical protection (GB/T 29315-2022), supervised by public security",
)
_MONITOR = (
    "监测系统的运行是机构按卫健部门要求承担的义务（托育机构管理规范）",
    "the monitoring system's upkeep is the facility's duty to the health commission (托育机构管理规范)",
)
_DATA = (
    "出勤与在园数据是卫健部门的登记与托育管理数据",
    "attendance and presence data are the health commission's registration and care records",
)
RULE_DEPARTMENTS: dict[str, RuleDepartment] = {
    RuleId.FIRE_ALARM: _d("fire", *_FIRE),
    RuleId.GAS_ALARM: _d(
        "fire",
        "可燃气体与一氧化碳：火灾与燃气安全，消防监督检查",
        "combustible gas and CO: fire and gas safety, inspected by the fire service",
    ),
    RuleId.EXTINGUISHER_PRESSURE: _d(
        "fire",
        "消防器材完好有效：《消防法》第十六条",
        "fire equipment kept in working order: Fire Protection Law art. 16",
    ),
    RuleId.EXIT_OBSTRUCTED: _d(
        "fire",
        "安全出口、疏散通道畅通：《消防法》第二十八条",
        "exits and escape routes kept clear: Fire Protection Law art. 28",
    ),
    RuleId.PANIC_BUTTON: _d(
        "police",
        "一键报警接入公安：紧急报警装置（GB/T 29315-2022）",
        "the emergency alarm reaches the police (GB/T 29315-2022)",
    ),
    RuleId.DOOR_FORCED: _d("police", *_TECH),
    RuleId.REPEATED_ACCESS_DENIED: _d("police", *_TECH),
    RuleId.AFTER_HOURS_ENTRY: _d("police", *_TECH),
    RuleId.GUARD_ABSENT: _d(
        "police",
        "专职保安配备：GB/T 29315-2022，公安机关监督",
        "guards on duty: GB/T 29315-2022, supervised by public security",
    ),
    RuleId.PATROL_MISSED: _d("police", *_TECH),
    RuleId.CAMERA_BLIND_SPOT: _d(
        "police", "视频监控覆盖：技防要求（GB/T 29315-2022）", "video coverage: technical protection (GB/T 29315-2022)"
    ),
    RuleId.UNAUTHORIZED_PICKUP: _d(
        "health",
        "接送制度是托育机构管理规范的要求（卫健）；犯罪由公安另行处置",
        "the pick-up rule is 托育机构管理规范's (health); a crime is the police's by its own channel",
    ),
    RuleId.BANNED_STAFF_ON_SITE: _d(
        "health",
        "从业禁止与人员准入：卫健部门托育从业人员管理",
        "barred persons and staff admission: the health commission's staff rules",
    ),
    RuleId.UNQUALIFIED_STAFF_ON_SITE: _d(
        "health", "从业人员资质：托育机构设置标准（试行）", "staff qualifications: 托育机构设置标准（试行）"
    ),
    RuleId.RATIO_BREACH: _d("health", "师幼比：托育机构设置标准（试行）", "carer ratios: 托育机构设置标准（试行）"),
    RuleId.CLASS_OVER_CAPACITY: _d(
        "health",
        "班级规模：托育机构设置标准（试行）（托幼一体的托班，教育部门亦可下达整改）",
        "class sizes: 托育机构设置标准（试行） (education may order too at a kindergarten's nursery class)",
    ),
    RuleId.CHILD_NOT_COLLECTED: _d(
        "health", "幼儿照护与交接：托育机构管理规范", "care and hand-over of children: 托育机构管理规范"
    ),
    RuleId.DEVICE_OFFLINE: _d("health", *_MONITOR),
    RuleId.DEVICE_FAULT: _d("health", *_MONITOR),
    RuleId.LOW_BATTERY: _d("health", *_MONITOR),
    RuleId.EQUIPMENT_MISSING: _d(
        "health", "设施设备配置：托育机构设置标准（试行）", "required equipment: 托育机构设置标准（试行）"
    ),
    RuleId.ENVIRONMENT_OUT_OF_RANGE: _d(
        "health_care",
        "室内空气、温湿度：托儿所幼儿园卫生保健工作规范（卫生保健）",
        "indoor air, temperature, humidity: the child health-care rules (卫生保健)",
    ),
    RuleId.ATTENDANCE_MISSING: _d("health", *_DATA),
    RuleId.BADGE_OUT_MISSING: _d("health", *_DATA),
    RuleId.UNKNOWN_CHILD_ON_SITE: _d(
        "health", "在托幼儿须登记：卫健部门的托育登记", "children in care are registered with the health commission"
    ),
    RuleId.DOUBLE_SHIFT: _d(
        "health",
        "挂证与人员登记：卫健部门的人员库",
        "lent certificates and the staff register: the health commission's",
    ),
    RuleId.CERTIFICATE_EXPIRING: _d(
        "health_care",
        "健康证、年度体检与卫生保健培训：托儿所幼儿园卫生保健管理办法",
        "health certificates, annual checks, health-care training: 托儿所幼儿园卫生保健管理办法",
    ),
    RuleId.HEALTH_STAFF_MISSING: _d(
        "health_care",
        "卫生保健人员配备：托儿所幼儿园卫生保健管理办法第十条",
        "health-care staff: 托儿所幼儿园卫生保健管理办法 art. 10",
    ),
    RuleId.CHILDREN_DURING_SUSPENSION: _d(
        "health",
        "责令停业整改由卫健部门作出并监督执行",
        "a suspension is the health commission's order, and its enforcement",
    ),
}
# A department that may order on a rule it does not own, at the facilities it inspects: 教育 at the 托幼一体
# (kindergarten nursery classes) whose class sizes it supervises.
RULE_ALSO: dict[str, str] = {RuleId.CLASS_OVER_CAPACITY: "education"}


def rule_department(rule: str) -> str:
    """The department an alert of `rule` belongs to (卫健 for a rule the catalogue does not know)."""
    owner = RULE_DEPARTMENTS.get(rule)
    return owner.department if owner else "health"


def rules_of_department(department: str) -> frozenset[str]:
    """The rules a department's filter of the alert list shows: those it owns and those it may also order on."""
    return frozenset(
        {str(r) for r, o in RULE_DEPARTMENTS.items() if o.department == department}
        | {str(r) for r, d in RULE_ALSO.items() if d == department}
    )


# Where an alert opens when it must not wait for the facility to pass it on (default: the facility).
OPENS_AT: dict[str, str] = {"double_shift": "county", "children_during_suspension": "county"}


def opening_level(rule: str) -> str:
    """The escalation level an alert of this rule opens at (CONTRACT §5)."""
    return OPENS_AT.get(rule, "facility")


# Escalation delays from the alert's opening: facility → township → county → city (CONTRACT §5).
ESCALATION_S = {"default": (300.0, 900.0, 1800.0), "critical": (60.0, 180.0, 300.0)}
LEVELS = ("facility", "township", "county", "city")
# Alerts about a child's or a person's life and the ways out: a user's quiet hours never hold their
# notifications back (issue #17), whatever severity a deployment gives them. Every critical alert too.
LIFE_SAFETY_RULES = frozenset(
    {
        "fire_alarm",
        "gas_alarm",
        "panic_button",
        "unauthorized_pickup",
        "banned_staff_on_site",
        "child_not_collected",
        "exit_obstructed",
        "door_forced",
    }
)

# What a maintenance window silences (issue #37, #38 H): the health of the devices under work, and
# nothing else. A window is the supervised facility's own act, so it never mutes a life-safety alert, a
# staffing lapse or anything else towards the inspectors; those are notified as always, and a window
# never removes an alert from the record or the credit evaluation.
MAINTENANCE_MUTES = frozenset(
    {
        RuleId.DEVICE_OFFLINE.value,
        RuleId.CAMERA_BLIND_SPOT.value,
        RuleId.DEVICE_FAULT.value,
        RuleId.LOW_BATTERY.value,
    }
)
assert not MAINTENANCE_MUTES & LIFE_SAFETY_RULES  # noqa: S101 - a guard on the two sets above

# Who sets a maintenance window, and how much of it there may be (issue #37 item 3). A window is asked
# for by the supervised facility and takes effect only once an inspector whose scope covers it (or an
# admin) approves it, or when such an inspector sets it; a requested, rejected or withdrawn window
# mutes nothing and excuses nothing. The numbers:
# - no start in the past beyond MAINTENANCE_START_GRACE: a window is announced before the work, never
#   written afterwards over a lapse (10 min covers a phone's clock and the time to fill in the form);
# - at most MAINTENANCE_MAX_WINDOW long: one working day covers a facility's open hours (about 07:30 to
#   18:00) for swapping a detector, a camera or a panel; longer work is split, so an inspector looks
#   again the next day, and a device away for days is a lapse, not maintenance;
# - at most MAINTENANCE_MONTHLY of approved window a month per facility (calendar months of
#   MAINTENANCE_MONTH_ZONE, the time covered by any of its windows counted once, a window across a
#   month's end counted in each month for its part): two such days a month. A window excuses nothing
#   in the credit evaluation (contract/credit.py, method 2026-12b): it only keeps device-health noise
#   from the people notified.
MAINTENANCE_START_GRACE = timedelta(minutes=10)
MAINTENANCE_MAX_WINDOW = timedelta(hours=12)
MAINTENANCE_MONTHLY = timedelta(hours=24)
MAINTENANCE_MONTH_ZONE = "Asia/Shanghai"
# A window's states: requested → approved | rejected | withdrawn; only `approved` has any effect.
MAINTENANCE_STATUSES = ("requested", "approved", "rejected", "withdrawn")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(v: Any) -> float:
    """`10s`, `5m`, `2h`, `1d` or a number of seconds."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    m = _DURATION.match(str(v))
    if not m:
        raise RulesConfigError(f"not a duration: {v!r} (use e.g. 10s, 5m, 2h)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def load_rules(path: Path | None) -> dict[str, RuleConfig]:
    """Defaults with the overrides file applied; raises RulesConfigError naming what is wrong."""
    rules: dict[str, RuleConfig] = dict(DEFAULTS)
    if path is None:
        return rules
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise RulesConfigError(f"{path}: {err}") from err
    if not isinstance(data, dict):
        raise RulesConfigError(f"{path}: expected a mapping of rule ids")
    for rule, over in data.items():
        if rule not in rules:
            raise RulesConfigError(f"{path}: unknown rule {rule!r}")
        if not isinstance(over, dict):
            raise RulesConfigError(f"{path}: {rule}: expected a mapping")
        rules[rule] = _apply(rule, rules[rule], over, path)
    return rules


def _apply(rule: str, base: RuleConfig, over: dict[str, Any], path: Path) -> RuleConfig:
    unknown = set(over) - {"for", "severity", "threshold", "hold"}
    if unknown:
        raise RulesConfigError(f"{path}: {rule}: unknown key(s) {', '.join(sorted(unknown))}")
    cfg = base
    if "for" in over:
        cfg = replace(cfg, for_s=parse_duration(over["for"]))
    if "hold" in over:
        cfg = replace(cfg, hold_s=parse_duration(over["hold"]))
    if "severity" in over:
        if over["severity"] not in SEVERITIES:
            raise RulesConfigError(f"{path}: {rule}: severity must be one of {', '.join(SEVERITIES)}")
        cfg = replace(cfg, severity=Severity(over["severity"]))
    if "threshold" in over:
        t = over["threshold"]
        if isinstance(t, dict):
            bad = set(t) - set(base.thresholds)
            if bad:
                raise RulesConfigError(
                    f"{path}: {rule}: unknown threshold(s) {', '.join(sorted(bad))}; "
                    f"known: {', '.join(base.thresholds) or 'none'}"
                )
            merged = {**base.thresholds, **{k: _num(v, path, rule) for k, v in t.items()}}
        elif len(base.thresholds) == 1:
            merged = {next(iter(base.thresholds)): _num(t, path, rule)}
        else:
            raise RulesConfigError(f"{path}: {rule}: give threshold as a mapping of {', '.join(base.thresholds)}")
        cfg = replace(cfg, thresholds=merged)
    return cfg


def _num(v: Any, path: Path, rule: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise RulesConfigError(f"{path}: {rule}: threshold {v!r} is not a number")
    try:
        return parse_duration(v) if isinstance(v, str) else float(v)
    except RulesConfigError as err:
        raise RulesConfigError(f"{path}: {rule}: threshold {v!r} is not a number") from err


@dataclass(frozen=True, slots=True)
class Key:
    rule: str
    device_id: str | None = None
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    severity: str
    summary: str
    summary_en: str
    for_s: float = 0.0
    # When what it is about happened, by the device's own time corrected by its clock's learnt error (an
    # event's, a one-off's), and why it reached the engine late, if it did (contract.occurred.CAUSES);
    # None: the condition has no time of its own, it holds from when the engine judged it (a silence, a
    # span of people data). Not part of what the condition is: two conditions alike but for these are
    # the same alert.
    at: datetime | None = field(default=None, compare=False)
    cause: str | None = field(default=None, compare=False)


# -- thresholds that more than the engine shows -------------------------------------------------------
# The engine and the pages read these from the same rules mapping (overrides included), so the
# "online" dot and the caregiver count on a page never disagree with the alerts.


# How each device type's silence is judged (CONTRACT §4 `device_offline`, issue #42). A device is
# *silent* after the rule's `heartbeats` heartbeat intervals without a word (and min_silence_s): shown to
# the operator on the facility page, no alert. It is *offline*, and device_offline opens, after `extra`
# further intervals (at least min_silence_s) — but never later than `ceiling_s` after its last report,
# whatever heartbeat the registry or the device itself declares: that ceiling is the worst case from a
# device's death to its alert, the contract's promise to the inspectors, and a deployment's rules file
# cannot lengthen it. The heartbeats are the simulator's (simulators/registry_gen.py), as installers
# configure them. Losses: 1 heartbeat in 500, independently (simulators/engine.py; bench truth).
# Three in a row lost is 1 in 1.25e8 heartbeats: a device every 5 min sends 288 a day, so a province's
# 10,000 panic buttons lost three in a row about every 43 days, each a false major alert on the old rule
# (`bench truth`, 2026-11-30: the one false alert of 1,800 facility-days); 4.5 intervals tolerate three
# lost in a row with half an interval for delivery (the fourth's arrival, a gateway's 10 s batch), and
# four in a row (1 in 6.25e10) happens in that province about once in 60 years.
@dataclass(frozen=True, slots=True)
class SilencePolicy:
    extra: float  # heartbeat intervals of "silent" before "offline" (0: offline as soon as silent)
    ceiling_s: float  # offline never later than this after the last report: the worst case from death to alert
    why: str


_LOST_3 = 1.5  # 3 + 1.5 = 4.5 intervals: three heartbeats lost in a row are not an outage
DEVICE_SILENCE: dict[DeviceType, SilencePolicy] = {
    DeviceType.PANIC_BUTTON: SilencePolicy(
        _LOST_3,
        1800,
        "battery-powered, asleep between presses: a heartbeat every 5 min is all it says; three lost in a "
        "row were the last false alert of bench truth. A press is an event sent at once; the heartbeat only "
        "proves the button could send one. Silent after 15 min, offline after 22.5 min, at most 30 min",
    ),
    DeviceType.SMOKE_DETECTOR: SilencePolicy(
        _LOST_3,
        900,
        "battery-powered, a status every 2 min and nothing else unless it alarms: silent after 6 min, "
        "offline after 9 min, at most 15 min",
    ),
    DeviceType.HEAT_DETECTOR: SilencePolicy(_LOST_3, 900, "as a smoke detector (kitchens): offline after 9 min"),
    DeviceType.GAS_DETECTOR: SilencePolicy(
        _LOST_3, 900, "a status and a reading every 2 min each: offline after 9 min, at most 15 min"
    ),
    DeviceType.CO_DETECTOR: SilencePolicy(_LOST_3, 900, "as a gas detector (boiler rooms): offline after 9 min"),
    DeviceType.ACCESS_CONTROLLER: SilencePolicy(
        0,
        900,
        "mains-powered, a status every minute and every badge at once: 5 min of silence (five heartbeats) "
        "is an outage, and the staffing rules are blind while it lasts",
    ),
    DeviceType.EXIT_DOOR: SilencePolicy(0, 900, "mains-powered, a status every minute: offline after 5 min"),
    DeviceType.GATEWAY: SilencePolicy(
        0,
        900,
        "the facility's uplink, a status every 30 s and a Last Will: offline after 5 min of silence, or "
        "60 s after it said it is offline",
    ),
    DeviceType.CAMERA: SilencePolicy(
        0, 900, "mains-powered, a status every minute: offline after 5 min (over a child area, blind 2 min later)"
    ),
    DeviceType.ENV_SENSOR: SilencePolicy(0, 3600, "a reading every minute: offline after 5 min, minor"),
    DeviceType.EXTINGUISHER_GAUGE: SilencePolicy(
        _LOST_3,
        3600,
        "a pressure reading and a status every 5 min; a gauge loses pressure over days: silent after 15 min, "
        "offline after 22.5 min, minor",
    ),
    DeviceType.WATER_PRESSURE: SilencePolicy(_LOST_3, 3600, "as an extinguisher gauge (hydrant risers), minor"),
    DeviceType.EMERGENCY_LIGHT: SilencePolicy(
        _LOST_3, 3600, "a status every 5 min, nothing else: offline after 22.5 min, minor"
    ),
    DeviceType.PATROL_POINT: SilencePolicy(
        _LOST_3, 3600, "a status every 5 min and the guards' scans: offline after 22.5 min, minor"
    ),
}
assert set(DEVICE_SILENCE) == set(DeviceType)  # noqa: S101 - every type says how its silence is judged


def silent_after_s(rules: Mapping[str, RuleConfig], device_type: str, heartbeat_s: float) -> float:
    """Seconds of silence after which a device is shown silent (no alert; CONTRACT §4)."""
    t = rules[RuleId.DEVICE_OFFLINE].thresholds
    floor = t.get("min_silence_s", 0.0)
    return min(offline_after_s(rules, device_type, heartbeat_s), max(t["heartbeats"] * heartbeat_s, floor))


def offline_after_s(rules: Mapping[str, RuleConfig], device_type: str, heartbeat_s: float) -> float:
    """Seconds of silence after which a device of this type and heartbeat is offline (device_offline)."""
    beats, floor, ceiling = offline_params(rules, device_type)
    return min(ceiling, max(beats * heartbeat_s, floor))


def offline_params(rules: Mapping[str, RuleConfig], device_type: str) -> tuple[float, float, float]:
    """(heartbeat intervals, minimum seconds, ceiling in seconds) of silence that make a device of this type
    offline, for SQL that computes `least(ceiling, greatest(beats * heartbeat_s, floor))` per device."""
    t = rules[RuleId.DEVICE_OFFLINE].thresholds
    p = DEVICE_SILENCE[DeviceType(device_type)]
    return t["heartbeats"] + p.extra, t.get("min_silence_s", 0.0), p.ceiling_s


def device_liveness(
    rules: Mapping[str, RuleConfig], device_type: str, heartbeat_s: float, said_online: bool, silent_s: float
) -> str:
    """Online, silent (quiet longer than usual, not yet alerted) or offline, as the engine judges it:
    a device that said it is offline is offline (the alert waits reconnect_grace_s)."""
    if not said_online or silent_s > offline_after_s(rules, device_type, heartbeat_s):
        return "offline"
    return "silent" if silent_s > silent_after_s(rules, device_type, heartbeat_s) else "online"


# A device's reconnect grace is spent over flapping: the time it said it was offline within the last
# OFFLINE_WINDOW_S adds up, so that going offline for 19 s and back for 1 s, again and again, is reported
# once 60 s of it have added up (about a minute after it began) rather than never. One real return (a
# restart of the demo, whose gateways stay away about 20 s; a broker restart) spends a third of it.
OFFLINE_WINDOW_S = 600.0


def reconnect_grace_s(rules: Mapping[str, RuleConfig]) -> float:
    """Seconds a device that said it is offline (a Last Will) has to come back before it is reported."""
    return rules[RuleId.DEVICE_OFFLINE].thresholds.get("reconnect_grace_s", 0.0)


def carers_needed(rules: Mapping[str, RuleConfig], age_group: str, children: int) -> int:
    """Caregivers a class of `children` of this age group needs by the ratio rule."""
    return math.ceil(children / rules[RuleId.RATIO_BREACH].thresholds[age_group])


class NoteRequired(DomainError):
    """Acknowledging a critical or major alert says what was found and done (issue #16: an operator must not
    silence their own fire alarm with an empty click, nor with a space, a dot or one letter)."""


# the least a note on a latching (critical or major) alert holds: letters or digits, a Chinese character
# counting as one; whitespace and punctuation do not count, nor one character repeated ("aaaa", "。。。。")
NOTE_MIN_SUBSTANCE = 4


def note_substance(note: str) -> int:
    """The letters and digits of `note` (any script), 0 when they are all one character repeated."""
    kept = [c for c in note if c.isalnum()]
    return len(kept) if len(set(kept)) > 1 else 0


def check_acknowledgement(severity: str, note: str) -> None:
    """The acknowledgement rule (the web's and the API's, one place): a critical or major alert (those that
    latch until acknowledged) needs a note of at least NOTE_MIN_SUBSTANCE letters or digits; a minor alert
    or a warning may be acknowledged without one."""
    if severity in LATCHING and note_substance(note) < NOTE_MIN_SUBSTANCE:
        raise NoteRequired(
            f"a {severity} alert is acknowledged with a note of what was found and what was done"
            f" (at least {NOTE_MIN_SUBSTANCE} letters or digits)"
        )
