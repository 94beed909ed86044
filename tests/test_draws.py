"""双随机一公开 (issue #40 item 5): the draw is reproducible from its published inputs by an independent
implementation of the documented algorithm, changes when an input changes, cannot be given a seed, is
recorded every time (a re-draw is visible, with its reason), and plans an inspection with two distinct
inspectors of the county for each facility drawn. Who may draw, and bad input 4xx, over real HTTP."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from carewatch.cli import main
from simulators.registry_gen import generate_registry
from storage.registry import load_registry
from storage.users import create_user
from supervision import draw as algorithm
from supervision.draw import DrawError, Inputs, draw, inputs_sha256, seed_of, verify
from tests.conftest import as_role
from tests.helpers import call
from web.app import create_app

REG = generate_registry(40, seed=3)
COUNTY = Counter(f.county for f in REG.facilities).most_common(1)[0][0]
MINE = sorted((f for f in REG.facilities if f.county == COUNTY), key=lambda f: f.id)
TOWN = MINE[0].township
OTHER = next(f for f in REG.facilities if f.county != COUNTY)


# -- an independent implementation, written from docs/contract.md's text alone ---------------------------
def third_party(record: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = record["inputs"]
    facilities = sorted([f[0], f[1]] for f in inputs["facilities"])
    inspectors = sorted([i[0], i[1]] for i in inputs["inspectors"])
    canonical = {
        "algorithm": "cw-draw-1",
        "county": inputs["county"],
        "facilities": facilities,
        "inspectors": inspectors,
    }
    digest = hashlib.sha256(
        json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert digest == record["inputs_sha256"]
    text = "|".join(
        ["cw-draw-1", record["county"], str(record["seq"]), record["drawn_at"], digest, record["previous_seed"] or "-"]
    )
    seed = hashlib.sha256(text.encode()).hexdigest()
    assert seed == record["seed"]
    words: list[int] = []
    block = 0

    def below(n: int) -> int:
        nonlocal block
        while True:
            if not words:
                d = hashlib.sha256(bytes.fromhex(seed) + block.to_bytes(8, "big")).digest()
                words.extend(int.from_bytes(d[k : k + 8], "big") for k in (24, 16, 8, 0))  # popped from the end
                block += 1
            u = words.pop()
            if u < 2**64 - 2**64 % n:
                return u % n

    for i in range(record["count"]):
        j = i + below(len(facilities) - i)
        facilities[i], facilities[j] = facilities[j], facilities[i]
    out = []
    for fid, township in facilities[: record["count"]]:
        eligible = [u for u, t in inspectors if t != township]
        a = eligible.pop(below(len(eligible)))
        b = eligible[below(len(eligible))]
        out.append({"facility_id": fid, "inspectors": [a, b]})
    return out


def _inputs(n_fac: int = 12, n_insp: int = 6) -> Inputs:
    facilities = [(f"xz-140902-{i:04d}", f"14090200{i % 3}") for i in range(1, n_fac + 1)]
    inspectors = [(f"insp{i}", "" if i % 2 else f"14090200{i % 3}") for i in range(n_insp)]
    return Inputs.of("140902", facilities[::-1], inspectors)  # given out of order: canonical order is sorted


def _record(inputs: Inputs, count: int, seq: int = 1, previous: str | None = None) -> dict[str, Any]:
    at = datetime(2026, 12, 7, 2, 30, 1, 123456, tzinfo=UTC)
    digest = inputs_sha256(inputs)
    seed = seed_of(inputs.county, seq, at, digest, previous)
    return {
        "county": inputs.county,
        "seq": seq,
        "drawn_at": algorithm.stamp(at),
        "previous_seed": previous,
        "inputs": inputs.canonical(),
        "inputs_sha256": digest,
        "seed": seed,
        "count": count,
        "picks": algorithm.picks_json(draw(inputs, count, seed)),
    }


def test_a_third_party_reimplementation_gets_the_same_draw() -> None:
    for n in range(1, 9):
        rec = _record(_inputs(), n, seq=n, previous=None if n == 1 else hashlib.sha256(b"p%d" % n).hexdigest())
        assert third_party(rec) == rec["picks"]
        assert verify(rec).ok, verify(rec).problems
        again = _record(_inputs(), n, seq=n, previous=rec["previous_seed"])
        assert again == rec, "the same inputs, number and time: the same draw"


def test_the_draw_changes_when_an_input_changes_and_a_tampered_record_fails() -> None:
    base = _record(_inputs(), 4)
    more = _record(_inputs(n_fac=13), 4)
    fewer = _record(_inputs(n_insp=5), 4)
    assert len({base["inputs_sha256"], more["inputs_sha256"], fewer["inputs_sha256"]}) == 3
    assert len({base["seed"], more["seed"], fewer["seed"]}) == 3
    assert base["picks"] != more["picks"] or base["picks"] != fewer["picks"]
    later = _record(_inputs(), 4, seq=2, previous=base["seed"])
    assert later["seed"] != base["seed"]
    # a friendlier result swapped in, an input dropped, a seed chosen: each is caught
    swapped = dict(base, picks=[dict(base["picks"][0], facility_id="xz-140902-9999"), *base["picks"][1:]])
    assert not verify(swapped).ok
    dropped = dict(base, inputs=dict(base["inputs"], facilities=base["inputs"]["facilities"][1:]))
    assert not verify(dropped).ok
    chosen = dict(base, seed="0" * 64)
    assert not verify(chosen).ok
    assert verify(base).ok


def test_inspectors_are_two_distinct_and_never_of_the_facilitys_township() -> None:
    inputs = _inputs(n_fac=9, n_insp=7)
    township = dict(inputs.inspectors)
    seen: Counter[str] = Counter()
    for k in range(300):
        seed = hashlib.sha256(b"%d" % k).hexdigest()
        for p in draw(inputs, 3, seed):
            a, b = p.inspectors
            assert a != b
            f_town = dict(inputs.facilities)[p.facility_id]
            assert township[a] != f_town and township[b] != f_town
            seen[p.facility_id] += 1
    # every facility can be drawn, about equally often (3 of 9 each time, 300 times: 100 each)
    assert set(seen) == {f for f, _ in inputs.facilities}
    assert all(60 < n < 140 for n in seen.values()), seen


def test_a_draw_that_cannot_be_made_is_refused() -> None:
    inputs = _inputs(n_fac=3, n_insp=6)
    with pytest.raises(DrawError):
        draw(inputs, 4, "ab" * 32)
    with pytest.raises(DrawError):
        draw(inputs, 0, "ab" * 32)
    alone = Inputs.of("140902", [("xz-140902-0001", "140902001")], [("a", ""), ("b", "140902001")])
    with pytest.raises(DrawError):
        draw(alone, 1, "ab" * 32)


# -- over HTTP and the database ---------------------------------------------------------------------------
@pytest.fixture
async def site(db: asyncpg.Connection, db_url: str) -> AsyncIterator[dict[str, Any]]:
    await load_registry(db, REG)
    other_town = next((f.township for f in MINE if f.township != TOWN), f"{COUNTY}999")
    users = {
        "county": await create_user(db, "county", "inspector", "pw", county=COUNTY),
        "county2": await create_user(db, "county2", "inspector", "pw", county=COUNTY),
        "town": await create_user(db, "town", "inspector", "pw", county=COUNTY, township=TOWN),
        "town2": await create_user(db, "town2", "inspector", "pw", county=COUNTY, township=other_town),
        "city": await create_user(db, "city", "inspector", "pw"),
        "other": await create_user(db, "other", "inspector", "pw", county=OTHER.county),
        "admin": await create_user(db, "admin", "admin", "pw"),
        "oper": await create_user(db, "oper", "operator", "pw", facility=MINE[0].id),
    }
    server = TestServer(create_app(as_role(db_url, "web"), secrets.token_bytes(32)), host="127.0.0.1")
    await server.start_server()
    try:
        yield {"url": str(server.make_url("")).rstrip("/")} | {k: tok for k, (_, tok) in users.items()}
    finally:
        await server.close()


def day(days: int = 10) -> str:
    return (datetime.now(UTC) + timedelta(hours=8, days=days)).date().isoformat()


async def test_a_draw_plans_inspections_with_two_inspectors_and_reruns(
    site: dict[str, Any], db: asyncpg.Connection, db_url: str
) -> None:
    url = site["url"]
    status, lists = await call("GET", f"{url}/api/v1/draws/lists?county={COUNTY}", site["town"])
    assert status == 200 and {f["id"] for f in lists["facilities"]} == {f.id for f in MINE}
    listed = {i["username"]: i["township"] for i in lists["inspectors"]}
    assert set(listed) == {"county", "county2", "town", "town2"}, "the county's own accounts, nobody else's"
    status, d = await call("POST", f"{url}/api/v1/draws", site["county"], {"count": 3, "planned_for": day()})
    assert status == 201, d
    assert d["inputs_sha256"] == lists["inputs_sha256"], "the draw used the lists as published"
    assert len(d["results"]) == 3 and len({r["facility_id"] for r in d["results"]}) == 3
    facilities = {f.id: f.township for f in MINE}
    for r in d["results"]:
        a, b = r["inspectors"]
        assert a != b and a in listed and b in listed
        assert facilities[r["facility_id"]] not in {listed[a], listed[b]}, "nobody inspects their own township"
        status, insp = await call("GET", f"{url}/api/v1/inspections/{r['inspection_id']}", site["county"])
        assert status == 200 and insp["facility_id"] == r["facility_id"] and insp["status"] == "planned"
        assert insp["planned_for"] == day()
    assert third_party(d) == d["picks"], "re-run from the published record alone"
    status, v = await call("GET", f"{url}/api/v1/draws/{d['id']}/verify", site["city"])
    assert status == 200 and v == {"id": d["id"], "ok": True, "problems": []}
    # the record tampered with in the database (as its owner): the re-run says so
    await db.execute(
        "UPDATE random_draw_picks SET inspector_b = inspector_a || 'x' WHERE draw_id = $1 AND facility_id = $2",
        d["id"],
        d["results"][0]["facility_id"],
    )
    status, v = await call("GET", f"{url}/api/v1/draws/{d['id']}/verify", site["city"])
    assert status == 200 and not v["ok"] and v["problems"]
    # and the web itself cannot rewrite or delete a draw (storage/roles.py)
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        for sql in ("UPDATE random_draws SET seed = repeat('0', 64)", "DELETE FROM random_draw_picks"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await web.execute(sql)
    finally:
        await web.close()


async def test_every_draw_is_recorded_and_a_redraw_needs_a_reason(site: dict[str, Any], db: asyncpg.Connection) -> None:
    url = site["url"]
    status, first = await call("POST", f"{url}/api/v1/draws", site["county"], {"count": 2, "planned_for": day()})
    assert status == 201
    status, err = await call("POST", f"{url}/api/v1/draws", site["county"], {"count": 2, "planned_for": day(11)})
    assert status == 409 and "reason" in err["error"], "the same month again, silently"
    body = {"count": 2, "planned_for": day(11), "reason": "首次抽取的检查人员出差"}
    status, second = await call("POST", f"{url}/api/v1/draws", site["city"], body | {"county": COUNTY})
    assert status == 201, second
    assert second["redraw_of"] == first["id"] and second["seq"] == first["seq"] + 1
    assert second["previous_seed"] == first["seed"], "the draws of a county are a chain"
    status, listing = await call("GET", f"{url}/api/v1/draws?county={COUNTY}", site["town"])
    assert [r["id"] for r in listing["draws"]] == [second["id"], first["id"]], "both stay published"
    assert listing["draws"][0]["reason"] == body["reason"]
    actions = [
        r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE action LIKE 'draw.%' ORDER BY id")
    ]
    assert actions == ["draw.make", "draw.redraw"]
    for d in (first, second):
        status, v = await call("GET", f"{url}/api/v1/draws/{d['id']}/verify", site["county2"])
        assert v["ok"], v


async def test_who_may_draw_and_bad_input(site: dict[str, Any]) -> None:
    url = site["url"]
    ok = {"count": 1, "planned_for": day(), "county": COUNTY}
    for who, expect in (("oper", 404), ("town", 403), ("other", 403), ("admin", 403)):
        status, err = await call("POST", f"{url}/api/v1/draws", site[who], ok)
        assert status == expect, (who, status, err)
    status, _ = await call("GET", f"{url}/api/v1/draws", site["oper"])
    assert status == 404, "the operator does not read the lists"
    bad = [
        ok | {"seed": "00" * 32},
        ok | {"count": 0},
        ok | {"count": "3"},
        ok | {"count": True},
        ok | {"count": 10**9},
        ok | {"count": len(MINE) + 1},
        ok | {"planned_for": day(-2)},
        ok | {"planned_for": "2026-02-30"},
        ok | {"planned_for": day(400)},
        ok | {"county": "14"},
        ok | {"reason": 5},
        ok | {"reason": "x" * 501},
        [1, 2],
        "draw",
    ]
    for body in bad:
        status, err = await call("POST", f"{url}/api/v1/draws", site["city"], body)
        assert status == 400 and err.get("error"), (body, status, err)
    status, _ = await call("POST", f"{url}/api/v1/draws", site["city"], {"count": 1, "planned_for": day()})
    assert status == 400, "the city names the county"
    status, _ = await call("GET", f"{url}/api/v1/draws/99999", site["city"])
    assert status == 404


async def test_availability_changes_the_list_and_nobody_excuses_themselves(site: dict[str, Any]) -> None:
    url = site["url"]
    mark = f"{url}/api/v1/draws/inspectors"
    status, _ = await call(
        "POST", f"{mark}/county/availability", site["county"], {"available": False, "reason": "休假"}
    )
    assert status == 403, "nobody takes themselves out of the pool"
    status, _ = await call("POST", f"{mark}/county2/availability", site["county"], {"available": False})
    assert status == 400, "a reason for 'not available'"
    status, _ = await call("POST", f"{mark}/county2/availability", site["town"], {"available": False, "reason": "休假"})
    assert status == 403, "a township's inspector does not change the county's list"
    status, _ = await call(
        "POST", f"{mark}/county2/availability", site["other"], {"available": False, "reason": "休假"}
    )
    assert status == 403
    status, before = await call("GET", f"{url}/api/v1/draws/lists?county={COUNTY}", site["county"])
    status, after = await call(
        "POST", f"{mark}/county2/availability", site["county"], {"available": False, "reason": "休假"}
    )
    assert status == 200 and after["inputs_sha256"] != before["inputs_sha256"]
    status, d = await call("POST", f"{url}/api/v1/draws", site["county"], {"count": len(MINE), "planned_for": day()})
    assert status == 201, d
    assert "county2" not in {u for r in d["results"] for u in r["inspectors"]}
    assert "county2" not in {i[0] for i in d["inputs"]["inspectors"]}


async def test_the_pages_draw_and_rerun_in_chinese(site: dict[str, Any]) -> None:
    url = site["url"]
    headers = {"Authorization": f"Bearer {site['county']}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        async with s.get(f"{url}/draws?lang=zh") as r:
            assert r.status == 200
            html = await r.text()
        assert "双随机抽查" in html and "机构名录" in html and MINE[0].name in html
        status, d = await call("POST", f"{url}/api/v1/draws", site["county"], {"count": 2, "planned_for": day()})
        assert status == 201
        async with s.get(f"{url}/draws/{d['id']}?verify=1&lang=zh") as r:
            assert r.status == 200
            html = await r.text()
        assert 'data-ok="true"' in html and "核对一致" in html and "+00:00" not in html
    oper = {"Authorization": f"Bearer {site['oper']}"}
    async with aiohttp.ClientSession(headers=oper) as s, s.get(f"{url}/draws/{d['id']}") as r:
        assert r.status == 404


def test_carewatch_draw_verify_from_a_published_record(tmp_path: Path) -> None:
    """`carewatch draw verify --file`: what a third party runs on the public record (exit 1 when it differs)."""
    rec = _record(_inputs(), 3)
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(rec, ensure_ascii=False), encoding="utf-8")
    picks = rec["picks"]
    bad.write_text(json.dumps(rec | {"picks": [picks[1], picks[0], *picks[2:]]}), encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(main, ["draw", "verify", "--file", str(good)])
    assert out.exit_code == 0 and "verified" in out.output, out.output
    out = runner.invoke(main, ["draw", "verify", "--file", str(bad)])
    assert out.exit_code == 1 and "differs" in out.output, out.output
    out = runner.invoke(main, ["draw", "verify"])
    assert out.exit_code == 2
