"""The HTTP JSON API of CONTRACT §6 under /api/v1. Every 4xx carries a JSON reason."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import yaml
from aiohttp import web
from aiohttp_sse import sse_response

from contract.errors import ContractError
from contract.registry import parse_registry
from storage import alerts as alert_store
from storage import maintenance as maintenance_store
from storage import queries
from storage import registry as registry_store
from storage.errors import RETRYABLE
from storage.registry import fetch_registry, load_registry
from storage.users import User, audit
from web import reports
from web.errors import Forbidden, Invalid, NotFound
from web.keys import HUB, POOL, RESYNC, RULES, USER
from web.openapi import OPENAPI

routes = web.RouteTableDef()
_DURATION = re.compile(r"^(\d{1,5})(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


bad_request, not_found, forbidden = Invalid, NotFound, Forbidden  # raised; web.app.errors maps them to HTTP


def user_of(request: web.Request) -> User:
    user: User | None = request.get(USER)
    if user is None:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "authentication required"}), content_type="application/json"
        )
    return user


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # nothing CareWatch stores is older; keeps arithmetic in range
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _qp(query: Mapping[str, str], name: str) -> str:
    """A query parameter: "" when absent; present but empty is a 400 (the document gives each a
    pattern, enum or format that "" does not meet)."""
    v = query.get(name)
    if v == "":
        raise bad_request(f"{name} is empty: leave it out or give a value")
    return v or ""


def _time(q: str, name: str) -> datetime | None:
    """An RFC 3339 time with its offset (the OpenAPI `date-time` format), between 2000 and 2100."""
    if not q:
        return None
    if not _RFC3339.fullmatch(q):
        raise bad_request(f"{name} must be an RFC 3339 time, e.g. 2026-11-28T08:00:00Z")
    frac = re.search(r"\.(\d+)", q)
    if frac and len(frac.group(1)) > 6:  # Python keeps microseconds
        q = q.replace(frac.group(0), frac.group(0)[:7])
    try:
        t = datetime.fromisoformat(q.replace("Z", "+00:00").replace("z", "+00:00").replace("t", "T"))
    except ValueError:
        raise bad_request(f"{name} must be an RFC 3339 time, e.g. 2026-11-28T08:00:00Z") from None
    if not _EARLIEST <= t < _LATEST:
        raise bad_request(f"{name} must be between 2000 and 2100")
    return t


def _enum(q: str, name: str, allowed: set[str]) -> str | None:
    if q and q not in allowed:
        raise bad_request(f"{name} must be one of {', '.join(sorted(allowed))}")
    return q or None


def _code(q: str, name: str, digits: int) -> str | None:
    if q and not re.fullmatch(rf"[0-9]{{{digits}}}", q):
        raise bad_request(f"{name} must be {digits} digits")
    return q or None


async def in_scope(request: web.Request, conn: asyncpg.Connection, user: User) -> asyncpg.Record:
    """The facility named in the path if the user may see it; else the 404 of CONTRACT §6."""
    f = await queries.facility_row(conn, user.scope, request.match_info["facility_id"])
    if f is None:
        raise not_found("no such facility")
    return f


@routes.get("/api/v1/openapi.json")
async def openapi(_: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


@routes.get("/api/v1/facilities")
async def list_facilities(request: web.Request) -> web.Response:
    user = user_of(request)
    county = _code(_qp(request.query, "county"), "county", 6)
    township = _code(_qp(request.query, "township"), "township", 9)
    async with request.app[POOL].acquire() as conn:
        return web.json_response(
            {"facilities": await queries.facilities(conn, user.scope, county, township, rules=request.app[RULES])}
        )


@routes.get("/api/v1/facilities/{facility_id}/status")
async def facility_status(request: web.Request) -> web.Response:
    user = user_of(request)
    async with request.app[POOL].acquire() as conn:
        f = await in_scope(request, conn, user)
        return web.json_response(await queries.facility_status(conn, f, rules=request.app[RULES]))


@routes.get("/api/v1/facilities/{facility_id}/readings")
async def facility_readings(request: web.Request) -> web.Response:
    user = user_of(request)
    q = request.query
    metric = q.get("metric", "")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", metric):
        raise bad_request("metric is required, e.g. metric=co2_ppm")
    m = _DURATION.match(_qp(q, "bucket") or "5m")
    if not m:
        raise bad_request("bucket must look like 30s, 5m, 1h or 1d")
    bucket = timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    if bucket <= timedelta(0):
        raise bad_request("bucket must be positive")
    end = _time(_qp(q, "to"), "to") or datetime.now(UTC)
    start = _time(_qp(q, "from"), "from") or end - timedelta(hours=24)
    if start >= end:
        raise bad_request("from must be before to")
    if (end - start) / bucket > 5000:
        raise bad_request("too many buckets: widen bucket or narrow from/to (at most 5,000)")
    device = q.get("device_id") or None
    async with request.app[POOL].acquire() as conn:
        f = await in_scope(request, conn, user)
        rows = await queries.readings(conn, f["id"], metric, device, start, end, bucket)
    return web.json_response({"metric": metric, "bucket": q.get("bucket", "5m"), "points": rows})


def report_params(
    request: web.Request, query: Mapping[str, str] | None = None
) -> tuple[str, datetime, datetime, str | None, str | None]:
    q = request.query if query is None else query
    period = _enum(_qp(q, "period"), "period", {"day", "month"}) or "day"
    raw = _qp(q, "date")
    if raw and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise bad_request("date must be YYYY-MM-DD")
    try:
        day = date.fromisoformat(raw) if raw else datetime.now(reports.CITY_TZ).date()
    except ValueError:
        raise bad_request("date must be YYYY-MM-DD") from None
    if not 2000 <= day.year < 2100:
        raise bad_request("date must be between 2000 and 2100")
    start, end = reports.period_bounds(period, day)
    return period, start, end, _code(_qp(q, "county"), "county", 6), _code(_qp(q, "township"), "township", 9)


@routes.get("/api/v1/reports")
async def report(request: web.Request) -> web.StreamResponse:
    """Per facility, for a day or a month (Asia/Shanghai): JSON, or CSV with format=csv."""
    user = user_of(request)
    period, start, end, county, township = report_params(request)
    fmt = _enum(_qp(request.query, "format"), "format", {"json", "csv"}) or "json"
    async with request.app[POOL].acquire() as conn:
        rows = await reports.facility_report(conn, user.scope, start, end, county, township)
    if fmt == "csv":
        name = f"carewatch-{period}-{start.date().isoformat()}.csv"
        return web.Response(
            text=reports.to_csv(rows),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return web.json_response({"period": period, "from": start.isoformat(), "to": end.isoformat(), "facilities": rows})


@routes.get("/api/v1/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    user = user_of(request)
    q = request.query
    status = _enum(_qp(q, "status"), "status", {"active", "cleared", "open", "all"}) or "open"
    severity = _enum(_qp(q, "severity"), "severity", set(queries.SEVERITY_RANK))
    async with request.app[POOL].acquire() as conn:
        rows = await queries.alerts(
            conn,
            user.scope,
            facility_id=q.get("facility_id") or None,
            county=_code(_qp(q, "county"), "county", 6),
            township=_code(_qp(q, "township"), "township", 9),
            status=status,
            rule=q.get("rule") or None,
            severity=severity,
            since=_time(_qp(q, "since"), "since"),
        )
    return web.json_response({"alerts": rows})


async def acknowledge(request: web.Request, alert_id: int, note: str, user: User) -> dict[str, Any]:
    """Shared by the API and the pages: scope-checked, audited, announced on the stream."""
    if len(note) > 2000:
        raise bad_request("note is at most 2,000 characters")
    async with request.app[POOL].acquire() as conn:
        updated = await alert_store.acknowledge(conn, user.scope, alert_id, user.username, note)
    if updated is None:
        raise not_found("no such alert")
    return queries.alert_json(updated)


@routes.post("/api/v1/alerts/{alert_id}/ack")
async def ack_alert(request: web.Request) -> web.Response:
    user = user_of(request)
    alert_id = path_id(request.match_info["alert_id"])
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request('body must be JSON: {"note": "..."}') from None
    if not isinstance(body, dict) or not isinstance(body.get("note", ""), str):
        raise bad_request("body must be a JSON object with a string note")
    return web.json_response(await acknowledge(request, alert_id, body.get("note", ""), user))


@routes.get("/api/v1/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: `alert` (every change in scope) and `facility_status` (its new state)."""
    user = user_of(request)
    hub = request.app[HUB]
    queue = hub.subscribe()
    try:
        async with sse_response(request) as resp:
            while resp.is_connected():
                try:
                    payload = await asyncio.wait_for(queue.get(), 15)
                except TimeoutError:
                    await resp.send("", event="ping")
                    continue
                if payload is None:
                    break  # the server is shutting down
                change = json.loads(payload)
                resync = payload == RESYNC  # changes may have been missed: send every facility's state
                only = {} if resync else {"facility_id": change.get("facility_id", "")}
                try:
                    async with request.app[POOL].acquire() as conn:
                        states = await queries.facilities(conn, user.scope, **only, rules=request.app[RULES])
                except RETRYABLE:
                    break  # the database went away: end the stream; EventSource reconnects by itself
                if not resync:
                    if not states:
                        continue  # outside this user's scope: never on their stream
                    await resp.send(json.dumps(change, ensure_ascii=False), event="alert")
                for state in states:
                    await resp.send(json.dumps(state, ensure_ascii=False), event="facility_status")
            return resp
    finally:
        hub.unsubscribe(queue)


@routes.get("/api/v1/summary")
async def summary(request: web.Request) -> web.Response:
    """Open alerts in scope (and in `county`, when given) by severity and rule, and facilities by
    state per area: townships below the city level or within one county, else counties."""
    user = user_of(request)
    county = _code(_qp(request.query, "county"), "county", 6)
    async with request.app[POOL].acquire() as conn:
        out = await queries.summary(conn, user.scope, county)
        facs = await queries.facilities(conn, user.scope, county, rules=request.app[RULES])
    out["areas"] = queries.areas(facs, by_township=user.scope.below_city or county is not None)
    out["understaffed"] = [{"id": f["id"], "rules": f["staffing_alerts"]} for f in facs if f["staffing_alerts"]]
    return web.json_response(out)


@routes.get("/api/v1/alerts/{alert_id}")
async def get_alert(request: web.Request) -> web.Response:
    user = user_of(request)
    alert_id = path_id(request.match_info["alert_id"])
    async with request.app[POOL].acquire() as conn:
        a = await queries.alert_detail(conn, user.scope, alert_id)
    if a is None:
        raise not_found("no such alert")
    return web.json_response(a)


def path_id(s: str) -> int:
    """A path id: anything that is not a 63-bit positive integer cannot exist."""
    if not s.isdigit() or len(s) > 18:
        raise not_found("no such alert")
    return int(s)


@routes.get("/api/v1/facilities/{facility_id}/timeline")
async def facility_timeline(request: web.Request) -> web.Response:
    """Events and access since `since` (default: the facility's local midnight), newest first."""
    user = user_of(request)
    since = _time(_qp(request.query, "since"), "since")
    async with request.app[POOL].acquire() as conn:
        f = await in_scope(request, conn, user)
        items = await queries.timeline(conn, f["id"], since or queries.local_midnight(f))
    return web.json_response({"items": items})


@routes.get("/api/v1/facilities/{facility_id}/registry")
async def facility_registry(request: web.Request) -> web.Response:
    """The facility as the registry describes it (CONTRACT §3), staff certificate expiry included."""
    user = user_of(request)
    async with request.app[POOL].acquire() as conn:
        f = await in_scope(request, conn, user)
        reg = await fetch_registry(conn, [f["id"]])
    return web.json_response(reg.facilities[0].model_dump(mode="json", by_alias=True, exclude_none=True))


def may_set_maintenance(user: User) -> bool:
    """Admins, and a facility's own operator (scope already limits them to it). Inspectors supervise:
    a window mutes notifications, so they do not set one."""
    return user.role in {"admin", "operator"}


async def set_maintenance(request: web.Request, user: User, body: Any) -> dict[str, Any]:
    """Shared by the API and the facility page's form: scope first (404), then role (403), then the
    body (400 with the reason); audited."""
    async with request.app[POOL].acquire() as conn, conn.transaction():
        f = await in_scope(request, conn, user)
        if not may_set_maintenance(user):
            raise forbidden("only an admin or the facility's operator may set a maintenance window")
        device, start, end, reason = _window(body)
        if device and not await registry_store.has_device(conn, f["id"], device):
            raise bad_request(f"device_id {device!r} is not a device of this facility")
        row = await maintenance_store.create_window(conn, f["id"], device, start, end, reason, user.username)
        out = maintenance_store.window_json(row)
        await audit(conn, user.username, "maintenance.create", f["id"], out)
    return out


def _window(body: Any) -> tuple[str | None, datetime, datetime, str]:
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    for name in ("starts_at", "ends_at", "reason"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise bad_request(f"{name} is required")
    device = body.get("device_id") or None
    if device is not None and not isinstance(device, str):
        raise bad_request("device_id must be a string")
    reason = body["reason"].strip()
    if len(reason) > 500:
        raise bad_request("reason is at most 500 characters")
    start, end = _time(body["starts_at"], "starts_at"), _time(body["ends_at"], "ends_at")
    if start is None or end is None:  # for the type checker: both are non-empty here
        raise bad_request("starts_at and ends_at are required")
    if end <= start:
        raise bad_request("ends_at must be after starts_at")
    if end - start > timedelta(days=31):
        raise bad_request("a maintenance window is at most 31 days")
    if end <= datetime.now(UTC):
        raise bad_request("ends_at is in the past")
    return device, start, end, reason


@routes.get("/api/v1/facilities/{facility_id}/maintenance")
async def list_maintenance(request: web.Request) -> web.Response:
    user = user_of(request)
    past = _enum(_qp(request.query, "past"), "past", {"true", "false"}) == "true"
    async with request.app[POOL].acquire() as conn:
        f = await in_scope(request, conn, user)
        return web.json_response({"windows": await maintenance_store.windows(conn, f["id"], include_past=past)})


@routes.post("/api/v1/facilities/{facility_id}/maintenance")
async def create_maintenance(request: web.Request) -> web.Response:
    user = user_of(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request('body must be JSON: {"starts_at": ..., "ends_at": ..., "reason": ...}') from None
    return web.json_response(await set_maintenance(request, user, body), status=201)


MAX_REGISTRY_BYTES = 8 * 1024 * 1024


async def load_registry_text(request: web.Request, user: User, text: str, source: str) -> dict[str, Any]:
    """Admins load a registry file (YAML or JSON, CONTRACT §3); the facilities it names are replaced."""
    if user.role != "admin":
        raise forbidden("only an admin may load a registry")
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as err:
        raise bad_request(f"not valid YAML or JSON: {str(err).splitlines()[0]}") from None
    try:
        reg = parse_registry(data)
    except ContractError as err:
        raise bad_request(f"registry: {err}") from None
    try:
        async with request.app[POOL].acquire() as conn, conn.transaction():
            s = await load_registry(conn, reg)
            out = {"facilities": s.facilities, "devices": s.devices, "staff": s.staff, "children": s.children}
            await audit(conn, user.username, "registry.load", source, out | {"ids": [f.id for f in reg.facilities]})
    except asyncpg.IntegrityConstraintViolationError as err:
        # what the schema cannot say alone (a township outside its county, a class that does not exist)
        raise bad_request(f"registry: {err.__class__.__name__}: {str(err).splitlines()[0]}") from None
    return out


@routes.post("/api/v1/registry")
async def post_registry(request: web.Request) -> web.Response:
    user = user_of(request)
    if request.content_length is not None and request.content_length > MAX_REGISTRY_BYTES:
        raise bad_request("a registry file is at most 8 MiB")
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("the registry must be UTF-8 text") from None
    return web.json_response(await load_registry_text(request, user, text, "api"))


@routes.get("/api/v1/audit")
async def audit_log(request: web.Request) -> web.Response:
    user = user_of(request)
    if user.role != "admin":
        raise forbidden("only an admin may read the audit log")
    q = request.query
    before = _qp(q, "before")
    if before and (not before.isdigit() or len(before) > 18):
        raise bad_request("before must be an audit entry id")
    async with request.app[POOL].acquire() as conn:
        rows = await queries.audit_log(
            conn, q.get("actor") or None, q.get("action") or None, int(before) if before else None
        )
    return web.json_response({"entries": rows})
