"""Rectification orders (整改通知) and 督办 (issue #16, item 2) over real HTTP and TimescaleDB: who may do
what, the lifecycle (answer, send back, answer again, accept), evidence checked by its bytes, scope (404
outside it, for every new endpoint and page), the audit log, notifications, and overdue orders going
up township -> county -> city."""

from __future__ import annotations

import html
import io
import re
import secrets
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from PIL import Image

from contract.rules import Condition, Key
from simulators.registry_gen import generate_registry
from storage.alerts import open_alert
from storage.notifications import add_subscription
from storage.registry import load_registry
from storage.users import create_user
from supervision.orders import escalate_overdue
from tests.conftest import as_role
from tests.helpers import call
from web.app import create_app

REG = generate_registry(12, seed=3)
A = REG.facilities[0]
B = next(f for f in REG.facilities if f.county != A.county)


def png() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, Any]]:
    await load_registry(db, REG)
    alert = await open_alert(
        db, A.id, Key("guard_absent"), Condition("major", "保安缺岗", "no guard"), datetime.now(UTC)
    )
    users = {
        "town": await create_user(db, "town", "inspector", "pw-town", county=A.county, township=A.township),
        "county": await create_user(db, "county", "inspector", "pw-county", county=A.county),
        "city": await create_user(db, "city", "inspector", "pw-city"),
        "oper": await create_user(db, "oper", "operator", "pw-oper", facility=A.id),
        "other": await create_user(db, "other", "inspector", "pw-other", county=B.county),
        "oper_b": await create_user(db, "oper_b", "operator", "pw-oper-b", facility=B.id),
    }
    await add_subscription(db, users["oper"][0], "wecom", "oper-key-0001", None, None, "warning", None, "zh")
    await add_subscription(db, users["county"][0], "wecom", "county-key-001", None, None, "critical", None, "zh")
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/"), "alert": alert.alert_id} | {
            k: tok for k, (_, tok) in users.items()
        }
    finally:
        await server.close()


def due(days: float = 7) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def test_an_order_from_issue_to_acceptance(site: dict[str, Any], db: asyncpg.Connection) -> None:
    url = site["url"]
    body = {"title": "保安缺岗：补齐门卫", "detail": "依据 GB/T 29315-2022", "due_at": due(), "alert_id": site["alert"]}
    status, err = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["oper"], body)
    assert status == 403, "an operator does not order themselves"
    status, err = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], body | {"due_at": due(-1)})
    assert status == 400 and "due_at" in err["error"]
    status, err = await call("POST", f"{url}/api/v1/facilities/{B.id}/orders", site["town"], body)
    assert status == 404, "outside the scope"
    status, order = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], body)
    assert status == 201, order
    assert (order["status"], order["issued_level"], order["source"]) == ("issued", "township", "alert")
    oid = order["id"]
    # an acknowledgement of the alert changes nothing of the order
    status, _ = await call("POST", f"{url}/api/v1/alerts/{site['alert']}/ack", site["oper"], {"note": "已安排人员处置"})
    assert status == 200
    status, o = await call("GET", f"{url}/api/v1/orders/{oid}", site["oper"])
    assert o["status"] == "issued"
    for who in ("other", "oper_b"):
        status, _ = await call("GET", f"{url}/api/v1/orders/{oid}", site[who])
        assert status == 404, who
        status, _ = await call("POST", f"{url}/api/v1/orders/{oid}/answer", site[who], {"note": "x"})
        assert status == 404, who
        status, listed = await call("GET", f"{url}/api/v1/orders?status=all", site[who])
        assert listed == {"orders": []}, who
    status, _ = await call("POST", f"{url}/api/v1/orders/{oid}/review", site["town"], {"accept": True})
    assert status == 409, "nothing to review before an answer"
    status, _ = await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["town"], {"note": "x"})
    assert status == 403, "the facility answers"
    status, _ = await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["oper"], {"note": "  "})
    assert status == 400
    status, o = await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["oper"], {"note": "已招聘保安一名"})
    assert (status, o["status"]) == (200, "answered")
    status, _ = await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["oper"], {"note": "again"})
    assert status == 409, "answered once until it comes back"
    status, _ = await call("POST", f"{url}/api/v1/orders/{oid}/review", site["town"], {"accept": False, "note": ""})
    assert status == 400, "a sending back says why"
    back = {"accept": False, "note": "缺少上岗证明", "due_at": due(3)}
    status, o = await call("POST", f"{url}/api/v1/orders/{oid}/review", site["town"], back)
    assert o["status"] == "returned"
    status, o = await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["oper"], {"note": "补充保安证"})
    status, o = await call("POST", f"{url}/api/v1/orders/{oid}/review", site["county"], {"accept": True})
    assert (status, o["status"]) == (200, "accepted"), "the level above may review too"
    assert [h["action"] for h in o["history"]] == ["issued", "answered", "returned", "answered", "accepted"]
    assert o["closed_at"] is not None
    audits = [
        r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE action LIKE 'order.%' ORDER BY id")
    ]
    assert audits == ["order.issue", "order.answer", "order.returned", "order.answer", "order.accepted"]
    # the operator's channel heard of the issue, the sending back and the acceptance; the answers went to
    # the township (no channel there), the county's channel to nothing of this
    events = [
        (r["target"], r["event"].rsplit(":", 1)[0])
        for r in await db.fetch(
            "SELECT s.target, d.event FROM notification_deliveries d JOIN notification_subscriptions s"
            " ON s.id = d.subscription_id ORDER BY d.id"
        )
    ]
    assert events == [
        ("oper-key-0001", "order:issued"),
        ("oper-key-0001", "order:returned"),
        ("oper-key-0001", "order:accepted"),
    ]


async def test_overdue_orders_go_up_the_chain(site: dict[str, Any], db: asyncpg.Connection) -> None:
    url = site["url"]
    body = {"title": "消防通道堆放杂物", "due_at": due(1)}
    _, late = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], body)
    _, answered = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], body)
    await call("POST", f"{url}/api/v1/orders/{answered['id']}/answer", site["oper"], {"note": "已清理"})
    now = datetime.now(UTC)
    assert await escalate_overdue(db, now) == [], "not due yet"
    step = timedelta(days=3)
    [first] = await escalate_overdue(db, now + timedelta(days=1, hours=1), step)
    assert (first.order_id, first.audience_level) == (late["id"], "county"), "answered in time: not escalated"
    assert await escalate_overdue(db, now + timedelta(days=2), step) == [], "one step per period"
    [second] = await escalate_overdue(db, now + timedelta(days=4, hours=2), step)
    assert second.audience_level == "city"
    # the city is the top for the late one; the answer left unreviewed for a month is the township's own
    # delay and climbs now (issue #40 item 1)
    [review] = await escalate_overdue(db, now + timedelta(days=30), step)
    assert (review.order_id, review.audience_level) == (answered["id"], "county")
    # the clock of the pages is the real one: let the due date be past for them too
    await db.execute("UPDATE rectification_orders SET due_at = now() - interval '5 days'")
    status, o = await call("GET", f"{url}/api/v1/orders/{late['id']}", site["city"])
    assert status == 200 and o["supervision_level"] == "city" and o["overdue"] is True
    assert [h["detail"].get("to") for h in o["history"] if h["action"] == "escalated"] == ["county", "city"]
    # the county's 督办 inbox: overdue orders escalated to its level (now past it, at the city)
    _, mine = await call("GET", f"{url}/api/v1/orders?status=overdue&supervised=true", site["city"])
    assert [x["id"] for x in mine["orders"]] == [late["id"]]
    _, mine = await call("GET", f"{url}/api/v1/orders?status=overdue&supervised=true", site["county"])
    assert mine == {"orders": []}


async def _page_session(url: str, user: str, password: str) -> tuple[aiohttp.ClientSession, str]:
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await (await s.get(f"{url}/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    await s.post(f"{url}/login", data={"username": user, "password": password, "csrf": csrf})
    page = await (await s.get(f"{url}/orders")).text()
    return s, re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def test_evidence_is_checked_by_its_bytes_and_stays_in_scope(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    url = site["url"]
    _, order = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["county"], {"title": "灭火器过期", "due_at": due()}
    )
    s, csrf = await _page_session(url, "oper", "pw-oper")
    other, _ = await _page_session(url, "oper_b", "pw-oper-b")
    try:
        fake = aiohttp.FormData()
        fake.add_field("csrf", csrf)
        fake.add_field("note", "已更换")
        fake.add_field("evidence", b"<script>alert(1)</script>", filename="photo.png", content_type="image/png")
        r = await s.post(f"{url}/orders/{order['id']}/answer?lang=zh", data=fake)
        assert r.status == 400 and "只接受 JPG、PNG 或 PDF" in await r.text(), "a name and a type are not a picture"
        good = aiohttp.FormData()
        good.add_field("csrf", csrf)
        good.add_field("note", "已更换灭火器 4 具")
        good.add_field("evidence", png(), filename="灭火器.png", content_type="application/octet-stream")
        r = await s.post(f"{url}/orders/{order['id']}/answer", data=good)
        page = await r.text()
        assert r.status == 200 and "data-evidence" in page
        file_id = int(re.search(r'href="/evidence/(\d+)"', page).group(1))  # type: ignore[union-attr]
        r = await s.get(f"{url}/evidence/{file_id}")
        assert r.status == 200 and r.headers["Content-Type"] == "image/png"
        stored = await r.read()
        with Image.open(io.BytesIO(stored)) as got, Image.open(io.BytesIO(png())) as sent:
            assert got.size == sent.size and got.convert("RGB").getpixel((0, 0)) == sent.convert("RGB").getpixel((0, 0))
        assert (await other.get(f"{url}/evidence/{file_id}")).status == 404, "another facility's operator"
        assert (await other.get(f"{url}/orders/{order['id']}")).status == 404
        row = await db.fetchrow("SELECT filename, size_bytes, sha256 FROM evidence_files")
        assert row["filename"] == "灭火器.png" and row["size_bytes"] == len(stored)  # its pixels, re-encoded
    finally:
        await s.close()
        await other.close()


async def test_an_inspection_planned_recorded_signed_and_its_failed_item_ordered(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    url = site["url"]
    today = datetime.now(UTC).date().isoformat()
    status, _ = await call("POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["oper"], {"planned_for": today})
    assert status == 403, "operators are inspected, they do not inspect"
    status, _ = await call("POST", f"{url}/api/v1/facilities/{B.id}/inspections", site["town"], {"planned_for": today})
    assert status == 404
    status, err = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["town"], {"planned_for": "2020-01-01"}
    )
    assert status == 400 and "planned_for" in err["error"]
    status, insp = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["town"], {"planned_for": today, "kind": "remote"}
    )
    assert status == 201 and insp["status"] == "planned"
    iid = insp["id"]
    rec = f"{url}/api/v1/inspections/{iid}/record"
    status, err = await call("POST", rec, site["town"], {"findings": {"no_such": {"result": "pass"}}})
    assert status == 400
    status, err = await call("POST", rec, site["town"], {"findings": {"exits": {"result": "fail"}}, "sign": True})
    assert status == 400 and "no finding" in err["error"], "a record is signed complete or not at all"
    from contract.inspection import ITEMS

    findings = {code: {"result": "pass"} for code in ITEMS} | {"exits": {"result": "fail", "note": "二楼出口上锁"}}
    status, draft = await call("POST", rec, site["town"], {"findings": findings, "notes": "草稿"})
    assert (status, draft["status"]) == (200, "planned"), "a draft can be saved and saved again"
    body = {"findings": findings, "notes": "复查", "sign": True, "second_inspector": "county"}
    status, signed = await call("POST", rec, site["town"], body)
    assert (status, signed["status"], signed["failed"], signed["signed_by"]) == (200, "countersign", ["exits"], "town")
    status, signed = await call("POST", f"{url}/api/v1/inspections/{iid}/countersign", site["county"])
    assert (status, signed["status"], signed["countersigned_by"]) == (200, "signed", "county")
    # the failed item's order form is prefilled in the page's language (issue #41): its item's name and the note
    s, _ = await _page_session(url, "town", "pw-town")
    try:
        for lang, wanted in (
            ("zh", f"{ITEMS['exits'].zh}：二楼出口上锁"),
            ("en", f"{ITEMS['exits'].en}: 二楼出口上锁"),
        ):
            page = await (await s.get(f"{url}/inspections/{iid}?lang={lang}")).text()
            prefilled = re.search(r'<input name="title" maxlength="200" value="([^"]*)"', page)
            assert prefilled and html.unescape(prefilled.group(1)) == wanted, lang
    finally:
        await s.close()
    again = {"findings": findings, "sign": True, "second_inspector": "city"}
    status, _ = await call("POST", rec, site["county"], again)
    assert status == 409, "a signed record does not change"
    for who in ("other", "oper_b"):
        status, _ = await call("GET", f"{url}/api/v1/inspections/{iid}", site[who])
        assert status == 404, who
        _, listed = await call("GET", f"{url}/api/v1/inspections", site[who])
        assert listed == {"inspections": []}, who
    body = {"title": "安全出口上锁", "due_at": due(3), "inspection_id": iid}
    status, order = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], body)
    assert status == 201 and (order["source"], order["inspection_id"]) == ("inspection", iid)
    status, again = await call("GET", f"{url}/api/v1/inspections/{iid}", site["oper"])
    assert status == 200 and [o["id"] for o in again["orders"]] == [order["id"]], "the operator sees it too"
    audits = [r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE action LIKE 'inspection.%'")]
    assert audits == ["inspection.plan", "inspection.record", "inspection.sign", "inspection.countersign"]


async def test_every_supervision_endpoint_and_page_is_404_outside_the_scope(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    """An order, an inspection and an evidence file of facility A, asked for by the inspector and the
    operator of another county's facility B: every page and endpoint answers 404, writes included."""
    url = site["url"]
    _, order = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], {"title": "t", "due_at": due()}
    )
    today = datetime.now(UTC).date().isoformat()
    _, insp = await call("POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["town"], {"planned_for": today})
    s, csrf = await _page_session(url, "oper", "pw-oper")
    try:
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("note", "已整改")
        form.add_field("evidence", png(), filename="a.png", content_type="image/png")
        await s.post(f"{url}/orders/{order['id']}/answer", data=form)
    finally:
        await s.close()
    file_id = await db.fetchval("SELECT id FROM evidence_files")
    oid, iid = order["id"], insp["id"]
    for who in ("other", "oper_b"):
        for path in (f"/api/v1/orders/{oid}", f"/api/v1/inspections/{iid}"):
            status, _ = await call("GET", f"{url}{path}", site[who])
            assert status == 404, (who, path)
        writes = (
            (f"/api/v1/orders/{oid}/answer", {"note": "x"}),
            (f"/api/v1/orders/{oid}/review", {"accept": True}),
            (f"/api/v1/inspections/{iid}/record", {"findings": {}}),
            (f"/api/v1/facilities/{A.id}/orders", {"title": "t", "due_at": due()}),
            (f"/api/v1/facilities/{A.id}/inspections", {"planned_for": today}),
            (f"/api/v1/facilities/{A.id}/credit/2026-10/appeal", {"note": "x"}),
        )
        for path, body in writes:
            status, _ = await call("POST", f"{url}{path}", site[who], body)
            assert status == 404, (who, path)
        async with aiohttp.ClientSession() as s:
            for path in (f"/orders/{oid}", f"/inspections/{iid}", f"/evidence/{file_id}"):
                r = await s.get(f"{url}{path}", headers={"Authorization": f"Bearer {site[who]}"}, allow_redirects=False)
                assert r.status == 404, (who, path)
        for listing, key in (("/api/v1/orders?status=all", "orders"), ("/api/v1/inspections", "inspections")):
            _, body = await call("GET", f"{url}{listing}", site[who])
            assert body[key] == [], (who, listing)
        _, credit = await call("GET", f"{url}/api/v1/credit", site[who])
        assert A.id not in {r["facility_id"] for r in credit["facilities"]}, who
