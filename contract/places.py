"""Xinzhou's counties and townships (乡镇 / 街道) with their official codes, from a maintained data
package (contract/data/xinzhou-divisions.json names its source, version and license). The registry
generator draws real townships from it and the pages show names where codes were."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def _data() -> dict[str, dict[str, str]]:
    text = resources.files("contract").joinpath("data/xinzhou-divisions.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def townships_of(county: str) -> list[str]:
    """The township codes of a county, in code order."""
    return sorted(code for code in _data()["townships"] if code.startswith(county))


def township_name(code: str | None) -> str:
    """The township's name (e.g. 秀容街道), or the code itself when the data does not know it."""
    if not code:
        return ""
    return _data()["townships"].get(code, code)


def county_name_zh(code: str) -> str:
    return _data()["counties"].get(code, code)
