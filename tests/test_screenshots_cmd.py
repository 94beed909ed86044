"""`carewatch screenshots --out DIR` (issue #41): the tours it runs exist and put their pictures where it says."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from carewatch.screenshots import ENV, ROOT, TOURS, screenshots


def test_every_tour_takes_its_pictures_under_the_directory_the_command_names() -> None:
    for tour in TOURS:
        text = (ROOT / tour).read_text()
        assert re.search(r"\.screenshot\(path=", text), f"{tour} takes no screenshot"
        assert '"test-artifacts"' not in text, f"{tour} keeps its pictures in a place of its own"
        assert "ARTIFACTS" in text, f"{tour} does not put its pictures under ARTIFACTS"
    assert ENV in (ROOT / "tests/test_browser.py").read_text()


def test_outside_a_source_checkout_it_says_so(tmp_path: Path, monkeypatch: object) -> None:
    import carewatch.screenshots as mod

    monkeypatch.setattr(mod, "ROOT", tmp_path)  # type: ignore[attr-defined]
    result = CliRunner().invoke(screenshots, ["--out", str(tmp_path / "shots")])
    assert result.exit_code != 0 and "source checkout" in result.output
