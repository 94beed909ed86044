"""People (CONTRACT §4): who is on site from access events; banned and unqualified staff, classes over
capacity, guards and the caregiver ratio while open, patrols, children not collected after closing,
entries outside opening hours, pick-ups by someone who is not a guardian, repeated refusals."""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from contract.payloads import Access
from contract.registry import StaffRole, required_guards
from contract.rules import Condition, Key

if TYPE_CHECKING:
    from alerts.facility import FacilityRuntime

CAREGIVER_ROLES = {StaffRole.CAREGIVER}


def on_access(rt: FacilityRuntime, dev: str, a: Access, at: datetime) -> None:
    t, person = a.type.value, a.person_id
    if t == "staff_in" and person:
        staff = rt.staff.get(person)
        rt.staff_on_site[person] = staff.role if staff else None
        if not rt.is_open(at) and not (staff and staff.role is StaffRole.GUARD):
            rt.pulse(
                Key("after_hours_entry", subject=person),
                at,
                f"非开放时间人员进入（{person}）",
                f"entry outside opening hours ({person})",
            )
    elif t == "staff_out" and person:
        rt.staff_on_site.pop(person, None)
    elif t == "visitor_in" and person and not rt.is_open(at):
        rt.pulse(
            Key("after_hours_entry", subject=person),
            at,
            f"非开放时间访客进入（{person}）",
            f"visitor entry outside opening hours ({person})",
        )
    elif t == "child_in" and person:
        child = rt.children.get(person)
        if child is not None:
            rt.children_present[person] = child.class_
    elif t == "child_out" and person:
        rt.children_present.pop(person, None)
        child = rt.children.get(person)
        if child is None or a.guardian_id is None or a.guardian_id not in child.guardians:
            who = a.guardian_id or "无登记 / none"
            rt.pulse(
                Key("unauthorized_pickup", subject=person),
                at,
                f"幼儿 {person} 被非监护人接走（{who}）",
                f"child {person} released to a non-guardian ({who})",
            )
    elif t == "patrol":
        rt.last_patrol = at
    elif t == "denied":
        cfg = rt.rules["repeated_access_denied"]
        q = rt.denied.setdefault(dev, deque())
        q.append(at)
        while q and (at - q[0]).total_seconds() > cfg.thresholds["window_s"]:
            q.popleft()
        if len(q) >= cfg.thresholds["count"]:
            rt.pulse(
                Key("repeated_access_denied", dev),
                at,
                f"门禁多次拒绝（{dev}，{len(q)} 次）",
                f"repeated access denied at {dev} ({len(q)} times)",
            )


def conditions(rt: FacilityRuntime, out: dict[Key, Condition], now: datetime) -> None:
    today = rt.local(now).date()
    for person, _role in rt.staff_on_site.items():
        s = rt.staff.get(person)
        if s is not None and s.banned:
            out[Key("banned_staff_on_site", subject=person)] = rt.cond(
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
            out[Key("unqualified_staff_on_site", subject=person)] = rt.cond(
                "unqualified_staff_on_site", f"{why[0]}（{person}）", f"{why[1]} ({person})"
            )
    per_class: dict[str, int] = {}
    for cls in rt.children_present.values():
        per_class[cls] = per_class.get(cls, 0) + 1
    for cls, n in per_class.items():
        info = rt.classes.get(cls)
        if info is not None and n > info.capacity:
            out[Key("class_over_capacity", subject=cls)] = rt.cond(
                "class_over_capacity",
                f"班级超额：{cls} {n}/{info.capacity}",
                f"class {cls} over capacity {n}/{info.capacity}",
            )
    if rt.is_open(now):
        staffing(rt, out, now, per_class)
    close = rt.close_of(today)
    grace = rt.rules["child_not_collected"].thresholds["after_close_min"]
    if close is not None and now >= close + timedelta(minutes=grace):
        for child in rt.children_present:
            out[Key("child_not_collected", subject=child)] = rt.cond(
                "child_not_collected",
                f"闭园后幼儿未被接走（{child}）",
                f"child not collected after closing ({child})",
            )


def staffing(rt: FacilityRuntime, out: dict[Key, Condition], now: datetime, per_class: dict[str, int]) -> None:
    guards = sum(1 for r in rt.staff_on_site.values() if r is StaffRole.GUARD)
    need_guards = required_guards(len(rt.facility.children))
    if guards < need_guards:
        out[Key("guard_absent")] = rt.cond(
            "guard_absent", f"保安在岗 {guards}/{need_guards}", f"guards on site {guards} of {need_guards} required"
        )
    ratio = rt.rules["ratio_breach"].thresholds
    need = sum(math.ceil(n / ratio[rt.classes[c].age_group.value]) for c, n in per_class.items() if c in rt.classes)
    carers = sum(1 for r in rt.staff_on_site.values() if r in CAREGIVER_ROLES)
    if carers < need:
        out[Key("ratio_breach")] = rt.cond(
            "ratio_breach",
            f"保育人员 {carers}/{need}，师幼比不达标",
            f"caregivers on site {carers} of {need} required",
        )
    interval = rt.rules["patrol_missed"].thresholds["interval_s"]
    opened = datetime.combine(rt.local(now).date(), rt.facility.opening_hours.open, rt.tz)
    since = max(t for t in (rt.last_patrol, opened, rt.started) if t is not None)
    if (now - since).total_seconds() > interval:
        out[Key("patrol_missed")] = rt.cond("patrol_missed", "超过两小时未巡更", "no patrol scan for over 2 h")
