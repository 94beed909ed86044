"""信息统计监测: an area's figures for a month (web/statistics.py, supervision/statistics.py).

An area's row has the fields of supervision.statistics.COLUMNS, several of them named at run time from the
contract's tuples (`places_{age group}`, `facilities_{kind}`, `staff_{qualification}`, `alerts_{rule}`...):
the model is built from that list, as ReportRow is built from SEVERITIES, so a rule or an age group added to
the contract is a field of the document without a word here.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from typing_extensions import TypedDict

from supervision.orders import LEVELS
from supervision.statistics import COLUMNS
from web.schemas.base import NullableNumber, OneOf, Time, closed
from web.schemas.ops import Op, query

# the figures that are not counts: shares and rates (null without a base), the population with its source
_NOT_COUNTS: dict[str, Any] = {
    "area": str,
    "inclusive_share_pct": NullableNumber,
    "occupancy_pct": NullableNumber,
    "places_per_1000": NullableNumber,
    "care_rate_pct": NullableNumber,
    "population": int | None,
    "population_2_3": int | None,
    "population_year": int | None,
    "population_source": str | None,
}
_REQUIRED = ("area", "facilities", "places", "population_source")
_FIGURES: dict[str, Any] = {
    column: kind if column in _REQUIRED else NotRequired[kind]
    for column in COLUMNS
    for kind in (_NOT_COUNTS.get(column, int),)
}
Figures = closed(TypedDict("Figures", _FIGURES))  # type: ignore[operator]  # fields from the contract's tuples


@closed
class Statistics(TypedDict):
    """the figures"""

    area: str
    level: Annotated[str, OneOf(LEVELS)]
    month: str
    as_of: NotRequired[Time]
    complete: bool
    target_places_per_1000: NotRequired[NullableNumber]
    total: Figures  # type: ignore[valid-type]
    areas: list[Figures]  # type: ignore[valid-type]


OPERATIONS: dict[str, dict[str, Op]] = {
    "/api/v1/statistics": {
        "get": Op(
            "信息统计监测 of an area for a month (Asia/Shanghai): facilities, places by age group"
            " and type, occupancy, staff by qualification, inspections, orders and their timeliness, alerts"
            " by rule, places per 1,000 people and the care rate (each population figure with its source);"
            " the area's total and each area one level down. Inspectors (their area and below) and admins;"
            " an operator 403, an area outside the scope 404. JSON or CSV (UTF-8 with BOM)",
            Statistics,
            (400, 403, 404),
            (
                query("month", "YYYY-MM; default the month in progress", pattern="^20[0-9]{2}-(0[1-9]|1[0-2])$"),
                query(
                    "area",
                    "140900 (the city), a county's 6 digits or a township's 9; default the user's own",
                    pattern="^1409([0-9]{2}|[0-9]{5})$",
                ),
                query("format", "json or csv", enum=["json", "csv"]),
                query("lang", "the CSV's headers: zh (default) or en", enum=["zh", "en"]),
            ),
            also=(("text/csv", {"type": "string"}),),
        )
    }
}
