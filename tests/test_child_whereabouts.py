"""Where a child left on site is, recorded with a note (issue #42 item 3), over real HTTP on a real
database: only on an active alert about a child, only with a note, in scope; the alert stays on the record
for the inspectors as resolved by the note; and the note never makes the record look better than the
child's badge-out at that time would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from contract.rules import Condition, Key
from storage import whereabouts
from storage.alerts import acknowledge, clear_alert, open_alert, raise_severity
from storage.credit import _responses
from storage.users import Scope
from tests.test_web import (
    A,
    B,
    site,  # noqa: F401 - the fixture, requested by name below
)


def _left(child: str) -> tuple[Key, Condition]:
    return Key("child_not_collected", subject=child), Condition("major", f"闭园后幼儿未被接走（{child}）", "left")


@pytest.fixture
async def left_overnight(site: dict[str, object], db: asyncpg.Connection) -> dict[str, object]:  # noqa: F811
    """A child of B not collected at 18:05 yesterday, raised to critical at midnight, still on site."""
    t0 = datetime.now(UTC) - timedelta(hours=10)
    child = B.children[0].id
    key, cond = _left(child)
    change = await open_alert(db, B.id, key, cond, t0)
    await raise_severity(db, B.id, key, "critical", t0 + timedelta(hours=6))
    return {"alert": change.alert_id, "child": child, "t0": t0}


async def _post(url: str, token: str, alert: object, note: str) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{url}/api/v1/alerts/{alert}/whereabouts", json={"note": note}, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_the_operator_records_where_the_child_is_with_a_note(
    site: dict[str, object],  # noqa: F811
    left_overnight: dict[str, object],
    db: asyncpg.Connection,
) -> None:
    url, oper, insp = str(site["url"]), str(site["oper"]), str(site["insp"])
    alert = left_overnight["alert"]
    for note in ("", "   ", "在", "ok", "。。。。", "aaaa"):  # a blank or near-blank note closed it before
        status, body = await _post(url, oper, alert, note)
        assert status == 400 and "child" in str(body["error"])
    status, _ = await _post(url, insp, alert, "在外婆家")  # B is outside the county inspector's scope
    assert status == 404
    status, _ = await _post(url, oper, site["alert_b"], "在外婆家")  # a fire alarm is not about a child
    assert status == 409
    # the page (Chinese first) offers the form on the active alert
    async with aiohttp.ClientSession() as s:
        r = await s.get(f"{url}/alerts/{alert}", headers={"Authorization": f"Bearer {oper}"})
        assert r.status == 200 and "登记幼儿去向" in await r.text()
    note = "19:40 由外婆接回家（电话核实），未刷卡"
    status, body = await _post(url, oper, alert, note)
    assert status == 200 and body["acknowledged"] is True
    [rec] = await db.fetch("SELECT facility_id, child_id, note FROM child_whereabouts")
    assert (rec["facility_id"], rec["child_id"], rec["note"]) == (B.id, left_overnight["child"], note)
    history = await db.fetch("SELECT action, detail FROM alert_history WHERE alert_id = $1 ORDER BY id", alert)
    assert [h["action"] for h in history] == ["opened", "raised", "whereabouts"]
    assert note in history[-1]["detail"]
    # the engine clears it as a badge-out would (tests/test_child_overnight.py); it stays on the record
    await clear_alert(db, B.id, _left(str(left_overnight["child"]))[0], datetime.now(UTC))
    async with aiohttp.ClientSession() as s:
        r = await s.get(f"{url}/alerts/{alert}", headers={"Authorization": f"Bearer {site['admin']}"})
        page = await r.text()
    assert r.status == 200 and note in page and "登记幼儿去向" in page and 'id="whereabouts-form"' not in page
    status, _ = await _post(url, oper, alert, "again")  # no longer active: nothing to record against
    assert status == 409


async def test_a_note_makes_the_record_no_better_than_the_badge_out(
    left_overnight: dict[str, object], db: asyncpg.Connection
) -> None:
    """The same night in two facilities: in B the operator records the child's whereabouts at 07:30, in A
    the child is badged out at 07:30 and the alert acknowledged then. The credit's response part counts
    them alike (a late acknowledgement each), and the child's alert is on both records."""
    t0 = left_overnight["t0"]
    assert isinstance(t0, datetime)
    at = t0 + timedelta(hours=13, minutes=25)
    child_a = A.children[0].id
    key_a, cond_a = _left(child_a)
    change = await open_alert(db, A.id, key_a, cond_a, t0)
    await raise_severity(db, A.id, key_a, "critical", t0 + timedelta(hours=6))
    await clear_alert(db, A.id, key_a, at)  # the badge-out
    admin = Scope("admin", None, None, None)
    await acknowledge(db, admin, change.alert_id, "admin", "07:30 刷卡离园", at)
    await whereabouts.record(db, admin, int(str(left_overnight["alert"])), "oper-b", "07:30 家长接回", at)
    await clear_alert(db, B.id, _left(str(left_overnight["child"]))[0], at + timedelta(seconds=5))
    acks = await _responses(db, ([A.id, B.id], t0 - timedelta(hours=1), at + timedelta(hours=1)), at)
    # (each facility also has the fixture's fire alarm, never acknowledged)
    assert acks[B.id] == acks[A.id] == (2, 1, 1), "the child's alert: acknowledged late, in both"
    rows = await db.fetch("SELECT facility_id, status, severity FROM alerts WHERE rule = 'child_not_collected'")
    assert {(r["facility_id"], r["status"], r["severity"]) for r in rows} == {
        (A.id, "cleared", "critical"),
        (B.id, "cleared", "critical"),
    }
