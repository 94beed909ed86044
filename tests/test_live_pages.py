"""What the live pages fetch (issue #41 item 1), over real HTTP on the real database: the red banner
(`GET /critical-banner`) is the current state of the critical alarms in the user's scope, and the
overview's lists alone (`GET /?fragment=alerts`) are the overview's, without its map. The browser's side
is tests/test_browser_live.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg

from contract.rules import Condition, Key
from storage.alerts import clear_alert, open_alert
from tests.test_web import A, _logged_in, site  # noqa: F401 - the fixture

FIRE = Condition("critical", "火灾报警（午睡室1）", "fire alarm (nap room 1)")


def _ids(html: str, attr: str) -> set[int]:
    return {int(m) for m in re.findall(rf'{attr}="([0-9]+)"', html)}


async def test_the_banner_lists_the_active_critical_alarms_in_scope_each_a_link(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    """`site` (tests/test_web.py): a fire alarm active at A and one at B; insp-a sees A's county, oper-b is B's."""
    url, now = str(site["url"]), datetime.now(UTC)
    door = await open_alert(db, A.id, Key("door_forced", "exit-1"), Condition("major", "门", "door"), now)
    gone = await open_alert(db, A.id, Key("fire_alarm", "smoke-class1"), FIRE, now - timedelta(minutes=2))
    await clear_alert(db, A.id, Key("fire_alarm", "smoke-class1"), now - timedelta(minutes=1))
    expected = {"insp-a": {site["alert_a"]}, "oper-b": {site["alert_b"]}}
    for user, password in (("insp-a", "pw-a"), ("oper-b", "pw-b")):
        s, _ = await _logged_in(url, user, password)
        async with s:
            r = await s.get(f"{url}/critical-banner")
            html = await r.text()
            assert r.status == 200, html
            # active and critical only (not the major door, not the cleared alarm), and only in scope
            assert _ids(html, "data-banner-alert") == expected[user], (user, html)
            for alert_id in expected[user]:
                assert f'href="/alerts/{alert_id}"' in html
                assert f'data-banner-close="{alert_id}"' in html
            assert "<html" not in html, "the banner alone"
    assert door.alert_id not in expected["insp-a"] and gone.alert_id not in expected["insp-a"]


async def test_the_overviews_alert_lists_alone_are_the_overviews(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url, now = str(site["url"]), datetime.now(UTC)
    cleared = await open_alert(db, A.id, Key("fire_alarm", "smoke-class1"), FIRE, now - timedelta(minutes=2))
    await clear_alert(db, A.id, Key("fire_alarm", "smoke-class1"), now - timedelta(minutes=1))  # latched
    s, _ = await _logged_in(url, "insp-a", "pw-a")
    async with s:
        page = await (await s.get(f"{url}/")).text()
        r = await s.get(f"{url}/?fragment=alerts")
        part = await r.text()
    assert r.status == 200, part
    assert "<html" not in part and 'id="map"' not in part, "the lists alone, without the map"
    active, awaiting = (re.search(rf'data-list="{k}">(.*?)</ol>', part, re.S) for k in ("active", "awaiting-ack"))
    assert active and awaiting, part
    assert _ids(active.group(1), "data-alert") == {site["alert_a"]}
    assert _ids(awaiting.group(1), "data-alert") == {cleared.alert_id}
    assert site["alert_b"] not in _ids(part, "data-alert"), "another county's alert"
    # the same lists as the overview's own (one template), which says where to fetch them
    start = page.index('<div data-live="alerts"')
    assert page[start : start + len(part.strip())] == part.strip()
    assert 'data-live-src="/?fragment=alerts&amp;lang=zh"' in page
