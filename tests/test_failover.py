"""Failover to the hot standby (issue #43): the primary lost in the middle of a stream, the standby
promoted, and ingest, on the two-host database URL, finds the new primary by itself; every message is
stored exactly once on it, none lost (commits were synchronous to the standby, and what was not
committed waited in the broker's session)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from contract.registry import Registry
from runtime.backup import Backups
from runtime.stack import LocalStack, free_port, pg_bindir
from runtime.standby import Standby
from simulators.registry_gen import generate_registry
from storage.migrate import migrate
from storage.registry import load_registry
from tests.conftest import Services
from tests.helpers import registry_obj, wait_for
from tests.test_ingest_faults import DEVICES, assert_exactly_once, healthy, publish_stream, start_ingest, stop_processes
from web.app import create_app
from web.replica import FALLBACKS

pytestmark = pytest.mark.slow  # not `clock`: nothing in it depends on the date


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    """A local stack of its own; with pgBackRest archiving its WAL for a test marked `backups`."""
    state = Path(tempfile.mkdtemp(prefix="cw-failover-"))
    state.chmod(0o755)
    s = LocalStack(state, fsync=False, backups=request.node.get_closest_marker("backups") is not None)
    try:
        s.up(pg_port=free_port(), mqtt_port=free_port())
        yield s
    finally:
        s.destroy()  # the standby too


@pytest.mark.backups
async def test_the_primary_lost_mid_stream_the_standby_promoted_nothing_lost(stack: LocalStack, tmp_path: Path) -> None:
    """... and pgBackRest follows the promotion (issue #43): the new primary's WAL is archived (`backup check`
    forces a segment through) and it is backed up, with nothing edited by hand. Before, the stanza still named
    the lost primary's directory and port: the check failed and the new timeline went unarchived."""
    info = stack.read_info()
    assert info is not None
    conn = await asyncpg.connect(info.database_url)
    try:
        await migrate(conn)
        await load_registry(conn, registry_obj(DEVICES))  # the stream's env-0 … env-19
    finally:
        await conn.close()
    standby = Standby(stack)
    st = standby.up(free_port())
    assert standby.in_recovery()
    url = standby.failover_url()
    services = Services(url, info.mqtt_url)
    root, n, port = "cw/failover", 3000, free_port()
    ingest = start_ingest(services, url, root, "ingest-failover", port, tmp_path / "ingest.log")
    try:
        await wait_for(lambda: healthy(port), 30, "ingest healthy")
        sender = threading.Thread(target=publish_stream, args=(services, root, n, 250.0), name="publisher")
        sender.start()
        standby_url = f"postgresql://{stack.db_user}:{stack.owner_password()}@127.0.0.1:{st.port}/carewatch"
        seen = await asyncpg.connect(standby_url)  # read-only now, but what it has is what was committed
        try:
            await wait_for(lambda: _has(seen, 500), 30, "the first messages replicated")
        finally:
            await seen.close()
        # the primary's machine is lost: no shutdown, no last checkpoint
        lost = stack.run_as_postgres([str(pg_bindir() / "pg_ctl"), "-D", str(stack.pg_data), "-m", "immediate", "stop"])
        assert lost.returncode == 0, lost.stderr
        await asyncio.sleep(2)  # ingest meets a dead database and keeps the rest in the broker
        await asyncio.to_thread(standby.promote)
        assert not standby.in_recovery()
        await asyncio.to_thread(sender.join, 120)
        new_primary = await asyncpg.connect(standby_url)
        try:
            with contextlib.suppress(AssertionError):  # the check below names what is missing
                await wait_for(lambda: _has(new_primary, n), 90, "every message on the new primary")
            await assert_exactly_once(new_primary, n)
        finally:
            await new_primary.close()
        archive = Backups(stack)
        await asyncio.to_thread(archive.check)
        taken = await asyncio.to_thread(archive.backup, "full")
        assert taken.kind == "full" and taken.size_bytes > 0, taken
    finally:
        stop_processes(ingest)


async def _has(conn: asyncpg.Connection, n: int) -> bool:
    return int(await conn.fetchval("SELECT count(DISTINCT msg_id) FROM readings")) >= n


async def test_report_reads_come_from_the_standby_and_fall_back_to_the_primary(stack: LocalStack) -> None:
    """Issue #43 item 4: with `read_database_url` the public pages and the statistics read the hot standby. Shown
    by holding the standby's replay: a facility registered on the primary meanwhile is missing from the public
    list (the standby's view) until the replay resumes. With the standby gone the page is served by the primary
    at once, with the fallback counted."""
    info = stack.read_info()
    assert info is not None
    reg = generate_registry(12, seed=3)
    county = Counter(f.county for f in reg.facilities).most_common(1)[0][0]
    first, second = [f for f in reg.facilities if f.county == county][:2]
    conn = await asyncpg.connect(info.database_url)
    try:
        await migrate(conn)
        await load_registry(conn, Registry(facilities=[first]))
        standby = Standby(stack)
        st = standby.up(free_port())
        standby_url = f"postgresql://{stack.db_user}:{stack.owner_password()}@127.0.0.1:{st.port}/carewatch"
        app = create_app(info.database_url, secrets.token_bytes(32), read_database_url=standby_url)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as s:

                async def listed(name: str) -> bool:
                    async with s.get(server.make_url(f"/public?county={county}")) as r:
                        assert r.status == 200, await r.text()
                        return name in await r.text()

                await wait_for(lambda: listed(first.name), 30, "the first facility on the standby")
                replica = await asyncpg.connect(standby_url)
                try:
                    await replica.execute("SELECT pg_wal_replay_pause()")
                    await load_registry(conn, Registry(facilities=[first, second]))
                    assert await conn.fetchval("SELECT count(*) FROM facilities WHERE id = $1", second.id) == 1
                    assert not await listed(second.name), "read from the standby, whose replay is held"
                    await replica.execute("SELECT pg_wal_replay_resume()")
                    await wait_for(lambda: listed(second.name), 30, "the second facility once replayed")
                finally:
                    await replica.close()
                before = FALLBACKS._value.get()
                await asyncio.to_thread(standby.down)
                await conn.execute("UPDATE facilities SET name = name || '（新址）' WHERE id = $1", second.id)
                assert await listed(f"{second.name}（新址）"), "the standby gone, the primary serves the page"
                assert FALLBACKS._value.get() == before + 1
        finally:
            await server.close()
    finally:
        await conn.close()
