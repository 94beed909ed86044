"""Document numbers (文号) of the printable documents (issue #40 item 4): which department a document is
issued by, the year it counts in, and how its number reads, e.g. 忻府卫托整〔2026〕12号.

A department is the issuer's level over the facility: the city (`city`), the facility's county (its code)
or its township (its code), since an inspector's scope always contains the facility; and, for a department
other than 卫健 (contract.inspection.DEPARTMENTS: 消防, 市场监管, …), its code after a slash (`140902/fire`),
so that each department numbers its own documents (忻府消托整〔2026〕1号 beside 忻府卫托整〔2026〕12号). 卫健's
keep the plain area, as before departments existed. Each department numbers each kind of document from 1
every year, in Xinzhou's time; storage.documents allocates the
numbers and never reuses one. The text is made here from the stored parts, as pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from contract.inspection import DEFAULT_DEPARTMENT
from contract.places import county_name_zh, township_name
from supervision import orders as order_rules

ZONE = ZoneInfo("Asia/Shanghai")  # the year a document counts in is Xinzhou's
KINDS = ("order", "inspection", "recheck", "supervision", "circular")
# 卫 for the health commission (卫生健康), the plan's lead department; 托 for childcare (托育); then the
# kind: 整 a rectification notice (整改通知书), 检 an inspection record (现场检查记录), 复 a re-inspection
# opinion (复查意见书), 督 a supervision notice (督办通知), 通 a circular (通报)
_KIND_MARK = {"order": "整", "inspection": "检", "recheck": "复", "supervision": "督", "circular": "通"}
_CITY_SHORT = "忻"  # 忻州市's departments number their documents 忻卫…


# each department's mark in a number: 卫 (卫生健康), 消 (消防救援), 市监 (市场监督管理), 公 (公安), 教 (教育),
# 卫保 (卫生保健: the health commission's child-health institutions)
DEPARTMENT_MARK = {
    "health": "卫",
    "fire": "消",
    "market": "市监",
    "police": "公",
    "education": "教",
    "health_care": "卫保",
}


def department_of(level: str, county: str, township: str, kind: str = DEFAULT_DEPARTMENT) -> str:
    """The department a document of `level` (township, county, city) over a facility in `county` and
    `township` is issued by, for department `kind` (卫健 by default)."""
    area = {"city": "city", "county": county, "township": township}[level]
    return area if kind == DEFAULT_DEPARTMENT else f"{area}/{kind}"


def split(department: str) -> tuple[str, str]:
    """A document department as (its area, its department's code)."""
    area, _, kind = department.partition("/")
    return area, kind or DEFAULT_DEPARTMENT


def year_of(now: datetime) -> int:
    return now.astimezone(ZONE).year


def _short(name: str, suffixes: tuple[str, ...]) -> str:
    """忻府区 → 忻府, 原平市 → 原平, 秀容街道 → 秀容; a name of two characters keeps them (代县)."""
    for s in suffixes:
        if name.endswith(s) and len(name) - len(s) >= 2:
            return name[: -len(s)]
    return name


def short_name(department: str) -> str:
    """The department's short name in a document number: 忻 (the city), 忻府 (忻府区), 秀容 (秀容街道)."""
    department, _ = split(department)
    if department == "city":
        return _CITY_SHORT
    if len(department) == 6:
        return _short(county_name_zh(department), ("区", "县", "市"))
    return _short(township_name(department), ("街道办事处", "街道", "镇", "乡"))


def number_text(department: str, kind: str, year: int, seq: int) -> str:
    """忻府卫托整〔2026〕12号: the area's short name, the department's mark (卫, 消, 市监…), 托 and the kind's
    mark, the year in 〔〕 (U+3014/U+3015, as GB/T 9704 writes it), the number without leading zeros, 号."""
    mark = DEPARTMENT_MARK.get(split(department)[1], DEPARTMENT_MARK[DEFAULT_DEPARTMENT])
    return f"{short_name(department)}{mark}托{_KIND_MARK[kind]}〔{year}〕{seq}号"


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order as it stood when a 督办 step was taken (a 督办通知 says what was late, whose and since when)."""

    status: str
    due_at: datetime
    answered_at: datetime | None
    since: datetime | None  # late since (supervision.orders.late_since); None: not late
    whose: str | None  # answer (the facility's delay) | review (the issuing level's) | None


_STATUS_AFTER = {
    "issued": "issued",
    "answered": "answered",
    "returned": "returned",
    "recheck": "recheck",
    "accepted": "accepted",
}


def order_state_at(history: Sequence[Mapping[str, Any]], step_id: int, due_at: datetime | str) -> OrderState:
    """The order's status, due date in force and latest answer just before its history row `step_id`,
    replayed from the history (as storage.rectification.order_detail reads it); `due_at`: the one in force
    now, unless a return or an extension after the step changed it (then the one the history gave before)."""
    status, answered, due, changed_after = "issued", None, None, False
    before, step_at = True, None
    for h in history:
        if h["id"] == step_id:
            before, step_at = False, _time(h["at"])
            continue
        sets_due = h["action"] in {"issued", "returned", "extended"} and (h.get("detail") or {}).get("due_at")
        if not before:
            changed_after = changed_after or (bool(sets_due) and h["action"] != "issued")
            continue
        status = _STATUS_AFTER.get(h["action"], status)
        if h["action"] == "answered":
            answered = _time(h["at"])
        if sets_due:
            due = _time(h["detail"]["due_at"])
    due_in_force = due if changed_after and due is not None else _time(due_at)
    since = order_rules.late_since(status, due_in_force, answered)
    if since is not None and step_at is not None and since > step_at:
        since = None  # urged before it was late: the notice says when it is due, never that it is overdue
    whose = None if since is None else "review" if status == "answered" else "answer"
    return OrderState(status, due_in_force, answered, since, whose)


def _time(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
