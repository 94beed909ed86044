"""Rectification orders (整改通知): who issues and reviews them, which step an order takes when, the due
date a return sets, and 督办 up the ladder.

The ladder is the one of CONTRACT §5 (contract.rules.LEVELS): facility → township → county → city.
Orders are issued and supervised from the township up. Storage reads and writes the orders
(storage.rectification); the decisions are made here, as pure functions of rows and `now`. When an order
counts late in the month's credit is contract/rectification.py's (the credit's facts are gathered below
this package).

The lifecycle: issued → answered → accepted (closed), or answered → returned → answered … A reviewer who
sends an answer back sets the due date in force from then on: required, after `now` and at most
RETURN_DUE_MAX later. A returned answer is never the on-time one, so a line written before the due date
buys nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from contract.errors import DomainError
from contract.rectification import RECEIPT_WITHIN
from contract.rules import LEVELS as ESCALATION_LADDER
from storage import order_followups as followup_store
from storage import rectification as store
from storage.rectification import StateError
from storage.users import Scope
from supervision import deadlines

# the supervising levels: the escalation ladder above the facility itself
LEVELS: tuple[str, ...] = ESCALATION_LADDER[1:]
ESCALATION_STEP = timedelta(days=3)  # unanswered this long after the last step: up again
# An answer the issuing level has not accepted or sent back this long after it came is the government
# side's delay, and climbs like an unanswered order (issue #40 item 1). Seven days is what the annual
# assessment counts as a timely review (supervision/assessment.py).
REVIEW_PERIOD = timedelta(days=7)
SUMMONS_PEOPLE_MAX = 500
# The longest a reviewer may give a returned order: a month is what 托育机构管理规范 and the local
# inspection practice give for most rectifications, and a return must not let an order drift for a year
# (the issue date's limit, web.orders.MAX_DUE) while the facility keeps answering with one line.
RETURN_DUE_MAX = deadlines.ORDINARY  # the policy's (supervision/deadlines.py; a day for life-safety findings)

# which step each state allows: (action -> states it may be taken from)
# (a 复查 pending: the reviewer accepts or sends back once it is signed, supervision/followups.py)
_ALLOWED = {"answer": frozenset({"issued", "returned"}), "review": frozenset({"answered", "recheck"})}


DueDateError = deadlines.DueDateError  # a due date outside the policy (supervision/deadlines.py)


def awaits_facility(status: str) -> bool:
    """Whether an order waits for its facility's answer (issued, or sent back): the operator's to-do."""
    return status in _ALLOWED["answer"]


def check_step(status: str, action: str) -> None:
    """Refuse a step the order's state does not allow: an answer only when issued or sent back, a review
    (accept or send back) only when answered."""
    if status not in _ALLOWED[action]:
        if action == "answer":
            raise StateError(f"the order is {status}: it takes an answer only when issued or sent back")
        raise StateError(f"the order is {status}: only an answered (or re-inspected) order is accepted or sent back")


def return_due(new_due: datetime | None, now: datetime, life_safety: bool = False) -> datetime:
    """The due date a return sets: required, after `now`, within the policy (supervision/deadlines.py)."""
    if new_due is None:
        raise DueDateError("a returned order needs a new due date", deadlines.longest(life_safety).days)
    return deadlines.check_due(new_due, now, life_safety)


def level_of(scope: Scope) -> str | None:
    """The supervising level of a user: None for operators (they answer, they do not issue)."""
    if scope.role == "operator":
        return None
    if scope.role == "inspector" and scope.township:
        return "township"
    if scope.role == "inspector" and scope.county:
        return "county"
    return "city"


def may_review(scope: Scope, issued_level: str) -> bool:
    """The issuing level or above accepts or sends back an order (admins are the city's level)."""
    level = level_of(scope)
    return level is not None and LEVELS.index(level) >= LEVELS.index(issued_level)


def may_answer(scope: Scope) -> bool:
    """The facility's operator answers an order (scope limits them to their own; admins may too)."""
    return scope.role in {"operator", "admin"}


def next_level(level: str) -> str | None:
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


async def answer(
    conn: asyncpg.Connection,
    order_id: int,
    actor: str,
    note: str,
    files: Sequence[store.Evidence],
    now: datetime,
) -> store.OrderChange:
    """The operator's answer, if the order's state allows one (StateError otherwise)."""
    async with conn.transaction():
        o = await store.locked(conn, order_id)
        check_step(o["status"], "answer")
        return await store.record_answer(conn, o, actor, note, files, now)


async def review(
    conn: asyncpg.Connection,
    order_id: int,
    actor: str,
    accept: bool,
    note: str,
    now: datetime,
    new_due: datetime | None = None,
) -> store.OrderChange:
    """Accept the answer (the order closes) or send it back with the new due date (return_due)."""
    async with conn.transaction():
        o = await store.locked(conn, order_id)
        check_step(o["status"], "review")
        if o["status"] == "recheck":
            await _recheck_done(conn, order_id, accept)
        due = None if accept else return_due(new_due, now, o["life_safety"])
        return await store.record_review(conn, o, actor, note, now, due)


async def _recheck_done(conn: asyncpg.Connection, order_id: int, accept: bool) -> None:
    """An order waiting for its 复查 is decided only on the signed re-inspection, and accepted only when it
    failed nothing (supervision/followups.py)."""
    recheck = await followup_store.latest_recheck(conn, order_id)
    if recheck is None or recheck["status"] != "signed":
        raise StateError("the 复查 is not recorded and signed yet: the order waits for it")
    if accept and recheck["failed"]:
        raise StateError("the 复查 found items that fail: send the order back (or issue a new one), not accept it")


@dataclass(frozen=True, slots=True)
class Step:
    """One overdue order's climb: from `level` to `up`."""

    order_id: int
    level: str
    up: str
    late: str = "answer"  # whose delay: answer (the facility's) | review (the issuing level's)


def late_since(status: str, due_at: datetime, answered_at: datetime | None) -> datetime | None:
    """Since when an open order is late, and whose delay it is: unanswered (issued, sent back), from its due
    date in force (the facility's); answered, from REVIEW_PERIOD after its latest answer (the reviewer's).
    None for an accepted order."""
    if status in {"issued", "returned"}:
        return due_at
    if status == "answered" and answered_at is not None:
        return answered_at + REVIEW_PERIOD
    return None


def overdue_steps(rows: Sequence[asyncpg.Record], now: datetime, step: timedelta) -> list[Step]:
    """督办: of the open orders (`rows`, as storage.rectification.overdue reads them), those that go up a
    level at `now`: once they are late (late_since: an unanswered order at its due date, an unreviewed
    answer REVIEW_PERIOD after it came), then again every `step` while still late; never past the city.
    An order that became late again (sent back, or answered and left unreviewed) climbs at once."""
    out = []
    for r in rows:
        since = late_since(r["status"], r["due_at"], r["answered_at"])
        if since is None or now < since:
            continue
        last = r["escalated_at"]
        if last is not None and last >= since and now - last < step:
            continue
        up = next_level(r["supervision_level"])
        if up is not None:
            out.append(Step(r["id"], r["supervision_level"], up, "review" if r["status"] == "answered" else "answer"))
    return out


def may_supervise(scope: Scope, issued_level: str, status: str) -> bool:
    """催办 and 约谈 come from above: an inspector (or an admin, the city's level) whose level is above the
    order's issuing level, while the order is open. Scope is the caller's (404 outside it)."""
    level = level_of(scope)
    return level is not None and LEVELS.index(level) > LEVELS.index(issued_level) and status != "accepted"


class SummonsError(DomainError):
    """A summons without its date, its people or its minutes."""

    kind = "invalid"


def summons_facts(held_on: str, people: str, minutes: str, now: datetime) -> dict[str, str]:
    """约谈: the date it was (or is to be) held (YYYY-MM-DD, at most a year from `now` either way), who was
    summoned, and the minutes (required: a summons recorded without what was said is not one)."""
    try:
        day = date.fromisoformat(held_on.strip())
    except ValueError:
        raise SummonsError("the summons needs its date (YYYY-MM-DD)") from None
    if abs((day - now.date()).days) > 366:
        raise SummonsError("the summons' date is within a year of today")
    people = people.strip()
    if not people or len(people) > SUMMONS_PEOPLE_MAX:
        raise SummonsError(f"name the people summoned (at most {SUMMONS_PEOPLE_MAX} characters)")
    if not minutes.strip():
        raise SummonsError("record the minutes of the summons")
    return {"held_on": day.isoformat(), "people": people}


async def supervise(
    conn: asyncpg.Connection,
    order_id: int,
    actor: str,
    actor_level: str,
    action: str,
    note: str,
    detail: dict[str, str],
    now: datetime,
) -> store.OrderChange:
    """A 催办 (`urged`) or a 约谈 (`summoned`) on an open order, told to its issuing level (the responsible
    inspectors); StateError once the order is accepted."""
    async with conn.transaction():
        o = await store.locked(conn, order_id)
        if o["status"] == "accepted":
            raise StateError("the order is accepted: there is nothing to follow up")
        facts = detail | {"by_level": actor_level}
        return await store.record_supervision(conn, o, actor, action, note, facts, o["issued_level"], now)


async def escalate_overdue(
    conn: asyncpg.Connection, now: datetime, step: timedelta = ESCALATION_STEP, facilities: list[str] | None = None
) -> list[store.OrderChange]:
    """Take each late order up the ladder that is due to go (overdue_steps): unanswered past its due date,
    or answered and left unreviewed past REVIEW_PERIOD; an order accepted or escalated meanwhile is left as
    it is."""
    rows = await store.overdue(conn, now, facilities)
    changes = []
    for s in overdue_steps(rows, now, step):
        change = await store.raise_supervision(conn, s.order_id, s.level, s.up, now, s.late)
        if change is not None:
            changes.append(change)
    return changes


async def flag_late_receipts(
    conn: asyncpg.Connection, now: datetime, facilities: list[str] | None = None
) -> list[store.OrderChange]:
    """逾期未签收: each open order its facility has not acknowledged RECEIPT_WITHIN after its issue, told to its
    issuing level once (a 'receipt_late' step; the 督办 ticker runs this beside escalate_overdue)."""
    return await store.flag_late_receipts(conn, now - RECEIPT_WITHIN, now, facilities)
