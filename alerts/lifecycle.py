"""An alert's life after the rules opened it (issue #36's alert-lifecycle module): what a maintenance
window may silence, and when an unacknowledged alert climbs the ladder. The decisions are pure; `escalate`
applies them through storage.alerts, which holds the SQL. The acknowledgement rule is
contract.rules.check_acknowledgement (the web applies it, and may not import this package)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import asyncpg

from contract.rules import ESCALATION_S, FOR_THE_OPERATOR, LEVELS, MAINTENANCE_MUTES
from storage import alerts as store
from storage.alerts import Change


def may_mute(rule: str) -> bool:
    """Whether a maintenance window over the device may keep this alert from the people notified of it:
    only the health of the devices under work (contract.rules.MAINTENANCE_MUTES), never a life-safety
    alert or a lapse. A muted alert is still recorded, shown and counted."""
    return rule in MAINTENANCE_MUTES


def escalation_due(
    severity: str, level: str, opened_s: float, delays: Mapping[str, tuple[float, ...]], rule: str = ""
) -> str | None:
    """The level an unacknowledged alert should be at after opened_s seconds, if above `level`; data-quality
    alerts for the operator (contract.rules.FOR_THE_OPERATOR) stay where they are."""
    if rule in FOR_THE_OPERATOR:
        return None
    steps = delays["critical"] if severity == "critical" else delays["default"]
    target = 0
    for i, d in enumerate(steps, start=1):
        if opened_s >= d:
            target = i
    return LEVELS[target] if target > LEVELS.index(level) else None


async def escalate(
    conn: asyncpg.Connection,
    now: datetime,
    delays: Mapping[str, tuple[float, ...]] = ESCALATION_S,
    facilities: list[str] | None = None,
) -> list[Change]:
    """Move unacknowledged active alerts up a level when their delay has passed; re-notify at each step.
    With `facilities`, only theirs (an alert worker escalates its own shard's). Delays count from
    `opened_at`, when CareWatch knew of the alert, never from `occurred_at` (contract/occurred.py): each
    level gets its time to act on what it can know, and a time the facility's own device clock gives
    moves no deadline."""
    changes = []
    for r in await store.escalation_candidates(conn, facilities):
        opened_s = (now - r["opened_at"]).total_seconds()
        level = escalation_due(r["severity"], r["escalation"], opened_s, delays, r["rule"])
        if level is not None and (change := await store.raise_escalation(conn, r, level, now)) is not None:
            changes.append(change)
    return changes
