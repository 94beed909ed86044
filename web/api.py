"""The HTTP JSON API of CONTRACT §6 under /api/v1. Every 4xx carries a JSON reason."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from contract.inspection import DEPARTMENTS
from contract.rules import rules_of_department
from storage import assessment as assessment_store
from storage import credit as credit_store
from storage import inspections as inspection_store
from storage import maintenance as maintenance_store
from storage import queries
from storage import rectification as rectification_store
from storage.intake import state as intake_state
from storage.registry import fetch_registry
from storage.users import User
from supervision import assessment as assessment_rules
from supervision import countersign as countersign_rules
from supervision import orders as order_rules
from web import appeals, inspections, orders, pickup, reports
from web.actions import acknowledge, decide_maintenance, file_maintenance, load_registry_text, record_whereabouts
from web.errors import Forbidden, Invalid, NotFound
from web.i18n import COUNTIES
from web.keys import CREDIT, GATEWAYS, NAMES, PERSON_SALT, POOL, POPULATION, PUBLIC_URL, RULES, TARGETS, USER, now_of
from web.names import name_alerts
from web.openapi import OPENAPI
from web.params import DEAD_LETTER_REASON, code, cursor, json_body, one_of, parse_time, path_id, qp
from web.schemas import alerts, facilities, maintenance, records
from web.schemas import assessment as assessment_schemas
from web.schemas import orders as order_schemas
from web.schemas.base import parse, respond
from web.schemas.credit import Appeal, Appeals, Credit

routes = web.RouteTableDef()
_DURATION = re.compile(r"^(\d{1,5})(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def user_of(request: web.Request) -> User:
    user: User | None = request.get(USER)
    if user is None:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "authentication required"}), content_type="application/json"
        )
    return user


async def in_scope(request: web.Request, conn: asyncpg.Connection, user: User) -> asyncpg.Record:
    """The facility named in the path if the user may see it; else the 404 of CONTRACT §6."""
    f = await queries.facility_row(conn, user.scope, request.match_info["facility_id"])
    if f is None:
        raise NotFound("no such facility")
    return f


@routes.get("/api/v1/openapi.json")
async def openapi(_: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


@routes.get("/api/v1/facilities")
async def list_facilities(request: web.Request) -> web.Response:
    user = user_of(request)
    county = code(qp(request.query, "county"), "county", 6)
    township = code(qp(request.query, "township"), "township", 9)
    async with request.app[POOL].acquire() as conn:
        now = now_of(request)
        facs = await queries.facilities(conn, user.scope, county, township, rules=request.app[RULES], now=now)
        intake = await intake_state(conn, now)
    # `intake`: how far the platform has stored what devices sent; a grey facility is judged as of it
    return respond(
        facilities.Facilities, {"facilities": facs, "intake": intake.as_json() if intake is not None else None}
    )


@routes.get("/api/v1/facilities/{facility_id}/status")
async def facility_status(request: web.Request) -> web.Response:
    user = user_of(request)
    async with request.app[POOL].acquire() as conn:
        f = await in_scope(request, conn, user)
        status = await queries.facility_status(conn, f, rules=request.app[RULES], now=now_of(request))
    return respond(facilities.FacilityStatus, status)


@routes.get("/api/v1/facilities/{facility_id}/readings")
async def facility_readings(request: web.Request) -> web.Response:
    user = user_of(request)
    q = request.query
    metric = q.get("metric", "")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", metric):
        raise Invalid("metric is required, e.g. metric=co2_ppm")
    m = _DURATION.match(qp(q, "bucket") or "5m")
    if not m:
        raise Invalid("bucket must look like 30s, 5m, 1h or 1d")
    bucket = timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    if bucket <= timedelta(0):
        raise Invalid("bucket must be positive")
    end = parse_time(qp(q, "to"), "to") or now_of(request)
    start = parse_time(qp(q, "from"), "from") or end - timedelta(hours=24)
    if start >= end:
        raise Invalid("from must be before to")
    if (end - start) / bucket > 5000:
        raise Invalid("too many buckets: widen bucket or narrow from/to (at most 5,000)")
    device = q.get("device_id") or None
    async with request.app[POOL].acquire() as conn:
        f = await in_scope(request, conn, user)
        rows = await queries.readings(conn, f["id"], metric, device, start, end, bucket, now_of(request))
    return respond(facilities.Points, {"metric": metric, "bucket": q.get("bucket", "5m"), "points": rows})


def report_params(
    request: web.Request, query: Mapping[str, str] | None = None
) -> tuple[str, datetime, datetime, str | None, str | None]:
    q = request.query if query is None else query
    period = one_of(qp(q, "period"), "period", {"day", "month"}) or "day"
    raw = qp(q, "date")
    if raw and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise Invalid("date must be YYYY-MM-DD")
    try:
        day = date.fromisoformat(raw) if raw else now_of(request).astimezone(reports.CITY_TZ).date()
    except ValueError:
        raise Invalid("date must be YYYY-MM-DD") from None
    if not 2000 <= day.year < 2100:
        raise Invalid("date must be between 2000 and 2100")
    start, end = reports.period_bounds(period, day)
    return period, start, end, code(qp(q, "county"), "county", 6), code(qp(q, "township"), "township", 9)


@routes.get("/api/v1/reports")
async def report(request: web.Request) -> web.StreamResponse:
    """Per facility, for a day or a month (Asia/Shanghai): JSON, or CSV with format=csv."""
    user = user_of(request)
    period, start, end, county, township = report_params(request)
    fmt = one_of(qp(request.query, "format"), "format", {"json", "csv"}) or "json"
    lang = one_of(qp(request.query, "lang"), "lang", {"zh", "en"}) or "zh"
    async with request.app[POOL].acquire() as conn:
        rows = await reports.facility_report(conn, user.scope, start, end, county, township, now=now_of(request))
    if fmt == "csv":
        name = f"carewatch-{period}-{start.date().isoformat()}.csv"
        return web.Response(
            text=reports.to_csv(
                rows,
                lang,
                {code: en for code, (_, en) in COUNTIES.items()},
            ),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return respond(
        records.Report, {"period": period, "from": start.isoformat(), "to": end.isoformat(), "facilities": rows}
    )


@routes.get("/api/v1/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    user = user_of(request)
    q = request.query
    status = one_of(qp(q, "status"), "status", {"active", "cleared", "open", "all"}) or "open"
    severity = one_of(qp(q, "severity"), "severity", set(queries.SEVERITY_RANK))
    department = one_of(qp(q, "department"), "department", set(DEPARTMENTS))
    async with request.app[POOL].acquire() as conn:
        rows = await queries.alerts(
            conn,
            user.scope,
            facility_id=q.get("facility_id") or None,
            county=code(qp(q, "county"), "county", 6),
            township=code(qp(q, "township"), "township", 9),
            status=status,
            rule=q.get("rule") or None,
            rules=sorted(rules_of_department(department)) if department else None,
            severity=severity,
            since=parse_time(qp(q, "since"), "since"),
        )
    await name_alerts(request.app[POOL], request.app[NAMES], rows)  # by name, each language (contract.names)
    return respond(alerts.Alerts, {"alerts": rows})


async def _note(request: web.Request, model: type[alerts.AlertNote] | type[alerts.Whereabouts]) -> str:
    """The body `{"note": "..."}` of an alert's acknowledgement (the note may be empty) or whereabouts record."""
    return parse(model, await json_body(request, '{"note": "..."}')).note


@routes.post("/api/v1/alerts/{alert_id}/ack")
async def ack_alert(request: web.Request) -> web.Response:
    user = user_of(request)
    alert_id = path_id(request.match_info["alert_id"])
    note = await _note(request, alerts.AlertNote)
    out = await acknowledge(request.app[POOL], user, alert_id, note, now=now_of(request))
    await name_alerts(request.app[POOL], request.app[NAMES], out)
    return respond(alerts.Alert, out)


@routes.post("/api/v1/alerts/{alert_id}/whereabouts")
async def whereabouts(request: web.Request) -> web.Response:
    """Where the child of a `child_not_collected` alert is, with a note (issue #42 item 3)."""
    user = user_of(request)
    alert_id = path_id(request.match_info["alert_id"])
    note = await _note(request, alerts.Whereabouts)
    return respond(alerts.Alert, await record_whereabouts(request.app[POOL], user, alert_id, note, now=now_of(request)))


@routes.get("/api/v1/summary")
async def summary(request: web.Request) -> web.Response:
    """Open alerts in scope (and in `county` or `township`, when given) by severity and rule, and facilities by
    state per area: townships below the city level or within one county, else counties."""
    user = user_of(request)
    county = code(qp(request.query, "county"), "county", 6)
    township = code(qp(request.query, "township"), "township", 9)
    gateways = await request.app[GATEWAYS].get(
        request.app[POOL], request.app[RULES], now_of(request)
    )  # as the overview
    async with request.app[POOL].acquire() as conn:
        out = await queries.summary(conn, user.scope, county, township)
        facs = await queries.facilities(
            conn, user.scope, county, township, rules=request.app[RULES], now=now_of(request), gateways=gateways
        )
    by_township = user.scope.below_city or county is not None or township is not None
    out["areas"] = queries.areas(facs, by_township=by_township)
    out["understaffed"] = [{"id": f["id"], "rules": f["staffing_alerts"]} for f in facs if f["staffing_alerts"]]
    return respond(facilities.Summary, out)


@routes.get("/api/v1/alerts/{alert_id}")
async def get_alert(request: web.Request) -> web.Response:
    user = user_of(request)
    alert_id = path_id(request.match_info["alert_id"])
    async with request.app[POOL].acquire() as conn:
        a = await queries.alert_detail(conn, user.scope, alert_id)
    if a is None:
        raise NotFound("no such alert")
    await name_alerts(request.app[POOL], request.app[NAMES], a)
    return respond(alerts.AlertDetail, a)


@routes.get("/api/v1/facilities/{facility_id}/timeline")
async def facility_timeline(request: web.Request) -> web.Response:
    """Events and access since `since` (default: the facility's local midnight), newest first."""
    user = user_of(request)
    since = parse_time(qp(request.query, "since"), "since")
    async with request.app[POOL].acquire() as conn:
        f = await in_scope(request, conn, user)
        items = await queries.timeline(conn, f["id"], since or queries.local_midnight(f, now_of(request)))
    return respond(facilities.Timeline, {"items": items})


@routes.get("/api/v1/facilities/{facility_id}/registry")
async def facility_registry(request: web.Request) -> web.Response:
    """The facility as the registry describes it (CONTRACT §3), staff certificate expiry included."""
    user = user_of(request)
    async with request.app[POOL].acquire() as conn:
        f = await in_scope(request, conn, user)
        reg = await fetch_registry(conn, [f["id"]])
    return web.json_response(reg.facilities[0].model_dump(mode="json", by_alias=True, exclude_none=True))


@routes.get("/api/v1/facilities/{facility_id}/maintenance")
async def list_maintenance(request: web.Request) -> web.Response:
    user = user_of(request)
    past = one_of(qp(request.query, "past"), "past", {"true", "false"}) == "true"
    async with request.app[POOL].acquire() as conn:
        f = await in_scope(request, conn, user)
        windows = await maintenance_store.windows(conn, f["id"], now_of(request), include_past=past)
    return respond(maintenance.Windows, {"windows": windows})


@routes.post("/api/v1/facilities/{facility_id}/maintenance")
async def create_maintenance(request: web.Request) -> web.Response:
    """The caller's own act: a request from the facility's operator, a window set (approved at once) by
    an inspector in scope or an admin (supervision.maintenance)."""
    user = user_of(request)
    body = await json_body(request, '{"starts_at": ..., "ends_at": ..., "reason": ...}')
    fid = request.match_info["facility_id"]
    return respond(
        maintenance.Maintenance, await file_maintenance(request.app[POOL], user, fid, body, now=now_of(request)), 201
    )


@routes.post("/api/v1/facilities/{facility_id}/maintenance/requests")
async def request_maintenance(request: web.Request) -> web.Response:
    """A request whoever files it: it takes effect only once someone else who supervises approves it."""
    user = user_of(request)
    body = await json_body(request, '{"starts_at": ..., "ends_at": ..., "reason": ...}')
    fid = request.match_info["facility_id"]
    return respond(
        maintenance.Maintenance,
        await file_maintenance(request.app[POOL], user, fid, body, now=now_of(request), request_only=True),
        201,
    )


@routes.post("/api/v1/facilities/{facility_id}/maintenance/{window_id}/{decision:approve|reject|withdraw}")
async def decide_maintenance_api(request: web.Request) -> web.Response:
    """Approve, reject (`{"reason": ...}` required) or withdraw a pending request."""
    user = user_of(request)
    window_id = path_id(request.match_info["window_id"])
    body = await json_body(request, '{"reason": "..."}') if request.body_exists else {}
    return respond(
        maintenance.Maintenance,
        await decide_maintenance(
            request.app[POOL],
            user,
            request.match_info["facility_id"],
            window_id,
            request.match_info["decision"],
            body,
            now=now_of(request),
        ),
    )


# -- pick-up delegates (接送委托, issue #39 item 3) ------------------------------------------------------------
@routes.get("/api/v1/facilities/{facility_id}/delegates")
async def list_delegates(request: web.Request) -> web.Response:
    """Who besides the registry's guardians may collect which child, every state (inspectors read-only)."""
    user = user_of(request)
    fid = request.match_info["facility_id"]
    delegates = await pickup.listing(request.app[POOL], user, fid, now=now_of(request))
    return respond(maintenance.Delegates, {"delegates": delegates})


@routes.post("/api/v1/facilities/{facility_id}/delegates")
async def create_delegate(request: web.Request) -> web.Response:
    """The facility's operator records a delegate with the parents' consent (a note here; a signed form is
    uploaded through the facility page)."""
    user = user_of(request)
    body = await json_body(request, '{"child_id": ..., "person_id": ..., "name": ..., "consent_by": ...}')
    fid = request.match_info["facility_id"]
    return respond(
        maintenance.Delegate, await pickup.record(request.app[POOL], user, fid, body, now=now_of(request)), 201
    )


@routes.post("/api/v1/facilities/{facility_id}/delegates/{delegate_id}/revoke")
async def revoke_delegate(request: web.Request) -> web.Response:
    """The facility's operator revokes a delegate, at once and for good."""
    user = user_of(request)
    delegate_id = path_id(request.match_info["delegate_id"])
    body = await json_body(request, '{"reason": "..."}') if request.body_exists else {}
    fid = request.match_info["facility_id"]
    out = await pickup.revoke(request.app[POOL], user, fid, delegate_id, body, now=now_of(request))
    return respond(maintenance.Delegate, out)


# -- rectification orders (整改通知, issue #16) ---------------------------------------------------------------
def public_url(request: web.Request) -> str:
    """The address people reach this site at, for the links in notifications about orders: configured
    (CAREWATCH_PUBLIC_URL), not the request's Host, which an operator's client may write as
    `carewatch-gov.evil.example` and have the inspector's message link there."""
    return request.app[PUBLIC_URL]


@routes.get("/api/v1/orders")
async def list_orders(request: web.Request) -> web.Response:
    """Orders in scope, newest first; `supervised=true`: those whose 督办 has reached the caller's level."""
    user = user_of(request)
    q = request.query
    status = one_of(qp(q, "status"), "status", set(order_schemas.ORDER_FILTERS))
    facility = qp(q, "facility_id") or None
    supervised = one_of(qp(q, "supervised"), "supervised", {"true", "false"}) == "true"
    level = order_rules.level_of(user.scope)
    async with request.app[POOL].acquire() as conn:
        rows = await rectification_store.orders(
            conn,
            user.scope,
            now_of(request),
            status=None if status in {None, "all"} else status,
            facility_id=facility,
            supervised_at=level if supervised and level else None,
        )
    return respond(order_schemas.Orders, {"orders": rows})


@routes.post("/api/v1/facilities/{facility_id}/orders")
async def create_order(request: web.Request) -> web.Response:
    user = user_of(request)
    body = await json_body(request, '{"title": ..., "due_at": ..., "detail": ..., "alert_id": ...}')
    out = await orders.issue(
        request.app[POOL], user, request.match_info["facility_id"], body, public_url(request), now=now_of(request)
    )
    return respond(order_schemas.OrderDetail, out, 201)


@routes.get("/api/v1/orders/{order_id}")
async def get_order(request: web.Request) -> web.Response:
    user = user_of(request)
    order_id = path_id(request.match_info["order_id"])
    async with request.app[POOL].acquire() as conn:
        o = await rectification_store.order_detail(conn, user.scope, order_id, now_of(request))
    if o is None:
        raise NotFound("no such order")
    return respond(order_schemas.OrderDetail, o)


@routes.post("/api/v1/orders/{order_id}/answer")
async def answer_order(request: web.Request) -> web.Response:
    """The operator's answer (JSON: the measures taken); evidence files go through the order's page."""
    user = user_of(request)
    order_id = path_id(request.match_info["order_id"])
    body = await json_body(request, '{"note": "..."}')
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object with a note")
    return respond(
        order_schemas.OrderDetail,
        await orders.answer(
            request.app[POOL], user, order_id, body.get("note"), [], public_url(request), now=now_of(request)
        ),
    )


@routes.post("/api/v1/orders/{order_id}/review")
async def review_order(request: web.Request) -> web.Response:
    user = user_of(request)
    order_id = path_id(request.match_info["order_id"])
    body = await json_body(request, '{"accept": true, "note": "..."}')
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object with accept and note")
    return respond(
        order_schemas.OrderDetail,
        await orders.review(
            request.app[POOL],
            user,
            order_id,
            body.get("accept"),
            body.get("note", ""),
            public_url(request),
            now=now_of(request),
            due_at=body.get("due_at"),
        ),
    )


@routes.post("/api/v1/orders/{order_id}/instruction")
async def instruct_order(request: web.Request) -> web.Response:
    """批示: a leader's written instruction on an open order, from above its issuing level (web.orders.follow_up)."""
    user = user_of(request)
    order_id = path_id(request.match_info["order_id"])
    body = await json_body(request, '{"note": "..."}')
    out = await orders.follow_up(
        request.app[POOL], user, order_id, "instruct", body, public_url(request), now=now_of(request)
    )
    return respond(order_schemas.OrderDetail, out, 201)


# -- inspections (检查记录, issue #16) ----------------------------------------------------------------------
@routes.get("/api/v1/inspections")
async def list_inspections(request: web.Request) -> web.Response:
    user = user_of(request)
    facility = qp(request.query, "facility_id") or None
    async with request.app[POOL].acquire() as conn:
        task = countersign_rules.task_of(user.scope, user.username)
        rows = await inspection_store.inspections(conn, user.scope, facility_id=facility, drawn_for=task)
    return respond(order_schemas.Inspections, {"inspections": rows})


@routes.post("/api/v1/facilities/{facility_id}/inspections")
async def plan_inspection(request: web.Request) -> web.Response:
    user = user_of(request)
    body = await json_body(request, '{"kind": "visit", "planned_for": "YYYY-MM-DD"}')
    out = await inspections.plan(request.app[POOL], user, request.match_info["facility_id"], body, now=now_of(request))
    return respond(order_schemas.Inspection, out, 201)


@routes.get("/api/v1/inspections/{inspection_id}")
async def get_inspection(request: web.Request) -> web.Response:
    user = user_of(request)
    iid = path_id(request.match_info["inspection_id"])
    async with request.app[POOL].acquire() as conn:
        out = await inspection_store.inspection_detail(
            conn, user.scope, iid, countersign_rules.task_of(user.scope, user.username)
        )
    if out is None:
        raise NotFound("no such inspection")
    return respond(order_schemas.Inspection, out)


@routes.post("/api/v1/inspections/{inspection_id}/record")
async def record_inspection(request: web.Request) -> web.Response:
    """Findings per checklist item, notes, and `sign` to close the record (photos through the page)."""
    user = user_of(request)
    iid = path_id(request.match_info["inspection_id"])
    body = await json_body(request, '{"findings": {"exits": {"result": "fail", "note": "..."}}, "sign": false}')
    out = await inspections.record(request.app[POOL], user, iid, body, [], now=now_of(request))
    return respond(order_schemas.Inspection, out)


@routes.post("/api/v1/inspections/{inspection_id}/countersign")
async def countersign_inspection(request: web.Request) -> web.Response:
    """The second officer's confirmation of a record awaiting them (issue #40 item 3)."""
    user = user_of(request)
    iid = path_id(request.match_info["inspection_id"])
    out = await inspections.countersign(request.app[POOL], user, iid, now=now_of(request))
    return respond(order_schemas.Inspection, out)


# -- the credit evaluation (诚信评价, issue #16) -------------------------------------------------------------
_MONTH = re.compile(r"(20[0-9]{2})-(0[1-9]|1[0-2])")


def month_param(raw: str, now: datetime) -> date:
    """YYYY-MM (Asia/Shanghai); default the month in progress at `now`."""
    if not raw:
        return now.astimezone(reports.CITY_TZ).date().replace(day=1)
    m = _MONTH.fullmatch(raw)
    if m is None:
        raise Invalid("month must be YYYY-MM (2000-2099)", "err_month")
    return date(int(m.group(1)), int(m.group(2)), 1)


@routes.get("/api/v1/credit")
async def credit_report(request: web.Request) -> web.Response:
    """Each facility in scope: score, grade and the figures behind them for a month; a closed month's
    record is stored the first time it is asked for (and never recomputed), the month in progress is
    provisional."""
    user = user_of(request)
    month = month_param(qp(request.query, "month"), now_of(request))
    async with request.app[POOL].acquire() as conn:
        rows = await credit_store.month_report(conn, user.scope, month, now_of(request), request.app[CREDIT])
    appeals.attach(rows, await appeals.listed(request.app[POOL], user.scope, month=month))
    return respond(Credit, {"month": month.isoformat()[:7], "facilities": rows})


@routes.post("/api/v1/facilities/{facility_id}/credit/{month}/appeal")
async def credit_appeal(request: web.Request) -> web.Response:
    """The facility's operator appeals a stored month's grade with a note (audited); one pending at a time."""
    user = user_of(request)
    month = month_param(request.match_info["month"], now_of(request))
    body = await json_body(request, '{"note": "..."}')
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object with a note", "err_appeal_note")
    out = await appeals.file(
        request.app[POOL], user, request.match_info["facility_id"], month, body.get("note"), now=now_of(request)
    )
    return respond(Appeal, out, 201)


@routes.get("/api/v1/credit/appeals")
async def credit_appeals(request: web.Request) -> web.Response:
    """Appeals in scope, newest first, each with its decision (month, facility_id, status to filter)."""
    user = user_of(request)
    raw_month = qp(request.query, "month")
    month = month_param(raw_month, now_of(request)) if raw_month else None
    status = one_of(qp(request.query, "status"), "status", {"pending", "accepted", "rejected"})
    facility = qp(request.query, "facility_id") or None
    rows = await appeals.listed(request.app[POOL], user.scope, month=month, facility_id=facility, status=status)
    return respond(Appeals, {"appeals": rows})


@routes.post("/api/v1/credit/appeals/{appeal_id}/decide")
async def decide_credit_appeal(request: web.Request) -> web.Response:
    """A county or city inspector accepts with a corrected score, or rejects; with a reason (audited)."""
    user = user_of(request)
    appeal_id = path_id(request.match_info["appeal_id"])
    body = await json_body(request, '{"accept": true, "score": 82.5, "reason": "..."}')
    out = await appeals.decide(request.app[POOL], user, appeal_id, body, request.app[CREDIT], now=now_of(request))
    return respond(Appeal, out)


# -- the assessment of the departments (督导评估, issues #16, #37, #40 item 9) -------------------------------------
def assessment_period(query: Any, now: datetime) -> tuple[int, int | None, datetime, datetime]:
    """(year, quarter or None, start, end) of `year=YYYY` (the app clock's year when not given) and an
    optional `quarter=1..4`, in Xinzhou's time."""
    raw = qp(query, "year")
    year = (
        int(raw) if re.fullmatch(r"20[0-9]{2}", raw or "") else (now.astimezone(reports.CITY_TZ).year if not raw else 0)
    )
    if not 2000 <= year <= 2099:
        raise Invalid("year must be YYYY (2000-2099)", "err_year")
    raw_q = qp(query, "quarter")
    if raw_q and not re.fullmatch(r"[1-4]", raw_q):
        raise Invalid("quarter must be 1, 2, 3 or 4", "err_quarter")
    quarter = int(raw_q) if raw_q else None
    first = 1 if quarter is None else 3 * quarter - 2
    start = datetime(year, first, 1, tzinfo=reports.CITY_TZ)
    last = 12 if quarter is None else 3 * quarter
    end = datetime(year + (last == 12), last % 12 + 1, 1, tzinfo=reports.CITY_TZ)
    return year, quarter, start, end


async def assessment_rows(
    request: web.Request, user: User, query: Mapping[str, str] | None = None
) -> tuple[int, int | None, str, str | None, list[dict[str, Any]]]:
    """(year, quarter, by, county, rows) of `query` (the request's by default): the period's closed months are
    evaluated and stored first (once each)."""
    now = now_of(request)
    query = request.query if query is None else query
    year, quarter, start, period_end = assessment_period(query, now)
    county = code(qp(query, "county"), "county", 6)
    by = "township" if (user.scope.below_city or county) else "county"
    end = min(period_end, now)
    cfg = request.app[CREDIT]
    async with request.app[POOL].acquire() as conn:
        month = start.date()
        while datetime(month.year, month.month, 1, tzinfo=reports.CITY_TZ) < end:
            _, nxt = credit_store.month_bounds(month)
            if nxt <= now:
                await credit_store.month_report(conn, user.scope, month, now, cfg)  # stores what is missing
            month = nxt.date()
        raw_rows = await assessment_store.gather(conn, user.scope, start, end, by, county, now=now)
    rows = assessment_rules.rank(raw_rows, cfg, now, by, request.app[POPULATION], request.app[TARGETS])
    return year, quarter, by, county, rows


@routes.get("/api/v1/assessment")
async def assessment(request: web.Request) -> web.StreamResponse:
    """Per area for a year or a quarter: the work index and its indicators, 督办, grades, lapse hours,
    orders and inspections, ranked by the index; JSON, or CSV (format=csv; lang=zh headers by default).
    The departments' own business: 404 for an operator (CONTRACT "Who may do what")."""
    user = user_of(request)
    if user.role == "operator":
        raise NotFound()
    fmt = one_of(qp(request.query, "format"), "format", {"json", "csv"}) or "json"
    lang = one_of(qp(request.query, "lang"), "lang", {"zh", "en"}) or "zh"
    year, quarter, by, _county, rows = await assessment_rows(request, user)
    period = f"{year}" if quarter is None else f"{year}-Q{quarter}"
    if fmt == "csv":
        return web.Response(
            text=reports.assessment_csv(rows, by, lang, {c: en for c, (_, en) in COUNTIES.items()}),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="carewatch-assessment-{period}.csv"'},
        )
    weights = assessment_rules.WEIGHTS
    targets = {
        k: {"target": t.target, "year": t.year, "source": t.source, "example": t.example}
        for k, t in request.app[TARGETS].items()
    }
    return respond(
        assessment_schemas.Assessment,
        {"year": year, "quarter": quarter, "by": by, "weights": weights, "targets": targets, "areas": rows},
    )


MAX_REGISTRY_BYTES = 8 * 1024 * 1024


@routes.post("/api/v1/registry")
async def post_registry(request: web.Request) -> web.Response:
    user = user_of(request)
    if request.content_length is not None and request.content_length > MAX_REGISTRY_BYTES:
        raise Invalid("a registry file is at most 8 MiB")
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("the registry must be UTF-8 text") from None
    salt, now = request.app[PERSON_SALT], now_of(request)
    return respond(
        records.LoadSummary, await load_registry_text(request.app[POOL], user, text, "api", salt=salt, now=now)
    )


@routes.get("/api/v1/audit")
async def audit_log(request: web.Request) -> web.Response:
    user = user_of(request)
    if user.role != "admin":
        raise Forbidden("only an admin may read the audit log")
    q = request.query
    before = cursor(q, "before", "an audit entry id")
    async with request.app[POOL].acquire() as conn:
        rows = await queries.audit_log(conn, q.get("actor") or None, q.get("action") or None, before)
    return respond(records.AuditLog, {"entries": rows})


@routes.get("/api/v1/dead-letters")
async def dead_letters(request: web.Request) -> web.Response:
    """Messages ingest refused, with the reason (CONTRACT §2 Bad input), for the facilities in scope."""
    user = user_of(request)
    q = request.query
    reason = qp(q, "reason") or None
    if reason is not None and not DEAD_LETTER_REASON.fullmatch(reason):
        raise Invalid("reason must be a dead-letter reason such as schema, json, time, origin")
    before = cursor(q, "before", "a dead letter id")
    async with request.app[POOL].acquire() as conn:
        rows = await queries.dead_letters(conn, user.scope, reason, before)
    return respond(records.DeadLetters, {"dead_letters": rows})
