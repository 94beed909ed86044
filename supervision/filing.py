"""登记备案 (issue #39 item 1): a facility's filing with the county 卫生健康 department, as pure functions of
rows, scopes and `now`. storage.filing reads and writes filings (migration 036); web.filing calls these first.

The source: 《托育机构登记和备案办法（试行）》 (国家卫生健康委、中央编办、民政部、市场监管总局, 2019). Its
article 7 makes the county 卫生健康 department the one that takes the filings of its county; article 8 names the
documents (营业执照或其他法人登记证书, 场地证明, 工作人员专业资格证明及健康合格证明, 评价为"合格"的托幼机构卫生评价
报告, 消防安全检查合格证明); and the department files a facility within 5 working days of receiving the
materials (在收到备案材料后5个工作日内予以备案). A filing changed after it was accepted (登记信息变更) is filed
again and reviewed the same way.

- The facility's operator (or an admin, for a facility the city registers) *submits*; it is an initial filing
  while the facility has no accepted one, an amendment (变更备案) after.
- An inspector of the facility's county (or of the city) *reviews* it: accepts (备案, a number per county and
  year for an initial filing), returns it for correction with reasons (the operator edits and resubmits; each
  submission is kept) or refuses it with reasons. Nobody reviews a filing they submitted; an operator, a
  township inspector or an admin reviews none (the database refuses them too).
- The review is due by the end of the 5th working day after the day of (re)submission, by China's holiday
  calendar (contract.calendar). Past it, the review is the county's delay and goes up to the city (督办, as an
  order's), which sees it waiting and may review it itself.
- Until a filing is accepted nothing it says reaches what the engine and the credit evaluation judge by
  (classes and their capacity, rooms, staff counted in the ratio, devices): the registry stays as last
  accepted (or as last loaded by an admin). A facility without an accepted filing is 未备案.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contract.calendar import DayKind, day_kind
from contract.registry import Facility
from storage.users import Scope
from supervision.documents import short_name
from supervision.orders import level_of
from supervision.requests import RequestRefused

Row = Mapping[str, Any]
ZONE = ZoneInfo("Asia/Shanghai")  # the county's working days and the number's year are Xinzhou's
REVIEW_WORKING_DAYS = 5  # 托育机构登记和备案办法（试行）: 收到备案材料后5个工作日内予以备案
DECISIONS = {"accept": "accepted", "return": "returned", "refuse": "refused"}
# The documents of article 8, each with its number (and validity where it lapses). The staff's
# qualifications and health certificates are filed with the staff themselves (the register of people).
DOCUMENTS = ("licence", "site", "health_evaluation", "fire_safety")
DOCUMENTS_WITH_VALIDITY = frozenset({"health_evaluation", "fire_safety"})
# Particulars the registry holds that a filing may set; the rest (id, county, time zone, children) are not
# the operator's to file
FILED_FIELDS = ("name", "township", "location", "kind", "opening_hours", "night_watch", "classes", "staff", "devices")


class FilingRefused(RequestRefused):
    """A filing or its review refused. `kind`: `invalid` (400), `forbidden` (403) or `conflict` (409); `key`
    and `args` name the page text (web/i18n.py) that says why."""


def is_working_day(day: date) -> bool:
    """A working day of the national calendar: Monday to Friday outside a holiday block, and a make-up
    Saturday or Sunday (调休上班)."""
    kind = day_kind(day)
    if kind is DayKind.HOLIDAY:
        return False
    return kind is DayKind.MAKEUP or day.weekday() < 5


def review_due(submitted_at: datetime) -> datetime:
    """The end (24:00, Xinzhou's time) of the REVIEW_WORKING_DAYS-th working day after the day a filing was
    (re)submitted: received on a Friday afternoon, the 5 days are the next Monday to Friday."""
    day = submitted_at.astimezone(ZONE).date()
    left = REVIEW_WORKING_DAYS
    while left:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return datetime.combine(day + timedelta(days=1), time(0), ZONE)


def overdue(row: Row, now: datetime) -> bool:
    """A submitted filing not reviewed by its deadline."""
    return row["status"] == "submitted" and now >= row["due_at"]


def review_level(row: Row, now: datetime) -> str | None:
    """Whose the review is: the county's until its deadline, the city's after it (督办); None when nothing
    waits for a review."""
    if row["status"] != "submitted":
        return None
    return "city" if overdue(row, now) else "county"


def may_submit(scope: Scope) -> bool:
    """The facility's operator files its particulars (scope limits them to their own); an admin may file
    for a facility the city registers. Inspectors review, they do not file."""
    return scope.role in {"operator", "admin"}


def may_review(scope: Scope) -> bool:
    """A county inspector (of the facility's county: the caller checked the scope) or a city inspector.
    Not a township (the county department files facilities), not an admin (a technical role), never the
    operator."""
    return scope.role == "inspector" and level_of(scope) in {"county", "city"}


def check_submission(scope: Scope, open_row: Row | None) -> None:
    """Whether this user may submit (a first submission, or a returned filing resubmitted)."""
    if not may_submit(scope):
        raise FilingRefused("only the facility's operator files its particulars", "err_filing_submit_who", "forbidden")
    if open_row is not None and open_row["status"] == "submitted":
        raise FilingRefused(
            "a filing of this facility awaits its review; it can be changed once returned",
            "err_filing_pending",
            "conflict",
        )


def check_review(username: str, scope: Scope, row: Row, decision: str, reasons: str) -> str:
    """Whether `username` may review the filing `row` with `decision`; returns the new status."""
    if decision not in DECISIONS:
        raise FilingRefused("decision must be accept, return or refuse", "err_filing_decision")
    if not may_review(scope):
        raise FilingRefused(
            "only an inspector of the county or the city reviews a filing", "err_filing_review_who", "forbidden"
        )
    if username == row["submitted_by"]:
        raise FilingRefused("nobody reviews a filing they submitted", "err_filing_own", "forbidden")
    if row["status"] != "submitted":
        raise FilingRefused(f"the filing is {row['status']}", "err_filing_state", "conflict")
    if decision != "accept" and not reasons.strip():
        raise FilingRefused("a return or a refusal says why", "err_filing_reasons")
    return DECISIONS[decision]


def check_documents(declared: Mapping[str, Any], today: date) -> None:
    """Each document of article 8 declared with its number; those that lapse valid on the day of filing."""
    docs = declared.get("documents") or {}
    for kind in DOCUMENTS:
        doc = docs.get(kind) or {}
        if not str(doc.get("number") or "").strip():
            raise FilingRefused(f"document {kind} needs its number", "err_filing_document", doc=kind)
        until = doc.get("valid_until")
        if kind in DOCUMENTS_WITH_VALIDITY:
            if not until:
                raise FilingRefused(f"document {kind} needs its validity", "err_filing_validity", doc=kind)
            if date.fromisoformat(until) < today:
                raise FilingRefused(f"document {kind} has expired", "err_filing_expired", doc=kind)


def merged(current: Mapping[str, Any], filed: Mapping[str, Any]) -> dict[str, Any]:
    """The facility's registry entry as it would be with the filing accepted: the filed fields over the
    current entry; the id, county, time zone and children stay the registry's."""
    out = dict(current)
    out.update({k: filed[k] for k in FILED_FIELDS if k in filed})
    return out


def filed_part(f: Facility) -> dict[str, Any]:
    """What a filing stores of an entry: the filed fields, normalised (person keys, never identity numbers)."""
    return f.model_dump(mode="json", include=set(FILED_FIELDS), exclude={"opening_hours": {"closures"}})


def filing_number(county: str, year: int, seq: int) -> str:
    """忻府卫托备〔2026〕3号: the county's short name, 卫托备 (卫生健康, 托育, 备案), the year, the number."""
    return f"{short_name(county)}卫托备〔{year}〕{seq}号"


def year_of(now: datetime) -> int:
    return now.astimezone(ZONE).year


def facility_state(accepted: Row | None, latest: Row | None) -> str:
    """What every page says of a facility's filing: `filed` (an accepted one exists; a pending amendment
    does not change that), otherwise the latest filing's status, or `unfiled` (未备案) without any."""
    if accepted is not None:
        return "filed"
    if latest is None or latest["status"] == "refused":
        return "unfiled"
    return str(latest["status"])
