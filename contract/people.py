"""The register of people across the city (CONTRACT §3 "The register of people"; issue #39 item 2).

A person is known by a key derived from their identity document: HMAC-SHA256 of the normalised
number under the deployment's secret salt (`CAREWATCH_PERSON_SALT`), so the same person has the same
key at every facility while the number itself is never stored. A resident identity number has little
entropy (region, birth date, a sequence: about 10^9 a year of birth), so an unkeyed hash would be
reversed by trying them all; the salt is a secret for that reason, like a password, never logged.
What is shown is the masked form, the first 4 and the last 4 characters (`1409**********123X`).

The number is read once, in `hash_identities`, while a registry file is validated; every model after
that holds only the key and the masked form.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# The validation context's key for the salt (pydantic `context=`): registry files are parsed with it.
SALT_CONTEXT = "person_salt"
PERSON_KEY_RE = re.compile(r"^p-[0-9a-f]{32}$")
MASKED_ID_RE = re.compile(r"^[0-9]{4}\*{10}[0-9]{3}[0-9X]$")
PersonKey = Annotated[str, StringConstraints(pattern=PERSON_KEY_RE.pattern)]
MaskedId = Annotated[str, StringConstraints(pattern=MASKED_ID_RE.pattern)]

_ID_NUMBER = re.compile(r"^[0-9]{17}[0-9X]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# How far ahead of an expiry the register warns (issue #39: a warning 30 days ahead, the lapse on expiry).
EXPIRY_WARNING_DAYS = 30


class IdentityError(ValueError):
    """An identity number that cannot be used; the message never contains the number."""


def normalise_id_number(raw: object) -> str:
    """An 18-character resident identity number (GB 11643-1999), upper-case, its check digit verified.
    YAML reads an unquoted number without a final X as an integer: that is accepted too."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise IdentityError("an identity number must be text")
    s = str(raw).strip().upper()
    if not _ID_NUMBER.match(s):
        raise IdentityError("an identity number has 17 digits and a check digit or X")
    total = sum(int(c) * w for c, w in zip(s[:17], _WEIGHTS, strict=True))
    if _CHECK[total % 11] != s[17]:
        raise IdentityError("an identity number's check digit does not match (GB 11643-1999)")
    return s


def person_key(id_number: str, salt: bytes) -> str:
    """The person's stable key: `p-` and 32 hex digits of HMAC-SHA256(salt, normalised number)."""
    if not salt:
        raise IdentityError("no salt for identity numbers (CAREWATCH_PERSON_SALT)")
    digest = hmac.new(salt, normalise_id_number(id_number).encode("ascii"), hashlib.sha256).hexdigest()
    return f"p-{digest[:32]}"


def mask_id(id_number: str) -> str:
    """The form shown to people: the first 4 and the last 4 characters, 10 stars between."""
    s = normalise_id_number(id_number)
    return f"{s[:4]}{'*' * 10}{s[-4:]}"


def with_check_digit(first17: str) -> str:
    """A whole number from its first 17 digits (the simulator and the tests make numbers with it)."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + _CHECK[total % 11]


class Qualification(StrEnum):
    """Certificates the register keeps (issue #39)."""

    CHILDCARE = "childcare_worker"  # 保育员
    INFANT_CARE = "infant_care"  # 育婴员
    TEACHER = "teacher"  # 教师资格
    HEALTH = "health_doctor"  # 保健医 (卫生保健人员)
    GUARD = "security_guard"  # 保安员证


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Certificate(_Model):
    kind: Qualification
    expires: date | None = None  # None: valid without end (教师资格)


class Ban(_Model):
    """A lifetime ban from work with children (终身禁入 / 从业禁止): who decided it, and when."""

    source: Annotated[str, Field(min_length=1, max_length=200)]
    on: date


class Person(_Model):
    key: PersonKey
    name: Annotated[str, Field(max_length=50)] = ""
    id_masked: MaskedId | None = None
    qualifications: list[Certificate] = []
    health_cert_expires: date | None = None  # 健康合格证明
    health_check_on: date | None = None  # the last annual health check (健康体检)
    training_on: date | None = None  # the last annual health-care training (卫生保健培训)
    ban: Ban | None = None


def plus_year(d: date) -> date:
    """The same date a year later (29 February → 28 February): when an annual check runs out."""
    try:
        return d.replace(year=d.year + 1)
    except ValueError:
        return d.replace(year=d.year + 1, day=28)


def hash_identities(data: Any, salt: bytes | None) -> Any:
    """A registry file's raw data with every identity number replaced by its key and masked form.

    `people[*].id_number` becomes `key` and `id_masked`; `facilities[*].staff[*].id_number` becomes
    `person` and `id_masked` (a person the register does not know yet is added with only that). Raises
    IdentityError (never naming the number) when a number is malformed or there is no salt. Does not
    modify `data`."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    if isinstance(out.get("people"), list):
        out["people"] = [_hashed(p, "key", f"people.{i}", salt) for i, p in enumerate(out["people"])]
    if isinstance(out.get("facilities"), list):
        out["facilities"] = [_facility_hashed(f, f"facilities.{i}", salt) for i, f in enumerate(out["facilities"])]
    return out


def _facility_hashed(f: Any, where: str, salt: bytes | None) -> Any:
    if not isinstance(f, dict) or not isinstance(f.get("staff"), list):
        return f
    return f | {"staff": [_hashed(s, "person", f"{where}.staff.{i}", salt) for i, s in enumerate(f["staff"])]}


def _hashed(item: Any, key_field: str, where: str, salt: bytes | None) -> Any:
    """One record with its `id_number` replaced by `key_field` (the person key) and `id_masked`."""
    if not isinstance(item, dict) or "id_number" not in item:
        return item
    if key_field in item:
        raise IdentityError(f"{where}: give id_number or {key_field}, not both")
    if not salt:
        raise IdentityError(f"{where}: an identity number needs the register's salt (CAREWATCH_PERSON_SALT)")
    out = dict(item)
    raw = out.pop("id_number")
    try:
        number = normalise_id_number(raw)
        out[key_field], out["id_masked"] = person_key(number, salt), mask_id(number)
    except IdentityError as err:
        raise IdentityError(f"{where}: {err}") from None
    return out


# The certificates a role needs, any one of them (issue #39; 托育机构设置标准（试行）第十四条 names 保育人员,
# 卫生保健人员 and 安全保卫人员; the certificates are those the plan lists). A role not named needs none beyond
# the health certificate and the annual check and training everyone who works with children needs.
ROLE_QUALIFICATIONS: dict[str, frozenset[Qualification]] = {
    "caregiver": frozenset({Qualification.CHILDCARE, Qualification.INFANT_CARE}),
    "teacher": frozenset({Qualification.TEACHER, Qualification.CHILDCARE, Qualification.INFANT_CARE}),
    "health": frozenset({Qualification.HEALTH}),
    "guard": frozenset({Qualification.GUARD}),
}
# 保健人员: at least one, and one per 150 children enrolled: 托儿所幼儿园卫生保健管理办法 (卫生部、教育部令
# 第76号, 2010) 第十条 ("按照收托150名儿童至少设1名专职卫生保健人员的比例配备"); 托育机构设置标准（试行）
# (2019) requires 卫生保健 staff and gives no figure of its own.
HEALTH_STAFF_PER_CHILDREN = 150


def health_staff_needed(enrolled: int) -> int:
    """Health-care staff a facility with this many children enrolled needs (at least one)."""
    return max(1, -(-enrolled // HEALTH_STAFF_PER_CHILDREN))
