"""登记备案 (issue #39 item 1) for the pages: a facility's particulars submitted (or a returned filing corrected
and resubmitted) and a filing reviewed. Scope first (404), then who (403: supervision.filing), then the input
(400) and the filing's state (409); each step is audited (`filing.submit`, `filing.resubmit`,
`filing.accept|return|refuse`). Only an accepted filing reaches the registry the engine judges by: it is
written there (storage.registry.load_registry) in the transaction that accepts it, and the engine hears of it
through `registry_changed`, as of an upload."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg
import yaml

from contract.errors import ContractError
from contract.labels import label
from contract.registry import Facility, Registry, parse_registry
from storage import filing as store
from storage import queries
from storage.registry import fetch_registry, load_registry
from storage.users import User, audit
from supervision import filing as rules
from supervision.filing import FilingRefused, filed_part
from web.errors import Conflict, Forbidden, Invalid, NotFound, Refused

TEXT_MAX = 200
PARTICULARS_MAX = 100_000  # characters of the particulars' YAML: a large facility's is about 10,000


def _named(args: dict[str, object]) -> dict[str, object]:
    """A document's code in a reason's arguments as its name in each language (no code on a page)."""
    if "doc" in args:
        kind = str(args.pop("doc"))
        args |= {"doc_zh": label("filing_document", kind, "zh"), "doc_en": label("filing_document", kind, "en")}
    return args


def _refused(err: FilingRefused) -> Refused:
    cls = {"forbidden": Forbidden, "conflict": Conflict}.get(err.kind, Invalid)
    return cls(str(err), err.key, **_named(dict(err.args_)))


def _text(body: dict[str, Any], name: str, required: bool = True) -> str:
    v = body.get(name, "")
    key = "err_filing_document" if name.startswith("doc_") else f"err_filing_{name}"
    args = _named({"doc": name.split("_", 1)[1].rsplit("_", 1)[0]} if name.startswith("doc_") else {})
    if not isinstance(v, str) or "\x00" in v or len(v.strip()) > TEXT_MAX:
        raise Invalid(f"{name} is text of at most {TEXT_MAX} characters", key, **args)
    if required and not v.strip():
        raise Invalid(f"{name} is required", key, **args)
    return v.strip()


def declared_of(body: dict[str, Any]) -> dict[str, Any]:
    """What the registry does not hold, as the form gives it: the address, the 举办者 and each document of
    article 8 (`doc_<kind>_number`, `doc_<kind>_until` YYYY-MM-DD)."""
    docs: dict[str, dict[str, str | None]] = {}
    for kind in rules.DOCUMENTS:
        number = _text(body, f"doc_{kind}_number", required=False)
        until = _text(body, f"doc_{kind}_until", required=False)
        if until:
            try:
                until = date.fromisoformat(until).isoformat()
            except ValueError:
                why = f"doc_{kind}_until is a date (YYYY-MM-DD)"
                raise Invalid(why, "err_filing_date", **_named({"doc": kind})) from None
        docs[kind] = {"number": number, "valid_until": until or None}
    return {"address": _text(body, "address"), "organiser": _text(body, "organiser"), "documents": docs}


def _filed(body: dict[str, Any]) -> dict[str, Any]:
    text = body.get("particulars", "")
    if not isinstance(text, str) or not text.strip():
        raise Invalid("particulars are required (the facility's entry, YAML)", "err_filing_particulars_missing")
    if len(text) > PARTICULARS_MAX:
        raise Invalid("particulars are too long", "err_filing_particulars", detail=f"> {PARTICULARS_MAX}")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0]
        raise Invalid(f"particulars: not valid YAML: {first}", "err_filing_particulars", detail=first) from None
    if not isinstance(data, dict):
        raise Invalid("particulars must be a mapping", "err_filing_particulars", detail="not a mapping")
    if unknown := sorted(set(map(str, data)) - set(rules.FILED_FIELDS)):
        why = f"not a filed particular: {unknown[0]}"
        raise Invalid(why, "err_filing_particulars", detail=why[:100])
    return data


def _entry(current: dict[str, Any], filed: dict[str, Any], salt: bytes | None) -> Facility:
    """The facility's registry entry with `filed` over `current`, validated as a registry file is (the class
    standards, identity numbers hashed and dropped)."""
    try:
        return parse_registry({"facilities": [rules.merged(current, filed)]}, salt).facilities[0]
    except ContractError as err:
        raise Invalid(f"particulars: {err}", "err_filing_particulars", detail=str(err)[:300]) from None


async def current_entry(conn: asyncpg.Connection, facility_id: str) -> dict[str, Any]:
    """The facility's registry entry as the engine judges by it now."""
    [f] = (await fetch_registry(conn, [facility_id])).facilities
    return f.model_dump(mode="json", exclude={"opening_hours": {"closures"}})


async def submit(
    pool: asyncpg.Pool, user: User, facility_id: str, body: Any, *, salt: bytes | None, now: datetime
) -> dict[str, Any]:
    """The facility's particulars submitted: a new filing, or its returned filing corrected. It changes
    nothing the engine judges by until accepted."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    async with pool.acquire() as conn, conn.transaction():
        f = await queries.facility_row(conn, user.scope, facility_id)
        if f is None:
            raise NotFound("no such facility")
        open_row = await store.open_filing(conn, f["id"], lock=True)
        try:
            rules.check_submission(user.scope, open_row)
        except FilingRefused as err:
            raise _refused(err) from None
        entry = _entry(await current_entry(conn, f["id"]), _filed(body), salt)
        declared = declared_of(body)
        try:
            rules.check_documents(declared, now.astimezone(rules.ZONE).date())
        except FilingRefused as err:
            raise _refused(err) from None
        particulars, due = filed_part(entry), rules.review_due(now)
        if open_row is not None:
            row = await store.resubmit(conn, open_row["id"], particulars, declared, user.username, now, due)
            if row is None:
                raise Conflict("the filing changed meanwhile", "err_filing_state")
            action = "filing.resubmit"
        else:
            kind = "initial" if await store.accepted(conn, f["id"]) is None else "amendment"
            try:
                row = await store.submit(conn, f, kind, particulars, declared, user.username, now, due)
            except asyncpg.UniqueViolationError:  # another submission of the facility came first (filings_one_open)
                raise Conflict("a filing of this facility awaits its review", "err_filing_pending") from None
            action = "filing.submit"
        out = store.filing_json(row)
        await audit(conn, user.username, action, f["id"], {"filing": row["id"], "kind": row["kind"]}, at=now)
    return out


async def review(
    pool: asyncpg.Pool, user: User, filing_id: int, body: Any, *, salt: bytes | None, now: datetime
) -> dict[str, Any]:
    """Accept (the filed particulars become the registry; an initial filing gets its number), return or
    refuse (with reasons) a submitted filing."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    reasons = body.get("reasons", "")
    if not isinstance(reasons, str) or len(reasons) > 2000 or "\x00" in reasons:
        raise Invalid("reasons are text of at most 2,000 characters", "err_filing_reasons_long")
    async with pool.acquire() as conn, conn.transaction():
        row = await store.filing(conn, filing_id, lock=True)
        f = None if row is None else await queries.facility_row(conn, user.scope, row["facility_id"])
        if row is None or f is None:
            raise NotFound("no such filing")
        try:
            status = rules.check_review(user.username, user.scope, row, str(body.get("decision", "")), reasons)
        except FilingRefused as err:
            raise _refused(err) from None
        number = None
        if status == "accepted":
            filed = store.filing_json(row)["particulars"]
            entry = _entry(await current_entry(conn, f["id"]), filed, salt)  # the children as they are today
            try:
                await load_registry(conn, Registry(facilities=[entry]), now)
            except asyncpg.IntegrityConstraintViolationError as err:  # what the schema alone can say
                first = str(err).splitlines()[0]
                raise Conflict(f"particulars: {first}", "err_filing_particulars", detail=first[:300]) from None
            if row["kind"] == "initial":
                year = rules.year_of(now)
                number = rules.filing_number(f["county"], year, await store.next_number(conn, f["county"], year))
        try:
            updated = await store.review(conn, row["id"], status, user.username, reasons.strip() or None, now, number)
        except asyncpg.CheckViolationError as err:  # migration 036's guard: never a 500
            why = f"the database refused the review: {str(err).splitlines()[0]}"
            raise Forbidden(why, "err_filing_review_who") from None
        if updated is None:
            raise Conflict("the filing was reviewed meanwhile", "err_filing_state")
        out = store.filing_json(updated)
        verb = {"accepted": "accept", "returned": "return", "refused": "refuse"}[status]
        await audit(conn, user.username, f"filing.{verb}", f["id"], {"filing": row["id"], "number": number}, at=now)
    return out
