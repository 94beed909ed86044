"""督办 that acts (issue #40 item 1) over real HTTP and TimescaleDB: an answer the township leaves unreviewed
climbs to the county like an unanswered order; the county urges the township (催办: a message through the
outbox to the township's inspectors) and the city records a summons (约谈: date, people, minutes), each in
the order's history and the audit log; the township may do neither; the navigation's badge counts what
waits for each user."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from storage.notifications import add_subscription
from supervision.orders import REVIEW_PERIOD, escalate_overdue
from tests.test_orders import A, _page_session, call, due, site  # noqa: F401 - `site`: the fixture, by name


async def badge(url: str, token: str) -> int:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        page = await (await s.get(f"{url}/orders")).text()
    found = re.search(r"data-waiting[^>]*>(\d+)<", page)
    return int(found.group(1)) if found else 0


async def test_an_unreviewed_answer_climbs_and_is_urged_and_summoned(
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
    assert await badge(url, site["oper"]) == 1, "the facility has an order to answer"
    await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["oper"], {"note": "已清理"})
    assert await badge(url, site["oper"]) == 0
    assert await badge(url, site["town"]) == 1, "an answer waits for the township's review"

    now = datetime.now(UTC)
    assert await escalate_overdue(db, now + REVIEW_PERIOD - timedelta(hours=1)) == [], "the reviewer has a week"
    [up] = await escalate_overdue(db, now + REVIEW_PERIOD + timedelta(hours=1))
    assert (up.order_id, up.audience_level) == (oid, "county"), "the township's own delay goes up"
    detail = await db.fetchval("SELECT detail FROM rectification_history WHERE action = 'escalated'")
    assert '"late": "review"' in detail
    assert await badge(url, site["county"]) == 1, "in the county's 督办 list"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['county']}"}) as s:
        page = await (await s.get(f"{url}/orders")).text()
        assert f'href="/orders/{oid}"' in page.split('class="filters"', 1)[0], "listed under 督办"

    # the township may not urge itself; the county urges it
    town, town_csrf = await _page_session(url, "town", "pw-town")
    county, county_csrf = await _page_session(url, "county", "pw-county")
    city, city_csrf = await _page_session(url, "city", "pw-city")
    try:
        r = await town.post(f"{url}/orders/{oid}/urge", data={"csrf": town_csrf, "note": "自己催自己"})
        assert r.status == 403
        r = await county.post(f"{url}/orders/{oid}/urge?lang=zh", data={"csrf": county_csrf, "note": " "})
        assert r.status == 400 and "请填写催办意见" in await r.text()
        r = await county.post(f"{url}/orders/{oid}/urge", data={"csrf": county_csrf, "note": "请三日内完成验收"})
        assert r.status == 200 and 'data-step="urged"' in await r.text()
        summons = {"csrf": city_csrf, "held_on": now.date().isoformat(), "people": "秀容街道监管员王某"}
        r = await city.post(f"{url}/orders/{oid}/summons", data=summons)
        assert r.status == 400, "a summons without minutes is not recorded"
        r = await city.post(
            f"{url}/orders/{oid}/summons", data=summons | {"minutes": "说明未按期验收原因，限两日内完成。"}
        )
        page = await r.text()
        assert r.status == 200 and "秀容街道监管员王某" in page and "限两日内完成" in page
    finally:
        for s in (town, county, city):
            await s.close()

    _, o = await call("GET", f"{url}/api/v1/orders/{oid}", site["city"])
    steps = [(h["actor"], h["action"]) for h in o["history"] if h["action"] in {"urged", "summoned"}]
    assert steps == [("county", "urged"), ("city", "summoned")] and o["status"] == "answered", "the order stays"
    audits = [r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE target = $1", f"order {oid}")]
    assert audits[-2:] == ["order.urged", "order.summoned"]
    sent = await db.fetch(
        "SELECT s.target, d.event, d.body FROM notification_deliveries d"
        " JOIN notification_subscriptions s ON s.id = d.subscription_id WHERE d.event LIKE 'order:urged:%'"
    )
    assert [r["target"] for r in sent] == ["town-key-0001"], "the urge goes to the responsible (issuing) level"
    assert "请三日内完成验收" in sent[0]["body"]

    # reviewed at last: nothing waits, nothing more to follow up
    await call("POST", f"{url}/api/v1/orders/{oid}/review", site["town"], {"accept": True})
    assert await badge(url, site["town"]) == 0 and await badge(url, site["county"]) == 0
    county, county_csrf = await _page_session(url, "county", "pw-county")
    try:
        r = await county.post(f"{url}/orders/{oid}/urge", data={"csrf": county_csrf, "note": "再催"})
        assert r.status == 403, "an accepted order is not followed up"
    finally:
        await county.close()
