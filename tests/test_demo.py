"""The README's first command: `carewatch demo` brings everything up, prints the URL and the logins,
and the injected smoke alarm reaches the city inspector's view. Runs the real thing on a private
stack of its own; the first alarm moved from 45 s after the start to 5 (`--alarm-after`), the rest as is."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from carewatch.stack import LocalStack, free_port
from runtime.service import STOP_DEADLINE_S
from tests import processes


async def _lines_until(stream: asyncio.StreamReader, marker: str, limit: float, seen: list[str]) -> None:
    deadline = time.monotonic() + limit
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "demo did not print " + repr(marker) + ":\n" + "".join(seen)
        line = (await asyncio.wait_for(stream.readline(), remaining)).decode()
        assert line, "demo exited:\n" + "".join(seen)
        seen.append(line)
        if marker in line:
            return


async def test_demo_prints_the_url_and_the_smoke_alarm_reaches_the_city_inspector() -> None:
    state = Path(tempfile.mkdtemp(prefix="carewatch-demo-test-"))
    state.chmod(0o755)  # PostgreSQL runs as the postgres user when we are root
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "carewatch.cli",
        "demo",
        "--alarm-after",
        "5",
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")},
            "CAREWATCH_STATE_DIR": str(state),
            "CAREWATCH_HTTP": f"127.0.0.1:{port}",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        await _lines_until(proc.stdout, "Press Ctrl-C", 300, seen)
        text = "".join(seen)
        assert f"open http://127.0.0.1:{port}/" in text
        before_url = text.split("CareWatch is running")[0].strip().splitlines()
        assert all(ln.startswith("[demo]") for ln in before_url), f"a quiet start, progress lines only: {before_url}"
        assert len(before_url) <= 5, before_url
        assert re.search(r"login city\s+password city-demo", text)
        first = re.search(r"A smoke alarm fires in (\S+) about 5 s after the start", text)
        assert first, text
        name = first.group(1)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:  # cookies for an IP host
            page = await (await s.get(f"{base}/login")).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf, page
            r = await s.post(f"{base}/login", data={"username": "city", "password": "city-demo", "csrf": csrf.group(1)})
            assert r.status == 200 and str(r.url) == f"{base}/", "logged in, on the overview"
            async with s.get(f"{base}/api/v1/facilities") as r:
                facility = next(f["id"] for f in (await r.json())["facilities"] if f["name"] == name)
            deadline = time.monotonic() + 150
            rules: set[str] = set()
            while "fire_alarm" not in rules:
                assert time.monotonic() < deadline, f"no fire alarm for {facility}; open: {rules}"
                await asyncio.sleep(2)
                async with s.get(f"{base}/api/v1/alerts", params={"facility_id": facility}) as r:
                    assert r.status == 200
                    rules = {a["rule"] for a in (await r.json())["alerts"]}
            overview = await (await s.get(f"{base}/")).text()
            assert f'data-facility="{facility}"' in overview, "the facility is listed as needing attention"
        assert proc.returncode is None, "every process of the demo still running"
    finally:
        left: dict[int, str] = {}
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # `kill`: the demo stops its services, as on Ctrl-C
            try:
                await asyncio.wait_for(proc.wait(), STOP_DEADLINE_S + 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            left = services_of(state)
            for pid in left:  # ours: the test started the demo that started them
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(LocalStack(state).destroy)
    assert proc.returncode == 0, "".join(seen)
    assert left == {}, f"the demo left its services running: {left}"


def services_of(state: Path) -> dict[int, str]:
    """The demo's services for this state directory (they carry it in their environment). The private
    servers under it are not services: they keep running after the demo, as the README says, until
    `carewatch stack down` (the test destroys them below)."""
    marker = f"CAREWATCH_STATE_DIR={state}".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        cmd = processes.cmdline(int(entry))
        if marker in environ.split(b"\0") and str(state) not in cmd:
            found[int(entry)] = cmd
    return found
