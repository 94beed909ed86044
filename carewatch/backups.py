"""`carewatch backup now|list|check`, `carewatch restore --to TIME` and `carewatch standby up|promote|down`:
the local stack's database kept by pgBackRest (runtime/backup.py), restored to a moment into a fresh data
directory, and a hot standby to fail over to (runtime/standby.py)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import UTC, datetime

import click

from carewatch.runtime import local_stack
from contract.config import Settings
from runtime.backup import BACKUP_TYPES, BackupError, Backups
from runtime.stack import LocalStack, StackError, free_port, port_is_free
from runtime.standby import Standby, StandbyError


def _stack() -> LocalStack:
    stack = local_stack(Settings())
    if not stack.backups:
        raise click.ClickException("backups are off (CAREWATCH_BACKUPS=false)")
    if stack.read_info() is None:
        raise click.ClickException("no local stack here: run `carewatch stack up` first")
    return stack


@click.group()
def backup() -> None:
    """Backups of the local stack's database (pgBackRest: WAL archived continuously, full/diff backups)."""


@backup.command("now")
@click.option("--type", "kind", type=click.Choice(BACKUP_TYPES), default="full", show_default=True)
def backup_now(kind: str) -> None:
    """Take a backup now (full: everything; diff: what changed since the last full; incr: since the last)."""
    try:
        info = Backups(_stack()).backup(kind)
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    took = (info.stopped - info.started).total_seconds()
    click.echo(
        f"{info.label}: {info.kind}, {info.size_bytes / 1e6:.1f} MB database, "
        f"{info.repo_bytes / 1e6:.1f} MB stored, {took:.0f} s"
    )


@backup.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a backup.")
def backup_list(as_json: bool) -> None:
    """The backups in the repository, oldest first, and the earliest moment a restore can reach."""
    try:
        found = Backups(_stack()).list()
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    for b in found:
        if as_json:
            click.echo(json.dumps(asdict(b), default=str))
        else:
            click.echo(
                f"{b.label}  {b.kind:<4}  {b.stopped.astimezone():%Y-%m-%d %H:%M:%S %z}  "
                f"{b.size_bytes / 1e6:.1f} MB ({b.repo_bytes / 1e6:.1f} MB stored)"
            )
    if not found:
        click.echo("no backup yet: `carewatch backup now`")
    elif not as_json:
        click.echo(f"a restore can reach any moment from {found[0].stopped.astimezone():%Y-%m-%d %H:%M:%S %z} on")


@backup.command("check")
def backup_check() -> None:
    """WAL archiving works end to end (a segment is switched and must arrive in the repository)."""
    try:
        Backups(_stack()).check()
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    click.echo("archiving works")


@click.command()
@click.option(
    "--to",
    "to",
    default=None,
    help="The moment to restore to (ISO 8601 with its offset); default: the last archived write.",
)
@click.option("--start/--no-start", default=True, show_default=True, help="Start the database once restored.")
def restore(to: str | None, start: bool) -> None:
    """Restore the database into the stack's data directory, which must be gone or moved aside (a
    restore never writes over data): the last backup before --to, then the archived WAL up to it."""
    when = _moment(to) if to else None
    stack = _stack()
    if stack.status()["postgresql"] == "running":
        raise click.ClickException("PostgreSQL is running on this data directory: `carewatch stack down` first")
    t0 = time.monotonic()
    try:
        Backups(stack).restore(when, stack.pg_data)
        if start:
            stack.up()  # waits until the archive is replayed and the database writable
    except (BackupError, StackError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"restored{f' to {when.isoformat()}' if when else ''} in {time.monotonic() - t0:.1f} s")


def _moment(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError as err:
        raise click.BadParameter(f"not an ISO 8601 time: {text!r}", param_hint="--to") from err
    if t.tzinfo is None:
        raise click.BadParameter("give the offset (e.g. +08:00): a bare time is ambiguous", param_hint="--to")
    return t.astimezone(UTC)


@click.group()
def standby() -> None:
    """A hot standby of the local stack's database (streaming replication, synchronous commits)."""


@standby.command("up")
@click.option("--port", type=int, default=None, help="The standby's port (default: 55433, or a free one).")
def standby_up(port: int | None) -> None:
    """Copy the running primary, start the copy, and make every commit wait for it."""
    stack = local_stack(Settings())
    try:
        info = Standby(stack).up(port or (55433 if port_is_free(55433) else free_port()))
    except (StandbyError, StackError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"standby on 127.0.0.1:{info.port}, commits are synchronous to it")
    click.echo("services that should follow a failover: CAREWATCH_DATABASE_URL with both hosts, e.g.")
    click.echo(
        "  postgresql://USER:PASSWORD@127.0.0.1:PRIMARY,127.0.0.1:"
        + f"{info.port}/carewatch?target_session_attrs=read-write"
    )


@standby.command("promote")
def standby_promote() -> None:
    """Fail over: the standby becomes the primary. Only once the old primary is stopped for good."""
    stack = local_stack(Settings())
    if stack.status()["postgresql"] == "running":
        raise click.ClickException(
            "the primary still runs: stop it first (`pg_ctl stop` or lose it); never two primaries"
        )
    try:
        Standby(stack).promote()
    except StandbyError as err:
        raise click.ClickException(str(err)) from err
    click.echo("promoted: services with the two-host URL reconnect to it by themselves")


@standby.command("down")
def standby_down() -> None:
    """Stop the standby (the primary first stops waiting for it)."""
    try:
        stopped = Standby(local_stack(Settings())).down()
    except StandbyError as err:
        raise click.ClickException(str(err)) from err
    click.echo("stopped" if stopped else "the standby was not running")
