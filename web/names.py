"""Alerts' texts by name for the pages, the API and the stream (contract.names, issue #41 item 2): the
references the engine wrote are resolved here against the registry, once per request, in both languages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import asyncpg

from contract.names import FacilityNames, summaries

if TYPE_CHECKING:
    from web.keys import NameBook


def _alert_rows(value: object, depth: int = 0) -> Iterable[dict[str, Any]]:
    """The alerts (alert_json's dicts: a facility_id and a summary) in a page's context or a response."""
    if depth > 3:
        return
    if isinstance(value, dict):
        if "summary" in value and "rule" in value and isinstance(value.get("facility_id"), str):
            yield value
            return
        for v in value.values():
            yield from _alert_rows(v, depth + 1)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _alert_rows(v, depth + 1)


async def name_alerts(pool: asyncpg.Pool, book: NameBook, value: object) -> None:
    """Every alert in `value` (a dict, a list, a page's context) with its summary and summary_en by name,
    each in its own language; in place. An alert without references is left as stored."""
    rows = [r for r in _alert_rows(value) if "⟦" in str(r.get("summary") or "") + str(r.get("summary_en") or "")]
    if not rows:
        return
    names: Mapping[str, FacilityNames] = await book.get(pool, {r["facility_id"] for r in rows})
    for r in rows:
        r["summary"], r["summary_en"] = summaries(
            str(r["summary"] or ""), r.get("summary_en"), names.get(r["facility_id"])
        )
