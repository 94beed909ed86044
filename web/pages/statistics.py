"""The statistics page (信息统计监测, issue #40 item 8): an area's month in charts (the vendored ECharts,
web/static/statistics.js), each with its table under it, and the CSV (web/statistics.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from contract.labels import label
from contract.population import CITY_CODE
from supervision import statistics as rules
from web.errors import Invalid
from web.pages.render import lang_of, page_user, render
from web.params import qp
from web.statistics import area_name, own_area, read

routes = web.RouteTableDef()


def _trail(area: str, mine: str) -> list[str]:
    """The areas from the user's own down to the one shown (the page's breadcrumb)."""
    chain = [CITY_CODE, area[:6], area] if len(area) == 9 else [CITY_CODE, area]
    chain = list(dict.fromkeys(c for c in chain if c))
    return chain[chain.index(mine) :] if mine in chain else [area]


@routes.get("/statistics")
async def statistics_page(request: web.Request) -> web.Response:
    user = page_user(request)
    lang = lang_of(request)
    typed = qp(request.query, "month")
    error: Invalid | None = None
    try:
        figures = await read(request, user)  # 403 for an operator, 404 outside the scope: the error page says why
    except Invalid as exc:
        if exc.key != "err_month":
            raise
        error = exc  # a month mistyped: the month in progress, with the reason and the text as typed
        figures = await read(request, user, month_raw="")
    series = rules.chart_series(figures)
    trail = _trail(figures["area"], own_area(user.scope))
    codes = [*trail, *(r["area"] for r in figures["areas"])]
    names = {code: area_name(code, lang) for code in codes}
    chart: dict[str, Any] = series | {
        "areas": [names[a] for a in series["areas"]],
        "alerts": [[label("rule", rule, lang), n] for rule, n in series["alerts"]],
        "names": {k: label("statistics_column", k, lang) for k in rules.COLUMNS}
        | {f"kind_{k}": label("facility_kind", k, lang) for k in rules.KINDS},
    }
    ctx = {
        "f": figures,
        "rows": figures["areas"] or [figures["total"]],
        "names": names,
        "chart": chart,
        "trail": trail,
        "kinds": rules.KINDS,
        "ages": rules.AGE_GROUPS,
        "qualifications": rules.QUALIFICATIONS,
        "alert_rows": series["alerts"],
        "typed_month": typed if error else figures["month"],
        "error": error.text(lang) if error else None,
    }
    resp = await render(request, "statistics.html", ctx)
    if error is not None:
        resp.set_status(error.status)
    return resp
