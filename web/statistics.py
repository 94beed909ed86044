"""信息统计监测 (issue #40 item 8) for the API and the page: the month and the area asked for, checked against
the user's scope; the rows read (storage.statistics) and counted (supervision.statistics); the CSV.

Who: inspectors, each for their own area and the areas below it (a city inspector the city, a county or a
township; a county inspector their county or one of its townships; a township inspector their township),
and administrators. An area outside the scope reads as not existing (404); an operator is refused (403): the
statistics are the supervising departments'.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import asyncpg
from aiohttp import web

from contract.labels import label
from contract.places import county_name_zh
from contract.population import CITY_CODE, AreaPopulation
from storage import statistics as store
from storage.credit import month_bounds
from storage.users import Scope, User
from supervision import statistics as rules
from web.api import month_param, user_of
from web.errors import Forbidden, Invalid, NotFound
from web.i18n import COUNTIES, township_name
from web.keys import POPULATION, TARGETS, now_of, report_conn
from web.params import one_of, qp
from web.reports import cell
from web.schemas.base import respond
from web.schemas.statistics import Statistics

routes = web.RouteTableDef()
_AREA = re.compile(r"1409([0-9]{2}|[0-9]{5})")


def check_reader(user: User) -> None:
    """Inspectors and administrators read the statistics; an operator does not (403)."""
    if user.role not in {"inspector", "admin"}:
        raise Forbidden("the statistics are the supervising departments'", "err_statistics_who")


def own_area(scope: Scope) -> str:
    """The area a user sees by default: their township, their county or the city."""
    return scope.township or scope.county or CITY_CODE


def area_param(raw: str, scope: Scope) -> str:
    """The area asked for (the city 140900, a county's or a township's code); the user's own when empty;
    404 outside the scope, 400 when it is no code."""
    if not raw:
        return own_area(scope)
    if not _AREA.fullmatch(raw):
        raise Invalid("area must be Xinzhou's code 140900, a county's (6 digits) or a township's (9)", "err_area")
    mine = own_area(scope)
    if mine != CITY_CODE and not raw.startswith(mine):
        raise NotFound("no such area")
    return raw


async def area_statistics(
    conn: asyncpg.Connection,
    scope: Scope,
    area: str,
    month: date,
    now: datetime,
    population: Mapping[str, AreaPopulation],
) -> dict[str, Any]:
    """The month's figures of `area` and of the areas one level down (supervision.statistics.area_figures), for
    the facilities of `scope`. The month's bounds are the city's (Asia/Shanghai); one in progress is judged at
    `now` (the app's clock). What the assessment (督导评估) calls for the plan's targets."""
    start, end = month_bounds(month)
    period = rules.Period(month=month, start=start, end=end, as_of=max(start, min(end, now)))
    rows = await store.gather(conn, scope, None if area == CITY_CODE else area, start, end, period.as_of)
    return rules.area_figures(rows, area, period, population)


async def read(request: web.Request, user: User, month_raw: str | None = None) -> dict[str, Any]:
    """The figures a request asks for (`month` YYYY-MM, default the app clock's month, or `month_raw` in its
    place; `area`, default the user's own). Who first (403), then where (404), then when (400)."""
    check_reader(user)
    now = now_of(request)
    area = area_param(qp(request.query, "area"), user.scope)
    month = month_param(qp(request.query, "month") if month_raw is None else month_raw, now)
    population: dict[str, AreaPopulation] = request.app[POPULATION]
    async with report_conn(request) as conn:
        figures = await area_statistics(conn, user.scope, area, month, now, population)
    # the target the assessment holds the areas to (CAREWATCH_TARGETS), so that the two pages agree
    target = request.app[TARGETS].get("places_per_1000")
    figures["target_places_per_1000"] = target.target if target else None
    return figures


def area_name(code: str, lang: str) -> str:
    if code == CITY_CODE:
        return "忻州市" if lang == "zh" else "Xinzhou"
    if len(code) == 6:
        return COUNTIES[code][1] if lang == "en" and code in COUNTIES else county_name_zh(code)
    return township_name(code, lang)


def statistics_csv(figures: Mapping[str, Any], lang: str) -> str:
    """The area's total and each area below it, for Excel and WPS: a byte-order mark, the catalogue's headers
    (web.reports' way), areas by name, text never a formula."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow([cell(label("statistics_column", c, lang)) for c in ["month", *rules.COLUMNS]])
    for r in [figures["total"], *figures["areas"]]:
        named = r | {"area": area_name(r["area"], lang)}
        w.writerow([cell(figures["month"]), *(cell(named[c]) for c in rules.COLUMNS)])
    return buf.getvalue()


@routes.get("/api/v1/statistics")
async def statistics(request: web.Request) -> web.StreamResponse:
    """信息统计监测 per area for a month: JSON, or CSV (format=csv; lang=zh headers by default)."""
    user = user_of(request)
    fmt = one_of(qp(request.query, "format"), "format", {"json", "csv"}) or "json"
    lang = one_of(qp(request.query, "lang"), "lang", {"zh", "en"}) or "zh"
    figures = await read(request, user)
    if fmt == "csv":
        name = f"carewatch-statistics-{figures['area']}-{figures['month']}.csv"
        return web.Response(
            text=statistics_csv(figures, lang),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return respond(Statistics, figures)
