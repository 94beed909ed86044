"""The local stack: private Mosquitto and PostgreSQL+TimescaleDB instances under a state directory.

`up` is idempotent: it installs what is missing (scripts/install-system-deps.sh), initialises
the data directories once, starts the servers unless they already run, and records their URLs in
`stack.json`. `down` stops only the processes this state directory started (by pid, after
checking the pid still belongs to our own server). The machine's own services on 1883/5432 are
never touched or used.

Why the Mosquitto queue limits are what they are: the broker's default `max_queued_messages`
is 1000 per client, and when a QoS 1 subscriber (ingest, whose persistent session is the
buffer while it restarts or waits for the database) falls further behind, Mosquitto discards
messages silently. We set it to 1,000,000 (hours of a city's traffic, a bounded few hundred MB
of broker memory at worst) so that nothing is dropped in any outage we plan for, and abandoned
sessions expire after 7 days so the queue cannot grow forever.
"""

from __future__ import annotations

import contextlib
import grp
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from runtime import backup, standby
from storage.roles import SERVICES, role_name

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-system-deps.sh"
DEFAULT_STATE_DIR = REPO_ROOT / ".state"
DEFAULT_PG_PORT = 55432
DEFAULT_MQTT_PORT = 51883
DB_USER = "carewatch"
DB_NAME = "carewatch"
MOSQUITTO_QUEUE_LIMIT = 1_000_000


def private_write(path: Path, text: str | bytes, mode: int = 0o600, group: str | None = None) -> None:
    """Write a file that holds a secret: created with `mode` (never briefly world-readable), in
    full or not at all (a temporary file renamed into place)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # a leftover of a crash keeps its old mode: start afresh
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    if group is not None and os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            os.chown(tmp, 0, grp.getgrnam(group).gr_gid)  # the broker reads it after dropping privileges
    os.replace(tmp, path)


class StackError(RuntimeError):
    """The local stack could not be installed, started or stopped."""


@dataclass(frozen=True, slots=True)
class StackInfo:
    database_url: str
    mqtt_url: str
    pg_port: int
    mqtt_port: int
    state_dir: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def role_passwords(path: Path) -> dict[str, str]:
    """The services' database role passwords (storage.roles) kept in `path`: made once, mode 0600."""
    try:
        known = dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        known = {}
    if all(s in known for s in SERVICES):
        return known
    pw = {s: known.get(s) or secrets.token_urlsafe(18) for s in SERVICES}
    private_write(path, json.dumps(pw, indent=2))
    return pw


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pg_bindir() -> Path:
    """PostgreSQL 15 where present, else the newest major that has TimescaleDB installed."""
    base = Path("/usr/lib/postgresql")
    majors = sorted(
        (p for p in base.glob("*") if (p / "bin" / "postgres").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
        reverse=True,
    )
    with_tsdb = [p for p in majors if Path(f"/usr/share/postgresql/{p.name}/extension/timescaledb.control").exists()]
    for p in with_tsdb:
        if p.name == "15":
            return p / "bin"
    if with_tsdb:
        return with_tsdb[0] / "bin"
    raise StackError("no PostgreSQL with TimescaleDB found: run scripts/install-system-deps.sh")


def install(browser: bool = False) -> None:
    """Run the idempotent system installer (apt + TimescaleDB build when missing)."""
    args = ["bash", str(INSTALL_SCRIPT)] + (["--browser"] if browser else [])
    if subprocess.run(args, check=False).returncode != 0:
        raise StackError(f"{INSTALL_SCRIPT} failed")


def _needs_install() -> bool:
    try:
        pg_bindir()
    except StackError:
        return True
    if not backup.installed():
        return True
    return shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists()


def _mosquitto_bin() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _pid_alive(pid: int, must_contain: str) -> bool:
    """True when pid runs and its command line mentions must_contain (our data dir or config)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return must_contain in cmdline


def broker_conf(port: int, mq_dir: Path, *, bind_client_ids: bool) -> str:
    """The local stack's Mosquitto config. With bind_client_ids (once `carewatch provision` has made
    the broker refuse anonymous clients) a client's id is its username, so one credential cannot take
    over another client's session and its queued QoS 1 messages by connecting under that client's id.
    The option must follow the `listener` line here: Mosquitto 2.0.11, finding it in an included
    file, applies it to a default listener it then opens on port 1883 of every interface (measured)."""
    conf = [
        "# Written by carewatch stack up; see runtime/stack.py for why the limits are set.",
        "per_listener_settings false",
        f"listener {port} 127.0.0.1",
        *(["use_username_as_clientid true"] if bind_client_ids else []),
        "persistence true",
        f"persistence_location {mq_dir / 'data'}/",
        "autosave_interval 30",
        f"max_queued_messages {MOSQUITTO_QUEUE_LIMIT}",
        "max_queued_bytes 0",
        "persistent_client_expiration 7d",
        "message_size_limit 1048576",
        f"log_dest file {mq_dir / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        f"pid_file {mq_dir / 'mosquitto.pid'}",
        f"include_dir {mq_dir / 'conf.d'}",
    ]
    return "\n".join(conf) + "\n"


class LocalStack:
    """One state directory's private Mosquitto and PostgreSQL."""

    def __init__(self, state_dir: Path, *, fsync: bool = True, backups: bool = False) -> None:
        """fsync: off only for throwaway stacks (tests); backups: archive the WAL with pgBackRest
        (runtime/backup.py) from the next start of PostgreSQL."""
        self.state_dir = state_dir.resolve()
        self.fsync = fsync
        self.backups = backups
        self.db_user = DB_USER
        self.pg_data = self.state_dir / "pg" / "data"
        self.pg_run = self.state_dir / "pg" / "run"
        self.pg_log = self.state_dir / "pg" / "postgres.log"
        self.mq_dir = self.state_dir / "mosquitto"
        self.mq_conf = self.mq_dir / "mosquitto.conf"
        self.mq_pid = self.mq_dir / "mosquitto.pid"
        self.info_file = self.state_dir / "stack.json"
        self.secret_file = self.state_dir / "db-password"

    # -- public ---------------------------------------------------------------------------------
    def up(
        self,
        *,
        pg_port: int | None = None,
        mqtt_port: int | None = None,
        install_missing: bool = True,
        postgres: bool = True,
    ) -> StackInfo:
        if install_missing and _needs_install():
            install()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        old = self.read_info()
        pg_port = pg_port or (old.pg_port if old else None) or self._pick(DEFAULT_PG_PORT)
        mqtt_port = mqtt_port or (old.mqtt_port if old else None) or self._pick(DEFAULT_MQTT_PORT)
        password = self._password()
        if postgres:
            self._start_postgres(pg_port, password)
            if self.backups:
                backup.Backups(self).ensure_stanza()
        self._start_mosquitto(mqtt_port)
        info = StackInfo(
            database_url=f"postgresql://{DB_USER}:{password}@127.0.0.1:{pg_port}/{DB_NAME}",
            mqtt_url=f"mqtt://127.0.0.1:{mqtt_port}",
            pg_port=pg_port,
            mqtt_port=mqtt_port,
            state_dir=str(self.state_dir),
        )
        private_write(self.info_file, json.dumps(asdict(info), indent=2))
        return info

    def down(self) -> list[str]:
        """Stop what this state dir started; return what was stopped."""
        stopped = []
        if standby.Standby(self).down():  # first: the primary stops waiting for it
            stopped.append("standby")
        if self._pg_pid() is not None:
            self._as_pg_user([str(pg_bindir() / "pg_ctl"), "-D", str(self.pg_data), "-m", "fast", "-w", "stop"])
            stopped.append("postgresql")
        pid = self._mq_running_pid()
        if pid is not None:
            self._stop_mosquitto(pid)
            stopped.append("mosquitto")
        return stopped

    def status(self) -> dict[str, object]:
        info = self.read_info()
        return {
            "state_dir": str(self.state_dir),
            "postgresql": "running" if self._pg_pid() else "stopped",
            "mosquitto": "running" if self._mq_running_pid() else "stopped",
            "pg_port": info.pg_port if info else None,
            "mqtt_port": info.mqtt_port if info else None,
        }

    def read_info(self) -> StackInfo | None:
        try:
            return StackInfo(**json.loads(self.info_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    # -- PostgreSQL -----------------------------------------------------------------------------
    def role_passwords(self) -> dict[str, str]:
        return role_passwords(self.state_dir / "db-roles.json")

    def service_database_url(self, service: str) -> str | None:
        """The database as a service's own role, once `carewatch migrate` (or the demo) has let the
        role log in; None before the stack is up."""
        info = self.read_info()
        if info is None:
            return None
        password = self.role_passwords()[service]
        return f"postgresql://{role_name(service)}:{password}@127.0.0.1:{info.pg_port}/{DB_NAME}"

    def _wait_writable(self, port: int, password: str, limit_s: float = 3600) -> None:
        """Until the server is out of recovery: `pg_ctl start -w` returns as soon as it takes connections,
        which a restored directory does (read-only) while it still replays the WAL archive."""
        cmd = [str(pg_bindir() / "psql"), "-h", str(self.pg_run), "-p", str(port), "-U", DB_USER, "-d", "postgres"]
        cmd += ["-tAc", "SELECT pg_is_in_recovery()"]
        deadline = time.monotonic() + limit_s
        while True:
            res = self.run_as_postgres(cmd, {"PGPASSWORD": password})
            if res.returncode == 0 and res.stdout.strip() == "f":
                return
            if time.monotonic() > deadline:
                raise StackError(f"PostgreSQL was still recovering after {limit_s:.0f} s; see {self.pg_log}")
            time.sleep(0.5)

    def owner_password(self) -> str:
        """The database owner's password (the tools that log in as the owner: pgBackRest)."""
        return self._password()

    def _password(self) -> str:
        if self.secret_file.exists():
            return self.secret_file.read_text().strip()
        pw = secrets.token_urlsafe(18)
        private_write(self.secret_file, pw)
        return pw

    @staticmethod
    def _pick(preferred: int) -> int:
        return preferred if port_is_free(preferred) else free_port()

    def run_as_postgres(
        self, cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user."""
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        env = {**os.environ, **(env or {})}
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=timeout)

    def _as_pg_user(self, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        res = self.run_as_postgres(cmd, env)
        if res.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed: {res.stderr.strip() or res.stdout.strip()}")
        return res

    def give_to_postgres(self, path: Path) -> None:
        """As root, make a directory tree the `postgres` user's (what its servers and tools write)."""
        self._chown_for("postgres", path)

    def _chown_for(self, user: str, path: Path) -> None:
        if os.geteuid() != 0:
            return
        shutil.chown(path, user, user)
        for p in path.rglob("*"):
            shutil.chown(p, user, user)

    def server_pids(self) -> dict[str, int | None]:
        """The stack's PostgreSQL postmaster and Mosquitto, where running (for a benchmark's accounting)."""
        return {"postgres": self._pg_pid(), "mosquitto": self._mq_running_pid()}

    def _pg_pid(self) -> int | None:
        pidfile = self.pg_data / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid, str(self.pg_data)) else None

    def _start_postgres(self, port: int, password: str) -> None:
        bindir = pg_bindir()
        pg_root = self.pg_data.parent
        if not (self.pg_data / "PG_VERSION").exists():
            pg_root.mkdir(parents=True, exist_ok=True)
            self.pg_run.mkdir(parents=True, exist_ok=True)
            pwfile = pg_root / "initpw"
            private_write(pwfile, password)
            self._chown_for("postgres", pg_root)
            pg_root.chmod(0o700)
            self._as_pg_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.pg_data),
                    "-U",
                    DB_USER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            )
            pwfile.unlink()
            with (self.pg_data / "postgresql.conf").open("a") as f:
                f.write("\ninclude 'carewatch.conf'\n")
        conf = [
            "listen_addresses = '127.0.0.1'",
            f"port = {port}",
            f"unix_socket_directories = '{self.pg_run}'",
            "shared_preload_libraries = 'timescaledb'",
            "timescaledb.telemetry_level = off",
            "timescaledb.max_background_workers = 4",
            "max_worker_processes = 12",
            "max_connections = 200",
            "shared_buffers = 256MB",
            # Fewer checkpoints, so fewer full-page images in the WAL: the dedup index takes
            # inserts at random places, and each page's first change after a checkpoint is
            # logged whole.
            "max_wal_size = 4GB",
            "checkpoint_timeout = 15min",
            "wal_compression = on",
            f"fsync = {'on' if self.fsync else 'off'}",
            f"synchronous_commit = {'on' if self.fsync else 'off'}",
            f"full_page_writes = {'on' if self.fsync else 'off'}",
        ]
        if self.backups:
            archive = backup.Backups(self)
            archive.write_config(port)
            conf += archive.postgres_conf()
        conf_file = self.pg_data / "carewatch.conf"
        conf_file.write_text("\n".join(conf) + "\n")
        if os.geteuid() == 0:  # the rest of the data dir is the server's since initdb: no tree walk per start
            shutil.chown(conf_file, "postgres", "postgres")
        if self._pg_pid() is None:
            self._as_pg_user(
                [str(bindir / "pg_ctl"), "-D", str(self.pg_data), "-l", str(self.pg_log), "-w", "-t", "60", "start"]
            )
            self._wait_writable(port, password)  # a restored directory replays its WAL archive first
        env = {"PGPASSWORD": password}
        exists = self._as_pg_user(
            [
                str(bindir / "psql"),
                "-h",
                str(self.pg_run),
                "-p",
                str(port),
                "-U",
                DB_USER,
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname='{DB_NAME}'",
            ],
            env,
        ).stdout.strip()
        if exists != "1":
            self._as_pg_user(
                [str(bindir / "createdb"), "-h", str(self.pg_run), "-p", str(port), "-U", DB_USER, DB_NAME], env
            )

    # -- Mosquitto ------------------------------------------------------------------------------
    def _mq_running_pid(self) -> int | None:
        try:
            pid = int(self.mq_pid.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid, str(self.mq_conf)) else None

    def _start_mosquitto(self, port: int) -> None:
        self.mq_dir.mkdir(parents=True, exist_ok=True)
        (self.mq_dir / "data").mkdir(exist_ok=True)
        conf_d = self.mq_dir / "conf.d"
        conf_d.mkdir(exist_ok=True)
        auth = conf_d / "auth.conf"
        if not auth.exists():
            # Replaced by `carewatch provision` with password and ACL files.
            auth.write_text("allow_anonymous true\n")
        if self._mq_running_pid() is not None:
            return
        self.mq_conf.write_text(self._broker_conf(port))
        if os.geteuid() == 0:
            # Mosquitto started as root drops to the `mosquitto` user: let it write its files.
            with contextlib.suppress(KeyError, LookupError):
                self._chown_for("mosquitto", self.mq_dir)
        # -d: mosquitto daemonises itself after reading its config (config errors still fail here)
        # and writes pid_file; we keep no child process object that would outlive this call.
        self.mq_pid.unlink(missing_ok=True)
        with (self.mq_dir / "stdout.log").open("ab") as log:
            res = subprocess.run(
                [_mosquitto_bin(), "-d", "-c", str(self.mq_conf)],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        if res.returncode != 0:
            raise StackError(f"mosquitto exited with {res.returncode}; see {self.mq_dir / 'stdout.log'}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _listening(port):
                return
            time.sleep(0.05)
        raise StackError(f"mosquitto did not listen on 127.0.0.1:{port} within 10 s")

    def _broker_conf(self, port: int) -> str:
        auth = (self.mq_dir / "conf.d" / "auth.conf").read_text()
        return broker_conf(port, self.mq_dir, bind_client_ids="allow_anonymous false" in auth)

    def apply_auth(self) -> str:
        """Make the running broker use the authentication files `carewatch provision` wrote: a SIGHUP
        re-reads the password and ACL files; when the main config changes too (client ids bound to
        usernames once nothing is anonymous), the broker is restarted on its port (persistence keeps
        the queued messages; clients reconnect). Returns "reloaded", "restarted" or "not running"."""
        pid = self._mq_running_pid()
        info = self.read_info()
        if pid is None or info is None:
            return "not running"
        if self.mq_conf.read_text() == self._broker_conf(info.mqtt_port):
            os.kill(pid, signal.SIGHUP)
            return "reloaded"
        self._stop_mosquitto(pid)
        self._start_mosquitto(info.mqtt_port)
        return "restarted"

    def _stop_mosquitto(self, pid: int) -> None:
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if not _pid_alive(pid, str(self.mq_conf)):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid, str(self.mq_conf)):
                time.sleep(0.05)
        self.mq_pid.unlink(missing_ok=True)
        # An exiting process can lose its command line (what _pid_alive reads) before its sockets
        # close: wait for the port too, so that a start right after this one finds it free.
        info = self.read_info()
        deadline = time.monotonic() + 10
        while info is not None and _listening(info.mqtt_port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def destroy(self) -> None:
        """Stop and delete the state directory (tests)."""
        self.down()
        shutil.rmtree(self.state_dir, ignore_errors=True)
