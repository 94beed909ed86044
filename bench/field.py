"""`bench truth`'s field situations (issue #42's acceptance): the hard days a facility really has, placed in
the run as the built-in scenarios are, each with what must be raised (and at which occurred time) and what
must not. The list, with each one's reason, is in docs/benchmarks.md (`bench truth`).

- `engine_restart_mid_day`: a panic pressed at 10:40 and the engine restarted 3 minutes later, inside the
  alert's hold (besides the run's daily restarts, bench.truth.RESTARTS); the facility's whole run is played
  again without any restart and must give the same decisions at the same times.
- `spool_over_pickup`: a forwarding gateway's uplink down 16:30-18:30 over the pick-up (a facility closing
  17:00-18:00, so `child_not_collected` falls due inside the outage), a panic pressed at 17:10 inside it:
  the gateway's `device_offline`, and `panic_button` with its occurred time 17:10 (known at 18:30); no
  `child_not_collected` or `unauthorized_pickup` for the children collected during the outage.
- `holiday_block_saturday`: facilities that open on Saturdays, on a Saturday inside a holiday block of the
  run (National Day in the month, the Spring Festival from `--start 2026-02-16`): the world keeps them
  closed, nothing may be raised there that day. Not played when the run holds no such Saturday.
- `county_closure`: a county's 停课 on two working days of the run, declared as a county inspector
  declares it (an approved `county` closure in every facility's opening hours, as storage fills them):
  the world keeps the county's facilities closed, nothing may be raised in the county those days.

The child left overnight is the built-in scenario `child_left_overnight` (held open 8 hours).

"Nothing raised" is judged as every alert is: an alert the simulator's ground truth deserves (a gateway
that really went offline on a closure day) is true; any other alert inside a quiet window is false and is
listed under its situation (`unwanted`). The world's closed days are the scenario's own
(`CitySim(closed=)`), not the calendar code's, so an engine that thinks a closed day open is caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from zoneinfo import ZoneInfo

from contract.calendar import DayKind, day_kind
from contract.registry import Closure, DeviceType, Facility, Registry
from simulators.scenarios import Scenario

SHANGHAI = ZoneInfo("Asia/Shanghai")
OCCURRED_TOL = timedelta(seconds=120)  # an alert's occurred time this close to the press (device clocks, ticks)
RESTART_AFTER = timedelta(minutes=3)  # inside the panic's 15-minute hold
SPOOL_FROM, SPOOL_MIN, PANIC_AFTER_MIN = day_time(16, 30), 120, 40
CLOSURE_DAYS = 2
CLOSURE_REASON = "暴雪停课 / county-wide closure for a snowstorm"
FIELD_NAMES = ("county_closure", "engine_restart_mid_day", "holiday_block_saturday", "spool_over_pickup")


@dataclass(frozen=True)
class FieldExpect:
    rule: str
    device: str | None
    subject: str | None
    at: datetime  # it may open from here (a day's window, as a scenario's)
    occurred: datetime | None = None  # the alert's occurred time must be this (± OCCURRED_TOL)


@dataclass(frozen=True)
class Quiet:
    """Nothing false may open in this facility in [first, last) (`rules`: only these; None: any)."""

    facility: int
    first: datetime
    last: datetime
    rules: frozenset[str] | None = None


@dataclass(frozen=True)
class FieldPlan:
    name: str
    facility: int | None  # the facility it is about; None: not played (`why_not`)
    day: date | None
    injections: tuple[tuple[int, Scenario, datetime], ...] = ()  # (facility, fault, at)
    expect: tuple[FieldExpect, ...] = ()
    quiet: tuple[Quiet, ...] = ()
    closed: dict[int, frozenset[date]] = field(default_factory=dict)  # the world's closed days
    closures: dict[int, tuple[Closure, ...]] = field(default_factory=dict)  # as storage fills opening hours
    restarts: tuple[datetime, ...] = ()
    compare_restarts: bool = False  # the facility played again without restarts: the same decisions
    spooling: frozenset[int] = frozenset()
    why_not: str = ""

    @property
    def played(self) -> bool:
        return self.facility is not None

    def facilities(self) -> set[int]:
        out = {self.facility} if self.facility is not None else set()
        return out | {q.facility for q in self.quiet} | set(self.closed) | {i for i, _, _ in self.injections}


def _local(day: date, t: day_time) -> datetime:
    return datetime.combine(day, t, SHANGHAI)


def _has(f: Facility, t: DeviceType) -> str | None:
    return next((d.id for d in f.devices if d.type is t), None)


def _day_window(fi: int, day: date, rules: frozenset[str] | None = None) -> Quiet:
    return Quiet(fi, _local(day, day_time(0)), _local(day + timedelta(days=1), day_time(0)), rules)


def place_field(registry: Registry, days: int, start: datetime) -> list[FieldPlan]:
    """Each situation in its facility and day inside the run (the last day left for what follows), or not
    played with the reason. Deterministic: the same registry and run give the same plan."""
    facilities = registry.facilities
    first = start.astimezone(SHANGHAI).date()
    span = [first + timedelta(days=i) for i in range(max(1, days - 1))]
    run_days = [first + timedelta(days=i) for i in range(days)]
    closure = _county_closure(facilities, span)
    block = _block_saturday(facilities, run_days)
    shut: dict[int, frozenset[date]] = {}
    for p in (closure, block):  # the other situations are played on days their facility really opens
        for i, ds in p.closed.items():
            shut[i] = shut.get(i, frozenset()) | ds
    return [_restart(facilities, span, shut), _spool(facilities, span, shut), block, closure]


def _restart(facilities: list[Facility], span: list[date], shut: dict[int, frozenset[date]]) -> FieldPlan:
    name = "engine_restart_mid_day"
    for i in range(1, len(facilities) + 1):
        fi = i % len(facilities)
        f = facilities[fi]
        panic = _has(f, DeviceType.PANIC_BUTTON)
        day = next((d for d in span[1:] + span[:1] if f.opening_hours.opens_on(d) and d not in shut.get(fi, ())), None)
        if panic is None or day is None:
            continue
        at = _local(day, day_time(10, 40))
        press = Scenario(name=name, at=at.time(), fault="panic", params={"device": panic})
        return FieldPlan(
            name,
            fi,
            day,
            injections=((fi, press, at),),
            expect=(FieldExpect("panic_button", panic, None, at, occurred=at),),
            restarts=(at + RESTART_AFTER,),
            compare_restarts=True,
        )
    return FieldPlan(name, None, None, why_not="no facility with a panic button open on a day of the run")


def _spool(facilities: list[Facility], span: list[date], shut: dict[int, frozenset[date]]) -> FieldPlan:
    name = "spool_over_pickup"
    end = (datetime.combine(date.min, SPOOL_FROM) + timedelta(minutes=SPOOL_MIN)).time()
    for k in range(len(facilities)):
        fi = (k + 2) % len(facilities)
        f = facilities[fi]
        gw, panic = _has(f, DeviceType.GATEWAY), _has(f, DeviceType.PANIC_BUTTON)
        if gw is None or panic is None or not f.children:
            continue
        for d in span[2:] + span[:2]:
            h = None if d in shut.get(fi, ()) else f.opening_hours.hours_on(d)
            # closing 30 min after the drop at the earliest, and `child_not_collected` (30 min after
            # closing) due before the uplink is back: pick-ups and the judgement both inside the outage
            if h is None or not (
                _local(d, SPOOL_FROM) + timedelta(minutes=30)
                <= _local(d, h[1])
                <= _local(d, end) - timedelta(minutes=30)
            ):
                continue
            down = _local(d, SPOOL_FROM)
            press = down + timedelta(minutes=PANIC_AFTER_MIN)
            drop = Scenario(name=name, at=SPOOL_FROM, fault="gateway_uplink_drop", params={"minutes": SPOOL_MIN})
            button = Scenario(name=name, at=press.time(), fault="panic", params={"device": panic})
            return FieldPlan(
                name,
                fi,
                d,
                injections=((fi, drop, down), (fi, button, press)),
                expect=(
                    FieldExpect("device_offline", gw, None, down),
                    FieldExpect("panic_button", panic, None, press, occurred=press),
                ),
                quiet=(
                    Quiet(
                        fi,
                        down,
                        _local(d + timedelta(days=1), day_time(0)),
                        frozenset({"child_not_collected", "unauthorized_pickup"}),
                    ),
                ),
                spooling=frozenset({fi}),
            )
    return FieldPlan(name, None, None, why_not="no facility with a gateway closing 17:00-18:00 on a day of the run")


def _block_saturday(facilities: list[Facility], run_days: list[date]) -> FieldPlan:
    name = "holiday_block_saturday"
    saturdays = [d for d in run_days if d.weekday() == 5 and day_kind(d) is DayKind.HOLIDAY]
    openers = [i for i, f in enumerate(facilities) if "sat" in f.opening_hours.weekly or "sat" in f.opening_hours.days]
    if not saturdays or not openers:
        why = "no Saturday of a holiday block in the run" if not saturdays else "no facility opens on Saturdays"
        return FieldPlan(name, None, None, why_not=why)
    return FieldPlan(
        name,
        openers[0],
        saturdays[0],
        quiet=tuple(_day_window(i, d) for i in openers for d in saturdays),
        closed={i: frozenset(saturdays) for i in openers},
    )


def _county_closure(facilities: list[Facility], span: list[date]) -> FieldPlan:
    name = "county_closure"
    working = [
        d for d in span if day_kind(d) is DayKind.MAKEUP or (d.weekday() < 5 and day_kind(d) is DayKind.ORDINARY)
    ]
    if not working:
        return FieldPlan(name, None, None, why_not="no working day in the run")
    k = min(3, len(working) - 1)
    shut = working[k : k + CLOSURE_DAYS]
    fi = 3 % len(facilities)
    county = facilities[fi].county
    members = [i for i, f in enumerate(facilities) if f.county == county]
    closure = Closure(kind="county", first=shut[0], last=shut[-1], reason=CLOSURE_REASON)
    days_shut = frozenset(shut[0] + timedelta(days=n) for n in range((shut[-1] - shut[0]).days + 1))
    return FieldPlan(
        name,
        fi,
        shut[0],
        quiet=tuple(_day_window(i, d) for i in members for d in sorted(days_shut)),
        closed=dict.fromkeys(members, days_shut),
        closures=dict.fromkeys(members, (closure,)),
    )


def with_closures(registry: Registry, plans: list[FieldPlan]) -> Registry:
    """The registry as the engine reads it once the closures are declared (storage.registry fills each
    facility's opening hours with its approved closures)."""
    extra: dict[int, list[Closure]] = {}
    for p in plans:
        for i, more in p.closures.items():
            extra.setdefault(i, []).extend(more)
    if not extra:
        return registry
    facilities = list(registry.facilities)
    for i, cs in extra.items():
        f = facilities[i]
        hours = f.opening_hours.model_copy(update={"closures": [*f.opening_hours.closures, *cs]})
        facilities[i] = f.model_copy(update={"opening_hours": hours})
    return registry.model_copy(update={"facilities": facilities})  # the register of people kept with them


def to_utc(t: datetime) -> datetime:
    return t.astimezone(UTC)
