"""Backups of the local stack's database with pgBackRest (issue #43): continuous WAL archiving, full and
differential backups into a repository, and point-in-time restore into a fresh data directory.

Everything pgBackRest reads or writes is under the state directory (`pgbackrest/` for its
configuration, log and lock, `backup/` for the repository by default); the machine's own
/etc/pgbackrest is never read (`--config` and `--config-include-path` both point here). A repository
elsewhere (a second disk, or object storage: S3-compatible, Azure, GCS) is pgBackRest's own `repo1-*`
options, written by the operator into `pgbackrest/repo.conf`, which is appended to the `[global]`
section as it is (see the README's operator notes).

WAL is archived as each segment fills, and at least every `ARCHIVE_TIMEOUT_S` seconds when the
database is quiet: that is how much a lost disk can lose (the recovery point) when the repository is
on another disk. A restore replays the archive up to the moment asked for and opens the database
there; nothing of the lost directory is reused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.stack import LocalStack

STANZA = "carewatch"
ARCHIVE_TIMEOUT_S = 60
KEEP_FULL = 2  # full backups kept (with the differentials and WAL they need); older ones expire
BACKUP_TYPES = ("full", "diff", "incr")


class BackupError(RuntimeError):
    """pgBackRest is missing, refused, or failed; the message says what it printed."""


@dataclass(frozen=True, slots=True)
class BackupInfo:
    label: str
    kind: str  # full, diff, incr
    started: datetime
    stopped: datetime
    size_bytes: int  # the database's size at the backup
    repo_bytes: int  # what it takes in the repository (compressed, deduplicated against its prior)
    wal_start: str
    wal_stop: str


def installed() -> bool:
    return shutil.which("pgbackrest") is not None


class Backups:
    """The stack's pgBackRest stanza: its configuration, archiving, backups and restores."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.dir = stack.state_dir / "pgbackrest"
        self.conf = self.dir / "pgbackrest.conf"
        self.extra = self.dir / "repo.conf"  # the operator's repo1-* lines (object storage), if any
        self.repo = stack.state_dir / "backup"

    # -- configuration ---------------------------------------------------------------------------
    def postgres_conf(self) -> list[str]:
        """What PostgreSQL needs to archive its WAL here (archive_mode takes effect on a restart)."""
        return [
            "wal_level = replica",
            "archive_mode = on",
            f"archive_command = '{self._command()} archive-push %p'",
            f"archive_timeout = {ARCHIVE_TIMEOUT_S}",
        ]

    def write_config(self, port: int, data: Path | None = None, run: Path | None = None) -> None:
        """The stanza on the stack's primary, or on the server at `data`/`run` (a promoted standby:
        runtime.standby.Standby.promote)."""
        for d in (self.dir, self.dir / "log", self.dir / "lock", self.dir / "conf.d", self.repo):
            d.mkdir(parents=True, exist_ok=True)
        extra = self.extra.read_text() if self.extra.exists() else ""
        self.conf.write_text(
            "[global]\n"
            f"repo1-path={self.repo}\n"
            f"repo1-retention-full={KEEP_FULL}\n"
            f"log-path={self.dir / 'log'}\n"
            f"lock-path={self.dir / 'lock'}\n"
            "log-level-console=warn\n"
            "log-level-file=info\n"
            "compress-type=lz4\n"
            "start-fast=y\n"  # a backup asked for now starts now, not at the next checkpoint
            f"{extra}\n"
            f"[{STANZA}]\n"
            f"pg1-path={data or self.stack.pg_data}\n"
            f"pg1-port={port}\n"
            f"pg1-socket-path={run or self.stack.pg_run}\n"
            f"pg1-user={self.stack.db_user}\n"
        )
        self.stack.give_to_postgres(self.dir)
        self.stack.give_to_postgres(self.repo)

    def _command(self) -> str:
        return f"pgbackrest --config={self.conf} --config-include-path={self.dir / 'conf.d'} --stanza={STANZA}"

    def _run(self, *args: str, timeout: float = 3600) -> str:
        if not installed():
            raise BackupError("pgBackRest is not installed: run scripts/install-system-deps.sh (Debian: pgbackrest)")
        cmd = [*self._command().split(), *args]
        env = {"PGPASSWORD": self.stack.owner_password()}
        try:
            res = self.stack.run_as_postgres(cmd, env, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise BackupError(f"pgbackrest {args[0]} took longer than {timeout:.0f} s") from err
        if res.returncode != 0:
            raise BackupError(f"pgbackrest {args[0]} failed: {(res.stderr or res.stdout).strip()}")
        return res.stdout

    # -- operations ------------------------------------------------------------------------------
    def ensure_stanza(self) -> None:
        """Create the stanza once the database runs (idempotent: pgBackRest checks what is there)."""
        self._run("stanza-create")

    def check(self) -> None:
        """Archiving works end to end: pgBackRest forces a WAL switch and waits for it in the repository."""
        self._run("check")

    def backup(self, kind: str = "full") -> BackupInfo:
        if kind not in BACKUP_TYPES:
            raise BackupError(f"backup type must be one of {', '.join(BACKUP_TYPES)}, not {kind!r}")
        self._run("backup", f"--type={kind}")
        return self.list()[-1]

    def list(self) -> list[BackupInfo]:
        data: list[dict[str, Any]] = json.loads(self._run("info", "--output=json"))
        found = next((s for s in data if s.get("name") == STANZA), None)
        if found is None:
            return []
        return [_backup_info(b) for b in found.get("backup", [])]

    def restore(self, to: datetime | None, target: Path) -> None:
        """Restore into `target`, which must be absent or empty (a restore never writes over a data
        directory): the latest backup before `to`, then the archived WAL up to `to` (None: all of it),
        after which the database opens for writing when started."""
        if target.exists() and any(target.iterdir()):
            raise BackupError(f"{target} is not empty: move it aside first; a restore never writes over data")
        target.mkdir(parents=True, exist_ok=True)
        target.chmod(0o700)
        self.stack.give_to_postgres(target)
        args = ["restore", f"--pg1-path={target}"]
        if to is not None:
            # pgBackRest keeps a backup's end to the second: the backup is chosen here, the last one ended
            # a whole second before the moment, so that a moment just after a backup finds it too
            usable = [b for b in self.list() if b.stopped <= to - timedelta(seconds=1)]
            if not usable:
                raise BackupError(f"no backup ended before {to.isoformat()}: {self._reach()}")
            when = to.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
            args += [f"--set={usable[-1].label}", "--type=time", f"--target={when}", "--target-action=promote"]
        self._run(*args)

    def _reach(self) -> str:
        found = self.list()
        if not found:
            return "there is no backup yet"
        return f"the earliest moment a restore can reach is {(found[0].stopped + timedelta(seconds=1)).isoformat()}"


def _backup_info(b: dict[str, Any]) -> BackupInfo:
    return BackupInfo(
        label=b["label"],
        kind=b["type"],
        started=datetime.fromtimestamp(b["timestamp"]["start"], UTC),
        stopped=datetime.fromtimestamp(b["timestamp"]["stop"], UTC),
        size_bytes=int(b["info"]["size"]),
        repo_bytes=int(b["info"]["repository"]["delta"]),
        wal_start=b["archive"]["start"],
        wal_stop=b["archive"]["stop"],
    )
