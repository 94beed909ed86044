"""What people do through the web, shared by the API and the pages: acknowledge an alert, record where a
child left on site is, request, set, approve, reject or withdraw a maintenance window, load a registry
(appeals: web/appeals.py).
Each checks scope (NotFound), role (Forbidden) and input (Invalid) in that order, writes through
storage, and is audited; none knows about HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import yaml

from contract.errors import ContractError
from contract.registry import parse_registry
from contract.rules import NOTE_MIN_SUBSTANCE, NoteRequired, check_acknowledgement, note_substance
from storage import alerts as alert_store
from storage import maintenance as maintenance_store
from storage import queries
from storage import registry as registry_store
from storage import whereabouts as whereabouts_store
from storage.registry import load_registry
from storage.users import User, audit
from supervision import maintenance as rules
from supervision.maintenance import WindowRefused
from web.errors import Conflict, Forbidden, Invalid, NotFound, from_rule
from web.params import parse_time


async def acknowledge(pool: asyncpg.Pool, user: User, alert_id: int, note: str, *, now: datetime) -> dict[str, Any]:
    """Shared by the API and the pages: scope-checked, audited, announced on the stream."""
    if len(note) > 2000:
        raise Invalid("note is at most 2,000 characters", "err_note_long")

    def check(row: asyncpg.Record) -> None:
        if row["acknowledged"]:  # the first acknowledgement stands: its who, when and note are the record
            by = row["acknowledged_by"] or ""
            raise Conflict(f"the alert was acknowledged already by {by}", "err_already_acknowledged", by=by)
        try:
            check_acknowledgement(row["severity"], note)
        except NoteRequired as err:
            raise Invalid(str(err), "err_note_required") from None

    async with pool.acquire() as conn:
        updated = await alert_store.acknowledge(conn, user.scope, alert_id, user.username, note, now, check)
    if updated is None:
        raise NotFound("no such alert")
    return queries.alert_json(updated)


async def record_whereabouts(
    pool: asyncpg.Pool, user: User, alert_id: int, note: str, *, now: datetime
) -> dict[str, Any]:
    """Where the child of a `child_not_collected` alert is (issue #42 item 3), with a note that is
    required: the alert engine clears the alert as a badge-out at this time would, and the alert stays
    on the record, acknowledged with the note, for the inspectors to read."""
    if len(note) > 2000:
        raise Invalid("note is at most 2,000 characters", "err_note_long")
    if note_substance(note) < NOTE_MIN_SUBSTANCE:  # it closes the alert: no less than an acknowledgement's note
        raise Invalid(
            f"say where the child is and who is with the child (at least {NOTE_MIN_SUBSTANCE} letters or digits)",
            "err_whereabouts_note",
        )
    async with pool.acquire() as conn:
        try:
            updated = await whereabouts_store.record(conn, user.scope, alert_id, user.username, note.strip(), now)
        except whereabouts_store.NotAChildAlert as err:
            raise Conflict(str(err), "err_whereabouts_alert") from None
    if updated is None:
        raise NotFound("no such alert")
    return queries.alert_json(updated)


async def file_maintenance(
    pool: asyncpg.Pool, user: User, facility_id: str, body: Any, *, now: datetime, request_only: bool = False
) -> dict[str, Any]:
    """A new window on a facility in the user's scope: requested from its operator, set (approved at once)
    by an inspector or an admin unless `request_only`. Scope first (404), then the body and the limits
    (400 with the reason: supervision.maintenance.check_limits); audited as `maintenance.request` or
    `maintenance.set`."""
    async with pool.acquire() as conn, conn.transaction():
        f = await queries.facility_row(conn, user.scope, facility_id)
        if f is None:
            raise NotFound("no such facility")
        device, start, end, reason = window(body)
        if device and not await registry_store.has_device(conn, f["id"], device):
            raise Invalid(f"device_id {device!r} is not a device of this facility", "err_no_device", device=device)
        status = "requested" if request_only else rules.new_status(user.scope)
        await maintenance_store.lock_facility(conn, f["id"])
        months = rules.month_spans(start, end)
        counts = rules.REQUEST_COUNTS if status == "requested" else rules.APPROVAL_COUNTS
        others = await maintenance_store.spans(conn, f["id"], months[0][0], months[-1][1], counts)
        try:
            rules.check_limits(start, end, now, others)
        except WindowRefused as err:
            raise from_rule(err) from None
        approved_at = now if status == "approved" else None
        row = await maintenance_store.create_window(
            conn, f["id"], device, start, end, reason, user.username, status=status, decided_at=approved_at
        )
        out = maintenance_store.window_json(row)
        await audit(
            conn, user.username, "maintenance.set" if approved_at else "maintenance.request", f["id"], out, at=now
        )
    return out


DECISIONS = ("approve", "reject", "withdraw")


async def decide_maintenance(
    pool: asyncpg.Pool, user: User, facility_id: str, window_id: int, decision: str, body: Any, *, now: datetime
) -> dict[str, Any]:
    """Approve, reject (with a reason) or withdraw a pending request (supervision.maintenance.check_decision
    says who may and when): scope (404), then who (403), then the window's state (409) and the body (400);
    audited as `maintenance.approve|reject|withdraw`."""
    async with pool.acquire() as conn, conn.transaction():
        f = await queries.facility_row(conn, user.scope, facility_id)
        if f is None:
            raise NotFound("no such facility")
        await maintenance_store.lock_facility(conn, f["id"])
        row = await maintenance_store.window(conn, f["id"], window_id)
        if row is None:
            raise NotFound("no such maintenance window")
        months = rules.month_spans(row["starts_at"], row["ends_at"])
        approved = await maintenance_store.spans(conn, f["id"], months[0][0], months[-1][1], rules.APPROVAL_COUNTS)
        try:
            status = rules.check_decision(user.username, user.scope, row, decision, now, approved)
        except WindowRefused as err:
            raise from_rule(err) from None
        if not isinstance(body, dict):
            raise Invalid("body must be a JSON object")
        note = body.get("reason", "")
        if not isinstance(note, str) or len(note.strip()) > 500 or "\x00" in note:
            raise Invalid("reason is at most 500 characters", "err_reason_long")
        if decision == "reject" and not note.strip():
            raise Invalid("a rejection needs a reason", "err_window_reject_reason")
        updated = await maintenance_store.decide(conn, row["id"], status, user.username, note.strip() or None, now)
        if updated is None:  # for the type checker: the lock above keeps it pending
            raise Conflict("the window was decided meanwhile", "err_window_state")
        out = maintenance_store.window_json(updated)
        await audit(conn, user.username, f"maintenance.{decision}", f["id"], out, at=now)
    return out


def window(body: Any) -> tuple[str | None, datetime, datetime, str]:
    """A window's fields as given: the device (None: the whole facility), start, end, reason. Its limits
    are supervision.maintenance's."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    for name in ("starts_at", "ends_at", "reason"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise Invalid(f"{name} is required", "err_window_times")
    device = body.get("device_id") or None
    if device is not None and not isinstance(device, str):
        raise Invalid("device_id must be a string")
    reason = body["reason"].strip()
    if len(reason) > 500:
        raise Invalid("reason is at most 500 characters", "err_reason_long")
    start, end = parse_time(body["starts_at"], "starts_at"), parse_time(body["ends_at"], "ends_at")
    if start is None or end is None:  # for the type checker: both are non-empty here
        raise Invalid("starts_at and ends_at are required", "err_window_times")
    if end <= start:
        raise Invalid("ends_at must be after starts_at", "err_window_order")
    return device, start, end, reason


async def load_registry_text(
    pool: asyncpg.Pool, user: User, text: str, source: str, *, salt: bytes | None, now: datetime
) -> dict[str, Any]:
    """Admins load a registry file (YAML or JSON, CONTRACT §3); the facilities it names are replaced. Identity
    numbers in it are hashed with `salt` and dropped before anything is stored or said (contract/people.py);
    a class over the standard's capacity, or an identity number without a salt, is refused (400)."""
    if user.role != "admin":
        raise Forbidden("only an admin may load a registry", "err_registry_who")
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as err:
        raise Invalid(
            f"not valid YAML or JSON: {str(err).splitlines()[0]}", "err_registry", detail=str(err).splitlines()[0]
        ) from None
    try:
        reg = parse_registry(data, salt)
    except ContractError as err:
        raise Invalid(f"registry: {err}", "err_registry", detail=str(err)) from None
    try:
        async with pool.acquire() as conn, conn.transaction():
            s = await load_registry(conn, reg, now)
            out = {"facilities": s.facilities, "devices": s.devices, "staff": s.staff, "children": s.children}
            await audit(
                conn, user.username, "registry.load", source, out | {"ids": [f.id for f in reg.facilities]}, at=now
            )
    except asyncpg.IntegrityConstraintViolationError as err:
        # what the schema cannot say alone (a township outside its county, a class that does not exist)
        raise Invalid(
            f"registry: {str(err).splitlines()[0]}", "err_registry", detail=str(err).splitlines()[0]
        ) from None
    return out
