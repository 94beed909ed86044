"""Closures (issue #42 item 4) for the pages: a county's 停课 declared, a facility's own closure requested,
approved, rejected or withdrawn. Scope first (404), then who (403: supervision.closures), then the input
(400) and the request's state (409); each step is audited (`closure.declare`, `closure.request`,
`closure.approve|reject|withdraw`). The alert engine hears of every change through `registry_changed`
(migration 032's trigger) and reloads the facilities' opening hours without a restart."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from storage import closures as store
from storage import queries
from storage.users import User, audit
from supervision import closures as rules
from supervision.closures import ClosureRefused
from web.errors import Conflict, Invalid, NotFound, from_rule

COUNTY_TZ = ZoneInfo("Asia/Shanghai")  # a county's day: every county of the contract is in China's zone
_COUNTY = re.compile(r"^[0-9]{6}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def _days(body: Any) -> tuple[date, date, str]:
    """The first and last day and the reason as given; their limits are supervision.closures'."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    out = []
    for name in ("first_day", "last_day"):
        v = body.get(name)
        try:
            out.append(date.fromisoformat(v.strip()) if isinstance(v, str) else None)
        except ValueError:
            out.append(None)
        if out[-1] is None:
            raise Invalid(f"{name} is required (YYYY-MM-DD)", "err_closure_days")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or "\x00" in reason:
        raise Invalid("a closure says why (reason)", "err_closure_reason")
    if len(reason.strip()) > 500:
        raise Invalid("reason is at most 500 characters", "err_reason_long")
    first, last = out
    assert first is not None and last is not None  # noqa: S101  # refused above otherwise
    return first, last, reason.strip()


def _facility_ids(value: Any) -> list[str] | None:
    """The facilities a county closure names: a list, or ids separated by commas, spaces or new lines;
    none: every facility of the county."""
    if value is None or value == "":
        return None
    items = value if isinstance(value, list) else re.split(r"[\s,，、]+", str(value))
    ids = sorted({str(i).strip() for i in items if str(i).strip()})
    bad = [i for i in ids if not _ID.match(i)]
    if bad:
        raise Invalid(f"not a facility id: {bad[0]}", "err_closure_facilities", ids=bad[0][:64])
    return ids or None


async def declare(pool: asyncpg.Pool, user: User, body: Any, *, now: datetime) -> dict[str, Any]:
    """A county's closure, in effect at once: a county inspector's own county, or the county a city
    inspector or an admin names; every facility of it, or those named (each must be of that county)."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    county = user.scope.county or str(body.get("county") or "").strip()
    if not _COUNTY.match(county):
        raise Invalid("county is a county's 6-digit code", "err_closure_county_code")
    first, last, reason = _days(body)
    try:
        rules.check_declaration(user.scope, county, first, last, now.astimezone(COUNTY_TZ).date())
    except ClosureRefused as err:
        raise from_rule(err) from None
    ids = _facility_ids(body.get("facility_ids"))
    async with pool.acquire() as conn, conn.transaction():
        if ids is not None:
            known = await store.facilities_in_county(conn, county, ids)
            if missing := sorted(set(ids) - set(known)):
                why = f"not a facility of county {county}: {missing[0]}"
                raise Invalid(why, "err_closure_facilities", ids=missing[0])
        row = await store.create(
            conn, "county", county, ids, first, last, reason, user.username, now, status="approved"
        )
        out = store.closure_json(row)
        await audit(conn, user.username, "closure.declare", county, out, at=now)
    return out


async def request(pool: asyncpg.Pool, user: User, facility_id: str, body: Any, *, now: datetime) -> dict[str, Any]:
    """A facility's own closure, requested for days from tomorrow on (the facility's day); it closes
    nothing until someone else who supervises the facility approves it."""
    async with pool.acquire() as conn, conn.transaction():
        f = await queries.facility_row(conn, user.scope, facility_id)
        if f is None:
            raise NotFound("no such facility")
        first, last, reason = _days(body)
        try:
            rules.check_request(first, last, now.astimezone(ZoneInfo(f["timezone"])).date())
        except ClosureRefused as err:
            raise from_rule(err) from None
        row = await store.create(conn, "facility", f["county"], [f["id"]], first, last, reason, user.username, now)
        out = store.closure_json(row)
        await audit(conn, user.username, "closure.request", f["id"], out, at=now)
    return out


async def decide(
    pool: asyncpg.Pool, user: User, closure_id: int, decision: str, body: Any, *, now: datetime
) -> dict[str, Any]:
    """Approve, reject (with a reason) or withdraw a facility's pending request (supervision.closures)."""
    if decision not in rules.DECISIONS:
        raise Invalid("decision must be approve, reject or withdraw")
    note = body.get("reason", "") if isinstance(body, dict) else ""
    if not isinstance(note, str) or len(note) > 500:
        raise Invalid("reason is at most 500 characters", "err_reason_long")
    async with pool.acquire() as conn, conn.transaction():
        row = await store.closure(conn, closure_id)
        f = None
        if row is not None and row["kind"] == "facility":
            f = await queries.facility_row(conn, user.scope, row["facility_ids"][0])
        if row is None or f is None:
            raise NotFound("no such closure")
        try:
            status = rules.check_decision(
                user.username, user.scope, row, decision, now.astimezone(ZoneInfo(f["timezone"])).date()
            )
        except ClosureRefused as err:
            raise from_rule(err) from None
        if decision == "reject" and not note.strip():
            raise Invalid("a rejection needs a reason", "err_closure_reject_reason")
        updated = await store.decide(conn, row["id"], status, user.username, note.strip() or None, now)
        if updated is None:
            raise Conflict("the closure was decided meanwhile", "err_closure_state")
        out = store.closure_json(updated)
        await audit(conn, user.username, f"closure.{decision}", f["id"], out, at=now)
    return out
