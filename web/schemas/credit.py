"""Credit (诚信评价): the month's evaluations and the appeals against them (web/api.py, web/appeals.py)."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired, get_args

from pydantic import Field
from typing_extensions import TypedDict

from web.schemas.base import AnyObject, NullableNumber, Number, RequestBody, Time, absent, closed
from web.schemas.ops import FID, Op, path_id, query

MONTH = "^20[0-9]{2}-(0[1-9]|1[0-2])$"
AppealStatus = Literal["pending", "accepted", "rejected"]


@closed
class Appeal(TypedDict):
    """the appeal"""

    id: int
    facility_id: str
    facility_name: NotRequired[str]
    month: str
    note: str
    filed_by: str
    filed_at: Time
    status: AppealStatus
    decided_by: NotRequired[str | None]
    decided_at: NotRequired[Time | None]
    reason: NotRequired[str | None]
    score_before: NotRequired[NullableNumber]
    grade_before: NotRequired[str | None]
    corrected_score: NotRequired[NullableNumber]
    corrected_grade: NotRequired[str | None]


@closed
class Evaluation(TypedDict):
    facility_id: str
    name: NotRequired[str]
    county: NotRequired[str]
    township: NotRequired[str]
    score: Number
    grade: str
    parts: dict[str, Number]
    lapse_points: NotRequired[dict[str, Number]]
    silent_points: NotRequired[dict[str, Number]]  # by rule: devices heard from too seldom (contract/credit.py)
    dark_points: NotRequired[Number]
    facts: AnyObject
    method: NotRequired[str]
    provisional: bool
    appeal_note: NotRequired[str | None]
    appeal_by: NotRequired[str | None]
    appeals: NotRequired[list[Appeal]]


@closed
class Credit(TypedDict):
    """the month's evaluations"""

    month: str
    facilities: list[Evaluation]


@closed
class Appeals(TypedDict):
    """appeals"""

    appeals: list[Appeal]


class AppealIn(RequestBody):
    """An appeal's note."""

    note: Annotated[str, Field(min_length=1, max_length=4000)]


class AppealDecision(RequestBody):
    """Accept with a corrected score, or reject; with a reason."""

    accept: bool
    score: Annotated[float, Field(ge=0, le=100)] = absent()
    reason: Annotated[str, Field(min_length=1, max_length=4000)]


OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/v1/credit": {
        "get": Op(
            "The credit evaluation (诚信评价) of each facility in scope for a month: score, grade, figures",
            Credit,
            (400,),
            (query("month", "YYYY-MM (Asia/Shanghai); default this month (provisional)", pattern=MONTH),),
        )
    },
    "/api/v1/facilities/{facility_id}/credit/{month}/appeal": {
        "post": Op(
            "Appeal a stored month's grade with a note (the facility's operator; one pending at a time); audited",
            Appeal,
            (400, 403, 404, 409),
            (FID, {"name": "month", "in": "path", "required": True, "schema": {"type": "string", "pattern": MONTH}}),
            AppealIn,
            status=201,
        )
    },
    "/api/v1/credit/appeals": {
        "get": Op(
            "Appeals (申诉) in scope, newest first, each kept with its decision",
            Appeals,
            (400,),
            (
                query("month", "YYYY-MM", pattern=MONTH),
                query("facility_id", "facility"),
                query("status", "pending, accepted or rejected", enum=list(get_args(AppealStatus))),
            ),
        )
    },
    "/api/v1/credit/appeals/{appeal_id}/decide": {
        "post": Op(
            "Decide an appeal (an inspector of the county or the city): accept with a corrected score"
            " (the stored month changes, the appeal keeps the figures before), or reject; with a reason; audited",
            Appeal,
            (400, 403, 404, 409),
            (path_id("appeal_id"),),
            AppealDecision,
        )
    },
}
