"""督导评估's action (issue #40 item 9): a 约谈 of a lagging area recorded from the assessment page. Who may is
supervision.assessment.may_summon (the database's trigger agrees); the date, people and minutes are checked
as an order's 约谈 is (supervision.orders.summons_facts); every summons is audited."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import asyncpg

from storage import assessment as store
from storage.users import User, audit
from supervision import assessment as rules
from supervision import orders as order_rules
from web.errors import Forbidden, Invalid, NotFound

MINUTES_MAX = 4000


async def summon_area(pool: asyncpg.Pool, user: User, body: dict[str, str], *, now: datetime) -> int:
    """Record a 约谈 of `area` (a county's code, or a township's) on the `period`'s assessment (YYYY or
    YYYY-Qn): `held_on` YYYY-MM-DD, `people`, `minutes`, all required. Returns its id."""
    area = body.get("area", "").strip()
    if len(area) not in (6, 9) or not area.isdigit():
        raise Invalid("area must be a county's or a township's code", "err_summons_area")
    level = "county" if len(area) == 6 else "township"
    county = area[:6]
    period = body.get("period", "").strip()
    if not re.fullmatch(r"20[0-9]{2}(-Q[1-4])?", period):
        raise Invalid("period must be YYYY or YYYY-Qn", "err_year")
    if any("\x00" in v for v in body.values()):
        raise Invalid("the text may not hold NUL characters", "err_summons")
    minutes = body.get("minutes", "").strip()
    if len(minutes) > MINUTES_MAX:
        raise Invalid(f"the minutes are at most {MINUTES_MAX} characters", "err_summons")
    try:
        facts = order_rules.summons_facts(body.get("held_on", ""), body.get("people", ""), minutes, now)
    except order_rules.SummonsError as err:
        raise Invalid(str(err), "err_summons") from None
    if not rules.may_summon(user.scope, level, county):
        raise Forbidden("the level above an area summons it", "err_summons_who")
    async with pool.acquire() as conn, conn.transaction():
        if not await store.area_exists(conn, level, area):
            raise NotFound("no such area")
        row: dict[str, Any] = {
            "level": level,
            "county": county,
            "area": area,
            "period": period,
            "held_on": date.fromisoformat(facts["held_on"]),
            "people": facts["people"],
            "minutes": minutes,
            "recorded_by": user.username,
            "recorded_at": now,
        }
        sid = await store.record_summons(conn, row)
        detail: dict[str, object] = {**facts, "period": period, "minutes": minutes[:200]}
        await audit(conn, user.username, "assessment.summoned", f"{level} {area}", detail, at=now)
    return sid
