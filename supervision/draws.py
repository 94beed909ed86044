"""双随机一公开: who may draw, read and mark availability, and the draw as one transaction (issue #40 item 5).

A draw takes the county's published lists as they are at that moment (the registry's facilities, the
county's available inspector accounts), derives its seed (supervision.draw.seed_of: nobody chooses it),
draws, and records the draw, a planned inspection per facility drawn and the two inspectors of each, all
or nothing. Every draw is kept; one for a county and month that already has a draw is a re-draw, which
needs a reason and names the draw it follows, so drawing again until a friendly result comes is visible
to everyone who reads the results.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import asyncpg

from storage import draws as store
from storage import inspections as inspection_store
from storage.users import Scope
from supervision import draw as algorithm
from supervision.orders import level_of
from supervision.requests import RequestRefused

REDRAW_REASON_MIN = 4  # characters: "重新抽取" at least says something; the column's check agrees


class DrawRefused(RequestRefused):
    """A draw or a change of the lists refused: `kind` invalid (400), forbidden (403) or conflict (409);
    `key` and `args_` name the page text (web/i18n.py)."""


def may_read(scope: Scope) -> bool:
    """The draws and the lists are published to every inspector and admin (and, through the public record,
    to anyone); operators see their own facility's inspections, not the draw's lists."""
    return scope.role in {"inspector", "admin"}


def may_draw(scope: Scope, county: str) -> bool:
    """An inspector of the county itself (not of a township) or of the city. Not an admin: a draw is an
    act of the supervising department, not of whoever runs the server."""
    if scope.role != "inspector" or scope.township:
        return False
    return scope.county in {None, county}


def check_mark(scope: Scope, actor: str, county: str, target: Mapping[str, Any] | None) -> None:
    """Who marks an inspector of the county (un)available: whoever may draw there, never for themselves
    (nobody takes themselves out of the pool). `target` is the inspector's list row (None: not listed)."""
    if not may_draw(scope, county):
        raise DrawRefused(
            "only a county or city inspector changes the county's inspector list", "err_draw_who", "forbidden"
        )
    if target is None:
        raise DrawRefused("no such inspector in the county's list", "err_draw_no_inspector")
    if target["username"] == actor:
        raise DrawRefused("nobody changes their own availability for the draw", "err_draw_own", "forbidden")


def month_of(day: date) -> tuple[date, date]:
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def inputs_of(county: str, facilities: list[asyncpg.Record], inspectors: list[asyncpg.Record]) -> algorithm.Inputs:
    return algorithm.Inputs.of(
        county,
        [(f["id"], f["township"]) for f in facilities],
        [(i["username"], i["township"]) for i in inspectors if i["available"]],
    )


async def make(
    conn: asyncpg.Connection,
    scope: Scope,
    actor: str,
    county: str,
    planned_for: date,
    count: int,
    reason: str,
    now: datetime,
) -> int:
    """Draw `count` facilities of `county` and two inspectors for each; plan their inspections for
    `planned_for`. Returns the draw's id. DrawRefused / algorithm.DrawError when it may not or cannot be made."""
    level = level_of(scope)
    if level is None or not may_draw(scope, county):
        raise DrawRefused("only a county or city inspector draws the county's inspections", "err_draw_who", "forbidden")
    first, last = month_of(planned_for)
    async with conn.transaction():
        await store.lock_county(conn, county)
        inputs = inputs_of(
            county, await store.listed_facilities(conn, county), await store.listed_inspectors(conn, county)
        )
        redraw_of = await store.last_in_period(conn, county, first, last)
        if redraw_of is not None and len(reason.strip()) < REDRAW_REASON_MIN:
            raise DrawRefused(
                f"draw {redraw_of} already drew this county's month: a re-draw needs a reason",
                "err_draw_redraw",
                "conflict",
                id=redraw_of,
            )
        previous = await store.last_draw(conn, county)
        seq = 1 if previous is None else previous["seq"] + 1
        previous_seed = None if previous is None else previous["seed"]
        digest = algorithm.inputs_sha256(inputs)
        seed = algorithm.seed_of(county, seq, now, digest, previous_seed)
        picks = algorithm.draw(inputs, count, seed)
        draw_id = await store.insert_draw(
            conn,
            {
                "county": county,
                "seq": seq,
                "algorithm": algorithm.ALGORITHM,
                "drawn_by": actor,
                "drawn_level": level,
                "drawn_at": now,
                "planned_for": planned_for,
                "count": count,
                "inputs": inputs.canonical(),
                "inputs_sha256": digest,
                "previous_seed": previous_seed,
                "seed": seed,
                "picks": algorithm.picks_json(picks),
                "redraw_of": redraw_of,
                "reason": reason.strip(),
            },
        )
        for p in picks:
            iid = await inspection_store.plan(conn, p.facility_id, "visit", planned_for, actor, level)
            await store.insert_pick(conn, draw_id, p.facility_id, iid, p.inspectors)
    return draw_id


async def verify(conn: asyncpg.Connection, draw_id: int) -> algorithm.Verdict | None:
    """Re-run a stored draw from its public record, and check that the planned inspections hold exactly
    the facilities and inspectors it drew. None: no such draw."""
    record = await store.public_record(conn, draw_id)
    if record is None:
        return None
    verdict = algorithm.verify(record)
    stored = sorted(
        (r["facility_id"], r["inspected"], (r["inspector_a"], r["inspector_b"]))
        for r in await store.stored_picks(conn, draw_id)
    )
    drawn = sorted((p["facility_id"], p["facility_id"], tuple(p["inspectors"])) for p in record["picks"])
    if stored != drawn:
        problems = (*verdict.problems, "the planned inspections do not hold the facilities and inspectors drawn")
        return algorithm.Verdict(False, problems)
    return verdict
