"""责令停业整改: ordering a facility to suspend operation pending rectification (issue #40 item 1), and
lifting it. The rows are storage/suspensions.py (migration 038, whose trigger holds the same rules).

- **Who orders**: a county or city inspector whose scope holds the facility, or an admin (the city's level);
  never a township inspector, never an operator. With reasons (required) and optionally the orders of the
  facility it rests on. One in force per facility.
- **Who lifts**: the issuing level or above (a county's suspension by the county or the city, a city's by
  the city), in scope, with a reason, and only on a 复查: an on-site inspection of the facility recorded after the
  suspension was ordered, signed by two officers (supervision/countersign.py), that failed nothing (the
  same test as an order's 复查, supervision/followups.py). The facility cannot lift, shorten or hide it:
  it has no end date, and nothing but the lift changes it.
- **The engine keeps watching**: a suspension is not a closure. It excuses no alert and closes no day (the
  opening hours the alert engine and the credit evaluation read are not touched), so children badged in
  while suspended are judged as on an open day; the supervision side flags them too (停业整改期间有幼儿在园:
  `children_badged_in` on the facility page, the 督办 list and the API).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from storage import suspensions as store
from storage.users import Scope
from supervision.orders import LEVELS, level_of
from supervision.requests import RequestRefused

REASONS_MIN = 4
REASONS_MAX = 2000
ORDERS_MAX = 20


class SuspensionRefused(RequestRefused):
    """A suspension or its lift refused: `kind` invalid (400), forbidden (403) or conflict (409)."""


def may_order(scope: Scope) -> bool:
    """A county or city inspector, or an admin (the caller has checked the facility is in scope)."""
    return level_of(scope) in {"county", "city"}


def may_lift(scope: Scope, issued_level: str) -> bool:
    """The issuing level or above (never a township inspector, never an operator)."""
    level = level_of(scope)
    return level in {"county", "city"} and LEVELS.index(level) >= LEVELS.index(issued_level)


def check_recheck(inspection: Mapping[str, Any] | None, facility_id: str, issued_at: datetime) -> None:
    """The 复查 a lift rests on: this facility's inspection, recorded after the suspension was ordered,
    signed by two officers, and failing nothing."""
    if inspection is None or inspection["facility_id"] != facility_id:
        raise SuspensionRefused("name a 复查 of this facility", "err_lift_recheck")
    if inspection["kind"] != "visit":
        raise SuspensionRefused("a 复查 is made on site, not remotely", "err_lift_remote", "conflict")
    at = inspection["inspected_at"]
    if inspection["status"] != "signed" or inspection["countersigned_at"] is None:
        raise SuspensionRefused("the 复查 is not signed by two officers yet", "err_lift_unsigned", "conflict")
    if at is None or datetime.fromisoformat(at) < issued_at:
        raise SuspensionRefused("the 复查 is one made after the suspension was ordered", "err_lift_before", "conflict")
    if inspection["failed"]:
        raise SuspensionRefused(
            "the 复查 found items that fail: the suspension stays",
            "err_lift_failed",
            "conflict",
            items=", ".join(inspection["failed"]),
        )


def _reasons(text: str, key: str) -> str:
    text = text.strip()
    if not REASONS_MIN <= len(text) <= REASONS_MAX or "\x00" in text:
        raise SuspensionRefused(f"give the reasons ({REASONS_MIN} to {REASONS_MAX} characters)", key, min=REASONS_MIN)
    return text


async def order(
    conn: asyncpg.Connection,
    scope: Scope,
    facility_id: str,
    actor: str,
    reasons: str,
    order_ids: list[int],
    now: datetime,
) -> int:
    """Order the facility (in the caller's scope) to suspend operation; its id."""
    level = level_of(scope)
    if level is None or not may_order(scope):
        raise SuspensionRefused(
            "only a county or city inspector (or an admin) orders a suspension", "err_suspend_who", "forbidden"
        )
    text = _reasons(reasons, "err_suspend_reasons")
    wanted = sorted(set(order_ids))
    if len(wanted) > ORDERS_MAX:
        raise SuspensionRefused(f"at most {ORDERS_MAX} orders", "err_suspend_orders")
    async with conn.transaction():
        if wanted and await store.orders_of(conn, facility_id, wanted) != set(wanted):
            raise SuspensionRefused("the orders named are not this facility's", "err_suspend_orders")
        if await store.in_force(conn, facility_id) is not None:
            raise SuspensionRefused("the facility is suspended already", "err_suspend_twice", "conflict")
        return await store.record(conn, facility_id, text, wanted, actor, level, now)


async def lift(
    conn: asyncpg.Connection,
    scope: Scope,
    suspension_id: int,
    actor: str,
    reason: str,
    recheck: Mapping[str, Any] | None,
    now: datetime,
) -> None:
    """Lift the suspension (in the caller's scope) on the signed, clean 复查 `recheck` (its JSON row, read
    in the caller's scope; None: not found)."""
    async with conn.transaction():
        s = await store.locked(conn, suspension_id)
        if s is None:
            raise SuspensionRefused("no such suspension", "err_lift_none", "conflict")
        if not may_lift(scope, s["issued_level"]):
            raise SuspensionRefused("only the issuing level or above lifts a suspension", "err_lift_who", "forbidden")
        if s["lifted_at"] is not None:
            raise SuspensionRefused("the suspension is lifted already", "err_lift_done", "conflict")
        text = _reasons(reason, "err_lift_reason")
        check_recheck(recheck, s["facility_id"], s["issued_at"])
        assert recheck is not None  # noqa: S101 - check_recheck refused None
        await store.record_lift(conn, suspension_id, actor, text, recheck["id"], now)
