"""Writing the facility registry to the database and reading it back for caches.

Loading is idempotent: each facility in the file is made exactly as described (its classes,
staff, children, guardians and devices are replaced); facilities not named in the file are left
alone, so a city can keep one file per county.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from contract.names import FacilityNames
from contract.registry import Facility, Registry, register_changes
from storage.closures import APPROVED_FOR_FACILITY, closures_of
from storage.people import record_people, record_roles
from storage.users import Scope


@dataclass(frozen=True, slots=True)
class LoadSummary:
    facilities: int
    devices: int
    staff: int
    children: int


async def load_registry(conn: asyncpg.Connection, registry: Registry, now: datetime | None = None) -> LoadSummary:
    """Write the file's facilities (and the register of people it names, at `now`: needed then)."""
    links = bool(registry.people) or any(s.person for f in registry.facilities for s in f.staff)
    if links and now is None:
        raise ValueError("a registry that names people of the register is loaded with the time of the load")
    async with conn.transaction():
        if links and now is not None:
            await record_people(conn, register_changes(registry, now), now)
        for f in registry.facilities:
            await _upsert_facility(conn, f)
            if now is not None:
                await record_roles(conn, f, now)
    return LoadSummary(
        facilities=len(registry.facilities),
        devices=sum(len(f.devices) for f in registry.facilities),
        staff=sum(len(f.staff) for f in registry.facilities),
        children=sum(len(f.children) for f in registry.facilities),
    )


async def _upsert_facility(conn: asyncpg.Connection, f: Facility) -> None:
    oh = f.opening_hours
    await conn.execute(
        """INSERT INTO facilities (id, name, county, township, lat, lon, kind, timezone, open_days, open_time,
                                   close_time, calendar, night_watch, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, now())
           ON CONFLICT (id) DO UPDATE SET name = $2, county = $3, township = $4, lat = $5, lon = $6, kind = $7,
               timezone = $8, open_days = $9, open_time = $10, close_time = $11, calendar = $12::jsonb,
               night_watch = $13, updated_at = now()""",
        f.id,
        f.name,
        f.county,
        f.township,
        f.location.lat if f.location else None,
        f.location.lon if f.location else None,
        f.kind,
        f.timezone,
        list(oh.days),
        oh.open,
        oh.close,
        oh.model_dump_json(exclude={"closures"}),  # approved closures are their own rows (migration 032)
        f.night_watch,
    )
    # Replace the facility's members. Children (and their guardians) go first: they reference classes.
    await conn.execute("DELETE FROM children WHERE facility_id = $1", f.id)
    for table in ("classes", "staff", "devices"):
        await conn.execute(f"DELETE FROM {table} WHERE facility_id = $1", f.id)
    await conn.executemany(
        "INSERT INTO classes (facility_id, id, age_group, capacity) VALUES ($1, $2, $3, $4)",
        [(f.id, c.id, c.age_group.value, c.capacity) for c in f.classes],
    )
    await conn.executemany(
        "INSERT INTO staff (facility_id, id, role, qualified, licensed, banned, health_cert_expires,"
        " cares_for_children, person_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (
                f.id,
                s.id,
                s.role.value,
                s.qualified,
                s.licensed,
                s.banned,
                s.health_cert_expires,
                s.cares_for_children,
                s.person,
            )
            for s in f.staff
        ],
    )
    await conn.executemany(
        "INSERT INTO children (facility_id, id, class_id) VALUES ($1, $2, $3)",
        [(f.id, c.id, c.class_) for c in f.children],
    )
    await conn.executemany(
        "INSERT INTO guardians (facility_id, child_id, guardian_id) VALUES ($1, $2, $3)",
        [(f.id, c.id, g) for c in f.children for g in dict.fromkeys(c.guardians)],
    )
    await conn.executemany(
        "INSERT INTO devices (facility_id, id, type, location, heartbeat_s, covers_child_area, room, counts_adults)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (
                f.id,
                d.id,
                d.type.value,
                d.location,
                d.heartbeat_s,
                d.covers_child_area,
                d.room and d.room.value,
                d.counts_adults,
            )
            for d in f.devices
        ],
    )


async def fetch_device_keys(conn: asyncpg.Connection) -> dict[tuple[str, str], str]:
    """Every registered (facility_id, device_id), with its device type."""
    rows = await conn.fetch("SELECT facility_id, id, type FROM devices")
    return {(r["facility_id"], r["id"]): r["type"] for r in rows}


async def facility_ids(conn: asyncpg.Connection) -> list[str]:
    return [r[0] for r in await conn.fetch("SELECT id FROM facilities ORDER BY id")]


async def fetch_registry(conn: asyncpg.Connection, facility_ids: list[str] | None = None) -> Registry:
    """The registry as stored (all facilities, or those named), as contract models."""
    where = "WHERE id = ANY($1::text[])" if facility_ids is not None else ""
    args = [facility_ids] if facility_ids is not None else []
    facs = await conn.fetch(
        f"SELECT f.*, {APPROVED_FOR_FACILITY} AS closures FROM facilities f {where} ORDER BY id", *args
    )
    ids = [f["id"] for f in facs]

    async def by_facility(sql: str) -> dict[str, list[asyncpg.Record]]:
        out: dict[str, list[asyncpg.Record]] = {}
        for r in await conn.fetch(sql, ids):
            out.setdefault(r["facility_id"], []).append(r)
        return out

    classes = await by_facility("SELECT * FROM classes WHERE facility_id = ANY($1::text[]) ORDER BY id")
    staff = await by_facility(
        "SELECT s.*, p.id_masked FROM staff s LEFT JOIN people p ON p.key = s.person_key"
        " WHERE s.facility_id = ANY($1::text[]) ORDER BY s.id"
    )
    devices = await by_facility("SELECT * FROM devices WHERE facility_id = ANY($1::text[]) ORDER BY id")
    children = await by_facility(
        "SELECT c.facility_id, c.id, c.class_id, coalesce(array_agg(g.guardian_id ORDER BY g.guardian_id)"
        " FILTER (WHERE g.guardian_id IS NOT NULL), '{}') AS guardians FROM children c LEFT JOIN guardians g"
        " ON g.facility_id = c.facility_id AND g.child_id = c.id WHERE c.facility_id = ANY($1::text[])"
        " GROUP BY c.facility_id, c.id, c.class_id ORDER BY c.id"
    )
    out = []
    for f in facs:
        fid = f["id"]
        out.append(
            Facility.model_validate(
                {
                    "id": fid,
                    "name": f["name"],
                    "county": f["county"],
                    "township": f["township"],
                    "location": {"lat": f["lat"], "lon": f["lon"]} if f["lat"] is not None else None,
                    "kind": f["kind"],
                    "timezone": f["timezone"],
                    # the file's calendar and the approved closures (migration 032)
                    "opening_hours": (
                        json.loads(f["calendar"])
                        if f["calendar"]
                        else {"days": f["open_days"], "open": f["open_time"], "close": f["close_time"]}
                    )
                    | {"closures": closures_of(f["closures"])},
                    "night_watch": f["night_watch"],
                    "classes": [
                        {"id": c["id"], "age_group": c["age_group"], "capacity": c["capacity"]}
                        for c in classes.get(fid, [])
                    ],
                    "staff": [
                        {
                            "id": s["id"],
                            "role": s["role"],
                            "qualified": s["qualified"],
                            "licensed": s["licensed"],
                            "banned": s["banned"],
                            "health_cert_expires": s["health_cert_expires"],
                            "cares_for_children": s["cares_for_children"],
                            "person": s["person_key"],
                            "id_masked": s["id_masked"] if s["person_key"] else None,
                        }
                        for s in staff.get(fid, [])
                    ],
                    "children": [
                        {"id": c["id"], "class": c["class_id"], "guardians": list(c["guardians"])}
                        for c in children.get(fid, [])
                    ],
                    "devices": [
                        {
                            "id": d["id"],
                            "type": d["type"],
                            "location": d["location"],
                            "heartbeat_s": d["heartbeat_s"],
                            "covers_child_area": d["covers_child_area"],
                            "room": d["room"],
                            "counts_adults": d["counts_adults"],
                        }
                        for d in devices.get(fid, [])
                    ],
                }
            )
        )
    return Registry(facilities=out)


async def facility_names(conn: asyncpg.Connection, facility_ids: list[str]) -> dict[str, FacilityNames]:
    """What the named facilities' registries call their devices, staff, classes and children
    (contract.names: an alert's references shown by name); a facility not stored is left out."""
    out: dict[str, dict[str, dict[str, object]]] = {
        r["id"]: {"devices": {}, "staff": {}, "classes": {}, "children": {}}
        for r in await conn.fetch("SELECT id FROM facilities WHERE id = ANY($1::text[])", facility_ids)
    }
    for r in await conn.fetch(
        "SELECT facility_id, id, type, location FROM devices WHERE facility_id = ANY($1::text[])", facility_ids
    ):
        out[r["facility_id"]]["devices"][r["id"]] = (r["type"], r["location"])
    for r in await conn.fetch(
        "SELECT s.facility_id, s.id, s.role, coalesce(p.name, '') AS name FROM staff s"
        " LEFT JOIN people p ON p.key = s.person_key WHERE s.facility_id = ANY($1::text[])",
        facility_ids,
    ):
        out[r["facility_id"]]["staff"][r["id"]] = (r["role"], r["name"])
    for r in await conn.fetch(
        "SELECT facility_id, id, age_group FROM classes WHERE facility_id = ANY($1::text[])", facility_ids
    ):
        out[r["facility_id"]]["classes"][r["id"]] = r["age_group"]
    for r in await conn.fetch(
        "SELECT facility_id, id, class_id FROM children WHERE facility_id = ANY($1::text[])", facility_ids
    ):
        out[r["facility_id"]]["children"][r["id"]] = r["class_id"]
    return {fid: FacilityNames(**parts) for fid, parts in out.items()}  # type: ignore[arg-type]


async def has_device(conn: asyncpg.Connection, facility_id: str, device_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM devices WHERE facility_id = $1 AND id = $2)", facility_id, device_id
        )
    )


async def overview(conn: asyncpg.Connection, scope: Scope, now: datetime) -> list[asyncpg.Record]:
    """Facilities in scope with the counts the registry page shows, at `now`."""
    where, args = scope.sql("f", start=2)
    n = "$1::timestamptz"
    return list(
        await conn.fetch(
            f"""SELECT f.id, f.name, f.county, f.township, f.kind,
                   (SELECT count(*) FROM devices d WHERE d.facility_id = f.id) AS devices,
                   (SELECT count(*) FROM staff s WHERE s.facility_id = f.id) AS staff,
                   (SELECT count(*) FROM staff s WHERE s.facility_id = f.id
                       AND s.health_cert_expires < ({n} AT TIME ZONE f.timezone)::date) AS expired,
                   (SELECT count(*) FROM classes c WHERE c.facility_id = f.id) AS classes,
                   (SELECT count(*) FROM children c WHERE c.facility_id = f.id) AS children,
                   (SELECT count(*) FROM maintenance_windows m WHERE m.facility_id = f.id AND m.status = 'approved'
                       AND m.starts_at <= {n} AND m.ends_at > {n}) AS windows_now
                FROM facilities f WHERE {where} ORDER BY f.county, f.township, f.id""",
            now,
            *args,
        )
    )
