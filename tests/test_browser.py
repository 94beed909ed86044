"""In Debian's headless Chromium: an inspector watches a facility turn red, acknowledges, sees the latch.

Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, async_playwright, expect

from simulators.registry_gen import generate_registry
from storage.registry import load_registry
from storage.users import create_user
from tests.conftest import Services, as_role
from tests.helpers import Publisher, payload
from tests.test_alert_service import make, running
from web.app import create_app

pytestmark = pytest.mark.browser
# where screenshots and reports go: test-artifacts/, or `carewatch screenshots --out DIR`'s directory
ARTIFACTS = Path(os.environ.get("CAREWATCH_ARTIFACTS") or Path(__file__).resolve().parent.parent / "test-artifacts")
CHROMIUM = "/usr/bin/chromium"
REG = generate_registry(12, seed=3)
A = REG.facilities[0]
B = next(f for f in REG.facilities if f.county != A.county)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: scripts/install-system-deps.sh --browser installs it")
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            yield await ctx.new_page()
        finally:
            await browser.close()


@pytest.fixture
async def base(db_url: str) -> AsyncIterator[str]:
    """The web app on a free loopback port, as the web service's own database role; its base URL."""
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def login(page: Page, base: str, user: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", password)
    await page.click("#login")
    await page.wait_for_url(lambda url: url.startswith(base) and "/login" not in url)


def ts() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def test_inspector_sees_red_live_acknowledges_and_latch(
    page: Page, base: str, services: Services, db: asyncpg.Connection, db_url: str, topic_root: str
) -> None:
    await load_registry(db, REG)
    await create_user(db, "insp", "inspector", "pw-insp", county=A.county)
    pub = Publisher(*services.mqtt_host_port)
    topic = f"{topic_root}/{A.id}/smoke-nap1/event"
    try:
        async with running(make(services, db_url, topic_root, "browser")):
            await login(page, base, "insp", "pw-insp")
            row = page.locator(f'tr[data-facility="{A.id}"] [data-state]')
            await expect(row).to_have_text("正常")  # green, by its name
            assert await page.locator(f'tr[data-facility="{B.id}"]').count() == 0, "other counties are invisible"
            await page.screenshot(path=str(ARTIFACTS / "1-overview.png"), full_page=True)

            pub.publish(topic, payload({"msg_id": "e1", "ts": ts(), "type": "fire_alarm", "state": "active"}))
            await expect(row).to_have_text("告警", timeout=10_000)  # red, live, without a reload
            await expect(page.locator("#banner")).to_be_visible()
            await expect(page.locator('[data-sev-count="critical"]')).to_have_text("1")  # counters, live too
            area = page.locator(f'tr[data-area="{A.township}"] [data-n="red"]')
            await expect(area).to_have_text("1")
            await page.screenshot(path=str(ARTIFACTS / "2-red-live.png"), full_page=True)

            pub.publish(topic, payload({"msg_id": "e2", "ts": ts(), "type": "fire_alarm", "state": "cleared"}))
            await page.wait_for_timeout(1500)
            await page.goto(f"{base}/alerts")
            alert_row = page.locator("tr.sev-critical").first
            await expect(alert_row).to_contain_text("火灾报警")
            # cleared, but latched: still listed (未结) until acknowledged, tagged as such (issue #41)
            await expect(alert_row.locator("[data-awaiting-ack]")).to_have_text("已恢复待确认")
            await page.goto(f"{base}/")
            await expect(row).to_have_text("告警")
            await page.goto(f"{base}/alerts")
            await page.locator("tr.sev-critical input[name=note]").first.fill("现场核实：午睡室烟感误报，已复位")
            await page.locator("tr.sev-critical button").first.click()
            await page.wait_for_load_state()
            await page.screenshot(path=str(ARTIFACTS / "3-acknowledged.png"), full_page=True)
            await expect(page.locator("tr.sev-critical")).to_have_count(0)  # closed: cleared and acknowledged
            await page.goto(f"{base}/")
            await expect(page.locator('[data-sev-count="critical"]')).to_have_text("0")
            await _green_but_for_the_staffing_rules(page, row, db, base)
    finally:
        pub.close()
    acked = await db.fetchrow("SELECT * FROM alerts WHERE rule = 'fire_alarm'")
    assert acked["acknowledged_by"] == "insp"
    assert acked["note"].startswith("现场核实")
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'alert.ack'") == 1


# the rules that judge the facility's staff against its opening hours on the real clock: in this test nobody
# is ever badged in, so run during the facility's opening hours they rightly open (seen at 17:10 Shanghai time)
STAFFING_RULES = {"guard_absent", "ratio_breach", "attendance_missing", "patrol_missed", "health_staff_missing"}


async def _green_but_for_the_staffing_rules(page: Page, row: Any, db: asyncpg.Connection, base: str) -> None:
    """The facility's row back to green (正常) once its fire alarm is closed; or, when the real clock is in
    its opening hours and the staffing rules have opened alerts of their own (nobody is badged in), those
    and nothing else keep it from green. Retried for 10 s: an alert may open between a look and a read."""
    for _ in range(20):
        others = {
            r["rule"]
            for r in await db.fetch(
                "SELECT rule FROM alerts WHERE facility_id = $1 AND rule <> 'fire_alarm'"
                " AND NOT (status = 'cleared' AND acknowledged)",
                A.id,
            )
        }
        if others:
            assert others <= STAFFING_RULES, f"open besides the fire alarm: {others}"
            return
        if (await row.inner_text()).strip() == "正常":
            return
        await page.wait_for_timeout(500)
        await page.goto(f"{base}/")
    raise AssertionError(f"the facility's row stayed {await row.inner_text()!r} with no other alert open")


async def test_operator_sees_only_their_facility(page: Page, base: str, db: asyncpg.Connection) -> None:
    await load_registry(db, REG)
    await create_user(db, "op", "operator", "pw-op", facility=B.id)
    await login(page, base, "op", "pw-op")
    assert page.url == f"{base}/", "an operator lands on what waits for them (issue #41 item 5)"
    await expect(page.locator(f'[data-home="{B.id}"]')).to_have_count(1)
    await page.locator(f'header nav a[href="/facilities/{B.id}"]').click()  # 本园: their own facility
    await expect(page.locator(f'[data-facility-page="{B.id}"]')).to_have_count(1)
    # a laptop's 1280 px: the title and the signed-in user each stay on one line (the nav may wrap)
    lines = await page.evaluate(
        """() => ['header strong', 'header .who'].map(s => {
             const r = document.createRange(); r.selectNodeContents(document.querySelector(s));
             return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; })"""
    )
    assert lines == [1, 1], f"lines of the header's title and user: {lines}"
    resp = await page.goto(f"{base}/facilities/{A.id}")
    assert resp is not None
    assert resp.status == 404
    env = next(d.id for d in B.devices if d.type.value == "env_sensor")
    now = datetime.now(UTC)
    await db.executemany(
        "INSERT INTO readings (time, facility_id, device_id, metric, value, msg_id) VALUES ($1, $2, $3, $4, $5, $6)",
        [(now - timedelta(minutes=5 * i), B.id, env, "co2_ppm", 600.0 + 3 * i, f"r{i}") for i in range(60)],
    )
    await page.goto(f"{base}/facilities/{B.id}?lang=en")
    await expect(page.locator("h2").first).to_contain_text("Active alerts")
    await expect(page.locator("#chart canvas")).to_have_count(1)  # uPlot, served from /static/vendor
    assert int(await page.locator("#chart").get_attribute("data-points") or 0) >= 20  # 15-min buckets of 5 h
    await expect(page.locator(f'tr[data-device="{env}"]')).to_contain_text("CO₂ (ppm) 600")  # name and unit
    await page.select_option("#maintenance-form select[name=device_id]", env)
    await page.fill("#maintenance-form input[name=starts_at]", "2026-01-01T08:00")
    await page.fill("#maintenance-form input[name=ends_at]", "2026-01-01T09:00")
    await page.fill("#maintenance-form input[name=reason]", "更换传感器")
    await page.click("#maintenance-form button")
    await expect(page.locator("[data-error]")).to_contain_text("past")  # a reason, on the page
    await expect(page.locator("#maintenance-form select[name=device_id]")).to_have_value(env)  # input kept
    start = datetime.now(ZoneInfo(B.timezone)).replace(second=0, microsecond=0)
    await page.fill("#maintenance-form input[name=starts_at]", start.strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#maintenance-form input[name=ends_at]", (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#maintenance-form input[name=reason]", "更换传感器")
    await page.click("#maintenance-form button")
    await expect(page.locator("tr[data-window]")).to_contain_text("更换传感器")
    await page.screenshot(path=str(ARTIFACTS / "4-operator-facility-en.png"), full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})  # the operator's phone
    await page.goto(f"{base}/facilities/{B.id}?lang=zh")
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the facility page is {wide} px wider than a phone"
    await page.screenshot(path=str(ARTIFACTS / "5-operator-facility-phone.png"))
    windows = await db.fetch("SELECT * FROM maintenance_windows")
    assert [(w["device_id"], w["author"], w["ends_at"] - w["starts_at"]) for w in windows] == [
        (env, "op", timedelta(hours=2))
    ]


async def test_the_duty_room_wall_fits_1920x1080_and_follows_live(
    page: Page, base: str, services: Services, db: asyncpg.Connection, db_url: str, topic_root: str
) -> None:
    """Issue #17 item 5: a county's wall, read-only, no scrolling at 1920 × 1080, a fire alarm on it
    within seconds without a reload, and its connection loss shown, not silent."""
    await load_registry(db, REG)
    await create_user(db, "duty", "inspector", "pw-duty", county=A.county)
    pub = Publisher(*services.mqtt_host_port)
    try:
        async with running(make(services, db_url, topic_root, "wall")):
            await page.set_viewport_size({"width": 1920, "height": 1080})
            await login(page, base, "duty", "pw-duty")
            await page.goto(f"{base}/wall")
            green = sum(1 for f in REG.facilities if f.county == A.county)
            await expect(page.locator('[data-count="green"] b')).to_have_text(str(green))
            topic = f"{topic_root}/{A.id}/smoke-nap1/event"
            pub.publish(topic, payload({"msg_id": "w1", "ts": ts(), "type": "fire_alarm", "state": "active"}))
            await expect(page.locator(".wall-alerts li.sev-critical")).to_contain_text("火灾报警", timeout=15_000)
            # red without a reload; not "exactly 1": on the real clock, during the county's opening hours, its
            # other facilities (no staff badged, nothing heard) turn red too once the engine has waited out its
            # late data (60 s), which a slow run reaches (CI, 2026-12-07 08:47 Shanghai: 2, then 4)
            await expect(page.locator('[data-count="red"] b')).not_to_have_text("0")
            await expect(page.locator(".wall-facilities")).to_contain_text(A.name)
            fits = await page.evaluate(
                "document.documentElement.scrollHeight <= window.innerHeight"
                " && document.documentElement.scrollWidth <= window.innerWidth"
            )
            assert fits, "the wall scrolls at 1920 × 1080"
            await page.screenshot(path=str(ARTIFACTS / "wall-1920x1080.png"))
            await page.context.set_offline(True)  # the duty room's network drops
            # shown at once (the browser's offline event), not at the next 30 s repaint
            await expect(page.locator("#wall-conn")).to_be_visible(timeout=10_000)
            await page.context.set_offline(False)
            await expect(page.locator("#wall-conn")).to_be_hidden(timeout=40_000)
            await expect(page.locator('[data-count="red"] b')).not_to_have_text("0")  # repainted, still red
    finally:
        pub.close()


async def test_an_order_issued_answered_sent_back_accepted_and_an_overdue_one_escalated(
    page: Page, base: str, db: asyncpg.Connection
) -> None:
    """Issue #16's flow in Chromium: the township inspector records an inspection with one failed item
    and orders the facility to put it right; the operator answers with a photo; the inspector sends it
    back once and accepts the second answer; an order left unanswered past its date appears in the
    county inspector's 督办 list."""
    from supervision.orders import escalate_overdue
    from tests.test_orders import png

    await load_registry(db, REG)
    await create_user(db, "town", "inspector", "pw-town", county=A.county, township=A.township)
    _, county_token = await create_user(db, "county", "inspector", "pw-county", county=A.county)
    await create_user(db, "op", "operator", "pw-op", facility=A.id)
    browser = page.context.browser
    assert browser is not None
    op_ctx = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN")
    op = await op_ctx.new_page()
    try:
        await login(page, base, "town", "pw-town")
        # the inspection: planned from the facility page, every checklist item judged, one failed, signed
        await page.goto(f"{base}/facilities/{A.id}")
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        await page.fill("#plan-form input[name=planned_for]", today)
        await page.locator("#plan-form button").click()
        await expect(page.locator("[data-inspection-status]")).to_have_text("待检查")
        await page.locator("#inspection-form button[value=sign]").click()
        await expect(page.locator("p.error")).to_contain_text("未填写检查结果，不能签字")  # nothing judged yet
        for row in await page.locator("tr[data-item]").all():
            code = await row.get_attribute("data-item")
            await row.locator(f"input[value={'fail' if code == 'exits' else 'pass'}]").check()
        await page.fill("tr[data-item=exits] input[name=note_exits]", "二楼安全出口堆放床垫")
        await page.select_option("select[name=second_inspector]", "county")
        await page.locator("#inspection-form button[value=sign]").click()
        await expect(page.locator("[data-inspection-status]")).to_have_text("待会签")
        # the second officer confirms on their own account (tests/test_browser_countersign.py in the browser)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {county_token}"}) as s:
            r = await s.post(page.url.replace("/inspections/", "/api/v1/inspections/") + "/countersign")
            assert r.status == 200, await r.text()
        await page.reload()
        await expect(page.locator("[data-inspection-status]")).to_have_text("已签字确认")
        await expect(page.locator("tr[data-item=exits] .finding")).to_have_text("不符合")
        await page.screenshot(path=str(ARTIFACTS / "order-0-inspection-signed.png"), full_page=True)
        # the failed item becomes an order
        await page.locator("tr[data-item=exits] details summary").click()
        due = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        await page.fill("tr[data-item=exits] input[name=due_at]", due)
        await page.locator("tr[data-item=exits] details button").click()
        await expect(page.locator("[data-order-status]")).to_have_text("待整改")
        await expect(page.locator("h1 ~ section.cards")).to_contain_text("检查发现")
        order_url = page.url
        await page.screenshot(path=str(ARTIFACTS / "order-1-issued.png"), full_page=True)

        async def operator_answers(note: str) -> None:
            await op.goto(order_url)
            await op.fill("#answer-form textarea[name=note]", note)
            await op.set_input_files(
                "#answer-form input[name=evidence]", {"name": "现场照片.png", "mimeType": "image/png", "buffer": png()}
            )
            await op.locator("#answer-form button").click()
            await expect(op.locator("[data-order-status]")).to_have_text("待验收")

        await login(op, base, "op", "pw-op")
        await operator_answers("已清理安全出口")
        await expect(op.locator("[data-evidence]")).to_have_text("现场照片.png")
        await op.screenshot(path=str(ARTIFACTS / "order-2-answered-phone.png"), full_page=True)

        await page.goto(order_url)
        await page.fill("#review-form textarea[name=note]", "照片未显示出口通道全貌，请补充")
        await page.locator("#review-form button[value=return]").click()  # sending back needs a new due date
        await expect(page.locator("p.error")).to_contain_text("新的整改期限")
        await expect(page.locator("#review-form textarea[name=note]")).to_have_value("照片未显示出口通道全貌，请补充")
        await page.fill("#review-form input[name=due_at]", due)
        await page.locator("#review-form button[value=return]").click()
        await expect(page.locator("[data-order-status]")).to_have_text("退回重改")
        await operator_answers("补充通道全景照片")
        await page.goto(order_url)
        await page.locator("#review-form button[value=accept]").click()
        await expect(page.locator("[data-order-status]")).to_have_text("已验收")
        steps = await page.locator("tr[data-step]").evaluate_all("rows => rows.map(r => r.dataset.step)")
        assert steps == ["issued", "answered", "returned", "answered", "accepted"]
        await page.screenshot(path=str(ARTIFACTS / "order-3-accepted.png"), full_page=True)

        # an order nobody answers: past its date, the ticker's 督办 takes it to the county
        await page.goto(f"{base}/facilities/{A.id}")
        await page.locator("details:has(#order-form) summary").click()
        await page.fill("#order-form input[name=title]", "晨检记录缺失")
        await page.fill("#order-form input[name=due_at]", due)
        await page.locator("#order-form button").click()
        await expect(page.locator("[data-order-status]")).to_have_text("待整改")
        late = int(page.url.rsplit("/", 1)[1])
        await db.execute("UPDATE rectification_orders SET due_at = now() - interval '1 hour' WHERE id = $1", late)
        await escalate_overdue(db, datetime.now(UTC))
        county_ctx = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        county = await county_ctx.new_page()
        await login(county, base, "county", "pw-county")
        await county.goto(f"{base}/orders")
        await expect(county.locator("h2.bad")).to_be_visible()
        await expect(county.locator(f'tr[data-order="{late}"]').first).to_contain_text("已逾期")
        await county.screenshot(path=str(ARTIFACTS / "order-4-overdue-county.png"), full_page=True)
        await county_ctx.close()
    finally:
        await op_ctx.close()
