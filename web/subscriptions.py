"""A user's notification subscriptions from the settings page's form: checked here, stored by
storage.notifications, sent by the alert service (alerts/notify.py).

A subscription names a robot's key or token, never a URL (the server posts only to WeCom's and
DingTalk's own hosts). Pasting the whole webhook address the robot's settings show is accepted: the key
is taken from it. Facilities must be in the user's scope. Refusals carry a catalogue key
(web/i18n.py), so the form shows them in the page's language."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from urllib.parse import parse_qs, urlsplit

from contract.ids import FACILITY_ID_RE
from contract.rules import SEVERITIES
from storage.notifications import CHANNELS
from web.errors import Invalid

WECOM_KEY = re.compile(r"[A-Za-z0-9-]{8,64}")
DINGTALK_TOKEN = re.compile(r"[A-Za-z0-9]{16,128}")
DINGTALK_SECRET = re.compile(r"[A-Za-z0-9+/=]{8,200}")
EMAIL = re.compile(r"[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,180}\.[A-Za-z]{2,24}")


FIELDS = ("channel", "target", "secret", "facilities", "min_severity", "quiet_start", "quiet_end", "lang")


@dataclass(frozen=True, slots=True)
class SubscriptionForm:
    channel: str
    target: str
    secret: str | None
    facilities: list[str] | None
    min_severity: str
    quiet: tuple[time, time] | None
    lang: str


def _from_url(value: str, param: str) -> str:
    """The key of a pasted webhook address (…/send?key=K or …?access_token=T); the value otherwise."""
    if value.startswith(("http://", "https://")):
        found = parse_qs(urlsplit(value).query).get(param)
        return found[0] if found else ""
    return value


def _time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise Invalid("quiet hours need a start and an end (HH:MM), not the same", "err_quiet") from exc


def parse(form: Mapping[str, str], in_scope: set[str]) -> SubscriptionForm:
    channel = form.get("channel", "")
    if channel not in CHANNELS:
        raise Invalid("choose a channel", "err_channel")
    target = form.get("target", "").strip()
    secret: str | None = None
    if channel == "wecom":
        target = _from_url(target, "key")
        if not WECOM_KEY.fullmatch(target):
            raise Invalid("the WeCom robot key is not valid", "err_wecom_key")
    elif channel == "dingtalk":
        target = _from_url(target, "access_token")
        if not DINGTALK_TOKEN.fullmatch(target):
            raise Invalid("the DingTalk access_token is not valid", "err_dingtalk_token")
        secret = form.get("secret", "").strip() or None
        if secret is not None and not DINGTALK_SECRET.fullmatch(secret):
            raise Invalid("the DingTalk signing secret is not valid", "err_dingtalk_secret")
    elif not EMAIL.fullmatch(target) or len(target) > 254:
        raise Invalid("the e-mail address is not valid", "err_email")
    raw = [f for f in re.split(r"[\s,，、;；]+", form.get("facilities", "")) if f]
    facilities: list[str] | None = None
    if raw:
        if any(not FACILITY_ID_RE.match(f) or f not in in_scope for f in raw) or len(raw) > 500:
            raise Invalid("a facility id is not valid or not in your scope", "err_facilities")
        facilities = sorted(set(raw))
    severity = form.get("min_severity", "major")
    if severity not in SEVERITIES:
        raise Invalid("choose a minimum severity", "err_severity")
    start, end = form.get("quiet_start", "").strip(), form.get("quiet_end", "").strip()
    quiet: tuple[time, time] | None = None
    if start or end:
        if not (start and end):
            raise Invalid("quiet hours need a start and an end (HH:MM), not the same", "err_quiet")
        quiet = (_time(start), _time(end))
        if quiet[0] == quiet[1]:
            raise Invalid("quiet hours need a start and an end (HH:MM), not the same", "err_quiet")
    lang = form.get("lang", "zh")
    if lang not in {"zh", "en"}:
        raise Invalid("choose a message language", "err_lang")
    return SubscriptionForm(channel, target, secret, facilities, severity, quiet, lang)


def masked(sub_target: str, channel: str) -> str:
    """What the page shows of a key or token: enough to recognise it, not enough to use it."""
    if channel == "email":
        return sub_target
    return f"{sub_target[:4]}…{sub_target[-4:]}" if len(sub_target) > 10 else "…"
