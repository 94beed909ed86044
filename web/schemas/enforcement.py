"""责令停业整改 (suspensions), 通报 (circulars, and the public ones) and the 约谈 of a lagging area
(web/suspensions.py, web/circulars_api.py, web/assessment.py)."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict

from contract.labels import LABELS
from supervision.circulars import BODY_MAX, KINDS, STATEMENT_MAX, SUBJECTS_MAX
from supervision.suspensions import ORDERS_MAX, REASONS_MAX, REASONS_MIN
from web.schemas.base import Date, OneOf, RequestBody, Time, absent, closed, one_of
from web.schemas.ops import COUNTY, FID, Op, path_id, query


@closed
class Suspension(TypedDict):
    """the suspension"""

    id: int
    facility_id: str
    facility_name: NotRequired[str]
    reasons: str
    order_ids: list[int]
    issued_by: str
    issued_level: Literal["county", "city"]
    issued_at: Time
    in_force: bool
    lifted_by: NotRequired[str | None]
    lifted_at: NotRequired[Time | None]
    lift_reason: NotRequired[str | None]
    recheck_inspection_id: NotRequired[int | None]
    children_badged_in: NotRequired[int]
    first_child_in: NotRequired[Time | None]


class SuspensionIn(RequestBody):
    """The reasons, and the orders they rest on."""

    reasons: Annotated[str, Field(min_length=REASONS_MIN, max_length=REASONS_MAX)]
    order_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=ORDERS_MAX)] = absent()


class SuspensionLift(RequestBody):
    """The reason, and the 复查 it rests on."""

    reason: Annotated[str, Field(min_length=REASONS_MIN, max_length=REASONS_MAX)]
    inspection_id: Annotated[int, Field(ge=1)]


CircularKind = Annotated[str, OneOf(KINDS)]
# a circular's number: (department, year, sequence), as storage reads it (a tuple) or the public list writes it
CircularNumber = Annotated[
    list[str | int] | tuple[str | int, ...] | None,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
                {"type": "null"},
            ],
            "description": "(department, year, sequence)",
        }
    ),
]


@closed
class Subject(TypedDict):
    position: int
    facility_id: str | None
    facility_name: NotRequired[str | None]
    area: str | None
    county: NotRequired[str | None]
    township: NotRequired[str | None]
    statement: str


@closed
class Circular(TypedDict):
    """the circular"""

    id: int
    department: Annotated[str, Field(description="city, or a county's code")]
    kind: CircularKind
    title: str
    body: str
    public: bool
    status: Annotated[str, one_of(LABELS["circular_status"])]
    drafted_by: NotRequired[str]
    drafted_at: NotRequired[Time]
    updated_by: NotRequired[str]
    updated_at: NotRequired[Time]
    issued_by: NotRequired[str | None]
    issued_at: NotRequired[Time | None]
    number: CircularNumber
    number_text: Annotated[str | None, Field(description="忻卫托通〔2026〕3号; null for a draft")]


@closed
class CircularDetail(Circular):
    """the circular"""

    subjects: list[Subject]


@closed
class Circulars(TypedDict):
    """the circulars"""

    circulars: list[Circular]


@closed
class PublicSubject(TypedDict):
    position: int
    facility_id: str | None
    facility_name: NotRequired[str | None]
    area: str | None
    statement: str


@closed
class PublicCircular(TypedDict):
    """the circular"""

    id: int
    department: str
    kind: CircularKind
    title: str
    body: NotRequired[str]
    issued_at: Time
    number: CircularNumber
    number_text: str
    subjects: NotRequired[list[PublicSubject]]


@closed
class PublicCirculars(TypedDict):
    """the circulars"""

    circulars: list[PublicCircular]


class SubjectIn(RequestBody):
    subject: Annotated[str, Field(pattern="^(facility|area):.{1,64}$")]
    statement: Annotated[str, Field(max_length=STATEMENT_MAX)] = absent()


class CircularIn(RequestBody):
    """A draft 通报."""

    kind: CircularKind
    title: Annotated[str, Field(min_length=2, max_length=200)]
    body: Annotated[str, Field(max_length=BODY_MAX)] = absent()
    public: bool = absent()
    subjects: Annotated[list[SubjectIn], Field(max_length=SUBJECTS_MAX)] = absent()


Period = Annotated[str, Field(pattern="^20[0-9]{2}(-Q[1-4])?$")]


@closed
class AreaSummons(TypedDict):
    """the summons"""

    id: int
    level: Literal["county", "township"]
    county: str
    area: str
    period: Period
    held_on: Date
    people: str
    minutes: str
    recorded_by: str
    recorded_at: Time


@closed
class AreaSummonses(TypedDict):
    """the summonses"""

    summonses: list[AreaSummons]


class AreaSummonsIn(RequestBody):
    """A 约谈 of an area, from its assessment."""

    area: Annotated[str, Field(pattern="^[0-9]{6}([0-9]{3})?$")]
    period: Period
    held_on: Date
    people: Annotated[str, Field(min_length=1, max_length=500)]
    minutes: Annotated[str, Field(min_length=1, max_length=4000)]


_CIRCULAR = (path_id("circular_id"),)
_PUBLIC = (404,)  # no token needed: no 401 (web/openapi.py adds 429 and 503)
OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/v1/suspensions": {
        "get": Op(
            "责令停业整改 of the facilities in scope, newest first, each with the children badged in"
            " during it (停业整改期间有幼儿在园)",
            list[Suspension],
            (400,),
            (query("facility_id", "one facility"), query("in_force", "only those in force", enum=["true", "false"])),
            said="the suspensions",
        )
    },
    "/api/v1/facilities/{facility_id}/suspension": {
        "post": Op(
            "Order the facility to suspend operation pending rectification (a county or city inspector"
            " in scope, or an admin), with reasons and the orders it rests on; no end date; audited",
            Suspension,
            (400, 403, 404, 409),
            (FID,),
            SuspensionIn,
            status=201,
        )
    },
    "/api/v1/suspensions/{suspension_id}/lift": {
        "post": Op(
            "Lift a suspension (the issuing level or above) on a 复查 of the facility made after it,"
            " signed by two officers, that failed nothing; with a reason; once; audited",
            Suspension,
            (400, 403, 404, 409),
            (path_id("suspension_id"),),
            SuspensionLift,
        )
    },
    "/api/v1/circulars": {
        "get": Op(
            "通报 the caller reads, newest first: the department's drafts and the issued ones naming"
            " what is in scope (an operator: those naming its facility)",
            Circulars,
        ),
        "post": Op(
            "Draft a 通报 (a county or city inspector, or an admin) naming facilities in scope or lower"
            " departments; a subject without a statement gets one drafted from the facts; audited",
            CircularDetail,
            (400, 403, 404),
            (query("lang", "the language a drafted statement is in", enum=["zh", "en"]),),
            CircularIn,
            status=201,
            said="the draft",
        ),
    },
    "/api/v1/circulars/{circular_id}": {
        "get": Op(
            "One 通报 with its subjects (404 when the caller does not read it)", CircularDetail, (404,), _CIRCULAR
        )
    },
    "/api/v1/circulars/{circular_id}/issue": {
        "post": Op(
            "Issue a draft (a writer of its department): numbered, then never changed; a public one"
            " only when it names no person; told to the facilities and departments it names; audited",
            CircularDetail,
            (400, 403, 404, 409),
            _CIRCULAR,
        )
    },
    "/api/v1/public/circulars": {
        "get": Op(
            "The public 通报 (公开通报), newest first, for anyone without a login (limited per address);"
            " never who drafted or issued them",
            PublicCirculars,
            _PUBLIC,
            public=True,
        )
    },
    "/api/v1/public/circulars/{circular_id}": {
        "get": Op(
            "One public 通报 with its subjects, for anyone without a login",
            PublicCircular,
            _PUBLIC,
            _CIRCULAR,
            public=True,
        )
    },
    "/api/v1/assessment/summonses": {
        "get": Op(
            "约谈 of lagging areas recorded from the assessment, newest first, in the caller's scope"
            " (a county: its own and its townships'; a township: its own); an operator reads none (403)",
            AreaSummonses,
            (400, 403),
            (query("year", "the assessments of a year", pattern="^20[0-9]{2}$"), COUNTY),
        ),
        "post": Op(
            "Record a 约谈 of an area from its assessment (the level above it: the city a county or a"
            " township, a county its townships); audited",
            AreaSummons,
            (400, 403, 404),
            request=AreaSummonsIn,
            status=201,
        ),
    },
    "/api/v1/assessment/summonses/{summons_id}": {
        "get": Op(
            "One 约谈 of an area (404 outside the caller's scope; an operator 403)",
            AreaSummons,
            (403, 404),
            (path_id("summons_id"),),
        )
    },
}
