"""Things in an alert's text by their names, not their codes (issue #41 item 2).

The engine writes what an alert is about as references in its text, `⟦device:panic-gate⟧`, `⟦staff:s-0010⟧`,
`⟦class:toddler-1⟧`, `⟦child:c-0012⟧`, `⟦person:…⟧` (a badge that may be staff's or a child's) and
`⟦card:…⟧` (a card the registry does not know); `resolve` turns them into names from the registry in the
reader's language when the text is shown: a page, the API, a WeCom/DingTalk/e-mail message. A name changed
in the registry is the name every alert shows from then on; an alert stored before references existed shows
as it was stored; an id the registry does not know shows as itself.

One way only: a reference becomes a name, never a name a reference. Nothing here invents personal data: a
child has no name in the registry, so a child is shown by its class; a member of staff by the name the
register of people holds (contract.people.Person.name), or by role and number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from contract.labels import label
from contract.registry import CLASS_NAMES, AgeGroup

KINDS = ("device", "staff", "class", "child", "person", "card")
REF = re.compile(r"⟦(device|staff|class|child|person|card):([^⟦⟧]{1,128})⟧")
_NUMBER = re.compile(r"([0-9]+)[a-z]?$")
_CLASS_EN = {
    AgeGroup.INFANT: "Infant class",
    AgeGroup.TODDLER: "Toddler class",
    AgeGroup.OLDER: "Older class",
    AgeGroup.MIXED: "Mixed class",
}


def ref(kind: str, ident: str) -> str:
    """A reference to put in an alert's text: shown by name (resolve), by its id where unknown."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of reference {kind!r}")
    return f"⟦{kind}:{ident}⟧"


@dataclass(frozen=True, slots=True)
class FacilityNames:
    """What one facility's registry says of the things its alerts name (storage.registry.facility_names)."""

    devices: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> (type, location)
    staff: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> (role, the person's name or "")
    classes: Mapping[str, str] = field(default_factory=dict)  # id -> age group
    children: Mapping[str, str] = field(default_factory=dict)  # id -> class id


def class_numbers(classes: Iterable[tuple[str, str]]) -> dict[str, tuple[str, int]]:
    """Each class (id, age group) by its age group's name and, where the facility has more than one of that
    group, its number among them in id order: (age group, number or 0). "托小班 2" for `toddler-2`; the
    registry gives a class no name of its own."""
    ordered = sorted(classes)
    count: dict[str, int] = {}
    for _, group in ordered:
        count[group] = count.get(group, 0) + 1
    seen: dict[str, int] = {}
    out: dict[str, tuple[str, int]] = {}
    for cid, group in ordered:
        seen[group] = seen.get(group, 0) + 1
        out[cid] = (group, seen[group] if count[group] > 1 else 0)
    return out


def class_name(group: str, number: int, lang: str) -> str:
    try:
        g = AgeGroup(group)
    except ValueError:
        return group
    base = CLASS_NAMES[g] if lang == "zh" else _CLASS_EN[g]
    return f"{base} {number}" if number else base


def _short(ident: str) -> str:
    m = _NUMBER.search(ident)
    return str(int(m.group(1))) if m else ""


def name(kind: str, ident: str, names: FacilityNames | None, lang: str) -> str:
    """One reference's name in `lang` ("zh" or "en"); the id itself when the registry does not know it."""
    zh = lang == "zh"
    if kind == "card":
        return f"卡号 {ident}" if zh else f"card {ident}"
    if names is None:
        return ident
    if kind == "device" and ident in names.devices:
        dtype, location = names.devices[ident]
        what = label("device_type", dtype, lang)
        if not location:
            return what
        return f"{location} {what}" if zh else f"{what}, {location}"
    if kind in {"staff", "person"} and ident in names.staff:
        role, person = names.staff[ident]
        if person:
            return person
        n = _short(ident)
        role_name = label("staff_role", role, lang)
        return (f"{role_name}{n}号" if zh else f"{role_name.lower()} no. {n}") if n else role_name
    if kind == "class" and ident in names.classes:
        return class_name(*class_numbers(names.classes.items())[ident], lang)
    if kind in {"child", "person"} and ident in names.children:
        cls = names.children[ident]
        where = class_name(*class_numbers(names.classes.items())[cls], lang) if cls in names.classes else cls
        n = _short(ident)
        if zh:
            return f"{where} {n}号幼儿" if n else f"{where}幼儿"
        return f"child no. {n} of {where}" if n else f"a child of {where}"
    return ident


def resolve(text: str, names: FacilityNames | None, lang: str) -> str:
    """The text with every reference replaced by its name (`name`); text without references as it is."""
    if "⟦" not in text:
        return text
    return REF.sub(lambda m: name(m.group(1), m.group(2), names, lang), text)


def summaries(summary: str, summary_en: str | None, names: FacilityNames | None) -> tuple[str, str]:
    """An alert's stored (summary, summary_en) as shown: each in its own language."""
    return resolve(summary, names, "zh"), resolve(summary_en or summary, names, "en")
