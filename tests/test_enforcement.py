"""督办 that acts, the rest (issue #40 item 1) over real HTTP and TimescaleDB: a 批示 from above the issuing
level, told to the responsible inspectors; 责令停业整改 ordered by a county or city inspector, shown wherever
the facility is, lifted only by the issuing level or above on a clean, two-officer 复查 after it — never by the
facility, and the database refuses what the web must not write; a suspension excuses nothing (the credit
evaluation reads the same month) and children badged in during it are flagged; the facility's 签收 is a
step of the order's history and an order left unacknowledged is told to its issuer once."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest

from alerts.engine import AlertEngine
from contract.credit import CreditConfig
from contract.inspection import ITEMS
from contract.rectification import RECEIPT_WITHIN
from contract.rules import load_rules, opening_level
from storage import notifications
from storage import suspensions as suspension_store
from storage.credit import month_facts
from storage.notifications import add_subscription
from storage.registry import fetch_registry
from storage.users import Scope
from supervision.orders import flag_late_receipts
from tests.conftest import as_role
from tests.test_orders import A, B, _page_session, call, due, site  # noqa: F401 - `site`: the fixture, by name
from tests.test_pickup import T0, access, facility, opened

CLEAN = {code: {"result": "pass"} for code in ITEMS}


def today() -> str:
    return (datetime.now(UTC) + timedelta(hours=8)).date().isoformat()


async def _recheck(url: str, site: dict[str, Any], failed: bool = False, kind: str = "visit") -> int:  # noqa: F811
    """A 复查 of A recorded by the township, confirmed by the county (two officers): its id."""
    body = {"planned_for": today(), "kind": kind}
    _, insp = await call("POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["town"], body)
    findings = CLEAN | ({"exits": {"result": "fail", "note": "仍然上锁"}} if failed else {})
    body = {"findings": findings, "notes": "复查", "sign": True, "second_inspector": "county"}
    status, rec = await call("POST", f"{url}/api/v1/inspections/{insp['id']}/record", site["town"], body)
    assert status == 200 and rec["status"] == "countersign", rec
    status, rec = await call("POST", f"{url}/api/v1/inspections/{insp['id']}/countersign", site["county"])
    assert status == 200 and rec["status"] == "signed", rec
    return int(insp["id"])


async def test_an_instruction_comes_from_above_and_reaches_the_issuing_level(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = site["url"]
    town_id = await db.fetchval("SELECT id FROM users WHERE username = 'town'")
    await add_subscription(db, town_id, "wecom", "town-key-0001", None, None, "warning", None, "zh")
    _, order = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], {"title": "消防通道堆放杂物", "due_at": due(2)}
    )
    oid = order["id"]
    instruct = f"{url}/api/v1/orders/{oid}/instruction"
    words = "请县卫健局本周内督促整改到位，并报市局。"
    assert (await call("POST", instruct, site["town"], {"note": words}))[0] == 403, "the issuer instructs no one"
    assert (await call("POST", instruct, site["oper"], {"note": words}))[0] == 403
    assert (await call("POST", instruct, site["other"], {"note": words}))[0] == 404, "outside their county"
    for bad in ({"note": "  "}, {}, {"note": 5}, {"note": "x" * 2001}):
        assert (await call("POST", instruct, site["city"], bad))[0] == 400, bad
    status, o = await call("POST", instruct, site["city"], {"note": words})
    assert status == 201, o
    [step] = [h for h in o["history"] if h["action"] == "instructed"]
    assert (step["actor"], step["note"]) == ("city", words) and step["detail"]["by_level"] == "city"
    assert o["last_instruction"]["note"] == words and o["last_instruction"]["actor"] == "city"
    audits = [r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE target = $1", f"order {oid}")]
    assert audits[-1] == "order.instructed"
    sent = await db.fetch(
        "SELECT s.target, d.body FROM notification_deliveries d"
        " JOIN notification_subscriptions s ON s.id = d.subscription_id WHERE d.event LIKE 'order:instructed:%'"
    )
    assert [r["target"] for r in sent] == ["town-key-0001"] and words in sent[0]["body"], "to the responsible level"
    # on the order's page and in the lists (the 督办 list is the same table)
    city, csrf = await _page_session(url, "city", "pw-city")
    try:
        page = await (await city.get(f"{url}/orders/{oid}?lang=zh")).text()
        assert 'data-step="instructed"' in page and words in page
        listed = await (await city.get(f"{url}/orders?lang=zh")).text()
        assert "data-instruction" in listed and words[:10] in listed
        r = await city.post(f"{url}/orders/{oid}/instruction?lang=zh", data={"csrf": csrf, "note": " "})
        assert r.status == 400 and "请填写批示内容" in await r.text()
    finally:
        await city.close()
    await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["oper"], {"note": "已清理"})
    await call("POST", f"{url}/api/v1/orders/{oid}/review", site["town"], {"accept": True})
    assert (await call("POST", instruct, site["city"], {"note": words}))[0] == 403, "an accepted order is closed"


async def test_a_suspension_is_ordered_from_the_county_up_and_shown_everywhere(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = site["url"]
    _, order = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], {"title": "安全出口上锁", "due_at": due(2)}
    )
    post = f"{url}/api/v1/facilities/{A.id}/suspension"
    body = {"reasons": "安全出口长期上锁，整改逾期未完成", "order_ids": [order["id"]]}
    assert (await call("POST", post, site["town"], body))[0] == 403, "not a township inspector"
    assert (await call("POST", post, site["oper"], body))[0] == 403, "never the facility"
    assert (await call("POST", post, site["other"], body))[0] == 404, "outside the county"
    assert (await call("POST", post, site["county"], body | {"reasons": " ab "}))[0] == 400, "reasons required"
    assert (await call("POST", post, site["county"], body | {"order_ids": [order["id"] + 999]}))[0] == 400
    assert (await call("POST", post, site["county"], body | {"order_ids": ["1"]}))[0] == 400
    status, s = await call("POST", post, site["county"], body)
    assert status == 201 and s["in_force"] and s["issued_level"] == "county" and s["order_ids"] == [order["id"]], s
    assert (await call("POST", post, site["city"], body))[0] == 409, "one in force at a time"

    # shown wherever the facility is: the API's lists, the order, the overview, the wall, the public pages
    _, facs = await call("GET", f"{url}/api/v1/facilities", site["county"])
    flags = {f["id"]: f["suspended"] for f in facs["facilities"]}
    assert flags[A.id] is True and not any(v for k, v in flags.items() if k != A.id)
    _, o = await call("GET", f"{url}/api/v1/orders/{order['id']}", site["oper"])
    assert o["facility_suspended"] is True
    _, listed = await call("GET", f"{url}/api/v1/suspensions?in_force=true", site["oper"])
    assert [x["id"] for x in listed] == [s["id"]], "the operator sees its own suspension"
    assert (await call("GET", f"{url}/api/v1/suspensions", site["oper_b"]))[1] == [], "another facility's: none"
    for who, pw, paths in (
        (
            "county",
            "pw-county",
            [
                "/",
                "/wall",
                f"/facilities/{A.id}",
                f"/orders/{order['id']}",
                "/orders",
                "/alerts",
                f"/alerts/{site['alert']}",
            ],
        ),
        ("city", "pw-city", ["/"]),
        ("oper", "pw-oper", [f"/facilities/{A.id}", f"/orders/{order['id']}"]),
    ):
        session, _ = await _page_session(url, who, pw)
        try:
            for path in paths:
                page = await (await session.get(f"{url}{path}{'&' if '?' in path else '?'}lang=zh")).text()
                assert "停业整改中" in page, (who, path)
            if who == "county":
                page = await (await session.get(f"{url}/?lang=zh")).text()
                points = json.loads(re.search(r'id="map-facilities"[^>]*>(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
                assert any(p[0] == A.id and "停业整改中" in p[1] for p in points), "the map's tooltip"
            if who == "oper":
                page = await (await session.get(f"{url}/facilities/{A.id}")).text()
                assert 'id="lift-form"' not in page and 'id="suspension-form"' not in page
        finally:
            await session.close()
    async with aiohttp.ClientSession() as anon:
        page = await (await anon.get(f"{url}/public/facilities/{A.id}?lang=zh")).text()
        assert "停业整改中" in page and "安全出口长期上锁" not in page, "shown, without an inspector's words"
        page = await (await anon.get(f"{url}/public?county={A.county}&lang=zh")).text()
        assert page.count("data-suspended") == 1
    audits = [r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE target = $1", f"facility {A.id}")]
    assert "facility.suspend" in audits


async def test_only_a_clean_two_officer_recheck_lifts_it_and_the_facility_never_can(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = site["url"]
    before = await _recheck(url, site)  # clean, but made before the suspension
    status, s = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/suspension", site["county"], {"reasons": "无证照经营，消防验收未通过"}
    )
    assert status == 201, s
    lift = f"{url}/api/v1/suspensions/{s['id']}/lift"
    reason = "复查合格，准予恢复经营"
    assert (await call("POST", lift, site["oper"], {"reason": reason, "inspection_id": before}))[0] == 403
    assert (await call("POST", lift, site["town"], {"reason": reason, "inspection_id": before}))[0] == 403
    assert (await call("POST", lift, site["other"], {"reason": reason, "inspection_id": before}))[0] == 404
    assert (await call("POST", lift, site["county"], {"reason": reason}))[0] == 400, "no 复查 named"
    status, err = await call("POST", lift, site["county"], {"reason": reason, "inspection_id": before})
    assert status == 409 and "after" in err["error"], "a 复查 from before the suspension is none"
    remote = await _recheck(url, site, kind="remote")
    status, err = await call("POST", lift, site["county"], {"reason": reason, "inspection_id": remote})
    assert status == 409 and "on site" in err["error"], "a remote inspection is no 复查"
    failed = await _recheck(url, site, failed=True)
    status, err = await call("POST", lift, site["county"], {"reason": reason, "inspection_id": failed})
    assert status == 409 and "fail" in err["error"]
    _, planned = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["town"], {"planned_for": today()}
    )
    status, _ = await call("POST", lift, site["county"], {"reason": reason, "inspection_id": planned["id"]})
    assert status == 409, "an unsigned 复查 lifts nothing"
    _, b_insp = await call(
        "POST", f"{url}/api/v1/facilities/{B.id}/inspections", site["other"], {"planned_for": today()}
    )
    assert (await call("POST", lift, site["county"], {"reason": reason, "inspection_id": b_insp["id"]}))[0] == 400
    clean = await _recheck(url, site)
    assert (await call("POST", lift, site["county"], {"reason": "  ", "inspection_id": clean}))[0] == 400
    # the facility's operator, through its page, cannot either
    oper, csrf = await _page_session(url, "oper", "pw-oper")
    try:
        r = await oper.post(
            f"{url}/facilities/{A.id}/suspension/{s['id']}/lift",
            data={"csrf": csrf, "reason": reason, "inspection_id": str(clean)},
        )
        assert r.status == 403
    finally:
        await oper.close()
    _, still = await call("GET", f"{url}/api/v1/suspensions?facility_id={A.id}", site["county"])
    assert still[0]["in_force"] is True
    status, lifted = await call("POST", lift, site["city"], {"reason": reason, "inspection_id": clean})
    assert status == 200 and not lifted["in_force"] and lifted["recheck_inspection_id"] == clean, lifted
    assert lifted["lifted_by"] == "city", "the city is above the county that ordered it"
    assert (await call("POST", lift, site["county"], {"reason": reason, "inspection_id": clean}))[0] == 409, "once"
    _, facs = await call("GET", f"{url}/api/v1/facilities", site["county"])
    assert not any(f["suspended"] for f in facs["facilities"])
    # a city's suspension is not the county's to lift
    status, s2 = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/suspension", site["city"], {"reasons": "市级督查发现重大隐患"}
    )
    assert status == 201 and s2["issued_level"] == "city"
    again = await _recheck(url, site)
    lift2 = f"{url}/api/v1/suspensions/{s2['id']}/lift"
    assert (await call("POST", lift2, site["county"], {"reason": reason, "inspection_id": again}))[0] == 403


async def test_the_database_refuses_what_the_web_must_not_write(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
    db_url: str,
) -> None:
    url = site["url"]
    now = datetime.now(UTC)
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        insert = (
            "INSERT INTO facility_suspensions (facility_id, reasons, issued_by, issued_level, issued_at)"
            " VALUES ($1, '无证照经营', $2, $3, $4) RETURNING id"
        )
        for who, level in (
            ("oper", "county"),
            ("town", "county"),
            ("town", "township"),
            ("other", "county"),
            ("county", "city"),
        ):
            with pytest.raises(asyncpg.PostgresError):
                await web.fetchval(insert, A.id, who, level, now)
        sid = await web.fetchval(insert, A.id, "county", "county", now)
        with pytest.raises(asyncpg.UniqueViolationError):
            await web.fetchval(insert, A.id, "city", "city", now)
        # nothing of what was ordered changes; it is lifted only on a clean, signed 复查, never deleted
        with pytest.raises(asyncpg.PostgresError):
            await web.execute(
                "UPDATE facility_suspensions SET issued_at = $2 WHERE id = $1", sid, now - timedelta(days=30)
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.execute("UPDATE facility_suspensions SET reasons = 'x' WHERE id = $1", sid)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.execute("DELETE FROM facility_suspensions WHERE id = $1", sid)
        lift = (
            "UPDATE facility_suspensions SET lifted_by = $2, lifted_at = $3, lift_reason = '复查合格',"
            " recheck_inspection_id = $4 WHERE id = $1"
        )
        planned = await web.fetchval(
            "INSERT INTO inspections (facility_id, kind, planned_for, planned_by, level)"
            " VALUES ($1, 'visit', $2, 'town', 'township') RETURNING id",
            A.id,
            date.today(),
        )
        for who in ("oper", "county"):
            with pytest.raises(asyncpg.PostgresError):
                await web.execute(lift, sid, who, now, planned)  # an operator; an unsigned 复查
        clean = await _recheck(url, site)
        with pytest.raises(asyncpg.PostgresError):
            await web.execute(lift, sid, "oper", now, clean)
        with pytest.raises(asyncpg.PostgresError):
            await web.execute(lift, sid, "town", now, clean)
        alerts = await asyncpg.connect(as_role(db_url, "alerts"))
        try:  # what the alert engine reads, with the alerts role's grant
            assert await suspension_store.in_force_since(alerts, [A.id]) == {A.id: now}
            await web.execute(lift, sid, "county", datetime.now(UTC), clean)
            assert await suspension_store.in_force_since(alerts) == {}
        finally:
            await alerts.close()
        with pytest.raises(asyncpg.PostgresError):
            await web.execute("UPDATE facility_suspensions SET lift_reason = '改写' WHERE id = $1", sid)
    finally:
        await web.close()


async def test_a_suspension_excuses_nothing_and_children_on_site_are_flagged(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    """Not a closure: the opening hours every service reads and the credit month are the same with or without
    it (an approved closure would change both); a child badged in while suspended is counted and shown."""
    url = site["url"]
    now = datetime.now(UTC)
    month = (now + timedelta(hours=8)).date().replace(day=1)

    async def record() -> tuple[Any, Any]:
        reg = await fetch_registry(db, [A.id])
        facts = {
            f["id"]: fa
            for f, fa in await month_facts(db, Scope("inspector", None, None, None), month, now, CreditConfig())
        }
        return reg.facilities[0].opening_hours, facts[A.id]

    before = await record()
    status, s = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/suspension", site["county"], {"reasons": "整改期间停业"}
    )
    assert status == 201 and s["children_badged_in"] == 0
    assert await record() == before, "a suspension closes no day and changes nothing the credit reads"
    child = A.children[0].id
    t = datetime.now(UTC) + timedelta(seconds=1)
    await db.execute(
        "INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, payload, received_at)"
        " VALUES ($1, $2, 'door-1', 'm-susp-1', 'child_in', $3, '{}', $1)",
        t,
        A.id,
        child,
    )
    _, listed = await call("GET", f"{url}/api/v1/suspensions?facility_id={A.id}", site["city"])
    assert listed[0]["children_badged_in"] == 1 and listed[0]["first_child_in"] is not None
    county, _ = await _page_session(url, "county", "pw-county")
    try:
        page = await (await county.get(f"{url}/facilities/{A.id}?lang=zh")).text()
        assert "停业整改期间有幼儿在园" in page and 'data-suspension-children="1"' in page
        page = await (await county.get(f"{url}/orders?lang=zh")).text()
        assert 'data-suspension-children="1"' in page, "and in the 督办 list"
    finally:
        await county.close()


async def test_the_receipt_is_a_step_and_a_late_one_is_told_to_the_issuer_once(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
    db_url: str,
) -> None:
    url = site["url"]
    await add_subscription(
        db,
        await db.fetchval("SELECT id FROM users WHERE username = 'town'"),
        "wecom",
        "town-key-0002",
        None,
        None,
        "warning",
        None,
        "zh",
    )
    _, late = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], {"title": "灭火器过期", "due_at": due(5)}
    )
    _, signed = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], {"title": "监控盲区", "due_at": due(5)}
    )
    status, o = await call("POST", f"{url}/api/v1/orders/{signed['id']}/receipt", site["oper"])
    assert status == 200 and [h["action"] for h in o["history"]] == ["issued", "received"]
    assert o["history"][1]["actor"] == "oper"
    alerts = await asyncpg.connect(as_role(db_url, "alerts"))  # the ticker's own role
    try:
        now = datetime.now(UTC)
        assert await flag_late_receipts(alerts, now + RECEIPT_WITHIN - timedelta(hours=1)) == [], "a day to sign"
        changes = await flag_late_receipts(alerts, now + RECEIPT_WITHIN + timedelta(hours=1))
        flagged = [(c.order_id, c.action, c.audience_level) for c in changes]
        assert flagged == [(late["id"], "receipt_late", "township")], "the unacknowledged one, to its issuer"
        # what the alert service's outbox queues for it (alerts.notify.Outbox.queue_order), as the alerts role
        audience = await notifications.audience(alerts, A.id)
        assert audience is not None
        await notifications.enqueue(alerts, notifications.order_messages(changes[0], audience, url, now), now)
        assert await flag_late_receipts(alerts, now + RECEIPT_WITHIN + timedelta(hours=5)) == [], "once"
    finally:
        await alerts.close()
    sent = await db.fetch(
        "SELECT s.target, d.title FROM notification_deliveries d"
        " JOIN notification_subscriptions s ON s.id = d.subscription_id WHERE d.event LIKE 'order:receipt_late:%'"
    )
    assert [r["target"] for r in sent] == ["town-key-0002"] and "签收超期" in sent[0]["title"], sent
    _, o = await call("GET", f"{url}/api/v1/orders/{late['id']}", site["town"])
    assert [h["action"] for h in o["history"]].count("receipt_late") == 1
    # acknowledged late, it is still acknowledged once and the step stays
    status, o = await call("POST", f"{url}/api/v1/orders/{late['id']}/receipt", site["oper"])
    assert status == 200 and sorted(h["action"] for h in o["history"]) == ["issued", "receipt_late", "received"]


async def test_a_record_awaiting_countersignature_is_a_badge_for_the_named_officer(
    site: dict[str, Any],  # noqa: F811
) -> None:
    url = site["url"]
    _, insp = await call("POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["town"], {"planned_for": today()})
    body = {"findings": CLEAN, "notes": "现场检查", "sign": True, "second_inspector": "county"}
    await call("POST", f"{url}/api/v1/inspections/{insp['id']}/record", site["town"], body)

    async def badge(who: str, pw: str) -> int:
        s, _ = await _page_session(url, who, pw)
        try:
            page = await (await s.get(f"{url}/orders")).text()
        finally:
            await s.close()
        found = re.search(r"data-countersign-waiting[^>]*>(\d+)<", page)
        return int(found.group(1)) if found else 0

    assert await badge("county", "pw-county") == 1
    assert await badge("town", "pw-town") == 0, "not the one who signed"
    assert await badge("city", "pw-city") == 0, "not an officer the record does not name"
    await call("POST", f"{url}/api/v1/inspections/{insp['id']}/countersign", site["county"])
    assert await badge("county", "pw-county") == 0


def test_a_child_badged_in_while_suspended_raises_its_own_alert_and_the_day_stays_open() -> None:
    """The engine keeps watching: the same badge-in raises children_during_suspension (major, opened at the
    county) only while a suspension is in force, and every other rule judges the day as it would anyway."""
    f = facility()
    child = f.children[0].id
    at = T0 - timedelta(hours=6)  # 10:00 in Xinzhou, a Monday

    def run(suspended: dict[str, datetime]) -> list[Any]:
        engine = AlertEngine([f], load_rules(None), at - timedelta(hours=2))
        engine.set_suspensions(suspended)
        return engine.on_message(f.id, "door-main", access("child_in", child, at), at)

    plain = run({})
    assert opened(plain, "children_during_suspension") == []
    defied = run({f.id: at - timedelta(days=2)})
    [alert] = opened(defied, "children_during_suspension")
    assert alert.condition.severity == "major" and opening_level("children_during_suspension") == "county"
    others = {(d.key, d.action) for d in defied if d.key.rule != "children_during_suspension"}
    assert others == {(d.key, d.action) for d in plain}, "nothing else changes: no day closed, nothing excused"
    assert opened(run({"xz-other-facility": at}), "children_during_suspension") == [], "another's is not this one's"
