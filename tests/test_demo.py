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
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import aiohttp
import pytest

from carewatch.demo import BEHIND_FILE, CITY_TZ, _say_if_behind
from contract.calendar import DayKind, day_kind
from runtime.service import STOP_DEADLINE_S
from runtime.stack import LocalStack, free_port
from tests import processes
from tests.helpers import wait_for


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


async def _start_demo(state: Path, port: int, *args: str) -> asyncio.subprocess.Process:
    """`carewatch demo ARGS…` on a private stack under `state`, serving on `port`; stdout piped."""
    state.chmod(0o755)  # PostgreSQL runs as the postgres user when we are root
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "carewatch.cli",
        "demo",
        *args,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")},
            "CAREWATCH_STATE_DIR": str(state),
            "CAREWATCH_HTTP": f"127.0.0.1:{port}",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_demo_prints_the_url_and_the_smoke_alarm_reaches_the_city_inspector() -> None:
    state = Path(tempfile.mkdtemp(prefix="carewatch-demo-test-"))
    port = free_port()
    proc = await _start_demo(state, port, "--alarm-after", "5")
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


# 60x, as the README runs it: at 90x the simulator of 60 facilities was starved beside the suite (2 of 4 fresh
# runs on 2026-12-07: children still on site at 19:04, then a child_not_collected from late pick-ups)
SPEED = 60


def _a_working_afternoon(after: datetime) -> datetime:
    """17:00 on the first ordinary weekday (China's calendar) at least two days after `after`: chosen
    relative to the clock the test runs on, so that it never depends on today's date."""
    day = after.astimezone(CITY_TZ).date() + timedelta(days=2)
    while day.weekday() >= 5 or day_kind(day) is not DayKind.ORDINARY:
        day += timedelta(days=1)
    return datetime.combine(day, dtime(17, 0), CITY_TZ)


async def test_an_accelerated_demo_plays_the_afternoon_on_one_clock() -> None:
    """`carewatch demo --speed 60 --from …` (issue #36): ingest, the engine, the web and the simulator on one
    clock. Started at 17:00 of a working day (the facilities close from 17:00 to 18:30), the first facilities
    have children on site; the header shows the demo's time going at its speed; by 19:00 every child of them is
    collected and none is "not collected"; no device was taken offline by the services' own start. At 60x, as
    the README runs it (at 90x its simulator was starved beside the suite): the two hours of the pick-up take
    120 s. A service left on the machine's clock would refuse the simulator's messages as an hour ahead
    (ingest), or judge pick-ups against the wrong day (the engine): children would stay on site, or be reported
    not collected."""
    start = _a_working_afternoon(datetime.now(UTC))
    state = Path(tempfile.mkdtemp(prefix="carewatch-demo-fast-"))
    port = free_port()
    # the injected alarms come after the test (--alarm-after): this one is about the day
    proc = await _start_demo(
        state, port, "--speed", str(SPEED), "--from", f"{start:%Y-%m-%d %H:%M}", "--alarm-after", "600"
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        await _lines_until(proc.stdout, "Press Ctrl-C", 300, seen)
        assert f"Demo time: {start:%Y-%m-%d} 17:0" in "".join(seen), "".join(seen)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            page = await (await s.get(f"{base}/login")).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf, page
            r = await s.post(f"{base}/login", data={"username": "city", "password": "city-demo", "csrf": csrf.group(1)})
            assert r.status == 200

            async def demo_time() -> datetime:
                page = await (await s.get(f"{base}/alerts?lang=en")).text()
                m = re.search(rf"Demo time (\d\d)-(\d\d) (\d\d):(\d\d) \({SPEED}x\)", page)
                assert m, "the header shows the demo's time"
                month, day, hh, mm = map(int, m.groups())
                return datetime(start.year, month, day, hh, mm, tzinfo=CITY_TZ)

            # the duty-room wall's clock is the demo's too, not the machine's (a newcomer's wall said 04:46
            # while the demo's day was at 17:15)
            wall = await (await s.get(f"{base}/wall?lang=en")).text()
            assert re.search(
                rf'<time id="wall-clock" data-demo>Demo time \d\d-\d\d \d\d:\d\d \({SPEED}x\)</time>', wall
            ), wall[:800]
            assert 'id="wall-demo-time"' in wall, "the repainted part carries the demo's time for the header"
            async with s.get(f"{base}/api/v1/facilities") as r:
                # the first facilities of a county in the demo's registry: children in several classes
                watched = [f["id"] for f in (await r.json())["facilities"]][:6]

            async def on_site() -> tuple[int, set[str]]:
                present, rules = 0, set()
                for fid in watched:
                    async with s.get(f"{base}/api/v1/facilities/{fid}/status") as r:
                        present += (await r.json())["children_present"]
                    async with s.get(f"{base}/api/v1/alerts", params={"facility_id": fid}) as r:
                        rules |= {a["rule"] for a in (await r.json())["alerts"]}
                return present, rules

            # the simulator sends the day so far first (the morning's arrivals): on site before 17:20
            present = 0
            while present == 0 and (first := await demo_time()) < datetime.combine(
                start.date(), dtime(17, 20), CITY_TZ
            ):
                present, _ = await on_site()
                await asyncio.sleep(1)
            assert present > 0, f"children on site by {first:%H:%M} of a working day"
            t0 = time.monotonic()
            deadline = time.monotonic() + 200
            while (now := await demo_time()) < datetime.combine(start.date(), dtime(19, 0), CITY_TZ):
                assert time.monotonic() < deadline, f"the demo's clock reached only {now:%H:%M}"
                await asyncio.sleep(5)
            real = time.monotonic() - t0
            assert (now - first).total_seconds() >= SPEED * real * 0.8 - 120, f"{SPEED}x, give or take a minute a side"
            # A simulator starved by a loaded machine lags the demo's clock and says so (its behind file, the pages'
            # banner): the pick-ups it has not played yet are the world's delay, not the platform's. Seen in a suite
            # run: 4 children still on site at 19:04 of the demo's clock, the year-ahead run beside it. Wait for it
            # to catch up (at most 90 s), then give the platform a few of its ticks.
            behind = state / "logs" / BEHIND_FILE

            async def caught_up() -> bool:
                return _behind_s(behind) == 0

            async def collected() -> bool:
                return (await on_site())[0] == 0

            with contextlib.suppress(AssertionError):  # the assertions below say what was left
                await wait_for(caught_up, 90, "the simulator caught up with its clock")
                await wait_for(collected, 15, "every child collected")
            present, rules = await on_site()
            lag = _behind_s(behind)
            assert present == 0, f"every child collected by {now:%H:%M} (the simulator {lag:.0f} s behind its clock)"
            assert "child_not_collected" not in rules, rules
            # the services' own start is no device's silence: at 60x their seconds of starting were
            # minutes in which the engine listened before the simulator spoke (14 devices "offline" 5 and
            # 6 minutes in). Ten minutes, not longer: a patrol point with a slow clock and no stored
            # status can still go "offline" ~15 minutes after a cold start (seen once; open in #42)
            async with s.get(f"{base}/api/v1/alerts", params={"rule": "device_offline", "status": "all"}) as r:
                early = [
                    (a["facility_id"], a["device_id"])
                    for a in (await r.json())["alerts"]
                    if datetime.fromisoformat(a["opened_at"]) < start + timedelta(minutes=10)
                    and not str(a["device_id"]).startswith("gw")
                ]
            assert early == [], f"devices taken offline in the demo's first minutes: {early}"
        assert proc.returncode is None, "every process of the demo still running"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_DEADLINE_S + 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            for pid in services_of(state):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(LocalStack(state).destroy)
    assert proc.returncode == 0, "".join(seen)


def _behind_s(path: Path) -> float:
    """Seconds of the demo's clock its simulator says it is behind (simulators.runner.say_behind; 0: caught up)."""
    try:
        return float(path.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0.0


def test_the_demo_says_the_simulators_lag_as_it_grows_and_as_it_shrinks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newcomer's demo said "1 min behind" and, much later, "caught up", while the pages' banner said 19
    minutes: only the first crossing was said. The lag (the simulator's behind file, read each second) is said
    at each further step (1, 2, 5, 10, 20 ... minutes), again when it has fallen clearly below the step last
    said, and when it has caught up; a lag that wobbles about a step, or stays put, is not said again."""
    behind = tmp_path / BEHIND_FILE
    said, spoken = 0, []
    lags = (0, 0.5, 1.2, 1.5, 2.6, 4, 5.5, 9, 12, 19, 19.5, 20.1, 19.8, 17, 15.9, 9, 7.9, 5.2, 4.9, 5.3, 3, 1.1, 0, 0)
    for minutes in lags:
        behind.write_text(f"{minutes * 60:.0f}\n", encoding="utf-8")
        said = _say_if_behind(behind, said, 60.0)
        line = capsys.readouterr().err.strip()
        if line:
            spoken.append((minutes, line))
    assert [m for m, _ in spoken] == [1.2, 2.6, 5.5, 12, 20.1, 15.9, 7.9, 3, 1.1, 0], spoken
    lines = [line for _, line in spoken]
    assert "1 min behind" in lines[0] and "too busy for 60x" in lines[0]
    assert "now 3 min behind" in lines[1] and "now 20 min behind" in lines[4]
    assert "catching up: 16 min behind" in lines[5] and "catching up: 1 min behind" in lines[8]
    assert "caught up" in lines[9] and said == 0
