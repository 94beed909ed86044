"""Issue #43 item 5: retention is policy, not accident. Every table of the migrated schema has its
retention and basis in one place (contract.retention.POLICY); every finite interval parses and is
enforced by the maintenance job (storage.retention.apply_retention), judged against the `now` it is
handed; supervision records are kept; the admin sees the policy on a page, nobody else does."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from contract.retention import POLICY, days, kept
from storage import retention
from storage.alerts import open_alert
from storage.migrate import detect_features
from tests.conftest import as_role
from tests.test_web import A, site  # noqa: F401 - the fixture, requested by name below


async def schema_tables(db: asyncpg.Connection) -> set[str]:
    """Every relation of the public schema that holds rows: tables (plain, partitioned, unlogged),
    materialized views, and TimescaleDB's continuous aggregates (a view in public, rows elsewhere)."""
    rows = await db.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'm')"
    )
    caggs = await db.fetch(
        "SELECT view_name FROM timescaledb_information.continuous_aggregates WHERE view_schema = 'public'"
    )
    return {r["relname"] for r in rows} | {r["view_name"] for r in caggs}


async def test_every_table_of_the_migrated_schema_has_its_retention_in_one_place(db: asyncpg.Connection) -> None:
    tables = await schema_tables(db)
    assert len(tables) > 50, "the migrated schema was read"
    missing = sorted(tables - set(POLICY))
    assert missing == [], f"tables without a retention in contract.retention.POLICY: {missing}"
    stale = sorted(set(POLICY) - tables)
    assert stale == [], f"contract.retention.POLICY names tables the schema does not have: {stale}"
    for table, p in POLICY.items():
        assert p.basis_zh.strip() and p.basis_en.strip(), f"{table}: no basis"
        assert not re.search(r"[\u4e00-\u9fff]", p.basis_en), f"{table}: Chinese in the English basis"
        assert p.keep is None or p.by, f"{table}: a finite retention nobody enforces"


async def test_every_interval_parses_in_python_and_in_postgresql_alike(db: asyncpg.Connection) -> None:
    finite = {t: p.keep for t, p in POLICY.items() if p.keep is not None}
    assert {"readings", "dead_letters", "device_activity", "readings_hourly"} <= set(finite)
    for table, keep in finite.items():
        got = await db.fetchval("SELECT $1::text::interval", keep)
        assert got == timedelta(days=days(keep)), (table, keep, got)
    with pytest.raises(ValueError, match="N days"):
        days("3 fortnights")


def test_storage_retention_takes_its_intervals_from_the_policy() -> None:
    """One definition: what storage.retention prunes is exactly what the policy says it prunes, with
    the policy's interval; nothing else in it names an interval of its own."""
    pruned = {t for t, p in POLICY.items() if p.by == "storage.retention"}
    assert set(retention.PRUNE) == pruned
    assert not hasattr(retention, "DEAD_LETTER_RETENTION") and not hasattr(retention, "ACTIVITY_RETENTION")
    assert kept("readings") == "7 days" and kept("readings_hourly") == "800 days" and kept("audit_log") is None


async def test_maintenance_prunes_only_what_is_older_than_its_retention_as_of_the_now_handed_in(
    db: asyncpg.Connection, db_url: str
) -> None:
    """An old and a young row in each table pruned by apply_retention, stamped relative to a `now` two
    years ahead of the database's clock: the old go, the young stay (so the job judges by the `now` it is
    handed, not by the database's). Supervision records older than any retention stay. Run as ingest's
    own role: the grants it needs are the ones it holds."""
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(days=730)

    def edge(table: str, side: int) -> datetime:
        return now - timedelta(days=days(kept(table) or "0 days") + side)  # side 1: old, -1: young

    await db.executemany(
        "INSERT INTO device_activity (facility_id, day, device_id, hours) VALUES ('f', $1, $2, 1)",
        [(edge("device_activity", 2).date(), "old"), (edge("device_activity", -2).date(), "young")],
    )
    await db.executemany(
        "INSERT INTO intake_hours (hour, worker, up_s) VALUES ($1, $2, 3600)",
        [(edge("intake_hours", 1), "old"), (edge("intake_hours", -1), "young")],
    )
    await db.executemany(
        "INSERT INTO dead_letters (received_at, topic, payload, reason, detail) VALUES ($1, $2, '', 'schema', '')",
        [(edge("dead_letters", 1), "old"), (edge("dead_letters", -1), "young")],
    )
    await db.executemany(
        "INSERT INTO notification_deliveries (channel, event, title, body, status, created_at)"
        " VALUES ('webhook', 'opened', $1, '', $2, $3)",
        [
            ("old", "sent", edge("notification_deliveries", 1)),
            ("old-failed", "failed", edge("notification_deliveries", 1)),
            ("young", "sent", edge("notification_deliveries", -1)),
            ("old-pending", "pending", edge("notification_deliveries", 1)),  # never sent: not history yet
        ],
    )
    # supervision records, ten years old: kept for good
    from contract.rules import Condition, Key
    from storage.registry import load_registry
    from tests.test_web import REG

    await load_registry(db, REG)
    ancient = now - timedelta(days=3650)
    await db.execute("INSERT INTO audit_log (at, actor, action) VALUES ($1, 'admin', 'user.create')", ancient)
    await open_alert(db, A.id, Key("fire_alarm", "smoke-nap1"), Condition("critical", "火警", "fire"), ancient)

    ingest = await asyncpg.connect(as_role(db_url, "ingest"))
    try:
        await retention.apply_retention(ingest, await detect_features(db), now)
    finally:
        await ingest.close()

    assert {r["device_id"] for r in await db.fetch("SELECT device_id FROM device_activity")} == {"young"}
    assert {r["worker"] for r in await db.fetch("SELECT worker FROM intake_hours")} == {"young"}
    assert {r["topic"] for r in await db.fetch("SELECT topic FROM dead_letters")} == {"young"}
    left = {r["title"] for r in await db.fetch("SELECT title FROM notification_deliveries")}
    assert left == {"young", "old-pending"}
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE at = $1", ancient) == 1
    assert await db.fetchval("SELECT count(*) FROM alerts WHERE opened_at = $1", ancient) == 1


async def test_the_admin_sees_the_retention_page_and_nobody_else_does(site: dict[str, object]) -> None:  # noqa: F811
    url = str(site["url"])
    async with aiohttp.ClientSession() as s:
        pages = {}
        for lang in ("zh", "en"):
            async with s.get(
                f"{url}/admin/retention?lang={lang}", headers={"Authorization": f"Bearer {site['admin']}"}
            ) as r:
                assert r.status == 200, lang
                pages[lang] = await r.text()
        for table in POLICY:
            for lang, html in pages.items():
                assert f'data-table="{table}"' in html, (lang, table)
        assert "7 天" in pages["zh"] and "长期保存" in pages["zh"] and "个人信息保护法" in pages["zh"]
        assert "7 days" in pages["en"] and "Kept for good" in pages["en"]
        async with s.get(f"{url}/?lang=zh", headers={"Authorization": f"Bearer {site['admin']}"}) as r:
            assert 'href="/admin/retention"' in await r.text(), "the admin's navigation links to it"
        for who in ("oper", "insp"):
            async with s.get(
                f"{url}/admin/retention", headers={"Authorization": f"Bearer {site[who]}"}, allow_redirects=False
            ) as r:
                assert r.status == 403, who
            async with s.get(f"{url}/?lang=zh", headers={"Authorization": f"Bearer {site[who]}"}) as r:
                assert 'href="/admin/retention"' not in await r.text(), who
