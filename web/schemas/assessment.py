"""督导评估: the departments' work per area for a year or a quarter (web/api.py, supervision/assessment.py).

An area's row has the fields of supervision.assessment.COLUMNS, several of them named at run time (each
indicator with its counts and median, `plan_{target}`..., `lapse_h_{class}`): the model is built from that
list, so an indicator or a target added there is a field of the document without a word here.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from supervision.assessment import COLUMNS
from web.schemas.base import NullableNumber, Number, closed
from web.schemas.ops import COUNTY, Op, query

# area and rank, and the counts the document has always called integers; every other figure a number or null
# (a share, a median, an index, a mean, hours: none without a case)
_KINDS: dict[str, Any] = {
    "area": str,
    "rank": int | None,
    "facilities": int,
    "escalated": int,
    "escalated_closed": int,
    "escalated_open": int,
}
_REQUIRED = ("area", "facilities", "work_index")
_ROW: dict[str, Any] = {
    column: kind if column in _REQUIRED else NotRequired[kind]
    for column in COLUMNS
    for kind in (_KINDS.get(column, NullableNumber),)
}
AreaWork = closed(TypedDict("AreaWork", _ROW))  # type: ignore[operator]  # fields from supervision's list


@closed
class PlanTarget(TypedDict):
    """a target of the plan (contract/targets.py), with its source"""

    target: Number
    year: NotRequired[int | None]
    source: str
    example: bool


@closed
class Assessment(TypedDict):
    """areas"""

    year: int
    quarter: int | None
    by: Literal["county", "township"]
    weights: dict[str, int]
    targets: dict[str, PlanTarget]
    areas: list[AreaWork]  # type: ignore[valid-type]


OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/v1/assessment": {
        "get": Op(
            "督导评估: the departments' work per area (county or township) for a year or a quarter, "
            "ranked by the weighted work index; JSON or CSV (UTF-8 with BOM)",
            Assessment,
            (400, 404),  # 404: an operator (the departments' own business)
            (
                query("year", "YYYY; default the app clock's year", pattern="^20[0-9]{2}$"),
                query("quarter", "1-4: that quarter of the year (default the whole year)", pattern="^[1-4]$"),
                COUNTY,
                query("format", "json or csv", enum=["json", "csv"]),
                query("lang", "the CSV's headers: zh (default) or en", enum=["zh", "en"]),
            ),
            also=(("text/csv", {"type": "string"}),),
        )
    }
}
