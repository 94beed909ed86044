"""The part of the OpenAPI document still written by hand (OpenAPI 3.0 style: `nullable`), for the areas not
yet described by models in web/schemas/. web/openapi.py merges it into the served document (3.1) and
removes an area from here as it converts it.
"""

from __future__ import annotations

from typing import Any

_ERR = {
    "description": "error, with the reason",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": "string", "format": "date-time", "nullable": True}
_NUM = {"type": "number"}
_NNUM = {"type": "number", "nullable": True}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _arr(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _ok(desc: str, schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {status: {"description": desc, "content": {"application/json": {"schema": schema}}}}


def _errors(*codes: int) -> dict[str, Any]:
    """401 always (every operation needs a token), 429 (the token's requests beyond its rate,
    web/ratelimit.py, with Retry-After) and 503 (the database out of reach, with Retry-After); the
    others as the operation can answer them."""
    return {str(c): _ERR for c in sorted({401, 429, 503, *codes})}


def _q(name: str, desc: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": {"type": "string", **schema}}


_COUNTY = _q("county", "6-digit county code", pattern="^[0-9]{6}$")

SCHEMAS: dict[str, Any] = {}

PATHS: dict[str, Any] = {
    "/api/v1/assessment": {
        "get": {
            "summary": "督导评估: the departments' work per area (county or township) for a year or a quarter, "
            "ranked by the weighted work index; JSON or CSV (UTF-8 with BOM)",
            "parameters": [
                _q("year", "YYYY; default the app clock's year", pattern="^20[0-9]{2}$"),
                _q("quarter", "1-4: that quarter of the year (default the whole year)", pattern="^[1-4]$"),
                _COUNTY,
                _q("format", "json or csv", enum=["json", "csv"]),
                _q("lang", "the CSV's headers: zh (default) or en", enum=["zh", "en"]),
            ],
            "responses": {
                "200": {
                    "description": "areas",
                    "content": {
                        "application/json": {
                            "schema": _obj(
                                ["year", "quarter", "by", "weights", "targets", "areas"],
                                year=_INT,
                                quarter={"type": "integer", "nullable": True},
                                by={"type": "string", "enum": ["county", "township"]},
                                weights={"type": "object", "additionalProperties": _INT},
                                # the plan's targets (contract/targets.py) by indicator, each with its source
                                targets={
                                    "type": "object",
                                    "additionalProperties": _obj(
                                        ["target", "source", "example"],
                                        target=_NUM,
                                        year={"type": "integer", "nullable": True},
                                        source=_STR,
                                        example={"type": "boolean"},
                                    ),
                                },
                                areas=_arr(
                                    _obj(
                                        ["area", "facilities", "work_index"],
                                        rank={"type": "integer", "nullable": True},
                                        area=_STR,
                                        facilities=_INT,
                                        work_index=_NNUM,
                                        inspected_pct=_NNUM,
                                        plan_done_pct=_NNUM,
                                        draw_done_pct=_NNUM,
                                        reviews_in_time_pct=_NNUM,
                                        review_median_days=_NNUM,
                                        complaints_in_time_pct=_NNUM,
                                        complaint_median_days=_NNUM,
                                        filings_in_time_pct=_NNUM,
                                        filing_median_days=_NNUM,
                                        targets_pct=_NNUM,
                                        plan_places_per_1000=_NNUM,
                                        plan_inclusive_share_pct=_NNUM,
                                        plan_filed_pct=_NNUM,
                                        plan_filed_dealt_pct=_NNUM,
                                        escalated=_INT,
                                        escalated_closed=_INT,
                                        escalated_open=_INT,
                                        mean_score=_NNUM,
                                        orders_on_time_pct=_NNUM,
                                    )
                                ),
                            )
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **_errors(400, 404),  # 404: an operator (the departments' own business)
            },
        }
    },
    "/api/v1/stream": {
        "get": {
            "summary": "Server-Sent Events: `alert` (each change in scope), `facility_status` (that facility's state)",
            "responses": {
                "200": {"description": "an event stream", "content": {"text/event-stream": {"schema": _STR}}},
                **_errors(),
            },
        }
    },
}

# 信息统计监测 (issue #40 item 8; web/statistics.py, supervision/statistics.py)
_FIGURES = _obj(
    ["area", "facilities", "places", "population_source"],
    area=_STR,
    facilities=_INT,
    filed=_INT,
    unfiled=_INT,
    places=_INT,
    enrolled=_INT,
    occupancy_pct=_NNUM,
    inclusive_share_pct=_NNUM,
    population={"type": "integer", "nullable": True},
    population_2_3={"type": "integer", "nullable": True},
    population_source=_NSTR,
    places_per_1000=_NNUM,
    care_rate_pct=_NNUM,
    orders_due=_INT,
    orders_late=_INT,
    alerts=_INT,
)
PATHS.update(
    {
        "/api/v1/statistics": {
            "get": {
                "summary": "信息统计监测 of an area for a month (Asia/Shanghai): facilities, places by age group"
                " and type, occupancy, staff by qualification, inspections, orders and their timeliness, alerts"
                " by rule, places per 1,000 people and the care rate (each population figure with its source);"
                " the area's total and each area one level down. Inspectors (their area and below) and admins;"
                " an operator 403, an area outside the scope 404. JSON or CSV (UTF-8 with BOM)",
                "parameters": [
                    _q("month", "YYYY-MM; default the month in progress", pattern="^20[0-9]{2}-(0[1-9]|1[0-2])$"),
                    _q(
                        "area",
                        "140900 (the city), a county's 6 digits or a township's 9; default the user's own",
                        pattern="^1409([0-9]{2}|[0-9]{5})$",
                    ),
                    _q("format", "json or csv", enum=["json", "csv"]),
                    _q("lang", "the CSV's headers: zh (default) or en", enum=["zh", "en"]),
                ],
                "responses": {
                    "200": {
                        "description": "the figures",
                        "content": {
                            "application/json": {
                                "schema": _obj(
                                    ["area", "level", "month", "complete", "total", "areas"],
                                    area=_STR,
                                    level={"type": "string", "enum": ["city", "county", "township"]},
                                    month=_STR,
                                    as_of=_TIME,
                                    complete=_BOOL,
                                    target_places_per_1000=_NNUM,
                                    total=_FIGURES,
                                    areas=_arr(_FIGURES),
                                )
                            },
                            "text/csv": {"schema": _STR},
                        },
                    },
                    **_errors(400, 403, 404),
                },
            }
        }
    }
)
