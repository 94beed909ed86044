"""Closures (issue #42 item 4): who closes which days, as pure functions of rows, scopes and the local day.
storage.closures reads and writes them (migration 032); the web calls these first.

- A county's 停课 (weather, an epidemic) is *declared* by a county or city inspector or an admin, for every
  facility of the county or the ones named, from today on: in effect at once (the supervisors are not the
  party it excuses).
- A facility's own closure is *requested* (by its operator, or anyone in scope) for days from tomorrow on,
  and *approved* or *rejected* (with a reason) by an inspector in scope or an admin before its first day
  begins; nobody decides a request they made, and an operator decides none. The requester or the
  facility's operator may *withdraw* it while it is pending. A request excuses nothing until approved.

What an approved closure does is decided elsewhere: the day is closed in the facility's opening hours
(contract.registry.OpeningHours.closures), so no guard, ratio, attendance or patrol is expected of it;
children badged in on it are judged as on an open day all the same (alerts.people.hours_in_fact), so a
closure approved for a day the facility in fact opened hides nothing about its children.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from storage.users import Scope
from supervision.orders import level_of
from supervision.requests import RequestRefused, check_who

Row = Mapping[str, Any]
MAX_COUNTY_DAYS = 60  # one declaration; a longer 停课 is declared again (and reviewed again)
MAX_FACILITY_DAYS = 14
DECISIONS = ("approve", "reject", "withdraw")


class ClosureRefused(RequestRefused):
    """A closure's declaration, request or decision refused. `kind`: `invalid` (400), `forbidden` (403) or
    `conflict` (409); `key` and `args` name the page text (web/i18n.py) that says why."""


def may_declare(scope: Scope) -> bool:
    """County and city inspectors and admins declare a county's closure; townships and operators do not."""
    return level_of(scope) in {"county", "city"}


def _days(first: date, last: date, most: int) -> None:
    if last < first:
        raise ClosureRefused("the last day is before the first", "err_closure_order")
    if (last - first).days + 1 > most:
        raise ClosureRefused(f"a closure is at most {most} days", "err_closure_long", days=most)


def check_declaration(scope: Scope, county: str, first: date, last: date, today: date) -> None:
    """A county closure declared by this user, from `today` (the county's local day) on."""
    if not may_declare(scope):
        raise ClosureRefused(
            "only a county or city inspector or an admin declares a county's closure",
            "err_closure_declare_who",
            "forbidden",
        )
    if scope.county is not None and scope.county != county:
        raise ClosureRefused(
            "a county inspector declares closures of their own county", "err_closure_county", "forbidden"
        )
    _days(first, last, MAX_COUNTY_DAYS)
    if first < today:
        raise ClosureRefused("a closure cannot begin in the past", "err_closure_past")


def check_request(first: date, last: date, today: date) -> None:
    """A facility's own closure, asked for before its first day (the facility's local day)."""
    _days(first, last, MAX_FACILITY_DAYS)
    if first <= today:
        raise ClosureRefused(
            "a facility's closure is requested before its first day (tomorrow at the earliest); a closure for today"
            " is the county's to declare",
            "err_closure_tomorrow",
        )


def check_decision(username: str, scope: Scope, row: Row, decision: str, today: date) -> str:
    """Whether `username` may move request `row` by `decision` on the facility's local day `today`; returns
    the new status or raises ClosureRefused. The scope (a request outside it is not found) is the caller's."""
    if row["kind"] != "facility":
        raise ClosureRefused("a county's closure is declared, not decided", "err_closure_state", "conflict")
    check_who(username, scope, row, decision, "closure", "err_closure", ClosureRefused)
    if decision == "approve" and row["first_day"] <= today:
        raise ClosureRefused(
            "the closure's first day has come: approving it now would excuse a day the facility may have been open;"
            " the facility asks again",
            "err_closure_begun",
            "conflict",
        )
    return {"approve": "approved", "reject": "rejected", "withdraw": "withdrawn"}[decision]
