"""What the public page reads (issue #40 item 7): facilities by area and each one's public record. Only
columns that carry no personal data are selected here: no child, guardian or staff row is read at all, no
device, no order's free text (its title and detail are an inspector's words and may name people), no
complaint. The running month's credit is not read: only months before `closed_before`. A suspension in force
(责令停业整改) is shown, without its reasons (an inspector's words)."""

from __future__ import annotations

from datetime import date

import asyncpg

from storage.suspensions import IN_FORCE_SQL as SUSPENDED_SQL

PAGE = 50  # facilities a page of the public list (the largest county, 忻府区, has about 200 in the plan's target)


async def counties(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT county, count(*) AS n FROM facilities GROUP BY county ORDER BY county"))


async def facilities(
    conn: asyncpg.Connection, county: str, township: str | None, *, limit: int = PAGE, offset: int = 0
) -> list[asyncpg.Record]:
    """The facilities of a county (or one of its townships), by township and name, with their total 托位:
    `limit` of them from `offset`."""
    return list(
        await conn.fetch(
            "SELECT f.id, f.name, f.county, f.township, f.kind,"
            " (SELECT coalesce(sum(c.capacity), 0) FROM classes c WHERE c.facility_id = f.id) AS places,"
            f" {SUSPENDED_SQL} AS suspended,"
            # its 登记备案 number (an accepted initial filing), or none: 未备案 (being registered is not being filed)
            " (SELECT x.filing_no FROM filings x WHERE x.facility_id = f.id AND x.kind = 'initial'"
            " AND x.status = 'accepted' ORDER BY x.id LIMIT 1) AS filing_no"
            " FROM facilities f WHERE f.county = $1 AND ($2::text IS NULL OR f.township = $2)"
            " ORDER BY f.township, f.name, f.id LIMIT $3 OFFSET $4",
            county,
            township,
            limit,
            max(0, offset),
        )
    )


async def townships(conn: asyncpg.Connection, county: str) -> list[str]:
    """The townships of a county that have a facility, in code order."""
    rows = await conn.fetch("SELECT DISTINCT township FROM facilities WHERE county = $1 ORDER BY township", county)
    return [r["township"] for r in rows]


async def facility(conn: asyncpg.Connection, facility_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT f.id, f.name, f.county, f.township, f.kind, f.registered_at, f.timezone,"
        f" {SUSPENDED_SQL} AS suspended FROM facilities f WHERE f.id = $1",
        facility_id,
    )


async def filed(conn: asyncpg.Connection, facility_id: str) -> asyncpg.Record | None:
    """The facility's accepted initial filing (登记备案, storage.filing): its number and when it was accepted;
    None: not filed (being in the registry is not being filed)."""
    return await conn.fetchrow(
        "SELECT filing_no, reviewed_at FROM filings WHERE facility_id = $1 AND kind = 'initial'"
        " AND status = 'accepted' ORDER BY id LIMIT 1",
        facility_id,
    )


async def places(conn: asyncpg.Connection, facility_id: str) -> list[asyncpg.Record]:
    """托位 by class type (age group): the number of classes and their capacity."""
    return list(
        await conn.fetch(
            "SELECT age_group, count(*) AS classes, sum(capacity) AS places FROM classes WHERE facility_id = $1"
            " GROUP BY age_group ORDER BY array_position(ARRAY['infant', 'toddler', 'older', 'mixed'], age_group)",
            facility_id,
        )
    )


async def grades(
    conn: asyncpg.Connection, facility_id: str, closed_before: date, months: int = 12
) -> list[asyncpg.Record]:
    """The grades of the closed months (before `closed_before`, the first of the running month), newest first;
    an accepted appeal has corrected the stored grade already (migration 024's trigger)."""
    return list(
        await conn.fetch(
            "SELECT month, grade FROM credit_records WHERE facility_id = $1 AND month < $2"
            " ORDER BY month DESC LIMIT $3",
            facility_id,
            closed_before,
            months,
        )
    )


async def closed_orders(conn: asyncpg.Connection, facility_id: str, limit: int = 50) -> list[asyncpg.Record]:
    """The facility's accepted (closed) orders: when issued, of which kind (its source, and the alert's rule or
    the inspection's failed checklist items), when closed. Never the title or the detail."""
    return list(
        await conn.fetch(
            "SELECT o.issued_at, o.closed_at, o.source, a.rule,"
            " (SELECT coalesce(array_agg(k ORDER BY k), '{}') FROM jsonb_each(i.findings) AS e(k, v)"
            "  WHERE v->>'result' = 'fail') AS items"
            " FROM rectification_orders o LEFT JOIN alerts a ON a.id = o.alert_id"
            " LEFT JOIN inspections i ON i.id = o.inspection_id"
            " WHERE o.facility_id = $1 AND o.status = 'accepted' ORDER BY o.closed_at DESC LIMIT $2",
            facility_id,
            limit,
        )
    )
