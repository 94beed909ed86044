"""Schemathesis against /api/v1/openapi.json, over real HTTP to the app on a real database.

The run (examples, coverage and fuzzing phases, positive and negative data) must find no 5xx and
no response that the document does not describe: status code, content type, headers and body
schema. It runs as the admin (who sees and may do everything, registry loads included) and once
more as a county inspector. The stream is left out: it never ends by design.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from contract.rules import Condition, Key
from simulators.registry_gen import generate_registry
from storage.alerts import open_alert
from storage.registry import load_registry
from storage.users import create_user
from tests.conftest import as_role
from web.app import create_app

REG = generate_registry(4, seed=11)
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "ignored_auth",
    )
)
# where screenshots and reports go: test-artifacts/, or `carewatch screenshots --out DIR`'s directory
ARTIFACTS = Path(os.environ.get("CAREWATCH_ARTIFACTS") or Path(__file__).resolve().parent.parent / "test-artifacts")


@pytest.fixture
async def server(db: asyncpg.Connection, db_url: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
    await load_registry(db, REG)
    f = REG.facilities[0]
    await open_alert(
        db, f.id, Key("fire_alarm", "smoke-nap1"), Condition("critical", "火警", "fire"), datetime.now(UTC)
    )
    _, admin = await create_user(db, "admin", "admin", None)
    _, insp = await create_user(db, "insp", "inspector", None, county=f.county)
    _, oper = await create_user(db, "op", "operator", None, facility=f.id)
    # no rate limit: Schemathesis sends a few hundred requests a second with one token, and each should
    # reach its handler (the limit itself: tests/test_attacks.py; its 429 is in the document)
    app = create_app(as_role(db_url, "web"), secrets.token_bytes(32), api_limit=None)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        yield str(srv.make_url("")).rstrip("/"), {"admin": admin, "inspector": insp, "operator": oper}
    finally:
        await srv.close()


async def _schemathesis(base: str, token: str, name: str) -> tuple[int, str]:
    st = Path(sys.executable).with_name("st")
    ARTIFACTS.mkdir(exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        str(st),
        "run",
        f"{base}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        os.environ.get("CAREWATCH_SCHEMATHESIS_EXAMPLES", "25"),
        "--seed",
        "20261129",
        "--exclude-path",
        "/api/v1/stream",
        "--workers",
        "1",  # two workers parse lambdas' source in threads at once: CPython 3.11.7 fails in ast.parse
        "--request-timeout",
        "20",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(ARTIFACTS / f"schemathesis-{name}.xml"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("who", ["admin", "inspector", "operator"])
async def test_api_conforms_to_its_openapi_document(server: tuple[str, dict[str, str]], who: str) -> None:
    base, tokens = server
    rc, out = await _schemathesis(base, tokens[who], who)
    assert rc == 0, out[-8000:]
    assert "No issues found" in out or "passed" in out.lower(), out[-3000:]
