"""The web app over real HTTP: scope (404 outside it, everywhere), ack, errors with reasons, login, stream."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from alerts.rules import Condition, Key
from alerts.store import open_alert
from ingest.registry_store import load_registry
from simulators.registry_gen import generate_registry
from web import reports
from web.app import create_app
from web.auth import create_user

REG = generate_registry(12, seed=3)
A, B = REG.facilities[0], next(f for f in REG.facilities if f.county != REG.facilities[0].county)


@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, object]]:
    await load_registry(db, REG)
    t0 = datetime.now(UTC)
    alert_a = await open_alert(db, A.id, Key("fire_alarm", "smoke-nap1"), Condition("critical", "火警", "fire"), t0)
    alert_b = await open_alert(db, B.id, Key("fire_alarm", "smoke-nap1"), Condition("critical", "火警", "fire"), t0)
    _, insp = await create_user(db, "insp-a", "inspector", "pw-a", county=A.county)
    _, oper = await create_user(db, "oper-b", "operator", "pw-b", facility=B.id)
    _, admin = await create_user(db, "admin", "admin", None)
    server = TestServer(create_app(db_url, secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        yield {
            "url": str(server.make_url("")).rstrip("/"),
            "insp": insp,
            "oper": oper,
            "admin": admin,
            "alert_a": alert_a.alert_id,
            "alert_b": alert_b.alert_id,
        }
    finally:
        await server.close()


async def get(url: str, token: str | None) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers, allow_redirects=False) as r:
        ctype = r.headers.get("Content-Type", "")
        return r.status, (await r.json()) if "json" in ctype else await r.text()


async def test_county_inspector_gets_404_outside_scope_everywhere(site: dict[str, object]) -> None:
    url, tok = site["url"], str(site["insp"])
    status, body = await get(f"{url}/api/v1/facilities", tok)
    assert status == 200
    ids = {f["id"] for f in body["facilities"]}  # type: ignore[index]
    assert A.id in ids
    assert B.id not in ids
    assert all(f["county"] == A.county for f in body["facilities"])  # type: ignore[index]
    for path in (
        f"/api/v1/facilities/{B.id}/status",
        f"/api/v1/facilities/{B.id}/readings?metric=co2_ppm",
        f"/facilities/{B.id}",
    ):
        status, _ = await get(f"{url}{path}", tok)
        assert status == 404, path
        status, _ = await get(f"{url}{path.replace(B.id, A.id)}", tok)
        assert status == 200, path
    status, body = await get(f"{url}/api/v1/alerts?status=all", tok)
    assert {a["facility_id"] for a in body["alerts"]} == {A.id}  # type: ignore[index]
    status, body = await get(f"{url}/api/v1/alerts?facility_id={B.id}", tok)
    assert body == {"alerts": []}
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            f"{url}/api/v1/alerts/{site['alert_b']}/ack", json={"note": "x"}, headers={"Authorization": f"Bearer {tok}"}
        )
        assert r.status == 404
        r = await s.post(
            f"{url}/api/v1/alerts/{site['alert_a']}/ack",
            json={"note": "已核实，误报"},
            headers={"Authorization": f"Bearer {tok}"},
        )
        assert r.status == 200
        acked = await r.json()
    assert acked["acknowledged"] is True
    assert acked["acknowledged_by"] == "insp-a"
    assert acked["note"] == "已核实，误报"


async def test_operator_sees_only_their_facility(site: dict[str, object]) -> None:
    url, tok = site["url"], str(site["oper"])
    status, body = await get(f"{url}/api/v1/facilities", tok)
    assert [f["id"] for f in body["facilities"]] == [B.id]  # type: ignore[index]
    assert (await get(f"{url}/api/v1/facilities/{A.id}/status", tok))[0] == 404
    status, body = await get(f"{url}/api/v1/facilities/{B.id}/status", tok)
    assert status == 200
    assert body["open_alerts"]["critical"] == 1  # type: ignore[index]
    assert body["devices"]["online"] + body["devices"]["offline"] == len(B.devices)  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/api/v1/alerts?status=maybe", "status must be one of"),
        ("/api/v1/alerts?severity=loud", "severity must be one of"),
        ("/api/v1/alerts?since=yesterday", "RFC 3339"),
        ("/api/v1/alerts?county=14", "6 digits"),
        ("/api/v1/facilities?township=x", "9 digits"),
        ("/api/v1/facilities/{A}/readings", "metric is required"),
        ("/api/v1/facilities/{A}/readings?metric=co2_ppm&bucket=fast", "bucket"),
        ("/api/v1/facilities/{A}/readings?metric=co2_ppm&bucket=1s&from=2020-01-01T00:00:00Z", "too many buckets"),
        ("/api/v1/nope", "Not Found"),
    ],
)
async def test_bad_requests_get_a_reason(site: dict[str, object], path: str, reason: str) -> None:
    status, body = await get(f"{site['url']}{path.replace('{A}', A.id)}", str(site["admin"]))
    assert 400 <= status < 500
    assert isinstance(body, dict)
    assert reason in body["error"]


async def test_no_token_and_bad_token(site: dict[str, object]) -> None:
    assert (await get(f"{site['url']}/api/v1/alerts", None))[0] == 401
    status, body = await get(f"{site['url']}/api/v1/alerts", "cw_forged")
    assert status == 401
    assert "token" in body["error"]  # type: ignore[index]
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            f"{site['url']}/api/v1/alerts/{site['alert_a']}/ack",
            data=b"{not json",
            headers={"Authorization": f"Bearer {site['admin']}"},
        )
        assert r.status == 400
        assert "JSON" in (await r.json())["error"]


async def test_browser_login_csrf_and_pages(site: dict[str, object]) -> None:
    url = site["url"]
    # unsafe=True: keep cookies from an IP-address host (the test server), as browsers do
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        r = await s.get(f"{url}/", allow_redirects=False)
        assert r.status == 302
        page = await (await s.get(f"{url}/login")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        r = await s.post(f"{url}/login", data={"username": "insp-a", "password": "pw-a"}, allow_redirects=False)
        assert r.status == 403, "no CSRF token, no login"
        r = await s.post(f"{url}/login", data={"username": "insp-a", "password": "wrong", "csrf": csrf})
        assert "错误" in await r.text()
        r = await s.post(f"{url}/login", data={"username": "insp-a", "password": "pw-a", "csrf": csrf})
        text = await r.text()
        assert A.name in text
        assert B.name not in text
        assert "English" in text
        en = await (await s.get(f"{url}/?lang=en")).text()
        assert "Overview" in en
        rep = await (await s.get(f"{url}/reports?lang=zh")).text()
        assert "评分方法" in rep
        assert A.name in rep
        assert B.name not in rep


async def test_stream_carries_only_in_scope_alerts(site: dict[str, object], db: asyncpg.Connection) -> None:
    url, tok = site["url"], str(site["insp"])
    got: list[tuple[str, dict[str, object]]] = []

    async def listen() -> None:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{url}/api/v1/stream", headers={"Authorization": f"Bearer {tok}"}) as r,
        ):
            event = ""
            async for raw in r.content:
                line = raw.decode().strip()
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in {"alert", "facility_status"}:
                    got.append((event, json.loads(line.split(":", 1)[1])))

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.5)
    now = datetime.now(UTC)
    await open_alert(db, B.id, Key("panic_button", "panic-gate"), Condition("critical", "报警", "panic"), now)
    await open_alert(db, A.id, Key("panic_button", "panic-gate"), Condition("critical", "报警", "panic"), now)
    for _ in range(50):
        if any(e == "facility_status" for e, _ in got):
            break
        await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [d["facility_id"] for e, d in got if e == "alert"] == [A.id]
    assert [(d["id"], d["state"]) for e, d in got if e == "facility_status"] == [(A.id, "red")]


async def test_report_minutes_score_and_csv(site: dict[str, object], db: asyncpg.Connection) -> None:
    """A known day: 30 min without a guard, one acknowledged critical alert 6 min after opening."""
    day_start = datetime(2026, 11, 23, 0, 0, tzinfo=reports.CITY_TZ)  # a past Monday
    t = day_start + timedelta(hours=10)
    guard = await open_alert(db, A.id, Key("guard_absent"), Condition("major", "保安", "guard"), t)
    await db.execute(
        "UPDATE alerts SET status = 'cleared', cleared_at = $2 WHERE id = $1", guard.alert_id, t + timedelta(minutes=30)
    )
    fire = await open_alert(db, A.id, Key("fire_alarm", "smoke-class1"), Condition("critical", "火", "fire"), t)
    await db.execute(
        "UPDATE alerts SET acknowledged = true, acknowledged_at = $2 WHERE id = $1",
        fire.alert_id,
        t + timedelta(minutes=6),
    )
    url, tok = site["url"], str(site["insp"])
    status, body = await get(f"{url}/api/v1/reports?period=day&date=2026-11-23", tok)
    assert status == 200
    rows = {r["facility_id"]: r for r in body["facilities"]}  # type: ignore[index]
    assert B.id not in rows, "scope holds for reports too"
    a = rows[A.id]
    assert (a["alerts"], a["critical"], a["major"]) == (2, 1, 1)
    assert a["minutes_without_guard"] == 30.0
    assert a["mean_ack_minutes"] == 6.0
    assert a["device_availability_pct"] == 100.0
    assert a["score"] == 100 - 10 - 5 - 3.0
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            f"{url}/api/v1/reports?period=month&date=2026-11-23&format=csv", headers={"Authorization": f"Bearer {tok}"}
        ) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/csv")
        text = await r.text()
    header, *lines = text.strip().splitlines()
    assert header.startswith("facility_id,name,county")
    assert any(line.startswith(A.id) for line in lines)
    status, body = await get(f"{url}/api/v1/reports?period=year", tok)
    assert status == 400
    assert "period" in body["error"]  # type: ignore[index]
    status, body = await get(f"{url}/api/v1/reports?date=30/11/2026", tok)
    assert status == 400
