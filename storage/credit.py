"""The month's facts of each facility for the credit evaluation (contract/credit.py has the method), and
the stored monthly records (migration 012; their appeals are storage.appeals').

Gathered here, measured by contract.credit_facts (pure, shared with `bench gaming`): lapse intervals
(written by the alert service from the moment each condition began, short ones included); the devices
and the hours each was heard in (device_activity, readings, events, access, status alike), and their
device_offline alerts; how much of each hour the platform's intake listened (storage.intake: its own
outage is not the facility's); maintenance windows (shown, excusing nothing); acknowledgement times
against each alert's first escalation step; orders on time or late (contract/rectification.py: a
returned answer is never on time); signed inspections.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from contract.credit import CreditConfig, Facts, evaluate
from contract.credit_facts import COUNT_EVERY_S, COUNT_METRIC, SLOT_S, Month, WatchDevice, measure, signal_id
from contract.rectification import OrderStep, is_late
from contract.registry import Device, DeviceType, RoomType, watch_gaps
from contract.rules import ESCALATION_S
from storage import intake, rectification
from storage.closures import APPROVED_FOR_FACILITY
from storage.queries import opening_hours
from storage.users import Scope

CITY_TZ = ZoneInfo("Asia/Shanghai")
Span = tuple[datetime, datetime]


def month_bounds(month: date) -> Span:
    start = datetime.combine(month.replace(day=1), time(0), CITY_TZ)
    nxt = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start, nxt


async def month_facts(
    conn: asyncpg.Connection, scope: Scope, month: date, now: datetime, cfg: CreditConfig
) -> list[tuple[asyncpg.Record, Facts]]:
    """Each facility's month gathered here (SQL) and measured by the credit method's own code
    (contract.credit_facts.measure)."""
    start, end = month_bounds(month)
    end = min(end, max(start, now))
    where, args = scope.sql("f", start=1)
    facs = await conn.fetch(
        "SELECT f.id, f.name, f.county, f.township, f.timezone, f.calendar, f.open_days, f.open_time, f.close_time,"
        f" f.registered_at, {APPROVED_FOR_FACILITY} AS closures FROM facilities f"
        f" WHERE {where} AND f.registered_at < ${len(args) + 1} ORDER BY f.county, f.township, f.id",
        *args,
        end,
    )
    ids = [f["id"] for f in facs]
    p = (ids, start, end)
    devices: dict[str, list[WatchDevice]] = defaultdict(list)
    registered: dict[str, list[Device]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT facility_id, id, type, heartbeat_s, location, room, covers_child_area, counts_adults FROM devices"
        " WHERE facility_id = ANY($1) ORDER BY 1, 2",
        ids,
    ):
        devices[r["facility_id"]].append(WatchDevice(r["id"], DeviceType(r["type"]), r["heartbeat_s"]))
        if r["counts_adults"]:  # its count watches the carer ratio (contract.credit.WATCHED_BY_SIGNAL)
            counting = signal_id(r["id"], COUNT_METRIC)
            devices[r["facility_id"]].append(
                WatchDevice(counting, DeviceType(r["type"]), r["heartbeat_s"], signal=COUNT_METRIC)
            )
        registered[r["facility_id"]].append(
            Device.model_construct(
                id=r["id"],
                type=DeviceType(r["type"]),
                location=r["location"] or "",
                room=RoomType(r["room"]) if r["room"] else None,
                covers_child_area=bool(r["covers_child_area"]),
            )
        )
    classes = {
        r["facility_id"]: r["n"]
        for r in await conn.fetch(
            "SELECT facility_id, count(*) AS n FROM classes WHERE facility_id = ANY($1) GROUP BY 1", ids
        )
    }
    lapses: dict[str, list[tuple[str, Span]]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT facility_id, rule, started_at, coalesce(ended_at, $3) AS ended_at FROM lapse_intervals"
        " WHERE facility_id = ANY($1) AND started_at < $3 AND coalesce(ended_at, $3) > $2",
        *p,
    ):
        lapses[r["facility_id"]].append((r["rule"], (max(r["started_at"], start), min(r["ended_at"], end))))
    offline: dict[str, list[tuple[str, Span]]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT facility_id, device_id, opened_at, coalesce(cleared_at, $3) AS cleared_at FROM alerts"
        " WHERE facility_id = ANY($1) AND rule = 'device_offline' AND device_id IS NOT NULL"
        " AND opened_at < $3 AND coalesce(cleared_at, $3) > $2",
        *p,
    ):
        offline[r["facility_id"]].append((r["device_id"], (r["opened_at"], r["cleared_at"])))
    patrol_gaps: dict[str, list[Span]] = defaultdict(list)
    for r in await conn.fetch(  # the "no patrol scan for 2 h" alerts (not the day's count at closing)
        "SELECT facility_id, opened_at, coalesce(cleared_at, $3) AS cleared_at FROM alerts"
        " WHERE facility_id = ANY($1) AND rule = 'patrol_missed' AND device_id IS NULL AND subject IS NULL"
        " AND opened_at < $3 AND coalesce(cleared_at, $3) > $2",
        *p,
    ):
        patrol_gaps[r["facility_id"]].append((r["opened_at"], r["cleared_at"]))
    windows: dict[str, list[Span]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT facility_id, starts_at, ends_at FROM maintenance_windows WHERE facility_id = ANY($1)"
        " AND device_id IS NULL AND status = 'approved' AND starts_at < $3 AND ends_at > $2",
        *p,
    ):
        windows[r["facility_id"]].append((max(r["starts_at"], start), min(r["ends_at"], end)))
    heard = await _activity(conn, p)
    samples: dict[str, dict[tuple[str, datetime], int]] = defaultdict(dict)
    for fid, hour, device, n in await _counted(conn, p):
        heard.setdefault(fid, defaultdict(set))[hour].add(signal_id(device, COUNT_METRIC))
        samples[fid][signal_id(device, COUNT_METRIC), hour] = n
    first_report, listened = await intake.listened(conn, start, end)
    # before ingest first reported, the platform was receiving in the hours in which anyone was heard
    # (history from before the intake's reports); an hour nobody at all was heard in, it was not running
    # (a new deployment, a demo whose clock starts ahead: issue #37, found by a newcomer's demo)
    running = await _heard_anywhere(conn, start, min(end, first_report)) if first_report is not None else set()

    def listening(hour: datetime) -> float:
        """The share of an hour in which the platform listened: what its workers reported, the greatest of
        them; before their first report, all of an hour anyone was heard in; with no report ever (a
        database without the intake's clock), all of it."""
        if first_report is None:
            return 1.0
        if hour < first_report:
            return 1.0 if hour in running else 0.0
        return min(1.0, listened.get(hour, 0.0) / 3600.0)

    acks = await _responses(conn, p, now)
    orders, inspected = await _orders_and_inspections(conn, p)
    out = []
    for f in facs:
        raw = Month(
            # a facility registered during the month is evaluated from then
            period=(max(start, f["registered_at"]), end),
            tz=ZoneInfo(f["timezone"]),
            hours=opening_hours(f),
            devices=devices[f["id"]],
            heard=heard.get(f["id"], {}),
            lapses=lapses[f["id"]],
            offline=offline[f["id"]],
            patrol_gaps=patrol_gaps[f["id"]],
            gaps=watch_gaps(classes.get(f["id"], 0), registered[f["id"]]),
            windows=windows[f["id"]],
            listening=listening,
            acks=acks.get(f["id"], (0, 0, 0)),
            orders=orders.get(f["id"], (0, 0)),
            inspected=inspected.get(f["id"], (0, 0)),
            samples=samples.get(f["id"], {}),
        )
        out.append((f, measure(raw, cfg)))
    return out


async def _heard_anywhere(conn: asyncpg.Connection, start: datetime, end: datetime) -> set[datetime]:
    """The UTC hours of [start, end) in which any device of any facility was heard."""
    out: set[datetime] = set()
    if end <= start:
        return out
    for r in await conn.fetch(
        "SELECT day, bit_or(hours) AS hours FROM device_activity"
        " WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND day <= ($2::timestamptz AT TIME ZONE 'UTC')::date"
        " GROUP BY day",
        start,
        end,
    ):
        midnight = datetime.combine(r["day"], time(0), UTC)
        out |= {midnight + timedelta(hours=h) for h in range(24) if r["hours"] >> h & 1}
    return {h for h in out if start <= h + timedelta(hours=1) and h < end}


async def _activity(conn: asyncpg.Connection, p: tuple[Any, ...]) -> dict[str, dict[datetime, set[str]]]:
    """Per facility, the devices heard in each UTC hour, from device_activity (one bit per device and
    UTC hour, written by ingest)."""
    heard: dict[str, dict[datetime, set[str]]] = defaultdict(lambda: defaultdict(set))
    facilities, start, end = p
    rows = await conn.fetch(
        # the devices heard in the same hours of a day together (most of a facility's, most days): one row each
        "SELECT facility_id, day, hours, array_agg(device_id) AS devices FROM device_activity"
        " WHERE facility_id = ANY($1) AND day >= ($2::timestamptz AT TIME ZONE 'UTC')::date"
        " AND day <= ($3::timestamptz AT TIME ZONE 'UTC')::date GROUP BY 1, 2, 3",
        facilities,
        start,
        end,
    )
    # a month of a city is tens of thousands of rows of 24 bits: each day's hours made once, only the bits set
    # visited, the devices of a day's same hours at once (a loop over all 24 hours of every device's row was
    # most of the credit page's time)
    days: dict[date, list[datetime | None]] = {}
    for r in rows:
        bits = r["hours"] & 0xFFFFFF  # one bit per hour of the day
        if not bits:
            continue
        hours = days.get(r["day"])
        if hours is None:
            midnight = datetime.combine(r["day"], time(0), UTC)
            every = (midnight + timedelta(hours=h) for h in range(24))
            hours = days[r["day"]] = [t if start <= t < end else None for t in every]
        per, devices = heard[r["facility_id"]], r["devices"]
        while bits:
            low = bits & -bits
            bits ^= low
            if (hour := hours[low.bit_length() - 1]) is not None:
                per[hour].update(devices)
    return heard


# the rollup lags behind the hour: the last hours are read from the readings (from the start of the hour)
RECENT = timedelta(hours=3)


async def _counted(conn: asyncpg.Connection, p: tuple[Any, ...]) -> list[tuple[str, datetime, str, int]]:
    """(facility, UTC hour, camera, slots): in how many of each hour's SLOT_S slots each counting
    camera reported the adults it sees (counted_slots, which ingest's maintenance keeps after the readings
    are gone; the last hours from the readings, the more of the two where both have the hour; hours from
    before migration 042 whose readings were gone by then, the rollup's samples). How much of an hour that
    counts is the credit method's judgement (contract.credit_facts.uncounted_share)."""
    facilities, start, end = p
    rows = await conn.fetch(
        "SELECT facility_id, hour, device_id, max(slots) AS slots FROM ("
        " SELECT facility_id, hour, device_id, slots FROM counted_slots WHERE facility_id = ANY($1)"
        " AND hour >= $2 AND hour < $3"
        # the hours before migration 042 whose readings were already gone: the rollup's samples as the slots
        # they would fill on time (SLOT_S / COUNT_EVERY_S to a slot), so judged as before
        " UNION ALL SELECT facility_id, bucket, device_id, least(n * $6 / $7, 3600 / $7) FROM readings_hourly"
        " WHERE facility_id = ANY($1) AND metric = $4 AND bucket >= $2 AND bucket < least($3, coalesce("
        "(SELECT watermark FROM job_state WHERE name = 'counted_slots_from'), '-infinity'))"
        " UNION ALL SELECT facility_id, date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,"
        f" device_id, count(DISTINCT time_bucket(INTERVAL '{SLOT_S} seconds', time)) AS slots FROM readings"
        " WHERE facility_id = ANY($1) AND metric = $4"
        " AND time >= greatest($2, time_bucket(INTERVAL '1 hour', $3 - $5::interval)) AND time < $3"
        " GROUP BY 1, 2, 3) AS counted GROUP BY 1, 2, 3",
        facilities,
        start,
        end,
        COUNT_METRIC,
        RECENT,
        COUNT_EVERY_S,
        SLOT_S,
    )
    return [(r["facility_id"], r["hour"].astimezone(UTC), r["device_id"], int(r["slots"])) for r in rows]


async def _responses(conn: asyncpg.Connection, p: tuple[Any, ...], now: datetime) -> dict[str, tuple[int, int, int]]:
    """Critical and major alerts opened in the period: (count, acknowledged late, never acknowledged). An
    alert raised while active (a child left overnight) is judged by the severity it opened with: the
    delay that applied when its acknowledgement was due."""
    first_step = {"critical": ESCALATION_S["critical"][0], "default": ESCALATION_S["default"][0]}
    acks: dict[str, tuple[int, int, int]] = {}
    for r in await conn.fetch(
        "SELECT facility_id, coalesce(opened_severity, severity) AS severity, opened_at, acknowledged_at"
        " FROM alerts WHERE facility_id = ANY($1) AND opened_at >= $2 AND opened_at < $3"
        " AND coalesce(opened_severity, severity) IN ('critical', 'major')",
        *p,
    ):
        n, late, never = acks.get(r["facility_id"], (0, 0, 0))
        limit = first_step["critical" if r["severity"] == "critical" else "default"]
        if r["acknowledged_at"] is None:
            if (min(now, p[2]) - r["opened_at"]).total_seconds() > limit:
                never += 1  # (one opened a moment ago still has its time to be acknowledged)
        elif (r["acknowledged_at"] - r["opened_at"]).total_seconds() > limit:
            late += 1
        acks[r["facility_id"]] = (n + 1, late, never)
    return acks


async def _orders_and_inspections(
    conn: asyncpg.Connection, p: tuple[Any, ...]
) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
    """Orders due in the period (count, late); signed inspections (count, failed items)."""
    orders = await orders_late(conn, *p)
    inspected: dict[str, tuple[int, int]] = {}
    for r in await conn.fetch(
        "SELECT facility_id, findings FROM inspections WHERE facility_id = ANY($1) AND status = 'signed'"
        " AND inspected_at >= $2 AND inspected_at < $3",
        *p,
    ):
        found = json.loads(r["findings"]) if isinstance(r["findings"], str) else r["findings"]
        n, failed = inspected.get(r["facility_id"], (0, 0))
        inspected[r["facility_id"]] = (n + 1, failed + sum(1 for f in found.values() if f.get("result") == "fail"))
    return orders, inspected


async def orders_late(
    conn: asyncpg.Connection, facilities: list[str], start: datetime, end: datetime
) -> dict[str, tuple[int, int]]:
    """Per facility, the orders whose original due date falls in [start, end) and how many of them are
    late as judged at `end` (contract.rectification.is_late: a returned answer is never the on-time one)."""
    out: dict[str, tuple[int, int]] = {}
    for (fid, _), steps in groupby(await rectification.timelines(conn, facilities, start, end), itemgetter(0, 1)):
        rows = list(steps)
        late = is_late(rows[0]["first_due_at"], (OrderStep(r["at"], r["action"], r["due_at"]) for r in rows), end)
        due, n = out.get(fid, (0, 0))
        out[fid] = (due + 1, n + late)
    return out


def _report_row(f: asyncpg.Record, result: dict[str, Any], provisional: bool) -> dict[str, Any]:
    keys = {k: f[k] for k in ("name", "county", "township")}
    return {"facility_id": f["id"], **keys, "provisional": provisional, **result}


def _stored_result(r: asyncpg.Record) -> dict[str, Any]:
    """The figures as measured; the score and grade as they stand (an accepted appeal corrects them,
    storage.appeals, and keeps the measured ones in the appeal's row)."""
    figures: dict[str, Any] = json.loads(r["figures"])
    return figures | {"score": float(r["score"]), "grade": r["grade"]}


async def month_report(
    conn: asyncpg.Connection, scope: Scope, month: date, now: datetime, cfg: CreditConfig
) -> list[dict[str, Any]]:
    """Every facility in scope: its stored record for a closed month (computed and stored the first
    time it is asked for), or a provisional evaluation of the month in progress."""
    start, end = month_bounds(month)
    closed = end <= now
    stored = {}
    if closed:
        where, args = scope.sql("f", start=2)
        stored = {
            r["facility_id"]: r
            for r in await conn.fetch(
                "SELECT c.* FROM credit_records c JOIN facilities f ON f.id = c.facility_id"
                f" WHERE c.month = $1 AND {where}",
                start.date(),
                *args,
            )
        }
    rows = []
    if closed:
        # every facility of the month already recorded: no need to measure the month again (the annual
        # assessment asks for each month of a year on every call)
        where, args = scope.sql("f", start=2)
        facs = await conn.fetch(
            f"SELECT f.id, f.name, f.county, f.township FROM facilities f WHERE f.registered_at < $1 AND {where}"
            " ORDER BY f.county, f.township, f.id",
            end,
            *args,
        )
        if all(f["id"] in stored for f in facs):
            return [_report_row(f, _stored_result(stored[f["id"]]), False) for f in facs]
    for f, facts in await month_facts(conn, scope, month, now, cfg):
        if f["id"] in stored:
            result = _stored_result(stored[f["id"]])
        else:
            figures = evaluate(facts, cfg)
            result = figures
            if closed:
                await conn.execute(
                    "INSERT INTO credit_records (facility_id, month, score, grade, figures, method)"
                    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    f["id"],
                    start.date(),
                    figures["score"],
                    figures["grade"],
                    json.dumps(figures, ensure_ascii=False),
                    figures["method"],
                )
        rows.append(_report_row(f, result, not closed))
    return rows
