"""Filings accepted before CareWatch (issue #39 item 1): `carewatch filing import` brings a county's existing
备案 records in, so that a facility filed years ago is not called 未备案 everywhere. All or nothing, each
wrong line with its reason; never over a filing CareWatch holds; the county's numbers go on after them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner

from carewatch.cli import main
from simulators.registry_gen import generate_registry
from storage import filing as store
from storage.registry import load_registry
from storage.users import Scope
from supervision.filing import facility_state, filing_number
from supervision.filing_import import COLUMNS, ImportRefused, import_file
from tests.conftest import Services

REG = generate_registry(12, seed=3)
A = REG.facilities[0]
SAME_COUNTY = [f for f in REG.facilities if f.county == A.county]
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SOURCE = "全国托育机构备案信息系统导出，2026-11-19"


def _csv(*rows: tuple[str, ...]) -> str:
    return "\ufeff" + "\n".join([",".join(COLUMNS), *(",".join(r) for r in rows)]) + "\n"


async def _states(db: asyncpg.Connection) -> dict[str, tuple[str, str | None]]:
    rows = await store.in_scope(db, Scope("inspector", None, None, None))
    out = {}
    for r in rows:
        accepted = {"id": r["accepted_id"]} if r["accepted_id"] else None
        latest = {"status": r["status"]} if r["status"] else None
        out[r["facility_id"]] = (facility_state(accepted, latest), r["number"])
    return out


async def test_an_imported_filing_is_accepted_with_its_number_and_the_countys_numbers_go_on(
    db: asyncpg.Connection,
) -> None:
    await load_registry(db, REG)
    first, second = SAME_COUNTY[0], SAME_COUNTY[1]
    ours = filing_number(A.county, 2026, 7)  # in CareWatch's own form: the county's sequence moves past it
    theirs = "晋忻托备字2021第0031号"  # another system's form, kept as it was given
    text = _csv(
        (first.id, ours, "2026-03-02", "忻府区卫生健康局", SOURCE),
        (second.id, theirs, "2021-06-30", "忻府区卫生健康局", SOURCE),
    )
    assert len(await import_file(db, text, "admin", NOW)) == 2
    states = await _states(db)
    assert states[first.id] == ("filed", ours) and states[second.id] == ("filed", theirs)
    assert states[SAME_COUNTY[2].id][0] == "unfiled"
    row = await store.accepted(db, first.id)
    assert row is not None and row["kind"] == "initial" and row["reviewed_by"] == "忻府区卫生健康局"
    assert json.loads(row["particulars"])["name"] == first.name, "the registry as it stands is what was filed"
    assert await db.fetchval("SELECT last_no FROM filing_sequences WHERE county = $1 AND year = 2026", A.county) == 7
    assert await store.next_number(db, A.county, 2026) == 8, "no later 备案 repeats an imported number"
    audit = await db.fetch("SELECT actor, action, target FROM audit_log WHERE action = 'filing.import'")
    assert {(r["actor"], r["target"]) for r in audit} == {("admin", first.id), ("admin", second.id)}


async def test_a_wrong_line_refuses_the_whole_file_with_every_reason(db: asyncpg.Connection) -> None:
    await load_registry(db, REG)
    good = _csv((SAME_COUNTY[0].id, "忻府卫托备〔2025〕1号", "2025-05-06", "忻府区卫生健康局", SOURCE))
    await import_file(db, good, "admin", NOW)
    before = await db.fetchval("SELECT count(*) FROM filings")
    b, c, d = SAME_COUNTY[1].id, SAME_COUNTY[2].id, REG.facilities[5].id
    bad = _csv(
        (b, "N-1", "2026-01-05", "忻府区卫生健康局", SOURCE),  # fine on its own
        ("xz-000000-9999", "N-2", "2026-01-05", "某局", SOURCE),  # no such facility
        (SAME_COUNTY[0].id, "N-3", "2026-01-05", "某局", SOURCE),  # filed in CareWatch already
        (c, "忻府卫托备〔2025〕1号", "2026-01-05", "某局", SOURCE),  # a number given already
        (d, "N-4", "2026-12-25", "某局", SOURCE),  # after today
        (b, "N-5", "2019-01-01", "", ""),  # named twice, before the rules, no authority, no source
    )
    with pytest.raises(ImportRefused) as err:
        await import_file(db, bad, "admin", NOW)
    problems = err.value.problems
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 5", "line 6", "line 7"], problems
    assert "no registered facility" in problems[0] and "has a filing in CareWatch already" in problems[1]
    assert "given already" in problems[2] and "between 2019-10-08 and today" in problems[3]
    for why in ("named twice", "between", "authority", "source"):
        assert why in problems[4], problems[4]
    assert await db.fetchval("SELECT count(*) FROM filings") == before, "nothing of the file imported"
    with pytest.raises(ImportRefused, match="header lacks"):
        await import_file(db, "facility_id,number\nx,y\n", "admin", NOW)


async def test_the_command_imports_and_says_why_it_refuses(
    db: asyncpg.Connection, db_url: str, services: Services, tmp_path: Path
) -> None:
    """`carewatch filing import FILE`: only the command line (an administrator at the database) imports; the
    web has no route for it, so no facility gives itself a 备案."""
    await load_registry(db, REG)
    path = tmp_path / "备案.csv"
    env: dict[str, Any] = {"CAREWATCH_DATABASE_URL": db_url, "CAREWATCH_MQTT_URL": services.mqtt_url}
    path.write_text(_csv((A.id, "N-9", "2024-09-09", "忻府区卫生健康局", SOURCE), (A.id, "N-10", "x", "y", "z")))
    res = await asyncio.to_thread(CliRunner().invoke, main, ["filing", "import", str(path)], env=env)
    assert res.exit_code == 1 and "line 3" in res.output and "nothing imported" in res.output, res.output
    path.write_text(_csv((A.id, "N-9", "2024-09-09", "忻府区卫生健康局", SOURCE)))
    res = await asyncio.to_thread(CliRunner().invoke, main, ["filing", "import", str(path), "--actor", "ops"], env=env)
    assert res.exit_code == 0 and "imported 1" in res.output, res.output
    assert (await _states(db))[A.id] == ("filed", "N-9")
    from web.api import routes as api_routes
    from web.openapi import PATHS

    web_paths = [*PATHS, *(getattr(r, "path", "") for r in api_routes)]
    assert not [p for p in web_paths if "import" in p], "no web route imports filings"


async def test_the_public_list_says_which_facilities_are_filed(db: asyncpg.Connection, db_url: str) -> None:
    """The public list promises 备案情况: each row says 已备案 with its number, or 未备案 (a newcomer's demo:
    filed and unfiled facilities looked alike); the facility's page dates its 备案 as a date, not "刚刚"."""
    import secrets

    import aiohttp
    from aiohttp.test_utils import TestServer

    from tests.conftest import as_role
    from web.app import create_app

    await load_registry(db, REG)
    filed = SAME_COUNTY[0]
    await import_file(
        db, _csv((filed.id, "忻府卫托备〔2025〕3号", "2025-03-03", "忻府区卫生健康局", SOURCE)), "admin", NOW
    )
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{url}/public", params={"county": A.county}) as r:
                page = await r.text()
                assert r.status == 200
            async with s.get(f"{url}/public/facilities/{filed.id}") as r:
                one = await r.text()
    finally:
        await server.close()
    rows = page.split("data-public-facility")[1:]
    states = {
        f.id: next(("filed" if 'data-filing="filed"' in r else "unfiled") for r in rows if f.id in r)
        for f in SAME_COUNTY
    }
    assert states == {f.id: "filed" if f is filed else "unfiled" for f in SAME_COUNTY}, states
    assert "忻府卫托备〔2025〕3号" in page
    assert "2025年3月3日" in one and "刚刚" not in one.split("data-filing")[1][:300]
