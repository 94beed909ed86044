"""What a rule family may see and change of one facility (issue #36 item 4). Types only, no I/O.

The rule families (alerts.alarms, devices, people, readings, counting, workforce) took the whole
`alerts.facility.FacilityRuntime` and facility.py imported them back: a circle, and nothing said which
family may touch what. They take one of three protocols instead, each narrower than the next below it:

- `FacilityView`, read-only: the registry's facility, the rules, the facility's time helpers, the
  devices, and the event and people state as folding has left it. What judging reads.
- `Judging`, the view and the two things judging may change: a reading's latch (hysteresis) and the
  device alerts unknown now (behind a silent gateway: neither raised nor cleared).
- `FacilityState`, what folding a message in, or a day's end, may change: the event and people state the
  families keep (who is on site, which alarms are active, patrols, denials, pick-up delegates spent) and
  the conditions that open from it (a one-off alert's `pulse`, a retrigger, a raised severity, an event
  whose end came late).

`FacilityRuntime` satisfies all three (mypy checks it where alerts.facility hands itself over); no rule
family imports alerts.facility (tests/test_architecture.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from alerts.state import DeviceRt, Register, Workforce
from contract.pickup import Delegate
from contract.registry import Child, ClassInfo, Facility, Staff
from contract.rules import Condition, Key, RuleConfig


class FacilityView(Protocol):
    """Read-only: what the rule families read of one facility."""

    # the registry and the rules
    @property
    def facility(self) -> Facility: ...
    @property
    def rules(self) -> Mapping[str, RuleConfig]: ...
    @property
    def tz(self) -> ZoneInfo: ...
    @property
    def started(self) -> datetime: ...
    @property
    def devices(self) -> Mapping[str, DeviceRt]: ...
    @property
    def gateway(self) -> str | None: ...
    @property
    def missing_equipment(self) -> tuple[str, ...]: ...
    @property
    def staff(self) -> Mapping[str, Staff]: ...
    @property
    def children(self) -> Mapping[str, Child]: ...
    @property
    def classes(self) -> Mapping[str, ClassInfo]: ...
    @property
    def patrol_points(self) -> AbstractSet[str]: ...
    @property
    def child_rooms(self) -> Mapping[str, list[str]]: ...
    @property
    def suspended_since(self) -> datetime | None: ...
    @property
    def register(self) -> Register: ...
    @property
    def workforce(self) -> Workforce: ...
    @property
    def delegates(self) -> Mapping[str, tuple[Delegate, ...]]: ...

    # the state as folding has left it
    @property
    def active_events(self) -> AbstractSet[tuple[str, str]]: ...
    @property
    def event_began(self) -> Mapping[tuple[str, str], tuple[datetime, str | None]]: ...
    @property
    def latched_readings(self) -> AbstractSet[tuple[str, str]]: ...
    @property
    def staff_on_site(self) -> Mapping[str, Staff | None]: ...
    @property
    def children_present(self) -> Mapping[str, str]: ...
    @property
    def children_overnight(self) -> Mapping[str, datetime]: ...
    @property
    def unknown_children(self) -> AbstractSet[str]: ...
    @property
    def person_last(self) -> Mapping[str, datetime]: ...
    @property
    def delegate_used(self) -> Mapping[int, datetime]: ...
    @property
    def child_scans(self) -> int: ...
    @property
    def last_patrol(self) -> datetime | None: ...
    @property
    def day(self) -> date | None: ...

    # time and liveness
    def local(self, t: datetime) -> datetime: ...
    def is_open(self, t: datetime) -> bool: ...
    def hours_of(self, day: date) -> tuple[datetime, datetime] | None: ...
    def silent(self, d: DeviceRt, now: datetime) -> bool: ...
    def missed(self, d: DeviceRt, now: datetime) -> bool: ...

    # a condition as the rule's config says it (severity, for_s); building one changes nothing
    def cond(
        self,
        rule: str,
        zh: str,
        en: str,
        severity: str | None = None,
        for_s: float | None = None,
        began: tuple[datetime, str | None] | None = None,
    ) -> Condition: ...


class Judging(FacilityView, Protocol):
    """The view, and what judging the conditions may change."""

    def hyst(self, key: tuple[str, str], bad: bool, recovered: bool) -> bool: ...
    def unknown_now(self, keys: Iterable[Key]) -> None: ...


class FacilityState(Judging, Protocol):
    """What folding a message in (alarms.on_event, people.on_access) and a day's end (people.roll_day) may
    change: the event and people state, and the conditions that open from it."""

    # when the message being folded in was heard, and why it was late (None: on time)
    @property
    def heard(self) -> datetime | None: ...
    @property
    def heard_cause(self) -> str | None: ...

    active_events: set[tuple[str, str]]
    event_last: dict[tuple[str, str], datetime]
    event_began: dict[tuple[str, str], tuple[datetime, str | None]]
    staff_on_site: dict[str, Staff | None]
    children_present: dict[str, str]
    children_overnight: dict[str, datetime]
    unknown_children: set[str]
    person_last: dict[str, datetime]
    delegate_used: dict[int, datetime]
    denied: dict[str, deque[datetime]]
    day: date | None
    child_scans: int
    patrols: list[tuple[datetime, str]]
    patrols_judged: date | None
    last_patrol: datetime | None
    # conditions opened, raised, re-triggered or ended by what was folded in
    raised: list[Key]
    retriggered: list[Key]
    ended_events: list[tuple[Key, Condition, datetime, datetime]]

    def pulse(self, key: Key, at: datetime, zh: str, en: str) -> None: ...
