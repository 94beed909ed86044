"""`bench truth`: a simulated month of a city against the alert engine — every alert true, none missed.

The realistic simulator (its own hours per facility, China's holidays, staff before opening, late
pick-ups inside the grace period, and the background faults of a real fleet) drives the pure alert
engine for 60 facilities over 30 days from a Monday before National Day, so the holiday week and its
make-up working days are inside. Every built-in scenario is injected once, each in another facility
on another day. An alert is *true* when a scenario expects it or when the simulator's ground truth
(`CitySim.truth`: a forgotten badge-out, a gateway outage) says the world deserved it; every other
alert is false. `missed` counts expectations that never opened. Besides them the run places issue #42's
field situations (bench/field.py: a restart mid-day compared with a run without, a 2-hour spool over the
pick-up with a panic at its press time, a holiday block's Saturday, a county's closure), each reported under
`field` with what it expected and the false alerts inside its quiet windows.

Facilities are independent, so the month is split over processes by facility (the simulator seeds
every choice by facility, so the split changes nothing); the figures are exact, not sampled.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from typing import Any
from zoneinfo import ZoneInfo

from alerts.engine import AlertEngine, event_time
from alerts.state import Register
from alerts.tracker import Decision
from bench.field import FIELD_NAMES, OCCURRED_TOL, FieldPlan, place_field, with_closures
from contract.credit import LAPSE_CLASSES
from contract.payloads import Access, Batch, Event, Payload, Status, TypedBatch, expand_batch, parse_payload
from contract.pickup import Delegate
from contract.registry import DeviceType, Facility, Registry
from contract.rules import REPLAY_SKEW_MAX_S, RuleConfig, load_rules
from contract.topics import Channel
from simulators.engine import CitySim, SimMessage, Truth, Uplink
from simulators.registry_gen import generate_registry, planted, simulated_delegates, with_register
from simulators.scenarios import Scenario, apply_registry_patch, builtin_scenarios, inject_at

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 21 September 2026: the month holds Mid-Autumn/National Day (1-7 Oct) and its make-up
# Saturday (10 Oct); the make-up Sunday 20 Sep is the day before.
MONTH_START = datetime(2026, 9, 21, tzinfo=SHANGHAI)
MATCH_S = 3600.0  # an alert matches a truth record or a scenario this close after it
# What a scenario's fault deserves beyond its own alert, later the same day: a child never collected
# was also never badged out, and so was a child badge the registry does not know (no guardian can collect it).
# When the month's engine restarts, every day (local times): in the morning's staffing windows, and at
# pick-up time, inside the after-closing grace of `child_not_collected` (issue #42 item 1).
RESTARTS = (day_time(11, 7), day_time(17, 47))
CONSEQUENCES = {"child_not_collected": "badge_out_missing", "unknown_child_on_site": "badge_out_missing"}


def payloads(ev: SimMessage) -> Iterator[tuple[str, Payload]]:
    """A simulated publication as the alert service sees it: a batch is its items."""
    p = parse_payload(Channel(ev.channel), ev.payload)
    if isinstance(p, Batch | TypedBatch):
        for u in expand_batch(p):
            if u.payload is not None:
                yield u.device_id, u.payload
    else:
        yield ev.device_id, p


Arrival = tuple[str, str, Payload, datetime]  # (facility, device, payload, arrived) as the engine is given it


@dataclass(frozen=True)
class Recording:
    """A simulated run's arrivals, tick by tick, kept to be played again to the engine (`drive_engine`):
    the same run with and without a restart simulates and parses its messages once, not twice."""

    start: datetime
    until: datetime
    ticks: list[tuple[datetime, list[Arrival]]]


def _arrivals(
    sim: CitySim, registry: Registry, until: datetime, tick: timedelta
) -> Iterator[tuple[datetime, list[Arrival]]]:
    """What reaches the alert service at each tick up to `until`: what happened before the start (the day so
    far, backfilled with its own times) arrives at the start; an uplink that drops arrives as the gateway's
    Last Will, as the broker delivers it; a batch is its items."""
    gateways = {f.id: d.id for f in registry.facilities for d in f.devices if d.type is DeviceType.GATEWAY}
    will = Status(online=False)
    start = t = sim.now
    while t < until:
        t = min(t + tick, until)
        now: list[Arrival] = []
        for ev in sim.run(t):
            if isinstance(ev, Uplink):
                if not ev.up and ev.facility_id in gateways:
                    now.append((ev.facility_id, gateways[ev.facility_id], will, ev.at))
                continue
            arrived = max(ev.at, start)
            now += [(ev.facility_id, dev, p, arrived) for dev, p in payloads(ev)]
        yield t, now


def record(sim: CitySim, registry: Registry, until: datetime, tick: timedelta = timedelta(seconds=10)) -> Recording:
    start = sim.now
    return Recording(start, until, list(_arrivals(sim, registry, until, tick)))


def drive_engine(
    sim: CitySim | Recording,
    registry: Registry,
    until: datetime,
    *,
    rules: dict[str, RuleConfig] | None = None,
    tick: timedelta = timedelta(seconds=10),
    restarts: Iterable[datetime] = (),
    delegates: Iterable[Delegate] = (),
) -> list[tuple[str, Decision]]:
    """Feed every simulated message to the engine as it arrives (`_arrivals`), ticking the clock. At each of
    `restarts` (on the first tick at or after it) the engine is stopped and a new one started as the service
    starts it (`restart_engine`). A Recording is played up to `until` at its own ticks. The engine is given
    the registry's register of people and `delegates` as the service loads them from storage."""
    rules = rules or load_rules(None)
    if isinstance(sim, Recording):
        if until > sim.until:
            raise ValueError(f"the recording ends at {sim.until}, before {until}")
        start, ticks = sim.start, iter(sim.ticks)
    else:
        start, ticks = sim.now, _arrivals(sim, registry, until, tick)
    engine = AlertEngine(
        registry.facilities,
        rules,
        started=start,
        lapse_rules=frozenset(LAPSE_CLASSES),
        register=Register({p.key: p for p in registry.people}),
    )
    engine.set_delegates(delegates)
    out: list[tuple[str, Decision]] = []
    stored: list[Stored] = []  # what ingest would have stored of the access and event channels
    pending_restarts = sorted(restarts)
    for t, arrivals in ticks:
        if t > until:
            break
        if pending_restarts and t >= pending_restarts[0]:
            pending_restarts = [r for r in pending_restarts if r > t]
            # the replay reads the last day, and as far again for a slow clock (REPLAY_SKEW_MAX_S)
            stored = [s for s in stored if s.at > t - timedelta(hours=25, seconds=REPLAY_SKEW_MAX_S)]
            engine = restart_engine(engine, registry, rules, t, stored)
        for fid, dev, p, arrived in arrivals:
            if isinstance(p, Access | Event):
                stored.append(Stored(fid, dev, p, event_time(p, arrived)))
            out += [(fid, d) for d in engine.on_message(fid, dev, p, arrived)]
        out += engine.on_tick(t)
    return out


@dataclass(frozen=True, slots=True)
class Stored:
    facility_id: str
    device_id: str
    payload: Access | Event
    at: datetime


def restart_engine(
    old: AlertEngine, registry: Registry, rules: dict[str, RuleConfig], now: datetime, stored: list[Stored]
) -> AlertEngine:
    """A new engine started at `now` as alerts.service starts one: timers and active alerts as stored,
    devices as ingest keeps them, the last day's events and the day's access events replayed at their
    times corrected by the clocks learnt (refusals are not replayed: storage.messages.access_since), the
    clocks learnt, then what the rules remember (alerts.memory)."""
    engine = AlertEngine(
        registry.facilities,
        rules,
        now,
        {fid: dict(t.pending) for fid, t in old.trackers.items()},
        {fid: set(t.firing) for fid, t in old.trackers.items()},
        late_wait_s=old.late_wait_s,
        lapse_rules=old.lapse_rules,
        register=old.register,
        watched=dict.fromkeys(old.runtimes, now),  # the old engine judged every facility until now
    )
    for fid, rt in old.runtimes.items():
        for dev, d in rt.devices.items():
            engine.seed_device(fid, dev, d.last_seen, d.online, d.battery, now)
    # the day replayed at the times things happened: a stored `ts` corrected by the device's learnt clock
    # error (device_clocks), reaching back as far (alerts.service._seed)
    clocks = {(fid, dev): d for fid, rt in old.runtimes.items() for dev, d in rt.devices.items() if d.skew_s > 0}
    skews = {k: timedelta(seconds=d.skew_s) for k, d in clocks.items()}
    reach = min(timedelta(seconds=REPLAY_SKEW_MAX_S), max(skews.values(), default=timedelta(0)))
    since = now - timedelta(hours=24) - reach
    replayed = sorted((s for s in stored if since < s.at), key=lambda s: (isinstance(s.payload, Access), s.at))
    for s in replayed:
        if not (isinstance(s.payload, Access) and s.payload.type.value == "denied"):
            t = min(now, s.at + skews.get((s.facility_id, s.device_id), timedelta(0)))
            engine.replay(s.facility_id, s.device_id, s.payload, t, now)
    for (fid, dev), d in clocks.items():
        engine.seed_clock(fid, dev, d.skew_s, d.late_since or now)
    for fid in old.runtimes:
        engine.recall(fid, old.memory(fid, now), now, now)
    for fid, rt in old.runtimes.items():
        engine.set_delegates([d for ds in rt.delegates.values() for d in ds], [fid])
    return engine


@dataclass(frozen=True, slots=True)
class Planned:
    scenario: Scenario
    facility: int
    at: datetime | None  # None: its facility opens on no day of the run, so it is not played (`not_played`)


def plan(
    n_facilities: int,
    days: int,
    month_start: datetime = MONTH_START,
    seed: int = 1,
    registry: Registry | None = None,
) -> list[Planned]:
    """Scenario k on day k (mod the run's days but the last), at the scenario's local time, in the first
    facility from k (mod n) on that has what the scenario names (a class, a device, a child): a
    kindergarten class has no toddlers to overfill. A scenario played by a fault goes to the facility's
    next open day *inside the run* (from the run's first day again past its end): moved past the end, a
    short run counted it as missed without ever playing it (issue #42 item 8); a facility open on none of
    the run's days does not play it (`at` None), and the run says so. A registry scenario is true from the
    first moment, whatever the day. `registry`: the generated one as the run plays it (with the field
    situations' closures: bench.field.with_closures), so no fault is placed on a day its facility is shut."""
    reg = registry or generate_registry(n_facilities, seed)
    out = []
    scenarios = builtin_scenarios()
    span = max(1, days - 1)  # the last day is left for what a scenario deserves later (a child's badge-out)
    for k, name in enumerate(sorted(scenarios)):
        sc = scenarios[name]
        fi = next(
            (i % n_facilities for i in range(k, k + n_facilities) if _fits(reg.facilities[i % n_facilities], sc)),
            None,
        )
        if fi is None:
            raise ValueError(f"no facility of the {n_facilities} generated fits scenario {name!r}")
        first = month_start.date()
        day: date | None = first + timedelta(days=k % span)
        if sc.fault is not None:
            hours = reg.facilities[fi].opening_hours
            offsets = ((k + i) % span for i in range(span))
            day = next((first + timedelta(days=o) for o in offsets if hours.opens_on(first + timedelta(days=o))), None)
        at = datetime.combine(day, sc.at, SHANGHAI) if day is not None else None
        out.append(Planned(sc.model_copy(update={"facility": fi}), fi, at))
    return out


def _fits(f: Facility, sc: Scenario) -> bool:
    devices = {d.id for d in f.devices}
    named = {str(sc.params["device"])} if "device" in sc.params else set()
    named |= {e.device for e in sc.expect if e.device} | set(sc.registry.remove_devices)
    classes = {c.id for c in f.classes}
    children = {c.id for c in f.children}
    return (
        named <= devices
        and set(sc.registry.add_children) <= classes
        and all(str(sc.params[p]) in children for p in ("child",) if p in sc.params)
        and all(e.subject in children | classes for e in sc.expect if e.rule in SUBJECT_IN_REGISTRY)
    )


SUBJECT_IN_REGISTRY = {"class_over_capacity", "child_not_collected", "unauthorized_pickup"}


RunArgs = tuple[int, int, int, list[int], datetime, bool]


def _run_part(args: RunArgs) -> dict[str, Any]:
    n, days, seed, mine, month_start, with_scenarios = args
    generated = _registry(n, seed, month_start, with_scenarios)
    fields = [p for p in place_field(generated, days, month_start) if p.played] if with_scenarios else []
    full = with_closures(generated, fields)  # the county's 停课 declared: the engine reads it from its registry
    placed = [p for p in plan(n, days, month_start, seed, full) if p.facility in mine] if with_scenarios else []
    planned = [p for p in placed if p.at is not None]
    reg = full
    for p in planned:
        reg = apply_registry_patch(reg, p.scenario)
    part = Registry(facilities=[reg.facilities[i] for i in mine], people=reg.people)
    here = {f.id for f in part.facilities}
    start = month_start.astimezone(UTC)
    ids = [f.id for f in full.facilities]
    closed: dict[str, frozenset[date]] = {}
    for fp in fields:
        for i, ds in fp.closed.items():
            closed[ids[i]] = closed.get(ids[i], frozenset()) | ds
    spooling = frozenset(ids[i] for fp in fields for i in fp.spooling)

    # the register's planted delegates (with the scenarios: the month's truths include the register's cases)
    delegates = [d for d in simulated_delegates(full, month_start.date()) if d.facility_id in here]

    def new_sim(registry: Registry) -> CitySim:
        """The world of these facilities, every fault of the run placed in them injected."""
        sim = CitySim(
            registry,
            seed,
            start,
            gateway_share=0.3,
            faults=True,
            closed=closed,
            spooling=spooling,
            delegates=_delegates_of(delegates, registry),
        )
        for fp in fields:
            for i, sc, at in fp.injections:
                if ids[i] in sim.facilities:
                    inject_at(sim, sc.model_copy(update={"facility": ids[i]}), at.astimezone(UTC))
        for p in planned:
            fid = full.facilities[p.facility].id
            if p.scenario.fault is not None and p.at is not None and fid in sim.facilities:
                inject_at(sim, p.scenario.model_copy(update={"facility": fid}), p.at.astimezone(UTC))
        return sim

    sim = new_sim(part)
    expected: list[tuple[str, str, str | None, str | None, datetime]] = []
    # what the planted register deserves, true from the first moment like a registry scenario's condition
    expected += [(c.facility_id, c.rule, None, c.subject, start) for c in planted(full) if c.facility_id in here]
    held: dict[int, float] = {}  # expectation -> hours its alert must stay open
    occurred: dict[int, datetime] = {}  # expectation -> the occurred time its alert must carry
    owner: dict[int, str] = {}  # expectation -> the field situation it belongs to
    for p in planned:
        local = p.scenario.model_copy(update={"facility": full.facilities[p.facility].id})
        # a registry scenario is true from the first moment: the registry itself is what the rule reads
        assert p.at is not None  # noqa: S101  # the others are not played
        t = p.at.astimezone(UTC) if local.fault is not None else start  # injected by new_sim
        for e in local.expect:
            if e.held_h is not None:
                held[len(expected)] = e.held_h
            expected.append((full.facilities[p.facility].id, e.rule, e.device, e.subject, t))
    for fp in fields:
        if fp.facility in mine:
            for fe in fp.expect:
                if fe.occurred is not None:
                    occurred[len(expected)] = fe.occurred
                owner[len(expected)] = fp.name
                expected.append((ids[fp.facility], fe.rule, fe.device, fe.subject, fe.at.astimezone(UTC)))
    # the engine restarts mid-day, every day (issue #42): a restart changes no alert, so the score is the same
    restarts = [
        datetime.combine(month_start.date() + timedelta(days=d), t, SHANGHAI).astimezone(UTC)
        for d in range(days)
        for t in RESTARTS
    ] + [r.astimezone(UTC) for fp in fields for r in fp.restarts]
    until = start + timedelta(days=days)
    decisions = drive_engine(sim, part, until, tick=timedelta(seconds=30), restarts=restarts, delegates=delegates)
    not_played = [f"{full.facilities[p.facility].id} {p.scenario.name}" for p in placed if p.at is None]
    score = _score(decisions, sim.truth, expected, start, days, held, occurred)
    false_list = score.pop("false_list")
    reports: list[dict[str, Any]] = []
    for fp in fields:
        if not fp.facilities() & set(mine):
            continue
        mine_exp = [i for i, o in owner.items() if o == fp.name]
        unwanted = [
            _alert_line(fid, rule, dev, subj, at)
            for fid, rule, dev, subj, at in false_list
            if any(
                ids[q.facility] == fid
                and q.facility in mine
                and q.first <= at < q.last
                and (q.rules is None or rule in q.rules)
                for q in fp.quiet
            )
        ]
        changed: list[str] = []
        if fp.compare_restarts and fp.facility in mine:
            # the facility alone, never restarted: a restart must change no decision (issue #42 item 1)
            fid = ids[fp.facility]
            alone = Registry(facilities=[reg.facilities[fp.facility]], people=reg.people)
            calm = drive_engine(
                new_sim(alone), alone, until, tick=timedelta(seconds=30), delegates=_delegates_of(delegates, alone)
            )
            a = {_decision_line(f, d) for f, d in decisions if f == fid}
            b = {_decision_line(f, d) for f, d in calm}
            changed = [f"with restarts only: {x}" for x in sorted(a - b)] + [
                f"without restarts only: {x}" for x in sorted(b - a)
            ]
        reports.append(
            {
                "name": fp.name,
                "facility": ids[fp.facility] if fp.facility is not None else None,
                "day": fp.day.isoformat() if fp.day else None,
                "expected": [
                    f"{expected[i][1]} {expected[i][2] or ''} {expected[i][3] or ''}".strip()
                    + (f" occurred {occurred[i].astimezone(SHANGHAI):%m-%d %H:%M}" if i in occurred else "")
                    for i in mine_exp
                ],
                "missed": [m for i, m in score["missed_at"].items() if i in mine_exp],
                "quiet_windows": sum(1 for q in fp.quiet if q.facility in mine),
                "unwanted": unwanted[:50],
                "restart_changes": changed[:50],
            }
        )
    score["missed"] += [
        f"{r['facility']} {r['name']}: {len(r['restart_changes'])} decisions changed by restarts"
        for r in reports
        if r["restart_changes"]
    ]
    del score["missed_at"]
    return score | {"not_played": not_played, "field": reports}


def _alert_line(fid: str, rule: str, dev: str | None, subj: str | None, at: datetime) -> str:
    return f"{fid} {rule} {dev or ''} {subj or ''} at {at.astimezone(SHANGHAI):%m-%d %H:%M}"


def _decision_line(fid: str, d: Decision) -> str:
    k = d.key
    return f"{d.action} {k.rule} {k.device_id or ''} {k.subject or ''} at {d.at.astimezone(SHANGHAI):%m-%d %H:%M:%S}"


def _registry(n: int, seed: int, month_start: datetime, with_scenarios: bool) -> Registry:
    """The month's registry: with the scenarios, its staff people of the register with the register's cases
    planted (simulators.registry_gen.with_register) as of the month's first day."""
    reg = generate_registry(n, seed)
    return with_register(reg, month_start.date(), seed) if with_scenarios else reg


def _parts(reg: Registry, workers: int, chosen: list[int] | None = None) -> list[list[int]]:
    """The `chosen` facilities (default: all) split over `workers`, round the registry, but the facilities that
    share a person of the register in one part: an engine sees double shifts only over its own facilities."""
    chosen = list(range(len(reg.facilities))) if chosen is None else chosen
    part = {i: k % workers for k, i in enumerate(chosen)}
    first: dict[str, int] = {}
    for i in chosen:
        f = reg.facilities[i]
        for s in f.staff:
            if s.person is None:
                continue
            if s.person in first:
                part[i] = part[first[s.person]]  # with the facility the person was first seen at
            else:
                first[s.person] = i
    out = [[i for i in chosen if part[i] == w] for w in range(workers)]
    return [p for p in out if p]


def _delegates_of(delegates: list[Delegate], registry: Registry) -> list[Delegate]:
    """The delegates of the registry's facilities."""
    ids = {f.id for f in registry.facilities}
    return [d for d in delegates if d.facility_id in ids]


def _run_parts(args: list[RunArgs]) -> list[dict[str, Any]]:
    """Each part in a child Python of its own (`python -m bench.truth`, the part pickled in and the
    result out). Not a multiprocessing pool: its spawn context leaves a resource-tracker process
    behind for the rest of the caller's life, and the test suite calls this."""
    procs = [
        subprocess.Popen([sys.executable, "-m", "bench.truth"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for _ in args
    ]
    try:
        for proc, a in zip(procs, args, strict=True):
            assert proc.stdin is not None  # noqa: S101 (stdin=PIPE)
            proc.stdin.write(pickle.dumps(a))
            proc.stdin.close()
        results = []
        for proc in procs:
            assert proc.stdout is not None  # noqa: S101 (stdout=PIPE)
            with proc.stdout:
                out = proc.stdout.read()
            if proc.wait() != 0:
                raise RuntimeError(f"a truth worker failed (exit {proc.returncode}); its error is above")
            results.append(pickle.loads(out))  # noqa: S301 (our own child's output)
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _score(
    decisions: list[tuple[str, Decision]],
    truth: list[Truth],
    expected: list[tuple[str, str, str | None, str | None, datetime]],
    start: datetime,
    days_run: int,
    held: dict[int, float] | None = None,
    occurred: dict[int, datetime] | None = None,
) -> dict[str, Any]:
    """`held`: expectations whose alert must stay open so many hours after it opened (else missed);
    `occurred`: expectations whose alert must carry this occurred time (a press replayed from a spool), else
    missed with the time it carried."""
    opened = [(fid, d) for fid, d in decisions if d.action == "open"]
    clears = [(fid, d) for fid, d in decisions if d.action == "clear"]
    false: Counter[str] = Counter()
    true_bg: Counter[str] = Counter()
    hit: set[int] = set()
    examples: list[str] = []
    false_list: list[tuple[str, str, str | None, str | None, datetime]] = []
    wrong_time: dict[int, str] = {}
    for fid, d in opened:
        k = d.key
        match = next(
            (
                i
                for i, (efid, rule, dev, subj, t) in enumerate(expected)
                if efid == fid
                and rule == k.rule
                and dev == k.device_id
                and subj == k.subject
                and (t - timedelta(seconds=120)) <= d.at <= t + timedelta(days=1 if t > start else days_run)
            ),
            None,
        )
        if match is not None:
            hours = (held or {}).get(match)
            early = hours is not None and any(
                cf == fid and c.key == k and d.at < c.at < d.at + timedelta(hours=hours) for cf, c in clears
            )
            want = (occurred or {}).get(match)
            got = d.condition.at if d.condition is not None else None
            if want is not None and (got is None or abs(got - want) > OCCURRED_TOL):
                wrong_time[match] = f"occurred {got.astimezone(SHANGHAI):%m-%d %H:%M:%S}" if got else "no occurred time"
                continue
            if not early:
                hit.add(match)
            continue
        if any(
            e[0] == fid
            and CONSEQUENCES.get(e[1]) == k.rule
            and e[3] == k.subject
            and e[4] <= d.at <= e[4] + timedelta(days=1)
            for e in expected
        ):
            true_bg[k.rule] += 1
            continue
        if any(e[4] == start and e[0] == fid and e[1] == k.rule and e[3] == k.subject for e in expected):
            continue  # a registry scenario's condition: true every day (it opens again after a clear)
        if any(
            tr.facility_id == fid
            and tr.rule == k.rule
            and tr.device_id == k.device_id
            and tr.subject == k.subject
            and abs((d.at - tr.at).total_seconds()) <= MATCH_S
            for tr in truth
        ):
            true_bg[k.rule] += 1
            continue
        false[k.rule] += 1
        if len(false_list) < 10_000:
            false_list.append((fid, k.rule, k.device_id, k.subject, d.at))
        if len(examples) < 20:
            examples.append(
                f"{fid} {k.rule} {k.device_id or ''} {k.subject or ''} at {d.at.astimezone(SHANGHAI):%m-%d %H:%M}"
            )
    missed_at = {
        i: f"{e[0]} {e[1]} {e[2] or ''} {e[3] or ''}" + (f" ({wrong_time[i]})" if i in wrong_time else "")
        for i, e in enumerate(expected)
        if i not in hit
    }
    missed = list(missed_at.values())
    return {
        "false": dict(false),
        "true_background": dict(true_bg),
        "hit": len(hit),
        "missed": missed,
        "scenarios": len(expected),
        "examples": examples,
        "false_list": false_list,
        "missed_at": missed_at,
    }


def hosts(facilities: int, days: int, seed: int, start: datetime, names: Iterable[str]) -> list[int]:
    """The facilities that play the named scenarios or field situations (`bench truth --only`): a short run
    of just them plays each as the full run does (facilities are independent, seeded each by its own id)."""
    wanted = set(names)
    known = set(builtin_scenarios()) | set(FIELD_NAMES)
    if unknown := wanted - known:
        raise ValueError(f"unknown scenarios {sorted(unknown)} (known: {', '.join(sorted(known))})")
    generated = generate_registry(facilities, seed)
    fields = [p for p in place_field(generated, days, start) if p.played]
    out = {i for p in fields if p.name in wanted for i in p.facilities()}
    out |= {
        p.facility
        for p in plan(facilities, days, start, seed, with_closures(generated, fields))
        if p.scenario.name in wanted
    }
    return sorted(out)


def run_truth_bench(
    facilities: int = 60,
    days: int = 30,
    seed: int = 1,
    workers: int | None = None,
    *,
    start: datetime = MONTH_START,
    scenarios: bool = True,
    only: Iterable[str] = (),
) -> dict[str, Any]:
    """`only`: run just the facilities that play these scenarios (and whatever else is placed there)."""
    chosen = hosts(facilities, days, seed, start, only) if only else list(range(facilities))
    workers = min(workers or os.cpu_count() or 1, len(chosen))
    if scenarios:
        generated = _registry(facilities, seed, start, scenarios)
        # fails here, before an hour of simulation, if one cannot be placed
        plan(facilities, days, start, seed, with_closures(generated, place_field(generated, days, start)))
    parts = _parts(_registry(facilities, seed, start, scenarios), workers, chosen)
    t0 = time.monotonic()
    args = [(facilities, days, seed, p, start, scenarios) for p in parts]
    results = [_run_part(args[0])] if len(args) == 1 else _run_parts(args)
    false: Counter[str] = Counter()
    true_bg: Counter[str] = Counter()
    for r in results:
        false.update(r["false"])
        true_bg.update(r["true_background"])
    missed = [m for r in results for m in r["missed"]]
    not_played = [m for r in results for m in r.get("not_played", [])]
    return {
        "bench": "truth",
        "start": start.date().isoformat(),
        "facility_days": len(chosen) * days,
        "false_alerts": sum(false.values()),
        "missed": len(missed),
        "scenarios": sum(r["scenarios"] for r in results),
        "false_by_rule": dict(false),
        "true_background_by_rule": dict(true_bg),
        "missed_list": missed,
        # scenarios whose facility opens on none of the run's days: not played, neither hit nor missed
        "not_played": not_played
        + [
            f"{p.name}: {p.why_not}"
            for p in (field_plans(facilities, days, seed, start) if scenarios else [])
            if not p.played
        ],
        "field": merge_field([r.get("field", []) for r in results]),
        "false_examples": [e for r in results for e in r["examples"]][:20],
        "seconds": round(time.monotonic() - t0, 1),
        "workers": workers,
    }


def field_plans(facilities: int, days: int, seed: int, start: datetime) -> list[FieldPlan]:
    return place_field(generate_registry(facilities, seed), days, start)


def merge_field(parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One entry a field situation over the parts that played some of its facilities."""
    out: dict[str, dict[str, Any]] = {}
    for reports in parts:
        for r in reports:
            m = out.setdefault(
                r["name"],
                {**r, "expected": [], "missed": [], "quiet_windows": 0, "unwanted": [], "restart_changes": []},
            )
            for k in ("expected", "missed", "unwanted", "restart_changes"):
                m[k] = m[k] + r[k]
            m["quiet_windows"] += r["quiet_windows"]
    return [out[k] for k in sorted(out)]


if __name__ == "__main__":  # one part of `_run_parts`: pickled arguments in, pickled result out
    sys.stdout.buffer.write(pickle.dumps(_run_part(pickle.loads(sys.stdin.buffer.read()))))  # noqa: S301 (our parent's)
