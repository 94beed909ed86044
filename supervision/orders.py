"""Rectification orders (整改通知): who issues and reviews them, and 督办 up the ladder.

The ladder is the one of CONTRACT §5 (contract.rules.LEVELS): facility → township → county → city.
Orders are issued and supervised from the township up. Storage reads and writes the orders
(storage.rectification); the decisions are made here, as pure functions of rows and `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from contract.rules import LEVELS as ESCALATION_LADDER
from storage import rectification as store
from storage.users import Scope

# the supervising levels: the escalation ladder above the facility itself
LEVELS: tuple[str, ...] = ESCALATION_LADDER[1:]
ESCALATION_STEP = timedelta(days=3)  # unanswered this long after the last step: up again


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


@dataclass(frozen=True, slots=True)
class Step:
    """One overdue order's climb: from `level` to `up`."""

    order_id: int
    level: str
    up: str


def overdue_steps(rows: Sequence[asyncpg.Record], now: datetime, step: timedelta) -> list[Step]:
    """督办: of the orders the facility has not answered by their due date (`rows`, as
    storage.rectification.overdue reads them), those that go up a level at `now`: at the due date, then
    again every `step` while still unanswered; never past the city."""
    out = []
    for r in rows:
        since = r["escalated_at"]
        if since is not None and now - since < step:
            continue
        up = next_level(r["supervision_level"])
        if up is not None:
            out.append(Step(r["id"], r["supervision_level"], up))
    return out


async def escalate_overdue(
    conn: asyncpg.Connection, now: datetime, step: timedelta = ESCALATION_STEP, facilities: list[str] | None = None
) -> list[store.OrderChange]:
    """Take each overdue order up the ladder that is due to go (overdue_steps); an order answered or
    escalated meanwhile is left as it is. An answered order waiting for review is not the facility's
    delay and does not climb."""
    rows = await store.overdue(conn, now, facilities)
    changes = []
    for s in overdue_steps(rows, now, step):
        change = await store.raise_supervision(conn, s.order_id, s.level, s.up, now)
        if change is not None:
            changes.append(change)
    return changes
