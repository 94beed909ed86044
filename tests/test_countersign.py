"""Two officers on an inspection record (issue #40 item 3) over real HTTP and TimescaleDB: the one who
signs names a second inspector whose area holds the facility (one of the two drawn, for a drawn
inspection); the record waits 待会签 and counts for nothing (draw results, the assessment's coverage, the
credit evaluation, orders issued from it) until the named second inspector confirms it on their own
account; never its author, nobody else, nobody outside the area."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from contract.inspection import ITEMS
from simulators.registry_gen import generate_registry
from storage.registry import load_registry
from storage.users import create_user
from tests.conftest import as_role
from tests.helpers import call
from web.app import create_app

REG = generate_registry(12, seed=3)
A = REG.facilities[0]
B = next(f for f in REG.facilities if f.county != A.county)
# a township of A's county other than A's (its inspector's area does not hold A)
ELSEWHERE = next(
    (f.township for f in REG.facilities if f.county == A.county and f.township != A.township), f"{A.county}999"
)
# a third one (for a draw made of township inspectors only: each facility needs two not of its township)
THIRD = next(
    (f.township for f in REG.facilities if f.county == A.county and f.township not in (A.township, ELSEWHERE)),
    f"{A.county}998",
)
FINDINGS = {code: {"result": "pass"} for code in ITEMS} | {"exits": {"result": "fail", "note": "二楼出口上锁"}}


@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, Any]]:
    await load_registry(db, REG)
    users = {
        "town": await create_user(db, "town", "inspector", "pw-town", county=A.county, township=A.township),
        "town_x": await create_user(db, "town_x", "inspector", "pw-town-x", county=A.county, township=ELSEWHERE),
        "town_y": await create_user(db, "town_y", "inspector", "pw-town-y", county=A.county, township=THIRD),
        "county": await create_user(db, "county", "inspector", "pw-county", county=A.county),
        "county2": await create_user(db, "county2", "inspector", "pw-county2", county=A.county),
        "city": await create_user(db, "city", "inspector", "pw-city"),
        "other": await create_user(db, "other", "inspector", "pw-other", county=B.county),
        "admin": await create_user(db, "admin", "admin", "pw-admin"),
        "oper": await create_user(db, "oper", "operator", "pw-oper", facility=A.id),
    }
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/")} | {k: tok for k, (_, tok) in users.items()}
    finally:
        await server.close()


def today() -> str:
    return (datetime.now(UTC) + timedelta(hours=8)).date().isoformat()


async def test_a_record_needs_a_second_officer_who_confirms_on_their_own_account(
    site: dict[str, Any], db: asyncpg.Connection, db_url: str
) -> None:
    url = site["url"]
    status, insp = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["town"], {"planned_for": today()}
    )
    assert status == 201, insp
    iid = insp["id"]
    rec = f"{url}/api/v1/inspections/{iid}/record"
    sign = {"findings": FINDINGS, "notes": "现场检查", "sign": True}
    status, err = await call("POST", rec, site["town"], sign)
    assert status == 400 and "second inspector" in err["error"], "one officer alone does not sign a record"
    status, err = await call("POST", rec, site["town"], sign | {"second_inspector": "town"})
    assert status == 403, "the second officer is someone else"
    for outside in ("other", "town_x"):
        status, err = await call("POST", rec, site["town"], sign | {"second_inspector": outside})
        assert status == 403 and "outside their area" in err["error"], (outside, err)
    for nobody in ("oper", "admin", "no_such_user", "x" * 300):
        status, err = await call("POST", rec, site["town"], sign | {"second_inspector": nobody})
        assert status == 400 and "no inspector account" in err["error"], (nobody, err)
    assert await db.fetchval("SELECT status FROM inspections WHERE id = $1", iid) == "planned", "refused: unchanged"
    status, signed = await call("POST", rec, site["town"], sign | {"second_inspector": "county"})
    assert status == 200, signed
    assert (signed["status"], signed["signed_by"], signed["second_inspector"], signed["countersigned_by"]) == (
        "countersign",
        "town",
        "county",
        None,
    )
    status, _ = await call("POST", rec, site["town"], sign | {"second_inspector": "county2"})
    assert status == 409, "a record awaiting its second officer does not change (nor its second officer)"
    # an order cannot be issued from a record that is not yet valid
    order = {
        "title": "安全出口上锁",
        "due_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        "inspection_id": iid,
    }
    status, err = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], order)
    assert status == 400 and "signed inspection" in err["error"]
    confirm = f"{url}/api/v1/inspections/{iid}/countersign"
    status, err = await call("POST", confirm, site["town"])
    assert status == 403 and "they signed" in err["error"], "the author does not confirm their own record"
    for who in ("county2", "city", "admin", "oper"):
        status, err = await call("POST", confirm, site[who])
        assert status == 403 and "named on the record" in err["error"], (who, err)
    for who in ("other", "town_x"):
        status, _ = await call("POST", confirm, site[who])
        assert status == 404, f"{who}: outside the area reads as no such record"
    status, still = await call("GET", f"{url}/api/v1/inspections/{iid}", site["county"])
    assert (status, still["status"]) == (200, "countersign")
    status, done = await call("POST", confirm, site["county"])
    assert status == 200, done
    assert (done["status"], done["signed_by"], done["countersigned_by"]) == ("signed", "town", "county")
    assert done["countersigned_at"] is not None
    status, _ = await call("POST", confirm, site["county"])
    assert status == 409, "confirmed once"
    status, made = await call("POST", f"{url}/api/v1/facilities/{A.id}/orders", site["town"], order)
    assert status == 201 and made["inspection_id"] == iid, made
    audits = await db.fetch("SELECT actor, action, detail FROM audit_log WHERE action LIKE 'inspection.%' ORDER BY id")
    assert [(r["actor"], r["action"]) for r in audits] == [
        ("town", "inspection.plan"),
        ("town", "inspection.sign"),
        ("county", "inspection.countersign"),
    ]
    # the database holds the rule too: the web's own role cannot make a record signed by one officer
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        other = await web.fetchval(
            "INSERT INTO inspections (facility_id, kind, planned_for, planned_by, level)"
            " VALUES ($1, 'visit', current_date, 'town', 'township') RETURNING id",
            A.id,
        )
        for sql in (
            "UPDATE inspections SET status = 'signed', signed_by = 'town' WHERE id = $1",
            "UPDATE inspections SET status = 'countersign', signed_by = 'town', second_inspector = 'town'"
            " WHERE id = $1",
        ):
            with pytest.raises(asyncpg.CheckViolationError):
                await web.execute(sql, other)
    finally:
        await web.close()


async def _draw_all_of_As_county(
    site: dict[str, Any], unavailable: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A draw of every facility of A's county, with `unavailable` off the inspectors' list: the draw and
    A's result."""
    url = site["url"]
    for who in unavailable:
        off = {"available": False, "reason": "借调"}
        status, _ = await call("POST", f"{url}/api/v1/draws/inspectors/{who}/availability", site["city"], off)
        assert status == 200
    n = sum(1 for f in REG.facilities if f.county == A.county)
    status, d = await call(
        "POST", f"{url}/api/v1/draws", site["city"], {"county": A.county, "count": n, "planned_for": today()}
    )
    assert status == 201, d
    return d, next(r for r in d["results"] if r["facility_id"] == A.id)


async def test_a_record_awaiting_its_second_officer_counts_for_nothing(site: dict[str, Any]) -> None:
    """A drawn inspection (双随机) recorded by one of the two drawn and confirmed by the other, and one
    planned by hand: until they are confirmed the draw's results, the assessment's coverage and the credit
    evaluation count no inspection; after it, each counts."""
    url = site["url"]
    # the county-level pair only, so the two drawn both hold A's area
    d, pick = await _draw_all_of_As_county(site, ("town", "town_x", "town_y"))
    first, second = pick["inspectors"]
    assert {first, second} == {"county", "county2"}
    iid = pick["inspection_id"]
    rec = f"{url}/api/v1/inspections/{iid}/record"
    sign = {"findings": FINDINGS, "sign": True}
    status, err = await call("POST", rec, site[first], sign | {"second_inspector": "town"})
    assert status == 403 and "the draw picked" in err["error"], "a drawn inspection's second officer is the drawn one"
    status, signed = await call("POST", rec, site[first], sign | {"second_inspector": second})
    assert (status, signed["status"]) == (200, "countersign"), signed
    # and one planned by hand for yesterday (the assessment counts the inspections planned before today)
    yesterday = (datetime.now(UTC) + timedelta(hours=8, days=-1)).date()
    _, planned = await call(
        "POST", f"{url}/api/v1/facilities/{A.id}/inspections", site["county"], {"planned_for": yesterday.isoformat()}
    )
    by_hand = planned["id"]
    status, signed = await call(
        "POST", f"{url}/api/v1/inspections/{by_hand}/record", site["county"], sign | {"second_inspector": "town"}
    )
    assert (status, signed["status"]) == (200, "countersign"), signed

    async def counted() -> tuple[str, int, int, int]:
        _, drawn = await call("GET", f"{url}/api/v1/draws/{d['id']}", site["county"])
        result = next(r for r in drawn["results"] if r["inspection_id"] == iid)
        _, listed = await call("GET", f"{url}/api/v1/draws?county={A.county}", site["county"])
        signed_in_draw = next(x for x in listed["draws"] if x["id"] == d["id"])["signed"]
        _, assessed = await call("GET", f"{url}/api/v1/assessment?year={yesterday.year}", site["county"])
        done = sum(a["inspections_done"] for a in assessed["areas"])
        _, credit = await call("GET", f"{url}/api/v1/credit", site["county"])
        row = next(f for f in credit["facilities"] if f["facility_id"] == A.id)
        return result["status"], signed_in_draw, done, row["facts"]["inspections"]

    assert await counted() == ("countersign", 0, 0, 0), "awaiting its second officer: no inspection yet"
    for who, inspection in ((second, iid), ("town", by_hand)):
        status, done = await call("POST", f"{url}/api/v1/inspections/{inspection}/countersign", site[who])
        assert (status, done["status"]) == (200, "signed"), done
    assert await counted() == ("signed", 1, 1, 2)


async def test_a_drawn_township_pair_records_the_facility_the_draw_gave_them_and_nothing_more(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    """双随机 draws township inspectors for facilities of *other* townships, which their logins' areas do not
    hold. The draw gives the two drawn that inspection's record (open, record, sign, confirm, print), and
    nothing else of the facility; and nobody but the two drawn records it, a county inspector included."""
    url = site["url"]
    # the township inspectors only, so A's pair comes from the other two townships
    d, pick = await _draw_all_of_As_county(site, ("county", "county2"))
    first, second = pick["inspectors"]
    assert {first, second} == {"town_x", "town_y"}, "never A's own township"
    iid = pick["inspection_id"]
    # what the draw gives: the record, not the facility
    status, insp = await call("GET", f"{url}/api/v1/inspections/{iid}", site[first])
    assert (status, insp["drawn"]) == (200, pick["inspectors"]), insp
    status, listed = await call("GET", f"{url}/api/v1/inspections", site[second])
    assert status == 200 and iid in [i["id"] for i in listed["inspections"]], "the task is in the drawn one's list"
    status, _ = await call("GET", f"{url}/api/v1/facilities/{A.id}", site[first])
    assert status == 404, "the facility itself stays outside a drawn inspector's area"
    status, _ = await call("GET", f"{url}/api/v1/inspections/{iid}", site["other"])
    assert status == 404, "another county's inspector neither"
    rec = f"{url}/api/v1/inspections/{iid}/record"
    sign = {"findings": FINDINGS, "sign": True}
    for outsider, second_named in (("county", first), ("town", first)):
        status, err = await call("POST", rec, site[outsider], sign | {"second_inspector": second_named})
        assert status == 403 and "they record and sign it" in err["error"], (outsider, err)
    status, err = await call("POST", rec, site[first], sign | {"second_inspector": "county"})
    assert status == 403 and "the draw picked" in err["error"], "the second is the other one drawn"
    assert await db.fetchval("SELECT status FROM inspections WHERE id = $1", iid) == "planned", "refused: unchanged"
    status, signed = await call("POST", rec, site[first], sign | {"second_inspector": second})
    assert (status, signed["status"], signed["signed_by"]) == (200, "countersign", first), signed
    for other in ("county", "town"):
        status, err = await call("POST", f"{url}/api/v1/inspections/{iid}/countersign", site[other])
        assert status == 403, (other, err)
    status, done = await call("POST", f"{url}/api/v1/inspections/{iid}/countersign", site[second])
    assert (status, done["status"], done["countersigned_by"]) == (200, "signed", second), done
    # the record counts for the draw; its document is the drawing county's, and the drawn print it
    _, drawn = await call("GET", f"{url}/api/v1/draws/{d['id']}", site["county"])
    assert next(r for r in drawn["results"] if r["inspection_id"] == iid)["status"] == "signed"
    department = await db.fetchval("SELECT department FROM document_numbers WHERE inspection_id = $1", iid)
    assert department == {"city": "city", "county": A.county}[insp["level"]], (department, insp["level"])
    async with aiohttp.ClientSession() as http:
        for who in (first, second):
            headers = {"Authorization": f"Bearer {site[who]}"}
            async with http.get(f"{url}/inspections/{iid}.pdf", headers=headers) as resp:
                assert (resp.status, (await resp.read())[:5]) == (200, b"%PDF-"), who
