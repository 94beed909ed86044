"""Who may collect a child (issue #39 item 3): pick-up delegates in the pure engine and the rules of
supervision/pickup.py (who records, consent, validity), with a driven clock."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from alerts.engine import AlertEngine
from alerts.tracker import Decision
from contract.payloads import Access
from contract.pickup import Delegate
from contract.registry import Facility
from contract.rules import load_rules
from simulators.registry_gen import generate_registry
from storage import pickup as pickup_store
from storage.registry import load_registry
from storage.users import Scope, create_user
from supervision.pickup import NewDelegate, PickupRefused, check_new, check_revoke, judge_pickup
from tests.conftest import as_role
from tests.test_web import REG, B, _logged_in, get, post, site  # noqa: F401 - the fixture, requested by name below

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 16:00 in Xinzhou: pick-up time
_ids = itertools.count(1)
_delegate_ids = itertools.count(1)
OPERATOR = Scope("operator", None, None, "")  # facility filled in per test
GRANDMA = "g-grandma"


def facility() -> Facility:
    return generate_registry(1, seed=5).facilities[0]


def access(kind: str, person: str, at: datetime, **kw: str) -> Access:
    return Access(msg_id=f"p-{next(_ids)}", ts=at, type=kind, person_id=person, **kw)


def delegate(f: Facility, child: str, *, created: datetime, **kw: object) -> Delegate:
    base = {
        "id": next(_delegate_ids),
        "facility_id": f.id,
        "child_id": child,
        "person_id": GRANDMA,
        "name": "王奶奶",
        "relation": "grandparent",
        "kind": "standing",
        "valid_from": created,
        "valid_until": created + timedelta(days=30),
        "created_at": created,
    }
    return Delegate(**(base | kw))  # type: ignore[arg-type]


def opened(ds: list[Decision], rule: str = "unauthorized_pickup") -> list[Decision]:
    return [d for d in ds if d.action == "open" and d.key.rule == rule]


def collect(engine: AlertEngine, f: Facility, child: str, by: str | None, at: datetime) -> list[Decision]:
    engine.on_message(f.id, "door-main", access("child_in", child, at - timedelta(hours=7)), at)
    kw = {} if by is None else {"guardian_id": by}
    return engine.on_message(f.id, "door-main", access("child_out", child, at, **kw), at)


def test_a_delegate_collects_a_child_without_alert() -> None:
    f = facility()
    child = f.children[0].id
    engine = AlertEngine([f], load_rules(None), T0 - timedelta(days=1))
    engine.set_delegates([delegate(f, child, created=T0 - timedelta(days=1))])
    assert opened(collect(engine, f, child, GRANDMA, T0)) == []
    # the delegate is the child's, not every child's: the same grandmother takes another child
    other = f.children[1].id
    bad = opened(collect(engine, f, other, GRANDMA, T0 + timedelta(minutes=1)))
    assert [(d.key.subject, d.condition.severity) for d in bad] == [(other, "critical")]


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("expired", {"valid_until": T0 - timedelta(minutes=1)}),
        ("revoked", {"revoked_at": T0 - timedelta(hours=1)}),
        ("not_yet", {"valid_from": T0 + timedelta(hours=1)}),
    ],
)
def test_an_expired_revoked_or_future_delegate_raises_the_critical_alert(what: str, change: dict) -> None:
    f = facility()
    child = f.children[0].id
    engine = AlertEngine([f], load_rules(None), T0 - timedelta(days=1))
    d = replace(delegate(f, child, created=T0 - timedelta(days=3)), **change)
    engine.set_delegates([d])
    bad = opened(collect(engine, f, child, GRANDMA, T0))
    assert [(x.key.subject, x.condition.severity) for x in bad] == [(child, "critical")]
    assert {"expired": "expired", "revoked": "revoked", "not_yet": "not yet valid"}[what] in bad[0].condition.summary_en


def test_a_one_off_delegate_works_once_only() -> None:
    f = facility()
    child = f.children[0].id
    engine = AlertEngine([f], load_rules(None), T0 - timedelta(days=1))
    engine.set_delegates([delegate(f, child, created=T0 - timedelta(days=1), kind="one_off")])
    assert opened(collect(engine, f, child, GRANDMA, T0)) == []
    again = opened(collect(engine, f, child, GRANDMA, T0 + timedelta(days=1)))
    assert [x.key.subject for x in again] == [child]
    assert "already used" in again[0].condition.summary_en
    # a reload from storage (which then knows the use from the stored access events) keeps it spent
    engine2 = AlertEngine([f], load_rules(None), T0 - timedelta(days=1))
    engine2.set_delegates([delegate(f, child, created=T0 - timedelta(days=1), kind="one_off", first_used_at=T0)])
    assert opened(collect(engine2, f, child, GRANDMA, T0 + timedelta(days=2)))


def test_a_delegate_recorded_after_the_pickup_neither_clears_nor_prevents_its_alert() -> None:
    """Cannot be used to look better than the truth: the grandmother collected at 16:00 with nobody's
    authorisation recorded; the operator records her at 16:05, with a validity from 15:56 (inside the form's
    grace). The alert raised at 16:00 stays open, and the same pick-up judged again (a restarted engine's
    replay, a spool delivered late) raises it again."""
    f = facility()
    child = f.children[0].id
    engine = AlertEngine([f], load_rules(None), T0 - timedelta(hours=8))
    first = opened(collect(engine, f, child, GRANDMA, T0))
    assert [x.key.subject for x in first] == [child]
    late = delegate(f, child, created=T0 + timedelta(minutes=5), valid_from=T0 - timedelta(minutes=4))
    engine.set_delegates([late])
    # nothing the engine decides from here on clears the critical alert before its hold, nor closes it
    after = [d for _, d in engine.on_tick(T0 + timedelta(minutes=6))]
    assert not [d for d in after if d.key.rule == "unauthorized_pickup" and d.action != "open"]
    replay = AlertEngine([f], load_rules(None), T0 - timedelta(hours=8))
    replay.set_delegates([late])
    assert [x.key.subject for x in opened(collect(replay, f, child, GRANDMA, T0))] == [child]
    # and the rule refuses a validity from before the grace outright
    scope = replace(OPERATOR, facility=f.id)
    back = NewDelegate(
        child, GRANDMA, "王奶奶", "grandparent", "standing", T0 - timedelta(hours=1), T0 + timedelta(days=5),
        f.children[0].guardians[0], "note", T0, "母亲电话同意，14:05，通话记录已存",
    )  # fmt: skip
    with pytest.raises(PickupRefused) as err:
        check_new(scope, f.id, back, f.children[0].guardians, [s.id for s in f.staff], T0 + timedelta(minutes=5))
    assert err.value.key == "err_delegate_past"


def test_an_unknown_child_badge_is_flagged_to_the_operator() -> None:
    f = facility()
    engine = AlertEngine([f], load_rules(None), T0 - timedelta(hours=6))
    at = T0 - timedelta(hours=6)  # 10:00 local
    got = engine.on_message(f.id, "door-main", access("child_in", "c-not-enrolled", at), at)
    flagged = opened(got, "unknown_child_on_site")
    assert [(d.key.subject, d.condition.severity) for d in flagged] == [("c-not-enrolled", "minor")]
    # and whoever takes that child home, nobody is authorised for a child the registry does not know
    out = engine.on_message(f.id, "door-main", access("child_out", "c-not-enrolled", at, guardian_id="g-x"), at)
    assert opened(out)
    # once the child has left, the flag clears (a minor alert closes with its condition)
    assert [d.key.subject for d in out if d.action == "clear" and d.key.rule == "unknown_child_on_site"] == [
        "c-not-enrolled"
    ]


def _new(f: Facility, **kw: object) -> NewDelegate:
    child = f.children[0]
    base = {
        "child_id": child.id,
        "person_id": GRANDMA,
        "name": "王奶奶",
        "relation": "grandparent",
        "kind": "standing",
        "valid_from": T0,
        "valid_until": T0 + timedelta(days=30),
        "consent_by": child.guardians[0],
        "consent_method": "note",
        "consent_at": T0 - timedelta(hours=1),
        "consent_note": "母亲当面签字同意，复印件存档",
    }
    return NewDelegate(**(base | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scope_role", "key"),
    [("inspector", "err_delegate_who"), ("admin", "err_delegate_who"), ("other_operator", "err_delegate_who")],
)
def test_only_the_facilitys_operator_records_a_delegate(scope_role: str, key: str) -> None:
    f = facility()
    scope = {
        "inspector": Scope("inspector", f.county, None, None),
        "admin": Scope("admin", None, None, None),
        "other_operator": Scope("operator", None, None, "xz-other"),
    }[scope_role]
    with pytest.raises(PickupRefused) as err:
        check_new(scope, f.id, _new(f), f.children[0].guardians, [], T0)
    assert (err.value.key, err.value.kind) == (key, "forbidden")
    with pytest.raises(PickupRefused):
        check_revoke(scope, f.id, {"revoked_at": None})


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"consent_by": "g-someone"}, "err_consent_by"),  # not a registered guardian: no consent at all
        ({"consent_method": "signed_form"}, "err_consent_file"),  # a form named but not uploaded
        ({"consent_note": "同意"}, "err_consent_note"),  # a word is no record of consent
        ({"consent_at": T0 + timedelta(days=1)}, "err_consent_future"),
        ({"consent_at": T0 - timedelta(days=200)}, "err_consent_old"),
        ({"person_id": "s-0001"}, "err_delegate_staff"),  # the facility authorising itself
        ({"kind": "one_off", "valid_until": T0 + timedelta(days=20)}, "err_delegate_long"),
        ({"valid_until": T0 - timedelta(minutes=1)}, "err_delegate_order"),
    ],
)
def test_a_delegate_needs_a_recorded_consent_and_sane_dates(change: dict, key: str) -> None:
    f = facility()
    scope = Scope("operator", None, None, f.id)
    with pytest.raises(PickupRefused) as err:
        check_new(scope, f.id, _new(f, **change), f.children[0].guardians, [s.id for s in f.staff], T0)
    assert err.value.key == key
    check_new(scope, f.id, _new(f), f.children[0].guardians, [s.id for s in f.staff], T0)  # the honest one passes


def test_judge_pickup_prefers_a_valid_record_and_says_why_otherwise() -> None:
    f = facility()
    child = f.children[0]
    old = delegate(f, child.id, created=T0 - timedelta(days=40), valid_until=T0 - timedelta(days=10))
    assert judge_pickup(child.guardians, [old], GRANDMA, T0).why == "expired"
    renewed = delegate(f, child.id, created=T0 - timedelta(days=1))
    assert judge_pickup(child.guardians, [old, renewed], GRANDMA, T0).allowed
    assert judge_pickup(child.guardians, [], child.guardians[0], T0).why == "guardian"
    assert judge_pickup(child.guardians, [], None, T0).why == "none"
    assert judge_pickup(None, [renewed], GRANDMA, T0).why == "unknown_child"


# -- over the web and the database (the real app, the web's own role) ---------------------------------------
def _body(child: str, consent_by: str, start: datetime, **kw: object) -> dict[str, object]:
    return {
        "child_id": child,
        "person_id": GRANDMA,
        "name": "王奶奶",
        "relation": "grandparent",
        "kind": "standing",
        "valid_from": start.isoformat(),
        "valid_until": (start + timedelta(days=30)).isoformat(),
        "consent_by": consent_by,
        "consent_method": "note",
        "consent_at": (start - timedelta(hours=1)).isoformat(),
        "consent_note": "母亲当面签字同意，原件存档于园务室",
    } | kw


async def test_only_the_operator_records_and_revokes_and_inspectors_read_over_the_api(
    site: dict[str, object],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = str(site["url"])
    path = f"{url}/api/v1/facilities/{B.id}/delegates"
    _, county = await create_user(db, "county-b", "inspector", "pw-cb", county=B.county)
    child = B.children[0]
    now = datetime.now(UTC)
    body = _body(child.id, child.guardians[0], now + timedelta(minutes=1))
    # an inspector cannot add one (nor an admin): only the facility's operator
    for token in (county, str(site["admin"])):
        status, err = await post(path, token, json=body)
        assert status == 403 and "operator" in err["error"], err  # type: ignore[index]
    status, _ = await post(path, str(site["insp"]), json=body)  # another county's inspector: not even found
    assert status == 404
    # a validity from an hour ago, to cover a pick-up already judged: refused with the reason
    status, err = await post(
        path, str(site["oper"]), json=_body(child.id, child.guardians[0], now - timedelta(hours=1))
    )
    assert status == 400 and "past" in err["error"]  # type: ignore[index]
    # consent from someone who is not the child's guardian: no consent at all
    status, err = await post(path, str(site["oper"]), json=body | {"consent_by": GRANDMA + "-2"})
    assert status == 400 and "guardian" in err["error"]  # type: ignore[index]
    status, made = await post(path, str(site["oper"]), json=body)
    assert status == 201 and made["state"] in {"pending", "valid"}, made  # type: ignore[index]
    # the inspector in scope sees it, with the consent
    status, listed = await get(path, county)
    assert status == 200 and [d["id"] for d in listed["delegates"]] == [made["id"]]  # type: ignore[index]
    assert listed["delegates"][0]["consent"]["by"] == child.guardians[0]  # type: ignore[index]
    # and cannot revoke it; the operator can, once
    assert (await post(f"{path}/{made['id']}/revoke", county))[0] == 403  # type: ignore[index]
    status, gone = await post(f"{path}/{made['id']}/revoke", str(site["oper"]), json={"reason": "家长撤回"})  # type: ignore[index]
    assert status == 200 and gone["state"] == "revoked"  # type: ignore[index]
    assert (await post(f"{path}/{made['id']}/revoke", str(site["oper"])))[0] == 409  # type: ignore[index]
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_log WHERE target = $1", B.id)]
    assert actions.count("pickup.delegate.add") == 1 and actions.count("pickup.delegate.revoke") == 1
    # the facility page shows the list to the inspector, without the operator's form
    session, _csrf = await _logged_in(url, "county-b", "pw-cb")
    async with session, session.get(f"{url}/facilities/{B.id}") as r:
        page = await r.text()
    assert f'data-delegate="{made["id"]}"' in page and 'id="delegate-form"' not in page  # type: ignore[index]


async def test_the_web_may_revoke_a_delegate_once_and_change_nothing_else(db: asyncpg.Connection, db_url: str) -> None:
    await load_registry(db, REG)
    child = B.children[0]
    now = datetime.now(UTC)
    web_db = await asyncpg.connect(as_role(db_url, "web"))
    try:
        insert = (
            "INSERT INTO pickup_delegates (facility_id, child_id, person_id, name, relation, kind, valid_from,"
            " valid_until, consent_by, consent_method, consent_at, consent_note, created_by, created_at)"
            " VALUES ($1, $2, 'g-grandma', '王奶奶', 'grandparent', 'standing', $3::timestamptz,"
            " $3::timestamptz + interval '30 days', $4,"
            " 'note', $5, $6, 'oper-b', $5) RETURNING id"
        )
        with pytest.raises(asyncpg.CheckViolationError):  # a validity written back over the past
            await web_db.fetchval(
                insert, B.id, child.id, now - timedelta(hours=1), child.guardians[0], now, "母亲电话同意，已记录"
            )
        with pytest.raises(asyncpg.CheckViolationError):  # no recorded consent
            await web_db.fetchval(insert, B.id, child.id, now, child.guardians[0], now, "ok")
        did = await web_db.fetchval(insert, B.id, child.id, now, child.guardians[0], now, "母亲电话同意，已记录")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web_db.execute("UPDATE pickup_delegates SET valid_from = valid_from - interval '1 day'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web_db.execute("DELETE FROM pickup_delegates")
        await web_db.execute("UPDATE pickup_delegates SET revoked_by = 'oper-b', revoked_at = now() WHERE id = $1", did)
        with pytest.raises(asyncpg.CheckViolationError):
            await web_db.execute("UPDATE pickup_delegates SET revoked_by = NULL, revoked_at = NULL WHERE id = $1", did)
    finally:
        await web_db.close()
    # and the alert engine's role reads them: the reload path (storage.pickup.current) sees the revocation
    alerts_db = await asyncpg.connect(as_role(db_url, "alerts"))
    try:
        got = await pickup_store.current(alerts_db, [B.id], now)
    finally:
        await alerts_db.close()
    assert [(d.id, d.revoked_at is not None) for d in got] == [(did, True)]
