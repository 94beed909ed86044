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
    "alerts": {"contract", "storage", "runtime"},
    "web": {"contract", "storage", "runtime"},
    "gateway": {"contract"},
    "simulators": {"contract"},
    # the composition root; it attaches bench's commands when the checkout has them
    "carewatch": {"contract", "storage", "runtime", "ingest", "alerts", "web", "gateway", "simulators", "bench"},
    "bench": {"contract", "storage", "runtime", "ingest", "alerts", "web", "gateway", "simulators", "carewatch"},
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
