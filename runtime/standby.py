"""A hot standby of the local stack's PostgreSQL, with PostgreSQL's own streaming replication (issue #43).

`up` copies the running primary with `pg_basebackup` (which also writes the standby's connection to
it), starts the copy on a port of its own, and makes the primary's commits synchronous to it: a commit
returns once the standby has it on disk, so a failover loses no acknowledged write — ingest acknowledges
a message to the broker only after its commit, and whatever was not committed is still in the broker's
session. The price: while the standby is down, writes on the primary wait (`down` lifts the rule).

`promote` makes the standby the primary (after the old one is gone: never both), and drops the
synchronous rule it inherited, since it has no standby of its own. Services reach whichever is the
primary through a two-host database URL (`failover_url`): libpq's and asyncpg's `target_session_attrs=
read-write` skip a server that is down or read-only, so a service's next reconnection after the
promotion finds the new primary without being restarted or reconfigured.

Plain PostgreSQL tooling rather than Patroni (docs/scaling.md says why): one standby on one site, a
promotion an operator decides.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.backup import Backups

if TYPE_CHECKING:
    from runtime.stack import LocalStack

APPLICATION_NAME = "carewatch_standby"
UNWAIT = ("ALTER SYSTEM RESET synchronous_standby_names", "ALTER SYSTEM RESET synchronous_commit")


class StandbyError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class StandbyInfo:
    port: int
    data: str


class Standby:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.data = stack.state_dir / "pg" / "standby"
        self.run = stack.state_dir / "pg" / "run-standby"
        self.log = stack.state_dir / "pg" / "standby.log"
        self.info_file = stack.state_dir / "standby.json"

    def read_info(self) -> StandbyInfo | None:
        try:
            return StandbyInfo(**json.loads(self.info_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    # -- the standby's own server ----------------------------------------------------------------
    def up(self, port: int) -> StandbyInfo:
        """Copy the primary (once), start the standby on `port`, and make the primary's commits wait for it."""
        primary = self.stack.read_info()
        if primary is None or self.stack.status()["postgresql"] != "running":
            raise StandbyError("the primary is not running: `carewatch stack up` first")
        old = self.read_info()
        port = old.port if old else port
        if not (self.data / "PG_VERSION").exists():
            self._copy(primary.pg_port)
        self._configure(port)
        if not self._running():
            self._pg_ctl("-l", str(self.log), "-w", "-t", "120", "start")
        info = StandbyInfo(port=port, data=str(self.data))
        self.info_file.write_text(json.dumps({"port": info.port, "data": info.data}))
        self._settle(
            primary.pg_port,
            self.stack.pg_run,
            f"ALTER SYSTEM SET synchronous_standby_names = '{APPLICATION_NAME}'",
            # a stack without fsync (tests) commits without waiting at all, for the standby too
            "ALTER SYSTEM SET synchronous_commit = 'on'",
        )
        return info

    def promote(self) -> None:
        """The standby becomes the primary and stops waiting for a standby of its own. Where the stack keeps
        backups, pgBackRest follows it first (its data directory, port and socket), so that the WAL of its
        new timeline is archived from the promotion on and `carewatch backup` backs it up: before, the
        stanza still named the lost primary and the new primary's writes went unarchived until an
        operator edited pgbackrest.conf by hand."""
        info = self._info()
        archive = Backups(self.stack)
        if archive.conf.exists():
            archive.write_config(info.port, data=self.data, run=self.run)
        self._pg_ctl("-w", "-t", "120", "promote")
        self._settle(info.port, self.run, *UNWAIT)
        if archive.conf.exists():
            # its control file names the new timeline only from its first checkpoint on, and pgBackRest refuses
            # a backup until then ("WAL timeline 2 does not match pg_control timeline 1", seen right after)
            self._sql(info.port, self.run, "CHECKPOINT")

    def down(self) -> bool:
        """Stop the standby, first lifting the primary's wait for it (where the primary runs)."""
        if self.read_info() is None:
            return False  # none was ever set up here
        primary = self.stack.read_info()
        if primary is not None and self.stack.status()["postgresql"] == "running":
            self._settle(primary.pg_port, self.stack.pg_run, *UNWAIT)
        if not self._running():
            return False
        self._pg_ctl("-m", "fast", "-w", "stop")
        return True

    def in_recovery(self) -> bool:
        info = self._info()
        return self._sql(info.port, self.run, "SELECT pg_is_in_recovery()").strip() == "t"

    def failover_url(self) -> str:
        """The owner's database URL naming both servers; a connection takes whichever accepts writes."""
        primary, info = self.stack.read_info(), self._info()
        if primary is None:
            raise StandbyError("no local stack here")
        pw = self.stack.owner_password()
        user, db = self.stack.db_user, primary.database_url.rsplit("/", 1)[1]
        hosts = f"127.0.0.1:{primary.pg_port},127.0.0.1:{info.port}"
        return f"postgresql://{user}:{pw}@{hosts}/{db}?target_session_attrs=read-write"

    # -- mechanics ----------------------------------------------------------------------------------
    def _info(self) -> StandbyInfo:
        info = self.read_info()
        if info is None:
            raise StandbyError("no standby here: `carewatch standby up` first")
        return info

    def _copy(self, primary_port: int) -> None:
        self.data.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.data, ignore_errors=True)  # a copy that did not finish is no standby
        conninfo = f"host=127.0.0.1 port={primary_port} user={self.stack.db_user} application_name={APPLICATION_NAME}"
        self._run("pg_basebackup", "-d", conninfo, "-D", str(self.data), "-R", "-X", "stream", "-c", "fast")

    def _configure(self, port: int) -> None:
        self.run.mkdir(parents=True, exist_ok=True)
        self.stack.give_to_postgres(self.run)
        # The copy's carewatch.conf is the primary's, with its own port and socket. The primary's archiving
        # stays: a standby in recovery archives nothing (archive_mode = on, not always), and once promoted
        # it archives its new timeline through the stanza, which `promote` has pointed at it. Without backups
        # on the primary, none here either.
        conf = (self.data / "carewatch.conf").read_text().splitlines()
        archiving = any(c.startswith("archive_mode = on") for c in conf)
        keep = [c for c in conf if not c.startswith(("port", "unix_socket_directories"))]
        if not archiving:
            keep = [c for c in keep if not c.startswith("archive_")] + ["archive_mode = off"]
        text = "\n".join([*keep, f"port = {port}", f"unix_socket_directories = '{self.run}'"])
        (self.data / "carewatch.conf").write_text(text + "\n")
        self.stack.give_to_postgres(self.data / "carewatch.conf")

    def _running(self) -> bool:
        return self.stack.run_as_postgres([self._bin("pg_ctl"), "-D", str(self.data), "status"]).returncode == 0

    def _pg_ctl(self, *args: str) -> None:
        cmd = [self._bin("pg_ctl"), "-D", str(self.data), *args]
        res = self.stack.run_as_postgres(cmd)
        if res.returncode != 0:
            raise StandbyError(f"pg_ctl {' '.join(args)} failed: {(res.stderr or res.stdout).strip()}; see {self.log}")

    def _settle(self, port: int, socket_dir: Path, *settings: str) -> None:
        """ALTER SYSTEM statements, then a reload: they hold from the next transaction on."""
        for sql in (*settings, "SELECT pg_reload_conf()"):
            self._sql(port, socket_dir, sql)

    def _sql(self, port: int, socket_dir: Path, sql: str) -> str:
        cmd = [self._bin("psql"), "-h", str(socket_dir), "-p", str(port), "-U", self.stack.db_user]
        res = self.stack.run_as_postgres([*cmd, "-d", "postgres", "-tAc", sql], self._env())
        if res.returncode != 0:
            raise StandbyError(f"{sql!r} on port {port} failed: {(res.stderr or res.stdout).strip()}")
        return res.stdout

    def _run(self, tool: str, *args: str) -> None:
        res = self.stack.run_as_postgres([self._bin(tool), *args], self._env(), timeout=3600)
        if res.returncode != 0:
            raise StandbyError(f"{tool} failed: {(res.stderr or res.stdout).strip()}")

    def _env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.stack.owner_password()}

    @staticmethod
    def _bin(tool: str) -> str:
        from runtime.stack import pg_bindir  # here: runtime.stack imports this package's modules

        return str(pg_bindir() / tool)
