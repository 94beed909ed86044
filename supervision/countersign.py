"""Two officers on an inspection record (现场检查记录, issue #40 item 3).

A 现场检查记录 is valid only with two law-enforcement officers present. The one who records it signs it
naming the second; the record waits in `countersign` (待会签) and counts as no inspection (coverage, credit,
draw results count `signed` only) until the second confirms it on their own account. Who may be named and
who may confirm are decided here, as pure functions of rows:

- the second officer is an inspector account (not an admin: an administrator is not a law-enforcement
  officer), not disabled, other than the one who signs, whose scope holds the facility (its township, its
  county or the city);
- an inspection a draw (双随机) planned is recorded, signed and confirmed by the two inspectors drawn and
  nobody else: the point of the draw is that nobody chooses who inspects. The draw, not the inspector's
  area, gives them the facility for that inspection: a township inspector is drawn for facilities of
  *other* townships (never their own), which their login's area does not hold. The grant is that
  inspection's record only (storage.inspections' `drawn_for`: its page, its record, its printed
  现场检查记录), not the facility's page, alerts or people;
- only the named second officer confirms, never the one who signed, and only while the record waits and
  the facility is in their scope or the draw picked them for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contract.inspection import DEFAULT_DEPARTMENT, DEPARTMENTS
from storage.users import Scope
from supervision.requests import RequestRefused

Row = Mapping[str, Any]

SECOND_MAX = 64  # characters of a username


class CountersignRefused(RequestRefused):
    """Naming or confirming a second officer refused: `kind` invalid (400), forbidden (403) or conflict
    (409); `key` and `args_` name the page text (web/i18n.py)."""


def scope_of(account: Row) -> Scope:
    """An account's scope from its users row (role, scope_county, scope_township, scope_facility)."""
    return Scope(account["role"], account["scope_county"], account["scope_township"], account["scope_facility"])


def check_second(
    author: str,
    facility: Row,
    name: str,
    account: Row | None,
    drawn: tuple[str, str] | None = None,
    department: str = DEFAULT_DEPARTMENT,
) -> None:
    """Whether `author` may name `name` (whose users row is `account`, None: no such account) as the second
    officer of a record of `facility` (a facilities row: id, county, township). `drawn`: the two inspectors
    a draw (双随机) picked for this inspection; then the one who signs and the second are those two, since
    the point of the draw is that nobody chooses who inspects, and the draw gives them the facility.
    `department`: the record's (部门, supervision/departments.py): the second is an officer of it too."""
    if drawn is not None and author not in drawn:
        raise CountersignRefused(
            f"the draw picked {drawn[0]} and {drawn[1]} for this inspection: they record and sign it",
            "err_author_not_drawn",
            "forbidden",
            a=drawn[0],
            b=drawn[1],
        )
    if not name:
        raise CountersignRefused(
            "an inspection record is signed by two officers: name the second inspector", "err_second_missing"
        )
    if name == author:
        raise CountersignRefused(
            "the second officer is someone other than the one who signs", "err_second_self", "forbidden"
        )
    if account is None or account["role"] != "inspector" or account["disabled"]:
        raise CountersignRefused(f"no inspector account {name[:SECOND_MAX]!r}", "err_second_unknown")
    if account.get("department", DEFAULT_DEPARTMENT) != department:
        raise CountersignRefused(
            f"{name[:SECOND_MAX]} is not an officer of the record's department",
            "err_second_department",
            "forbidden",
            department=DEPARTMENTS.get(department, ("?",))[0],
        )
    if drawn is None and not scope_of(account).allows(facility):
        raise CountersignRefused(
            f"{name[:SECOND_MAX]} may not inspect this facility (outside their area)", "err_second_scope", "forbidden"
        )
    if drawn is not None and name not in drawn:
        raise CountersignRefused(
            f"the draw picked {drawn[0]} and {drawn[1]} for this inspection: the second officer is one of them",
            "err_second_not_drawn",
            "forbidden",
            a=drawn[0],
            b=drawn[1],
        )


def check_confirm(
    username: str, scope: Scope, record: Row, facility: Row, drawn: tuple[str, str] | None = None
) -> None:
    """Whether `username` (of `scope`) may confirm the inspection `record` (an inspections row) of
    `facility` as its second officer (`drawn`: the two a draw picked for it, whom the draw gives it)."""
    if scope.role != "inspector":
        raise CountersignRefused(
            "only the second inspector named on the record confirms it", "err_countersign_who", "forbidden"
        )
    if record["status"] != "countersign":
        raise CountersignRefused(
            f"the record is {record['status']}: only a record awaiting its second officer is confirmed",
            "err_countersign_state",
            "conflict",
        )
    if username == record["signed_by"]:
        raise CountersignRefused(
            "nobody confirms a record they signed: the second officer does", "err_countersign_own", "forbidden"
        )
    if username != record["second_inspector"]:
        raise CountersignRefused(
            "only the second inspector named on the record confirms it", "err_countersign_who", "forbidden"
        )
    if not scope.allows(facility) and (drawn is None or username not in drawn):
        raise CountersignRefused(
            "the facility is outside your area: you may not confirm its record", "err_second_scope", "forbidden"
        )


def may_record(username: str, may_inspect: bool, record: Row) -> bool:
    """Whether `username` records this planned inspection (the page shows the form): an inspector of the
    facility's area or above (`may_inspect`) for one planned by hand; one of the two drawn for a drawn one."""
    if record["status"] != "planned":
        return False
    drawn = record.get("drawn") or []
    return username in drawn if drawn else may_inspect


def task_of(scope: Scope, username: str) -> str | None:
    """The `drawn_for` of storage.inspections' reads: an inspector reads the inspections a draw assigned
    them wherever they are; other roles only what their scope holds."""
    return username if scope.role == "inspector" else None


def awaits(record: Row, username: str) -> bool:
    """Whether the record waits for `username`'s confirmation (the page shows the confirm button)."""
    return record["status"] == "countersign" and record.get("second_inspector") == username
