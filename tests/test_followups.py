"""复查 and extensions (issue #40 item 2) over real HTTP and TimescaleDB: the due-date policy (30 days, a
life-safety finding 1 day; forced for a critical alert) at issue, return and extension; an acceptance that
requires a re-inspection closes the order only once it is signed and clean; the facility asks for one
extension, before its due date, within the policy, and someone else at the issuing level or above decides
it, once; an extension never makes a late answer on time in the credit evaluation."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from contract.inspection import ITEMS
from contract.rectification import OrderStep, is_late
from contract.rules import Condition, Key
from simulators.registry_gen import generate_registry
from storage.alerts import open_alert
from storage.registry import load_registry
from storage.users import create_user
from supervision import deadlines
from tests.conftest import as_role
from tests.helpers import call
from web.app import create_app

REG = generate_registry(12, seed=3)
A = REG.facilities[0]
B = next(f for f in REG.facilities if f.county != A.county)


@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, Any]]:
    await load_registry(db, REG)
    fire = await open_alert(
        db, A.id, Key("fire_alarm", "smoke-1"), Condition("critical", "火警", "fire"), datetime.now(UTC)
    )
    users = {
        "town": await create_user(db, "town", "inspector", "pw", county=A.county, township=A.township),
        "county": await create_user(db, "county", "inspector", "pw", county=A.county),
        "oper": await create_user(db, "oper", "operator", "pw", facility=A.id),
        "other": await create_user(db, "other", "inspector", "pw", county=B.county),
        "admin": await create_user(db, "admin", "admin", "pw"),
    }
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/"), "fire": fire.alert_id} | {
            k: tok for k, (_, tok) in users.items()
        }
    finally:
        await server.close()


def due(days: float = 7) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def day(days: int) -> str:
    return (datetime.now(UTC) + timedelta(hours=8, days=days)).date().isoformat()


async def issue(site: dict[str, Any], body: dict[str, Any], who: str = "town") -> tuple[int, Any]:
    return await call("POST", f"{site['url']}/api/v1/facilities/{A.id}/orders", site[who], body)


async def test_due_dates_are_bounded_by_the_policy(site: dict[str, Any]) -> None:
    ok, err = await issue(site, {"title": "灭火器压力不足", "due_at": due(31)})
    assert ok == 400 and "30 days" in err["error"], "no more a year: a month at most"
    ok, order = await issue(site, {"title": "灭火器压力不足", "due_at": due(29)})
    assert ok == 201 and order["life_safety"] is False
    ok, err = await issue(site, {"title": "安全出口上锁", "due_at": due(2), "life_safety": True})
    assert ok == 400 and "1 day" in err["error"]
    ok, err = await issue(site, {"title": "安全出口上锁", "due_at": due(0.5), "life_safety": "yes"})
    assert ok == 400
    ok, urgent = await issue(site, {"title": "安全出口上锁", "due_at": due(0.5), "life_safety": True})
    assert ok == 201 and urgent["life_safety"] is True
    # from a critical alert the order is life-safety whatever the issuer says
    ok, err = await issue(site, {"title": "火警", "due_at": due(3), "alert_id": site["fire"], "life_safety": False})
    assert ok == 400 and "1 day" in err["error"]
    ok, fire = await issue(site, {"title": "火警", "due_at": due(0.9), "alert_id": site["fire"]})
    assert ok == 201 and fire["life_safety"] is True
    # a life-safety order sent back gets a day, not a month
    url = site["url"]
    await call("POST", f"{url}/api/v1/orders/{fire['id']}/answer", site["oper"], {"note": "已检查报警原因"})
    back = {"accept": False, "note": "未说明原因", "due_at": due(5)}
    ok, err = await call("POST", f"{url}/api/v1/orders/{fire['id']}/review", site["town"], back)
    assert ok == 400 and "1 day" in err["error"]
    ok, o = await call("POST", f"{url}/api/v1/orders/{fire['id']}/review", site["town"], back | {"due_at": due(0.8)})
    assert ok == 200 and o["status"] == "returned"


async def _sign(site: dict[str, Any], iid: int, fail: bool) -> None:
    findings = {code: {"result": "pass"} for code in ITEMS}
    if fail:
        findings["exits"] = {"result": "fail", "note": "仍然上锁"}
    body = {"findings": findings, "notes": "复查", "sign": True, "second_inspector": "county"}
    ok, signed = await call("POST", f"{site['url']}/api/v1/inspections/{iid}/record", site["town"], body)
    assert ok == 200 and signed["status"] == "countersign", signed
    ok, signed = await call("POST", f"{site['url']}/api/v1/inspections/{iid}/countersign", site["county"])
    assert ok == 200 and signed["status"] == "signed", signed


async def test_an_acceptance_with_a_recheck_closes_only_after_a_clean_signed_reinspection(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    url = site["url"]
    _, order = await issue(site, {"title": "安全出口上锁", "due_at": due(3)})
    oid = order["id"]
    recheck = f"{url}/api/v1/orders/{oid}/recheck"
    ok, _ = await call("POST", recheck, site["town"], {"planned_for": day(3)})
    assert ok == 409, "a 复查 is asked for on an answer"
    await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["oper"], {"note": "已拆除门锁"})
    ok, _ = await call("POST", recheck, site["oper"], {"planned_for": day(3)})
    assert ok == 403, "the facility does not accept its own answer"
    ok, _ = await call("POST", recheck, site["other"], {"planned_for": day(3)})
    assert ok == 404
    for bad in ({"planned_for": day(31)}, {"planned_for": day(-1)}, {"planned_for": "soon"}, {}):
        ok, err = await call("POST", recheck, site["town"], bad)
        assert ok == 400, (bad, err)
    ok, o = await call("POST", recheck, site["town"], {"planned_for": day(3), "note": "门锁拆除情况现场核实"})
    assert ok == 200 and o["status"] == "recheck" and o["recheck"]["status"] == "planned"
    iid = o["recheck"]["inspection_id"]
    ok, insp = await call("GET", f"{url}/api/v1/inspections/{iid}", site["oper"])
    assert ok == 200 and insp["facility_id"] == A.id and insp["planned_for"] == day(3)
    review = f"{url}/api/v1/orders/{oid}/review"
    ok, err = await call("POST", review, site["town"], {"accept": True})
    assert ok == 409 and "复查" in err["error"], "not closed on the answer alone"
    await _sign(site, iid, fail=True)
    ok, err = await call("POST", review, site["town"], {"accept": True})
    assert ok == 409, "a re-inspection that failed an item is no acceptance"
    ok, o = await call("POST", review, site["town"], {"accept": False, "note": "复查仍上锁", "due_at": due(2)})
    assert ok == 200 and o["status"] == "returned"
    # answered again, a second 复查, clean this time: now it closes
    await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["oper"], {"note": "已更换为推杠锁"})
    _, o = await call("POST", recheck, site["county"], {"planned_for": day(1)})
    await _sign(site, o["recheck"]["inspection_id"], fail=False)
    ok, o = await call("POST", review, site["town"], {"accept": True, "note": "复查合格"})
    assert ok == 200 and o["status"] == "accepted"
    steps = [h["action"] for h in o["history"]]
    assert steps == ["issued", "answered", "recheck", "returned", "answered", "recheck", "accepted"]
    audits = [r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE action = 'order.recheck'")]
    assert len(audits) == 2


async def test_one_extension_asked_by_the_facility_and_decided_by_someone_else(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    url = site["url"]
    _, order = await issue(site, {"title": "保安持证上岗", "due_at": due(5)})
    oid = order["id"]
    ext = f"{url}/api/v1/orders/{oid}/extension"
    ask = {"due_at": due(20), "reason": "保安培训班下月开班，需参加培训取证"}
    ok, _ = await call("POST", ext, site["town"], ask)
    assert ok == 403, "the facility asks, nobody on its behalf"
    ok, _ = await call("POST", ext, site["other"], ask)
    assert ok == 404
    for bad in (ask | {"due_at": due(31)}, ask | {"due_at": due(4)}, ask | {"reason": "忙"}, ask | {"due_at": "x"}):
        ok, err = await call("POST", ext, site["oper"], bad)
        assert ok == 400, (bad, err)
    ok, o = await call("POST", ext, site["oper"], ask)
    assert ok == 201 and o["extension"]["status"] == "requested" and o["due_at"] == order["due_at"]
    ok, err = await call("POST", ext, site["oper"], ask | {"due_at": due(25)})
    assert ok == 409, "one extension per order"
    ok, _ = await call("POST", f"{ext}/approve", site["oper"], {})
    assert ok == 403, "the facility never decides its own request"
    ok, _ = await call("POST", f"{ext}/reject", site["county"], {"reason": " "})
    assert ok == 400, "a refusal says why"
    ok, o = await call("POST", f"{ext}/approve", site["county"], {"reason": "同意"})
    assert ok == 200 and o["extension"]["status"] == "approved"
    assert o["due_at"] != order["due_at"] and o["first_due_at"] == order["first_due_at"], "the original stays"
    assert datetime.fromisoformat(o["due_at"]) > datetime.fromisoformat(order["due_at"]) + timedelta(days=14)
    ok, _ = await call("POST", f"{ext}/reject", site["town"], {"reason": "改判"})
    assert ok == 409, "decided once"
    ok, _ = await call("POST", ext, site["oper"], ask | {"due_at": due(28)})
    assert ok == 409, "and never a second time"
    # the database holds to it as well: nobody decides their own, a decision is final
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "UPDATE order_extensions SET status = 'rejected', decision_reason = 'x' WHERE order_id = $1", oid
        )
    steps = [h["action"] for h in o["history"]]
    assert steps == ["issued", "extension_requested", "extended"]


async def test_an_extension_is_asked_before_the_due_date_and_within_a_day_for_life_safety(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    url = site["url"]
    _, urgent = await issue(site, {"title": "安全出口上锁", "due_at": due(0.2), "life_safety": True})
    ext = f"{url}/api/v1/orders/{urgent['id']}/extension"
    ok, err = await call("POST", ext, site["oper"], {"due_at": due(3), "reason": "锁匠明天才能来"})
    assert ok == 400 and "1 day" in err["error"]
    _, late = await issue(site, {"title": "灭火器过期", "due_at": due(2)})
    await db.execute("UPDATE rectification_orders SET due_at = now() - interval '1 hour' WHERE id = $1", late["id"])
    ok, err = await call(
        "POST",
        f"{url}/api/v1/orders/{late['id']}/extension",
        site["oper"],
        {"due_at": due(3), "reason": "正在补办手续"},
    )
    assert ok == 409, "too late: the due date has passed"


def test_an_extension_never_makes_a_late_answer_on_time() -> None:
    """The credit evaluation judges by the original due date (contract/rectification.py): an extension moves
    the 督办's date, not the facility's record."""
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    first_due = t0 + timedelta(days=5)
    steps = [
        OrderStep(t0, "issued", first_due),
        OrderStep(t0 + timedelta(days=1), "extension_requested"),
        OrderStep(t0 + timedelta(days=2), "extended", t0 + timedelta(days=20)),
        OrderStep(t0 + timedelta(days=10), "answered"),
        OrderStep(t0 + timedelta(days=11), "accepted"),
    ]
    assert is_late(first_due, steps, t0 + timedelta(days=30))
    assert deadlines.longest(True) == timedelta(days=1) and deadlines.longest(False) == timedelta(days=30)


async def test_the_recheck_forms_note_is_not_labelled_as_a_send_back(site: dict[str, Any]) -> None:
    """The order page's 复查 form accepts subject to a re-inspection and never sends back, yet its note read
    "意见（退回时必填）" (a newcomer's pass): it reads as the optional note it is, in both languages, and a note
    too long is refused with the 复查 note's reason, not the send-back's; the review form keeps its label."""
    from tests.test_web import _logged_in

    url = site["url"]
    _, order = await issue(site, {"title": "安全出口上锁", "due_at": due(3)})
    oid = order["id"]
    await call("POST", f"{url}/api/v1/orders/{oid}/answer", site["oper"], {"note": "已拆除门锁"})
    s, csrf = await _logged_in(url, "town", "pw")
    try:
        for lang, send_back, optional in (("zh", "退回", "选填"), ("en", "send back", "optional")):
            async with s.get(f"{url}/orders/{oid}?lang={lang}") as r:
                assert r.status == 200
                page = await r.text()
            recheck = re.search(r'<form [^>]*id="recheck-form".*?</form>', page, re.S)
            review = re.search(r'<form [^>]*id="review-form".*?</form>', page, re.S)
            assert recheck and review, "both forms on an answered order's page"
            labels = re.findall(r"<label>([^<]+)<textarea", recheck.group(0))
            assert len(labels) == 1 and send_back not in labels[0] and optional in labels[0], labels
            assert send_back in "".join(re.findall(r"<label>([^<]+)<textarea", review.group(0)))
        form = {"csrf": csrf, "planned_for": day(3), "note": "复" * 4001}
        async with s.post(f"{url}/orders/{oid}/recheck?lang=zh", data=form) as r:
            assert r.status == 400
            text = await r.text()
        assert "复查说明最多 4000 字" in text and "退回时请填写意见" not in text
    finally:
        await s.close()
