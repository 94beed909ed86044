"""Who may collect a child (issue #39 item 3): pick-up delegates in the pure engine and the rules of
supervision/pickup.py (who records, consent, validity), with a driven clock."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine import AlertEngine
from alerts.tracker import Decision
from contract.payloads import Access
from contract.pickup import Delegate
from contract.registry import Facility
from contract.rules import load_rules
from simulators.registry_gen import generate_registry
from storage.users import Scope
from supervision.pickup import NewDelegate, PickupRefused, check_new, check_revoke, judge_pickup

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
