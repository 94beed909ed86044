"""Appeals against a month's credit record (申诉, issue #37 item 4): who files, who decides, what a decision
may say. Pure rules over rows and `now`, and the two steps that apply them in one transaction; the SQL is
storage.appeals'.

- Only the facility's own operator files, and only against a stored (closed) month; at most one appeal per
  facility and month awaits a decision at a time (the database holds that too), and every appeal is kept.
- An inspector whose scope covers the facility at county level or above decides: not a township's (it
  supervises the facility day to day and issued most of what the record counts), never the operator,
  and not an admin (an account for running the platform, not a supervising department).
- Accepted: with a corrected score (0–100, one decimal, as stored) and a reason; the grade follows from the
  configured thresholds (contract.credit.CreditConfig.grades). Rejected: with a reason. A decision is final.
- An accepted appeal changes the stored month's score and grade; the appeal keeps those before it and the
  corrected ones (storage.appeals, migration 024), and the record keeps its measured figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from contract.credit import CreditConfig
from contract.errors import DomainError
from storage import appeals as store
from storage.users import Scope
from supervision.orders import level_of

MAX_TEXT = 4000
DECIDING_LEVELS = frozenset({"county", "city"})


class AppealRefused(DomainError):
    """An appeal or a decision the rules refuse; `key` names the page text (web/i18n.py)."""

    kind = "invalid"

    def __init__(self, reason: str, key: str) -> None:
        super().__init__(reason)
        self.key = key


class AppealConflict(AppealRefused):
    """Not in a state for it: one pending already, or decided already."""

    kind = "conflict"


class NoRecord(AppealRefused):
    """No stored record of that month (a month is recorded once it has ended): nothing to appeal."""

    kind = "missing"


def may_file(scope: Scope, facility_id: str) -> bool:
    """The facility's own operator, and nobody else."""
    return scope.role == "operator" and scope.facility == facility_id


def may_decide(scope: Scope) -> bool:
    """An inspector at county or city level (the scope's cover of the facility is checked by reading the
    appeal within it)."""
    return scope.role == "inspector" and level_of(scope) in DECIDING_LEVELS


def grade_of(score: float, cfg: CreditConfig) -> str:
    """The grade of a score by the configured thresholds, as contract.credit.evaluate grades."""
    return next((g for g, threshold in cfg.grades if score >= threshold), cfg.grades[-1][0])


def text(value: object, key: str) -> str:
    """A note or a reason: required, at most MAX_TEXT characters."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_TEXT or "\x00" in value:
        raise AppealRefused(f"required, at most {MAX_TEXT} characters", key)
    return value.strip()


@dataclass(frozen=True, slots=True)
class Decision:
    status: str  # accepted | rejected
    reason: str
    corrected: tuple[float, str] | None  # (score, grade) when accepted


def decision(status: str, accept: object, score: object, reason: object, cfg: CreditConfig) -> Decision:
    """What a decision on an appeal in `status` says, or why it is refused: `accept` true with `score`
    (0–100) and `reason`, or false with `reason`; only a pending appeal is decided."""
    if not isinstance(accept, bool):
        raise AppealRefused("accept must be true or false", "err_appeal_decision")
    why = text(reason, "err_appeal_reason")
    corrected = None
    if accept:
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise AppealRefused("score must be a number from 0 to 100", "err_appeal_score")
        value = round(float(score), 1)
        if not 0.0 <= value <= 100.0:
            raise AppealRefused("score must be a number from 0 to 100", "err_appeal_score")
        corrected = (value, grade_of(value, cfg))
    if status != "pending":
        raise AppealConflict(f"the appeal was {status} already: a decision is final", "err_appeal_decided")
    return Decision("accepted" if accept else "rejected", why, corrected)


async def file_appeal(
    conn: asyncpg.Connection, facility_id: str, month: date, actor: str, note: str, now: datetime
) -> int:
    """A new appeal against the stored month (the caller checked may_file): NoRecord when the month is not
    stored, AppealConflict when one awaits a decision."""
    async with conn.transaction():
        if await store.record(conn, facility_id, month) is None:
            raise NoRecord(
                "no stored record for that month (a month is recorded once it has ended)", "err_appeal_month"
            )
        if await store.pending(conn, facility_id, month) is not None:
            raise AppealConflict("an appeal of this month awaits a decision already", "err_appeal_pending")
        try:
            return await store.insert(conn, facility_id, month, actor, note, now)
        except asyncpg.UniqueViolationError as err:  # filed at the same moment by another request
            raise AppealConflict("an appeal of this month awaits a decision already", "err_appeal_pending") from err


async def decide_appeal(
    conn: asyncpg.Connection,
    appeal: asyncpg.Record,
    actor: str,
    accept: object,
    score: object,
    reason: object,
    cfg: CreditConfig,
    now: datetime,
) -> Decision:
    """Decide `appeal` (read locked, in the decider's scope, by storage.appeals.locked in the caller's
    transaction; the caller checked may_decide)."""
    d = decision(appeal["status"], accept, score, reason, cfg)
    await store.decide(conn, appeal["id"], d.status, actor, d.reason, now, d.corrected)
    return d
