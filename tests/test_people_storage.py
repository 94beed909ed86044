"""The register of people in the database and over the API (issue #39 items 2 and 4): an identity number
is never stored or said in clear, a ban recorded at one facility holds at another and no later file
lifts it, roles over time, and a class over the standard refused with its reason (400)."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
import yaml
from aiohttp.test_utils import TestServer

from alerts.engine import AlertEngine
from alerts.state import Register
from contract.payloads import Access
from contract.people import mask_id, person_key, with_check_digit
from contract.rules import load_rules
from simulators.registry_gen import generate_registry
from storage.people import fetch_register, roles_of
from storage.registry import fetch_registry
from storage.users import create_user
from tests.conftest import as_role
from web.app import create_app

SALT = b"storage-test-salt"
ID_A = with_check_digit("14090219880214051")
ID_B = with_check_digit("14092119950607002")
REG = generate_registry(2, seed=5)
A, B = REG.facilities


def facility_doc(f: Any, staff_extra: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    doc = f.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["staff"] = [*doc["staff"], *staff_extra]
    return doc | over


def file_with_people(a_banned: bool = True) -> str:
    """Facility A lists person A (banned in its own record) and person B; facility B lists both too,
    with nothing about a ban; the file's people give B's qualifications."""
    a = facility_doc(
        A,
        [
            {"id": "s-7001", "role": "caregiver", "qualified": True, "banned": a_banned, "id_number": ID_A},
            {"id": "s-7002", "role": "caregiver", "qualified": True, "id_number": ID_B},
        ],
    )
    b = facility_doc(
        B,
        [
            {"id": "s-8001", "role": "caregiver", "qualified": True, "id_number": ID_A.lower()},
            {
                "id": "s-8002",
                "role": "caregiver",
                "qualified": True,
                "id_number": int(ID_B) if ID_B[-1] != "X" else ID_B,
            },
        ],
    )
    people = [
        {
            "id_number": ID_B,
            "name": "李四",
            "qualifications": [{"kind": "childcare_worker", "expires": "2029-01-01"}],
            "health_cert_expires": "2028-01-01",
            "health_check_on": "2026-06-01",
            "training_on": "2026-06-01",
        }
    ]
    return yaml.safe_dump({"people": people, "facilities": [a, b]}, allow_unicode=True)


@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, Any]]:
    _, admin = await create_user(db, "admin", "admin", None)
    app = create_app(as_role(db_url, "web"), secrets.token_bytes(32), person_salt=SALT)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/"), "admin": admin}
    finally:
        await server.close()


async def call(method: str, url: str, token: str, **kw: Any) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as s, s.request(method, url, headers=headers, **kw) as r:
        return r.status, await r.text()


def forms(number: str) -> list[str]:
    """The ways a number could be written down: whole, lower-case, without its check digit."""
    return [number, number.lower(), number[:17]]


async def every_text_holding(db: asyncpg.Connection, needle: str) -> list[str]:
    """Tables any of whose rows, as text, contain `needle`."""
    tables = await db.fetch(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS t FROM pg_tables"
        " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        " AND schemaname NOT LIKE '\\_timescaledb%' ESCAPE '\\'"
    )
    found = []
    for r in tables:
        if await db.fetchval(f"SELECT EXISTS (SELECT 1 FROM {r['t']} x WHERE x::text LIKE '%' || $1 || '%')", needle):
            found.append(r["t"])
    return found


async def test_an_identity_number_never_appears_in_clear_in_the_database_or_the_api(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    url, admin = site["url"], site["admin"]
    status, body = await call("POST", f"{url}/api/v1/registry", admin, data=file_with_people().encode())
    assert status == 200, body
    said = [body]
    for f in (A, B):
        status, text = await call("GET", f"{url}/api/v1/facilities/{f.id}/registry", admin)
        assert status == 200
        said.append(text)
    assert mask_id(ID_A) in said[1] and person_key(ID_A, SALT) in said[1], "the key and the masked form are shown"
    said.append((await call("GET", f"{url}/api/v1/audit", admin))[1])
    # a malformed number is refused without repeating it
    bad = ID_A[:17] + ("1" if ID_A[17] != "1" else "2")
    refused = file_with_people().replace(ID_A, bad, 1)
    status, text = await call("POST", f"{url}/api/v1/registry", admin, data=refused.encode())
    assert status == 400 and "check digit" in text
    said.append(text)
    for number in (ID_A, ID_B, bad):
        for form in forms(number):
            assert not any(form in s for s in said), f"{form} said by the API"
            assert await every_text_holding(db, form) == [], f"{form} stored in clear"
    assert await every_text_holding(db, mask_id(ID_A)) == ["public.people"], "the masked form, in one place"


async def test_a_ban_at_one_facility_blocks_the_person_at_another_and_no_file_lifts_it(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    url, admin = site["url"], site["admin"]
    assert (await call("POST", f"{url}/api/v1/registry", admin, data=file_with_people().encode()))[0] == 200
    # facility A's next file no longer says banned: the register keeps the ban
    assert (await call("POST", f"{url}/api/v1/registry", admin, data=file_with_people(False).encode()))[0] == 200
    register = await fetch_register(db)
    key = person_key(ID_A, SALT)
    ban = register[key].ban
    assert ban is not None and A.id in ban.source
    with pytest.raises(asyncpg.PostgresError, match="stays"):
        await db.execute("UPDATE people SET ban_source = NULL, banned_on = NULL WHERE key = $1", key)
    reg = await fetch_registry(db, [A.id, B.id])
    b = next(f for f in reg.facilities if f.id == B.id)
    assert not next(s for s in b.staff if s.id == "s-8001").banned, "facility B's own record says nothing"
    t0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    engine = AlertEngine(reg.facilities, load_rules(None), t0 - timedelta(minutes=1), register=Register(register))
    ds = engine.on_message(b.id, "door-main", Access(msg_id="x1", ts=t0, type="staff_in", person_id="s-8001"), t0)
    assert [(d.key.rule, d.key.subject) for d in ds if d.action == "open"] == [("banned_staff_on_site", "s-8001")]
    roles = await roles_of(db, key)
    assert {(r["facility_id"], r["staff_id"]) for r in roles} == {(A.id, "s-7001"), (B.id, "s-8001")}
    assert all(r["until"] is None for r in roles)


async def test_a_person_dropped_from_a_facility_ends_their_role_there(
    site: dict[str, Any], db: asyncpg.Connection
) -> None:
    url, admin = site["url"], site["admin"]
    assert (await call("POST", f"{url}/api/v1/registry", admin, data=file_with_people().encode()))[0] == 200
    only_a = yaml.safe_dump({"facilities": [facility_doc(A, [])]}, allow_unicode=True)
    assert (await call("POST", f"{url}/api/v1/registry", admin, data=only_a.encode()))[0] == 200
    roles = await roles_of(db, person_key(ID_B, SALT))
    ended = {(r["facility_id"], r["until"] is not None) for r in roles}
    assert ended == {(A.id, True), (B.id, False)}


async def test_an_infant_class_of_12_is_refused_with_the_reason(site: dict[str, Any], db: asyncpg.Connection) -> None:
    url, admin = site["url"], site["admin"]
    doc = facility_doc(A, [], classes=[{"id": "infant-1", "age_group": "infant", "capacity": 12}], children=[])
    status, text = await call("POST", f"{url}/api/v1/registry", admin, data=yaml.safe_dump({"facilities": [doc]}))
    reason = json.loads(text)["error"]
    assert status == 400
    assert "capacity 12" in reason and "乳儿班 ≤ 10" in reason
    assert not await db.fetchval("SELECT count(*) FROM facilities WHERE id = $1", A.id)


async def test_without_a_salt_identity_numbers_are_refused(db: asyncpg.Connection, db_url: str) -> None:
    _, admin = await create_user(db, "admin2", "admin", None)
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        status, text = await call("POST", f"{url}/api/v1/registry", admin, data=file_with_people().encode())
    finally:
        await server.close()
    assert status == 400 and "CAREWATCH_PERSON_SALT" in text
    assert all(f not in text for f in forms(ID_A))
