"""Inspection records (检查记录) for the API and the pages: an inspector (or an admin) plans a visit or a
remote inspection of a facility in scope, records a finding per checklist item (contract/inspection.py)
with notes and photos, and signs it; a signed record does not change. Scope first (404), then role
(403), then input (400) and state (409); audited."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from contract.inspection import RESULTS, items_of
from storage import documents, queries
from storage import inspections as store
from storage import order_followups as followup_store
from storage.rectification import StateError
from storage.users import User, audit
from supervision import countersign as two_officers
from supervision import departments
from supervision import documents as document_rules
from supervision.countersign import task_of
from supervision.orders import level_of
from web.errors import Forbidden, Invalid, NotFound, from_rule
from web.orders import Conflict, Upload, evidence, stripped


def _inspector_level(user: User) -> str:
    level = level_of(user.scope)
    if level is None:
        raise Forbidden("only an inspector or an admin plans and records inspections", "err_inspect_who")
    return level


async def plan(pool: asyncpg.Pool, user: User, facility_id: str, body: Any, *, now: datetime) -> dict[str, Any]:
    async with pool.acquire() as conn:
        f = await queries.facility_row(conn, user.scope, facility_id)
        if f is None:
            raise NotFound("no such facility")
        level = _inspector_level(user)
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object")
        kind = body.get("kind", "visit")
        if kind not in {"visit", "remote"}:
            raise Invalid("kind must be visit or remote", "err_inspect_kind")
        raw = body.get("planned_for")
        try:
            when = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            when = None
        today = now.astimezone(UTC).date()
        if when is None or not today - timedelta(days=31) <= when <= today + timedelta(days=366):
            raise Invalid(
                "planned_for must be a date (YYYY-MM-DD) from a month ago to a year ahead", "err_inspect_date"
            )
        joint = body.get("departments")
        try:  # the planner's department (and a joint one's others): checklists, officers (supervision/departments.py)
            department = departments.check_plan(user.scope, user.department, f["kind"])
            parts = [] if joint is None else departments.check_joint(user.scope, user.department, joint, f["kind"])
        except departments.DepartmentRefused as err:
            raise from_rule(err) from None
        async with conn.transaction():  # a joint inspection (联合检查) is planned whole: the lead and its parts
            iid = await store.plan(conn, f["id"], kind, when, user.username, level, department)
            for other in parts[1:]:
                await store.plan(conn, f["id"], kind, when, user.username, level, other, joint_id=iid)
        await audit(
            conn,
            user.username,
            "inspection.plan",
            f"inspection {iid}",
            {"facility": f["id"], "date": when, "department": department} | ({"joint": parts} if parts else {}),
            at=now,
        )
        out = await store.inspection_detail(conn, user.scope, iid)
        assert out is not None  # noqa: S101 - just written, in scope
        return out


def findings_of(raw: Any, items: Mapping[str, object]) -> dict[str, dict[str, str]]:
    """{code: {"result": pass|fail|na, "note": "..."}} for the record's department's `items` only."""
    if not isinstance(raw, dict):
        raise Invalid("findings must be an object of checklist items", "err_findings")
    out = {}
    for code, f in raw.items():
        if code not in items or not isinstance(f, dict):
            raise Invalid(f"findings: unknown item {str(code)[:40]!r}", "err_findings")
        result, note = f.get("result", ""), f.get("note", "")
        if result not in (*RESULTS, "") or not isinstance(note, str) or len(note) > 500 or "\x00" in note:
            raise Invalid(
                f"findings: {code}: result pass, fail or na; a note of at most 500 characters", "err_findings"
            )
        if result:
            out[code] = {"result": result, "note": note.strip()}
    return out


async def record(
    pool: asyncpg.Pool, user: User, inspection_id: int, body: Any, files: list[Upload], *, now: datetime
) -> dict[str, Any]:
    findings, notes, sign, insp = await _checked(pool, user, inspection_id, body)
    facility_id = insp["facility_id"]
    # a drawn inspection's record is the drawing county's document; one planned by hand, its recorder's level's
    level = insp["level"] if insp["drawn"] else _inspector_level(user)
    second = body.get("second_inspector") if sign else None
    if sign and not isinstance(second, str):
        second = ""
    proofs = await stripped(evidence(files))  # photos without their metadata; no connection held meanwhile
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():  # a signed record is never without its document number (文号)
                if sign:  # two officers: the one signing names the second (supervision/countersign.py)
                    assert isinstance(second, str)  # noqa: S101 - set above
                    second = second.strip()
                    await _check_second(conn, user, inspection_id, second)
                await store.record(conn, inspection_id, user.username, findings, notes, proofs, sign, now, second)
                if sign:
                    f = await documents.particulars(conn, facility_id)
                    department = document_rules.department_of(level, f["county"], f["township"], insp["department"])
                    year = document_rules.year_of(now)
                    await documents.allocate(conn, department, "inspection", year, now, inspection_id=inspection_id)
                    if await followup_store.order_of_recheck(conn, inspection_id) is not None:  # its 复查意见书
                        await documents.allocate(conn, department, "recheck", year, now, of=inspection_id)
        except StateError as err:
            raise Conflict(str(err), "err_inspection_signed") from None
        except two_officers.CountersignRefused as err:
            raise from_rule(err) from None
        failed = sorted(c for c, f in findings.items() if f["result"] == "fail")
        action = "inspection.sign" if sign else "inspection.record"
        facts: dict[str, Any] = {"failed": failed} | ({"second_inspector": second} if sign else {})
        await audit(conn, user.username, action, f"inspection {inspection_id}", facts, at=now)
        out = await store.inspection_detail(conn, user.scope, inspection_id, task_of(user.scope, user.username))
        assert out is not None  # noqa: S101
        return out


async def _check_second(conn: asyncpg.Connection, user: User, inspection_id: int, second: str) -> None:
    """The state first (a signed record does not change: 409), then whom the signer names as the second
    officer (supervision/countersign.py). StateError or CountersignRefused."""
    row = await store.record_row(conn, inspection_id)
    if row is None or row["status"] != "planned":  # store.record checks it again under its lock
        raise StateError("the inspection is signed: its record does not change")
    facility = {"id": row["facility_id"], "county": row["county"], "township": row["township"]}
    account = await store.account(conn, second) if 0 < len(second) <= two_officers.SECOND_MAX else None
    drawn = (row["drawn_a"], row["drawn_b"]) if row["drawn_a"] else None
    two_officers.check_second(user.username, facility, second, account, drawn, row["department"])


async def _checked(
    pool: asyncpg.Pool, user: User, inspection_id: int, body: Any
) -> tuple[dict[str, dict[str, str]], str, bool, dict[str, Any]]:
    """Scope or the draw (404), role (403: an inspector, one of the two drawn for a drawn inspection), then
    the body (400): the findings, the notes (stripped), `sign` and the inspection."""
    async with pool.acquire() as conn:
        insp = await store.inspection_detail(conn, user.scope, inspection_id, task_of(user.scope, user.username))
    if insp is None:
        raise NotFound("no such inspection")
    _inspector_level(user)
    drawn = insp["drawn"]
    if drawn and user.username not in drawn:
        raise Forbidden(
            f"the draw picked {drawn[0]} and {drawn[1]} for this inspection: they record and sign it",
            "err_author_not_drawn",
            a=drawn[0],
            b=drawn[1],
        )
    try:  # a department records its own inspections only (supervision/departments.py)
        departments.check_record(user.scope, user.department, insp["department"])
    except departments.DepartmentRefused as err:
        raise from_rule(err) from None
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    items = items_of(insp["department"])  # the record's department's checklist, whoever asks
    findings = findings_of(body.get("findings", {}), items)
    notes = body.get("notes", "")
    if not isinstance(notes, str) or len(notes) > 4000 or "\x00" in notes:
        raise Invalid("notes are at most 4,000 characters", "err_findings")
    sign = body.get("sign", False)
    if not isinstance(sign, bool):
        raise Invalid("sign must be true or false")
    if sign and set(findings) != set(items):
        missing = len(set(items) - set(findings))
        raise Invalid(f"{missing} checklist items have no finding yet", "err_sign_incomplete", n=missing)
    return findings, notes.strip(), sign, insp


async def countersign(pool: asyncpg.Pool, user: User, inspection_id: int, *, now: datetime) -> dict[str, Any]:
    """The second officer confirms a record awaiting them (待会签 -> signed): scope first (404), then who
    (403: not the one who signed, only the named second inspector) and the state (409)."""
    task = task_of(user.scope, user.username)
    async with pool.acquire() as conn:
        if await store.inspection_detail(conn, user.scope, inspection_id, task) is None:
            raise NotFound("no such inspection")
        try:
            async with conn.transaction():
                row = await store.record_row(conn, inspection_id, lock=True)
                assert row is not None  # noqa: S101 - in scope just now; records are not deleted
                facility = {"id": row["facility_id"], "county": row["county"], "township": row["township"]}
                drawn = (row["drawn_a"], row["drawn_b"]) if row["drawn_a"] else None
                two_officers.check_confirm(user.username, user.scope, row, facility, drawn)
                departments.check_record(user.scope, user.department, row["department"])
                if not await store.countersign(conn, inspection_id, user.username, now):
                    raise Conflict("the record no longer waits for your confirmation", "err_countersign_state")
        except (two_officers.CountersignRefused, departments.DepartmentRefused) as err:
            raise from_rule(err) from None
        await audit(conn, user.username, "inspection.countersign", f"inspection {inspection_id}", {}, at=now)
        out = await store.inspection_detail(conn, user.scope, inspection_id, task)
        assert out is not None  # noqa: S101
        return out
