"""Rectification orders (整改通知) and their follow-up up the chain (督办): migration 010.

The lifecycle: issued -> answered (the facility's operator: measures and evidence) -> accepted (closed)
or returned (back to the operator with a new due date, who answers again). Which step is allowed, who
takes it and what a new due date may be are decided in supervision/orders.py; this module reads and
writes the rows. An order the facility has not answered by its due date in force (`due_at`; the original
stays in `first_due_at`, migration 025) is overdue and its supervision goes up a level (township ->
county -> city). Every step is a history row, dated by the caller's `now`; an acknowledgement of the alert
it came from changes nothing here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from contract.errors import DomainError
from contract.inspection import DEFAULT_DEPARTMENT
from contract.rectification import receipt_overdue
from storage.suspensions import IN_FORCE_SQL as SUSPENDED_SQL
from storage.users import Scope


class StateError(DomainError):
    """The order is not in a state that allows this step (answered twice, accepted before an answer)."""

    kind = "conflict"


@dataclass(frozen=True, slots=True)
class Evidence:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OrderChange:
    """What happened to an order, for notifications: who should hear is decided by `audience_level`."""

    order_id: int
    facility_id: str
    action: str  # issued | answered | returned | accepted | escalated | urged | summoned | instructed | …
    title: str
    due_at: datetime
    audience_level: str  # facility | township | county | city
    seq: int  # its history row: one message per step, however often the change is seen
    note: str = ""  # said to the people it goes to (an urge's message)

    @property
    def event(self) -> str:
        return f"order:{self.action}:{self.seq}"


async def _history(
    conn: asyncpg.Connection,
    order_id: int,
    actor: str,
    action: str,
    note: str,
    detail: dict[str, Any] | None,
    at: datetime,
) -> int:
    hid: int = await conn.fetchval(
        "INSERT INTO rectification_history (order_id, actor, action, note, detail, at)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        order_id,
        actor,
        action,
        note,
        json.dumps(detail or {}, ensure_ascii=False, default=str),
        at,
    )
    return hid


async def issue(
    conn: asyncpg.Connection,
    facility_id: str,
    *,
    source: str,
    alert_id: int | None,
    title: str,
    detail: str,
    due_at: datetime,
    actor: str,
    level: str,
    inspection_id: int | None = None,
    now: datetime,
    life_safety: bool = False,
    department: str = DEFAULT_DEPARTMENT,
) -> OrderChange:
    """A new order of `department` (部门, migration 043), issued at `now` (`life_safety`: due at once,
    supervision/deadlines.py)."""
    async with conn.transaction():
        oid: int = await conn.fetchval(
            "INSERT INTO rectification_orders (facility_id, source, alert_id, title, detail, due_at, first_due_at,"
            " issued_by, issued_level, supervision_level, inspection_id, issued_at, life_safety, department)"
            " VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $8, $9, $10, $11, $12)"
            " RETURNING id",
            facility_id,
            source,
            alert_id,
            title,
            detail,
            due_at,
            actor,
            level,
            inspection_id,
            now,
            life_safety,
            department,
        )
        facts = {"due_at": due_at.isoformat(), "level": level, "alert_id": alert_id}
        hid = await _history(conn, oid, actor, "issued", detail, facts, now)
    return OrderChange(oid, facility_id, "issued", title, due_at, "facility", hid)


async def locked(conn: asyncpg.Connection, order_id: int) -> asyncpg.Record:
    """The order's row, locked for the rest of the caller's transaction."""
    row = await conn.fetchrow("SELECT * FROM rectification_orders WHERE id = $1 FOR UPDATE", order_id)
    if row is None:
        raise StateError("no such order")
    return row


async def record_answer(
    conn: asyncpg.Connection,
    o: asyncpg.Record,
    actor: str,
    note: str,
    files: Sequence[Evidence],
    now: datetime,
) -> OrderChange:
    """The operator's answer to the locked order `o`: measures taken, with evidence (the caller decided it
    may be answered)."""
    order_id = o["id"]
    await conn.execute("UPDATE rectification_orders SET status = 'answered' WHERE id = $1", order_id)
    hid = await _history(conn, order_id, actor, "answered", note, {"files": len(files)}, now)
    for f in files:
        await conn.execute(
            "INSERT INTO evidence_files (history_id, filename, content_type, size_bytes, sha256, data, uploaded_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            hid,
            f.filename,
            f.content_type,
            len(f.data),
            hashlib.sha256(f.data).hexdigest(),
            f.data,
            actor,
        )
    return OrderChange(order_id, o["facility_id"], "answered", o["title"], o["due_at"], o["issued_level"], hid)


async def record_review(
    conn: asyncpg.Connection,
    o: asyncpg.Record,
    actor: str,
    note: str,
    now: datetime,
    new_due: datetime | None = None,
) -> OrderChange:
    """The locked, answered order `o` accepted (`new_due` None: it closes) or sent back with `new_due`, the
    due date in force from now on (the caller decided both)."""
    order_id = o["id"]
    if new_due is None:
        await conn.execute(
            "UPDATE rectification_orders SET status = 'accepted', closed_at = $2, closed_by = $3 WHERE id = $1",
            order_id,
            now,
            actor,
        )
        hid = await _history(conn, order_id, actor, "accepted", note, None, now)
        return OrderChange(order_id, o["facility_id"], "accepted", o["title"], o["due_at"], "facility", hid)
    await conn.execute(
        "UPDATE rectification_orders SET status = 'returned', due_at = $2 WHERE id = $1", order_id, new_due
    )
    facts = {"due_at": new_due.isoformat(), "previous_due_at": o["due_at"].isoformat()}
    hid = await _history(conn, order_id, actor, "returned", note, facts, now)
    return OrderChange(order_id, o["facility_id"], "returned", o["title"], new_due, "facility", hid)


async def timelines(
    conn: asyncpg.Connection, facilities: list[str], start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """Every step of the orders whose original due date falls in [start, end), per order in the order they
    happened: (facility_id, order_id, first_due_at, action, at, due_at: the due date a step set). What
    contract.rectification.is_late judges."""
    return list(
        await conn.fetch(
            "SELECT o.facility_id, o.id AS order_id, o.first_due_at, h.action, h.at,"
            " (h.detail ->> 'due_at')::timestamptz AS due_at"
            " FROM rectification_orders o JOIN rectification_history h ON h.order_id = o.id"
            " WHERE o.facility_id = ANY($1) AND o.first_due_at >= $2 AND o.first_due_at < $3"
            " ORDER BY o.id, h.at, h.id",
            facilities,
            start,
            end,
        )
    )


async def overdue(conn: asyncpg.Connection, now: datetime, facilities: list[str] | None = None) -> list[asyncpg.Record]:
    """The orders 督办 may concern, not yet supervised by the city: unanswered past their due date (issued or
    returned, due before `now`), and every answered one with the time of its latest answer (`answered_at`;
    supervision.orders decides when an unreviewed answer is late)."""
    return list(
        await conn.fetch(
            "SELECT o.id, o.facility_id, o.title, o.status, o.due_at, o.supervision_level, o.escalated_at,"
            " (SELECT max(h.at) FROM rectification_history h WHERE h.order_id = o.id AND h.action = 'answered')"
            " AS answered_at FROM rectification_orders o"
            " WHERE ((o.status IN ('issued', 'returned') AND o.due_at < $1) OR o.status = 'answered')"
            " AND o.supervision_level <> 'city'"
            + ("" if facilities is None else " AND o.facility_id = ANY($2::text[])"),
            now,
            *([] if facilities is None else [facilities]),
        )
    )


async def raise_supervision(
    conn: asyncpg.Connection, order_id: int, level: str, up: str, now: datetime, late: str = "answer"
) -> OrderChange | None:
    """Move an open order's supervision from `level` to `up` at `now`, with its history row saying whose
    delay it was (`late`: answer, review); None when it was accepted or moved meanwhile (nothing written)."""
    async with conn.transaction():
        r = await conn.fetchrow(
            "UPDATE rectification_orders SET supervision_level = $2, escalated_at = $3"
            " WHERE id = $1 AND supervision_level = $4 AND status IN ('issued', 'returned', 'answered')"
            " RETURNING id, facility_id, title, due_at",
            order_id,
            up,
            now,
            level,
        )
        if r is None:
            return None
        facts = {"to": up, "due_at": r["due_at"].isoformat(), "late": late}
        hid = await _history(conn, order_id, "system", "escalated", "", facts, now)
    return OrderChange(order_id, r["facility_id"], "escalated", r["title"], r["due_at"], up, hid)


async def record_supervision(
    conn: asyncpg.Connection,
    o: asyncpg.Record,
    actor: str,
    action: str,
    note: str,
    detail: dict[str, Any],
    audience_level: str,
    now: datetime,
) -> OrderChange:
    """A 督办 step on the order `o` (urged, summoned: the caller decided it may be taken): a history row;
    the order itself does not change."""
    hid = await _history(conn, o["id"], actor, action, note, detail, now)
    return OrderChange(o["id"], o["facility_id"], action, o["title"], o["due_at"], audience_level, hid, note)


async def waiting_count(conn: asyncpg.Connection, scope: Scope, level: str | None) -> int:
    """What waits for a user (the navigation's badge): for an inspector, the open orders in scope whose
    supervision has reached their level and the answers awaiting their level's review; for an operator,
    the orders their facility has to answer."""
    where, args = scope.sql("f", start=1)
    if level is None:
        cond = "o.status IN ('issued', 'returned')"
    else:
        args.append(level)
        p = f"${len(args)}"
        here = f"o.supervision_level = {p} AND o.status <> 'accepted' AND o.supervision_level <> o.issued_level"
        cond = f"(({here}) OR (o.status = 'answered' AND o.issued_level = {p}))"
    n: int = await conn.fetchval(
        "SELECT count(*) FROM rectification_orders o JOIN facilities f ON f.id = o.facility_id"
        f" WHERE {where} AND {cond}",
        *args,
    )
    return n


# -- reading, within a user's scope ----------------------------------------------------------------------
# an order row's facility under a suspension in force, and its latest 批示 (with who and when), for the lists
_ORDER_EXTRA = (
    f"{SUSPENDED_SQL} AS facility_suspended, (SELECT json_build_object('note', h.note, 'actor', h.actor, 'at', h.at)"
    " FROM rectification_history h WHERE h.order_id = o.id AND h.action = 'instructed'"
    " ORDER BY h.at DESC, h.id DESC LIMIT 1) AS last_instruction"
)
_ORDER_SELECT = (
    f"SELECT o.*, f.name AS facility_name, f.county AS facility_county, f.township AS facility_township,"
    f" rc.received_at, rc.received_by, {_ORDER_EXTRA} FROM rectification_orders o"
    " JOIN facilities f ON f.id = o.facility_id LEFT JOIN order_receipts rc ON rc.order_id = o.id"
)


def order_json(r: asyncpg.Record, now: datetime) -> dict[str, Any]:
    return {
        "id": r["id"],
        "facility_id": r["facility_id"],
        "facility_name": r["facility_name"],
        # the facility's area: an issuer shows as the area's name at its level (忻府区), not as a level
        "facility_county": r["facility_county"],
        "facility_township": r["facility_township"],
        "source": r["source"],
        "alert_id": r["alert_id"],
        "inspection_id": r["inspection_id"],
        "title": r["title"],
        "detail": r["detail"],
        "due_at": r["due_at"].isoformat(),
        "first_due_at": r["first_due_at"].isoformat(),
        "issued_by": r["issued_by"],
        "issued_level": r["issued_level"],
        "department": r["department"],
        "issued_at": r["issued_at"].isoformat(),
        "status": r["status"],
        "life_safety": r["life_safety"],
        "overdue": r["status"] in {"issued", "returned"} and r["due_at"] < now,
        # 签收 (migration 037): when and by whom the facility acknowledged it; flagged when it is late to
        "received_at": r["received_at"].isoformat() if r["received_at"] else None,
        "received_by": r["received_by"],
        "receipt_overdue": receipt_overdue(r["status"], r["issued_at"], r["received_at"], now),
        "supervision_level": r["supervision_level"],
        "closed_at": r["closed_at"].isoformat() if r["closed_at"] else None,
        "facility_suspended": r["facility_suspended"],  # 停业整改中 (migration 038)
        # the latest 批示 on it: {note, actor, at} or None
        "last_instruction": json.loads(r["last_instruction"]) if r["last_instruction"] else None,
    }


async def orders(
    conn: asyncpg.Connection,
    scope: Scope,
    now: datetime,
    *,
    status: str | None = None,
    facility_id: str | None = None,
    supervised_at: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Newest first. `status` 'open' = not accepted; 'overdue' = unanswered past due; 'escalated' = open and
    gone up from the issuing level; or one status.
    `supervised_at`: only the orders whose supervision has reached that level (a user's 督办 inbox)."""
    where, args = scope.sql("f", start=1)
    n = len(args)
    conds = [where]
    if status == "open":
        conds.append("o.status <> 'accepted'")
    elif status == "escalated":  # open and gone up from the issuing level: a 督办 list
        conds.append("o.status <> 'accepted' AND o.supervision_level <> o.issued_level")
    elif status == "overdue":
        args.append(now)  # type: ignore[arg-type]
        conds.append(f"o.status IN ('issued', 'returned') AND o.due_at < ${n + 1}")
    elif status is not None:
        args.append(status)
        conds.append(f"o.status = ${len(args)}")
    if facility_id is not None:
        args.append(facility_id)
        conds.append(f"o.facility_id = ${len(args)}")
    if supervised_at is not None:
        args.append(supervised_at)
        conds.append(f"o.supervision_level = ${len(args)}")
    args.append(limit)  # type: ignore[arg-type]
    rows = await conn.fetch(
        f"{_ORDER_SELECT} WHERE {' AND '.join(conds)} ORDER BY o.id DESC LIMIT ${len(args)}",
        *args,
    )
    return [order_json(r, now) for r in rows]


async def order_detail(conn: asyncpg.Connection, scope: Scope, order_id: int, now: datetime) -> dict[str, Any] | None:
    where, args = scope.sql("f", start=2)
    r = await conn.fetchrow(
        f"{_ORDER_SELECT} WHERE o.id = $1 AND {where}",
        order_id,
        *args,
    )
    if r is None:
        return None
    hist = await conn.fetch(
        "SELECT h.id, h.at, h.actor, h.action, h.note, h.detail,"
        " COALESCE(json_agg(json_build_object('id', e.id, 'filename', e.filename, 'content_type', e.content_type,"
        " 'size_bytes', e.size_bytes) ORDER BY e.id) FILTER (WHERE e.id IS NOT NULL), '[]') AS files"
        " FROM rectification_history h LEFT JOIN evidence_files e ON e.history_id = h.id"
        " WHERE h.order_id = $1 GROUP BY h.id ORDER BY h.at, h.id",
        order_id,
    )
    return order_json(r, now) | {
        "history": [
            {
                "id": h["id"],  # a 督办 step's 督办通知 is printed by it (web/pages/documents.py)
                "at": h["at"].isoformat(),
                "actor": h["actor"],
                "action": h["action"],
                "note": h["note"],
                "detail": json.loads(h["detail"]),
                "files": json.loads(h["files"]),
            }
            for h in hist
        ]
    }


async def record_receipt(conn: asyncpg.Connection, order_id: int, actor: str, now: datetime) -> bool:
    """The facility's acknowledgement of receipt, once (False: already acknowledged), and its step in the
    order's history (migration 038)."""
    async with conn.transaction():
        done = await conn.execute(
            "INSERT INTO order_receipts (order_id, received_by, received_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (order_id) DO NOTHING",
            order_id,
            actor,
            now,
        )
        if not done.endswith(" 1"):
            return False
        await _history(conn, order_id, actor, "received", "", None, now)
    return True


async def flag_late_receipts(
    conn: asyncpg.Connection, issued_before: datetime, now: datetime, facilities: list[str] | None = None
) -> list[OrderChange]:
    """Open orders issued before `issued_before` that the facility has not acknowledged (no 'received' step):
    a 'receipt_late' step, once per order (the history's unique index), told to the issuing level."""
    rows = await conn.fetch(
        "INSERT INTO rectification_history (order_id, actor, action, note, detail, at)"
        " SELECT o.id, 'system', 'receipt_late', '', '{}', $2 FROM rectification_orders o"
        " WHERE o.status <> 'accepted' AND o.issued_at < $1"
        " AND NOT EXISTS (SELECT 1 FROM rectification_history h WHERE h.order_id = o.id"
        " AND h.action IN ('received', 'receipt_late'))"
        + ("" if facilities is None else " AND o.facility_id = ANY($3::text[])")
        + " ON CONFLICT (order_id, action) WHERE action IN ('received', 'receipt_late') DO NOTHING"
        " RETURNING id, order_id",
        issued_before,
        now,
        *([] if facilities is None else [facilities]),
    )
    if not rows:
        return []
    orders = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, facility_id, title, due_at, issued_level FROM rectification_orders"
            " WHERE id = ANY($1::bigint[])",
            [r["order_id"] for r in rows],
        )
    }
    out = []
    for r in rows:
        o = orders[r["order_id"]]
        out.append(
            OrderChange(o["id"], o["facility_id"], "receipt_late", o["title"], o["due_at"], o["issued_level"], r["id"])
        )
    return out


async def evidence_file(conn: asyncpg.Connection, scope: Scope, file_id: int) -> asyncpg.Record | None:
    where, args = scope.sql("f", start=2)
    return await conn.fetchrow(
        "SELECT e.filename, e.content_type, e.data FROM evidence_files e"
        " LEFT JOIN rectification_history h ON h.id = e.history_id"
        " LEFT JOIN rectification_orders o ON o.id = h.order_id LEFT JOIN inspections i ON i.id = e.inspection_id"
        f" JOIN facilities f ON f.id = COALESCE(o.facility_id, i.facility_id) WHERE e.id = $1 AND {where}",
        file_id,
        *args,
    )
