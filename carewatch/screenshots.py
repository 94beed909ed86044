"""`carewatch screenshots --out DIR`: a picture of every page for people to look at after a change (issue #41).

The pictures are the ones the browser tests take on their way through the pages, in Debian's headless
Chromium against a private stack with the tests' data: every page of every role in Chinese and English at
1400 px (tests/test_pages.py, which also runs axe-core in each), the duty-room wall at 1920 × 1080
(tests/test_browser_wall.py) and the operator's and the inspector's phone at 390 × 844
(tests/test_browser_phone.py). So it runs from a source checkout with the test dependencies
(`scripts/bootstrap-venv.sh`), and a page that breaks fails here as it fails in the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
TOURS = ("tests/test_pages.py", "tests/test_browser_wall.py", "tests/test_browser_phone.py")
ENV = "CAREWATCH_ARTIFACTS"  # where the browser tests keep what they take (tests/test_browser.py ARTIFACTS)


@click.command("screenshots")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, help="a directory")
def screenshots(out: Path) -> None:
    """Screenshots of every page (zh/en at 1400 px, the wall at 1920x1080, phones at 390x844) into OUT."""
    missing = [t for t in TOURS if not (ROOT / t).exists()]
    if missing:
        raise click.ClickException(f"run it from a source checkout: {', '.join(missing)} not found under {ROOT}")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-n", "0", "-q", "-p", "no:cacheprovider", *TOURS]
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, ENV: str(out)}, check=False)  # noqa: S603
    shots = sorted(out.rglob("*.png"))
    click.echo(f"{len(shots)} screenshots in {out}", err=True)
    if done.returncode != 0:
        raise click.ClickException(f"a page failed its check (pytest exit {done.returncode}): see above")
