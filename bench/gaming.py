"""`bench gaming` (issue #37): can a facility buy a better grade by hiding what it does?

A matrix of strategies, each run as a simulated month of one facility through the real alert engine
(bench.truth.drive_engine over the realistic simulator, background faults included) and graded by the
real credit method (contract.credit_facts.measure, contract.credit.evaluate — the code that grades a
real month from the database), for an honest good, average and bad facility, each in an area whose
inspectors visit twice a month and in one where nobody inspects. A strategy *beats honest* when the
same facility scores higher with it than without it in the same area. Target: none does.

What the facility really does (its profile) is the same under every strategy: the guard leaves, carers
leave the room below ratio, an exit is locked, alerts are answered in time, late or never. A strategy
only changes what the platform is shown of it: devices unplugged, staff not badging, absences not
badged, absences split below the alert threshold, maintenance windows, one-line answers to orders.

What the bench assumes, where the real system has people in the loop:
- the facility gets all the maintenance window the rules let an inspector approve (12 h windows, 24 h
  a month), over its opening hours from the first day on;
- an order's answer that a reviewer sends back is not on time (the order rules since issue #37): a
  one-line answer before the due date is sent back, and the real answer comes after it;
- inspectors find what is really there (the profile's failed checklist items), whatever the sensors say;
- the facility's cameras over the child areas count adults (`counts_adults`: the simulator's first
  facility does, as half of its others): they see where the carers really are, whatever their badges
  say, with the counting's noise (simulators.engine). A facility without them is graded on its badges
  alone, and the credit page says so; for it, staying badged in while away is found by inspection only.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.engine import AlertEngine
from alerts.tracker import Decision
from bench.truth import payloads
from contract.credit import LAPSE_CLASSES, CreditConfig, evaluate
from contract.credit_facts import SLOT_S, Month, WatchDevice, measure, open_spans, signal_id
from contract.payloads import Access, AccessType, Payload, Status, Telemetry
from contract.registry import DeviceType, Facility, Registry, StaffRole
from contract.rules import ESCALATION_S, MAINTENANCE_MAX_WINDOW, MAINTENANCE_MONTHLY, load_rules
from simulators.engine import CitySim, FacilityState, Uplink
from simulators.registry_gen import generate_registry
from simulators.scenarios import FAULTS

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTH = date(2026, 11, 1)  # a month without public holidays
SEED = 41
TICK = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Profile:
    """What the facility really does on each opening day."""

    guard_away_min: float  # the guard leaves at 10:00 for this long (0: never), on...
    guard_days: int  # ...every n-th opening day
    carers_away_min: float  # all but one carer leave at 14:00 for this long
    carer_days: int
    exit_locked_min: float  # an exit locked at 09:00 for this long, every 5th opening day
    ack: str  # "in_time" | "half_late" | "never"
    failed_items: int  # what an inspector finds at each visit
    orders_late: bool  # answers orders after their due date


PROFILES = {
    "good": Profile(0, 1, 0, 1, 0, "in_time", 0, False),
    "average": Profile(30, 3, 30, 4, 0, "half_late", 1, False),
    "bad": Profile(180, 1, 120, 1, 60, "never", 3, True),
}


@dataclass(frozen=True, slots=True)
class Strategy:
    """What the facility shows the platform."""

    unplug: frozenset[DeviceType] = frozenset()  # these devices send nothing all month
    unplug_while_away: frozenset[DeviceType] = frozenset()  # ...only while staff are away
    gateway_off_open: bool = False  # nothing reaches the platform during opening hours
    never_badge: bool = False  # staff do not badge in or out
    absences_unbadged: bool = False  # staff badge in and stay badged in while away
    split: bool = False  # absences broken into 9-minute pieces (the guard rule needs 10)
    maintenance: bool = False  # a whole-facility maintenance window over the month, approved
    one_line_answers: bool = False  # orders answered with one line before the due date
    # the cameras' counting on only the first minutes of each hour (0: always on), their video on all along
    count_minutes: int = 0
    # each count sent this many times, a second apart (a burst that sends an hour's number of samples in
    # the minutes the counting is on; 1: once)
    count_burst: int = 1


_DOORS = frozenset({DeviceType.ACCESS_CONTROLLER})
_FIRE = frozenset({DeviceType.SMOKE_DETECTOR, DeviceType.HEAT_DETECTOR})
STRATEGIES: dict[str, Strategy] = {
    "unplug_doors": Strategy(unplug=_DOORS),
    "unplug_doors_while_away": Strategy(unplug_while_away=_DOORS),
    "unplug_cameras": Strategy(unplug=frozenset({DeviceType.CAMERA})),
    "unplug_fire_detectors": Strategy(unplug=_FIRE),
    "unplug_exits_and_gauges": Strategy(unplug=frozenset({DeviceType.EXIT_DOOR, DeviceType.EXTINGUISHER_GAUGE})),
    "gateway_off_while_open": Strategy(gateway_off_open=True),
    "maintenance_all_month": Strategy(maintenance=True),
    "never_badge": Strategy(never_badge=True),
    "badge_in_all_day": Strategy(absences_unbadged=True),
    # ...and the cameras that would count the carers missing switched off while they are away
    "unplug_counting_cameras_while_away": Strategy(
        absences_unbadged=True, unplug_while_away=frozenset({DeviceType.CAMERA})
    ),
    # ...or their counting switched off all but a few minutes of every hour (one count an hour was enough)
    "counting_off_most_of_each_hour": Strategy(absences_unbadged=True, count_minutes=5),
    # ...and in those minutes a count every second: an hour's number of samples (the burst gap, migration 042)
    "counting_in_bursts": Strategy(absences_unbadged=True, count_minutes=5, count_burst=12),
    "split_lapses": Strategy(split=True),
    "one_line_answers": Strategy(one_line_answers=True),
    "maintenance_and_unplug": Strategy(maintenance=True, unplug=_DOORS | _FIRE | {DeviceType.CAMERA}),
    "combined": Strategy(
        unplug=frozenset({DeviceType.CAMERA, DeviceType.EXIT_DOOR, DeviceType.EXTINGUISHER_GAUGE}) | _FIRE,
        unplug_while_away=_DOORS,
        absences_unbadged=True,
        maintenance=True,
        one_line_answers=True,
    ),
}
HONEST = Strategy()


@dataclass(slots=True)
class _World:
    """The month's truth, kept while it is simulated: when staff were away (for the strategies that
    hide exactly that)."""

    away: list[tuple[datetime, datetime]] = field(default_factory=list)


def _staff(f: Facility, role: StaffRole) -> list[str]:
    return [s.id for s in f.staff if s.role is role and not s.banned and s.id < "s-9000"]


def _absence(sim: CitySim, fs: FacilityState, people: list[str], start: datetime, minutes: float, s: Strategy) -> None:
    """People away from `start` for `minutes`: badged out and in again (honest), in 9-minute pieces with
    a minute back between them (split), or not badged at all. A guard away does not patrol."""
    end = start + timedelta(minutes=minutes)

    def badge(kind: str) -> Callable[[], None]:
        def fn() -> None:
            for person in people:
                sim.access(fs, kind, person)

        return fn

    def where(away: bool) -> Callable[[], None]:
        def fn() -> None:
            for person in people:
                sim.whereabouts(fs, person, away=away)

        return fn

    # where they really are, whatever they badge (the counting cameras see this)
    sim.schedule(start, where(True))
    sim.schedule(end, where(False))
    if s.never_badge or s.absences_unbadged:
        return
    if s.split:
        t = start
        while t < end:
            sim.schedule(t, badge("staff_out"))
            last = t + timedelta(minutes=10) >= end
            sim.schedule(end if last else t + timedelta(minutes=9), badge("staff_in"))
            t += timedelta(minutes=10)
        return
    sim.schedule(start, badge("staff_out"))
    sim.schedule(end, badge("staff_in"))


def _pause_patrols(fs: FacilityState, until: datetime) -> Callable[[], None]:
    def fn() -> None:
        fs.patrol_paused_until = until

    return fn


def _fault(sim: CitySim, fs: FacilityState, name: str, params: dict[str, Any]) -> Callable[[], None]:
    fault = FAULTS[name]
    return lambda: fault(sim, fs, params)


def _plan(
    sim: CitySim, fs: FacilityState, profile: Profile, s: Strategy, world: _World, first: date, days: int
) -> None:
    f = fs.facility
    guards, carers = _staff(f, StaffRole.GUARD), _staff(f, StaffRole.CAREGIVER)[1:]
    day, n = first, 0
    while day < first + timedelta(days=days):
        if f.opening_hours.hours_on(day) is not None:
            if profile.guard_away_min and n % profile.guard_days == 0:
                t = datetime.combine(day, datetime.min.time().replace(hour=10), SHANGHAI).astimezone(UTC)
                _absence(sim, fs, guards, t, profile.guard_away_min, s)
                pause_until = t + timedelta(minutes=profile.guard_away_min)
                sim.schedule(t, _pause_patrols(fs, pause_until))
                world.away.append((t, pause_until))
            if profile.carers_away_min and n % profile.carer_days == 0:
                t = datetime.combine(day, datetime.min.time().replace(hour=14), SHANGHAI).astimezone(UTC)
                _absence(sim, fs, carers, t, profile.carers_away_min, s)
                world.away.append((t, t + timedelta(minutes=profile.carers_away_min)))
            if profile.exit_locked_min and n % 5 == 0:
                t = datetime.combine(day, datetime.min.time().replace(hour=9), SHANGHAI).astimezone(UTC)
                sim.schedule(t, _fault(sim, fs, "exit_locked", {"minutes": profile.exit_locked_min}))
            n += 1
        day += timedelta(days=1)


def _shown(
    f: Facility, s: Strategy, world: _World, opens: list[tuple[datetime, datetime]]
) -> Callable[[str, Payload, datetime], bool]:
    """Whether the platform receives this device's payload, under the strategy."""
    types = {d.id: d.type for d in f.devices}

    def inside(t: datetime, spans: list[tuple[datetime, datetime]]) -> bool:
        return any(a <= t < b for a, b in spans)

    def shown(device: str, p: Payload, at: datetime) -> bool:
        kind = types.get(device)
        if kind in s.unplug:
            return False
        if kind in s.unplug_while_away and inside(at, [(a - timedelta(minutes=5), b) for a, b in world.away]):
            return False
        if s.gateway_off_open and inside(at, opens):
            return False
        if s.count_minutes and isinstance(p, Telemetry) and any(COUNT in r for _t, r in p.iter_samples()):
            return at.minute < s.count_minutes
        return not (s.never_badge and isinstance(p, Access) and p.type in (AccessType.STAFF_IN, AccessType.STAFF_OUT))

    return shown


def _drive(
    sim: CitySim, reg: Registry, until: datetime, shown: Callable[[str, Payload, datetime], bool], burst: int = 1
) -> tuple[list[Decision], dict[datetime, set[str]], dict[tuple[str, datetime], int]]:
    """bench.truth.drive_engine, with the strategy's filter between the facility and the platform, the
    hours each device was heard in (what ingest marks in device_activity) and the SLOT_S slots each
    counting camera sent its count in, per hour (what ingest's maintenance keeps in counted_slots); each
    count `burst` times, a second apart (the engine sees it once: the same count again changes nothing)."""
    engine = AlertEngine(reg.facilities, load_rules(None), started=sim.now, lapse_rules=frozenset(LAPSE_CLASSES))
    fid = reg.facilities[0].id
    gateway = next((d.id for d in reg.facilities[0].devices if d.type is DeviceType.GATEWAY), None)
    out: list[Decision] = []
    heard: dict[datetime, set[str]] = {}
    slots: dict[tuple[str, datetime], set[int]] = {}
    t = start = sim.now
    while t < until:
        t = min(t + TICK, until)
        for ev in sim.run(t):
            if isinstance(ev, Uplink):
                if not ev.up and gateway is not None:  # the broker publishes the gateway's Last Will
                    out += engine.on_message(fid, gateway, Status(online=False), ev.at)
                continue
            arrived = max(ev.at, start)
            for dev, p in payloads(ev):
                if not shown(dev, p, arrived):
                    continue
                hour = heard.setdefault(arrived.replace(minute=0, second=0, microsecond=0), set())
                hour.add(dev)
                for at, readings in p.iter_samples() if isinstance(p, Telemetry) else ():
                    if COUNT in readings:  # what counted_slots says (storage.credit)
                        for i in range(burst):
                            t_i = (at + timedelta(seconds=i)).astimezone(UTC)
                            key = (signal_id(dev, COUNT), t_i.replace(minute=0, second=0, microsecond=0))
                            heard.setdefault(key[1], set()).add(key[0])
                            slots.setdefault(key, set()).add(int(t_i.timestamp()) // SLOT_S)
                out += engine.on_message(fid, dev, p, arrived)
        out += [d for _f, d in engine.on_tick(t)]
    return out, heard, {key: len(covered) for key, covered in slots.items()}


def _lapses(decisions: list[Decision], end: datetime) -> list[tuple[str, tuple[datetime, datetime]]]:
    out, opened = [], {}
    for d in decisions:
        if d.key.rule not in LAPSE_CLASSES:
            continue
        if d.action == "lapse" and d.since is not None:
            out.append((d.key.rule, (d.since, d.at)))
        elif d.action == "open":
            opened[d.key] = d.since or d.at
        elif d.action == "clear" and d.key in opened:  # `since`: when it ended, if before (a replayed spool)
            out.append((d.key.rule, (opened.pop(d.key), min(d.at, d.since or d.at))))
    out += [(k.rule, (since, end)) for k, since in opened.items()]
    return out


def _windows(f: Facility, tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The most maintenance an inspector may approve (contract.rules: MAINTENANCE_MAX_WINDOW each,
    MAINTENANCE_MONTHLY a month), all of it over opening hours from the first opening day on, where it
    mutes the most."""
    out, budget = [], MAINTENANCE_MONTHLY
    for a, _b in open_spans(f.opening_hours, tz, (start, end)):
        if budget <= timedelta(0):
            break
        length = min(MAINTENANCE_MAX_WINDOW, budget)
        out.append((a - timedelta(hours=1), a - timedelta(hours=1) + length))
        budget -= length
    return out


def _offline(decisions: list[Decision], end: datetime) -> list[tuple[str, tuple[datetime, datetime]]]:
    """The device_offline alerts' spans per device (storage.credit reads them from the alerts table)."""
    out, opened = [], {}
    for d in decisions:
        if d.key.rule != "device_offline" or d.key.device_id is None:
            continue
        if d.action == "open":
            opened[d.key] = d.at
        elif d.action == "clear" and d.key in opened:
            out.append((d.key.device_id, (opened.pop(d.key), d.at)))
    out += [(k.device_id, (at, end)) for k, at in opened.items() if k.device_id is not None]
    return out


def _patrol_gaps(decisions: list[Decision], end: datetime) -> list[tuple[datetime, datetime]]:
    """The "no patrol scan for 2 h" alerts' spans (not the day's count at closing, which has a subject)."""
    out, opened = [], None
    for d in decisions:
        if d.key.rule != "patrol_missed" or d.key.subject is not None:
            continue
        if d.action == "open":
            opened = d.at
        elif d.action == "clear" and opened is not None:
            out.append((opened, d.at))
            opened = None
    return out + ([(opened, end)] if opened is not None else [])


def _responses(decisions: list[Decision], profile: Profile, end: datetime) -> tuple[int, int, int]:
    """Critical and major alerts, answered as the profile answers (muted ones too: the facility hears them)."""
    n = late = never = 0
    for d in decisions:
        if d.action != "open" or d.condition is None or d.condition.severity not in ("critical", "major"):
            continue
        # a muted alert (MAINTENANCE_MUTES inside a window) reaches the facility all the same and counts
        limit = ESCALATION_S["critical" if d.condition.severity == "critical" else "default"][0]
        if profile.ack == "never":
            never += (end - d.at).total_seconds() > limit
        elif profile.ack == "half_late" and n % 2 == 1:
            late += 1
        n += 1
    return n, late, never


def _orders(profile: Profile, s: Strategy, inspected: bool) -> tuple[tuple[int, int], tuple[int, int]]:
    """Two visits in an inspected area; each failed item becomes an order. An order is on time when its
    first answer is accepted by its due date: a one-line answer is sent back, so it never is."""
    if not inspected:
        return (0, 0), (0, 0)
    orders = 2 * profile.failed_items
    late = orders if profile.orders_late or s.one_line_answers else 0
    return (orders, late), (2, orders)


COUNT = "adults_count"


def watchers(f: Facility) -> list[WatchDevice]:
    """The facility's devices as the credit method watches them (storage.credit.month_facts): a counting
    camera's count is a watcher of its own."""
    out = [WatchDevice(d.id, d.type, d.heartbeat_s) for d in f.devices]
    out += [WatchDevice(signal_id(d.id, COUNT), d.type, d.heartbeat_s, COUNT) for d in f.devices if d.counts_adults]
    return out


def run_one(
    profile_name: str, strategy_name: str, days: int = 30, seed: int = SEED, first: date = MONTH
) -> dict[str, float]:
    """One facility's month under one strategy: its score in an inspected and an uninspected area."""
    profile = PROFILES[profile_name]
    s = STRATEGIES.get(strategy_name, HONEST)
    reg = generate_registry(1, seed)
    f = reg.facilities[0]
    start = datetime.combine(first, datetime.min.time(), SHANGHAI).astimezone(UTC)
    end = start + timedelta(days=days)
    sim = CitySim(reg, seed, start, faults=True)
    fs = sim.facilities[f.id]
    world = _World()
    _plan(sim, fs, profile, s, world, first, days)
    tz = ZoneInfo(f.timezone)
    opens = open_spans(f.opening_hours, tz, (start, end))
    decisions, heard, samples = _drive(sim, reg, end, _shown(f, s, world, opens), s.count_burst)
    windows = _windows(f, tz, start, end) if s.maintenance else []
    out = {}
    for area, inspected in (("inspected", True), ("uninspected", False)):
        orders, inspections = _orders(profile, s, inspected)
        month = Month(
            period=(start, end),
            tz=tz,
            hours=f.opening_hours,
            devices=watchers(f),
            heard=heard,
            lapses=_lapses(decisions, end),
            offline=_offline(decisions, end),
            patrol_gaps=_patrol_gaps(decisions, end),
            gaps=f.watch_gaps(),
            windows=windows,
            acks=_responses(decisions, profile, end),
            orders=orders,
            inspected=inspections,
            samples=samples,
        )
        out[area] = evaluate(measure(month, CreditConfig()))["score"]
    return out


def _jobs(days: int, seed: int) -> Iterator[tuple[str, str, int, int]]:
    for p in PROFILES:
        for s in ("honest", *STRATEGIES):
            yield p, s, days, seed


def _run_jobs(jobs: list[tuple[str, str, int, int]], workers: int) -> list[dict[str, float]]:
    """Jobs over `workers` child Pythons (`python -m bench.gaming`), a share each, as bench.truth does
    (no multiprocessing pool: its resource tracker outlives the caller)."""
    shares = [jobs[i::workers] for i in range(workers)]
    procs = [
        subprocess.Popen([sys.executable, "-m", "bench.gaming"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for share in shares
        if share
    ]
    try:
        for proc, share in zip(procs, shares, strict=False):
            assert proc.stdin is not None  # noqa: S101 (stdin=PIPE)
            proc.stdin.write(pickle.dumps(share))
            proc.stdin.close()
        results: dict[tuple[str, str, int, int], dict[str, float]] = {}
        for proc, share in zip(procs, shares, strict=False):
            assert proc.stdout is not None  # noqa: S101 (stdout=PIPE)
            with proc.stdout:
                got = pickle.loads(proc.stdout.read())  # noqa: S301 (our own child's output)
            if proc.wait() != 0:
                raise RuntimeError(f"a gaming worker failed (exit {proc.returncode}); its error is above")
            results.update(zip(share, got, strict=True))
        return [results[j] for j in jobs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def run_gaming_bench(days: int = 30, seed: int = SEED, workers: int = 2) -> dict[str, Any]:
    t0 = time.perf_counter()
    jobs = list(_jobs(days, seed))
    scores = dict(zip([(p, s) for p, s, _d, _s in jobs], _run_jobs(jobs, max(1, workers)), strict=True))
    gains: list[tuple[float, str, str, str]] = []
    for (p, s), by_area in scores.items():
        if s == "honest":
            continue
        for area, score in by_area.items():
            gains.append((round(score - scores[p, "honest"][area], 2), p, s, area))
    beats = [g for g in gains if g[0] > 0]
    worst = max(gains)
    return {
        "bench": "gaming",
        "strategies": len(STRATEGIES),
        "profiles": len(PROFILES),
        "areas": 2,
        "pairs": len(gains),
        "beats_honest": len(beats),
        "worst_gain": worst[0],
        "worst": {"profile": worst[1], "strategy": worst[2], "area": worst[3]},
        "beating": sorted(f"{p}/{s}/{a}:+{g}" for g, p, s, a in beats),
        "honest": {p: scores[p, "honest"] for p in PROFILES},
        "days": days,
        "seed": seed,
        "seconds": round(time.perf_counter() - t0, 1),
    }


if __name__ == "__main__":
    share = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 (our parent's input)
    sys.stdout.buffer.write(pickle.dumps([run_one(p, s, d, sd) for p, s, d, sd in share]))
