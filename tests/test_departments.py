"""Departments (部门, issue #40 item 6 and issue #39 item 5) over real HTTP and TimescaleDB: an inspector
account belongs to a department (卫健 unless created otherwise); an inspection is of its planner's
department, its record holds that department's checklist and is signed and seconded by its officers;
its findings become that department's orders and nobody else's; with no record, 卫健 or the department
an alert concerns orders on it, and only 卫健 by hand. The facility chooses neither who inspects it nor
which checklist; the database refuses another department's signature or order whatever a page lets
through (migration 043)."""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from contract.inspection import (
    CHECKLISTS,
    DEFAULT_DEPARTMENT,
    DEPARTMENTS,
    FIRE_CHECKLIST,
    HEALTH_CARE_CHECKLIST,
    ITEMS,
    KINDS_INSPECTED,
    MARKET_CHECKLIST,
    POLICE_CHECKLIST,
    checklist,
)
from contract.labels import label
from contract.rules import Condition, Key
from simulators.registry_gen import generate_registry
from storage import draws
from storage.alerts import open_alert
from storage.registry import load_registry
from storage.users import AuthError, Scope, create_user
from supervision import departments as rules
from supervision.documents import number_text, short_name
from tests.conftest import as_role
from tests.helpers import call
from tests.test_documents import text_of
from web.app import create_app

REG = generate_registry(12, seed=3)
A = next(f for f in REG.facilities if f.kind != "kindergarten_class")
KG = next(f for f in REG.facilities if f.kind == "kindergarten_class" and f.county == A.county)
B = next(f for f in REG.facilities if f.county != A.county)
INSPECTOR = Scope("inspector", A.county, None, None)
ADMIN = Scope("admin", None, None, None)


def all_pass(department: str, fail: str | None = None) -> dict[str, dict[str, str]]:
    return {i.code: {"result": "fail" if i.code == fail else "pass", "note": ""} for i in checklist(department)}


# ---- the rules, as pure functions ----


def test_every_department_has_its_checklist_with_a_basis_and_names_in_both_languages() -> None:
    assert set(CHECKLISTS) == set(DEPARTMENTS) and DEFAULT_DEPARTMENT == "health"
    assert CHECKLISTS["health"] == tuple(ITEMS.values()), "卫健's is the general checklist, unchanged"
    for d, items in CHECKLISTS.items():
        assert items, d
        assert all(i.basis and i.zh and i.en for i in items), d
        assert label("department", d, "zh") == DEPARTMENTS[d][0] != d, "a department reads by its name"
    codes = [i.code for items in CHECKLISTS.values() for i in items]
    assert len(codes) == len(set(codes)), "an item's code names its department"
    text = "".join(i.zh for i in HEALTH_CARE_CHECKLIST)
    for what in ("晨午检", "消毒", "传染病", "留样", "卫生评价报告", "体检"):
        assert what in text, f"卫生保健 checks {what} (托儿所幼儿园卫生保健管理办法)"
    assert {i.basis for i in HEALTH_CARE_CHECKLIST} >= {"托儿所幼儿园卫生保健管理办法"}
    food = "".join(i.zh for i in MARKET_CHECKLIST)
    for what in ("食品经营许可", "健康证明", "48 小时", "消毒"):
        assert what in food, what
    assert any("一键报警" in i.zh for i in POLICE_CHECKLIST) and any("保安" in i.zh for i in POLICE_CHECKLIST)
    assert any("疏散" in i.zh for i in FIRE_CHECKLIST)
    assert KINDS_INSPECTED["education"] == {"kindergarten_class"}, "教育 inspects 托幼一体 only"


def test_whose_orders_each_department_issues() -> None:
    for d in DEPARTMENTS:
        # from a record: its department's, and only its department issues it
        assert rules.order_department(INSPECTOR, d, d) == d
        for other in set(DEPARTMENTS) - {d}:
            with pytest.raises(rules.DepartmentRefused):
                rules.order_department(INSPECTOR, other, d)
        assert rules.may_record(INSPECTOR, d, d) and rules.may_review(INSPECTOR, d, d)
        assert not any(rules.may_record(INSPECTOR, o, d) for o in set(DEPARTMENTS) - {d})
    # on an alert: 卫健 always, the department it concerns too, no other
    assert rules.order_department(INSPECTOR, "health", alert_rule="fire_alarm") == "health"
    assert rules.order_department(INSPECTOR, "fire", alert_rule="fire_alarm") == "fire"
    assert rules.order_department(INSPECTOR, "police", alert_rule="panic_button") == "police"
    assert rules.order_department(INSPECTOR, "health_care", alert_rule="health_staff_missing") == "health_care"
    for d, rule in (("police", "fire_alarm"), ("fire", "ratio_breach"), ("market", "panic_button")):
        with pytest.raises(rules.DepartmentRefused):
            rules.order_department(INSPECTOR, d, alert_rule=rule)
    # by hand: 卫健 only
    assert rules.order_department(INSPECTOR, "health") == "health"
    for d in set(DEPARTMENTS) - {"health"}:
        with pytest.raises(rules.DepartmentRefused):
            rules.order_department(INSPECTOR, d)
    # an admin acts as 卫健, or as the record's department
    assert rules.order_department(ADMIN, "health", "fire") == "fire"
    assert rules.order_department(ADMIN, "health") == "health"
    # 教育 plans for 托幼一体 facilities only; everyone else for every kind
    assert rules.check_plan(INSPECTOR, "education", "kindergarten_class") == "education"
    with pytest.raises(rules.DepartmentRefused):
        rules.check_plan(INSPECTOR, "education", "inclusive")
    assert rules.check_plan(INSPECTOR, "fire", "home") == "fire"
    assert rules.check_plan(ADMIN, "fire", "home") == "health", "an admin plans 卫健's"


# ---- over HTTP and the database ----


@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, Any]]:
    await load_registry(db, REG)
    c = A.county
    users = {
        "wj": await create_user(db, "wj", "inspector", "pw", county=c),  # no --department: 卫健
        "wj2": await create_user(db, "wj2", "inspector", "pw", county=c, department="health"),
        "xf": await create_user(db, "xf", "inspector", "pw", county=c, department="fire"),
        "xf2": await create_user(db, "xf2", "inspector", "pw", county=c, department="fire"),
        "xf_other": await create_user(db, "xf_other", "inspector", "pw", county=B.county, department="fire"),
        "ga": await create_user(db, "ga", "inspector", "pw", county=c, department="police"),
        "jy": await create_user(db, "jy", "inspector", "pw", county=c, department="education"),
        "hc": await create_user(db, "hc", "inspector", "pw", county=c, department="health_care"),
        "hc2": await create_user(db, "hc2", "inspector", "pw", department="health_care"),  # the city's
        "admin": await create_user(db, "admin", "admin", "pw"),
        "oper": await create_user(db, "oper", "operator", "pw", facility=A.id),
    }
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/")} | {k: tok for k, (_, tok) in users.items()}
    finally:
        await server.close()


def today() -> str:
    return (datetime.now(UTC) + timedelta(hours=8)).date().isoformat()


def due() -> str:
    return (datetime.now(UTC) + timedelta(days=5)).isoformat()


async def _plan(site: dict[str, Any], who: str, facility: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, insp = await call(
        "POST",
        f"{site['url']}/api/v1/facilities/{facility}/inspections",
        site[who],
        {"planned_for": today()} | (body or {}),
    )
    assert status == 201, insp
    return insp


async def test_accounts_default_to_health_and_only_inspectors_have_another(db: asyncpg.Connection) -> None:
    await load_registry(db, REG)
    await create_user(db, "old", "inspector", "pw", county=A.county)
    await create_user(db, "old", "inspector", None, county=A.county, update=True, department="fire")
    await create_user(db, "old", "inspector", None, county=A.county, update=True)
    assert await db.fetchval("SELECT department FROM users WHERE username = 'old'") == "fire", "kept on update"
    await create_user(db, "op", "operator", "pw", facility=A.id)
    assert await db.fetchval("SELECT department FROM users WHERE username = 'op'") == "health"
    with pytest.raises(AuthError):
        await create_user(db, "op2", "operator", "pw", facility=A.id, department="fire")
    with pytest.raises(AuthError):
        await create_user(db, "x", "inspector", "pw", department="army")
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE users SET department = 'army' WHERE username = 'old'")
    # a draw (双随机) plans 卫健's inspections: it draws from 卫健's inspectors only
    await create_user(db, "wj", "inspector", "pw", county=A.county)
    assert [r["username"] for r in await draws.listed_inspectors(db, A.county)] == ["wj"]


async def test_a_fire_inspection_is_recorded_signed_and_ordered_by_fire_officers_only(
    site: dict[str, Any], db: asyncpg.Connection, db_url: str, tmp_path: Path
) -> None:
    url = site["url"]
    # the facility chooses neither who inspects nor which checklist: an operator plans nothing, and a
    # department named in the body is not the planner's choice either
    status, _ = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["oper"], {"planned_for": today()}
    )
    assert status == 403
    insp = await _plan(site, "xf", A.id, {"department": "health"})
    assert insp["department"] == "fire", "the planner's department, whatever the body says"
    iid = insp["id"]
    assert (await _plan(site, "wj", A.id, {"department": "fire"}))["department"] == "health"
    rec = f"{url}/api/v1/inspections/{iid}/record"
    # 卫健's items are not a fire record's; a fire record is signed with every fire item
    status, err = await call("POST", rec, site["xf"], {"findings": all_pass("health")})
    assert status == 400 and "unknown item" in err["error"], err
    partial = dict(list(all_pass("fire").items())[:2])
    status, err = await call("POST", rec, site["xf"], {"findings": partial, "sign": True, "second_inspector": "xf2"})
    assert status == 400 and "no finding yet" in err["error"], err
    # another department's officer neither records it nor seconds it
    for who in ("wj", "ga"):
        status, err = await call("POST", rec, site[who], {"findings": all_pass("fire")})
        assert status == 403 and "its officers record" in err["error"], (who, err)
    sign = {"findings": all_pass("fire", fail="fire_escape_routes"), "sign": True}
    status, err = await call("POST", rec, site["xf"], sign | {"second_inspector": "wj"})
    assert status == 403 and "department" in err["error"], err
    status, err = await call("POST", rec, site["xf"], sign | {"second_inspector": "xf_other"})
    assert status == 403 and "outside their area" in err["error"], "the area stays as it was"
    status, signed = await call("POST", rec, site["xf"], sign | {"second_inspector": "xf2"})
    assert (status, signed["status"], signed["failed"]) == (200, "countersign", ["fire_escape_routes"]), signed
    status, _ = await call("POST", f"{url}/api/v1/inspections/{iid}/countersign", site["xf2"])
    assert status == 200
    # its finding is a fire order, and only fire issues it
    order = {"title": "疏散通道堵塞", "due_at": due(), "inspection_id": iid}
    for who in ("wj", "ga"):
        status, err = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site[who], order)
        assert status == 403 and "issue its orders" in err["error"], (who, err)
    status, made = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["xf"], order)
    assert (status, made["department"]) == (201, "fire"), made
    status, listed = await call("GET", f"{url}/api/v1/orders", site["wj"])
    assert status == 200
    rows = listed["orders"] if isinstance(listed, dict) else listed
    assert [o["department"] for o in rows if o["id"] == made["id"]] == ["fire"], "the list shows it"
    # the order's department reviews it: 卫健 may not accept a fire order (state aside: 403 before 409)
    review = f"{url}/api/v1/orders/{made['id']}/review"
    status, err = await call("POST", review, site["wj"], {"accept": True})
    assert status == 403, err
    status, _ = await call("POST", review, site["xf2"], {"accept": True})
    assert status == 409, "fire's reviewer is refused only for the state (not answered yet)"
    recheck = f"{url}/api/v1/orders/{made['id']}/recheck"
    status, err = await call("POST", recheck, site["wj"], {"planned_for": today()})
    assert status == 403 and "department" in err["error"], "nor asks for a 复查 of it"
    status, _ = await call("POST", recheck, site["xf2"], {"planned_for": today()})
    assert status == 409
    # with no record: 卫健 by hand as before; fire does not order by hand
    status, err = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["xf"], {"title": "x", "due_at": due()}
    )
    assert status == 403 and "not by hand" in err["error"], err
    status, made2 = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["wj"], {"title": "x", "due_at": due()}
    )
    assert (status, made2["department"]) == (201, "health")
    # the pages name the department; the printed record lists the fire items, not 卫健's
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['xf']}"}) as s:
        r = await s.get(f"{url}/inspections/{iid}")
        html = await r.text()
        assert r.status == 200 and 'data-department="fire"' in html and "消防" in html
        assert all(f'data-item="{i.code}"' in html for i in FIRE_CHECKLIST)
        assert 'data-item="ratio"' not in html
        r = await s.get(f"{url}/orders/{made['id']}")
        assert 'data-department="fire"' in await r.text()
        r = await s.get(f"{url}/inspections/{iid}.pdf")
        assert r.status == 200
        text = text_of(await r.read(), tmp_path) if shutil.which("pdftotext") else ""
    if text:
        flat = "".join(text.split())
        assert "消防" in flat and "疏散通道、安全出口未被占用" in flat, flat[:2000]
        assert "各班保育人员与婴幼儿比例" not in flat, "卫健's items are not on a fire record"
    # each department numbers its own documents: fire's first order of the year beside 卫健's
    numbers = {
        r["order_id"]: number_text(r["department"], "order", r["year"], r["seq"])
        for r in await db.fetch("SELECT * FROM document_numbers WHERE order_id = ANY($1)", [made["id"], made2["id"]])
    }
    short = short_name(A.county)
    assert numbers[made["id"]].startswith(f"{short}消托整〔") and numbers[made["id"]].endswith("〕1号"), numbers
    assert numbers[made2["id"]].startswith(f"{short}卫托整〔") and numbers[made2["id"]].endswith("〕1号"), numbers
    # the database holds it whatever a page lets through (the web's own role)
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        for issuer, department in (("wj", "fire"), ("xf", "health"), ("wj", "health")):
            with pytest.raises(asyncpg.CheckViolationError):
                await web.execute(
                    "INSERT INTO rectification_orders (facility_id, source, title, due_at, first_due_at, issued_by,"
                    " issued_level, supervision_level, inspection_id, issued_at, department)"
                    " VALUES ($1, 'inspection', 'x', now(), now(), $2, 'county', 'county', $3, now(), $4)",
                    A.id,
                    issuer,
                    iid,
                    department,
                )
        with pytest.raises(asyncpg.CheckViolationError):  # a fire officer issues no 卫健 order, record or not
            await web.execute(
                "INSERT INTO rectification_orders (facility_id, source, title, due_at, first_due_at, issued_by,"
                " issued_level, supervision_level, issued_at, department)"
                " VALUES ($1, 'manual', 'x', now(), now(), 'xf', 'county', 'county', now(), 'health')",
                A.id,
            )
        other = await _plan(site, "wj", A.id)
        with pytest.raises(asyncpg.CheckViolationError):  # a fire officer signs no 卫健 record
            await web.execute(
                "UPDATE inspections SET status = 'countersign', signed_by = 'xf', second_inspector = 'wj2'"
                " WHERE id = $1",
                other["id"],
            )
        with pytest.raises(asyncpg.CheckViolationError):  # nor seconds one
            await web.execute(
                "UPDATE inspections SET status = 'countersign', signed_by = 'wj', second_inspector = 'xf'"
                " WHERE id = $1",
                other["id"],
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # and a department is not rewritten
            await web.execute("UPDATE inspections SET department = 'health' WHERE id = $1", iid)
    finally:
        await web.close()
    with pytest.raises(asyncpg.CheckViolationError):  # not even by the owner
        await db.execute("UPDATE rectification_orders SET department = 'health' WHERE id = $1", made["id"])


async def test_alert_orders_are_for_health_or_the_department_the_alert_concerns(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    url = site["url"]
    aid = await db.fetchval(
        "INSERT INTO alerts (rule, severity, facility_id, device_id, opened_at, last_seen_at)"
        " VALUES ('fire_alarm', 'critical', $1, 'smoke-1', now(), now()) RETURNING id",
        A.id,
    )
    body = {"title": "火灾报警", "due_at": (datetime.now(UTC) + timedelta(hours=12)).isoformat(), "alert_id": aid}
    for who, expect in (("xf", "fire"), ("wj", "health")):
        status, made = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site[who], body)
        assert (status, made.get("department")) == (201, expect), (who, made)
    for who in ("ga", "hc"):
        status, err = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site[who], body)
        assert status == 403 and "not" in err["error"], (who, err)


async def test_education_inspects_kindergarten_classes_and_health_care_has_its_checklist(
    site: dict[str, Any],
) -> None:
    url = site["url"]
    status, err = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["jy"], {"planned_for": today()}
    )
    assert status == 403 and "kindergarten_class" in err["error"], err
    assert (await _plan(site, "jy", KG.id))["department"] == "education"
    insp = await _plan(site, "hc", A.id)
    assert insp["department"] == "health_care"
    sign = {"findings": all_pass("health_care", fail="hc_morning_check"), "sign": True, "second_inspector": "hc2"}
    status, signed = await call("POST", f"{url}/api/v1/inspections/{insp['id']}/record", site["hc"], sign)
    assert (status, signed["status"]) == (200, "countersign"), signed
    status, _ = await call("POST", f"{url}/api/v1/inspections/{insp['id']}/countersign", site["hc2"])
    assert status == 200
    order = {"title": "晨午检未落实", "due_at": due(), "inspection_id": insp["id"]}
    status, made = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["hc"], order)
    assert (status, made["department"]) == (201, "health_care"), made


async def test_a_joint_inspection_is_signed_when_every_department_part_is(
    site: dict[str, Any], db: asyncpg.Connection, db_url: str
) -> None:
    url = site["url"]
    plan = f"{url}/api/v1/facilities/{A.id}/inspections"
    for bad in (["fire", "market"], ["health"], ["health", "health", "fire"], ["health", "army"], "health,fire"):
        status, err = await call("POST", plan, site["wj"], {"planned_for": today(), "departments": bad})
        assert status == 400 and "departments" in err["error"], (bad, err)
    status, err = await call("POST", plan, site["wj"], {"planned_for": today(), "departments": ["health", "education"]})
    assert status == 403, "教育 inspects 托幼一体 only, jointly too"
    status, err = await call("POST", plan, site["oper"], {"planned_for": today(), "departments": ["health", "fire"]})
    assert status == 403, "the facility plans no inspection of itself"
    assert await db.fetchval("SELECT count(*) FROM inspections") == 0, "refused: nothing planned"
    lead = await _plan(site, "wj", A.id, {"departments": ["fire", "health", "market"]})
    assert lead["department"] == "health", "the planner's department leads"
    assert [(p["department"], p["status"]) for p in lead["joint"]] == [
        ("health", "planned"),
        ("fire", "planned"),
        ("market", "planned"),
    ]
    assert lead["joint_signed"] is False
    parts = {p["department"]: p["id"] for p in lead["joint"]}
    # the database keeps one part per department, of the lead's facility and day
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        with pytest.raises(asyncpg.UniqueViolationError):
            await web.execute(
                "INSERT INTO inspections (facility_id, kind, planned_for, planned_by, level, department, joint_id)"
                " VALUES ($1, 'visit', $2, 'xf', 'county', 'fire', $3)",
                A.id,
                datetime.fromisoformat(today()).date(),
                lead["id"],
            )
        with pytest.raises(asyncpg.CheckViolationError):
            await web.execute(
                "INSERT INTO inspections (facility_id, kind, planned_for, planned_by, level, department, joint_id)"
                " VALUES ($1, 'visit', $2, 'ga', 'county', 'police', $3)",
                B.id,
                datetime.fromisoformat(today()).date(),
                lead["id"],
            )
    finally:
        await web.close()
    # each department records its own part with its own checklist and officers
    status, err = await call(
        "POST", f"{url}/api/v1/inspections/{parts['fire']}/record", site["wj"], {"findings": all_pass("fire")}
    )
    assert status == 403, "卫健 does not record 消防's part"
    for department, (author, second) in {"health": ("wj", "wj2"), "fire": ("xf", "xf2")}.items():
        body = {"findings": all_pass(department), "sign": True, "second_inspector": second}
        status, out = await call("POST", f"{url}/api/v1/inspections/{parts[department]}/record", site[author], body)
        assert status == 200, out
        status, _ = await call("POST", f"{url}/api/v1/inspections/{parts[department]}/countersign", site[second])
        assert status == 200
    status, now = await call("GET", f"{url}/api/v1/inspections/{parts['fire']}", site["xf"])
    assert status == 200 and now["joint_id"] == lead["id"] and now["joint_signed"] is False, "market's part is open"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site['wj']}"}) as s:
        html = await (await s.get(f"{url}/inspections/{lead['id']}")).text()
    assert 'data-joint="open"' in html and "2/3" in html and 'data-joint-part="market"' in html
    # market's officers finish market's part: then the joint inspection is signed
    tokens = {
        u: (await create_user(db, u, "inspector", None, county=A.county, department="market"))[1] for u in ("sc", "sc2")
    }
    body = {"findings": all_pass("market"), "sign": True, "second_inspector": "sc2"}
    status, _ = await call("POST", f"{url}/api/v1/inspections/{parts['market']}/record", tokens["sc"], body)
    assert status == 200
    status, _ = await call("POST", f"{url}/api/v1/inspections/{parts['market']}/countersign", tokens["sc2"])
    assert status == 200
    status, done = await call("GET", f"{url}/api/v1/inspections/{lead['id']}", site["wj"])
    assert done["joint_signed"] is True and {p["status"] for p in done["joint"]} == {"signed"}


async def test_an_order_form_is_shown_only_to_who_may_use_it(site: dict[str, Any], db: asyncpg.Connection) -> None:
    """By hand, only 卫健 issues an order: a 消防 or 公安 inspector's facility page offers the inspection plan but
    no order form (it would refuse them). On an alert, 卫健 and the department it concerns (guard_absent:
    公安) see the form; 消防 does not. An operator sees neither."""
    url = site["url"]
    alert = await open_alert(
        db, A.id, Key("guard_absent"), Condition("major", "保安缺岗", "no guard"), datetime.now(UTC)
    )
    seen: dict[str, tuple[bool, bool, bool]] = {}
    for who in ("wj", "xf", "ga", "oper"):
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {site[who]}"}) as s:
            facility = await (await s.get(f"{url}/facilities/{A.id}")).text()
            on_alert = await (await s.get(f"{url}/alerts/{alert.alert_id}")).text()
        seen[who] = ('id="plan-form"' in facility, 'id="order-form"' in facility, 'id="order-form"' in on_alert)
    assert seen == {
        "wj": (True, True, True),
        "xf": (True, False, False),
        "ga": (True, False, True),
        "oper": (False, False, False),
    }
    # and what the forms would do agrees: the fire inspector is refused by hand and on this alert
    for body in ({}, {"alert_id": alert.alert_id}):
        status, _ = await call(
            "POST", f"{url}/api/v1/facilities/{A.id}/orders", site["xf"], {"title": "x", "due_at": due()} | body
        )
        assert status == 403, body


# ---- each alert rule's department (归口部门): the table, the pages, the filter ----


def test_every_rule_of_the_catalogue_belongs_to_a_department_with_its_reason() -> None:
    """Before: no rule had a department of its own (RULE_DEPARTMENT named 15 rules as "also concerns"); a
    rule added to the catalogue without one now fails here."""
    from contract.rules import DEFAULTS, RULE_ALSO, RULE_DEPARTMENTS, RuleId, rule_department, rules_of_department

    assert set(RULE_DEPARTMENTS) == set(RuleId) == set(DEFAULTS), "every rule, and nothing else, has a department"
    for rule, owner in RULE_DEPARTMENTS.items():
        assert owner.department in DEPARTMENTS, rule
        assert owner.why_zh and owner.why_en and owner.why_zh != owner.why_en, rule
    assert rule_department("fire_alarm") == "fire" and rule_department("guard_absent") == "police"
    assert rule_department("ratio_breach") == "health" and rule_department("health_staff_missing") == "health_care"
    # the departments that may order on an alert (supervision) are the table's, never a second list
    for rule in RuleId:
        owner = rule_department(rule)
        expect = RULE_ALSO.get(rule) or (owner if owner != DEFAULT_DEPARTMENT else None)
        assert rules.RULE_DEPARTMENT.get(str(rule)) == expect, rule
    assert "class_over_capacity" in rules_of_department("education") and not rules_of_department("market")
    assert set().union(*(rules_of_department(d) for d in DEPARTMENTS)) == {str(r) for r in RuleId}


async def test_the_alert_list_shows_each_rules_department_and_filters_by_it(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    """A fire alarm and a ratio breach at one facility. The list and the alert's page name each one's
    department (消防, 卫健); a 消防 inspector filtering by their department sees the fire alarm only, and by
    default every alert in scope; the API filters alike and refuses an unknown department with a reason (400).
    Before: no department beside a rule, and `department` was ignored (both alerts listed)."""
    url = site["url"]
    ids = {}
    for rule, sev in (("fire_alarm", "critical"), ("ratio_breach", "major")):
        ids[rule] = await db.fetchval(
            "INSERT INTO alerts (rule, severity, facility_id, device_id, opened_at, last_seen_at)"
            " VALUES ($1, $2, $3, 'dev-1', now(), now()) RETURNING id",
            rule,
            sev,
            A.id,
        )
    from tests.test_web import _logged_in

    s, _csrf = await _logged_in(url, "xf", "pw")
    try:
        page = await (await s.get(f"{url}/alerts?lang=zh")).text()
        assert f'data-alert="{ids["fire_alarm"]}"' in page and f'data-alert="{ids["ratio_breach"]}"' in page
        assert '<small class="dept" data-rule-department="fire_alarm">消防</small>' in page
        assert '<small class="dept" data-rule-department="ratio_breach">卫健</small>' in page
        own = re.search(r'<option value="fire"[^>]*>([^<]*)</option>', page)
        assert own is not None and own.group(1) == "消防 （本部门）", "the filter marks the inspector's own"
        mine = await (await s.get(f"{url}/alerts?department=fire")).text()
        assert f'data-alert="{ids["fire_alarm"]}"' in mine and f'data-alert="{ids["ratio_breach"]}"' not in mine
        health = await (await s.get(f"{url}/alerts?department=health")).text()
        assert f'data-alert="{ids["fire_alarm"]}"' not in health and f'data-alert="{ids["ratio_breach"]}"' in health
        one = await (await s.get(f"{url}/alerts/{ids['ratio_breach']}?lang=en")).text()
        assert 'data-rule-department="ratio_breach">Department: Health commission</small>' in one
    finally:
        await s.close()
    status, body = await call("GET", f"{url}/api/v1/alerts?department=fire", site["xf"])
    assert status == 200 and [(a["rule"], a["department"]) for a in body["alerts"]] == [("fire_alarm", "fire")]
    status, body = await call("GET", f"{url}/api/v1/alerts", site["xf"])
    assert status == 200 and {a["rule"] for a in body["alerts"]} == {"fire_alarm", "ratio_breach"}
    status, err = await call("GET", f"{url}/api/v1/alerts?department=army", site["xf"])
    assert status == 400 and "department" in err["error"]
