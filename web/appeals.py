"""Appeals against a month's credit record (申诉) for the API and the credit page: scope first (404), then
role (403), then the input (400) and the appeal's state (409); every step audited. The rules are
supervision/credit.py's; storage.appeals keeps the rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from contract.credit import CreditConfig
from storage import appeals as store
from storage import queries
from storage.users import Scope, User, audit
from supervision import credit as rules
from web.errors import Forbidden, Invalid, NotFound, Refused


class Conflict(Refused):
    """The appeal is not in a state for this (409)."""

    status = 409


def _refused(err: rules.AppealRefused) -> Refused:
    if isinstance(err, rules.NoRecord):
        return NotFound(str(err))
    if isinstance(err, rules.AppealConflict):
        return Conflict(str(err), err.key)
    return Invalid(str(err), err.key)


async def file(
    pool: asyncpg.Pool, user: User, facility_id: str, month: date, note: Any, *, now: datetime
) -> dict[str, Any]:
    """The facility's operator appeals a stored month with a note."""
    async with pool.acquire() as conn:
        f = await queries.facility_row(conn, user.scope, facility_id)
        if f is None:
            raise NotFound("no such facility")
        if not rules.may_file(user.scope, f["id"]):
            raise Forbidden("the facility's operator appeals its grade", "err_appeal_who")
        try:
            text = rules.text(note, "err_appeal_note")
            appeal_id = await rules.file_appeal(conn, f["id"], month, user.username, text, now)
        except rules.AppealRefused as err:
            raise _refused(err) from None
        target = f"{f['id']} {month.isoformat()[:7]}"
        await audit(conn, user.username, "credit.appeal", target, {"appeal": appeal_id, "note": text[:200]}, at=now)
        out = await store.appeal_detail(conn, user.scope, appeal_id)
    if out is None:  # just written, in the filer's own scope: cannot be
        raise NotFound("no such appeal")
    return out


async def decide(
    pool: asyncpg.Pool,
    user: User,
    appeal_id: int,
    body: Any,
    cfg: CreditConfig,
    *,
    now: datetime,
) -> dict[str, Any]:
    """A county or city inspector accepts (with a corrected score and a reason) or rejects (with a reason)."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object with accept, reason and (accepting) score", "err_appeal_decision")
    async with pool.acquire() as conn, conn.transaction():
        a = await store.locked(conn, user.scope, appeal_id)
        if a is None:
            raise NotFound("no such appeal")
        if not rules.may_decide(user.scope):
            raise Forbidden("an inspector of the county or the city decides an appeal", "err_appeal_decide_who")
        try:
            d = await rules.decide_appeal(
                conn, a, user.username, body.get("accept"), body.get("score"), body.get("reason"), cfg, now
            )
        except rules.AppealRefused as err:
            raise _refused(err) from None
        out = await store.appeal_detail(conn, user.scope, appeal_id)
        if out is None:  # read locked in this scope a moment ago: cannot be
            raise NotFound("no such appeal")
        facts: dict[str, object] = {"reason": d.reason[:200]}
        facts |= {"score_before": out["score_before"], "grade_before": out["grade_before"]}
        if d.corrected is not None:
            facts |= {"score": d.corrected[0], "grade": d.corrected[1]}
        target = f"{a['facility_id']} {a['month'].isoformat()[:7]}"
        await audit(conn, user.username, f"credit.appeal.{d.status}", target, {"appeal": appeal_id} | facts, at=now)
    return out


async def listed(
    pool: asyncpg.Pool,
    scope: Scope,
    *,
    month: date | None = None,
    facility_id: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return await store.appeals(conn, scope, month=month, facility_id=facility_id, status=status)


def attach(rows: list[dict[str, Any]], appeals: list[dict[str, Any]]) -> None:
    """Each report row gets its month's appeals (newest first) and, for v1 clients, the latest one's note and
    filer as `appeal_note`, `appeal_by`."""
    by: dict[str, list[dict[str, Any]]] = {}
    for a in appeals:
        by.setdefault(a["facility_id"], []).append(a)
    for r in rows:
        mine = by.get(r["facility_id"], [])
        r["appeals"] = mine
        r["appeal_note"] = mine[0]["note"] if mine else None
        r["appeal_by"] = mine[0]["filed_by"] if mine else None
