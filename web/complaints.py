"""Parents' complaints (issue #40 item 7) for the pages: filed on the public page, followed with the code shown
once, handled, answered and closed by the county (the city once overdue). Scope first (404), then who (403:
supervision.complaints), then the input (400) and the complaint's state (409). Every inspector's step, and
every look at a complaint with its contact, is in the audit log (`complaint.handle|answer|close`,
`complaint.view`); a filing is logged without its text or contact."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from storage import complaints as store
from storage import public as public_store
from storage.users import User, audit
from supervision import complaints as rules
from supervision.complaints import ComplaintRefused
from web.errors import Forbidden, Invalid, NotFound, from_rule


def new_code() -> str:
    return "".join(secrets.choice(rules.CODE_ALPHABET) for _ in range(rules.CODE_LENGTH))


@dataclass(frozen=True, slots=True)
class Filed:
    code: str  # shown once, never stored
    due_at: datetime


async def file(pool: asyncpg.Pool, facility_id: str, form: dict[str, str], address: str, now: datetime) -> Filed:
    """A complaint about `facility_id` from the public page: checked (supervision.complaints.check_filing),
    stored with its deadline, audited without its text or contact. The code is returned once."""
    async with pool.acquire() as conn:
        f = await public_store.facility(conn, facility_id)
        if f is None:
            raise NotFound("no such facility")
        today = now.astimezone(ZoneInfo(f["timezone"])).date()
        try:
            what, day, contact = form.get("what", ""), form.get("happened_on", ""), form.get("contact", "")
            filing = rules.check_filing(what, day, contact, today)
        except ComplaintRefused as err:
            raise from_rule(err) from None
        code, due = new_code(), rules.due_at(now)
        cid = await store.create(conn, facility_id, code, filing.what, filing.happened_on, filing.contact, now, due)
        await audit(
            conn, "public", "complaint.file", f"complaint {cid}", {"facility": facility_id, "address": address}, at=now
        )
    return Filed(code, due)


async def follow(pool: asyncpg.Pool, code: str) -> asyncpg.Record:
    """The complaint of a follow-up code: its status and public answer only (storage.complaints.by_code)."""
    code = code.strip()
    if not code or len(code) > 64:
        raise Invalid("give the follow-up code you were shown when you filed", "err_complaint_code")
    async with pool.acquire() as conn:
        row = await store.by_code(conn, code)
    if row is None:
        unknown = NotFound("no complaint has this code")
        unknown.key = "err_complaint_code_unknown"  # said on the page: the code was mistyped, perhaps
        raise unknown
    return row


def _check_sees(user: User) -> None:
    if not rules.may_see(user.scope):
        raise Forbidden("complaints are handled by the county and the city inspectors", "err_complaint_who")


def shown(row: asyncpg.Record, user: User, now: datetime) -> dict[str, Any]:
    """A complaint as the page shows it to `user` at `now`: its contact only when theirs to see."""
    out = dict(row)
    out.pop("code_sha256", None)
    out["overdue"] = rules.overdue(row, now)
    out["level"] = rules.level_at(row, now)
    if not rules.may_see_contact(user.scope, row, now):
        out["contact"] = None
    out["contact_hidden"] = row["contact"] is not None and out["contact"] is None
    return out


async def listed(pool: asyncpg.Pool, user: User, status: str | None, now: datetime) -> list[dict[str, Any]]:
    _check_sees(user)
    async with pool.acquire() as conn:
        rows = await store.in_scope(conn, user.scope, now, status)
    return [shown(r, user, now) for r in rows]


async def detail(pool: asyncpg.Pool, user: User, cid: int, now: datetime) -> dict[str, Any]:
    _check_sees(user)
    async with pool.acquire() as conn:
        row = await store.one(conn, user.scope, cid)
        if row is None:
            raise NotFound("no such complaint")
        out = shown(row, user, now)
        if out["contact"] is not None:  # who read a complainant's contact, and when
            await audit(conn, user.username, "complaint.view", f"complaint {cid}", {"contact": True}, at=now)
        out["history"] = [dict(h) for h in await store.history(conn, cid)]
    return out


async def step(pool: asyncpg.Pool, user: User, cid: int, step_name: str, text: str, now: datetime) -> None:
    """handle (受理, an optional note), answer (the public answer, required) or close: the complaint in scope
    (404), who (403), the text (400) and its state (409), then the step and its audit in one transaction."""
    _check_sees(user)
    async with pool.acquire() as conn, conn.transaction():
        row = await store.one(conn, user.scope, cid, lock=True)
        if row is None:
            raise NotFound("no such complaint")
        try:
            rules.check_step(user.scope, row, step_name, now)
            text = rules.check_answer(text) if step_name == "answer" else rules.check_note(text)
        except ComplaintRefused as err:
            raise from_rule(err) from None
        await store.record_step(conn, cid, step_name, user.username, now, text)
        detail = {"facility": row["facility_id"], "level": rules.level_at(row, now), "overdue": rules.overdue(row, now)}
        await audit(conn, user.username, f"complaint.{step_name}", f"complaint {cid}", detail, at=now)
