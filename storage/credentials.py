"""Broker credentials (table mqtt_credentials): only mosquitto-format hashes are kept, never secrets."""

from __future__ import annotations

import asyncpg

from contract.broker_acl import Credential


async def devices_by_facility(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """Every facility's device ids, sorted (a facility without devices maps to [])."""
    rows = await conn.fetch(
        "SELECT f.id, array_remove(array_agg(d.id ORDER BY d.id), NULL) AS devices"
        " FROM facilities f LEFT JOIN devices d ON d.facility_id = f.id GROUP BY f.id"
    )
    return {r["id"]: list(r["devices"]) for r in rows}


async def all_credentials(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    """Every credential ever issued, revoked ones included, by username."""
    return {r["username"]: r for r in await conn.fetch("SELECT * FROM mqtt_credentials")}


async def usernames(conn: asyncpg.Connection) -> set[str]:
    return {r["username"] for r in await conn.fetch("SELECT username FROM mqtt_credentials")}


async def put_credential(conn: asyncpg.Connection, c: Credential, password_hash: str) -> None:
    """Issue or re-issue (rotate, un-revoke) a credential with this hash."""
    await conn.execute(
        "INSERT INTO mqtt_credentials (username, kind, facility_id, device_id, role, password_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO UPDATE SET password_hash = $6,"
        " created_at = now(), revoked_at = NULL",
        c.username,
        c.kind,
        c.facility_id,
        c.device_id,
        c.role,
        password_hash,
    )


async def revoke_credential(conn: asyncpg.Connection, username: str) -> None:
    await conn.execute("UPDATE mqtt_credentials SET revoked_at = now() WHERE username = $1", username)


async def active_credentials(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM mqtt_credentials WHERE revoked_at IS NULL ORDER BY username"))
