"""People (CONTRACT §4): who is on site from access events; banned and unqualified staff, children the
registry does not know, classes over capacity, guards and the carer ratio while open, patrols, children
not collected after closing, entries outside opening hours, pick-ups by someone who is neither a guardian
nor a delegate valid at that moment (supervision.pickup), repeated refusals, and the data-quality signals
an operator needs (no attendance scans, badge-ins never badged out).

Access events are applied in event time: for each person the latest event wins, ties at the same
timestamp going to the one that arrived later (a device's own order: MQTT keeps it per connection
and a batch keeps it per item). Who is on site belongs to one local day and resets at its end.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from alerts import counting, workforce
from contract.names import ref
from contract.payloads import Access
from contract.registry import StaffRole, required_guards
from contract.rules import Condition, Key
from supervision.pickup import judge_pickup

if TYPE_CHECKING:
    from alerts.view import FacilityState, FacilityView
    from contract.registry import Staff

PRESENCE = {"staff_in", "staff_out", "child_in", "child_out"}
# scans that come late from a spool are folded in at their own times (alerts.facility FacilityRuntime.backlog)
REPLAYED = frozenset(PRESENCE | {"patrol"})
ROUND_GAP = timedelta(minutes=20)


def on_access(rt: FacilityState, dev: str, a: Access, at: datetime) -> None:
    t, person = a.type.value, a.person_id
    day = rt.local(at).date()
    if rt.day is None or day > rt.day:
        roll_day(rt, at)
    current = day == rt.day
    if t in PRESENCE and person:
        last = rt.person_last.get(person)
        if last is not None and at < last:
            current = False  # older than what we know of this person: its pulses count, not its presence
        else:
            rt.person_last[person] = at
    if t == "staff_in" and person:
        staff = rt.staff.get(person)
        if current:
            workforce.arrived(rt, person, staff, at)
        allowed = _staff_may_enter(rt, staff, at) if staff is not None else rt.is_open(at)  # unknown: no margin
        if not allowed and not (staff and staff.role is StaffRole.GUARD):
            rt.pulse(
                Key("after_hours_entry", subject=person),
                at,
                f"非开放时间人员进入（{ref('person', person)}）",
                f"entry outside opening hours ({ref('person', person)})",
            )
    elif t == "staff_out" and person:
        if current:
            workforce.left(rt, rt.staff_on_site.pop(person, None))
    elif t == "visitor_in" and person and not rt.is_open(at):
        rt.pulse(
            Key("after_hours_entry", subject=person),
            at,
            f"非开放时间访客进入（{ref('card', person)}）",
            f"visitor entry outside opening hours ({ref('card', person)})",
        )
    elif t == "child_in" and person:
        child = rt.children.get(person)
        if day == rt.day:
            rt.child_scans += 1
        if child is not None and current:
            rt.children_present[person] = child.class_
        elif child is None and current:
            rt.unknown_children.add(person)  # like a staff badge the registry does not know: flagged
    elif t == "child_out" and person:
        if day == rt.day:
            rt.child_scans += 1
        if current:
            rt.children_present.pop(person, None)
            rt.unknown_children.discard(person)
        pickup(rt, person, a.guardian_id, at)
    elif t == "patrol":
        rt.last_patrol = at if rt.last_patrol is None else max(rt.last_patrol, at)
        if day == rt.day:
            rt.patrols.append((at, dev))
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
                f"门禁多次拒绝（{ref('device', dev)}，{len(q)} 次）",
                f"repeated access denied at {ref('device', dev)} ({len(q)} times)",
            )


# why a pick-up was not allowed (supervision.pickup.Verdict.why), as the alert says it
_PICKUP_WHY = {
    "none": ("未登记接送人", "no collector recorded"),
    "unknown": ("非监护人", "not a guardian or delegate"),
    "expired": ("委托已过期", "delegate expired"),
    "not_yet": ("委托尚未生效", "delegate not yet valid"),
    "revoked": ("委托已撤销", "delegate revoked"),
    "used": ("一次性委托已使用", "one-off delegate already used"),
    "unknown_child": ("幼儿不在登记名册", "child not in the registry"),
}


def pickup(rt: FacilityState, child_id: str, guardian_id: str | None, at: datetime) -> None:
    """A `child_out`: allowed for a registered guardian or a delegate valid at `at` (supervision.pickup);
    anything else is a critical `unauthorized_pickup`. A one-off delegate's first valid pick-up spends it.
    A child left on site overnight is no longer (badged out, whenever: the child left)."""
    rt.children_overnight.pop(child_id, None)
    child = rt.children.get(child_id)
    v = judge_pickup(
        child.guardians if child is not None else None,
        rt.delegates.get(child_id, ()),
        guardian_id,
        at,
        rt.delegate_used,
    )
    if v.allowed:
        d = v.delegate
        if d is not None and d.kind == "one_off":
            first = rt.delegate_used.get(d.id)
            rt.delegate_used[d.id] = at if first is None else min(first, at)
        return
    zh, en = _PICKUP_WHY[v.why]
    kid, who_zh, who_en = ref("child", child_id), "无登记", "none"
    if guardian_id:
        who_zh = who_en = ref("card", guardian_id)
    rt.pulse(
        Key("unauthorized_pickup", subject=child_id),
        at,
        f"{kid} 被非授权人员接走（{who_zh}，{zh}）",
        f"{kid} released to someone not authorised ({who_en}: {en})",
    )


def _staff_may_enter(rt: FacilityView, staff: Staff, at: datetime) -> bool:
    """Staff may badge in on an open day from `staff_margin_min` before opening until as long after closing,
    or within their role's own hours (`opening_hours.roles`: the kitchen from 06:00), whichever is wider."""
    day = rt.local(at).date()
    hours = rt.hours_of(day)
    if hours is None:
        return False
    margin = timedelta(minutes=rt.rules["after_hours_entry"].thresholds["staff_margin_min"])
    lo, hi = hours[0] - margin, hours[1] + margin
    role = rt.facility.opening_hours.roles.get(staff.role)
    if role is not None and role.arrive is not None:
        lo = min(lo, datetime.combine(day, role.arrive, rt.tz))
    if role is not None and role.leave is not None:
        hi = max(hi, datetime.combine(day, role.leave, rt.tz))
    return lo <= at < hi


def roll_day(rt: FacilityState, clock: datetime) -> None:
    """At the facility's local day end, who is on site starts afresh: whoever badged in and never out is
    a data-quality signal for the operator (`badge_out_missing`), never occupancy for the next day."""
    day = rt.local(clock).date()
    if rt.day is not None and day <= rt.day:
        return
    if rt.day is not None:
        end = datetime.combine(rt.day + timedelta(days=1), time(0), rt.tz)
        _judge_patrols(rt, rt.day)
        watch = rt.facility.night_watch
        stayed = [p for p, s in rt.staff_on_site.items() if not (watch and s and s.role is StaffRole.GUARD)]
        for person in [*stayed, *rt.children_present, *sorted(rt.unknown_children)]:
            rt.pulse(
                Key("badge_out_missing", subject=person),
                end,
                f"有进无出：{ref('person', person)} 当日未刷卡离开",
                f"{ref('person', person)} badged in but never out that day",
            )
        for person in stayed:
            workforce.left(rt, rt.staff_on_site.pop(person, None))
        # The reset is for staff and data, never for a child: one still badged in stays on site, its
        # alert open and raised to critical, until badged out or its whereabouts recorded (issue #42).
        for child in rt.children_present:
            if child not in rt.children_overnight:
                rt.children_overnight[child] = end
                rt.raised.append(Key("child_not_collected", subject=child))
        rt.children_present.clear()
        rt.unknown_children.clear()
    rt.day = day
    rt.child_scans = 0
    rt.patrols = []


def _judge_patrols(rt: FacilityState, day: date) -> None:
    """Once a day, at closing: enough patrols, and every checkpoint scanned (GB/T 29315-2022)."""
    if rt.patrols_judged == day or not rt.patrol_points:
        return
    hours = rt.hours_of(day)
    if hours is None or hours[0] < rt.started:
        return  # closed, or we did not see the whole day
    rt.patrols_judged = day
    cfg = rt.rules["patrol_missed"].thresholds
    span = (hours[1] - hours[0]).total_seconds()
    needed = min(int(cfg["per_day"]), int(span // cfg["interval_s"]) + 1)
    done = sorted(p for p in rt.patrols if hours[0] <= p[0] <= hours[1])
    missing = [ref("device", d) for d in sorted(rt.patrol_points - {dev for _, dev in done})]
    # a patrol is a round over the checkpoints: scans less than ROUND_GAP apart belong to one round
    rounds = sum(1 for i, (t, _) in enumerate(done) if i == 0 or t - done[i - 1][0] > ROUND_GAP)
    if rounds >= needed and not missing:
        return
    rt.pulse(
        Key("patrol_missed", subject=f"day:{day.isoformat()}"),
        hours[1],
        f"{day} 巡更 {rounds}/{needed} 次" + (f"，未巡检查点：{'、'.join(missing)}" if missing else ""),
        f"{day}: {rounds} of {needed} patrols"
        + (f"; checkpoints never scanned: {', '.join(missing)}" if missing else ""),
    )


def conditions(rt: FacilityView, out: dict[Key, Condition], clock: datetime) -> None:
    """Who is on site now: banned or unqualified staff and the same person elsewhere (alerts.workforce,
    with the register of people), classes over capacity."""
    workforce.on_site_conditions(rt, out, rt.local(clock).date())
    for person in rt.unknown_children:
        out[Key("unknown_child_on_site", subject=person)] = rt.cond(
            "unknown_child_on_site",
            f"未登记幼儿刷卡入园（{ref('card', person)}），请核实并补录名册",
            f"a child not in the registry badged in ({ref('card', person)}): check and register",
        )
    if rt.suspended_since is not None and rt.children_present:
        # a suspension is no closure (storage/suspensions.py): the day is judged as open, and this is raised too
        out[Key("children_during_suspension")] = rt.cond(
            "children_during_suspension",
            "停业整改期间有幼儿在园，请立即核查",
            "children on site while the facility is ordered to suspend operation: check at once",
        )
    per_class = _per_class(rt)
    for cls, n in per_class.items():
        info = rt.classes.get(cls)
        if info is not None and n > info.capacity:
            out[Key("class_over_capacity", subject=cls)] = rt.cond(
                "class_over_capacity",
                f"班级超额：{ref('class', cls)} {n}/{info.capacity}",
                f"class {ref('class', cls)} over capacity {n}/{info.capacity}",
            )


def _per_class(rt: FacilityView) -> dict[str, int]:
    """Children on site per class."""
    out: dict[str, int] = {}
    for cls in rt.children_present.values():
        out[cls] = out.get(cls, 0) + 1
    return out


# the rules window_conditions judges, only on complete data (Tracker.step holds them meanwhile)
# (patrol_missed too: its gap is judged here; left out, a restart cleared an open one and opened it again a
# minute later, once the facility's data was complete)
WINDOW_RULES = frozenset({"guard_absent", "ratio_breach", "child_not_collected", "attendance_missing", "patrol_missed"})


def window_conditions(rt: FacilityState, clock: datetime) -> dict[Key, Condition]:
    """The rules that judge a span of time, at the facility's clock: only on complete data."""
    out: dict[Key, Condition] = {}
    today = rt.local(clock).date()
    hours = hours_in_fact(rt, today)
    per_class = _per_class(rt)
    if hours is not None and hours[0] <= clock < hours[1]:
        staffing(rt, out, clock, hours[0], per_class)
    elif rt.facility.night_watch:
        _patrol_gap(rt, out, clock, rt.started)
    if hours is not None and clock >= hours[1]:
        _judge_patrols(rt, today)
    grace = rt.rules["child_not_collected"].thresholds["after_close_min"]
    if hours is not None and clock >= hours[1] + timedelta(minutes=grace):
        for child in rt.children_present:
            out[Key("child_not_collected", subject=child)] = rt.cond(
                "child_not_collected",
                f"闭园后幼儿未被接走（{ref('child', child)}）",
                f"child not collected after closing ({ref('child', child)})",
            )
    for child, since in rt.children_overnight.items():
        out[Key("child_not_collected", subject=child)] = rt.cond(
            "child_not_collected",
            f"幼儿 {rt.local(since):%m-%d} 闭园后未离园，至今未刷卡离开或登记去向（{ref('child', child)}）",
            f"child still on site since closing on {rt.local(since):%m-%d}: not badged out, whereabouts not"
            f" recorded ({ref('child', child)})",
            severity="critical",
        )
    return out


def hours_in_fact(rt: FacilityView, day: date) -> tuple[datetime, datetime] | None:
    """The day's opening hours as the window rules hold the facility to them. A day closed by the calendar
    (a holiday, a county's 停课, the facility's own approved closure) with children badged in is open in
    fact: from the earliest badge-in that day of the children on site to the weekday's usual closing time, guards,
    the carer ratio, patrols and children not collected are judged as on any open day. So no closure (nor a
    holiday) hides what happens to children who are there (issue #42 item 4; CONTRACT §3)."""
    hours = rt.hours_of(day)
    if hours is not None or not rt.children_present:
        return hours
    # children badged in on this day: one still on site from the day before is the child's own alert's
    # (child_not_collected across midnight), not a day opened in fact
    arrived = [t for c in rt.children_present if (t := rt.person_last.get(c)) is not None and rt.local(t).date() == day]
    if not arrived:
        return None
    _, close = rt.facility.opening_hours.usual_hours(day)
    closing = datetime.combine(day, close, rt.tz)
    return min(*arrived, closing), closing


def whereabouts_recorded(rt: FacilityState, child: str, at: datetime) -> bool:
    """The operator recorded where a child left overnight is (with a note, at `at`; web.actions): the
    child is no longer on site by the records. Whether the child was one."""
    since = rt.children_overnight.get(child)
    if since is None or at < since:
        return False
    del rt.children_overnight[child]
    return True


def staffing(
    rt: FacilityView, out: dict[Key, Condition], clock: datetime, opened: datetime, per_class: dict[str, int]
) -> None:
    guards = sum(1 for s in rt.staff_on_site.values() if s is not None and s.role is StaffRole.GUARD)
    need_guards = required_guards(len(rt.facility.children))
    if guards < need_guards:
        out[Key("guard_absent")] = rt.cond(
            "guard_absent", f"保安在岗 {guards}/{need_guards}", f"guards on site {guards} of {need_guards} required"
        )
    attendance_after = timedelta(minutes=rt.rules["attendance_missing"].thresholds["after_open_min"])
    basis = per_class
    if rt.facility.children and rt.child_scans == 0 and clock >= max(opened, rt.started) + attendance_after:
        out[Key("attendance_missing")] = rt.cond(
            "attendance_missing",
            "开园后无幼儿刷卡记录，按在册人数核定师幼比",
            "no child scanned in since opening; the carer ratio is judged on enrolment",
        )
        basis = {}
        for c in rt.facility.children:
            basis[c.class_] = basis.get(c.class_, 0) + 1
    ratio = rt.rules["ratio_breach"].thresholds
    need = sum(math.ceil(n / ratio[rt.classes[c].age_group.value]) for c, n in basis.items() if c in rt.classes)
    # only carers qualified on the day, banned by nobody, count (alerts.workforce; issue #39)
    carers = workforce.carers_on_site(rt, rt.local(clock).date())
    # where every child area's camera counts adults, carers badged in but not with the children do not
    # count (alerts.counting: the carers who stay badged in while away, issue #37)
    seen = counting.adults_seen(rt, clock)
    if seen is not None and seen < carers and seen < need:
        out[Key("ratio_breach")] = rt.cond(
            "ratio_breach",
            f"保育人员刷卡在岗 {carers} 人，但婴幼儿活动区摄像头仅见成人 {seen} 人，需 {need} 人，师幼比不达标",
            f"carers badged in {carers}, but the child areas' cameras see {seen} adults; {need} required",
        )
    elif carers < need:
        out[Key("ratio_breach")] = rt.cond(
            "ratio_breach",
            f"保育人员 {carers}/{need}，师幼比不达标",
            f"carers on site {carers} of {need} required",
        )
    _patrol_gap(rt, out, clock, max(opened, rt.started))


def _patrol_gap(rt: FacilityView, out: dict[Key, Condition], clock: datetime, since: datetime) -> None:
    interval = rt.rules["patrol_missed"].thresholds["interval_s"]
    since = max(since, rt.last_patrol) if rt.last_patrol is not None else since
    if (clock - since).total_seconds() > interval:
        hours = interval / 3600
        out[Key("patrol_missed")] = rt.cond(
            "patrol_missed", f"超过 {hours:g} 小时未巡更", f"no patrol scan for over {hours:g} h"
        )
