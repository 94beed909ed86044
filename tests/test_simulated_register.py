"""The simulator's register shows every register case (issue #39 acceptance, last part): people on the staff
of two facilities (part-time health-care workers and one lent caregiver, 挂证), delegates collecting
children (valid, and one expired), an expiring and a lapsed certificate; and a simulated day through the
alert engine raises exactly the planted alerts, none for the legitimate part-timers."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.workforce import documents, lapses
from bench.truth import _parts, drive_engine, record
from contract.payloads import Access
from contract.registry import StaffRole
from simulators.engine import CitySim
from simulators.registry_gen import (
    LENT,
    SHARED_HEALTH,
    generate_registry,
    planted,
    simulated_delegates,
    with_register,
)
from supervision.pickup import judge_pickup

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 30)  # a Monday, no holiday near
N = 6


def test_the_generated_register_holds_every_case() -> None:
    """Before: with_register linked each staff record to a person of its own, no person on two facilities'
    staff, no delegate, nothing expiring within the warning but the cook on leave: every assertion below
    but the first failed."""
    reg = with_register(generate_registry(N, seed=7), TODAY)
    people = {p.key: p for p in reg.people}
    at: dict[str, list[tuple[str, str, StaffRole]]] = {}
    for f in reg.facilities:
        for s in f.staff:
            assert s.person is not None
            at.setdefault(s.person, []).append((f.id, s.id, s.role))
    shared = {k: v for k, v in at.items() if len({fid for fid, _, _ in v}) > 1}
    roles = sorted(sorted(r.value for _, _, r in v) for v in shared.values())
    assert roles == [["caregiver", "caregiver"], ["health", "health"], ["health", "health"]], roles
    assert sorted(sid for v in shared.values() for _, sid, _ in v if sid >= "s-8000") == sorted(
        [LENT, SHARED_HEALTH, SHARED_HEALTH]
    )
    # an expiring certificate within the 30-day warning, on a member of staff who may still work
    soon = [
        (f.id, s.id, d)
        for f in reg.facilities
        for s in f.staff
        if s.id < "s-9000"
        for d in documents(s, people[s.person or ""])
        if TODAY <= d[2] <= TODAY + timedelta(days=30)
    ]
    assert len(soon) == 1 and soon[0][2][0] == "保育员证", soon
    # a lapsed health certificate on a cook who works (not the cook on leave, s-9002)
    lapsed = [
        (f.id, s.id, s.role)
        for f in reg.facilities
        for s in f.staff
        if s.id < "s-9000" and lapses(s, people[s.person or ""], TODAY)
    ]
    assert len(lapsed) == 1 and lapsed[0][2] is StaffRole.COOK, lapsed
    # delegates: two valid today, one expired; the children theirs, the ids not the guardians'
    ds = simulated_delegates(reg, TODAY)
    noon = datetime(2026, 11, 30, 16, 30, tzinfo=SHANGHAI)
    fac = {f.id: f for f in reg.facilities}
    verdicts = []
    for d in ds:
        child = next(c for c in fac[d.facility_id].children if c.id == d.child_id)
        assert d.person_id not in child.guardians
        verdicts.append(judge_pickup(child.guardians, ds, d.person_id, noon).why)
    assert sorted(verdicts) == ["delegate", "delegate", "expired"], verdicts
    assert {p.rule for p in planted(reg)} == {
        "double_shift",
        "certificate_expiring",
        "unqualified_staff_on_site",
        "unauthorized_pickup",
    }
    # bench truth keeps the facilities that share a person in one part (else no engine sees the double shift)
    parts = _parts(reg, 2)
    where = {i: k for k, p in enumerate(parts) for i in p}
    ids = [f.id for f in reg.facilities]
    for v in shared.values():
        assert len({where[ids.index(fid)] for fid, _, _ in v}) == 1, v


def test_a_simulated_day_raises_exactly_the_planted_alerts() -> None:
    """Before: the shared people did not exist, or the simulator planned every shared record all day (the
    part-time health-care workers would have been double_shift), no delegate collected a child, and the
    planted alerts were never raised. The legitimate part-timers badge in at both facilities, at different
    hours, and raise nothing."""
    reg = with_register(generate_registry(N, seed=7), TODAY)
    ds = simulated_delegates(reg, TODAY)
    start = datetime(2026, 11, 30, tzinfo=SHANGHAI).astimezone(UTC)
    sim = CitySim(reg, 7, start, faults=False, delegates=ds)
    rec = record(sim, reg, start + timedelta(days=1), tick=timedelta(seconds=30))
    badges: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
    pickups: dict[tuple[str, str], str | None] = {}
    for _, arrivals in rec.ticks:
        for fid, _, p, _ in arrivals:
            if isinstance(p, Access) and p.type.value in {"staff_in", "staff_out"} and p.person_id:
                badges.setdefault((fid, p.person_id), []).append((p.type.value, p.ts))
            if isinstance(p, Access) and p.type.value == "child_out" and p.person_id:
                pickups[(fid, p.person_id)] = p.guardian_id
    person_of = {(f.id, s.id): s.person for f in reg.facilities for s in f.staff}
    for f in reg.facilities:
        for s in f.staff:
            if s.id != SHARED_HEALTH:
                continue
            home = next(k for k, v in person_of.items() if v == s.person and k[1] != SHARED_HEALTH)
            here, there = badges[(f.id, s.id)], badges[home]
            assert [t for t, _ in here] == ["staff_in", "staff_out"] == [t for t, _ in there], (here, there)
            assert there[1][1] < here[0][1], "the morning's badge-out before the afternoon's badge-in"
    for d in ds:  # each delegate collected their child
        assert pickups.get((d.facility_id, d.child_id)) == d.person_id
    out = drive_engine(rec, reg, rec.until, delegates=ds)
    opened = Counter((fid, d.key.rule, d.key.subject) for fid, d in out if d.action == "open")
    want = {(p.facility_id, p.rule, p.subject) for p in planted(reg)}
    assert set(opened) == want, sorted(opened)
    assert all(n == 1 for n in opened.values()), opened
