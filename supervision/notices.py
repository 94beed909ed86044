"""Messages about supervision that are neither an alert's nor an order's (issue #40 leftovers), queued in the
notification outbox (storage/notifications.py) for the alert service to send:

- **责令停业整改** ordered, and lifted: to the facility's operators and the inspectors of its township and county.
- **通报** issued: to the operators of each facility it names and the inspectors of each department it names
  (a county's county inspectors, a township's township inspectors).
- **督办 of a deadline**: a complaint not answered, or a filing not reviewed, by its due date is the city's
  (supervision/complaints.py `level_at`, supervision/filing.py `review_level`); the alert service's 督办 sweep
  tells the city's inspectors once per deadline (`sweep_overdue`, beside `orders.escalate_overdue`), on the
  clock it is given. The deadline is marked told in the transaction that queues the messages; only the alert
  service may mark it (migration 046), so no request of a facility's can keep the message from the city.

One message per subscription and event (`notice:<what>:<id>`; migration 046's index): a request retried or a
sweep run twice queues nothing again. Not urgent: inside a user's quiet hours it waits until they end, never
dropped. Messages say what and where, never a complaint's text or contact (a robot's group is no place for
them): the link leads to the page, where the reader's scope decides what they see.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from storage import notices as store
from storage import notifications
from supervision import complaints as complaint_rules
from supervision import documents as document_rules

ZONE = ZoneInfo("Asia/Shanghai")
AREA_LEVELS = ("facility", "township", "county")  # who hears of a suspension: the facility and its area
REASONS_SHOWN = 500  # of a suspension's reasons, in a message

Texts = Callable[[str], tuple[str, list[str]]]  # a subscription's language -> (title, body lines)

_T: dict[str, dict[str, str]] = {
    "zh": {
        "suspended": "责令停业整改",
        "lifted": "解除停业整改",
        "facility": "机构",
        "reasons": "理由",
        "level": "下达层级",
        "lift_reason": "解除理由",
        "open": "查看",
        "circular": "通报",
        "issuer": "发文单位",
        "kind": "类别",
        "number": "文号",
        "complaint_overdue": "投诉逾期未答复",
        "filing_overdue": "备案逾期未审核",
        "due": "期限",
        "now_city": "已逾期，转市级督办",
        "state": "状态",
        "city": "市级",
        "county": "县（区）级",
    },
    "en": {
        "suspended": "Ordered to suspend operation",
        "lifted": "Suspension lifted",
        "facility": "Facility",
        "reasons": "Reasons",
        "level": "Ordered by",
        "lift_reason": "Reason",
        "open": "Open",
        "circular": "Circular",
        "issuer": "Issued by",
        "kind": "Kind",
        "number": "No.",
        "complaint_overdue": "Complaint not answered in time",
        "filing_overdue": "Filing not reviewed in time",
        "due": "Due",
        "now_city": "overdue: now followed up by the city",
        "state": "State",
        "city": "the city",
        "county": "the county",
    },
}
_KIND = {
    "zh": {"commend": "通报表扬", "criticise": "通报批评", "report": "情况通报"},
    "en": {"commend": "commendation", "criticise": "criticism", "report": "report"},
}


def _not_before(sub: notifications.Subscription, timezone: str, now: datetime) -> datetime | None:
    """The end of the user's quiet hours when `now` is inside them (the message waits), else None."""
    local = now.astimezone(ZoneInfo(timezone))
    if not notifications.in_quiet_hours(local.time(), sub.quiet_start, sub.quiet_end) or sub.quiet_end is None:
        return None
    end = local.replace(hour=sub.quiet_end.hour, minute=sub.quiet_end.minute, second=0, microsecond=0)
    return end if end > local else end + timedelta(days=1)


def messages(
    subs: Iterable[notifications.Subscription],
    event: str,
    texts: Texts,
    *,
    facility_id: str | None,
    timezone: str,
    now: datetime,
    levels: Iterable[str] | None = None,
) -> list[notifications.Outgoing]:
    """One message per enabled subscription (of `levels`, when given), in its language."""
    wanted = None if levels is None else set(levels)
    out = []
    for sub in subs:
        if not sub.enabled or (wanted is not None and sub.level not in wanted):
            continue
        title, lines = texts(sub.lang if sub.lang in _T else "zh")
        out.append(
            notifications.Outgoing(
                sub, None, facility_id, event, title, "\n".join(lines), not_before=_not_before(sub, timezone, now)
            )
        )
    return out


def _level(level: str, lang: str) -> str:
    return _T[lang].get(level, level)


def suspension_texts(action: str, s: Mapping[str, Any], facility_name: str, public_url: str) -> Texts:
    """What a suspension ordered (`action` suspended) or lifted says (`s`: storage.suspensions' row)."""

    def texts(lang: str) -> tuple[str, list[str]]:
        t = _T[lang]
        lines = [f"{t['facility']}: {facility_name} ({s['facility_id']})"]
        if action == "suspended":
            lines += [
                f"{t['reasons']}: {s['reasons'][:REASONS_SHOWN]}",
                f"{t['level']}: {_level(s['issued_level'], lang)}",
            ]
        else:
            lines.append(f"{t['lift_reason']}: {(s.get('lift_reason') or '')[:REASONS_SHOWN]}")
        lines.append(f"{t['open']}: {public_url.rstrip('/')}/facilities/{s['facility_id']}")
        return f"【{t[action]}】{facility_name}", lines

    return texts


async def tell_suspension(
    conn: asyncpg.Connection, action: str, s: Mapping[str, Any], public_url: str, now: datetime
) -> int:
    """Queue the messages of a suspension ordered or lifted (`action`: suspended | lifted)."""
    return await _to_facility(
        conn,
        s["facility_id"],
        f"notice:{action}:{s['id']}",
        lambda name: suspension_texts(action, s, name, public_url),
        AREA_LEVELS,
        now,
    )


async def _to_facility(
    conn: asyncpg.Connection,
    facility_id: str,
    event: str,
    texts: Callable[[str], Texts],
    levels: tuple[str, ...],
    now: datetime,
) -> int:
    """Queue a message about one facility to its audience's subscriptions at `levels` (`texts(facility_name)`
    writes it); none when the facility is unknown. Returns the messages queued."""
    aud = await notifications.audience(conn, facility_id)
    if aud is None:
        return 0
    out = messages(
        aud.subscriptions,
        event,
        texts(aud.facility_name),
        facility_id=facility_id,
        timezone=aud.timezone,
        now=now,
        levels=levels,
    )
    return await notifications.enqueue(conn, out, now)


def circular_texts(c: Mapping[str, Any], issuer: Callable[[str, str], str], public_url: str) -> Texts:
    """What an issued circular says of itself (`c`: storage.circulars.detail's); `issuer(department, lang)`
    names its department."""
    department, year, seq = c["number"]
    number = document_rules.number_text(department, "circular", year, seq)

    def texts(lang: str) -> tuple[str, list[str]]:
        t = _T[lang]
        lines = [
            f"{t['number']}: {number}",
            f"{t['issuer']}: {issuer(c['department'], lang)}",
            f"{t['kind']}: {_KIND[lang].get(c['kind'], c['kind'])}",
            f"{t['open']}: {public_url.rstrip('/')}/circulars/{c['id']}",
        ]
        return f"【{t['circular']}】{c['title']}", lines

    return texts


async def tell_circular(
    conn: asyncpg.Connection, c: Mapping[str, Any], issuer: Callable[[str, str], str], public_url: str, now: datetime
) -> int:
    """Queue the messages of an issued circular to what it names: each facility's operators, each
    department's inspectors. A subscription hears of it once, however many of its subjects it concerns."""
    texts = circular_texts(c, issuer, public_url)
    event = f"notice:circular:{c['id']}"
    n = 0
    for subject in c["subjects"]:
        if subject["facility_id"]:
            n += await _to_facility(conn, subject["facility_id"], event, lambda _name: texts, ("facility",), now)
        else:
            subs = await store.area_subscriptions(conn, subject["area"])
            n += await notifications.enqueue(
                conn, messages(subs, event, texts, facility_id=None, timezone=str(ZONE), now=now), now
            )
    return n


def overdue_texts(kind: str, subject_id: int, due_at: datetime, facility_name: str, public_url: str) -> Texts:
    """What a complaint or a filing past its deadline says: which facility, the deadline, and that it is the
    city's now; never what was complained of or who complained."""
    path = f"/complaints/{subject_id}" if kind == "complaint" else "/filing"

    def texts(lang: str) -> tuple[str, list[str]]:
        t = _T[lang]
        lines = [
            f"{t['facility']}: {facility_name}",
            f"{t['due']}: {due_at.astimezone(ZONE):%Y-%m-%d %H:%M}",
            f"{t['state']}: {t['now_city']}",
            f"{t['open']}: {public_url.rstrip('/')}{path}",
        ]
        return f"【{t[f'{kind}_overdue']}】{facility_name}", lines

    return texts


# which statuses wait for the county, for each kind (the rules' own: a complaint open, a filing submitted)
OVERDUE_STATUSES = {"complaint": complaint_rules.OPEN, "filing": ("submitted",)}


async def sweep_overdue(
    conn: asyncpg.Connection, now: datetime, public_url: str, facilities: list[str] | None = None
) -> int:
    """督办 of deadlines: each complaint and filing past its deadline at `now`, not told before, marked told to
    the city and its messages queued to the city's inspectors, in one transaction (a failure tells nothing
    and marks nothing, so the next sweep tries again). Returns the messages queued."""
    n = 0
    for kind, statuses in OVERDUE_STATUSES.items():
        async with conn.transaction():
            for r in await store.flag_overdue(conn, kind, statuses, "city", now, facilities):
                event = f"notice:{kind}_overdue:{r['subject_id']}:{int(r['due_at'].timestamp())}"
                texts = functools.partial(overdue_texts, kind, r["subject_id"], r["due_at"], public_url=public_url)
                n += await _to_facility(conn, r["facility_id"], event, texts, ("city",), now)
    return n
