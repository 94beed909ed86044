"""The register of people in the rules (CONTRACT §4; issue #39 item 2). Pure logic, no I/O.

The engine is handed the register like the registry (`Register`: person key → `contract.people.Person`).
A staff record linked to a person (`Staff.person`) is judged by the register: their ban applies at
every facility whatever the facility's own record says, and their certificates, health certificate,
annual health check and training decide whether they are qualified (the facility's own `qualified`,
`licensed` and `health_cert_expires` flags are not believed over it). A record with no person is
judged by the facility's flags, as before the register.

`Workforce` is where each person of the register is badged in, over every facility of one engine:
the same person on site at two facilities at once is `double_shift` (挂证). An engine split into
shards (`carewatch alerts --shard k/M`) sees only its own facilities: two facilities in different
shards are not compared (CONTRACT §4 notes it).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from alerts.state import Presence
from contract.names import ref
from contract.people import (
    ROLE_QUALIFICATIONS,
    Person,
    Qualification,
    health_staff_needed,
    plus_year,
)
from contract.registry import StaffRole
from contract.rules import Condition, Key

if TYPE_CHECKING:
    from alerts.view import FacilityState, FacilityView
    from contract.registry import Staff

QUALIFICATION_NAMES = {
    Qualification.CHILDCARE: ("保育员证", "childcare worker certificate"),
    Qualification.INFANT_CARE: ("育婴员证", "infant carer certificate"),
    Qualification.TEACHER: ("教师资格证", "teacher's certificate"),
    Qualification.HEALTH: ("保健医资格", "health-care qualification"),
    Qualification.GUARD: ("保安员证", "security guard licence"),
}
_CARER_QUALIFICATIONS = ROLE_QUALIFICATIONS["caregiver"]


# -- hooks the people rules call as who is on site changes ------------------------------------------------
def arrived(rt: FacilityState, staff_id: str, staff: Staff | None, at: datetime) -> None:
    """On site at this facility from `at` (and, for a person of the register, in the workforce)."""
    rt.staff_on_site[staff_id] = staff
    if staff is not None and staff.person is not None:
        rt.workforce.arrive(staff.person, Presence(rt.facility.id, rt.facility.name, staff_id, at))


def left(rt: FacilityState, staff: Staff | None) -> None:
    if staff is not None and staff.person is not None:
        rt.workforce.leave(staff.person, rt.facility.id)


# -- a person's standing ----------------------------------------------------------------------------
def ban_of(s: Staff, p: Person | None) -> tuple[str, str] | None:
    """Why this person is banned (zh, en), or None: the register's ban anywhere, or this facility's record."""
    if p is not None and p.ban is not None:
        return (f"禁入记录：{p.ban.source}，{p.ban.on}", f"banned: {p.ban.source}, {p.ban.on}")
    if s.banned:
        return ("本机构记录为禁止从业", "banned in this facility's record")
    return None


def _needs(s: Staff) -> frozenset[Qualification]:
    need = ROLE_QUALIFICATIONS.get(s.role.value, frozenset())
    return need or (_CARER_QUALIFICATIONS if s.cares else need)


def lapses(s: Staff, p: Person | None, today: date) -> list[tuple[str, str]]:
    """Why this staff member may not work with children on `today` (zh, en each); empty when they may."""
    out: list[tuple[str, str]] = []
    if p is None:  # the facility's own record
        if s.health_cert_expires is not None and s.health_cert_expires < today:
            out.append(("健康证过期", "health certificate expired"))
        if s.role is StaffRole.GUARD:
            if not s.licensed:
                out.append(("保安无证", "guard not licensed"))
        elif _needs(s) and not s.qualified:
            out.append(
                ("保育人员无资质" if s.cares else "无资质", "caregiver not qualified" if s.cares else "not qualified")
            )
        return out
    cert = p.health_cert_expires or s.health_cert_expires
    if cert is None:
        out.append(("无健康证记录", "no health certificate on the register"))
    elif cert < today:
        out.append(("健康证过期", "health certificate expired"))
    for last, zh, en in (
        (p.health_check_on, "年度体检", "annual health check"),
        (p.training_on, "年度卫生保健培训", "annual health-care training"),
    ):
        if last is None:
            out.append((f"无{zh}记录", f"no {en} on the register"))
        elif plus_year(last) <= today:
            out.append((f"{zh}过期", f"{en} lapsed"))
    need = _needs(s)
    if need and not any(c.kind in need and (c.expires is None or c.expires >= today) for c in p.qualifications):
        names = sorted(need)
        out.append(
            (
                "无有效" + "/".join(QUALIFICATION_NAMES[q][0] for q in names),
                "no valid " + " or ".join(QUALIFICATION_NAMES[q][1] for q in names),
            )
        )
    return out


def documents(s: Staff, p: Person | None) -> list[tuple[str, str, date]]:
    """What of this person runs out, and when: (zh, en, last valid day)."""
    if p is None:
        return [("健康证", "health certificate", s.health_cert_expires)] if s.health_cert_expires else []
    out = []
    cert = p.health_cert_expires or s.health_cert_expires
    if cert is not None:
        out.append(("健康证", "health certificate", cert))
    for c in p.qualifications:
        if c.expires is not None:
            zh, en = QUALIFICATION_NAMES[c.kind]
            out.append((zh, en, c.expires))
    if p.health_check_on is not None:
        out.append(("年度体检", "annual health check", plus_year(p.health_check_on) - timedelta(days=1)))
    if p.training_on is not None:
        out.append(("年度卫生保健培训", "annual health-care training", plus_year(p.training_on) - timedelta(days=1)))
    return out


def counts_as_carer(s: Staff | None, p: Person | None, today: date) -> bool:
    """A carer counts toward the ratio only banned by nobody and qualified on the day (issue #39)."""
    return s is not None and s.cares and ban_of(s, p) is None and not lapses(s, p, today)


def carers_on_site(rt: FacilityView, today: date) -> int:
    return sum(
        1 for s in rt.staff_on_site.values() if s is not None and counts_as_carer(s, rt.register.get(s.person), today)
    )


# -- the rules ----------------------------------------------------------------------------------------
def on_site_conditions(rt: FacilityView, out: dict[Key, Condition], today: date) -> None:
    """Who is on site now: banned (anywhere) or unqualified staff, and the same person at two facilities."""
    for person, s in rt.staff_on_site.items():
        if s is None:
            out[Key("unqualified_staff_on_site", subject=person)] = rt.cond(
                "unqualified_staff_on_site",
                f"未登记人员（{ref('card', person)}）",
                f"not in the registry ({ref('card', person)})",
            )
            continue
        p = rt.register.get(s.person)
        who = f"{ref('staff', person)}，{s.id_masked}" if s.id_masked else ref("staff", person)
        ban = ban_of(s, p)
        if ban is not None:
            out[Key("banned_staff_on_site", subject=person)] = rt.cond(
                "banned_staff_on_site",
                f"从业禁止人员在园（{who}；{ban[0]}）",
                f"person under a lifetime ban on site ({who}; {ban[1]})",
            )
            continue
        why = lapses(s, p, today)
        if why:
            out[Key("unqualified_staff_on_site", subject=person)] = rt.cond(
                "unqualified_staff_on_site",
                f"{'；'.join(w[0] for w in why)}（{who}）",
                f"{'; '.join(w[1] for w in why)} ({who})",
            )
        if s.person is not None:
            _double_shift(rt, out, person, s.person, who)


def _double_shift(rt: FacilityView, out: dict[Key, Condition], staff_id: str, key: str, who: str) -> None:
    """Raised once, at the facility the person badged in at last (its badge-in overlaps the others')."""
    places = rt.workforce.places(key)
    if len(places) < 2 or max(places, key=lambda p: (p.since, p.facility_id)).facility_id != rt.facility.id:
        return
    others = [p for p in sorted(places, key=lambda p: p.since) if p.facility_id != rt.facility.id]
    # the other facilities by name in Chinese (their staff ids are theirs, not this registry's to name)
    zh = "、".join(f"{p.facility_name}（{rt.local(p.since):%H:%M} 起）" for p in others)
    en = ", ".join(
        f"{p.facility_name} ({p.facility_id}, as {p.staff_id}, since {rt.local(p.since):%H:%M})" for p in others
    )
    out[Key("double_shift", subject=staff_id)] = rt.cond(
        "double_shift",
        f"同一人员同时在两处机构在岗（挂证嫌疑）：{who} 在 {rt.facility.name} 刷卡时仍在 {zh} 在岗",
        f"the same person on duty at two facilities: {who} badged in at {rt.facility.name} ({rt.facility.id})"
        f" while on site at {en}",
    )


def register_conditions(rt: FacilityView, today: date) -> dict[Key, Condition]:
    """What the register says of the facility's staff whether or not they are on site: documents
    running out within the rule's days, and too few qualified health-care staff. The facility judges it
    once a day (and again after a registry or register change: FacilityRuntime.register_day)."""
    out: dict[Key, Condition] = {}
    ahead = timedelta(days=rt.rules["certificate_expiring"].thresholds["days"])
    health = 0
    for s in rt.facility.staff:
        p = rt.register.get(s.person)
        if ban_of(s, p) is not None:
            continue
        if s.role is StaffRole.HEALTH and not lapses(s, p, today):
            health += 1
        soon = [d for d in documents(s, p) if today <= d[2] <= today + ahead]
        if soon:
            who = f"{ref('staff', s.id)}，{s.id_masked}" if s.id_masked else ref("staff", s.id)
            out[Key("certificate_expiring", subject=s.id)] = rt.cond(
                "certificate_expiring",
                f"即将到期（{who}）：" + "；".join(f"{zh} {d} 到期" for zh, _, d in soon),
                f"expiring ({who}): " + "; ".join(f"{en} valid to {d}" for _, en, d in soon),
            )
    need = health_staff_needed(len(rt.facility.children))
    if health < need:
        out[Key("health_staff_missing")] = rt.cond(
            "health_staff_missing",
            f"卫生保健人员 {health}/{need}（在册幼儿 {len(rt.facility.children)} 名）",
            f"health-care staff {health} of {need} required ({len(rt.facility.children)} children enrolled)",
        )
    return out
