"""Alerts that reach people: users' subscriptions and the delivery outbox (migration 009).

The alert service writes a delivery row for each subscription an alert change concerns, then sends
and retries from the table, so a receiver that is down delays only its own rows, a restart loses
nothing, and several alert workers share the work. The web lets a user manage their own
subscriptions, queue a test message (a few an hour), and lets admins see every attempt.

Priority (issue #38 D): rows are claimed most urgent first — life-safety rules, then by severity, then
rectification orders, tests last — and a rate-limited receiver (a WeCom or DingTalk robot, limits in
alerts/notify.py) is given no more than its limit in any window, of which the part `reserve` is kept for
urgent messages (life-safety or critical): a backlog of anything else never holds back an alarm. Claims
are serialised by a transaction-level advisory lock, so the limit holds across alert workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from contract.labels import label
from contract.rules import LIFE_SAFETY_RULES, SEVERITIES
from storage.rectification import OrderChange

CHANNELS = ("wecom", "dingtalk", "email")
LEASE = timedelta(seconds=60)  # a claimed row is retried after this if its worker died mid-send

# Priorities, most urgent first (lower is sooner). URGENT and below may use a robot's reserve.
PRIORITY_LIFE_SAFETY = 0
PRIORITY_CRITICAL = 1  # then 2 major, 3 minor, 4 warning: PRIORITY_CRITICAL + the severity's index
URGENT = PRIORITY_CRITICAL
PRIORITY_ORDER = 5
PRIORITY_TEST = 9
_CLAIM_LOCK = 38_004  # pg_advisory_xact_lock key: one claim at a time, so a robot's limit holds across workers
_TEST_LOCK = 38_005  # pg_advisory_xact_lock(key, user): a user's test-message count checked and added at once


def alert_priority(rule: str, severity: str) -> int:
    """A message about an alert: life-safety rules first, then by severity."""
    if rule in LIFE_SAFETY_RULES:
        return PRIORITY_LIFE_SAFETY
    return PRIORITY_CRITICAL + (SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    user_id: int
    channel: str
    target: str
    secret: str | None
    facilities: list[str] | None
    min_severity: str
    quiet_start: time | None
    quiet_end: time | None
    lang: str
    enabled: bool
    level: str  # whose desk it is on: facility | township | county | city (the user's scope)

    @classmethod
    def of(cls, r: asyncpg.Record) -> Subscription:
        return cls(
            r["id"],
            r["user_id"],
            r["channel"],
            r["target"],
            r["secret"],
            list(r["facilities"]) if r["facilities"] is not None else None,
            r["min_severity"],
            r["quiet_start"],
            r["quiet_end"],
            r["lang"],
            r["enabled"],
            r["level"],
        )


def in_quiet_hours(local: time, start: time | None, end: time | None) -> bool:
    """[start, end) in the facility's local time; a window may wrap midnight (22:00–07:00)."""
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


_LEVEL = """CASE WHEN u.role = 'operator' THEN 'facility' WHEN u.role = 'inspector' AND u.scope_township IS NOT NULL
 THEN 'township' WHEN u.role = 'inspector' AND u.scope_county IS NOT NULL THEN 'county' ELSE 'city' END"""
_COLUMNS = f"s.id, s.user_id, s.channel, s.target, s.secret, s.facilities, s.min_severity, s.quiet_start, s.quiet_end, s.lang, s.enabled, {_LEVEL} AS level"  # noqa: E501


@dataclass(frozen=True, slots=True)
class Audience:
    """A facility's subscribers (scope and the facility filter applied) and what messages need of it."""

    facility_name: str
    timezone: str
    county: str
    township: str
    subscriptions: list[Subscription]


async def audience(conn: asyncpg.Connection, facility_id: str) -> Audience | None:
    """Enabled subscriptions of active users whose scope holds the facility (storage.users.Scope's rule)."""
    f = await conn.fetchrow("SELECT name, timezone, county, township FROM facilities WHERE id = $1", facility_id)
    if f is None:
        return None
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM notification_subscriptions s JOIN users u ON u.id = s.user_id"
        " WHERE s.enabled AND NOT u.disabled AND (s.facilities IS NULL OR $1 = ANY(s.facilities))"
        " AND CASE WHEN u.role = 'operator' THEN u.scope_facility = $1"
        " WHEN u.role = 'inspector' AND u.scope_township IS NOT NULL THEN u.scope_township = $3"
        " WHEN u.role = 'inspector' AND u.scope_county IS NOT NULL THEN u.scope_county = $2 ELSE TRUE END"
        " ORDER BY s.id",
        facility_id,
        f["county"],
        f["township"],
    )
    return Audience(f["name"], f["timezone"], f["county"], f["township"], [Subscription.of(r) for r in rows])


@dataclass(frozen=True, slots=True)
class Outgoing:
    subscription: Subscription
    alert_id: int | None
    facility_id: str | None
    event: str  # opened | reopened | escalated:<level> | test | order:<action>:<history id> | notice:<what>:<id>
    title: str
    body: str
    order_id: int | None = None
    not_before: datetime | None = None  # held back until then (a user's quiet hours)
    priority: int = PRIORITY_ORDER  # alert_priority() for alerts, PRIORITY_TEST for a test


async def enqueue(conn: asyncpg.Connection, messages: Sequence[Outgoing], now: datetime) -> int:
    """Queue messages, due at `now` (the queuer's clock, the one `claim` is asked with) or at their
    `not_before`; a change already queued for a subscription is not queued twice. Returns the count."""
    n = 0
    for m in messages:
        target = "(subscription_id, alert_id, event) WHERE alert_id IS NOT NULL"
        if m.order_id is not None:
            target = "(subscription_id, order_id, event) WHERE order_id IS NOT NULL"
        elif m.alert_id is None and m.event.startswith("notice:"):  # supervision's own (migration 046)
            target = "(subscription_id, event) WHERE alert_id IS NULL AND order_id IS NULL AND event LIKE 'notice:%'"
        done = await conn.fetchval(
            "INSERT INTO notification_deliveries (subscription_id, user_id, channel, alert_id, facility_id, event,"
            " title, body, order_id, next_attempt_at, priority, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7,"
            " $8, $9, COALESCE($10::timestamptz, $11::timestamptz), $12, $11)"
            f" ON CONFLICT {target} DO NOTHING RETURNING id",
            m.subscription.id,
            m.subscription.user_id,
            m.subscription.channel,
            m.alert_id,
            m.facility_id,
            m.event,
            m.title,
            m.body,
            m.order_id,
            m.not_before,
            now,
            m.priority,
        )
        n += done is not None
    return n


async def enqueue_test(conn: asyncpg.Connection, message: Outgoing, now: datetime, per_hour: int) -> float | None:
    """Queue a user's test message unless they queued `per_hour` in the hour before `now`: None when
    queued, else the seconds until the oldest of them is an hour old. Checked and added under a lock
    of the user's, so parallel requests cannot all pass the count (issue #38 D: 300 in 0.9 s)."""
    user_id = message.subscription.user_id
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2::int)", _TEST_LOCK, user_id)
        recent = await conn.fetch(
            "SELECT created_at FROM notification_deliveries WHERE event = 'test' AND user_id = $1"
            " AND created_at > $2 ORDER BY created_at DESC LIMIT $3",
            user_id,
            now - timedelta(hours=1),
            per_hour,
        )
        if len(recent) >= per_hour:
            oldest: datetime = recent[-1]["created_at"]
            return max(1.0, (oldest + timedelta(hours=1) - now).total_seconds())
        await enqueue(conn, [message], now)
    return None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    channel: str
    target: str | None  # None: the subscription was deleted meanwhile
    secret: str | None
    title: str
    body: str
    attempts: int  # including this one


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` requests to one receiver in any `window_s` seconds (claim() keeps one window,
    the longest of those it is given)."""

    count: int
    window_s: float


async def claim(
    conn: asyncpg.Connection,
    now: datetime,
    limit: int = 50,
    rate_limits: dict[str, RateLimit] | None = None,
    reserve: int = 0,
) -> list[Delivery]:
    """Take due rows for sending, most urgent first: each counts an attempt and is leased, so another
    worker leaves it. A channel in `rate_limits` gets no more than its count per window per receiver,
    of which `reserve` only for priorities up to URGENT; each request claimed for it is logged."""
    limits = rate_limits or {}
    channels = list(limits)
    window = max((lim.window_s for lim in limits.values()), default=60.0)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _CLAIM_LOCK)
        await conn.execute("DELETE FROM notification_sends WHERE sent_at <= $1", now - timedelta(seconds=window))
        ids = await conn.fetch(
            # what is left in notification_sends is the window's (pruned just above)
            "WITH lim AS (SELECT * FROM unnest($3::text[], $4::int[]) AS l(channel, n)),"
            " used AS (SELECT target_key, count(*) AS n FROM notification_sends GROUP BY target_key),"
            " due AS (SELECT d.id, d.priority, d.next_attempt_at, d.channel, md5(d.channel || ':' || s.target) AS key"
            " FROM notification_deliveries d LEFT JOIN notification_subscriptions s ON s.id = d.subscription_id"
            " WHERE d.status = 'pending' AND d.next_attempt_at <= $1),"
            " ranked AS (SELECT due.*, lim.n AS cap, COALESCE(used.n, 0) AS used,"
            " row_number() OVER (PARTITION BY due.key ORDER BY due.priority, due.next_attempt_at, due.id) AS k"
            " FROM due LEFT JOIN lim ON lim.channel = due.channel LEFT JOIN used ON used.target_key = due.key)"
            " SELECT id, key, cap IS NOT NULL AND key IS NOT NULL AS limited FROM ranked"
            " WHERE cap IS NULL OR key IS NULL OR used + k <= cap - CASE WHEN priority <= $5 THEN 0 ELSE $6 END"
            " ORDER BY priority, next_attempt_at, id LIMIT $2",
            now,
            limit,
            channels,
            [limits[c].count for c in channels],
            URGENT,
            reserve,
        )
        if not ids:
            return []
        await conn.executemany(
            "INSERT INTO notification_sends (target_key, sent_at) VALUES ($1, $2)",
            [(r["key"], now) for r in ids if r["limited"]],
        )
        rows = await conn.fetch(
            "WITH c AS (UPDATE notification_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2"
            " WHERE d.id = ANY($1::bigint[]) RETURNING d.id, d.subscription_id, d.channel, d.title, d.body,"
            " d.attempts, d.priority)"
            " SELECT c.*, s.target, s.secret FROM c LEFT JOIN notification_subscriptions s ON s.id = c.subscription_id"
            " ORDER BY c.priority, c.id",
            [r["id"] for r in ids],
            now + LEASE,
        )
    return [
        Delivery(r["id"], r["channel"], r["target"], r["secret"], r["title"], r["body"], r["attempts"]) for r in rows
    ]


async def finish(
    conn: asyncpg.Connection, delivery_id: int, now: datetime, error: str | None, retry_at: datetime | None
) -> None:
    """Sent (error None), to be retried at retry_at, or failed for good (retry_at None)."""
    if error is None:
        await conn.execute(
            "UPDATE notification_deliveries SET status = 'sent', sent_at = $2, last_error = NULL WHERE id = $1",
            delivery_id,
            now,
        )
    elif retry_at is not None:
        await conn.execute(
            "UPDATE notification_deliveries SET next_attempt_at = $2, last_error = $3 WHERE id = $1",
            delivery_id,
            retry_at,
            error[:500],
        )
    else:
        await conn.execute(
            "UPDATE notification_deliveries SET status = 'failed', last_error = $2 WHERE id = $1",
            delivery_id,
            error[:500],
        )


# -- the web: a user's own subscriptions, and what was sent ------------------------------------------------
async def subscriptions_of(conn: asyncpg.Connection, user_id: int) -> list[Subscription]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM notification_subscriptions s JOIN users u ON u.id = s.user_id"
        " WHERE s.user_id = $1 ORDER BY s.id",
        user_id,
    )
    return [Subscription.of(r) for r in rows]


async def add_subscription(
    conn: asyncpg.Connection,
    user_id: int,
    channel: str,
    target: str,
    secret: str | None,
    facilities: list[str] | None,
    min_severity: str,
    quiet: tuple[time, time] | None,
    lang: str,
) -> int:
    sid: int = await conn.fetchval(
        "INSERT INTO notification_subscriptions (user_id, channel, target, secret, facilities, min_severity,"
        " quiet_start, quiet_end, lang) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        user_id,
        channel,
        target,
        secret,
        facilities,
        min_severity,
        quiet[0] if quiet else None,
        quiet[1] if quiet else None,
        lang,
    )
    return sid


async def delete_subscription(conn: asyncpg.Connection, user_id: int, subscription_id: int) -> bool:
    """Only the user's own: another user's id deletes nothing (and the page answers 404)."""
    done = await conn.fetchval(
        "DELETE FROM notification_subscriptions WHERE id = $1 AND user_id = $2 RETURNING id", subscription_id, user_id
    )
    return done is not None


async def own_subscription(conn: asyncpg.Connection, user_id: int, subscription_id: int) -> Subscription | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM notification_subscriptions s JOIN users u ON u.id = s.user_id"
        " WHERE s.id = $1 AND s.user_id = $2",
        subscription_id,
        user_id,
    )
    return Subscription.of(row) if row else None


async def deliveries(
    conn: asyncpg.Connection,
    user_id: int | None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[asyncpg.Record]:
    """Newest first; user_id None = everyone's (admins)."""
    return await conn.fetch(
        "SELECT d.id, d.channel, d.event, d.title, d.status, d.attempts, d.last_error, d.created_at, d.sent_at,"
        " d.facility_id, d.alert_id, d.order_id, u.username, COALESCE(s.lang, 'zh') AS lang"
        " FROM notification_deliveries d"
        " LEFT JOIN users u ON u.id = d.user_id LEFT JOIN notification_subscriptions s ON s.id = d.subscription_id"
        " WHERE ($1::bigint IS NULL OR d.user_id = $1) AND ($2::text IS NULL OR d.status = $2)"
        " AND ($3::bigint IS NULL OR d.id < $3) ORDER BY d.id DESC LIMIT $4",
        user_id,
        status,
        before,
        limit,
    )


async def delivery_counts(conn: asyncpg.Connection, since: datetime) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM notification_deliveries WHERE created_at >= $1 GROUP BY status", since
    )
    return {r["status"]: r["n"] for r in rows}


# -- messages about rectification orders (storage.rectification) ------------------------------------------
_ORDER_TEXT = {
    "zh": ("整改通知", "机构", "事项", "整改期限", "状态", "查看"),
    "en": ("Rectification order", "Facility", "Subject", "Due", "State", "Open"),
}


def order_messages(change: OrderChange, aud: Audience, public_url: str, now: datetime) -> list[Outgoing]:
    """One message per subscription of the level the step concerns (the facility's operators for an
    order issued, sent back or accepted; the issuing level for an answer; the level it reached for 督办).
    Not urgent: inside a user's quiet hours it is held back until they end, never dropped."""
    zone = ZoneInfo(aud.timezone)
    local_now = now.astimezone(zone)
    out = []
    for sub in aud.subscriptions:
        if not sub.enabled or sub.level != change.audience_level:
            continue
        head, fac, subj, due, state, link = _ORDER_TEXT[sub.lang]
        status = label("order_action", change.action, sub.lang)
        title = f"【{head}】{status} · {aud.facility_name}"
        body = "\n".join(
            [
                f"{fac}: {aud.facility_name} ({change.facility_id})",
                f"{subj}: {change.title}",
                f"{due}: {change.due_at.astimezone(zone):%Y-%m-%d %H:%M} ({aud.timezone})",
                f"{state}: {status}",
                f"{link}: {public_url.rstrip('/')}/orders/{change.order_id}",
            ]
            + ([change.note[:1000]] if change.note else [])  # an urge's own words
        )
        not_before = None
        if in_quiet_hours(local_now.time(), sub.quiet_start, sub.quiet_end) and sub.quiet_end is not None:
            end = local_now.replace(hour=sub.quiet_end.hour, minute=sub.quiet_end.minute, second=0, microsecond=0)
            not_before = end if end > local_now else end + timedelta(days=1)
        out.append(Outgoing(sub, None, change.facility_id, change.event, title, body, change.order_id, not_before))
    return out
