"""The facility registry of CONTRACT §3: models, required-equipment check, file loading."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from contract.calendar import DayKind, day_kind
from contract.errors import ContractError
from contract.ids import CountyCode, DeviceId, FacilityId, PersonId, TownshipCode
from contract.payloads import describe_validation_error
from contract.people import SALT_CONTEXT, Ban, IdentityError, MaskedId, Person, PersonKey, hash_identities


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceType(StrEnum):
    SMOKE_DETECTOR = "smoke_detector"
    HEAT_DETECTOR = "heat_detector"
    GAS_DETECTOR = "gas_detector"
    CO_DETECTOR = "co_detector"
    EXTINGUISHER_GAUGE = "extinguisher_gauge"
    WATER_PRESSURE = "water_pressure"
    EMERGENCY_LIGHT = "emergency_light"
    EXIT_DOOR = "exit_door"
    ACCESS_CONTROLLER = "access_controller"
    PANIC_BUTTON = "panic_button"
    CAMERA = "camera"
    ENV_SENSOR = "env_sensor"
    PATROL_POINT = "patrol_point"
    GATEWAY = "gateway"


# Life-safety types: their silence is a major alert (CONTRACT §4 device_offline).
LIFE_SAFETY_TYPES = frozenset(
    {
        DeviceType.SMOKE_DETECTOR,
        DeviceType.HEAT_DETECTOR,
        DeviceType.GAS_DETECTOR,
        DeviceType.CO_DETECTOR,
        DeviceType.PANIC_BUTTON,
        DeviceType.ACCESS_CONTROLLER,
        DeviceType.EXIT_DOOR,
    }
)


class AgeGroup(StrEnum):
    INFANT = "infant"  # 乳儿班 6–12 months
    TODDLER = "toddler"  # 托小班 12–24 months
    OLDER = "older"  # 托大班 24–36 months
    MIXED = "mixed"  # 混合班


class StaffRole(StrEnum):
    CAREGIVER = "caregiver"
    TEACHER = "teacher"
    HEALTH = "health"
    GUARD = "guard"
    COOK = "cook"
    MANAGER = "manager"
    OTHER = "other"


# Roles that count towards the carer ratio unless a staff record says otherwise: 托育机构设置标准(试行)
# counts 保育人员 (caregivers) and the 育婴员/teachers who care for a class; health staff, cooks and
# managers do not. A registry marks exceptions per person with `cares_for_children`.
CARING_ROLES = frozenset({StaffRole.CAREGIVER, StaffRole.TEACHER})


class RoomType(StrEnum):
    """What a device's room is, independent of the language its `location` is written in."""

    KITCHEN = "kitchen"
    CLASSROOM = "classroom"
    NAP_ROOM = "nap_room"
    PLAY_AREA = "play_area"
    ENTRANCE = "entrance"
    HALL = "hall"
    OFFICE = "office"
    EQUIPMENT = "equipment"
    BOILER = "boiler"
    OTHER = "other"


# For registries written before `room` existed: words of a location that name a kitchen.
KITCHEN_WORDS = ("kitchen", "厨房", "伙房", "食堂", "灶间")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Location(_Model):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class Hours(_Model):
    open: time
    close: time

    @model_validator(mode="after")
    def _open_before_close(self) -> Hours:
        if self.open >= self.close:
            raise ValueError("open must be before close")
        return self


class DayException(_Model):
    """A dated change: a closure (`closed: true`) or other hours on that day (a shortened day)."""

    date: date
    closed: bool = False
    open: time | None = None
    close: time | None = None
    reason: Annotated[str, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _hours_or_closed(self) -> DayException:
        if not self.closed and (self.open is None or self.close is None or self.open >= self.close):
            raise ValueError(f"exception on {self.date}: give closed: true, or open before close")
        return self


class Closure(_Model):
    """Days closed by a decision outside the registry file (migration 032, supervision.closures): a county's
    停课 (weather, an epidemic) declared by a county inspector, or the facility's own closure requested by
    its operator and approved by an inspector. Only approved ones reach a facility's opening hours."""

    kind: Literal["county", "facility"]
    first: date
    last: date
    reason: Annotated[str, Field(max_length=500)] = ""

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


class RoleHours(_Model):
    """When staff of one role may badge in on an open day, besides opening hours ± the margin (CONTRACT §3):
    kitchen and cleaning staff early, a cleaner late. It only widens the window; on a closed day no role
    is expected (guards never raise `after_hours_entry` at all)."""

    arrive: time | None = None  # from this local time (e.g. 06:00 for the kitchen)
    leave: time | None = None  # until this local time (e.g. 20:00 for cleaning)

    @model_validator(mode="after")
    def _a_working_day(self) -> RoleHours:
        if self.arrive is None and self.leave is None:
            raise ValueError("a role's hours give arrive, leave or both")
        if self.arrive is not None and self.arrive < EARLIEST_ARRIVAL:
            raise ValueError(
                f"a role arrives at {EARLIEST_ARRIVAL:%H:%M} at the earliest (a working day, not the night)"
            )
        if self.leave is not None and self.leave > LATEST_LEAVING:
            raise ValueError(f"a role leaves at {LATEST_LEAVING:%H:%M} at the latest (a working day, not the night)")
        if self.arrive is not None and self.leave is not None and self.arrive >= self.leave:
            raise ValueError("a role's arrive must be before its leave")
        return self


EARLIEST_ARRIVAL = time(4, 0)
LATEST_LEAVING = time(23, 0)


class OpeningHours(_Model):
    """When a facility is open, in its own time zone (CONTRACT §3).

    `days` with `open`/`close` is the usual week; `weekly` gives a weekday other hours (a Saturday
    morning); `exceptions` change one date; with `public_holidays` (the default) every day of China's
    holiday blocks (their weekends included, contract.calendar) is closed and the make-up working days
    (调休) open with the usual weekday hours. `closures` (approved closures, filled from storage, never
    from a registry file) close their days whatever else says.
    """

    days: Annotated[list[Weekday], Field(min_length=1)] = ["mon", "tue", "wed", "thu", "fri"]
    open: time = time(7, 30)
    close: time = time(17, 30)
    weekly: dict[Weekday, Hours] = {}
    exceptions: list[DayException] = []
    public_holidays: bool = True
    # per-role arrival and leaving windows on open days (issue #42 item 5), e.g. {cook: {arrive: "06:00"}}
    roles: dict[StaffRole, RoleHours] = {}
    # filled from storage only (a registry file cannot declare them: parse_registry), so not in the schema
    closures: SkipJsonSchema[list[Closure]] = []

    @model_validator(mode="after")
    def _open_before_close(self) -> OpeningHours:
        if self.open >= self.close:
            raise ValueError("opening_hours.open must be before close")
        dates = [e.date for e in self.exceptions]
        if len(set(dates)) != len(dates):
            raise ValueError("opening_hours.exceptions: one entry per date")
        return self

    def hours_on(self, day: date) -> tuple[time, time] | None:
        """(open, close) on this local calendar day, or None when closed."""
        if self.closure_on(day) is not None:
            return None
        for e in self.exceptions:
            if e.date == day:
                return None if e.closed or e.open is None or e.close is None else (e.open, e.close)
        if self.public_holidays:
            kind = day_kind(day)
            if kind is DayKind.HOLIDAY:
                return None
            if kind is DayKind.MAKEUP:
                return self.open, self.close
        wd = WEEKDAYS[day.weekday()]
        if wd in self.weekly:
            h = self.weekly[wd]
            return h.open, h.close
        return (self.open, self.close) if wd in self.days else None

    def closure_on(self, day: date) -> Closure | None:
        return next((c for c in self.closures if c.covers(day)), None)

    def usual_hours(self, day: date) -> tuple[time, time]:
        """The weekday's hours as if the day were not closed: how long a facility that opens anyway (children
        badged in on a holiday or a closure day) is held to its opening-hours rules."""
        wd = WEEKDAYS[day.weekday()]
        h = self.weekly.get(wd)
        return (h.open, h.close) if h is not None else (self.open, self.close)

    def opens_on(self, day: date) -> bool:
        """Whether the facility opens on this (local) calendar day."""
        return self.hours_on(day) is not None

    def is_open_at(self, local: datetime) -> bool:
        """Whether a local wall-clock time falls within opening hours."""
        h = self.hours_on(local.date())
        return h is not None and h[0] <= local.time() < h[1]


# Class sizes of 托育机构设置标准（试行）(2019) 第十三条: 乳儿班 (6–12 months) at most 10 children, 托小班
# (12–24 months) 15, 托大班 (24–36 months) 20; 混合班 (18 months and over) 18. A registry declaring more is
# refused at load, and more children checked in than the capacity is a major alert (CONTRACT §4).
CLASS_CAPACITY: dict[AgeGroup, int] = {
    AgeGroup.INFANT: 10,
    AgeGroup.TODDLER: 15,
    AgeGroup.OLDER: 20,
    AgeGroup.MIXED: 18,
}
CLASS_NAMES = {
    AgeGroup.INFANT: "乳儿班",
    AgeGroup.TODDLER: "托小班",
    AgeGroup.OLDER: "托大班",
    AgeGroup.MIXED: "混合班",
}


class ClassInfo(_Model):
    id: PersonId
    age_group: AgeGroup
    capacity: Annotated[int, Field(ge=1, le=200)]

    @model_validator(mode="after")
    def _within_standard(self) -> ClassInfo:
        limit = CLASS_CAPACITY[self.age_group]
        if self.capacity > limit:
            raise ValueError(
                f"class {self.id}: capacity {self.capacity} is over the standard's {limit} for age group"
                f" {self.age_group.value} ({CLASS_NAMES[self.age_group]} ≤ {limit}, 托育机构设置标准（试行）)"
            )
        return self


class Staff(_Model):
    id: PersonId
    role: StaffRole
    qualified: bool = False
    licensed: bool = False
    banned: bool = False
    health_cert_expires: date | None = None
    # Counts towards the carer ratio; None: by role (CARING_ROLES).
    cares_for_children: bool | None = None
    # The person in the register of people (contract.people): their key, from an `id_number` hashed at
    # load (the number itself is dropped there), or given as it is; and the masked number to show.
    person: PersonKey | None = None
    id_masked: MaskedId | None = None

    @property
    def cares(self) -> bool:
        return self.role in CARING_ROLES if self.cares_for_children is None else self.cares_for_children


class Child(_Model):
    id: PersonId
    class_: Annotated[PersonId, Field(alias="class")]
    guardians: list[PersonId] = []

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Device(_Model):
    id: DeviceId
    type: DeviceType
    location: Annotated[str, Field(max_length=200)] = ""
    heartbeat_s: Annotated[int, Field(gt=0, le=86400)] = 60
    # cameras: the view covers a child area; env sensors: the room is a child area.
    covers_child_area: bool = False
    room: RoomType | None = None
    # cameras over a child area: the camera's own analytics count the adults in its view (people counting
    # in a zone with a height filter, children left out) and it reports them as `adults_count` (CONTRACT
    # §2, §4 ratio_breach). A declared capability, filed in the registry like the rest of it.
    counts_adults: bool = False

    @model_validator(mode="after")
    def _counting_camera(self) -> Device:
        if self.counts_adults and not (self.type is DeviceType.CAMERA and self.covers_child_area):
            raise ValueError("counts_adults is for a camera that covers a child area")
        return self

    @property
    def in_kitchen(self) -> bool:
        if self.room is not None:
            return self.room is RoomType.KITCHEN
        loc = self.location.lower()
        return any(w in loc for w in KITCHEN_WORDS)


class Facility(_Model):
    id: FacilityId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    county: CountyCode
    township: TownshipCode
    location: Location | None = None
    kind: Literal["inclusive", "for_profit", "employer", "kindergarten_class", "home"] = "inclusive"
    timezone: str = "Asia/Shanghai"
    opening_hours: OpeningHours = OpeningHours()
    # Declares a night watch (值夜): patrols are then required around the clock, not only while open.
    night_watch: bool = False
    classes: list[ClassInfo] = []
    staff: list[Staff] = []
    children: list[Child] = []
    devices: list[Device] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Facility:
        if not self.township.startswith(self.county):
            raise ValueError(f"township {self.township} is not in county {self.county}")
        for what, ids in (
            ("class", [c.id for c in self.classes]),
            ("staff", [s.id for s in self.staff]),
            ("child", [c.id for c in self.children]),
            ("device", [d.id for d in self.devices]),
            ("person", [s.person for s in self.staff if s.person is not None]),
        ):
            dup = {i for i in ids if ids.count(i) > 1}
            if dup:
                raise ValueError(f"duplicate {what} id(s): {', '.join(sorted(dup))}")
        classes = {c.id for c in self.classes}
        for child in self.children:
            if child.class_ not in classes:
                raise ValueError(f"child {child.id} is in unknown class {child.class_!r}")
        return self

    def watch_gaps(self) -> dict[str, int]:
        """Devices the standards require that the registry lacks, per credit class (contract/credit.py):
        counted as silent all the time by the credit evaluation (issue #37 item 2)."""
        return watch_gaps(len(self.classes), self.devices)

    def missing_equipment(self) -> list[str]:
        """Required equipment of CONTRACT §3 that this facility lacks (empty when complete)."""
        types = {d.type for d in self.devices}
        missing = []
        gaps = self.watch_gaps()
        if not types & {DeviceType.SMOKE_DETECTOR, DeviceType.HEAT_DETECTOR}:
            missing.append("smoke_or_heat_detector")
        for t in (DeviceType.EXTINGUISHER_GAUGE, DeviceType.PANIC_BUTTON, DeviceType.ACCESS_CONTROLLER):
            if t not in types:
                missing.append(t.value)
        if not any(d.type is DeviceType.CAMERA and d.covers_child_area for d in self.devices):
            missing.append("camera_covering_child_area")
        if any(d.in_kitchen for d in self.devices) and not any(
            d.type is DeviceType.GAS_DETECTOR and d.in_kitchen for d in self.devices
        ):
            missing.append("gas_detector_in_kitchen")
        entrance_cam = any(d.type is DeviceType.CAMERA and _at_entrance(d) for d in self.devices)
        child_cam = any(d.type is DeviceType.CAMERA and d.covers_child_area for d in self.devices)
        if child_cam and gaps["camera_coverage"] > (0 if entrance_cam else 1):
            missing.append("camera_per_class")
        if not entrance_cam:
            missing.append("entrance_camera")
        if types & _DETECTORS and gaps["fire_detection"]:
            missing.append("detector_per_class")
        if gaps["exit_obstructed"]:
            missing.append("two_exit_sensors")
        return missing


# Required watching devices by the facility's size (issue #37 item 2), each with its source:
# - a camera over every child room the registry knows of (a classroom, nap room or play area named by
#   any device's room), and at least one per class (托育机构设置标准（试行）2019: 视频监控覆盖婴幼儿活动
#   区域), and one over the entrance (GB/T 29315-2022: video at the entrances of a kindergarten);
# - a smoke or heat detector in every child room known and in the kitchen, at least one per class
#   (GB 50116-2013 火灾自动报警系统设计规范: detectors in every room of a nursery);
# - two safety exits, each watched (GB 50016-2014 建筑设计防火规范 5.5.8: a nursery's building has at least
#   two safety exits).
_DETECTORS = frozenset({DeviceType.SMOKE_DETECTOR, DeviceType.HEAT_DETECTOR})
CHILD_ROOMS = frozenset({RoomType.CLASSROOM, RoomType.NAP_ROOM, RoomType.PLAY_AREA})
ENTRANCE_WORDS = ("entrance", "gate", "入口", "大门", "门口", "门厅")
MIN_EXITS = 2


def _at_entrance(d: Device) -> bool:
    if d.room is not None:
        return d.room is RoomType.ENTRANCE
    loc = d.location.lower()
    return any(w in loc for w in ENTRANCE_WORDS)


def watch_gaps(classes: int, devices: Iterable[Device]) -> dict[str, int]:
    """Per credit class, how many required watching devices are not registered at all."""
    ds = list(devices)
    child_rooms = {d.location for d in ds if d.room in CHILD_ROOMS}
    kitchen = any(d.in_kitchen for d in ds)
    child_cams = sum(1 for d in ds if d.type is DeviceType.CAMERA and d.covers_child_area)
    entrance_cam = any(d.type is DeviceType.CAMERA and _at_entrance(d) for d in ds)
    detectors = sum(1 for d in ds if d.type in _DETECTORS)
    exits = sum(1 for d in ds if d.type is DeviceType.EXIT_DOOR)
    rooms = max(1, classes, len(child_rooms))
    return {
        "camera_coverage": max(0, rooms - child_cams) + (0 if entrance_cam else 1),
        "fire_detection": max(0, rooms + kitchen - detectors),
        "exit_obstructed": max(0, MIN_EXITS - exits),
    }


def required_guards(enrolled: int) -> int:
    """Guards a facility needs (CONTRACT §4, GB/T 29315-2022): 1 below 100 enrolled children,
    2 up to 1,000, +1 per further 500."""
    if enrolled < 100:
        return 1
    if enrolled <= 1000:
        return 2
    return 2 + math.ceil((enrolled - 1000) / 500)


class Registry(_Model):
    facilities: list[Facility]
    # People of the register (contract.people) with their qualifications, checks and any ban; staff
    # records link to them by `person`. A person not listed here keeps what the register has.
    people: list[Person] = []

    @model_validator(mode="before")
    @classmethod
    def _hash_identities(cls, data: Any, info: ValidationInfo) -> Any:
        """Identity numbers become keys here, before anything else sees them (contract.people)."""
        salt = (info.context or {}).get(SALT_CONTEXT)
        return hash_identities(data, salt if isinstance(salt, bytes) else None)

    @model_validator(mode="after")
    def _unique(self) -> Registry:
        for what, ids in (("facility", [f.id for f in self.facilities]), ("person", [p.key for p in self.people])):
            dup = {i for i in ids if ids.count(i) > 1}
            if dup:
                raise ValueError(f"duplicate {what} id(s): {', '.join(sorted(dup))}")
        return self


def parse_registry(data: Any, salt: bytes | None = None) -> Registry:
    """A registry from a file's data; identity numbers in it are hashed with `salt` and dropped."""
    try:
        reg = Registry.model_validate(data, context={SALT_CONTEXT: salt})
    except IdentityError as err:
        raise ContractError("registry", str(err)) from None
    except ValidationError as err:
        raise ContractError("registry", describe_validation_error(err)) from None
    for f in reg.facilities:
        if f.opening_hours.closures:
            raise ContractError(
                "registry",
                f"facility {f.id}: opening_hours.closures are declared and approved on the web (停课), not in a"
                " registry file; a closed day of the facility's own calendar is an `exceptions` entry",
            )
    return reg


def load_registry_file(path: Path, salt: bytes | None = None) -> Registry:
    """Read a registry from YAML or JSON (by extension; YAML otherwise)."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ContractError("registry", f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {err}") from err
    return parse_registry(data, salt)


@dataclass(frozen=True, slots=True)
class RegisterChanges:
    """What loading a registry file writes into the register of people (contract.people)."""

    people: list[Person]  # listed in the file: their details replace the register's (a ban is only added)
    identities: dict[str, str | None]  # every person a staff record links to: key -> masked number
    bans: dict[str, Ban]  # bans a facility's own record (`banned: true`) adds to the person


def register_changes(reg: Registry, now: datetime) -> RegisterChanges:
    """A file's people, the people its staff link to, and the bans its staff records declare: a staff
    record marked `banned` that names a person bans the person at every facility, from the day of the
    load (in the facility's time), with the facility's registry as the source. Nothing here lifts a ban."""
    identities: dict[str, str | None] = {}
    bans: dict[str, Ban] = {}
    for f in reg.facilities:
        day = now.astimezone(ZoneInfo(f.timezone)).date()
        for s in f.staff:
            if s.person is None:
                continue
            identities[s.person] = identities.get(s.person) or s.id_masked
            if s.banned and s.person not in bans:
                source = f"{f.name}（{f.id}）档案 / registry of {f.id}, {s.id}"
                bans[s.person] = Ban(source=source[:200], on=day)
    return RegisterChanges(list(reg.people), identities, bans)
