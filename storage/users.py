"""Users, passwords (argon2id), API tokens, and the one place where scope is enforced.

Roles (CONTRACT §6): `admin` sees everything; `inspector` is scoped to the city (no county), a
county or a township; `operator` to one facility. Anything outside a user's scope answers 404
and never appears in lists, counts or the stream: every query that reads facilities or alerts
goes through `Scope.sql()` or `Scope.allows()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from contract.errors import DomainError
from contract.ids import COUNTY_RE, TOWNSHIP_RE
from contract.inspection import DEFAULT_DEPARTMENT, DEPARTMENTS

_hasher = PasswordHasher()


class AuthError(DomainError):
    pass


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: str
    county: str | None = None
    township: str | None = None
    facility: str | None = None
    department: str = DEFAULT_DEPARTMENT  # 部门 (contract/inspection.py DEPARTMENTS): an inspector's; 卫健 by default

    @property
    def scope(self) -> Scope:
        return Scope(self.role, self.county, self.township, self.facility)


@dataclass(frozen=True, slots=True)
class Scope:
    role: str
    county: str | None
    township: str | None
    facility: str | None

    def sql(self, column: str = "f", start: int = 1) -> tuple[str, list[str]]:
        """A WHERE fragment over a facilities row aliased `column`, with its parameters."""
        if self.role == "operator":
            return f"{column}.id = ${start}", [self.facility or ""]
        if self.role == "inspector" and self.township:
            return f"{column}.township = ${start}", [self.township]
        if self.role == "inspector" and self.county:
            return f"{column}.county = ${start}", [self.county]
        return "TRUE", []

    def allows(self, facility: asyncpg.Record | dict[str, str]) -> bool:
        if self.role == "operator":
            return facility["id"] == self.facility
        if self.role == "inspector" and self.township:
            return facility["township"] == self.township
        if self.role == "inspector" and self.county:
            return facility["county"] == self.county
        return True

    @property
    def below_city(self) -> bool:
        """A county, township or facility scope (areas are then townships, not counties)."""
        return bool(self.county or self.township or self.facility)

    def describe(self) -> str:
        if self.role == "operator":
            return f"facility {self.facility}"
        return f"township {self.township}" if self.township else f"county {self.county}" if self.county else "city"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    conn: asyncpg.Connection,
    username: str,
    role: str,
    password: str | None,
    *,
    county: str | None = None,
    township: str | None = None,
    facility: str | None = None,
    actor: str = "cli",
    update: bool = False,
    token_days: int | None = 365,
    now: datetime | None = None,
    display_name: str | None = None,
    department: str | None = None,
) -> tuple[int, str]:
    """Create a user (or, with `update`, change an existing one) and issue a fresh API token; return
    (user id, token). The scope is checked: a code that is given must be a real code of the right
    form (an empty `--county ""` is refused, not read as the whole city), a township lies in its
    county, an operator's facility exists, and only the role that uses a scope may have it. `display_name`:
    the person's name the pages show for the login (kept as it is when None on an update). `department`: an
    inspector's 部门 (contract/inspection.py DEPARTMENTS; 卫健 for a new account and kept on an update when
    None); only an inspector is given one."""
    county, township = _check_scope(role, county, township, facility)
    if department is not None and department not in DEPARTMENTS:
        raise AuthError(f"department must be one of {', '.join(DEPARTMENTS)}, not {department!r}")
    if department is not None and department != DEFAULT_DEPARTMENT and role != "inspector":
        raise AuthError("only an inspector belongs to a department other than 卫健 (health)")
    token = "cw_" + secrets.token_urlsafe(32)
    async with conn.transaction():
        exists = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)", username)
        if exists and not update:
            raise AuthError(f"user {username!r} exists: give --update to change its role, scope or password")
        if facility is not None and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM facilities WHERE id = $1)", facility
        ):
            raise AuthError(f"no facility {facility!r} in the registry")
        uid = await conn.fetchval(
            "INSERT INTO users (username, password_hash, role, scope_county, scope_township, scope_facility,"
            " display_name, department) VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, ''), coalesce($8, $9))"
            " ON CONFLICT (username) DO UPDATE SET"
            " password_hash = coalesce(EXCLUDED.password_hash, users.password_hash), role = $3,"
            " scope_county = $4, scope_township = $5, scope_facility = $6,"
            " display_name = coalesce($7, users.display_name),"
            " department = CASE WHEN $3 = 'inspector' THEN coalesce($8, users.department) ELSE $9 END RETURNING id",
            username,
            _hasher.hash(password) if password else None,
            role,
            county,
            township,
            facility,
            display_name.strip() if display_name is not None else None,
            department,
            DEFAULT_DEPARTMENT,
        )
        await conn.execute(
            "INSERT INTO api_tokens (user_id, token_hash, expires_at)"
            " VALUES ($1, $2, now() + make_interval(days => $3::int))",
            uid,
            hash_token(token),
            token_days,
        )
        await audit(
            conn,
            actor,
            "user.create",
            username,
            {"role": role, "county": county, "township": township, "facility": facility, "department": department},
            at=now or await _db_now(conn),
        )
    return uid, token


def _check_scope(
    role: str, county: str | None, township: str | None, facility: str | None
) -> tuple[str | None, str | None]:
    if role not in {"admin", "inspector", "operator"}:
        raise AuthError("role must be admin, inspector or operator")
    if county is not None and not COUNTY_RE.fullmatch(county):
        raise AuthError(f"county must be a 6-digit code, not {county!r} (leave it out for the whole city)")
    if township is not None and not TOWNSHIP_RE.fullmatch(township):
        raise AuthError(f"township must be a 9-digit code, not {township!r}")
    if township is not None and county is not None and not township.startswith(county):
        raise AuthError(f"township {township} is not in county {county}")
    if role == "operator" and not facility:
        raise AuthError("an operator needs --facility")
    if role != "operator" and facility is not None:
        raise AuthError("only an operator is scoped to a facility")
    if role != "inspector" and (county is not None or township is not None):
        raise AuthError("only an inspector is scoped to a county or township")
    if township is not None and county is None:
        county = township[:6]
    return county, township


def _user(r: asyncpg.Record) -> User:
    return User(
        r["id"], r["username"], r["role"], r["scope_county"], r["scope_township"], r["scope_facility"], r["department"]
    )


async def password_record(conn: asyncpg.Connection, username: str) -> asyncpg.Record | None:
    """The user's row for `verify_password` (None: no such user, or disabled)."""
    return await conn.fetchrow("SELECT * FROM users WHERE username = $1 AND NOT disabled", username)


async def verify_password(
    record: asyncpg.Record | None, password: str, executor: Executor | None = None
) -> User | None:
    """The user if the password is right. argon2 (about a third of a second of CPU) runs in a worker
    thread, so that logins never stall the event loop: `executor`'s (the web's run at the lowest CPU
    priority, web/throttle.py), else the loop's default. It needs no database connection, and the caller
    holds none meanwhile (a login flood held the pool's connections and stalled every other request)."""
    loop = asyncio.get_running_loop()
    if record is None or not record["password_hash"]:
        await loop.run_in_executor(executor, _hasher.hash, password)  # same work either way: no enumeration
        return None
    try:
        await loop.run_in_executor(executor, _hasher.verify, record["password_hash"], password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return _user(record)


TOKEN_USE_PRECISION_S = 60  # a token's last use is recorded to the minute, not on every request


async def user_by_token(conn: asyncpg.Connection, token: str) -> User | None:
    """The token's user, unless the token is revoked or expired or the user disabled.

    Its last use is written at most once a minute and without waiting for the disk (a lost minute of
    `last_used_at` in a crash costs nothing): an UPDATE committed on every request made every API
    call wait for a WAL flush behind ingest's writes (bench province)."""
    digest = hash_token(token)
    r = await conn.fetchrow(
        "SELECT u.*, (t.last_used_at IS NULL OR t.last_used_at <= now() - make_interval(secs => $2)) AS stale"
        " FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())"
        " AND NOT u.disabled",
        digest,
        TOKEN_USE_PRECISION_S,
    )
    if r is None:
        return None
    if r["stale"]:  # judged by the database's clock, the one that writes last_used_at
        async with conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = off")
            await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1", digest)
    return _user(r)


async def user_by_session(conn: asyncpg.Connection, uid: int, issued_at: float) -> User | None:
    """The session's user, unless disabled or the session was issued before the user's last logout."""
    r = await conn.fetchrow(
        "SELECT * FROM users WHERE id = $1 AND NOT disabled AND sessions_valid_after < to_timestamp($2)",
        uid,
        issued_at,
    )
    return _user(r) if r else None


async def end_sessions(conn: asyncpg.Connection, uid: int) -> None:
    """Logout: every session of this user issued until now stops working, on every device."""
    await conn.execute("UPDATE users SET sessions_valid_after = now() WHERE id = $1", uid)


async def set_disabled(
    conn: asyncpg.Connection, username: str, disabled: bool, actor: str, now: datetime | None = None
) -> bool:
    """Disable (or enable) a user: a disabled user's sessions and tokens stop working at once."""
    async with conn.transaction():
        done = await conn.fetchval(
            "UPDATE users SET disabled = $2 WHERE username = $1 RETURNING true", username, disabled
        )
        if done:
            await audit(
                conn, actor, "user.disable" if disabled else "user.enable", username, {}, at=now or await _db_now(conn)
            )
    return bool(done)


async def list_users(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT username, role, scope_county, scope_township, scope_facility, disabled, created_at, department"
            " FROM users ORDER BY username"
        )
    )


async def list_tokens(conn: asyncpg.Connection, username: str | None = None) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT t.id, u.username, t.created_at, t.last_used_at, t.expires_at, t.revoked_at"
            " FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE $1::text IS NULL OR u.username = $1"
            " ORDER BY t.id",
            username,
        )
    )


async def revoke_token(conn: asyncpg.Connection, token_id: int, actor: str, now: datetime | None = None) -> bool:
    async with conn.transaction():
        user = await conn.fetchval(
            "UPDATE api_tokens t SET revoked_at = coalesce(t.revoked_at, now()) FROM users u"
            " WHERE t.id = $1 AND u.id = t.user_id RETURNING u.username",
            token_id,
        )
        if user is not None:
            await audit(conn, actor, "token.revoke", user, {"token_id": token_id}, at=now or await _db_now(conn))
    return user is not None


async def audit(
    conn: asyncpg.Connection, actor: str, action: str, target: str, detail: dict[str, object], *, at: datetime
) -> None:
    """One line of the audit log, stamped `at`: the caller's reading of its clock (a request's, the demo's
    accelerated one), never the database's, so the audit page tells the same time as every other page."""
    await conn.execute(
        "INSERT INTO audit_log (actor, action, target, detail, at) VALUES ($1, $2, $3, $4, $5)",
        actor,
        action,
        target,
        json.dumps(detail, ensure_ascii=False, default=str),
        at,
    )


async def _db_now(conn: asyncpg.Connection) -> datetime:
    """The database's time, for a user changed with no clock handed in (a command line, a test's setup)."""
    now: datetime = await conn.fetchval("SELECT now()")
    return now


async def display_names(conn: asyncpg.Connection) -> dict[str, str]:
    """Each login that has a person's name, by login: what the pages show instead of the login."""
    rows = await conn.fetch("SELECT username, display_name FROM users WHERE display_name <> ''")
    return {r["username"]: r["display_name"] for r in rows}
