"""`carewatch demo` on a machine too busy for its speed: the simulator falls behind the demo's clock, its
devices go silent to the platform and offline alerts follow. The terminal said so; every page says so too
(issue #41: what a newcomer trips over first), from the file the simulator writes its lag to."""

from __future__ import annotations

import secrets
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from carewatch.demo import BEHIND_FILE
from simulators.runner import say_behind
from tests.conftest import as_role
from web.app import create_app


async def test_every_page_says_while_the_demos_simulator_is_behind(
    db: asyncpg.Connection, db_url: str, tmp_path: Path
) -> None:
    behind = tmp_path / BEHIND_FILE
    server = TestServer(
        create_app(as_role(db_url, "web"), secrets.token_bytes(32), simulator_behind=behind), host="127.0.0.1"
    )
    await server.start_server()
    url = str(server.make_url("/login"))

    async def banner(lang: str = "zh") -> str | None:
        async with aiohttp.ClientSession() as s, s.get(url, params={"lang": lang}) as r:
            page = await r.text()
            assert r.status == 200
        if "data-simulator-behind" not in page:
            return None
        return page.split("data-simulator-behind=", 1)[1].split("</div>", 1)[0]

    try:
        assert await banner() is None, "nothing written yet"
        report = say_behind(60.0, behind)  # as `carewatch simulate run --behind-file` writes it
        report(600.4)
        said = await banner()
        assert said is not None and said.startswith('"10"') and "落后约 10 分钟" in said and "--speed" in said
        en = await banner("en")
        assert en is not None and "about 10 min behind" in en
        report(0)  # caught up
        assert await banner() is None
        report(20)  # a moment's jitter is not worth a banner
        assert await banner() is None
        behind.write_text("not a number\n", encoding="utf-8")
        assert await banner() is None
    finally:
        await server.close()
