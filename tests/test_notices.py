"""Messages about supervision beyond orders (issue #40 leftovers; supervision/notices.py, migration 046), over
real HTTP and TimescaleDB: a 责令停业整改 ordered and lifted reaches the facility's operators and its area's
inspectors; an issued 通报 the facilities and departments it names; a complaint unanswered or a filing
unreviewed past its deadline the city, once, by the clock the 督办 sweep is given, as the alert service's
role. Each is queued once per subscription however often it is queued, and nothing a facility's operator can
do keeps it from the city."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from storage import suspensions as suspension_store
from storage.notifications import add_subscription
from storage.users import Scope
from supervision import notices
from tests.conftest import as_role
from tests.test_enforcement import _recheck
from tests.test_orders import A, B, call, site  # noqa: F401 - `site`: the fixture, by name

URL = "https://carewatch.example"


async def _subscribe(db: asyncpg.Connection, who: str, key: str, quiet: tuple[time, time] | None = None) -> None:
    uid = await db.fetchval("SELECT id FROM users WHERE username = $1", who)
    await add_subscription(db, uid, "wecom", key, None, None, "warning", quiet, "zh")


async def _sent(db: asyncpg.Connection, event_like: str) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT s.target, d.title FROM notification_deliveries d"
        " JOIN notification_subscriptions s ON s.id = d.subscription_id WHERE d.event LIKE $1 ORDER BY s.target",
        event_like,
    )
    return [(r["target"], r["title"]) for r in rows]


async def test_a_suspension_ordered_and_lifted_is_told_to_the_facility_and_its_area_once(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = site["url"]
    await _subscribe(db, "town", "town-key-0001")
    await _subscribe(db, "city", "city-key-0001")
    await _subscribe(db, "oper_b", "oper-b-key-01")
    await _subscribe(db, "other", "other-key-001")
    body = {"reasons": "消防通道堵塞，逾期未整改"}
    status, s = await call("POST", f"{url}/api/v1/facilities/{A.id}/suspension", site["county"], body)
    assert status == 201, s
    told = await _sent(db, f"notice:suspended:{s['id']}")
    assert [t for t, _ in told] == ["county-key-001", "oper-key-0001", "town-key-0001"], told
    assert all("责令停业整改" in title and A.name in title for _, title in told)
    # queued again (a retried request, a second worker): nothing more
    row = await suspension_store.suspension(db, Scope("admin", None, None, None), s["id"])
    assert row is not None
    assert await notices.tell_suspension(db, "suspended", row, URL, datetime.now(UTC)) == 0
    assert len(await _sent(db, "notice:%")) == 3
    # the facility cannot lift it, so it cannot send the lifting message either
    assert (await call("POST", f"{url}/api/v1/suspensions/{s['id']}/lift", site["oper"], {"reason": "已整改"}))[0] in {
        400,
        403,
    }
    assert await _sent(db, "notice:lifted:%") == []
    recheck = await _recheck(url, site)  # two officers, nothing failing, after the suspension
    lift = {"reason": "复查合格，准予恢复", "inspection_id": recheck}
    status, lifted = await call("POST", f"{url}/api/v1/suspensions/{s['id']}/lift", site["county"], lift)
    assert status == 200 and lifted["in_force"] is False, lifted
    told = await _sent(db, f"notice:lifted:{s['id']}")
    assert [t for t, _ in told] == ["county-key-001", "oper-key-0001", "town-key-0001"], told
    assert all("解除停业整改" in title for _, title in told)


async def test_an_issued_circular_is_told_to_what_it_names(site: dict[str, Any], db: asyncpg.Connection) -> None:  # noqa: F811
    url = site["url"]
    await _subscribe(db, "town", "town-key-0001")
    await _subscribe(db, "oper_b", "oper-b-key-01")
    await _subscribe(db, "city", "city-key-0001")
    draft = {
        "kind": "criticise",
        "title": "关于整改逾期的通报",
        "body": "现将有关情况通报如下。",
        "subjects": [
            {"subject": f"facility:{A.id}", "statement": "逾期未整改"},
            {"subject": f"area:{A.township}", "statement": "督促不力"},
        ],
    }
    status, c = await call("POST", f"{url}/api/v1/circulars", site["county"], draft)
    assert status == 201, c
    assert await _sent(db, "notice:%") == [], "a draft is told to nobody"
    status, c = await call("POST", f"{url}/api/v1/circulars/{c['id']}/issue", site["county"])
    assert status == 200, c
    told = await _sent(db, f"notice:circular:{c['id']}")
    # the facility's operator and the township's inspector; not the county that wrote it, another facility,
    # nor the city
    assert [t for t, _ in told] == ["oper-key-0001", "town-key-0001"], told
    assert all(title == "【通报】关于整改逾期的通报" for _, title in told)
    body = await db.fetchval(
        "SELECT body FROM notification_deliveries WHERE event = $1 LIMIT 1", f"notice:circular:{c['id']}"
    )
    assert c["number_text"] in body and f"/circulars/{c['id']}" in body


async def test_a_complaint_or_filing_past_its_deadline_is_told_to_the_city_once(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
    db_url: str,
) -> None:
    await _subscribe(db, "city", "city-key-0001", quiet=(time(22, 0), time(7, 0)))
    filed = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Xinzhou
    due = filed + timedelta(days=15)
    complaint = await db.fetchval(
        "INSERT INTO complaints (facility_id, code_sha256, what, happened_on, contact, filed_at, due_at)"
        " VALUES ($1, $2, '午睡时无人看护，孩子哭了很久', $3, '13912345678', $4, $5) RETURNING id",
        A.id,
        "a" * 64,
        date(2026, 3, 1),
        filed,
        due,
    )
    answered = await db.fetchval(
        "INSERT INTO complaints (facility_id, code_sha256, what, happened_on, filed_at, due_at, status, answer,"
        " answered_by, answered_at) VALUES ($1, $2, '门口无保安值守', $3, $4, $5, 'answered', '已核查', 'county', $4)"
        " RETURNING id",
        A.id,
        "b" * 64,
        date(2026, 3, 1),
        filed,
        due,
    )
    filing = await db.fetchval(
        "INSERT INTO filings (facility_id, county, kind, particulars, declared, submitted_by, submitted_at, due_at)"
        " VALUES ($1, $2, 'amendment', '{}', '{}', 'oper', $3, $4) RETURNING id",
        A.id,
        A.county,
        filed,
        filed + timedelta(days=7),
    )
    alerts = await asyncpg.connect(as_role(db_url, "alerts"))  # the 督办 sweep's own role
    try:
        assert await notices.sweep_overdue(alerts, filed + timedelta(days=6), URL) == 0, "nothing late yet"
        assert await notices.sweep_overdue(alerts, filed + timedelta(days=7, hours=1), URL) == 1, "the filing"
        assert await notices.sweep_overdue(alerts, due + timedelta(hours=1), URL) == 1, "the open complaint"
        for later in (2, 30):
            assert await notices.sweep_overdue(alerts, due + timedelta(days=later), URL) == 0, "once, not every sweep"
        # the web's role (every request of a facility's operator) cannot mark a deadline told, nor untell one
        web = await asyncpg.connect(as_role(db_url, "web"))
        try:
            for attempt in ("DELETE FROM overdue_notices", "DELETE FROM notification_deliveries"):
                try:
                    await web.execute(attempt)
                except asyncpg.InsufficientPrivilegeError:
                    continue
                raise AssertionError(f"the web may: {attempt}")
        finally:
            await web.close()
    finally:
        await alerts.close()
    rows = await db.fetch(
        "SELECT d.event, d.title, d.body, d.next_attempt_at, s.target FROM notification_deliveries d"
        " JOIN notification_subscriptions s ON s.id = d.subscription_id WHERE d.event LIKE 'notice:%' ORDER BY d.id"
    )
    assert [(r["target"], r["event"].split(":")[1]) for r in rows] == [
        ("city-key-0001", "filing_overdue"),
        ("city-key-0001", "complaint_overdue"),
    ], "to the city only (the county's own subscription hears nothing of its own delay here)"
    assert f":{answered}:" not in " ".join(r["event"] for r in rows), "an answered complaint waits for nobody"
    assert f"/complaints/{complaint}" in rows[1]["body"] and "投诉逾期未答复" in rows[1]["title"]
    assert "13912345678" not in rows[1]["body"] and "午睡" not in rows[1]["body"], "never what or who complained"
    # 10:00 in Xinzhou is no one's quiet hours: due at once (a message in them would wait, never be dropped)
    assert rows[1]["next_attempt_at"] == due + timedelta(hours=1)
    told = await db.fetch("SELECT kind, subject_id, level FROM overdue_notices ORDER BY kind")
    assert [tuple(r) for r in told] == [("complaint", complaint, "city"), ("filing", filing, "city")]
    assert B.county != A.county
