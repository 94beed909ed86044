"""Rectification orders (整改通知) for the API and the pages: scope first (404), then role (403), then
the input (400) and the order's state (409); every step audited and sent to the people it concerns.

Who may do what: an inspector (any level) or an admin issues an order for a facility in scope; the
facility's operator (or an admin) answers it with measures and evidence; an inspector at the issuing
level or above, in scope (or an admin), accepts or sends it back with a new due date; an inspector above
the issuing level urges (催办), records a summons (约谈) or an instruction (批示) while it is open.
supervision.orders decides the lifecycle and the due dates, storage.rectification keeps the rows; the alert
service's ticker does the 督办 of late orders."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import asyncpg

from storage import documents, notifications, queries
from storage import inspections as inspection_store
from storage import rectification as store
from storage.errors import RETRYABLE
from storage.users import User, audit
from supervision import deadlines
from supervision import departments as department_rules
from supervision import documents as document_rules
from supervision import orders as order_rules
from web.errors import Conflict, Forbidden, Invalid, NotFound, from_rule
from web.params import parse_time
from web.photos import without_metadata

MAX_FILES = 3
MAX_FILE_BYTES = 5 * 1024 * 1024
# what the bytes begin with, not what the name says
MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"%PDF-": "application/pdf"}


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    data: bytes


def evidence(files: list[Upload]) -> list[store.Evidence]:
    """Photos (JPEG, PNG) or PDF scans, at most 3 of 5 MB each, recognised by their bytes."""
    if len(files) > MAX_FILES:
        raise Invalid(f"at most {MAX_FILES} files", "err_files_many", n=MAX_FILES)
    out = []
    for f in files:
        if not f.data:
            continue
        if len(f.data) > MAX_FILE_BYTES:
            raise Invalid(f"{f.filename}: a file is at most 5 MB", "err_file_big", name=f.filename)
        kind = next((t for magic, t in MAGIC.items() if f.data.startswith(magic)), None)
        if kind is None:
            raise Invalid(f"{f.filename}: only JPEG, PNG or PDF", "err_file_type", name=f.filename)
        raw = unquote(f.filename) if f.filename.isascii() else f.filename  # some clients percent-encode it
        name = "".join(c for c in raw if c.isprintable() and c not in '/\\"')[-200:] or "evidence"
        out.append(store.Evidence(name, kind, f.data))
    return out


async def stripped(proofs: list[store.Evidence]) -> list[store.Evidence]:
    """The photos without their metadata (web/photos.py), decoded and encoded in a worker thread."""
    return [await asyncio.to_thread(without_metadata, p) for p in proofs]


def _text(body: Any, name: str, limit: int, required: bool, key: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string", key)
    value = value.strip()
    if required and not value:
        raise Invalid(f"{name} is required", key)
    if len(value) > limit or "\x00" in value:
        raise Invalid(f"{name} is at most {limit} characters", key)
    return value


async def _notify(conn: asyncpg.Connection, change: store.OrderChange, public_url: str, now: datetime) -> None:
    """Queued for the alert service to send; a failure here never undoes the step itself."""
    with contextlib.suppress(*RETRYABLE):
        aud = await notifications.audience(conn, change.facility_id)
        if aud is not None:
            await notifications.enqueue(conn, notifications.order_messages(change, aud, public_url, now), now)


async def _visible(conn: asyncpg.Connection, user: User, order_id: int, now: datetime) -> dict[str, Any]:
    o = await store.order_detail(conn, user.scope, order_id, now)
    if o is None:
        raise NotFound("no such order")
    return o


def reviewing_department(user: User, order: dict[str, Any]) -> None:
    """403 unless the user's department is the order's (accepting, sending back, a 复查, an extension's
    decision: supervision/departments.py; the level is checked beside)."""
    if not department_rules.may_review(user.scope, user.department, order["department"]):
        raise Forbidden("the order's department reviews it", "err_department_review")


def _department(user: User, record_department: str | None, alert_rule: str | None) -> str:
    """Whose order it is: the record's department, or 卫健 / the alert's (supervision/departments.py); 403
    when the user's department does not issue it."""
    try:
        return department_rules.order_department(user.scope, user.department, record_department, alert_rule)
    except department_rules.DepartmentRefused as err:
        raise from_rule(err) from None


async def issue(
    pool: asyncpg.Pool, user: User, facility_id: str, body: Any, public_url: str, *, now: datetime
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        f = await queries.facility_row(conn, user.scope, facility_id)
        if f is None:
            raise NotFound("no such facility")
        level = order_rules.level_of(user.scope)
        if level is None:
            raise Forbidden("only an inspector or an admin issues a rectification order", "err_order_who")
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object")
        title = _text(body, "title", 200, True, "err_order_title")
        detail = _text(body, "detail", 4000, False, "err_order_detail")
        raw_due = body.get("due_at")
        due = parse_time(raw_due, "due_at") if isinstance(raw_due, str) else None
        marked = body.get("life_safety", False)
        if not isinstance(marked, bool):
            raise Invalid("life_safety must be true or false", "err_order_life_safety")
        inspection_id = body.get("inspection_id")
        record_department = alert_rule = None
        if inspection_id is not None:
            if not isinstance(inspection_id, int) or isinstance(inspection_id, bool) or not 0 < inspection_id < 2**63:
                raise Invalid("inspection_id must be an inspection's id", "err_order_inspection")
            insp = await inspection_store.inspection_detail(conn, user.scope, inspection_id)
            if insp is None or insp["facility_id"] != f["id"] or insp["status"] != "signed":
                raise Invalid("inspection_id is not a signed inspection of this facility", "err_order_inspection")
            record_department = insp["department"]
        alert_id = body.get("alert_id")
        severity = None
        if alert_id is not None:
            if not isinstance(alert_id, int) or isinstance(alert_id, bool) or not 0 < alert_id < 2**63:
                raise Invalid("alert_id must be an alert's id", "err_order_alert")
            a = await queries.alert_detail(conn, user.scope, alert_id)
            if a is None or a["facility_id"] != f["id"]:
                raise Invalid("alert_id is not an alert of this facility", "err_order_alert")
            severity = a["severity"]
            alert_rule = a["rule"]
        department = _department(user, record_department, alert_rule)
        life_safety = deadlines.is_life_safety(marked, severity)
        try:
            deadlines.check_due(due, now, life_safety)  # the policy: 30 days, a life-safety finding 1
        except deadlines.DueDateError as err:
            raise Invalid(f"due_at: {err} (RFC 3339)", "err_order_due", days=err.days) from None
        async with conn.transaction():  # an order is never without its document number (文号)
            change = await store.issue(
                conn,
                f["id"],
                source="inspection" if inspection_id is not None else "alert" if alert_id is not None else "manual",
                alert_id=alert_id,
                inspection_id=inspection_id,
                life_safety=life_safety,
                title=title,
                detail=detail,
                due_at=deadlines.check_due(due, now, life_safety),
                actor=user.username,
                level=level,
                now=now,
                department=department,
            )
            numbered_by = document_rules.department_of(level, f["county"], f["township"], department)
            year = document_rules.year_of(now)
            await documents.allocate(conn, numbered_by, "order", year, now, order_id=change.order_id)
        await audit(
            conn, user.username, "order.issue", f"order {change.order_id}", {"facility": f["id"], "due_at": due}, at=now
        )
        await _notify(conn, change, public_url, now)
        return await _visible(conn, user, change.order_id, now)


async def answer(
    pool: asyncpg.Pool, user: User, order_id: int, note: Any, files: list[Upload], public_url: str, *, now: datetime
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        o = await _visible(conn, user, order_id, now)
        if not order_rules.may_answer(user.scope):
            raise Forbidden("the facility's operator answers an order", "err_answer_who")
        text = _text({"note": note}, "note", 4000, True, "err_answer_note")
        proofs = evidence(files)
    proofs = await stripped(proofs)  # no connection held meanwhile
    async with pool.acquire() as conn:
        try:
            change = await order_rules.answer(conn, o["id"], user.username, text, proofs, now)
        except store.StateError as err:
            raise Conflict(str(err), "err_order_state") from None
        await audit(conn, user.username, "order.answer", f"order {o['id']}", {"files": len(proofs)}, at=now)
        await _notify(conn, change, public_url, now)
        return await _visible(conn, user, o["id"], now)


async def review(
    pool: asyncpg.Pool,
    user: User,
    order_id: int,
    accept: Any,
    note: Any,
    public_url: str,
    *,
    now: datetime,
    due_at: Any = None,
) -> dict[str, Any]:
    """Accept, or send back with a note and a new due date (`due_at`, RFC 3339: required, after now, within
    supervision.orders.RETURN_DUE_MAX)."""
    async with pool.acquire() as conn:
        o = await _visible(conn, user, order_id, now)
        if not order_rules.may_review(user.scope, o["issued_level"]):
            raise Forbidden("the issuing level or above accepts or sends back an order", "err_review_who")
        reviewing_department(user, o)
        if not isinstance(accept, bool):
            raise Invalid("accept must be true or false")
        text = _text({"note": note}, "note", 4000, not accept, "err_return_note")
        new_due = None
        if not accept:
            new_due = parse_time(due_at, "due_at") if isinstance(due_at, str) and due_at.strip() else None
        try:
            change = await order_rules.review(conn, o["id"], user.username, accept, text, now, new_due)
        except order_rules.DueDateError as err:
            raise Invalid(f"due_at: {err} (RFC 3339)", "err_return_due", days=err.days) from None
        except store.StateError as err:
            raise Conflict(str(err), "err_order_state") from None
        facts: dict[str, object] = {"note": text[:200]} | ({} if new_due is None else {"due_at": new_due})
        await audit(conn, user.username, f"order.{change.action}", f"order {o['id']}", facts, at=now)
        await _notify(conn, change, public_url, now)
        return await _visible(conn, user, o["id"], now)


_STEPS = {"urge": "urged", "summon": "summoned", "instruct": "instructed"}  # the history's word for each
INSTRUCTION_MAX = 2000


async def follow_up(
    pool: asyncpg.Pool, user: User, order_id: int, action: str, body: Any, public_url: str, *, now: datetime
) -> dict[str, Any]:
    """督办 that acts, from above the issuing level (supervision.orders.may_supervise): `urge` (催办: `note`,
    the message sent to the issuing level's inspectors), `summon` (约谈: `held_on` YYYY-MM-DD, `people`,
    `minutes`) or `instruct` (批示: `note`, a leader's written instruction). Each is a step of the order's
    history, audited and sent to the responsible level."""
    if action not in _STEPS:
        raise NotFound("no such step")
    async with pool.acquire() as conn:
        o = await _visible(conn, user, order_id, now)
        level = order_rules.level_of(user.scope)
        if level is None or not order_rules.may_supervise(user.scope, o["issued_level"], o["status"]):
            raise Forbidden("a level above the issuer follows an open order up", "err_followup_who")
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object")
        detail: dict[str, str] = {}
        if action == "urge":
            note = _text(body, "note", 1000, True, "err_urge_note")
        elif action == "instruct":
            raw = body.get("note")
            if isinstance(raw, str) and len(raw) > INSTRUCTION_MAX:  # as sent, before any trimming
                raise Invalid(f"note is at most {INSTRUCTION_MAX} characters", "err_instruction_note")
            note = _text(body, "note", INSTRUCTION_MAX, True, "err_instruction_note")
        else:
            note = _text(body, "minutes", 4000, True, "err_summons")
            try:
                detail = order_rules.summons_facts(str(body.get("held_on", "")), str(body.get("people", "")), note, now)
            except order_rules.SummonsError as err:
                raise Invalid(str(err), "err_summons") from None
        step = _STEPS[action]
        f = await documents.particulars(conn, o["facility_id"])
        try:
            async with conn.transaction():  # a step is never without its 督办通知's number (文号)
                change = await order_rules.supervise(conn, o["id"], user.username, level, step, note, detail, now)
                if step in ("urged", "summoned"):  # a 督办通知: the upper level's, of the order's department
                    numbered_by = document_rules.department_of(level, f["county"], f["township"], o["department"])
                    year = document_rules.year_of(now)
                    await documents.allocate(conn, numbered_by, "supervision", year, now, of=change.seq)
        except store.StateError as err:
            raise Conflict(str(err), "err_order_state") from None
        facts: dict[str, object] = {**detail, "note": note[:200]}
        await audit(conn, user.username, f"order.{step}", f"order {o['id']}", facts, at=now)
        await _notify(conn, change, public_url, now)
        return await _visible(conn, user, o["id"], now)
