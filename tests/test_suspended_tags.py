"""停业整改中 wherever a suspended facility is listed (issue #40 leftovers, item 3): the credit page, the filing
list and the facility's filing page, the draws' published list and a draw's results, over real HTTP, for the
suspended facility only, and gone once the suspension is lifted."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from storage.users import create_user
from tests.test_enforcement import _recheck
from tests.test_orders import A, _page_session, call, site  # noqa: F401 - `site`: the fixture, by name

TAGGED = re.compile(r'<a href="/facilities/([a-z0-9-]+)[^"]*">[^<]*</a> <span class="tag-suspended" data-suspended>')


def _tagged(page: str) -> set[str]:
    return set(TAGGED.findall(page))


async def test_a_suspended_facility_is_tagged_on_the_credit_filing_and_draw_pages(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = site["url"]
    for name in ("county2", "county3"):  # a draw sends two inspectors each
        await create_user(db, name, "inspector", "pw-x", county=A.county)
    day = (datetime.now(UTC) + timedelta(hours=8, days=3)).date().isoformat()
    status, d = await call("POST", f"{url}/api/v1/draws", site["county"], {"count": 1, "planned_for": day})
    assert status == 201, d
    drawn = d["results"][0]["facility_id"]
    paths = ["/credit", "/filing", f"/draws?county={A.county}", f"/draws/{d['id']}"]
    s, _ = await _page_session(url, "county", "pw-county")
    async with s:
        before = {p: await (await s.get(f"{url}{p}")).text() for p in paths}
        assert all(_tagged(page) == set() for page in before.values()), "nobody is suspended yet"
        assert A.id in before["/credit"] and A.id in before["/filing"] and A.id in before[f"/draws?county={A.county}"]
        ids = {}
        for fid in sorted({A.id, drawn}):  # A (the 复查 helper inspects it) and the facility drawn
            body = {"reasons": "消防通道堵塞"}
            status, sus = await call("POST", f"{url}/api/v1/facilities/{fid}/suspension", site["county"], body)
            assert status == 201, sus
            ids[fid] = sus["id"]
        expected = {"/credit": set(ids), "/filing": set(ids), f"/draws?county={A.county}": set(ids)}
        expected[f"/draws/{d['id']}"] = {drawn}
        for p in paths:
            page = await (await s.get(f"{url}{p}")).text()
            assert _tagged(page) == expected[p], (p, _tagged(page))
        own = await (await s.get(f"{url}/facilities/{A.id}/filing")).text()
        assert 'class="tag-suspended" data-suspended>停业整改中<' in own
        lift = {"reason": "复查合格，准予恢复", "inspection_id": await _recheck(url, site)}
        assert (await call("POST", f"{url}/api/v1/suspensions/{ids[A.id]}/lift", site["county"], lift))[0] == 200
        for p in paths:  # lifted: its tags go, the other's stay
            assert _tagged(await (await s.get(f"{url}{p}")).text()) == expected[p] - {A.id}, p
