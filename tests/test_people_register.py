"""The register of people across the city and the class standards (issue #39 items 2 and 4), on the pure
engine and the registry models; the database and the API in tests/test_people_storage.py."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from alerts.engine import AlertEngine
from alerts.state import Register
from alerts.tracker import Decision
from contract.errors import ContractError
from contract.payloads import Access
from contract.people import Ban, Certificate, Person, Qualification, mask_id, person_key, with_check_digit
from contract.registry import Facility, Registry, Staff, StaffRole, parse_registry
from contract.rules import load_rules, opening_level
from simulators.registry_gen import generate_registry

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 10:00 in Xinzhou: open
SALT = b"test-salt-not-a-secret"
ID_A = with_check_digit("14090219900101123")
KEY_A = person_key(ID_A, SALT)
_ids = itertools.count(1)


def access(kind: str, person: str, at: datetime) -> Access:
    return Access(msg_id=f"p-{next(_ids)}", ts=at, type=kind, person_id=person)


def opened(ds: list[Decision] | list[tuple[str, Decision]], rule: str) -> list[tuple[str | None, Decision]]:
    out = [(d[0], d[1]) if isinstance(d, tuple) else (None, d) for d in ds]
    return [(f, d) for f, d in out if d.action == "open" and d.key.rule == rule]


def good_person(key: str = KEY_A, **kw: Any) -> Person:
    """Qualified for every role, every date well ahead of T0."""
    base: dict[str, Any] = {
        "key": key,
        "name": "张三",
        "id_masked": mask_id(ID_A),
        "qualifications": [Certificate(kind=q, expires=date(2029, 1, 1)) for q in Qualification],
        "health_cert_expires": date(2028, 1, 1),
        "health_check_on": date(2026, 6, 1),
        "training_on": date(2026, 6, 1),
    }
    return Person(**(base | kw))


def two_facilities(person: str = KEY_A) -> tuple[Facility, Facility]:
    """Two generated facilities, with one caregiver each linked to the same person."""
    a, b = generate_registry(2, seed=5).facilities

    def link(f: Facility) -> Facility:
        staff = list(f.staff)
        i = next(i for i, s in enumerate(staff) if s.role is StaffRole.CAREGIVER)
        staff[i] = staff[i].model_copy(update={"person": person, "id_masked": mask_id(ID_A)})
        return f.model_copy(update={"staff": staff})

    return link(a), link(b)


def linked(f: Facility) -> str:
    return next(s.id for s in f.staff if s.person is not None)


def quiet_engine(facilities: list[Facility], register: Register) -> AlertEngine:
    return AlertEngine(facilities, load_rules(None), T0 - timedelta(minutes=1), register=register)


# -- 挂证 / double shifts ----------------------------------------------------------------------------
def test_the_same_person_badged_in_at_two_facilities_a_minute_apart_is_one_alert_naming_both() -> None:
    a, b = two_facilities()
    engine = quiet_engine([a, b], Register({KEY_A: good_person()}))
    ds: list[tuple[str, Decision]] = []
    ds += [(a.id, d) for d in engine.on_message(a.id, "door-main", access("staff_in", linked(a), T0), T0)]
    t1 = T0 + timedelta(minutes=1)
    ds += [(b.id, d) for d in engine.on_message(b.id, "door-main", access("staff_in", linked(b), t1), t1)]
    ds += engine.on_tick(t1 + timedelta(seconds=10))
    found = opened(ds, "double_shift")
    assert len(found) == 1, found
    fid, d = found[0]
    assert fid == b.id, "raised where the person badged in last"
    assert d.condition is not None
    for f in (a, b):
        # by name in Chinese (issue #41 item 2: no codes on a Chinese page), by name and id in English
        assert f.name in d.condition.summary and f.id not in d.condition.summary and f.id in d.condition.summary_en
    assert d.condition.severity == "major"
    assert mask_id(ID_A) in d.condition.summary and ID_A not in d.condition.summary
    assert opening_level("double_shift") == "county", "reaches the county at once"


def test_badged_out_at_one_facility_before_the_other_is_no_double_shift() -> None:
    a, b = two_facilities()
    engine = quiet_engine([a, b], Register({KEY_A: good_person()}))
    ds = list(engine.on_message(a.id, "door-main", access("staff_in", linked(a), T0), T0))
    t1 = T0 + timedelta(hours=4)
    ds += engine.on_message(a.id, "door-main", access("staff_out", linked(a), t1), t1)
    t2 = t1 + timedelta(minutes=30)
    ds += engine.on_message(b.id, "door-main", access("staff_in", linked(b), t2), t2)
    assert not opened(ds, "double_shift")


# -- a ban anywhere ----------------------------------------------------------------------------------
def test_a_ban_recorded_at_one_facility_blocks_the_person_at_another() -> None:
    a, b = two_facilities()
    ban = Ban(source="忻府区卫生健康局 决定 (facility a's record)", on=date(2026, 5, 1))
    engine = quiet_engine([a, b], Register({KEY_A: good_person(ban=ban)}))
    s = next(s for s in b.staff if s.person == KEY_A)
    assert not s.banned, "facility B's own record says nothing of it"
    ds = engine.on_message(b.id, "door-main", access("staff_in", s.id, T0), T0)
    found = opened(ds, "banned_staff_on_site")
    assert [d.key.subject for _, d in found] == [s.id]
    assert found[0][1].condition is not None and found[0][1].condition.severity == "critical"


def test_a_banned_carer_never_counts_and_a_file_saying_banned_false_cannot_lift_it() -> None:
    a, _ = two_facilities()
    engine = quiet_engine([a], Register({KEY_A: good_person(ban=Ban(source="x", on=date(2026, 1, 1)))}))
    rt = engine.runtimes[a.id]
    s = next(s for s in a.staff if s.person == KEY_A)
    assert s.banned is False
    engine.on_message(a.id, "door-main", access("staff_in", s.id, T0), T0)
    from alerts.workforce import carers_on_site

    assert carers_on_site(rt, T0.date()) == 0


# -- certificates, checks and training ----------------------------------------------------------------
@pytest.mark.parametrize(("days_left", "warns"), [(31, False), (30, True), (0, True), (-1, False)])
def test_certificate_expiry_warns_30_days_ahead(days_left: int, warns: bool) -> None:
    a, _ = two_facilities()
    today = T0.astimezone().date()
    local_today = datetime(2026, 11, 30).date()
    _ = today
    person = good_person(health_cert_expires=local_today + timedelta(days=days_left))
    engine = quiet_engine([a], Register({KEY_A: person}))
    ds = engine.on_tick(T0 + timedelta(minutes=2))
    found = opened(ds, "certificate_expiring")
    assert bool(found) is warns, found
    if warns:
        assert found[0][1].condition is not None and found[0][1].condition.severity == "warning"
        assert found[0][1].key.subject == linked(a)


def test_on_expiry_the_person_on_site_is_unqualified() -> None:
    a, _ = two_facilities()
    person = good_person(training_on=date(2025, 11, 1))  # a year and a month ago: lapsed
    engine = quiet_engine([a], Register({KEY_A: person}))
    ds = engine.on_message(a.id, "door-main", access("staff_in", linked(a), T0), T0)
    found = opened(ds, "unqualified_staff_on_site")
    assert [d.key.subject for _, d in found] == [linked(a)]
    assert found[0][1].condition is not None and "培训" in found[0][1].condition.summary


# -- the ratio ----------------------------------------------------------------------------------------
def test_an_unqualified_carer_does_not_count_toward_the_ratio() -> None:
    f = generate_registry(1, seed=5).facilities[0]
    carers = [s for s in f.staff if s.role is StaffRole.CAREGIVER]
    # the facility's carers just meet the ratio with every class full... minus their slack: keep exactly
    # as many as needed, then make one of them unqualified
    engine = AlertEngine([f], load_rules(None), T0 - timedelta(minutes=1))
    rt = engine.runtimes[f.id]
    for s in f.staff:
        if s.id < "s-9000":
            engine.on_message(f.id, "door-main", access("staff_in", s.id, T0), T0)
    for c in f.children:
        engine.on_message(f.id, "door-main", access("child_in", c.id, T0), T0)
    from alerts.workforce import carers_on_site

    assert carers_on_site(rt, T0.date()) == len(carers)
    unqualified = carers[0].model_copy(update={"qualified": False})
    f2 = f.model_copy(update={"staff": [unqualified if s.id == carers[0].id else s for s in f.staff]})
    engine2 = AlertEngine([f2], load_rules(None), T0 - timedelta(minutes=1))
    for s in f2.staff:
        if s.id < "s-9000":
            engine2.on_message(f2.id, "door-main", access("staff_in", s.id, T0), T0)
    assert carers_on_site(engine2.runtimes[f2.id], T0.date()) == len(carers) - 1


def test_a_ratio_met_only_by_counting_an_unqualified_carer_is_breached() -> None:
    f = generate_registry(1, seed=5).facilities[0]
    rules = load_rules(None)
    from contract.rules import carers_needed

    need = sum(
        carers_needed(rules, c.age_group.value, sum(1 for ch in f.children if ch.class_ == c.id)) for c in f.classes
    )
    carers = [s for s in f.staff if s.role is StaffRole.CAREGIVER][:need]
    carers[0] = carers[0].model_copy(update={"qualified": False})
    others = [s for s in f.staff if s.role is not StaffRole.CAREGIVER]
    f = f.model_copy(update={"staff": carers + others})
    engine = AlertEngine([f], rules, T0 - timedelta(minutes=1))
    for s in f.staff:
        if s.id < "s-9000":
            engine.on_message(f.id, "door-main", access("staff_in", s.id, T0), T0)
    for c in f.children:
        engine.on_message(f.id, "door-main", access("child_in", c.id, T0), T0)
    ds: list[tuple[str, Decision]] = []
    t = T0
    while t <= T0 + timedelta(minutes=13):
        for d in engine.runtimes[f.id].devices.values():
            d.last_seen = t
        engine.runtimes[f.id].last_patrol = t
        ds += engine.on_tick(t)
        t += timedelta(seconds=30)
    assert opened(ds, "ratio_breach"), "the unqualified carer does not count: one short"


# -- health-care staff -----------------------------------------------------------------------------------
def test_a_facility_without_health_care_staff_is_flagged() -> None:
    f = generate_registry(1, seed=5).facilities[0]
    f = f.model_copy(update={"staff": [s for s in f.staff if s.role is not StaffRole.HEALTH]})
    engine = AlertEngine([f], load_rules(None), T0 - timedelta(minutes=1))
    ds = engine.on_tick(T0)
    found = opened(ds, "health_staff_missing")
    assert len(found) == 1 and found[0][1].condition is not None
    assert found[0][1].condition.severity == "major"
    ok = AlertEngine([generate_registry(1, seed=5).facilities[0]], load_rules(None), T0 - timedelta(minutes=1))
    assert not opened(ok.on_tick(T0), "health_staff_missing")


# -- class standards --------------------------------------------------------------------------------------
def base_file(**over: Any) -> dict[str, Any]:
    f = generate_registry(1, seed=5).facilities[0].model_dump(mode="json", by_alias=True, exclude_none=True)
    f.update(over)
    return {"facilities": [f]}


@pytest.mark.parametrize(
    ("group", "capacity", "ok"),
    [("infant", 10, True), ("infant", 12, False), ("toddler", 16, False), ("older", 20, True), ("mixed", 19, False)],
)
def test_class_capacity_follows_the_standard_at_load(group: str, capacity: int, ok: bool) -> None:
    data = base_file(classes=[{"id": "c1", "age_group": group, "capacity": capacity}], children=[])
    if ok:
        parse_registry(data)
        return
    with pytest.raises(ContractError) as err:
        parse_registry(data)
    assert f"capacity {capacity}" in str(err.value) and "托育机构设置标准" in str(err.value)


def test_over_capacity_on_site_is_major() -> None:
    assert load_rules(None)["class_over_capacity"].severity == "major"


def test_the_simulators_registries_keep_the_standard() -> None:
    for seed in (1, 5, 7, 2026):
        Registry.model_validate(generate_registry(60, seed=seed).model_dump(mode="json", by_alias=True))


# -- identity numbers at load ------------------------------------------------------------------------------
def test_an_identity_number_is_hashed_at_load_and_dropped() -> None:
    staff = {"id": "s-0001", "role": "caregiver", "qualified": True, "id_number": ID_A}
    data = base_file(staff=[staff]) | {"people": [{"id_number": ID_A.lower(), "name": "张三"}]}
    reg = parse_registry(data, SALT)
    s = reg.facilities[0].staff[0]
    assert s.person == KEY_A and s.id_masked == "1409**********" + ID_A[-4:]
    assert reg.people[0].key == KEY_A
    assert ID_A not in reg.model_dump_json() and ID_A[:-1] not in reg.model_dump_json()
    with pytest.raises(ContractError) as err:
        parse_registry(data)  # no salt configured: refused, without the number in the reason
    assert "CAREWATCH_PERSON_SALT" in str(err.value) and ID_A not in str(err.value)
    bad = ID_A[:-1] + ("0" if ID_A[-1] != "0" else "1")
    with pytest.raises(ContractError) as err:
        parse_registry(base_file(staff=[staff | {"id_number": bad}]), SALT)
    assert bad not in str(err.value) and "check digit" in str(err.value)


def test_the_key_depends_on_the_salt() -> None:
    assert person_key(ID_A, b"one") != person_key(ID_A, b"two")
    assert Staff(id="s-1", role=StaffRole.CAREGIVER, person=KEY_A).person == KEY_A
