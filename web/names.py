"""Alerts' texts by name for the pages, the API and the stream (contract.names, issue #41 item 2): the
references the engine wrote are resolved here against the registry, once per request, in both languages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import asyncpg

from contract.names import FacilityNames, name, summaries

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


async def name_alerts(
    pool: asyncpg.Pool, book: NameBook, value: object, also: Iterable[str] = ()
) -> Mapping[str, FacilityNames]:
    """Every alert in `value` (a dict, a list, a page's context) with its summary and summary_en by name,
    each in its own language; in place. An alert without references is left as stored. Returns the names of
    the facilities read, those of `also` among them (a facility's page names its devices and staff too)."""
    alerts = list(_alert_rows(value))
    rows = [r for r in alerts if "⟦" in str(r.get("summary") or "") + str(r.get("summary_en") or "")]
    wanted = {r["facility_id"] for r in alerts} | set(also)  # subject_of names what each alert is about
    if not wanted:
        return {}
    names = await book.get(pool, wanted)
    for r in rows:
        r["summary"], r["summary_en"] = summaries(
            str(r["summary"] or ""), r.get("summary_en"), names.get(r["facility_id"])
        )
    return names


def subject_of(alert: Mapping[str, Any], names: Mapping[str, FacilityNames], lang: str) -> str:
    """What an alert is about (its device, or the person, class or day of its subject) by name."""
    fid = str(alert.get("facility_id") or "")
    if device := alert.get("device_id"):
        return name("device", str(device), names.get(fid), lang)
    subject = str(alert.get("subject") or "")
    if not subject or subject.startswith("day:"):
        return subject.removeprefix("day:")
    if alert.get("rule") == "class_over_capacity":
        return name("class", subject, names.get(fid), lang)
    shown = name("person", subject, names.get(fid), lang)
    return name("card", subject, None, lang) if shown == subject else shown  # a card the registry does not know
