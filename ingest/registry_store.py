"""Writing the facility registry to the database and reading it back for caches.

Loading is idempotent: each facility in the file is made exactly as described (its classes,
staff, children, guardians and devices are replaced); facilities not named in the file are left
alone, so a city can keep one file per county.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from gateway.registry import Facility, Registry


@dataclass(frozen=True, slots=True)
class LoadSummary:
    facilities: int
    devices: int
    staff: int
    children: int


async def load_registry(conn: asyncpg.Connection, registry: Registry) -> LoadSummary:
    async with conn.transaction():
        for f in registry.facilities:
            await _upsert_facility(conn, f)
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
                                   close_time, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
           ON CONFLICT (id) DO UPDATE SET name = $2, county = $3, township = $4, lat = $5, lon = $6, kind = $7,
               timezone = $8, open_days = $9, open_time = $10, close_time = $11, updated_at = now()""",
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
        "INSERT INTO staff (facility_id, id, role, qualified, licensed, banned, health_cert_expires)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [(f.id, s.id, s.role.value, s.qualified, s.licensed, s.banned, s.health_cert_expires) for s in f.staff],
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
        "INSERT INTO devices (facility_id, id, type, location, heartbeat_s, covers_child_area)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(f.id, d.id, d.type.value, d.location, d.heartbeat_s, d.covers_child_area) for d in f.devices],
    )


async def fetch_device_keys(conn: asyncpg.Connection) -> set[tuple[str, str]]:
    """Every registered (facility_id, device_id)."""
    rows = await conn.fetch("SELECT facility_id, id FROM devices")
    return {(r["facility_id"], r["id"]) for r in rows}
