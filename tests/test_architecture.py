"""The shape of the code (README, "Architecture"): which package may import which, and who may
speak SQL. Read from the source with `ast`, so a new import or query in the wrong place fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> the project packages it may import (besides itself). Dependencies point one way:
# the contract at the bottom, storage on it, the service skeleton on both, the services as peers
# above (never importing each other), the CLI composing them, the benchmarks over everything.
ALLOWED: dict[str, set[str]] = {
    "contract": set(),
    "storage": {"contract"},
    "runtime": {"contract", "storage"},
    "ingest": {"contract", "storage", "runtime"},
    "alerts": {"contract", "storage", "runtime", "supervision"},
    "web": {"contract", "storage", "runtime", "supervision"},
    # the government side's business rules (issue #36): above storage, below the web and the services
    "supervision": {"contract", "storage"},
    "gateway": {"contract"},
    "simulators": {"contract"},
    # the composition root; it attaches bench's commands when the checkout has them
    "carewatch": {
        "contract",
        "storage",
        "runtime",
        "supervision",
        "ingest",
        "alerts",
        "web",
        "gateway",
        "simulators",
        "bench",
    },
    "bench": {
        "contract",
        "storage",
        "runtime",
        "supervision",
        "ingest",
        "alerts",
        "web",
        "gateway",
        "simulators",
    },
}
PACKAGES = set(ALLOWED)
# Only storage/ holds SQL against the database. gateway/spool.py is the edge agent's own SQLite file.
SQL_METHODS = {"fetch", "fetchrow", "fetchval", "execute", "executemany", "copy_records_to_table", "copy_to_table"}
SQL_OWNERS = {"storage", "bench"}
NOT_OUR_DATABASE = {Path("gateway/spool.py")}


def _modules() -> list[tuple[str, Path, ast.Module]]:
    out = []
    for pkg in sorted(PACKAGES):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out.append((pkg, path.relative_to(ROOT), ast.parse(path.read_text(encoding="utf-8"))))
    return out


def _imports(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def import_violations() -> list[str]:
    bad = []
    for pkg, path, tree in _modules():
        for line, top in _imports(tree):
            if top in PACKAGES and top != pkg and top not in ALLOWED[pkg]:
                bad.append(f"{path}:{line}: {pkg} imports {top}")
    return bad


def sql_violations() -> list[str]:
    bad = []
    for pkg, path, tree in _modules():
        if pkg in SQL_OWNERS or path in NOT_OUR_DATABASE:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_METHODS
                and node.args
                and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
            ):
                bad.append(f"{path}:{node.lineno}: SQL outside storage/ ({node.func.attr})")
    return bad


def test_every_package_is_in_the_table() -> None:
    on_disk = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name != "tests"}
    assert on_disk == PACKAGES


def test_dependencies_point_one_way() -> None:
    assert import_violations() == []


def test_the_table_itself_has_no_cycle() -> None:
    """Issue #36: `carewatch` and `bench` imported each other (the benchmarks took the local stack from
    the CLI's package); the stack lives in runtime now and no package may reach itself again."""

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in ALLOWED[start])

    assert [p for p in PACKAGES if reaches(p, p)] == []


def test_only_storage_speaks_sql() -> None:
    assert sql_violations() == []


@pytest.mark.parametrize(
    ("pkg", "source", "expect"),
    [
        ("web", "from alerts.rules import Key\n", "web imports alerts"),
        ("ingest", "import web.app\n", "ingest imports web"),
        ("contract", "from storage.registry import load_registry\n", "contract imports storage"),
    ],
)
def test_the_import_check_catches_a_wrong_import(
    pkg: str, source: str, expect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _modules()
    monkeypatch.setattr(
        __import__(__name__, fromlist=["_modules"]),
        "_modules",
        lambda: [*real, (pkg, Path(f"{pkg}/probe.py"), ast.parse(source))],
    )
    assert any(expect in v for v in import_violations())


def test_the_sql_check_catches_a_query_in_a_service(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = ast.parse('async def f(conn):\n    await conn.fetch(f"SELECT * FROM alerts WHERE id = {1}")\n')
    real = _modules()
    monkeypatch.setattr(
        __import__(__name__, fromlist=["_modules"]), "_modules", lambda: [*real, ("web", Path("web/probe.py"), probe)]
    )
    assert sql_violations() == ["web/probe.py:2: SQL outside storage/ (fetch)"]


def test_the_image_holds_every_package_but_the_benchmarks() -> None:
    """The Dockerfile copies each package a service imports (no Docker engine runs here to try it)."""
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")}
    assert PACKAGES - {"bench"} <= copied, f"missing from the image: {sorted(PACKAGES - {'bench'} - copied)}"
    assert "bench" not in copied, "the benchmarks are not part of the services"


# -- modules (issue #36 item 4) ----------------------------------------------------------------------------
# Module by module, every import counts, also those under TYPE_CHECKING and inside functions: a circle of
# modules is one unit however its imports are spelt. The alert engine's rule families and alerts/facility.py
# imported each other (the families took the whole FacilityRuntime); they see a facility through alerts.view.
RULE_FAMILIES = {
    "alerts.alarms",
    "alerts.counting",
    "alerts.devices",
    "alerts.people",
    "alerts.readings",
    "alerts.workforce",
}
# circles not yet untangled, each with why it stands; a new one fails here
KNOWN_CIRCLES: dict[frozenset[str], str] = {
    frozenset(
        {"runtime.backup", "runtime.stack", "runtime.standby"}
    ): "the local stack and its standby, typed both ways",
}


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_graph() -> dict[str, set[str]]:
    trees = {_module_name(path): tree for _pkg, path, tree in _modules()}
    graph: dict[str, set[str]] = {}
    for name, tree in trees.items():
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in trees}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {m for m in [node.module, *(f"{node.module}.{a.name}" for a in node.names)] if m in trees}
        graph[name] = deps - {name}
    return graph


def module_circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected parts of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = set()
            while True:
                w = stack.pop()
                part.add(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(frozenset(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_rule_family_imports_the_facility_runtime() -> None:
    graph = module_graph()
    assert set(graph) >= RULE_FAMILIES
    assert {f for f in RULE_FAMILIES if "alerts.facility" in graph[f]} == set()


def test_modules_import_each_other_in_no_circle() -> None:
    assert [sorted(c) for c in module_circles(module_graph()) if c not in KNOWN_CIRCLES] == []


def test_the_circle_check_catches_a_family_importing_the_facility(monkeypatch: pytest.MonkeyPatch) -> None:
    """The circle this replaced: a family typing its argument as FacilityRuntime, under TYPE_CHECKING."""
    probe = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from alerts.facility import FacilityRuntime\n"
    )
    real = [m for m in _modules() if m[1] != Path("alerts/readings.py")]
    monkeypatch.setattr(
        __import__(__name__, fromlist=["_modules"]),
        "_modules",
        lambda: [*real, ("alerts", Path("alerts/readings.py"), probe)],
    )
    graph = module_graph()
    assert "alerts.facility" in graph["alerts.readings"]
    assert any({"alerts.facility", "alerts.readings"} <= c for c in module_circles(graph))


# -- one clock (issue #36) -------------------------------------------------------------------------------
# Time is judged by the one clock a service, a request or a tick is handed (contract.clock), never by
# reading the machine's clock where it happens to be needed. What may read it anyway, and why: each entry
# is a file and the number of places in it, so a new read fails here until it is argued for.
WALL_READS = {"datetime.now", "datetime.utcnow", "date.today", "time.time", "time.monotonic"}
WALL_ALLOWED: dict[str, tuple[int, str]] = {
    "contract/clock.py": (6, "the clocks themselves"),
    "runtime/stack.py": (6, "real time: deadlines for the local stack's servers to start, recover and stop (I/O)"),
    "runtime/mqtt_source.py": (5, "real time: paho's keepalive and the broker's queue (I/O, not a judgement)"),
    "ingest/service.py": (3, "real time: the age of the cached registry"),
    "alerts/intake.py": (1, "real time: the probe's round trip through the broker"),
    "alerts/ticker.py": (3, "real time: the broker's queue at a probe, and how often a worker behind says so"),
    "web/keys.py": (10, "real time: the age of a cached snapshot (5 s; the users' and the registry's names, 30 s)"),
    "web/middleware.py": (2, "real time: browser sessions and the live stream's check of them"),
    "web/pages/auth.py": (2, "real time: a session's sign-in stamp, the login throttle's window"),
    "web/ratelimit.py": (1, "real time: the API rate limit's token buckets (a scaled demo clock must not scale it)"),
    "gateway/adapters.py": (1, "the edge: a gateway is a device and stamps by its own clock"),
    "gateway/agent.py": (7, "the edge: the gateway's own watchdog, heartbeat and acknowledgement timeouts"),
    "simulators/runner.py": (4, "real time: the publisher's flush timeout; how often a lag is reported"),
    "simulators/loadgen.py": (1, "the load generator's start, two days before the machine's time"),
}
# SQL that reads the database's clock: `now()` / `current_date` / `current_timestamp` in a query string.
SQL_CLOCK = ("now()", "current_date", "current_timestamp", "localtimestamp")
SQL_CLOCK_ALLOWED: dict[str, tuple[int, str]] = {
    "storage/migrate.py": (1, "a column default: when the migration was applied"),
    "storage/roles.py": (1, "carewatch_drop_chunks' guard: nothing younger than its retention, whatever a caller says"),
    # and the audit stamp of a user changed with no clock handed in (a test's setup, a benchmark's): the
    # command line and the demo hand theirs in
    "storage/users.py": (7, "authentication on real time: token expiry, last use, logout"),
    "storage/credentials.py": (2, "stamps of an admin's broker credential changes"),
    "storage/registry.py": (2, "the registry's own load stamps"),
    # people's acts take the request's `now` (an alert's acknowledgement and an order's steps since issues
    # #36 and #37): none is stamped by the database any more
}


def _wall_reads(tree: ast.Module) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if f"{name}.{node.func.attr}" in WALL_READS:
                lines.append(node.lineno)
    return lines


def _sql_clock_reads(tree: ast.Module) -> list[int]:
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings and bare strings
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            low = node.value.lower()
            lines += [node.lineno] * sum(low.count(f) for f in SQL_CLOCK)
    return lines


def clock_violations() -> list[str]:
    bad = []
    for pkg, path, tree in _modules():
        if pkg in {"carewatch", "bench"}:  # the composition root and the benchmarks measure real time
            continue
        for reads, allowed, what in (
            (_wall_reads(tree), WALL_ALLOWED, "reads the machine's clock"),
            (_sql_clock_reads(tree), SQL_CLOCK_ALLOWED, "SQL reads the database's clock"),
        ):
            limit = allowed.get(str(path), (0, ""))[0]
            if len(reads) != limit:
                where = ", ".join(str(n) for n in reads)
                bad.append(f"{path}: {what} {len(reads)} times (allowed {limit}): lines {where}")
    return bad


def test_time_is_judged_by_the_one_clock() -> None:
    assert clock_violations() == []


@pytest.mark.parametrize(
    ("source", "expect"),
    [
        ("from datetime import UTC, datetime\nnow = datetime.now(UTC)\n", "reads the machine's clock 1 times"),
        ("import time\nt = time.monotonic()\n", "reads the machine's clock 1 times"),
        ("q = \"SELECT 1 FROM alerts WHERE opened_at > now() - interval '1 day'\"\n", "database's clock 1 times"),
    ],
)
def test_the_clock_check_catches_a_stray_read(source: str, expect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = _modules()
    monkeypatch.setattr(
        __import__(__name__, fromlist=["_modules"]),
        "_modules",
        lambda: [*real, ("alerts", Path("alerts/probe.py"), ast.parse(source))],
    )
    assert any(v.startswith("alerts/probe.py") and expect in v for v in clock_violations()), clock_violations()


def test_the_suites_slowest_first_list_names_files_that_exist() -> None:
    """tests/conftest.SLOWEST_FIRST orders the suite for its two workers: a renamed file would silently
    fall back to the end, where a long file keeps the suite waiting on one worker."""
    from tests.conftest import SLOWEST_FIRST

    here = Path(__file__).parent
    assert [name for name in SLOWEST_FIRST if not (here / name).is_file()] == []
