"""`carewatch web --workers N`: N processes on one port, each serving; all stop with the first."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from runtime.stack import free_port
from tests.conftest import Services
from tests.helpers import wait_for


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:port (state 0A in /proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == want and line.split()[3] == "0A")


async def _healthy(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


async def _launch(services: Services, db_url: str, tmp_path: Path, port: int) -> asyncio.subprocess.Process:
    log = tmp_path / "web.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "carewatch.cli",
            "web",
            "--workers",
            "3",
            env={
                **os.environ,
                "CAREWATCH_DATABASE_URL": db_url,
                "CAREWATCH_MQTT_URL": services.mqtt_url,
                "CAREWATCH_HTTP": f"127.0.0.1:{port}",
                "CAREWATCH_STATE_DIR": str(tmp_path),
            },
            stdout=subprocess.DEVNULL,
            stderr=err,
        )

    async def three_listening() -> bool:
        assert proc.returncode is None, log.read_text()
        return _listeners(port) == 3

    await wait_for(three_listening, 30, "3 processes listening")
    return proc


def _workers(pid: int) -> list[int]:
    return [c for c in _children(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


async def _stop_all(proc: asyncio.subprocess.Process, workers: list[int]) -> None:
    for pid in [proc.pid, *workers]:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)
    await proc.wait()


async def test_workers_share_the_port_and_stop_together(services: Services, db_url: str, tmp_path: Path) -> None:
    port = free_port()
    proc = await _launch(services, db_url, tmp_path, port)
    workers = _workers(proc.pid)
    try:
        assert len(workers) == 2
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
            text = await r.text()
        frozen = re.search(r"^carewatch_gc_frozen_objects (\S+)$", text, re.M)
        assert frozen and float(frozen.group(1)) > 10_000, "a worker settles what it loaded (runtime.collector)"
        # settle()'s own full collection is measured: the pauses histogram is wired before startup ends
        assert 'carewatch_gc_pause_seconds_count{generation="2"}' in text
        # one worker gone: the others still answer every new connection
        os.kill(workers[0], signal.SIGKILL)
        await wait_for(lambda: asyncio.sleep(0, result=_listeners(port) == 2), 10, "the killed worker's socket closed")
        assert all([await _healthy(f"http://127.0.0.1:{port}/healthz") for _ in range(20)])
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
        await wait_for(lambda: asyncio.sleep(0, result=_gone(workers[1])), 10, "the other worker stopped")
        assert _listeners(port) == 0
    finally:
        await _stop_all(proc, workers)


async def test_workers_stop_when_their_parent_is_killed(services: Services, db_url: str, tmp_path: Path) -> None:
    port = free_port()
    proc = await _launch(services, db_url, tmp_path, port)
    workers = _workers(proc.pid)
    try:
        assert len(workers) == 2
        proc.kill()
        await proc.wait()
        await wait_for(
            lambda: asyncio.sleep(0, result=all(_gone(w) for w in workers)), 15, "orphaned workers stopped themselves"
        )
        assert _listeners(port) == 0
    finally:
        await _stop_all(proc, workers)


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has stopped
    except OSError:
        return True
