"""The web app over real HTTP: scope (404 outside it, everywhere), ack, errors with reasons, login, stream."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from contract.clock import ScaledClock
from contract.labels import LABELS
from contract.occurred import clock_text
from contract.places import township_name
from contract.rules import REOPEN_WITHIN, Condition, Key
from simulators.registry_gen import generate_registry
from storage import intake
from storage.alerts import clear_alert, open_alert
from storage.registry import load_registry
from storage.users import create_user
from tests.conftest import as_role
from tests.helpers import night_badge, wait_for
from web import reports
from web.app import create_app

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
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
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


IN_SCOPE_PATHS = (
    "/api/v1/facilities/{f}/status",
    "/api/v1/facilities/{f}/readings?metric=co2_ppm",
    "/api/v1/facilities/{f}/timeline",
    "/api/v1/facilities/{f}/registry",
    "/api/v1/facilities/{f}/maintenance",
    "/api/v1/alerts/{a}",
    "/facilities/{f}",
    "/alerts/{a}",
)


async def last_heard(db: asyncpg.Connection, facility: str, device: str, at: datetime) -> None:
    """A device's state as ingest keeps it: online, last heard from at `at`."""
    await db.execute(
        "INSERT INTO device_state (facility_id, device_id, last_seen_at, online) VALUES ($1, $2, $3, true)",
        facility,
        device,
        at,
    )


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
    for path in IN_SCOPE_PATHS:  # every GET that names a facility or an alert, pages and API
        status, _ = await get(f"{url}{path.format(f=B.id, a=site['alert_b'])}", tok)
        assert status == 404, path
        status, _ = await get(f"{url}{path.format(f=A.id, a=site['alert_a'])}", tok)
        assert status == 200, path
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            f"{url}/api/v1/facilities/{B.id}/maintenance",
            json={"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-01T01:00:00Z", "reason": "x"},
            headers={"Authorization": f"Bearer {tok}"},
        )
        assert r.status == 404, "outside the scope: 404 before any role or body check"
    status, body = await get(f"{url}/api/v1/summary", tok)
    assert body["by_severity"]["critical"] == 1, "B's critical alert is not counted"  # type: ignore[index]
    # the wall's ?county= narrows a city-wide wall only: a county inspector's stays their own county
    for query in (f"county={B.county}", f"county={B.county}&fragment=1"):
        status, page = await get(f"{url}/wall?{query}", tok)
        assert status == 200 and B.id not in str(page) and A.id in str(page), query
    status, page = await get(f"{url}/?county={B.county}&township={B.township}", tok)
    assert B.id not in str(page), "a township outside the scope shows nothing of it"
    assert {a["code"] for a in body["areas"]} == {f.township for f in REG.facilities if f.county == A.county}  # type: ignore[index]
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
    # the first acknowledgement stands: another one (a page left open, another level) is refused, and the
    # record keeps who acknowledged it, when and what they noted (a newcomer's demo: a stale page's button
    # overwrote the city's acknowledgement)
    async with aiohttp.ClientSession() as s:
        r = await s.post(
            f"{url}/api/v1/alerts/{site['alert_a']}/ack",
            json={"note": "另一条说明"},
            headers={"Authorization": f"Bearer {site['admin']}"},
        )
        assert r.status == 409 and "acknowledged already by insp-a" in (await r.json())["error"]
    status, again = await get(f"{url}/api/v1/alerts/{site['alert_a']}", tok)
    assert (again["acknowledged_by"], again["note"], again["acknowledged_at"]) == (  # type: ignore[index]
        "insp-a",
        "已核实，误报",
        acked["acknowledged_at"],
    )


async def test_operator_sees_only_their_facility(site: dict[str, object]) -> None:
    url, tok = site["url"], str(site["oper"])
    status, body = await get(f"{url}/api/v1/facilities", tok)
    assert [f["id"] for f in body["facilities"]] == [B.id]  # type: ignore[index]
    assert (await get(f"{url}/api/v1/facilities/{A.id}/status", tok))[0] == 404
    status, body = await get(f"{url}/api/v1/facilities/{B.id}/status", tok)
    assert status == 200
    assert body["open_alerts"]["critical"] == 1  # type: ignore[index]
    counts = body["devices"]  # type: ignore[index]
    assert counts["online"] + counts["offline"] + counts["never_seen"] == len(B.devices)
    assert counts["never_seen"] == len(B.devices), "nothing was ever heard from them: not shown as offline"


async def test_navigation_is_the_roles_and_the_language_switch_keeps_the_query(site: dict[str, object]) -> None:
    """Issue #41: an operator's navigation offers the pages an operator uses, not the duty room's wall, the
    departments' assessment or the registry's upload; switching the language keeps the page's query
    (a county's view stayed that county's only in the language it was opened in)."""
    url = site["url"]
    status, page = await get(f"{url}/?county={A.county}", str(site["insp"]))
    assert status == 200
    nav = str(page).split("<nav>", 1)[1].split("</nav>", 1)[0]
    for href in ("/wall", "/assessment", "/registry", "/orders", "/alerts"):
        assert f'href="{href}"' in nav, href
    assert f'href="?county={A.county}&amp;lang=en"' in nav
    status, page = await get(f"{url}/alerts", str(site["oper"]))
    assert status == 200
    nav = str(page).split("<nav>", 1)[1].split("</nav>", 1)[0]
    for href in ("/wall", "/assessment", "/registry", "/dead-letters"):
        assert f'href="{href}"' not in nav, href
    for href in ("/orders", "/alerts", "/credit", "/settings/notifications"):
        assert f'href="{href}"' in nav, href


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
        ("/api/v1/alerts/99999999999999999999", "no such alert"),
        ("/api/v1/alerts?rule=a%00b", "invalid value"),
        ("/api/v1/facilities/{A}/timeline?since=noon", "RFC 3339"),
        ("/api/v1/facilities/{A}/maintenance?past=maybe", "past must be one of"),
        ("/api/v1/audit?before=x", "audit entry id"),
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


async def test_the_overview_says_where_its_time_went(site: dict[str, object]) -> None:
    """Server-Timing: the overview's phases, each a duration within the whole request's."""
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{site['url']}/", headers={"Authorization": f"Bearer {site['insp']}"}) as r,
    ):
        assert r.status == 200
        phases = dict(p.split(";dur=") for p in r.headers["Server-Timing"].split(", "))
    assert {"auth", "gateways", "facilities", "sql", "render", "app"} <= phases.keys()
    spent = {name: float(ms) for name, ms in phases.items()}
    assert all(ms >= 0 for ms in spent.values())
    assert sum(ms for name, ms in spent.items() if name != "app") <= spent["app"] + 0.5  # rounding


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
        assert "诚信评价" in rep
        assert A.name in rep
        assert B.name not in rep


async def collect_stream(url: str, token: str, got: list[tuple[str, Any]]) -> None:
    """Read /api/v1/stream as a browser would, appending (event, data) of alerts and states."""
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{url}/api/v1/stream", headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        event = ""
        async for raw in r.content:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in {"alert", "facility_status"}:
                got.append((event, json.loads(line.split(":", 1)[1])))


async def app_via_proxy(db_url: str, fault_proxy_factory: Any) -> tuple[TestServer, Any]:
    """The web app reaching PostgreSQL through a fault proxy (cut() / restore())."""
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(db_url)
    proxy = await fault_proxy_factory(u.hostname, u.port)
    via = urlunsplit(u._replace(netloc=u.netloc.rsplit(":", 1)[0] + f":{proxy.port}"))
    server = TestServer(create_app(via, secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    return server, proxy


async def test_stream_carries_only_in_scope_alerts(site: dict[str, object], db: asyncpg.Connection) -> None:
    url, tok = str(site["url"]), str(site["insp"])
    got: list[tuple[str, Any]] = []
    task = asyncio.create_task(collect_stream(url, tok, got))
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
    assert [d["facility_name"] for e, d in got if e == "alert"] == [A.name], "the banner names the facility"
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
    assert "score" not in a, "the grade is the credit evaluation's now"
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            f"{url}/api/v1/reports?period=month&date=2026-11-23&format=csv", headers={"Authorization": f"Bearer {tok}"}
        ) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/csv")
        text = await r.text()
    assert text.startswith("\ufeff"), "a byte-order mark: Excel and WPS then read UTF-8"
    header, *lines = text.lstrip("\ufeff").strip().splitlines()
    assert header.startswith("机构编号,机构名称,县（市、区）,乡镇（街道）")
    [line] = [line for line in lines if line.startswith(A.id)]
    assert f"{A.id},{A.name}," in line and township_name(A.township) in line, "names, not codes"
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            f"{url}/api/v1/reports?period=month&date=2026-11-23&format=csv&lang=en",
            headers={"Authorization": f"Bearer {tok}"},
        ) as r,
    ):
        assert (await r.text()).lstrip("\ufeff").startswith("Facility ID,Facility,County,Township")
    status, body = await get(f"{url}/api/v1/reports?period=year", tok)
    assert status == 400
    assert "period" in body["error"]  # type: ignore[index]
    status, body = await get(f"{url}/api/v1/reports?date=30/11/2026", tok)
    assert status == 400


async def post(url: str, token: str, **kw: object) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, headers={"Authorization": f"Bearer {token}"}, **kw) as r,  # type: ignore[arg-type]
    ):
        return r.status, await r.json()


async def test_maintenance_window_roles_validation_and_audit(site: dict[str, object], db: asyncpg.Connection) -> None:
    url = site["url"]
    start = datetime.now(UTC) - timedelta(minutes=1)
    good = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(), "reason": "换电池"}
    path = f"{url}/api/v1/facilities/{B.id}/maintenance"
    for body, reason in (
        ({**good, "reason": " "}, "reason is required"),
        ({**good, "ends_at": good["starts_at"]}, "ends_at must be after"),
        ({**good, "ends_at": "2020-01-01T00:00:00+08:00", "starts_at": "2019-12-31T00:00:00+08:00"}, "past"),
        ({**good, "device_id": "no-such-device"}, "not a device of this facility"),
        ({**good, "starts_at": "tomorrow"}, "RFC 3339"),
        ([1, 2], "JSON object"),
    ):
        status, err = await post(path, str(site["oper"]), json=body)
        assert status == 400, body
        assert reason in err["error"], err  # type: ignore[index]
    # an inspector in scope sets a window directly: approved at once (issue #37 item 3)
    status, set_ = await post(f"{url}/api/v1/facilities/{A.id}/maintenance", str(site["insp"]), json=good)
    assert status == 201 and (set_["status"], set_["decided_by"]) == ("approved", "insp-a"), set_  # type: ignore[index]
    device = B.devices[0].id
    status, made = await post(path, str(site["oper"]), json={**good, "device_id": device})
    assert status == 201
    assert (made["author"], made["status"]) == ("oper-b", "requested")  # type: ignore[index]
    status, listed = await get(path, str(site["oper"]))
    assert [w["id"] for w in listed["windows"]] == [made["id"]]  # type: ignore[index]
    from storage.maintenance import in_maintenance

    assert not await in_maintenance(db, B.id, device, datetime.now(UTC)), "a request mutes nothing"
    status, _ = await post(f"{path}/{made['id']}/approve", str(site["admin"]))  # type: ignore[index]
    assert status == 200
    # the alert engine's own check now mutes that device, not the others
    assert await in_maintenance(db, B.id, device, datetime.now(UTC))
    assert not await in_maintenance(db, B.id, B.devices[1].id, datetime.now(UTC))
    status, log = await get(f"{url}/api/v1/audit?action=maintenance.request", str(site["admin"]))
    assert status == 200
    assert [(e["actor"], e["target"], e["detail"]["reason"]) for e in log["entries"]] == [  # type: ignore[index]
        ("oper-b", B.id, "换电池")
    ]
    assert (await get(f"{url}/api/v1/audit", str(site["insp"])))[0] == 403


async def test_registry_load_by_admin_only_with_reasons(site: dict[str, object], db: asyncpg.Connection) -> None:
    import yaml

    url = site["url"]
    new = generate_registry(14, seed=3).facilities[13]
    assert new.id not in {f.id for f in REG.facilities}
    doc = yaml.safe_dump({"facilities": [new.model_dump(mode="json", by_alias=True, exclude_none=True)]})
    status, err = await post(f"{url}/api/v1/registry", str(site["insp"]), data=doc)
    assert status == 403
    for bad, reason in (("facilities: [", "not valid YAML"), ("facilities: [{id: X}]", "registry"), ("\xff", "UTF-8")):
        status, err = await post(f"{url}/api/v1/registry", str(site["admin"]), data=bad.encode("latin-1"))
        assert status == 400, bad
        assert reason in err["error"], err  # type: ignore[index]
    assert not await db.fetchval("SELECT count(*) FROM facilities WHERE id = $1", new.id), "a bad file changes nothing"
    status, out = await post(f"{url}/api/v1/registry", str(site["admin"]), data=doc.encode())
    assert status == 200
    assert out == {"facilities": 1, "devices": len(new.devices), "staff": len(new.staff), "children": len(new.children)}
    status, reg = await get(f"{url}/api/v1/facilities/{new.id}/registry", str(site["admin"]))
    assert status == 200
    assert {d["id"] for d in reg["devices"]} == {d.id for d in new.devices}  # type: ignore[index]
    status, log = await get(f"{url}/api/v1/audit?action=registry.load", str(site["admin"]))
    assert log["entries"][0]["detail"]["ids"] == [new.id]  # type: ignore[index]


async def test_alert_history_timeline_and_pages(site: dict[str, object], db: asyncpg.Connection) -> None:
    url, tok = site["url"], str(site["insp"])
    now = datetime.now(UTC)
    await db.execute(
        "INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, guardian_id, payload)"
        " VALUES ($1, $2, 'door-main', 'm1', 'child_out', 'c-1', NULL, '{}')",
        now - timedelta(minutes=2),
        A.id,
    )
    await db.execute(
        "INSERT INTO events (time, facility_id, device_id, msg_id, type, state, payload)"
        " VALUES ($1, $2, 'smoke-nap1', 'm2', 'smoke', 'active', '{}')",
        now - timedelta(minutes=1),
        A.id,
    )
    status, body = await get(f"{url}/api/v1/facilities/{A.id}/timeline", tok)
    assert [(i["kind"], i["type"]) for i in body["items"]] == [("event", "smoke"), ("access", "child_out")]  # type: ignore[index]
    status, _ = await post(f"{url}/api/v1/alerts/{site['alert_a']}/ack", tok, json={"note": "已到场查看"})
    assert status == 200
    status, a = await get(f"{url}/api/v1/alerts/{site['alert_a']}", tok)
    assert [h["action"] for h in a["history"]] == ["opened", "acknowledged"]  # type: ignore[index]
    assert a["history"][1]["actor"] == "insp-a"  # type: ignore[index]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        page = await (await s.get(f"{url}/login")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        await s.post(f"{url}/login", data={"username": "insp-a", "password": "pw-a", "csrf": csrf})
        text = await (await s.get(f"{url}/alerts/{site['alert_a']}")).text()
        assert 'data-action="acknowledged"' in text
        assert "已到场" in text
        text = await (await s.get(f"{url}/facilities/{A.id}")).text()
        assert 'data-kind="event"' in text
        assert "设置维护时段（直接生效）" in text, "an inspector in scope sets a window, approved at once"
        assert "/static/vendor/uplot/uPlot.iife.min.js" in text
        js = await s.get(f"{url}/static/vendor/uplot/uPlot.iife.min.js")
        assert js.status == 200
        text = await (await s.get(f"{url}/alerts?rule=fire_alarm&status=all")).text()
        assert f'data-alert="{site["alert_a"]}"' in text
        text = await (await s.get(f"{url}/alerts?rule=panic_button&status=all")).text()
        assert f'data-alert="{site["alert_a"]}"' not in text
        assert (await s.get(f"{url}/audit", allow_redirects=False)).status == 404, "admins only"
        text = await (await s.get(f"{url}/registry")).text()
        assert A.id in text
        assert B.id not in text
        assert 'name="file"' not in text, "only admins load a registry"


async def test_an_ended_alert_nobody_acknowledged_reads_as_ended_on_the_wall_and_the_overview(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """A panic button released stays listed until someone acknowledges it, but must not read as a
    panic going on: the duty room would send someone to a facility that is calm."""
    url, tok = site["url"], str(site["insp"])
    t0 = datetime.now(UTC)
    key = Key("panic_button", "panic-gate")
    panic = await open_alert(db, A.id, key, Condition("critical", "一键报警", "panic"), t0)
    await clear_alert(db, A.id, key, t0 + timedelta(seconds=5))
    for path in ("/wall?fragment=1", "/"):
        status, text = await get(f"{url}{path}", tok)
        assert status == 200, path
        items = dict(re.findall(r'<li[^>]*data-alert="(\d+)"[^>]*>(.*?)</li>', str(text), re.S))
        assert "已解除" in items[str(panic.alert_id)], f"{path}: the released panic button reads as ongoing"
        assert "已解除" not in items[str(site["alert_a"])], f"{path}: the fire alarm still going reads as ended"


async def test_a_panic_pressed_again_comes_to_the_top_of_the_wall_and_the_overview(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """Pressed 40 minutes ago, released, pressed again now: its old alert reopens (latching) and the
    wall's newest urgent alerts must show it first, with the time of the new press, above the fire
    alarm that opened a minute after the site's start but before this press."""
    url, tok = site["url"], str(site["insp"])
    now = datetime.now(UTC)
    key = Key("panic_button", "panic-gate")
    cond = Condition("critical", "一键报警", "panic")
    first = await open_alert(db, A.id, key, cond, now - timedelta(minutes=40))
    await clear_alert(db, A.id, key, now - timedelta(minutes=39))
    again = await open_alert(db, A.id, key, cond, now + timedelta(seconds=1))
    assert (again.action, again.alert_id) == ("reopened", first.alert_id)
    for path in ("/wall?fragment=1", "/"):  # the duty room's wall and the inspector's overview
        status, text = await get(f"{url}{path}", tok)
        assert status == 200
        order = re.findall(r'<li[^>]*data-alert="(\d+)"', str(text))
        assert order[:2] == [str(first.alert_id), str(site["alert_a"])], (path, order)
        item = re.search(rf'data-alert="{first.alert_id}"[^>]*>(.*?)</li>', str(text), re.S)
        assert item is not None and "40分钟前" not in item.group(1) and "次数 2" in item.group(1), (path, item)


async def test_an_alarm_a_day_after_the_last_is_a_new_alert_not_yesterdays_reopened(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """A fire alarm in the night, cleared and never acknowledged; another the next morning. Reopening the
    night's alert made the morning's read as the night's ("发生时间 昨天 00:28", 发生时闭园) while 51 children
    were on site (the demo, 2026-12-07). Within contract.rules.REOPEN_WITHIN of clearing it is the same
    incident; after that a new alert, and the night's still waits for its acknowledgement."""
    url, tok = site["url"], str(site["insp"])
    now = datetime.now(UTC)
    key = Key("smoke_alarm", "smoke-nap1")
    cond = Condition("critical", "烟感报警", "smoke alarm")
    night = await open_alert(db, A.id, key, cond, now - timedelta(hours=7))
    await clear_alert(db, A.id, key, now - timedelta(hours=7) + REOPEN_WITHIN / 2)
    morning = await open_alert(db, A.id, key, cond, now)
    assert morning.action == "opened" and morning.alert_id != night.alert_id
    assert morning.occurred_at == now, "the morning's alarm happened this morning"
    old = await db.fetchrow("SELECT status, acknowledged, count FROM alerts WHERE id = $1", night.alert_id)
    assert (old["status"], old["acknowledged"], old["count"]) == ("cleared", False, 1), "the night's waits, untouched"
    status, text = await get(f"{url}/alerts?status=open", tok)
    assert status == 200
    assert f'data-alert="{night.alert_id}"' in str(text) and f'data-alert="{morning.alert_id}"' in str(text)
    await clear_alert(db, A.id, key, now + REOPEN_WITHIN / 4)
    again = await open_alert(db, A.id, key, cond, now + REOPEN_WITHIN / 2)
    assert (again.action, again.alert_id) == ("reopened", morning.alert_id), "soon after clearing: the same incident"


async def test_city_overview_lists_facilities_needing_attention_and_drills_down(site: dict[str, object]) -> None:
    url, tok = site["url"], str(site["admin"])
    green = next(f for f in REG.facilities if f.id not in {A.id, B.id})
    status, page = await get(f"{url}/", tok)
    assert status == 200
    assert f'data-facility="{A.id}"' in str(page), "red: listed"
    assert f'data-facility="{green.id}"' not in str(page), "green: on the map only"
    points = json.loads(
        re.search(r'<script id="map-facilities" type="application/json">(.*?)</script>', str(page), re.S).group(1)
    )  # type: ignore[union-attr]
    by_id = {p[0]: p for p in points}  # [id, name, lon, lat, state, county, township]
    assert by_id[green.id][4] == "green" and by_id[green.id][5] == green.county, "green: on the map, in its county"
    assert by_id[A.id][1] == A.name and all(p[2] and p[3] for p in points)
    assert f'href="/?county={green.county}"' in str(page)
    status, page = await get(f"{url}/?county={green.county}", tok)
    assert f'data-facility="{green.id}"' in str(page), "a county's list has every facility"
    assert f'data-facility="{B.id}"' not in str(page) or B.county == green.county
    # the counters follow the drill-down: A's county counts A's critical alert, not B's
    status, page = await get(f"{url}/?county={A.county}", tok)
    assert f'data-county="{A.county}"' in str(page), "live.js refreshes the same county's counters"
    assert '<b data-sev-count="critical">1</b>' in str(page)
    status, page = await get(f"{url}/", tok)
    assert '<b data-sev-count="critical">2</b>' in str(page)
    status, body = await get(f"{url}/api/v1/summary?county={B.county}", tok)
    assert status == 200
    assert body["by_severity"]["critical"] == 1  # type: ignore[index]
    assert {a["code"] for a in body["areas"]} == {f.township for f in REG.facilities if f.county == B.county}  # type: ignore[index]
    status, body = await get(f"{url}/api/v1/summary?county=14", tok)
    assert status == 400
    # a township's view (issue #41 item 3): its facilities only, its counters, a bad code a 400
    status, body = await get(f"{url}/api/v1/summary?township={B.township}", tok)
    assert status == 200 and [a["code"] for a in body["areas"]] == [B.township]  # type: ignore[index]
    assert body["by_severity"]["critical"] == 1  # type: ignore[index]
    assert (await get(f"{url}/api/v1/summary?township=1409", tok))[0] == 400
    status, page = await get(f"{url}/?county={B.county}&township={B.township}", tok)
    listed = set(re.findall(r'<tr data-facility="([^"]+)"', str(page)))
    assert listed == {f.id for f in REG.facilities if f.township == B.township}, listed
    assert f'data-township="{B.township}"' in str(page) and '<b data-sev-count="critical">1</b>' in str(page)


async def test_database_out_of_reach_is_a_503_with_a_reason_then_recovers(
    db: asyncpg.Connection, db_url: str, fault_proxy_factory: Any
) -> None:
    """The app reaches PostgreSQL through a fault proxy; cut, every page and API call answers 503
    with Retry-After and a reason (never a 500) and the login form still loads; restored, the same
    calls answer 200 again."""
    await load_registry(db, REG)
    _, tok = await create_user(db, "insp-city", "inspector", None)
    server, proxy = await app_via_proxy(db_url, fault_proxy_factory)
    url = str(server.make_url("")).rstrip("/")
    paths = ["/api/v1/facilities", f"/api/v1/facilities/{A.id}/status", "/api/v1/summary", "/", f"/facilities/{A.id}"]
    try:
        for path in paths:
            assert (await get(url + path, tok))[0] == 200, path
        proxy.cut()
        for path in paths:
            async with (
                aiohttp.ClientSession() as s,
                s.get(url + path, headers={"Authorization": f"Bearer {tok}"}, allow_redirects=False) as r,
            ):
                assert r.status == 503, (path, r.status, await r.text())
                assert r.headers["Retry-After"] == "5"
                body = await r.json() if path.startswith("/api/") else {"error": await r.text()}
                assert "database is unavailable" in body["error"]
        status, _ = await get(f"{url}/healthz", None)
        assert status == 503
        # An anonymous request takes no database connection (issue #38 B: a flood of logins once queued
        # every signed-in user's request behind its own), so the login form is served all the same.
        async with aiohttp.ClientSession() as s, s.get(f"{url}/login") as r:
            assert r.status == 200, (r.status, await r.text())
            assert 'name="csrf"' in await r.text()
        proxy.restore()
        for path in paths:
            assert (await get(url + path, tok))[0] == 200, path
    finally:
        await server.close()


async def test_live_stream_survives_a_database_cut_and_resyncs(
    db: asyncpg.Connection, db_url: str, fault_proxy_factory: Any
) -> None:
    """The app's LISTEN connection goes through a fault proxy. Cut and restored, it is made again:
    the open stream first gets every in-scope facility's state (changes of the gap are lost), then
    new alerts as before. Before, the LISTEN connection died with the cut and the stream went quiet."""
    await load_registry(db, REG)
    _, tok = await create_user(db, "insp-a2", "inspector", None, county=A.county)
    in_scope = {f.id for f in REG.facilities if f.county == A.county}
    server, proxy = await app_via_proxy(db_url, fault_proxy_factory)
    url = str(server.make_url("")).rstrip("/")
    got: list[tuple[str, Any]] = []
    task = asyncio.create_task(collect_stream(url, tok, got))
    try:
        await asyncio.sleep(0.5)
        proxy.cut()
        await asyncio.sleep(1.5)
        proxy.restore()
        await wait_for(
            lambda: asyncio.sleep(0, result={d["id"] for e, d in got if e == "facility_status"} == in_scope),
            20,
            "a resync of every facility in scope",
        )
        assert not task.done(), "the browser's stream stayed open"
        await open_alert(
            db, A.id, Key("panic_button", "panic-gate"), Condition("critical", "报警", "panic"), datetime.now(UTC)
        )
        await wait_for(
            lambda: asyncio.sleep(0, result=any(e == "alert" and d["facility_id"] == A.id for e, d in got)),
            10,
            "the new alert on the stream",
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()


async def test_the_page_and_the_engine_share_the_offline_threshold(
    db: asyncpg.Connection, db_url: str, tmp_path: Path
) -> None:
    """A device last heard 310 s ago is offline by the default rules (3 heartbeats, 5 min at least) and
    online where the deployment's rules file allows 20 heartbeats: the web follows the engine's rules."""
    from contract.rules import load_rules

    await load_registry(db, REG)
    _, admin = await create_user(db, "admin", "admin", None)
    dev = B.devices[0]
    assert dev.heartbeat_s * 20 > 310
    heard = datetime.now(UTC) - timedelta(seconds=max(4 * dev.heartbeat_s, 310))
    await last_heard(db, B.id, dev.id, heard)
    over = tmp_path / "rules.yaml"
    over.write_text("device_offline: {threshold: {heartbeats: 20}}\n")
    seen = {}
    for name, rules in (("default", load_rules(None)), ("override", load_rules(over))):
        server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32), rules), host="127.0.0.1")
        await server.start_server()
        try:
            url = f"{str(server.make_url('')).rstrip('/')}/api/v1/facilities/{B.id}/status"
            async with (
                aiohttp.ClientSession() as s,
                s.get(url, headers={"Authorization": f"Bearer {admin}"}) as r,
            ):
                assert r.status == 200
                body = await r.json()
            seen[name] = next(d["online"] for d in body["device_list"] if d["id"] == dev.id)
        finally:
            await server.close()
    assert seen == {"default": False, "override": True}


async def test_a_slow_devices_lost_heartbeats_are_shown_silent_before_offline(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """Issue #42: a panic button (a heartbeat every 5 min) last heard 16 minutes ago has lost three
    heartbeats: its operator sees it silent, with how long and when it will be reported offline (the
    engine's alert comes at 22.5 min); one last heard 23 minutes ago is offline, and so is a smoke
    detector (every 2 min) after 10 minutes. The API says the same in `liveness`."""
    url, tok = site["url"], str(site["oper"])
    now = datetime.now(UTC)
    heard = {"panic-office": 16, "panic-gate": 23, "smoke-nap1": 10, "door-main": 1}
    for dev, minutes in heard.items():
        await last_heard(db, B.id, dev, now - timedelta(minutes=minutes))
    status, body = await get(f"{url}/api/v1/facilities/{B.id}/status", tok)
    assert status == 200
    seen = {d["id"]: d for d in body["device_list"] if d["id"] in heard}  # type: ignore[index]
    assert {k: (d["liveness"], d["online"]) for k, d in seen.items()} == {
        "panic-office": ("silent", True),
        "panic-gate": ("offline", False),
        "smoke-nap1": ("offline", False),
        "door-main": ("online", True),
    }
    assert 6 * 60 <= seen["panic-office"]["offline_in_s"] <= 7 * 60  # type: ignore[operator]
    assert body["devices"]["silent"] == 1  # type: ignore[index]
    status, page = await get(f"{url}/facilities/{B.id}", tok)
    assert status == 200 and isinstance(page, str)
    row = page[page.index('data-device="panic-office"') :].split("</tr>", 1)[0]
    assert "data-silent" in row and "静默" in row and "已约16分钟未报告" in row and "7分钟" in row
    assert page.count("data-silent") == 1
    _, en = await get(f"{url}/facilities/{B.id}?lang=en", tok)
    assert "not heard for about 16 min; reported offline if still silent in about 7 min" in str(en)


async def test_a_device_clock_learnt_slow_is_shown_for_the_installer(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """The alert engine learnt that a sensor's clock runs 10 minutes 12 s slow (device_clocks): the
    facility's status says so for that device alone, and its page asks, in the reader's language, for
    the device's time to be set."""
    url, tok = site["url"], str(site["insp"])
    dev = next(d for d in A.devices if d.type.value == "env_sensor")
    await db.execute(
        "INSERT INTO device_clocks (facility_id, device_id, skew_s, since) VALUES ($1, $2, 612.4, now())", A.id, dev.id
    )
    status, body = await get(f"{url}/api/v1/facilities/{A.id}/status", tok)
    assert status == 200
    slow = {d["id"]: d["clock_slow_s"] for d in body["device_list"] if d["clock_slow_s"] is not None}  # type: ignore[index]
    assert slow == {dev.id: 612}
    status, page = await get(f"{url}/facilities/{A.id}", tok)
    assert status == 200 and isinstance(page, str)
    row = page[page.index(f'data-device="{dev.id}"') :].split("</tr>", 1)[0]
    assert 'data-clock-slow="612"' in row and "设备时钟慢约 10 分钟" in row
    assert page.count("data-clock-slow") == 1
    _, en = await get(f"{url}/facilities/{A.id}?lang=en", tok)
    assert "device clock about 10 min slow" in str(en)


async def test_a_door_set_up_in_utc_still_puts_the_night_guard_on_site(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """The door controller's clock is 8 hours slow (set up in UTC wall time) and the alert engine has
    learnt it (device_clocks). The night guard badged in at 00:05 local; ingest stored the scan under
    the door's own time, 16:05 the day before. The facility's status counts the guard on site, and its
    timeline shows the badge at 00:05, as the engine judges it (before: no guard, and no badge today)."""
    url, tok = site["url"], str(site["insp"])
    guard = next(st.id for st in A.staff if st.role.value == "guard")
    now = datetime.now(UTC).replace(microsecond=0)
    real = night_badge(A.timezone, now)
    await db.execute(
        "INSERT INTO device_clocks (facility_id, device_id, skew_s, since) VALUES ($1, 'door-main', 28800, $2)",
        A.id,
        now - timedelta(days=3),
    )
    await db.execute(
        "INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, payload, received_at)"
        " VALUES ($1, $2, 'door-main', 'night-in', 'staff_in', $3, '{}', $4)",
        real - timedelta(hours=8),
        A.id,
        guard,
        real + timedelta(seconds=1),
    )
    status, body = await get(f"{url}/api/v1/facilities/{A.id}/status", tok)
    assert status == 200 and body["guards_on_site"] == 1, body  # type: ignore[index]
    status, tl = await get(f"{url}/api/v1/facilities/{A.id}/timeline", tok)
    assert status == 200
    badges = [i for i in tl["items"] if i["person_id"] == guard]  # type: ignore[index]
    assert [datetime.fromisoformat(i["time"]) for i in badges] == [real], badges


@pytest.mark.parametrize(("order", "present"), [(("child_in", "child_out"), 0), (("child_out", "child_in"), 1)])
async def test_on_site_now_breaks_same_second_ties_by_arrival(
    site: dict[str, object], db: asyncpg.Connection, order: tuple[str, str], present: int
) -> None:
    """Two scans of one child in the same second: the one that arrived last decides, as in the engine."""
    url, tok = site["url"], str(site["insp"])
    child = A.children[0]
    t = datetime.now(UTC).replace(microsecond=0)
    for i, kind in enumerate(order):
        await db.execute(
            "INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, payload)"
            " VALUES ($1, $2, 'door-main', $3, $4, $5, '{}')",
            t,
            A.id,
            f"tie-{i}",
            kind,
            child.id,
        )
    status, body = await get(f"{url}/api/v1/facilities/{A.id}/status", tok)
    assert status == 200
    assert body["children_present"] == present  # type: ignore[index]
    assert isinstance(body["open_now"], bool) and body["guards_required"] >= 1  # type: ignore[index]


async def test_the_alert_inbox_is_paged_and_sorted(site: dict[str, object], db: asyncpg.Connection) -> None:
    """Issue #17 item 6: a city's inbox of hundreds of alerts in pages of 50, sortable by a column."""
    t0 = datetime.now(UTC)
    for i in range(58):  # with the fixture's two: 60 open alerts, 55 of them minor
        sev = "major" if i < 3 else "minor"
        await open_alert(db, A.id, Key("device_offline", f"dev-{i:02d}"), Condition(sev, "离线", "offline"), t0)
    url, tok = str(site["url"]), str(site["admin"])
    headers = {"Authorization": f"Bearer {tok}"}

    async def rows(query: str) -> tuple[list[str], str]:
        async with aiohttp.ClientSession() as s, s.get(f"{url}/alerts?{query}", headers=headers) as r:
            assert r.status == 200
            html = await r.text()
        return re.findall(r'<tr data-alert="\d+" class="sev-(\w+)">', html), html

    first, html = await rows("sort=severity&order=desc")
    assert len(first) == 50 and first[:5] == ["critical", "critical", "major", "major", "major"]
    assert 'rel="next"' in html and 'rel="prev"' not in html
    second, html = await rows("sort=severity&order=desc&page=2")
    assert second == ["minor"] * 10 and 'rel="prev"' in html and 'rel="next"' not in html
    ascending, _ = await rows("sort=severity&order=asc")
    assert ascending[0] == "minor" and ascending.count("critical") == 0, "the two critical ones are on page 2"
    _, html = await rows("sort=nonsense&page=0")  # odd values: the default order, page 1
    assert 'data-page="1"' in html


async def test_a_critical_alert_is_not_acknowledged_without_a_note(site: dict[str, object]) -> None:
    """Issue #16: an operator must not silence their own fire alarm with an empty click."""
    url, tok = str(site["url"]), str(site["oper"])
    headers = {"Authorization": f"Bearer {tok}"}
    async with aiohttp.ClientSession() as s:
        for note in ("", "   "):
            async with s.post(f"{url}/api/v1/alerts/{site['alert_b']}/ack", json={"note": note}, headers=headers) as r:
                assert r.status == 400
                assert "note" in (await r.json())["error"]
        async with s.post(
            f"{url}/api/v1/alerts/{site['alert_b']}/ack", json={"note": "现场查看：厨房油烟，已通风"}, headers=headers
        ) as r:
            assert r.status == 200
            assert (await r.json())["acknowledged"] is True


async def test_a_major_or_critical_alert_needs_a_note_of_substance_a_minor_one_none(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """The operator of B tries to close its own fire alarm (critical) and a major alert with a blank, a
    whitespace, a one-character, a punctuation-only and a repeated-letter note: each is a 400 with the reason,
    in Chinese on the Chinese page and in English on the English one, and the page keeps what was typed.
    Before, only a critical alert needed a note and any non-blank one did ("x" closed a fire alarm), and a
    major alert needed none. A minor alert is still acknowledged without a note."""
    t0 = datetime.now(UTC)
    major = await open_alert(db, B.id, Key("device_offline", "cam-1"), Condition("major", "离线", "offline"), t0)
    minor = await open_alert(db, B.id, Key("co2_high", "co2-1"), Condition("minor", "二氧化碳偏高", "CO2 high"), t0)
    url, tok = str(site["url"]), str(site["oper"])
    headers = {"Authorization": f"Bearer {tok}"}
    async with aiohttp.ClientSession() as s:
        for alert in (site["alert_b"], major.alert_id):
            for note in ("", "   ", "x", "好", "ok", "。。。。", "aaaa", " a.b "):
                async with s.post(f"{url}/api/v1/alerts/{alert}/ack", json={"note": note}, headers=headers) as r:
                    assert r.status == 400, (alert, note, r.status)
                    assert "at least 4 letters or digits" in (await r.json())["error"], note
        async with s.post(f"{url}/api/v1/alerts/{minor.alert_id}/ack", json={"note": ""}, headers=headers) as r:
            assert r.status == 200, "a minor alert needs no note"
    s2, csrf = await _logged_in(url, "oper-b", "pw-b")
    try:
        typed = "已阅 。"
        r = await s2.post(f"{url}/alerts/{major.alert_id}/ack?lang=zh", data={"csrf": csrf, "note": typed})
        text = await r.text()
        assert r.status == 400 and "至少4个字" in text and f'value="{typed}"' in text, "refused, the note kept"
        r = await s2.post(f"{url}/alerts/{major.alert_id}/ack?lang=en", data={"csrf": csrf, "note": "…"})
        assert r.status == 400 and "critical or major alert needs a note" in await r.text()
        r = await s2.post(f"{url}/alerts/{major.alert_id}/ack", data={"csrf": csrf, "note": "摄像头断电，已重启"})
        assert r.status == 200 and str(r.url).endswith("/alerts")
    finally:
        await s2.close()
    _, a = await get(f"{url}/api/v1/alerts/{major.alert_id}", tok)
    assert a["acknowledged"] is True and a["note"] == "摄像头断电，已重启"  # type: ignore[index]
    _, a = await get(f"{url}/api/v1/alerts/{site['alert_b']}", tok)
    assert a["acknowledged"] is False, "no near-blank note acknowledged the fire alarm"  # type: ignore[index]


async def _logged_in(url: str, username: str, password: str) -> tuple[aiohttp.ClientSession, str]:
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies of an IP-address host
    page = await (await s.get(f"{url}/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = await s.post(f"{url}/login", data={"username": username, "password": password, "csrf": csrf})
    assert r.status == 200 and "/login" not in str(r.url)
    page = await (await s.get(f"{url}/settings/notifications")).text()
    return s, re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def test_notification_settings_own_scope_reasons_and_audit(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """A user manages their own channels; a bad key or a facility outside the scope is refused with the
    reason in the page's language (400), another user's channel reads as none (404), every change and
    test message is in the audit log, and only admins see everyone's deliveries."""
    url = str(site["url"])
    s, csrf = await _logged_in(url, "insp-a", "pw-a")
    other, other_csrf = await _logged_in(url, "oper-b", "pw-b")
    try:
        form = {"csrf": csrf, "channel": "wecom", "min_severity": "major", "lang": "zh"}
        r = await s.post(f"{url}/settings/notifications", data=form | {"target": "bad key!"})
        assert r.status == 400 and "企业微信机器人的 key 不正确" in await r.text()
        r = await s.post(
            f"{url}/settings/notifications?lang=en", data=form | {"target": "abcd1234", "facilities": B.id}
        )
        assert r.status == 400 and "not in your scope" in await r.text()
        r = await s.post(
            f"{url}/settings/notifications?lang=zh", data=form | {"target": "abcd1234", "quiet_start": "22:00"}
        )
        assert r.status == 400 and "免打扰时段" in await r.text()
        pasted = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"
        r = await s.post(
            f"{url}/settings/notifications",
            data=form | {"target": pasted, "facilities": A.id, "quiet_start": "22:00", "quiet_end": "07:00"},
        )
        assert r.status == 200
        page = await r.text()
        assert "693a…5aaa" in page and "693a91f6-7aaa" not in page, "the key is masked"
        sub = await db.fetchrow("SELECT * FROM notification_subscriptions")
        assert sub["target"] == "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa" and sub["facilities"] == [A.id]
        r = await other.post(f"{url}/settings/notifications/{sub['id']}/delete", data={"csrf": other_csrf})
        assert r.status == 404, "another user's channel"
        r = await s.post(f"{url}/settings/notifications/{sub['id']}/test?lang=zh", data={"csrf": csrf})
        assert r.status == 200 and "测试消息已排队" in await r.text()
        assert await db.fetchval("SELECT event FROM notification_deliveries") == "test"
        r = await s.get(f"{url}/admin/notifications")
        assert r.status == 404, "admins only"
        r = await s.post(f"{url}/settings/notifications/{sub['id']}/delete", data={"csrf": csrf})
        assert r.status == 200
        assert await db.fetchval("SELECT count(*) FROM notification_subscriptions") == 0
        assert await db.fetchval("SELECT count(*) FROM notification_deliveries") == 1, "the history stays"
        actions = [
            r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE actor = 'insp-a' ORDER BY id")
        ]
        assert actions[-3:] == ["notification.subscribe", "notification.test", "notification.delete"]
        r = await s.post(f"{url}/settings/notifications", data={k: v for k, v in form.items() if k != "csrf"})
        assert r.status == 403, "no CSRF token"
    finally:
        await s.close()
        await other.close()


async def test_form_refusals_read_in_the_pages_language(site: dict[str, object]) -> None:
    """A form the server refuses shows the page again with the reason in the page's language (the API
    keeps its English reason): a critical alert acknowledged with a blank note, a maintenance window
    that ends before it starts."""
    url = str(site["url"])
    s, csrf = await _logged_in(url, "oper-b", "pw-b")
    try:
        r = await s.post(f"{url}/alerts/{site['alert_b']}/ack?lang=zh", data={"csrf": csrf, "note": "   "})
        text = await r.text()
        assert r.status == 400 and "确认危急或严重告警须填写现场核实和处置情况" in text and "data-alert-page=" in text
        r = await s.post(f"{url}/alerts/{site['alert_b']}/ack?lang=en", data={"csrf": csrf, "note": ""})
        assert r.status == 400 and "needs a note" in await r.text()
        window = {"csrf": csrf, "starts_at": "2030-01-02T10:00", "ends_at": "2030-01-02T09:00", "reason": "检修"}
        r = await s.post(f"{url}/facilities/{B.id}/maintenance?lang=zh", data=window)
        assert r.status == 400 and "结束时间须晚于开始时间" in await r.text()
        r = await s.post(f"{url}/alerts/{site['alert_a']}/ack", data={"csrf": csrf, "note": "x"})
        assert r.status == 404, "outside the operator's scope"
        r = await s.get(f"{url}/credit?month=2026-1&lang=zh")
        assert r.status == 400 and "月份格式应为" in await r.text()
        assert r.content_type == "text/html" and "请求有误" in await r.text(), "a page of the site"
        r = await s.get(f"{url}/alerts/{site['alert_a']}?lang=en")
        assert (r.status, r.content_type) == (404, "text/html") and "Not found, or not in your scope" in await r.text()
        r = await s.get(f"{url}/orders?status=nonsense&lang=zh")
        assert r.status == 400 and "请求有误" in await r.text()
    finally:
        await s.close()
    # an order to B (by the admin), answered on the page with evidence that is no image: the reason, and the
    # operator's text still in the box (a newcomer lost it on a refused form)
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    status, order = await post(
        f"{url}/api/v1/facilities/{B.id}/orders", str(site["admin"]), json={"title": "出口整改", "due_at": due}
    )
    assert status == 201, order
    s, csrf = await _logged_in(url, "oper-b", "pw-b")
    try:
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("note", "东侧出口杂物已清理，已安排每日检查")
        form.add_field("evidence", b"not an image", filename="x.jpg", content_type="image/jpeg")
        r = await s.post(f"{url}/orders/{order['id']}/answer?lang=zh", data=form)  # type: ignore[index]
        text = await r.text()
        assert r.status == 400 and "东侧出口杂物已清理，已安排每日检查</textarea>" in text, text[-2000:]
    finally:
        await s.close()
    s, csrf = await _logged_in(url, "insp-a", "pw-a")
    try:  # a due date that is no date reads as the order form's own reason, not the API's
        r = await s.post(f"{url}/facilities/{A.id}/orders?lang=zh", data={"csrf": csrf, "title": "x", "due_at": "明天"})
        assert r.status == 400 and "整改期限须在今后 30 天之内" in await r.text()  # the policy (#40 item 2)
    finally:
        await s.close()


def test_map_points_cannot_break_out_of_their_script_element() -> None:
    from web.pages.overview import map_points_json

    name = "</script><img src=x onerror=alert(1)>'&托育"
    out = str(
        map_points_json(
            [
                {
                    "id": "f1",
                    "name": name,
                    "location": {"lon": 112.7, "lat": 38.4},
                    "state": "red",
                    "county": "140902",
                    "township": "140902001",
                }
            ]
        )
    )
    assert not any(c in out for c in "<>&'"), out
    assert json.loads(out) == [["f1", name, 112.7, 38.4, "red", "140902", "140902001"]]


async def map_and_list(url: str, tok: str, fac: Any) -> tuple[str, str, str, Any]:
    """A facility's state on the overview's map and in the API's list; the overview and the list."""
    _, page = await get(f"{url}/", tok)
    m = re.search(r'<script id="map-facilities" type="application/json">(.*?)</script>', str(page), re.S)
    assert m is not None
    on_map = next(p[4] for p in json.loads(m.group(1)) if p[0] == fac.id)
    _, listed = await get(f"{url}/api/v1/facilities?county={fac.county}", tok)
    in_list = next(f["state"] for f in listed["facilities"] if f["id"] == fac.id)  # type: ignore[index]
    return on_map, in_list, str(page), listed


async def test_a_silent_gateway_greys_its_facility_on_every_view(
    site: dict[str, object], db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A facility whose gateway went silent is grey (its data may be missing) on the overview's map, the
    facility list and the summary's counts; the overview's uplink snapshot (web/keys.py) sees the gateway
    come back once its few seconds are up, the list at once."""
    from web.keys import GatewaySnapshot

    monkeypatch.setattr(GatewaySnapshot, "TTL_S", 1.0)
    url, tok = site["url"], str(site["admin"])
    quiet = next(
        f for f in REG.facilities if f.id not in {A.id, B.id} and any(d.type.value == "gateway" for d in f.devices)
    )
    gw = next(d for d in quiet.devices if d.type.value == "gateway")
    long_ago = datetime.now(UTC) - timedelta(seconds=max(4 * gw.heartbeat_s, 400))
    await last_heard(db, quiet.id, gw.id, long_ago)

    async def views() -> tuple[str, str, int]:
        on_map, in_list, _, _ = await map_and_list(url, tok, quiet)
        _, summary = await get(f"{url}/api/v1/summary", tok)
        greys = sum(a["grey"] for a in summary["areas"])  # type: ignore[index]
        return on_map, in_list, greys

    assert await views() == ("grey", "grey", 1)
    await db.execute(
        "UPDATE device_state SET last_seen_at = now() WHERE facility_id = $1 AND device_id = $2", quiet.id, gw.id
    )
    _, in_list, _ = await views()  # the map may still show grey for up to TTL_S: not asserted (timing)
    assert in_list == "green", "the list reads the gateway on every request"
    await asyncio.sleep(GatewaySnapshot.TTL_S + 0.2)
    assert await views() == ("green", "green", 0)


async def test_a_platform_outage_is_no_devices_silence_on_the_pages(
    site: dict[str, object], db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole platform was down for eleven minutes, the broker with it: what the devices sent
    meanwhile reached no one. Ingest is back, connected a minute ago and caught up (each report made
    by the real `intake.beat`, which takes the gap from its previous run's last caught-up time). A
    gateway heard 30 s before the outage is not silent: the platform was, and the page counts its
    silence as the alert engine does (CONTRACT §4), not as twelve minutes. A device silent for nearly
    its whole offline threshold before the outage is offline: its silence went on before and after.
    A second worker that listened all along makes the gap nobody's: then the gateway was silent."""
    from web.keys import GatewaySnapshot, IntakeSnapshot

    monkeypatch.setattr(GatewaySnapshot, "TTL_S", 0.0)
    monkeypatch.setattr(IntakeSnapshot, "TTL_S", 0.0)
    url, tok = site["url"], str(site["admin"])
    fac = next(
        f
        for f in REG.facilities
        if f.id not in {A.id, B.id} and any(d.type.value == "gateway" for d in f.devices) and len(f.devices) > 2
    )
    gw = next(d for d in fac.devices if d.type.value == "gateway")
    dying = next(d for d in fac.devices if d.type.value != "gateway")
    threshold = timedelta(seconds=max(3 * dying.heartbeat_s, 300))  # contract.rules device_offline
    now = datetime.now(UTC)
    deaf_from = now - timedelta(minutes=12)  # the last time ingest had stored everything
    back = now - timedelta(minutes=1)
    await last_heard(db, fac.id, gw.id, deaf_from - timedelta(seconds=30))
    await last_heard(db, fac.id, dying.id, deaf_from - threshold + timedelta(seconds=20))

    await intake.beat(db, "ingest-1", deaf_from, [], listening_since=now - timedelta(days=1), now=now)  # last run
    await intake.beat(db, "ingest-1", None, [], listening_since=back, now=now)  # a new run, connected, reading
    await intake.beat(db, "ingest-1", now, [], listening_since=back, now=now)  # caught up

    async def views() -> tuple[str, str, bool, bool]:
        on_map, in_list, _, _ = await map_and_list(url, tok, fac)
        _, status = await get(f"{url}/api/v1/facilities/{fac.id}/status", tok)
        online = {d["id"]: d["online"] for d in status["device_list"]}  # type: ignore[index]
        assert status["intake"]["state"] == "ok"  # type: ignore[index]
        return on_map, in_list, online[gw.id], online[dying.id]

    assert await views() == ("green", "green", True, False)
    # the page says why a gateway heard twelve minutes ago shows online: the gap, by the facility's clock
    _, status = await get(f"{url}/api/v1/facilities/{fac.id}/status", tok)
    gap = status["intake"]["gap"]  # type: ignore[index]
    assert datetime.fromisoformat(gap["from"]) == deaf_from + timedelta(seconds=intake.BEAT_S), gap
    assert datetime.fromisoformat(gap["to"]) == back, gap
    local = ZoneInfo(fac.timezone)
    for lang, words in (("zh", "未接收数据"), ("en", "received no data")):
        _, page = await get(f"{url}/facilities/{fac.id}?lang={lang}", tok)
        note = re.search(r"<p class=\"note\" data-intake-gap>(.*?)</p>", str(page), re.S)
        assert note is not None and words in note.group(1), lang
        for t in (deaf_from + timedelta(seconds=intake.BEAT_S), back):
            assert f"{t.astimezone(local):%H:%M}" in note.group(1), (lang, note.group(1))

    # another worker listened all along, caught up: the broker was up and nothing came from the gateway
    await intake.beat(db, "ingest-2", now, [], listening_since=now - timedelta(days=1), now=datetime.now(UTC))
    assert await views() == ("grey", "grey", False, False)
    _, page = await get(f"{url}/facilities/{fac.id}", tok)
    assert "data-intake-gap" not in str(page), "no gap the platform as a whole had"


async def test_an_intake_outage_greys_no_facility_and_every_page_says_so(
    site: dict[str, object], db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest stopped ten minutes ago (storage.intake): a gateway last stored 30 s before that is not
    silent, the platform was. Its facility stays green on the map, in the list and in its status, and
    every page says since when no data came in. Once ingest reports again, caught up, the same gateway
    is grey; while it reads a backlog, pages say how far behind it is."""
    from web.keys import GatewaySnapshot, IntakeSnapshot

    monkeypatch.setattr(GatewaySnapshot, "TTL_S", 0.0)
    monkeypatch.setattr(IntakeSnapshot, "TTL_S", 0.0)
    url, tok = site["url"], str(site["admin"])
    fac = next(
        f for f in REG.facilities if f.id not in {A.id, B.id} and any(d.type.value == "gateway" for d in f.devices)
    )
    gw = next(d for d in fac.devices if d.type.value == "gateway")
    stopped = datetime.now(UTC) - timedelta(minutes=10)
    await last_heard(db, fac.id, gw.id, stopped - timedelta(seconds=30))

    async def clock(caught_up_at: datetime, beat_at: datetime, worker: str = "ingest-1") -> None:
        await db.execute(
            "INSERT INTO intake_clock (worker, caught_up_at, beat_at) VALUES ($3, $1, $2) ON CONFLICT (worker)"
            " DO UPDATE SET caught_up_at = EXCLUDED.caught_up_at, beat_at = EXCLUDED.beat_at",
            caught_up_at,
            beat_at,
            worker,
        )

    async def views() -> tuple[str, str, bool, object, str, str]:
        on_map, in_list, page, listed = await map_and_list(url, tok, fac)
        _, status = await get(f"{url}/api/v1/facilities/{fac.id}/status", tok)
        gw_online = next(d["online"] for d in status["device_list"] if d["id"] == gw.id)  # type: ignore[index]
        assert status["intake"]["state"] == listed["intake"]["state"]  # type: ignore[index]
        _, fpage = await get(f"{url}/facilities/{fac.id}", tok)
        return on_map, in_list, gw_online, listed["intake"], str(page), str(fpage)  # type: ignore[index]

    await clock(stopped, stopped)
    on_map, in_list, gw_online, state, page, fpage = await views()
    assert (on_map, in_list, gw_online) == ("green", "green", True)
    assert isinstance(state, dict) and state["state"] == "stopped" and state["behind_s"] >= 590
    as_of = (stopped + timedelta(seconds=intake.BEAT_S)).astimezone(ZoneInfo("Asia/Shanghai"))
    for html in (page, fpage):
        assert 'data-intake="stopped"' in html and "数据接收已中断" in html
        assert re.search(f"{as_of:%H:%M}（\\d+分钟前）", html), "since when, by the clock and how long ago"
    _, en = await get(f"{url}/alerts?lang=en", tok)
    assert 'data-intake="stopped"' in str(en) and "Data intake stopped" in str(en)
    _, wall = await get(f"{url}/wall?fragment=1", tok)  # the duty-room wall refreshes only this part
    assert 'data-intake="stopped"' in str(wall)

    now = datetime.now(UTC)
    await clock(stopped, now)  # reporting again, reading what the broker kept meanwhile
    on_map, in_list, gw_online, state, page, _ = await views()
    assert (on_map, in_list, gw_online) == ("green", "green", True)
    assert isinstance(state, dict) and state["state"] == "behind"
    assert 'data-intake="behind"' in page and "约落后 10 分钟" in page

    await clock(now, now, "ingest-2")  # a second worker, caught up: the first, behind, still holds all back
    on_map, in_list, gw_online, state, page, _ = await views()
    assert (on_map, in_list, gw_online, state["state"]) == ("green", "green", True, "behind")  # type: ignore[index]

    await clock(stopped, stopped)  # the first worker gone for good: its peers took its share, as of theirs
    on_map, in_list, gw_online, state, page, fpage = await views()
    assert (on_map, in_list, gw_online) == ("grey", "grey", False)
    assert isinstance(state, dict) and state["state"] == "ok"
    assert "data-intake" not in page and "data-intake" not in fpage
    await db.execute("DELETE FROM intake_clock WHERE worker = 'ingest-2'")

    await clock(now, now)  # caught up: the gateway really is silent
    on_map, in_list, gw_online, state, page, fpage = await views()
    assert (on_map, in_list, gw_online) == ("grey", "grey", False)
    assert isinstance(state, dict) and state["state"] == "ok"
    assert "data-intake" not in page and "data-intake" not in fpage


async def test_an_alarm_known_late_says_when_it_happened_on_every_page(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """A panic pressed an hour ago while the gateway was offline, known now from its spool: every page
    that shows the alert says both times, "17:15 按下（18:15 收到，网关离线期间）"; the API gives
    `occurred_at` and `delay_cause`. The fire alarm known in time keeps its one time, nothing more."""
    url, tok = site["url"], str(site["insp"])
    now = datetime.now(UTC)
    pressed = now - timedelta(minutes=60)
    late = Condition("critical", "一键报警被按下（panic-gate）", "panic", at=pressed, cause="uplink")
    panic = await open_alert(db, A.id, Key("panic_button", "panic-gate"), late, now)
    # each time with its date when the other is on another day (pressed 23:09, received 00:09 the next day: CI
    # ran this at 00:09 in Xinzhou and the received time says "12月8日 00:09")
    t1, t2 = clock_text(pressed, A.timezone, now, "zh"), clock_text(now, A.timezone, pressed, "zh")
    told = f"{t1} 按下（{t2} 收到，网关离线期间）"
    for path in ("/", "/wall?fragment=1", f"/alerts/{panic.alert_id}", "/alerts?status=all", f"/facilities/{A.id}"):
        status, text = await get(f"{url}{path}", tok)
        assert status == 200, path
        items = dict(re.findall(r'<(?:li|tr)[^>]*data-alert="(\d+)"[^>]*>(.*?)</(?:li|tr)>', str(text), re.S))
        assert told in items[str(panic.alert_id)], (path, items[str(panic.alert_id)])
        assert "收到" not in items.get(str(site["alert_a"]), ""), f"{path}: the fire alarm was known in time"
    status, text = await get(f"{url}/alerts/{panic.alert_id}?lang=en", tok)
    assert "pressed" in str(text) and "(received" in str(text) and "while the gateway was offline" in str(text)
    status, body = await get(f"{url}/api/v1/alerts/{panic.alert_id}", tok)
    assert body["occurred_at"] == pressed.isoformat()  # type: ignore[index]
    assert body["opened_at"] == now.isoformat()  # type: ignore[index]
    assert body["delay_cause"] == "uplink"  # type: ignore[index]
    status, body = await get(f"{url}/api/v1/alerts/{site['alert_a']}", tok)
    assert body["occurred_at"] == body["opened_at"] and body["delay_cause"] is None  # type: ignore[index]


async def _inspector(url: str) -> aiohttp.ClientSession:
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await (await s.get(f"{url}/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = await s.post(f"{url}/login", data={"username": "insp-a", "password": "pw-a", "csrf": csrf})
    assert r.status == 200 and "/login" not in str(r.url)
    return s


def _section(page: str, start: str, end: str) -> str:
    """The page's text from the heading `start` to the next heading `end` (or to the end)."""
    i = page.index(start)
    j = page.find(end, i + len(start))
    return page[i : j if j > 0 else len(page)]


def _headed(page: str) -> list[tuple[str, str]]:
    """Every heading (h1-h3) of a page with what follows it up to the next heading: (heading's text, section)."""
    parts = re.split(r"(<h[1-3][^>]*>.*?</h[1-3]>)", page, flags=re.S)
    return [
        (re.sub(r"<small>.*?</small>|<[^>]+>", "", parts[i], flags=re.S), parts[i + 1])
        for i in range(1, len(parts) - 1, 2)
    ]


def _row(page: str, alert_id: int) -> str:
    """The table row or list item of an alert on a page ("" when it is not there)."""
    m = re.search(rf'<(tr|li) data-alert="{alert_id}".*?</\1>', page, flags=re.S)
    return m.group(0) if m else ""


async def test_open_means_not_closed_on_every_page(site: dict[str, object], db: asyncpg.Connection) -> None:
    """One meaning of 未结 (issue #41, the lead's decision): not closed, that is active, or a latched alert cleared
    and awaiting its acknowledgement. A list or count under 未结 holds both, the cleared one tagged 已恢复待确认;
    a list of the active ones alone is headed 进行中, never 未结; a cleared and acknowledged alert is in neither
    (it is history: the inbox's 全部). Any page that heads an active-only list 未结 fails here."""
    url = str(site["url"])
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    gone = await open_alert(db, A.id, Key("device_offline", "exit-1"), Condition("major", "离线甲", "off a"), t0)
    await clear_alert(db, A.id, Key("device_offline", "exit-1"), t0 + timedelta(minutes=5))
    done = await open_alert(db, A.id, Key("device_offline", "exit-2"), Condition("major", "离线乙", "off b"), t0)
    await clear_alert(db, A.id, Key("device_offline", "exit-2"), t0 + timedelta(minutes=5))
    await db.execute("UPDATE alerts SET acknowledged = true, acknowledged_by = 'insp-a' WHERE id = $1", done.alert_id)
    active, waiting, closed = int(site["alert_a"]), gone.alert_id, done.alert_id  # type: ignore[call-overload]
    paths = ("/", "/?fragment=alerts", f"/facilities/{A.id}", f"/alerts/{waiting}")
    inbox = ("open", "active", "awaiting_ack", "cleared", "all")
    s = await _inspector(url)
    try:
        pages = {p: await (await s.get(f"{url}{p}")).text() for p in paths}
        pages |= {f"/alerts?status={st}": await (await s.get(f"{url}/alerts?status={st}")).text() for st in inbox}
        pages["/alerts"] = await (await s.get(f"{url}/alerts")).text()
        overview_en = await (await s.get(f"{url}/?lang=en")).text()
    finally:
        await s.close()
    for path, page in pages.items():
        # the cleared one awaiting its acknowledgement says so wherever it is listed with active ones (the
        # overview lists it under its own heading, 已恢复待确认: checked below)
        if (row := _row(page, waiting)) and path not in {"/", "/?fragment=alerts"}:
            assert "已恢复待确认" in row and "data-awaiting-ack" in row, f"{path}: its tag"
        if row := _row(page, active):
            assert "已恢复待确认" not in row, f"{path}: an active alert tagged as cleared"
        # headed lists: 未结 both, 进行中 the active ones only
        for heading, section in _headed(page):
            if "data-alert=" not in section:
                continue
            if "未结" in heading:
                assert _row(section, active) and _row(section, waiting), f"{path}: {heading} is active-only"
            if "进行中" in heading:
                assert not _row(section, waiting), f"{path}: {heading} lists a cleared alert"
            if "未结" in heading or "进行中" in heading:
                assert not _row(section, closed), f"{path}: {heading} lists a closed alert"
    # the inbox: its status filter heads its table
    for st in ("open", "active", "awaiting_ack"):
        page = pages[f"/alerts?status={st}"]
        shown = re.search(r'<option value="\w+" selected>([^<]+)<', page).group(1)  # type: ignore[union-attr]
        assert {"open": "未结", "active": "进行中", "awaiting_ack": "已恢复待确认"}[st] == shown
        assert bool(_row(page, active)) == (st != "awaiting_ack"), st
        assert bool(_row(page, waiting)) == (st != "active"), st
        assert not _row(page, closed), st
    assert _row(pages["/alerts"], active) and _row(pages["/alerts"], waiting), "the inbox opens on 未结: both"
    assert _row(pages["/alerts?status=all"], closed), "the cleared, acknowledged alert is in the history"
    # counts under 未结: the area table's column counts both
    areas = _section(pages["/"], 'class="areas"', "</table>")
    assert "<th>未结告警</th>" in areas
    row = re.search(rf'<tr data-area="{A.township}">.*?</tr>', areas, flags=re.S).group(0)  # type: ignore[union-attr]
    assert '<td data-n="open_alerts">2</td>' in row, "未结 counts the active and the cleared awaiting one"
    # the overview's active-only list is headed 进行中 / Active, its cleared ones apart, in both languages
    assert any("进行中" in h and _row(sec, active) for h, sec in _headed(pages["/"]))
    assert any("已恢复待确认" in h and _row(sec, waiting) for h, sec in _headed(pages["/"]))
    assert any("Active alerts" in h and _row(sec, active) for h, sec in _headed(overview_en))
    assert "Open alerts" not in "".join(h for h, sec in _headed(overview_en) if "data-alert=" in sec)


async def test_every_stamp_on_the_history_pages_is_the_apps_clock(db: asyncpg.Connection, db_url: str) -> None:
    """An app on a clock days away from the machine's (as `carewatch demo --speed 60 --from 07:00` runs):
    an acknowledgement, an order, a refused action and a failed login, and every time the alert's history,
    the order's history and the audit log show lies on that clock, none on the machine's or the database's."""
    await load_registry(db, REG)
    start = datetime(2031, 3, 4, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    clock = ScaledClock(start, 60.0)  # an accelerated day: a real minute is an hour of it
    alert = await open_alert(db, A.id, Key("fire_alarm", "smoke-nap1"), Condition("critical", "火警", "fire"), start)
    _, token = await create_user(db, "insp-a", "inspector", "pw-a", county=A.county, now=start)
    await create_user(db, "root", "admin", "pw-root", now=start)
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32), clock=clock), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        s = await _inspector(url)
        try:
            page = await (await s.get(f"{url}/alerts/{alert.alert_id}")).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            r = await s.post(f"{url}/alerts/{alert.alert_id}/ack", data={"csrf": csrf, "note": "现场核查"})
            assert r.status == 200
            due = (clock.now() + timedelta(hours=20)).astimezone(ZoneInfo("Asia/Shanghai"))
            form = {"csrf": csrf, "alert_id": str(alert.alert_id), "title": "整改", "detail": "检查烟感"}
            # refused (a due date passed), the form comes back still the alert's: sent again, the order is
            # the alert's, not one issued by hand (a newcomer's order lost its alert this way)
            r = await s.post(f"{url}/facilities/{A.id}/orders", data=form | {"due_at": "2030-01-01 09:00"})
            kept = await r.text()
            assert r.status == 400 and f'name="alert_id" value="{alert.alert_id}"' in kept, kept
            r = await s.post(f"{url}/facilities/{A.id}/orders", data=form | {"due_at": f"{due:%Y-%m-%dT%H:%M}"})
            assert r.status == 200 and "/orders/" in str(r.url), await r.text()
            order_url = str(r.url)
            registry = {"Authorization": f"Bearer {token}"}  # refused (an admin's job), and audited
            assert (await s.post(f"{url}/api/v1/registry", data="facilities: []", headers=registry)).status == 403
            pages = {"alert": await (await s.get(f"{url}/alerts/{alert.alert_id}")).text()}
            pages["order"] = await (await s.get(order_url)).text()
        finally:
            await s.close()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
            login = await (await admin.get(f"{url}/login")).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
            await admin.post(f"{url}/login", data={"username": "root", "password": "wrong", "csrf": csrf})
            login = await (await admin.get(f"{url}/login")).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
            await admin.post(f"{url}/login", data={"username": "root", "password": "pw-root", "csrf": csrf})
            pages["audit"] = await (await admin.get(f"{url}/audit")).text()
        end = clock.now()
    finally:
        await server.close()
    audited = set(re.findall(r'data-audit="([a-z._]+)"', pages["audit"]))
    assert {"alert.ack", "order.issue", "forbidden", "login.failed", "user.create"} <= audited, audited
    for name, page in pages.items():
        rows = re.findall(r'<tr data-(?:action|step|audit)="[^"]+">(.*?)</tr>', page, re.S)
        assert rows, name
        for row in rows:
            stamp = re.search(r'<time datetime="([^"]+)"', row)
            assert stamp is not None, (name, row)
            at = datetime.fromisoformat(stamp.group(1))
            assert start <= at <= end, f"{name}: {at} is not on the app's clock ({start} .. {end})"


async def test_pages_name_people_and_classes_not_their_ids(site: dict[str, object], db: asyncpg.Connection) -> None:
    """A login with a person's name is shown by the name wherever it acted (who acknowledged, the alert's
    history, the header), its login only as the tooltip; a facility's classes by their age group's name
    and number (托小班 2), their ids only as the tooltip."""
    from tests.test_i18n import visible_text  # here: tests.test_i18n imports this module's fixture

    assert A.classes, "the registry's facility has classes to name"
    url = str(site["url"])
    await db.execute("UPDATE users SET display_name = '王检查员' WHERE username = 'insp-a'")
    s = await _inspector(url)
    try:
        page = await (await s.get(f"{url}/alerts/{site['alert_a']}")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        r = await s.post(f"{url}/alerts/{site['alert_a']}/ack", data={"csrf": csrf, "note": "现场核查"})
        assert r.status == 200
        pages = {
            p: await (await s.get(f"{url}{p}")).text() for p in (f"/alerts/{site['alert_a']}", f"/facilities/{A.id}")
        }
    finally:
        await s.close()
    for path, body in pages.items():
        text = visible_text(body)
        assert "王检查员" in text and "insp-a" not in text, path
        assert 'title="insp-a">王检查员<' in body, f"{path}: the login as the name's tooltip"
    shown = dict(
        re.findall(r'<small data-class="([^"]+)"><span title="[^"]+">([^<]+)</span>', pages[f"/facilities/{A.id}"])
    )
    assert set(shown) == {c.id for c in A.classes}
    for c in A.classes:
        name = LABELS["age_group"][c.age_group.value][0]
        same = sorted(x.id for x in A.classes if x.age_group == c.age_group)
        assert shown[c.id] == (f"{name} {same.index(c.id) + 1}" if len(same) > 1 else name), (c.id, shown)


async def test_an_alert_page_says_whether_the_facility_was_open_and_who_is_on_site(
    site: dict[str, object], db: asyncpg.Connection
) -> None:
    """Issue #41 item 6: an alarm at 23:09 in a facility closed at that hour says "闭园、无人在岗" while nobody is
    badged in; once a carer badges in, the page says the facility was closed and who is on site now; an alarm
    in its opening hours says so. The alert itself is the same on every one (nothing of it changes)."""
    url = str(site["url"])
    zone = ZoneInfo(A.timezone)
    today = datetime.now(UTC).astimezone(zone).date()
    night = datetime.combine(today - timedelta(days=1), time(23, 9), zone)  # after every day's closing (17:30)
    day = datetime(2026, 12, 2, 10, 0, tzinfo=zone)  # a Wednesday, a working day, within 07:30-17:30
    late = await open_alert(db, A.id, Key("fire_alarm", "smoke-x"), Condition("critical", "火警", "fire"), night)
    open_hours = await open_alert(db, A.id, Key("fire_alarm", "smoke-y"), Condition("critical", "火警", "fire"), day)
    s = await _inspector(url)
    try:

        async def page(alert_id: int, lang: str = "zh") -> str:
            return await (await s.get(f"{url}/alerts/{alert_id}?lang={lang}")).text()

        closed = await page(late.alert_id)
        assert 'data-on-site="closed"' in closed and "闭园、无人在岗" in closed
        assert "Closed, nobody on site" in await page(late.alert_id, "en")
        during = await page(open_hours.alert_id)
        assert 'data-on-site="open"' in during and "发生时在开放时间内" in during and "闭园" not in during
        carer = A.staff[0]
        badge = night_badge(A.timezone, datetime.now(UTC))
        await db.execute(
            "INSERT INTO access_events (time, facility_id, device_id, msg_id, type, person_id, payload)"
            " VALUES ($1, $2, 'door-main', 'b1', 'staff_in', $3, '{}')",
            badge,
            A.id,
            carer.id,
        )
        closed = await page(late.alert_id)
        assert "闭园、无人在岗" not in closed and "发生时闭园（非开放时间）" in closed
        assert f"此刻刷卡在园：{LABELS['staff_role'][carer.role.value][0]} 1" in closed
    finally:
        await s.close()
