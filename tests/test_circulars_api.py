"""通报 and the 约谈 of a lagging area over the JSON API (issue #40 items 1 and 9), over real HTTP and TimescaleDB:
the same checks as the pages. A county drafts and issues a circular; the facility it names reads it, another
county's inspector and another facility do not (404), an operator writes none (403); a public one is read
without a login and names nobody who drafted or issued it. The city records a 约谈 of a county; a county reads
its own, another county and a township outside it none, an operator none (403)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from tests.helpers import call
from tests.test_orders import A, _page_session, site  # noqa: F401 - `site`: the fixture, by name


def _today() -> str:
    return (datetime.now(UTC) + timedelta(hours=8)).date().isoformat()


async def _anonymous(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.json()


DRAFT = {"kind": "criticise", "title": "关于整改逾期的通报", "body": "现将有关情况通报如下。"}


async def test_circulars_are_read_and_written_over_the_api_with_the_pages_checks(site: dict[str, Any]) -> None:  # noqa: F811
    url = f"{site['url']}/api/v1"
    body = DRAFT | {"subjects": [{"subject": f"facility:{A.id}", "statement": "逾期未整改"}]}
    for who in ("oper", "town"):
        status, err = await call("POST", f"{url}/circulars", site[who], body)
        assert status == 403, (who, err)
    status, err = await call("POST", f"{url}/circulars", site["other"], body)
    assert status == 400 and A.id in err["error"], "another county names no facility of this one (as the form)"
    blank = {"subjects": [{"subject": " ", "statement": ""}]}  # the form skips a blank row; the API refuses it
    for bad in (
        {"subjects": "facility:x"},
        {"kind": "praise"},
        {"title": 3},
        {"public": "yes"},
        {"subjects": [7]},
        blank,
    ):
        status, err = await call("POST", f"{url}/circulars", site["county"], body | bad)
        assert status == 400 and err["error"], (bad, err)
    status, c = await call("POST", f"{url}/circulars", site["county"], body)
    assert status == 201, c
    assert (c["status"], c["number_text"], c["department"]) == ("draft", None, A.county)
    assert [s["facility_id"] for s in c["subjects"]] == [A.id]
    cid = c["id"]
    for who in ("oper", "oper_b", "other", "town"):
        assert (await call("GET", f"{url}/circulars/{cid}", site[who]))[0] == 404, f"{who} reads no draft"
    assert (await call("POST", f"{url}/circulars/{cid}/issue", site["other"]))[0] == 404
    assert (await call("POST", f"{url}/circulars/{cid}/issue", site["oper"]))[0] == 404
    status, issued = await call("POST", f"{url}/circulars/{cid}/issue", site["county"])
    assert status == 200 and issued["status"] == "issued" and issued["number_text"], issued
    assert (await call("POST", f"{url}/circulars/{cid}/issue", site["county"]))[0] == 409, "issued once"
    for who in ("oper", "town", "county", "city"):
        status, got = await call("GET", f"{url}/circulars/{cid}", site[who])
        assert status == 200 and got["number_text"] == issued["number_text"], who
        status, listed = await call("GET", f"{url}/circulars", site[who])
        assert [r["id"] for r in listed["circulars"]] == [cid], who
    for who in ("oper_b", "other"):
        assert (await call("GET", f"{url}/circulars/{cid}", site[who]))[0] == 404, who
        assert (await call("GET", f"{url}/circulars", site[who]))[1] == {"circulars": []}, who
    # not public: nobody reads it without a login
    assert (await _anonymous(f"{url}/public/circulars"))[1] == {"circulars": []}
    assert (await _anonymous(f"{url}/public/circulars/{cid}"))[0] == 404
    assert (await _anonymous(f"{url}/circulars/{cid}"))[0] == 401
    status, pub = await call("POST", f"{url}/circulars", site["county"], body | {"public": True, "kind": "report"})
    assert status == 201 and pub["public"] is True
    assert (await _anonymous(f"{url}/public/circulars/{pub['id']}"))[0] == 404, "a draft is not public"
    assert (await call("POST", f"{url}/circulars/{pub['id']}/issue", site["county"]))[0] == 200
    status, listed = await _anonymous(f"{url}/public/circulars")
    assert status == 200 and [r["id"] for r in listed["circulars"]] == [pub["id"]]
    status, one = await _anonymous(f"{url}/public/circulars/{pub['id']}")
    assert status == 200 and one["subjects"][0]["statement"] == "逾期未整改" and one["number_text"]
    assert "county" not in str(one.get("issued_by")) and not {"drafted_by", "issued_by", "updated_by"} & set(one)


async def test_area_summonses_are_read_in_scope_and_recorded_by_the_level_above(site: dict[str, Any]) -> None:  # noqa: F811
    url = f"{site['url']}/api/v1/assessment/summonses"
    year = _today()[:4]
    body = {"area": A.county, "period": year, "held_on": _today(), "people": "县卫健局分管负责人"}
    body["minutes"] = "要求限期整改"
    for who, expected in (("county", 403), ("oper", 403), ("town", 403)):
        assert (await call("POST", url, site[who], body))[0] == expected, who
    assert (await call("POST", url, site["city"], body | {"held_on": "2001-01-01"}))[0] == 400
    assert (await call("POST", url, site["city"], body | {"people": 5}))[0] == 400
    status, county_summons = await call("POST", url, site["city"], body)
    assert status == 201 and county_summons["level"] == "county" and county_summons["area"] == A.county
    township = body | {"area": A.township, "people": "乡镇分管负责人"}
    assert (await call("POST", url, site["other"], township))[0] == 403, "another county's township is not its"
    status, town_summons = await call("POST", url, site["county"], township)
    assert status == 201 and town_summons["level"] == "township"
    seen = {}
    for who in ("city", "county", "town", "other"):
        status, listed = await call("GET", f"{url}?year={year}", site[who])
        assert status == 200, who
        seen[who] = {s["id"] for s in listed["summonses"]}
    assert seen == {
        "city": {county_summons["id"], town_summons["id"]},
        "county": {county_summons["id"], town_summons["id"]},
        "town": {town_summons["id"]},
        "other": set(),
    }
    # asking for another county does not widen the scope
    assert (await call("GET", f"{url}?county={A.county}", site["other"]))[1] == {"summonses": []}
    for sid in (county_summons["id"], town_summons["id"]):
        assert (await call("GET", f"{url}/{sid}", site["other"]))[0] == 404
        assert (await call("GET", f"{url}/{sid}", site["oper"]))[0] == 403
        status, got = await call("GET", f"{url}/{sid}", site["county"])
        assert status == 200 and got["id"] == sid
    assert (await call("GET", f"{url}/{county_summons['id']}", site["town"]))[0] == 404
    assert (await call("GET", f"{url}?year=26", site["county"]))[0] == 400
    assert (await call("GET", url, site["oper"]))[0] == 403
    # nor does the assessment page: another county asking for this one reads none of its 约谈
    s, _ = await _page_session(site["url"], "other", "pw-other")
    async with s:
        page = await (await s.get(f"{site['url']}/assessment", params={"county": A.county, "year": year})).text()
        assert "要求限期整改" not in page and "乡镇分管负责人" not in page
    s, _ = await _page_session(site["url"], "county", "pw-county")
    async with s:
        page = await (await s.get(f"{site['url']}/assessment", params={"year": year})).text()
        assert "乡镇分管负责人" in page, "its own are shown"
