"""Facilities: the list, the summary, one facility's status, readings and timeline (web/api.py)."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from storage.queries import STATES
from web.schemas.base import NullableNumber, Number, OneOf, Time, closed
from web.schemas.ops import COUNTY, FID, TOWNSHIP, Op, query

_GAP = (
    "The platform's last gap, in the last hour: no worker could hear from `from` to `to`, and that time is counted"
    " as no device's silence (CONTRACT §4)."
)
_INTAKE = (
    "The platform's data intake: silence is judged as of `as_of`, the time up to which everything the broker had"
    " was stored (null: no ingest worker has reported yet)."
)

Gap = TypedDict("Gap", {"from": Time, "to": Time})  # `from` is a keyword: the functional form
Gap.__doc__ = _GAP
closed(Gap)


@closed
class Intake(TypedDict):
    state: Literal["ok", "behind", "stopped"]
    as_of: Time
    behind_s: int
    gap: NotRequired[Annotated[Gap | None, Field(description=_GAP)]]


NullableIntake = Annotated[Intake | None, Field(description=_INTAKE)]


@closed
class Location(TypedDict):
    lat: Number
    lon: Number


@closed
class Facility(TypedDict):
    id: str
    name: str
    county: str
    township: str
    location: NotRequired[Location | None]
    kind: NotRequired[str]
    state: Annotated[str, OneOf(STATES)]
    open_alerts: int
    staffing_alerts: list[str]
    suspended: NotRequired[bool]


@closed
class Facilities(TypedDict):
    """facilities"""

    facilities: list[Facility]
    intake: NotRequired[NullableIntake]


@closed
class DeviceCounts(TypedDict):
    online: int
    offline: int
    never_seen: NotRequired[int]
    silent: NotRequired[int]


@closed
class DeviceStatus(TypedDict):
    id: str
    type: str
    location: NotRequired[str]
    online: bool
    liveness: NotRequired[
        Annotated[
            Literal["online", "silent", "offline"] | None,
            Field(description="silent: quiet longer than usual, no alert yet; null: never heard"),
        ]
    ]
    silent_s: NotRequired[NullableNumber]
    offline_in_s: NotRequired[NullableNumber]
    battery_pct: NotRequired[NullableNumber]
    last_seen_at: NotRequired[Time | None]
    clock_slow_s: NotRequired[NullableNumber]


@closed
class ClassPresence(TypedDict):
    present: int
    capacity: int


@closed
class FacilityStatus(TypedDict):
    """status"""

    facility_id: str
    devices: DeviceCounts
    device_list: NotRequired[list[DeviceStatus]]
    open_alerts: dict[str, int]
    staff_on_site: dict[str, int]
    children_present: int
    children_by_class: NotRequired[dict[str, ClassPresence]]
    caregivers_required: int
    caregivers_on_site: NotRequired[int]
    guards_on_site: int
    guards_required: NotRequired[int]
    open_now: NotRequired[bool]
    intake: NotRequired[NullableIntake]


@closed
class Area(TypedDict):
    code: str
    facilities: int
    open_alerts: int
    red: int
    amber: int
    grey: int
    green: int


@closed
class Understaffed(TypedDict):
    id: str
    rules: list[str]


@closed
class Summary(TypedDict):
    """summary"""

    by_severity: dict[str, int]
    by_rule: dict[str, int]
    open_alerts: int
    areas: list[Area]
    understaffed: list[Understaffed]


@closed
class Point(TypedDict):
    t: Time
    min: NullableNumber
    avg: NullableNumber
    max: NullableNumber


@closed
class Points(TypedDict):
    """points"""

    metric: str
    bucket: str
    points: list[Point]


@closed
class TimelineItem(TypedDict):
    time: Time
    kind: Literal["event", "access"]
    device_id: str
    type: str
    state: NotRequired[str | None]
    person_id: NotRequired[str | None]
    guardian_id: NotRequired[str | None]


@closed
class Timeline(TypedDict):
    """timeline"""

    items: list[TimelineItem]


OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/v1/facilities": {
        "get": Op(
            "Facilities in scope with their state (green/amber/red/grey)",
            Facilities,
            (400,),
            (COUNTY, TOWNSHIP),
        )
    },
    "/api/v1/summary": {
        "get": Op(
            "Open alerts in scope by severity and rule; facilities by state per area",
            Summary,
            (400,),
            (COUNTY, TOWNSHIP),
            description="With `county`, only that county, its areas being townships; with `township`, that one.",
        )
    },
    "/api/v1/facilities/{facility_id}/status": {
        "get": Op(
            "Devices online/offline, open alerts by severity, staffing, children present",
            FacilityStatus,
            (404,),
            (FID,),
        )
    },
    "/api/v1/facilities/{facility_id}/readings": {
        "get": Op(
            "Time-bucketed min/avg/max of one metric (hourly rollup for buckets of an hour or more)",
            Points,
            (400, 404),
            (
                FID,
                query("metric", "metric name", required=True, pattern="^[a-z][a-z0-9_]{0,63}$"),
                query("device_id", "one device"),
                query("from", "RFC 3339 (default: 24 h before `to`)", format="date-time"),
                query("to", "RFC 3339 (default: now)", format="date-time"),
                query("bucket", "e.g. 30s, 5m, 1h, 1d; at most 5,000 buckets", pattern="^[0-9]{1,5}[smhd]$"),
            ),
        )
    },
    "/api/v1/facilities/{facility_id}/timeline": {
        "get": Op(
            "Events and access since `since` (default: the facility's local midnight), newest first",
            Timeline,
            (400, 404),
            (FID, query("since", "RFC 3339", format="date-time")),
        )
    },
    "/api/v1/facilities/{facility_id}/registry": {
        "get": Op(
            "The facility as the registry describes it (CONTRACT §3)",
            {"type": "object", "required": ["id", "devices"]},
            (404,),
            (FID,),
        )
    },
}
