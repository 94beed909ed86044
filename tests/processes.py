"""Which processes a test left behind: the test process's live descendants, and any process that
carries this test session's marker in its environment (inherited through every fork, so a server
that daemonized away from its parent is still found; another test session's are not)."""

from __future__ import annotations

import os
from pathlib import Path


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def live() -> dict[int, tuple[int, str]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None and st[1] != "Z":
            out[int(entry)] = st
    return out


MARKER = "CAREWATCH_TEST_SESSION"


def marked(pid: int, value: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{MARKER}={value}".encode() in environ.split(b"\0")


def ours(before: set[int], me: int | None = None) -> dict[int, str]:
    """Processes started since `before` that are ours: descendants of this process, or marked."""
    me = os.getpid() if me is None else me
    procs = live()
    found = {}
    for pid, (ppid, _state) in procs.items():
        if pid in before or pid == me:
            continue
        p, descendant = ppid, False
        for _ in range(64):
            if p == me:
                descendant = True
                break
            if p not in procs or p <= 1:
                break
            p = procs[p][0]
        if descendant or marked(pid, os.environ.get(MARKER, "-")):
            found[pid] = cmdline(pid)
    return found
