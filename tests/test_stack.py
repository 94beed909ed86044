"""The local stack: idempotent up, down stops exactly what it started."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from runtime.stack import LocalStack, _mosquitto_bin, free_port


def _pids_mentioning(text: str) -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def _other_servers() -> set[int]:
    """Running Mosquitto brokers and PostgreSQL postmasters that live outside the temporary
    directory: the machine's own. A postgres process whose parent is a postgres is a backend or
    helper of a server: those come and go with connections, so they are not counted. Servers under
    the temporary directory belong to other tests running beside this one, which may stop theirs at
    any moment; the decoy below stands for them."""
    out = subprocess.run(["pgrep", "-x", "mosquitto|postgres"], capture_output=True, text=True, check=False)
    pids = {int(p) for p in out.stdout.split()}
    tmp = tempfile.gettempdir()
    servers = set()
    for p in pids:
        cmd, parent = _cmdline(p), _parent(p)
        # A process gone while it was looked at (a backend whose connection ended) read as an empty
        # command line with no parent, and counted as a server that then "vanished" (CI, 2026-12-07); a
        # backend retitles itself "postgres: …", a postmaster keeps its command line; initdb's own
        # short-lived postgres processes (another test's stack being made) are no servers either.
        if not cmd or parent is None or cmd.startswith("postgres:") or " --boot" in cmd or " --single" in cmd:
            continue  # initdb's bootstrap and single-user postgres name no data directory: not servers
        if parent not in pids and tmp not in cmd:
            servers.add(p)
    return servers


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def test_up_is_idempotent_and_down_leaves_nothing() -> None:
    state = Path(tempfile.mkdtemp(prefix="carewatch-stacktest-"))
    state.chmod(0o755)
    before_others = _other_servers()
    # a broker that is not the stack's, started from a directory like the stack's own: down must leave it
    decoy_dir = Path(tempfile.mkdtemp(prefix="carewatch-stacktest-decoy-"))
    (decoy_dir / "mosquitto.conf").write_text(f"listener {free_port()} 127.0.0.1\nallow_anonymous true\n")
    decoy = subprocess.Popen([_mosquitto_bin(), "-c", str(decoy_dir / "mosquitto.conf")], stderr=subprocess.DEVNULL)
    stack = LocalStack(state, fsync=False)
    try:
        info = stack.up(pg_port=free_port(), mqtt_port=free_port())
        ours = _pids_mentioning(str(state))
        assert len(ours) >= 2, "postgres and mosquitto should run from the state dir"
        again = stack.up()
        assert again == info, "a second up reuses ports and servers"
        assert _pids_mentioning(str(state)) == ours, "a second up starts nothing new"
        assert stack.status()["postgresql"] == "running"
        assert sorted(stack.down()) == ["mosquitto", "postgresql"]
        assert _pids_mentioning(str(state)) == set()
        assert stack.status() == {**stack.status(), "postgresql": "stopped", "mosquitto": "stopped"}
        assert stack.down() == []
        # the machine's own servers that were running before, and the decoy, still run
        assert before_others - _other_servers() - ours == set()
        assert decoy.poll() is None, "down stopped a broker it did not start"
    finally:
        decoy.terminate()
        decoy.wait(timeout=10)
        stack.destroy()
        for f in decoy_dir.iterdir():
            f.unlink()
        decoy_dir.rmdir()


def test_down_never_kills_a_foreign_pid() -> None:
    state = Path(tempfile.mkdtemp(prefix="carewatch-stacktest-"))
    stack = LocalStack(state)
    (state / "mosquitto").mkdir()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (state / "mosquitto" / "mosquitto.pid").write_text(str(sleeper.pid))  # stale pid reused by another process
        assert stack.down() == []
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
        stack.destroy()
    assert os.path.exists(state) is False
