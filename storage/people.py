"""The register of people (migration 026; contract/people.py): people, their bans, their roles at
facilities over time. SQL only: what a file adds and which ban it records is decided above
(contract.registry.register_changes). No identity number ever reaches this module: only keys and masked
forms, which the table's CHECKs hold to their shape."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from contract.people import Person
from contract.registry import Facility, RegisterChanges


async def record_people(conn: asyncpg.Connection, changes: RegisterChanges, now: datetime) -> None:
    """Write a file's people (details replaced, a ban only added: the table's trigger keeps a recorded
    one), add the people its staff link to, and the bans its staff records declare."""
    await conn.executemany(
        """INSERT INTO people (key, id_masked, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (key) DO UPDATE SET id_masked = coalesce(people.id_masked, EXCLUDED.id_masked)""",
        [(k, masked, now) for k, masked in changes.identities.items()],
    )
    await conn.executemany(
        """INSERT INTO people (key, name, id_masked, qualifications, health_cert_expires, health_check_on,
                               training_on, ban_source, banned_on, updated_at)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (key) DO UPDATE SET name = $2, id_masked = coalesce($3, people.id_masked),
               qualifications = $4::jsonb, health_cert_expires = $5, health_check_on = $6, training_on = $7,
               ban_source = coalesce(people.ban_source, $8), banned_on = coalesce(people.banned_on, $9),
               updated_at = $10""",
        [
            (
                p.key,
                p.name,
                p.id_masked,
                json.dumps([c.model_dump(mode="json") for c in p.qualifications]),
                p.health_cert_expires,
                p.health_check_on,
                p.training_on,
                p.ban.source if p.ban else None,
                p.ban.on if p.ban else None,
                now,
            )
            for p in changes.people
        ],
    )
    await conn.executemany(
        "UPDATE people SET ban_source = $2, banned_on = $3, updated_at = $4 WHERE key = $1 AND banned_on IS NULL",
        [(k, b.source, b.on, now) for k, b in changes.bans.items()],
    )


async def record_roles(conn: asyncpg.Connection, f: Facility, now: datetime) -> None:
    """The facility's staff as roles of people: new ones open at `now`, those no longer listed close."""
    current = [(s.person, s.id, s.role.value) for s in f.staff if s.person is not None]
    await conn.execute(
        """UPDATE person_roles r SET until = $2 WHERE r.facility_id = $1 AND r.until IS NULL
           AND (r.person_key, r.staff_id, r.role) NOT IN
               (SELECT * FROM unnest($3::text[], $4::text[], $5::text[]))""",
        f.id,
        now,
        [c[0] for c in current],
        [c[1] for c in current],
        [c[2] for c in current],
    )
    await conn.executemany(
        """INSERT INTO person_roles (person_key, facility_id, staff_id, role, since) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (person_key, facility_id, staff_id) WHERE until IS NULL DO NOTHING""",
        [(key, f.id, sid, role, now) for key, sid, role in current],
    )


async def fetch_register(conn: asyncpg.Connection) -> dict[str, Person]:
    """Every person of the register, as contract models (the alert engine's register)."""
    rows = await conn.fetch("SELECT * FROM people ORDER BY key")
    return {
        r["key"]: Person.model_validate(
            {
                "key": r["key"],
                "name": r["name"],
                "id_masked": r["id_masked"],
                "qualifications": json.loads(r["qualifications"]),
                "health_cert_expires": r["health_cert_expires"],
                "health_check_on": r["health_check_on"],
                "training_on": r["training_on"],
                "ban": {"source": r["ban_source"], "on": r["banned_on"]} if r["banned_on"] else None,
            }
        )
        for r in rows
    }


async def roles_of(conn: asyncpg.Connection, key: str) -> list[asyncpg.Record]:
    """A person's roles at facilities, newest first."""
    return list(
        await conn.fetch(
            "SELECT facility_id, staff_id, role, since, until FROM person_roles WHERE person_key = $1"
            " ORDER BY since DESC",
            key,
        )
    )
