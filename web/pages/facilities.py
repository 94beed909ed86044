"""A facility's page and its maintenance-window form."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from contract.names import class_numbers
from contract.rules import RuleConfig
from storage import filing as filing_store
from storage import inspections as inspection_store
from storage import maintenance as maintenance_store
from storage import pickup as pickup_store
from storage import queries
from storage import rectification as rectification_store
from storage import suspensions as suspension_store
from storage.users import User
from supervision import departments as department_rules
from supervision import filing as filing_rules
from supervision import maintenance as window_rules
from supervision import orders as order_rules
from supervision import pickup as pickup_rules
from supervision import suspensions as suspension_rules
from web import suspensions
from web.actions import DECISIONS, decide_maintenance, file_maintenance
from web.errors import Conflict, Forbidden, Invalid, NotFound, Refused
from web.keys import POOL, PUBLIC_URL, RULES, now_of
from web.pages.render import facility_form, form_refused, local_iso, page_user, render
from web.params import as_id

routes = web.RouteTableDef()


def class_names(classes: list[tuple[str, str]]) -> dict[str, tuple[str, int]]:
    """Each class by its age group's name (托小班, 托大班…) and its number among them (contract.names, as the
    alerts name it): the page shows "托小班 2" for `toddler-2`, the id as its tooltip."""
    return class_numbers(classes)


async def facility_ctx(
    conn: asyncpg.Connection, user: User, f: asyncpg.Record, rules: Mapping[str, RuleConfig], now: datetime
) -> dict[str, Any]:
    status = await queries.facility_status(conn, f, rules=rules, now=now)
    latest = await queries.latest_readings(conn, f["id"], now)
    for d in status["device_list"]:
        d["latest"] = latest.get(d["id"], {})
    listed = await queries.facilities(conn, user.scope, facility_id=f["id"], rules=rules, now=now)
    return {
        "f": f,
        # red, amber, grey or green, as the overview and the live stream say it
        "state": listed[0]["state"] if listed else "grey",
        "status": status,
        "class_names": class_names(await queries.class_groups(conn, f["id"])),
        # active alerts under 未结告警; latched cleared ones waiting for an acknowledgement apart
        "alerts": await queries.alerts(conn, user.scope, facility_id=f["id"], status="active"),
        "awaiting_ack": await queries.alerts(conn, user.scope, facility_id=f["id"], status="awaiting_ack"),
        "timeline": await queries.timeline(conn, f["id"], queries.local_midnight(f, now), limit=100),
        "metrics": await queries.metrics_of(conn, f["id"], now),
        "staff": await queries.staff(conn, f["id"], now),
        "windows": await maintenance_store.windows(conn, f["id"], now),
        "can_maintain": True,  # in scope: the operator requests, an inspector or an admin sets (approved)
        "may_decide_windows": window_rules.may_decide(user.scope),
        "sets_windows": window_rules.new_status(user.scope) == "approved",
        "error": None,
        "error_at": None,  # a refused form's reason beside its field: (the form's id, the field or "")
        "kept": {},  # the maintenance form's values, kept when it comes back with an error
        "facility_orders": await rectification_store.orders(conn, user.scope, now, facility_id=f["id"], limit=20),
        # planning an inspection is every inspector's (of their department); an order by hand 卫健's only
        "may_plan": order_rules.level_of(user.scope) is not None,
        "may_issue": order_rules.level_of(user.scope) is not None
        and department_rules.may_issue(user.scope, user.department),
        "joint_departments": department_rules.joint_choices(user.scope, user.department, f["kind"]),
        "facility_inspections": await inspection_store.inspections(conn, user.scope, facility_id=f["id"], limit=20),
        "order_kept": {},
        "plan_kept": {},  # the inspection plan form's values, kept when it comes back with an error
        "order_error": False,
        # who may collect a child besides the guardians (issue #39 item 3): the operator records, others read
        "delegates": await pickup_store.delegates(conn, f["id"], now),
        "may_record_delegates": pickup_rules.may_record(user.scope, f["id"]),
        "delegate_children": await pickup_store.children_of(conn, f["id"])
        if pickup_rules.may_record(user.scope, f["id"])
        else [],
        "delegate_kept": {},
        # 登记备案 (issue #39 item 1): 未备案 until a filing is accepted, on the facility's page for everyone
        "filing_state": filing_rules.facility_state(
            accepted := await filing_store.accepted(conn, f["id"]), await filing_store.latest(conn, f["id"])
        ),
        "filing_number": accepted["number"] if accepted is not None else None,
        # 责令停业整改 (issue #40 item 1): shown to everyone who sees the facility; ordered and lifted from above
        **await suspension_ctx(conn, user, f["id"]),
    }


async def suspension_ctx(conn: asyncpg.Connection, user: User, facility_id: str) -> dict[str, Any]:
    """The facility's suspensions, the one in force (or None), who may order or lift, and the signed
    inspections a lift may rest on."""
    rows = await suspension_store.suspensions(conn, user.scope, facility_id=facility_id)
    current = next((s for s in rows if s["in_force"]), None)
    may_lift = current is not None and suspension_rules.may_lift(user.scope, current["issued_level"])
    signed = (
        [
            i
            for i in await inspection_store.inspections(conn, user.scope, facility_id=facility_id)
            if i["status"] == "signed"
        ]
        if may_lift
        else []
    )
    return {
        "suspensions": rows,
        "suspension": current,
        "may_suspend": current is None and suspension_rules.may_order(user.scope),
        "may_lift": may_lift,
        "lift_inspections": signed,
        "suspend_kept": {},
    }


async def facility_refused(
    request: web.Request, user: User, f: asyncpg.Record, exc: Refused, **kept: object
) -> web.Response:
    """The facility page again with a form's refusal, and what that form kept (`kept`, `order_kept`, ...)."""
    async with request.app[POOL].acquire() as conn:
        ctx = await facility_ctx(conn, user, f, request.app[RULES], now_of(request))
    return await form_refused(request, "facility.html", ctx | kept, exc)


@routes.get("/facilities/{facility_id}")
async def facility_page(request: web.Request) -> web.Response:
    user = page_user(request)
    async with request.app[POOL].acquire() as conn:
        f = await queries.facility_row(conn, user.scope, request.match_info["facility_id"])
        if f is None:
            raise NotFound("no such facility")
        ctx = await facility_ctx(conn, user, f, request.app[RULES], now_of(request))
    return await render(request, "facility.html", ctx)


# the maintenance form's field each refusal concerns (the others: the form as a whole)
WINDOW_FIELDS = {
    "err_no_device": "device_id",
    "err_window_past_start": "starts_at",
    "err_window_order": "ends_at",
    "err_window_long": "ends_at",
}


@routes.post("/facilities/{facility_id}/maintenance")
async def maintenance_form(request: web.Request) -> web.Response:
    """The facility page's form: local date-times in the facility's time zone."""
    user, form, f = await facility_form(request)

    def when(name: str) -> str:
        return local_iso(str(form.get(name, "")), f["timezone"])

    body = {
        "starts_at": when("starts_at"),
        "ends_at": when("ends_at"),
        "reason": str(form.get("reason", "")),
        "device_id": str(form.get("device_id", "")) or None,
    }
    try:
        await file_maintenance(request.app[POOL], user, f["id"], body, now=now_of(request))
    except (Invalid, Forbidden) as exc:
        return await facility_refused(
            request,
            user,
            f,
            exc,
            kept={k: str(form.get(k, "")) for k in ("device_id", "starts_at", "ends_at", "reason")},
            error_at=("maintenance-form", WINDOW_FIELDS.get(exc.key or "", "")),
        )
    raise web.HTTPFound(f"/facilities/{f['id']}#maintenance")


@routes.post("/facilities/{facility_id}/maintenance/{window_id:[0-9]{1,18}}")
async def maintenance_decision_form(request: web.Request) -> web.Response:
    """The facility page's approve, reject (with a reason) and withdraw buttons (web.actions.decide_maintenance)."""
    user, form, f = await facility_form(request)
    decision = str(form.get("decision", ""))
    if decision not in DECISIONS:
        raise Invalid("decision must be approve, reject or withdraw")
    body = {"reason": str(form.get("reason", ""))}
    try:
        wid = int(request.match_info["window_id"])
        await decide_maintenance(request.app[POOL], user, f["id"], wid, decision, body, now=now_of(request))
    except (Invalid, Forbidden, Conflict) as exc:
        return await facility_refused(request, user, f, exc)
    raise web.HTTPFound(f"/facilities/{f['id']}#maintenance")


@routes.post("/facilities/{facility_id}/suspension")
async def suspension_form(request: web.Request) -> web.Response:
    """责令停业整改 from the facility's page: reasons and the orders it rests on (their ids, comma-separated)."""
    user, form, f = await facility_form(request)
    raw = str(form.get("order_ids", ""))
    ids: list[object] = []
    for part in raw.replace("，", ",").split(","):
        if part.strip():
            found = as_id(part.strip().lstrip("#"))
            ids.append(part if found is None else found)
    body = {"reasons": str(form.get("reasons", "")), "order_ids": ids}
    try:
        url = request.app[PUBLIC_URL]
        await suspensions.suspend(request.app[POOL], user, f["id"], body, now=now_of(request), public_url=url)
    except Refused as exc:
        kept = {k: str(form.get(k, "")) for k in ("reasons", "order_ids")}
        return await facility_refused(request, user, f, exc, suspend_kept=kept)
    raise web.HTTPFound(f"/facilities/{f['id']}#suspension")


@routes.post("/facilities/{facility_id}/suspension/{suspension_id:[0-9]{1,18}}/lift")
async def lift_form(request: web.Request) -> web.Response:
    """Lifting the suspension on a signed, clean 复查, with a reason."""
    user, form, f = await facility_form(request)
    raw = as_id(str(form.get("inspection_id", "")).strip())
    body = {"reason": str(form.get("reason", "")), "inspection_id": raw if raw is not None else 0}
    try:
        sid = int(request.match_info["suspension_id"])
        await suspensions.lift(
            request.app[POOL],
            user,
            sid,
            body,
            now=now_of(request),
            public_url=request.app[PUBLIC_URL],
            facility_id=f["id"],
        )
    except NotFound:
        raise
    except Refused as exc:
        kept = {k: str(form.get(k, "")) for k in ("reason", "inspection_id")}
        return await facility_refused(request, user, f, exc, suspend_kept=kept)
    raise web.HTTPFound(f"/facilities/{f['id']}#suspension")
