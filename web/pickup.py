"""Pick-up delegates (issue #39 item 3) for the API and the pages: scope first (404), then who (403: only the
facility's operator, supervision.pickup), then the input and the consent (400) and the delegate's state
(409). Each record and revocation is audited (`pickup.delegate.add`, `pickup.delegate.revoke`); the
alert engine hears of it through `registry_changed` (migration 027's trigger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from storage import pickup as store
from storage import queries
from storage.users import User, audit
from supervision import pickup as rules
from supervision.pickup import NewDelegate, PickupRefused
from web.errors import Conflict, Invalid, NotFound, from_rule
from web.orders import Upload, evidence, stripped
from web.params import parse_time

_TEXT = {"child_id": 64, "person_id": 64, "name": 100, "relation": 20, "kind": 20, "consent_by": 64}


def parse_new(body: Any, has_file: bool) -> NewDelegate:
    """A delegate's fields as given (their rules are supervision.pickup's)."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    out: dict[str, Any] = {}
    for name, limit in _TEXT.items():
        v = body.get(name)
        if not isinstance(v, str) or not v.strip() or len(v.strip()) > limit or "\x00" in v:
            raise Invalid(f"{name} is required (at most {limit} characters)", "err_delegate_field", field=name)
        out[name] = v.strip()
    if not all(c.isascii() and (c.isalnum() or c in "_.:-") for c in out["person_id"] + out["child_id"]):
        raise Invalid(
            "person_id and child_id are ids: letters, digits, _ . : -", "err_delegate_field", field="person_id"
        )
    method = body.get("consent_method")
    note = body.get("consent_note", "")
    if not isinstance(note, str) or len(note) > 1000 or "\x00" in note:
        raise Invalid("consent_note is at most 1,000 characters", "err_consent_note", n=10)
    times = {}
    for name in ("valid_from", "valid_until", "consent_at"):
        v = body.get(name)
        t = parse_time(v, name) if isinstance(v, str) and v else None
        if t is None:
            raise Invalid(f"{name} is required (RFC 3339 with an offset)", "err_delegate_field", field=name)
        times[name] = t
    return NewDelegate(
        child_id=out["child_id"],
        person_id=out["person_id"],
        name=out["name"],
        relation=out["relation"],
        kind=out["kind"],
        valid_from=times["valid_from"],
        valid_until=times["valid_until"],
        consent_by=out["consent_by"],
        consent_method=str(method or ""),
        consent_at=times["consent_at"],
        consent_note=note.strip(),
        consent_file=has_file,
    )


async def record(
    pool: asyncpg.Pool,
    user: User,
    facility_id: str,
    body: Any,
    *,
    now: datetime,
    photo: Upload | None = None,
    consent_file: Upload | None = None,
) -> dict[str, Any]:
    """A new delegate on a facility in the user's scope, from its operator, with the parents' consent."""
    async with pool.acquire() as conn:
        f = await queries.facility_row(conn, user.scope, facility_id)
    if f is None:
        raise NotFound("no such facility")
    if not rules.may_record(user.scope, f["id"]):
        raise from_rule(
            PickupRefused("only the facility's operator records a delegate", "err_delegate_who", "forbidden")
        )
    form = (await stripped(evidence([consent_file])))[0] if consent_file and consent_file.data else None
    pic = (await stripped(evidence([photo])))[0] if photo and photo.data else None
    if pic is not None and pic.content_type == "application/pdf":
        raise Invalid("a photo is a JPEG or a PNG", "err_file_type", name=pic.filename)
    d = parse_new(body, form is not None)
    async with pool.acquire() as conn, conn.transaction():
        guardians = await store.child_guardians(conn, f["id"], d.child_id)
        staff = await store.staff_ids(conn, f["id"])
        try:
            rules.check_new(user.scope, f["id"], d, guardians, staff, now)
        except PickupRefused as err:
            raise from_rule(err) from None
        fields = {k: getattr(d, k) for k in NewDelegate.__slots__ if k != "consent_file"}
        row = await store.create(
            conn,
            f["id"],
            fields,
            user.username,
            now,
            store.StoredFile(pic.data, pic.content_type, pic.filename) if pic else None,
            store.StoredFile(form.data, form.content_type, form.filename) if form else None,
        )
        out = store.delegate_json(row, now)
        await audit(conn, user.username, "pickup.delegate.add", f["id"], out, at=now)
    return out


async def revoke(
    pool: asyncpg.Pool, user: User, facility_id: str, delegate_id: int, body: Any, *, now: datetime
) -> dict[str, Any]:
    """Revoke a delegate at once and for good (the facility's operator); a reason is optional."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 500 or "\x00" in reason:
        raise Invalid("reason is at most 500 characters", "err_reason_long")
    async with pool.acquire() as conn, conn.transaction():
        f = await queries.facility_row(conn, user.scope, facility_id)
        if f is None:
            raise NotFound("no such facility")
        row = await store.delegate(conn, f["id"], delegate_id)
        if row is None:
            raise NotFound("no such delegate")
        try:
            rules.check_revoke(user.scope, f["id"], row)
        except PickupRefused as err:
            raise from_rule(err) from None
        updated = await store.revoke(conn, f["id"], delegate_id, user.username, reason.strip() or None, now)
        if updated is None:
            raise Conflict("the delegate was revoked meanwhile", "err_delegate_revoked")
        out = store.delegate_json(updated, now)
        await audit(conn, user.username, "pickup.delegate.revoke", f["id"], out, at=now)
    return out


async def listing(pool: asyncpg.Pool, user: User, facility_id: str, *, now: datetime) -> list[dict[str, Any]]:
    """The facility's delegates, every state, for whoever's scope covers it (inspectors read-only)."""
    async with pool.acquire() as conn:
        f = await queries.facility_row(conn, user.scope, facility_id)
        if f is None:
            raise NotFound("no such facility")
        return await store.delegates(conn, f["id"], now)
