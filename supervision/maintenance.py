"""Maintenance windows (issue #37 item 3): who asks for one, who decides it, and how much of it there may
be, as pure functions of rows and `now`. storage.maintenance reads and writes the windows; the web calls
these before it does.

A window is the supervised facility's own request, so it is inert until someone who supervises the
facility has approved it:

- the facility's operator *requests* a window; an inspector in scope (township, county or city) or an
  admin *approves* or *rejects* it (a rejection says why), or *sets* one directly, approved at once;
  anyone may also file a plain request, which then needs a second person: nobody decides a window they
  requested, and an operator never decides one;
- the requester (or an operator of the facility) may *withdraw* a request while it is pending;
- each decision is final (migration 023 guards that too);
- the limits of contract.rules (MAINTENANCE_START_GRACE, _MAX_WINDOW, _MONTHLY, _MONTH_ZONE) hold for
  every window, requested or set, and again when a request is approved.

What an approved window does is decided elsewhere: alerts.lifecycle.may_mute (only the health of the
devices under it); the credit evaluation shows approved windows and excuses nothing for them
(contract/credit.py, method 2026-12b).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contract.rules import (
    MAINTENANCE_MAX_WINDOW,
    MAINTENANCE_MONTH_ZONE,
    MAINTENANCE_MONTHLY,
    MAINTENANCE_START_GRACE,
)
from storage.users import Scope
from supervision.requests import RequestRefused, check_who, may_decide

Row = Mapping[str, Any]
Span = tuple[datetime, datetime]
MONTH_ZONE = ZoneInfo(MAINTENANCE_MONTH_ZONE)
# what a new window is when counted against the month: a request counts what is approved and what is
# pending (so a facility cannot queue more than could ever be approved); an approval what is approved
REQUEST_COUNTS = ("approved", "requested")
APPROVAL_COUNTS = ("approved",)


class WindowRefused(RequestRefused):
    """A maintenance window's request or decision refused. `kind`: `invalid` (400), `forbidden` (403) or
    `conflict` (409); `key` and `args` name the page text (web/i18n.py) that says why."""


def new_status(scope: Scope) -> str:
    """What a window becomes when this user files it: set (approved at once) by someone who may decide
    it, requested from the facility."""
    return "approved" if may_decide(scope) else "requested"


def month_spans(start: datetime, end: datetime) -> list[Span]:
    """The calendar months (in MONTH_ZONE) that [start, end) touches, each as its own [first, next)."""
    out = []
    local = start.astimezone(MONTH_ZONE)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while first < end:
        nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        out.append((first, nxt))
        first = nxt
    return out


def covered(spans: Iterable[Span], within: Span) -> timedelta:
    """How long `within` is covered by any of the spans: an hour under two windows (a device's inside the
    whole facility's) counts once."""
    total, edge = timedelta(0), within[0]
    for a, b in sorted((max(a, within[0]), min(b, within[1])) for a, b in spans):
        if b <= edge:
            continue
        total += b - max(a, edge)
        edge = b
    return total


def check_limits(start: datetime, end: datetime, now: datetime, others: Sequence[Row]) -> None:
    """The limits a window must keep, given the facility's other windows that count (`others`: approved,
    and for a request the pending ones too). Raises WindowRefused with the reason."""
    if end <= start:
        raise WindowRefused("ends_at must be after starts_at", "err_window_order")
    if start < now - MAINTENANCE_START_GRACE:
        raise WindowRefused(
            "a maintenance window cannot start in the past (announce it before the work)",
            "err_window_past_start",
            minutes=int(MAINTENANCE_START_GRACE.total_seconds() // 60),
        )
    if end - start > MAINTENANCE_MAX_WINDOW:
        hours = int(MAINTENANCE_MAX_WINDOW.total_seconds() // 3600)
        raise WindowRefused(f"a maintenance window is at most {hours} hours", "err_window_long", hours=hours)
    spans = [(r["starts_at"], r["ends_at"]) for r in others]
    limit = MAINTENANCE_MONTHLY
    for month in month_spans(start, end):
        used = covered(spans, month)
        if covered([*spans, (start, end)], month) > limit:
            label = month[0].strftime("%Y-%m")
            hours, used_h = int(limit.total_seconds() // 3600), round(used.total_seconds() / 3600, 1)
            raise WindowRefused(
                f"maintenance windows are at most {hours} hours a month per facility; {label} has {used_h} h"
                " approved or requested already, and this window would pass it",
                "err_window_month",
                month=label,
                hours=hours,
                used=used_h,
            )


def check_decision(username: str, scope: Scope, row: Row, decision: str, now: datetime, approved: Sequence[Row]) -> str:
    """Whether `username` may move window `row` by `decision` (approve, reject, withdraw) at `now`, given
    the facility's approved windows; returns the new status or raises WindowRefused. The scope (a
    window outside it is not found) is the caller's to check first."""
    check_who(username, scope, row, decision, "maintenance window", "err_window", WindowRefused)
    if decision == "approve":
        if row["starts_at"] < now - MAINTENANCE_START_GRACE:
            raise WindowRefused(
                "the window has begun: approving it now would excuse the past; the facility asks again",
                "err_window_begun",
                "conflict",
            )
        check_limits(row["starts_at"], row["ends_at"], now, [r for r in approved if r["id"] != row["id"]])
    return {"approve": "approved", "reject": "rejected", "withdraw": "withdrawn"}[decision]
