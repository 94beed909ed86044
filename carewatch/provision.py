"""`carewatch provision`: broker credentials from the registry, and the broker's password and ACL files.

Secrets are generated here, shown once (written to files of mode 0600 under --out, never logged),
and only their mosquitto-format hashes are kept (table mqtt_credentials). Rotating a credential
makes a new secret; revoking one removes it from the password file, so after the broker reloads
(LocalStack.apply_auth for the local stack) that device can no longer connect.

Each ingest worker and each alert shard has a username of its own (contract.broker_acl: the broker
binds a client id to its username, so a shared login is a session two workers take from each other).
How many there are is remembered by the credentials themselves: a later run without
`--ingest-workers` / `--alert-shards` keeps the counts in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import yaml

from contract.broker_acl import (
    SERVICE_ROLES,
    Credential,
    acl_file,
    mosquitto_hash,
    new_secret,
    password_file,
    shard_of_user,
    wanted,
)
from runtime.stack import private_write
from storage import credentials


@dataclass
class ProvisionResult:
    created: list[str] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    active: int = 0
    secrets_files: list[Path] = field(default_factory=list)


async def provision(
    conn: asyncpg.Connection,
    broker_dir: Path,
    out_dir: Path,
    *,
    root: str = "cw/v1",
    rotate: tuple[str, ...] = (),
    revoke: tuple[str, ...] = (),
    ingest_workers: int | None = None,
    alert_shards: int | None = None,
) -> ProvisionResult:
    """`ingest_workers` / `alert_shards`: one credential per worker (None: as many as now active)."""
    res = ProvisionResult()
    facilities = await credentials.devices_by_facility(conn)
    have = await credentials.all_credentials(conn)
    workers, shards = _counts_in_force(have)
    want = {c.username: c for c in wanted(facilities, ingest_workers or workers, alert_shards or shards)}
    unknown = [u for u in (*rotate, *revoke) if u not in want and u not in have]
    if unknown:
        raise ValueError(f"no such credential: {', '.join(unknown)}")
    new: dict[str, tuple[Credential, str]] = {}
    async with conn.transaction():
        for user, c in want.items():
            if user not in have or user in rotate:
                secret = new_secret()
                new[user] = (c, secret)
                await credentials.put_credential(conn, c, mosquitto_hash(secret))
                (res.rotated if user in have else res.created).append(user)
        gone = [u for u in have if u not in want and have[u]["revoked_at"] is None]
        for user in (*revoke, *gone):
            await credentials.revoke_credential(conn, user)
            res.revoked.append(user)
        rows = await credentials.active_credentials(conn)
    res.active = len(rows)
    creds = [Credential(r["username"], r["kind"], r["facility_id"], r["device_id"], r["role"]) for r in rows]
    _write_broker_files(broker_dir, {r["username"]: r["password_hash"] for r in rows}, acl_file(creds, root))
    res.secrets_files = _write_secrets(out_dir, new)
    return res


def _counts_in_force(have: dict[str, asyncpg.Record]) -> tuple[int, int]:
    """How many ingest workers and alert shards the active credentials are for (at least one each)."""
    active = [u for u, r in have.items() if r["revoked_at"] is None and r["kind"] == "service"]
    workers = sum(1 for u in active if have[u]["role"] == "ingest")
    shards = {s.count for u in active if (s := shard_of_user(u)) is not None}
    return max(1, workers), (max(shards) if shards else 1)


def _write_broker_files(broker_dir: Path, hashes: dict[str, str], acl: str) -> None:
    conf_d = broker_dir / "conf.d"
    conf_d.mkdir(parents=True, exist_ok=True)
    private_write(broker_dir / "passwd", password_file(hashes), 0o640, "mosquitto")
    private_write(broker_dir / "acl", acl, 0o640, "mosquitto")
    private_write(conf_d / "auth.conf", auth_conf(broker_dir), 0o644)


def auth_conf(broker_dir: Path) -> str:
    """Mosquitto's authentication settings. The broker also binds each client id to its username
    (`use_username_as_clientid`, in the main config: see runtime.stack.broker_conf for why)."""
    return f"allow_anonymous false\npassword_file {broker_dir / 'passwd'}\nacl_file {broker_dir / 'acl'}\n"


def _write_secrets(out_dir: Path, new: dict[str, tuple[Credential, str]]) -> list[Path]:
    """One file per facility (its gateway and devices) and one for services; mode 0600."""
    if not new:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir.chmod(0o700)
    groups: dict[str, dict[str, str]] = {}
    for user, (c, secret) in new.items():
        groups.setdefault(c.facility_id or "services", {})[user] = secret
    written = []
    for name, entries in sorted(groups.items()):
        path = out_dir / f"{name}.yaml"
        old = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
        merged = {**(old or {}), **entries}
        private_write(path, yaml.safe_dump(merged, sort_keys=True), 0o600)
        written.append(path)
    return written


class CredentialError(ValueError):
    """A worker cannot log in as itself: no credential for it, or a URL naming another worker's."""


def worker_mqtt_url(url: str, username: str, secrets_file: Path | None) -> str:
    """The broker URL a worker connects with, logged in as its own `username`.

    A URL with a username is used as given, unless that username is another worker's of the same
    service: that is the shared login that makes two workers take each other's session (issue #38 F),
    refused here with the name to use instead. A URL without one gets `username` and its secret from
    `secrets_file` (`carewatch provision`'s services.yaml) when that file exists; an anonymous broker
    (the test suite's) is left anonymous when it does not."""
    parts = urlsplit(url)
    role = _role_of(username)
    if parts.username:
        if parts.username != username and role is not None and _role_of(parts.username) == role:
            raise CredentialError(
                f"this worker logs in as {username}, not {parts.username} (another worker's login: the broker"
                f" would hand the session back and forth); take {username}'s secret from `carewatch provision`"
            )
        return url
    if secrets_file is None or not secrets_file.exists():
        return url
    secrets_ = yaml.safe_load(secrets_file.read_text(encoding="utf-8")) or {}
    secret = secrets_.get(username) if isinstance(secrets_, dict) else None
    if not secret:
        raise CredentialError(
            f"no credential for {username} in {secrets_file}: run `carewatch provision` with enough"
            " --ingest-workers / --alert-shards for this worker"
        )
    netloc = f"{quote(username, safe='')}:{quote(str(secret), safe='')}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _role_of(username: str) -> str | None:
    for role in SERVICE_ROLES:
        base = f"carewatch-{role}"
        if username == base or username.startswith(base + "-"):
            return role
    return None
