"""复查 and extensions of rectification orders (issue #40 item 2): who may, when, and the steps as
transactions. The due-date policy is supervision/deadlines.py.

- **复查**: the reviewer (the issuing level or above) accepts an answer *subject to a re-inspection*: a
  planned inspection of the facility within 30 days, linked to the order, which waits in `recheck`. Only once
  that inspection is signed does the reviewer accept (the order closes; refused while the 复查 failed an
  item) or send it back (supervision.orders.review). The order never closes on the answer alone then.
- **Extension (延期)**: the facility's operator asks once per order, before the due date in force, while the
  order waits for its answer, with reasons and a later due date within the policy. The issuing level or
  above decides, never the person who asked (supervision/requests.py's rule, and the table's check); once.
  Approved, the new date becomes the due date in force (督办, "overdue"); the credit evaluation still judges
  the answer against the original due date (contract/rectification.py): an extension never improves a
  facility's record, and a facility with a good reason appeals its month.
"""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from storage import inspections as inspection_store
from storage import order_followups as store
from storage import rectification as orders_store
from storage.rectification import StateError
from storage.users import Scope
from supervision import deadlines
from supervision import orders as order_rules
from supervision.requests import RequestRefused, check_who

REASON_MIN = 4
REASON_MAX = 1000


class FollowupRefused(RequestRefused):
    """A 复查 or an extension refused: `kind` invalid (400), forbidden (403) or conflict (409)."""


def may_request_extension(scope: Scope) -> bool:
    """The facility's own operator asks (the caller checked the scope); nobody asks on its behalf."""
    return scope.role == "operator"


async def accept_with_recheck(
    conn: asyncpg.Connection,
    scope: Scope,
    order_id: int,
    actor: str,
    note: str,
    day: date,
    today: date,
    now: datetime,
) -> orders_store.OrderChange:
    """Accept an answered order subject to a 复查 on `day`: plan the inspection, link it, and let the order
    wait in `recheck`."""
    level = order_rules.level_of(scope)
    async with conn.transaction():
        o = await orders_store.locked(conn, order_id)
        if level is None or not order_rules.may_review(scope, o["issued_level"]):
            raise FollowupRefused("the issuing level or above accepts an order", "err_review_who", "forbidden")
        if o["status"] != "answered":
            raise StateError(f"the order is {o['status']}: a 复查 is asked for when accepting an answer")
        deadlines.check_recheck_day(day, today)
        iid = await inspection_store.plan(conn, o["facility_id"], "visit", day, actor, level, o["department"])
        await store.link_recheck(conn, order_id, iid, actor, now)
        await store.set_recheck(conn, order_id)
        facts = {"inspection_id": iid, "planned_for": day.isoformat()}
        return await orders_store.record_supervision(conn, o, actor, "recheck", note, facts, "facility", now)


async def request_extension(
    conn: asyncpg.Connection,
    scope: Scope,
    order_id: int,
    actor: str,
    reason: str,
    requested_due: datetime | None,
    now: datetime,
) -> orders_store.OrderChange:
    """The facility asks once for a later due date, before the one in force, with its reasons."""
    if not may_request_extension(scope):
        raise FollowupRefused("only the facility's operator asks for an extension", "err_extension_who", "forbidden")
    reason = reason.strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise FollowupRefused(
            f"give the reasons ({REASON_MIN} to {REASON_MAX} characters)", "err_extension_reason", min=REASON_MIN
        )
    async with conn.transaction():
        o = await orders_store.locked(conn, order_id)
        if await store.extension(conn, order_id, lock=True) is not None:
            raise FollowupRefused("an order is extended at most once", "err_extension_once", "conflict")
        if o["status"] not in {"issued", "returned"}:
            raise FollowupRefused(
                f"the order is {o['status']}: only an order awaiting its answer is extended",
                "err_extension_state",
                "conflict",
            )
        if now >= o["due_at"]:
            raise FollowupRefused(
                "the due date has passed: an extension is asked for before it", "err_extension_late", "conflict"
            )
        try:
            due = deadlines.check_due(requested_due, now, o["life_safety"])
        except deadlines.DueDateError as err:
            raise FollowupRefused(str(err), "err_extension_due", days=err.days) from None
        if due <= o["due_at"]:
            raise FollowupRefused("the new due date must be later than the one in force", "err_extension_due", days=30)
        await store.request_extension(conn, order_id, actor, reason, o["due_at"], due, now)
        facts = {"due_at": due.isoformat(), "previous_due_at": o["due_at"].isoformat()}
        return await orders_store.record_supervision(
            conn, o, actor, "extension_requested", reason, facts, o["issued_level"], now
        )


async def decide_extension(
    conn: asyncpg.Connection,
    scope: Scope,
    order_id: int,
    actor: str,
    approve: bool,
    reason: str,
    now: datetime,
) -> orders_store.OrderChange:
    """The issuing level or above approves (the requested date becomes the due date in force) or rejects
    (with a reason) the pending extension; never the one who asked, once."""
    reason = reason.strip()
    async with conn.transaction():
        o = await orders_store.locked(conn, order_id)
        e = await store.extension(conn, order_id, lock=True)
        if e is None:
            raise FollowupRefused("no extension was asked for", "err_extension_none", "conflict")
        if not order_rules.may_review(scope, o["issued_level"]):
            raise FollowupRefused(
                "the issuing level or above decides an extension", "err_extension_decide_who", "forbidden"
            )
        check_who(actor, scope, e, "approve" if approve else "reject", "extension", "err_extension", FollowupRefused)
        if not approve and not reason:
            raise FollowupRefused("a refusal needs a reason", "err_extension_reject_reason")
        if len(reason) > REASON_MAX:
            raise FollowupRefused(
                f"a reason is at most {REASON_MAX} characters", "err_extension_reason", min=REASON_MIN
            )
        if approve and e["requested_due"] <= now:
            raise FollowupRefused(
                "the date asked for has passed: it is too late to grant it", "err_extension_passed", "conflict"
            )
        await store.decide_extension(conn, order_id, "approved" if approve else "rejected", actor, reason, now)
        if not approve:
            return await orders_store.record_supervision(
                conn, o, actor, "extension_rejected", reason, {}, "facility", now
            )
        if o["status"] in {"issued", "returned"}:  # answered meanwhile: the due date no longer matters
            await store.set_due(conn, order_id, e["requested_due"])
        facts = {"due_at": e["requested_due"].isoformat(), "previous_due_at": o["due_at"].isoformat()}
        return await orders_store.record_supervision(conn, o, actor, "extended", reason, facts, "facility", now)


async def state(conn: asyncpg.Connection, order_id: int) -> dict[str, object]:
    """The order's 复查 and extension, for its page and the API."""
    return {
        "recheck": await store.latest_recheck(conn, order_id),
        "extension": store.extension_json(await store.extension(conn, order_id)),
    }
