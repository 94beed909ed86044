"""Read models for the API and pages, every one filtered by the caller's scope."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from contract.registry import CARING_ROLES, Closure, DeviceType, OpeningHours, required_guards
from contract.rules import (
    LEVELS,
    REPLAY_SKEW_MAX_S,
    SEVERITIES,
    STAFFING_RULES,
    RuleConfig,
    Severity,
    carers_needed,
    device_liveness,
    offline_after_s,
    offline_params,
    rule_department,
)
from storage.alerts import LATCHING_SQL
from storage.closures import APPROVED_FOR_FACILITY, closures_of
from storage.intake import as_of_sql, heard_sql
from storage.intake import state as intake_state
from storage.migrate import retention_days
from storage.retention import hour_start
from storage.suspensions import IN_FORCE_SQL as SUSPENDED_SQL
from storage.users import Scope

SEVERITY_RANK = {s.value: s.rank for s in Severity}
_STAFFING_SQL = ", ".join(f"'{r.value}'" for r in sorted(STAFFING_RULES))
# "Open" (CONTRACT §5): not yet closed. Critical and major alerts latch until acknowledged;
# minor and warning ones close when their condition clears.
# The first clause is implied by the second; it is written out so that the planner uses the
# alerts_open partial index (whose predicate it is) instead of reading every alert of the week.
OPEN_SQL = (
    "(NOT (a.status = 'cleared' AND a.acknowledged)"
    f" AND (a.status = 'active' OR (NOT a.acknowledged AND a.severity IN ({LATCHING_SQL}))))"
)

# Cleared but still open (a latched critical or major alert nobody has acknowledged): listed apart from the
# active ones, under its own heading, so "未结告警" never shows a row marked 已解除 (issue #41).
AWAITING_ACK_SQL = f"(a.status = 'cleared' AND NOT a.acknowledged AND a.severity IN ({LATCHING_SQL}))"


async def facilities(
    conn: asyncpg.Connection,
    scope: Scope,
    county: str | None = None,
    township: str | None = None,
    facility_id: str | None = None,
    *,
    rules: Mapping[str, RuleConfig],
    now: datetime,
    gateways: Mapping[str, bool] | None = None,
) -> list[dict[str, Any]]:
    """The facilities in scope with their state (red, amber, grey, green) at `now`. `gateways`: each
    facility's uplink state as `gateway_states` returned it a moment ago; without it, read here."""
    where, scope_args = scope.sql("f")
    args: list[object] = [*scope_args, list(SEVERITIES)]
    sev_p = len(args)
    gw_sql = "NULL::bool"
    if gateways is None:
        args += [*offline_params(rules, DeviceType.GATEWAY), now]
        gw_sql = f"({_gateway_sql(beats=len(args) - 3, now=len(args))})"
    conds = [where]
    for col, val in (("f.county", county), ("f.township", township), ("f.id", facility_id)):
        if val:
            args.append(val)
            conds.append(f"{col} = ${len(args)}")
    # One pass over the open alerts (through the alerts_open partial index), joined to the facilities
    # in scope: cheaper than subqueries per facility (bench web, 1,000 facilities). The gateway's state
    # is a subquery per facility (the devices_gateway index, migration 015, and device_state's key),
    # still ~25 ms of a province's overview (5,000 facilities): pages that list many facilities pass
    # the web's snapshot of it instead (web/keys.py GatewaySnapshot).
    rows = await conn.fetch(
        f"""WITH open AS (
                SELECT a.facility_id,
                       min(array_position(${sev_p}::text[], a.severity)) - 1 AS worst,
                       count(*) AS open_alerts,
                       array_agg(DISTINCT a.rule) FILTER (WHERE a.rule IN ({_STAFFING_SQL}))
                         AS staffing
                FROM alerts a
                WHERE {OPEN_SQL}
                GROUP BY a.facility_id)
            SELECT f.id, f.name, f.county, f.township, f.lat, f.lon, f.kind, o.worst,
                   coalesce(o.open_alerts, 0) AS open_alerts, o.staffing, {gw_sql} AS gateway_online,
                   {SUSPENDED_SQL} AS suspended
            FROM facilities f LEFT JOIN open o ON o.facility_id = f.id
            WHERE {" AND ".join(conds)} ORDER BY f.county, f.township, f.id""",
        *args,
    )
    major = Severity.MAJOR.rank
    out = []
    for fid, name, f_county, f_township, lat, lon, kind, worst, n_open, staffing, read_online, suspended in rows:
        gateway_online = read_online if gateways is None else gateways.get(fid)
        state = (
            "grey" if gateway_online is False else "green" if worst is None else "red" if worst <= major else "amber"
        )
        out.append(
            {
                "id": fid,
                "name": name,
                "county": f_county,
                "township": f_township,
                "location": {"lat": lat, "lon": lon} if lat is not None else None,
                "kind": kind,
                "state": state,
                "open_alerts": n_open,
                "staffing_alerts": list(staffing or []),
                "suspended": suspended,  # 责令停业整改 in force (storage/suspensions.py)
            }
        )
    return out


def _gateway_sql(beats: int, now: int) -> str:
    """Whether a facility's gateway is online (NULL: it has none, or none has reported), per facility f,
    with the gateway type's offline parameters (contract.rules.offline_params: intervals, floor, ceiling)
    at $beats, $beats+1, $beats+2 and the clock's reading at $now. Its silence is what the platform
    listened to (storage.intake.heard_sql), as of what it has stored."""
    n = f"${now}::timestamptz"
    after = f"least(${beats + 2}, greatest(${beats} * d.heartbeat_s, ${beats + 1}))"
    return f"""SELECT bool_or(s.online AND {heard_sql("s.last_seen_at", "d.heartbeat_s", n)}
                  > {as_of_sql(n)} - make_interval(secs => {after}))
                  FROM devices d JOIN device_state s ON s.facility_id = d.facility_id AND s.device_id = d.id
                  WHERE d.facility_id = f.id AND d.type = 'gateway'"""


async def gateway_states(conn: asyncpg.Connection, rules: Mapping[str, RuleConfig], now: datetime) -> dict[str, bool]:
    """Every facility's uplink at `now`: whether its gateway is online, for facilities with a gateway
    that reported."""
    rows = await conn.fetch(
        f"SELECT f.id, ({_gateway_sql(beats=1, now=4)}) AS up FROM facilities f",
        *offline_params(rules, DeviceType.GATEWAY),
        now,
    )
    return {r["id"]: r["up"] for r in rows if r["up"] is not None}


async def facility_names(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """id, name, county, township of the facilities in scope (for filters; no state computed)."""
    where, args = scope.sql("f")
    return await conn.fetch(
        f"SELECT f.id, f.name, f.county, f.township FROM facilities f WHERE {where} ORDER BY f.county, f.id", *args
    )


async def facility_row(conn: asyncpg.Connection, scope: Scope, facility_id: str) -> asyncpg.Record | None:
    """The facility if the scope may see it, else None (the caller answers 404)."""
    r = await conn.fetchrow("SELECT * FROM facilities WHERE id = $1", facility_id)
    return r if r is not None and scope.allows(r) else None


async def facility_with_closures(conn: asyncpg.Connection, scope: Scope, facility_id: str) -> asyncpg.Record | None:
    """facility_row with the facility's approved closures (`closures`), so that `opening_hours` of it counts
    a closure day as closed; None outside the scope."""
    r = await conn.fetchrow(
        f"SELECT f.*, {APPROVED_FOR_FACILITY} AS closures FROM facilities f WHERE f.id = $1", facility_id
    )
    return r if r is not None and scope.allows(r) else None


def local_midnight(f: asyncpg.Record, now: datetime) -> datetime:
    """The start of `now`'s day in the facility's own time zone."""
    tz = ZoneInfo(f["timezone"])
    return datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tz)


# when a stored event or scan `a` happened: its device's ts corrected by the clock error the alert engine
# learnt for that device (device_clocks `c`, joined on the device; CONTRACT §4), never after it was stored
_HAPPENED = (
    "CASE WHEN c.skew_s IS NULL THEN a.time ELSE least(a.received_at, a.time + make_interval(secs => c.skew_s)) END"
)
# ... at or after $2, looked for as far back as the alert engine's replay does (contract.rules)
_HAPPENED_SINCE_2 = f"a.time >= $2::timestamptz - make_interval(secs => {REPLAY_SKEW_MAX_S}) AND {_HAPPENED} >= $2"


async def facility_status(
    conn: asyncpg.Connection, f: asyncpg.Record, *, rules: Mapping[str, RuleConfig], now: datetime
) -> dict[str, Any]:
    """The facility's state at `now`: devices, who is on site, open alerts, the intake."""
    fid = f["id"]
    day_start = local_midnight(f, now)
    n = "$2::timestamptz"
    # how long each device has been silent, as the platform listened (storage.intake.heard_sql); judged
    # below by the contract's thresholds for its type (online, silent, offline), as the engine judges it
    silence = f"{as_of_sql(n)} - {heard_sql('s.last_seen_at', 'd.heartbeat_s', n)}"
    rows = await conn.fetch(
        f"""SELECT d.id, d.type, d.location, d.heartbeat_s, s.last_seen_at, s.battery_pct, c.skew_s, s.online AS said,
                  extract(epoch FROM {silence})::float8 AS silent_s
           FROM devices d LEFT JOIN device_state s ON s.facility_id = d.facility_id AND s.device_id = d.id
           LEFT JOIN device_clocks c ON c.facility_id = d.facility_id AND c.device_id = d.id
           WHERE d.facility_id = $1 ORDER BY d.id""",
        fid,
        now,
    )
    devices = [
        dict(r)
        | {
            "liveness": "offline"
            if r["silent_s"] is None
            else device_liveness(rules, r["type"], r["heartbeat_s"], bool(r["said"]), float(r["silent_s"]))
        }
        for r in rows
    ]
    # who is on site: each person's latest scan today, by the time it happened, as the alert engine judges
    # it (a door's stored ts corrected by its learnt clock error, CONTRACT §4: a door set up in UTC wall time
    # stored this morning's badges under yesterday); a day further back at most, as the engine's replay
    people = await conn.fetch(
        f"""SELECT DISTINCT ON (a.person_id) a.person_id, a.type FROM access_events a
           LEFT JOIN device_clocks c ON c.facility_id = a.facility_id AND c.device_id = a.device_id
           WHERE a.facility_id = $1 AND {_HAPPENED_SINCE_2}
             AND a.type IN ('staff_in', 'staff_out', 'child_in', 'child_out')
           ORDER BY a.person_id, {_HAPPENED} DESC, a.arrival DESC NULLS LAST""",
        fid,
        day_start,
    )
    staff_rows = await conn.fetch("SELECT id, role, cares_for_children FROM staff WHERE facility_id = $1", fid)
    staff_roles = {r["id"]: r["role"] for r in staff_rows}
    carers_ids = {
        r["id"]
        for r in staff_rows
        if (r["role"] in CARING_ROLES if r["cares_for_children"] is None else r["cares_for_children"])
    }
    child_class = {
        r["id"]: r["class_id"]
        for r in await conn.fetch("SELECT id, class_id FROM children WHERE facility_id = $1", fid)
    }
    classes = {r["id"]: r for r in await conn.fetch("SELECT * FROM classes WHERE facility_id = $1", fid)}
    by_role: dict[str, int] = {}
    per_class: dict[str, int] = {}
    carers = 0
    for p in people:
        if p["type"] == "staff_in":
            carers += p["person_id"] in carers_ids
            role = staff_roles.get(p["person_id"], "unknown")
            by_role[role] = by_role.get(role, 0) + 1
        elif p["type"] == "child_in" and p["person_id"] in child_class:
            c = child_class[p["person_id"]]
            per_class[c] = per_class.get(c, 0) + 1
    required = sum(carers_needed(rules, classes[c]["age_group"], n) for c, n in per_class.items() if c in classes)
    sev = await conn.fetch(
        f"SELECT a.severity, count(*) FROM alerts a WHERE a.facility_id = $1 AND {OPEN_SQL} GROUP BY a.severity", fid
    )
    return {
        "facility_id": fid,
        "devices": {
            "online": sum(1 for d in devices if d["liveness"] != "offline"),
            "offline": sum(1 for d in devices if d["liveness"] == "offline" and d["last_seen_at"] is not None),
            # of the online ones, quiet longer than usual and not yet offline (CONTRACT §4 device_offline:
            # a slow life-safety device's lost heartbeats, shown to the operator before any alert)
            "silent": sum(1 for d in devices if d["liveness"] == "silent"),
            # nothing heard since the platform knew it (just installed, or the service just started):
            # not known to be offline, and not shown as if it were
            "never_seen": sum(1 for d in devices if d["last_seen_at"] is None),
        },
        "device_list": [
            {
                "id": d["id"],
                "type": d["type"],
                "location": d["location"],
                "online": d["liveness"] != "offline",
                # "online", "silent" (not heard for longer than usual: no alert yet) or "offline"
                "liveness": d["liveness"] if d["last_seen_at"] is not None else None,
                **(
                    {
                        "silent_s": round(d["silent_s"]),
                        "offline_in_s": round(offline_after_s(rules, d["type"], d["heartbeat_s"]) - d["silent_s"]),
                    }
                    if d["liveness"] == "silent"
                    else {}
                ),
                "battery_pct": d["battery_pct"],
                "last_seen_at": d["last_seen_at"].isoformat() if d["last_seen_at"] else None,
                # how far its clock runs slow, as the alert engine learnt it (CONTRACT §4); None: on time
                "clock_slow_s": round(d["skew_s"]) if d["skew_s"] else None,
            }
            for d in devices
        ],
        "open_alerts": dict.fromkeys(SEVERITY_RANK, 0) | {r["severity"]: r["count"] for r in sev},
        # the platform's own intake: devices' silence is judged as of `as_of` (storage.intake); None: no
        # ingest worker has reported yet
        "intake": intake.as_json() if (intake := await intake_state(conn, now)) is not None else None,
        "staff_on_site": by_role,
        "children_present": sum(per_class.values()),
        "children_by_class": {c: {"present": per_class.get(c, 0), "capacity": classes[c]["capacity"]} for c in classes},
        "caregivers_required": required,
        "caregivers_on_site": carers,  # every caring role, as the ratio rule counts them
        "guards_on_site": by_role.get("guard", 0),
        "guards_required": required_guards(len(child_class)),
        "open_now": opening_hours(f).is_open_at(now.astimezone(ZoneInfo(f["timezone"]))),
    }


def opening_hours(f: asyncpg.Record) -> OpeningHours:
    """The facility's calendar as the rules read it (older rows: the usual week only), with its approved
    closures when the row carries them (`storage.closures.APPROVED_FOR_FACILITY AS closures`)."""
    if f["calendar"]:
        hours = OpeningHours.model_validate_json(f["calendar"])
    else:
        hours = OpeningHours(days=f["open_days"], open=f["open_time"], close=f["close_time"])
    if "closures" in f.keys():  # noqa: SIM118  # a Record's keys() is its columns; `in f` tests its values
        hours = hours.model_copy(update={"closures": [Closure(**c) for c in closures_of(f["closures"])]})
    return hours


def alert_json(r: asyncpg.Record) -> dict[str, Any]:
    def ts(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    return {
        "id": r["id"],
        "rule": r["rule"],
        "department": rule_department(r["rule"]),  # the rule's (contract/rules.py RULE_DEPARTMENTS)
        "severity": r["severity"],
        "facility_id": r["facility_id"],
        "facility_name": r.get("facility_name"),
        "device_id": r["device_id"],
        "subject": r["subject"],
        "status": r["status"],
        "acknowledged": r["acknowledged"],
        "opened_at": ts(r["opened_at"]),
        # when it happened (contract.occurred); an alert stored before migration 031 has none: when opened
        "occurred_at": ts(r.get("occurred_at") or r["opened_at"]),
        "delay_cause": r.get("delay_cause"),
        "last_seen_at": ts(r["last_seen_at"]),
        "cleared_at": ts(r["cleared_at"]),
        "acknowledged_at": ts(r["acknowledged_at"]),
        "acknowledged_by": r["acknowledged_by"],
        "note": r["note"],
        "escalation": r["escalation"],
        "count": r["count"],
        "summary": r["summary"],
        "summary_en": r["summary_en"],
        "muted": r["muted"],
    }


async def alerts(
    conn: asyncpg.Connection,
    scope: Scope,
    *,
    facility_id: str | None = None,
    county: str | None = None,
    township: str | None = None,
    status: str = "open",
    rule: str | None = None,
    rules: Sequence[str] | None = None,
    severity: str | None = None,
    since: datetime | None = None,
    limit: int = 500,
    offset: int = 0,
    order: str = "opened_at",
    descending: bool = True,
) -> list[dict[str, Any]]:
    """Alerts in scope, newest first unless `order` names another column of ALERT_ORDER. `status`: "open"
    (active, or latched and not yet acknowledged), "active", "cleared", "awaiting_ack" (cleared, latched, not
    acknowledged) or anything else for all. `rules`: only alerts of these rules (a department's filter)."""
    where, scope_args = scope.sql("f")
    args: list[Any] = list(scope_args)
    conds = [where]
    for col, val in (
        ("a.facility_id", facility_id),
        ("f.county", county),
        ("f.township", township),
        ("a.rule", rule),
        ("a.severity", severity),
    ):
        if val:
            args.append(val)
            conds.append(f"{col} = ${len(args)}")
    if rules is not None:  # a department's rules (contract.rules.rules_of_department); none: no alert
        args.append(list(rules))
        conds.append(f"a.rule = ANY(${len(args)}::text[])")
    if since:
        args.append(since)
        conds.append(f"a.opened_at >= ${len(args)}")
    if status == "open":
        conds.append(OPEN_SQL)
    elif status == "awaiting_ack":
        conds.append(AWAITING_ACK_SQL)
    elif status in {"active", "cleared"}:
        args.append(status)
        conds.append(f"a.status = ${len(args)}")
    args += [limit, max(0, offset)]
    direction = "DESC" if descending else "ASC"
    rows = await conn.fetch(
        f"SELECT a.*, f.name AS facility_name, {SUSPENDED_SQL} AS facility_suspended FROM alerts a"
        f" JOIN facilities f ON f.id = a.facility_id WHERE {' AND '.join(conds)}"
        f" ORDER BY {ALERT_ORDER.get(order, ALERT_ORDER['opened_at'])} {direction},"
        f" a.id {direction} LIMIT ${len(args) - 1} OFFSET ${len(args)}",
        *args,
    )
    return [alert_json(r) | {"facility_suspended": r["facility_suspended"]} for r in rows]


def _rank_sql(column: str, ranks: dict[str, int]) -> str:
    """A column's values in a given order, for ORDER BY (descending: the highest first)."""
    return f"CASE {column} " + " ".join(f"WHEN '{v}' THEN {r}" for v, r in ranks.items()) + " END"


# The alert inbox's sortable columns (names from the page, never SQL from it). Severity descending is
# critical first (SEVERITY_RANK counts 0 for critical), escalation descending is the city first.
ALERT_ORDER = {
    "opened_at": "a.opened_at",
    "last_seen_at": "a.last_seen_at",  # the latest evidence: a reopening or a repeat moves an alert up
    "severity": _rank_sql("a.severity", {s: -r for s, r in SEVERITY_RANK.items()}),
    "facility": "f.name",
    "rule": "a.rule",
    "count": "a.count",
    "escalation": _rank_sql("a.escalation", {level: i for i, level in enumerate(LEVELS)}),
}


async def readings(
    conn: asyncpg.Connection,
    facility_id: str,
    metric: str,
    device_id: str | None,
    start: datetime,
    end: datetime,
    bucket: timedelta,
    now: datetime,
) -> list[dict[str, Any]]:
    """time_bucket min/avg/max; from the hourly rollup when buckets are an hour or longer, or when the
    range begins before raw readings are kept at `now` (contract.retention: then hourly buckets)."""
    raw_kept = retention_days("readings")
    if raw_kept is not None and start < now - timedelta(days=raw_kept):
        bucket = max(bucket, timedelta(hours=1))
    args: list[Any] = [bucket, facility_id, metric, start, end]
    dev = ""
    if device_id:
        args.append(device_id)
        dev = " AND device_id = $6"
    if bucket >= timedelta(hours=1):
        # completed hours from the rollup, the current hour from the raw readings (storage.retention:
        # an hour is aggregated once it has ended)
        args.append(hour_start(now))
        h = len(args)
        sql = (
            "SELECT time_bucket($1, t) AS b, min(mn) AS min, sum(s) / sum(n) AS avg, max(mx) AS max FROM ("
            " SELECT bucket AS t, n, sum AS s, min AS mn, max AS mx FROM readings_hourly"
            f" WHERE facility_id = $2 AND metric = $3 AND bucket >= $4"
            f" AND bucket < least($5::timestamptz, ${h}::timestamptz){dev}"
            " UNION ALL SELECT time, 1, value, value, value FROM readings"
            f" WHERE facility_id = $2 AND metric = $3 AND time >= greatest($4::timestamptz, ${h}::timestamptz)"
            f" AND time < $5{dev}"
            ") u GROUP BY b ORDER BY b"
        )
    else:
        sql = (
            "SELECT time_bucket($1, time) AS b, min(value) AS min, avg(value) AS avg, max(value) AS max"
            f" FROM readings WHERE facility_id = $2 AND metric = $3 AND time >= $4 AND time < $5{dev}"
            " GROUP BY b ORDER BY b"
        )
    rows = await conn.fetch(sql, *args)
    return [{"t": r["b"].astimezone(UTC).isoformat(), "min": r["min"], "avg": r["avg"], "max": r["max"]} for r in rows]


async def summary(
    conn: asyncpg.Connection, scope: Scope, county: str | None = None, township: str | None = None
) -> dict[str, Any]:
    """Open alerts in scope (and in `county`, `township`, when given) by severity and by rule."""
    where, args = scope.sql("f")
    for column, value in (("county", county), ("township", township)):
        if value is not None:
            args = [*args, value]
            where += f" AND f.{column} = ${len(args)}"
    rows = await conn.fetch(
        "SELECT a.severity, a.rule FROM alerts a JOIN facilities f ON f.id = a.facility_id"
        f" WHERE {where} AND {OPEN_SQL}",
        *args,
    )
    by_sev = dict.fromkeys(SEVERITY_RANK, 0)
    by_rule: dict[str, int] = {}
    for r in rows:
        by_sev[r["severity"]] += 1
        by_rule[r["rule"]] = by_rule.get(r["rule"], 0) + 1
    return {
        "by_severity": by_sev,
        "by_rule": dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
        "open_alerts": len(rows),
    }


STATES = ("red", "amber", "grey", "green")


def areas(facs: list[dict[str, Any]], by_township: bool) -> list[dict[str, Any]]:
    """Per area: facilities by state; `by_township` for inspectors below the city."""
    out: dict[str, dict[str, Any]] = {}
    key = "township" if by_township else "county"
    for f in facs:
        code = f[key]
        a = out.get(code)
        if a is None:
            a = out[code] = {"code": code, "facilities": 0, "open_alerts": 0} | dict.fromkeys(STATES, 0)
        a["facilities"] += 1
        a[f["state"]] += 1
        a["open_alerts"] += f["open_alerts"]
    return sorted(out.values(), key=lambda a: a["code"])


async def timeline(
    conn: asyncpg.Connection, facility_id: str, since: datetime, limit: int = 300
) -> list[dict[str, Any]]:
    """The facility's events and access since `since`, newest first, at the times they happened."""
    rows = await conn.fetch(
        f"""(SELECT {_HAPPENED} AS time, 'event' AS kind, a.device_id, a.type, a.state, NULL AS person_id,
                   NULL AS guardian_id
              FROM events a LEFT JOIN device_clocks c ON c.facility_id = a.facility_id AND c.device_id = a.device_id
              WHERE a.facility_id = $1 AND {_HAPPENED_SINCE_2}
              ORDER BY 1 DESC LIMIT $3)
           UNION ALL
           (SELECT {_HAPPENED}, 'access', a.device_id, a.type, NULL, a.person_id, a.guardian_id
              FROM access_events a
              LEFT JOIN device_clocks c ON c.facility_id = a.facility_id AND c.device_id = a.device_id
              WHERE a.facility_id = $1 AND {_HAPPENED_SINCE_2}
              ORDER BY 1 DESC LIMIT $3)
           ORDER BY time DESC LIMIT $3""",
        facility_id,
        since,
        limit,
    )
    return [
        {
            "time": r["time"].isoformat(),
            "kind": r["kind"],
            "device_id": r["device_id"],
            "type": r["type"],
            "state": r["state"],
            "person_id": r["person_id"],
            "guardian_id": r["guardian_id"],
        }
        for r in rows
    ]


async def latest_readings(conn: asyncpg.Connection, facility_id: str, now: datetime) -> dict[str, dict[str, Any]]:
    """Each device's latest value per metric over the day before `now`: {device: {metric: value}}."""
    rows = await conn.fetch(
        """SELECT d.id AS device_id, r.metric, r.value, r.time
           FROM devices d
           CROSS JOIN LATERAL (
               SELECT DISTINCT ON (metric) metric, value, time FROM readings
               WHERE facility_id = d.facility_id AND device_id = d.id AND time > $2::timestamptz - interval '1 day'
               ORDER BY metric, time DESC) r
           WHERE d.facility_id = $1""",
        facility_id,
        now,
    )
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        out.setdefault(r["device_id"], {})[r["metric"]] = round(r["value"], 2)
    return out


async def metrics_of(conn: asyncpg.Connection, facility_id: str, now: datetime) -> list[str]:
    """The metrics this facility reported in the week before `now` (from the hourly rollup)."""
    rows = await conn.fetch(
        "SELECT DISTINCT metric FROM readings_hourly"
        " WHERE facility_id = $1 AND bucket > $2::timestamptz - interval '7 days'"
        " UNION SELECT DISTINCT metric FROM readings"
        " WHERE facility_id = $1 AND time > $2::timestamptz - interval '2 hours' ORDER BY 1",
        facility_id,
        now,
    )
    return [r[0] for r in rows]


async def staff(conn: asyncpg.Connection, facility_id: str, now: datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, role, qualified, licensed, banned, health_cert_expires FROM staff WHERE facility_id = $1"
        " ORDER BY role, id",
        facility_id,
    )
    today = now.astimezone(UTC).date()
    return [
        {
            "id": r["id"],
            "role": r["role"],
            "qualified": r["qualified"],
            "licensed": r["licensed"],
            "banned": r["banned"],
            "health_cert_expires": r["health_cert_expires"].isoformat() if r["health_cert_expires"] else None,
            "cert_expired": r["health_cert_expires"] is not None and r["health_cert_expires"] < today,
        }
        for r in rows
    ]


async def alert_detail(conn: asyncpg.Connection, scope: Scope, alert_id: int) -> dict[str, Any] | None:
    """One alert with its history (openings, escalations, acknowledgements), if in scope."""
    where, args = scope.sql("f", start=2)
    r = await conn.fetchrow(
        f"SELECT a.*, f.name AS facility_name, {SUSPENDED_SQL} AS facility_suspended FROM alerts a"
        f" JOIN facilities f ON f.id = a.facility_id WHERE a.id = $1 AND {where}",
        alert_id,
        *args,
    )
    if r is None:
        return None
    hist = await conn.fetch(
        "SELECT at, action, actor, detail FROM alert_history WHERE alert_id = $1 ORDER BY at, id", alert_id
    )
    return alert_json(r) | {
        "facility_suspended": r["facility_suspended"],  # 停业整改中 (migration 038)
        "escalated_at": r["escalated_at"].isoformat() if r["escalated_at"] else None,
        "history": [
            {"at": h["at"].isoformat(), "action": h["action"], "actor": h["actor"], "detail": json.loads(h["detail"])}
            for h in hist
        ],
    }


async def audit_log(
    conn: asyncpg.Connection, actor: str | None, action: str | None, before: int | None, limit: int = 200
) -> list[dict[str, Any]]:
    args: list[Any] = []
    conds = ["TRUE"]
    for col, val in (("actor", actor), ("action", action), ("id <", before)):
        if val is not None:
            args.append(val)
            conds.append(f"{col} = ${len(args)}" if not col.endswith("<") else f"{col} ${len(args)}")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT * FROM audit_log WHERE {' AND '.join(conds)} ORDER BY id DESC LIMIT ${len(args)}", *args
    )
    return [
        {
            "id": r["id"],
            "at": r["at"].isoformat(),
            "actor": r["actor"],
            "action": r["action"],
            "target": r["target"],
            "detail": json.loads(r["detail"]),
        }
        for r in rows
    ]


async def ping(conn: asyncpg.Connection) -> None:
    """One round trip: raises when the database is out of reach (for /healthz)."""
    await conn.fetchval("SELECT 1")


DEAD_PAYLOAD_CHARS = 500


async def dead_letters(
    conn: asyncpg.Connection, scope: Scope, reason: str | None, before: int | None, limit: int = 100
) -> list[dict[str, Any]]:
    """Refused messages, newest first, of the facilities in scope; those that named no known
    facility only for admins. The payload as text (invalid UTF-8 replaced), cut to 500 characters."""
    where, scope_args = scope.sql("f")
    args: list[object] = list(scope_args)
    known = f"(d.facility_id IS NOT NULL AND {where})"
    conds = [f"({known} OR d.facility_id IS NULL)" if scope.role == "admin" else known]
    for cond, val in (("d.reason = ${}", reason), ("d.id < ${}", before)):
        if val is not None:
            args.append(val)
            conds.append(cond.format(len(args)))
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT d.* FROM dead_letters d LEFT JOIN facilities f ON f.id = d.facility_id
            WHERE {" AND ".join(conds)} ORDER BY d.id DESC LIMIT ${len(args)}""",
        *args,
    )
    out = []
    for r in rows:
        text = bytes(r["payload"]).decode("utf-8", errors="replace")
        out.append(
            {
                "id": r["id"],
                "received_at": r["received_at"].isoformat(),
                "facility_id": r["facility_id"],
                "topic": r["topic"],
                "reason": r["reason"],
                "detail": r["detail"],
                "payload": text[:DEAD_PAYLOAD_CHARS],
                "truncated": len(text) > DEAD_PAYLOAD_CHARS,
            }
        )
    return out


async def class_groups(conn: asyncpg.Connection, facility_id: str) -> list[tuple[str, str]]:
    """A facility's classes as (id, age group), in id order."""
    rows = await conn.fetch("SELECT id, age_group FROM classes WHERE facility_id = $1 ORDER BY id", facility_id)
    return [(r["id"], r["age_group"]) for r in rows]
