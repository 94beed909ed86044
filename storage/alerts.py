"""Alerts in the database (CONTRACT §5): open, bump, clear, escalate, timers; NOTIFY on every change.

"One active alert per (rule, facility_id, device_id or subject)" is the partial unique index
`alerts_one_active`; `open_alert` is a single upsert against it, so two messages a millisecond
apart (or two workers) never make two alerts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from contract.credit import LAPSE_CLASSES
from contract.rules import LATCHING, REOPEN_WITHIN, SEVERITIES, Condition, Key
from storage.maintenance import in_maintenance
from storage.users import Scope, audit

NOTIFY_CHANNEL = "carewatch_alerts"

_OPEN = """
INSERT INTO alerts (rule, severity, facility_id, device_id, subject, opened_at, last_seen_at, muted, summary,
                    summary_en, detail, escalation, occurred_at, delay_cause)
VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (rule, facility_id, alert_key) WHERE status = 'active'
DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at, count = alerts.count + 1
RETURNING id, (xmax = 0) AS created, escalation, muted, opened_at, occurred_at, delay_cause
"""

# What a Change is made of, for an UPDATE's RETURNING
_CHANGE_COLS = "id, severity, escalation, muted, summary, summary_en, opened_at, occurred_at, delay_cause"

# Critical and major alerts latch until acknowledged (CONTRACT §5): the SQL list of those severities.
LATCHING_SQL = ", ".join(f"'{s.value}'" for s in sorted(LATCHING, key=lambda s: s.rank))
SEVERITIES_SQL = ", ".join(f"'{s}'" for s in SEVERITIES)  # most severe first

# A latched alert (cleared, not yet acknowledged) whose condition comes back soon after clearing (cleared at
# $5 or later: contract.rules.REOPEN_WITHIN) is the same alert again.
_REOPEN = f"""
UPDATE alerts SET status = 'active', cleared_at = NULL, last_seen_at = $4, count = count + 1
WHERE id = (SELECT id FROM alerts WHERE rule = $1 AND facility_id = $2 AND alert_key = $3
            AND status = 'cleared' AND NOT acknowledged AND severity IN ({LATCHING_SQL}) AND cleared_at >= $5
            ORDER BY opened_at DESC LIMIT 1)
RETURNING id, escalation, muted, opened_at, occurred_at, delay_cause
"""


@dataclass(frozen=True, slots=True)
class Change:
    """What happened to an alert, for notifications."""

    alert_id: int
    action: str  # opened | reopened | bumped | cleared | escalated | raised (its severity)
    facility_id: str
    rule: str
    severity: str
    escalation: str
    muted: bool
    summary: str = ""
    summary_en: str = ""
    # when it was known and when it happened (contract.occurred; None: unknown here, as in tests)
    opened_at: datetime | None = None
    occurred_at: datetime | None = None
    delay_cause: str | None = None

    def as_json(self) -> str:
        return json.dumps(
            {
                "id": self.alert_id,
                "action": self.action,
                "facility_id": self.facility_id,
                "rule": self.rule,
                "severity": self.severity,
                "escalation": self.escalation,
                "muted": self.muted,
                "summary": self.summary,
                "summary_en": self.summary_en,
                "opened_at": self.opened_at.isoformat() if self.opened_at else None,
                "occurred_at": (self.occurred_at or self.opened_at).isoformat() if self.opened_at else None,
                "delay_cause": self.delay_cause,
            },
            ensure_ascii=False,
        )


def _times(row: asyncpg.Record) -> tuple[datetime, datetime, str | None]:
    """A row's opened_at, occurred_at (NULL: the same) and delay_cause, Change's last fields."""
    return row["opened_at"], row["occurred_at"] or row["opened_at"], row["delay_cause"]


def occurred(cond: Condition, at: datetime) -> tuple[datetime, str | None]:
    """When an alert opened at `at` on this condition happened (its own time, plus its `for` window: when
    the window was met), never after `at`; and why it came late. A condition with no time of its own
    happened when it was opened."""
    if cond.at is None:
        return at, None
    return min(at, cond.at + timedelta(seconds=cond.for_s)), cond.cause


def alert_key(key: Key) -> str:
    return f"{key.device_id or ''}|{key.subject or ''}"


async def _history(
    conn: asyncpg.Connection, alert_id: int, action: str, detail: dict[str, object], at: datetime
) -> None:
    """One step of an alert's history by the engine, at the engine's time (not the database's clock: on
    the accelerated demo's they differ by hours)."""
    await conn.execute(
        "INSERT INTO alert_history (alert_id, action, actor, detail, at) VALUES ($1, $2, 'engine', $3, $4)",
        alert_id,
        action,
        json.dumps(detail, default=str),
        at,
    )


async def open_alert(
    conn: asyncpg.Connection,
    facility_id: str,
    key: Key,
    cond: Condition,
    at: datetime,
    since: datetime | None = None,
    *,
    mutable: bool = False,
    escalation: str = "facility",
) -> Change:
    """`since`: when the condition began (before its rule's `for` window); a lapse class's interval
    (contract/credit.py) is recorded from then until the alert clears. `mutable`: whether a maintenance
    window over the device may silence this alert (alerts.lifecycle.may_mute decides; never by default).
    `escalation`: the level a new alert opens at (contract.rules.opening_level decides). Its `occurred_at`
    is the condition's own time (`occurred`); `opened_at` is `at`, and all deadlines count from it."""
    happened, cause = occurred(cond, at)
    async with conn.transaction():
        if key.rule in LAPSE_CLASSES:
            await conn.execute(
                "INSERT INTO lapse_intervals (facility_id, rule, alert_key, started_at) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (facility_id, rule, alert_key) WHERE ended_at IS NULL DO NOTHING",
                facility_id,
                key.rule,
                alert_key(key),
                # from when it began: by its own time when it has one (an exit held open while the gateway was
                # offline, known from its spool an hour later, was a lapse from the hour before)
                min(since or at, at, cond.at or at),
            )
        muted = mutable and await in_maintenance(conn, facility_id, key.device_id, at)
        row = await conn.fetchrow(_REOPEN, key.rule, facility_id, alert_key(key), at, at - REOPEN_WITHIN)
        if row is not None:
            change = Change(
                row["id"],
                "reopened",
                facility_id,
                key.rule,
                cond.severity,
                row["escalation"],
                row["muted"] or muted,
                cond.summary,
                cond.summary_en,
                *_times(row),
            )
        else:
            row = await conn.fetchrow(
                _OPEN,
                key.rule,
                cond.severity,
                facility_id,
                key.device_id,
                key.subject,
                at,
                muted,
                cond.summary,
                cond.summary_en,
                "{}",
                escalation,
                happened,
                cause,
            )
            change = Change(
                row["id"],
                "opened" if row["created"] else "bumped",
                facility_id,
                key.rule,
                cond.severity,
                row["escalation"],
                row["muted"],
                cond.summary,
                cond.summary_en,
                *_times(row),
            )
        await _history(conn, change.alert_id, change.action, {}, at)
        await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, change.as_json())
        await conn.execute(
            "DELETE FROM rule_timers WHERE facility_id = $1 AND rule = $2 AND alert_key = $3",
            facility_id,
            key.rule,
            alert_key(key),
        )
    return change


async def _record(
    conn: asyncpg.Connection, action: str, facility_id: str, key: Key, row: asyncpg.Record, at: datetime
) -> Change:
    """History and NOTIFY for a change to an existing alert (inside the caller's transaction)."""
    change = Change(
        row["id"],
        action,
        facility_id,
        key.rule,
        row["severity"],
        row["escalation"],
        row["muted"],
        row["summary"],
        row["summary_en"],
        *_times(row),
    )
    await _history(conn, change.alert_id, action, {}, at)
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, change.as_json())
    return change


async def bump_alert(conn: asyncpg.Connection, facility_id: str, key: Key, at: datetime) -> Change | None:
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE alerts SET count = count + 1, last_seen_at = $4 WHERE rule = $1 AND facility_id = $2"
            " AND alert_key = $3 AND status = 'active' RETURNING " + _CHANGE_COLS,
            key.rule,
            facility_id,
            alert_key(key),
            at,
        )
        if row is None:
            return None
        return await _record(conn, "bumped", facility_id, key, row, at)


async def raise_severity(
    conn: asyncpg.Connection, facility_id: str, key: Key, severity: str, at: datetime
) -> Change | None:
    """An active alert's condition became more severe (a child left on site overnight: issue #42): its
    severity goes up, in its history and on the stream. None when there is no such active alert, or it
    is already as severe."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE alerts SET opened_severity = coalesce(opened_severity, severity), severity = $4,"
            " last_seen_at = $5 WHERE rule = $1 AND facility_id = $2"
            " AND alert_key = $3 AND status = 'active'"
            f" AND array_position(ARRAY[{SEVERITIES_SQL}], severity) > array_position(ARRAY[{SEVERITIES_SQL}], $4)"
            " RETURNING " + _CHANGE_COLS,
            key.rule,
            facility_id,
            alert_key(key),
            severity,
            at,
        )
        if row is None:
            return None
        return await _record(conn, "raised", facility_id, key, row, at)


async def record_lapse(conn: asyncpg.Connection, facility_id: str, key: Key, since: datetime, at: datetime) -> None:
    """A lapse condition that ended before its alert's window: short, but it happened (credit evaluation)."""
    await conn.execute(
        "INSERT INTO lapse_intervals (facility_id, rule, alert_key, started_at, ended_at) VALUES ($1, $2, $3, $4, $5)",
        facility_id,
        key.rule,
        alert_key(key),
        since,
        at,
    )


async def clear_alert(
    conn: asyncpg.Connection, facility_id: str, key: Key, at: datetime, ended: datetime | None = None
) -> Change | None:
    """`ended`: when the condition ended, when that was before `at` (known from a replayed spool): its lapse
    interval ends then; the alert is cleared at `at`."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE lapse_intervals SET ended_at = greatest($4, started_at) WHERE facility_id = $1 AND rule = $2"
            " AND alert_key = $3 AND ended_at IS NULL",
            facility_id,
            key.rule,
            alert_key(key),
            min(at, ended) if ended is not None else at,
        )
        row = await conn.fetchrow(
            "UPDATE alerts SET status = 'cleared', cleared_at = $4 WHERE rule = $1 AND facility_id = $2"
            " AND alert_key = $3 AND status = 'active' RETURNING " + _CHANGE_COLS,
            key.rule,
            facility_id,
            alert_key(key),
            at,
        )
        await conn.execute(
            "DELETE FROM rule_timers WHERE facility_id = $1 AND rule = $2 AND alert_key = $3",
            facility_id,
            key.rule,
            alert_key(key),
        )
        if row is None:
            return None
        return await _record(conn, "cleared", facility_id, key, row, at)


async def escalation_candidates(conn: asyncpg.Connection, facilities: list[str] | None = None) -> list[asyncpg.Record]:
    """Active, unacknowledged alerts below the top of the ladder (alerts.lifecycle decides which move)."""
    return list(
        await conn.fetch(
            "SELECT id, facility_id, rule, severity, escalation, opened_at, muted, summary, summary_en, occurred_at,"
            " delay_cause FROM alerts WHERE status = 'active' AND NOT acknowledged AND escalation <> 'city'"
            + ("" if facilities is None else " AND facility_id = ANY($1::text[])"),
            *([] if facilities is None else [facilities]),
        )
    )


async def raise_escalation(conn: asyncpg.Connection, r: asyncpg.Record, level: str, now: datetime) -> Change | None:
    """Move one alert (an escalation_candidates row) up to `level`, in its history and on the stream;
    None when it was acknowledged or moved meanwhile."""
    async with conn.transaction():
        done = await conn.fetchval(
            "UPDATE alerts SET escalation = $2, escalated_at = $3 WHERE id = $1 AND escalation = $4"
            " AND NOT acknowledged RETURNING id",
            r["id"],
            level,
            now,
            r["escalation"],
        )
        if done is None:
            return None
        change = Change(
            r["id"],
            "escalated",
            r["facility_id"],
            r["rule"],
            r["severity"],
            level,
            r["muted"],
            r["summary"],
            r["summary_en"],
            *_times(r),
        )
        await _history(conn, r["id"], "escalated", {"to": level}, now)
        await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, change.as_json())
    return change


async def save_timers(conn: asyncpg.Connection, facility_id: str, pending: dict[Key, datetime]) -> None:
    async with conn.transaction():
        await conn.execute("DELETE FROM rule_timers WHERE facility_id = $1", facility_id)
        await conn.executemany(
            "INSERT INTO rule_timers (facility_id, rule, device_id, subject, since) VALUES ($1, $2, $3, $4, $5)",
            [(facility_id, k.rule, k.device_id, k.subject, since) for k, since in pending.items()],
        )


async def save_clocks(conn: asyncpg.Connection, clocks: Mapping[tuple[str, str], tuple[float, datetime]]) -> None:
    """Device clocks learnt or forgotten ((facility, device) -> (seconds slow, since when their messages
    have been that late); 0 s: forgotten, the device's messages on time again)."""
    learnt = [(f, d, skew, at) for (f, d), (skew, at) in clocks.items() if skew > 0]
    forgotten = [(f, d) for (f, d), (skew, _) in clocks.items() if skew <= 0]
    async with conn.transaction():
        if learnt:
            await conn.executemany(
                # a facility deleted meanwhile has no clocks to keep (its rows went with it)
                "INSERT INTO device_clocks (facility_id, device_id, skew_s, since)"
                " SELECT $1::text, $2::text, $3::float8, $4::timestamptz"
                " WHERE EXISTS (SELECT 1 FROM facilities WHERE id = $1)"
                " ON CONFLICT (facility_id, device_id) DO UPDATE SET skew_s = EXCLUDED.skew_s, since = EXCLUDED.since",
                learnt,
            )
        if forgotten:
            await conn.executemany("DELETE FROM device_clocks WHERE facility_id = $1 AND device_id = $2", forgotten)


async def load_clocks(conn: asyncpg.Connection, facilities: list[str] | None = None) -> list[asyncpg.Record]:
    """The device clocks learnt before (of those facilities; None: all)."""
    where = "" if facilities is None else " WHERE facility_id = ANY($1::text[])"
    args = [] if facilities is None else [facilities]
    return list(await conn.fetch(f"SELECT facility_id, device_id, skew_s, since FROM device_clocks{where}", *args))


async def save_memory(conn: asyncpg.Connection, memories: Mapping[str, Mapping[str, object]], at: datetime) -> None:
    """The rules' memory of these facilities (alerts.memory), as of `at` (the engine's time)."""
    await conn.executemany(
        # a facility deleted meanwhile has nothing to remember (its rows went with it)
        "INSERT INTO rule_memory (facility_id, memory, saved_at) SELECT $1::text, $2::jsonb, $3::timestamptz"
        " WHERE EXISTS (SELECT 1 FROM facilities WHERE id = $1)"
        " ON CONFLICT (facility_id) DO UPDATE SET memory = EXCLUDED.memory, saved_at = EXCLUDED.saved_at",
        [(fid, json.dumps(m, ensure_ascii=False), at) for fid, m in memories.items()],
    )


async def load_memory(
    conn: asyncpg.Connection, facilities: list[str] | None = None
) -> dict[str, tuple[dict[str, object], datetime]]:
    """The rules' memory saved before (of those facilities; None: all): facility -> (memory, saved at)."""
    where = "" if facilities is None else " WHERE facility_id = ANY($1::text[])"
    args = [] if facilities is None else [facilities]
    rows = await conn.fetch(f"SELECT facility_id, memory, saved_at FROM rule_memory{where}", *args)
    return {r["facility_id"]: (json.loads(r["memory"]), r["saved_at"]) for r in rows}


async def load_state(
    conn: asyncpg.Connection, facilities: list[str] | None = None
) -> tuple[dict[str, dict[Key, datetime]], dict[str, set[Key]]]:
    """Timers and active alerts, as the engine's trackers hold them (of those facilities; None: all)."""
    where = "" if facilities is None else " AND facility_id = ANY($1::text[])"
    args = [] if facilities is None else [facilities]
    pending: dict[str, dict[Key, datetime]] = {}
    for r in await conn.fetch(
        f"SELECT facility_id, rule, device_id, subject, since FROM rule_timers WHERE true{where}", *args
    ):
        pending.setdefault(r["facility_id"], {})[Key(r["rule"], r["device_id"], r["subject"])] = r["since"]
    firing: dict[str, set[Key]] = {}
    for r in await conn.fetch(
        f"SELECT facility_id, rule, device_id, subject FROM alerts WHERE status = 'active'{where}", *args
    ):
        firing.setdefault(r["facility_id"], set()).add(Key(r["rule"], r["device_id"], r["subject"]))
    return pending, firing


async def notify_acknowledged(conn: asyncpg.Connection, alert_id: int, row: Mapping[str, object]) -> None:
    """Tell the live pages (LISTEN carewatch_alerts) that an alert was acknowledged; `row` is the alert's."""
    keys = ("facility_id", "rule", "severity", "escalation", "muted", "summary", "summary_en")
    payload = {"id": alert_id, "action": "acknowledged", **{k: row[k] for k in keys}}
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, json.dumps(payload, ensure_ascii=False))


async def acknowledge(
    conn: asyncpg.Connection,
    scope: Scope,
    alert_id: int,
    actor: str,
    note: str,
    now: datetime,
    check: Callable[[asyncpg.Record], None] = lambda _row: None,
) -> asyncpg.Record | None:
    """Acknowledge an alert the scope may see: recorded in its history and the audit log, announced
    on the live stream. `check` (contract.rules.check_acknowledgement, from the caller) may refuse it
    once the alert is read. Returns the updated alert, or None when there is no such alert in scope."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT a.*, f.county, f.township FROM alerts a JOIN facilities f ON f.id = a.facility_id WHERE a.id = $1"
            " FOR UPDATE OF a",  # two acknowledgements at once: the second sees the first (the caller's check)
            alert_id,
        )
        if row is None or not scope.allows(
            {"id": row["facility_id"], "county": row["county"], "township": row["township"]}
        ):
            return None
        check(row)
        updated = await conn.fetchrow(
            "UPDATE alerts SET acknowledged = true, acknowledged_at = coalesce(acknowledged_at, $4),"
            " acknowledged_by = $2, note = $3 WHERE id = $1 RETURNING *",
            alert_id,
            actor,
            note,
            now,
        )
        await conn.execute(
            "INSERT INTO alert_history (alert_id, action, actor, detail, at) VALUES ($1, 'acknowledged', $2, $3, $4)",
            alert_id,
            actor,
            json.dumps({"note": note}, ensure_ascii=False),
            now,
        )
        await audit(conn, actor, "alert.ack", str(alert_id), {"note": note}, at=now)
        await notify_acknowledged(conn, alert_id, row)
    return updated
