"""Issue #37 item 4 over real HTTP and TimescaleDB: a returned answer is not on time and a return sets a new
due date; appeals are records of their own, filed by the facility's operator, decided by the county."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from contract.clock import ManualClock
from contract.credit import CreditConfig
from simulators.registry_gen import generate_registry
from storage.credit import month_facts
from storage.registry import load_registry
from storage.users import Scope, create_user
from tests.conftest import as_role
from web.app import create_app

REG = generate_registry(12, seed=3)
A = REG.facilities[0]
B = next(f for f in REG.facilities if f.county != A.county)
CITY = Scope("inspector", None, None, None)
OCT = date(2026, 10, 1)
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # the app's clock starts here, in October 2026


@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, Any]]:
    await load_registry(db, REG)
    await db.execute("UPDATE facilities SET registered_at = '2026-09-01T00:00:00Z'")
    users = {
        "town": await create_user(db, "town", "inspector", None, county=A.county, township=A.township),
        "county": await create_user(db, "county", "inspector", None, county=A.county),
        "other": await create_user(db, "other", "inspector", None, county=B.county),
        "oper": await create_user(db, "oper", "operator", None, facility=A.id),
        "admin": await create_user(db, "root", "admin", None),
    }
    clock = ManualClock(T0)
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32), clock=clock), host="127.0.0.1")
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/"), "clock": clock} | {k: t for k, (_, t) in users.items()}
    finally:
        await server.close()


async def call(site: dict[str, Any], method: str, path: str, who: str, body: object = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, f"{site['url']}{path}", json=body, headers={"Authorization": f"Bearer {site[who]}"}) as r,
    ):
        return r.status, await r.json()


async def test_a_returned_answer_is_not_on_time_and_a_return_sets_a_new_due_date(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    clock: ManualClock = site["clock"]
    due = T0 + timedelta(days=5)  # 10 October
    status, order = await call(
        site, "POST", f"/api/v1/facilities/{A.id}/orders", "town", {"title": "保安缺岗", "due_at": due.isoformat()}
    )
    assert status == 201, order
    oid = order["id"]
    clock.set(T0 + timedelta(days=4))  # 9 October: one line, before the due date
    status, _ = await call(site, "POST", f"/api/v1/orders/{oid}/answer", "oper", {"note": "已整改"})
    assert status == 200
    clock.set(T0 + timedelta(days=7))  # 12 October: sent back
    review = f"/api/v1/orders/{oid}/review"
    back = {"accept": False, "note": "没有证明材料"}
    for wrong in (
        {},
        {"due_at": (T0 + timedelta(days=6)).isoformat()},
        {"due_at": (T0 + timedelta(days=60)).isoformat()},
    ):
        status, err = await call(site, "POST", review, "town", back | wrong)
        assert status == 400 and "due_at" in err["error"], (wrong, status, err)
    new_due = T0 + timedelta(days=15)  # 20 October
    status, o = await call(site, "POST", review, "town", back | {"due_at": new_due.isoformat()})
    assert (status, o["status"]) == (200, "returned"), o
    assert datetime.fromisoformat(o["due_at"]) == new_due
    assert datetime.fromisoformat(o["first_due_at"]) == due, "the original due date is kept"
    clock.set(T0 + timedelta(days=17))  # 22 October: answered after the new due date, accepted
    status, _ = await call(site, "POST", f"/api/v1/orders/{oid}/answer", "oper", {"note": "已聘保安，附证明"})
    clock.set(T0 + timedelta(days=18))
    status, o = await call(site, "POST", review, "town", {"accept": True})
    assert (status, o["status"]) == (200, "accepted")
    assert [h["action"] for h in o["history"]] == ["issued", "answered", "returned", "answered", "accepted"]
    assert datetime.fromisoformat(o["history"][1]["at"]) == T0 + timedelta(days=4), "dated by the app's clock"
    facts = {f["id"]: fa for f, fa in await month_facts(db, CITY, OCT, datetime.now(UTC), CreditConfig())}
    assert (facts[A.id].orders_due, facts[A.id].orders_late) == (1, 1), "answered in time, sent back: late"
    audit = await db.fetchval("SELECT detail FROM audit_log WHERE action = 'order.returned'")
    assert "due_at" in audit


async def test_appeals_are_filed_by_the_operator_and_decided_by_the_county(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    site["clock"].set(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    status, body = await call(site, "GET", "/api/v1/credit?month=2026-10", "county")
    assert status == 200
    before = next(r for r in body["facilities"] if r["facility_id"] == A.id)
    assert not before["provisional"]
    appeal = f"/api/v1/facilities/{A.id}/credit/2026-10/appeal"
    for who, code in (("county", 403), ("town", 403), ("admin", 403), ("other", 404)):
        status, _ = await call(site, "POST", appeal, who, {"note": "x"})
        assert status == code, who
    status, first = await call(site, "POST", appeal, "oper", {"note": "10月网关被雷击，已更换"})
    assert (status, first["status"]) == (201, "pending"), first
    status, _ = await call(site, "POST", appeal, "oper", {"note": "再次申诉"})
    assert status == 409, "one pending appeal per facility and month"
    decide = f"/api/v1/credit/appeals/{first['id']}/decide"
    accept = {"accept": True, "score": 88.5, "reason": "雷击有供电部门证明"}
    for who, code in (("oper", 403), ("town", 403), ("other", 404)):
        status, _ = await call(site, "POST", decide, who, accept)
        assert status == code, who
    for wrong in ({"score": 101}, {"score": None}, {"reason": " "}):
        status, _ = await call(site, "POST", decide, "county", accept | wrong)
        assert status == 400, wrong
    status, got = await call(site, "POST", decide, "county", accept)
    assert status == 200, got
    assert (got["status"], got["score_before"], got["grade_before"]) == ("accepted", before["score"], before["grade"])
    assert (got["corrected_score"], got["corrected_grade"], got["decided_by"]) == (88.5, "B", "county")
    status, _ = await call(site, "POST", decide, "county", accept | {"score": 99})
    assert status == 409, "a decision is final"
    _, body = await call(site, "GET", "/api/v1/credit?month=2026-10", "oper")
    [mine] = body["facilities"]
    assert (mine["score"], mine["grade"]) == (88.5, "B"), "the stored month changed"
    assert mine["facts"] == before["facts"], "the measured figures stay"
    # a second appeal, rejected: the month stays as it is
    status, second = await call(site, "POST", appeal, "oper", {"note": "请求评为A"})
    assert status == 201
    status, got = await call(
        site, "POST", f"/api/v1/credit/appeals/{second['id']}/decide", "county", {"accept": False, "reason": "无依据"}
    )
    assert (status, got["status"], got["corrected_score"]) == (200, "rejected", None)
    _, body = await call(site, "GET", "/api/v1/credit?month=2026-10", "county")
    mine = next(r for r in body["facilities"] if r["facility_id"] == A.id)
    assert (mine["score"], mine["grade"]) == (88.5, "B")
    assert [(a["id"], a["status"]) for a in mine["appeals"]] == [(second["id"], "rejected"), (first["id"], "accepted")]
    _, listed = await call(site, "GET", "/api/v1/credit/appeals?month=2026-10", "county")
    assert [a["id"] for a in listed["appeals"]] == [second["id"], first["id"]]
    _, listed = await call(site, "GET", "/api/v1/credit/appeals", "other")
    assert listed == {"appeals": []}, "outside the scope"
    audits = [
        r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE action LIKE 'credit.%' ORDER BY id")
    ]
    assert audits == ["credit.appeal", "credit.appeal.accepted", "credit.appeal", "credit.appeal.rejected"]
    async with aiohttp.ClientSession() as s:  # the credit page: each appeal, and who may do what with it
        for who in ("county", "oper"):
            headers = {"Authorization": f"Bearer {site[who]}"}
            async with s.get(f"{site['url']}/credit?month=2026-10&lang=en", headers=headers) as r:
                page = await r.text()
            assert r.status == 200 and f'data-appeal="{first["id"]}"' in page, who
            assert "Score corrected from" in page and ("/decide" in page) is False, who  # both decided
        third_status, third = await call(site, "POST", appeal, "oper", {"note": "第三次"})
        assert third_status == 201
        for who, decide_form in (("county", True), ("oper", False)):
            headers = {"Authorization": f"Bearer {site[who]}"}
            async with s.get(f"{site['url']}/credit?month=2026-10", headers=headers) as r:
                page = await r.text()
            assert r.status == 200 and (f"/credit/appeals/{third['id']}/decide" in page) is decide_form, who
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE credit_appeals SET status = 'rejected' WHERE id = $1", first["id"])
