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
_ID_PATTERN = "^[a-z0-9][a-z0-9-]{0,63}$"
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


_FID = {"name": "facility_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": _ID_PATTERN}}
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

# -- 双随机一公开 (issue #40 item 5; web/draws.py): its own section, added to the document above ------------
_DRAW_ID = {"name": "draw_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_USERNAME = {
    "name": "username",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$"},
}
_SHA = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_DATE = {"type": "string", "format": "date"}
_NINT = {"type": "integer", "nullable": True}
_PAIR = {"type": "array", "items": _STR, "minItems": 2, "maxItems": 2}
SCHEMAS["DrawSummary"] = _obj(
    ["id", "county", "seq", "drawn_by", "drawn_level", "drawn_at", "planned_for", "count", "redraw_of", "reason"],
    id=_INT,
    county=_STR,
    seq=_INT,
    drawn_by=_STR,
    drawn_level=_STR,
    drawn_at=_TIME,
    planned_for=_DATE,
    count=_INT,
    redraw_of=_NINT,
    reason=_STR,
    signed=_INT,
)
SCHEMAS["Draw"] = _obj(
    ["id", "county", "seq", "algorithm", "drawn_at", "planned_for", "count", "inputs", "inputs_sha256", "seed"],
    id=_INT,
    county=_STR,
    seq=_INT,
    algorithm={"type": "string", "enum": ["cw-draw-1"]},
    drawn_level=_STR,
    drawn_by=_STR,
    drawn_at=_TIME,
    planned_for=_DATE,
    count=_INT,
    inputs=_obj(
        ["algorithm", "county", "facilities", "inspectors"],
        algorithm=_STR,
        county=_STR,
        facilities=_arr(_PAIR),
        inspectors=_arr(_PAIR),
    ),
    inputs_sha256=_SHA,
    previous_seed={**_SHA, "nullable": True},
    seed=_SHA,
    picks=_arr(_obj(["facility_id", "inspectors"], facility_id=_STR, inspectors=_PAIR)),
    redraw_of=_NINT,
    reason=_STR,
    results=_arr(
        _obj(
            ["facility_id", "facility_name", "planned_for", "status"],
            facility_id=_STR,
            facility_name=_STR,
            township=_STR,
            inspection_id=_INT,
            inspectors=_PAIR,
            planned_for=_DATE,
            status=_STR,
            inspected_on={**_DATE, "nullable": True},
            failed_items=_NINT,
            orders=_INT,
            orders_accepted=_INT,
        )
    ),
)
SCHEMAS["DrawLists"] = _obj(
    ["county", "facilities", "inspectors", "inputs_sha256"],
    county=_STR,
    facilities=_arr(_obj(["id", "name", "township"], id=_STR, name=_STR, township=_STR)),
    inspectors=_arr(
        _obj(
            ["username", "township", "available"],
            username=_STR,
            display_name=_STR,
            township=_STR,
            available=_BOOL,
            reason=_STR,
            changed_by=_NSTR,
            changed_at=_NTIME,
        )
    ),
    inputs_sha256=_SHA,
)
PATHS.update(
    {
        "/api/v1/draws": {
            "get": {
                "summary": "The draws (双随机), newest first; inspectors and admins only",
                "parameters": [_COUNTY],
                "responses": _ok("the draws", _obj(["draws"], draws=_arr(_ref("DrawSummary")))) | _errors(400, 404),
            },
            "post": {
                "summary": "Draw facilities of a county and two inspectors each (a county's or the city's inspector); "
                "the seed is derived, never given; a second draw of a county's month needs a reason",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["count", "planned_for"],
                                "properties": {
                                    "county": {"type": "string", "pattern": "^[0-9]{6}$"},
                                    "count": {"type": "integer", "minimum": 1, "maximum": 200},
                                    "planned_for": _DATE,
                                    "reason": {"type": "string", "maxLength": 500},
                                },
                            }
                        }
                    },
                },
                "responses": _ok("the draw", _ref("Draw"), "201") | _errors(400, 403, 404, 409),
            },
        },
        "/api/v1/draws/lists": {
            "get": {
                "summary": "A county's published lists (facilities, inspectors and their availability) and their hash",
                "parameters": [_COUNTY],
                "responses": _ok("the lists", _ref("DrawLists")) | _errors(400, 404),
            }
        },
        "/api/v1/draws/{draw_id}": {
            "get": {
                "summary": "One draw: its public record (inputs, seed, picks), who drew it, its results",
                "parameters": [_DRAW_ID],
                "responses": _ok("the draw", _ref("Draw")) | _errors(404),
            }
        },
        "/api/v1/draws/{draw_id}/verify": {
            "get": {
                "summary": "Re-run the draw from its published inputs and compare with its record and inspections",
                "parameters": [_DRAW_ID],
                "responses": _ok("the verdict", _obj(["id", "ok", "problems"], id=_INT, ok=_BOOL, problems=_arr(_STR)))
                | _errors(404),
            }
        },
        "/api/v1/draws/inspectors/{username}/availability": {
            "post": {
                "summary": "Mark a county's inspector available for draws or not (with a reason); never oneself",
                "parameters": [_USERNAME],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["available"],
                                "properties": {"available": _BOOL, "reason": {"type": "string", "maxLength": 500}},
                            }
                        }
                    },
                },
                "responses": _ok("the county's lists", _ref("DrawLists")) | _errors(400, 403, 404),
            }
        },
    }
)


def _body(required: list[str], **props: Any) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _obj(required, **props)}}}


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

# -- 督办 that acts, the rest (issue #40 item 1): 批示, 责令停业整改 (web/api.py, web/suspensions.py) ----------
SCHEMAS["Suspension"] = _obj(
    ["id", "facility_id", "reasons", "order_ids", "issued_by", "issued_level", "issued_at", "in_force"],
    id=_INT,
    facility_id=_STR,
    facility_name=_STR,
    reasons=_STR,
    order_ids=_arr(_INT),
    issued_by=_STR,
    issued_level={"type": "string", "enum": ["county", "city"]},
    issued_at=_TIME,
    in_force=_BOOL,
    lifted_by=_NSTR,
    lifted_at=_NTIME,
    lift_reason=_NSTR,
    recheck_inspection_id={"type": "integer", "nullable": True},
    children_badged_in=_INT,
    first_child_in=_NTIME,
)
_SID = {"name": "suspension_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
PATHS.update(
    {
        "/api/v1/suspensions": {
            "get": {
                "summary": "责令停业整改 of the facilities in scope, newest first, each with the children badged in"
                " during it (停业整改期间有幼儿在园)",
                "parameters": [
                    _q("facility_id", "one facility"),
                    _q("in_force", "only those in force", enum=["true", "false"]),
                ],
                "responses": _ok("the suspensions", _arr(_ref("Suspension"))) | _errors(400),
            }
        },
        "/api/v1/facilities/{facility_id}/suspension": {
            "post": {
                "summary": "Order the facility to suspend operation pending rectification (a county or city inspector"
                " in scope, or an admin), with reasons and the orders it rests on; no end date; audited",
                "parameters": [_FID],
                "requestBody": _body(
                    ["reasons"],
                    reasons={"type": "string", "minLength": 4, "maxLength": 2000},
                    order_ids={**_arr({"type": "integer", "minimum": 1}), "maxItems": 20},
                ),
                "responses": _ok("the suspension", _ref("Suspension"), "201") | _errors(400, 403, 404, 409),
            }
        },
        "/api/v1/suspensions/{suspension_id}/lift": {
            "post": {
                "summary": "Lift a suspension (the issuing level or above) on a 复查 of the facility made after it,"
                " signed by two officers, that failed nothing; with a reason; once; audited",
                "parameters": [_SID],
                "requestBody": _body(
                    ["reason", "inspection_id"],
                    reason={"type": "string", "minLength": 4, "maxLength": 2000},
                    inspection_id={"type": "integer", "minimum": 1},
                ),
                "responses": _ok("the suspension", _ref("Suspension")) | _errors(400, 403, 404, 409),
            }
        },
    }
)

# -- 通报 and the 约谈 of a lagging area over the API (issue #40 items 1 and 9: web/circulars_api.py,
# web/assessment.py) ------------------------------------------------------------------------------------------
_CID = {"name": "circular_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_NUMBER = {**_arr({"oneOf": [_STR, _INT]}), "nullable": True, "description": "(department, year, sequence)"}
_CIRCULAR_KIND = {"type": "string", "enum": ["commend", "criticise", "report"]}
_SUBJECT = _obj(
    ["position", "facility_id", "area", "statement"],
    position=_INT,
    facility_id=_NSTR,
    facility_name=_NSTR,
    area=_NSTR,
    county=_NSTR,
    township=_NSTR,
    statement=_STR,
)
SCHEMAS["Circular"] = _obj(
    ["id", "department", "kind", "title", "body", "public", "status", "number", "number_text"],
    id=_INT,
    department={"type": "string", "description": "city, or a county's code"},
    kind=_CIRCULAR_KIND,
    title=_STR,
    body=_STR,
    public=_BOOL,
    status={"type": "string", "enum": ["draft", "issued"]},
    drafted_by=_STR,
    drafted_at=_TIME,
    updated_by=_STR,
    updated_at=_TIME,
    issued_by=_NSTR,
    issued_at=_NTIME,
    number=_NUMBER,
    number_text={**_STR, "nullable": True, "description": "忻卫托通〔2026〕3号; null for a draft"},
)
SCHEMAS["CircularDetail"] = {"allOf": [_ref("Circular"), _obj(["subjects"], subjects=_arr(_SUBJECT))]}
SCHEMAS["PublicCircular"] = _obj(
    ["id", "department", "kind", "title", "issued_at", "number", "number_text"],
    id=_INT,
    department=_STR,
    kind=_CIRCULAR_KIND,
    title=_STR,
    body=_STR,
    issued_at=_TIME,
    number=_NUMBER,
    number_text=_STR,
    subjects=_arr(
        _obj(
            ["position", "facility_id", "area", "statement"],
            position=_INT,
            facility_id=_NSTR,
            facility_name=_NSTR,
            area=_NSTR,
            statement=_STR,
        )
    ),
)
SCHEMAS["AreaSummons"] = _obj(
    ["id", "level", "county", "area", "period", "held_on", "people", "minutes", "recorded_by", "recorded_at"],
    id=_INT,
    level={"type": "string", "enum": ["county", "township"]},
    county=_STR,
    area=_STR,
    period={"type": "string", "pattern": "^20[0-9]{2}(-Q[1-4])?$"},
    held_on={"type": "string", "format": "date"},
    people=_STR,
    minutes=_STR,
    recorded_by=_STR,
    recorded_at=_TIME,
)
_PUBLIC_ERRORS = {"404": _ERR, "429": _ERR, "503": _ERR}
_SUMMONS_ID = {"name": "summons_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
PATHS.update(
    {
        "/api/v1/circulars": {
            "get": {
                "summary": "通报 the caller reads, newest first: the department's drafts and the issued ones naming"
                " what is in scope (an operator: those naming its facility)",
                "responses": _ok("the circulars", _obj(["circulars"], circulars=_arr(_ref("Circular")))) | _errors(),
            },
            "post": {
                "summary": "Draft a 通报 (a county or city inspector, or an admin) naming facilities in scope or lower"
                " departments; a subject without a statement gets one drafted from the facts; audited",
                "parameters": [_q("lang", "the language a drafted statement is in", enum=["zh", "en"])],
                "requestBody": _body(
                    ["kind", "title"],
                    kind=_CIRCULAR_KIND,
                    title={"type": "string", "minLength": 2, "maxLength": 200},
                    body={"type": "string", "maxLength": 8000},
                    public=_BOOL,
                    subjects={
                        **_arr(
                            _obj(
                                ["subject"],
                                subject={"type": "string", "pattern": "^(facility|area):.{1,64}$"},
                                statement={"type": "string", "maxLength": 1000},
                            )
                        ),
                        "maxItems": 30,
                    },
                ),
                "responses": _ok("the draft", _ref("CircularDetail"), "201") | _errors(400, 403, 404),
            },
        },
        "/api/v1/circulars/{circular_id}": {
            "get": {
                "summary": "One 通报 with its subjects (404 when the caller does not read it)",
                "parameters": [_CID],
                "responses": _ok("the circular", _ref("CircularDetail")) | _errors(404),
            }
        },
        "/api/v1/circulars/{circular_id}/issue": {
            "post": {
                "summary": "Issue a draft (a writer of its department): numbered, then never changed; a public one"
                " only when it names no person; told to the facilities and departments it names; audited",
                "parameters": [_CID],
                "responses": _ok("the circular", _ref("CircularDetail")) | _errors(400, 403, 404, 409),
            }
        },
        "/api/v1/public/circulars": {
            "get": {
                "summary": "The public 通报 (公开通报), newest first, for anyone without a login (limited per address);"
                " never who drafted or issued them",
                "security": [],
                "responses": _ok("the circulars", _obj(["circulars"], circulars=_arr(_ref("PublicCircular"))))
                | _PUBLIC_ERRORS,
            }
        },
        "/api/v1/public/circulars/{circular_id}": {
            "get": {
                "summary": "One public 通报 with its subjects, for anyone without a login",
                "security": [],
                "parameters": [_CID],
                "responses": _ok("the circular", _ref("PublicCircular")) | _PUBLIC_ERRORS,
            }
        },
        "/api/v1/assessment/summonses": {
            "get": {
                "summary": "约谈 of lagging areas recorded from the assessment, newest first, in the caller's scope"
                " (a county: its own and its townships'; a township: its own); an operator reads none (403)",
                "parameters": [_q("year", "the assessments of a year", pattern="^20[0-9]{2}$"), _COUNTY],
                "responses": _ok("the summonses", _obj(["summonses"], summonses=_arr(_ref("AreaSummons"))))
                | _errors(400, 403),
            },
            "post": {
                "summary": "Record a 约谈 of an area from its assessment (the level above it: the city a county or a"
                " township, a county its townships); audited",
                "requestBody": _body(
                    ["area", "period", "held_on", "people", "minutes"],
                    area={"type": "string", "pattern": "^[0-9]{6}([0-9]{3})?$"},
                    period={"type": "string", "pattern": "^20[0-9]{2}(-Q[1-4])?$"},
                    held_on={"type": "string", "format": "date"},
                    people={"type": "string", "minLength": 1, "maxLength": 500},
                    minutes={"type": "string", "minLength": 1, "maxLength": 4000},
                ),
                "responses": _ok("the summons", _ref("AreaSummons"), "201") | _errors(400, 403, 404),
            },
        },
        "/api/v1/assessment/summonses/{summons_id}": {
            "get": {
                "summary": "One 约谈 of an area (404 outside the caller's scope; an operator 403)",
                "parameters": [_SUMMONS_ID],
                "responses": _ok("the summons", _ref("AreaSummons")) | _errors(403, 404),
            }
        },
    }
)
